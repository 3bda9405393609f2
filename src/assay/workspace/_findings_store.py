"""Per-row findings of a run: :class:`FindingsMixin` of ``Workspace``.

The validation, the bulk insert and the typed reads are in ``_findings.py``.
"""

from __future__ import annotations

import pandas as pd

from assay.workspace._base import WorkspaceBase
from assay.workspace._common import dumps, loads, transaction
from assay.workspace._findings import findings_select, insert_findings, prepare_findings


class FindingsMixin(WorkspaceBase):
    """Record the findings of a running run and read them back."""

    def record_findings(self, run_id: str, frame: pd.DataFrame) -> int:
        """Bulk-insert per-row findings of a running run, in one transaction; return the count.

        ``frame`` is long: one row per (row, check). Columns ``row_id`` (int or str, no missing)
        and ``check`` (str) are required; ``score`` (float in [0, 1], lower is worse; NaN allowed)
        and ``flag`` (bool) are optional; every other column is packed into the ``details`` JSON
        and comes back typed from ``findings(run_id, expand_details=True)``. A check may be
        recorded once per run; (row_id, check) must be unique.

        Examples
        --------
        >>> import tempfile, pandas as pd
        >>> from assay.workspace import Workspace
        >>> ws = Workspace.open(tempfile.mkdtemp())
        >>> run_id = ws.start_run("audit")
        >>> frame = pd.DataFrame({"row_id": [0, 1], "check": "outlier", "score": [0.5, 0.01],
        ...                       "flag": [False, True], "neighbour_distance": [0.2, 3.1]})
        >>> ws.record_findings(run_id, frame)
        2
        >>> ws.findings(run_id, expand_details=True)["neighbour_distance"].tolist()
        [0.2, 3.1]
        """
        table = prepare_findings(frame)
        with self._connect(True) as con, transaction(con):
            schema = self._require_running(con, run_id)
            n, new_schema = insert_findings(con, run_id, table, schema)
            con.execute(
                "UPDATE runs SET n_findings = n_findings + ?, findings_schema = ? "
                "WHERE run_id = ?",
                [n, dumps(new_schema, "findings_schema"), run_id],
            )
        return n

    def findings(
        self,
        run_id: str,
        *,
        check: str | None = None,
        flagged_only: bool = False,
        expand_details: bool = False,
    ) -> pd.DataFrame:
        """The findings of a run, in the order recorded.

        Parameters
        ----------
        run_id : str
            A run id, unique prefix or ``'latest'``.
        check : str, optional
            Only this check.
        flagged_only : bool, default False
            Only rows whose ``flag`` is true.
        expand_details : bool, default False
            Return the extra columns as typed columns instead of one ``details`` JSON column.

        Returns
        -------
        pandas.DataFrame
            ``row_id`` (with the type it was recorded with), ``check``, ``score``, ``flag`` and
            ``details`` or the extra columns.

        Examples
        --------
        >>> import tempfile, pandas as pd
        >>> from assay.workspace import Workspace
        >>> ws = Workspace.open(tempfile.mkdtemp())
        >>> run_id = ws.start_run("audit")
        >>> _ = ws.record_findings(run_id, pd.DataFrame(
        ...     {"row_id": ["a", "b"], "check": "label", "flag": [True, False]}))
        >>> ws.findings(run_id, flagged_only=True)["row_id"].tolist()
        ['a']
        """
        run_id = self.resolve_run(run_id)
        with self._connect(False) as con:
            schema = loads(con.execute(
                "SELECT findings_schema FROM runs WHERE run_id = ?", [run_id]
            ).fetchall()[0][0]) or {}
            sql, args = findings_select(
                run_id, schema, check=check, flagged_only=flagged_only,
                expand_details=expand_details,
            )
            return con.execute(sql, args).df()

    def finding_counts(self, run_id: str) -> pd.DataFrame:
        """Per check of a run: number of rows, number flagged, mean score.

        Examples
        --------
        >>> import tempfile, pandas as pd
        >>> from assay.workspace import Workspace
        >>> ws = Workspace.open(tempfile.mkdtemp())
        >>> run_id = ws.start_run("audit")
        >>> _ = ws.record_findings(run_id, pd.DataFrame(
        ...     {"row_id": [1, 2, 3], "check": "label", "flag": [True, False, True]}))
        >>> ws.finding_counts(run_id)[["check", "n_rows", "n_flagged"]].values.tolist()
        [['label', 3, 2]]
        """
        run_id = self.resolve_run(run_id)
        with self._connect(False) as con:
            return con.execute(
                'SELECT "check", count(*) AS n_rows, '
                "CAST(count(*) FILTER (WHERE flag) AS BIGINT) AS n_flagged, "
                "avg(score) AS mean_score FROM findings WHERE run_id = ? "
                'GROUP BY "check" ORDER BY "check"',
                [run_id],
            ).df()
