"""The review loop's decisions: :class:`DecisionsMixin` of ``Workspace``.

Which decision is in force for a row is worked out in ``_decisions.py``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from assay.exceptions import InputValidationError, InvalidParameterError
from assay.workspace._base import WorkspaceBase
from assay.workspace._common import transaction, utc_now

DECISION_ACTIONS = ("keep", "relabel", "remove", "duplicate", "defer", "undo")


class DecisionsMixin(WorkspaceBase):
    """Append review decisions (never updated) and read them."""

    def append_decision(
        self,
        row_id: str | int,
        action: str,
        *,
        reviewer: str,
        run_id: str | None = None,
        new_label: Any = None,
        note: str | None = None,
        queue: str | None = None,
        stage: str | None = None,
        duplicate_of: str | int | None = None,
        client_key: str | None = None,
    ) -> int:
        """Append a review decision (decisions are never updated; a later one supersedes).

        Parameters
        ----------
        row_id : str or int
            The row the decision is about.
        action : {'keep', 'relabel', 'remove', 'duplicate', 'defer', 'undo'}
            ``relabel`` needs ``new_label``; the others must not have one. ``duplicate`` marks
            the row as a copy to drop (optionally of ``duplicate_of``); ``defer`` is a skip;
            ``undo`` cancels the reviewer's latest decision not yet undone on the same row,
            queue and stage (nothing is deleted; ``resolve_decisions`` leaves both out).
        reviewer : str
            Who decided.
        run_id : str, optional
            The run whose finding prompted the decision.
        new_label : optional
            The corrected label (stored as text).
        note : str, optional
            Free text.
        queue : str, optional
            The finding type (review queue) the decision was made in.
        stage : str, optional
            The curation stage (``'review'``, ``'expert'``); ``None`` counts as ``'review'``.
        duplicate_of : str or int, optional
            For ``duplicate``: the row kept instead.
        client_key : str, optional
            Idempotency key: appending again with a key already recorded returns the recorded
            decision's id and writes nothing (a retried request never doubles a decision).

        Returns
        -------
        int
            The decision id (increasing).

        Examples
        --------
        >>> import tempfile
        >>> from assay.workspace import Workspace
        >>> ws = Workspace.open(tempfile.mkdtemp())
        >>> ws.append_decision(7, "relabel", reviewer="ana", new_label="cat")
        1
        >>> ws.decisions()["new_label"].tolist()
        ['cat']
        >>> ws.append_decision(8, "keep", reviewer="ana", client_key="k1")
        2
        >>> ws.append_decision(8, "keep", reviewer="ana", client_key="k1")  # a retry
        2
        """
        return self.append_decisions([{
            "row_id": row_id, "action": action, "reviewer": reviewer, "run_id": run_id,
            "new_label": new_label, "note": note, "queue": queue, "stage": stage,
            "duplicate_of": duplicate_of}],
            client_keys=None if client_key is None else [client_key])[0]

    def append_decisions(self, decisions: list[dict[str, Any]], *,
                         client_keys: list[str] | None = None) -> list[int]:
        """Append several decisions in one transaction: all of them are stored, or none.

        A keep-one on a duplicate set (``keep`` for one member, ``duplicate`` for the others)
        is such a batch: a crash halfway must not leave half a set decided.

        Parameters
        ----------
        decisions : list of dict
            Each with the keywords of :meth:`append_decision` (``row_id``, ``action``,
            ``reviewer`` and optionally ``run_id``, ``new_label``, ``note``, ``queue``,
            ``stage``, ``duplicate_of``), checked the same way; nothing is stored when any
            fails, and the error says which one.
        client_keys : list of str, optional
            One idempotency key per decision. When any of them is recorded already, the batch
            is taken as a retry: nothing is written and the recorded ids are returned.

        Returns
        -------
        list of int
            The decision ids, in the order given (consecutive: nothing else is written between).

        Examples
        --------
        >>> import tempfile
        >>> from assay.workspace import Workspace
        >>> ws = Workspace.open(tempfile.mkdtemp())
        >>> batch = [{"row_id": 1, "action": "keep", "reviewer": "ana"},
        ...          {"row_id": 2, "action": "duplicate", "reviewer": "ana", "duplicate_of": 1}]
        >>> ws.append_decisions(batch, client_keys=["b:0", "b:1"])
        [1, 2]
        >>> ws.append_decisions(batch, client_keys=["b:0", "b:1"])  # a retry
        [1, 2]
        """
        if not isinstance(decisions, list) or not decisions:
            raise InvalidParameterError("decisions", "a non-empty list of dicts", decisions,
                                        owner="append_decisions")
        if client_keys is not None and (len(client_keys) != len(decisions)
                                        or len(set(client_keys)) != len(client_keys)):
            raise InputValidationError(
                f"client_keys must hold one distinct key per decision: {len(decisions)} "
                f"decisions, got {len(client_keys)} keys ({len(set(client_keys))} distinct). "
                "Pass one unique key per decision, or client_keys=None.")
        rows = []
        for i, d in enumerate(decisions):
            try:
                if not isinstance(d, dict):
                    raise InvalidParameterError("decision", "a dict", d,
                                                owner="append_decisions")
                unknown = set(d) - set(_DECISION_FIELDS)
                if unknown:
                    raise InputValidationError(
                        f"unknown field(s) {sorted(unknown)}; expected some of "
                        f"{', '.join(_DECISION_FIELDS)}.")
                rows.append(_checked_decision(**d))
            except TypeError as err:  # a required field missing
                raise InputValidationError(
                    f"Decision {i + 1} of {len(decisions)}: {err}. Nothing was stored.") from err
            except (InputValidationError, InvalidParameterError) as err:
                if len(decisions) == 1:
                    raise
                raise InputValidationError(
                    f"Decision {i + 1} of {len(decisions)}: {err} Nothing was stored; fix that "
                    "decision and send the batch again.") from err
        keys: list[str | None] = list(client_keys) if client_keys is not None else \
            [None] * len(rows)
        for key in keys:
            if key is not None and (not isinstance(key, str) or not key):
                raise InvalidParameterError("client_key", "a non-empty str or None", key,
                                            owner="append_decision")
        with self._connect(True) as con, transaction(con):
            given = [k for k in keys if k is not None]
            if given:
                marks = ", ".join("?" * len(given))
                done = con.execute(f"SELECT decision_id FROM decisions WHERE client_key IN "
                                   f"({marks}) ORDER BY decision_id", given).fetchall()
                if done:  # a retry: stored whole already (one transaction)
                    return [int(r[0]) for r in done]
            for run_id in dict.fromkeys(r[0] for r in rows if r[0] is not None):
                if con.execute("SELECT count(*) FROM runs WHERE run_id = ?",
                               [run_id]).fetchall()[0][0] == 0:
                    raise InputValidationError(
                        f"Run {run_id!r} does not exist in the workspace {self._path}. "
                        "Pass an id from 'assay runs', or run_id=None."
                    )
            now = utc_now()
            return [_insert(con, r, key, now) for r, key in zip(rows, keys, strict=True)]

    def decisions(
        self,
        *,
        run_id: str | None = None,
        row_id: str | int | None = None,
        latest: bool = False,
    ) -> pd.DataFrame:
        """Decisions in the order made; with ``latest=True`` only the last one per row.

        Examples
        --------
        >>> import tempfile
        >>> from assay.workspace import Workspace
        >>> ws = Workspace.open(tempfile.mkdtemp())
        >>> _ = ws.append_decision(3, "remove", reviewer="ana")
        >>> _ = ws.append_decision(3, "keep", reviewer="bo", note="fine after all")
        >>> ws.decisions(latest=True)["action"].tolist()
        ['keep']
        """
        where, args = [], []
        if run_id is not None:
            where.append("run_id = ?")
            args.append(run_id)
        if row_id is not None:
            where.append("row_id = ?")
            args.append(str(row_id))
        sql = ("SELECT decision_id, run_id, row_id, reviewer, created, action, new_label, note, "
               "queue, stage, duplicate_of, client_key FROM decisions")
        if where:
            sql += " WHERE " + " AND ".join(where)
        if latest:
            sql += " QUALIFY row_number() OVER (PARTITION BY row_id ORDER BY decision_id DESC) = 1"
        sql += " ORDER BY decision_id"
        with self._connect(False) as con:
            return con.execute(sql, args).df()


_DECISION_FIELDS = ("row_id", "action", "reviewer", "run_id", "new_label", "note", "queue",
                    "stage", "duplicate_of")


def _checked_decision(
    row_id: str | int, action: str, reviewer: str, run_id: str | None = None,
    new_label: Any = None, note: str | None = None, queue: str | None = None,
    stage: str | None = None, duplicate_of: str | int | None = None,
) -> tuple[Any, ...]:
    """One decision checked as :meth:`DecisionsMixin.append_decision` documents, as the row
    ``(run_id, row_id, reviewer, action, new_label, note, queue, stage, duplicate_of)``."""
    if action not in DECISION_ACTIONS:
        raise InvalidParameterError(
            "action", "one of " + ", ".join(repr(a) for a in DECISION_ACTIONS), action,
            owner="append_decision",
        )
    if action == "relabel" and new_label is None:
        raise InputValidationError(
            "A 'relabel' decision needs new_label (the corrected label). Pass new_label=..."
        )
    if action != "relabel" and new_label is not None:
        raise InputValidationError(
            f"new_label is only meaningful for action='relabel'; got action={action!r} with "
            f"new_label={new_label!r}. Drop new_label or use action='relabel'."
        )
    if duplicate_of is not None and action != "duplicate":
        raise InputValidationError(
            f"duplicate_of is only meaningful for action='duplicate'; got action={action!r}. "
            "Drop duplicate_of or use action='duplicate'."
        )
    _check_row_id(row_id)
    if not isinstance(reviewer, str) or not reviewer.strip():
        raise InvalidParameterError(
            "reviewer", "a non-empty str", reviewer, owner="append_decision"
        )
    for name, value in (("queue", queue), ("stage", stage)):
        if value is not None and (not isinstance(value, str) or not value):
            raise InvalidParameterError(name, "a non-empty str or None", value,
                                        owner="append_decision")
    if stage is not None:  # an unknown stage would break every later resolution
        from assay.workspace._decisions import STAGE_ORDER

        if stage not in STAGE_ORDER:
            from assay._validation import did_you_mean

            raise InvalidParameterError(
                "stage", "one of " + ", ".join(repr(s) for s in STAGE_ORDER) + " or None",
                stage, owner="append_decision",
                hint=did_you_mean(stage, STAGE_ORDER).strip())
    return (run_id, str(row_id), reviewer, action,
            None if new_label is None else str(new_label), note, queue, stage,
            None if duplicate_of is None else str(duplicate_of))


def _insert(con: Any, row: tuple[Any, ...], client_key: str | None, created: Any) -> int:
    """Insert one checked decision (:func:`_checked_decision`'s row) inside the caller's
    transaction; its id."""
    return int(con.execute(
        "INSERT INTO decisions (run_id, row_id, reviewer, created, action, new_label, note, "
        "queue, stage, client_key, duplicate_of) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING decision_id",
        [row[0], row[1], row[2], created, *row[3:8], client_key, row[8]],
    ).fetchall()[0][0])


def _check_row_id(row_id: Any) -> None:
    import numpy as np

    if isinstance(row_id, bool) or not isinstance(row_id, str | int | np.integer):
        raise InvalidParameterError("row_id", "an int or a str", row_id)
