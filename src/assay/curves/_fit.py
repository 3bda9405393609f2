"""Fit a learning curve, choose its family by extrapolation, and read data requirements off it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import least_squares, minimize
from threadpoolctl import threadpool_limits

from assay._validation import check_1d, check_choice, check_int, check_random_state
from assay.curves._families import FAMILIES, Family
from assay.curves._quality import CurveQuality, check_curve_quality, summarise_by_size
from assay.exceptions import InputValidationError, InvalidParameterError

KINDS = ("accuracy", "error", "loss")
_OWNER = "fit_learning_curve"
_MIN_SIZES = 4
_EPS = 1e-6
#: A conservative recommendation asks for at most this many times the largest measured size in
#: one round: collect, re-measure, refit (Mahmood et al., CVPR 2022: estimate in several rounds;
#: ``benchmarks/curve_extrapolation.py``: a 4x extrapolation of an MLP curve over-asked 5.6x).
MAX_GROWTH = 2.0


@dataclass(frozen=True)
class SampleRequirement:
    """How many training samples a target needs, read off a fitted curve.

    Attributes
    ----------
    target : float
        The score asked for, in the curve's units.
    n : float
        The recommended size: when ``conservative``, ``n_low`` capped at ``max_growth`` times
        the largest measured size (collect that much, re-measure, refit: fits of small curves
        misjudge what far extrapolations need), else ``n_point``. ``inf`` when the target is
        above the fitted ceiling.
    n_point : float
        Size at which the best fit reaches the target.
    n_low, n_high : float
        Bootstrap interval of that size at ``level`` (``inf`` where some resampled fits never
        reach the target).
    reachable : bool
        Whether the best fit ever reaches the target.
    ceiling : float
        Best score the fit predicts with unlimited data of the same kind.
    n_observed : float
        Largest size the curve was measured at.
    message : str
        One sentence in words, suitable for a report.
    capped : bool
        Whether ``n`` is a round of collection (``max_growth x n_observed``) short of the
        extrapolated ``n_low``.
    """

    target: float
    n: float
    n_point: float
    n_low: float
    n_high: float
    reachable: bool
    ceiling: float
    n_observed: float
    message: str
    capped: bool = False

    @property
    def extrapolation(self) -> float:
        """How far beyond the measured sizes the recommendation lies (``n / n_observed``)."""
        return self.n / self.n_observed

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python dictionary (infinite sizes become ``None``)."""
        def f(v: float) -> float | None:
            return None if not math.isfinite(v) else float(v)

        return {
            "target": self.target,
            "n": f(self.n),
            "n_point": f(self.n_point),
            "n_low": f(self.n_low),
            "n_high": f(self.n_high),
            "reachable": self.reachable,
            "ceiling": self.ceiling,
            "n_observed": self.n_observed,
            "message": self.message,
            "capped": self.capped,
        }


