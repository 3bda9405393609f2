"""Rows whose values are each plausible but unusual together (each column predicted from the
others: attribute-wise learning, :func:`assay.outliers.find_unusual_combinations`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from assay._audit._context import AuditContext
from assay._audit._registry import QueueSpec, RowOutputs, register_check
from assay._audit._result import CheckResult, Threshold
from assay.outliers import (
    MIN_UNUSUAL_SCORE,
    PROB_FLOOR,
    SURPRISE_CAP,
    UNUSUAL_IQR_FACTOR,
    find_unusual_combinations,
)

WARN_SHARE = 0.02
#: Rows shown in the evidence.
TOP_ROWS = 50


def _section(check: dict[str, Any]) -> dict[str, Any] | None:
    """The report section: the count, the columns' predictability and the top rows."""
    summary, evidence = check.get("summary", {}), check.get("evidence", {})
    weights = summary.get("weights", {})
    return {"stats": {"rows with an unusual combination": summary.get("n_unusual", 0),
                      "columns scored": summary.get("n_columns", 0)},
            "tables": {"most unusual rows": evidence.get("top_rows", []),
                       "how predictable each column is": [
                           {"column": c, "weight": round(w, 3)} for c, w in weights.items()]}}


def _describe(value: Any, expected: Any, column: str) -> str:
    """'income = 200000 where about 35000 is expected from the other columns'."""
    if isinstance(expected, float | np.floating):
        shown = f"{float(expected):.4g}"
        return f"{column} = {value} where about {shown} is expected from the other columns"
    return f"{column} = {value} where {expected} is expected from the other columns"


@register_check(
    "unusual_combinations", needs=("plain_table",),
    outputs=RowOutputs(flag="is_unusual_combination", score="unusual_combination_score",
                       unit_score=True, metric="unusual_combination"),
    queue=QueueSpec(order="score", position=35),
    section=_section,
)
def check_unusual_combinations(ctx: AuditContext) -> CheckResult:
    """Rows whose values are plausible one by one but not together (plain tables only)."""
    ds = ctx.dataset
    mi = ctx.model_input  # a plain table: the "plain_table" need says so
    categorical = [c for c, m in zip(mi.columns, mi.categorical, strict=True) if m]
    source = {str(c): c for c in ds.table.columns}  # the model input names columns by str
    table = ds.table[[source[c] for c in mi.columns]].set_axis(mi.columns, axis=1)
    res = find_unusual_combinations(table, categorical=categorical,
                                    random_state=ctx.config.random_state,
                                    keys=np.asarray(ds.ids, dtype=object))
    n_flag = int(res.is_unusual.sum())
    share = float(res.is_unusual.mean())
    order = np.argsort(-res.score, kind="stable")[: min(TOP_ROWS, n_flag)]
    ids = np.asarray(ds.ids, dtype=object)
    top = []
    for i in order:
        col = str(res.top_column[i])
        value = table[col].iloc[i] if col else None
        top.append({"row": int(i), "id": str(ids[i]), "surprise": round(float(res.score[i]), 3),
                    "column": col, "value": str(value), "expected": str(res.expected[i]),
                    "why": _describe(value, res.expected[i], col) if col else ""})
    n_cols = len(res.columns)
    return CheckResult(
        name="unusual_combinations",
        status="warn" if share > WARN_SHARE else "pass",
        summary={"n_unusual": n_flag, "share": share, "n_columns": n_cols,
                 "columns": res.columns, "ignored_columns": res.ignored_columns,
                 "weights": {c: round(w, 4) for c, w in res.weights.items()},
                 "n_sampled": int(res.sampled.size),
                 "predictable_columns": int(sum(w > 0 for w in res.weights.values()))},
        # on the [0, 1] scale of the other scores, low = unusual: 1 / (1 + surprise)
        rows=pd.DataFrame({"unusual_combination_score": 1.0 / (1.0 + res.score),
                           "is_unusual_combination": res.is_unusual}),
        evidence={"top_rows": top},
        thresholds={
            "iqr_factor": Threshold(UNUSUAL_IQR_FACTOR, "Q3 + 1.7 IQR of log1p(score), the "
                                    "outliers check's rule (cleanlab Datalab's 1.7)"),
            "min_score": Threshold(MIN_UNUSUAL_SCORE, "ten times a typical surprise: the IQR "
                                   "rule alone flags 13 % of a clean Gaussian table; assay, "
                                   "benchmarks/_real_neighbours.py"),
            "surprise": Threshold(res.threshold, "this dataset's cut-off on the mean surprise: "
                                  "the larger of the two above; rows above are flagged"),
            "unusual_combination_score": Threshold(
                1.0 / (1.0 + res.threshold), "the same cut-off on the score's scale, "
                "1 / (1 + surprise): rows scoring below it are flagged"),
            "surprise_cap": Threshold(SURPRISE_CAP, "cap of a numeric column's squared robust "
                                      "residual, so one absurd value cannot swamp the mean"),
            "prob_floor": Threshold(PROB_FLOOR, "floor of a predicted category probability"),
            "warn_share": Threshold(WARN_SHARE, "assay default (as outliers)"),
        },
        message=(f"{n_flag} rows with an unusual combination of values ({share:.1%} of rows); "
                 f"{n_cols} columns each predicted from the others."
                 + (f" Only the first {n_cols} columns were scored." if any(
                     c not in res.columns for c in mi.columns) else "")),
    )
