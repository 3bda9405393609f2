"""Leak-free splitting: stratified by label, never separating a group or a duplicate set.

:func:`make_splits` assigns every row to a split (``train`` / ``valid`` / ``test`` by default).
Rows that must stay together form *units*: the connected components of the graph whose edges
join rows of one group and rows that are exact or near copies of each other (the same
near-copy rule as :func:`assay.leakage.find_leakage`). Units of several rows are placed first,
largest first, each into the split where it overfills its per-class targets least; a repair
pass then moves or swaps multi-row units until every class with enough rows can have
``min_per_class`` rows in every split (where the data allows it); single rows then fill each
split's minimums first and its remaining per-class targets exactly. Classes that still fall
short (their rows sit in too few units, or the only moves would overfill a split) are named in
one :class:`~assay.exceptions.SplitWarning` (or an error with ``strict=True``).
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
from assay.exceptions import InputValidationError, InvalidParameterError, SplitWarning
from assay.leakage import NEAR_FACTOR, duplicate_edges, encode_groups

__all__ = ["make_splits", "split_shortfalls", "split_units"]

#: An evaluation split may grow to this multiple of its share of rows when the repair pass moves
#: a unit into it to reach a class minimum; beyond it the shortfall is reported instead.
EVAL_GROWTH = 1.5
#: Units (and swap partners) tried per (class, split) cell in one step of the repair pass.
_MAX_CANDIDATES = 64


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
        codes = encode_groups(group, n_rows=n_rows, owner=owner)
        order = np.argsort(codes, kind="stable")
        same = codes[order][1:] == codes[order][:-1]
        rows_i.append(order[:-1][same])
        rows_j.append(order[1:][same])
    if features is not None:
        x = check_features(features, n_rows=n_rows)
        metric = check_choice("metric", metric, ("cosine", "euclidean"), owner=owner)
        if n_rows >= 2:
            ei, ej, _ = duplicate_edges(
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
    strict: bool = False,
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
        rows in every split (the evaluation splits take them from the training share). With
        groups or duplicate sets, multi-row units are moved or swapped between splits to reach
        it, and an evaluation split may grow to ``EVAL_GROWTH`` (1.5) times its share for it.
        Classes too small for it, and classes whose units cannot reach it, are named in a
        :class:`~assay.exceptions.SplitWarning`.
    metric : {"cosine", "euclidean"}, default="cosine"
        Distance for near copies (only with ``features``).
    near_factor : float, default=NEAR_FACTOR
        Near-copy threshold as a multiple of the median nearest-neighbour distance.
    random_state : int, Generator or None, default=0
        Seed; the same seed gives the same split.
    strict : bool, default=False
        Raise :class:`~assay.exceptions.InputValidationError` instead of warning when a class
        cannot get ``min_per_class`` rows in every split.

    Returns
    -------
    ndarray of shape (N,), object
        The split name of each row. :func:`split_shortfalls` lists the (class, split) cells
        below the minimum; the warning carries the same table as ``warning.shortfalls``.

    Raises
    ------
    InvalidParameterError
        Fractions that are not positive, do not sum to 1 or do not match ``names``.
    InputValidationError
        Missing labels or groups, or too few rows (or units) for the requested splits; with
        ``strict=True``, a class below its minimum in a split.

    Warns
    -----
    SplitWarning
        Classes with fewer than ``min_per_class * len(names)`` rows (one warning), and classes
        below ``min_per_class`` in a split because their rows sit in too few groups or
        duplicate sets (one warning naming each class, split, rows received and the reason).

    Examples
    --------
    >>> import numpy as np
    >>> from assay.splits import make_splits
    >>> y = np.repeat([0, 1], 50)
    >>> s = make_splits(y, fractions=(0.6, 0.2, 0.2), random_state=0)
    >>> sorted((name, int((s == name).sum())) for name in set(s))
    [('test', 20), ('train', 60), ('valid', 20)]

    A rare class spread over three patients gets a patient in each split:

    >>> y = np.r_[np.zeros(60, int), np.ones(6, int)]
    >>> patient = np.r_[np.arange(60) // 2, [30, 30, 31, 31, 32, 32]]
    >>> s = make_splits(y, group=patient, random_state=0)
    >>> sorted(set(s[y == 1]))
    ['test', 'train', 'valid']
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
    eligible = (counts >= min_per_class * len(names)) & (min_per_class > 0)
    small = [classes[c] for c in np.flatnonzero(~eligible)] if min_per_class > 0 else []
    if small:
        shown = ", ".join(map(repr, small[:10])) + (" ..." if len(small) > 10 else "")
        message = (
            f"{len(small)} class(es) have fewer than {min_per_class * len(names)} rows and "
            f"cannot have {min_per_class} row(s) in every split: {shown}. They are split "
            "by their fractions; collect more rows of them to evaluate them reliably."
        )
        if strict:
            raise InputValidationError(
                message + " (strict=True; pass strict=False to split anyway.)"
            )
        warnings.warn(SplitWarning(message), stacklevel=2)
    minimum = np.zeros_like(targets)
    minimum[:, eligible] = min_per_class
    assign = _assign(y, units, targets, minimum, frac, rng)
    split = np.asarray(names, dtype=object)[assign]
    if eligible.any():
        short = _shortfall_table(y, classes, units, assign, names, minimum)
        if len(short):
            message = _shortfall_message(short, min_per_class, len(names), strict)
            if strict:
                raise InputValidationError(message)
            warnings.warn(SplitWarning(message, shortfalls=short), stacklevel=2)
    return split


def split_shortfalls(
    labels: Any,
    split: Any,
    *,
    features: Any = None,
    group: Any = None,
    names: Sequence[str] | None = None,
    min_per_class: int = 1,
    metric: str = "cosine",
    near_factor: float = NEAR_FACTOR,
) -> pd.DataFrame:
    """The (class, split) cells of a split below ``min_per_class`` rows, and why.

    Only classes with at least ``min_per_class * len(names)`` rows are checked (smaller ones
    cannot have the minimum everywhere). Works on any split, not only one from
    :func:`make_splits`.

    Parameters
    ----------
    labels : array-like of shape (N,)
        Class of each row.
    split : array-like of shape (N,)
        Split name of each row.
    features, group, metric, near_factor
        As in :func:`make_splits`; they define the units that the reason counts.
    names : sequence of str, optional
        The split names; default: those in ``split``, in order of appearance.
    min_per_class : int, default=1
        The minimum rows of each class in each split.

    Returns
    -------
    pandas.DataFrame
        One row per short cell: ``class``, ``split``, ``n_rows`` (received), ``minimum``,
        ``class_rows``, ``class_units`` (units holding the class) and ``reason``.

    Examples
    --------
    >>> from assay.splits import split_shortfalls
    >>> y = ["a"] * 6 + ["b"] * 3
    >>> s = ["train", "train", "valid", "valid", "test", "test", "train", "train", "valid"]
    >>> split_shortfalls(y, s, group=[0, 0, 1, 1, 2, 2, 3, 3, 4])[["class", "split", "n_rows"]]
      class split  n_rows
    0     b  test       0
    """
    owner = "split_shortfalls"
    y_raw = check_1d("labels", labels)
    split_raw = check_1d("split", split)
    check_same_length(labels=y_raw, split=split_raw, group=group, features=features)
    y, classes = pd.factorize(pd.Series(y_raw, dtype=object), sort=False)
    if (y < 0).any():
        raise InputValidationError(
            f"labels has {int((y < 0).sum())} missing value(s). Drop unlabelled rows first."
        )
    if names is None:
        names = list(pd.unique(pd.Series(split_raw, dtype=object).astype(str)))
    names = [str(s) for s in names]
    index = {name: i for i, name in enumerate(names)}
    split_str = pd.Series(split_raw, dtype=object).astype(str)
    unknown = sorted(set(split_str) - set(index))
    if unknown:
        raise InputValidationError(
            f"split has value(s) {unknown[:5]} that are not in names {names}. Pass every "
            "split name in names."
        )
    min_per_class = check_int("min_per_class", min_per_class, low=0, owner=owner)
    units = split_units(
        y.size, features=features, group=group, metric=metric, near_factor=near_factor
    )
    counts = np.bincount(y, minlength=len(classes))
    minimum = np.zeros((len(names), len(classes)), dtype=np.int64)
    if min_per_class:
        minimum[:, counts >= min_per_class * len(names)] = min_per_class
    assign = split_str.map(index).to_numpy(dtype=np.int64)
    return _shortfall_table(y.astype(np.int64), classes, units, assign, names, minimum)


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
    y: np.ndarray,
    units: np.ndarray,
    targets: np.ndarray,
    minimum: np.ndarray,
    frac: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Split index of each row: multi-row units greedily, a repair pass, then single rows."""
    from scipy.sparse import coo_matrix

    n_splits, n_classes = targets.shape
    sizes = np.bincount(units)
    assign = np.full(y.size, -1, dtype=np.int64)
    current = np.zeros_like(targets)
    split_total = np.maximum(targets.sum(axis=1), 1)
    single = sizes[units] == 1
    multi = np.flatnonzero(sizes > 1)
    if multi.size:
        # largest first, ties in random order
        multi = multi[np.lexsort((rng.random(multi.size), -sizes[multi]))]
        order = np.argsort(units, kind="stable")
        starts = np.searchsorted(units[order], np.arange(sizes.size))
        where = np.empty(multi.size, dtype=np.int64)
        for i, u in enumerate(multi):
            rows = order[starts[u]:starts[u] + sizes[u]]
            x = np.bincount(y[rows], minlength=n_classes)
            over_before = np.maximum(current - targets, 0).sum(axis=1)
            over_after = np.maximum(current + x - targets, 0).sum(axis=1)
            room = (split_total - current.sum(axis=1)) / split_total
            s = int(np.lexsort((-room, over_after - over_before))[0])
            where[i] = s
            current[s] += x
        if minimum.any():
            pos = np.full(sizes.size, -1, dtype=np.int64)
            pos[multi] = np.arange(multi.size)
            in_multi = ~single
            comp = coo_matrix(
                (np.ones(int(in_multi.sum()), dtype=np.int64),
                 (pos[units[in_multi]], y[in_multi])),
                shape=(multi.size, n_classes),
            ).tocsr()
            singles = np.bincount(y[single], minlength=n_classes)
            share = np.maximum(targets.sum(axis=1), frac * y.size)
            caps = np.floor(EVAL_GROWTH * share).astype(np.int64)
            caps[0] = y.size  # the training split takes whatever is left
            _repair(comp, where, current, targets, minimum, singles, caps)
        unit_split = np.full(sizes.size, -1, dtype=np.int64)
        unit_split[multi] = where
        assign[~single] = unit_split[units[~single]]
    for c in range(n_classes):
        rows = np.flatnonzero(single & (y == c))
        if rows.size == 0:
            continue
        rows = rows[rng.permutation(rows.size)]
        alloc = _single_alloc(rows.size, targets[:, c], current[:, c], minimum[:, c], rng)
        assign[rows] = np.repeat(np.arange(n_splits), alloc)
        current[:, c] += alloc
    return assign


