"""Long-tailed evaluation and the numpy primitives behind long-tail training.

Everything here is numpy only (no torch): shot groups and per-group accuracy, class priors,
post-hoc logit adjustment, class-balanced weights, sampling probabilities, shifted test priors
(forward / backward exponential profiles, importance weighting or resampling) and the seeded
CIFAR-LT subsampler. The torch losses in :mod:`assay.torch` build on these.

Notation: ``n_j`` is the training count of class ``j``, ``pi_j = n_j / sum(n)`` the training
prior, ``f_j(x)`` the logits and ``C`` the number of classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from assay._validation import (
    check_1d,
    check_choice,
    check_counts,
    check_features,
    check_int,
    check_labels,
    check_random_state,
    check_same_length,
)
from assay.exceptions import InputValidationError, InvalidParameterError

__all__ = [
    "GroupAccuracy",
    "TailAugmentation",
    "augment_tail",
    "adjust_logits",
    "class_balanced_weights",
    "class_counts",
    "group_accuracy",
    "log_prior",
    "make_long_tailed",
    "prior_from_counts",
    "prior_shift_accuracy",
    "prior_shift_curve",
    "sampling_probabilities",
    "select_posthoc_tau",
    "shifted_prior",
    "shot_groups",
]

_PRIOR_ATOL = 1e-6


# --------------------------------------------------------------------------------------------
# validation helpers (private)
# --------------------------------------------------------------------------------------------
def _check_prior(prior: Any, *, name: str, n_classes: int | None = None) -> np.ndarray:
    arr = check_1d(name, prior).astype(np.float64)
    if n_classes is not None and arr.size != n_classes:
        raise InputValidationError(
            f"{name} has {arr.size} entries but there are {n_classes} classes. "
            "Pass one probability per class, in class-index order."
        )
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise InputValidationError(
            f"{name} must hold finite, non-negative probabilities; got min {np.nanmin(arr):.4g}."
        )
    total = float(arr.sum())
    if abs(total - 1.0) > _PRIOR_ATOL:
        raise InputValidationError(
            f"{name} must sum to 1 (it is a probability distribution over classes); it sums to "
            f"{total:.6g}. Normalise it (prior / prior.sum()) or build it from counts with "
            "assay.longtail.prior_from_counts(counts)."
        )
    return arr


def _check_logits(logits: Any, *, name: str = "logits") -> np.ndarray:
    arr = np.asarray(logits, dtype=np.float64)
    if arr.ndim != 2:
        raise InputValidationError(
            f"{name} must be a 2-d array (rows x classes); got shape {arr.shape}."
        )
    if not np.all(np.isfinite(arr)):
        raise InputValidationError(
            f"{name} has NaN or infinite values. Pass finite logits (the model's raw outputs)."
        )
    return arr


def _check_float(name: str, value: Any, *, low: float | None = None, owner: str = "") -> float:
    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    if ok:
        v = float(value)
        ok = bool(np.isfinite(v)) and (low is None or v >= low)
    if not ok:
        expected = "a finite float" + (f" >= {low}" if low is not None else "")
        raise InvalidParameterError(name, expected, value, owner=owner)
    return float(value)


def _check_class_indices(name: str, values: Any, n_classes: int) -> np.ndarray:
    arr = check_1d(name, values)
    if arr.size and arr.dtype.kind == "f" and np.all(arr == np.round(arr)):
        arr = arr.astype(np.int64)
    if arr.size and arr.dtype.kind not in "iu":
        raise InputValidationError(
            f"{name} must hold integer class indices 0..{n_classes - 1}; got dtype {arr.dtype}. "
            "Encode class names with numpy.unique(..., return_inverse=True)."
        )
    arr = arr.astype(np.int64, copy=False)
    if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
        raise InputValidationError(
            f"{name} holds class index {int(arr.max() if arr.max() >= n_classes else arr.min())}"
            f" but train_counts has {n_classes} classes (indices 0..{n_classes - 1}). "
            "Pass one training count per class, including classes absent from training (count 0)."
        )
    return arr


# --------------------------------------------------------------------------------------------
# counts, priors, groups
# --------------------------------------------------------------------------------------------
def class_counts(labels: Any, *, n_classes: int | None = None) -> np.ndarray:
    """Count the samples of each class.

    Parameters
    ----------
    labels : array-like of int, shape (N,)
        Class indices ``0..C-1``.
    n_classes : int, optional
        Number of classes ``C``; classes with no sample get a count of 0. Defaults to
        ``max(labels) + 1``.

    Returns
    -------
    numpy.ndarray of int64, shape (C,)

    Examples
    --------
    >>> class_counts([0, 0, 2], n_classes=4).tolist()
    [2, 0, 1, 0]
    """
    arr = check_1d("labels", labels)
    if n_classes is None:
        if arr.size == 0:
            raise InputValidationError("labels is empty; pass n_classes or at least one label.")
        n_classes = int(np.max(arr)) + 1
    n_classes = check_int("n_classes", n_classes, low=1, owner="class_counts")
    arr = _check_class_indices("labels", arr, n_classes)
    return np.bincount(arr, minlength=n_classes).astype(np.int64)


def prior_from_counts(counts: Any, *, smoothing: float = 0.0) -> np.ndarray:
    """Turn class counts into a prior ``(n_j + smoothing) / sum(n + smoothing)``.

    Parameters
    ----------
    counts : array-like, shape (C,)
        Training samples per class (non-negative).
    smoothing : float, default 0.0
        Additive (Laplace) pseudo-count. Use ``smoothing > 0`` when a class has no training
        sample and you need a finite log prior.

    Returns
    -------
    numpy.ndarray of float64, shape (C,), summing to 1.

    Examples
    --------
    >>> prior_from_counts([3, 1]).tolist()
    [0.75, 0.25]
    >>> prior_from_counts([2, 0], smoothing=1.0).tolist()
    [0.75, 0.25]
    """
    arr = check_counts(counts, name="counts")
    smoothing = _check_float("smoothing", smoothing, low=0.0, owner="prior_from_counts")
    arr = arr + smoothing
    return arr / arr.sum()


def log_prior(counts: Any, *, smoothing: float = 0.0) -> np.ndarray:
    """Log training prior ``log pi_j``, refusing the ``-inf`` of a class with no sample.

    A class with zero training samples has ``log pi_j = -inf``; logit adjustment would then add
    ``+inf`` to its logit (post-hoc) or ``-inf`` during training. Rather than silently produce
    ``inf`` / ``NaN``, this raises and asks for an explicit ``smoothing``.

    Parameters
    ----------
    counts : array-like, shape (C,)
        Training samples per class.
    smoothing : float, default 0.0
        Additive pseudo-count (e.g. 0.5 or 1) giving empty classes a small finite prior.

    Returns
    -------
    numpy.ndarray of float64, shape (C,)

    Examples
    --------
    >>> np.round(log_prior([1, 1]), 4).tolist()
    [-0.6931, -0.6931]
    """
    arr = check_counts(counts, name="counts")
    smoothing = _check_float("smoothing", smoothing, low=0.0, owner="log_prior")
    empty = np.flatnonzero(arr + smoothing <= 0)
    if empty.size:
        raise InputValidationError(
            f"Class(es) {empty.tolist()[:10]} have zero training samples, so their log prior is "
            "-inf and logit adjustment is undefined for them. Pass smoothing > 0 (e.g. "
            "smoothing=1.0 adds one pseudo-sample per class) or drop those classes."
        )
    return np.log(prior_from_counts(arr, smoothing=smoothing))


def shot_groups(train_counts: Any, *, many: int = 100, few: int = 20) -> np.ndarray:
    """Assign each class to the ``"many"``, ``"medium"`` or ``"few"`` shot group.

    The usual protocol: many-shot ``n_j > many``, few-shot ``n_j < few``, medium-shot in between
    (``few <= n_j <= many``, both inclusive).

    Parameters
    ----------
    train_counts : array-like, shape (C,)
        Training samples per class.
    many, few : int, default 100 and 20
        Thresholds.

    Returns
    -------
    numpy.ndarray of str, shape (C,)

    Examples
    --------
    >>> shot_groups([500, 100, 20, 19]).tolist()
    ['many', 'medium', 'medium', 'few']
    """
    counts = check_counts(train_counts)
    few = check_int("few", few, low=0, owner="shot_groups")
    many = check_int("many", many, low=few, owner="shot_groups")
    out = np.full(counts.shape, "medium", dtype=object)
    out[counts > many] = "many"
    out[counts < few] = "few"
    return out.astype(str)


@dataclass(frozen=True)
class GroupAccuracy:
    """Accuracy of a classifier on a long-tailed problem.

    Attributes
    ----------
    many, medium, few : float
        Mean per-class accuracy within each shot group (NaN when the group has no class with a
        test sample).
    overall : float
        Plain accuracy on the test rows (the natural, test-prior accuracy).
    balanced : float
        Mean per-class accuracy (equals ``overall`` on a balanced test set).
    worst_class : float
        Lowest per-class accuracy.
    harmonic_mean : float
        Harmonic mean of per-class accuracies (0 when any class scores 0).
    per_class : numpy.ndarray, shape (C,)
        Accuracy of each class (NaN for classes with no test sample).
    groups : numpy.ndarray of str, shape (C,)
        Shot group of each class.
    """

    many: float
    medium: float
    few: float
    overall: float
    balanced: float
    worst_class: float
    harmonic_mean: float
    per_class: np.ndarray
    groups: np.ndarray

    def as_dict(self) -> dict[str, float]:
        """The scalar metrics as a plain dict (for JSON and tables)."""
        return {
            "many": self.many,
            "medium": self.medium,
            "few": self.few,
            "overall": self.overall,
            "balanced": self.balanced,
            "worst_class": self.worst_class,
            "harmonic_mean": self.harmonic_mean,
        }


def _per_class_accuracy(y_true: np.ndarray, correct: np.ndarray, n_classes: int) -> np.ndarray:
    n = np.bincount(y_true, minlength=n_classes).astype(np.float64)
    hits = np.bincount(y_true, weights=correct.astype(np.float64), minlength=n_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, hits / np.maximum(n, 1), np.nan)


def group_accuracy(
    y_true: Any,
    y_pred: Any,
    train_counts: Any,
    *,
    many: int = 100,
    few: int = 20,
) -> GroupAccuracy:
    """Many / medium / few-shot, overall, balanced, worst-class and harmonic-mean accuracy.

    Group accuracy is the mean of per-class accuracies of the group's classes that have at least
    one test row. ``overall`` is plain accuracy on the rows given (their natural prior);
    ``balanced`` is the mean per-class accuracy.

    Parameters
    ----------
    y_true, y_pred : array-like of int, shape (N,)
        True and predicted class indices ``0..C-1`` on the evaluation rows.
    train_counts : array-like, shape (C,)
        Training samples per class; defines ``C`` and the shot groups.
    many, few : int, default 100 and 20
        Shot-group thresholds (see :func:`shot_groups`).

    Returns
    -------
    GroupAccuracy

    Examples
    --------
    >>> r = group_accuracy([0, 0, 1, 2], [0, 1, 1, 0], [200, 50, 5])
    >>> r.many, r.medium, r.few, r.overall, r.balanced
    (0.5, 1.0, 0.0, 0.5, 0.5)
    """
    counts = check_counts(train_counts)
    n_classes = counts.size
    yt = _check_class_indices("y_true", y_true, n_classes)
    yp = _check_class_indices("y_pred", y_pred, n_classes)
    check_same_length(y_true=yt, y_pred=yp)
    if yt.size == 0:
        raise InputValidationError("y_true is empty. Pass at least one evaluation row.")
    groups = shot_groups(counts, many=many, few=few)
    correct = yt == yp
    per_class = _per_class_accuracy(yt, correct, n_classes)
    present = ~np.isnan(per_class)

    def _mean(mask: np.ndarray) -> float:
        sel = per_class[mask & present]
        return float(sel.mean()) if sel.size else float("nan")

    acc = per_class[present]
    harmonic = 0.0 if np.any(acc == 0) else float(acc.size / np.sum(1.0 / acc))
    return GroupAccuracy(
        many=_mean(groups == "many"),
        medium=_mean(groups == "medium"),
        few=_mean(groups == "few"),
        overall=float(correct.mean()),
        balanced=float(acc.mean()),
        worst_class=float(acc.min()),
        harmonic_mean=harmonic,
        per_class=per_class,
        groups=groups,
    )


# --------------------------------------------------------------------------------------------
# logit adjustment and weights
# --------------------------------------------------------------------------------------------
def adjust_logits(
    logits: Any,
    train_prior: Any,
    *,
    target_prior: Any = None,
    tau: float = 1.0,
) -> np.ndarray:
    """Post-hoc logit adjustment: ``f_j(x) - tau * log pi_j + tau * log q_j``.

    With no ``target_prior`` (a uniform target) this is Menon et al.'s post-hoc correction
    ``f_j - tau * log pi_j`` (the uniform ``log q_j`` is a constant and is left out, so the
    result equals that formula exactly). With a known target prior ``q`` and ``tau = 1`` it is
    the PC-softmax / LADE correction to the test prior ``f_j - log pi_j + log q_j``. A class with
    ``q_j = 0`` gets ``-inf`` (it is never predicted).

    Parameters
    ----------
    logits : array-like, shape (N, C)
        Raw model outputs trained under the training prior.
    train_prior : array-like, shape (C,)
        Training prior ``pi`` (sums to 1, every entry > 0; see :func:`prior_from_counts` with
        ``smoothing`` for classes without training samples).
    target_prior : array-like, shape (C,), optional
        Test prior ``q`` to adjust to (sums to 1). Default: uniform.
    tau : float, default 1.0
        Strength of the adjustment (``tau = 0`` returns the logits unchanged). Choose it on
        validation data (:func:`select_posthoc_tau`), never on test.

    Returns
    -------
    numpy.ndarray of float64, shape (N, C)

    Examples
    --------
    >>> adjust_logits([[2.0, 1.0]], [0.9, 0.1]).argmax(axis=1).tolist()
    [1]
    """
    arr = _check_logits(logits)
    n_classes = arr.shape[1]
    pi = _check_prior(train_prior, name="train_prior", n_classes=n_classes)
    tau = _check_float("tau", tau, low=0.0, owner="adjust_logits")
    if np.any(pi <= 0):
        empty = np.flatnonzero(pi <= 0).tolist()[:10]
        raise InputValidationError(
            f"train_prior is 0 for class(es) {empty}: their log prior is -inf, so post-hoc "
            "adjustment would always predict them. Build the prior with smoothing "
            "(prior_from_counts(counts, smoothing=1.0)) or drop those classes."
        )
    out = arr - tau * np.log(pi)[None, :]
    if target_prior is not None:
        q = _check_prior(target_prior, name="target_prior", n_classes=n_classes)
        with np.errstate(divide="ignore"):
            log_q = np.log(q)
        out = out + np.where(np.isfinite(log_q), tau * log_q, -np.inf)[None, :]
    return out


def class_balanced_weights(counts: Any, *, beta: float) -> np.ndarray:
    """Class-balanced weights of Cui et al. (2019), normalised to sum to ``C``.

    The effective number of samples is ``E_j = (1 - beta^n_j) / (1 - beta)`` and ``w_j`` is
    proportional to ``1 / E_j``. ``beta = 0`` gives uniform weights; ``beta = 1`` gives its
    limit, inverse frequency ``1 / n_j``. The weights are rescaled so that ``sum_j w_j = C``
    (the reference code's choice: the loss keeps the scale of unweighted cross-entropy when all
    classes are equally frequent). A class with no training sample never appears as a target;
    it gets weight 0 and the remaining weights still sum to ``C``.

    Parameters
    ----------
    counts : array-like, shape (C,)
        Training samples per class.
    beta : float in [0, 1]
        Typical values 0.9, 0.99, 0.999, 0.9999.

    Returns
    -------
    numpy.ndarray of float64, shape (C,)

    Examples
    --------
    >>> np.round(class_balanced_weights([10, 10], beta=0.99), 6).tolist()
    [1.0, 1.0]
    >>> np.round(class_balanced_weights([30, 10], beta=1.0), 3).tolist()
    [0.5, 1.5]
    """
    n = check_counts(counts, name="counts")
    ok = isinstance(beta, int | float | np.integer | np.floating) and not isinstance(beta, bool)
    if not ok or not 0.0 <= float(beta) <= 1.0:
        raise InvalidParameterError(
            "beta", "a float in the range [0, 1]", beta, owner="class_balanced_weights",
            hint="Typical values: 0.9, 0.99, 0.999, 0.9999.",
        )
    beta = float(beta)
    present = n > 0
    w = np.zeros_like(n)
    if beta == 1.0:
        w[present] = 1.0 / n[present]
    else:
        # 1 / E_j = (1 - beta) / (1 - beta^n); -expm1(n log beta) is accurate for beta near 1.
        with np.errstate(divide="ignore"):
            one_minus_pow = -np.expm1(n[present] * np.log(beta)) if beta > 0 else np.ones(
                int(present.sum())
            )
        w[present] = (1.0 - beta) / one_minus_pow
    return w * (n.size / w.sum())


def sampling_probabilities(counts: Any, *, q: float) -> np.ndarray:
    """Class sampling probabilities ``p_j`` proportional to ``n_j^q``.

    ``q = 1`` is instance-balanced sampling (the data's own prior), ``q = 0`` class-balanced,
    ``q = 0.5`` square-root sampling. Classes with no sample get probability 0.

    Parameters
    ----------
    counts : array-like, shape (C,)
    q : float in [0, 1]

    Returns
    -------
    numpy.ndarray of float64, shape (C,), summing to 1.

    Examples
    --------
    >>> sampling_probabilities([9, 1], q=0.5).tolist()
    [0.75, 0.25]
    """
    n = check_counts(counts, name="counts")
    ok = isinstance(q, int | float | np.integer | np.floating) and not isinstance(q, bool)
    if not ok or not 0.0 <= float(q) <= 1.0:
        raise InvalidParameterError("q", "a float in the range [0, 1]", q,
                                    owner="sampling_probabilities")
    p = np.where(n > 0, np.power(n, float(q), where=n > 0, out=np.zeros_like(n)), 0.0)
    return p / p.sum()


def select_posthoc_tau(
    logits: Any,
    y_true: Any,
    train_prior: Any,
    *,
    taus: Sequence[float] | np.ndarray | None = None,
) -> tuple[float, pd.DataFrame]:
    """Choose the post-hoc adjustment strength ``tau`` by balanced accuracy on *validation* rows.

    Pass validation logits and labels, never test ones (choosing ``tau`` on the test set
    inflates the reported figure). Ties go to the smallest ``tau``.

    Parameters
    ----------
    logits : array-like, shape (N, C)
        Validation logits.
    y_true : array-like of int, shape (N,)
        Validation labels.
    train_prior : array-like, shape (C,)
        Training prior.
    taus : sequence of float, optional
        Grid to search. Default ``0, 0.1, ..., 2.0``.

    Returns
    -------
    (float, pandas.DataFrame)
        The best ``tau`` and a frame with columns ``tau`` and ``balanced_accuracy``.

    Examples
    --------
    >>> logits = np.array([[2.0, 1.0], [2.0, 1.5], [0.0, 1.0]])
    >>> tau, table = select_posthoc_tau(logits, [0, 1, 1], [0.8, 0.2])
    >>> tau  # the smallest tau that gets every validation row right (0.36 < tau < 0.72)
    0.4
    """
    arr = _check_logits(logits)
    n_classes = arr.shape[1]
    yt = _check_class_indices("y_true", y_true, n_classes)
    check_same_length(logits=arr, y_true=yt)
    grid = np.round(np.linspace(0.0, 2.0, 21), 10) if taus is None else np.asarray(taus, float)
    if grid.ndim != 1 or grid.size == 0 or not np.all(np.isfinite(grid)) or np.any(grid < 0):
        raise InvalidParameterError("taus", "a non-empty 1-d sequence of floats >= 0", taus,
                                    owner="select_posthoc_tau")
    pi = _check_prior(train_prior, name="train_prior", n_classes=n_classes)
    scores = []
    for t in grid:
        pred = adjust_logits(arr, pi, tau=float(t)).argmax(axis=1)
        acc = _per_class_accuracy(yt, pred == yt, n_classes)
        scores.append(float(np.nanmean(acc)))
    table = pd.DataFrame({"tau": grid, "balanced_accuracy": scores})
    best = float(grid[int(np.argmax(scores))])
    return best, table


# --------------------------------------------------------------------------------------------
# shifted test priors
# --------------------------------------------------------------------------------------------
def shifted_prior(
    train_counts: Any, *, profile: str = "forward", imbalance: float = 10.0
) -> np.ndarray:
    """A test prior with an exponential profile over the training head-to-tail order (SADE).

    Classes are ranked by training count, most frequent first (ties by class index). With rank
    ``r = 0..C-1`` the ``"forward"`` profile puts ``q`` proportional to
    ``imbalance^(-r / (C - 1))`` (the same head as training, head/tail ratio ``imbalance``),
    ``"backward"`` reverses it (the training tail becomes the test head), ``"uniform"`` is
    balanced.

    Parameters
    ----------
    train_counts : array-like, shape (C,)
    profile : {"forward", "backward", "uniform"}
    imbalance : float >= 1
        Ratio of the largest to the smallest test-class probability (SADE uses 50, 25, 10, 5, 2).

    Returns
    -------
    numpy.ndarray of float64, shape (C,), summing to 1.

    Examples
    --------
    >>> np.round(shifted_prior([100, 10, 1], profile="forward", imbalance=4), 4).tolist()
    [0.5714, 0.2857, 0.1429]
    >>> np.round(shifted_prior([100, 10, 1], profile="backward", imbalance=4), 4).tolist()
    [0.1429, 0.2857, 0.5714]
    """
    counts = check_counts(train_counts)
    profile = check_choice("profile", profile, ("forward", "backward", "uniform"),
                           owner="shifted_prior")
    imbalance = _check_float("imbalance", imbalance, low=1.0, owner="shifted_prior")
    c = counts.size
    if profile == "uniform" or c == 1:
        return np.full(c, 1.0 / c)
    order = np.argsort(-counts, kind="stable")  # head first
    rank = np.empty(c, dtype=np.float64)
    rank[order] = np.arange(c)
    if profile == "backward":
        rank = (c - 1) - rank
    q = np.power(imbalance, -rank / (c - 1))
    return q / q.sum()


def prior_shift_accuracy(
    y_true: Any,
    y_pred: Any,
    target_prior: Any,
    *,
    method: str = "weight",
    n_repeats: int = 10,
    random_state: Any = None,
) -> float:
    """Accuracy the predictions would have on a test set whose class prior is ``target_prior``.

    ``method="weight"`` importance-weights each row by ``q_y / p_test(y)``, which gives exactly
    ``sum_j q_j * acc_j`` (deterministic). ``method="resample"`` draws, ``n_repeats`` times,
    a test subset with class sizes proportional to ``q`` (as large as the rows allow, without
    replacement, as in SADE's protocol) and averages plain accuracy over the draws.

    Parameters
    ----------
    y_true, y_pred : array-like of int, shape (N,)
    target_prior : array-like, shape (C,)
        Sums to 1; every class with ``q_j > 0`` must have at least one row.
    method : {"weight", "resample"}
    n_repeats : int, default 10
        Number of resampled test sets (``method="resample"`` only).
    random_state : None, int or numpy.random.Generator

    Returns
    -------
    float

    Examples
    --------
    >>> prior_shift_accuracy([0, 0, 1, 1], [0, 0, 0, 1], [0.75, 0.25])
    0.875
    """
    method = check_choice("method", method, ("weight", "resample"), owner="prior_shift_accuracy")
    n_repeats = check_int("n_repeats", n_repeats, low=1, owner="prior_shift_accuracy")
    q_raw = check_1d("target_prior", target_prior)
    q = _check_prior(q_raw, name="target_prior")
    n_classes = q.size
    yt = _check_class_indices("y_true", y_true, n_classes)
    yp = _check_class_indices("y_pred", y_pred, n_classes)
    check_same_length(y_true=yt, y_pred=yp)
    n_test = np.bincount(yt, minlength=n_classes)
    missing = np.flatnonzero((q > 0) & (n_test == 0))
    if missing.size:
        raise InputValidationError(
            f"target_prior gives class(es) {missing.tolist()[:10]} positive probability but they "
            "have no evaluation row, so their accuracy is unknown. Evaluate on rows covering "
            "every class, or give those classes probability 0."
        )
    correct = yt == yp
    if method == "weight":
        acc = _per_class_accuracy(yt, correct, n_classes)
        return float(np.sum(q[q > 0] * acc[q > 0]))
    rng = check_random_state(random_state)
    pos = q > 0
    scale = float(np.min(n_test[pos] / q[pos]))
    take = np.floor(scale * q + 1e-9).astype(np.int64)
    take[pos] = np.maximum(take[pos], 1)
    by_class = np.argsort(yt, kind="stable")
    starts = np.concatenate([[0], np.cumsum(n_test)])
    accs = np.empty(n_repeats)
    for r in range(n_repeats):
        hits = 0
        for j in np.flatnonzero(take):
            rows = by_class[starts[j]:starts[j + 1]]
            pick = rng.choice(rows, size=int(take[j]), replace=False)
            hits += int(correct[pick].sum())
        accs[r] = hits / take.sum()
    return float(accs.mean())


def prior_shift_curve(
    y_true: Any,
    y_pred: Any,
    train_counts: Any,
    *,
    imbalances: Sequence[float] = (50, 25, 10, 5, 2),
    method: str = "weight",
    n_repeats: int = 10,
    random_state: Any = None,
) -> pd.DataFrame:
    """Accuracy across test priors from forward-50 through uniform to backward-50 (SADE).

    Parameters
    ----------
    y_true, y_pred : array-like of int, shape (N,)
        Labels and predictions on a test set covering every class (ideally balanced).
    train_counts : array-like, shape (C,)
        Training counts; they fix the head-to-tail order of the profiles.
    imbalances : sequence of float, default (50, 25, 10, 5, 2)
    method, n_repeats, random_state
        See :func:`prior_shift_accuracy`.

    Returns
    -------
    pandas.DataFrame
        Columns ``profile`` (``"forward-50"``, ..., ``"uniform"``, ..., ``"backward-50"``),
        ``direction``, ``imbalance`` and ``accuracy``.

    Examples
    --------
    >>> curve = prior_shift_curve([0, 1, 2], [0, 1, 0], [100, 10, 1], imbalances=[10])
    >>> curve["profile"].tolist()
    ['forward-10', 'uniform', 'backward-10']
    """
    counts = check_counts(train_counts)
    rng = check_random_state(random_state)
    ks = [float(k) for k in imbalances]
    rows: list[tuple[str, str, float]] = []
    rows += [(f"forward-{k:g}", "forward", k) for k in sorted(ks, reverse=True)]
    rows.append(("uniform", "uniform", 1.0))
    rows += [(f"backward-{k:g}", "backward", k) for k in sorted(ks)]
    accs = [
        prior_shift_accuracy(
            y_true, y_pred, shifted_prior(counts, profile=d, imbalance=k),
            method=method, n_repeats=n_repeats, random_state=rng,
        )
        for _, d, k in rows
    ]
    return pd.DataFrame(
        {
            "profile": [r[0] for r in rows],
            "direction": [r[1] for r in rows],
            "imbalance": [r[2] for r in rows],
            "accuracy": accs,
        }
    )


# --------------------------------------------------------------------------------------------
# long-tailed subsampling
# --------------------------------------------------------------------------------------------
def make_long_tailed(
    labels: Any,
    *,
    imbalance_ratio: float,
    random_state: Any,
    n_max: int | None = None,
) -> np.ndarray:
    """Indices of a seeded long-tailed subsample with the CIFAR-LT exponential profile.

    Class ``i`` (in class-index order, ``i = 0..C-1``) keeps
    ``floor(n_max * (1 / imbalance_ratio)^(i / (C - 1)))`` samples, drawn without replacement
    with ``random_state``. This is the profile of Cao et al.'s CIFAR-10/100-LT (``n_max = 5000``
    gives 12,406 and 10,847 training images at ratio 100). The subsample depends on the seed;
    report results over several seeds.

    Parameters
    ----------
    labels : array-like of int, shape (N,)
        Class indices ``0..C-1`` of the full (balanced or not) pool.
    imbalance_ratio : float >= 1
        Ratio of the head class's count to the tail's (e.g. 100 or 10).
    random_state : None, int or numpy.random.Generator
        Seed of the draw (keyword required: results depend on it).
    n_max : int, optional
        Count kept for class 0. Default: the smallest class count in ``labels`` (so every class
        can supply its target).

    Returns
    -------
    numpy.ndarray of int64
        Sorted row indices into ``labels``.

    Examples
    --------
    >>> labels = np.repeat(np.arange(3), 10)
    >>> idx = make_long_tailed(labels, imbalance_ratio=4, random_state=0)
    >>> np.bincount(labels[idx]).tolist()
    [10, 5, 2]
    """
    y = check_1d("labels", labels)
    if y.size == 0:
        raise InputValidationError("labels is empty. Pass the class index of every row.")
    if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        y = y.astype(np.int64)
    if y.dtype.kind not in "iu":
        raise InputValidationError(
            f"labels must hold integer class indices 0..C-1; got dtype {y.dtype}. "
            "Encode class names with numpy.unique(..., return_inverse=True)."
        )
    n_classes = int(np.max(y)) + 1
    y = _check_class_indices("labels", y, n_classes)
    ratio = _check_float("imbalance_ratio", imbalance_ratio, low=1.0, owner="make_long_tailed")
    rng = check_random_state(random_state)
    available = np.bincount(y, minlength=n_classes)
    if n_max is None:
        n_max = int(available.min())
    n_max = check_int("n_max", n_max, low=1, owner="make_long_tailed")
    c = n_classes
    # Same arithmetic as the reference (img_max * (1/IR) ** (i / (C - 1))), then int().
    targets = np.array(
        [int(n_max * (1.0 / ratio) ** (i / (c - 1.0))) if c > 1 else n_max for i in range(c)],
        dtype=np.int64,
    )
    short = np.flatnonzero(targets > available)
    if short.size:
        j = int(short[0])
        raise InputValidationError(
            f"Class {j} needs {targets[j]} samples for the long-tailed profile but labels hold "
            f"only {available[j]}. Lower n_max (at most {int(available.min())} always works)."
        )
    by_class = np.argsort(y, kind="stable")
    starts = np.concatenate([[0], np.cumsum(available)])
    picks = [
        rng.choice(by_class[starts[j]:starts[j + 1]], size=int(targets[j]), replace=False)
        for j in range(c)
    ]
    return np.sort(np.concatenate(picks)).astype(np.int64)


@dataclass(frozen=True)
class TailAugmentation:
    """Synthetic feature rows for the tail classes (:func:`augment_tail`).

    Attributes
    ----------
    features : ndarray of shape (M, d)
        The new rows only (append them to the real ones to train).
    labels : ndarray of shape (M,)
    per_class : pandas.DataFrame
        Per augmented class: ``class``, ``n_real``, ``n_added`` and ``donors`` (the head
        classes whose covariance it borrowed, most often chosen first).
    """

    features: np.ndarray
    labels: np.ndarray
    per_class: pd.DataFrame


def augment_tail(
    features: Any,
    labels: Any,
    *,
    target: int | None = None,
    few: int = 20,
    k: int = 2,
    alpha: float = 0.2,
    random_state: Any = 0,
) -> TailAugmentation:
    """Sample new feature rows for the tail classes from calibrated Gaussians.

    Distribution calibration (Yang, Liu and Xu, "Free Lunch for Few-shot Learning:
    Distribution Calibration", ICLR 2021) in feature space: a tail class has too few rows to
    estimate its spread, so each of its rows borrows the statistics of the ``k`` head classes
    whose means lie nearest to it. For a tail row ``x``, with donor means ``mu_i`` and
    covariances ``S_i``, the calibrated distribution is ``N((sum_i mu_i + x) / (k + 1),
    mean_i S_i + alpha I)``; rows are drawn from it, cycling over the class's real rows, until
    the class has ``target`` rows. Head classes (at least ``few`` rows and not augmented
    themselves) are the donors. Use it on frozen embeddings or other real-valued features (the
    paper applies Tukey's power transform to non-negative features first); the draws follow
    the features' scale, so standardise features of very different scales first.

    Parameters
    ----------
    features : array-like of shape (N, d)
    labels : array-like of shape (N,)
        Class indices ``0..C-1``.
    target : int, optional
        Rows each tail class is brought up to. Default: the median count of the donor classes.
    few : int, default=20
        Classes with fewer rows are augmented; the others are donors.
    k : int, default=2
        Donor classes per tail row.
    alpha : float, default=0.2
        Added to the covariance's diagonal (the paper's spread).
    random_state : None, int or numpy.random.Generator

    Returns
    -------
    TailAugmentation

    Examples
    --------
    >>> import numpy as np
    >>> from assay.longtail import augment_tail
    >>> rng = np.random.default_rng(0)
    >>> x = np.vstack([rng.normal(0, 1, (100, 2)), rng.normal(5, 1, (100, 2)),
    ...                rng.normal((0, 5), 1, (4, 2))])
    >>> y = np.repeat([0, 1, 2], [100, 100, 4])
    >>> aug = augment_tail(x, y, target=50)
    >>> aug.features.shape, int((aug.labels == 2).sum())
    ((46, 2), 46)
    """
    x = check_features(features, name="features")
    y = check_labels(labels, name="labels", min_classes=2)
    check_same_length(features=x, labels=y)
    few = check_int("few", few, low=2, owner="augment_tail")
    k = check_int("k", k, low=1, owner="augment_tail")
    alpha = _check_float("alpha", alpha, low=0.0, owner="augment_tail")
    rng = check_random_state(random_state)
    counts = np.bincount(y)
    donors = np.flatnonzero(counts >= few)
    tails = np.flatnonzero((counts > 0) & (counts < few))
    if donors.size == 0:
        raise InputValidationError(
            f"No class has at least few={few} rows to lend its spread; lower few, or augment "
            "after collecting more rows of some class.")
    k = min(k, int(donors.size))
    if target is None:
        target = int(np.median(counts[donors]))
    target = check_int("target", target, low=1, owner="augment_tail")
    d = x.shape[1]
    means = np.stack([x[y == c].mean(axis=0) for c in donors])
    covs = np.stack([np.cov(x[y == c], rowvar=False).reshape(d, d) for c in donors])
    out_x, out_y, report = [], [], []
    for c in tails:
        rows = x[y == c]
        need = max(0, target - rows.shape[0])
        if need == 0:
            continue
        dist = ((rows[:, None, :] - means[None, :, :]) ** 2).sum(axis=2)
        nearest = np.argsort(dist, axis=1, kind="stable")[:, :k]
        per_row = np.bincount(np.arange(need) % rows.shape[0], minlength=rows.shape[0])
        for r, m in enumerate(per_row):
            if m == 0:
                continue
            mu = (means[nearest[r]].sum(axis=0) + rows[r]) / (k + 1)
            cov = covs[nearest[r]].mean(axis=0) + alpha * np.eye(d)
            out_x.append(rng.multivariate_normal(mu, cov, size=int(m), method="eigh"))
            out_y.append(np.full(int(m), c))
        used = pd.Series(donors[nearest.ravel()]).value_counts()
        report.append({"class": int(c), "n_real": int(rows.shape[0]), "n_added": int(need),
                       "donors": [int(v) for v in used.index[:k]]})
    feats = np.vstack(out_x) if out_x else np.empty((0, d))
    labs = np.concatenate(out_y) if out_y else np.empty(0, dtype=np.int64)
    return TailAugmentation(features=feats, labels=labs.astype(np.int64),
                            per_class=pd.DataFrame(report,
                                                   columns=["class", "n_real", "n_added",
                                                            "donors"]))
