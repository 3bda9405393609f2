"""One shared k-nearest-neighbour graph, exact for small data and approximate above.

Every neighbourhood check (near duplicates, outliers, k-NN label consensus, leakage) reads the one
graph built here. Memory stays ``O(N * k + block * N)``: distances are computed in row blocks with
float32 matrix products and only the ``k`` best of each row are kept. Above ``EXACT_MAX_ROWS`` rows
the graph is an inverted file searched list by list with matrix products (``method="ivf"``, numpy
only), with its recall measured against exact search. This module is the only owner of ``faiss``
(extra ``fast``, ``method="faiss"``), which is imported lazily.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from assay._kernels.ivf import drop_self, ivf_graph, n_lists, served
from assay._kernels.knn import blocked_topk, memory_mapped, normalise_rows, scan_topk
from assay._validation import check_choice, check_features, check_int
from assay.exceptions import InvalidParameterError, MissingDependencyError

__all__ = ["KnnGraph", "knn_graph", "knn_query", "EXACT_MAX_ROWS"]

#: Above this many rows ``method="auto"`` uses the inverted-file search; below, exact search.
EXACT_MAX_ROWS = 20_000
#: From this size a memory-mapped input is copied in list order to a scratch file for the
#: inverted file's search (``ivf_graph(store=...)``): a file this large may not stay in memory
#: beside the rest, and a list's rows then cost a disk read per page. Below, the copy buys
#: nothing (at 1M x 128, one run each: k-NN 37.5 s with it, 34.8 s without, 0.4 GB more pages).
LIST_ORDER_BYTES = 2 * 2**30

_METRICS = ("cosine", "euclidean")
#: An approximate graph is accepted when, on a sample of rows, its recall or the share of rows
#: served within ``1 + _EPSILON`` of the exact distances at every rank
#: (:func:`assay._kernels.ivf.served`) reaches this.
_TARGET = 0.97
_EPSILON = 0.05
_METHODS = ("auto", "exact", "ivf", "faiss")


@dataclass(frozen=True)
class KnnGraph:
    """The ``k`` nearest neighbours of every row, self excluded.

    Attributes
    ----------
    indices : ndarray of shape (N, k), int64
        Neighbour row indices, nearest first.
    distances : ndarray of shape (N, k), float32
        Distances to those neighbours, ascending. Cosine distance is ``1 - cos`` (in [0, 2]);
        Euclidean is the L2 norm.
    metric : str
        ``"cosine"`` or ``"euclidean"``.
    method : str
        ``"exact"`` or the approximate index used (``"faiss-ivf"``).
    info : dict
        Index parameters (``nlist``, ``nprobe``) for approximate graphs.
    """

    indices: np.ndarray
    distances: np.ndarray
    metric: str
    method: str
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def k(self) -> int:
        """Number of neighbours per row."""
        return int(self.indices.shape[1])

    @property
    def n_rows(self) -> int:
        """Number of rows in the graph."""
        return int(self.indices.shape[0])


def knn_graph(
    features: Any,
    *,
    k: int = 10,
    metric: str = "cosine",
    method: str = "auto",
    block_size: int = 2048,
    random_state: int = 0,
) -> KnnGraph:
    """Build the k-nearest-neighbour graph of ``features``, excluding each row itself.

    Parameters
    ----------
    features : array-like of shape (N, d)
        Finite numeric features; converted to float32.
    k : int, default=10
        Neighbours per row; must be smaller than N.
    metric : {"cosine", "euclidean"}, default="cosine"
        Distance. Cosine distance is ``1 - cos``; rows of zeros have distance 1 to everything.
    method : {"auto", "exact", "ivf", "faiss"}, default="auto"
        ``"exact"`` uses blocked float32 matrix products (never N x N in memory). ``"ivf"``
        clusters the rows into k-means lists (about sqrt(N) up to 1M rows, then 1,000 rows
        each; a two-level quantizer above 1,024 lists) and searches each list's rows against
        the rows of its nearest lists with one matrix product per list (threads share the
        lists); for cosine it divides rows by their norms as it reads them, holding no
        unit-norm copy. ``"faiss"`` uses faiss's inverted-file index (extra ``fast``). For both
        approximate methods the number of probed lists widens (steps of about sqrt(2)) until,
        on a sample of 256 rows against exact search, the recall (share of the exact
        neighbours found, ``info["sample_recall"]``) reaches 0.97, or 97 % of the rows are
        served by a (1 + 0.05)-approximate k-NN graph: each of their ``k`` distances within
        5 % of the exact distance of the same rank (``info["sample_served"]``). The second
        bounds the error of every distance-based score (outliers) where distances concentrate
        and which neighbours are nearest is nearly arbitrary. For ``"ivf"`` also 99 % of
        near copies planted around the sampled rows (at a tenth of their k-th neighbour
        distance) must be reachable (``info["sample_near_copies"]``): in a probed list, or in
        the second-nearest list that rows near their list's border are also searched against.
        So near duplicates are not traded for speed. ``"auto"`` is exact up to ``EXACT_MAX_ROWS`` rows
        and ``"ivf"`` above.
    block_size : int, default=2048
        Rows per block in exact search.
    random_state : int, default=0
        Seed of the approximate index's k-means training.

    Returns
    -------
    KnnGraph

    Examples
    --------
    >>> import numpy as np
    >>> from assay.neighbors import knn_graph
    >>> x = np.array([[0.0], [1.0], [3.0]])
    >>> g = knn_graph(x, k=1, metric="euclidean")
    >>> g.indices.ravel().tolist(), g.distances.ravel().tolist()
    ([1, 0, 1], [1.0, 1.0, 2.0])
    """
    x = check_features(features)
    n = x.shape[0]
    metric = check_choice("metric", metric, _METRICS, owner="knn_graph")
    method = check_choice("method", method, _METHODS, owner="knn_graph")
    check_int("block_size", block_size, low=1, owner="knn_graph")
    if n < 2:
        raise InvalidParameterError(
            "features", "at least 2 rows to find neighbours", f"{n} row(s)", owner="knn_graph"
        )
    k = check_int("k", k, low=1, owner="knn_graph")
    if k >= n:
        raise InvalidParameterError(
            "k", f"smaller than the number of rows ({n})", k, owner="knn_graph",
            hint=f"Pass k <= {n - 1}.",
        )
    if method == "auto":
        method = "ivf" if n > EXACT_MAX_ROWS else "exact"
    if metric == "cosine" and method != "ivf":  # the inverted file divides rows as it reads them
        x = normalise_rows(x)
    if method == "exact":
        idx, dist = blocked_topk(x, x, k=k, metric=metric, exclude_self=True, block=block_size)
        return KnnGraph(idx, dist, metric, "exact")
    if method == "ivf":
        # rows mapped from a file are copied in list order to a scratch file: each list is
        # then one contiguous read, where the lists' rows lie on pages all over the input
        store = _scratch_store if memory_mapped(x) and x.nbytes >= LIST_ORDER_BYTES else None
        idx, dist, info = ivf_graph(x, k=k, metric=metric, target=_TARGET,
                                    eps=_EPSILON, random_state=random_state, store=store)
        info["list_ordered_copy"] = store is not None
        return KnnGraph(idx, dist, metric, "ivf", info)
    idx, dist, info = _faiss_graph(x, k=k, metric=metric, random_state=random_state)
    return KnnGraph(idx, dist, metric, "faiss-ivf", info)


def knn_query(
    reference: Any,
    queries: Any,
    *,
    k: int = 1,
    metric: str = "euclidean",
    block_size: int = 2048,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest rows of ``reference`` for every row of ``queries``.

    Parameters
    ----------
    reference : array-like of shape (M, d)
    queries : array-like of shape (Q, d)
    k : int, default=1
        Neighbours per query, at most M.
    metric : {"cosine", "euclidean"}, default="euclidean"
    block_size : int, default=2048
        Query rows per block; memory is ``block_size x M`` floats at a time.

    Returns
    -------
    indices : ndarray of shape (Q, k), int64
        Rows of ``reference``, nearest first.
    distances : ndarray of shape (Q, k), float32

    Examples
    --------
    >>> import numpy as np
    >>> from assay.neighbors import knn_query
    >>> idx, dist = knn_query(np.array([[0.0], [5.0]]), np.array([[4.0]]), k=1)
    >>> idx.tolist(), dist.tolist()
    ([[1]], [[1.0]])
    """
    ref = check_features(reference, name="reference")
    qry = check_features(queries, name="queries")
    if ref.shape[1] != qry.shape[1]:
        raise InvalidParameterError(
            "queries", f"a matrix with {ref.shape[1]} columns like `reference`",
            f"{qry.shape[1]} columns", owner="knn_query",
        )
    metric = check_choice("metric", metric, _METRICS, owner="knn_query")
    k = check_int("k", k, low=1, high=ref.shape[0], owner="knn_query")
    if metric == "cosine":
        ref, qry = normalise_rows(ref), normalise_rows(qry)
    return blocked_topk(qry, ref, k=k, metric=metric, exclude_self=False, block=block_size)


