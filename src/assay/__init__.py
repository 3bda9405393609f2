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
    "AuditConfig": "assay._audit",
    "AuditResult": "assay._audit",
    "CheckResult": "assay._audit",
    "Dataset": "assay.data",
    "KnnGraph": "assay.neighbors",
    "Threshold": "assay._audit",
    "Workspace": "assay.workspace",
    "adjust_logits": "assay.longtail",
    "agree": "assay.agreement",
    "allocate_budget": "assay.curves",
    "augment_tail": "assay.longtail",
    "ambiguous_class_pairs": "assay.labels",
    "audit": "assay._audit",
    "banzhaf": "assay.valuation",
    "beta_shapley": "assay.valuation",
    "box_agreement": "assay.detection",
    "bootstrap_interval": "assay.evaluation",
    "class_balanced_weights": "assay.longtail",
    "class_profile": "assay.imbalance",
    "compare_runs": "assay.compare",
    "compare_splits": "assay.evaluation",
    "compute_confident_joint": "assay.labels",
    "consensus_labels": "assay.consensus",
    "cross_fit_multilabel_probs": "assay.multilabel",
    "cross_val_pred_probs": "assay.models",
    "curation_funnel": "assay.curate",
    "data_oob": "assay.valuation",
    "dawid_skene": "assay.consensus",
    "estimate_label_issues": "assay.labels",
    "evaluation_intervals": "assay.evaluation",
    "export_version": "assay.export",
    "featurize": "assay.data",
    "find_detection_issues": "assay.detection",
    "find_duplicates": "assay.duplicates",
    "find_label_issues": "assay.labels",
    "find_leakage": "assay.leakage",
    "find_multilabel_issues": "assay.multilabel",
    "find_outliers": "assay.outliers",
    "find_slices": "assay.slices",
    "find_target_leakage": "assay.leakage",
    "find_token_issues": "assay.tokens",
    "fit_learning_curve": "assay.curves",
    "fit_scaling_law": "assay.curves",
    "gradient_conflict": "assay.multitask",
    "group_accuracy": "assay.longtail",
    "group_values": "assay.valuation",
    "knn_graph": "assay.neighbors",
    "knn_label_agreement": "assay.labels",
    "knn_shapley": "assay.valuation",
    "krippendorff_alpha": "assay.agreement",
    "label_quality_scores": "assay.labels",
    "leakage_summary": "assay.leakage",
    "learning_curve": "assay.curves",
    "load": "assay.data",
    "make_long_tailed": "assay.longtail",
    "make_splits": "assay.splits",
    "open_workspace": "assay.workspace",
    "outlier_scores": "assay.outliers",
    "pipeline": "assay.twostage",
    "plan_samples": "assay.curves",
    "project_conflicting": "assay.multitask",
    "read_coco": "assay.detection",
    "read_conll": "assay.tokens",
    "register_check": "assay._audit",
    "registered_checks": "assay._audit",
    "relabel_or_collect": "assay.curves",
    "sanity_checks": "assay.sanity",
    "render_report": "assay.report",
    "shot_groups": "assay.longtail",
    "suggest_labels": "assay.labels",
    "tmc_shapley": "assay.valuation",
    "two_stage": "assay.twostage",
    "wilson_interval": "assay.evaluation",
    "write_report": "assay.report",
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
        AuditConfig,
        AuditResult,
        CheckResult,
        Threshold,
        audit,
        register_check,
        registered_checks,
    )
    from assay.agreement import agree, krippendorff_alpha
    from assay.compare import compare_runs
    from assay.consensus import consensus_labels, dawid_skene
    from assay.curate import curation_funnel
    from assay.curves import (
        allocate_budget,
        fit_learning_curve,
        fit_scaling_law,
        learning_curve,
        plan_samples,
        relabel_or_collect,
    )
    from assay.data import Dataset, featurize, load
    from assay.detection import box_agreement, find_detection_issues, read_coco
    from assay.duplicates import find_duplicates
    from assay.evaluation import (
        bootstrap_interval,
        compare_splits,
        evaluation_intervals,
        wilson_interval,
    )
    from assay.export import export_version
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
    from assay.leakage import find_leakage, find_target_leakage, leakage_summary
    from assay.longtail import (
        adjust_logits,
        augment_tail,
        class_balanced_weights,
        group_accuracy,
        make_long_tailed,
        shot_groups,
    )
    from assay.models import cross_val_pred_probs
    from assay.multilabel import cross_fit_multilabel_probs, find_multilabel_issues
    from assay.multitask import gradient_conflict, project_conflicting
    from assay.neighbors import KnnGraph, knn_graph
    from assay.outliers import find_outliers, outlier_scores
    from assay.report import render_report, write_report
    from assay.sanity import sanity_checks
    from assay.slices import find_slices
    from assay.splits import make_splits
    from assay.tokens import find_token_issues, read_conll
    from assay.twostage import pipeline, two_stage
    from assay.valuation import (
        banzhaf,
        beta_shapley,
        data_oob,
        group_values,
        knn_shapley,
        tmc_shapley,
    )
    from assay.workspace import Workspace, open_workspace
