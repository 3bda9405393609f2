"""Content-addressed cache of computed artifacts (features, out-of-fold probabilities, k-NN graphs).

An artifact is keyed by ``(dataset fingerprint, kind, params hash)``; the params hash covers the
kind, the parameters and the assay version, so an upgrade of assay recomputes rather than reusing
something an older release computed. Values are stored as files under ``artifacts/<kind>/``:

- ``numpy.ndarray`` -> ``.npy``
- ``pandas.DataFrame`` -> ``.parquet``
- ``dict[str, numpy.ndarray]`` -> ``.npz``
- a dataclass defined in ``assay`` (``Features``, ``KnnGraph``) whose fields are arrays or
  JSON values -> ``.npz`` holding the arrays plus one JSON entry naming the class and the other
  fields; it is rebuilt by calling the class (only classes from ``assay.*`` are ever imported)

A file is written to a temporary name, flushed to disk, then renamed over its final name
(``os.replace``, atomic on POSIX) inside the transaction that registers it. A crash leaves at worst
an unregistered file, which the next computation overwrites. Nothing is ever unpickled.

An ``.npy`` of ``assay.data.MAP_BYTES`` or more is loaded memory-mapped copy-on-write
(:func:`assay.data.load_npy`): the value behaves as an array in memory (writes to it stay
private to the process and never reach the file), but its pages are read from disk as they are
used, so a large artifact (a million tokens' probabilities) is never held in memory whole.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import os
import re
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from assay.exceptions import InvalidParameterError, StoreError
from assay.workspace._common import dumps, first, transaction, utc_now

_KIND_RE = re.compile(r"^[a-z][a-z0-9_\-]{0,63}$")
_FORMATS = {"npy": ".npy", "parquet": ".parquet", "npz": ".npz", "dataclass": ".npz"}
_META_KEY = "__assay_dataclass__"


def params_hash(kind: str, params: Mapping[str, Any] | None, assay_version: str) -> str:
    """SHA-256 of the canonical JSON of ``kind``, ``params`` and the assay version."""
    params_json = dumps(dict(params or {}), "params")
    payload = f'{{"assay":{dumps(assay_version, "assay")},"kind":{dumps(kind, "kind")},"params":{params_json}}}'
    return hashlib.sha256(payload.encode()).hexdigest()


def check_kind(kind: Any) -> str:
    """Return ``kind`` if it is a short lowercase identifier usable as a folder name."""
    if not isinstance(kind, str) or not _KIND_RE.match(kind):
        raise InvalidParameterError(
            "kind",
            "a lowercase identifier of letters, digits, '_' or '-' starting with a letter "
            "(e.g. 'features', 'pred_probs', 'knn')",
            kind,
        )
    return kind


def value_format(value: Any) -> str:
    """Return the storage format of ``value`` or raise when it cannot be cached."""
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise InvalidParameterError(
                "value", "a numpy array of a numeric, bool or fixed-width string dtype",
                f"an array of dtype {value.dtype}",
                hint="Object arrays would need pickling, which the cache never does.",
            )
        return "npy"
    if isinstance(value, pd.DataFrame):
        return "parquet"
    if isinstance(value, Mapping) and value and all(
        isinstance(k, str) and isinstance(v, np.ndarray) and not v.dtype.hasobject
        for k, v in value.items()
    ):
        return "npz"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if type(value).__module__.split(".")[0] != "assay":
            raise InvalidParameterError(
                "value", "a dataclass defined in assay (e.g. Features, KnnGraph)",
                f"{type(value).__module__}.{type(value).__qualname__}",
                hint="Cache its arrays as a dict of str -> numpy array instead.",
            )
        _dataclass_parts(value)  # validates the fields
        return "dataclass"
    raise InvalidParameterError(
        "value",
        "a numpy array, a pandas DataFrame, a non-empty dict of str -> numpy array or an "
        "assay dataclass of arrays",
        type(value).__name__,
        hint="Convert the artifact to one of these before caching it.",
    )


def write_atomic(value: Any, fmt: str, final: Path) -> tuple[Path, int, str]:
    """Write ``value`` to a temporary file beside ``final``; return (temp path, size, sha256)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "wb") as fh:
            if fmt == "npy":
                np.save(fh, value, allow_pickle=False)
            elif fmt == "npz":
                np.savez(fh, **value)
            elif fmt == "dataclass":
                arrays, meta = _dataclass_parts(value)
                payload: dict[str, Any] = {**arrays, _META_KEY: np.array(meta)}
                np.savez(fh, **payload)
            else:
                value.to_parquet(fh, index=False)
            fh.flush()
            os.fsync(fh.fileno())
        digest = _sha256(tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp, tmp.stat().st_size, digest


def read_value(path: Path, fmt: str) -> Any:
    """Load a cached value (never unpickling)."""
    if fmt == "npy":
        from assay.data import load_npy

        return load_npy(path)
    if fmt == "npz":
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    if fmt == "dataclass":
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files if k != _META_KEY}
            meta = json.loads(str(npz[_META_KEY]))
        module, qualname = meta["class"].rsplit(":", 1)
        if module.split(".")[0] != "assay":
            raise StoreError(f"{path} names a class outside assay ({meta['class']}); not loaded.")
        cls: Any = importlib.import_module(module)
        for part in qualname.split("."):
            cls = getattr(cls, part)
        return cls(**arrays, **meta["fields"])
    return pd.read_parquet(path)