def _scratch_store(shape: tuple[int, int]) -> np.ndarray:
    from assay.data import disk_array

    return disk_array(shape, np.float32)


def _faiss_graph(
    x: np.ndarray, *, k: int, metric: str, random_state: int
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    try:
        import faiss
    except ImportError as exc:
        raise MissingDependencyError("faiss-cpu", "fast", "Approximate k-NN search") from exc
    n, d = x.shape
    nlist = n_lists(n)
    faiss_metric = faiss.METRIC_INNER_PRODUCT if metric == "cosine" else faiss.METRIC_L2
    quantizer = faiss.IndexFlatIP(d) if metric == "cosine" else faiss.IndexFlatL2(d)
    index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss_metric)
    rng = np.random.default_rng(random_state)
    n_train = min(n, 50 * nlist)
    train = x[np.sort(rng.choice(n, size=n_train, replace=False))] if n_train < n else x
    index.cp.seed = int(random_state)
    index.cp.min_points_per_centroid = 1
    index.train(train)
    index.add(x)
    # Measure the graph on a sample of rows against exact search and widen the probe until the
    # recall or the share served within 1 + eps reaches the target: the graph's quality is
    # measured, not assumed.
    sample = np.sort(rng.choice(n, size=min(n, 256), replace=False))
    exact_idx, exact_dist = scan_topk(x[sample], x, k=k + 1, metric=metric)
    exact_idx, exact_dist = drop_self(exact_idx, exact_dist, sample, k)
    nprobe = min(nlist, 2)  # the same probe schedule as assay's inverted file (sqrt(2) steps)
    while True:
        index.nprobe = nprobe
        s_sims, s_idx = index.search(x[sample], k + 1)
        approx, approx_dist = drop_self(s_idx.astype(np.int64),
                                        _faiss_distance(s_sims, metric), sample, k)
        quality = served(approx_dist, exact_dist, metric=metric, eps=_EPSILON)
        recall = _recall(approx, exact_idx)
        if max(quality, recall) >= _TARGET or nprobe >= nlist:
            break
        nprobe = min(nlist, max(nprobe + 1, round(nprobe * np.sqrt(2))))
    sims, idx = index.search(x, k + 1)
    idx, dist = _drop_self(idx.astype(np.int64), _faiss_distance(sims, metric), k)
    info = {"nlist": nlist, "nprobe": nprobe, "n_train": n_train, "eps": _EPSILON,
            "sample_served": quality, "sample_recall": recall}
    return idx, dist, info


