"""Leakage: what crosses a split, and which columns encode the target.

Three public functions:

- :func:`find_leakage` lists the pairs of rows in different splits that are exact copies,
  near copies (distance under a threshold relative to the data's typical nearest-neighbour
  distance) or members of one group (a patient, a speaker, a source document).
- :func:`leakage_summary` turns those pairs into one row per split pair: how much of the later
  (evaluation) split is leaked.
- :func:`find_target_leakage` screens the columns of a table for features that predict the label
  far better alone than any other column, in a way the other columns together do not explain,
  identifier columns whose order tracks the label, and text columns that spell out the label.

The near-duplicate threshold
----------------------------
A pair is a *near* copy when its distance is at most ``near_factor`` times the median distance
from a row to its nearest other row (over all rows, same metric). cleanlab's Datalab uses the
same rule with a factor of 0.13 for its within-dataset near duplicates; assay's default,
``NEAR_FACTOR = 0.35``, was chosen on ``benchmarks/leakage.py`` (digits, MNIST-1D and a
templated text set with perturbed copies injected across splits; see
``docs/benchmarks/leakage.md``): at 0.13, 41 % of the one-word edits of the text set were
missed, while natural nearest neighbours seldom come closer than 0.35 times the median. The
factor was tuned on that benchmark, so its figures there are in-sample. The threshold, the
median and the factor are reported in ``DataFrame.attrs``.
"""

from __future__ import annotations

import re
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
    did_you_mean,
)
from assay.exceptions import InputValidationError, InvalidParameterError

__all__ = [
    "NEAR_FACTOR",
    "SPLIT_RANK",
    "duplicate_edges",
    "encode_groups",
    "encode_splits",
    "find_leakage",
    "find_target_leakage",
    "leakage_summary",
]

#: Default multiple of the median nearest-neighbour distance under which a pair is a near copy.
NEAR_FACTOR = 0.35

_KINDS = ("exact", "near", "group")
_METRICS = ("cosine", "euclidean")
#: Canonical order of common split names (0 train, 1 validation, 2 test): earlier splits are the
#: reference ("i") side; names not listed come after these, in order of first appearance.
SPLIT_RANK = {
    "train": 0, "training": 0, "trn": 0,
    "valid": 1, "val": 1, "validation": 1, "dev": 1, "development": 1,
    "test": 2, "testing": 2, "tst": 2, "holdout": 2, "eval": 2,
}
_COLUMNS = ["i", "j", "split_i", "split_j", "kind", "distance"]


# --------------------------------------------------------------------------------------------
# Shared helpers (also used by assay.splits and assay.evaluation)
# --------------------------------------------------------------------------------------------
def encode_splits(
    split: Any, *, splits: Sequence[Any] | None, owner: str, name: str = "split"
) -> tuple[np.ndarray, list[str]]:
    """Encode split names as codes ``0..S-1`` in reference-first order.

    Parameters
    ----------
    split : array-like of shape (n_rows,)
        The split name of each row (e.g. ``"train"``, ``"valid"``, ``"test"``); no missing values.
    splits : sequence or None
        The split names to encode, in this order; rows of other splits get ``-1``. None: every
        name present, ordered by :data:`SPLIT_RANK` and then by first appearance.
    owner : str
        The public function asking, named in error messages.
    name : str, default "split"
        The argument's name in error messages.

    Returns
    -------
    codes : numpy.ndarray of shape (n_rows,)
        int64 split code per row, ``-1`` for a row outside ``splits``.
    names : list of str
        The split names, ``names[c]`` for code ``c``.

    Raises
    ------
    InputValidationError
        When ``split`` has missing values or fewer than two split names.
    InvalidParameterError
        When ``splits`` repeats a name or names a split absent from the data.

    Examples
    --------
    >>> codes, names = encode_splits(["test", "train", "train"], splits=None, owner="example")
    >>> codes.tolist(), names
    ([1, 0, 0], ['train', 'test'])
    """
    arr = check_1d(name, split)
    values = pd.Series(arr, dtype=object)
    if values.isna().any():
        bad = int(values.isna().sum())
        raise InputValidationError(
            f"The {name} column has {bad} missing value(s). Every row needs a split name "
            "(e.g. 'train', 'valid', 'test'); fill them or drop those rows."
        )
    text = values.astype(str).to_numpy()
    present = list(dict.fromkeys(text.tolist()))
    if splits is None:
        order = sorted(present, key=lambda s: (SPLIT_RANK.get(s.lower(), 3), present.index(s)))
    else:
        order = [str(s) for s in splits]
        if len(set(order)) != len(order):
            raise InvalidParameterError(
                "splits", "a list of distinct split names", list(splits), owner=owner
            )
        for s in order:
            if s not in present:
                raise InvalidParameterError(
                    "splits",
                    "split names that occur in the data (" + ", ".join(present) + ")",
                    s,
                    owner=owner,
                    hint=(did_you_mean(s, present) + " Pass names from the split column.").strip(),
                )
    if len(order) < 2:
        raise InputValidationError(
            f"The {name} column has only one value ({present[0]!r}); leakage needs at least two "
            "splits. Pass the column that assigns rows to train / valid / test, or create one "
            "with assay.make_splits(...)."
        )
    lookup = {s: c for c, s in enumerate(order)}
    codes = np.fromiter((lookup.get(s, -1) for s in text), dtype=np.int64, count=text.size)
    return codes, order


def encode_groups(group: Any, *, n_rows: int, owner: str) -> np.ndarray:
    """Encode group ids as codes ``0..G-1``.

    Missing values are an error: they would silently merge unrelated rows into one group.

    Parameters
    ----------
    group : array-like of shape (n_rows,)
        The group id of each row (a patient, a user, a source document).
    n_rows : int
        The number of rows ``group`` must have.
    owner : str
        The public function asking (kept for the callers' uniform signature).

    Returns
    -------
    numpy.ndarray of shape (n_rows,)
        int64 group code per row, in order of first appearance.

    Raises
    ------
    InputValidationError
        When ``group`` has the wrong length or missing values.

    Examples
    --------
    >>> encode_groups(["b", "a", "b"], n_rows=3, owner="example").tolist()
    [0, 1, 0]
    """
    arr = check_1d("group", group)
    check_same_length(rows=np.empty(n_rows), group=arr)
    codes, _ = pd.factorize(pd.Series(arr, dtype=object), use_na_sentinel=True)
    if (codes < 0).any():
        bad = int((codes < 0).sum())
        raise InputValidationError(
            f"group has {bad} missing value(s). A missing group cannot be checked for leakage. "
            "Give each such row its own group (e.g. its row id) or drop those rows."
        )
    return codes.astype(np.int64)


def _exact_codes(x: np.ndarray) -> np.ndarray:
    """Codes 0..U-1 such that two rows share a code iff their float32 values are identical."""
    x = np.ascontiguousarray(x + np.float32(0.0))  # -0.0 and 0.0 become the same bytes
    rows = x.view(np.dtype((np.void, x.dtype.itemsize * x.shape[1]))).ravel()
    _, inverse = np.unique(rows, return_inverse=True)
    return inverse.astype(np.int64).ravel()


