"""The ranked next actions of an audit: what to do, on how many rows, what it is worth, and the
command that does it.

One function, :func:`next_steps`, read by the report (at the top of the page), by ``assay audit``
(at the end of its output) and by ``AuditResult.to_dict`` (``audit.json``'s ``next_steps``).

**Which findings make a step.** A finding that is wrong by construction makes a step whatever its
check's status: a leak across splits, a column that gives the label away, a likely label error,
an exact or near duplicate. The others (outliers, ambiguous class pairs, weak slices, few-shot
classes, low-value rows, any other check) make one only when their check warned or failed: an
outlier rule flags a few rows of any data, and a passing check judged them normal. A check
that crashed makes a step too: its findings are missing.

**Ranking.** By tier, then within the last tier by rows, most first (ties keep check order):

1. checks that crashed (the audit is incomplete);
2. leaks across splits (the evaluation scores are inflated);
3. columns that give the label away (a model learns the leak, not the task);
4. label errors: the spot check first when the estimates are unreliable, then the flagged rows;
5. exact duplicates, then near duplicates;
6. outliers;
7. ambiguous class pairs, weak slices, few-shot classes, low-value rows and any other check that
   warned.

**Commands.** Only real commands with their real options: ``assay review`` (its queues hold the
rows; ``assay export`` then writes the corrected version), ``assay audit ... --features`` (a
re-audit without a leaking column) and ``assay curve ... --per-class``. A step that needs the
recorded run (the review app reads it from the workspace) has no command when the audit was not
recorded; one that needs the data file has none when the data was a DataFrame.

**What relabelling is worth.** The relabel step also carries, as its ``worth_command``, the
command that measures its worth: ``assay curve DATA --label Y --compare-clean`` (the learning
curve as is and with the suspected errors removed, :func:`assay.curves.relabel_or_collect`).
When the audit's summary holds such a run's measurement (``summary["relabel_or_collect"]``:
:func:`assay.pipelines.record_audit` puts it there from the newest ``curve --compare-clean`` run
on the same data file and label in the workspace), the worth says what cleaning is worth in
data: the run's multiplier ``M`` and how many more rows as they are would reach the cleaned
data's score (its ``extra_to_match``), and the run it comes from. Without one, the worth says to run the command.
"""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from assay._validation import finite_or_none

if TYPE_CHECKING:
    from assay._audit._result import AuditResult

__all__ = ["NextStep", "next_steps"]

#: Tiers in rank order (see the module docstring).
TIERS = ("error", "leakage", "target_leakage", "labels", "duplicates", "outliers", "other")

#: Why the label estimates are unreliable, by ``unreliable_reason`` (one short clause).
_UNRELIABLE = {
    "weak_model": "the model is weak",
    "overconfident": "the model is overconfident",
    "input_conflicts": "identical inputs carry different labels, as outcomes do",
    "error_rate": "the estimated error rate is higher than annotated data usually holds",
    "undecided": "the features do not decide the label for many rows",
    "few_tokens": "the corpus is too small for the model to learn the tags",
    "one_tag": "every token carries the same tag",
}


