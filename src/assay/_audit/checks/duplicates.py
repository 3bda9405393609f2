"""Exact and near duplicates grouped into sets."""

from __future__ import annotations

import pandas as pd

from assay._audit._context import AuditContext
from assay._audit._registry import register_check
from assay._audit._result import CheckResult, Threshold
from assay.duplicates import NEAR_FRACTION, find_duplicates

FAIL_SHARE = 0.05


@register_check("duplicates", needs=("features", "knn"))
def check_duplicates(ctx: AuditContext) -> CheckResult:
    """Exact copies (content hash) and near copies (relative k-NN distance), as sets."""
    ds = ctx.dataset
    roles = ds.roles
    raw_cols = [c for c in (roles.text, roles.image, *roles.features) if c is not None]
    content = ds.table[raw_cols] if raw_cols and ds.embeddings is None else None
    res = find_duplicates(ctx.features.matrix, knn=ctx.knn, content=content)
    rows = pd.DataFrame({
        "is_exact_duplicate": res.is_exact_duplicate,
        "is_near_duplicate": res.is_near_duplicate,
        "duplicate_set": res.duplicate_set,
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
        },
        rows=rows,
        evidence={"sets": [
            {"rows": s[:20].tolist(), "size": int(s.size), "ids": [str(i) for i in ids[s[:20]]],
             "labels": [ds.classes[i] for i in labels[s[:20]]]}
            for s in sets[:200]
        ]},
        thresholds={
            "near_fraction": Threshold(NEAR_FRACTION, "fraction of the median nearest-neighbour "
                                       "distance; cleanlab Datalab's default"),
            "near_distance": Threshold(res.threshold, "near_fraction x median k-NN distance "
                                       "of this dataset"),
            "fail_share": Threshold(FAIL_SHARE, "assay default"),
        },
        message=(f"{res.n_sets} duplicate sets ({int(res.is_exact_duplicate.sum())} rows with an "
                 f"exact copy, {int(res.is_near_duplicate.sum())} with a near copy)."
                 if res.n_sets else "No duplicates found."),
    )
