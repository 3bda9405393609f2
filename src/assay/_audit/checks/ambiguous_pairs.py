"""Ambiguous class pairs: mutual confusion in the confident joint."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from assay._audit._context import AuditContext
from assay._audit._registry import QueueSpec, register_check
from assay._audit._result import CheckResult, Threshold
from assay.labels import ambiguous_class_pairs

WARN_RATE = 0.05


def pair_queue(issues: pd.DataFrame,
               checks: Mapping[str, Any]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The example rows of the most confused class pairs, most confused pair first."""
    pairs = pd.DataFrame(checks["ambiguous_pairs"].evidence.get("pairs", []))
    rows: list[int] = []
    scores: list[int] = []
    for rank, rec in enumerate(pairs.to_dict("records")):
        for r in rec.get("examples", []) or []:
            if 0 <= int(r) < len(issues) and int(r) not in rows:
                rows.append(int(r))
                scores.append(rank)
    mask = np.zeros(len(issues), dtype=bool)
    score = np.full(len(issues), np.inf)
    mask[rows] = True
    score[rows] = scores
    return {"ambiguous_pairs": (mask, score)}


@register_check("ambiguous_pairs", needs=("labels", "pred_probs"),
                queue=QueueSpec(build=pair_queue, names=("ambiguous_pairs",), position=50))
def check_ambiguous_pairs(ctx: AuditContext) -> CheckResult:
    """Class pairs often confused both ways: candidates for a guideline fix or a merge."""
    pairs = ambiguous_class_pairs(ctx.labels, ctx.pred_probs, top=10)
    classes = ctx.dataset.classes
    pairs = pairs.assign(
        name_a=[classes[i] for i in pairs["class_a"]], name_b=[classes[i] for i in pairs["class_b"]]
    )
    worst = float(pairs["rate"].max()) if len(pairs) else 0.0
    return CheckResult(
        name="ambiguous_pairs",
        status="warn" if worst > WARN_RATE else "pass",
        summary={"n_pairs": int(len(pairs)), "worst_rate": worst},
        evidence={"pairs": pairs},
        thresholds={"warn_rate": Threshold(WARN_RATE, "share of the pair's rows confused; "
                                           "assay default")},
        message=_headline(pairs),
    )


def _pair_text(pairs: pd.DataFrame, i: int) -> str:
    """``a / b (n rows, r% of the pair's rows)``: count and rate of the same pair ``i``."""
    row = pairs.iloc[i]
    return (f"{row['name_a']!s} / {row['name_b']!s} ({int(row['n_confused'])} rows, "
            f"{float(row['rate']):.1%} of the pair's rows)")


def _headline(pairs: pd.DataFrame) -> str:
    """The pair with the highest confused share (the one the status is judged on), and the pair
    with the most confused rows when that is another pair; each with its own count and rate."""
    if not len(pairs):
        return "No class pairs are confused."
    by_rate = int(np.argmax(pairs["rate"].to_numpy()))  # first of equal rates: more rows
    msg = f"Highest confused share: {_pair_text(pairs, by_rate)}."
    if by_rate != 0:  # pairs are ordered by confused rows, most first
        msg += f" Most confused rows: {_pair_text(pairs, 0)}."
    return msg
