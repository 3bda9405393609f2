"""Wrong values of a numeric target (regression labels).

A row's value is judged against an out-of-fold prediction (:func:`fit_target_predictions`): its
residual is divided by a robust noise scale (:func:`fit_noise_scale`: the MAD of the residuals,
per range of the prediction when the noise grows with it), and a two-component model says how
likely each value is to be wrong (:func:`estimate_regression_label_issues`): a correct value lies
within normal noise of the prediction; a wrong one is unrelated to the row, drawn from the
target's own distribution or anywhere in its range. The neighbours' values
(:func:`knn_target_consensus`) are a second, model-free opinion shown beside each suggestion.

The pieces are functions on arrays; :func:`regression_label_issues` runs them all on a feature
matrix, and the audit's ``regression_labels`` check runs them on the shared artifacts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from assay._validation import check_1d, check_same_length
from assay.exceptions import InputValidationError

__all__ = [
    "INTERVAL_Z",
    "MIN_EXPLAINED",
    "NoiseScale",
    "RegressionLabelEstimate",
    "estimate_regression_label_issues",
    "find_regression_label_issues",
    "fit_noise_scale",
    "fit_target_predictions",
    "knn_target_consensus",
    "mad_scale",
    "regression_label_issues",
    "regression_label_scores",
    "regression_label_table",
]

#: 1 / Phi^-1(3/4): the MAD of a normal sample times this is its standard deviation.
NORMAL_MAD = 1.482602218505602
#: Residuals beyond this many noise scales are kept out of the training folds of the second,
#: trimmed fit (Iglewicz and Hoaglin's 3.5 cut-off for the modified z-score).
TRIM_Z = 3.5
#: A noise scale per range of the prediction is used when the per-range MADs differ more than
#: sampling noise explains at this level (chi-square test on their logarithms).
HETERO_ALPHA = 0.01
#: Rows per range of the prediction (at least), and ranges (at most), of the local noise scale.
MIN_BIN_ROWS = 50
MAX_BINS = 10
#: Half-width of the suggested value's interval in noise scales (95 % under normal noise).
INTERVAL_Z = 1.959963984540054
#: Below this share of the target's robust variance explained by the model (R^2), the estimates
#: are not reliable. A value copied from another row differs from the prediction by about
#: sqrt(1 + R^2) target sds, the noise is sqrt(1 - R^2): at R^2 = 0.7 the copy typically lies
#: 2.4 noise sds off, at 0.5 only 1.7, inside the noise.
MIN_EXPLAINED = 0.7
#: Above this estimated share of wrong values the estimate is not reliable (annotated data
#: rarely holds so many; the model is more likely missing structure).
MAX_ERROR_RATE = 0.25
#: Fewer rows than this give noise scales too uncertain to estimate from.
MIN_ROWS = 30
#: Large-sample variance of log(MAD) for normal data, times n (asymptotic relative efficiency
#: of the MAD, 0.3675: var(MAD-based sd) = 1.3605 sd^2 / n).
_LOG_MAD_VAR = 1.3605


def mad_scale(values: Any) -> float:
    """Normal-consistent median absolute deviation: the standard deviation of normal data,
    unmoved by up to half the values being anything.

    When more than half the values equal their median (the MAD is 0), the mean absolute
    deviation times sqrt(pi/2) (also normal-consistent) is returned instead; 0 only when every
    value is the same.

    Parameters
    ----------
    values : array-like of shape (N,)

    Returns
    -------
    float

    Examples
    --------
    >>> from assay.regression import mad_scale
    >>> round(mad_scale([1.0, 2.0, 3.0, 4.0, 100.0]), 4)   # median 3, MAD 1
    1.4826
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        return 0.0
    dev = np.abs(v - np.median(v))
    mad = float(np.median(dev))
    if mad > 0:
        return NORMAL_MAD * mad
    return float(np.mean(dev)) * float(np.sqrt(np.pi / 2))


@dataclass(frozen=True)
class NoiseScale:
    """The noise scale of each row's residual.

    Attributes
    ----------
    scale : ndarray of shape (N,)
        Standard deviation of a correct value's residual at each row (positive).
    global_scale : float
        :func:`mad_scale` of all residuals.
    heteroscedastic : bool
        Whether ``scale`` varies with the prediction (per-range MADs, interpolated).
    p_value : float
        Of the test that the residuals' scale is the same over the prediction's ranges (1.0
        when too few rows to test).
    centres, bin_scales : ndarray
        The ranges' median predictions and their MAD scales (empty when not tested).
    spread : float
        Standard deviation of the log scale between ranges beyond sampling noise (the
        random-effects tau; 0 when the ranges agree).
    """

    scale: np.ndarray
    global_scale: float
    heteroscedastic: bool
    p_value: float
    centres: np.ndarray
    bin_scales: np.ndarray
    spread: float = 0.0