@dataclass(frozen=True)
class NextStep:
    """One action of the ranked list.

    Attributes
    ----------
    rank : int
        1 for the most important.
    kind : str
        ``check_error``, ``split_leakage``, ``target_leakage``, ``label_spot_check``,
        ``label_issues``, ``regression_labels``, ``exact_duplicates``, ``near_duplicates``, ``outliers``,
        ``ambiguous_pairs``, ``weak_slices``, ``long_tail``, ``low_value`` or ``check``.
    check : str
        The check whose finding it acts on.
    action : str
        What to do, in one sentence.
    rows : int or None
        How many rows it touches (``None`` when it is not a number of rows).
    worth : str
        What it is worth where assay can estimate it ("about 178 of them are real errors"),
        else "".
    command : str or None
        The command that does it, ready to paste; ``None`` when no assay command does.
    worth_command : str or None
        The command that measures what the step is worth, ready to paste (``assay curve ...
        --compare-clean`` for relabelling); ``None`` for the other steps and when the data was
        not a file.
    """

    rank: int
    kind: str
    check: str
    action: str
    rows: int | None
    worth: str
    command: str | None
    worth_command: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def next_steps(result: AuditResult, *, workspace: str | None = None) -> list[NextStep]:
    """The ranked next actions of an audit (the rule is in this module's docstring).

    Parameters
    ----------
    result : AuditResult
    workspace : str, optional
        Added as ``-w WORKSPACE`` to the ``assay review`` and ``assay curve`` commands, for a
        workspace that they would not find by themselves.

    Returns
    -------
    list of NextStep
        Most important first; empty when the audit found nothing to act on.

    Examples
    --------
    >>> import pandas as pd
    >>> from assay import AuditResult, CheckResult
    >>> res = AuditResult(
    ...     {"duplicates": CheckResult("duplicates", "warn", summary={
    ...         "n_exact": 2, "n_near": 0, "n_sets": 1, "n_redundant_rows": 1})},
    ...     pd.DataFrame({"row": [0, 1, 2], "is_exact_duplicate": [True, True, False],
    ...                   "is_near_duplicate": False, "duplicate_set": [0, 0, -1]}),
    ...     {"n_rows": 3, "run_id": "r1"})
    >>> [(s.kind, s.rows, s.command) for s in next_steps(res)]
    [('exact_duplicates', 1, 'assay review --run r1')]
    """
    ctx = _Context(result, workspace)
    found: list[tuple[int, int, dict[str, Any]]] = []  # (tier, order, step fields)
    for order, (name, check) in enumerate(result.checks.items()):
        if check.status == "error":
            steps = [_errored(name, check)]
        else:
            builder = _BUILDERS.get(name)
            steps = builder(check, ctx) if builder is not None else _generic(name, check, ctx)
        found += [(TIERS.index(s.pop("tier")), order, s) for s in steps]
    last = len(TIERS) - 1
    found.sort(key=lambda t: (t[0], -(t[2]["rows"] or 0) if t[0] == last else 0, t[1]))
    return [NextStep(rank=i + 1, **s) for i, (_, _, s) in enumerate(found)]


class _Context:
    """What the step builders share: the per-row table, the roles and the commands."""

    def __init__(self, result: AuditResult, workspace: str | None) -> None:
        s = result.summary if isinstance(result.summary, dict) else {}
        self.issues = result.issues if isinstance(result.issues, pd.DataFrame) else pd.DataFrame()
        self.result = result
        self.n_rows = int(s.get("n_rows") or len(self.issues))
        self.run_id = s.get("run_id")
        self.source = s.get("source")
        roles = s.get("roles")
        self.roles: dict[str, Any] = roles if isinstance(roles, dict) else {}
        self.workspace = workspace
        # with embeddings the model and the neighbours read the vectors, not the columns
        self.embeddings = bool(self.roles.get("embedding_column")) or \
            s.get("featurizer") == "embeddings"
        clean = s.get("relabel_or_collect")
        self.clean: dict[str, Any] = clean if isinstance(clean, dict) else {}

    def review(self) -> str | None:
        """``assay review`` on this run, or ``None`` when the audit was not recorded."""
        if not self.run_id:
            return None
        ws = ["-w", str(self.workspace)] if self.workspace else []
        return _join("assay", "review", *ws, "--run", str(self.run_id))

    def compare_clean(self) -> str | None:
        """``assay curve ... --compare-clean``: what cleaning the labels is worth against
        collecting; ``None`` when the data was not a file."""
        args = self.data_args(audit=False)
        if args is None:
            return None
        ws = ["-w", str(self.workspace)] if self.workspace else []
        return _join("assay", "curve", *args, "--compare-clean", *ws)

    def data_args(self, *, audit: bool = True) -> list[str] | None:
        """The data and its label and text options; for ``assay audit`` also the image, id,
        split, group and meta options the audit was given (its recorded roles)."""
        label = self.roles.get("label")
        if not self.source or not label:
            return None
        args = [str(self.source), "--label", str(label)]
        for role in ("text", "image", "id", "split", "group") if audit else ("text",):
            if self.roles.get(role):
                args += [f"--{role}", str(self.roles[role])]
        meta = [str(c) for c in self.roles.get("meta") or []]
        if audit and meta:
            if any("," in c for c in meta):
                return None  # --meta cannot name such a column
            args += ["--meta", ",".join(meta)]
        return args


