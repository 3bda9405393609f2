"""The review loop's decisions: :class:`DecisionsMixin` of ``Workspace``.

Which decision is in force for a row is worked out in ``_decisions.py``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from assay.exceptions import InputValidationError, InvalidParameterError
from assay.workspace._base import WorkspaceBase
from assay.workspace._common import first, transaction, utc_now

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
        for name, value in (("queue", queue), ("stage", stage), ("client_key", client_key)):
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
        with self._connect(True) as con, transaction(con):
            if client_key is not None:
                done = first(con.execute(
                    "SELECT decision_id FROM decisions WHERE client_key = ?", [client_key]
                ).fetchall())
                if done is not None:
                    return int(done[0])
            if run_id is not None and con.execute(
                "SELECT count(*) FROM runs WHERE run_id = ?", [run_id]
            ).fetchall()[0][0] == 0:
                raise InputValidationError(
                    f"Run {run_id!r} does not exist in the workspace {self._path}. "
                    "Pass an id from 'assay runs', or run_id=None."
                )
            return int(con.execute(
                "INSERT INTO decisions (run_id, row_id, reviewer, created, action, new_label, "
                "note, queue, stage, client_key, duplicate_of) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING decision_id",
                [run_id, str(row_id), reviewer, utc_now(), action,
                 None if new_label is None else str(new_label), note, queue, stage, client_key,
                 None if duplicate_of is None else str(duplicate_of)],
            ).fetchall()[0][0])

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


def _check_row_id(row_id: Any) -> None:
    import numpy as np

    if isinstance(row_id, bool) or not isinstance(row_id, str | int | np.integer):
        raise InvalidParameterError("row_id", "an int or a str", row_id)
