"""Leak-free splitting: stratified by label, never separating a group or a duplicate set.

:func:`make_splits` assigns every row to a split (``train`` / ``valid`` / ``test`` by default).
Rows that must stay together form *units*: the connected components of the graph whose edges
join rows of one group and rows that are exact or near copies of each other (the same
near-copy rule as :func:`assay.leakage.find_leakage`). Units of several rows are placed first,
largest first, each into the split where it overfills its per-class targets least; single rows
then fill each split's remaining per-class targets exactly. Tail classes get at least
``min_per_class`` rows in every evaluation split when they have enough rows for it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from assay._validation import (
    check_1d,
    check_choice,
    check_features,
    check_int,
    check_random_state,
    check_same_length,
)
from assay.exceptions import InputValidationError, InvalidParameterError
from assay.leakage import NEAR_FACTOR, _duplicate_edges, _group_codes

__all__ = ["make_splits", "split_units"]


def split_units(
    n_rows: int,
    *,
    features: Any = None,
    group: Any = None,
    metric: str = "cosine",
    near_factor: float = NEAR_FACTOR,
    k: int = 10,
) -> np.ndarray:
    """Ids of the units that must not be split: groups joined with duplicate sets.

    Parameters
    ----------
    n_rows : int
        Number of rows.
    features : array-like of shape (N, d), optional
        When given, exact and near copies (distance at most ``near_factor`` times the median
        nearest-neighbour distance, among the ``k`` nearest) are joined.
    group : array-like of shape (N,), optional
        Rows with the same value are joined. No missing values.
    metric : {"cosine", "euclidean"}, default="cosine"
    near_factor : float, default=NEAR_FACTOR
    k : int, default=10

    Returns
    -------
    ndarray of shape (N,), int64
        Unit id of each row (connected components), ``0..U-1``.

    Examples
    --------
    >>> from assay.splits import split_units
    >>> split_units(4, group=["a", "b", "a", "c"]).tolist()
    [0, 1, 0, 2]
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    owner = "split_units"
    n_rows = check_int("n_rows", n_rows, low=1, owner=owner)
    rows_i: list[np.ndarray] = []
    rows_j: list[np.ndarray] = []
    if group is not None:
        codes = _group_codes(group, n_rows=n_rows, owner=owner)
        order = np.argsort(codes, kind="stable")
        same = codes[order][1:] == codes[order][:-1]
        rows_i.append(order[:-1][same])
        rows_j.append(order[1:][same])
    if features is not None:
        x = check_features(features, n_rows=n_rows)
        metric = check_choice("metric", metric, ("cosine", "euclidean"), owner=owner)
        if n_rows >= 2:
            ei, ej, _ = _duplicate_edges(
                x, metric=metric, near_factor=float(near_factor), near_threshold=None, k=k
            )
            rows_i.append(ei)
            rows_j.append(ej)
    if not rows_i:
        return np.arange(n_rows, dtype=np.int64)
    i = np.concatenate(rows_i)
    j = np.concatenate(rows_j)
    adj = coo_matrix((np.ones(i.size, dtype=np.int8), (i, j)), shape=(n_rows, n_rows)).tocsr()
    _, comp = connected_components(adj, directed=False)
    # renumber by first appearance so ids do not depend on scipy's traversal order
    _, first = np.unique(comp, return_index=True)
    rank = np.empty(first.size, dtype=np.int64)
    rank[np.argsort(first)] = np.arange(first.size)
    return rank[comp]