def _join(*parts: str) -> str:
    return " ".join(shlex.quote(p) for p in parts)


def _step(tier: str, kind: str, check: str, action: str, rows: int | None, worth: str,
          command: str | None, worth_command: str | None = None) -> dict[str, Any]:
    return {"tier": tier, "kind": kind, "check": check, "action": action,
            "rows": None if rows is None else int(rows), "worth": worth, "command": command,
            "worth_command": worth_command}


def _records(obj: Any) -> list[dict[str, Any]]:
    """Evidence tables as records: a live result holds frames, one read from JSON lists."""
    if isinstance(obj, pd.DataFrame):
        return obj.to_dict(orient="records")
    if isinstance(obj, list):
        return [r for r in obj if isinstance(r, dict)]
    return []


def _int(v: Any) -> int:
    return int(_float(v))


def _float(v: Any) -> float:
    """A summary figure as a float; 0 for a missing or non-finite one (JSON stores NaN as null)."""
    try:
        out = float(v)
    except (TypeError, ValueError):
        return 0.0
    return out if np.isfinite(out) else 0.0


def _plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else many or word + 's'}"


# --------------------------------------------------------------------------------------------
# One builder per check: (check, context) -> list of step dicts
# --------------------------------------------------------------------------------------------
def _errored(name: str, check: Any) -> dict[str, Any]:
    first = (check.error or check.message or "").strip().splitlines()
    why = f" ({first[-1][:160]})" if first else ""
    return _step("error", "check_error", name,
                 f"Fix check {name}, which crashed{why}: its findings are missing from this "
                 "audit.", None, "", None)


def _leakage(check: Any, ctx: _Context) -> list[dict[str, Any]]:
    s = check.summary
    n = _int(s.get("n_leaked_rows"))
    if not n:
        return []
    pairs = [p for p in _records(check.evidence.get("split_pairs")) if _int(p.get("n_leaked"))]
    where = "; ".join(_leak_text(p) for p in pairs) or f"{_plural(n, 'row')} leak across splits"
    return [_step(
        "leakage", "split_leakage", "leakage",
        f"Fix the leak across splits: {where}. Drop the leaked rows from the later split (review "
        "queue leakage, key d), or re-split the data with groups and duplicates kept whole.",
        n, f"evaluation scores no longer inflated by {_plural(n, 'row')} the model has "
        "already seen", ctx.review())]


def _leak_text(pair: dict[str, Any]) -> str:
    """``10 test rows leak from train (8 have an exact copy there, 3 a near copy)``: a row may
    leak in more than one way, so the kinds can add up to more than the rows."""
    n = _int(pair.get("n_leaked"))
    exact, near, group = (_int(pair.get(k)) for k in ("n_exact", "n_near", "n_group"))
    kinds = [f"{exact:,} {'has' if exact == 1 else 'have'} an exact copy there" if exact else "",
             f"{near:,} a near copy" if near else "",
             f"{group:,} {'shares' if group == 1 else 'share'} a group" if group else ""]
    how = ", ".join(k for k in kinds if k)
    return (f"{_plural(n, str(pair.get('split_j')) + ' row')} "
            f"{'leaks' if n == 1 else 'leak'} from {pair.get('split_i')}"
            + (f" ({how})" if how else ""))


