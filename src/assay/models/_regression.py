"""Out-of-fold predictions of a numeric target: named regressors, the automatic choice between
them by out-of-fold error, and folds that do not depend on the order of the rows."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin

from assay.exceptions import InputValidationError, InvalidParameterError
from assay.models._input import ModelInput

__all__ = ["REGRESSOR_NAMES", "BlendRegressor", "RegressionCrossFit", "cross_fit_regression",
           "fold_ids", "make_regressor"]

#: Names accepted by ``assay.audit(model=...)`` when the task is regression.
REGRESSOR_NAMES = ("auto", "linear", "hgb", "blend")
#: The models ``auto`` fits; their blend (the mean) is scored from their predictions for free.
AUTO_PARTS = ("linear", "hgb")
#: Ridge penalties searched (efficient leave-one-out inside each fit).
RIDGE_ALPHAS = tuple(float(a) for a in np.logspace(-3, 3, 13))


def make_regressor(name: str, mi: ModelInput, *, random_state: int = 0) -> Any:
    """A fresh, unfitted scikit-learn regressor ``name`` for input ``mi``.

    Parameters
    ----------
    name : {"linear", "hgb", "blend"}
        ``linear``: ridge regression (penalty chosen by leave-one-out) after median imputation
        with missing indicators, one-hot categories and standardisation; ``hgb``:
        HistGradientBoosting with native categorical and missing-value support; ``blend``: the
        mean of the two. (``auto`` is a choice between them made by
        :func:`cross_fit_regression`, not one model.)
    mi : ModelInput
        What the model will read.
    random_state : int, default=0

    Returns
    -------
    estimator

    Examples
    --------
    >>> import numpy as np
    >>> from assay.models import ModelInput, make_regressor
    >>> mi = ModelInput(np.zeros((4, 2)), np.array([False, True]), "table", ["a", "c"])
    >>> type(make_regressor("hgb", mi)).__name__
    'HGBRegressor'
    """
    if name not in REGRESSOR_NAMES or name == "auto":
        from assay._validation import did_you_mean

        raise InvalidParameterError(
            "model", "one of 'linear', 'hgb', 'blend' (or 'auto' through "
            "cross_fit_regression)", name, owner="make_regressor",
            hint=did_you_mean(name, REGRESSOR_NAMES[1:]).strip())
    if name == "blend":
        return BlendRegressor([make_regressor(p, mi, random_state=random_state)
                               for p in AUTO_PARTS])
    if name == "hgb":
        from assay.models._hgb import HGBRegressor

        cat = mi.categorical if mi.categorical.any() else None
        return HGBRegressor(categorical_features=cat, random_state=random_state)
    from sklearn.linear_model import RidgeCV

    from assay.models._choice import _dense_pipeline

    return _dense_pipeline(mi, RidgeCV(alphas=RIDGE_ALPHAS))


class BlendRegressor(RegressorMixin, BaseEstimator):
    """The mean of several regressors' predictions (each fitted on the same rows).

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn.tree import DecisionTreeRegressor
    >>> from assay.models import BlendRegressor
    >>> x, y = load_diabetes(return_X_y=True)
    >>> BlendRegressor([Ridge(), DecisionTreeRegressor(max_depth=3)]).fit(x, y).predict(x).shape
    (442,)
    """

    def __init__(self, estimators: list[Any]):
        self.estimators = estimators

    def __repr__(self) -> str:
        return "BlendRegressor(" + ", ".join(type(e).__name__ for e in self.estimators) + ")"

    def fit(self, x: Any, y: Any) -> BlendRegressor:
        """Fit every part on ``(x, y)``."""
        from sklearn.base import clone

        self.estimators_ = [clone(e).fit(x, y) for e in self.estimators]
        return self

    def predict(self, x: Any) -> np.ndarray:
        """Mean of the parts' predictions."""
        return np.mean([e.predict(x) for e in self.estimators_], axis=0)