def _raw_codes(raw: Any, *, n_rows: int) -> np.ndarray:
    """Codes such that two rows share a code iff their raw values hash alike (64-bit hash)."""
    frame = raw if isinstance(raw, pd.DataFrame) else pd.DataFrame(
        {"raw": raw} if np.ndim(raw) == 1 else np.asarray(raw)
    )
    if len(frame) != n_rows:
        raise InputValidationError(
            f"raw has {len(frame)} rows but features has {n_rows}. Pass the raw values "
            "(text, file contents, original columns) of the same rows, in the same order."
        )
    hashes = pd.util.hash_pandas_object(frame.astype(str), index=False).to_numpy()
    _, inverse = np.unique(hashes, return_inverse=True)
    return inverse.astype(np.int64).ravel()


def _code_pairs(
    codes: np.ndarray, rows_a: np.ndarray, rows_b: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i in rows_a, j in rows_b) with equal non-negative codes, at most k per j."""
    rows_a = rows_a[codes[rows_a] >= 0]
    rows_b = rows_b[codes[rows_b] >= 0]
    order = np.lexsort((rows_a, codes[rows_a]))
    a_sorted = rows_a[order]
    ca = codes[a_sorted]
    cb = codes[rows_b]
    lo = np.searchsorted(ca, cb, side="left")
    cnt = np.minimum(np.searchsorted(ca, cb, side="right") - lo, k)
    total = int(cnt.sum())
    j = np.repeat(rows_b, cnt)
    offsets = np.arange(total) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    i = a_sorted[np.repeat(lo, cnt) + offsets]
    return i.astype(np.int64), j.astype(np.int64)


def _pair_distances(x: np.ndarray, i: np.ndarray, j: np.ndarray, metric: str) -> np.ndarray:
    """Distances between rows ``x[i]`` and ``x[j]``, in chunks."""
    out = np.empty(i.size, dtype=np.float64)
    for start in range(0, i.size, 65536):
        a = x[i[start:start + 65536]].astype(np.float64)
        b = x[j[start:start + 65536]].astype(np.float64)
        if metric == "euclidean":
            out[start:start + 65536] = np.linalg.norm(a - b, axis=1)
        else:
            na = np.linalg.norm(a, axis=1)
            nb = np.linalg.norm(b, axis=1)
            denom = np.where((na == 0) | (nb == 0), 1.0, na * nb)
            cos = np.einsum("ij,ij->i", a, b) / denom
            out[start:start + 65536] = np.clip(1.0 - cos, 0.0, 2.0)
    return out


def _near_threshold(
    x: np.ndarray, *, metric: str, near_factor: float, near_threshold: float | None,
    knn: Any = None,
) -> dict[str, Any]:
    """The near-copy distance threshold and where it came from."""
    if near_threshold is not None:
        return {
            "near_threshold": float(near_threshold), "near_factor": None,
            "median_nn_distance": None, "metric": metric,
            "source": "near_threshold given by the caller",
        }
    if knn is not None:
        nn = np.asarray(knn.distances)[:, 0]
        source = "shared k-NN graph"
    else:
        from assay.neighbors import knn_graph

        nn = knn_graph(x, k=1, metric=metric, method="auto").distances[:, 0]
        source = "1-NN over all rows (exact up to 20,000 rows)"
    median = float(np.median(nn))
    return {
        "near_threshold": near_factor * median, "near_factor": near_factor,
        "median_nn_distance": median, "metric": metric,
        "source": f"near_factor x median nearest-neighbour distance ({source}); "
                  "the rule of cleanlab Datalab's near_duplicate check (factor 0.13 there)",
    }


def duplicate_edges(
    x: np.ndarray, *, metric: str, near_factor: float, near_threshold: float | None, k: int
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Edges ``(i, j)`` of the within-data duplicate graph: exact copies and near copies.

    Identical rows are chained together; a pair among each row's ``k`` nearest neighbours is a
    near copy when its distance is at most the near threshold (see :func:`find_leakage`).

    Parameters
    ----------
    x : numpy.ndarray of shape (n_rows, n_features)
        Validated features (see :func:`assay._validation.check_features`).
    metric : {"cosine", "euclidean"}
        Distance of the k-NN search and of the threshold.
    near_factor : float
        Multiple of the median nearest-neighbour distance under which a pair is a near copy
        (used when ``near_threshold`` is None).
    near_threshold : float or None
        An absolute distance threshold instead of ``near_factor``.
    k : int
        Neighbours searched per row (at most ``n_rows - 1``).

    Returns
    -------
    i, j : numpy.ndarray
        int64 row positions of the edges' two ends (an edge may appear twice).
    info : dict
        The near threshold used and where it came from (``near_threshold``, ``near_factor``,
        ``median_nn_distance``, ``metric``, ``source``).
    """
    from assay.neighbors import knn_graph

    n = x.shape[0]
    codes = _exact_codes(x)
    order = np.argsort(codes, kind="stable")
    same = codes[order][1:] == codes[order][:-1]
    ei, ej = order[:-1][same], order[1:][same]  # chain identical rows together
    k = min(k, n - 1)
    graph = knn_graph(x, k=k, metric=metric, method="auto")
    info = _near_threshold(
        x, metric=metric, near_factor=near_factor, near_threshold=near_threshold, knn=graph
    )
    close = graph.distances <= info["near_threshold"]
    rows = np.repeat(np.arange(n), k)[close.ravel()]
    cols = graph.indices.ravel()[close.ravel()]
    return np.concatenate([ei, rows]), np.concatenate([ej, cols]), info


