"""Outliers from the shared k-NN graph."""

from __future__ import annotations

import numpy as np
import pandas as pd

from assay._audit._context import AuditContext
from assay._audit._registry import QueueSpec, RowOutputs, register_check
from assay._audit._result import CheckResult, Threshold
from assay.outliers import IQR_FACTOR, find_outliers

WARN_SHARE = 0.02


@register_check(
    "outliers", needs=("features", "knn"),
    outputs=RowOutputs(flag="is_outlier", score="outlier_score", unit_score=True,
                       metric="outlier"),
    queue=QueueSpec(order="score", position=30),
)
def check_outliers(ctx: AuditContext) -> CheckResult:
    """Rows far from their neighbours (mean k-NN distance above Q3 + 1.7 IQR)."""
    res = find_outliers(ctx.features.matrix, knn=ctx.knn)
    share = float(res.is_outlier.mean())
    metric = ctx.knn.metric
    reason = (ctx.features.metric_reason if metric == ctx.features.metric
              else "set by the audit's metric option")
    top = np.argsort(res.score, kind="stable")[: min(50, int(res.is_outlier.sum()))]
    return CheckResult(
        name="outliers",
        status="warn" if share > WARN_SHARE else "pass",
        summary={"n_outliers": int(res.is_outlier.sum()), "share": share, "metric": metric,
                 "metric_reason": reason},
        rows=pd.DataFrame({"outlier_score": res.score, "is_outlier": res.is_outlier}),
        evidence={"top_rows": top.tolist()},
        thresholds={
            "iqr_factor": Threshold(IQR_FACTOR, "Q3 + 1.7 IQR of mean k-NN distance; cleanlab "
                                    "Datalab's default"),
            "distance": Threshold(res.threshold, f"this dataset's Q3 + 1.7 IQR ({metric} "
                                  "distance)"),
            "outlier_score": Threshold(res.score_threshold, "the distance cut-off on the "
                                       "outlier_score scale: rows scoring below it are flagged"),
            "metric": Threshold(metric, reason),
            "warn_share": Threshold(WARN_SHARE, "assay default"),
        },
        message=f"{int(res.is_outlier.sum())} outliers ({share:.1%} of rows).",
    )