def fold_ids(keys: Any, *, n_folds: int = 5, random_state: int = 0) -> np.ndarray:
    """Cross-fitting folds from a seeded hash of each row's key (its id, or its group).

    Rows with the same key share a fold, and a row's fold depends on its key and the seed only,
    not on where the row sits in the table: shuffling the rows reshuffles nothing. The distinct
    keys are ranked by their hash and dealt round-robin, so folds hold equally many keys.

    Parameters
    ----------
    keys : array-like of shape (N,)
        One key per row (ids, or group labels to keep a group in one fold).
    n_folds : int, default=5
    random_state : int, default=0

    Returns
    -------
    ndarray of shape (N,), int64
        Fold of each row, ``0..n_folds-1``.

    Examples
    --------
    >>> from assay.models import fold_ids
    >>> f = fold_ids(["a", "b", "c", "d", "a"], n_folds=2)
    >>> bool(f[0] == f[4]), sorted(set(f.tolist()))
    (True, [0, 1])
    >>> (fold_ids(["d", "c", "b", "a"], n_folds=2) == f[3::-1]).all()
    np.True_
    """
    import pandas as pd

    key = f"assay-fold-{int(random_state):05d}"[-16:].rjust(16, "0")
    values = pd.Series(np.asarray(keys, dtype=object)).astype(str).to_numpy(dtype=object)
    hashed = pd.util.hash_array(values, hash_key=key, categorize=True)
    uniq, inverse = np.unique(hashed, return_inverse=True)  # sorted by hash: a seeded order
    return (np.arange(uniq.size, dtype=np.int64) % n_folds)[inverse.ravel()]


@dataclass(frozen=True)
class RegressionCrossFit:
    """Out-of-fold predictions of a numeric target, and how they were made.

    Attributes
    ----------
    predictions : ndarray of shape (N,)
        Each row predicted by a model that never saw it.
    chosen : str
        The model (a name of :data:`REGRESSOR_NAMES` or the estimator's class).
    candidates : dict
        For ``auto``: each candidate's out-of-fold mean absolute error, the one it was chosen
        by; empty otherwise.
    n_folds : int
    n_left_out : int
        Rows kept out of every training fold (``train``), still predicted.
    seconds : float
    """

    predictions: np.ndarray
    chosen: str
    candidates: dict[str, Any] = field(default_factory=dict)
    n_folds: int = 0
    n_left_out: int = 0
    seconds: float = 0.0


