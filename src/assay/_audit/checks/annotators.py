"""Annotator evidence in the audit: consensus labels and where annotators disagree."""

from __future__ import annotations

import numpy as np
import pandas as pd

from assay._audit._context import AuditContext
from assay._audit._registry import register_check
from assay._audit._result import CheckResult, Threshold

#: A row conflicts with its annotators when the consensus differs from the given label with at
#: least this posterior confidence.
CONFLICT_CONFIDENCE = 0.8


def consensus_by_row(ctx: AuditContext) -> pd.DataFrame:
    """Dawid-Skene consensus per dataset row (NaN where the row has no annotations)."""
    from assay.consensus import consensus_labels

    ann = ctx.annotations
    cons = consensus_labels(ann, item="item", annotator="annotator", label="label",
                            method="dawid_skene", random_state=ctx.config.random_state)
    ids = pd.Series(ctx.dataset.ids).astype(str)
    cons = cons.assign(item=cons["item"].astype(str)).set_index("item")
    return cons.reindex(ids.to_numpy()).reset_index(drop=True)


@register_check("annotators", needs=("annotations",))
def check_annotators(ctx: AuditContext) -> CheckResult:
    """Consensus of the annotators per row, and rows whose label disagrees with it."""
    cons = consensus_by_row(ctx)
    given = pd.Series([str(ctx.dataset.classes[i]) for i in ctx.labels])
    consensus = cons["consensus_label"].astype(object)
    has = consensus.notna().to_numpy()
    conflict = has & (consensus.astype(str).to_numpy() != given.to_numpy()) & (
        cons["confidence"].fillna(0).to_numpy() >= CONFLICT_CONFIDENCE)
    disagree = cons["annotators_disagree"].fillna(False).astype(bool).to_numpy()
    rows = pd.DataFrame({
        "consensus_label": consensus.where(has, None),
        "consensus_confidence": cons["confidence"].to_numpy(dtype=float),
        "annotator_agreement": cons["agreement"].to_numpy(dtype=float),
        "annotators_disagree": disagree,
        "is_consensus_conflict": conflict,
    })
    n_annot = int(has.sum())
    share = float(conflict.sum() / max(n_annot, 1))
    return CheckResult(
        name="annotators",
        status="fail" if share > 0.05 else "warn" if conflict.any() or disagree.mean() > 0.2 else "pass",
        summary={"n_rows_annotated": n_annot, "n_conflicts": int(conflict.sum()),
                 "conflict_rate": share, "disagreement_rate": float(disagree[has].mean()) if n_annot else 0.0,
                 "mean_agreement": float(np.nanmean(rows["annotator_agreement"])) if n_annot else float("nan")},
        rows=rows,
        evidence={"conflict_rows": np.flatnonzero(conflict)[:200].tolist()},
        thresholds={"conflict_confidence": Threshold(
            CONFLICT_CONFIDENCE, "Dawid-Skene posterior of the consensus label; assay default")},
        message=(f"{int(conflict.sum())} of {n_annot} annotated rows carry a label their annotators' "
                 f"consensus contradicts; annotators disagree on {disagree[has].mean():.0%} of rows."
                 if n_annot else "No dataset row has annotations (check that items match the id column)."),
    )