def _dataclass_parts(value: Any) -> tuple[dict[str, np.ndarray], str]:
    """Split an assay dataclass into its array fields and a JSON text of the rest."""
    arrays: dict[str, np.ndarray] = {}
    others: dict[str, Any] = {}
    for f in dataclasses.fields(value):
        v = getattr(value, f.name)
        if isinstance(v, np.ndarray):
            if v.dtype.hasobject:
                raise InvalidParameterError(
                    f"value.{f.name}", "an array of a numeric, bool or string dtype",
                    f"an array of dtype {v.dtype}",
                )
            arrays[f.name] = v
        else:
            others[f.name] = v
    cls = type(value)
    meta = {"class": f"{cls.__module__}:{cls.__qualname__}",
            "fields": json.loads(dumps(others, "value") or "{}")}
    return arrays, json.dumps(meta)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class ArtifactCache:
    """The artifact half of a :class:`~assay.workspace.Workspace` (use it through the workspace).

    Parameters
    ----------
    root : Path
        The workspace folder; files go under ``root / "artifacts"``.
    connect : callable
        ``connect(write: bool)`` returning a context manager that yields a DuckDB connection.
    read_only : bool
        When true, a cache miss is computed and returned but not stored.
    assay_version : str
        Part of every key.
    """

    def __init__(
        self, root: Path, connect: Callable[[bool], Any], *, read_only: bool, assay_version: str
    ) -> None:
        self._root = root
        self._connect = connect
        self._read_only = read_only
        self._assay_version = assay_version

    def _key(self, kind: str, fingerprint: str, params: Mapping[str, Any] | None) -> tuple[str, str]:
        check_kind(kind)
        if not isinstance(fingerprint, str) or not fingerprint:
            raise InvalidParameterError("fingerprint", "a non-empty str", fingerprint)
        if params is not None and not isinstance(params, Mapping):
            raise InvalidParameterError("params", "a dict of JSON-serialisable values", params)
        return fingerprint, params_hash(kind, params, self._assay_version)

    def _find(
        self, kind: str, fingerprint: str, params: Mapping[str, Any] | None
    ) -> tuple[Path, str] | None:
        fingerprint, phash = self._key(kind, fingerprint, params)
        with self._connect(False) as con:
            row = first(con.execute(
                "SELECT path, nbytes, format FROM artifacts "
                "WHERE fingerprint = ? AND kind = ? AND params_hash = ?",
                [fingerprint, kind, phash],
            ).fetchall())
        if row is None:
            return None
        path = self._root / row[0]
        if not path.is_file() or path.stat().st_size != row[1]:
            return None
        return path, row[2]

    def lookup(self, kind: str, fingerprint: str, params: Mapping[str, Any] | None) -> Path | None:
        """Path of the stored artifact, or ``None`` when it is absent or its file is damaged."""
        found = self._find(kind, fingerprint, params)
        return None if found is None else found[0]

    def load(self, kind: str, fingerprint: str, params: Mapping[str, Any] | None) -> Any | None:
        """The stored value, or ``None`` on a miss."""
        found = self._find(kind, fingerprint, params)
        return None if found is None else read_value(*found)

    def save(
        self, kind: str, fingerprint: str, params: Mapping[str, Any] | None, value: Any
    ) -> Path:
        """Store ``value`` and return its path (replacing an earlier value under the same key)."""
        if self._read_only:
            raise StoreError(
                "This workspace was opened read-only, so artifacts cannot be stored. "
                "Open it with read_only=False."
            )
        fingerprint, phash = self._key(kind, fingerprint, params)
        fmt = value_format(value)
        fp_hash = hashlib.sha256(fingerprint.encode()).hexdigest()[:16]
        rel = Path("artifacts") / kind / f"{fp_hash}-{phash[:16]}{_FORMATS[fmt]}"
        final = self._root / rel
        tmp, nbytes, digest = write_atomic(value, fmt, final)
        try:
            with self._connect(True) as con, transaction(con):
                con.execute(
                    "INSERT OR REPLACE INTO artifacts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [fingerprint, kind, phash, dumps(params or {}, "params"), rel.as_posix(),
                     fmt, nbytes, digest, self._assay_version, utc_now()],
                )
                os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        return final

    def get_or_compute(
        self,
        kind: str,
        fingerprint: str,
        params: Mapping[str, Any] | None,
        compute_fn: Callable[[], Any],
    ) -> Any:
        """Return the cached value, or call ``compute_fn()``, store its result and return it."""
        cached = self.load(kind, fingerprint, params)
        if cached is not None:
            return cached
        value = compute_fn()
        value_format(value)
        if not self._read_only:
            self.save(kind, fingerprint, params, value)
        return value

    def listing(self) -> pd.DataFrame:
        """All registered artifacts, newest first."""
        with self._connect(False) as con:
            return con.execute(
                "SELECT fingerprint, kind, params_hash, params, path, format, nbytes, sha256, "
                "assay_version, created FROM artifacts ORDER BY created DESC"
            ).df()