def fit_noise_scale(residuals: Any, predictions: Any, *, min_bin_rows: int = MIN_BIN_ROWS,
                    max_bins: int = MAX_BINS, alpha: float = HETERO_ALPHA) -> NoiseScale:
    """The noise scale of the residuals: one MAD, or a MAD per range of the prediction when
    the noise grows or shrinks with it (prices: larger values, larger errors).

    The rows are cut into up to ``max_bins`` ranges of equal size by their prediction (at
    least ``min_bin_rows`` each). Under constant noise the log of each range's MAD scale varies
    around the pooled one with variance v = 1.3605 / n_range (the MAD's sampling variance), so
    the weighted sum of squared deviations Q is chi-square with (ranges - 1) degrees of freedom.
    When it rejects at ``alpha``, each range's log scale is shrunk towards the pooled one by
    tau^2 / (tau^2 + v), tau^2 the between-range variance beyond sampling noise
    (DerSimonian-Laird: (Q - (ranges - 1)) / (sum w - sum w^2 / sum w), w = 1 / v), and the
    shrunk scales are interpolated linearly between the ranges' median predictions; otherwise
    the global MAD scale is used. Shrinking measured slightly better than the raw per-range
    scales on average over the real tables of ``benchmarks/regression_labels.py`` (F1 +0.004,
    AUPRC +0.003 to +0.007; docs/benchmarks/regression.md).

    Parameters
    ----------
    residuals, predictions : array-like of shape (N,)
    min_bin_rows : int, default=50
    max_bins : int, default=10
    alpha : float, default=0.01

    Returns
    -------
    NoiseScale

    Examples
    --------
    >>> import numpy as np
    >>> from assay.regression import fit_noise_scale
    >>> rng = np.random.default_rng(0)
    >>> pred = rng.uniform(1, 10, 2000)
    >>> fit_noise_scale(rng.normal(size=2000), pred).heteroscedastic
    False
    >>> fit_noise_scale(rng.normal(size=2000) * pred, pred).heteroscedastic
    True
    """
    from scipy import stats

    r = check_1d("residuals", np.asarray(residuals, dtype=np.float64))
    p = check_1d("predictions", np.asarray(predictions, dtype=np.float64))
    n = check_same_length(residuals=r, predictions=p)
    glob = mad_scale(r)
    floor = _scale_floor(glob, r)
    n_bins = min(max_bins, n // max(min_bin_rows, 1))
    empty = np.array([])
    if n_bins < 2:
        return NoiseScale(np.full(n, max(glob, floor)), glob, False, 1.0, empty, empty)
    order = np.argsort(p, kind="stable")
    bins = np.array_split(order, n_bins)
    centres = np.array([float(np.median(p[b])) for b in bins])
    scales = np.array([max(mad_scale(r[b]), floor) for b in bins])
    sizes = np.array([b.size for b in bins], dtype=np.float64)
    logs = np.log(scales)
    weights = sizes / _LOG_MAD_VAR
    pooled = float(np.average(logs, weights=weights))
    stat = float(np.sum(weights * (logs - pooled) ** 2))
    p_value = float(stats.chi2.sf(stat, n_bins - 1))
    tau2 = max(0.0, (stat - (n_bins - 1))
               / float(weights.sum() - np.sum(weights ** 2) / weights.sum()))
    if p_value >= alpha or tau2 <= 0 or np.unique(centres).size < n_bins:
        return NoiseScale(np.full(n, max(glob, floor)), glob, False, p_value, centres, scales,
                          float(np.sqrt(tau2)))
    shrink = tau2 / (tau2 + 1.0 / weights)
    shrunk = np.exp(pooled + shrink * (logs - pooled))
    return NoiseScale(np.interp(p, centres, shrunk), glob, True, p_value, centres, scales,
                      float(np.sqrt(tau2)))


def _scale_floor(glob: float, r: np.ndarray) -> float:
    """A positive lower bound of a noise scale: a millionth of the global one, or of the
    residuals' size when the global one is 0 (an exactly fitted target)."""
    ref = glob if glob > 0 else float(np.max(np.abs(r))) if r.size else 0.0
    return max(ref * 1e-6, np.finfo(np.float64).tiny)


def regression_label_scores(labels: Any, predictions: Any, scale: Any) -> np.ndarray:
    """Label quality of each numeric value: the probability that a correct value lies at least
    this far from its prediction (two-sided, normal noise of the given scale).

    Parameters
    ----------
    labels, predictions : array-like of shape (N,)
        Given values and out-of-fold predictions.
    scale : float or array-like of shape (N,)
        Noise scale (:func:`fit_noise_scale`).

    Returns
    -------
    ndarray of shape (N,)
        In [0, 1]; low = the value is unlikely under the noise (suspicious), 1 = on the
        prediction.

    Examples
    --------
    >>> from assay.regression import regression_label_scores
    >>> regression_label_scores([10.0, 11.96, 20.0], [10.0, 10.0, 10.0], 1.0).round(3)
    array([1.  , 0.05, 0.  ])
    """
    from scipy.special import erfc

    z = _z(labels, predictions, scale)
    return np.asarray(erfc(np.abs(z) / np.sqrt(2.0)), dtype=np.float64)


def _z(labels: Any, predictions: Any, scale: Any) -> np.ndarray:
    y = check_1d("labels", np.asarray(labels, dtype=np.float64))
    p = check_1d("predictions", np.asarray(predictions, dtype=np.float64))
    check_same_length(labels=y, predictions=p)
    s = np.broadcast_to(np.asarray(scale, dtype=np.float64), y.shape)
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(p))):
        raise InputValidationError(
            "labels and predictions must be finite numbers; drop or fill in the missing ones.")
    if not np.all(s > 0):
        raise InputValidationError(
            "scale must be positive (a noise standard deviation); got a value <= 0. Use "
            "fit_noise_scale(labels - predictions, predictions).scale.")
    return (y - p) / s


