"""Which task a label column is: classes to tell apart, or a number to predict."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from assay.exceptions import InputValidationError

__all__ = ["MAX_CLASS_VALUES", "MIN_DISTINCT_SHARE", "TASKS", "TaskChoice", "infer_task",
           "numeric_target"]

#: The tasks of an audit; ``auto`` picks one of the others with :func:`infer_task` (the audit
#: first asks whether the label holds boxes, ``detection``, or tags the tokens of another
#: column, ``tokens``).
TASKS = ("auto", "classification", "regression", "multilabel", "tokens", "detection")
#: :func:`infer_task` looks for label sets in at most this many rows (evenly spaced).
LABEL_SET_SAMPLE = 20_000
#: A numeric label with at most this many distinct values is read as classes.
MAX_CLASS_VALUES = 20
#: An integer label with more distinct values is read as numbers only when at least this share
#: of the rows holds a distinct value (class codes repeat; measurements rarely do).
MIN_DISTINCT_SHARE = 0.05


@dataclass(frozen=True)
class TaskChoice:
    """The task of a label column and why.

    Attributes
    ----------
    task : {"classification", "regression", "multilabel"}
    reason : str
        One sentence, shown by the audit.
    n_distinct : int
        Distinct values of the column.
    """

    task: str
    reason: str
    n_distinct: int


def infer_task(values: Any) -> TaskChoice:
    """Classification, regression or multi-label, from the label column alone.

    The rule: a column of label sets (:func:`assay.data.is_label_set_column`: lists, JSON list
    strings, or ``"a,b"`` strings whose parts recur as a small vocabulary) is multi-label.
    Another column that is not numeric (strings, booleans, categories) holds classes. A
    numeric column with at most 20 distinct values holds classes too (codes such as 0-9, or
    ratings 1-5). With more than 20 it is a number to predict when some value has a fraction
    (a measurement), or when at least 5 % of the rows hold a distinct value, unless its values
    are exactly the codes ``0..K-1`` or ``1..K``. An integer column with many rows per value
    (over 20 values, each held by 20 rows or more on average) stays classes: class codes repeat,
    measurements of that resolution rarely do. Ambiguous cases (ages in years over 30,000 rows)
    take the first reading; pass the task explicitly to override.

    Parameters
    ----------
    values : array-like or pandas.Series of shape (N,)
        The label column (missing values are ignored).

    Returns
    -------
    TaskChoice

    Examples
    --------
    >>> from assay.data import infer_task
    >>> infer_task(["cat", "dog", "cat"]).task
    'classification'
    >>> infer_task([0, 1, 2, 3, 4] * 40).task
    'classification'
    >>> infer_task([0.5 * i for i in range(100)]).task
    'regression'
    """
    col = pd.Series(values) if not isinstance(values, pd.Series) else values
    col = col.dropna()
    n = len(col)
    if not pd.api.types.is_numeric_dtype(col) and _holds_label_sets(col):
        from assay.data._label_sets import parse_label_sets

        _, classes = parse_label_sets(col, missing="empty")
        return TaskChoice("multilabel", "the label holds sets of classes (lists, or delimited "
                          f"names that recur: {len(classes)} classes)", len(classes))
    if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        n_distinct = int(col.nunique())
        return TaskChoice("classification", "the label is not numeric, so it holds classes",
                          n_distinct)
    v = col.to_numpy(dtype=np.float64)
    v = v[np.isfinite(v)]
    distinct = np.unique(v)
    k = int(distinct.size)
    if k <= MAX_CLASS_VALUES:
        return TaskChoice("classification", f"the label is numeric with {k} distinct values "
                          f"(at most {MAX_CLASS_VALUES}: read as class codes)", k)
    fractional = bool(np.any(distinct != np.round(distinct)))
    if fractional:
        return TaskChoice("regression", f"the label is numeric with {k} distinct values, some "
                          "with a fraction (read as a measurement)", k)
    codes = bool(np.array_equal(distinct, np.arange(k)) or
                 np.array_equal(distinct, np.arange(1, k + 1)))
    share = k / max(n, 1)
    if share >= MIN_DISTINCT_SHARE and not codes:
        return TaskChoice("regression", f"the label holds {k} distinct whole numbers, "
                          f"{share:.0%} of the rows (read as a count or measurement)", k)
    why = ("exactly the codes 0..K-1 or 1..K" if codes else
           f"{n / k:.0f} rows per value on average")
    return TaskChoice("classification", f"the label holds {k} distinct whole numbers, {why} "
                      "(read as class codes; pass the task 'regression' if it is a number)", k)


def _holds_label_sets(col: pd.Series) -> bool:
    """Whether a non-numeric column holds label sets (:func:`assay.data.is_label_set_column`),
    judged on at most :data:`LABEL_SET_SAMPLE` evenly spaced rows."""
    from assay.data._label_sets import is_label_set_column

    if len(col) > LABEL_SET_SAMPLE:
        col = col.iloc[np.linspace(0, len(col) - 1, LABEL_SET_SAMPLE).astype(np.int64)]
    return is_label_set_column(col.to_numpy(dtype=object))


def numeric_target(values: Any, *, column: str = "label") -> np.ndarray:
    """The label column as finite float64 numbers, for a regression task.

    Raises
    ------
    InputValidationError
        When the column is not numeric or holds missing or infinite values.

    Examples
    --------
    >>> from assay.data import numeric_target
    >>> numeric_target([1, 2.5, 3]).tolist()
    [1.0, 2.5, 3.0]
    """
    col = pd.Series(values) if not isinstance(values, pd.Series) else values
    if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        example = next((repr(x) for x in col.dropna().head(1)), "none")
        raise InputValidationError(
            f"The task 'regression' needs a numeric label, but the column '{column}' holds "
            f"{col.dtype} values (e.g. {example}). Pass the task 'classification', or convert "
            "the column to numbers.")
    v = col.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(v)
    if bad.any():
        rows = np.flatnonzero(bad)[:5].tolist()
        raise InputValidationError(
            f"The label column '{column}' has {int(bad.sum())} missing or infinite value(s) "
            f"(rows {rows}). Drop those rows or fill them in first.")
    return v