def _target_leakage(check: Any, ctx: _Context) -> list[dict[str, Any]]:
    flagged = [r for r in _records(check.evidence.get("columns")) if r.get("flagged")]
    if not flagged and check.summary.get("flagged_columns"):
        flagged = [{"column": c, "check": ""} for c in check.summary["flagged_columns"]]
    features = [str(c) for c in ctx.roles.get("features") or []]
    steps, seen = [], set()
    for r in flagged:
        col = str(r.get("column"))
        if col in seen:
            continue
        seen.add(col)
        how = str(r.get("check") or "")
        read = col in features and not ctx.embeddings  # the audit's model read it
        command = None
        if how == "identifier_order":
            action = (f"Keep column '{col}' and the row order away from the model: '{col}' is "
                      "ordered by the label.")
        elif how == "label_in_text":
            action = (f"Remove the label's name from column '{col}': it names the row's label "
                      f"in {_float(r.get('score')):.0%} of rows.")
        elif read:
            action = (f"Drop column '{col}' from the model's inputs: it predicts the label on "
                      "its own.")
        else:
            action = (f"Drop column '{col}' from the training data: it predicts the label on "
                      "its own.")
        rest = [c for c in features if c != col]
        args = ctx.data_args()
        if (how != "label_in_text" and read and rest and args is not None
                and not any("," in c for c in rest)):
            command = _join("assay", "audit", *args, "--features", ",".join(rest))
        steps.append(_step(
            "target_leakage", "target_leakage", "target_leakage", action, ctx.n_rows,
            "a model that reads it learns the leak, not the task, and scores too well"
            + ("; the command re-audits without it" if command else ""), command))
    return steps


def _label_issues(check: Any, ctx: _Context) -> list[dict[str, Any]]:
    s = check.summary
    n = _int(s.get("n_flagged"))
    if not n:
        return []
    est, precision = s.get("n_estimated_errors"), s.get("estimated_precision")
    spot = _int(s.get("spot_check_size"))
    review = ctx.review()
    if s.get("estimates_reliable") is False:
        why = _UNRELIABLE.get(str(s.get("unreliable_reason")), "the model cannot tell")
        steps = []
        if spot:
            steps.append(_step(
                "labels", "label_spot_check", "label_issues",
                f"Review the {spot}-row spot check (review queue label_spot_check) to measure "
                f"how many of the {n:,} flagged rows are real label errors.", spot,
                f"the precision of the {n:,} flags within 0.1 (95 %); assay's own estimate "
                f"(about {_int(est):,} errors, {_float(precision):.0%} precision) is not "
                f"reliable here: {why}", review))
        known = (f"at most about {_int(est):,} label errors (an upper bound until the spot "
                 "check measures the precision)" if est is not None else "")
        steps.append(_step(
            "labels", "label_issues", "label_issues",
            f"Then relabel or drop the flagged rows the spot check confirms (review queue "
            f"label_issues, {n:,} rows, worst first).", n, _with_cleaning_worth(known, ctx),
            review, ctx.compare_clean()))
        return steps
    worth = ""
    if est is not None and precision is not None:
        real = round(n * _float(precision))
        expected = ("probably none of them is a real error" if not real else
                    "about 1 of them is expected to be a real error" if real == 1 else
                    f"about {real:,} of them are expected to be real errors")
        low, high = s.get("estimated_precision_low"), s.get("estimated_precision_high")
        band = (f", plausibly {_float(low):.0%} to {_float(high):.0%}"
                if finite_or_none(low) is not None and finite_or_none(high) is not None else "")
        worth = (f"{expected} (estimated precision {_float(precision):.0%}{band}); about "
                 f"{_plural(_int(est), 'label error')} in the whole data")
    return [_step("labels", "label_issues", "label_issues",
                  f"Relabel or drop the {_plural(n, 'row')} flagged as label errors (review "
                  "queue label_issues; key r takes the suggested label).", n,
                  _with_cleaning_worth(worth, ctx), review, ctx.compare_clean())]


def _with_cleaning_worth(known: str, ctx: _Context) -> str:
    """``known`` (the expected real errors) and what cleaning is worth in data: measured by a
    ``curve --compare-clean`` run when the summary holds one, else how to measure it.

    The run's ``extra_to_match`` is the number of rows of the data as it is that the as-is
    learning curve needs, beyond the rows there are, to reach the score of the cleaned data
    (:func:`assay.curves.relabel_or_collect`); its ``multiplier`` compares the two curves at
    the same size. Without a finite ``extra_to_match`` (the cleaned score lies beyond the
    as-is curve's ceiling) the multiplier alone is given.
    """
    multiplier, run = ctx.clean.get("multiplier"), ctx.clean.get("run_id")
    extra: Any = ctx.clean.get("extra_to_match")
    if finite_or_none(multiplier) is not None:
        m = max(float(cast(float, multiplier)), 0.0)  # 0: the cleaned curve never reaches the as-is score
        source = f" (from curve run {run})" if run else ""
        head = f"cleaning is worth about {m:.2f}x the data"
        if finite_or_none(extra) is not None and float(extra) >= 1:
            worth = (f"{head}: as is, about {_plural(round(float(extra)), 'more sample')} would "
                     f"reach the cleaned score, by the relabel-or-collect estimate{source}")
        elif finite_or_none(extra) is not None:
            worth = (f"{head}: no samples to gain by the relabel-or-collect estimate{source}")
        else:
            worth = (f"{head}: more samples as they are would not reach the cleaned score, by "
                     f"the relabel-or-collect estimate{source}")
    elif ctx.compare_clean() is not None:
        worth = ("run the curve command to measure what cleaning is worth against "
                 "collecting")
    else:
        worth = ("assay.curves.relabel_or_collect measures what cleaning is worth against "
                 "collecting")
    return f"{known}; {worth}" if known else worth


