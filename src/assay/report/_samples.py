"""What a row looks like in the report: an image thumbnail, a text excerpt or a few table cells.

Only the rows the report shows are read (``table.iloc`` on at most a few hundred positions), so
the cost does not grow with the dataset. Thumbnails are small PNGs (JPEG for photos) inlined as
``data:`` URIs. A table whose rows are images (pixel columns, :func:`assay.data.pixel_layout`)
shows each row as a grey PNG written here with zlib, at the image's own resolution. Other table
rows show a few cells, the most unusual first: the cells whose robust z-score against the
column is above ``Z_UNUSUAL`` are highlighted.
"""

from __future__ import annotations

import base64
import io
import math
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from assay.exceptions import MissingDependencyError

#: Longest side of an image thumbnail, in pixels.
THUMB_SIZE = 96
#: Most thumbnails inlined in one report (keeps a report of an image dataset to a few MB).
MAX_THUMBNAILS = 500
#: A thumbnail whose PNG is larger than this is stored as JPEG (photos compress far better).
PNG_MAX_BYTES = 6_000
#: Characters of a text excerpt.
TEXT_CHARS = 280
#: Table cells shown for a tabular row.
MAX_FIELDS = 8
#: Characters of one table cell.
CELL_CHARS = 60
#: A cell is unusual above this robust z-score, |x - median| / (1.4826 MAD): the modified
#: z-score cut-off of Iglewicz and Hoaglin (1993).
Z_UNUSUAL = 3.5
#: Most unusual cells moved to the front of a row.
MAX_UNUSUAL = 3
#: Rows read to estimate column medians, spreads and pixel ranges (a seeded random sample).
REFERENCE_ROWS = 5_000


@dataclass(frozen=True)
class SampleLayout:
    """How the rows of a dataset are drawn: ``kind`` is ``"image"`` (files), ``"pixels"``
    (a table of pixel columns, ``pixels`` says which), ``"text"`` or ``"fields"``."""

    kind: str
    pixels: Any = None  # assay.data.PixelLayout

    @property
    def gallery(self) -> str:
        """The gallery the report uses: ``"image"`` tiles for pictures, else a table."""
        return "image" if self.kind in ("image", "pixels") else self.kind


def sample_layout(dataset: Any, image_shape: Any = None) -> SampleLayout:
    """The layout of ``dataset``'s rows; ``image_shape`` as in :func:`assay.data.pixel_layout`."""
    roles = dataset.roles
    if roles.image is not None:
        return SampleLayout("image")
    if roles.text is not None:
        return SampleLayout("text")
    from assay.data import pixel_layout

    pixels = pixel_layout(dataset.table, roles.features, image_shape=image_shape,
                          owner="render_report")
    return SampleLayout("pixels", pixels) if pixels is not None else SampleLayout("fields")


def build_samples(dataset: Any, rows: np.ndarray, layout: SampleLayout | None = None
                  ) -> dict[int, dict[str, Any]]:
    """Describe each row in ``rows`` (positions in ``dataset.table``) for display.

    Returns a dict ``row -> sample`` where ``sample["kind"]`` is ``"image"`` (``src``: a
    ``data:image/png;base64,...`` URI, ``path``, ``alt``), ``"missing"`` (``path``,
    ``reason``), ``"text"`` (``text``, ``truncated``) or ``"fields"`` (``cells``: dicts of
    ``name``, ``value``, ``z`` (robust z-score or None) and ``unusual``; ``more``: columns left
    out). Rows come in priority order: when the thumbnail budget runs out, the later ones show
    their path only.
    """
    layout = sample_layout(dataset) if layout is None else layout
    rows = pd.unique(np.asarray(rows, dtype=np.int64))  # first occurrence wins: priority order
    rows = rows[(rows >= 0) & (rows < dataset.n_rows)]
    if rows.size == 0:
        return {}
    roles = dataset.roles
    part = dataset.table.iloc[rows]
    if layout.kind == "image":
        return _image_samples(part[roles.image].tolist(), rows, dataset.root)
    if layout.kind == "text":
        return {int(r): _text_sample(v) for r, v in zip(rows, part[roles.text].tolist(), strict=True)}
    if layout.kind == "pixels":
        return _pixel_samples(dataset.table, part, rows, layout.pixels)
    skip = {roles.label, roles.id, roles.embedding_column}
    cols = [c for c in part.columns if c not in skip]
    return _field_samples(dataset.table, part, rows, cols)


