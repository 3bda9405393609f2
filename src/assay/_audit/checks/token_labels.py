"""Wrong token tags (the label check of a token-classification task), rolled up to sentences,
with the tag profile."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from assay._audit._context import AuditContext
from assay._audit._registry import RowOutputs, register_check
from assay._audit._result import CheckResult, Threshold
from assay.data import format_sequence, sequence_form
from assay.tokens import (
    MIN_SKILL,
    MIN_TOKENS,
    TokenIssues,
    find_token_issues,
)

WARN_RATE = 0.01
FAIL_RATE = 0.05
#: Flagged sentences and tokens listed in the evidence and the report, worst first.
MAX_SHOWN = 200
_SOURCE = ("assay default, as for class labels; Northcutt et al. 2021 found >= 3.3 % label "
           "errors on average in 10 benchmark test sets")


def token_section(check: dict) -> dict:
    """The report section: the estimate, the sentences with a wrong-looking tag (the changes
    marked), the flagged tokens and the tag profile."""
    s = check["summary"]
    stats = {
        "sentences flagged": s.get("n_flagged"),
        "share": f"{s.get('rate', 0):.1%}",
        "tokens flagged": s.get("n_tokens_flagged"),
        "wrong tags estimated": s.get("n_estimated_errors"),
        "estimates reliable": s.get("estimates_reliable"),
        "tokens": s.get("n_tokens"),
        "tags": s.get("n_tags"),
        "model accuracy": s.get("model_accuracy"),
        "tokens tagged unlike the same word elsewhere": s.get("n_inconsistent"),
        "model": s.get("model"),
    }
    ev = check["evidence"]
    return {"stats": stats,
            "tables": {"Sentences with a tag that looks wrong, worst first": ev.get("flagged"),
                       "Flagged tokens": ev.get("tokens"), "Tags": ev.get("tags")}}


@register_check(
    "token_labels", needs=("token_corpus", "token_probs"),
    outputs=RowOutputs(flag="is_label_issue", score="label_score", unit_score=True,
                       detail=("suggested_label", "given_label", "tag_changes"),
                       metric="label"),
    section=token_section,
)
def check_token_labels(ctx: AuditContext) -> CheckResult:
    """Tags that look wrong (confident learning on the tokens, :func:`assay.find_token_issues`),
    per sentence: the suggested tags and each change; tokens tagged unlike the same word
    elsewhere as a second signal; the tag profile."""
    corpus = ctx.token_corpus
    res = find_token_issues(corpus, ctx.token_probs)
    column = ctx.dataset.table[ctx.dataset.roles.label]
    form = sequence_form(column)
    names = corpus.classes.astype(str)
    off = corpus.offsets
    changed = res.suggested != res.given
    suggested = [_text(format_sequence(names[res.suggested[a:b]].tolist(), form))
                 for a, b in zip(off[:-1], off[1:], strict=True)]
    rows = pd.DataFrame({
        "is_label_issue": res.sentence_is_issue,
        "label_score": np.clip(res.sentence_scores, 0.0, 1.0),
        "suggested_label": suggested,
        "tag_changes": _changes(corpus, res, changed, names),
    })
    n_flagged = int(res.sentence_is_issue.sum())
    rate = float(res.sentence_is_issue.mean())
    summary = {
        "n_flagged": n_flagged,
        "rate": rate,
        "n_tokens_flagged": int(res.is_issue.sum()),
        "n_estimated_errors": int(res.n_estimated_errors),
        "estimates_reliable": bool(res.reliable),
        "unreliable_reason": res.reason,
        "caveat": res.caveat,
        "n_tokens": corpus.n_tokens,
        "n_sentences": corpus.n_sentences,
        "n_tags": len(names),
        "model_accuracy": round(float(res.model_accuracy), 4),
        "baseline_accuracy": round(float(res.baseline_accuracy), 4),
        "n_inconsistent": int(res.inconsistent.sum()),
        "label_form": form,
        "model": "user" if ctx.user_token_probs is not None else
                 "hashed-feature logistic tagger (cross-fitted by sentence)",
    }
    profile = _tag_table(res, names, many=ctx.config.many, few=ctx.config.few)
    summary["n_few"] = int((profile["group"] == "few").sum())
    return CheckResult(
        name="token_labels",
        status="fail" if rate > FAIL_RATE else "warn" if rate > WARN_RATE else "pass",
        summary=summary,
        rows=rows,
        evidence={"flagged": _flagged_records(ctx, rows, res),
                  "tokens": _token_records(corpus, res), "tags": profile},
        thresholds={
            "warn_rate": Threshold(WARN_RATE, _SOURCE),
            "fail_rate": Threshold(FAIL_RATE, _SOURCE),
            "min_tokens": Threshold(MIN_TOKENS, "below it the estimate is not reliable "
                                    "(benchmarks/token_labels.py)"),
            "min_skill": Threshold(MIN_SKILL, "the model must remove this share of the errors of "
                                   "always predicting the most frequent tag, or the estimate "
                                   "is not reliable (benchmarks/token_labels.py)"),
            "many": Threshold(ctx.config.many, "a tag on more tokens is 'many' (long-tail "
                              "protocol, Liu et al. 2019)"),
            "few": Threshold(ctx.config.few, "a tag on fewer tokens is 'few' (same protocol)"),
        },
        message=_message(n_flagged, rate, res, corpus.n_sentences),
    )


def _text(value: Any) -> str:
    """A sequence as text for the issue table (list cells as JSON)."""
    import json

    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _changes(corpus: Any, res: TokenIssues, changed: np.ndarray, names: np.ndarray) -> list[str]:
    """Per sentence, its suggested changes: ``"3 Blackburn: I-PER -> B-PER"`` (position from 0),
    ``"; "``-separated; empty when none."""
    out = [""] * corpus.n_sentences
    idx = np.flatnonzero(changed)
    if not idx.size:
        return out
    sid = np.searchsorted(corpus.offsets, idx, side="right") - 1
    for s in np.unique(sid):
        toks = idx[sid == s]
        out[int(s)] = "; ".join(
            f"{int(t - corpus.offsets[s])} {corpus.tokens[t]}: {names[res.given[t]]} -> "
            f"{names[res.suggested[t]]}" for t in toks)
    return out


def _flagged_records(ctx: AuditContext, rows: pd.DataFrame, res: TokenIssues) -> list[dict]:
    """The flagged sentences, worst first: row, id, the tokens, the given and suggested tags,
    the changes and the score."""
    corpus = ctx.token_corpus
    flagged = np.flatnonzero(res.sentence_is_issue)
    flagged = flagged[np.argsort(res.sentence_scores[flagged], kind="stable")][:MAX_SHOWN]
    ids = ctx.dataset.ids
    names = corpus.classes.astype(str)
    out = []
    for i in flagged.tolist():
        a, b = int(corpus.offsets[i]), int(corpus.offsets[i + 1])
        out.append({"row": i, "id": ids[i].item() if hasattr(ids[i], "item") else ids[i],
                    "tokens": " ".join(map(str, corpus.tokens[a:b])),
                    "given": " ".join(names[res.given[a:b]]),
                    "suggested": " ".join(names[res.suggested[a:b]]),
                    "changes": rows["tag_changes"].iat[i],
                    "label_score": round(float(res.sentence_scores[i]), 4)})
    return out


def _token_records(corpus: Any, res: TokenIssues) -> pd.DataFrame:
    """The flagged tokens (and those tagged unlike the same word elsewhere), worst first, with
    two tokens of context each side."""
    frame = res.to_frame(corpus)
    frame = frame.sort_values(["is_issue", "token_score"], ascending=[False, True],
                              kind="stable").head(MAX_SHOWN)
    tokens = corpus.tokens
    context = []
    for t, s in zip(frame["token_index"].tolist(), frame["sentence"].tolist(), strict=True):
        a, b = int(corpus.offsets[s]), int(corpus.offsets[s + 1])
        left = " ".join(map(str, tokens[max(a, t - 2):t]))
        right = " ".join(map(str, tokens[t + 1:min(b, t + 3)]))
        context.append(f"{left} [{tokens[t]}] {right}".strip())
    frame = frame.assign(context=context, token_score=frame["token_score"].round(4),
                         error_probability=frame["error_probability"].round(4))
    return frame[["sentence", "position", "token", "tag", "suggested", "token_score",
                  "error_probability", "is_issue", "inconsistent", "context"]].reset_index(
        drop=True)


def _tag_table(res: TokenIssues, names: np.ndarray, *, many: int, few: int) -> pd.DataFrame:
    """One row per tag: tokens carrying it, share, long-tail group, flagged tokens given it and
    suggested to it; most frequent first."""
    k = len(names)
    counts = np.bincount(res.given, minlength=k)
    flagged_given = np.bincount(res.given[res.is_issue], minlength=k)
    flagged_to = np.bincount(res.suggested[res.is_issue], minlength=k)
    table = pd.DataFrame({
        "tag": names, "count": counts,
        "share": np.round(counts / max(int(counts.sum()), 1), 4),
        "group": np.where(counts > many, "many", np.where(counts < few, "few", "medium")),
        "flagged_given": flagged_given, "flagged_suggested": flagged_to,
    })
    return table.sort_values("count", ascending=False, kind="stable").reset_index(drop=True)


def _message(n_flagged: int, rate: float, res: TokenIssues, n_sentences: int) -> str:
    head = (f"{n_flagged} of {n_sentences} sentences ({rate:.1%}) have a tag that looks wrong "
            f"({int(res.is_issue.sum())} tokens); about {res.n_estimated_errors} wrong tags "
            "estimated")
    if not res.reliable:
        return f"{head}, but the estimate is not reliable: {res.caveat}"
    return f"{head}."
