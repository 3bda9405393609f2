"""Annotator evidence in the audit: consensus labels and where annotators disagree."""

from __future__ import annotations

import numpy as np
import pandas as pd

from assay._audit._context import AuditContext
from assay._audit._registry import RowOutputs, register_check
from assay._audit._result import CheckResult, Threshold

#: A row conflicts with its annotators when the consensus differs from the given label with at
#: least this posterior confidence.
CONFLICT_CONFIDENCE = 0.8


def consensus_conflicts(ctx: AuditContext) -> np.ndarray:
    """Rows whose given label the annotators' consensus contradicts with confidence at least
    :data:`CONFLICT_CONFIDENCE` (the one rule, shared by this check and the label check)."""
    cons = ctx.consensus
    given = np.array([str(ctx.dataset.classes[i]) for i in ctx.labels], dtype=object)
    label = cons["consensus_label"]
    return (label.notna().to_numpy() & (label.astype(str).to_numpy() != given)
            & (cons["confidence"].fillna(0).to_numpy() >= CONFLICT_CONFIDENCE))


@register_check(
    "annotators", needs=("annotations", "consensus"),
    outputs=RowOutputs(flag="is_consensus_conflict", detail=("consensus_label",),
                       metric="consensus_conflict"),
)  # no queue of its own: the label-issue queue holds these rows (they are label issues too)
def check_annotators(ctx: AuditContext) -> CheckResult:
    """Consensus of the annotators per row, and rows whose label disagrees with it."""
    cons = ctx.consensus
    consensus = cons["consensus_label"].astype(object)
    has = consensus.notna().to_numpy()
    conflict = consensus_conflicts(ctx)
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