# --------------------------------------------------------------------------------------------
# Cross-split leakage
# --------------------------------------------------------------------------------------------
def find_leakage(
    features: Any,
    split: Any,
    *,
    group: Any = None,
    raw: Any = None,
    splits: Sequence[Any] | None = None,
    metric: str = "cosine",
    near_factor: float = NEAR_FACTOR,
    near_threshold: float | None = None,
    k: int = 5,
    kinds: Sequence[str] = _KINDS,
    knn: Any = None,
) -> pd.DataFrame:
    """Find rows that leak between splits: exact copies, near copies and shared groups.

    For every pair of splits ``(a, b)`` with ``a`` before ``b`` (train before valid before
    test; other names in order of appearance), each row ``j`` of ``b`` is matched against the
    rows ``i`` of ``a``:

    - ``exact``: identical feature rows, or identical raw content when ``raw`` is given
      (a 64-bit hash of the row's raw values); distance 0.
    - ``near``: not exact, and at distance at most ``near_threshold`` among the ``k`` nearest
      rows of ``a`` (exact blocked search). By default the threshold is ``near_factor`` times
      the median nearest-neighbour distance over all rows (cleanlab's rule; see the module
      docstring for the factor).
    - ``group``: the same value of ``group``; the distance between the two rows is reported.

    Parameters
    ----------
    features : array-like of shape (N, d)
        Numeric features or embeddings.
    split : array-like of shape (N,)
        Split name of each row (any names; at least two distinct).
    group : array-like of shape (N,), optional
        Group id of each row (patient, speaker, source). No missing values.
    raw : DataFrame, Series or array of shape (N,) or (N, m), optional
        Raw content (text, file bytes' hash, original columns) for exact matching.
    splits : sequence of str, optional
        Splits to compare, in reference-first order. Default: every split in the data.
    metric : {"cosine", "euclidean"}, default="cosine"
        Distance for near copies (ignored in favour of ``knn.metric`` when ``knn`` is given).
    near_factor : float, default=NEAR_FACTOR
        Multiple of the median nearest-neighbour distance that makes the threshold.
    near_threshold : float, optional
        An absolute distance threshold; overrides ``near_factor``.
    k : int, default=5
        At most this many partners per row, split pair and kind.
    kinds : sequence of {"exact", "near", "group"}, default all
        Which leak kinds to look for.
    knn : KnnGraph, optional
        A k-NN graph of the same rows (from :func:`assay.neighbors.knn_graph`) whose first
        neighbour distances give the median; saves one search.

    Returns
    -------
    pandas.DataFrame
        Columns ``i``, ``j`` (row positions, ``i`` in the earlier split), ``split_i``,
        ``split_j``, ``kind`` and ``distance``. ``attrs["thresholds"]`` records the near
        threshold, the median and the factor used, and where they came from.

    Examples
    --------
    >>> import numpy as np
    >>> from assay.leakage import find_leakage
    >>> x = np.array([[0.0, 1.0], [1.0, 0.0], [5.0, 5.0], [0.0, 1.0]])
    >>> leaks = find_leakage(x, ["train", "train", "train", "test"], kinds=("exact",))
    >>> leaks[["i", "j", "kind"]].values.tolist()
    [[0, 3, 'exact']]
    """
    owner = "find_leakage"
    x = check_features(features)
    n = x.shape[0]
    split_codes, names = encode_splits(split, splits=splits, owner=owner)
    check_same_length(features=x, split=split_codes)
    k = check_int("k", k, low=1, owner=owner)
    kinds = [check_choice("kinds", kd, _KINDS, owner=owner) for kd in kinds]
    if knn is not None:
        if getattr(knn, "n_rows", None) != n:
            raise InputValidationError(
                f"knn has {getattr(knn, 'n_rows', '?')} rows but features has {n}. "
                "Pass the k-NN graph built on these features."
            )
        metric = knn.metric
    metric = check_choice("metric", metric, _METRICS, owner=owner)
    if not (isinstance(near_factor, int | float) and near_factor >= 0):
        raise InvalidParameterError("near_factor", "a float >= 0", near_factor, owner=owner)
    if near_threshold is not None and not (
        isinstance(near_threshold, int | float) and near_threshold >= 0
    ):
        raise InvalidParameterError("near_threshold", "a float >= 0", near_threshold, owner=owner)
    group_codes = encode_groups(group, n_rows=n, owner=owner) if group is not None else None
    if "group" in kinds and group_codes is None:
        kinds = [kd for kd in kinds if kd != "group"]
    exact_sets = [_exact_codes(x)]
    if raw is not None:
        exact_sets.append(_raw_codes(raw, n_rows=n))

    thresholds: dict[str, Any] = {"metric": metric, "k": k}
    if "near" in kinds:
        thresholds.update(
            _near_threshold(
                x, metric=metric, near_factor=float(near_factor),
                near_threshold=near_threshold, knn=knn,
            )
        )
    # An approximate graph (large data) also gives the near pairs across splits: the exact
    # query of one split against another is quadratic (300k rows: 10 GB, 133 s).
    edges = None
    if knn is not None and knn.method != "exact" and "near" in kinds:
        src = np.repeat(np.arange(n), knn.k)
        dst, dist = knn.indices.ravel(), knn.distances.ravel().astype(np.float64)
        cross = (split_codes[src] != split_codes[dst]) & (dist <= thresholds["near_threshold"])
        edges = (src[cross], dst[cross], dist[cross])
        thresholds["near_search"] = f"the audit's {knn.method} k-NN graph (k={knn.k})"
    parts: list[pd.DataFrame] = []
    for a in range(len(names)):
        rows_a = np.flatnonzero(split_codes == a)
        for b in range(a + 1, len(names)):
            rows_b = np.flatnonzero(split_codes == b)
            found = _leaks_between(
                x, rows_a, rows_b, kinds=kinds, exact_sets=exact_sets,
                group_codes=group_codes, metric=metric, k=k,
                threshold=thresholds.get("near_threshold"),
                edges=None if edges is None else _edges_between(edges, split_codes, a, b, k),
            )
            for kind, (i, j, dist) in found.items():
                parts.append(pd.DataFrame({
                    "i": i, "j": j, "split_i": names[a], "split_j": names[b],
                    "kind": kind, "distance": dist,
                }))
    if parts:
        out = pd.concat(parts, ignore_index=True)
    else:
        out = pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(
            _COLUMNS, ["int64", "int64", "object", "object", "object", "float64"], strict=True
        )})
    out = out.astype({"i": "int64", "j": "int64", "distance": "float64"})
    kind_rank = out["kind"].map({kd: r for r, kd in enumerate(_KINDS)})
    out = (
        out.assign(_r=kind_rank)
        .sort_values(["split_i", "split_j", "_r", "j", "distance", "i"], kind="stable")
        .drop(columns="_r")
        .reset_index(drop=True)
    )
    out.attrs["thresholds"] = thresholds
    out.attrs["splits"] = names
    return out


