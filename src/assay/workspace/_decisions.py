"""Which review decision is in force for each row: stages, reviewers, queues.

Decisions are appended, never updated (``Workspace.append_decision``). Export, the review app's
spot check and ``assay diff`` all read them through :func:`resolve_decisions`, so the three agree
on what a reviewer decided. An ``undo`` decision cancels the reviewer's latest decision still in
force on the same row, queue and stage (:func:`undo_targets`); both stay in the table, and every
reader treats the pair as never made.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from assay._validation import check_choice
from assay.exceptions import InputValidationError

__all__ = [
    "DECISION_POLICIES",
    "DROP_ACTIONS",
    "EXPORT_ACTIONS",
    "STAGE_ORDER",
    "UNDO_ACTION",
    "applicable_decisions",
    "carried_decisions",
    "resolve_decisions",
    "undo_targets",
    "without_undone",
]

#: Curation stages in increasing authority: within one review queue, a decision of a later stage
#: overrides every decision of an earlier stage on the same row. A missing stage (``None``)
#: counts as ``"review"``.
STAGE_ORDER: dict[str, int] = {"review": 0, "expert": 1}
#: Review actions understood by the export. ``duplicate`` arrives with workspace schema 4.
EXPORT_ACTIONS: tuple[str, ...] = ("keep", "relabel", "remove", "defer", "duplicate")
#: Actions that drop the row from the next version.
DROP_ACTIONS: frozenset[str] = frozenset({"remove", "duplicate"})
#: The action that cancels an earlier decision (see :func:`undo_targets`); it is never exported.
UNDO_ACTION = "undo"
#: How the reviewers' latest decisions in the deciding stage are combined.
DECISION_POLICIES: tuple[str, ...] = ("consensus", "latest")

_COLUMNS = ["row_id", "action", "new_label", "duplicate_of", "stage", "reviewers",
            "decision_ids", "n_superseded", "queues"]


def _optional_text(values: pd.Series) -> np.ndarray:
    arr = values.to_numpy(dtype=object)
    missing = pd.isna(values).to_numpy()
    return np.array([None if m else str(v) for v, m in zip(arr, missing, strict=True)],
                    dtype=object)


def _undo_keys(decisions: pd.DataFrame) -> pd.Series:
    """The stack an undo works on: row, queue, reviewer and stage (None counts as 'review')."""
    def text(col: str, default: str) -> pd.Series:
        if col not in decisions:
            return pd.Series(default, index=decisions.index, dtype=object)
        values = decisions[col].astype(object)
        return values.where(values.notna(), default).astype(str)

    return (decisions["row_id"].astype(str) + "\x1f" + text("queue", "") + "\x1f"
            + decisions["reviewer"].astype(str) + "\x1f" + text("stage", "review"))


def undo_targets(decisions: pd.DataFrame) -> dict[int, int | None]:
    """Which decision each ``undo`` decision cancels.

    Per row, queue, reviewer and stage, decisions form a stack in ``decision_id`` order: a
    decision pushes, an ``undo`` pops the latest one not yet undone. So repeated undos walk back
    through a reviewer's decisions, and an undo never touches another reviewer's decision. An
    undo with nothing under it cancels nothing (``None``).

    Parameters
    ----------
    decisions : pandas.DataFrame
        ``decision_id``, ``row_id``, ``reviewer``, ``action`` and optionally ``queue`` and
        ``stage`` (as from ``Workspace.decisions()``).

    Returns
    -------
    dict
        ``{undo decision id: cancelled decision id or None}``.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"decision_id": [1, 2, 3, 4], "row_id": ["7"] * 4,
    ...                   "reviewer": ["ana"] * 4, "action": ["keep", "remove", "undo", "undo"]})
    >>> undo_targets(d)
    {3: 2, 4: 1}
    """
    if decisions.empty or not (decisions["action"] == UNDO_ACTION).any():
        return {}
    keys = _undo_keys(decisions)
    involved = keys.isin(set(keys[decisions["action"] == UNDO_ACTION]))
    sub = pd.DataFrame({"id": decisions["decision_id"].astype(np.int64), "key": keys,
                        "undo": decisions["action"] == UNDO_ACTION})[involved]
    sub = sub.sort_values("id", kind="stable")
    stacks: dict[str, list[int]] = {}
    out: dict[int, int | None] = {}
    for did, key, is_undo in zip(sub["id"], sub["key"], sub["undo"], strict=True):
        stack = stacks.setdefault(key, [])
        if is_undo:
            out[int(did)] = stack.pop() if stack else None
        else:
            stack.append(int(did))
    return out


def without_undone(decisions: pd.DataFrame) -> pd.DataFrame:
    """``decisions`` less its ``undo`` decisions and the decisions they cancel.

    What is left is the history as if the undone decisions had never been made (the undo of a
    decision never happened, so the decision before it is in force again).

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"decision_id": [1, 2, 3], "row_id": ["7"] * 3,
    ...                   "reviewer": ["ana"] * 3, "action": ["keep", "remove", "undo"]})
    >>> without_undone(d)["decision_id"].tolist()
    [1]
    """
    targets = undo_targets(decisions)
    if not targets:
        return decisions
    gone = set(targets) | {t for t in targets.values() if t is not None}
    return decisions[~decisions["decision_id"].astype(np.int64).isin(gone)]


def _normalise(decisions: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(decisions, pd.DataFrame):
        raise InputValidationError(
            f"decisions must be a pandas DataFrame (from Workspace.decisions()); got "
            f"{type(decisions).__name__}."
        )
    required = ["decision_id", "row_id", "reviewer", "action", "new_label"]
    missing = [c for c in required if c not in decisions.columns]
    if missing:
        raise InputValidationError(
            f"decisions lacks the column(s) {missing}; it needs {required} (plus optionally "
            "'stage', 'queue' and 'duplicate_of'). Pass the frame from Workspace.decisions()."
        )
    decisions = without_undone(decisions)
    n = len(decisions)

    def optional(col: str) -> np.ndarray:
        return (_optional_text(decisions[col]) if col in decisions
                else np.full(n, None, dtype=object))

    d = pd.DataFrame({
        "decision_id": decisions["decision_id"].astype(np.int64).to_numpy(),
        "row_id": decisions["row_id"].astype(str).to_numpy(),
        "reviewer": decisions["reviewer"].astype(str).to_numpy(),
        "action": decisions["action"].astype(str).to_numpy(),
        "new_label": _optional_text(decisions["new_label"]),
        "stage": optional("stage"),
        "duplicate_of": optional("duplicate_of"),
        "queue": optional("queue"),
    })
    unknown_actions = sorted(set(d["action"]) - set(EXPORT_ACTIONS))
    if unknown_actions:
        raise InputValidationError(
            f"Decisions use the action(s) {unknown_actions}, which this assay cannot export; "
            f"known actions: {', '.join(EXPORT_ACTIONS)}. Upgrade assay, or record a known action "
            "for those rows."
        )
    stage = d["stage"].where(d["stage"].notna(), "review")
    unknown_stages = sorted(set(stage) - set(STAGE_ORDER))
    if unknown_stages:
        first_row = d.loc[stage.isin(unknown_stages), "row_id"].iloc[0]
        raise InputValidationError(
            f"Decisions use the curation stage(s) {unknown_stages} (e.g. on row {first_row!r}); "
            f"known stages, in increasing authority: {', '.join(STAGE_ORDER)}. Record the "
            "decisions under a known stage, or upgrade assay."
        )
    d["stage"] = stage
    d["rank"] = stage.map(STAGE_ORDER).astype(np.int64)
    d["queue"] = d["queue"].where(d["queue"].notna(), "")
    return d.sort_values("decision_id", kind="stable").reset_index(drop=True)


def _in_queue(group: pd.DataFrame, policy: str) -> dict[str, Any]:
    """The decision in force for one row within one queue (stages, then reviewers)."""
    top = group[group["rank"] == group["rank"].max()]
    deciding = top.drop_duplicates("reviewer", keep="last")
    last = deciding.iloc[-1]
    keys = set(zip(deciding["action"], deciding["new_label"].fillna(""), strict=True))
    conflict = policy == "consensus" and len(keys) > 1
    return {
        "action": "conflict" if conflict else str(last["action"]),
        "new_label": None if conflict else last["new_label"],
        "duplicate_of": None if conflict else last["duplicate_of"],
        "stage": str(last["stage"]), "rank": int(last["rank"]),
        "reviewers": [str(r) for r in deciding["reviewer"]],
        "decision_ids": [int(v) for v in deciding["decision_id"]],
        "last_id": int(deciding["decision_id"].max()),
        "queue": str(last["queue"]),
    }


def _across_queues(parts: list[dict[str, Any]], policy: str) -> dict[str, Any]:
    """Combine one row's per-queue decisions (each queue asks its own question)."""
    if len(parts) == 1:
        return parts[0]
    by_recency = sorted(parts, key=lambda q: (q["rank"], q["last_id"]))
    drops = [q for q in by_recency if q["action"] in DROP_ACTIONS]
    relabels = [q for q in by_recency if q["action"] == "relabel"]
    if drops:  # a copy or a bad row goes, whatever its label should have been
        chosen = drops[-1]
    elif relabels and (len({q["new_label"] for q in relabels}) == 1 or policy == "latest"):
        conflicted = any(q["action"] == "conflict" for q in parts)
        chosen = relabels[-1] if not conflicted or policy == "latest" else {
            **relabels[-1], "action": "conflict", "new_label": None, "duplicate_of": None}
    elif relabels or any(q["action"] == "conflict" for q in parts):
        chosen = {**by_recency[-1], "action": "conflict", "new_label": None, "duplicate_of": None}
    else:
        keeps = [q for q in by_recency if q["action"] == "keep"]
        chosen = keeps[-1] if keeps else by_recency[-1]
    reviewers: list[str] = []
    for q in parts:
        reviewers += [r for r in q["reviewers"] if r not in reviewers]
    return {**chosen, "reviewers": reviewers,
            "decision_ids": sorted(i for q in parts for i in q["decision_ids"]),
            "stage": max(parts, key=lambda q: q["rank"])["stage"],
            "queue": ",".join(sorted({q["queue"] for q in parts if q["queue"]}))}


