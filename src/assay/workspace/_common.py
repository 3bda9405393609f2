"""Helpers of the workspace: JSON encoding, clocks, package versions, locked connections."""

from __future__ import annotations

import contextlib
import datetime as _dt
import importlib.metadata
import json
import math
import re
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from assay.exceptions import InvalidParameterError, StoreError

# Packages whose versions each run records; torch only when the process already imported it.
_KEY_PACKAGES = ("assay", "numpy", "scipy", "pandas", "scikit-learn", "duckdb")

# One lock per database file, so threads of one process never hold two connections of
# different modes (DuckDB refuses a read-only and a read-write connection to one file in a
# process) and never interleave transactions.
_FILE_LOCKS: dict[str, threading.RLock] = {}
_FILE_LOCKS_GUARD = threading.Lock()


def utc_now() -> _dt.datetime:
    """Current time in UTC, without tzinfo (the store keeps naive UTC timestamps)."""
    return _dt.datetime.now(_dt.UTC).replace(tzinfo=None)


def package_versions() -> dict[str, str]:
    """Versions of assay and its key dependencies (and torch if it is already imported)."""
    names = list(_KEY_PACKAGES)
    if "torch" in sys.modules:
        names.append("torch")
    out: dict[str, str] = {"python": sys.version.split()[0]}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _jsonable(obj: Any, where: str) -> Any:
    """Turn numpy scalars/arrays, paths and datetimes into JSON types; NaN/inf become None."""
    if obj is None or isinstance(obj, bool | str | int):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return _jsonable(float(obj), where)
    if isinstance(obj, np.ndarray):
        return [_jsonable(v, where) for v in obj.tolist()]
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v, f"{where}[{k!r}]") for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        items = sorted(obj, key=repr) if isinstance(obj, set | frozenset) else obj
        return [_jsonable(v, where) for v in items]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, _dt.datetime | _dt.date):
        return obj.isoformat()
    raise InvalidParameterError(
        where,
        "JSON-serialisable (dicts, lists, str, numbers, bools, None, numpy scalars or arrays)",
        type(obj).__name__,
        hint="Convert the value to plain Python types before storing it.",
    )


def dumps(obj: Any, where: str) -> str | None:
    """Encode ``obj`` as canonical JSON text (sorted keys); ``None`` stays ``None``."""
    if obj is None:
        return None
    return json.dumps(_jsonable(obj, where), sort_keys=True, separators=(",", ":"), allow_nan=False)


def loads(text: str | None) -> Any:
    """Decode JSON text from the store; ``None`` stays ``None``."""
    return None if text is None else json.loads(text)


def first(rows: list[tuple[Any, ...]]) -> tuple[Any, ...] | None:
    """The first row of a ``fetchall()`` result, or ``None``.

    (DuckDB 2 leaves a result opened by ``fetchone()`` pending on the connection, so the store
    always fetches everything.)
    """
    return rows[0] if rows else None


def _is_lock_conflict(exc: BaseException) -> bool:
    msg = str(exc)
    return "Could not set lock" in msg or "different configuration" in msg


def file_lock(db_path: Path) -> threading.RLock:
    key = str(db_path.resolve())
    with _FILE_LOCKS_GUARD:
        return _FILE_LOCKS.setdefault(key, threading.RLock())