def _single_alloc(
    n: int, target: np.ndarray, current: np.ndarray, minimum: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Single rows of one class per split: minimums first (train first), then the targets."""
    lack = np.maximum(minimum - current, 0)
    give = np.zeros_like(lack)
    if lack.sum() <= n:
        give = lack.copy()
    else:  # too few: one row at a time, train first, then the evaluation splits in order
        left = n
        while left:
            for s in np.flatnonzero(lack > give):
                if left:
                    give[s] += 1
                    left -= 1
    rest = int(n - give.sum())
    if rest == 0:
        return give
    need = np.maximum(target - current - give, 0)
    if need.sum() == rest:
        return give + need
    return give + _largest_remainder(rest, need if need.sum() > 0 else target + 1e-9, rng)


def _csr_rows(comp: Any, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(position in ``ids``, column, value) of the stored entries of rows ``ids`` of ``comp``."""
    starts = comp.indptr[ids]
    lengths = comp.indptr[ids + 1] - starts
    pos = np.repeat(np.arange(ids.size), lengths)
    flat = np.repeat(starts - np.r_[0, np.cumsum(lengths)[:-1]], lengths) + np.arange(pos.size)
    return pos, comp.indices[flat], comp.data[flat]


def _repair(
    comp: Any,
    where: np.ndarray,
    current: np.ndarray,
    targets: np.ndarray,
    minimum: np.ndarray,
    singles: np.ndarray,
    caps: np.ndarray,
) -> None:
    """Move or swap multi-row units (in place) until no class minimum can be reached better.

    The score of a placement is lexicographic: rows still missing from the per-class minimums
    once the single rows of each class have filled what they can; of those, rows missing from
    the training split; then rows over the per-class targets. A step moves one unit that holds
    a short class into a split that lacks it: alone, swapped with a unit of that split of
    similar size, or with the fewest units of that split (none it needs) that make room under
    its cap going back. It must lower the missing rows and must not push the projected size
    of an evaluation split (its rows once the single rows fill each class towards its target)
    further past ``caps``. Short classes are visited rarest first; deterministic.
    """
    sizes = np.asarray(comp.sum(axis=1)).ravel()
    by_class = comp.tocsc()
    counts = current.sum(axis=0) + singles
    for _ in range(3):  # rounds: a class stuck early may be helped by later moves
        moved_any = False
        stuck: set[int] = set()
        while True:
            lack = np.maximum(minimum - current, 0)
            lack_sum = lack.sum(axis=0)
            short = np.maximum(lack_sum - singles, 0)
            todo = [int(c) for c in np.flatnonzero(short > 0) if int(c) not in stuck]
            if not todo:
                break
            c = min(todo, key=lambda k: (counts[k], k))
            best = _best_step(c, comp, by_class, sizes, where, current, targets, minimum,
                              singles, caps, lack, lack_sum, short)
            if best is None:
                stuck.add(c)
                continue
            i, a, s, out = best
            moved_any = True
            for unit, src, dst in ((i, a, s), *((v, s, a) for v in out)):
                _, cols, vals = _csr_rows(comp, np.array([unit]))
                current[src, cols] -= vals
                current[dst, cols] += vals
                where[unit] = dst
        if not moved_any or not stuck:
            return


def _best_step(
    c: int,
    comp: Any,
    by_class: Any,
    sizes: np.ndarray,
    where: np.ndarray,
    current: np.ndarray,
    targets: np.ndarray,
    minimum: np.ndarray,
    singles: np.ndarray,
    caps: np.ndarray,
    lack: np.ndarray,
    lack_sum: np.ndarray,
    short: np.ndarray,
) -> tuple[int, int, int, tuple[int, ...]] | None:
    """Best (unit, from, to, units sent back) step for short class ``c``, or None."""
    total = int(short.sum())
    train_short = np.maximum(minimum[0] - current[0] - singles, 0)
    train = int(train_short.sum())
    over = np.maximum(current - targets, 0)
    over_all = int(over.sum())
    # projected size of each split: the single rows of a class can then fill it up to its target
    full = _filled(current, targets, singles)
    projected = full.sum(axis=1)
    excess = np.maximum(projected - caps, 0)
    holders = by_class.indices[by_class.indptr[c]:by_class.indptr[c + 1]]
    best: tuple[Any, ...] | None = None
    for s in np.flatnonzero(lack[:, c] > 0):
        movable = holders[where[holders] != s]
        if movable.size > _MAX_CANDIDATES:
            movable = movable[np.argsort(sizes[movable], kind="stable")[:_MAX_CANDIDATES]]
        in_s = np.flatnonzero(where == s)
        in_s = in_s[np.argsort(sizes[in_s], kind="stable")]
        evictable = _eviction_order(comp, in_s, current[s], minimum[s], sizes)
        for i in movable:
            a = int(where[i])
            partners = in_s
            if partners.size > _MAX_CANDIDATES:
                mid = int(np.searchsorted(sizes[in_s], sizes[i]))
                lo = min(max(mid - _MAX_CANDIDATES // 2, 0), in_s.size - _MAX_CANDIDATES)
                partners = in_s[lo:lo + _MAX_CANDIDATES]
            groups: list[tuple[int, ...]] = [()] + [(int(v),) for v in partners]
            _, x_cols, x_vals = _csr_rows(comp, np.array([i]))
            grow = (_filled(current[s, x_cols] + x_vals, targets[s, x_cols], singles[x_cols])
                    - full[s, x_cols]).sum()
            evict = _evict(evictable, sizes, int(projected[s] + grow - caps[s]))
            if len(evict) > 1:  # several units out of s make room for i
                groups.append(evict)
            members = np.array([v for g in groups for v in g], dtype=np.int64)
            owner = np.repeat(np.arange(len(groups)), [len(g) for g in groups])
            ids = np.r_[i, members]
            pos, col, val = _csr_rows(comp, ids)
            cols = np.unique(col)
            dense = np.zeros((ids.size, cols.size), dtype=current.dtype)
            dense[pos, np.searchsorted(cols, col)] = val
            x = dense[0]
            xv = np.zeros((len(groups), cols.size), dtype=current.dtype)
            np.add.at(xv, owner, dense[1:])  # row 0: a plain move, no partner
            new_a = current[a, cols] - x + xv
            new_s = current[s, cols] + x - xv
            new_lack = (lack_sum[cols] - lack[a, cols] - lack[s, cols]
                        + np.maximum(minimum[a, cols] - new_a, 0)
                        + np.maximum(minimum[s, cols] - new_s, 0))
            m_total = total - short[cols].sum() + np.maximum(new_lack - singles[cols], 0).sum(1)
            row0 = new_a if a == 0 else new_s if s == 0 else current[0, cols][None, :]
            m_train = (train - train_short[cols].sum()
                       + np.maximum(minimum[0, cols] - row0 - singles[cols], 0).sum(1))
            m_train = np.broadcast_to(m_train, m_total.shape)
            new_over = (over_all - over[a, cols].sum() - over[s, cols].sum()
                        + np.maximum(new_a - targets[a, cols], 0).sum(1)
                        + np.maximum(new_s - targets[s, cols], 0).sum(1))
            tot_a = (projected[a] - full[a, cols].sum()
                     + _filled(new_a, targets[a, cols], singles[cols]).sum(axis=1))
            tot_s = (projected[s] - full[s, cols].sum()
                     + _filled(new_s, targets[s, cols], singles[cols]).sum(axis=1))
            new_excess = (excess.sum() - excess[a] - excess[s]
                          + np.maximum(tot_a - caps[a], 0) + np.maximum(tot_s - caps[s], 0))
            ok = (new_excess <= excess.sum()) & (
                (m_total < total) | ((m_total == total) & (m_train < train))
            )
            for j in np.flatnonzero(ok):
                key = (int(m_total[j]), int(m_train[j]), int(new_over[j]), int(new_excess[j]))
                if best is None or key < best[0]:
                    best = (key, int(i), a, int(s), groups[j])
    return None if best is None else best[1:]


def _filled(current: np.ndarray, targets: np.ndarray, singles: np.ndarray) -> np.ndarray:
    """Rows per class once the single rows (at most ``singles``) fill up to the targets."""
    return current + np.minimum(np.maximum(targets - current, 0), singles)


def _eviction_order(
    comp: Any, in_s: np.ndarray, current_s: np.ndarray, minimum_s: np.ndarray,
    sizes: np.ndarray,
) -> np.ndarray:
    """Units of one split to move out to make room, largest first, none it needs."""
    if in_s.size == 0:
        return in_s
    pos, col, val = _csr_rows(comp, in_s)
    needed = np.bincount(pos, weights=current_s[col] - val < minimum_s[col],
                         minlength=in_s.size) > 0
    free = in_s[~needed]
    return free[np.argsort(-sizes[free], kind="stable")]


def _evict(order: np.ndarray, sizes: np.ndarray, need: int) -> tuple[int, ...]:
    """Fewest units of ``order`` (largest first) holding ``need`` rows, smallest dropped back."""
    if need <= 0 or order.size == 0:
        return ()
    reach = np.cumsum(sizes[order])
    k = int(np.searchsorted(reach, need))
    if k >= order.size:
        return ()
    chosen = list(order[:k + 1])
    total = int(reach[k])
    for v in sorted(chosen, key=lambda u: sizes[u]):
        if len(chosen) > 1 and total - sizes[v] >= need:
            chosen.remove(v)
            total -= int(sizes[v])
    return tuple(int(v) for v in chosen)


def _shortfall_table(
    y: np.ndarray,
    classes: Any,
    units: np.ndarray,
    assign: np.ndarray,
    names: Sequence[str],
    minimum: np.ndarray,
) -> pd.DataFrame:
    """(class, split) cells below ``minimum`` with the rows received and the reason."""
    n_splits, n_classes = minimum.shape
    got = np.zeros((n_splits, n_classes), dtype=np.int64)
    np.add.at(got, (assign, y), 1)
    cells = np.argwhere(got < minimum)
    columns = ["class", "split", "n_rows", "minimum", "class_rows", "class_units", "reason"]
    if cells.size == 0:
        return pd.DataFrame(columns=columns)
    key, per_unit = np.unique(units * n_classes + y, return_counts=True)
    unit_class = key % n_classes
    class_units = np.bincount(unit_class, minlength=n_classes)
    counts = np.bincount(y, minlength=n_classes)
    records = []
    top = minimum.max(axis=0)
    # rows a class can bring to the minimums: at most the minimum from each of its units
    useful = np.bincount(unit_class, weights=np.minimum(per_unit, top[unit_class]),
                         minlength=n_classes)
    for s, c in sorted(cells.tolist(), key=lambda sc: (counts[sc[1]], sc[1], sc[0])):
        m = int(minimum[s, c])
        k = int(class_units[c])
        if useful[c] < m * n_splits:
            reason = (
                f"its {int(counts[c])} rows sit in {k} unit(s): too few for {m} in each of "
                f"{n_splits} splits"
            )
        else:
            reason = (
                f"{k} units, but none can move into {names[s]!r} without pushing a split past "
                f"{EVAL_GROWTH:g}x its share or another class below its minimum"
            )
        records.append((classes[c], names[s], int(got[s, c]), m, int(counts[c]), k, reason))
    return pd.DataFrame.from_records(records, columns=columns)


def _shortfall_message(
    short: pd.DataFrame, min_per_class: int, n_splits: int, strict: bool
) -> str:
    parts = []
    for cls, rows in short.groupby("class", sort=False):
        cells = ", ".join(f"{n} in {s!r}" for s, n in zip(rows["split"], rows["n_rows"],
                                                          strict=True))
        parts.append(f"{cls!r} got {cells} ({rows['reason'].iloc[0]})")
    shown = "; ".join(parts[:10]) + (f"; and {len(parts) - 10} more" if len(parts) > 10 else "")
    return (
        f"{len(parts)} class(es) fall below min_per_class={min_per_class} in a split, as groups "
        f"and duplicate sets are never split: {shown}. Expected at least {min_per_class} "
        f"row(s) of every class with {min_per_class * n_splits}+ rows in each split. Pass finer "
        "groups, merge rare classes, or use fewer splits or a lower min_per_class "
        + ("(strict=True; pass strict=False to accept the split)." if strict else
           "(strict=True raises instead; the warning's .shortfalls lists the cells).")
    )
