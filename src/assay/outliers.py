"""Outliers from k-NN distances with a robust (interquartile) threshold.

The score is a row's mean distance to its k nearest neighbours. A tight group of junk rows
(twenty blank or faint images, say) has small distances to its own members, so with k = 10 it
looks like the densest part of the data. Such a group is detached in the k-NN graph: when an
undirected component of the graph holds at most ``DETACHED_MAX_SHARE`` of the rows (at least
``2 k``, at most ``DETACHED_MAX_ROWS``), its rows are scored by their mean distance to the k
nearest rows outside every such group (one batched search). Larger components are clusters,
not junk: well-separated classes of an embedding must not all become outliers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from assay._validation import check_choice, check_features
from assay.exceptions import InvalidParameterError
from assay.neighbors import KnnGraph, knn_graph, knn_query

__all__ = ["OutlierResult", "find_outliers", "outlier_scores"]

#: Flag rows whose mean k-NN distance exceeds Q3 + IQR_FACTOR * IQR (Datalab's 1.7).
IQR_FACTOR = 1.7
#: A k-NN graph component with at most this share of the rows (or 2k rows) is a detached group.
DETACHED_MAX_SHARE = 0.02
#: ... and never more than this many rows.
DETACHED_MAX_ROWS = 50


@dataclass(frozen=True)
class OutlierResult:
    """Outlier scores and flags.

    Attributes
    ----------
    score : ndarray of shape (N,)
        In (0, 1]; low means far from the data. ``exp(-ln2 * d / median(d))`` of the mean
        k-NN distance d, so a row at the median distance scores 0.5.
    is_outlier : ndarray of shape (N,), bool
    mean_distance : ndarray of shape (N,)
    threshold : float
        Mean-distance cut-off ``Q3 + 1.7 IQR``.
    detached : ndarray of shape (N,), bool
        Rows of a small detached group of the k-NN graph, scored by the distance to the rows
        outside their group.
    metric : str
        Distance of the k-NN graph used.
    score_threshold : float
        ``threshold`` on the score's scale: a row is flagged when its score is below it.
    """

    score: np.ndarray
    is_outlier: np.ndarray
    mean_distance: np.ndarray
    threshold: float
    detached: np.ndarray | None = None
    metric: str = ""
    score_threshold: float = float("nan")


def find_outliers(
    features: Any,
    *,
    knn: KnnGraph | None = None,
    k: int = 10,
    metric: str = "euclidean",
    iqr_factor: float = IQR_FACTOR,
) -> OutlierResult:
    """Score and flag outliers by their mean distance to the k nearest neighbours.

    Parameters
    ----------
    features : array-like of shape (N, d)
    knn : KnnGraph, optional
        A graph already built on ``features`` (reused; its metric is used).
    k : int, default=10
    metric : {"euclidean", "cosine"}, default="euclidean"
        Distance of the graph built here. Euclidean suits pixels and robustly scaled tables:
        a blank, faint or inverted image, or a row far out of range, differs in magnitude,
        which cosine ignores (and cosine gives a row near the origin an arbitrary direction).
        Cosine suits text and learned embeddings (``assay.data.featurize`` records which fits).
    iqr_factor : float, default=1.7
        Flag rows above ``Q3 + iqr_factor * (Q3 - Q1)`` of the mean distances.

    Returns
    -------
    OutlierResult

    Examples
    --------
    >>> import numpy as np
    >>> x = np.vstack([np.random.default_rng(0).normal(size=(50, 2)), [[40.0, 40.0]]])
    >>> r = find_outliers(x, k=5)
    >>> bool(r.is_outlier[-1]), int(r.score.argmin())
    (True, 50)
    """
    x = check_features(features)
    if not iqr_factor >= 0:
        raise InvalidParameterError("iqr_factor", "a float >= 0", iqr_factor, owner="find_outliers")
    metric = check_choice("metric", metric, ("euclidean", "cosine"), owner="find_outliers")
    graph = knn if knn is not None else knn_graph(x, k=min(k, x.shape[0] - 1), metric=metric)
    d = graph.distances.astype(np.float64)
    d = np.where(np.isfinite(d), d, np.nan)
    mean_d = np.nanmean(d, axis=1)
    detached = np.zeros(x.shape[0], dtype=bool)
    max_size = max(2 * graph.k, min(int(DETACHED_MAX_SHARE * x.shape[0]), DETACHED_MAX_ROWS))
    for rows in _detached_groups(graph, max_size):
        detached[rows] = True
    if detached.any() and (~detached).sum() >= 1:
        rows = np.flatnonzero(detached)
        k_out = min(graph.k, int((~detached).sum()))
        _, dist_out = knn_query(x[~detached], x[rows], k=k_out, metric=graph.metric)
        mean_d[rows] = dist_out.astype(np.float64).mean(axis=1)
    q1, med, q3 = np.quantile(mean_d, [0.25, 0.5, 0.75])
    threshold = float(q3 + iqr_factor * (q3 - q1))
    scale = med if med > 0 else (mean_d.max() if mean_d.max() > 0 else 1.0)
    score = np.exp(-np.log(2.0) * mean_d / scale)
    score_threshold = float(np.exp(-np.log(2.0) * threshold / scale))
    return OutlierResult(score, mean_d > threshold, mean_d, threshold, detached, graph.metric,
                         score_threshold)


def _detached_groups(graph: KnnGraph, max_size: int) -> list[np.ndarray]:
    """Rows of each undirected k-NN component with at most ``max_size`` rows (not the largest)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n, k = graph.indices.shape
    cols = graph.indices.ravel()
    ok = cols >= 0
    rows = np.repeat(np.arange(n), k)[ok]
    adj = coo_matrix((np.ones(rows.size, dtype=np.int8), (rows, cols[ok])), shape=(n, n))
    n_comp, comp = connected_components(adj, directed=False)
    if n_comp < 2:
        return []
    sizes = np.bincount(comp)
    largest = int(sizes.argmax())
    small = [c for c in range(n_comp) if c != largest and sizes[c] <= max_size]
    order = np.argsort(comp, kind="stable")
    bounds = np.r_[0, np.cumsum(sizes)]
    return [order[bounds[c]:bounds[c + 1]] for c in small]


def outlier_scores(
    features: Any, *, knn: KnnGraph | None = None, k: int = 10, metric: str = "euclidean"
) -> np.ndarray:
    """Outlier score per row in (0, 1]; low means far from its neighbours.

    Examples
    --------
    >>> import numpy as np
    >>> s = outlier_scores(np.array([[0.0], [0.1], [0.2], [9.0]]), k=1)
    >>> int(s.argmin())
    3
    """
    return find_outliers(features, knn=knn, k=k, metric=metric).score
