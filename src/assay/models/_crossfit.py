"""Out-of-fold predicted probabilities by cross-fitting any scikit-learn classifier."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from assay._validation import check_features, check_int, check_labels, check_same_length
from assay.exceptions import InputValidationError, InvalidParameterError

__all__ = ["cross_val_pred_probs", "default_estimator"]


def default_estimator(random_state: int = 0) -> Any:
    """Standardised multinomial logistic regression: the default model of audits and curves.

    Examples
    --------
    >>> from assay.models import default_estimator
    >>> type(default_estimator()).__name__
    'Pipeline'
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(
        StandardScaler(),
        LogisticRegression(max_iter=1000, C=1.0, random_state=random_state),
    )


def cross_val_pred_probs(
    features: Any,
    labels: Any,
    *,
    estimator: Any = None,
    n_folds: int = 5,
    group: Any = None,
    random_state: int = 0,
    n_jobs: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Out-of-fold predicted probabilities: each row is predicted by a model that never saw it.

    Folds are stratified by label, and grouped when ``group`` is given (rows of a group share a
    fold). Folds are fitted in parallel through joblib, so ``joblib.parallel_config`` chooses
    the backend (threads, processes, or Ray with the extra ``dist``).

    Parameters
    ----------
    features : array-like of shape (N, d)
    labels : array-like of shape (N,)
        Integer class indices ``0..K-1``.
    estimator : scikit-learn classifier, optional
        Anything with ``fit`` and ``predict_proba``; cloned per fold. Default:
        :func:`default_estimator`.
    n_folds : int, default=5
        Reduced to the size of the smallest class when that is smaller (at least 2).
    group : array-like of shape (N,), optional
    random_state : int, default=0
    n_jobs : int, optional
        Parallel fold fits (joblib semantics).
    progress : callable, optional
        Called as ``progress(done, total)`` after each fold.

    Returns
    -------
    ndarray of shape (N, K)
        Rows sum to 1. A class missing from a fold's training rows gets probability 0 there.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from assay.models import cross_val_pred_probs
    >>> x, y = load_iris(return_X_y=True)
    >>> cross_val_pred_probs(x, y, n_folds=3).shape
    (150, 3)
    """
    from joblib import Parallel, delayed
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    x = check_features(features)
    y = check_labels(labels)
    n = check_same_length(features=x, labels=y, group=group)
    n_folds = check_int("n_folds", n_folds, low=2, owner="cross_val_pred_probs")
    n_classes = int(y.max()) + 1
    counts = np.bincount(y, minlength=n_classes)
    present = counts[counts > 0]
    if present.min() < 2:
        lonely = np.flatnonzero(counts == 1)[:5].tolist()
        raise InputValidationError(
            f"Class index(es) {lonely} have a single sample; out-of-fold probabilities need at "
            "least 2 samples per class. Remove or merge those classes, or pass pred_probs."
        )
    folds = int(min(n_folds, present.min()))
    if group is not None:
        g = np.asarray(group)
        if len(np.unique(g)) < folds:
            raise InvalidParameterError(
                "group", f"at least {folds} distinct groups for {folds}-fold cross-fitting",
                f"{len(np.unique(g))} group(s)", owner="cross_val_pred_probs",
            )
        splitter: Any = StratifiedGroupKFold(folds, shuffle=True, random_state=random_state)
        splits = list(splitter.split(x, y, g))
    else:
        splitter = StratifiedKFold(folds, shuffle=True, random_state=random_state)
        splits = list(splitter.split(x, y))
    base = estimator if estimator is not None else default_estimator(random_state)
    if not hasattr(base, "predict_proba"):
        raise InvalidParameterError(
            "estimator", "a classifier with predict_proba", type(base).__name__,
            owner="cross_val_pred_probs",
        )

    def fit_fold(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        model = clone(base).fit(x[train], y[train])
        proba = model.predict_proba(x[test])
        full = np.zeros((len(test), n_classes))
        full[:, np.asarray(model.classes_, dtype=np.int64)] = proba
        return test, full

    out = np.zeros((n, n_classes))
    done = 0
    runner = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
    for test, proba in runner(delayed(fit_fold)(tr, te) for tr, te in splits):
        out[test] = proba
        done += 1
        if progress is not None:
            progress(done, len(splits))
    out /= out.sum(axis=1, keepdims=True)
    return out
