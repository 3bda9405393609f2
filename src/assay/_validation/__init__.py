"""Checks at the public boundary. Private: import the functions, not the package path."""

from assay._validation._common import (
    argmax_rows,
    check_1d,
    check_choice,
    check_class_order,
    check_counts,
    check_features,
    check_fraction,
    check_int,
    check_labels,
    check_pred_probs,
    check_predictions,
    check_random_state,
    check_same_length,
    count_nonfinite_rows,
    did_you_mean,
    mark_validated,
)

__all__ = [
    "check_1d",
    "check_choice",
    "check_class_order",
    "check_counts",
    "check_features",
    "check_fraction",
    "check_int",
    "check_labels",
    "check_pred_probs",
    "check_predictions",
    "check_random_state",
    "check_same_length",
    "argmax_rows",
    "count_nonfinite_rows",
    "did_you_mean",
    "mark_validated",
]