def _leaks_between(
    x: np.ndarray,
    rows_a: np.ndarray,
    rows_b: np.ndarray,
    *,
    kinds: Sequence[str],
    exact_sets: list[np.ndarray],
    group_codes: np.ndarray | None,
    metric: str,
    k: int,
    threshold: float | None,
    edges: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The leaked pairs of each kind between two splits (``i`` in a, ``j`` in b).

    Near pairs come from ``edges`` (``i``, ``j``, distance: the k-NN graph's edges between the
    two splits) when given, else from an exact query of split a for every row of split b.
    """
    out: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    if rows_a.size == 0 or rows_b.size == 0:
        return out
    if "exact" in kinds:
        pairs = [_code_pairs(codes, rows_a, rows_b, k) for codes in exact_sets]
        i = np.concatenate([p[0] for p in pairs])
        j = np.concatenate([p[1] for p in pairs])
        if i.size:
            ij = np.unique(np.stack([j, i], axis=1), axis=0)
            # keep at most k partners per j after merging the feature and raw matches
            j, i = ij[:, 0], ij[:, 1]
            first = np.searchsorted(j, j, side="left")
            keep = np.arange(j.size) - first < k
            i, j = i[keep], j[keep]
        out["exact"] = (i, j, np.zeros(i.size))
    if "near" in kinds and threshold is not None:
        if edges is not None:
            i, j, d = edges
        else:
            from assay.neighbors import knn_query

            kq = min(k, rows_a.size)
            idx, dist = knn_query(x[rows_a], x[rows_b], k=kq, metric=metric)
            close = dist <= threshold
            j = np.repeat(rows_b, kq)[close.ravel()]
            i = rows_a[idx.ravel()[close.ravel()]]
            d = dist.ravel()[close.ravel()].astype(np.float64)
        is_exact = np.zeros(i.size, dtype=bool)
        for codes in exact_sets:
            is_exact |= codes[i] == codes[j]
        out["near"] = (i[~is_exact], j[~is_exact], d[~is_exact])
    if "group" in kinds and group_codes is not None:
        i, j = _code_pairs(group_codes, rows_a, rows_b, k)
        out["group"] = (i, j, _pair_distances(x, i, j, metric))
    return out


def _edges_between(
    edges: tuple[np.ndarray, np.ndarray, np.ndarray], split_codes: np.ndarray, a: int, b: int,
    k: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Graph edges between splits ``a`` and ``b`` as pairs (``i`` in a, ``j`` in b): each pair
    once, at most ``k`` partners per ``j``, nearest first."""
    src, dst, dist = edges
    fwd = (split_codes[src] == a) & (split_codes[dst] == b)
    bwd = (split_codes[src] == b) & (split_codes[dst] == a)
    i = np.concatenate([src[fwd], dst[bwd]])
    j = np.concatenate([dst[fwd], src[bwd]])
    d = np.concatenate([dist[fwd], dist[bwd]])
    if i.size == 0:
        return i, j, d
    order = np.lexsort((i, d, j))
    i, j, d = i[order], j[order], d[order]
    pair = np.unique(np.stack([j, i], axis=1), axis=0, return_index=True)[1]
    i, j, d = i[np.sort(pair)], j[np.sort(pair)], d[np.sort(pair)]
    first = np.searchsorted(j, j, side="left")
    keep = np.arange(j.size) - first < k
    return i[keep], j[keep], d[keep]


def leakage_summary(
    leaks: pd.DataFrame, split: Any, *, splits: Sequence[Any] | None = None
) -> pd.DataFrame:
    """Summarise leaked pairs per split pair: how much of each split is leaked.

    Parameters
    ----------
    leaks : DataFrame
        The output of :func:`find_leakage`.
    split : array-like of shape (N,)
        The split column passed to :func:`find_leakage`.
    splits : sequence of str, optional
        The same ``splits`` passed to :func:`find_leakage`.

    Returns
    -------
    pandas.DataFrame
        One row per split pair ``(split_i, split_j)``: sizes ``n_i`` and ``n_j``; the number of
        rows of ``split_j`` (the evaluation side) with an exact, near or group partner in
        ``split_i`` (``n_exact``, ``n_near``, ``n_group``) and with any (``n_leaked``);
        ``share_leaked = n_leaked / n_j``; and ``n_leaked_i``, the rows of ``split_i`` involved.

    Examples
    --------
    >>> import numpy as np
    >>> from assay.leakage import find_leakage, leakage_summary
    >>> x = np.array([[0.0, 1.0], [1.0, 0.0], [5.0, 5.0], [0.0, 1.0]])
    >>> s = ["train", "train", "test", "test"]
    >>> leakage_summary(find_leakage(x, s, kinds=("exact",)), s)["share_leaked"].tolist()
    [0.5]
    """
    missing = [c for c in _COLUMNS if c not in getattr(leaks, "columns", [])]
    if missing:
        raise InputValidationError(
            f"leaks lacks the column(s) {missing}. Pass the DataFrame returned by find_leakage."
        )
    codes, names = encode_splits(split, splits=splits, owner="leakage_summary")
    sizes = np.bincount(codes[codes >= 0], minlength=len(names))
    rows = []
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            sub = leaks[(leaks["split_i"] == names[a]) & (leaks["split_j"] == names[b])]
            rec: dict[str, Any] = {
                "split_i": names[a], "split_j": names[b],
                "n_i": int(sizes[a]), "n_j": int(sizes[b]),
            }
            for kind in _KINDS:
                rec[f"n_{kind}"] = int(sub.loc[sub["kind"] == kind, "j"].nunique())
            rec["n_leaked"] = int(sub["j"].nunique())
            rec["share_leaked"] = rec["n_leaked"] / sizes[b] if sizes[b] else 0.0
            rec["n_leaked_i"] = int(sub["i"].nunique())
            rows.append(rec)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Target leakage
# --------------------------------------------------------------------------------------------
_TL_COLUMNS = ["column", "check", "score", "baseline", "flagged", "detail"]
_CANDIDATE_COLUMNS = [
    "column", "balanced_accuracy", "best_other", "best_other_accuracy", "error_ratio",
    "rest_accuracy", "error_auc", "rest_missed", "fixed_share", "near_copies", "set_aside",
    "flagged",
]
# The model on the other columns ("the rest") is bounded so that a candidate costs a few seconds:
# at most this many rows (a random sample), columns (the most predictive alone) and folds.
_REST_MAX_ROWS = 3000
_REST_MAX_COLUMNS = 50
_REST_FOLDS = 3
# Another column is a near copy of a candidate when their single-column predictions disagree on
# at most this share of the smaller of their two error rates (two encodings of one leak agree
# everywhere; two honest measurements of one thing disagree about as often as they err).
_COPY_SHARE = 0.2
# Numbers with at most this many distinct values are read as categories by the single-column
# model (a code 0-9 needs more splits than a depth-4 tree finds greedily).
_FEW_VALUES = 32
# Category codes kept per column for the rest model (HistGradientBoosting takes at most 255).
_REST_MAX_CATEGORIES = 250


def find_target_leakage(
    table: pd.DataFrame,
    label: Any,
    *,
    columns: Sequence[str] | None = None,
    min_accuracy: float = 0.93,
    max_error_ratio: float = 0.6,
    max_error_auc: float = 0.7,
    max_candidates: int = 5,
    order_p_value: float = 0.001,
    text_rate: float = 0.5,
    n_folds: int = 5,
    n_permutations: int = 200,
    random_state: Any = 0,
) -> pd.DataFrame:
    """Screen the columns of a table for ones that give the label away.

    Three checks, one result row per column and check:

    - ``single_feature``: a model on that column alone (a depth-4 decision tree with at least
      5 rows a leaf on numbers with more than 32 values; the in-fold majority label of each
      value on categories and on numbers with fewer values) is scored by stratified
      ``n_folds``-fold balanced accuracy (``score``). A strong column is not a leak by itself
      (iris' petal width alone reaches 0.95), so a column is judged against the other columns:
      it is a *candidate* when its balanced accuracy reaches ``min_accuracy`` (the
      ``max_candidates`` best), and is flagged when

      1. its balanced error is at most ``max_error_ratio`` times that of the best *other* column
         alone (``baseline``), near copies of it left out, so that two encodings of one leak do
         not hide each other; and
      2. the other columns together do not explain its mistakes: a model of all the other
         columns (near copies left out; the better, out of fold, of a HistGradientBoosting
         model with native categories and missing values and a logistic regression) gives
         each row a doubt, one minus its probability of the row's label, and the AUC of that
         doubt at telling the rows the column gets wrong from those it gets right is at most
         ``max_error_auc``. An honest column fails where the other columns are unsure too
         (iris' petal width: AUC 0.8; a score computed from the other columns: 0.9-1.0); the
         mistakes of a leak, which knows the label from elsewhere, fall anywhere (about 0.5).

      A column whose values are a one-to-one recoding of the classes is always flagged.
      Columns flagged (by any check) are no yardstick for the others: candidates are judged
      most accurate first without them, until nothing new is flagged. Independent leaks of
      about one strength would still hide each other, so candidates that pass step 2 but not
      step 1 (*suspects*) are judged once more without the other suspects.
    - ``identifier_order``: for identifier-like columns (integers or strings, at least 90 %
      distinct values), the labels read in the order of the identifier form runs; ``score`` is
      ``(expected runs - runs) / (expected runs - K)`` (about 0 for random order, 1 when sorted
      by label) with a
      p-value in ``detail`` (normal tail, with the mean and spread of the runs under
      ``n_permutations`` random orders); flagged when the p-value is below ``order_p_value``.
    - ``label_in_text``: for text columns, the share of rows whose text contains their own
      label's name as a word (``score``), against the share containing another class's name
      (``baseline``); flagged when ``score >= text_rate`` and ``score >= 3 * baseline``.

    The defaults were chosen on ``benchmarks/real_data.py --part leakage`` (tuning tables
    breast_cancer, wine, iris, anes96 and titanic; see ``docs/benchmarks/real_data.md``): a
    leak at 0.95-0.96 balanced accuracy beside an honest column at 0.90 has an error ratio near
    0.45 and an error AUC of 0.4-0.6; iris' petal width has a ratio near 0.8, and honest scores
    computed from the other columns an AUC of 0.9 or more.

    Parameters
    ----------
    table : DataFrame
        The data, one row per sample.
    label : str or array-like of shape (N,)
        The label column's name, or the labels themselves.
    columns : sequence of str, optional
        Columns to screen. Default: every column but the label.
    min_accuracy : float, default=0.93
        Single-column balanced accuracy at which a column becomes a leak candidate (between an
        honest 0.90 and a leak at 0.95).
    max_error_ratio : float, default=0.6
        Largest ratio of a candidate's balanced error to the best other column's at which it is
        flagged.
    max_error_auc : float, default=0.7
        Largest AUC of the other columns' doubt at finding a candidate's mistakes at which it
        is flagged (0.5: its mistakes are unrelated to where the other columns are unsure).
    max_candidates : int, default=5
        Most candidates judged against a model of the other columns (the most accurate first);
        each costs one cross-validated model on at most 3,000 rows and 50 columns.
    order_p_value : float, default=0.001
        Significance for the identifier-order check.
    text_rate : float, default=0.5
        Share of rows naming their own label at which a text column is flagged.
    n_folds : int, default=5
    n_permutations : int, default=200
        Permutations for the identifier-order p-value.
    random_state : int, Generator or None, default=0

    Returns
    -------
    pandas.DataFrame
        Columns ``column``, ``check``, ``score``, ``baseline``, ``flagged``, ``detail``; flagged
        rows first. ``attrs["thresholds"]`` records the thresholds, ``attrs["candidates"]`` the
        evidence per candidate (``balanced_accuracy``, ``best_other``,
        ``best_other_accuracy``, ``error_ratio``, ``rest_accuracy`` of all other columns
        together, ``error_auc``, ``rest_missed`` rows they miss and the ``fixed_share`` of
        those the column gets right, ``near_copies``, ``set_aside`` flagged or suspected
        columns left out, ``flagged``).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from assay.leakage import find_target_leakage
    >>> rng = np.random.default_rng(0)
    >>> y = rng.choice(["cat", "dog"], 400)
    >>> flip = rng.permutation(400) < 16                     # the label with 4 % of it flipped
    >>> df = pd.DataFrame({
    ...     "y": y,
    ...     "leak": np.where(flip, y == "cat", y == "dog") * 1.0,
    ...     "honest": (y == "dog") + rng.normal(0, 0.4, 400),  # about 0.87 alone
    ...     "noise": rng.normal(size=400),
    ... })
    >>> res = find_target_leakage(df, "y")
    >>> res.loc[res["flagged"], "column"].tolist()
    ['leak']
    >>> ev = res.attrs["candidates"].iloc[0]
    >>> print(f"{ev.balanced_accuracy:.3f} {ev.best_other} {ev.error_ratio:.2f} {ev.error_auc:.2f}")
    0.959 honest 0.32 0.56
    >>> print(res["detail"].iloc[0])  # doctest: +NORMALIZE_WHITESPACE
    leak alone reaches 0.959 balanced accuracy; the best other column alone (honest) 0.870; all
    other columns together 0.915; error ratio 0.32 (flagged at <= 0.6); the others' doubt finds
    its mistakes with AUC 0.56 (flagged at <= 0.7); right on 100% of the 33 rows the others miss
    """
    owner = "find_target_leakage"
    if not isinstance(table, pd.DataFrame):
        raise InputValidationError(
            f"table must be a pandas DataFrame; got {type(table).__name__}. "
            "Read files with assay.data.read_table(path)."
        )
    if isinstance(label, str):
        if label not in table.columns:
            raise InputValidationError(
                f"Column {label!r} not found.{did_you_mean(label, table.columns)} "
                f"Columns: {', '.join(map(str, table.columns))}."
            )
        y_raw = table[label]
        label_name = label
    else:
        y_raw = pd.Series(check_1d("label", label))
        label_name = None
    check_same_length(table=table, label=y_raw)
    if y_raw.isna().any():
        raise InputValidationError(
            f"label has {int(y_raw.isna().sum())} missing value(s). Drop unlabelled rows first."
        )
    y, classes = pd.factorize(y_raw.astype(object), sort=True)
    if len(classes) < 2:
        raise InputValidationError(
            "label has one class; target leakage needs at least two. Check the label column."
        )
    if columns is None:
        columns = [c for c in table.columns if c != label_name]
    for c in columns:
        if c not in table.columns:
            raise InvalidParameterError(
                "columns", "names of columns of table", c, owner=owner,
                hint=did_you_mean(str(c), table.columns).strip(),
            )
    for name, v in (("min_accuracy", min_accuracy), ("max_error_ratio", max_error_ratio),
                    ("max_error_auc", max_error_auc), ("text_rate", text_rate)):
        if isinstance(v, bool) or not (isinstance(v, int | float) and 0 < v <= 1):
            raise InvalidParameterError(name, "a float in (0, 1]", v, owner=owner)
    max_candidates = check_int("max_candidates", max_candidates, low=0, owner=owner)
    n_folds = check_int("n_folds", n_folds, low=2, owner=owner)
    n_permutations = check_int("n_permutations", n_permutations, low=1, owner=owner)
    rng = check_random_state(random_state)
    n_classes = len(classes)
    chance = 1.0 / n_classes
    folds = _stratified_folds(y, n_folds, rng)
    columns = list(columns)
    preds = {c: _single_feature_pred(table[c], y, folds, n_classes) for c in columns}
    bacc = {c: _balanced_accuracy(y, p, n_classes) for c, p in preds.items()}
    ranked = sorted(columns, key=lambda c: -bacc[c])
    candidates = [c for c in ranked if bacc[c] >= min_accuracy][:max_candidates]
    screens: dict[Any, list[dict[str, Any]]] = {c: [] for c in columns}
    for col in columns:
        values = table[col]
        if _is_identifier(values):
            score, p = _order_runs(values, y, n_permutations, rng)
            screens[col].append({
                "column": col, "check": "identifier_order", "score": score, "baseline": 0.0,
                "flagged": bool(p < order_p_value),
                "detail": f"labels sorted by {col} form fewer runs than chance (p = {p:.4g})"
                if p < order_p_value else f"label runs along {col} look random (p = {p:.4g})",
            })
        if _is_text(values):
            own, other, usable = _label_in_text(values, y, [str(c) for c in classes], rng)
            if usable:
                screens[col].append({
                    "column": col, "check": "label_in_text", "score": own, "baseline": other,
                    "flagged": bool(own >= text_rate and own >= 3 * other),
                    "detail": f"{own:.1%} of rows contain their own label's name, "
                              f"{other:.1%} another class's",
                })
    # Columns found to leak are not a yardstick for the others: judge the candidates, most
    # accurate first, without the columns flagged so far, until no new column is flagged.
    found = {c for c in columns
             if any(r["flagged"] for r in screens[c]) or _is_label_recoding(table[c], y)}
    evidence: dict[Any, dict[str, Any]] = {}
    judged_with: dict[Any, frozenset] = {}

    def judge(pool: list[Any], suspects: frozenset) -> bool:
        """Judge the unflagged candidates in ``pool`` without the found and suspected columns."""
        new = False
        changed = True
        while changed:
            changed = False
            for c in pool:
                aside = frozenset(found | suspects) - {c}
                if evidence.get(c, {}).get("flagged") or judged_with.get(c) == aside:
                    continue
                judged_with[c] = aside
                evidence[c] = _judge_candidate(
                    table, c, [d for d in columns if d not in aside], preds, bacc, y, n_classes,
                    rng, max_error_ratio=max_error_ratio, max_error_auc=max_error_auc)
                evidence[c]["set_aside"] = [d for d in columns if d in aside]
                if evidence[c]["flagged"]:
                    found.add(c)
                    changed = new = True
        return new

    judge(candidates, frozenset())
    # Independent leaks of about one strength hide each other (each is the other's best other
    # column). Candidates whose mistakes the others do not explain are suspects: judge each
    # without the other suspects, then the rest again without what that flagged.
    while True:
        suspects = frozenset(c for c in candidates if not evidence[c]["flagged"]
                             and evidence[c]["error_auc"] <= max_error_auc)
        if len(suspects) < 2 or not judge([c for c in candidates if c in suspects], suspects):
            break
        judge(candidates, frozenset())
    rows: list[dict[str, Any]] = []
    for col in columns:
        rows.append(_single_feature_row(col, table[col], y, bacc, ranked, evidence.get(col),
                                        chance, min_accuracy, max_error_ratio, max_error_auc))
        rows.extend(screens[col])
    out = pd.DataFrame(rows, columns=_TL_COLUMNS)
    out = out.sort_values(["flagged", "score"], ascending=[False, False], kind="stable")
    out = out.reset_index(drop=True)
    out.attrs["thresholds"] = {
        "min_accuracy": min_accuracy, "max_error_ratio": max_error_ratio,
        "max_error_auc": max_error_auc, "max_candidates": max_candidates,
        "order_p_value": order_p_value, "text_rate": text_rate,
        "text_ratio": 3.0, "identifier_min_distinct": 0.9, "n_folds": n_folds,
        "near_copy_share": _COPY_SHARE,
        "rest_model": f"the better of HistGradientBoosting (50 iterations) and logistic "
                      f"regression, {_REST_FOLDS}-fold out-of-fold, at most {_REST_MAX_ROWS} "
                      f"rows and {_REST_MAX_COLUMNS} columns",
        "source": "min_accuracy between an honest column at 0.90 and a leak at 0.95; "
                  "max_error_ratio and max_error_auc chosen on benchmarks/real_data.py --part "
                  "leakage (tuning tables breast_cancer, wine, iris, anes96, titanic)",
    }
    out.attrs["candidates"] = pd.DataFrame(
        [evidence[c] for c in candidates], columns=_CANDIDATE_COLUMNS
    )
    return out


def _single_feature_row(
    col: Any, values: pd.Series, y: np.ndarray, bacc: dict[Any, float], ranked: list[Any],
    ev: dict[str, Any] | None, chance: float, min_accuracy: float, max_error_ratio: float,
    max_error_auc: float,
) -> dict[str, Any]:
    """The ``single_feature`` result row of one column."""
    acc = bacc[col]
    if ev is None:
        best = next((c for c in ranked if c != col), None)
        baseline = bacc[best] if best is not None else chance
        recoding = _is_label_recoding(values, y)
        detail = f"balanced accuracy {acc:.3f} alone (chance {chance:.3f}); " + (
            f"under {min_accuracy:g}, not a leak candidate" if acc < min_accuracy
            else "not among the most accurate columns judged against the others")
        if recoding:
            detail = "a one-to-one recoding of the label; " + detail
        return {"column": col, "check": "single_feature", "score": acc, "baseline": baseline,
                "flagged": recoding, "detail": detail}
    recoding = _is_label_recoding(values, y)
    best = ev["best_other"]
    parts = [f"{col!s} alone reaches {acc:.3f} balanced accuracy"]
    parts.append(f"the best other column alone ({best!s}) {ev['best_other_accuracy']:.3f}"
                 if best is not None else "no other column to judge it against")
    parts.append(f"all other columns together {ev['rest_accuracy']:.3f}")
    detail = "; ".join(parts) + (
        f"; error ratio {ev['error_ratio']:.2f} (flagged at <= {max_error_ratio:g}); the "
        f"others' doubt finds its mistakes with AUC {ev['error_auc']:.2f} (flagged at <= "
        f"{max_error_auc:g}); right on {ev['fixed_share']:.0%} of the {ev['rest_missed']} rows "
        "the others miss"
    )
    if ev["near_copies"]:
        detail += f"; near copies left out: {', '.join(map(str, ev['near_copies']))}"
    if ev["set_aside"]:
        detail += ("; flagged or suspected leaks left out: "
                   f"{', '.join(map(str, ev['set_aside']))}")
    if recoding:
        detail = "a one-to-one recoding of the label; " + detail
    return {"column": col, "check": "single_feature", "score": acc,
            "baseline": ev["best_other_accuracy"], "flagged": bool(ev["flagged"] or recoding),
            "detail": detail}


#: Balanced accuracy at which a column with no other column to be judged against is flagged.
_ALONE_DECIDES = 0.99


def _judge_candidate(
    table: pd.DataFrame, col: Any, columns: list[Any], preds: dict[Any, np.ndarray],
    bacc: dict[Any, float], y: np.ndarray, n_classes: int, rng: np.random.Generator, *,
    max_error_ratio: float, max_error_auc: float,
) -> dict[str, Any]:
    """Evidence on one candidate: the best other column, the rest's model, near copies."""
    mine = preds[col]
    err = float(np.mean(mine != y))
    copies = []
    for other in columns:
        if other == col:
            continue
        err_o = float(np.mean(preds[other] != y))
        if np.mean(preds[other] != mine) <= _COPY_SHARE * min(err, err_o):
            copies.append(other)
    others = sorted((c for c in columns if c != col and c not in copies), key=lambda c: -bacc[c])
    best = others[0] if others else None
    best_acc = bacc[best] if best is not None else 1.0 / n_classes
    ratio = _error_ratio(1.0 - bacc[col], 1.0 - best_acc)
    # The rest: an out-of-fold model on the other columns, on a sample of rows.
    rows = np.arange(y.size)
    if y.size > _REST_MAX_ROWS:
        rows = np.sort(rng.choice(y.size, size=_REST_MAX_ROWS, replace=False))
    y_s = y[rows]
    rest_pred, rest_doubt = _rest_predictions(table.iloc[rows], others[:_REST_MAX_COLUMNS], y_s,
                                              n_classes, rng)
    rest_acc = _balanced_accuracy(y_s, rest_pred, n_classes)
    missed = rest_pred != y_s
    fixed = float(np.mean(mine[rows][missed] == y_s[missed])) if missed.any() else 0.0
    auc = _doubt_auc(rest_doubt, mine[rows] != y_s)
    return {
        "column": col, "balanced_accuracy": bacc[col], "best_other": best,
        "best_other_accuracy": best_acc, "error_ratio": ratio, "rest_accuracy": rest_acc,
        "error_auc": auc, "rest_missed": int(missed.sum()), "fixed_share": fixed,
        "near_copies": copies,
        # With no other column there is nothing to judge the column against: one strong
        # feature is not a leak by itself (iris' petal width alone: 0.95); only a column that
        # decides the label on (nearly) every row is (a recoding, "hours worked" for "works").
        "flagged": bool(ratio <= max_error_ratio and auc <= max_error_auc
                        and (others or bacc[col] >= _ALONE_DECIDES)),
    }


def _doubt_auc(doubt: np.ndarray, wrong: np.ndarray) -> float:
    """AUC of ``doubt`` at telling the rows in ``wrong`` from the others (0.5 when undefined)."""
    n_wrong = int(wrong.sum())
    n_right = wrong.size - n_wrong
    if n_wrong == 0 or n_right == 0:
        return 0.5
    from scipy.stats import rankdata

    ranks = rankdata(doubt)
    return float((ranks[wrong].sum() - n_wrong * (n_wrong + 1) / 2) / (n_wrong * n_right))


def _error_ratio(err: float, reference: float) -> float:
    if reference > 0:
        return float(err / reference)
    return 1.0 if err <= 0 else float("inf")


def _rest_predictions(
    table: pd.DataFrame, columns: list[Any], y: np.ndarray, n_classes: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold predictions of the better of two models on ``columns`` (majority if none).

    A gradient-boosted model (native categories and missing values) and a logistic regression
    (standardised numbers, one-hot categories): trees miss additive summaries of many columns
    (a total score) that a linear model gets, and the other way round.
    """
    majority = int(np.argmax(np.bincount(y, minlength=n_classes)))
    if not columns:
        prior = np.bincount(y, minlength=n_classes) / y.size
        return np.full(y.size, majority, dtype=np.int64), 1.0 - prior[y]
    import warnings

    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    x, categorical = _rest_matrix(table[columns])
    linear = _rest_linear_matrix(x, categorical)
    folds = _stratified_folds(y, _REST_FOLDS, rng)
    best = np.full(y.size, majority, dtype=np.int64)
    best_doubt = np.ones(y.size)
    best_acc = -1.0
    # One thread: the data are small, and OpenMP threads oversubscribed on a busy machine are
    # orders of magnitude slower.
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for kind in ("trees", "linear"):
            pred = np.full(y.size, majority, dtype=np.int64)
            p_true = np.zeros(y.size)
            for f in range(_REST_FOLDS):
                test = folds == f
                train_classes = np.unique(y[~test])
                if not test.any() or train_classes.size == 0:
                    continue
                if train_classes.size == 1:
                    pred[test] = train_classes[0]
                    p_true[test] = y[test] == train_classes[0]
                    continue
                if kind == "trees":
                    model: Any = HistGradientBoostingClassifier(
                        max_iter=50, learning_rate=0.2, max_leaf_nodes=15,
                        early_stopping=False, random_state=0,
                        categorical_features=categorical if categorical.any() else None,
                    )
                    model.fit(x[~test], y[~test])
                    proba = model.predict_proba(x[test])
                else:
                    model = LogisticRegression(max_iter=300)
                    model.fit(linear[~test], y[~test])
                    proba = model.predict_proba(linear[test])
                pred[test] = model.classes_[proba.argmax(axis=1)]
                col = np.searchsorted(model.classes_, y[test])
                seen = np.isin(y[test], model.classes_)
                p_true[test] = np.where(seen, proba[np.arange(proba.shape[0]),
                                                    np.minimum(col, proba.shape[1] - 1)], 0.0)
            acc = _balanced_accuracy(y, pred, n_classes)
            if acc > best_acc:
                best, best_doubt, best_acc = pred, 1.0 - p_true, acc
    return best, best_doubt


def _rest_linear_matrix(x: np.ndarray, categorical: np.ndarray) -> np.ndarray:
    """Standardised numbers (median for missing, plus an indicator), top-20 one-hot codes."""
    blocks = []
    for j in range(x.shape[1]):
        v = x[:, j]
        missing = np.isnan(v)
        if categorical[j]:
            codes = np.where(missing, -1, v)
            blocks.append((codes[:, None] == np.arange(20)[None, :]).astype(np.float64))
            continue
        fill = float(np.nanmedian(v)) if (~missing).any() else 0.0
        v = np.where(missing, fill, v)
        sd = float(v.std())
        blocks.append(((v - v.mean()) / sd if sd > 0 else v * 0.0)[:, None])
        if missing.any():
            blocks.append(missing[:, None].astype(np.float64))
    return np.hstack(blocks)


def _rest_matrix(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Numbers as floats (NaN missing), anything else as frequency-ranked category codes."""
    cols = []
    categorical = np.zeros(table.shape[1], dtype=bool)
    for i, c in enumerate(table.columns):
        v = table[c]
        if pd.api.types.is_numeric_dtype(v) and not pd.api.types.is_bool_dtype(v):
            cols.append(v.to_numpy(dtype=np.float64, na_value=np.nan))
            continue
        codes, uniques = pd.factorize(v.astype(object))
        counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
        rank = np.empty(len(uniques), dtype=np.float64)
        rank[np.argsort(-counts, kind="stable")] = np.arange(len(uniques))
        col = np.minimum(rank[np.maximum(codes, 0)], _REST_MAX_CATEGORIES) if len(uniques) else (
            np.zeros(codes.size))
        cols.append(np.where(codes >= 0, col, np.nan))
        categorical[i] = True
    return np.column_stack(cols), categorical


def _is_label_recoding(values: pd.Series, y: np.ndarray) -> bool:
    """True when the column's values and the classes are in one-to-one correspondence."""
    if values.isna().any():
        return False
    codes, uniques = pd.factorize(values.astype(object))
    n_classes = int(y.max()) + 1
    if len(uniques) != np.count_nonzero(np.bincount(y, minlength=n_classes)):
        return False
    pairs = np.unique(codes.astype(np.int64) * n_classes + y)
    return bool(pairs.size == len(uniques))


def _stratified_folds(y: np.ndarray, n_folds: int, rng: np.random.Generator) -> np.ndarray:
    """A fold id per row, each class dealt round-robin over the folds after shuffling."""
    fold = np.empty(y.size, dtype=np.int64)
    perm = rng.permutation(y.size)
    order = perm[np.argsort(y[perm], kind="stable")]
    starts = np.searchsorted(y[order], np.arange(int(y.max()) + 1))
    rank = np.arange(y.size) - starts[y[order]]
    offset = rng.integers(n_folds, size=int(y.max()) + 1)
    fold[order] = (rank + offset[y[order]]) % n_folds
    return fold


def _balanced_accuracy(y: np.ndarray, pred: np.ndarray, n_classes: int) -> float:
    counts = np.bincount(y, minlength=n_classes)
    hits = np.bincount(y[pred == y], minlength=n_classes)
    present = counts > 0
    return float(np.mean(hits[present] / counts[present]))


def _single_feature_pred(
    values: pd.Series, y: np.ndarray, folds: np.ndarray, n_classes: int
) -> np.ndarray:
    """Out-of-fold predictions of a model on one column.

    Numbers with more than 32 distinct values: a decision tree (depth 4, or enough for one leaf
    per class, at least 5 rows a leaf). Anything else (codes, categories): the in-fold majority
    label of each value.
    """
    pred = np.empty(y.size, dtype=np.int64)
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if numeric and values.nunique(dropna=True) > _FEW_VALUES:
        from sklearn.tree import DecisionTreeClassifier

        v = values.to_numpy(dtype=np.float64, na_value=np.nan)
        missing = np.isnan(v)
        fill = np.nanmedian(v) if (~missing).any() else 0.0
        xm = np.column_stack([np.where(missing, fill, v), missing])
        depth = max(4, int(np.ceil(np.log2(n_classes))) + 1)
        for f in np.unique(folds):
            test = folds == f
            tree = DecisionTreeClassifier(max_depth=depth, min_samples_leaf=5, random_state=0)
            tree.fit(xm[~test], y[~test])
            pred[test] = tree.predict(xm[test])
        return pred
    codes, _ = pd.factorize(values.astype(object), use_na_sentinel=False)
    n_values = int(codes.max()) + 1
    for f in np.unique(folds):
        test = folds == f
        table = np.zeros((n_values, n_classes), dtype=np.int64)
        np.add.at(table, (codes[~test], y[~test]), 1)
        majority = int(np.argmax(np.bincount(y[~test], minlength=n_classes)))
        seen = table.sum(axis=1) > 0
        best = np.where(seen, table.argmax(axis=1), majority)
        pred[test] = best[codes[test]]
    return pred


def _is_identifier(values: pd.Series) -> bool:
    if len(values) < 10 or values.isna().any():
        return False
    integer = pd.api.types.is_integer_dtype(values)
    stringy = pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)
    return (integer or stringy) and values.nunique() >= 0.9 * len(values)


def _is_text(values: pd.Series) -> bool:
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return False
    return pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)


