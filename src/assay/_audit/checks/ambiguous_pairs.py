"""Ambiguous class pairs: mutual confusion in the confident joint."""

from __future__ import annotations

from assay._audit._context import AuditContext
from assay._audit._registry import register_check
from assay._audit._result import CheckResult, Threshold
from assay.labels import ambiguous_class_pairs

WARN_RATE = 0.05


@register_check("ambiguous_pairs", needs=("labels", "pred_probs"))
def check_ambiguous_pairs(ctx: AuditContext) -> CheckResult:
    """Class pairs often confused both ways: candidates for a guideline fix or a merge."""
    pairs = ambiguous_class_pairs(ctx.labels, ctx.pred_probs, top=10)
    classes = ctx.dataset.classes
    pairs = pairs.assign(
        name_a=[classes[i] for i in pairs["class_a"]], name_b=[classes[i] for i in pairs["class_b"]]
    )
    worst = float(pairs["rate"].max()) if len(pairs) else 0.0
    msg = (f"Most confused pair: {pairs['name_a'].iloc[0]!s} / {pairs['name_b'].iloc[0]!s} "
           f"({int(pairs['n_confused'].iloc[0])} rows, {worst:.1%} of the pair).") if len(pairs) else \
        "No class pairs are confused."
    return CheckResult(
        name="ambiguous_pairs",
        status="warn" if worst > WARN_RATE else "pass",
        summary={"n_pairs": int(len(pairs)), "worst_rate": worst},
        evidence={"pairs": pairs},
        thresholds={"warn_rate": Threshold(WARN_RATE, "share of the pair's rows confused; "
                                           "assay default")},
        message=msg,
    )