def _reference(table: pd.DataFrame, cols: list[Any]) -> pd.DataFrame:
    """Up to ``REFERENCE_ROWS`` rows of ``table[cols]``, a seeded uniform sample."""
    n = len(table)
    if n <= REFERENCE_ROWS:
        return table[cols]
    pick = np.sort(np.random.default_rng(0).choice(n, size=REFERENCE_ROWS, replace=False))
    return table.iloc[pick][cols]  # rows first: never copies the whole column block


def _field_samples(table: pd.DataFrame, part: pd.DataFrame, rows: np.ndarray,
                   cols: list[Any]) -> dict[int, dict[str, Any]]:
    """A few cells of each row: its most unusual numeric cells first, then the first columns."""
    numeric = [c for c in cols if pd.api.types.is_numeric_dtype(table[c])
               and not pd.api.types.is_bool_dtype(table[c])]
    z = np.full((len(rows), len(cols)), np.nan)
    if numeric:
        zn = robust_z(part[numeric].to_numpy(dtype=np.float64, na_value=np.nan),
                      _reference(table, numeric).to_numpy(dtype=np.float64, na_value=np.nan))
        where = {c: i for i, c in enumerate(cols)}
        z[:, [where[c] for c in numeric]] = zn
    absz = np.where(np.isnan(z), -1.0, np.abs(z))
    values = part[cols].to_numpy(dtype=object) if cols else np.empty((len(rows), 0), object)
    out: dict[int, dict[str, Any]] = {}
    for i, r in enumerate(rows.tolist()):
        order = np.argsort(-absz[i], kind="stable")[:MAX_UNUSUAL]
        unusual = [int(j) for j in order if absz[i, j] >= Z_UNUSUAL]
        rest = [j for j in range(len(cols)) if j not in unusual][: MAX_FIELDS - len(unusual)]
        shown = unusual + rest
        out[int(r)] = {
            "kind": "fields",
            "cells": [{"name": str(cols[j]), "value": _cell(values[i, j]),
                       "z": None if np.isnan(z[i, j]) else float(np.clip(z[i, j], -99, 99)),
                       "unusual": j in unusual} for j in shown],
            "more": len(cols) - len(shown),
        }
    return out