def _runs(y_sorted: np.ndarray) -> np.ndarray:
    """Number of runs along the last axis."""
    return 1 + np.count_nonzero(np.diff(y_sorted, axis=-1), axis=-1)


def _order_runs(
    values: pd.Series, y: np.ndarray, n_permutations: int, rng: np.random.Generator
) -> tuple[float, float]:
    """Clumping score of labels read in identifier order, and its permutation p-value."""
    key = pd.to_numeric(values, errors="coerce")
    if key.isna().any():
        key = values.astype(str)
    order = np.argsort(key.to_numpy(), kind="stable")
    observed = int(_runs(y[order]))
    n = y.size
    counts = np.bincount(y)
    expected = 1 + (n - 1) * (1 - np.sum(counts * (counts - 1)) / (n * (n - 1)))
    fewest = int(np.count_nonzero(counts))  # runs when the rows are sorted by label
    score = float(np.clip((expected - observed) / max(expected - fewest, 1e-12), -1.0, 1.0))
    null = np.empty(n_permutations, dtype=np.float64)
    for start in range(0, n_permutations, 50):
        stop = min(start + 50, n_permutations)
        perms = rng.permuted(np.tile(y, (stop - start, 1)), axis=1)
        null[start:stop] = _runs(perms)
    # Normal tail with the permutation null's mean and spread: a plain permutation p-value
    # cannot go below 1 / (n_permutations + 1), which is too coarse for a strict threshold.
    sd = float(null.std(ddof=1)) if n_permutations > 1 else 0.0
    if sd > 0:
        from scipy.stats import norm

        p = float(norm.cdf((observed + 0.5 - null.mean()) / sd))
    else:
        p = 1.0 if observed >= null.mean() else 0.0
    return score, float(p)


def _label_in_text(
    values: pd.Series, y: np.ndarray, names: list[str], rng: np.random.Generator
) -> tuple[float, float, bool]:
    """Share of rows naming their own label, share naming another; False when unusable."""
    usable = [len(s) >= 2 and not re.fullmatch(r"[\d.\-]+", s) for s in names]
    if not any(usable):
        return 0.0, 0.0, False
    text = values.fillna("").astype(str).str.lower()
    patterns = [
        re.compile(r"(?<![a-z])" + re.escape(s.lower()) + r"(?![a-z])") for s in names
    ]
    own_hits = 0
    other_hits = 0
    other_total = 0
    for c, ok in enumerate(usable):
        if not ok:
            continue
        mine = np.flatnonzero(y == c)
        own_hits += int(text.iloc[mine].str.contains(patterns[c]).sum())
        others = np.flatnonzero(y != c)
        if others.size > 200:
            others = rng.choice(others, size=200, replace=False)
        other_hits += int(text.iloc[others].str.contains(patterns[c]).sum())
        other_total += others.size
    n_own = int(np.isin(y, np.flatnonzero(usable)).sum())
    own = own_hits / n_own if n_own else 0.0
    other = other_hits / other_total if other_total else 0.0
    return float(own), float(other), True
