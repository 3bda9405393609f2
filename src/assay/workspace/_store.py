"""The workspace: a folder holding ``assay.duckdb`` and an ``artifacts/`` tree.

Connections are short-lived: every method opens DuckDB, does its work in one transaction and
closes it again. A long ``assay audit`` therefore holds the file lock only while it writes, and
``assay runs`` in another terminal can read in between. DuckDB allows one read-write process per
file, or any number of read-only processes while nobody writes; an open that conflicts is retried
with backoff for ``lock_timeout`` seconds and then fails with :class:`~assay.exceptions.StoreError`.

:class:`Workspace` here opens, checks and closes the store and hands out connections; the methods
of each concern come from a mixin in its own module: datasets and versions (``_versions.py``),
runs (``_runs.py``), findings (``_findings_store.py``), decisions (``_decisions_store.py``) and
artifacts (``_artifacts_store.py``). ``_base.py`` declares what the mixins use of ``Workspace``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from assay.exceptions import InvalidParameterError, StoreError
from assay.workspace._artifacts import ArtifactCache
from assay.workspace._artifacts_store import ArtifactsMixin
from assay.workspace._common import connect, file_lock, transaction
from assay.workspace._decisions_store import DecisionsMixin
from assay.workspace._findings_store import FindingsMixin
from assay.workspace._runs import RunsMixin
from assay.workspace._schema import SCHEMA_VERSION, apply_migrations, read_meta
from assay.workspace._versions import VersionsMixin

DB_NAME = "assay.duckdb"


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


class Workspace(VersionsMixin, RunsMixin, FindingsMixin, DecisionsMixin, ArtifactsMixin):
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
        self._held = None
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