def pair_field_samples(dataset: Any, pairs: list[tuple[int, int]]
                       ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Two table rows shown as the same cells: the columns whose values differ first,
    highlighted (``"differs": True``), then the first columns, ``MAX_FIELDS`` in all.

    The label, id, split and group columns are left out (a leak crosses splits by definition).
    A row position outside the table gives ``None`` for both samples' cells.

    Examples
    --------
    >>> import pandas as pd
    >>> from assay.data import load
    >>> ds = load(pd.DataFrame({"a": [1, 1], "b": [2, 3], "y": [0, 1]}), label="y")
    >>> a, b = pair_field_samples(ds, [(0, 1)])[0]
    >>> [(c["name"], c["value"], c["differs"]) for c in b["cells"]]
    [('b', '3', True), ('a', '1', False)]
    """
    roles = dataset.roles
    skip = {roles.label, roles.id, roles.embedding_column, roles.split, roles.group}
    cols = [c for c in dataset.table.columns if c not in skip]
    n = dataset.n_rows
    out: list[tuple[dict[str, Any], dict[str, Any]]] = []
    rows = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    ok = ((rows >= 0) & (rows < n)).all(axis=1)
    safe = np.where(ok[:, None], rows, 0)
    va = dataset.table.iloc[safe[:, 0]][cols].to_numpy(dtype=object)
    vb = dataset.table.iloc[safe[:, 1]][cols].to_numpy(dtype=object)
    for k in range(len(rows)):
        if not ok[k]:
            none = {"kind": "fields", "cells": [], "more": len(cols)}
            out.append((none, dict(none)))
            continue
        differ = {j for j in range(len(cols)) if not _same(va[k, j], vb[k, j])}
        shown = (sorted(differ) + [j for j in range(len(cols)) if j not in differ])[:MAX_FIELDS]
        a, b = ({"kind": "fields", "more": len(cols) - len(shown),
                 "cells": [{"name": str(cols[j]), "value": _cell(v[k, j]), "z": None,
                            "unusual": False, "differs": j in differ} for j in shown]}
                for v in (va, vb))
        out.append((a, b))
    return out


def _same(a: Any, b: Any) -> bool:
    if _is_missing(a) and _is_missing(b):
        return True
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # arrays: compare their text
        return str(a) == str(b)


def robust_z(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Robust z-scores of ``values`` (rows, d) against the columns of ``reference`` (m, d).

    ``(x - median) / (1.4826 MAD)``; a column whose MAD is 0 uses ``1.2533`` times its mean
    absolute deviation (both equal the standard deviation of a normal column). A value away
    from a constant column scores infinity; missing values NaN.

    Examples
    --------
    >>> import numpy as np
    >>> ref = np.column_stack([np.arange(11.0), np.zeros(11)])
    >>> robust_z(np.array([[5.0, 0.0], [20.0, 1.0]]), ref).round(2).tolist()
    [[0.0, 0.0], [3.37, inf]]
    """
    with np.errstate(all="ignore"):
        med = np.nanmedian(reference, axis=0) if reference.shape[0] else np.zeros(values.shape[1])
        dev = np.abs(reference - med)
        scale = 1.4826 * np.nanmedian(dev, axis=0)
        mean_dev = 1.2533 * np.nanmean(dev, axis=0)
        scale = np.where(scale > 0, scale, mean_dev)
        diff = values - med
        z = np.where(scale > 0, diff / np.where(scale > 0, scale, 1.0),
                     np.where(diff == 0, 0.0, np.sign(diff) * np.inf))
    return np.where(np.isnan(values), np.nan, z)


def _pixel_samples(table: pd.DataFrame, part: pd.DataFrame, rows: np.ndarray,
                   layout: Any) -> dict[int, dict[str, Any]]:
    """Each row as a grey PNG; one intensity scale for all (the columns' range), so a faint or
    blank image looks faint or blank."""
    images = layout.pixels(part)
    lo, hi = pixel_range(table, layout, images)
    h, w = layout.shape
    alt = f"{h}x{w} pixels"
    out: dict[int, dict[str, Any]] = {}
    for i, row in enumerate(rows.tolist()):
        if i >= MAX_THUMBNAILS:
            out[row] = {"kind": "missing", "path": alt,
                        "reason": f"thumbnail budget ({MAX_THUMBNAILS}) used"}
            continue
        uri = "data:image/png;base64," + base64.b64encode(
            pixel_png(images[i], lo, hi)).decode("ascii")
        out[row] = {"kind": "image", "src": uri, "path": "", "alt": alt}
    return out


def pixel_range(table: pd.DataFrame, layout: Any,
                images: np.ndarray | None = None) -> tuple[float, float]:
    """The pixel values drawn black and white: the smallest and largest of the pixel columns.

    Read on a seeded sample of up to ``REFERENCE_ROWS`` rows of ``table`` (and on ``images``,
    the rows about to be drawn, when given), so every thumbnail of a dataset shares one
    intensity scale: a faint or blank image looks faint or blank.

    Parameters
    ----------
    table : pandas.DataFrame
        The dataset's table.
    layout : assay.data.PixelLayout
        Its pixel columns (:func:`assay.data.pixel_layout`).
    images : numpy.ndarray, optional
        Images of shape (rows, height, width) to include.

    Returns
    -------
    tuple of float
        ``(lo, hi)``; ``(0.0, 1.0)`` when no pixel value is finite.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from assay.data import pixel_layout
    >>> t = pd.DataFrame(np.arange(128.0).reshape(2, 64), columns=[f"px{i}" for i in range(64)])
    >>> pixel_range(t, pixel_layout(t))
    (0.0, 127.0)
    """
    ref = _reference(table, list(layout.columns)).to_numpy(dtype=np.float64, na_value=np.nan)
    both = ref.ravel() if images is None else np.concatenate([ref.ravel(), images.ravel()])
    both = both[np.isfinite(both)]
    return (float(both.min()), float(both.max())) if both.size else (0.0, 1.0)


def pixel_png(image: np.ndarray, lo: float, hi: float, *, max_side: int = THUMB_SIZE) -> bytes:
    """One row's image as an 8-bit grey PNG: ``lo`` black, ``hi`` white, missing values black.

    An image with a side above ``max_side`` is shrunk by block means (one whole factor for
    both sides) until neither side exceeds it; a smaller one keeps its own resolution (the page
    scales it up).

    Parameters
    ----------
    image : numpy.ndarray
        float, shape (height, width) (a row of :meth:`assay.data.PixelLayout.pixels`).
    lo, hi : float
        The intensity scale (:func:`pixel_range`).
    max_side : int, default THUMB_SIZE
        Longest side of the PNG, in pixels.

    Returns
    -------
    bytes

    Examples
    --------
    >>> import numpy as np
    >>> len(pixel_png(np.zeros((8, 8)), 0.0, 16.0)) > 0
    True
    """
    img = _shrink(image, max_side)
    grey = np.clip((img - lo) / (hi - lo) if hi > lo else np.zeros_like(img), 0.0, 1.0)
    return png_grey(np.round(np.nan_to_num(grey, nan=0.0) * 255).astype(np.uint8))


def _shrink(img: np.ndarray, max_side: int = THUMB_SIZE) -> np.ndarray:
    """Block means so that neither side exceeds ``max_side``."""
    f = math.ceil(max(img.shape) / max_side)
    if f <= 1:
        return img
    h, w = (math.ceil(s / f) * f for s in img.shape)
    padded = np.full((h, w), np.nan)
    padded[: img.shape[0], : img.shape[1]] = img
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # blocks of padding only
        return np.nanmean(padded.reshape(h // f, f, w // f, f), axis=(1, 3))


def png_grey(pixels: np.ndarray) -> bytes:
    """An 8-bit greyscale PNG of ``pixels`` (uint8, shape (height, width)), no dependency.

    Examples
    --------
    >>> import numpy as np
    >>> png_grey(np.zeros((8, 8), np.uint8))[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
    """
    h, w = pixels.shape
    raw = np.hstack([np.zeros((h, 1), np.uint8), np.ascontiguousarray(pixels, np.uint8)])

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw.tobytes(), 9)) + chunk(b"IEND", b""))


