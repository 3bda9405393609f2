"""Outliers from k-NN distances with a robust (interquartile) threshold."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from assay._validation import check_features
from assay.exceptions import InvalidParameterError
from assay.neighbors import KnnGraph, knn_graph

__all__ = ["OutlierResult", "find_outliers", "outlier_scores"]

#: Flag rows whose mean k-NN distance exceeds Q3 + IQR_FACTOR * IQR (Datalab's 1.7).
IQR_FACTOR = 1.7


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
    """

    score: np.ndarray
    is_outlier: np.ndarray
    mean_distance: np.ndarray
    threshold: float


def find_outliers(
    features: Any, *, knn: KnnGraph | None = None, k: int = 10, iqr_factor: float = IQR_FACTOR
) -> OutlierResult:
    """Score and flag outliers by their mean distance to the k nearest neighbours.

    Parameters
    ----------
    features : array-like of shape (N, d)
    knn : KnnGraph, optional
        A graph already built on ``features`` (reused).
    k : int, default=10
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
    graph = knn if knn is not None else knn_graph(x, k=min(k, x.shape[0] - 1), metric="euclidean")
    d = graph.distances.astype(np.float64)
    d = np.where(np.isfinite(d), d, np.nan)
    mean_d = np.nanmean(d, axis=1)
    q1, med, q3 = np.quantile(mean_d, [0.25, 0.5, 0.75])
    threshold = float(q3 + iqr_factor * (q3 - q1))
    scale = med if med > 0 else (mean_d.max() if mean_d.max() > 0 else 1.0)
    score = np.exp(-np.log(2.0) * mean_d / scale)
    return OutlierResult(score, mean_d > threshold, mean_d, threshold)


def outlier_scores(features: Any, *, knn: KnnGraph | None = None, k: int = 10) -> np.ndarray:
    """Outlier score per row in (0, 1]; low means far from its neighbours.

    Examples
    --------
    >>> import numpy as np
    >>> s = outlier_scores(np.array([[0.0], [0.1], [0.2], [9.0]]), k=1)
    >>> int(s.argmin())
    3
    """
    return find_outliers(features, knn=knn, k=k).score
