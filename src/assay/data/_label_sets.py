"""Columns of label sets (a multi-label target): parse them into an indicator matrix, and tell
them from ordinary single-label columns. :mod:`assay.multilabel` re-exports both; they live here
because :func:`assay.data.infer_task` reads a column with them."""

from __future__ import annotations

import ast
import json
import math
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from assay._validation import check_choice
from assay.exceptions import InputValidationError, InvalidParameterError

__all__ = ["SEPARATORS", "format_label_set", "is_label_set_column", "label_set_form",
           "parse_label_sets"]

#: Separators :func:`parse_label_sets` looks for in ``"a,b"`` strings, when ``sep`` is None.
SEPARATORS = (",", ";", "|")
_SEQUENCES = (list, tuple, set, frozenset, np.ndarray, pd.Series)
#: Delimited values whose rows (this share or more) all have the same number of parts are judged
#: as a compound value unless names move between positions.
COMPOUND_SHARE = 0.95


# --------------------------------------------------------------------------------------------
# Parsing a column of label sets


def _cells(values: Any) -> list[Any]:
    """The cells of a column as a list of Python objects (a DataFrame column, array, list)."""
    if isinstance(values, pd.DataFrame):
        raise InputValidationError(
            f"values must be one column of label sets; got a DataFrame with {values.shape[1]} "
            "columns. Pass one column, e.g. frame['tags'].")
    if isinstance(values, pd.Series | pd.Index):
        return list(values.to_numpy(dtype=object))
    if isinstance(values, np.ndarray):
        if values.ndim != 1:
            raise InputValidationError(
                f"values must be one-dimensional (one label set per row); got shape "
                f"{values.shape}. An indicator matrix needs no parsing: pass it as labels.")
        return list(values.astype(object))
    if isinstance(values, str) or not hasattr(values, "__iter__"):
        raise InputValidationError(
            f"values must be a column of label sets (a list, Series or 1-d array); got "
            f"{type(values).__name__}. Wrap a single row in a list: [value].")
    return list(values)


def _is_missing(cell: Any) -> bool:
    if cell is None or cell is pd.NA or cell is pd.NaT:
        return True
    return isinstance(cell, float | np.floating) and math.isnan(cell)


def _looks_like_list(text: str) -> bool:
    return (text[:1] == "[" and text[-1:] == "]") or (text[:1] == "(" and text[-1:] == ")") or (
        text[:1] == "{" and text[-1:] == "}")