def resolve_decisions(
    decisions: pd.DataFrame,
    *,
    policy: str = "consensus",
) -> pd.DataFrame:
    """The decision in force for each row, following the curation rules.

    Each review queue asks its own question about a row (is the label right? is it a copy? is
    it junk?), so the rules apply per queue first, then across queues:

    0. Undo: an ``undo`` decision and the decision it cancels (:func:`undo_targets`) are left
       out, so the answer is the one the decisions would give had neither been made.
    1. Stages, per queue: only decisions of the row's highest stage in that queue count
       (``STAGE_ORDER``: a missing stage is ``"review"``, then ``"expert"``); an expert resolving
       a label disagreement does not cancel the reviewers' answer in the duplicates queue.
    2. Reviewers, per queue: each reviewer's latest decision (highest ``decision_id``) counts;
       their earlier ones are superseded.
    3. ``policy="consensus"``: when those reviewers disagree (a different action, or a different
       ``new_label``), the queue's answer is a conflict. ``policy="latest"``: the most recent of
       them wins.
    4. Across queues: a drop (``remove`` or ``duplicate``) wins; else a relabel (several queues
       relabelling to different classes, or a relabel beside a conflict, is a conflict under
       ``consensus``, the most recent under ``latest``); else a conflict; else ``keep`` over
       ``defer``. Decisions without a queue form one queue of their own.

    Parameters
    ----------
    decisions : pandas.DataFrame
        As returned by ``Workspace.decisions()``: ``decision_id``, ``row_id``, ``reviewer``,
        ``action``, ``new_label`` and optionally ``stage``, ``queue`` and ``duplicate_of``.
    policy : {'consensus', 'latest'}, default 'consensus'

    Returns
    -------
    pandas.DataFrame
        One row per decided row id, sorted by ``row_id``: ``row_id`` (str), ``action`` (the action
        in force, or ``"conflict"``), ``new_label`` (or None), ``duplicate_of`` (or None),
        ``stage`` (the highest that counted), ``reviewers`` (list of str), ``decision_ids``
        (list of int, the decisions in force), ``n_superseded`` (decisions on the row that no
        longer count) and ``queues`` (the queues that decided it, comma-separated).

    Examples
    --------
    >>> import pandas as pd
    >>> from assay.workspace import resolve_decisions
    >>> d = pd.DataFrame({"decision_id": [1, 2, 3], "row_id": ["7", "7", "8"],
    ...                   "reviewer": ["ana", "bo", "ana"],
    ...                   "action": ["relabel", "relabel", "remove"],
    ...                   "new_label": ["cat", "dog", None]})
    >>> resolve_decisions(d)[["row_id", "action"]].values.tolist()
    [['7', 'conflict'], ['8', 'remove']]
    """
    check_choice("policy", policy, DECISION_POLICIES, owner="resolve_decisions")
    d = _normalise(decisions)
    if d.empty:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in _COLUMNS})
    n_all = d.groupby("row_id").size()
    rows = []
    for row_id, group in d.groupby("row_id", sort=True):
        parts = [_in_queue(g, policy) for _, g in group.groupby("queue", sort=True)]
        res = _across_queues(parts, policy)
        rows.append({
            "row_id": str(row_id), "action": res["action"],
            "new_label": None if pd.isna(res["new_label"]) else res["new_label"],
            "duplicate_of": None if pd.isna(res["duplicate_of"]) else res["duplicate_of"],
            "stage": res["stage"], "reviewers": res["reviewers"],
            "decision_ids": res["decision_ids"],
            "n_superseded": int(n_all[row_id]) - len(res["decision_ids"]),
            "queues": res["queue"],
        })
    out = pd.DataFrame({  # object columns built directly: pandas 3 would infer str with NaN
        col: pd.Series(np.array([r[col] for r in rows] + [None], dtype=object)[:-1],
                       dtype=object)
        for col in _COLUMNS
    })
    out["n_superseded"] = out["n_superseded"].astype(np.int64)
    return out


