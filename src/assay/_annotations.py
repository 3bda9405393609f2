"""Long tables of annotations: validation and label encoding.

Shared by :mod:`assay.agreement` and :mod:`assay.consensus`, which both read a long table, one
row per rating ``(item, annotator, label)``; it lives here so that neither imports the other's
internals (``assay.agreement`` uses ``assay.consensus``, never the other way round). Private.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from assay._validation import did_you_mean
from assay.exceptions import InputValidationError

__all__ = ["check_columns", "encode_values", "long_frame"]

_NUMERIC_KINDS = {"integer", "floating", "mixed-integer-float", "decimal", "boolean"}


def encode_values(
    values: np.ndarray, *, name: str, categories: Sequence[Any] | None = None
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Encode a 1-d array of labels (missing allowed) as int64 codes with -1 for missing.

    Parameters
    ----------
    values : array-like of shape (n,)
        The labels: all strings or all numbers; ``NaN``, ``None`` and ``pd.NA`` are missing.
    name : str
        What the values are, for error messages (e.g. ``"label column 'y'"``).
    categories : sequence or None, default None
        The categories in order; every present value must be one of them. None: the sorted
        distinct values (or the categories of an ordered pandas Categorical).

    Returns
    -------
    codes : numpy.ndarray of shape (n,)
        int64 index into ``categories`` per value, ``-1`` where missing.
    categories : numpy.ndarray
        The ordered categories (float64 when numeric, else object).
    numeric : bool
        Whether the categories are numbers (interval and ratio levels need them).

    Raises
    ------
    InputValidationError
        When the values mix types, include infinities, or fall outside ``categories``, or
        ``categories`` repeats an entry.

    Examples
    --------
    >>> codes, cats, numeric = encode_values(["b", None, "a", "b"], name="labels")
    >>> codes.tolist(), cats.tolist(), numeric
    ([1, -1, 0, 1], ['a', 'b'], False)
    """
    if isinstance(values, pd.Categorical | pd.Series) and isinstance(
        getattr(values, "dtype", None), pd.CategoricalDtype
    ):
        cat = pd.Categorical(values)
        if categories is None and cat.ordered:
            categories = list(cat.categories)
        values = np.asarray(cat.astype(object))
    arr = np.asarray(values)
    if arr.dtype.kind in "biuf":
        missing = np.isnan(arr) if arr.dtype.kind == "f" else np.zeros(arr.shape, dtype=bool)
        present = arr[~missing]
        if present.size and not np.all(np.isfinite(present)):
            raise InputValidationError(
                f"{name} contains infinite values. Ratings must be finite category values; "
                "mark a missing rating with NaN."
            )
        numeric = True
    else:
        missing = np.asarray(pd.isna(arr), dtype=bool)
        present = arr[~missing]
        kind = pd.api.types.infer_dtype(present, skipna=False) if present.size else "empty"
        if kind.startswith("mixed") and kind != "mixed-integer-float":
            types = sorted({type(v).__name__ for v in present[:10_000]})
            raise InputValidationError(
                f"{name} mixes label types ({', '.join(types)}). Expected one type for every "
                "rating (all strings or all numbers). Convert the label column to one type, "
                "e.g. df[label] = df[label].astype(str)."
            )
        numeric = kind in _NUMERIC_KINDS
        if numeric:
            present = present.astype(np.float64) if kind != "boolean" else present.astype(bool)
    codes = np.full(arr.shape, -1, dtype=np.int64)
    if categories is not None:
        cats = pd.Index(list(categories))
        if cats.has_duplicates:
            raise InputValidationError(
                f"categories has duplicate entries: {list(cats[cats.duplicated()])}. "
                "Pass each category once, in scale order."
            )
        idx = cats.get_indexer(pd.Index(present)) if present.size else np.empty(0, np.int64)
        if np.any(idx < 0):
            unknown = pd.unique(present[idx < 0])[:5]
            raise InputValidationError(
                f"{name} has values not in `categories`: {list(unknown)}. Add them to "
                f"categories ({list(cats)[:10]}) or fix the labels."
            )
        codes[~missing] = idx
        numeric = bool(len(cats)) and pd.api.types.is_numeric_dtype(cats)
        return codes, cats.to_numpy(dtype=np.float64 if numeric else object), numeric
    if present.size == 0:
        return codes, np.empty(0), numeric
    inv, uniq = pd.factorize(present, sort=True)
    codes[~missing] = inv
    cat_values = np.asarray(uniq)
    if numeric:
        cat_values = cat_values.astype(np.float64) if cat_values.dtype != bool else cat_values
    else:
        cat_values = cat_values.astype(object)
    return codes, cat_values, numeric


def check_columns(frame: pd.DataFrame, cols: dict[str, Any]) -> None:
    """Raise unless every named column is in ``frame`` (a None name is skipped).

    Parameters
    ----------
    frame : pandas.DataFrame
        The table to look in.
    cols : dict of str to str or None
        Role (for the message, e.g. ``"item"``) -> column name.

    Returns
    -------
    None

    Raises
    ------
    InputValidationError
        When a column is missing; the message suggests the closest column name.
    """
    for role, col in cols.items():
        if col is None:
            continue
        if col not in frame.columns:
            raise InputValidationError(
                f"Column {col!r} (the {role} column) not found.{did_you_mean(col, frame.columns)}"
                f" Columns: {', '.join(map(str, frame.columns[:20]))}."
            )


def long_frame(
    annotations: Any, *, item: str, annotator: str, label: str, round: str | None = None
) -> pd.DataFrame:
    """Validate a long table of ratings and return its rating columns, missing labels dropped.

    Parameters
    ----------
    annotations : pandas.DataFrame
        Long table, one row per rating.
    item, annotator, label : str
        Column names; they must differ, and items and annotators must not be missing.
    round : str or None, default None
        Optional column of the annotation round.

    Returns
    -------
    pandas.DataFrame
        The columns ``[item, annotator, label]`` (and ``round``), rows with a missing label
        dropped.

    Raises
    ------
    InputValidationError
        When ``annotations`` is not a DataFrame, a column is missing or repeated, or an item or
        annotator is missing.

    Examples
    --------
    >>> import pandas as pd
    >>> long = pd.DataFrame({"id": [1, 1, 2], "who": ["a", "b", "a"], "y": ["x", None, "z"]})
    >>> long_frame(long, item="id", annotator="who", label="y")["y"].tolist()
    ['x', 'z']
    """
    if not isinstance(annotations, pd.DataFrame):
        raise InputValidationError(
            f"annotations must be a pandas DataFrame in long format (one row per rating with "
            f"item, annotator and label columns); got {type(annotations).__name__}. Read the file "
            "with assay.data.read_table or pandas first."
        )
    check_columns(
        annotations, {"item": item, "annotator": annotator, "label": label, "round": round}
    )
    cols = [item, annotator, label] + ([round] if round is not None else [])
    if len(set(cols)) != len(cols):
        raise InputValidationError(
            f"The item, annotator, label (and round) columns must differ; got {cols}."
        )
    frame = annotations[cols]
    for role, col in (("item", item), ("annotator", annotator)):
        n_missing = int(frame[col].isna().sum())
        if n_missing:
            raise InputValidationError(
                f"The {role} column {col!r} has {n_missing} missing value(s). Every rating needs "
                f"an {role}; drop those rows or fill them in."
            )
    return frame[frame[label].notna()]
