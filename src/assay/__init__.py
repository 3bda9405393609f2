"""assay: measure, value and fix training data.

Public names are imported lazily on first access, so ``import assay`` stays light (no pandas,
scikit-learn or torch until a function needs them).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "AuditResult": "assay._audit",
    "CheckResult": "assay._audit",
    "Threshold": "assay._audit",
    "Dataset": "assay.data",
    "KnnGraph": "assay.neighbors",
    "ambiguous_class_pairs": "assay.labels",
    "audit": "assay._audit",
    "class_profile": "assay.imbalance",
    "compute_confident_joint": "assay.labels",
    "cross_val_pred_probs": "assay.models",
    "estimate_label_issues": "assay.labels",
    "featurize": "assay.data",
    "find_duplicates": "assay.duplicates",
    "find_label_issues": "assay.labels",
    "find_outliers": "assay.outliers",
    "knn_graph": "assay.neighbors",
    "knn_label_agreement": "assay.labels",
    "label_quality_scores": "assay.labels",
    "load": "assay.data",
    "outlier_scores": "assay.outliers",
    "register_check": "assay._audit",
    "registered_checks": "assay._audit",
    "suggest_labels": "assay.labels",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'assay' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # pragma: no cover
    from assay._audit import (
        AuditResult,
        CheckResult,
        Threshold,
        audit,
        register_check,
        registered_checks,
    )
    from assay.data import Dataset, featurize, load
    from assay.duplicates import find_duplicates
    from assay.imbalance import class_profile
    from assay.labels import (
        ambiguous_class_pairs,
        compute_confident_joint,
        estimate_label_issues,
        find_label_issues,
        knn_label_agreement,
        label_quality_scores,
        suggest_labels,
    )
    from assay.models import cross_val_pred_probs
    from assay.neighbors import KnnGraph, knn_graph
    from assay.outliers import find_outliers, outlier_scores
