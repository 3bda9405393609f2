"""The workspace: a folder holding ``assay.duckdb`` and an ``artifacts/`` tree.

Connections are short-lived: every method opens DuckDB, does its work in one transaction and
closes it again. A long ``assay audit`` therefore holds the file lock only while it writes, and
``assay runs`` in another terminal can read in between. DuckDB allows one read-write process per
file, or any number of read-only processes while nobody writes; an open that conflicts is retried
with backoff for ``lock_timeout`` seconds and then fails with :class:`~assay.exceptions.StoreError`.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from assay.exceptions import InputValidationError, InvalidParameterError, StoreError
from assay.workspace._artifacts import ArtifactCache
from assay.workspace._common import (
    connect,
    dumps,
    file_lock,
    first,
    loads,
    package_versions,
    transaction,
    utc_now,
)
from assay.workspace._findings import findings_select, insert_findings, prepare_findings
from assay.workspace._schema import SCHEMA_VERSION, apply_migrations, read_meta

DB_NAME = "assay.duckdb"
RUN_STATUSES = ("ok", "error")
DECISION_ACTIONS = ("keep", "relabel", "remove", "duplicate", "defer")
_RUN_COLUMNS = (
    "run_id, command, status, started, finished, fingerprint, n_findings, pid, host"
)


def _assay_version() -> str:
    from assay import __version__

    return __version__


def default_workspace(data_path: str | os.PathLike[str] | None = None) -> Path:
    """Where a command keeps its workspace when ``--workspace`` is not given.

    Found as git finds its repository: ``$ASSAY_WORKSPACE`` when set; otherwise the nearest
    ``.assay/`` holding a workspace database, searched upward from the folder of ``data_path``
    (commands that read data) or from the current directory (the others). When there is none,
    a new one goes beside ``data_path`` (or in the current directory). So a corrected version
    exported into the project (``assay export -o data.v2``) and audited from there
    (``assay audit data.v2/data.csv``) is recorded in the same workspace as the first audit.

    Examples
    --------
    >>> from assay.workspace import default_workspace
    >>> default_workspace("data/train.csv").name
    '.assay'
    """
    env = os.environ.get("ASSAY_WORKSPACE")
    if env:
        return Path(env)
    start = Path(data_path).resolve().parent if data_path is not None else Path.cwd()
    found = find_workspace(start)
    return found if found is not None else start / ".assay"


def find_workspace(start: str | os.PathLike[str]) -> Path | None:
    """The nearest ``.assay/`` folder with a workspace database in ``start`` or above it.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from assay.workspace import Workspace, find_workspace
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> Workspace.open(root / ".assay").close()
    >>> (root / "data.v2" / "deep").mkdir(parents=True)
    >>> find_workspace(root / "data.v2" / "deep") == root / ".assay"
    True
    """
    here = Path(start).absolute()
    for folder in (here, *here.parents):
        candidate = folder / ".assay"
        if (candidate / DB_NAME).is_file():
            return candidate
    return None


@dataclass
class RunRecord:
    """A run being recorded by :meth:`Workspace.record_run`; fill ``summary`` and ``provenance``.

    Attributes
    ----------
    run_id : str
        The id of the run in the store.
    summary, timings, provenance : dict
        Stored by ``finish_run`` when the block exits. ``timings["total"]`` is added.
    """

    run_id: str
    summary: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time the block and add its seconds to ``timings[name]``."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t0


class Workspace:
    """An assay workspace: datasets, runs, findings, decisions, versions and cached artifacts.

    Open one with :meth:`Workspace.open` (or :func:`open_workspace`); use it as a context manager.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> from assay.workspace import Workspace
    >>> with Workspace.open(tempfile.mkdtemp()) as ws:
    ...     ws.register_dataset("fp1", n_rows=2, source="toy.csv")
    ...     run_id = ws.start_run("audit", {"k": 10}, fingerprint="fp1")
    ...     frame = pd.DataFrame({"row_id": [0, 1], "check": "label", "score": [0.9, 0.1],
    ...                           "flag": [False, True]})
    ...     ws.record_findings(run_id, frame)
    ...     ws.finish_run(run_id, status="ok", summary={"label_issues": 1})
    ...     ws.run(run_id)["summary"]
    2
    {'label_issues': 1}
    """

    def __init__(self, path: Path, *, read_only: bool, lock_timeout: float) -> None:
        self._path = path
        self._db = path / DB_NAME
        self._read_only = read_only
        self._lock_timeout = lock_timeout
        self._closed = False
        self._held: Any = None
        self._artifacts = ArtifactCache(
            path, self._connect, read_only=read_only, assay_version=_assay_version()
        )

    # ------------------------------------------------------------------ opening and closing
    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        create: bool = True,
        read_only: bool = False,
        lock_timeout: float = 10.0,
    ) -> Workspace:
        """Open (and by default create) the workspace folder ``path``.

        An older schema is migrated forward in one transaction; a newer one is refused with a
        :class:`~assay.exceptions.StoreError` that names the assay version that wrote it.

        Parameters
        ----------
        path : path-like
            The workspace folder (it holds ``assay.duckdb`` and ``artifacts/``).
        create : bool, default True
            Create the folder and database when missing; otherwise a missing one is an error.
        read_only : bool, default False
            Refuse every write. Several read-only openers may read at once.
        lock_timeout : float, default 10.0
            Seconds to keep retrying while another process holds the database lock.

        Returns
        -------
        Workspace

        Examples
        --------
        >>> import tempfile
        >>> from assay.workspace import Workspace
        >>> ws = Workspace.open(tempfile.mkdtemp())
        >>> ws.schema_version == ws.SCHEMA_VERSION
        True
        >>> ws.close()
        """
        if isinstance(lock_timeout, bool) or not isinstance(lock_timeout, int | float) or (
            lock_timeout < 0
        ):
            raise InvalidParameterError(
                "lock_timeout", "a number of seconds >= 0", lock_timeout, owner="Workspace.open"
            )
        root = Path(path)
        if root.exists() and not root.is_dir():
            raise StoreError(
                f"The workspace path {root} is a file, but a workspace is a folder holding "
                f"{DB_NAME}. Pass the folder (for example .assay) instead."
            )
        db = root / DB_NAME
        if not db.exists():
            if read_only or not create:
                raise StoreError(
                    f"No assay workspace at {root} ({DB_NAME} is missing). Run an assay command "
                    "that records runs first (e.g. 'assay audit'), or pass --workspace with the "
                    "right folder."
                )
            root.mkdir(parents=True, exist_ok=True)
            (root / "artifacts").mkdir(exist_ok=True)
        ws = cls(root, read_only=read_only, lock_timeout=float(lock_timeout))
        ws._ensure_schema(create=create)
        return ws

    def _ensure_schema(self, *, create: bool) -> None:
        exists = self._db.exists()
        if exists:
            with self._connect(False) as con:
                version = self._check_version(con)
            if version == SCHEMA_VERSION:
                return
            if self._read_only:
                raise StoreError(
                    f"The workspace {self._path} has schema version {version}; this assay "
                    f"({_assay_version()}) needs version {SCHEMA_VERSION}. Open it once without "
                    "read_only (any writing assay command does) to migrate it."
                )
        with self._connect(True) as con:
            version = self._check_version(con)  # re-read: another process may have migrated
            if version < SCHEMA_VERSION:
                import duckdb

                try:
                    with transaction(con):
                        apply_migrations(
                            con, from_version=version, to_version=SCHEMA_VERSION,
                            assay_version=_assay_version(),
                        )
                except duckdb.Error as exc:
                    raise StoreError(
                        f"Migrating the workspace {self._path} from schema version {version} to "
                        f"{SCHEMA_VERSION} failed ({' '.join(str(exc).split())}); the workspace "
                        f"was left at schema version {version}. Report this as a bug of assay "
                        f"{_assay_version()}."
                    ) from exc

    def _check_version(self, con: Any) -> int:
        meta = read_meta(con)
        if not meta:
            n_tables = con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main'"
            ).fetchall()[0][0]
            if n_tables:
                raise StoreError(
                    f"{self._db} is a DuckDB file but not an assay workspace (it has no 'meta' "
                    "table). Use another --workspace folder."
                )
            return 0
        version = int(meta.get("schema_version", "0"))
        if version > SCHEMA_VERSION:
            writer = meta.get("written_by", "a newer release")
            raise StoreError(
                f"The workspace {self._path} has schema version {version}, written by assay "
                f"{writer}; this assay ({_assay_version()}) reads schema versions up to "
                f"{SCHEMA_VERSION}. Upgrade assay: pip install -U 'assay>={writer}'."
            )
        return version

    def _connect(self, write: bool) -> Any:
        if self._closed:
            raise StoreError(f"The workspace {self._path} is closed. Open it again to use it.")
        if write and self._read_only:
            raise StoreError(
                f"The workspace {self._path} was opened read-only; this operation writes. "
                "Open it with read_only=False."
            )
        return self._session(write)

    @contextlib.contextmanager
    def _session(self, write: bool) -> Iterator[Any]:
        # The file's thread lock is taken first, so a call from another thread waits for a
        # hold() to end instead of using (or missing) its connection.
        with file_lock(self._db):
            if self._held is not None:
                yield self._held
            else:
                with connect(
                    self._db, read_only=not write, lock_timeout=self._lock_timeout
                ) as con:
                    yield con

    @contextlib.contextmanager
    def hold(self) -> Iterator[Workspace]:
        """Keep one connection open for a batch of operations (faster; holds the lock).

        Opening DuckDB costs tens of milliseconds, so a batch of calls (recording a dataset, a
        run, its findings and artifacts) is faster inside ``with ws.hold():``. While held, the
        file stays locked: other processes wait (up to their ``lock_timeout``) until the block
        ends. Each call inside still runs in its own transaction.

        Examples
        --------
        >>> import tempfile
        >>> from assay.workspace import Workspace
        >>> ws = Workspace.open(tempfile.mkdtemp())
        >>> with ws.hold():
        ...     ids = [ws.start_run("audit") for _ in range(3)]
        >>> len(ws.runs())
        3
        """
        if self._held is not None:
            yield self
            return
        with connect(
            self._db, read_only=self._read_only, lock_timeout=self._lock_timeout
        ) as con:
            self._held = con
            try:
                yield self
            finally:
                self._held = None

    def close(self) -> None:
        """Close the workspace; later calls raise :class:`~assay.exceptions.StoreError`."""
        self._closed = True

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "read-only" if self._read_only else "read-write"
        return f"Workspace({str(self._path)!r}, {mode})"

    SCHEMA_VERSION = SCHEMA_VERSION

    @property
    def path(self) -> Path:
        """The workspace folder."""
        return self._path

    @property
    def read_only(self) -> bool:
        """Whether writes are refused."""
        return self._read_only

    @property
    def schema_version(self) -> int:
        """The schema version of the database file."""
        with self._connect(False) as con:
            return int(read_meta(con).get("schema_version", "0"))

    # ------------------------------------------------------------------ datasets
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
        _check_fingerprint(fingerprint)
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
            "schema": loads(row[3]), "roles": loads(row[4]), "created": _aware(row[5]),
        }

    def datasets(self) -> pd.DataFrame:
        """All registered datasets, newest first (``schema`` and ``roles`` as JSON text)."""
        with self._connect(False) as con:
            return con.execute(
                "SELECT fingerprint, source, n_rows, schema, roles, created FROM datasets "
                "ORDER BY created DESC"
            ).df()

    # ------------------------------------------------------------------ runs
    def start_run(
        self,
        command: str,
        params: Mapping[str, Any] | None = None,
        fingerprint: str | None = None,
    ) -> str:
        """Record the start of a run and return its id (``YYYYMMDD-HHMMSS-xxxx``, UTC).

        The run stores the package versions of assay and its key dependencies, the process id and
        the host; its status is ``running`` until :meth:`finish_run`.

        Examples
        --------
        >>> import tempfile
        >>> from assay.workspace import Workspace
        >>> ws = Workspace.open(tempfile.mkdtemp())
        >>> run_id = ws.start_run("curve", {"target": 0.95})
        >>> ws.run(run_id)["status"]
        'running'
        """
        if not isinstance(command, str) or not command.strip():
            raise InvalidParameterError("command", "a non-empty str", command, owner="start_run")
        if params is not None and not isinstance(params, Mapping):
            raise InvalidParameterError("params", "a dict or None", params, owner="start_run")
        if fingerprint is not None:
            _check_fingerprint(fingerprint)
        params_json = dumps(dict(params or {}), "params")
        versions_json = dumps(package_versions(), "versions")
        with self._connect(True) as con, transaction(con):
            if fingerprint is not None and con.execute(
                "SELECT count(*) FROM datasets WHERE fingerprint = ?", [fingerprint]
            ).fetchall()[0][0] == 0:
                raise InputValidationError(
                    f"Dataset {fingerprint} is not registered in this workspace. Call "
                    "register_dataset(fingerprint, n_rows=...) before start_run, or pass "
                    "fingerprint=None for a run without a dataset."
                )
            now = utc_now()
            for _ in range(20):
                run_id = f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
                if con.execute(
                    "SELECT count(*) FROM runs WHERE run_id = ?", [run_id]
                ).fetchall()[0][0] == 0:
                    break
            con.execute(
                "INSERT INTO runs (run_id, command, params, versions, fingerprint, status, "
                "started, pid, host) VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?)",
                [run_id, command, params_json, versions_json, fingerprint, now, os.getpid(),
                 socket.gethostname()],
            )
        return run_id

    def finish_run(
        self,
        run_id: str,
        *,
        status: str = "ok",
        summary: Mapping[str, Any] | None = None,
        timings: Mapping[str, float] | None = None,
        provenance: Mapping[str, Any] | None = None,
    ) -> None:
        """Mark a running run as finished (``status`` ``'ok'`` or ``'error'``) with its results.

        Parameters
        ----------
        run_id : str
            The id returned by :meth:`start_run`.
        status : {'ok', 'error'}
            ``'error'`` when the command failed (put the message in ``summary``).
        summary : dict, optional
            Results (per-check status and counts, dataset-level metrics).
        timings : dict of str -> float, optional
            Seconds per step.
        provenance : dict, optional
            Thresholds used and where they came from, seeds, inputs.

        Examples
        --------
        >>> import tempfile
        >>> from assay.workspace import Workspace
        >>> ws = Workspace.open(tempfile.mkdtemp())
        >>> run_id = ws.start_run("audit")
        >>> ws.finish_run(run_id, status="ok", timings={"total": 1.5})
        >>> ws.run(run_id)["timings"]
        {'total': 1.5}
        """
        if status not in RUN_STATUSES:
            raise InvalidParameterError(
                "status", "one of 'ok', 'error'", status, owner="finish_run"
            )
        if timings is not None:
            if not isinstance(timings, Mapping) or not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in timings.values()
            ):
                raise InvalidParameterError(
                    "timings", "a dict of step name -> seconds (numbers)", timings,
                    owner="finish_run",
                )
        values = [
            status, utc_now(), dumps(summary, "summary"), dumps(timings, "timings"),
            dumps(provenance, "provenance"),
        ]
        with self._connect(True) as con, transaction(con):
            self._require_running(con, run_id)
            con.execute(
                "UPDATE runs SET status = ?, finished = ?, summary = ?, timings = ?, "
                "provenance = ? WHERE run_id = ?",
                [*values, run_id],
            )

    @contextlib.contextmanager
    def record_run(
        self,
        command: str,
        params: Mapping[str, Any] | None = None,
        *,
        fingerprint: str | None = None,
    ) -> Iterator[RunRecord]:
        """Record a run around a block: started on entry, finished ``ok`` or ``error`` on exit.

        An exception in the block finishes the run with status ``error`` (its message in
        ``summary["error"]``) and is re-raised.

        Examples
        --------
        >>> import tempfile
        >>> from assay.workspace import Workspace
        >>> ws = Workspace.open(tempfile.mkdtemp())
        >>> with ws.record_run("value", {"method": "knn"}) as rec:
        ...     with rec.step("compute"):
        ...         rec.summary["n"] = 3
        >>> ws.run(rec.run_id)["status"]
        'ok'
        """
        run_id = self.start_run(command, params, fingerprint)
        rec = RunRecord(run_id)
        t0 = time.perf_counter()
        try:
            yield rec
        except BaseException as exc:
            rec.timings.setdefault("total", time.perf_counter() - t0)
            rec.summary["error"] = f"{type(exc).__name__}: {exc}"
            self.finish_run(
                run_id, status="error", summary=rec.summary, timings=rec.timings,
                provenance=rec.provenance,
            )
            raise
        rec.timings.setdefault("total", time.perf_counter() - t0)
        self.finish_run(
            run_id, status="ok", summary=rec.summary, timings=rec.timings,
            provenance=rec.provenance,
        )

    def _require_running(self, con: Any, run_id: str) -> dict[str, Any]:
        row = first(con.execute(
            "SELECT status, findings_schema FROM runs WHERE run_id = ?", [run_id]
        ).fetchall())
        if row is None:
            raise InputValidationError(
                f"Run {run_id!r} does not exist in the workspace {self._path}. "
                "Use the id returned by start_run (see 'assay runs')."
            )
        if row[0] != "running":
            raise StoreError(
                f"Run {run_id} is already finished (status {row[0]!r}); a finished run is "
                "immutable. Start a new run to record more results."
            )
        return loads(row[1]) or {}

    def runs(self, *, command: str | None = None, limit: int | None = None) -> pd.DataFrame:
        """All runs, newest first: id, command, status, times, dataset, number of findings.

        A ``running`` run whose process has died on this host is reported as ``interrupted``.

        Examples
        --------
        >>> import tempfile
        >>> from assay.workspace import Workspace
        >>> ws = Workspace.open(tempfile.mkdtemp())
        >>> _ = ws.start_run("audit")
        >>> list(ws.runs()["command"])
        ['audit']
        """
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise InvalidParameterError("limit", "an int >= 1 or None", limit, owner="runs")
        sql = f"SELECT {_RUN_COLUMNS} FROM runs"
        args: list[Any] = []
        if command is not None:
            sql += " WHERE command = ?"
            args.append(command)
        sql += " ORDER BY started DESC, run_id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._connect(False) as con:
            frame = con.execute(sql, args).df()
        frame["status"] = [
            _live_status(s, p, h) for s, p, h in zip(
                frame["status"], frame["pid"], frame["host"], strict=True
            )
        ]
        frame["duration_s"] = (frame["finished"] - frame["started"]).dt.total_seconds()
        for col in ("started", "finished"):
            frame[col] = frame[col].dt.tz_localize("UTC")
        return frame.drop(columns=["pid", "host"])

    def resolve_run(self, ref: str, *, command: str | None = None) -> str:
        """Turn ``ref`` (a run id, a unique prefix of one, or ``'latest'``) into a run id.

        With ``command`` (e.g. ``"audit"`` for a command that needs an audit), ``'latest'`` means
        the latest run of that command that finished ``ok``: an export or an interrupted audit
        after it does not hide it.

        Examples
        --------
        >>> import tempfile
        >>> from assay.workspace import Workspace
        >>> ws = Workspace.open(tempfile.mkdtemp())
        >>> run_id = ws.start_run("audit")
        >>> ws.resolve_run("latest") == ws.resolve_run(run_id[:10]) == run_id
        True
        """
        if not isinstance(ref, str) or not ref:
            raise InvalidParameterError("run", "a run id, a prefix of one, or 'latest'", ref)
        with self._connect(False) as con:
            if ref in ("latest", "last") and command is not None:
                row = first(con.execute(
                    "SELECT run_id FROM runs WHERE command = ? AND status = 'ok' "
                    "ORDER BY started DESC, run_id DESC LIMIT 1", [command]
                ).fetchall())
                if row is None:
                    raise InputValidationError(
                        f"The workspace {self._path} has no completed '{command}' run yet. Run "
                        f"'assay {command}' first (interrupted or failed runs have no results)."
                    )
                return str(row[0])
            if ref in ("latest", "last"):
                row = first(con.execute(
                    "SELECT run_id FROM runs ORDER BY started DESC, run_id DESC LIMIT 1"
                ).fetchall())
                if row is None:
                    raise InputValidationError(
                        f"The workspace {self._path} has no runs yet. Run an assay command first."
                    )
                return str(row[0])
            hits = [r[0] for r in con.execute(
                "SELECT run_id FROM runs WHERE starts_with(run_id, ?) ORDER BY run_id LIMIT 6",
                [ref],
            ).fetchall()]
        if ref in hits:
            return ref
        if len(hits) == 1:
            return str(hits[0])
        if not hits:
            raise InputValidationError(
                f"No run {ref!r} in the workspace {self._path}. "
                "List the runs with 'assay runs' and pass an id (or a unique prefix, or 'latest')."
            )
        raise InputValidationError(
            f"Run prefix {ref!r} is ambiguous; it matches {', '.join(hits[:5])}"
            f"{', ...' if len(hits) > 5 else ''}. Pass more characters of the id."
        )

    def run(self, run_id: str) -> dict[str, Any]:
        """One run as a dict: command, params, versions, times, status, summary, timings, ...

        ``run_id`` may be a unique prefix or ``'latest'`` (see :meth:`resolve_run`).

        Examples
        --------
        >>> import tempfile
        >>> from assay.workspace import Workspace
        >>> ws = Workspace.open(tempfile.mkdtemp())
        >>> run_id = ws.start_run("audit", {"k": 10})
        >>> ws.run(run_id)["params"]
        {'k': 10}
        """
        run_id = self.resolve_run(run_id)
        with self._connect(False) as con:
            row = first(con.execute(
                "SELECT run_id, command, params, versions, fingerprint, status, started, finished, "
                "timings, summary, provenance, n_findings, pid, host FROM runs WHERE run_id = ?",
                [run_id],
            ).fetchall())
        if row is None:  # resolve_run found it; runs are never deleted
            raise StoreError(f"Run {run_id} vanished from {self._path} while being read.")
        started, finished = _aware(row[6]), _aware(row[7])
        return {
            "run_id": row[0],
            "command": row[1],
            "params": loads(row[2]),
            "versions": loads(row[3]),
            "fingerprint": row[4],
            "status": _live_status(row[5], row[12], row[13]),
            "started": started,
            "finished": finished,
            "duration_s": None if finished is None else (finished - started).total_seconds(),
            "timings": loads(row[8]),
            "summary": loads(row[9]),
            "provenance": loads(row[10]),
            "n_findings": int(row[11]),
            "pid": row[12],
            "host": row[13],
        }

    # ------------------------------------------------------------------ findings
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

    # ------------------------------------------------------------------ review loop
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
        action : {'keep', 'relabel', 'remove', 'duplicate', 'defer'}
            ``relabel`` needs ``new_label``; the others must not have one. ``duplicate`` marks
            the row as a copy to drop (optionally of ``duplicate_of``); ``defer`` is a skip.
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
        _check_fingerprint(fingerprint)
        if parent_fingerprint is not None:
            _check_fingerprint(parent_fingerprint, name="parent_fingerprint")
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

    # ------------------------------------------------------------------ artifacts
    def get_or_compute(
        self,
        kind: str,
        fingerprint: str,
        params: Mapping[str, Any] | None,
        compute_fn: Callable[[], Any],
    ) -> Any:
        """Return the cached artifact for (fingerprint, kind, params), computing it on a miss.

        ``compute_fn()`` must return a numpy array, a DataFrame or a dict of str -> array. The
        key includes the assay version, so artifacts are recomputed after an upgrade. In a
        read-only workspace a miss is computed and returned but not stored.

        Examples
        --------
        >>> import tempfile, numpy as np
        >>> from assay.workspace import Workspace
        >>> ws = Workspace.open(tempfile.mkdtemp())
        >>> calls = []
        >>> def compute():
        ...     calls.append(1)
        ...     return np.ones((3, 2), dtype=np.float32)
        >>> a = ws.get_or_compute("features", "fp1", {"featurizer": "tfidf"}, compute)
        >>> b = ws.get_or_compute("features", "fp1", {"featurizer": "tfidf"}, compute)
        >>> len(calls), bool((a == b).all())
        (1, True)
        """
        return self._artifacts.get_or_compute(kind, fingerprint, params, compute_fn)

    def load_artifact(
        self, kind: str, fingerprint: str, params: Mapping[str, Any] | None
    ) -> Any | None:
        """The cached artifact, or ``None`` when it is absent (or its file is missing/damaged)."""
        return self._artifacts.load(kind, fingerprint, params)

    def save_artifact(
        self, kind: str, fingerprint: str, params: Mapping[str, Any] | None, value: Any
    ) -> Path:
        """Store an artifact (replacing one under the same key); return its file path."""
        return self._artifacts.save(kind, fingerprint, params, value)

    def artifact_path(
        self, kind: str, fingerprint: str, params: Mapping[str, Any] | None
    ) -> Path | None:
        """File path of a cached artifact (e.g. to link a full Parquet from a report), or None."""
        return self._artifacts.lookup(kind, fingerprint, params)

    def artifacts(self) -> pd.DataFrame:
        """All cached artifacts, newest first."""
        return self._artifacts.listing()

    def results_dir(self, run_id: str) -> Path:
        """The folder where a run keeps its result files (an audit: audit.json, issues.parquet).

        Examples
        --------
        >>> import tempfile
        >>> from assay.workspace import Workspace
        >>> ws = Workspace.open(tempfile.mkdtemp())
        >>> ws.results_dir("20261122-120000-ab12").parts[-2:]
        ('runs', '20261122-120000-ab12')
        """
        if not isinstance(run_id, str) or not run_id or "/" in run_id or run_id in (".", ".."):
            raise InvalidParameterError("run_id", "a run id", run_id, owner="results_dir")
        return self._path / "runs" / run_id


def open_workspace(
    path: str | os.PathLike[str],
    *,
    create: bool = True,
    read_only: bool = False,
    lock_timeout: float = 10.0,
) -> Workspace:
    """Open (and by default create) a workspace folder; same as :meth:`Workspace.open`.

    Examples
    --------
    >>> import tempfile
    >>> from assay.workspace import open_workspace
    >>> with open_workspace(tempfile.mkdtemp()) as ws:
    ...     len(ws.runs())
    0
    """
    return Workspace.open(path, create=create, read_only=read_only, lock_timeout=lock_timeout)


# ---------------------------------------------------------------------- helpers
_FINGERPRINT_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,200}$")


def _check_fingerprint(fingerprint: Any, *, name: str = "fingerprint") -> None:
    if not isinstance(fingerprint, str) or not _FINGERPRINT_RE.match(fingerprint):
        raise InvalidParameterError(
            name, "a non-empty str of letters, digits, '_', '.', ':' or '-' (at most 200)",
            fingerprint,
            hint="Use the fingerprint computed by assay.data for the dataset.",
        )


def _check_row_id(row_id: Any) -> None:
    import numpy as np

    if isinstance(row_id, bool) or not isinstance(row_id, str | int | np.integer):
        raise InvalidParameterError("row_id", "an int or a str", row_id)


def _aware(ts: Any) -> Any:
    import datetime as dt

    return None if ts is None else ts.replace(tzinfo=dt.UTC)


def _live_status(status: str, pid: Any, host: Any) -> str:
    """``running`` runs whose process is gone (on this host) are reported as ``interrupted``."""
    if status != "running" or pid is None or pd.isna(pid) or host != socket.gethostname():
        return status
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return "interrupted"
    except PermissionError:
        return status
    return status

