"""Proof that values mean something: noisy-label detection and removal / addition curves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from assay._validation import check_choice, check_fraction, check_random_state
from assay.exceptions import InputValidationError

__all__ = [
    "NoisyDetection",
    "addition_curve",
    "flip_labels",
    "low_value_cluster",
    "noisy_detection",
    "removal_curve",
    "task_conflict",
]


@dataclass(frozen=True)
class NoisyDetection:
    """How well low values find corrupted rows (the Data-OOB authors' protocol).

    Attributes
    ----------
    f1_kmeans : float
        F1 of the k-means (k = 2) cluster with the lower centre
        (:func:`low_value_cluster`) against the corrupted set; 0 when all values are equal.
    recall_at_noisy : float
        Share of corrupted rows among the ``|corrupted|`` lowest values.
    auroc : float
        Probability that a random corrupted row is valued below a random clean one.
    n_flagged : int
        Size of the low k-means cluster (0 when all values are equal).
    """

    f1_kmeans: float
    recall_at_noisy: float
    auroc: float
    n_flagged: int


def noisy_detection(values: Any, is_noisy: Any, *, random_state: int = 0) -> NoisyDetection:
    """Score values as a detector of corrupted rows (low value = corrupted).

    Parameters
    ----------
    values : array-like of shape (n,)
    is_noisy : array-like of bool, shape (n,)
        Which rows were corrupted (needs at least one corrupted and one clean row).
    random_state : int, default 0
        Seed of k-means.

    Returns
    -------
    NoisyDetection

    Examples
    --------
    >>> from assay.valuation import noisy_detection
    >>> r = noisy_detection([0.9, 0.8, 0.85, -0.5, 0.7], [False, False, False, True, False])
    >>> r.f1_kmeans, r.recall_at_noisy, r.auroc
    (1.0, 1.0, 1.0)
    """
    from scipy.stats import rankdata

    v = np.asarray(values, dtype=np.float64)
    noisy = np.asarray(is_noisy, dtype=bool)
    if v.ndim != 1 or noisy.shape != v.shape:
        raise InputValidationError(
            f"values (shape {v.shape}) and is_noisy (shape {noisy.shape}) must be 1-d and of "
            "equal length."
        )
    if not np.all(np.isfinite(v)):
        raise InputValidationError(f"values has {int(np.sum(~np.isfinite(v)))} non-finite entries.")
    n_noisy = int(noisy.sum())
    if n_noisy == 0 or n_noisy == v.size:
        raise InputValidationError(
            f"is_noisy marks {n_noisy} of {v.size} rows; detection needs both corrupted and "
            "clean rows."
        )
    low = low_value_cluster(v, random_state=random_state)
    tp = float(np.sum(low & noisy))
    f1 = 2 * tp / (low.sum() + n_noisy)
    lowest = np.argsort(v, kind="stable")[:n_noisy]
    recall = float(noisy[lowest].mean())
    ranks = rankdata(-v)  # high rank = low value
    auroc = (ranks[noisy].sum() - n_noisy * (n_noisy + 1) / 2) / (n_noisy * (v.size - n_noisy))
    return NoisyDetection(float(f1), recall, float(auroc), int(low.sum()))


def low_value_cluster(values: Any, *, random_state: int = 0) -> np.ndarray:
    """Rows in the low-value cluster: k-means (k = 2) on the values, the cluster with the lower
    centre (the Data-OOB authors' detection rule).

    The one low-value rule of assay: ``assay value``'s ``is_low_value`` and
    :func:`noisy_detection` both use it.

    Parameters
    ----------
    values : array-like of shape (n,)
        Finite data values (low = worse).
    random_state : int, default 0
        Seed of k-means.

    Returns
    -------
    ndarray of bool, shape (n,)
        True for the rows of the low cluster. When all values are equal (or there are fewer
        than two rows) nothing sets any row apart, so no row is low-valued: all False.

    Examples
    --------
    >>> from assay.valuation import low_value_cluster
    >>> low_value_cluster([0.9, 0.8, 0.85, -0.5, 0.7]).tolist()
    [False, False, False, True, False]
    >>> low_value_cluster([0.2, 0.2, 0.2]).tolist()
    [False, False, False]
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1:
        raise InputValidationError(f"values must be 1-d (one value per row); got shape {v.shape}.")
    if not np.all(np.isfinite(v)):
        raise InputValidationError(f"values has {int(np.sum(~np.isfinite(v)))} non-finite entries.")
    if v.size < 2 or np.ptp(v) == 0:
        return np.zeros(v.size, dtype=bool)
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=2, n_init=10, random_state=random_state).fit(v[:, None])
    return np.asarray(km.labels_ == int(np.argmin(km.cluster_centers_[:, 0])), dtype=bool)


def flip_labels(
    labels: Any, fraction: float, *, random_state: int | np.random.Generator | None = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Flip ``fraction`` of the labels to another class chosen uniformly (training labels only).

    Returns
    -------
    noisy_labels : ndarray of shape (n,)
    is_flipped : ndarray of bool, shape (n,)

    Examples
    --------
    >>> from assay.valuation import flip_labels
    >>> y, flipped = flip_labels([0, 1, 0, 1, 2, 2, 0, 1, 2, 0], 0.2, random_state=0)
    >>> int(flipped.sum())
    2
    """
    y = np.asarray(labels)
    fraction = check_fraction("fraction", fraction, owner="flip_labels")
    rng = check_random_state(random_state)
    classes = np.unique(y)
    if classes.size < 2:
        raise InputValidationError("labels contain one class only; there is nothing to flip to.")
    n_flip = int(round(fraction * y.size))
    idx = rng.choice(y.size, size=n_flip, replace=False)
    codes = np.searchsorted(classes, y)
    shift = rng.integers(1, classes.size, size=n_flip)
    out = y.copy()
    out[idx] = classes[(codes[idx] + shift) % classes.size]
    flipped = np.zeros(y.size, dtype=bool)
    flipped[idx] = True
    return out, flipped


def task_conflict(values: Any, *, kind: str = "contribution") -> np.ndarray:
    """Conflict score of rows valued for several tasks: how much a row helps one task and hurts
    another.

    Parameters
    ----------
    values : array-like of shape (n, T)
        One value per row and task.
    kind : {"contribution", "accuracy"}, default "contribution"
        What the values are. ``"contribution"``: signed marginal contributions (KNN-Shapley,
        TMC-Shapley, Beta Shapley, Banzhaf; below zero the row lowers the score); the conflict
        is ``max(0, min(max_t v_t, -min_t v_t))``, zero when a row helps every task or hurts
        every task, large when it helps one and hurts another by a similar amount.
        ``"accuracy"``: per-row accuracies in [0, 1] with no zero point (Data-OOB's out-of-bag
        accuracy, always >= 0, against which the first formula is always 0); the conflict is
        the spread ``max_t v_t - min_t v_t``: 1 for a row predicted right for one task and wrong
        for another, 0 for one all tasks find equally easy or equally hard.

    Returns
    -------
    numpy.ndarray of shape (n,)

    Examples
    --------
    >>> from assay.valuation import task_conflict
    >>> task_conflict([[0.3, -0.2], [0.3, 0.1], [-0.1, -0.4]]).tolist()
    [0.2, 0.0, 0.0]
    >>> task_conflict([[1.0, 0.0], [0.5, 0.5], [1.0, 0.75]], kind="accuracy").tolist()
    [1.0, 0.0, 0.25]
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] < 2:
        raise InputValidationError(
            f"values must be an (n, T) matrix with T >= 2 tasks; got shape {v.shape}."
        )
    if kind == "accuracy":
        return v.max(axis=1) - v.min(axis=1) + 0.0
    if kind != "contribution":
        from assay._validation import check_choice

        check_choice("kind", kind, ("contribution", "accuracy"), owner="task_conflict")
    return np.maximum(0.0, np.minimum(v.max(axis=1), -v.min(axis=1))) + 0.0  # no -0.0


def removal_curve(
    values: Any, x_train: Any, y_train: Any, x_test: Any, y_test: Any, *,
    order: str = "high", fractions: Any = None, estimator: Any = None,
    random_state: int | np.random.Generator | None = 0,
) -> Any:
    """Retrain after removing the highest- (or lowest-, or random-) valued points first.

    Good values make the score fall fast when the highest are removed, and rise (or fall
    slowly) when the lowest are removed; ``order="random"`` is the baseline.

    Parameters
    ----------
    values : array-like of shape (n,)
    x_train, y_train, x_test, y_test : arrays
        Training data the values belong to and held-out data to score on.
    order : {"high", "low", "random"}, default "high"
    fractions : sequence of float in [0, 1), optional
        Shares removed; default 0, 0.05, ..., 0.5.
    estimator : scikit-learn estimator, optional
        Default :func:`assay.valuation._quality.default_curve_estimator` (logistic regression).
    random_state : int, Generator or None, default 0
        Used by ``order="random"``.

    Returns
    -------
    pandas.DataFrame with columns ``fraction``, ``n_train``, ``score`` (accuracy or the
    estimator's ``score``).

    Examples
    --------
    >>> import numpy as np
    >>> from assay.valuation import removal_curve
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(80, 2)); y = (x[:, 0] > 0).astype(int)
    >>> removal_curve(x[:, 0], x, y, x, y, fractions=[0.0, 0.25]).shape
    (2, 3)
    """
    return _curve("removal", values, x_train, y_train, x_test, y_test, order=order,
                  fractions=fractions, estimator=estimator, random_state=random_state)


def addition_curve(
    values: Any, x_train: Any, y_train: Any, x_test: Any, y_test: Any, *,
    order: str = "high", fractions: Any = None, estimator: Any = None,
    random_state: int | np.random.Generator | None = 0,
) -> Any:
    """Retrain on the highest- (or lowest-, or random-) valued share of points, growing it.

    Parameters are those of :func:`removal_curve`; ``fractions`` are the shares *kept*
    (default 0.1, 0.2, ..., 1.0).

    Examples
    --------
    >>> import numpy as np
    >>> from assay.valuation import addition_curve
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(80, 2)); y = (x[:, 0] > 0).astype(int)
    >>> addition_curve(x[:, 0], x, y, x, y, fractions=[0.5, 1.0]).shape
    (2, 3)
    """
    return _curve("addition", values, x_train, y_train, x_test, y_test, order=order,
                  fractions=fractions, estimator=estimator, random_state=random_state)


def default_curve_estimator() -> Any:
    """Standardised logistic regression used by the curves when no estimator is given."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))


def _curve(kind: str, values: Any, x_train: Any, y_train: Any, x_test: Any, y_test: Any, *,
           order: str, fractions: Any, estimator: Any, random_state: Any) -> Any:
    import pandas as pd
    from sklearn.base import clone, is_classifier
    from sklearn.dummy import DummyClassifier

    owner = f"{kind}_curve"
    order = check_choice("order", order, ("high", "low", "random"), owner=owner)
    v = np.asarray(values, dtype=np.float64)
    x = np.asarray(x_train)
    y = np.asarray(y_train)
    if v.ndim != 1 or v.shape[0] != x.shape[0] or y.shape[0] != x.shape[0]:
        raise InputValidationError(
            f"values has shape {v.shape}, x_train {x.shape} and y_train {y.shape}; pass one "
            "value and one label per training row."
        )
    if fractions is None:
        fractions = np.arange(0, 0.51, 0.05) if kind == "removal" else np.arange(0.1, 1.01, 0.1)
    fr = np.asarray(fractions, dtype=np.float64)
    if fr.ndim != 1 or fr.size == 0 or fr.min() < 0 or fr.max() > 1:
        raise InputValidationError(f"fractions must be shares in [0, 1]; got {fr.tolist()}.")
    if np.asarray(x_test).shape[0] == 0 or np.asarray(y_test).shape[0] != np.asarray(x_test).shape[0]:
        raise InputValidationError(
            f"x_test has {np.asarray(x_test).shape[0]} rows and y_test "
            f"{np.asarray(y_test).shape[0]}; the curve needs a non-empty held-out set with one "
            "label per row."
        )
    est = default_curve_estimator() if estimator is None else estimator
    if order == "random":
        ranking = check_random_state(random_state).permutation(v.size)
    else:
        ranking = np.argsort(-v if order == "high" else v, kind="stable")
    rows = []
    for f in fr:
        n_sel = int(round(f * v.size))
        keep = ranking[n_sel:] if kind == "removal" else ranking[:n_sel]
        if keep.size == 0:
            score = float("nan")
        else:
            yk = y[keep]
            one = is_classifier(est) and np.unique(yk).size < 2
            model = (DummyClassifier(strategy="most_frequent") if one else clone(est))
            score = float(model.fit(x[keep], yk).score(np.asarray(x_test), np.asarray(y_test)))
        rows.append((float(f), int(keep.size), score))
    return pd.DataFrame(rows, columns=["fraction", "n_train", "score"])
