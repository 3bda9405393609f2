"""What changed between two audit runs: issues fixed, issues new, metric deltas."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from assay.exceptions import InputValidationError

__all__ = ["RunDiff", "diff_runs"]


@dataclass(frozen=True)
class RunDiff:
    """The difference between audit run ``a`` (before) and ``b`` (after).

    Attributes
    ----------
    run_a, run_b : str
    checks : pandas.DataFrame
        One row per check: ``flagged_a``, ``flagged_b``, ``fixed`` (flagged in a, present and
        not flagged in b), ``removed`` (flagged in a, row gone in b), ``new`` (flagged in b, not
        flagged or absent in a), ``persisting``.
    metrics : pandas.DataFrame
        Dataset-level metrics of both runs with their delta (``b - a``).
    fixed_rows, new_rows : dict of str to list
        Row ids per check (first 1,000).
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_a": self.run_a, "run_b": self.run_b, "same_dataset": self.same_dataset,
            "checks": self.checks.to_dict(orient="records"),
            "metrics": self.metrics.to_dict(orient="records"),
            "fixed_rows": self.fixed_rows, "new_rows": self.new_rows,
        }


def diff_runs(ws: Any, run_a: str, run_b: str) -> RunDiff:
    """Compare the findings and metrics of two audit runs in workspace ``ws``.

    Rows are matched by their id (the dataset's id column when the audit had one, else the row
    number, which only matches when no rows were added or removed before it).

    Examples
    --------
    See ``docs/workspace.md``: audit, fix, re-audit, then ``assay diff A B``.
    """
    a, b = ws.run(run_a), ws.run(run_b)
    for r in (a, b):
        if r["command"] != "audit":
            raise InputValidationError(
                f"Run {r['run_id']} is a '{r['command']}' run; assay diff compares two audit runs. "
                "List them with: assay runs --command audit"
            )
    fa, fb = ws.findings(a["run_id"]), ws.findings(b["run_id"])
    rows = []
    fixed_rows: dict[str, list[Any]] = {}
    new_rows: dict[str, list[Any]] = {}
    for check in sorted(set(fa["check"]) | set(fb["check"])):
        ca, cb = fa[fa["check"] == check], fb[fb["check"] == check]
        flag_a = set(ca.loc[ca["flag"].astype(bool), "row_id"])
        flag_b = set(cb.loc[cb["flag"].astype(bool), "row_id"])
        present_b = set(cb["row_id"])
        fixed = [r for r in flag_a if r in present_b and r not in flag_b]
        removed = [r for r in flag_a if r not in present_b]
        new = [r for r in flag_b if r not in flag_a]
        rows.append({"check": check, "flagged_a": len(flag_a), "flagged_b": len(flag_b),
                     "fixed": len(fixed), "removed": len(removed), "new": len(new),
                     "persisting": len(flag_a & flag_b)})
        fixed_rows[check] = sorted(fixed, key=str)[:1000]
        new_rows[check] = sorted(new, key=str)[:1000]
    ma = (a.get("summary") or {}).get("metrics", {})
    mb = (b.get("summary") or {}).get("metrics", {})
    metric_rows = [
        {"metric": m, "a": ma.get(m), "b": mb.get(m),
         "delta": (mb[m] - ma[m]) if isinstance(ma.get(m), int | float) and isinstance(mb.get(m), int | float) else None}
        for m in sorted(set(ma) | set(mb)) if "." not in m
    ]
    return RunDiff(
        a["run_id"], b["run_id"], pd.DataFrame(rows), pd.DataFrame(metric_rows),
        fixed_rows, new_rows, a.get("fingerprint") == b.get("fingerprint"),
    )
