"""Wrong entries of label sets (the label check of a multi-label task), with the class profile
per label."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from assay._audit._context import AuditContext
from assay._audit._registry import RowOutputs, register_check
from assay._audit._result import CheckResult, Threshold
from assay.data import format_label_set
from assay.multilabel import (
    MIN_ERROR_PROBABILITY,
    MIN_MEAN_AUC,
    PLAUSIBLE_ROW_ERROR_RATE,
    MultilabelIssues,
    find_multilabel_issues,
)

WARN_RATE = 0.01
FAIL_RATE = 0.05
#: Flagged rows listed in the evidence and the report, worst first.
MAX_SHOWN = 200
_SOURCE = ("assay default, as for class labels; Northcutt et al. 2021 found >= 3.3 % label "
           "errors on average in 10 benchmark test sets")


def multilabel_section(check: dict) -> dict:
    """The report section: the estimate, the classes with their counts and flagged entries,
    and the rows whose sets look wrong with the classes to add and to remove."""
    s = check["summary"]
    stats = {
        "rows flagged": s.get("n_flagged"),
        "share": f"{s.get('rate', 0):.1%}",
        "wrong entries estimated": s.get("n_estimated_errors"),
        "estimates reliable": s.get("estimates_reliable"),
        "classes": s.get("n_classes"),
        "labels per row (mean)": s.get("mean_labels_per_row"),
        "mean per-class AUC": s.get("mean_auc"),
        "model": s.get("model"),
    }
    return {"stats": stats,
            "tables": {"Label sets that look wrong, worst first": check["evidence"].get("flagged"),
                       "Classes": check["evidence"].get("classes")}}


@register_check(
    "multilabel_labels", needs=("label_sets", "label_set_probs"),
    outputs=RowOutputs(flag="is_label_issue", score="label_score", unit_score=True,
                       detail=("suggested_label", "given_label", "missing_labels",
                               "spurious_labels"), metric="label"),
    section=multilabel_section,
)
def check_multilabel_labels(ctx: AuditContext) -> CheckResult:
    """Label sets with a class missing or a class that does not apply (a per-class noise model
    on out-of-fold probabilities, :func:`assay.find_multilabel_issues`), the suggested set, and
    the class profile per label."""
    y, classes, form = ctx.label_sets
    probs = ctx.label_set_probs
    # identical rows with different sets at varying rates: outcomes, not annotations
    res = find_multilabel_issues(y, probs, inputs=ctx.label_set_inputs)
    frame = res.to_frame(list(classes))
    names = [str(c) for c in classes]
    suggested = [format_label_set(_names(r, names), form) for r in res.suggested]
    rows = pd.DataFrame({  # given_label: the audit's own column, the cell as written
        "is_label_issue": res.is_issue,
        "label_score": np.clip(res.row_scores, 0.0, 1.0),
        "suggested_label": [_text(v) for v in suggested],
        "missing_labels": [", ".join(map(str, v)) for v in frame["missing_labels"]],
        "spurious_labels": [", ".join(map(str, v)) for v in frame["spurious_labels"]],
    })
    n_flagged = int(res.is_issue.sum())
    rate = float(res.is_issue.mean())
    fit = ctx.label_set_crossfit if ctx.user_label_set_probs is None else None
    summary = {
        "n_flagged": n_flagged,
        "rate": rate,
        "n_entries_flagged": int(res.class_issues.sum()),
        "n_estimated_errors": int(res.n_estimated_errors),
        "n_estimated_rows": int(res.n_estimated_rows),
        "estimates_reliable": bool(res.reliable),
        "unreliable_reason": res.reason,
        "caveat": res.caveat,
        "mean_auc": None if res.mean_auc != res.mean_auc else round(float(res.mean_auc), 3),
        "n_classes": len(classes),
        "mean_labels_per_row": round(float(y.sum(axis=1).mean()), 3),
        "label_form": form,
        "model": "user" if fit is None else str(fit.model),
        "constant_classes": [] if fit is None else [names[c] for c in fit.constant_classes],
        "notes": [] if fit is None else list(fit.notes)[:20],
    }
    profile = _class_table(y, res, names, many=ctx.config.many, few=ctx.config.few)
    summary["n_few"] = int((profile["group"] == "few").sum())
    return CheckResult(
        name="multilabel_labels",
        status="fail" if rate > FAIL_RATE else "warn" if rate > WARN_RATE else "pass",
        summary=summary,
        rows=rows,
        evidence={"flagged": _flagged_records(ctx, rows, res), "classes": profile},
        thresholds={
            "warn_rate": Threshold(WARN_RATE, _SOURCE),
            "fail_rate": Threshold(FAIL_RATE, _SOURCE),
            "error_probability": Threshold(0.5, "the entries more likely wrong than right under "
                                           "each class's noise model are counted; that many "
                                           "lowest-scored entries are flagged"),
            "min_error_probability": Threshold(MIN_ERROR_PROBABILITY, "an entry less likely "
                                               "wrong is never flagged (assay.multilabel)"),
            "min_mean_auc": Threshold(MIN_MEAN_AUC, "below it the estimates are not reliable "
                                      "(benchmarks/multilabel_labels.py)"),
            "plausible_row_error_rate": Threshold(PLAUSIBLE_ROW_ERROR_RATE, "above it the "
                                                  "estimates are not reliable; assay default"),
            "many": Threshold(ctx.config.many, "a class on more rows is 'many' (long-tail "
                              "protocol, Liu et al. 2019)"),
            "few": Threshold(ctx.config.few, "a class on fewer rows is 'few' (same protocol)"),
        },
        message=_message(n_flagged, rate, res, len(classes)),
    )


def _names(row: np.ndarray, names: list[str]) -> list[str]:
    return [names[j] for j in np.flatnonzero(row)]


def _text(value: Any) -> str:
    """A set as text for the issue table (list cells as JSON)."""
    return value if isinstance(value, str) else json.dumps(value)


def _class_table(y: np.ndarray, res: MultilabelIssues, names: list[str], *, many: int,
                 few: int) -> pd.DataFrame:
    """One row per class: rows carrying it, share, long-tail group, flagged entries (to add,
    to remove), its AUC and its two fitted noise rates; most frequent first."""
    counts = y.sum(axis=0).astype(np.int64)
    given = y.astype(bool)
    table = pd.DataFrame({
        "class": names, "count": counts, "share": np.round(counts / max(len(y), 1), 4),
        "group": np.where(counts > many, "many", np.where(counts < few, "few", "medium")),
        "flagged_missing": (res.class_issues & ~given).sum(axis=0),
        "flagged_spurious": (res.class_issues & given).sum(axis=0),
        "auc": np.round(np.asarray(res.class_auc, dtype=float), 3),
    })
    rates = np.asarray(res.noise_rates, dtype=float)
    if rates.ndim == 2 and rates.shape[0] == len(names):
        table["rate_1_given_without"] = np.round(rates[:, 0], 4)
        table["rate_0_given_with"] = np.round(rates[:, 1], 4)
    return table.sort_values("count", ascending=False, kind="stable").reset_index(drop=True)


def _flagged_records(ctx: AuditContext, rows: pd.DataFrame,
                     res: MultilabelIssues) -> list[dict[str, Any]]:
    pos = np.flatnonzero(res.is_issue)
    pos = pos[np.argsort(res.row_scores[pos], kind="stable")][:MAX_SHOWN]
    ids = ctx.dataset.ids
    given = ctx.dataset.table[ctx.dataset.roles.label]
    return [{"row": int(i), "id": str(ids[i]), "given": _text(given.iat[i]),
             "add": rows["missing_labels"].iat[i], "remove": rows["spurious_labels"].iat[i],
             "suggested": rows["suggested_label"].iat[i],
             "score": round(float(res.row_scores[i]), 4)} for i in pos]


def _message(n_flagged: int, rate: float, res: MultilabelIssues, n_classes: int) -> str:
    if not n_flagged:
        head = f"No label set looks wrong ({n_classes} classes)."
        return head if res.reliable else head[:-1] + f"; {res.caveat})"
    head = (f"{n_flagged} label sets ({rate:.1%}) look wrong: a class missing or one that does "
            "not apply")
    if res.reliable:
        return (f"{head}; about {res.n_estimated_errors} wrong entries estimated in "
                f"{res.n_estimated_rows} rows.")
    return (f"{head}, but the estimate (about {res.n_estimated_errors} wrong entries) is not "
            f"reliable: {res.caveat} Check the flagged rows by hand before changing them.")