@dataclass(frozen=True)
class RegressionLabelEstimate:
    """How many values of a numeric target look wrong, which ones, and whether to trust it.

    Attributes
    ----------
    error_probability : ndarray of shape (N,)
        Posterior probability that the row's value is wrong.
    flagged : ndarray of shape (N,), bool
        ``error_probability > 0.5``.
    n_estimated : int
        Expected number of wrong values in the data (sum of ``error_probability``).
    error_rate : float
        The fitted share of wrong values.
    estimated_precision : float
        Mean ``error_probability`` of the flagged rows (NaN when none).
    explained : float
        Share of the target's robust variance the predictions explain:
        ``1 - (MAD(residuals) / MAD(target))**2``.
    reliable : bool
        False when the data or the model cannot support the estimate (``reason``).
    reason : str
        ``""``, ``"few_rows"``, ``"weak_model"`` or ``"error_rate"``.
    """

    error_probability: np.ndarray
    flagged: np.ndarray
    n_estimated: int
    error_rate: float
    estimated_precision: float
    explained: float
    reliable: bool
    reason: str


def estimate_regression_label_issues(labels: Any, predictions: Any, scale: Any, *,
                                     max_iter: int = 500) -> RegressionLabelEstimate:
    """Which values of a numeric target are wrong, and how many: a two-component mixture.

    A correct value is its prediction plus normal noise of the row's scale. A wrong value is
    unrelated to its row: half the time a value the target usually takes (the target's own
    distribution, a binned Gaussian kernel density estimate with Silverman's bandwidth), half
    the time anywhere in the target's range widened by its own width on each side (a slip of a
    digit or a unit). The share of wrong values is fitted by EM; each row's posterior is its
    probability of being wrong, and rows above 0.5 are flagged.

    The estimate is marked unreliable (``reason``) with fewer than 30 rows (``few_rows``), when
    the predictions explain less than 70 % of the target's robust variance (``weak_model``:
    a value copied from another row then lies less than about 2.4 noise sds from the
    prediction, mostly inside the noise, and the heavy tails of the model's own errors pass
    for wrong values), or when more than a quarter of the
    values come out wrong (``error_rate``).

    Parameters
    ----------
    labels, predictions : array-like of shape (N,)
    scale : float or array-like of shape (N,)
    max_iter : int, default=500

    Returns
    -------
    RegressionLabelEstimate

    Examples
    --------
    >>> import numpy as np
    >>> from assay.regression import estimate_regression_label_issues
    >>> rng = np.random.default_rng(0)
    >>> truth = rng.normal(size=500) * 10
    >>> y = truth + rng.normal(size=500)
    >>> y[:10] += 30                          # ten values off by 30 noise scales
    >>> est = estimate_regression_label_issues(y, truth, 1.0)
    >>> np.flatnonzero(est.flagged).tolist() == list(range(10)), est.reliable
    (True, True)
    """
    z = _z(labels, predictions, scale)
    y = np.asarray(labels, dtype=np.float64).ravel()
    s = np.broadcast_to(np.asarray(scale, dtype=np.float64), y.shape)
    n = y.size
    log_clean = -0.5 * z * z - 0.5 * np.log(2 * np.pi) - np.log(s)
    log_wrong = np.log(_wrong_value_density(y))
    rate = 0.05
    post = np.zeros(n)
    for _ in range(max_iter):
        a = np.log(rate) + log_wrong
        b = np.log1p(-rate) + log_clean
        post = np.exp(a - np.logaddexp(a, b))
        new = float(np.clip(post.mean(), 1e-6, 0.5))
        if abs(new - rate) < 1e-9:
            rate = new
            break
        rate = new
    flagged = post > 0.5
    resid = y - np.asarray(predictions, dtype=np.float64).ravel()
    spread = mad_scale(y)
    explained = float(1.0 - (mad_scale(resid) / spread) ** 2) if spread > 0 else 0.0
    reason = ("few_rows" if n < MIN_ROWS else "weak_model" if explained < MIN_EXPLAINED
              else "error_rate" if post.mean() > MAX_ERROR_RATE else "")
    return RegressionLabelEstimate(
        error_probability=post, flagged=flagged, n_estimated=int(round(float(post.sum()))),
        error_rate=float(post.mean()),
        estimated_precision=float(post[flagged].mean()) if flagged.any() else float("nan"),
        explained=explained, reliable=not reason, reason=reason)


