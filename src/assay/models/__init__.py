"""Models used by the audit: model choice and cross-fitted (out-of-fold) predicted probabilities,
and out-of-fold predictions of a numeric target."""

from assay.models._choice import (
    MODEL_NAMES,
    AutoClassifier,
    BlendClassifier,
    KNNProbaClassifier,
    MassPoints,
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
from assay.models._hgb import HGBClassifier, HGBRegressor
from assay.models._input import ModelInput, model_input
from assay.models._regression import (
    REGRESSOR_NAMES,
    BlendRegressor,
    RegressionCrossFit,
    cross_fit_regression,
    fold_ids,
    make_regressor,
)

__all__ = [
    "MODEL_NAMES",
    "REGRESSOR_NAMES",
    "AutoClassifier",
    "BlendClassifier",
    "BlendRegressor",
    "CrossFit",
    "HGBClassifier",
    "HGBRegressor",
    "KNNProbaClassifier",
    "MassPoints",
    "ModelInput",
    "RegressionCrossFit",
    "auto_candidates",
    "cross_fit",
    "cross_fit_regression",
    "cross_val_pred_probs",
    "default_estimator",
    "fold_ids",
    "make_model",
    "make_regressor",
    "parallel_results",
    "model_input",
]
