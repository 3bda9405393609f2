"""Datasets and exported versions of a workspace: :class:`VersionsMixin` of ``Workspace``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import pandas as pd

from assay.exceptions import InputValidationError, InvalidParameterError
from assay.workspace._base import WorkspaceBase
from assay.workspace._common import (
    aware_utc,
    check_fingerprint,
    dumps,
    first,
    loads,
    transaction,
    utc_now,
)


class VersionsMixin(WorkspaceBase):
    """Register datasets by fingerprint and record the versions exported from them."""

    def register_dataset(
        self,
        fingerprint: str,
        *,
        n_rows: int,
        source: str | os.PathLike[str] | None = None,
        schema: Mapping[str, str] | None = None,
        roles: Mapping[str, Any] | None = None,
    ) -> None:
        """Record a dataset version by its content fingerprint (idempotent).

        Registering the same fingerprint again updates ``source``, ``schema`` and ``roles`` but
        keeps the creation time; a different ``n_rows`` for the same fingerprint is an error.

        Parameters
        ----------
        fingerprint : str
            Content fingerprint of the dataset (as computed by ``assay.data``).
        n_rows : int
            Number of rows.
        source : path-like, optional
            Where the data was read from.
        schema : dict of str -> str, optional
            Column name -> dtype name.
        roles : dict, optional
            Column roles (``label``, ``id``, ``text``, ...).

        Examples
        --------
        >>> import tempfile
        >>> from assay.workspace import Workspace
        >>> ws = Workspace.open(tempfile.mkdtemp())
        >>> ws.register_dataset("abc", n_rows=3, schema={"y": "int64"}, roles={"label": "y"})
        >>> ws.dataset("abc")["roles"]
        {'label': 'y'}
        """
        check_fingerprint(fingerprint)
        if isinstance(n_rows, bool) or not isinstance(n_rows, int) or n_rows < 0:
            raise InvalidParameterError("n_rows", "an int >= 0", n_rows, owner="register_dataset")
        with self._connect(True) as con, transaction(con):
            row = first(con.execute(
                "SELECT n_rows FROM datasets WHERE fingerprint = ?", [fingerprint]
            ).fetchall())
            if row is not None and row[0] != n_rows:
                raise InputValidationError(
                    f"Dataset {fingerprint} is registered with {row[0]} rows, but n_rows={n_rows} "
                    "was passed. A fingerprint identifies one content; recompute the fingerprint "
                    "of the changed data."
                )
            args = [
                None if source is None else str(source),
                dumps(schema, "schema"), dumps(roles, "roles"),
            ]
            if row is None:
                con.execute(
                    "INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?)",
                    [fingerprint, args[0], n_rows, args[1], args[2], utc_now()],
                )
            else:
                con.execute(
                    "UPDATE datasets SET source = ?, schema = ?, roles = ? WHERE fingerprint = ?",
                    [*args, fingerprint],
                )

    def dataset(self, fingerprint: str) -> dict[str, Any] | None:
        """The registered dataset as a dict, or ``None`` when unknown."""
        with self._connect(False) as con:
            row = first(con.execute(
                "SELECT fingerprint, source, n_rows, schema, roles, created FROM datasets "
                "WHERE fingerprint = ?", [fingerprint],
            ).fetchall())
        if row is None:
            return None
        return {
            "fingerprint": row[0], "source": row[1], "n_rows": row[2],
            "schema": loads(row[3]), "roles": loads(row[4]), "created": aware_utc(row[5]),
        }

    def datasets(self) -> pd.DataFrame:
        """All registered datasets, newest first (``schema`` and ``roles`` as JSON text)."""
        with self._connect(False) as con:
            return con.execute(
                "SELECT fingerprint, source, n_rows, schema, roles, created FROM datasets "
                "ORDER BY created DESC"
            ).df()

    def record_version(
        self,
        fingerprint: str,
        path: str | os.PathLike[str],
        *,
        parent_fingerprint: str | None = None,
        changelog: Mapping[str, Any] | None = None,
    ) -> int:
        """Record an exported dataset version and return its id.

        Examples
        --------
        >>> import tempfile
        >>> from assay.workspace import Workspace
        >>> ws = Workspace.open(tempfile.mkdtemp())
        >>> ws.record_version("fp2", "data.v2.parquet", parent_fingerprint="fp1",
        ...                   changelog={"relabelled": 12, "removed": 3})
        1
        >>> ws.versions()["parent_fingerprint"].tolist()
        ['fp1']
        """
        check_fingerprint(fingerprint)
        if parent_fingerprint is not None:
            check_fingerprint(parent_fingerprint, name="parent_fingerprint")
        changelog_json = dumps(dict(changelog or {}), "changelog")
        with self._connect(True) as con, transaction(con):
            return int(con.execute(
                "INSERT INTO versions (parent_fingerprint, fingerprint, path, created, changelog) "
                "VALUES (?, ?, ?, ?, ?) RETURNING version_id",
                [parent_fingerprint, fingerprint, str(path), utc_now(), changelog_json],
            ).fetchall()[0][0])

    def versions(self) -> pd.DataFrame:
        """Exported dataset versions in the order recorded (``changelog`` as JSON text)."""
        with self._connect(False) as con:
            return con.execute(
                "SELECT version_id, parent_fingerprint, fingerprint, path, created, changelog "
                "FROM versions ORDER BY version_id"
            ).df()
