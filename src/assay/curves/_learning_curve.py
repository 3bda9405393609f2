"""Measure learning curves: train on stratified subsets of growing size, score on a fixed split."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from joblib import delayed

from assay._validation import (
    check_features,
    check_int,
    check_labels,
    check_random_state,
    check_same_length,
)
from assay.exceptions import InputValidationError, InvalidParameterError

METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "log_loss")
_OWNER = "learning_curve"
_MIN_SIZES = 4
#: Poisson bootstrap resamples of the evaluation rows behind each ``<metric>_se`` column.
_EVAL_RESAMPLES = 200
_EVAL_BLOCK = 4096


def default_sizes(n_pool: int, n_classes: int, *, n_sizes: int = 8, min_fraction: float = 0.03
                  ) -> np.ndarray:
    """Geometric training-set sizes from a few percent of ``n_pool`` (at least 2 per class) to
    all of it."""
    low = max(int(np.ceil(min_fraction * n_pool)), 2 * n_classes, 1)
    low = min(low, n_pool)
    return np.unique(np.round(np.geomspace(low, n_pool, n_sizes)).astype(np.int64))


def stratified_counts(class_counts: np.ndarray, n: int, *, min_per_class: int = 1) -> np.ndarray:
    """Per-class counts summing to about ``n`` in proportion to ``class_counts``.

    Largest-remainder rounding, then at least ``min_per_class`` of every class that has rows
    (capped at what it has), so every class is present in every subset.
    """
    total = int(class_counts.sum())
    exact = n * class_counts / total
    base = np.floor(exact).astype(np.int64)
    short = int(n - base.sum())
    if short > 0:
        base[np.argsort(-(exact - base), kind="stable")[:short]] += 1
    base = np.maximum(base, np.minimum(min_per_class, class_counts))
    return np.minimum(base, class_counts)


def _resolve_sizes(sizes: Any, n_pool: int, n_classes: int) -> np.ndarray:
    if sizes is None:
        out = default_sizes(n_pool, n_classes)
    else:
        arr = np.asarray(sizes)
        if arr.ndim != 1 or arr.size == 0 or arr.dtype.kind not in "iuf":
            raise InvalidParameterError(
                "sizes", "a 1-d list of training-set sizes (ints) or fractions in (0, 1]",
                sizes, owner=_OWNER,
            )
        if arr.dtype.kind == "f" and np.all((arr > 0) & (arr <= 1)):
            out = np.maximum(np.round(arr * n_pool), 1).astype(np.int64)
        elif np.all(arr == np.round(arr)) and np.all(arr >= 1):
            out = arr.astype(np.int64)
        else:
            raise InvalidParameterError(
                "sizes", "training-set sizes (ints >= 1) or fractions in (0, 1]", sizes,
                owner=_OWNER,
            )
        if out.max() > n_pool:
            raise InputValidationError(
                f"sizes go up to {int(out.max())} but only {n_pool} rows are available for "
                "training (after holding out the evaluation split). Pass sizes up to "
                f"{n_pool}, or fractions in (0, 1]."
            )
        out = np.unique(out)
    if out.size < _MIN_SIZES:
        raise InputValidationError(
            f"A learning curve needs at least {_MIN_SIZES} distinct training-set sizes; got "
            f"{out.size} ({out.tolist()}). Pass more sizes, or more data."
        )
    return out


def _subset(
    perms: list[np.ndarray], class_counts: np.ndarray, n: int, min_per_class: int
) -> np.ndarray:
    counts = stratified_counts(class_counts, n, min_per_class=min_per_class)
    return np.concatenate([p[:c] for p, c in zip(perms, counts, strict=True)])


def _fit_score(
    estimator: Any, X: np.ndarray, y: np.ndarray, X_eval: np.ndarray, y_eval: np.ndarray,
    n_classes: int, seed: int,
) -> dict[str, Any]:
    from sklearn.base import clone
    from sklearn.metrics import balanced_accuracy_score, f1_score, log_loss

    est = clone(estimator)
    seeded = {k: seed for k in est.get_params() if k == "random_state" or k.endswith(
        "__random_state")}
    if seeded:
        est.set_params(**seeded)
    start = time.perf_counter()
    est.fit(X, y)
    seconds = time.perf_counter() - start
    if hasattr(est, "predict_proba"):
        proba = np.zeros((len(y_eval), n_classes))
        proba[:, np.asarray(est.classes_, dtype=np.int64)] = est.predict_proba(X_eval)
        pred = proba.argmax(axis=1)
        clipped = np.clip(proba, 1e-15, 1.0)
        clipped = clipped / clipped.sum(1, keepdims=True)
        loss = float(log_loss(y_eval, clipped, labels=np.arange(n_classes)))
        row_loss = -np.log(clipped[np.arange(len(y_eval)), y_eval])
    else:
        pred = np.asarray(est.predict(X_eval), dtype=np.int64)
        loss = float("nan")
        row_loss = None
    present = np.unique(y_eval)
    hits = np.bincount(y_eval[pred == y_eval], minlength=n_classes)
    support = np.bincount(y_eval, minlength=n_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(support > 0, hits / np.maximum(support, 1), np.nan)
    return {
        "accuracy": float(np.mean(pred == y_eval)),
        "balanced_accuracy": float(balanced_accuracy_score(y_eval, pred)),
        "macro_f1": float(f1_score(y_eval, pred, labels=present, average="macro",
                                   zero_division=0)),
        "log_loss": loss,
        "fit_seconds": seconds,
        "recall": recall,
        **_evaluation_se(y_eval, pred, row_loss, n_classes),
    }


def _evaluation_se(
    y: np.ndarray, pred: np.ndarray, row_loss: np.ndarray | None, n_classes: int
) -> dict[str, float]:
    """Standard error of each metric over Poisson bootstrap resamples of the evaluation rows.

    Every model of a curve is scored on the same rows, so this error is shared by the whole
    curve; :func:`assay.curves.fit_learning_curve` takes it as ``score_se``. Resample weights
    are drawn with a fixed seed in blocks of rows (memory ``O(resamples x block)``).
    """
    rng = np.random.default_rng(0)
    b = _EVAL_RESAMPLES
    hits = np.zeros((b, n_classes))
    support = np.zeros((b, n_classes))
    predicted = np.zeros((b, n_classes))
    loss = np.zeros(b)
    eye = np.eye(n_classes)
    for start in range(0, y.size, _EVAL_BLOCK):
        sl = slice(start, start + _EVAL_BLOCK)
        w = rng.poisson(1.0, size=(b, y[sl].size)).astype(float)
        truth, guess = eye[y[sl]], eye[pred[sl]]
        support += w @ truth
        predicted += w @ guess
        hits += w @ (truth * (pred[sl] == y[sl])[:, None])
        if row_loss is not None:
            loss += w @ row_loss[sl]
    total = support.sum(axis=1)
    ok = total > 0
    present = support > 0
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample without some class
        acc = hits.sum(axis=1) / total
        recall = np.where(present, hits / np.maximum(support, 1e-300), np.nan)
        bal = np.nanmean(np.where(present, recall, np.nan), axis=1)
        f1 = np.where(present, 2 * hits / np.maximum(support + predicted, 1e-300), np.nan)
        macro = np.nanmean(f1, axis=1)
        ll = loss / total

    def sd(v: np.ndarray) -> float:
        v = v[ok & np.isfinite(v)]
        return float(np.std(v, ddof=1)) if v.size > 1 else float("nan")

    return {
        "accuracy_se": sd(acc),
        "balanced_accuracy_se": sd(bal),
        "macro_f1_se": sd(macro),
        "log_loss_se": sd(ll) if row_loss is not None else float("nan"),
    }


def learning_curve(
    X: Any,
    y: Any,
    *,
    estimator: Any = None,
    sizes: Any = None,
    n_seeds: int = 3,
    eval_set: tuple[Any, Any] | None = None,
    test_size: float = 0.2,
    min_per_class: int = 1,
    class_names: Sequence[Any] | None = None,
    random_state: Any = 0,
    n_jobs: int | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> pd.DataFrame:
    """Score a model trained on stratified subsets of growing size, several seeds each.

    Each seed draws one random order of the rows of every class; the subset of size ``n`` takes
    the first rows of each class in proportion to the class sizes (at least ``min_per_class``),
    so a seed's subsets are (nearly) nested. Every model is scored on the same evaluation split.
    Fits run through joblib (``joblib.parallel_config`` picks threads, processes or Ray).

    Parameters
    ----------
    X : array-like of shape (N, d)
        Features.
    y : array-like of shape (N,)
        Class indices ``0..K-1``.
    estimator : scikit-learn classifier, optional
        Cloned for every fit; its ``random_state`` parameters are set per seed. Default:
        :func:`assay.models.default_estimator` (standardised logistic regression).
    sizes : array-like, optional
        Training-set sizes (ints) or fractions of the training pool in (0, 1]. Default: 8
        geometric sizes from 3 % (at least 2 rows per class) to 100 %.
    n_seeds : int, default=3
        Subsets (and model seeds) per size.
    eval_set : (X_eval, y_eval), optional
        A fixed evaluation split. Default: a stratified ``test_size`` share of the rows, held
        out of training.
    test_size : float, default=0.2
        Share held out for evaluation when ``eval_set`` is not given.
    min_per_class : int, default=1
        Rows of each class present in every subset.
    class_names : sequence, optional
        Names for the per-class columns (default: the class indices).
    random_state : None, int or numpy.random.Generator, default=0
    n_jobs : int, optional
        Parallel fits (joblib).
    progress : callable, optional
        ``progress(step, done, total)`` after each fit (the CLI draws a bar with it).

    Returns
    -------
    pandas.DataFrame
        One row per (size, seed): ``n_train``, ``fraction`` (of the training pool), ``seed``,
        ``accuracy``, ``balanced_accuracy``, ``macro_f1``, ``log_loss``, ``fit_seconds``,
        ``<metric>_se`` for each metric (its standard error from the finite evaluation split,
        shared by every row: pass it to ``fit_learning_curve(score_se=...)``), then
        per class ``recall[<name>]`` (on the evaluation split) and ``n_train[<name>]`` (that
        class's own training count). :func:`per_class_curves` reshapes those into long form.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from assay.curves import learning_curve
    >>> X, y = load_iris(return_X_y=True)
    >>> curve = learning_curve(X, y, sizes=[12, 24, 48, 96, 120], n_seeds=2)
    >>> curve[["n_train", "seed"]].shape
    (10, 2)
    """
    features = check_features(X, name="X")
    labels = check_labels(y, name="y")
    check_same_length(X=features, y=labels)
    n_seeds = check_int("n_seeds", n_seeds, low=1, owner=_OWNER)
    min_per_class = check_int("min_per_class", min_per_class, low=0, owner=_OWNER)
    rng = check_random_state(random_state)
    if estimator is None:
        from assay.models import default_estimator

        estimator = default_estimator(random_state=0)
    elif not (hasattr(estimator, "fit") and hasattr(estimator, "get_params")):
        raise InvalidParameterError(
            "estimator", "a scikit-learn classifier (with fit, get_params)", estimator,
            owner=_OWNER,
        )

    n_classes = int(labels.max()) + 1
    if eval_set is None:
        if not (isinstance(test_size, float) and 0.0 < test_size < 1.0):
            raise InvalidParameterError("test_size", "a float in (0, 1)", test_size,
                                        owner=_OWNER)
        from sklearn.model_selection import train_test_split

        counts = np.bincount(labels, minlength=n_classes)
        n_present = int((counts > 0).sum())
        n_held = int(np.ceil(test_size * labels.size))
        if labels.size - n_held < 2 * n_present or n_held < 1:
            raise InputValidationError(
                f"A learning curve needs more rows: {labels.size} rows of {n_present} classes "
                f"leave {labels.size - n_held} for the curve after holding out {n_held} to "
                f"evaluate (test_size={test_size:g}); at least {2 * n_present} are needed (two "
                "per class). Collect more rows, or pass eval_set."
            )
        strat = labels if counts[counts > 0].min() >= 2 and n_held >= n_present else None
        pool, held = train_test_split(
            np.arange(labels.size), test_size=test_size, stratify=strat,
            random_state=int(rng.integers(2**31 - 1)),
        )
        X_pool, y_pool, X_eval, y_eval = features[pool], labels[pool], features[held], labels[held]
    else:
        if not (isinstance(eval_set, tuple | list) and len(eval_set) == 2):
            raise InvalidParameterError("eval_set", "a pair (X_eval, y_eval)", type(eval_set),
                                        owner=_OWNER)
        X_pool, y_pool = features, labels
        X_eval = check_features(eval_set[0], name="eval_set[0]")
        y_eval = check_labels(eval_set[1], name="eval_set[1]", min_classes=1)
        check_same_length(X_eval=X_eval, y_eval=y_eval)
        if X_eval.shape[1] != X_pool.shape[1]:
            raise InputValidationError(
                f"eval_set features have {X_eval.shape[1]} columns but X has {X_pool.shape[1]}."
            )
        n_classes = max(n_classes, int(y_eval.max()) + 1)

    class_counts = np.bincount(y_pool, minlength=n_classes)
    size_list = _resolve_sizes(sizes, int(y_pool.size), n_classes)
    names = list(class_names) if class_names is not None else list(range(n_classes))
    if len(names) < n_classes:
        raise InputValidationError(
            f"class_names has {len(names)} names but labels use {n_classes} classes."
        )

    by_class = [np.flatnonzero(y_pool == k) for k in range(n_classes)]
    tasks = []
    for seed in range(n_seeds):
        perms = [rng.permutation(idx) for idx in by_class]
        model_seed = int(rng.integers(2**31 - 1))
        for n in size_list:
            rows = _subset(perms, class_counts, int(n), min_per_class)
            tasks.append((seed, model_seed, rows))
    from assay.models import parallel_results

    jobs = parallel_results(n_jobs, [
        delayed(_fit_score)(estimator, X_pool[rows], y_pool[rows], X_eval, y_eval, n_classes, ms)
        for _, ms, rows in tasks
    ])
    results = []
    for res in jobs:  # in task order; progress after each fit
        results.append(res)
        if progress is not None:
            progress("learning curve fits", len(results), len(tasks))

    records = []
    for (seed, _, rows), res in zip(tasks, results, strict=True):
        rec: dict[str, Any] = {
            "n_train": int(rows.size),
            "fraction": rows.size / y_pool.size,
            "seed": seed,
        }
        rec.update({m: res[m] for m in (*METRICS, "fit_seconds")})
        rec.update({f"{m}_se": res[f"{m}_se"] for m in METRICS})
        own = np.bincount(y_pool[rows], minlength=n_classes)
        for k in range(n_classes):
            rec[f"recall[{names[k]}]"] = float(res["recall"][k])
            rec[f"n_train[{names[k]}]"] = int(own[k])
        records.append(rec)
    return pd.DataFrame.from_records(records)


def per_class_curves(curve: pd.DataFrame) -> pd.DataFrame:
    """Reshape the per-class columns of :func:`learning_curve` into long form.

    Returns
    -------
    pandas.DataFrame
        Columns ``class``, ``seed``, ``n_train`` (the whole subset), ``n_class`` (the class's
        own training count) and ``recall``.

    Examples
    --------
    >>> import pandas as pd
    >>> from assay.curves import per_class_curves
    >>> c = pd.DataFrame({"n_train": [10], "seed": [0], "recall[a]": [0.5], "n_train[a]": [4]})
    >>> per_class_curves(c)[["class", "n_class", "recall"]].values.tolist()
    [['a', 4, 0.5]]
    """
    names = [c[len("recall["):-1] for c in curve.columns if c.startswith("recall[")]
    if not names:
        raise InputValidationError(
            "The curve has no per-class columns ('recall[<class>]'); pass the DataFrame "
            "returned by assay.curves.learning_curve."
        )
    parts = [
        pd.DataFrame({
            "class": name,
            "seed": curve["seed"].to_numpy(),
            "n_train": curve["n_train"].to_numpy(),
            "n_class": curve[f"n_train[{name}]"].to_numpy(),
            "recall": curve[f"recall[{name}]"].to_numpy(),
        })
        for name in names
    ]
    return pd.concat(parts, ignore_index=True)