@contextlib.contextmanager
def connect(db_path: Path, *, read_only: bool, lock_timeout: float) -> Iterator[Any]:
    """Open a DuckDB connection to ``db_path``, retrying while another process holds the lock.

    DuckDB allows one read-write process per file, or any number of read-only processes while no
    writer holds it. A conflicting open is retried with exponential backoff (10 ms doubling to at
    most 0.5 s) for ``lock_timeout`` seconds, then raises :class:`StoreError`.
    """
    lock = file_lock(db_path)
    with lock:
        deadline = time.monotonic() + lock_timeout
        delay = 0.01
        while True:
            try:
                con = duckdb.connect(str(db_path), read_only=read_only)
                break
            except (duckdb.IOException, duckdb.ConnectionException) as exc:
                if _is_damage(exc):
                    raise StoreError(damaged_message(db_path, exc)) from exc
                if not _is_lock_conflict(exc):
                    raise StoreError(_open_error(db_path, exc)) from exc
                if time.monotonic() + delay > deadline:
                    raise StoreError(
                        f"The workspace database {db_path} is locked by another process "
                        f"(waited {lock_timeout:g} s). DuckDB allows one writing process at a time, "
                        "or several readers while nobody writes. Wait for the other assay command "
                        "to finish, or use another --workspace. DuckDB said: "
                        + " ".join(str(exc).split())
                    ) from exc
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
            except duckdb.Error as exc:  # a damaged file can fail the open itself
                if _is_damage(exc):
                    raise StoreError(damaged_message(db_path, exc)) from exc
                raise
        try:
            yield con
        except duckdb.Error as exc:
            if _is_damage(exc):
                raise StoreError(damaged_message(db_path, exc)) from exc
            raise
        finally:
            con.close()


#: DuckDB errors that mean the file itself is damaged (truncated, overwritten, bad blocks).
_DAMAGE_TYPES = tuple(
    t for t in (getattr(duckdb, n, None) for n in (
        "SerializationException",)) if t is not None  # not InternalException: a DuckDB bug
)
_DAMAGE_WORDS = ("could not read enough bytes", "corrupt", "checksum", "invalid block",
                 "failed to read", "database file is invalid")


def _is_damage(exc: BaseException) -> bool:
    msg = str(exc).lower()
    if isinstance(exc, _DAMAGE_TYPES):
        return True
    return isinstance(exc, duckdb.IOException | duckdb.Error) and any(
        w in msg for w in _DAMAGE_WORDS)


def damaged_message(db_path: Path, exc: BaseException) -> str:
    """One line that says the workspace file is damaged and how to recover."""
    msg = " ".join(str(exc).split())
    if len(msg) > 160:
        msg = msg[:157] + "..."
    root = db_path.parent
    return (
        f"The workspace database {db_path} is damaged (DuckDB: {msg}); assay will not read or "
        f"write it. To recover, move it aside (mv {db_path} {db_path}.damaged) and restore a "
        f"backup copy, or let the next command start a new workspace; each audit's results stay "
        f"readable in {root / 'runs'}/<run id>/ ('assay report {root / 'runs'}/<run id>')."
    )


def _open_error(db_path: Path, exc: BaseException) -> str:
    msg = " ".join(str(exc).split())
    if "not a valid DuckDB database" in msg:
        return (
            f"{db_path} is not an assay workspace database (not a DuckDB file). "
            "Point --workspace at an assay workspace folder, or move that file away."
        )
    if "newer version" in msg or "older version" in msg or "storage version" in msg:
        return (
            f"{db_path} was written by an incompatible DuckDB storage version ({msg}). "
            "Use the assay and duckdb versions that wrote it, or export and re-import the data."
        )
    return f"Cannot open the workspace database {db_path}: {msg}"


@contextlib.contextmanager
def transaction(con: Any) -> Iterator[Any]:
    """Run the block in one transaction: commit on success, roll back on any exception."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


_FINGERPRINT_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,200}$")


def check_fingerprint(fingerprint: Any, *, name: str = "fingerprint") -> None:
    """Refuse a fingerprint that is not a short token of letters, digits and ``_.:-``."""
    if not isinstance(fingerprint, str) or not _FINGERPRINT_RE.match(fingerprint):
        raise InvalidParameterError(
            name, "a non-empty str of letters, digits, '_', '.', ':' or '-' (at most 200)",
            fingerprint,
            hint="Use the fingerprint computed by assay.data for the dataset.",
        )


def aware_utc(ts: Any) -> Any:
    """A naive UTC timestamp read from DuckDB, made timezone-aware (``None`` stays ``None``)."""
    return None if ts is None else ts.replace(tzinfo=_dt.UTC)
