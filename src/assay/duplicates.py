"""Exact and near duplicates, grouped into sets.

Exact duplicates share a content hash (of the feature row, or of raw row content when given:
table cells, text, the bytes of image files). Near duplicates are k-NN pairs much closer than
the row's own neighbourhood: the default threshold is a ratio test against the row's k-th
neighbour distance, calibrated by the data's intrinsic dimension (:func:`near_ratio`), so it
adapts to dense and sparse regions and to the metric; ``near_fraction=0.13`` gives cleanlab
Datalab's global rule instead (a fraction of the median nearest-neighbour distance). Duplicate
sets are the connected components of the exact and near edges, so a chain of near copies forms
one set.

Why not Datalab's rule: on Euclidean distances it depends on how far natural neighbours are
from each other, not on how close copies are. Digit images copied with pixel noise of sd 0.5
(of 16) lie at 0.15-0.28 x the median nearest-neighbour distance, above 0.13, while the closest
natural pair lies at 0.34 x; in a table of diamonds, 1 % of the natural rows have a neighbour
closer than 0.08 x the median. A ratio against each row's own k-th neighbour is local, and the
intrinsic dimension says how small a ratio chance alone produces (``benchmarks/real_data.py
--part neighbours``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from assay._validation import check_choice, check_features, check_fraction
from assay.exceptions import InputValidationError, InvalidParameterError
from assay.neighbors import KnnGraph, knn_graph

__all__ = ["DuplicateResult", "find_duplicates", "hash_rows", "intrinsic_dimension", "near_ratio"]

#: Near-duplicate threshold of the global rule (``near_fraction=...``): a fraction of the median
#: nearest-neighbour distance (cleanlab Datalab's default, kept for comparability).
NEAR_FRACTION = 0.13
#: Chance level of the default ratio test: a pair is a near duplicate when a neighbour this close
#: (relative to the row's k-th neighbour) has probability below NEAR_ALPHA among uniformly
#: scattered points of the data's intrinsic dimension (one row in a thousand).
NEAR_ALPHA = 1e-3
#: The local scale is the row's k-th neighbour distance, floored at this quantile of those
#: distances over all rows (a set of more than k near copies would otherwise be its own scale).
LOCAL_SCALE_FLOOR_QUANTILE = 0.05
#: Rows hashed (:func:`hash_rows`) or read from the graph at a time: the temporaries are a few
#: copies of one block, not of the N x d rows or N x k neighbours.
BLOCK_ROWS = 65_536


@dataclass(frozen=True)
class DuplicateResult:
    """Duplicate flags and sets.

    Attributes
    ----------
    is_exact_duplicate, is_near_duplicate : ndarray of shape (N,), bool
        A row with an identical twin; a row with a near (non-identical) twin.
    duplicate_set : ndarray of shape (N,), int64
        Set id (0, 1, ...) for rows in a set of two or more, -1 otherwise.
    pairs : ndarray of shape (P, 2), int64
        Near pairs ``i < j`` (exact pairs are implied by equal hashes).
    pair_distances : ndarray of shape (P,), float32
    threshold : float
        Distance below which a k-NN pair is a near duplicate: the global threshold, or with the
        ratio test the median of the per-row thresholds.
    rule : str
        ``"ratio"`` (the default local ratio test) or ``"global"`` (``near_fraction``).
    ratio : float or None
        With the ratio test: the ratio to the row's local scale under which a pair is near.
    intrinsic_dim : float or None
        With the ratio test: the intrinsic dimension estimated from the k-NN distances.
    metric : str
        The distance of the k-NN graph used.
    copy_of : ndarray of shape (N,), int64
        For a row in a set, the row it is a direct copy of: for an exact copy the first row of
        its identical group (for that first row, the second); else its nearest near-pair
        partner (ties to the lower row). -1 outside sets. Sets are connected components, so
        two members of one set need not be copies of each other (a chain ``a ~ b ~ c``);
        ``copy_of`` names a direct link, which :func:`assay.curate.keep_one_per_copy` uses so
        that every dropped row is a copy of a row that stays.
    """

    is_exact_duplicate: np.ndarray
    is_near_duplicate: np.ndarray
    duplicate_set: np.ndarray
    pairs: np.ndarray
    pair_distances: np.ndarray
    threshold: float
    rule: str = "global"
    ratio: float | None = None
    intrinsic_dim: float | None = None
    metric: str = ""
    copy_of: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def n_sets(self) -> int:
        """Number of duplicate sets."""
        return int(self.duplicate_set.max() + 1) if self.duplicate_set.size else 0

    def sets(self) -> list[np.ndarray]:
        """Row indices of each set, largest first."""
        order = np.argsort(self.duplicate_set, kind="stable")
        ids = self.duplicate_set[order]
        keep = ids >= 0
        groups = np.split(order[keep], np.flatnonzero(np.diff(ids[keep])) + 1)
        return sorted((g for g in groups if g.size), key=lambda g: (-g.size, int(g[0])))


def hash_rows(values: Any) -> np.ndarray:
    """64-bit content hash per row of a 2-d array or a DataFrame (equal rows, equal hashes)."""
    import pandas as pd

    if isinstance(values, pd.DataFrame):
        return pd.util.hash_pandas_object(values, index=False).to_numpy()
    arr = np.asarray(values)
    if arr.ndim != 2:
        raise InputValidationError(f"hash_rows needs a 2-d array; got shape {arr.shape}.")
    if arr.dtype == object:
        return pd.util.hash_pandas_object(pd.DataFrame(arr), index=False).to_numpy()
    # in row blocks: a memory-mapped matrix is read once, and no N x d copy is made
    out = np.empty(arr.shape[0], dtype=np.uint64)
    for start in range(0, arr.shape[0], BLOCK_ROWS):
        block = arr[start:start + BLOCK_ROWS]
        if block.dtype.kind == "f":
            block = block + 0.0  # -0.0 and 0.0 hash alike
        out[start:start + BLOCK_ROWS] = _hash_bytes(np.ascontiguousarray(block))
    return out


def _hash_bytes(arr: np.ndarray) -> np.ndarray:
    """FNV-1a over 64-bit words of each row, then a splitmix64 finaliser; vectorised over rows."""
    n = arr.shape[0]
    raw = arr.view(np.uint8).reshape(n, -1)
    width = -(-raw.shape[1] // 8) * 8
    if width != raw.shape[1]:
        raw = np.hstack([raw, np.zeros((n, width - raw.shape[1]), dtype=np.uint8)])
    words = np.ascontiguousarray(raw).view(np.uint64)
    h = np.full(n, 0xCBF29CE484222325, dtype=np.uint64)
    prime = np.uint64(0x100000001B3)
    for j in range(words.shape[1]):
        h = (h ^ words[:, j]) * prime
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(31)
    return h


def intrinsic_dimension(distances: Any) -> float:
    """Intrinsic dimension of the data from each row's k nearest-neighbour distances.

    The maximum-likelihood estimate of Levina and Bickel (2005) per row,
    ``(k - 1) / sum_j log(d_k / d_j)`` over its ``k - 1`` nearer neighbours, then the median over
    rows (robust to duplicates, whose tiny distances inflate their own row's sum). Rows with a
    zero distance (exact copies) or with all k distances equal are left out. Distances that are
    a power of Euclidean ones (cosine distance of unit vectors is half the squared Euclidean
    distance) give the dimension divided by that power, which the ratio test accounts for.

    Parameters
    ----------
    distances : array-like of shape (N, k)
        Ascending neighbour distances per row, k >= 2.

    Returns
    -------
    float
        NaN when no row qualifies.

    Examples
    --------
    >>> import numpy as np
    >>> from assay.neighbors import knn_graph
    >>> x = np.random.default_rng(0).uniform(size=(2000, 3))
    >>> round(intrinsic_dimension(knn_graph(x, k=10, metric="euclidean").distances))
    3
    """
    dist = np.asarray(distances)
    if dist.ndim != 2 or dist.shape[1] < 2:
        raise InputValidationError(
            f"intrinsic_dimension needs an (N, k) array of neighbour distances with k >= 2; got "
            f"shape {dist.shape}. Build the graph with k >= 2."
        )
    per_row = []
    for start in range(0, dist.shape[0], BLOCK_ROWS):  # row blocks: no N x k copies
        d = dist[start:start + BLOCK_ROWS].astype(np.float64)
        d = d[(d[:, 0] > 0) & np.isfinite(d).all(axis=1)]
        logs = np.log(d[:, -1:] / d[:, :-1]).sum(axis=1)
        per_row.append((d.shape[1] - 1) / logs[logs > 0])
    estimates = np.concatenate(per_row)
    if not estimates.size:
        return float("nan")
    return float(np.median(estimates))


def near_ratio(intrinsic_dim: float, k: int, *, alpha: float = NEAR_ALPHA) -> float:
    """Ratio to the k-th neighbour distance under which a nearest neighbour is not chance.

    Among points scattered uniformly in ``m`` dimensions, given a row's k-th neighbour distance
    ``d_k``, its other ``k - 1`` neighbours are uniform in the ball of radius ``d_k``, so the
    chance that the nearest lies within ``r * d_k`` is ``1 - (1 - r^m)^(k - 1)``. The ratio
    returned makes that chance ``alpha``: ``r = (1 - (1 - alpha)^(1 / (k - 1)))^(1 / m)``.
    In few dimensions natural neighbours come close by chance and ``r`` is small; in many they
    do not and ``r`` grows.

    Parameters
    ----------
    intrinsic_dim : float
        ``m``, e.g. from :func:`intrinsic_dimension`.
    k : int
        Neighbours per row (>= 2).
    alpha : float, default=1e-3

    Returns
    -------
    float in (0, 1)

    Examples
    --------
    >>> round(near_ratio(8.0, 10), 3)
    0.32
    >>> round(near_ratio(2.0, 10), 3)
    0.011
    """
    if not (isinstance(intrinsic_dim, int | float) and intrinsic_dim > 0):
        raise InvalidParameterError("intrinsic_dim", "a number > 0", intrinsic_dim,
                                    owner="near_ratio")
    if not (isinstance(k, int | np.integer) and k >= 2):
        raise InvalidParameterError("k", "an int >= 2", k, owner="near_ratio")
    if not (isinstance(alpha, int | float) and 0 < alpha < 1):
        raise InvalidParameterError("alpha", "a float in (0, 1)", alpha, owner="near_ratio")
    chance = -np.expm1(np.log1p(-alpha) / (k - 1))
    return float(chance ** (1.0 / intrinsic_dim))


def find_duplicates(
    features: Any,
    *,
    knn: KnnGraph | None = None,
    k: int = 10,
    metric: str = "euclidean",
    near_fraction: float | None = None,
    alpha: float = NEAR_ALPHA,
    content: Any = None,
) -> DuplicateResult:
    """Find exact and near duplicates and group them into sets.

    Parameters
    ----------
    features : array-like of shape (N, d)
    knn : KnnGraph, optional
        A graph already built on ``features`` (reused, not recomputed; its metric is used).
    k : int, default=10
        Neighbours per row when the graph is built here.
    metric : {"euclidean", "cosine"}, default="euclidean"
        Distance of the graph built here: Euclidean for pixels and scaled tables, cosine for
        text or learned embeddings (``assay.data.featurize`` records which fits).
    near_fraction : float, optional
        Use the global rule instead of the ratio test: a k-NN pair is a near duplicate when its
        distance is at most ``near_fraction`` times the median nearest-neighbour distance
        (0.13 is cleanlab Datalab's default).
    alpha : float, default=1e-3
        Chance level of the ratio test (default rule): a k-NN pair ``(i, j)`` is near when
        ``d(i, j) <= near_ratio(m, k, alpha) * max(d_k(i), q05)``, with ``m`` the
        :func:`intrinsic_dimension` of the graph's distances, ``d_k(i)`` row i's k-th
        neighbour distance and ``q05`` the 5th percentile of those over all rows (so a set of
        more than k near copies is not its own scale). Needs k >= 3; below, the global rule
        with 0.13 is used.
    content : array-like or DataFrame of N rows, optional
        Raw content to hash for exact duplicates (default: the feature rows); an array of
        precomputed hashes (``uint64``, e.g. :func:`assay.data.file_hashes`) is used as is.

    Returns
    -------
    DuplicateResult

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(200, 5))
    >>> x[1] = x[0]                      # an exact copy
    >>> x[3] = x[2] + 0.001              # a near copy
    >>> r = find_duplicates(x)
    >>> r.duplicate_set[:4].tolist(), int((r.duplicate_set >= 0).sum()), r.rule
    ([0, 0, 1, 1], 4, 'ratio')
    """
    x = check_features(features)
    metric = check_choice("metric", metric, ("euclidean", "cosine"), owner="find_duplicates")
    if near_fraction is not None:
        near_fraction = check_fraction("near_fraction", near_fraction, owner="find_duplicates")
    if not (isinstance(alpha, int | float) and 0 < alpha < 1):
        raise InvalidParameterError("alpha", "a float in (0, 1)", alpha, owner="find_duplicates")
    n = x.shape[0]
    if content is not None and isinstance(content, np.ndarray) and content.ndim == 1 \
            and content.dtype == np.uint64:
        hashes = content
    else:
        hashes = hash_rows(x if content is None else content)
    if len(hashes) != n:
        raise InputValidationError(
            f"content has {len(hashes)} rows but features have {n}. Pass aligned rows."
        )
    _, inverse, counts = np.unique(hashes, return_inverse=True, return_counts=True)
    is_exact = counts[inverse] > 1
    if n < 2:
        empty = np.empty((0, 2), dtype=np.int64)
        return DuplicateResult(is_exact, np.zeros(n, dtype=bool), _components(n, inverse, empty),
                               empty, np.empty(0, dtype=np.float32), 0.0, "global", None, None,
                               metric, _copy_of(inverse, empty, np.empty(0, dtype=np.float32)))
    graph = knn if knn is not None else knn_graph(x, k=min(k, n - 1), metric=metric)
    rule, ratio, dim = "global", None, None
    if near_fraction is None and graph.k >= 3:
        dim = intrinsic_dimension(graph.distances)
        if np.isfinite(dim):
            rule = "ratio"
            ratio = near_ratio(dim, graph.k, alpha=alpha)
            dk = graph.distances[:, -1].astype(np.float64)
            positive_dk = dk[np.isfinite(dk) & (dk > 0)]
            floor = (float(np.quantile(positive_dk, LOCAL_SCALE_FLOOR_QUANTILE))
                     if positive_dk.size else 0.0)
            row_threshold = ratio * np.maximum(np.where(np.isfinite(dk), dk, 0.0), floor)
            threshold = float(np.median(row_threshold))
    if rule == "global":
        nn = graph.distances[:, 0].astype(np.float64)
        positive = nn[nn > 0]
        median = float(np.median(positive)) if positive.size else 0.0
        threshold = (NEAR_FRACTION if near_fraction is None else near_fraction) * median
        row_threshold = np.full(n, threshold)
    found, found_dist = [], []
    for start in range(0, n, BLOCK_ROWS):  # row blocks: no N x k temporaries
        cols = graph.indices[start:start + BLOCK_ROWS]
        dist = graph.distances[start:start + BLOCK_ROWS].astype(np.float64)
        rows = np.broadcast_to(np.arange(start, start + cols.shape[0])[:, None], cols.shape)
        near = ((dist <= row_threshold[start:start + BLOCK_ROWS, None]) & (cols >= 0)
                & (hashes[rows] != hashes[np.maximum(cols, 0)]))
        found.append(np.stack([np.minimum(rows[near], cols[near]),
                               np.maximum(rows[near], cols[near])], axis=1))
        found_dist.append(dist[near])
    pairs, first = np.unique(np.concatenate(found), axis=0, return_index=True)
    pair_dist = np.concatenate(found_dist)[first].astype(np.float32)
    is_near = np.zeros(n, dtype=bool)
    is_near[pairs.ravel()] = True
    sets = _components(n, inverse, pairs)
    return DuplicateResult(is_exact, is_near, sets, pairs.astype(np.int64), pair_dist,
                           float(threshold), rule, ratio, dim, graph.metric,
                           _copy_of(inverse, pairs, pair_dist))


def _copy_of(hash_group: np.ndarray, pairs: np.ndarray, pair_dist: np.ndarray) -> np.ndarray:
    """Each row's direct copy (see ``DuplicateResult.copy_of``): exact links first, else the
    nearest near-pair partner; -1 for a row with neither."""
    n = hash_group.size
    out = np.full(n, -1, dtype=np.int64)
    if pairs.size:
        a = np.concatenate([pairs[:, 0], pairs[:, 1]])
        b = np.concatenate([pairs[:, 1], pairs[:, 0]])
        d = np.concatenate([pair_dist, pair_dist]).astype(np.float64)
        order = np.lexsort((b, d, a))  # by row, nearest first, ties to the lower partner
        first = np.ones(order.size, dtype=bool)
        first[1:] = a[order][1:] != a[order][:-1]
        out[a[order][first]] = b[order][first]
    if n:
        head = _group_heads(hash_group)
        copies = np.flatnonzero(head != np.arange(n))  # not the first row of their group
        out[copies] = head[copies]
        # a group's first row links its second: the lowest of the group's other rows
        second = np.full(n, n, dtype=np.int64)
        np.minimum.at(second, head[copies], copies)
        firsts = np.flatnonzero(second < n)
        out[firsts] = second[firsts]
    return out


def _group_heads(hash_group: np.ndarray) -> np.ndarray:
    """The lowest row of each row's identical (same hash) group."""
    n = hash_group.size
    first_of_group = np.empty(hash_group.max() + 1 if n else 0, dtype=np.int64)
    rows = np.arange(n)[::-1]
    first_of_group[hash_group[rows]] = rows  # the last write, the lowest row, stays
    return first_of_group[hash_group]


def _components(n: int, hash_group: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Connected components over exact (same hash) and near edges; singletons get -1."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    # link every row to the first row of its hash group, then add near pairs
    src = np.concatenate([np.arange(n), pairs[:, 0]])
    dst = np.concatenate([_group_heads(hash_group), pairs[:, 1]])
    graph = coo_matrix((np.ones(src.size, dtype=np.int8), (src, dst)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    sizes = np.bincount(comp)
    in_set = sizes[comp] > 1
    out = np.full(n, -1, dtype=np.int64)
    # renumber sets 0.. in order of their first row
    uniq, first_idx = np.unique(comp[in_set], return_index=True)
    rank = np.empty(comp.max() + 1, dtype=np.int64)
    rank[uniq[np.argsort(first_idx)]] = np.arange(uniq.size)
    out[in_set] = rank[comp[in_set]]
    return out