def _regression_labels(check: Any, ctx: _Context) -> list[dict[str, Any]]:
    """Wrong values of a regression target: checked by hand from the issue table (the review
    app does not serve numeric targets yet), each beside its suggested value."""
    s = check.summary
    n = _int(s.get("n_flagged"))
    if not n:
        return []
    est, precision = _int(s.get("n_estimated_errors")), s.get("estimated_precision")
    if s.get("estimates_reliable") is False:
        worth = (f"at most about {_plural(est, 'wrong value')} (an upper bound: the model "
                 "cannot tell its own misses from wrong values here)")
    else:
        real = round(n * _float(precision))
        worth = (f"about {real:,} of them expected to be wrong (estimated precision "
                 f"{_float(precision):.0%}); about {_plural(est, 'wrong value')} in the whole data")
    return [_step("labels", "regression_labels", "regression_labels",
                  f"Check the {_plural(n, 'target value')} flagged as wrong (is_label_issue in "
                  "issues.csv, worst first by label_score) against their source; fix them or "
                  "take suggested_label.", n, worth, None)]


def _token_labels(check: Any, ctx: _Context) -> list[dict[str, Any]]:
    """Sentences with a tag that looks wrong: fixed in the review app, whose queue shows each
    sentence with the changed tokens marked."""
    s = check.summary
    n = _int(s.get("n_flagged"))
    if not n:
        return []
    est = _int(s.get("n_estimated_errors"))
    if s.get("estimates_reliable") is False:
        why = _UNRELIABLE.get(str(s.get("unreliable_reason")), "the model cannot tell")
        worth = (f"at most about {_plural(est, 'wrong tag')} (an upper bound: {why}, so the "
                 "model's own misses pass for wrong tags)")
    else:
        worth = (f"about {_plural(est, 'wrong tag')} in the whole data "
                 f"({_plural(_int(s.get('n_tokens_flagged')), 'token')} flagged)")
    return [_step("labels", "label_issues", "token_labels",
                  f"Fix the tags of the {_plural(n, 'sentence')} flagged (review queue "
                  "label_issues; key r takes the suggested tags, l types them).", n, worth,
                  ctx.review(), ctx.compare_clean())]


def _detection_labels(check: Any, ctx: _Context) -> list[dict[str, Any]]:
    """Images with a box that looks wrong: fixed in the review app, which draws the given and
    the suggested boxes on the image."""
    s = check.summary
    n = _int(s.get("n_flagged"))
    if not n:
        return []
    counts = s.get("counts") or {}
    worth = ", ".join(f"{_int(counts.get(k))} {k.replace('_', ' ')}" for k in
                      ("wrong_class", "badly_located", "spurious", "missing")
                      if _int(counts.get(k)))
    return [_step("labels", "label_issues", "detection_labels",
                  f"Fix the boxes of the {_plural(n, 'image')} flagged (review queue "
                  "label_issues; key r takes the suggested boxes).", n,
                  f"{worth} boxes (judged against your detector's boxes)" if worth else "",
                  ctx.review(), ctx.compare_clean())]


