"""Arrays that live on disk instead of in memory: the N-sized intermediate results of an audit
that would otherwise be held whole (per-token probabilities of a million-token corpus), and
large ``.npy`` inputs read as they are used.

:func:`disk_array` maps an anonymous temporary file: the operating system pages blocks in and
out as they are read and written, nothing of the array counts as the process's own (anonymous)
memory, and the file disappears when the last reference to the array goes, even after a crash
(it has no name on POSIX systems; on Windows it is opened delete-on-close).
"""

from __future__ import annotations

import math
import os
import tempfile
from typing import Any

import numpy as np

from assay.exceptions import InputValidationError

__all__ = ["MAP_BYTES", "WIDEN_ON_DISK_BYTES", "disk_array", "load_npy", "widened"]

#: From this size an ``.npy`` file is memory-mapped (copy-on-write) by :func:`load_npy`.
MAP_BYTES = 8 * 2**20
#: From this size (of the float64 result) :func:`widened` writes its copy to a :func:`disk_array`.
WIDEN_ON_DISK_BYTES = 2**30


def disk_array(shape: tuple[int, ...], dtype: Any = np.float32, *,
               folder: str | os.PathLike[str] | None = None) -> np.ndarray:
    """A zero-filled, writable array backed by an anonymous temporary file.

    Parameters
    ----------
    shape : tuple of int
    dtype : numpy dtype, default=float32
    folder : path, optional
        Where the file goes (default: the system's temporary folder, ``TMPDIR``). Choose a disk,
        not a RAM-backed ``tmpfs``, or the array is in memory after all.

    Returns
    -------
    numpy.memmap
        Reads and writes go through the page cache; a zero-size shape gives a plain empty array.

    Examples
    --------
    >>> import numpy as np
    >>> from assay.data import disk_array
    >>> a = disk_array((1000, 3))
    >>> a[10:20] = 0.5
    >>> a.dtype, a.shape, float(a.sum())
    (dtype('float32'), (1000, 3), 15.0)
    """
    dims = tuple(int(s) for s in shape)
    if any(s < 0 for s in dims):
        raise InputValidationError(f"disk_array needs a shape of non-negative sizes; got {shape}.")
    dt = np.dtype(dtype)
    nbytes = math.prod(dims) * dt.itemsize
    if nbytes == 0:
        return np.zeros(dims, dtype=dt)
    if folder is not None and not os.path.isdir(folder):
        raise InputValidationError(
            f"disk_array's folder '{folder}' is not an existing folder. Create it or pass "
            "another.")
    with tempfile.TemporaryFile(dir=folder) as fh:  # the map keeps the file alive after close
        fh.truncate(nbytes)  # a sparse file: reads as zeros, takes disk only where written
        return np.memmap(fh, dtype=dt, mode="r+", shape=dims)


def load_npy(path: str | os.PathLike[str]) -> np.ndarray:
    """An ``.npy`` file as an array, never unpickling; from ``MAP_BYTES`` memory-mapped
    copy-on-write: it behaves as an array in memory (writes stay private to the process and
    never reach the file), but its pages are read from disk as they are used.

    Raises what :func:`numpy.load` raises (``ValueError`` for a pickled or damaged file,
    ``OSError``/``EOFError`` for an unreadable or truncated one): callers word the error for
    their input.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from pathlib import Path
    >>> from assay.data import load_npy
    >>> path = Path(tempfile.mkdtemp()) / "a.npy"
    >>> np.save(path, np.arange(3.0))
    >>> load_npy(path).tolist()
    [0.0, 1.0, 2.0]
    """
    big = os.path.getsize(path) >= MAP_BYTES
    return np.load(path, allow_pickle=False, mmap_mode="c" if big else None)


def widened(arr: np.ndarray, *, block_bytes: int = 256 * 2**20,
            on_disk_bytes: int | None = None) -> np.ndarray:
    """``arr`` as float64: itself when it is float64 already; else a copy made block by block,
    held in a :func:`disk_array` when the copy reaches ``WIDEN_ON_DISK_BYTES`` (1 GiB).

    Ten million rows of float32 probabilities over 100 classes are 4 GB; their float64 copy is
    8 GB, more than an 8 GiB machine holds beside the rest of an audit. On disk, the copy's pages
    are written back and dropped by the operating system as they are used, so what the process
    holds is one block at a time. The values are those of ``arr.astype(np.float64)`` (widening a
    float is exact).

    Examples
    --------
    >>> import numpy as np
    >>> from assay.data import widened
    >>> a = np.array([[0.25, 0.75]], dtype=np.float32)
    >>> w = widened(a, on_disk_bytes=0)   # on disk, whatever the size
    >>> w.dtype, w.tolist(), type(w).__name__
    (dtype('float64'), [[0.25, 0.75]], 'memmap')
    """
    if arr.dtype == np.float64:
        return arr
    limit = WIDEN_ON_DISK_BYTES if on_disk_bytes is None else on_disk_bytes
    nbytes = arr.size * 8
    if nbytes < limit or arr.ndim == 0:
        return np.asarray(arr, dtype=np.float64)
    out = disk_array(arr.shape, np.float64)
    if out.size == 0:
        return out
    row_bytes = max(1, nbytes // max(arr.shape[0], 1))
    step = max(1, block_bytes // row_bytes)
    for start in range(0, arr.shape[0], step):
        out[start:start + step] = arr[start:start + step]
    return out