def _faiss_distance(sims: np.ndarray, metric: str) -> np.ndarray:
    """faiss's inner products (unit rows) or squared L2 as assay's distances (float32)."""
    if metric == "cosine":
        return np.clip(1.0 - sims, 0.0, 2.0).astype(np.float32)
    return np.sqrt(np.maximum(sims, 0.0)).astype(np.float32)


def _recall(approx: np.ndarray, exact: np.ndarray) -> float:
    """Share of the exact neighbours found by the approximate search (row-wise set overlap)."""
    hits = (approx[:, :, None] == exact[:, None, :]).any(axis=2).sum()
    return float(hits / exact.size)


def _drop_self(idx: np.ndarray, dist: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Remove each row's own index from ``k + 1`` results (or the last one when absent)."""
    n = idx.shape[0]
    is_self = idx == np.arange(n)[:, None]
    missing = ~is_self.any(axis=1)
    is_self[missing, -1] = True  # self not returned (ties or a miss): drop the farthest
    # faiss pads with -1 when a list is short; push those to the end as infinitely far
    keep = ~is_self
    out_idx = idx[keep].reshape(n, k)
    out_dist = dist[keep].reshape(n, k)
    bad = out_idx < 0
    if bad.any():
        out_dist[bad] = np.inf
    return out_idx, out_dist
