"""Underperforming slices over metadata and embedding clusters, with error analysis."""

from __future__ import annotations

import numpy as np
import pandas as pd

from assay._audit._context import AuditContext
from assay._audit._registry import RowOutputs, register_check
from assay._audit._result import CheckResult, Threshold
from assay.slices import find_slices, hardest_examples, normalized_confusion

ALPHA = 0.05
MIN_SIZE = 20


@register_check(
    "slices", needs=("pred_probs", "features"),
    outputs=RowOutputs(flag="in_weak_slice", detail=("weak_slice",), metric="weak_slice"),
)
def check_slices(ctx: AuditContext) -> CheckResult:
    """Slices (metadata values, numeric bins, embedding clusters) with a high error rate."""
    ds = ctx.dataset
    meta = ds.table[list(ds.roles.meta)] if ds.roles.meta else None
    probs = ctx.pred_probs
    res = find_slices(ds.labels, probs, meta=meta, features=ctx.features.matrix,
                      alpha=ALPHA, min_size=MIN_SIZE, random_state=ctx.config.random_state)
    flagged = res[res["flagged"]] if len(res) else res
    n = ds.n_rows
    in_slice = np.zeros(n, dtype=bool)
    which = np.full(n, "", dtype=object)
    for idx, row in flagged.iloc[::-1].iterrows():  # most significant written last, so it wins
        members = np.asarray(res.attrs["members"][idx], dtype=np.int64)
        in_slice[members] = True
        which[members] = f"{row['source']}={row['slice']}"
    hard = hardest_examples(ds.labels, probs, per_class=5)
    ids = ds.ids
    names = ds.class_names()
    conf = normalized_confusion(ds.labels, probs, n_classes=ds.n_classes)
    return CheckResult(
        name="slices",
        status="warn" if len(flagged) else "pass",
        summary={"n_slices_tested": int(res.attrs.get("n_tested", 0)),
                 "n_slices_flagged": int(len(flagged)),
                 "error_rate": float(res.attrs.get("error_rate", 0.0)),
                 "rows_in_flagged_slices": int(in_slice.sum())},
        rows=pd.DataFrame({"in_weak_slice": in_slice, "weak_slice": which}),
        evidence={
            "slices": res.head(50),
            "confusion": {"classes": names, "matrix": conf},
            "hardest": [
                {"class": names[int(r["class"])], "row": int(r["row"]), "id": str(ids[int(r["row"])]),
                 "given_prob": float(r["given_prob"]), "predicted": names[int(r["predicted"])]}
                for _, r in hard.iterrows()
            ][:500],
        },
        thresholds={
            "alpha": Threshold(ALPHA, "Benjamini-Hochberg false-discovery rate over all slices"),
            "min_size": Threshold(MIN_SIZE, "smallest slice tested; assay default"),
        },
        message=("Slices with more errors than the rest: " + ", ".join(
            f"{r.source}={r.slice} ({r.error_rate:.0%} vs {r.rest_error_rate:.0%}, n={r.size})"
            for r in flagged.head(5).itertuples(index=False)) + "."
            if len(flagged) else "No slice errs significantly more than the rest."),
    )
