"""Wrong entries of multi-label targets: label sets whose members are missing or spurious.

A multi-label target gives each row a *set* of classes (tags, genres, symptoms, promotions), held
as an indicator matrix ``labels[i, k] = 1`` when row i carries class k. An entry is wrong when a
true class is missing from the set or a class that does not apply is in it.

The pieces:

- :func:`parse_label_sets` turns a column of label sets (lists, JSON lists, ``"a,b"`` strings)
  into the indicator matrix; :func:`is_label_set_column` says whether a column holds label sets.
- :func:`cross_fit_multilabel_probs` gives out-of-fold probabilities, one binary model per class
  on one set of folds.
- :func:`multilabel_label_scores` scores each entry (the probability of its given 0/1) and each
  row (its worst entry).
- :func:`find_multilabel_issues` flags the entries that look wrong, says how many there likely
  are, suggests the corrected set, and whether to trust the estimate.

How many entries are wrong comes from a mislabel-aware recalibration of each class's
probabilities (Copas 1988; Bootkrajang and Kaban 2012): the given label is 1 with probability
``rho0 + (1 - rho0 - rho1) * sigmoid(a * logit(p) + b)``, where ``rho0`` is the rate of 1s given
to rows without the class and ``rho1`` the rate of 0s given to rows with it. The four numbers are
fitted by maximum likelihood (a weak prior keeps the rates off 0.5 when the model cannot separate
the class) and Bayes' rule gives each entry's probability of being wrong. Which entries are
flagged: the entries more likely wrong than right are counted, and that many entries with the
lowest entry scores are flagged (among those with an error probability of at least 0.1). On
``benchmarks/multilabel_labels.py`` this ranked and counted better than cleanlab's multi-label
module on the same probabilities (``docs/benchmarks/multilabel.md``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from assay._validation import check_int
from assay.data import is_label_set_column, parse_label_sets
from assay.exceptions import InputValidationError, InvalidParameterError

__all__ = [
    "MultilabelCrossFit",
    "MultilabelIssues",
    "cross_fit_multilabel_probs",
    "find_multilabel_issues",
    "is_label_set_column",
    "multilabel_label_scores",
    "parse_label_sets",
]

#: Strength of the prior on each class's two noise rates: Beta(1, NOISE_PRIOR) on ``2 * rho``
#: (a density falling linearly to 0 at rho = 0.5). Where the likelihood is flat (a class the
#: model cannot separate) it keeps a rate from running to 0.5. Measured on the benchmark's
#: probabilities and on one class with 30 % of its entries flipped: 2 found those errors in 18 of
#: 20 draws, 3 in 13 and 5 in 1 (a stronger prior lets a flattened calibration curve pass for
#: no noise), with row F1 within 0.01 of each other on the benchmark's datasets with a good model
#: (within 0.05 on the weak ones).
NOISE_PRIOR = 2.0
#: Upper bound of each noise rate (above it, the class's meaning would be flipped).
MAX_NOISE_RATE = 0.5
#: Entries with a smaller error probability are never flagged, whatever their score: a class
#: the model cannot predict has low scores everywhere without evidence of errors.
MIN_ERROR_PROBABILITY = 0.1
#: Below this mean per-class AUC (of the probabilities against the given labels) the estimates
#: are not reliable. On ``benchmarks/multilabel_labels.py`` the datasets at 0.91 or more had
#: their error count estimated within 0.69-1.20x and row F1 0.57-0.60; the one at 0.77 at 2.1x
#: with F1 0.27, those at 0.71 and 0.54 at 3.1x and 1.5x with F1 0.17.
MIN_MEAN_AUC = 0.85
#: Above this share of rows flagged the estimate is not reliable (annotated data rarely holds so
#: many wrong rows; the model is more likely missing structure).
PLAUSIBLE_ROW_ERROR_RATE = 0.15
#: Fewer rows than this are too few to estimate noise rates from.
MIN_ROWS = 30


# --------------------------------------------------------------------------------------------
# Validation of indicator matrices and probabilities


def _check_indicator(labels: Any, *, name: str = "labels") -> np.ndarray:
    """A 0/1 (N, K) matrix as uint8."""
    if isinstance(labels, pd.DataFrame):
        labels = labels.to_numpy()
    try:
        arr = np.asarray(labels)
        got = f"an array of shape {arr.shape}"
    except ValueError:  # ragged rows: label sets, not an indicator matrix
        arr, got = np.empty(0, dtype=object), "rows of different lengths"
    if arr.ndim != 2:
        raise InputValidationError(
            f"{name} must be a 0/1 indicator matrix of shape (N, K), one column per class; got "
            f"{got}. Turn a column of label sets into one with "
            "assay.multilabel.parse_label_sets(column).")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputValidationError(
            f"{name} is empty (shape {arr.shape}); pass at least one row and one class.")
    if arr.dtype == bool:
        return arr.astype(np.uint8)
    if arr.dtype.kind not in "iuf":
        raise InputValidationError(
            f"{name} must hold 0/1 (or booleans); got dtype {arr.dtype}. Turn label sets into "
            "an indicator matrix with assay.multilabel.parse_label_sets(column).")
    ok = (arr == 0) | (arr == 1)
    if not ok.all():
        r, c = np.argwhere(~ok)[0]
        raise InputValidationError(
            f"{name} must hold only 0 and 1; row {r}, column {c} holds {arr[r, c].item()!r} "
            f"({int((~ok).sum())} such entries). Pass a 0/1 indicator matrix (probabilities "
            "go in pred_probs).")
    return arr.astype(np.uint8)


def _check_probs(pred_probs: Any, shape: tuple[int, int]) -> np.ndarray:
    p = np.asarray(pred_probs, dtype=np.float64)
    if p.shape != shape:
        raise InputValidationError(
            f"pred_probs must have the shape of labels, {shape} (one probability per row and "
            f"class); got {p.shape}. Pass cross_fit_multilabel_probs(...).pred_probs, columns "
            "in the order of the classes.")
    if not np.all(np.isfinite(p)):
        raise InputValidationError(
            f"pred_probs has NaN or infinite values in {int((~np.isfinite(p)).any(axis=1).sum())} "
            "row(s). Pass finite probabilities.")
    if p.min() < -1e-9 or p.max() > 1 + 1e-9:
        raise InputValidationError(
            f"pred_probs must lie in [0, 1]; got values from {p.min():.4g} to {p.max():.4g}. "
            "Pass per-class probabilities (a sigmoid of each logit), not logits.")
    return np.ascontiguousarray(np.clip(p, 0.0, 1.0))


# --------------------------------------------------------------------------------------------
# Out-of-fold probabilities


@dataclass(frozen=True)
class MultilabelCrossFit:
    """Out-of-fold per-class probabilities and how they were made.

    Attributes
    ----------
    pred_probs : ndarray of shape (N, K)
        ``pred_probs[i, k]``: probability that row i carries class k, from a model that did not
        see row i. Rows need not sum to 1.
    folds : ndarray of shape (N,), int64
        The fold of each row (the same for every class).
    model : str
        The model fitted per class and fold.
    constant_classes : ndarray of int64
        Classes given a constant probability (the training rows' share, smoothed) in at least
        one fold: too few positives or negatives to fit a model.
    notes : tuple of str
        One sentence per class with a constant probability.
    seconds : float
    """

    pred_probs: np.ndarray
    folds: np.ndarray
    model: str
    constant_classes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    notes: tuple[str, ...] = ()
    seconds: float = 0.0


def _frame_input(frame: pd.DataFrame) -> Any:
    """A table's columns as :func:`assay.models.model_input` reads a plain table."""
    from assay.models import model_input

    view = SimpleNamespace(  # the parts of a Dataset that model_input reads, all of them features
        roles=SimpleNamespace(features=list(frame.columns), text=None, image=None),
        embeddings=None, table=frame)
    try:
        return model_input(view)
    except ValueError as exc:
        raise InputValidationError(
            f"features has no column a model can read as it is (numbers, booleans or "
            f"categories); columns: {', '.join(map(str, frame.columns[:10]))}. Pass numeric "
            "features (e.g. embeddings) instead.") from exc


def _model_input(features: Any) -> Any:
    from assay.models import ModelInput

    if isinstance(features, ModelInput):
        return features
    if isinstance(features, pd.DataFrame):
        return _frame_input(features)
    try:
        x = np.asarray(features, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputValidationError(
            "features must be a numeric (N, d) matrix, a DataFrame or an "
            f"assay.models.ModelInput; it could not be converted to float ({exc}).") from exc
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise InputValidationError(
            f"features must be a non-empty 2-d array (rows x dimensions); got shape {x.shape}. "
            "Reshape a single feature with x.reshape(-1, 1).")
    if np.isinf(x).any():
        raise InputValidationError("features holds infinite values; replace them with NaN "
                                   "(missing) or finite numbers.")
    # missing values: read as a numeric table (the models then impute or handle them)
    kind = "table" if np.isnan(x).any() else "vectors"
    return ModelInput(x, np.zeros(x.shape[1], dtype=bool), kind,
                      [f"dim_{j}" for j in range(x.shape[1])])


def _stratified_folds(y: np.ndarray, n_folds: int, random_state: int) -> np.ndarray:
    """Folds that spread every class over the folds: each row is keyed by the rarest class it
    carries (rows without labels share one key); the keys' rows are shuffled and dealt
    round-robin, rarest key first, continuing the count across keys so folds stay even."""
    n, k = y.shape
    counts = y.sum(axis=0).astype(np.float64)
    held = np.where(y.astype(bool), counts[None, :], np.inf)
    key = np.where(y.any(axis=1), held.argmin(axis=1), k)
    rng = np.random.default_rng(random_state)
    folds = np.empty(n, dtype=np.int64)
    start = 0
    key_size = np.bincount(key, minlength=k + 1)
    for g in np.argsort(np.r_[counts, np.inf], kind="stable"):
        rows = rng.permutation(np.flatnonzero(key == g))
        folds[rows] = (start + np.arange(rows.size)) % n_folds
        start += int(key_size[g])
    return folds


def _resolve_model(model: Any, mi: Any, random_state: int) -> tuple[Any, str]:
    from assay.models import MODEL_NAMES, make_model

    if model is None:
        name = "logistic" if mi.kind == "vectors" else "hgb"
        return make_model(name, mi, random_state=random_state), name
    if isinstance(model, str):
        if model not in MODEL_NAMES:
            from assay._validation import did_you_mean

            raise InvalidParameterError(
                "model", "None, one of " + ", ".join(repr(m) for m in MODEL_NAMES) + " or a "
                "scikit-learn classifier", model, owner="cross_fit_multilabel_probs",
                hint=did_you_mean(model, MODEL_NAMES).strip())
        return make_model(model, mi, random_state=random_state), model
    if not (hasattr(model, "fit") and hasattr(model, "predict_proba")):
        raise InvalidParameterError(
            "model", "None, a model name or a classifier with fit and predict_proba",
            type(model).__name__, owner="cross_fit_multilabel_probs")
    return model, type(model).__name__


def cross_fit_multilabel_probs(
    features: Any,
    labels: Any,
    *,
    model: Any = None,
    folds: Any = None,
    n_folds: int = 5,
    random_state: int = 0,
    n_jobs: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> MultilabelCrossFit:
    """Out-of-fold probabilities of each class of a multi-label target: one binary model per
    class, every class on the same folds, each row predicted by models that never saw it.

    Parameters
    ----------
    features : array-like of shape (N, d), DataFrame or assay.models.ModelInput
        Numeric features (embeddings, pixels; NaN read as missing), or a table whose numeric,
        boolean and categorical columns the model reads as they are
        (:func:`assay.models.model_input`).
    labels : array-like of shape (N, K)
        0/1 indicator matrix (:func:`parse_label_sets`).
    model : None, str or scikit-learn classifier, default=None
        None: standardised logistic regression for numeric features, HistGradientBoosting
        (native categories and missing values, one thread) for tables or features with
        missing values. A name of :data:`assay.models.MODEL_NAMES` builds that model
        (:func:`assay.models.make_model`; ``"auto"`` chooses per class and fold, nested).
        A classifier is cloned per class and fold.
    folds : array-like of shape (N,), optional
        The fold of each row. Default: ``n_folds`` folds stratified by the rarest class each row
        carries, so that every class with at least ``n_folds`` rows is spread over all folds.
    n_folds : int, default=5
    random_state : int, default=0
    n_jobs : int, optional
        (class, fold) fits run in parallel through joblib.
    progress : callable, optional
        ``progress(done, total)`` after each fit.

    Returns
    -------
    MultilabelCrossFit
        A class with fewer than 2 positives or fewer than 2 negatives, or whose training rows
        in a fold hold only one value, gets the training rows' share of positives (smoothed,
        ``(positives + 0.5) / (rows + 1)``) there, with a note.

    Examples
    --------
    >>> import numpy as np
    >>> from assay.multilabel import cross_fit_multilabel_probs
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(200, 3))
    >>> y = np.column_stack([x[:, 0] > 0, x[:, 1] > 0.5]).astype(int)
    >>> fit = cross_fit_multilabel_probs(x, y)
    >>> fit.pred_probs.shape, fit.model
    ((200, 2), 'logistic')
    """
    from joblib import delayed
    from sklearn.base import clone

    from assay.models import parallel_results

    t_start = time.perf_counter()
    y = _check_indicator(labels)
    n, k = y.shape
    mi = _model_input(features)
    if mi.matrix.shape[0] != n:
        raise InputValidationError(
            f"features has {mi.matrix.shape[0]} rows but labels {n}. Pass aligned rows.")
    if folds is None:
        n_folds = check_int("n_folds", n_folds, low=2, high=max(2, n),
                            owner="cross_fit_multilabel_probs")
        fold = _stratified_folds(y, n_folds, random_state)
    else:
        fold = np.asarray(folds)
        if fold.shape != (n,):
            raise InputValidationError(
                f"folds must give one fold per row, shape ({n},); got {fold.shape}.")
        fold = np.unique(fold, return_inverse=True)[1].astype(np.int64).ravel()
        if fold.max() < 1:
            raise InputValidationError(
                "folds holds a single fold: every row would be predicted by a model that saw "
                "it. Pass at least two folds, or leave folds=None.")
    base, name = _resolve_model(model, mi, random_state)
    x = mi.matrix
    n_split = int(fold.max()) + 1
    out = np.zeros((n, k), dtype=np.float64)
    constant: dict[int, str] = {}
    tasks = []
    for c in range(k):
        pos = int(y[:, c].sum())
        if pos < 2 or n - pos < 2:
            constant[c] = (f"class {c} has {pos} positive and {n - pos} negative row(s); it "
                           "gets a constant probability (the training rows' share)")
        for f in range(n_split):
            train, test = np.flatnonzero(fold != f), np.flatnonzero(fold == f)
            yt = y[train, c]
            share = (float(yt.sum()) + 0.5) / (yt.size + 1.0)
            if c in constant or yt.min() == yt.max():
                if c not in constant:
                    constant[c] = (f"class {c}: the training rows of fold {f} hold one value "
                                   "only; that fold gets a constant probability")
                out[test, c] = share
                continue
            tasks.append((c, train, test))

    def fit_one(c: int, train: np.ndarray, test: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
        m = clone(base).fit(x[train], y[train, c])
        proba = np.asarray(m.predict_proba(x[test]))
        col = int(np.flatnonzero(np.asarray(m.classes_) == 1)[0])
        return c, test, proba[:, col]

    done = 0
    for c, test, proba in parallel_results(n_jobs, [delayed(fit_one)(*t) for t in tasks]):
        out[test, c] = proba
        done += 1
        if progress is not None:
            progress(done, len(tasks))
    return MultilabelCrossFit(
        np.clip(out, 0.0, 1.0), fold, name, np.array(sorted(constant), dtype=np.int64),
        tuple(constant[c] for c in sorted(constant)), time.perf_counter() - t_start)


# --------------------------------------------------------------------------------------------
# Scores and issues


def multilabel_label_scores(labels: Any, pred_probs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Label quality of each (row, class) entry and of each row, in [0, 1]; low = likely wrong.

    The entry score is the probability of the given value: ``p`` for a given 1, ``1 - p`` for a
    given 0. The row score is the lowest entry score of the row: a label set is wrong when any
    of its entries is, so its worst entry decides. (cleanlab's multi-label score is an
    exponential moving average of the sorted entry scores, which mixes in how uncertain the
    row's other classes are; on ``benchmarks/multilabel_labels.py`` the minimum ranked the rows
    with a wrong entry with about twice its average precision.)

    Parameters
    ----------
    labels : array-like of shape (N, K)
        0/1 indicator matrix.
    pred_probs : array-like of shape (N, K)
        Out-of-fold probability of each class.

    Returns
    -------
    class_scores : ndarray of shape (N, K)
    row_scores : ndarray of shape (N,)

    Examples
    --------
    >>> import numpy as np
    >>> from assay.multilabel import multilabel_label_scores
    >>> cls, row = multilabel_label_scores([[1, 0], [0, 1]], np.array([[0.9, 0.2], [0.3, 0.1]]))
    >>> cls.tolist(), row.tolist()
    ([[0.9, 0.8], [0.7, 0.1]], [0.8, 0.1])
    """
    y = _check_indicator(labels)
    p = _check_probs(pred_probs, y.shape)
    cls = np.where(y == 1, p, 1.0 - p)
    return cls, cls.min(axis=1)


@dataclass(frozen=True)
class MultilabelIssues:
    """Which entries of a multi-label target look wrong, the corrected sets, and how far to
    trust it.

    Attributes
    ----------
    is_issue : ndarray of shape (N,), bool
        Rows with at least one flagged entry.
    class_issues : ndarray of shape (N, K), bool
        Flagged entries: a given 0 that looks like a missing label, or a given 1 that looks
        spurious.
    row_scores, class_scores : ndarray
        :func:`multilabel_label_scores` (in [0, 1], low = likely wrong).
    suggested : ndarray of shape (N, K), bool
        The given sets with the flagged entries flipped.
    n_estimated_errors : int
        Estimated number of wrong entries: those more likely wrong than right
        (``error_probability > 0.5``). The flags are sized to it.
    n_estimated_rows : int
        Rows with a flagged entry.
    reliable : bool
        False when the estimate measures disagreement rather than errors (``reason``).
    reason : str
        ``""``, ``"few_rows"``, ``"no_class"`` (no class could be assessed), ``"weak_model"``
        (mean per-class AUC below ``MIN_MEAN_AUC``), ``"input_conflicts"`` (identical inputs
        whose label rates differ beyond noise, for some class) or ``"error_rate"`` (more than
        ``PLAUSIBLE_ROW_ERROR_RATE`` of the rows flagged).
    caveat : str
        Why the estimate is not reliable, in one sentence; empty when it is.
    error_probability : ndarray of shape (N, K)
        Each entry's probability of being wrong (0 for classes not assessed).
    expected_errors : float
        Sum of ``error_probability``: the expected number of wrong entries under the fitted
        noise model. It counts the doubt on undecided entries too, so it runs above
        ``n_estimated_errors`` (on the benchmark it overestimated more).
    noise_rates : ndarray of shape (K, 2)
        Per class, the fitted ``P(given 1 | true 0)`` and ``P(given 0 | true 1)`` (NaN when
        not assessed).
    class_auc : ndarray of shape (K,)
        AUC of each class's probabilities against its given labels (NaN when not assessed).
    mean_auc : float
        Mean of ``class_auc`` over assessed classes.
    assessed : ndarray of shape (K,), bool
        Classes with at least 2 given 1s, 2 given 0s and varying probabilities.
    """

    is_issue: np.ndarray
    class_issues: np.ndarray
    row_scores: np.ndarray
    class_scores: np.ndarray
    suggested: np.ndarray
    n_estimated_errors: int
    n_estimated_rows: int
    reliable: bool
    reason: str
    caveat: str = ""
    error_probability: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)), repr=False)
    expected_errors: float = 0.0
    noise_rates: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)), repr=False)
    class_auc: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    mean_auc: float = float("nan")
    assessed: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool), repr=False)

    def to_frame(self, classes: Any = None) -> pd.DataFrame:
        """One row per input row: ``is_label_issue``, ``label_score``, ``missing_labels`` (given
        0s flagged: classes to add), ``spurious_labels`` (given 1s flagged: classes to remove)
        and ``suggested_labels`` (the corrected set), with class names from ``classes``
        (default: indices).

        Examples
        --------
        >>> import numpy as np
        >>> from assay.multilabel import find_multilabel_issues
        >>> y = np.array([[1, 0]] * 40 + [[0, 1]] * 40)
        >>> p = np.where(y == 1, 0.97, 0.03)
        >>> p[0] = [0.02, 0.98]                      # row 0 given {a}, looks like {b}
        >>> res = find_multilabel_issues(y, p)
        >>> res.to_frame(["a", "b"]).loc[0, ["missing_labels", "spurious_labels"]].tolist()
        [['b'], ['a']]
        """
        k = self.class_issues.shape[1]
        names = list(range(k)) if classes is None else list(classes)
        if len(names) != k:
            raise InputValidationError(
                f"classes has {len(names)} names but the labels have {k} columns. Pass the "
                "classes returned by parse_label_sets, in the same order.")
        given = self.suggested ^ self.class_issues

        def listed(mask: np.ndarray) -> list[list[Any]]:
            return [[names[j] for j in np.flatnonzero(r)] for r in mask]

        return pd.DataFrame({
            "is_label_issue": self.is_issue,
            "label_score": self.row_scores,
            "missing_labels": listed(self.class_issues & ~given),
            "spurious_labels": listed(self.class_issues & given),
            "suggested_labels": listed(self.suggested),
        })


def _noise_fit(p: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Mislabel-aware recalibration of one class: P(given 1 | p) = r0 + (1 - r0 - r1) q with
    q = sigmoid(a logit(p) + b), fitted by maximum a posteriori (analytic gradient); returns each
    row's probability that its given value is wrong, r0 and r1."""
    from scipy.optimize import minimize
    from scipy.special import expit

    eps = 1e-6
    pc = np.clip(p, eps, 1.0 - eps)
    z = np.log(pc) - np.log1p(-pc)
    s = s.astype(np.float64)
    big, prior = MAX_NOISE_RATE, NOISE_PRIOR - 1.0

    def unpack(t: np.ndarray) -> tuple[float, float, float, float]:
        return float(np.exp(t[0])), float(t[1]), big * float(expit(t[2])), big * float(expit(t[3]))

    def objective(t: np.ndarray) -> tuple[float, np.ndarray]:
        a, b, r0, r1 = unpack(t)
        q = expit(a * z + b)
        pr = np.clip(r0 + (1.0 - r0 - r1) * q, 1e-12, 1.0 - 1e-12)
        nll = -float(np.sum(s * np.log(pr) + (1.0 - s) * np.log1p(-pr)))
        nll -= prior * (math.log1p(-r0 / big) + math.log1p(-r1 / big))
        g = -(s / pr - (1.0 - s) / (1.0 - pr))  # d nll / d pr
        dq = g * (1.0 - r0 - r1) * q * (1.0 - q)
        grad = np.array([
            float(np.sum(dq * z)) * a,
            float(np.sum(dq)),
            (float(np.sum(g * (1.0 - q))) + prior / (big - r0)) * r0 * (1.0 - r0 / big),
            (float(np.sum(-g * q)) + prior / (big - r1)) * r1 * (1.0 - r1 / big),
        ])
        return nll, grad

    bounds = [(-5.0, 5.0), (-30.0, 30.0), (-15.0, 15.0), (-15.0, 15.0)]
    fits = [minimize(objective, np.array([0.0, 0.0, u, u]), jac=True, method="L-BFGS-B",
                     bounds=bounds) for u in (-6.0, -3.0, 0.0)]
    a, b, r0, r1 = unpack(min(fits, key=lambda r: float(r.fun)).x)
    q = expit(a * z + b)
    pr = r0 + (1.0 - r0 - r1) * q
    err = np.where(s == 1, r0 * (1.0 - q) / np.maximum(pr, 1e-300),
                   r1 * q / np.maximum(1.0 - pr, 1e-300))
    return np.clip(err, 0.0, 1.0), r0, r1


def _auc(p: np.ndarray, s: np.ndarray) -> float:
    """Area under the ROC curve of p against the 0/1 labels s (ties count half)."""
    from scipy.stats import rankdata

    pos = s == 1
    n1, n0 = int(pos.sum()), int((~pos).sum())
    ranks = rankdata(p)
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def find_multilabel_issues(
    labels: Any, pred_probs: Any, *, inputs: Any = None
) -> MultilabelIssues:
    """Flag the entries of a multi-label target that look wrong, and say how many there are.

    Each class is a binary problem. Its out-of-fold probabilities are recalibrated by a model
    that allows for wrong labels: the given label is 1 with probability
    ``rho0 + (1 - rho0 - rho1) * sigmoid(a * logit(p) + b)``, with ``rho0`` the rate of 1s given
    to rows without the class and ``rho1`` the rate of 0s given to rows with it, fitted by
    maximum likelihood with a Beta(1, ``NOISE_PRIOR``) prior on ``2 * rho`` (the rates stay
    small unless the data say otherwise). Bayes' rule then gives each entry's probability of
    being wrong (``error_probability``): ``rho0 (1 - q) / P(1)`` for a given 1,
    ``rho1 q / P(0)`` for a given 0. The entries more likely wrong than right are counted
    (``n_estimated_errors``), and that many entries with the lowest entry score (the
    probability of the given value) are flagged, among those with an error probability of at
    least ``MIN_ERROR_PROBABILITY``. The flags therefore agree with the scores: every flagged
    entry scores below every unflagged entry that could be flagged. (Flagging by the error
    probability itself ranked worse across classes on the benchmark, because each class's rates
    are estimated from few errors.)

    Parameters
    ----------
    labels : array-like of shape (N, K)
        0/1 indicator matrix of the given label sets (:func:`parse_label_sets`).
    pred_probs : array-like of shape (N, K)
        Out-of-fold probability of each class (:func:`cross_fit_multilabel_probs`).
    inputs : array-like of shape (N, d) or DataFrame, optional
        What the model read. When given, identical inputs whose rate of a class differs beyond
        label noise (:func:`assay.labels.input_label_conflicts`, per class) make the estimate
        unreliable: the class then behaves like an outcome, not an annotation.

    Returns
    -------
    MultilabelIssues

    Examples
    --------
    >>> import numpy as np
    >>> from assay.multilabel import find_multilabel_issues
    >>> rng = np.random.default_rng(0)
    >>> truth = (rng.random((300, 3)) < 0.4).astype(int)
    >>> p = np.clip(np.where(truth == 1, 0.9, 0.1) + rng.normal(0, 0.05, truth.shape), 0.01, 0.99)
    >>> given = truth.copy()
    >>> given[:6, 0] ^= 1                          # six wrong entries of class 0
    >>> res = find_multilabel_issues(given, p)
    >>> np.flatnonzero(res.is_issue).tolist(), res.n_estimated_errors, res.reliable
    ([0, 1, 2, 3, 4, 5], 6, True)
    """
    from threadpoolctl import threadpool_limits

    y = _check_indicator(labels)
    p = _check_probs(pred_probs, y.shape)
    n, k = y.shape
    cls = np.where(y == 1, p, 1.0 - p)
    row = cls.min(axis=1)
    err = np.zeros((n, k), dtype=np.float64)
    rates = np.full((k, 2), np.nan)
    auc = np.full(k, np.nan)
    assessed = np.zeros(k, dtype=bool)
    # small fits: BLAS threads spinning beside other busy processes only slow them (10-50x)
    with threadpool_limits(1, user_api="blas"):
        for c in range(k):
            pos = int(y[:, c].sum())
            if pos < 2 or n - pos < 2 or np.ptp(p[:, c]) <= 0:
                continue
            assessed[c] = True
            err[:, c], rates[c, 0], rates[c, 1] = _noise_fit(p[:, c], y[:, c])
            auc[c] = _auc(p[:, c], y[:, c])
    n_err = int((err > 0.5).sum())
    eligible = (err >= MIN_ERROR_PROBABILITY).ravel()
    order = np.lexsort((-err.ravel(), cls.ravel()))  # lowest score first, then most likely wrong
    chosen = order[eligible[order]][:n_err]
    flags = np.zeros(n * k, dtype=bool)
    flags[chosen] = True
    flags = flags.reshape(n, k)
    is_issue = np.asarray(flags.any(axis=1))
    mean_auc = float(np.nanmean(auc)) if assessed.any() else float("nan")
    reason, caveat = _reliability(y, n, assessed, mean_auc, is_issue, inputs)
    return MultilabelIssues(
        is_issue=is_issue, class_issues=flags, row_scores=row, class_scores=cls,
        suggested=(y == 1) ^ flags, n_estimated_errors=n_err,
        n_estimated_rows=int(is_issue.sum()), reliable=not reason, reason=reason, caveat=caveat,
        error_probability=err, expected_errors=float(err.sum()), noise_rates=rates,
        class_auc=auc, mean_auc=mean_auc, assessed=assessed)


def _reliability(y: np.ndarray, n: int, assessed: np.ndarray, mean_auc: float,
                 is_issue: np.ndarray, inputs: Any) -> tuple[str, str]:
    """The first test the estimate fails, as (reason, caveat); ("", "") when it passes all."""
    if n < MIN_ROWS:
        return "few_rows", (f"Only {n} rows: too few to estimate how often each class is "
                            f"mislabelled (at least {MIN_ROWS} are needed).")
    if not assessed.any():
        return "no_class", ("No class has at least 2 rows with it and 2 without it (and "
                            "varying probabilities): no entry could be assessed.")
    if mean_auc < MIN_MEAN_AUC:
        return "weak_model", (
            f"The per-class models are weak (mean AUC {mean_auc:.2f} against the given labels, "
            f"below {MIN_MEAN_AUC}): they cannot tell their own mistakes from wrong labels, so "
            "the flags and the count are not evidence of errors.")
    if inputs is not None:
        from assay.labels import input_label_conflicts

        hetero = []
        for c in np.flatnonzero(assessed):
            conflicts = input_label_conflicts(inputs, y[:, c].astype(np.int64))
            if conflicts.heterogeneous:
                hetero.append((int(c), conflicts))
        if hetero:
            first, conf = hetero[0]
            return "input_conflicts", (
                f"Identical inputs carry class {first} at rates from {conf.min_rate:.0%} to "
                f"{conf.max_rate:.0%} ({conf.n_groups} inputs; p = {conf.p_value:.1g}"
                + (f"; {len(hetero)} classes like it" if len(hetero) > 1 else "")
                + "): label noise does not vary with the input, outcomes do, so these labels "
                "are outcomes the features cannot decide, and a disagreement is not evidence of "
                "an error.")
    share = float(is_issue.mean())
    if share > PLAUSIBLE_ROW_ERROR_RATE:
        return "error_rate", (
            f"{share:.0%} of the rows are flagged, more than annotated data usually holds (at "
            f"most about {PLAUSIBLE_ROW_ERROR_RATE:.0%}); the model more likely misses "
            "structure than the labels are wrong.")
    return "", ""