def _duplicates(check: Any, ctx: _Context) -> list[dict[str, Any]]:
    s = check.summary
    redundant = _int(s.get("n_redundant_rows"))
    iss = ctx.issues
    cols = {"duplicate_set", "is_exact_duplicate"}
    if cols <= set(iss.columns):
        sets = iss["duplicate_set"].to_numpy(dtype=np.int64)
        member = sets >= 0
        exact = iss["is_exact_duplicate"].to_numpy(dtype=bool) & member
        exact_sets = np.unique(sets[exact])
        # one row of each exact group is kept; a set's other rows are near copies (a set with
        # two exact groups near each other counts one of them as exact too)
        drop_exact = int(exact.sum()) - exact_sets.size
        redundant = int(member.sum()) - np.unique(sets[member]).size
        near = (iss["is_near_duplicate"].to_numpy(dtype=bool) if "is_near_duplicate" in iss
                else ~exact) & member
        near_sets = np.unique(sets[near])
        conflicts = _conflicting_sets(iss, sets)
        exact_conflicts = int(np.isin(conflicts, exact_sets).sum())
        near_conflicts = int(conflicts.size - exact_conflicts)
        n_exact_sets, n_near_sets = int(exact_sets.size), int(near_sets.size)
    else:  # a result read back without its per-row table: the summary's figures
        drop_exact, n_exact_sets = _int(s.get("n_exact")) // 2, None
        n_near_sets, exact_conflicts = None, 0
        near_conflicts = _int(s.get("n_sets_with_conflicting_labels"))
    drop_near = max(redundant - drop_exact, 0)
    review = ctx.review()
    steps = []
    if drop_exact > 0:
        sets_txt = f" of each of {_plural(n_exact_sets, 'row')}" if n_exact_sets else ""
        worth = f"{_plural(drop_exact, 'row')} that count twice in training and evaluation"
        if exact_conflicts:
            worth += f"; {_conflict_text(exact_conflicts)}"
        steps.append(_step(
            "duplicates", "exact_duplicates", "duplicates",
            f"Drop {_plural(drop_exact, 'exact duplicate')}, keeping one copy{sets_txt} (review "
            "queue duplicates: key o keeps the outlined copy and drops the rest).", drop_exact, worth, review))
    if drop_near > 0:
        sets_txt = f" in {_plural(n_near_sets, 'set')}" if n_near_sets else ""
        worth = _conflict_text(near_conflicts) if near_conflicts else ""
        steps.append(_step(
            "duplicates", "near_duplicates", "duplicates",
            f"Review {_plural(drop_near, 'near duplicate')}{sets_txt}; keep one of each set "
            "that is the same sample (review queue duplicates, key o).", drop_near, worth, review))
    return steps


def _conflict_text(n: int) -> str:
    return (f"{_plural(n, 'set')} {'carries' if n == 1 else 'carry'} conflicting labels, so one "
            f"of {'its' if n == 1 else 'their'} labels is wrong")


def _conflicting_sets(iss: pd.DataFrame, sets: np.ndarray) -> np.ndarray:
    """Duplicate sets whose members carry more than one given label."""
    if "given_label" not in iss.columns or not (sets >= 0).any():
        return np.empty(0, dtype=np.int64)
    member = sets >= 0
    labels = pd.Series(iss["given_label"].to_numpy()[member]).astype(str)
    n_labels = labels.groupby(sets[member]).nunique()
    return n_labels.index[n_labels.to_numpy() > 1].to_numpy(dtype=np.int64)


def _outliers(check: Any, ctx: _Context) -> list[dict[str, Any]]:
    n = _int(check.summary.get("n_outliers"))
    if check.status == "pass" or not n:
        return []
    return [_step("outliers", "outliers", "outliers",
                  f"Look at the {_plural(n, 'outlier')}, farthest first (review queue outliers): "
                  "drop corrupt or off-task rows, keep rare valid ones.", n,
                  f"{_float(check.summary.get('share')):.1%} of the rows sit far from all others",
                  ctx.review())]