def _wrong_value_density(y: np.ndarray, grid: int = 2048) -> np.ndarray:
    """Density of a wrong value at each ``y``: half the target's own distribution (binned
    Gaussian KDE, Silverman's bandwidth), half uniform over its range widened by the range on
    each side. Binned: O(N + grid log grid), never N x N."""
    lo, hi = float(y.min()), float(y.max())
    width = hi - lo
    if width <= 0:
        return np.ones_like(y)
    iqr = float(np.subtract(*np.percentile(y, [75, 25])))
    sd = float(np.std(y))
    spread = min(sd, iqr / 1.349) if iqr > 0 else sd
    h = max(0.9 * spread * y.size ** -0.2, width / grid)
    edges = np.linspace(lo - 4 * h, hi + 4 * h, grid + 1)
    step = edges[1] - edges[0]
    counts, _ = np.histogram(y, bins=edges)
    half = int(np.ceil(4 * h / step))
    offsets = np.arange(-half, half + 1) * step
    kernel = np.exp(-0.5 * (offsets / h) ** 2) / (h * np.sqrt(2 * np.pi))
    dens = np.convolve(counts, kernel, mode="same") / y.size
    centres = (edges[:-1] + edges[1:]) / 2
    kde = np.interp(y, centres, dens)
    return 0.5 * kde + 0.5 / (3.0 * width)


def find_regression_label_issues(labels: Any, predictions: Any, scale: Any) -> np.ndarray:
    """Rows whose numeric value is more likely wrong than right (posterior above 0.5 in
    :func:`estimate_regression_label_issues`).

    Parameters
    ----------
    labels, predictions : array-like of shape (N,)
    scale : float or array-like of shape (N,)

    Returns
    -------
    ndarray of shape (N,), bool

    Examples
    --------
    >>> import numpy as np
    >>> from assay.regression import find_regression_label_issues
    >>> y = np.r_[np.linspace(0, 10, 99), 60.0]
    >>> np.flatnonzero(find_regression_label_issues(y, np.r_[y[:99], 5.0], 0.5)).tolist()
    [99]
    """
    return estimate_regression_label_issues(labels, predictions, scale).flagged


