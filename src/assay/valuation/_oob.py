"""Data-OOB (Kwon & Zou, ICML 2023): out-of-bag correctness of each sample over bootstrap learners.

``psi_i = sum_b 1[w_bi = 0] T(y_i, f_b(x_i)) / sum_b 1[w_bi = 0]`` with ``T`` the correctness
(classification) or the negative squared error (regression).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from assay._validation import check_choice, check_int, check_random_state
from assay.exceptions import InputValidationError, InvalidParameterError

__all__ = ["data_oob"]

_OWNER = "data_oob"
_TASKS = ("classification", "regression")


def data_oob(
    x: Any,
    y: Any,
    *,
    estimator: Any = None,
    n_estimators: int = 200,
    task: str = "classification",
    max_samples: float = 1.0,
    n_jobs: int | None = None,
    random_state: int | np.random.Generator | None = 0,
) -> np.ndarray:
    """Out-of-bag value of every sample: how well bootstrap models that never saw it predict it.

    Parameters
    ----------
    x : array-like of shape (n, d)
    y : array-like of shape (n,) or (n, T)
        Labels (any values) or regression targets. With ``T`` columns (tasks), one learner per
        task is fitted on each bootstrap sample (the same samples for every task) and the
        result has ``T`` columns.
    estimator : scikit-learn estimator, optional
        Cloned for every bootstrap. Default: a decision tree with ``max_features="sqrt"`` (so
        the bag is a random forest, as in the paper).
    n_estimators : int, default 200
        Number of bootstrap learners ``B`` (the paper uses 800).
    task : {"classification", "regression"}, default "classification"
    max_samples : float, default 1.0
        Bootstrap size as a fraction of ``n``.
    n_jobs : int, optional
        joblib workers over bootstrap learners.
    random_state : int, Generator or None, default 0

    Returns
    -------
    ndarray of shape (n,) or (n, T)
        Values in [0, 1] for classification (share of correct out-of-bag predictions), <= 0
        for regression. Low values are likely mislabelled or harmful.

    Examples
    --------
    >>> import numpy as np
    >>> from assay.valuation import data_oob
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(60, 2)); y = (x[:, 0] > 0).astype(int)
    >>> y[0] = 1 - y[0]  # one flipped label
    >>> v = data_oob(x, y, n_estimators=50)
    >>> bool(v[0] < np.median(v))
    True
    """
    task = check_choice("task", task, _TASKS, owner=_OWNER)
    n_estimators = check_int("n_estimators", n_estimators, low=1, owner=_OWNER)
    if isinstance(max_samples, bool) or not isinstance(max_samples, int | float) or not (
        0 < max_samples <= 1
    ):
        raise InvalidParameterError("max_samples", "a float in the range (0, 1]", max_samples,
                                    owner=_OWNER)
    xa = np.asarray(x)
    if xa.ndim != 2 or xa.shape[0] == 0:
        raise InputValidationError(
            f"x must be a non-empty 2-d array (rows x features); got shape {xa.shape}."
        )
    ya = np.asarray(y)
    if ya.ndim not in (1, 2) or ya.shape[0] != xa.shape[0]:
        raise InputValidationError(
            f"x has {xa.shape[0]} rows but y has shape {ya.shape}. Pass one label per row "
            "(or one column per task), in the same order."
        )
    y2 = ya.reshape(xa.shape[0], -1)
    if task == "classification":
        for t in range(y2.shape[1]):
            n_cls = np.unique(y2[:, t]).size
            if n_cls < 2:
                raise InputValidationError(
                    f"y{'' if y2.shape[1] == 1 else f' column {t}'} contains one class only; "
                    "every out-of-bag prediction would be trivially correct. Pass data with at "
                    "least two classes."
                )
    if estimator is None:
        from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

        cls = DecisionTreeClassifier if task == "classification" else DecisionTreeRegressor
        estimator = cls(max_features="sqrt")
    rng = check_random_state(random_state)
    seeds = rng.integers(0, 2**31 - 1, size=n_estimators)
    m = max(1, int(round(max_samples * xa.shape[0])))
    from joblib import Parallel, delayed

    outs = Parallel(n_jobs=n_jobs)(
        delayed(_one_bootstrap)(estimator, xa, y2, m, int(s), task) for s in seeds
    )
    score = np.zeros(y2.shape, dtype=np.float64)
    count = np.zeros(xa.shape[0], dtype=np.float64)
    for oob, sc in outs:
        score[oob] += sc
        count[oob] += 1
    never = int(np.sum(count == 0))
    if never:
        raise InputValidationError(
            f"{never} sample(s) were never out of bag in {n_estimators} bootstrap learners, so "
            "they have no value. Increase n_estimators (or lower max_samples)."
        )
    values = score / count[:, None]
    return values[:, 0] if ya.ndim == 1 else values


def _one_bootstrap(
    estimator: Any, x: np.ndarray, y2: np.ndarray, m: int, seed: int, task: str
) -> tuple[np.ndarray, np.ndarray]:
    """Fit one learner per task on a bootstrap sample; score the out-of-bag rows."""
    from sklearn.base import clone

    rng = np.random.default_rng(seed)
    n = x.shape[0]
    idx = rng.integers(0, n, size=m)
    oob = np.flatnonzero(np.bincount(idx, minlength=n) == 0)
    out = np.empty((oob.size, y2.shape[1]))
    if oob.size == 0:
        return oob, out
    for t in range(y2.shape[1]):
        yt = y2[idx, t]
        if task == "classification" and np.unique(yt).size < 2:
            pred = np.full(oob.size, yt[0], dtype=y2.dtype)
        else:
            model = clone(estimator)
            if "random_state" in model.get_params():
                model.set_params(random_state=seed)
            pred = model.fit(x[idx], yt).predict(x[oob])
        if task == "classification":
            out[:, t] = pred == y2[oob, t]
        else:
            out[:, t] = -((pred.astype(np.float64) - y2[oob, t].astype(np.float64)) ** 2)
    return oob, out
