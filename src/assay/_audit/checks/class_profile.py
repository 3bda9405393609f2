"""The long-tail class profile, with per-class label-issue rates when label issues ran."""

from __future__ import annotations

from assay._audit._context import AuditContext
from assay._audit._registry import register_check
from assay._audit._result import CheckResult, Threshold
from assay.imbalance import class_profile

WARN_RATIO = 10.0


@register_check("class_profile", needs=("labels", "label_flags"))
def check_class_profile(ctx: AuditContext) -> CheckResult:
    """Class counts, many / medium / few groups, imbalance ratio, Gini, effective numbers."""
    cfg = ctx.config
    flags = ctx.label_flags
    prof = class_profile(ctx.labels, classes=ctx.dataset.classes, many=cfg.many, few=cfg.few,
                         issues=flags)
    s = prof.summary
    tail = prof.table[prof.table["group"] == "few"]["class"].tolist()
    status = "warn" if s["imbalance_ratio"] > WARN_RATIO or tail else "pass"
    msg = (f"{s['n_classes']} classes, imbalance ratio {s['imbalance_ratio']:.1f}, "
           f"{s['n_many']} many / {s['n_medium']} medium / {s['n_few']} few-shot classes.")
    untrusted = prof.table.loc[~prof.table["rate_trusted"], "class"].tolist()
    return CheckResult(
        name="class_profile",
        status=status,
        summary=dict(s),
        evidence={"classes": prof.table, "few_shot_classes": tail,
                  "untrusted_issue_rates": untrusted},
        thresholds={
            "many": Threshold(cfg.many, "more than this many rows: 'many' (long-tail protocol, "
                              "Liu et al. 2019)"),
            "few": Threshold(cfg.few, "fewer than this many rows: 'few' (same protocol)"),
            "warn_ratio": Threshold(WARN_RATIO, "assay default"),
            "trusted_width": Threshold(0.2, "95 % Wilson interval of a class's issue rate must "
                                       "be narrower than this; assay default"),
        },
        message=msg,
    )