def regression_label_issues(
    features: Any,
    labels: Any,
    *,
    model: Any = "auto",
    folds: Any = None,
    n_folds: int = 5,
    neighbor_indices: Any = None,
    random_state: int = 0,
) -> pd.DataFrame:
    """Wrong values of a numeric target found from the rows' features, end to end: the table.

    Out-of-fold predictions (:func:`fit_target_predictions`: ridge regression or gradient
    boosting or their mean, chosen by out-of-fold absolute error, refitted without the rows
    that look wrong), the noise scale (:func:`fit_noise_scale`), the mixture estimate
    (:func:`estimate_regression_label_issues`) and, with ``neighbor_indices``, the neighbours'
    consensus (:func:`knn_target_consensus`).

    Parameters
    ----------
    features : array-like of shape (N, d)
        Numeric features (NaN allowed).
    labels : array-like of shape (N,)
        The given values.
    model : str or scikit-learn regressor, default="auto"
        See :func:`assay.models.cross_fit_regression`.
    folds : array-like of shape (N,), optional
        Fold of each row; default :func:`assay.models.fold_ids` of the row numbers.
    n_folds : int, default=5
    neighbor_indices : array-like of shape (N, k), optional
        Each row's nearest neighbours (self excluded), e.g. ``assay.knn_graph(x).indices``.
    random_state : int, default=0

    Returns
    -------
    pandas.DataFrame
        One row per input row: ``is_label_issue``, ``label_score`` (in [0, 1], low =
        suspicious), ``label_error_probability``, ``suggested_label`` (the out-of-fold
        prediction) with ``suggested_low`` / ``suggested_high`` (95 % under the noise),
        ``residual_z``, ``noise_scale``; with neighbours also ``neighbour_target`` and
        ``knn_target_agreement``. ``attrs["estimate"]`` holds the
        :class:`RegressionLabelEstimate`, ``attrs["fit"]`` the model's
        :class:`~assay.models.RegressionCrossFit`.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_diabetes
    >>> from assay.regression import regression_label_issues
    >>> x, y = load_diabetes(return_X_y=True)
    >>> y = y.copy()
    >>> y[:5] = y[:5] + 400                     # five values far off
    >>> res = regression_label_issues(x, y, model="linear")
    >>> res["is_label_issue"].to_numpy()[:5].all()
    np.True_
    """
    y = check_1d("labels", np.asarray(labels, dtype=np.float64))
    fit = fit_target_predictions(features, y, model=model, folds=folds, n_folds=n_folds,
                                 random_state=random_state)
    noise = fit_noise_scale(y - fit.predictions, fit.predictions)
    out = regression_label_table(y, fit.predictions, noise.scale,
                                 neighbor_indices=neighbor_indices)
    out.attrs["fit"] = fit
    out.attrs["noise"] = noise
    return out


def regression_label_table(labels: Any, predictions: Any, scale: Any, *,
                           neighbor_indices: Any = None) -> pd.DataFrame:
    """The per-row columns of the regression label check from its three arrays (and the
    neighbours); ``attrs["estimate"]`` holds the :class:`RegressionLabelEstimate`.

    Examples
    --------
    >>> from assay.regression import regression_label_table
    >>> t = regression_label_table([1.0, 2.0, 9.0] * 20, [1.0, 2.0, 3.0] * 20, 0.5)
    >>> t["is_label_issue"].sum(), float(t["suggested_label"][2])
    (np.int64(20), 3.0)
    """
    y = np.asarray(labels, dtype=np.float64).ravel()
    p = np.asarray(predictions, dtype=np.float64).ravel()
    s = np.broadcast_to(np.asarray(scale, dtype=np.float64), y.shape).copy()
    est = estimate_regression_label_issues(y, p, s)
    out = pd.DataFrame({
        "label_score": regression_label_scores(y, p, s),
        "is_label_issue": est.flagged,
        "suggested_label": p,
        "suggested_low": p - INTERVAL_Z * s,
        "suggested_high": p + INTERVAL_Z * s,
        "label_error_probability": est.error_probability,
        "residual_z": (y - p) / s,
        "noise_scale": s,
    })
    if neighbor_indices is not None:
        median, agreement = knn_target_consensus(y, neighbor_indices, s)
        out["neighbour_target"] = median
        out["knn_target_agreement"] = agreement
    out.attrs["estimate"] = est
    return out