def _ambiguous_pairs(check: Any, ctx: _Context) -> list[dict[str, Any]]:
    if check.status == "pass":
        return []
    warn = check.thresholds.get("warn_rate")
    limit = _float(warn.value) if warn is not None else 0.0
    pairs = [p for p in _records(check.evidence.get("pairs")) if _float(p.get("rate")) > limit]
    if not pairs:
        return []
    names = ", ".join(f"{p.get('name_a', p.get('class_a'))} / {p.get('name_b', p.get('class_b'))}"
                      for p in pairs[:3]) + (" ..." if len(pairs) > 3 else "")
    n = sum(_int(p.get("n_confused")) for p in pairs)
    return [_step("other", "ambiguous_pairs", "ambiguous_pairs",
                  f"Sharpen the labelling guideline for {names}, or merge the classes (review "
                  "queue ambiguous_pairs holds examples).", n,
                  f"{_plural(n, 'row')} confused between {_plural(len(pairs), 'class pair')}",
                  ctx.review())]


def _slices(check: Any, ctx: _Context) -> list[dict[str, Any]]:
    s = check.summary
    if check.status == "pass" or not _int(s.get("n_slices_flagged")):
        return []
    flagged = [r for r in _records(check.evidence.get("slices")) if r.get("flagged")]
    def name(r: dict[str, Any]) -> str:  # with the columns that describe it, where known
        base = str(r.get("name") or f"{r.get('source')}={r.get('slice')}")
        words = str(r.get("described_by") or "")
        return f"{base} ({words}; {_float(r.get('error_rate')):.0%} errors)" if words else \
            f"{base} ({_float(r.get('error_rate')):.0%} errors)"

    names = ", ".join(name(r) for r in flagged[:3]) + (" ..." if len(flagged) > 3 else "")
    return [_step("other", "weak_slices", "slices",
                  f"Collect more rows like the weak slices, or check their labels: {names}.",
                  _int(s.get("rows_in_flagged_slices")),
                  f"the model errs more there than the {_float(s.get('error_rate')):.0%} "
                  "it errs overall", None)]


def _class_profile(check: Any, ctx: _Context) -> list[dict[str, Any]]:
    s = check.summary
    few = _int(s.get("few_threshold"))
    tail = [r for r in _records(check.evidence.get("classes")) if r.get("group") == "few"]
    if check.status == "pass" or not tail or not few:
        return []
    need = sum(max(few - _int(r.get("count")), 0) for r in tail)
    names = ", ".join(str(r.get("class")) for r in tail[:5]) + (" ..." if len(tail) > 5 else "")
    args = ctx.data_args(audit=False)
    command = _join("assay", "curve", *args, "--per-class") if args is not None else None
    return [_step("other", "long_tail", "class_profile",
                  f"Collect rows of the {_plural(len(tail), 'few-shot class', 'few-shot classes')}"
                  f" ({names}); the per-class learning curves say how many each needs.", need,
                  f"{need:,} more rows bring each to {few} rows, where its recall can be "
                  "measured", command)]


def _data_values(check: Any, ctx: _Context) -> list[dict[str, Any]]:
    s = check.summary
    n = _int(s.get("n_low_value"))
    if check.status == "pass" or not n:
        return []
    return [_step("other", "low_value", "data_values",
                  f"Review the {_plural(n, 'low-value row')}, lowest first (review queue "
                  "low_value): drop those that hurt the model.", n,
                  f"{_int(s.get('n_negative')):,} lower the validation score; "
                  f"{_int(s.get('n_low_and_label_issue')):,} are also label issues",
                  ctx.review())]


def _generic(name: str, check: Any, ctx: _Context) -> list[dict[str, Any]]:
    """Any other check that warned or failed: its own message, and the rows it flags."""
    if check.status == "pass":
        return []
    rows = None
    outputs = ctx.result._outputs().get(name)
    if outputs is not None and all(c in ctx.issues.columns for c in outputs.flags):
        rows = int(outputs.flagged(ctx.issues).sum())
    message = check.message.rstrip(".") if check.message else f"check {name} {check.status}s"
    return [_step("other", "check", name, f"Act on check {name}: {message}.", rows, "", None)]


_BUILDERS = {
    "leakage": _leakage,
    "target_leakage": _target_leakage,
    "label_issues": _label_issues,
    "regression_labels": _regression_labels,
    "token_labels": _token_labels,
    "detection_labels": _detection_labels,
    "duplicates": _duplicates,
    "outliers": _outliers,
    "ambiguous_pairs": _ambiguous_pairs,
    "slices": _slices,
    "class_profile": _class_profile,
    "data_values": _data_values,
}
