"""HistGradientBoosting for the audit, on one thread for small data (imports scikit-learn)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

__all__ = ["HGBClassifier", "HGB_SINGLE_THREAD_ROWS"]

#: Below this many rows HistGradientBoosting fits and predicts on one OpenMP thread: the
#: threads' overhead then outweighs their gain, and on a shared or busy machine they
#: oversubscribe the cores (a 234-row fit took 47 s instead of 1.5 s at load 8 on 2 cores).
HGB_SINGLE_THREAD_ROWS = 20_000


class HGBClassifier(HistGradientBoostingClassifier):
    """scikit-learn's HistGradientBoostingClassifier, on one thread below 20,000 rows.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from assay.models._hgb import HGBClassifier
    >>> x, y = load_iris(return_X_y=True)
    >>> HGBClassifier(random_state=0).fit(x, y).predict_proba(x[:2]).shape
    (2, 3)
    """

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> HGBClassifier:  # noqa: N803
        """Fit (single-threaded on small data)."""
        limit = 1 if np.shape(X)[0] < HGB_SINGLE_THREAD_ROWS else None
        with threadpool_limits(limit, user_api="openmp"):
            return super().fit(X, y, sample_weight=sample_weight)

    def predict_proba(self, X: Any) -> np.ndarray:  # noqa: N803
        """Class probabilities (single-threaded on small data)."""
        limit = 1 if np.shape(X)[0] < HGB_SINGLE_THREAD_ROWS else None
        with threadpool_limits(limit, user_api="openmp"):
            return super().predict_proba(X)
