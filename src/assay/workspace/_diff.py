"""What changed between two audit runs: issues fixed, issues new, metric deltas."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from assay.exceptions import InputValidationError
from assay.workspace._decisions import DROP_ACTIONS, applicable_decisions, resolve_decisions

__all__ = ["RunDiff", "diff_runs"]


@dataclass(frozen=True)
class RunDiff:
    """The difference between audit run ``a`` (before) and ``b`` (after).

    Attributes
    ----------
    run_a, run_b : str
    checks : pandas.DataFrame
        One row per check: ``flagged_a``, ``flagged_b``; of the rows flagged in a: ``fixed`` (a
        reviewer relabelled, removed or marked it a duplicate, and b no longer flags it or no
        longer has it), ``kept`` (a reviewer kept it: the flag was wrong), ``cleared`` (nobody
        decided it, yet b no longer flags it: the model or the data changed, not a fix),
        ``removed`` (gone in b without a decision to drop it), ``persisting`` (flagged in both);
        and ``new`` (flagged in b, not flagged or absent in a). ``fixed``, ``cleared`` and
        ``removed`` split the rows no longer flagged apart from the kept ones; ``kept`` counts
        the reviewer-kept rows wherever they are in b (still flagged ones are also persisting).
    metrics : pandas.DataFrame
        Dataset-level metrics of both runs with their delta (``b - a``).
    fixed_rows, new_rows, cleared_rows : dict of str to list
        Row ids per check (first 1,000).
    n_decisions : int
        Decisions in force on run a's dataset version (``resolve_decisions``).
    same_dataset : bool
        Whether both runs audited the same fingerprint.
    """

    run_a: str
    run_b: str
    checks: pd.DataFrame
    metrics: pd.DataFrame
    fixed_rows: dict[str, list[Any]] = field(default_factory=dict)
    new_rows: dict[str, list[Any]] = field(default_factory=dict)
    same_dataset: bool = False
    cleared_rows: dict[str, list[Any]] = field(default_factory=dict)
    n_decisions: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_a": self.run_a, "run_b": self.run_b, "same_dataset": self.same_dataset,
            "checks": self.checks.to_dict(orient="records"),
            "metrics": self.metrics.to_dict(orient="records"),
            "fixed_rows": self.fixed_rows, "new_rows": self.new_rows,
            "cleared_rows": self.cleared_rows, "n_decisions": self.n_decisions,
        }


def diff_runs(ws: Any, run_a: str, run_b: str) -> RunDiff:
    """Compare the findings and metrics of two audit runs in workspace ``ws``.

    Rows are matched by their id (the dataset's id column when the audit had one, else the row
    number, which only matches when no rows were added or removed before it). A row counts as
    *fixed* only when a review decision in force on run a's dataset version (relabel, remove or
    duplicate; see :func:`resolve_decisions`) acted on it; a flag that disappears without a
    decision is *cleared* (model churn), one a reviewer kept is *kept*.

    Examples
    --------
    See ``docs/workspace.md``: audit, fix, re-audit, then ``assay diff A B``.
    """
    a = ws.run(ws.resolve_run(run_a, command="audit"))
    b = ws.run(ws.resolve_run(run_b, command="audit"))
    for r in (a, b):
        if r["command"] != "audit":
            raise InputValidationError(
                f"Run {r['run_id']} is a '{r['command']}' run; assay diff compares two audit runs. "
                "List them with: assay runs --command audit"
            )
    fa, fb = ws.findings(a["run_id"]), ws.findings(b["run_id"])
    resolved = resolve_decisions(applicable_decisions(ws, a["fingerprint"])) \
        if a.get("fingerprint") else resolve_decisions(ws.decisions().iloc[:0])
    action = dict(zip(resolved["row_id"].astype(str), resolved["action"], strict=True))
    acted = {r for r, act in action.items() if act == "relabel" or act in DROP_ACTIONS}
    kept_ids = {r for r, act in action.items() if act == "keep"}
    rows = []
    fixed_rows: dict[str, list[Any]] = {}
    new_rows: dict[str, list[Any]] = {}
    cleared_rows: dict[str, list[Any]] = {}
    for check in sorted(set(fa["check"]) | set(fb["check"])):
        ca, cb = fa[fa["check"] == check], fb[fb["check"] == check]
        flag_a = set(ca.loc[ca["flag"].astype(bool), "row_id"])
        flag_b = set(cb.loc[cb["flag"].astype(bool), "row_id"])
        present_b = set(cb["row_id"])
        gone = {r for r in flag_a if r not in flag_b}  # absent in b, or present and not flagged
        fixed = [r for r in gone if str(r) in acted]
        kept = [r for r in flag_a if str(r) in kept_ids]
        cleared = [r for r in gone if str(r) not in acted and str(r) not in kept_ids
                   and r in present_b]
        removed = [r for r in gone if str(r) not in acted and str(r) not in kept_ids
                   and r not in present_b]
        new = [r for r in flag_b if r not in flag_a]
        rows.append({"check": check, "flagged_a": len(flag_a), "flagged_b": len(flag_b),
                     "fixed": len(fixed), "kept": len(kept), "cleared": len(cleared),
                     "removed": len(removed), "new": len(new),
                     "persisting": len(flag_a & flag_b)})
        fixed_rows[check] = sorted(fixed, key=str)[:1000]
        new_rows[check] = sorted(new, key=str)[:1000]
        cleared_rows[check] = sorted(cleared, key=str)[:1000]
    ma = (a.get("summary") or {}).get("metrics", {})
    mb = (b.get("summary") or {}).get("metrics", {})
    metric_rows = [
        {"metric": m, "a": ma.get(m), "b": mb.get(m),
         "delta": (mb[m] - ma[m]) if isinstance(ma.get(m), int | float) and isinstance(mb.get(m), int | float) else None}
        for m in sorted(set(ma) | set(mb)) if "." not in m
    ]
    return RunDiff(
        a["run_id"], b["run_id"], pd.DataFrame(rows), pd.DataFrame(metric_rows),
        fixed_rows, new_rows, a.get("fingerprint") == b.get("fingerprint"), cleared_rows,
        len(resolved),
    )