@dataclass(frozen=True)
class LearningCurveFit:
    """A fitted learning curve. Build it with :func:`fit_learning_curve`.

    Attributes
    ----------
    family : str
        Name of the fitted family (see ``assay.curves.FAMILIES``).
    params : dict of str to float
        The family's parameters, fitted on error ``1 - score`` (``kind="accuracy"``) or on the
        score itself (``"error"``, ``"loss"``).
    kind : str
        ``"accuracy"`` (higher is better, at most 1), ``"error"`` or ``"loss"`` (lower is better).
    sizes, scores : ndarray
        The data the curve was fitted on.
    bootstrap_params : ndarray of shape (B, p)
        The parameters refitted on each bootstrap resample.
    heldout_error : dict of str to float
        Per family, mean absolute log-ratio between predicted and observed ``y`` on the largest
        sizes when fitted without them (``nan`` where a family could not be tried). Empty when
        the family was given.
    quality : CurveQuality
        Monotonicity, convexity, flatness and power-law region of the measured curve.
    interval_sources : tuple of str
        What the bootstrap intervals account for: ``"seeds"`` (the spread of the subsets and
        seeds at each size) and ``"evaluation split"`` (the finite evaluation set every score
        shares, from ``score_se``). Without the second, an interval is only as wide as the
        seeds' disagreement: on a 400-row evaluation split its 80 % interval held the expected
        score 13-22 % of the time at the largest measured size, with both 77-95 %
        (``benchmarks/curve_coverage.py``).
    """

    family: str
    params: dict[str, float]
    kind: str
    sizes: np.ndarray
    scores: np.ndarray
    bootstrap_params: np.ndarray
    heldout_error: dict[str, float]
    quality: CurveQuality
    huber_delta: float = 0.1
    interval_sources: tuple[str, ...] = ()
    _theta: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)

    @property
    def _family(self) -> Family:
        return FAMILIES[self.family]

    def _to_score(self, y: np.ndarray) -> np.ndarray:
        return 1.0 - y if self.kind == "accuracy" else y

    def _to_y(self, score: float) -> float:
        return 1.0 - score if self.kind == "accuracy" else score

    def predict(self, n: Any) -> Any:
        """Predicted score at training-set size(s) ``n`` (float for a scalar, else an array).

        Examples
        --------
        >>> import numpy as np
        >>> from assay.curves import fit_learning_curve
        >>> n = np.geomspace(100, 10_000, 8)
        >>> fit = fit_learning_curve(n, 1 - (2 * n**-0.5 + 0.05), family="pow3", n_bootstrap=0)
        >>> round(fit.predict(40_000), 4)
        0.94
        """
        arr = np.asarray(n, dtype=float)
        out = self._to_score(self._family.formula(arr, *self.params.values()))
        return float(out) if np.ndim(out) == 0 else out

    def predict_interval(self, n: Any, *, level: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
        """Bootstrap interval ``(low, high)`` of the score at size(s) ``n``.

        Both ends equal :meth:`predict` when the fit has no bootstrap resamples.
        """
        arr = np.atleast_1d(np.asarray(n, dtype=float))
        if self.bootstrap_params.shape[0] == 0:
            p = self.predict(arr)
            return np.asarray(p), np.asarray(p)
        cols = [c[:, None] for c in self.bootstrap_params.T]
        scores = self._to_score(self._family.formula(arr[None, :], *cols))
        q = (1.0 - level) / 2.0
        return np.quantile(scores, q, axis=0), np.quantile(scores, 1.0 - q, axis=0)

    @property
    def ceiling(self) -> float:
        """Best score the fit predicts with unlimited data (``1 - floor`` for accuracy)."""
        return float(self._to_score(np.asarray(self._family.floor(*self.params.values()))))

    def samples_for(
        self,
        target: float,
        *,
        conservative: bool = True,
        level: float = 0.8,
        max_growth: float = MAX_GROWTH,
    ) -> SampleRequirement:
        """Training-set size at which the curve reaches ``target``.

        Parameters
        ----------
        target : float
            Score to reach, in the curve's units (an accuracy in (0, 1] for
            ``kind="accuracy"``, an error or loss above 0 otherwise).
        conservative : bool, default=True
            Recommend the low end of the bootstrap interval, and at most ``max_growth`` times
            the largest measured size (one round: collect that much, re-measure, refit), instead
            of the point estimate. Power-law fits of small curves misjudge data requirements,
            and collecting in rounds bounds the cost of the error (Mahmood et al. 2022).
        level : float, default=0.8
            Coverage of the bootstrap interval.
        max_growth : float, default=2.0
            Largest multiple of the measured size a conservative recommendation asks for
            (``MAX_GROWTH``); ``inf`` to read the extrapolation off without a cap.

        Returns
        -------
        SampleRequirement
            With ``reachable=False`` and ``n=inf`` when the target is above the fitted ceiling;
            ``message`` says so and gives the ceiling.

        Examples
        --------
        >>> import numpy as np
        >>> from assay.curves import fit_learning_curve
        >>> n = np.geomspace(100, 10_000, 8)
        >>> fit = fit_learning_curve(n, 1 - (2 * n**-0.5 + 0.05), family="pow3", n_bootstrap=0)
        >>> need = fit.samples_for(0.94)
        >>> round(need.n_point), round(need.n), need.capped  # 4x measured: one round of 2x first
        (40000, 20000, True)
        >>> round(fit.samples_for(0.94, conservative=False).n)
        40000
        >>> fit.samples_for(0.99).reachable
        False
        """
        _check_target(target, self.kind)
        if not (isinstance(max_growth, int | float) and max_growth > 1.0):
            raise InvalidParameterError(
                "max_growth", "a number above 1 (a multiple of the measured size)", max_growth,
                owner="samples_for", hint="Pass math.inf to read the extrapolation off uncapped.")
        y_t = self._to_y(float(target))
        fam = self._family
        n_point = float(fam.inverse(np.asarray(y_t), *self.params.values()))
        if self.bootstrap_params.shape[0]:
            boot = fam.inverse(np.asarray(y_t), *self.bootstrap_params.T)
            boot = np.where(np.isnan(boot), np.inf, boot)
            q = (1.0 - level) / 2.0
            n_low = float(np.quantile(boot, q, method="lower"))
            n_high = float(np.quantile(boot, 1.0 - q, method="higher"))
            n_low, n_high = min(n_low, n_point), max(n_high, n_point)
        else:
            n_low = n_high = n_point
        reachable = math.isfinite(n_point)
        n = n_low if conservative else n_point
        n_obs = float(np.max(self.sizes))
        capped = bool(conservative and reachable and n > max_growth * n_obs)
        if capped:
            n = max_growth * n_obs
        if not reachable:
            n = math.inf
        return SampleRequirement(
            target=float(target),
            n=n,
            n_point=n_point,
            n_low=n_low,
            n_high=n_high,
            reachable=reachable,
            ceiling=self.ceiling,
            n_observed=n_obs,
            message=self._requirement_message(float(target), n, n_low, n_high, reachable,
                                              n_point if capped else None),
            capped=capped,
        )

    def _requirement_message(
        self, target: float, n: float, low: float, high: float, reachable: bool,
        extrapolated: float | None = None,
    ) -> str:
        what = "accuracy" if self.kind == "accuracy" else self.kind
        n_obs = float(np.max(self.sizes))
        if not reachable:
            return (
                f"The target {what} {target:.4g} is beyond the fitted ceiling {self.ceiling:.4g} "
                f"({self._family.title}): more data of the same kind is not predicted to reach "
                "it. Lower the target, clean the labels, or change the model or features."
            )
        hi = "unbounded" if not math.isfinite(high) else f"{high:,.0f}"
        if extrapolated is not None:
            return (
                f"The fit puts {what} {target:.4g} at about n={extrapolated:,.0f} "
                f"({extrapolated / n_obs:.1f}x the {n_obs:,.0f} measured; interval {low:,.0f} to "
                f"{hi}), further than a curve this short extrapolates reliably: collect up to "
                f"n={n:,.0f} first, re-measure and refit."
            )
        if n <= n_obs:
            return (
                f"The target {what} {target:.4g} is reached at about n={n:,.0f}, within the "
                f"{n_obs:,.0f} samples measured."
            )
        return (
            f"Reaching {what} {target:.4g} needs about n={n:,.0f} training samples "
            f"({n / n_obs:.1f}x the {n_obs:,.0f} measured; interval {low:,.0f} to {hi})."
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python summary: family, parameters, ceiling, held-out errors, quality."""
        return {
            "family": self.family,
            "formula": self._family.title,
            "kind": self.kind,
            "params": dict(self.params),
            "ceiling": self.ceiling,
            "heldout_error": {
                k: (None if not math.isfinite(v) else v) for k, v in self.heldout_error.items()
            },
            "n_bootstrap": int(self.bootstrap_params.shape[0]),
            "interval_sources": list(self.interval_sources),
            "well_behaved": self.quality.well_behaved,
            "power_law_region": self.quality.power_law,
            "quality_issues": list(self.quality.issues),
        }


def _check_target(target: Any, kind: str) -> None:
    ok = isinstance(target, int | float | np.floating | np.integer) and not isinstance(
        target, bool
    )
    if ok and kind == "accuracy":
        ok = 0.0 < float(target) <= 1.0
    elif ok:
        ok = float(target) > 0.0
    if not ok:
        expected = "a float in (0, 1]" if kind == "accuracy" else "a float above 0"
        raise InvalidParameterError("target", expected, target, owner="samples_for")


# --- optimisation -----------------------------------------------------------------------------
def _huber(r: np.ndarray, delta: float) -> np.ndarray:
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


def _log_pred(theta: np.ndarray, fam: Family, n: np.ndarray) -> np.ndarray:
    """Log of the family's prediction; ``theta`` is ``(p,)`` or ``(p, K)`` (K variants)."""
    params = fam.to_params(theta)
    if params.ndim == 2:
        params = params[:, :, None]
        n = n[None, :]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return np.log(np.maximum(fam.formula(n, *params), 1e-300))


def _residuals(theta: np.ndarray, fam: Family, n: np.ndarray, logy: np.ndarray) -> np.ndarray:
    r = _log_pred(theta, fam, n) - logy
    return np.where(np.isfinite(r), r, 1e3)


def _jacobian(theta: np.ndarray, fam: Family, n: np.ndarray, logy: np.ndarray) -> np.ndarray:
    """Central-difference jacobian ``(M, p)`` of the residuals, in one vectorised call."""
    p = theta.size
    h = 1e-6 * np.maximum(1.0, np.abs(theta))
    steps = np.concatenate([np.diag(h), -np.diag(h)], axis=1)  # (p, 2p)
    vals = _log_pred(theta[:, None] + steps, fam, n)  # (2p, M)
    jac = (vals[:p] - vals[p:]) / (2.0 * h[:, None])
    return np.where(np.isfinite(jac), jac, 0.0).T


def _clip_to(theta: np.ndarray, bounds: list[tuple[float, float]]) -> np.ndarray:
    lo = np.array([b[0] for b in bounds])
    hi = np.array([b[1] for b in bounds])
    return np.clip(theta, lo, hi)


def _polish(
    fam: Family, theta: np.ndarray, n: np.ndarray, logy: np.ndarray, delta: float,
    bounds: list[tuple[float, float]], *, tol: float = 1e-15,
) -> np.ndarray:
    """Trust-region least squares with the Huber loss from ``theta``; converges tightly."""
    lo = np.array([b[0] for b in bounds])
    hi = np.array([b[1] for b in bounds])
    res = least_squares(
        _residuals, _clip_to(theta, bounds), jac=_jacobian, args=(fam, n, logy),
        bounds=(lo, hi), loss="huber", f_scale=delta, method="trf",
        xtol=tol, ftol=tol, gtol=tol, max_nfev=100 * fam.n_params,
    )
    return res.x


def _fit_family(
    fam: Family, n: np.ndarray, y: np.ndarray, delta: float, *, n_starts: int = 4
) -> tuple[np.ndarray, float]:
    """Multi-start L-BFGS on the Huber loss in log space, best start polished; (theta, loss)."""
    logy = np.log(y)
    bounds = fam.bounds(n, y)
    starts = np.array([_clip_to(s, bounds) for s in fam.starts(n, y)])

    def objective(theta: np.ndarray) -> float:
        return float(np.sum(_huber(_residuals(theta, fam, n, logy), delta)))

    def objective_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        r = _residuals(theta, fam, n, logy)
        psi = np.clip(r, -delta, delta)
        return float(np.sum(_huber(r, delta))), _jacobian(theta, fam, n, logy).T @ psi

    first = np.sum(_huber(_residuals(starts.T, fam, n, logy), delta), axis=1)
    best_theta, best_loss = starts[int(np.argmin(first))], float(np.min(first))
    for i in np.argsort(first)[:n_starts]:
        res = minimize(objective_grad, starts[i], jac=True, method="L-BFGS-B", bounds=bounds,
                       options={"maxiter": 500, "ftol": 1e-14, "gtol": 1e-10})
        if res.fun < best_loss:
            best_theta, best_loss = res.x, float(res.fun)
    theta = _polish(fam, best_theta, n, logy, delta, bounds)
    loss = objective(theta)
    if loss > best_loss:
        theta, loss = best_theta, best_loss
    return theta, loss


def _heldout_errors(
    families: list[Family], n: np.ndarray, y: np.ndarray, delta: float
) -> dict[str, float]:
    """Fit each family without the largest quarter of sizes; score it on them."""
    uniq, mean, _ = summarise_by_size(n, y)
    h = max(1, uniq.size // 4)
    train = n < uniq[-h]
    n_train_sizes = uniq.size - h
    errors: dict[str, float] = {}
    for fam in families:
        if n_train_sizes < fam.n_params:
            errors[fam.name] = math.nan
            continue
        theta, _ = _fit_family(fam, n[train], y[train], delta)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            pred = fam.formula(uniq[-h:], *fam.to_params(theta))
            err = np.mean(np.abs(np.log(np.maximum(pred, 1e-300)) - np.log(mean[-h:])))
        errors[fam.name] = float(err) if np.isfinite(err) else math.inf
    return errors


def _bootstrap(
    fam: Family, theta: np.ndarray, n: np.ndarray, y: np.ndarray, delta: float,
    n_bootstrap: int, rng: np.random.Generator, y_se: np.ndarray | None = None,
) -> np.ndarray:
    """Refit on resamples of the measurements, each shifted by a shared evaluation error.

    With replicates (seeds) at a size, each resample draws that size's deviations from its
    mean (in log space) with replacement, scaled by ``sqrt(k / (k - 1))`` so the resampled
    mean varies as much as the mean of ``k`` replicates does (the plain bootstrap gives
    ``(k - 1) / k`` of that variance: a third too little with 3 seeds). Without replicates it
    resamples the log residuals. With ``y_se`` (the standard error each score owes to the
    finite evaluation split), every resample also moves all scores by ``z * y_se`` with one
    ``z ~ N(0, 1)``: every model is scored on the same rows, so that error is shared by the
    whole curve, and no number of seeds reveals it.
    """
    if n_bootstrap == 0:
        return np.empty((0, fam.n_params))
    logy = np.log(y)
    bounds = fam.bounds(n, y)
    _, inv, counts = np.unique(n, return_inverse=True, return_counts=True)
    replicated = np.median(counts) >= 2
    fitted = _residuals(theta, fam, n, np.zeros_like(logy))
    resid = logy - fitted
    order = np.argsort(inv, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    size_mean = (np.bincount(inv, weights=logy) / counts)[inv]
    dev = logy - size_mean
    inflate = np.sqrt(counts / np.maximum(counts - 1, 1))[inv]
    out = np.empty((n_bootstrap, fam.n_params))
    for b in range(n_bootstrap):
        if replicated:
            draw = starts[inv] + (rng.random(n.size) * counts[inv]).astype(np.int64)
            idx = order[draw]
            ly = size_mean + inflate * dev[idx]
        else:
            idx = rng.integers(0, n.size, n.size)
            ly = fitted + resid[idx]
        if y_se is not None:
            se = y_se[idx] if replicated else y_se
            ly = np.log(np.maximum(np.exp(ly) + rng.standard_normal() * se, _EPS))
        th = _polish(fam, theta, n, ly, delta, bounds, tol=1e-8)
        out[b] = fam.to_params(th)
    return out


def _choose(candidates: list[str], errors: dict[str, float]) -> str:
    """Lowest held-out error; among ties (within 1e-9) the family with fewest parameters."""
    if not candidates:
        return "pow2"
    best = min(errors[k] for k in candidates)
    tied = [k for k in candidates if errors[k] <= best + 1e-9]
    return min(tied, key=lambda k: FAMILIES[k].n_params)


def _check_se(score_se: Any, m: int) -> np.ndarray:
    se = check_1d("score_se", score_se)
    if se.size != m:
        raise InputValidationError(
            f"score_se must have one standard error per score; got {se.size} for {m} scores. "
            "Pass the '<metric>_se' column of the same learning-curve table."
        )
    try:
        se = se.astype(float)
    except (TypeError, ValueError) as exc:
        raise InputValidationError(f"score_se must be numeric ({exc}).") from exc
    if not np.all(np.isfinite(se)) or np.any(se < 0):
        raise InputValidationError(
            "score_se must be finite and >= 0 (a standard error); found "
            f"{'NaN or infinite values' if not np.all(np.isfinite(se)) else 'negative values'}."
        )
    return se


def _check_inputs(sizes: Any, scores: Any, kind: str) -> tuple[np.ndarray, np.ndarray]:
    n = check_1d("sizes", sizes)
    s = check_1d("scores", scores)
    if n.size != s.size:
        raise InputValidationError(
            f"sizes and scores must have one entry per measurement; got {n.size} sizes and "
            f"{s.size} scores. Pass them aligned (repeat a size once per seed)."
        )
    try:
        n = n.astype(float)
        s = s.astype(float)
    except (TypeError, ValueError) as exc:
        raise InputValidationError(
            f"sizes and scores must be numeric; they could not be converted to float ({exc})."
        ) from exc
    if not (np.all(np.isfinite(n)) and np.all(np.isfinite(s))):
        raise InputValidationError(
            "sizes and scores must be finite; found NaN or infinite values. Drop the failed "
            "runs before fitting."
        )
    if np.any(n <= 0):
        raise InputValidationError(
            f"sizes must be positive training-set sizes; got a minimum of {n.min():g}."
        )
    if kind == "accuracy" and (s.min() < 0 or s.max() > 1):
        raise InputValidationError(
            f"scores must lie in [0, 1] for kind='accuracy'; got values from {s.min():.4g} to "
            f"{s.max():.4g}. Pass kind='loss' for an unbounded score where lower is better."
        )
    if kind != "accuracy" and s.min() <= 0:
        raise InputValidationError(
            f"scores must be above 0 for kind={kind!r} (they are fitted in log space); got a "
            f"minimum of {s.min():.4g}."
        )
    n_sizes = int(np.unique(n).size)
    if n_sizes < _MIN_SIZES:
        raise InputValidationError(
            f"A learning curve needs at least {_MIN_SIZES} distinct training-set sizes to fit "
            f"and check an extrapolation; got {n_sizes}. Measure more sizes (for example "
            "geometric steps from a few percent of the data to all of it)."
        )
    return n, s


def fit_learning_curve(
    sizes: Any,
    scores: Any,
    *,
    family: str = "auto",
    kind: str = "accuracy",
    n_bootstrap: int = 200,
    huber_delta: float = 0.1,
    score_se: Any = None,
    random_state: Any = 0,
) -> LearningCurveFit:
    """Fit a learning curve and choose its functional form by extrapolation.

    Each family is fitted to ``y`` (error ``1 - score`` for ``kind="accuracy"``, else the score)
    by minimising the Huber loss between log predicted and log observed ``y``, with L-BFGS from a
    grid of starts and a trust-region polish of the best. With ``family="auto"`` every family is
    fitted without the largest quarter of the sizes and the one that predicts them best is
    refitted on everything (Alabdulmohsin et al. 2022: judge by extrapolation, not in-range fit).
    Intervals come from refitting on bootstrap resamples of the replicates at each size (the
    seeds), or of the log residuals when there are none, each resample shifted by one shared
    draw of the evaluation split's error when ``score_se`` gives it (every score comes from
    the same evaluation rows, so their error moves the whole curve; seeds cannot show it). A curve whose log-log slope still
    steepens (the small-data region) is fitted as it is but reported in ``.quality``, and
    :meth:`LearningCurveFit.samples_for` asks for one round of collection at a time.

    Parameters
    ----------
    sizes : array-like of shape (M,)
        Training-set sizes, repeated once per seed or subset.
    scores : array-like of shape (M,)
        Score measured at each size.
    family : str, default="auto"
        ``"auto"`` or one of ``"pow3"`` (``a n^-b + c``), ``"pow2"`` (``a n^-b``), ``"pow4"``
        (``a (n + d)^-b + c``), ``"exp3"`` (``a exp(-b n) + c``), ``"logistic"``
        (``c + a / (1 + exp(b (log n - m)))``).
    kind : {"accuracy", "error", "loss"}, default="accuracy"
        ``"accuracy"`` for any score in [0, 1] where higher is better (accuracy, balanced
        accuracy, macro-F1, recall); ``"error"`` or ``"loss"`` where lower is better.
    n_bootstrap : int, default=200
        Bootstrap resamples for intervals (0 for none).
    huber_delta : float, default=0.1
        Residuals in log space above this count linearly (robust to outlying runs).
    score_se : array-like of shape (M,), optional
        Standard error of each score due to the finite evaluation split (the
        ``<metric>_se`` column of :func:`learning_curve`). Without it the intervals cover the
        seeds' spread only, which on a small evaluation split is far too narrow
        (``interval_sources`` records which).
    random_state : None, int or numpy.random.Generator, default=0
        Seeds the bootstrap.

    Returns
    -------
    LearningCurveFit
        With ``.predict(n)``, ``.predict_interval(n)``, ``.samples_for(target)``, ``.params``,
        ``.ceiling`` and ``.quality`` (ill-behaved curve report).

    Raises
    ------
    InputValidationError
        Fewer than 4 distinct sizes, misaligned or non-finite inputs, or a flat curve.

    Examples
    --------
    >>> import numpy as np
    >>> from assay.curves import fit_learning_curve
    >>> n = np.geomspace(50, 5_000, 8)
    >>> acc = 1 - (1.5 * n**-0.4 + 0.02)
    >>> fit = fit_learning_curve(n, acc, family="pow3", n_bootstrap=0)
    >>> {k: round(v, 4) for k, v in fit.params.items()}
    {'a': 1.5, 'b': 0.4, 'c': 0.02}
    """
    kind = check_choice("kind", kind, KINDS, owner=_OWNER)
    family = check_choice("family", family, ("auto", *FAMILIES), owner=_OWNER)
    n_bootstrap = check_int("n_bootstrap", n_bootstrap, low=0, owner=_OWNER)
    if not (isinstance(huber_delta, int | float) and huber_delta > 0):
        raise InvalidParameterError("huber_delta", "a float above 0", huber_delta, owner=_OWNER)
    rng = check_random_state(random_state)
    n, s = _check_inputs(sizes, scores, kind)
    se = None if score_se is None else _check_se(score_se, n.size)
    y = np.maximum(1.0 - s, _EPS) if kind == "accuracy" else s

    quality = check_curve_quality(n, y)
    if np.ptp(y) <= 1e-12 * max(float(np.max(np.abs(y))), 1e-300):
        raise InputValidationError(
            f"The learning curve is flat ({quality.issues[0]}), so there is no trend to "
            "extrapolate: more data of the same kind is not predicted to change the score. "
            "Check that the sizes differ enough (a few percent to 100 %), or improve the "
            "model, features or labels instead."
        )
    # Tiny BLAS calls inside the optimisers are far slower with a thread pool than without.
    with threadpool_limits(limits=1, user_api="blas"):
        return _fit(n, s, y, family, kind, n_bootstrap, float(huber_delta), quality, rng, se)


def _fit(
    n: np.ndarray, s: np.ndarray, y: np.ndarray, family: str, kind: str, n_bootstrap: int,
    huber_delta: float, quality: CurveQuality, rng: np.random.Generator,
    se: np.ndarray | None = None,
) -> LearningCurveFit:
    n_sizes = int(np.unique(n).size)
    heldout: dict[str, float] = {}
    if family == "auto":
        heldout = _heldout_errors(list(FAMILIES.values()), n, y, float(huber_delta))
        finite = {k: v for k, v in heldout.items() if math.isfinite(v)}
        candidates = [k for k in finite if FAMILIES[k].n_params <= n_sizes]
        family = _choose(candidates, finite)
    fam = FAMILIES[family]
    theta, _ = _fit_family(fam, n, y, float(huber_delta))
    boot = _bootstrap(fam, theta, n, y, float(huber_delta), n_bootstrap, rng, se)
    sources = () if n_bootstrap == 0 else (
        ("seeds",) if se is None else ("seeds", "evaluation split"))
    params = fam.to_params(theta)
    return LearningCurveFit(
        family=family,
        params={k: float(v) for k, v in zip(fam.param_names, params, strict=True)},
        kind=kind,
        sizes=n,
        scores=s,
        bootstrap_params=boot,
        heldout_error=heldout,
        quality=quality,
        huber_delta=float(huber_delta),
        interval_sources=sources,
        _theta=theta,
    )
