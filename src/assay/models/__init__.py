"""Models used by the audit: cross-fitted (out-of-fold) predicted probabilities."""

from assay.models._crossfit import cross_val_pred_probs, default_estimator

__all__ = ["cross_val_pred_probs", "default_estimator"]
