"""Out-of-fold predicted probabilities by cross-fitting any scikit-learn classifier."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from assay._validation import check_features, check_int, check_labels, check_same_length
from assay.exceptions import InputValidationError, InvalidParameterError

__all__ = ["CrossFit", "cross_fit", "cross_val_pred_probs", "default_estimator"]


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
    x = check_features(features)
    return cross_fit(x, labels, estimator=estimator, n_folds=n_folds, group=group,
                     random_state=random_state, n_jobs=n_jobs, progress=progress).pred_probs


@dataclass(frozen=True)
class CrossFit:
    """Out-of-fold probabilities and what each fold's model was.

    Attributes
    ----------
    pred_probs : ndarray of shape (N, K)
    folds : list of dict
        Per fold: its size and, for :class:`AutoClassifier`, its ``selection_`` (candidates,
        scores, choice, seconds).
    seconds : float
    """

    pred_probs: np.ndarray
    folds: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def selection(self) -> dict[str, Any] | None:
        """Summary of the automatic model choice across folds (None without one): the choice of
        each fold, the most frequent choice, and each candidate's mean log-loss and accuracy."""
        sel = [f["selection"] for f in self.folds if f.get("selection")]
        if not sel:
            return None
        chosen = [s["chosen"] for s in sel]
        names = list(sel[0]["candidates"])
        cands: dict[str, Any] = {}
        for name in names:
            scored = [s["candidates"][name] for s in sel if "log_loss" in s["candidates"][name]]
            if not scored:
                cands[name] = {"skipped": sel[0]["candidates"][name].get("skipped", "")}
                continue
            cands[name] = {k: round(float(np.mean([c[k] for c in scored])), 4)
                           for k in ("log_loss", "accuracy", "seconds")}
            cands[name]["n_folds_chosen"] = chosen.count(name)
            if any("weight" in c for c in scored):  # the blend: its best weight in each fold
                cands[name]["weights"] = [c.get("weight") for c in scored]
        return {"chosen": max(set(chosen), key=lambda c: (chosen.count(c), -names.index(c))),
                "per_fold": chosen, "candidates": cands,
                "n_rows_scored": int(np.mean([s["n_rows_scored"] for s in sel])),
                "selection_seconds": round(float(sum(s["selection_seconds"] for s in sel)), 3),
                "fit_seconds": round(float(sum(s["fit_seconds"] for s in sel)), 3)}


def parallel_results(n_jobs: int | None, tasks: list[Any]) -> Iterator[Any]:
    """Run joblib ``tasks`` and yield their results as they finish, in task order.

    Results stream ("generator": a progress bar moves after each task) on the backends that
    can; Ray's joblib backend (``joblib.parallel_config(backend="ray")``) returns only lists,
    so there they come at the end.
    """
    from joblib import Parallel

    try:
        runner = Parallel(n_jobs=n_jobs, return_as="generator")
    except ValueError:  # a backend without generators (Ray)
        runner = Parallel(n_jobs=n_jobs, return_as="list")
    yield from runner(tasks)


def cross_fit(
    x: Any,
    labels: Any,
    *,
    estimator: Any = None,
    n_folds: int = 5,
    group: Any = None,
    random_state: int = 0,
    n_jobs: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> CrossFit:
    """Out-of-fold probabilities like :func:`cross_val_pred_probs`, with each fold's model info.

    ``x`` may hold NaN (missing values of a table, for models that handle them, such as
    HistGradientBoosting or the pipelines of :func:`assay.models.make_model`).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from assay.models import AutoClassifier, cross_fit
    >>> x, y = load_iris(return_X_y=True)
    >>> res = cross_fit(x, y, estimator=AutoClassifier(candidates=("logistic", "knn"),
    ...                                                 kind="vectors"), n_folds=3)
    >>> res.pred_probs.shape, len(res.selection()["per_fold"])
    ((150, 3), 3)
    """
    import time

    from joblib import delayed
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    t_start = time.perf_counter()
    x = np.asarray(x)
    if x.ndim != 2:
        raise InputValidationError(f"x must be a 2-d array; got shape {x.shape}.")
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

    def fit_fold(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
        t0 = time.perf_counter()
        model = clone(base).fit(x[train], y[train])
        proba = model.predict_proba(x[test])
        full = np.zeros((len(test), n_classes))
        full[:, np.asarray(model.classes_, dtype=np.int64)] = proba
        info = {"n_train": int(train.size), "n_test": int(test.size),
                "seconds": round(time.perf_counter() - t0, 3),
                "selection": getattr(model, "selection_", None)}
        return test, full, info

    out = np.zeros((n, n_classes))
    done = 0
    infos: list[dict[str, Any]] = []
    for test, proba, info in parallel_results(n_jobs, [delayed(fit_fold)(tr, te)
                                                       for tr, te in splits]):
        out[test] = proba
        infos.append(info)
        done += 1
        if progress is not None:
            progress(done, len(splits))
    out /= out.sum(axis=1, keepdims=True)
    return CrossFit(out, infos, time.perf_counter() - t_start)
