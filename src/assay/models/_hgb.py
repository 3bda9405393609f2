"""HistGradientBoosting for the audit, on one OpenMP thread (imports scikit-learn)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

__all__ = ["HGBClassifier", "HGBRegressor"]


class HGBClassifier(HistGradientBoostingClassifier):
    """scikit-learn's HistGradientBoostingClassifier, on one OpenMP thread.

    Its OpenMP threads spin while they wait; beside any other busy process they oversubscribe
    the cores: on a 2-core machine a 234-row fit took 47 s instead of 1.5 s, a 43,000-row fit
    103 s instead of 2.6 s. Parallelism comes from fitting folds in separate processes
    (:func:`assay.models.cross_fit`'s ``n_jobs``) instead.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from assay.models._hgb import HGBClassifier
    >>> x, y = load_iris(return_X_y=True)
    >>> HGBClassifier(random_state=0).fit(x, y).predict_proba(x[:2]).shape
    (2, 3)
    """

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> HGBClassifier:  # noqa: N803
        """Fit on one thread."""
        with threadpool_limits(1, user_api="openmp"):
            return super().fit(X, y, sample_weight=sample_weight)

    def predict_proba(self, X: Any) -> np.ndarray:  # noqa: N803
        """Class probabilities, on one thread."""
        with threadpool_limits(1, user_api="openmp"):
            return super().predict_proba(X)


class HGBRegressor(HistGradientBoostingRegressor):
    """scikit-learn's HistGradientBoostingRegressor, on one OpenMP thread (see
    :class:`HGBClassifier` for why).

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from assay.models._hgb import HGBRegressor
    >>> x, y = load_diabetes(return_X_y=True)
    >>> HGBRegressor(random_state=0).fit(x, y).predict(x[:2]).shape
    (2,)
    """

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> HGBRegressor:  # noqa: N803
        """Fit on one thread."""
        with threadpool_limits(1, user_api="openmp"):
            return super().fit(X, y, sample_weight=sample_weight)

    def predict(self, X: Any) -> np.ndarray:  # noqa: N803
        """Predictions, on one thread."""
        with threadpool_limits(1, user_api="openmp"):
            return super().predict(X)