def cross_fit_regression(
    x: Any,
    y: Any,
    *,
    model: Any = "auto",
    model_input: ModelInput | None = None,
    folds: Any = None,
    n_folds: int = 5,
    train: Any = None,
    random_state: int = 0,
    n_jobs: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RegressionCrossFit:
    """Out-of-fold predictions of ``y``: each row predicted by a model fitted without it.

    With ``model="auto"``, ridge regression and HistGradientBoosting are both cross-fitted
    and the one of them or their mean (``blend``) with the lowest out-of-fold mean absolute
    error is kept. The absolute error is the criterion because the target may hold wrong
    values: a few far-off ones would decide a squared error. The choice between three
    candidates sees every row's out-of-fold error; unlike the classifier's nested choice this
    costs no extra fits, and choosing one of three adds little optimism.

    Parameters
    ----------
    x : array-like of shape (N, d)
        May hold NaN (missing table values: every model here handles them).
    y : array-like of shape (N,)
        Finite numbers.
    model : str or scikit-learn regressor, default="auto"
        ``auto``, ``linear``, ``hgb``, ``blend`` (:func:`make_regressor`), or any object with
        ``fit`` and ``predict`` (cloned per fold).
    model_input : ModelInput, optional
        How to read ``x`` (categorical columns); default: every column numeric.
    folds : array-like of shape (N,), optional
        Fold of each row (:func:`fold_ids`); default: ``fold_ids(range(N))``.
    n_folds : int, default=5
        Used when ``folds`` is not given.
    train : array-like of shape (N,), bool, optional
        Rows that may be used for training (default all). Rows outside it are still
        predicted: a refit that leaves out rows that look wrong.
    random_state : int, default=0
    n_jobs : int, optional
        Parallel fold fits (joblib).
    progress : callable, optional
        ``progress(done, total)`` after each fold.

    Returns
    -------
    RegressionCrossFit

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from assay.models import cross_fit_regression
    >>> x, y = load_diabetes(return_X_y=True)
    >>> fit = cross_fit_regression(x, y, n_folds=3)
    >>> fit.predictions.shape, fit.chosen in ("linear", "hgb", "blend")
    ((442,), True)
    """
    from joblib import delayed
    from sklearn.base import clone

    t_start = time.perf_counter()
    x = np.asarray(x, dtype=np.float64)
    target = np.asarray(y, dtype=np.float64).ravel()
    if x.ndim != 2 or x.shape[0] != target.size:
        raise InputValidationError(
            f"x must be a 2-d array with one row per target value; got shape {x.shape} for "
            f"{target.size} values.")
    if not np.all(np.isfinite(target)):
        raise InputValidationError(
            f"y has {int((~np.isfinite(target)).sum())} missing or infinite value(s). Drop "
            "those rows or fill them in first.")
    n = target.size
    fold = (fold_ids(np.arange(n), n_folds=n_folds, random_state=random_state)
            if folds is None else np.asarray(folds, dtype=np.int64).ravel())
    usable = np.ones(n, dtype=bool) if train is None else np.asarray(train, dtype=bool).ravel()
    if fold.size != n or usable.size != n:
        raise InputValidationError("folds and train need one entry per row.")
    mi = model_input if model_input is not None else ModelInput(
        x, np.zeros(x.shape[1], dtype=bool), "table", [f"x{i}" for i in range(x.shape[1])])
    if isinstance(model, str):
        if model not in REGRESSOR_NAMES:
            from assay._validation import did_you_mean

            raise InvalidParameterError(
                "model", "one of " + ", ".join(REGRESSOR_NAMES) + ", or a scikit-learn "
                "regressor", model, owner="cross_fit_regression",
                hint=did_you_mean(model, REGRESSOR_NAMES).strip())
        names = AUTO_PARTS if model in ("auto", "blend") else (model,)
        bases = {nm: make_regressor(nm, mi, random_state=random_state) for nm in names}
    elif hasattr(model, "fit") and hasattr(model, "predict"):
        bases = {type(model).__name__: model}
    else:
        raise InvalidParameterError(
            "model", "one of " + ", ".join(REGRESSOR_NAMES) + ", or a regressor with fit and "
            "predict", type(model).__name__, owner="cross_fit_regression")
    splits = [(np.flatnonzero((fold != k) & usable), np.flatnonzero(fold == k))
              for k in np.unique(fold)]
    if any(tr.size < 2 for tr, _ in splits) or len(splits) < 2:
        raise InputValidationError(
            f"Cross-fitting needs at least 2 folds with 2 training rows each; the data has "
            f"{n} rows ({int(usable.sum())} usable for training) in {len(splits)} fold(s). "
            "Add rows.")

    def fit_fold(tr: np.ndarray, te: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray],
                                                          dict[str, float]]:
        preds, secs = {}, {}
        for nm, base in bases.items():
            t0 = time.perf_counter()
            preds[nm] = np.asarray(clone(base).fit(x[tr], target[tr]).predict(x[te]),
                                   dtype=np.float64).ravel()
            secs[nm] = time.perf_counter() - t0
        return te, preds, secs

    out = {nm: np.zeros(n) for nm in bases}
    seconds = dict.fromkeys(bases, 0.0)
    from assay.models._crossfit import parallel_results  # streams, and runs on Ray too

    for done, (te, preds, secs) in enumerate(
            parallel_results(n_jobs, [delayed(fit_fold)(tr, te) for tr, te in splits]),
            start=1):
        for nm in bases:
            out[nm][te] = preds[nm]
            seconds[nm] += secs[nm]
        if progress is not None:
            progress(done, len(splits))
    left_out = int((~usable).sum())
    elapsed = time.perf_counter() - t_start
    if not isinstance(model, str) or model not in ("auto", "blend"):
        name = model if isinstance(model, str) else type(model).__name__
        return RegressionCrossFit(out[next(iter(out))], name, {}, len(splits), left_out,
                                  elapsed)
    out["blend"] = np.mean([out[nm] for nm in AUTO_PARTS], axis=0)
    if model == "blend":
        return RegressionCrossFit(out["blend"], "blend", {}, len(splits), left_out, elapsed)
    errors = {nm: float(np.mean(np.abs(target - p))) for nm, p in out.items()}
    chosen = min(errors, key=errors.__getitem__)  # the first of equal errors: linear first
    candidates = {nm: {"mae": round(e, 6),
                       "seconds": round(seconds.get(nm, sum(seconds.values())), 3)}
                  for nm, e in errors.items()}
    return RegressionCrossFit(out[chosen], chosen, candidates, len(splits), left_out, elapsed)
