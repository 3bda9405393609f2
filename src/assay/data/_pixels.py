"""Tables whose rows are images: which columns hold the pixels, and the image's shape.

scikit-learn's digits as a table (``pixel_0`` ... ``pixel_63``, or ``pixel_0_0`` ...
``pixel_7_7``), MNIST as CSV (``pixel1`` ... ``pixel784``): each row is one grey image stored
column by column. :func:`pixel_layout` finds those columns from their names, so the report can
draw each row as a picture instead of listing 64 numbers.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from assay.exceptions import InputValidationError, InvalidParameterError

__all__ = ["PixelLayout", "parse_image_shape", "pixel_layout"]

#: Fewest pixels of a detected image (8 x 8, scikit-learn's digits); smaller needs image_shape.
MIN_PIXELS = 64
#: Largest side accepted for an image shape.
MAX_SIDE = 4096
#: Column-name stems that say "pixel" whatever the values are.
_PIXEL_STEM = re.compile(r"pix|px|pel|img|image", re.IGNORECASE)
_FLAT = re.compile(r"^(.*?\D)?(\d+)$")
_GRID = re.compile(r"^(.*?\D)?(\d+)[\s_.x\-](\d+)$", re.IGNORECASE)
#: Rows read to check that a group of columns holds no negative values.
_SAMPLE_ROWS = 2_000


@dataclass(frozen=True)
class PixelLayout:
    """Where a table's pixels are.

    Attributes
    ----------
    columns : tuple
        The pixel columns in row-major order (the first row of the image first).
    shape : tuple of int
        ``(height, width)``.
    source : {"given", "detected"}
        From ``image_shape``, or found from the column names.
    """

    columns: tuple[Any, ...]
    shape: tuple[int, int]
    source: str

    def pixels(self, table: pd.DataFrame) -> np.ndarray:
        """The images of the rows of ``table``, float64 of shape (rows, height, width)."""
        x = table[list(self.columns)].to_numpy(dtype=np.float64, na_value=np.nan)
        return x.reshape(len(table), *self.shape)


def parse_image_shape(value: Any, *, owner: str = "") -> tuple[int, int] | str | None:
    """Read an ``image_shape`` option: ``(H, W)``, ``"HxW"``, ``"auto"``/None or ``"none"``.

    Returns ``(H, W)``, ``None`` (detect from the column names) or ``"none"`` (never draw
    rows as images).

    Examples
    --------
    >>> parse_image_shape("28x28"), parse_image_shape((8, 8)), parse_image_shape("auto")
    ((28, 28), (8, 8), None)
    """
    expected = ("an image shape (height, width) such as (28, 28) or '28x28', 'auto' or 'none'")
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("", "auto"):
            return None
        if text == "none":
            return "none"
        parts = re.split(r"\s*[x×,]\s*", text)
        if len(parts) == 2 and all(p.isdigit() for p in parts):
            value = (int(parts[0]), int(parts[1]))
        else:
            raise InvalidParameterError("image_shape", expected, value, owner=owner,
                                        hint="Write it as HEIGHTxWIDTH, e.g. --image-shape 8x8.")
    if (not isinstance(value, tuple | list) or len(value) != 2
            or not all(isinstance(v, int | np.integer) and not isinstance(v, bool)
                       and 1 <= v <= MAX_SIDE for v in value)):
        raise InvalidParameterError("image_shape", expected + f" (sides 1 to {MAX_SIDE})",
                                    value, owner=owner)
    return int(value[0]), int(value[1])


def pixel_layout(
    table: pd.DataFrame,
    columns: Any = None,
    *,
    image_shape: Any = None,
    owner: str = "pixel_layout",
) -> PixelLayout | None:
    """The columns of ``table`` that hold one grey image per row, and its shape.

    Detected (``image_shape`` None or ``"auto"``): a group of at least 64 numeric columns that
    share a name stem and end in consecutive numbers, either one index (``pixel_0`` ...
    ``pixel_63``, 1-based too; the count must be a perfect square) or two (``pixel_0_0`` ...
    ``pixel_7_7``, the grid gives the shape). The stem must say pixel (``pix``, ``px``,
    ``img``...) or the values must be non-negative, so 100 features ``f0`` ... ``f99`` of
    signed numbers are not taken for a 10 x 10 image. The largest such group wins.

    Given (``image_shape=(H, W)``): the group of H x W named columns, else all the numeric
    ``columns`` when there are exactly H x W of them, in table order; else an error.
    ``image_shape="none"`` turns detection off.

    Parameters
    ----------
    table : pandas.DataFrame
    columns : list, optional
        The columns to look in (the dataset's feature columns). Default: every column.
    image_shape : (int, int), str or None
        See above; strings as in :func:`parse_image_shape`.
    owner : str
        Named in error messages.

    Returns
    -------
    PixelLayout or None
        None when the rows are not images.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> t = pd.DataFrame(np.zeros((2, 64)), columns=[f"pixel_{i}" for i in range(64)])
    >>> pixel_layout(t).shape
    (8, 8)
    >>> pixel_layout(t, image_shape="4x16").shape
    (4, 16)
    """
    shape = parse_image_shape(image_shape, owner=owner)
    if shape == "none":
        return None
    cols = list(table.columns if columns is None else columns)
    numeric = [c for c in cols if c in table.columns and pd.api.types.is_numeric_dtype(table[c])
               and not pd.api.types.is_bool_dtype(table[c])]
    groups = _named_groups(numeric)
    if isinstance(shape, tuple):
        return _given(table, numeric, groups, shape, owner)
    found = [(ordered, grid) for stem, ordered, grid in groups
             if len(ordered) >= MIN_PIXELS and (grid or math.isqrt(len(ordered)) ** 2 == len(ordered))
             and (_PIXEL_STEM.search(stem) or _non_negative(table, ordered))]
    if not found:
        return None
    ordered, grid = max(found, key=lambda g: len(g[0]))
    side = math.isqrt(len(ordered))
    return PixelLayout(tuple(ordered), grid or (side, side), "detected")


def _given(table: pd.DataFrame, numeric: list[Any], groups: list[tuple[str, list[Any], Any]],
           shape: tuple[int, int], owner: str) -> PixelLayout:
    size = shape[0] * shape[1]
    for _, ordered, _grid in sorted(groups, key=lambda g: -len(g[1])):
        if len(ordered) == size:
            return PixelLayout(tuple(ordered), shape, "given")
    if len(numeric) == size:
        return PixelLayout(tuple(numeric), shape, "given")
    named = ", ".join(f"{g[0] or '(no stem)'}* ({len(g[1])})" for g in groups[:5]) or "none"
    raise InputValidationError(
        f"image_shape {shape[0]}x{shape[1]} needs {size:,} numeric pixel columns, but the "
        f"feature columns hold {len(numeric):,} numeric columns and no group of {size:,} "
        f"numbered columns (numbered groups: {named}). Pass the shape of the images stored in "
        "the table (height x width = number of pixel columns), or leave image_shape out."
    )


def _named_groups(numeric: list[Any]) -> list[tuple[str, list[Any], tuple[int, int] | None]]:
    """(stem, columns in row-major order, grid shape or None) for each numbered group whose
    numbers are complete: ``0..n-1`` or ``1..n`` (one index), a full grid (two indices)."""
    flat: dict[str, dict[int, Any]] = {}
    grid: dict[str, dict[tuple[int, int], Any]] = {}
    for c in numeric:
        name = str(c)
        m = _GRID.match(name)
        if m:
            grid.setdefault((m.group(1) or "").lower(), {})[(int(m.group(2)), int(m.group(3)))] = c
            continue
        m = _FLAT.match(name)
        if m:
            flat.setdefault((m.group(1) or "").lower(), {})[int(m.group(2))] = c
    out: list[tuple[str, list[Any], tuple[int, int] | None]] = []
    for stem, idx in flat.items():
        keys = sorted(idx)
        if keys == list(range(keys[0], keys[0] + len(keys))) and keys[0] in (0, 1):
            out.append((stem, [idx[k] for k in keys], None))
    for stem, cells in grid.items():
        rows = sorted({r for r, _ in cells})
        cs = sorted({c for _, c in cells})
        if (len(cells) == len(rows) * len(cs) and rows == list(range(rows[0], rows[0] + len(rows)))
                and cs == list(range(cs[0], cs[0] + len(cs))) and rows[0] in (0, 1)
                and cs[0] in (0, 1)):
            out.append((stem, [cells[k] for k in sorted(cells)], (len(rows), len(cs))))
    out.sort(key=lambda g: -len(g[1]))
    return out


def _non_negative(table: pd.DataFrame, cols: list[Any]) -> bool:
    """No negative value in the group (on up to ``_SAMPLE_ROWS`` evenly spaced rows)."""
    n = len(table)
    if n == 0:
        return False
    rows = np.unique(np.linspace(0, n - 1, min(n, _SAMPLE_ROWS)).astype(np.int64))
    x = table.iloc[rows][cols].to_numpy(dtype=np.float64, na_value=np.nan)
    return bool(np.nanmin(x, initial=0.0) >= 0)
