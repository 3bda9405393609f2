"""What a row looks like in the report: an image thumbnail, a text excerpt or a few table cells.

Only the rows the report shows are read (``table.iloc`` on at most a few hundred positions), so
the cost does not grow with the dataset. Thumbnails are small PNGs (JPEG for photos) inlined as ``data:`` URIs.
"""

from __future__ import annotations

import base64
import io
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


def build_samples(dataset: Any, rows: np.ndarray) -> dict[int, dict[str, Any]]:
    """Describe each row in ``rows`` (positions in ``dataset.table``) for display.

    Returns a dict ``row -> sample`` where ``sample["kind"]`` is ``"image"`` (``src``: a
    ``data:image/png;base64,...`` URI, ``path``), ``"missing"`` (``path``, ``reason``),
    ``"text"`` (``text``, ``truncated``) or ``"fields"`` (``items``: ``[(column, value)]``,
    ``more``: columns left out). Rows come in priority order: when the thumbnail budget runs
    out, the later ones show their path only.
    """
    rows = pd.unique(np.asarray(rows, dtype=np.int64))  # first occurrence wins: priority order
    rows = rows[(rows >= 0) & (rows < dataset.n_rows)]
    if rows.size == 0:
        return {}
    roles = dataset.roles
    part = dataset.table.iloc[rows]
    if roles.image is not None:
        return _image_samples(part[roles.image].tolist(), rows, dataset.root)
    if roles.text is not None:
        return {int(r): _text_sample(v) for r, v in zip(rows, part[roles.text].tolist(), strict=True)}
    skip = {roles.label, roles.id, roles.embedding_column}
    cols = [c for c in part.columns if c not in skip]
    shown = cols[:MAX_FIELDS]
    values = part[shown].to_numpy(dtype=object) if shown else np.empty((len(rows), 0), object)
    more = len(cols) - len(shown)
    return {
        int(r): {"kind": "fields", "items": [(str(c), _cell(v)) for c, v in
                                            zip(shown, values[i], strict=True)], "more": more}
        for i, r in enumerate(rows)
    }


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
        out[row] = {"kind": "image", "src": uri, "path": name}
    return out