def make_splits(
    labels: Any,
    *,
    features: Any = None,
    group: Any = None,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    names: Sequence[str] = ("train", "valid", "test"),
    min_per_class: int = 1,
    metric: str = "cosine",
    near_factor: float = NEAR_FACTOR,
    random_state: Any = 0,
) -> np.ndarray:
    """Split rows into train / valid / test without leaks, stratified by label.

    Parameters
    ----------
    labels : array-like of shape (N,)
        Class of each row (any hashable values; no missing values).
    features : array-like of shape (N, d), optional
        When given, exact and near copies are kept in one split (see :func:`split_units`).
    group : array-like of shape (N,), optional
        Rows of one group (patient, speaker, source) are kept in one split.
    fractions : sequence of float, default=(0.8, 0.1, 0.1)
        Share of rows per split; positive, summing to 1.
    names : sequence of str, default=("train", "valid", "test")
        Split names, one per fraction. The first is the training split; the others are
        evaluation splits.
    min_per_class : int, default=1
        Every class with at least ``min_per_class * len(names)`` rows gets at least this many
        rows in each evaluation split (taken from its training share). Classes too small for it
        are named in a ``UserWarning``.
    metric : {"cosine", "euclidean"}, default="cosine"
        Distance for near copies (only with ``features``).
    near_factor : float, default=NEAR_FACTOR
        Near-copy threshold as a multiple of the median nearest-neighbour distance.
    random_state : int, Generator or None, default=0
        Seed; the same seed gives the same split.

    Returns
    -------
    ndarray of shape (N,), object
        The split name of each row.

    Raises
    ------
    InvalidParameterError
        Fractions that are not positive, do not sum to 1 or do not match ``names``.
    InputValidationError
        Missing labels or groups, or too few rows (or units) for the requested splits.

    Examples
    --------
    >>> import numpy as np
    >>> from assay.splits import make_splits
    >>> y = np.repeat([0, 1], 50)
    >>> s = make_splits(y, fractions=(0.6, 0.2, 0.2), random_state=0)
    >>> sorted((name, int((s == name).sum())) for name in set(s))
    [('test', 20), ('train', 60), ('valid', 20)]
    """
    owner = "make_splits"
    y_raw = check_1d("labels", labels)
    n = y_raw.size
    if n == 0:
        raise InputValidationError("labels is empty. Pass one label per row.")
    y_series = pd.Series(y_raw, dtype=object)
    if y_series.isna().any():
        raise InputValidationError(
            f"labels has {int(y_series.isna().sum())} missing value(s). Drop unlabelled rows "
            "or give them a label before splitting."
        )
    y, classes = pd.factorize(y_series, sort=False)
    y = y.astype(np.int64)
    check_same_length(labels=y, group=group, features=features)
    names = [str(s) for s in names]
    if len(names) < 2 or len(set(names)) != len(names):
        raise InvalidParameterError(
            "names", "at least two distinct split names", list(names), owner=owner
        )
    frac = _check_fractions(fractions, len(names), owner)
    min_per_class = check_int("min_per_class", min_per_class, low=0, owner=owner)
    rng = check_random_state(random_state)
    for s, f in zip(names, frac, strict=True):
        if f * n < 1:
            raise InputValidationError(
                f"Too few rows for the requested splits: {n} row(s) x fraction {f:g} gives split "
                f"{s!r} {f * n:.2f} rows (at least 1 is needed). Pass more rows, a larger "
                f"fraction for {s!r}, or fewer splits."
            )
    units = split_units(
        n, features=features, group=group, metric=metric, near_factor=near_factor
    )
    n_units = int(units.max()) + 1
    if n_units < len(names):
        raise InputValidationError(
            f"Too few independent units for {len(names)} splits: the groups and duplicate sets "
            f"join the {n} rows into {n_units} unit(s) that cannot be separated. Pass more "
            "groups, or fewer splits."
        )
    counts = np.bincount(y, minlength=len(classes))
    targets = _class_targets(counts, frac, min_per_class, rng)
    small = [classes[c] for c in np.flatnonzero(counts < min_per_class * len(names))]
    if small and min_per_class > 0:
        shown = ", ".join(map(repr, small[:10])) + (" ..." if len(small) > 10 else "")
        warnings.warn(
            f"{len(small)} class(es) have fewer than {min_per_class * len(names)} rows and "
            f"cannot have {min_per_class} row(s) in every split: {shown}. They are split "
            "by their fractions; collect more rows of them to evaluate them reliably.",
            UserWarning,
            stacklevel=2,
        )
    assign = _assign(y, units, targets, rng)
    return np.asarray(names, dtype=object)[assign]


