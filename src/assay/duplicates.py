"""Exact and near duplicates, grouped into sets.

Exact duplicates share a content hash (of the feature row, or of raw row content when given).
Near duplicates are k-NN pairs closer than a fraction of the dataset's median nearest-neighbour
distance (default 0.13, Datalab's choice, so results are comparable). Duplicate sets are the
connected components of the exact and near edges, so a chain of near copies forms one set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from assay._validation import check_features, check_fraction
from assay.exceptions import InputValidationError
from assay.neighbors import KnnGraph, knn_graph

__all__ = ["DuplicateResult", "find_duplicates", "hash_rows"]

#: Near-duplicate threshold as a fraction of the median nearest-neighbour distance
#: (cleanlab Datalab's default, kept for comparability).
NEAR_FRACTION = 0.13


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
        Distance below which a k-NN pair is a near duplicate.
    """

    is_exact_duplicate: np.ndarray
    is_near_duplicate: np.ndarray
    duplicate_set: np.ndarray
    pairs: np.ndarray
    pair_distances: np.ndarray
    threshold: float

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
    arr = np.ascontiguousarray(values)
    if arr.ndim != 2:
        raise InputValidationError(f"hash_rows needs a 2-d array; got shape {arr.shape}.")
    if arr.dtype.kind == "f":
        arr = arr + 0.0  # -0.0 and 0.0 hash alike
    if arr.dtype == object:
        return pd.util.hash_pandas_object(pd.DataFrame(arr), index=False).to_numpy()
    return _hash_bytes(np.ascontiguousarray(arr))


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


def find_duplicates(
    features: Any,
    *,
    knn: KnnGraph | None = None,
    k: int = 10,
    near_fraction: float = NEAR_FRACTION,
    content: Any = None,
) -> DuplicateResult:
    """Find exact and near duplicates and group them into sets.

    Parameters
    ----------
    features : array-like of shape (N, d)
    knn : KnnGraph, optional
        A graph already built on ``features`` (reused, not recomputed).
    k : int, default=10
        Neighbours per row when the graph is built here.
    near_fraction : float, default=0.13
        A k-NN pair is a near duplicate when its distance is below ``near_fraction`` times the
        median nearest-neighbour distance.
    content : array-like or DataFrame of N rows, optional
        Raw content to hash for exact duplicates (default: the feature rows).

    Returns
    -------
    DuplicateResult

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[0.0, 0.0], [0.0, 0.0], [5.0, 5.0], [5.0, 5.01], [9.0, 0.0], [0.0, 9.0]])
    >>> r = find_duplicates(x, k=2)
    >>> r.duplicate_set.tolist()
    [0, 0, 1, 1, -1, -1]
    """
    x = check_features(features)
    near_fraction = check_fraction("near_fraction", near_fraction, owner="find_duplicates")
    n = x.shape[0]
    hashes = hash_rows(x if content is None else content)
    if len(hashes) != n:
        raise InputValidationError(
            f"content has {len(hashes)} rows but features have {n}. Pass aligned rows."
        )
    _, inverse, counts = np.unique(hashes, return_inverse=True, return_counts=True)
    is_exact = counts[inverse] > 1
    graph = knn if knn is not None else knn_graph(x, k=min(k, n - 1), metric="cosine")
    nn = graph.distances[:, 0]
    positive = nn[nn > 0]
    median = float(np.median(positive)) if positive.size else 0.0
    threshold = near_fraction * median
    rows = np.repeat(np.arange(n), graph.k)
    cols = graph.indices.ravel()
    dist = graph.distances.ravel()
    near = (dist <= threshold) & (cols >= 0) & (hashes[rows] != hashes[np.maximum(cols, 0)])
    a, b = np.minimum(rows[near], cols[near]), np.maximum(rows[near], cols[near])
    pairs, first = np.unique(np.stack([a, b], axis=1), axis=0, return_index=True)
    pair_dist = dist[near][first].astype(np.float32)
    is_near = np.zeros(n, dtype=bool)
    is_near[pairs.ravel()] = True
    sets = _components(n, inverse, pairs)
    return DuplicateResult(is_exact, is_near, sets, pairs.astype(np.int64), pair_dist, threshold)


def _components(n: int, hash_group: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Connected components over exact (same hash) and near edges; singletons get -1."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    # link every row to the first row of its hash group, then add near pairs
    order = np.argsort(hash_group, kind="stable")
    first_of_group = np.empty(hash_group.max() + 1 if n else 0, dtype=np.int64)
    first_of_group[hash_group[order[::-1]]] = order[::-1]
    src = np.concatenate([np.arange(n), pairs[:, 0]])
    dst = np.concatenate([first_of_group[hash_group], pairs[:, 1]])
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
