"""Data values joined into the audit: the rows that hurt the model, beside the label issues."""

from __future__ import annotations

import numpy as np
import pandas as pd

from assay._audit._context import AuditContext
from assay._audit._registry import QueueSpec, RowOutputs, register_check
from assay._audit._result import CheckResult, Threshold

N_SHOWN = 20


@register_check(
    "data_values", needs=("values", "label_flags"),
    outputs=RowOutputs(flag="is_low_value", score="data_value", detail=("data_value",),
                       metric="low_value"),
    queue=QueueSpec(name="low_value", order="score", position=60),
)
def check_data_values(ctx: AuditContext) -> CheckResult:
    """Rows valued below zero (they lower the validation score) or in the low-value cluster."""
    values = ctx.values
    v = values["data_value"].to_numpy(dtype=float)
    low = values["is_low_value"].to_numpy(dtype=bool) if "is_low_value" in values else v < 0
    negative = v < 0
    labels_flagged = ctx.label_flags
    both = low & labels_flagged
    order = np.argsort(v, kind="stable")[:N_SHOWN]
    ids = ctx.dataset.ids
    names = ctx.dataset.class_names()
    lowest = [{"row": int(i), "id": str(ids[i]), "label": names[int(ctx.labels[i])],
               "data_value": float(v[i]), "is_label_issue": bool(labels_flagged[i])}
              for i in order]
    n_low = int(low.sum())
    message = (f"{n_low} low-value rows ({int(negative.sum())} with a negative value, i.e. they "
               f"lower the validation score); {int(both.sum())} of them are also label issues. "
               "Lowest: " + ", ".join(f"{r['id']} ({r['data_value']:.3g})" for r in lowest[:5])
               + ".") if n_low else "No low-value rows."
    return CheckResult(
        name="data_values",
        status="warn" if n_low else "pass",
        summary={"n_low_value": n_low, "n_negative": int(negative.sum()),
                 "n_low_and_label_issue": int(both.sum()),
                 "share_of_low_that_are_label_issues": float(both.sum() / n_low) if n_low else 0.0,
                 "mean_value": float(np.mean(v))},
        rows=pd.DataFrame({"data_value": v, "is_low_value": low}),
        evidence={"lowest": lowest},
        thresholds={"low": Threshold(
            "is_low_value" if "is_low_value" in values else 0.0,
            "the valuation's low-value flag (assay value: the k-means low cluster, the Data-OOB "
            "authors' rule) when given, else a value below zero")},
        message=message,
    )
