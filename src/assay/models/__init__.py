"""Models used by the audit: model choice and cross-fitted (out-of-fold) predicted probabilities."""

from assay.models._choice import (
    MODEL_NAMES,
    AutoClassifier,
    BlendClassifier,
    KNNProbaClassifier,
    auto_candidates,
    make_model,
)
from assay.models._crossfit import (
    CrossFit,
    cross_fit,
    cross_val_pred_probs,
    default_estimator,
    parallel_results,
)
from assay.models._input import ModelInput, model_input

__all__ = [
    "MODEL_NAMES",
    "AutoClassifier",
    "BlendClassifier",
    "CrossFit",
    "KNNProbaClassifier",
    "ModelInput",
    "auto_candidates",
    "cross_fit",
    "cross_val_pred_probs",
    "default_estimator",
    "make_model",
    "model_input",
    "parallel_results",
]