def _check_fractions(fractions: Any, n_splits: int, owner: str) -> np.ndarray:
    try:
        frac = np.asarray(fractions, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(
            "fractions", "a sequence of positive floats summing to 1", fractions, owner=owner
        ) from exc
    if frac.size != n_splits:
        raise InvalidParameterError(
            "fractions", f"one fraction per split name ({n_splits})", tuple(fractions),
            owner=owner, hint="Pass as many fractions as names.",
        )
    if not np.all(np.isfinite(frac)) or np.any(frac <= 0) or abs(frac.sum() - 1) > 1e-6:
        raise InvalidParameterError(
            "fractions", "positive floats summing to 1", tuple(fractions), owner=owner,
            hint="For example (0.8, 0.1, 0.1).",
        )
    return frac / frac.sum()


def _largest_remainder(
    total: int, weights: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Integers proportional to ``weights`` summing to ``total``; ties broken at random."""
    w = np.asarray(weights, dtype=np.float64)
    if total <= 0 or w.sum() <= 0:
        return np.zeros(w.size, dtype=np.int64)
    exact = w / w.sum() * total
    base = np.floor(exact).astype(np.int64)
    rest = int(total - base.sum())
    if rest:
        order = np.lexsort((rng.random(w.size), -(exact - base)))
        base[order[:rest]] += 1
    return base


def _class_targets(
    counts: np.ndarray, frac: np.ndarray, min_per_class: int, rng: np.random.Generator
) -> np.ndarray:
    """Target rows per (split, class), summing to each class count."""
    n_splits = frac.size
    targets = np.zeros((n_splits, counts.size), dtype=np.int64)
    for c, n_c in enumerate(counts):
        t = _largest_remainder(int(n_c), frac, rng)
        if min_per_class and n_c >= min_per_class * n_splits:
            t[1:] = np.maximum(t[1:], min_per_class)
            t[0] = n_c - t[1:].sum()
        targets[:, c] = t
    return targets


def _assign(
    y: np.ndarray, units: np.ndarray, targets: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Split index of each row: multi-row units greedily, then single rows by remaining need."""
    n_splits, n_classes = targets.shape
    sizes = np.bincount(units)
    assign = np.full(y.size, -1, dtype=np.int64)
    current = np.zeros_like(targets)
    split_total = np.maximum(targets.sum(axis=1), 1)
    multi = np.flatnonzero(sizes > 1)
    if multi.size:
        # largest first, ties in random order
        multi = multi[np.lexsort((rng.random(multi.size), -sizes[multi]))]
        order = np.argsort(units, kind="stable")
        starts = np.searchsorted(units[order], np.arange(sizes.size))
        for u in multi:
            rows = order[starts[u]:starts[u] + sizes[u]]
            x = np.bincount(y[rows], minlength=n_classes)
            over_before = np.maximum(current - targets, 0).sum(axis=1)
            over_after = np.maximum(current + x - targets, 0).sum(axis=1)
            room = (split_total - current.sum(axis=1)) / split_total
            s = int(np.lexsort((-room, over_after - over_before))[0])
            assign[rows] = s
            current[s] += x
    single = sizes[units] == 1
    for c in range(n_classes):
        rows = np.flatnonzero(single & (y == c))
        if rows.size == 0:
            continue
        rows = rows[rng.permutation(rows.size)]
        need = np.maximum(targets[:, c] - current[:, c], 0)
        alloc = need if need.sum() == rows.size else _largest_remainder(
            rows.size, need if need.sum() > 0 else targets[:, c] + 1e-9, rng
        )
        assign[rows] = np.repeat(np.arange(n_splits), alloc)
        current[:, c] += alloc
    return assign