def _list_literal(text: str) -> list[Any] | None:
    """The elements of a JSON or Python list/tuple/set literal; None when it is not one."""
    for parse in (json.loads, ast.literal_eval):
        try:
            value = parse(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        if isinstance(value, list | tuple | set | frozenset):
            return list(value)
        return None
    return None


def _separators_in(strings: list[str]) -> dict[str, int]:
    """How many of the (non-list) strings hold each candidate separator."""
    counts = {s: sum(s in t for t in strings) for s in SEPARATORS}
    return {s: c for s, c in counts.items() if c}


def _detect_sep(strings: list[str]) -> str | None:
    """The one separator that occurs in the strings; None when none does.

    Raises when several do: which one separates the labels cannot be told then (a class name
    may hold a comma, ``"New York, NY;Boston, MA"``).
    """
    found = _separators_in(strings)
    if len(found) > 1:
        shown = ", ".join(f"{s!r} in {c} rows" for s, c in found.items())
        raise InputValidationError(
            f"Several separators occur in the label sets ({shown}), so which one separates the "
            "labels is ambiguous. Pass sep=..., e.g. parse_label_sets(column, sep=';').")
    return next(iter(found), None)


def _element(row: int, value: Any, cell: Any) -> Any:
    """One label of a set: a string (stripped) or a number; raises for anything else."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool) or _is_missing(value) or not isinstance(value, int | float):
        raise InputValidationError(
            f"Row {row}: the label set {cell!r} holds {value!r}, which is not a class name. "
            "Expected strings or integers, e.g. ['cat', 'dog'] or [0, 3]. Remove missing or "
            "nested values from the set.")
    return value


def _parse_cell(row: int, cell: Any, sep: str | None, missing: str) -> set[Any]:
    if _is_missing(cell):
        if missing == "empty":
            return set()
        raise InputValidationError(
            f"Row {row} has a missing value ({cell!r}) where a label set was expected. A "
            "missing value is not read as an empty set: write '' or [] for a row without "
            "labels, drop the row, or pass missing='empty' to read missing values as empty "
            "sets.")
    if isinstance(cell, _SEQUENCES):
        values = list(np.asarray(cell, dtype=object).ravel()) if isinstance(
            cell, np.ndarray | pd.Series) else list(cell)
    elif isinstance(cell, str):
        text = cell.strip()
        if not text:
            return set()
        if _looks_like_list(text):
            parsed = _list_literal(text)
            if parsed is None:
                raise InputValidationError(
                    f"Row {row}: {cell!r} looks like a list but is not a JSON or Python list "
                    "literal. Expected e.g. '[\"cat\", \"dog\"]' or \"['cat', 'dog']\" (quoted "
                    "names), or a delimited string such as 'cat,dog'.")
            values = parsed
        elif sep is not None:
            values = text.split(sep)
        else:
            values = [text]
    elif isinstance(cell, str | int | float | np.generic) and not isinstance(cell, bool):
        values = [cell]
    else:
        raise InputValidationError(
            f"Row {row} holds {type(cell).__name__} {cell!r}, which is not a label set. "
            "Expected a list, tuple or set of class names, a JSON list string, or a delimited "
            "string such as 'cat,dog'.")
    out = set()
    for v in values:
        e = _element(row, v, cell)
        if not (isinstance(e, str) and e == ""):
            out.add(e)
    return out


def _sorted_classes(names: set[Any]) -> np.ndarray:
    """Sorted class names: numbers stay numbers when all are, otherwise all become strings."""
    if names and all(isinstance(n, int) for n in names):
        return np.array(sorted(names), dtype=np.int64)
    if names and all(isinstance(n, int | float) for n in names):
        return np.array(sorted(names), dtype=np.float64)
    return np.array(sorted({str(n) for n in names}), dtype=str)


def parse_label_sets(
    values: Any, *, sep: str | None = None, missing: str = "error"
) -> tuple[np.ndarray, np.ndarray]:
    """A column of label sets as an indicator matrix and its classes.

    Parameters
    ----------
    values : array-like of shape (N,)
        One label set per row, as a list, tuple, set or array of class names; a JSON (or
        Python) list string such as ``'["a", "b"]'``; or a delimited string such as ``"a,b"``,
        ``"a;b"`` or ``"a|b"``. Names are stripped of surrounding whitespace; empty names
        (``"a,,b"``, a trailing separator) are dropped; a repeated name counts once. A scalar
        (``"a"``, ``3``) is a set of one. An explicitly empty set (``""``, ``"[]"``, ``[]``) is
        a row without labels.
    sep : str, optional
        The separator of delimited strings. Default: the one of ``,`` ``;`` ``|`` that occurs
        in the column (an error when several do; strings without any are sets of one).
    missing : {"error", "empty"}, default="error"
        What a missing value (None, NaN) means. A missing value is not an empty set unless you
        say so: with ``"error"`` it raises (naming the row); with ``"empty"`` it is read as a row
        without labels (a CSV writes an empty set as an empty field, which pandas reads as NaN).

    Returns
    -------
    indicator : ndarray of shape (N, K), uint8
        ``indicator[i, k] = 1`` when row i carries ``classes[k]``.
    classes : ndarray of shape (K,)
        Sorted class names: integers (or floats) when every name is one, otherwise strings
        (numbers then become their ``str``).

    Examples
    --------
    >>> from assay.multilabel import parse_label_sets
    >>> y, classes = parse_label_sets(["cat, dog", "dog", "", '["bird", "cat"]'])
    >>> classes.tolist()
    ['bird', 'cat', 'dog']
    >>> y.tolist()
    [[0, 1, 1], [0, 0, 1], [0, 0, 0], [1, 1, 0]]
    >>> parse_label_sets([[3, 1], [2], []])[1].tolist()
    [1, 2, 3]
    """
    cells = _cells(values)
    missing = check_choice("missing", missing, ("error", "empty"), owner="parse_label_sets")
    if sep is not None and not (isinstance(sep, str) and sep.strip()):
        raise InvalidParameterError("sep", "a non-blank string such as ',' or ';' (or None to "
                                    "detect it)", sep, owner="parse_label_sets")
    if sep is None:
        plain = [c.strip() for c in cells if isinstance(c, str)
                 and not _looks_like_list(c.strip())]
        sep = _detect_sep(plain)
    sets = [_parse_cell(i, c, sep, missing) for i, c in enumerate(cells)]
    names: set[Any] = set().union(*sets) if sets else set()
    classes = _sorted_classes(names)
    as_str = classes.dtype.kind == "U"
    index = {(str(c) if as_str else c): j for j, c in enumerate(classes.tolist())}
    y = np.zeros((len(sets), len(classes)), dtype=np.uint8)
    for i, s in enumerate(sets):
        for name in s:
            y[i, index[str(name) if as_str else name]] = 1
    return y, classes


def _sequence_is_label_set(seqs: list[list[Any]]) -> bool:
    """Lists of class names (strings or integers), not vectors of numbers."""
    flat = [v.item() if isinstance(v, np.generic) else v for s in seqs for v in s]
    if not flat:
        return True
    if not all(isinstance(v, str | int) and not isinstance(v, bool) for v in flat):
        return False  # floats (embeddings), missing or nested values
    lengths = {len(s) for s in seqs}
    if all(isinstance(v, int) for v in flat) and len(lengths) == 1 and lengths.pop() > 1:
        return False  # every row the same number of integers: a vector, not a set
    return True


def _parts_are_label_sets(parts: list[list[str]]) -> bool:
    """Delimited parts that recur as a small vocabulary, with some rows holding several."""
    n = len(parts)
    multi = [p for p in parts if len(p) >= 2]
    if len(multi) < 2 or len(multi) < 0.05 * n:
        return False
    rows_with = Counter(name for p in parts for name in set(p))
    vocab = len(rows_with)
    if vocab > max(10, n // 2):
        return False  # nearly as many distinct parts as rows: free text or identifiers
    if sum(c >= 2 for c in rows_with.values()) < 0.8 * vocab:
        return False  # the parts do not recur across rows
    if all(_is_float_text(name) for name in rows_with) and any("." in name for name in rows_with):
        return False  # numbers with decimals ("3.5, 4.2"): coordinates or measurements
    arity = {len(p) for p in multi}
    # (nearly) every row has the same number of parts: a compound value ("City, ST") unless the
    # same names appear at different positions. Rows of one part ("even" beside "even|loop")
    # make it a set, even when a canonical order keeps each name at one position.
    if len(arity) == 1 and len(multi) >= COMPOUND_SHARE * n:
        k = arity.pop()
        positions: dict[str, set[int]] = {}
        for p in multi:
            for j, name in enumerate(p):
                positions.setdefault(name, set()).add(j)
        moving = sum(len(v) > 1 for v in positions.values())
        if k >= 2 and moving < 0.1 * len(positions):
            return False
    return True


def _is_float_text(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def is_label_set_column(values: Any) -> bool:
    """Whether a column clearly holds label sets rather than single labels or free text.

    True for a column with list, tuple or set values of class names (strings or integers; not
    vectors of floats, nor rows of equally many integers); for JSON list strings
    (``'["a", "b"]'``, at least 90 % of the non-empty strings); and for delimited strings
    (``,`` ``;`` or ``|``, exactly one of them occurring) where at least 5 % of the rows (and
    two or more) hold several parts, the parts recur (at least 80 % of the distinct parts occur
    in two rows or more) as a vocabulary of at most half as many names as rows (or 10), and the
    parts are not a compound value: rows of always the same number of parts whose names keep their
    positions (``"Springfield, IL"``) are not label sets, nor are decimal numbers
    (``"3.5, 4.2"``).

    Parameters
    ----------
    values : array-like of shape (N,)

    Returns
    -------
    bool

    Examples
    --------
    >>> from assay.multilabel import is_label_set_column
    >>> is_label_set_column(["comedy|drama", "drama", "action|comedy", "drama|action", "comedy"])
    True
    >>> is_label_set_column(["Austin, TX", "Dallas, TX", "Austin, TX", "Reno, NV", "Dallas, TX"])
    False
    >>> is_label_set_column(["cat", "dog", "cat"])
    False
    """
    try:
        cells = [c for c in _cells(values) if not _is_missing(c)]
    except InputValidationError:
        return False
    if not cells:
        return False
    seqs = [c for c in cells if isinstance(c, _SEQUENCES)]
    if seqs:
        return _sequence_is_label_set([list(np.asarray(s, dtype=object).ravel())
                                       if isinstance(s, np.ndarray | pd.Series) else list(s)
                                       for s in seqs])
    if not all(isinstance(c, str) for c in cells):
        return False
    strings = [c.strip() for c in cells if c.strip()]
    if len(strings) < 2:
        return False
    listlike = [s for s in strings if _looks_like_list(s)]
    if len(listlike) >= 0.9 * len(strings):
        parsed = [_list_literal(s) for s in listlike]
        if any(p is None for p in parsed):
            return False
        return _sequence_is_label_set([p for p in parsed if p is not None])
    found = _separators_in(strings)
    if len(found) != 1:
        return False
    sep = next(iter(found))
    parts = [[q.strip() for q in s.split(sep) if q.strip()] for s in strings]
    return _parts_are_label_sets(parts)


def label_set_form(values: Any) -> dict[str, Any]:
    """How a column writes its label sets, so corrected sets are written back the same way.

    Returns ``{"kind": "list"}`` (list cells, e.g. Parquet or a DataFrame), ``{"kind": "json"}``
    (``'["a", "b"]'`` strings) or ``{"kind": "delimited", "sep": ","}``.

    Examples
    --------
    >>> from assay.data import label_set_form
    >>> label_set_form(["a|b", "b", "a"]), label_set_form(['["a"]', "[]"])
    ({'kind': 'delimited', 'sep': '|'}, {'kind': 'json'})
    """
    cells = [c for c in _cells(values) if not _is_missing(c)]
    if any(isinstance(c, _SEQUENCES) for c in cells):
        return {"kind": "list"}
    strings = [c.strip() for c in cells if isinstance(c, str) and c.strip()]
    if strings and sum(_looks_like_list(t) for t in strings) >= 0.9 * len(strings):
        return {"kind": "json"}
    return {"kind": "delimited", "sep": _detect_sep(strings) or ","}


def format_label_set(names: Any, form: dict[str, Any]) -> Any:
    """One label set written in a column's form (:func:`label_set_form`): a list, a JSON list
    string, or names joined by the separator (class names sorted as given).

    Examples
    --------
    >>> from assay.data import format_label_set
    >>> format_label_set(["a", "b"], {"kind": "delimited", "sep": ","})
    'a,b'
    >>> format_label_set([], {"kind": "json"})
    '[]'
    """
    items = [v.item() if hasattr(v, "item") else v for v in names]
    kind = form.get("kind")
    if kind == "list":
        return items
    if kind == "json":
        return json.dumps(items)
    return str(form.get("sep") or ",").join(str(v) for v in items)
