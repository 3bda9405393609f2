"""Exact and near duplicates grouped into sets."""

from __future__ import annotations

import pandas as pd

from assay._audit._context import AuditContext
from assay._audit._registry import QueueSpec, RowOutputs, register_check
from assay._audit._result import CheckResult, Threshold
from assay.duplicates import NEAR_ALPHA, NEAR_FRACTION, find_duplicates

FAIL_SHARE = 0.05


@register_check(
    "duplicates", needs=("features", "row_content", "knn"),
    outputs=RowOutputs(flag=("is_exact_duplicate", "is_near_duplicate"), group="duplicate_set",
                       metric="duplicate", sub_metrics={"exact_duplicate": "is_exact_duplicate",
                                                        "near_duplicate": "is_near_duplicate"}),
    queue=QueueSpec(order="group", position=20),
)
def check_duplicates(ctx: AuditContext) -> CheckResult:
    """Exact copies (content hash; image files by their bytes) and near copies (local ratio test
    on the shared k-NN graph), as sets."""
    ds = ctx.dataset
    res = find_duplicates(ctx.features.matrix, knn=ctx.knn, content=ctx.row_content)
    metric = ctx.knn.metric
    reason = (ctx.features.metric_reason if metric == ctx.features.metric
              else "set by the audit's metric option")
    if res.rule == "ratio":
        near_thresholds = {
            "near_alpha": Threshold(NEAR_ALPHA, "chance level of the ratio test: a neighbour "
                                    "this close has probability < 0.001 among uniform points "
                                    "of the data's intrinsic dimension; assay default, "
                                    "benchmarks/real_data.py --part neighbours"),
            "intrinsic_dimension": Threshold(res.intrinsic_dim, "Levina-Bickel estimate from "
                                             "this dataset's k-NN distances (median over rows)"),
            "near_ratio": Threshold(res.ratio, "ratio to the row's k-th neighbour distance "
                                    "(floored at its 5th percentile over rows) under which a "
                                    "pair is near"),
            "near_distance": Threshold(res.threshold, "median over rows of the per-row near "
                                       "threshold"),
        }
    else:
        near_thresholds = {
            "near_fraction": Threshold(NEAR_FRACTION, "fraction of the median nearest-neighbour "
                                       "distance; cleanlab Datalab's default (k < 3)"),
            "near_distance": Threshold(res.threshold, "near_fraction x median k-NN distance "
                                       "of this dataset"),
        }
    rows = pd.DataFrame({
        "is_exact_duplicate": res.is_exact_duplicate,
        "is_near_duplicate": res.is_near_duplicate,
        "duplicate_set": res.duplicate_set,
        "copy_of_row": res.copy_of,  # a direct copy (row position), for keeping one per copy
    })
    in_set = res.duplicate_set >= 0
    share = float(in_set.mean())
    n_extra = int(in_set.sum() - res.n_sets)  # rows beyond one per set
    status = "fail" if share > FAIL_SHARE else "warn" if in_set.any() else "pass"
    sets = res.sets()
    ids = ds.ids
    labels = ds.labels
    return CheckResult(
        name="duplicates",
        status=status,
        summary={
            "n_exact": int(res.is_exact_duplicate.sum()),
            "n_near": int(res.is_near_duplicate.sum()),
            "n_sets": res.n_sets,
            "n_redundant_rows": n_extra,
            "share_in_sets": share,
            "n_sets_with_conflicting_labels": int(sum(len(set(labels[s])) > 1 for s in sets)),
            "metric": metric,
            "metric_reason": reason,
            "near_rule": res.rule,
            "exact_by": ("file bytes" if ds.roles.image is not None and ds.embeddings is None
                         else "raw row content" if ds.embeddings is None else "embedding rows"),
        },
        rows=rows,
        evidence={"sets": [
            {"rows": s[:20].tolist(), "size": int(s.size), "ids": [str(i) for i in ids[s[:20]]],
             "labels": [ds.classes[i] for i in labels[s[:20]]]}
            for s in sets[:200]
        ]},
        thresholds={
            **near_thresholds,
            "metric": Threshold(metric, reason),
            "fail_share": Threshold(FAIL_SHARE, "assay default"),
        },
        message=(f"{res.n_sets} duplicate sets ({int(res.is_exact_duplicate.sum())} rows with an "
                 f"exact copy, {int(res.is_near_duplicate.sum())} with a near copy)."
                 if res.n_sets else "No duplicates found."),
    )