def applicable_decisions(
    workspace: Any, fingerprint: str, reviewers: list[str] | None = None
) -> pd.DataFrame:
    """The decisions recorded against any run on the dataset version ``fingerprint``.

    Decisions without a run are left out: their row ids cannot be tied to a dataset version.
    ``reviewers`` keeps only those reviewers' decisions.
    """
    runs = workspace.runs()
    run_ids = set(runs.loc[runs["fingerprint"] == fingerprint, "run_id"])
    frame = workspace.decisions()
    frame = frame[frame["run_id"].isin(run_ids)]
    if reviewers is not None:
        frame = frame[frame["reviewer"].isin(reviewers)]
    return frame


def carried_decisions(workspace: Any, run_id: str) -> pd.DataFrame:
    """Keep decisions from earlier dataset versions that still hold for the rows of ``run_id``.

    A reviewer who kept a flagged row said the flag was wrong. When the corrected version is
    audited again, the same row (same id, same content: nothing changed it since) may be flagged
    again; its keep carries forward instead of sending it back to the queue with no trace. Rows
    are matched by id and by a hash of their whole content (label included), which each audit
    stores in ``runs/<run id>/rows.parquet``; a relabelled or edited row does not match, so its
    new state is reviewed afresh. Only ``keep`` carries: other actions were applied by the
    export, and a decision that was not applied (same content) must be reviewed again.

    Parameters
    ----------
    workspace : Workspace
    run_id : str
        The (later) audit run whose rows to match.

    Returns
    -------
    pandas.DataFrame
        One row per carried row: ``row_id`` (str), ``action`` (``"keep"``), ``reviewers``,
        ``from_run`` (the audit run the decision was made on), ``decision_ids``.
    """
    columns = ["row_id", "action", "reviewers", "from_run", "decision_ids"]
    empty = pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    info = workspace.run(run_id)
    rows_b = _row_fingerprints(workspace, info["run_id"])
    if rows_b is None:
        return empty
    current = dict(zip(rows_b["row_id"], rows_b["content"], strict=True))
    decisions = workspace.decisions()
    if decisions.empty:
        return empty
    runs = workspace.runs(command="audit")
    earlier = runs[(runs["fingerprint"] != info["fingerprint"]) & runs["fingerprint"].notna()]
    out: dict[str, dict[str, Any]] = {}
    for _, group in earlier.groupby("fingerprint", sort=False):
        resolved = resolve_decisions(
            decisions[decisions["run_id"].isin(set(group["run_id"]))])
        resolved = resolved[resolved["action"] == "keep"]
        if resolved.empty:
            continue
        for audit_run in group.sort_values("started")["run_id"]:
            rows_a = _row_fingerprints(workspace, str(audit_run))
            if rows_a is None:
                continue
            before = dict(zip(rows_a["row_id"], rows_a["content"], strict=True))
            for rec in resolved.itertuples(index=False):
                rid = str(rec.row_id)
                if rid in current and before.get(rid) == current[rid] and rid not in out:
                    out[rid] = {"row_id": rid, "action": "keep",
                                "reviewers": list(rec.reviewers), "from_run": str(audit_run),
                                "decision_ids": list(rec.decision_ids)}
            break  # one audit of a version holds its rows
    if not out:
        return empty
    frame = pd.DataFrame({c: pd.Series([r[c] for r in out.values()] + [None],
                                       dtype=object).iloc[:-1] for c in columns})
    return frame.sort_values("row_id", kind="stable").reset_index(drop=True)


def _row_fingerprints(workspace: Any, run_id: str) -> pd.DataFrame | None:
    path = workspace.results_dir(run_id) / "rows.parquet"
    if not path.is_file():
        return None
    frame = pd.read_parquet(path)
    frame["row_id"] = frame["row_id"].astype(str)
    return frame