def fit_target_predictions(
    features: Any,
    labels: Any,
    *,
    model: Any = "auto",
    model_input: Any = None,
    folds: Any = None,
    n_folds: int = 5,
    trim: bool = True,
    random_state: int = 0,
    n_jobs: int | None = None,
    progress: Any = None,
) -> Any:
    """Out-of-fold predictions of a numeric target that wrong values do not pull.

    First pass: :func:`assay.models.cross_fit_regression` (``auto``: ridge, gradient boosting
    or their mean, by out-of-fold absolute error). Second pass (``trim``): the rows whose
    residual exceeds 3.5 noise scales (:func:`fit_noise_scale`) are left out of the training
    folds and the chosen model is cross-fitted again; every row is still predicted by a model
    that never saw it. A wrong value far off would otherwise pull its neighbours' predictions
    towards itself.

    Parameters
    ----------
    features : array-like of shape (N, d)
    labels : array-like of shape (N,)
    model : str or scikit-learn regressor, default="auto"
    model_input : assay.models.ModelInput, optional
        How to read the columns (categorical codes).
    folds : array-like of shape (N,), optional
    n_folds : int, default=5
    trim : bool, default=True
    random_state : int, default=0
    n_jobs : int, optional
    progress : callable, optional
        ``progress(done, total)`` over both passes' folds.

    Returns
    -------
    assay.models.RegressionCrossFit
        ``n_left_out``: rows kept out of the second pass's training.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from assay.regression import fit_target_predictions
    >>> x, y = load_diabetes(return_X_y=True)
    >>> fit_target_predictions(x, y, model="linear").predictions.shape
    (442,)
    """
    from dataclasses import replace

    from assay.models import cross_fit_regression, fold_ids

    y = check_1d("labels", np.asarray(labels, dtype=np.float64))
    if folds is None:
        folds = fold_ids(np.arange(y.size), n_folds=n_folds, random_state=random_state)
    passes = 2 if trim else 1
    n_split = int(np.unique(np.asarray(folds)).size)

    def step(offset: int) -> Any:
        if progress is None:
            return None
        return lambda done, total: progress(offset + done, passes * n_split)

    first = cross_fit_regression(features, y, model=model, model_input=model_input,
                                 folds=folds, random_state=random_state, n_jobs=n_jobs,
                                 progress=step(0))
    if not trim:
        return first
    resid = y - first.predictions
    keep = np.abs(resid) <= TRIM_Z * fit_noise_scale(resid, first.predictions).scale
    if keep.all():
        return first
    chosen = first.chosen if isinstance(model, str) else model
    second = cross_fit_regression(features, y, model=chosen, model_input=model_input,
                                  folds=folds, train=keep, random_state=random_state,
                                  n_jobs=n_jobs, progress=step(n_split))
    return replace(second, chosen=first.chosen, candidates=first.candidates,
                   seconds=first.seconds + second.seconds)


def knn_target_consensus(labels: Any, neighbor_indices: Any,
                         scale: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """What a row's nearest neighbours say about its value: their median, and the share of
    them within two noise scales of the row's own value.

    Parameters
    ----------
    labels : array-like of shape (N,)
    neighbor_indices : array-like of shape (N, k)
        Each row's neighbours, self excluded (``KnnGraph.indices``).
    scale : float or array-like of shape (N,), optional
        Noise scale; default :func:`mad_scale` of the values minus their neighbours' median.

    Returns
    -------
    median : ndarray of shape (N,)
        Median of the neighbours' values.
    agreement : ndarray of shape (N,)
        Share of neighbours whose value lies within ``2 * scale`` of the row's value.

    Examples
    --------
    >>> import numpy as np
    >>> from assay.regression import knn_target_consensus
    >>> y = np.array([1.0, 1.1, 0.9, 9.0])
    >>> nbrs = np.array([[1, 2], [0, 2], [0, 1], [0, 1]])
    >>> med, agree = knn_target_consensus(y, nbrs, 0.2)
    >>> med.round(2).tolist(), agree.tolist()
    ([1.0, 0.95, 1.05, 1.05], [1.0, 1.0, 1.0, 0.0])
    """
    y = check_1d("labels", np.asarray(labels, dtype=np.float64))
    idx = np.asarray(neighbor_indices)
    if idx.ndim != 2 or idx.shape[0] != y.size or idx.shape[1] < 1:
        raise InputValidationError(
            f"neighbor_indices must be an (N, k) array with N = {y.size} and k >= 1; got shape "
            f"{idx.shape}. Pass KnnGraph.indices of the same rows.")
    values = y[idx]
    median = np.median(values, axis=1)
    s = mad_scale(y - median) if scale is None else scale
    s_row = np.broadcast_to(np.asarray(s, dtype=np.float64), y.shape)
    agreement = (np.abs(values - y[:, None]) <= 2.0 * s_row[:, None]).mean(axis=1)
    return median, agreement
