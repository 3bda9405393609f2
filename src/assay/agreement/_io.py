"""Input handling: long tables, wide matrices and encoded ratings.

Everything public in :mod:`assay.agreement` turns its input into a :class:`Ratings` object: a
``(coders, units)`` int64 code matrix with ``-1`` for a missing rating, plus the ordered
categories. Missing ratings (``NaN``, ``None``, ``pd.NA``) are dropped, never counted as a
category; coders without a single rating and units without a single rating are removed.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from assay._annotations import check_columns, encode_values, long_frame
from assay._kernels.agreement import unit_counts
from assay._validation import check_choice
from assay.exceptions import InputValidationError

LEVELS = ("nominal", "ordinal", "interval", "ratio")

class Ratings:
    """Encoded ratings: ``codes`` (R, U) int64 with -1 missing, and ordered ``categories``.

    Private container; build one with :func:`as_ratings` or :func:`ratings_from_long`.
    """

    def __init__(
        self,
        codes: np.ndarray,
        categories: np.ndarray,
        *,
        numeric: bool,
        coders: Sequence[Any] | None = None,
        units: Sequence[Any] | None = None,
        dropped_coders: Sequence[Any] = (),
        ordered: bool = False,
    ) -> None:
        self.codes = codes
        self.categories = categories
        self.numeric = numeric
        self.coders = list(range(codes.shape[0])) if coders is None else list(coders)
        self.units = list(range(codes.shape[1])) if units is None else list(units)
        self.dropped_coders = list(dropped_coders)
        self.ordered = ordered or numeric
        # Positions of the kept units in the input (units without any rating are dropped).
        self.unit_index = np.arange(codes.shape[1])
        self.n_input_units = codes.shape[1]

    @property
    def n_categories(self) -> int:
        return int(self.categories.shape[0])

    @cached_property
    def counts(self) -> np.ndarray:
        """``(U, K)`` float64 counts of ratings per unit and category."""
        return unit_counts(self.codes, self.n_categories)

    @cached_property
    def n_ratings_per_unit(self) -> np.ndarray:
        return (self.codes >= 0).sum(axis=0)


def check_level(level: Any, *, owner: str) -> str:
    """Validate a level of measurement name."""
    return check_choice("level", level, LEVELS, owner=owner)


def as_ratings(
    reliability_data: Any,
    *,
    categories: Sequence[Any] | None = None,
    name: str = "reliability_data",
    min_coders: int = 1,
) -> Ratings:
    """Validate a ``(coders, units)`` matrix (NaN/None for missing) and encode it."""
    if isinstance(reliability_data, Ratings):
        return reliability_data
    coders = units = None
    if isinstance(reliability_data, pd.DataFrame):
        coders, units = list(reliability_data.index), list(reliability_data.columns)
        arr = reliability_data.to_numpy(dtype=object) if any(
            not pd.api.types.is_numeric_dtype(t) for t in reliability_data.dtypes
        ) else reliability_data.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        try:
            arr = np.asarray(reliability_data)
        except ValueError as exc:
            raise InputValidationError(
                f"{name} could not be read as a (coders, units) matrix ({exc}). Pass a 2-d array "
                "with one row per coder and one column per unit, NaN for missing ratings."
            ) from exc
    if arr.ndim != 2:
        raise InputValidationError(
            f"{name} must be a 2-d (coders, units) matrix; got shape {arr.shape}. Pass one row "
            "per coder and one column per unit (NaN for a missing rating), or a long table "
            "through assay.agreement.to_reliability_data."
        )
    codes, cats, numeric = encode_values(arr.ravel(), name=name, categories=categories)
    codes = codes.reshape(arr.shape)
    ratings = _finish(codes, cats, numeric, coders, units, name=name, min_coders=min_coders)
    ratings.ordered = ratings.ordered or categories is not None
    return ratings


def _finish(
    codes: np.ndarray,
    cats: np.ndarray,
    numeric: bool,
    coders: list[Any] | None,
    units: list[Any] | None,
    *,
    name: str,
    min_coders: int,
) -> Ratings:
    if codes.size == 0 or not np.any(codes >= 0):
        raise InputValidationError(
            f"{name} has no ratings (shape {codes.shape}, every value missing). Pass at least "
            "one unit rated by two coders."
        )
    coders = list(range(codes.shape[0])) if coders is None else coders
    units = list(range(codes.shape[1])) if units is None else units
    has_coder = (codes >= 0).any(axis=1)
    has_unit = (codes >= 0).any(axis=0)
    dropped = [coders[i] for i in np.flatnonzero(~has_coder)]
    codes = codes[has_coder][:, has_unit]
    coders = [coders[i] for i in np.flatnonzero(has_coder)]
    units = [units[i] for i in np.flatnonzero(has_unit)]
    if codes.shape[0] < min_coders:
        raise InputValidationError(
            f"{name} has {codes.shape[0]} coder(s) with at least one rating; this coefficient "
            f"needs {min_coders}. Check the annotator column, or use a coefficient for more coders."
        )
    ratings = Ratings(
        codes, cats, numeric=numeric, coders=coders, units=units, dropped_coders=dropped
    )
    ratings.unit_index = np.flatnonzero(has_unit)
    ratings.n_input_units = int(has_unit.shape[0])
    return ratings


def require_pairable(ratings: Ratings, *, name: str = "reliability_data") -> None:
    """Raise unless some unit has two or more ratings (agreement needs pairs)."""
    if not np.any(ratings.n_ratings_per_unit >= 2):
        raise InputValidationError(
            f"No unit in {name} has two or more ratings, so agreement cannot be measured "
            f"({len(ratings.units)} unit(s), each rated once). Have at least some items labelled "
            "by two or more annotators."
        )


def check_level_values(ratings: Ratings, level: str, *, owner: str) -> None:
    """Raise when the labels cannot carry the requested level of measurement."""
    if level in ("interval", "ratio") and not ratings.numeric:
        raise InputValidationError(
            f"level={level!r} needs numeric labels, but the labels are categories such as "
            f"{list(ratings.categories[:3])}. Use level='nominal' (or 'ordinal' with an explicit "
            f"`categories` order) in {owner}, or convert the labels to numbers."
        )
    if level == "ratio" and ratings.numeric and np.any(ratings.categories.astype(float) < 0):
        raise InputValidationError(
            f"level='ratio' needs non-negative values (a ratio scale has an absolute zero); got "
            f"a minimum of {float(np.min(ratings.categories))}. Use level='interval' in {owner}."
        )
    if level == "ordinal" and not ratings.ordered:
        raise InputValidationError(
            f"level='ordinal' needs an order of the categories, but the labels are text such as "
            f"{list(ratings.categories[:3])}, and alphabetical order is rarely the scale order. "
            f"Pass categories=[...] in scale order to {owner} (or an ordered pandas Categorical)."
        )


def ratings_from_long(
    annotations: Any,
    *,
    item: str,
    annotator: str,
    label: str,
    categories: Sequence[Any] | None = None,
    min_coders: int = 1,
    all_annotators: Sequence[Any] | None = None,
) -> Ratings:
    """Encode a long table ``(item, annotator, label)`` into :class:`Ratings`."""
    frame = long_frame(annotations, item=item, annotator=annotator, label=label)
    dup = frame.duplicated([item, annotator])
    if dup.any():
        first = frame.loc[dup, [item, annotator]].iloc[0].tolist()
        raise InputValidationError(
            f"{int(dup.sum())} (item, annotator) pair(s) have more than one label, e.g. item "
            f"{first[0]!r} by annotator {first[1]!r}. Keep one label per annotator per item (or "
            "pass a round column when items were relabelled in later guideline rounds)."
        )
    label_codes, cats, numeric = encode_values(
        frame[label], name=f"label column {label!r}", categories=categories
    )
    ordered = isinstance(frame[label].dtype, pd.CategoricalDtype) and frame[label].cat.ordered
    item_codes, items = pd.factorize(frame[item], sort=False)
    coder_codes, coders = pd.factorize(frame[annotator], sort=True)
    coders = list(coders)
    dropped: list[Any] = []
    if all_annotators is not None:
        dropped = sorted(set(all_annotators) - set(coders), key=str)
    if len(items) == 0:
        raise InputValidationError(
            f"The label column {label!r} has no ratings (every value missing). Pass a table with "
            "labelled rows."
        )
    codes = np.full((len(coders), len(items)), -1, dtype=np.int64)
    codes[coder_codes, item_codes] = label_codes
    ratings = _finish(
        codes, cats, numeric, coders, list(items), name="annotations", min_coders=min_coders
    )
    ratings.dropped_coders = dropped
    ratings.ordered = bool(ratings.ordered or ordered or categories is not None)
    return ratings


def to_reliability_data(
    annotations: pd.DataFrame, *, item: str, annotator: str, label: str
) -> pd.DataFrame:
    """Pivot a long table of ratings into a ``(coders, units)`` reliability matrix.

    Parameters
    ----------
    annotations : pandas.DataFrame
        One row per rating.
    item, annotator, label : str
        Column names of the rated item, the annotator and the label. Rows with a missing label are
        dropped (missing ratings are never a category).

    Returns
    -------
    pandas.DataFrame
        Annotators as rows, items as columns, ``NaN`` (or ``None``) where an annotator did not
        rate an item. Every array function of :mod:`assay.agreement` accepts it.

    Raises
    ------
    InputValidationError
        On a missing column, a missing item/annotator, or an annotator labelling an item twice.

    Examples
    --------
    >>> import pandas as pd
    >>> long = pd.DataFrame({"id": [1, 1, 2], "who": ["a", "b", "a"], "y": ["x", "x", "z"]})
    >>> to_reliability_data(long, item="id", annotator="who", label="y").shape
    (2, 2)
    """
    frame = long_frame(annotations, item=item, annotator=annotator, label=label)
    dup = frame.duplicated([item, annotator])
    if dup.any():
        first = frame.loc[dup, [item, annotator]].iloc[0].tolist()
        raise InputValidationError(
            f"{int(dup.sum())} (item, annotator) pair(s) have more than one label, e.g. item "
            f"{first[0]!r} by annotator {first[1]!r}. Keep one label per annotator per item."
        )
    wide = frame.pivot(index=annotator, columns=item, values=label)
    wide.index.name, wide.columns.name = annotator, item
    return wide


def wide_to_long(
    frame: pd.DataFrame, *, item: str, annotators: Sequence[str] | None = None
) -> pd.DataFrame:
    """Melt a wide table (one row per item, one column per annotator) into long format.

    Returns columns ``item``, ``"annotator"`` and ``"label"``; missing ratings are dropped.

    Examples
    --------
    >>> import pandas as pd
    >>> wide = pd.DataFrame({"id": [1, 2], "ann1": ["a", "b"], "ann2": ["a", None]})
    >>> wide_to_long(wide, item="id").shape
    (3, 3)
    """
    if not isinstance(frame, pd.DataFrame):
        raise InputValidationError(
            f"frame must be a pandas DataFrame with an item column and one column per annotator; "
            f"got {type(frame).__name__}."
        )
    check_columns(frame, {"item": item})
    cols = [c for c in frame.columns if c != item] if annotators is None else list(annotators)
    check_columns(frame, {f"annotator {c!r}": c for c in cols})
    if not cols:
        raise InputValidationError(
            f"The wide table has no annotator columns besides the item column {item!r}. Pass one "
            "column per annotator."
        )
    long = frame.melt(id_vars=[item], value_vars=cols, var_name="annotator", value_name="label")
    return long[long["label"].notna()].reset_index(drop=True)