def _text_sample(value: Any) -> dict[str, Any]:
    text = "" if _is_missing(value) else str(value)
    text = " ".join(text.split())
    return {"kind": "text", "text": text[:TEXT_CHARS], "truncated": len(text) > TEXT_CHARS}


def _cell(value: Any) -> str:
    if _is_missing(value):
        return "∅"
    if isinstance(value, float | np.floating):
        return f"{float(value):.4g}"
    text = str(value)
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


def _is_missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # arrays and other non-scalars are not "missing"
        return False


def _image_samples(paths: list[Any], rows: np.ndarray, root: Path | None) -> dict[int, dict[str, Any]]:
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError as exc:
        raise MissingDependencyError("pillow", "image", "Image thumbnails in the HTML report") from exc
    out: dict[int, dict[str, Any]] = {}
    for i, (row, value) in enumerate(zip(rows.tolist(), paths, strict=True)):
        name = "" if _is_missing(value) else str(value)
        if i >= MAX_THUMBNAILS:
            out[row] = {"kind": "missing", "path": name,
                        "reason": f"thumbnail budget ({MAX_THUMBNAILS}) used"}
            continue
        path = Path(name)
        if not path.is_absolute() and root is not None:
            path = Path(root) / path
        try:
            with Image.open(path) as im:
                im.thumbnail((THUMB_SIZE, THUMB_SIZE))
                alpha = "A" in im.getbands()
                small = im.convert("RGBA" if alpha else "RGB")
                buf = io.BytesIO()
                small.save(buf, format="PNG", optimize=True)
                mime = "image/png"
                if buf.tell() > PNG_MAX_BYTES and not alpha:
                    buf = io.BytesIO()
                    small.save(buf, format="JPEG", quality=80, optimize=True)
                    mime = "image/jpeg"
        except FileNotFoundError:
            out[row] = {"kind": "missing", "path": name, "reason": "file not found"}
            continue
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            out[row] = {"kind": "missing", "path": name,
                        "reason": f"cannot decode ({type(exc).__name__})"}
            continue
        uri = f"data:{mime};base64," + base64.b64encode(buf.getvalue()).decode("ascii")
        out[row] = {"kind": "image", "src": uri, "path": name, "alt": name}
    return out
