"""Content hashes of files (exact copies of images, audio, documents), read in blocks."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from assay.exceptions import InputValidationError

__all__ = ["file_hashes", "row_content"]

_BLOCK = 1 << 20


def file_hashes(paths: Iterable[str | Path]) -> np.ndarray:
    """64-bit content hash of each file's bytes (equal bytes, equal hashes).

    Files are read in 1 MiB blocks (memory stays flat for large files) and hashed with
    BLAKE2b; the name, the folder and the modification time play no part, so a file copied
    under another name hashes alike.

    Parameters
    ----------
    paths : iterable of str or Path

    Returns
    -------
    ndarray of shape (N,), uint64

    Raises
    ------
    InputValidationError
        When a file does not exist or cannot be read.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from assay.data import file_hashes
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for name, data in [("a.bin", b"x" * 10), ("b.bin", b"x" * 10), ("c.bin", b"y")]:
    ...     _ = (d / name).write_bytes(data)
    >>> h = file_hashes([d / "a.bin", d / "b.bin", d / "c.bin"])
    >>> bool(h[0] == h[1]), bool(h[0] == h[2])
    (True, False)
    """
    out: list[int] = []
    for i, path in enumerate(paths):
        digest = hashlib.blake2b(digest_size=8)
        try:
            with open(path, "rb") as fh:
                while block := fh.read(_BLOCK):
                    digest.update(block)
        except FileNotFoundError as exc:
            raise InputValidationError(
                f"File not found: '{path}' (row {i}). Expected an existing file for every row; "
                "check the path column and the data folder."
            ) from exc
        except OSError as exc:
            raise InputValidationError(
                f"File '{path}' (row {i}) cannot be read ({type(exc).__name__}: {exc}). Fix its "
                "permissions or drop the row."
            ) from exc
        out.append(int.from_bytes(digest.digest(), "little"))
    return np.asarray(out, dtype=np.uint64)


def row_content(dataset: Any) -> pd.DataFrame | None:
    """The raw content of each row to hash for exact copies, with image files by their bytes.

    The text, image and feature columns of ``dataset``; the image column (file paths, resolved
    against ``dataset.root``) is replaced by :func:`file_hashes` of the files, so two rows are
    exact copies when their files hold the same bytes, whatever the file names. ``None`` when
    the dataset was given as embeddings (there is no raw content then) or has no such columns.

    Parameters
    ----------
    dataset : assay.Dataset

    Returns
    -------
    DataFrame or None

    Examples
    --------
    >>> import pandas as pd, assay
    >>> from assay.data import row_content
    >>> ds = assay.load(pd.DataFrame({"x": [1, 1, 2], "y": [0, 1, 0]}), label="y")
    >>> row_content(ds)["x"].tolist()
    [1, 1, 2]
    """
    roles = dataset.roles
    cols = [c for c in (roles.text, roles.image, *roles.features) if c is not None]
    if not cols or dataset.embeddings is not None:
        return None
    frame = dataset.table[cols].copy()
    if roles.image is not None:
        from assay.data._featurize import resolve_path

        paths = [resolve_path(dataset.root, v) for v in dataset.table[roles.image].astype(str)]
        frame[roles.image] = file_hashes(paths)
    return frame
