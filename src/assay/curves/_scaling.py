"""The two-variable scaling law ``L = E + A / N^alpha + B / D^beta`` (Hoffmann et al. 2022).

Fitted as Chinchilla's approach 3 and its replication by Epoch AI (Besiroglu et al. 2024): in
log space, ``log L_hat = logsumexp(a - alpha log N, b - beta log D, e)`` with ``A = e^a``,
``B = e^b``, ``E = e^e``, minimising the Huber loss (delta 1e-3) between predicted and observed
log loss with L-BFGS from a grid of starts, keeping the best; intervals by refitting on
bootstrap resamples of the points.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from scipy.optimize import minimize
from scipy.special import logsumexp
from threadpoolctl import threadpool_limits

from assay._validation import check_1d, check_int, check_random_state
from assay.exceptions import InputValidationError, InvalidParameterError

_NAMES = ("A", "B", "E", "alpha", "beta")
_OWNER = "fit_scaling_law"


@dataclass(frozen=True)
class ScalingLawFit:
    """A fitted ``L(N, D) = E + A / N^alpha + B / D^beta``. Build it with :func:`fit_scaling_law`.

    Attributes
    ----------
    A, B, E, alpha, beta : float
        The fitted parameters.
    bootstrap : ndarray of shape (n_bootstrap, 5)
        ``A, B, E, alpha, beta`` refitted on each bootstrap resample of the points.
    objective : float
        Summed Huber loss at the optimum.
    n_points : int
        Points fitted.
    """

    A: float
    B: float
    E: float
    alpha: float
    beta: float
    bootstrap: np.ndarray
    objective: float
    n_points: int

    @property
    def params(self) -> dict[str, float]:
        """``{"A": ..., "B": ..., "E": ..., "alpha": ..., "beta": ...}``."""
        return {k: float(getattr(self, k)) for k in _NAMES}

    def predict(self, params: Any, tokens: Any) -> np.ndarray:
        """Predicted loss for model size(s) ``params`` trained on ``tokens`` tokens."""
        n = np.asarray(params, dtype=float)
        d = np.asarray(tokens, dtype=float)
        return self.E + self.A / n**self.alpha + self.B / d**self.beta

    def standard_errors(self) -> dict[str, float]:
        """Bootstrap standard error of each parameter (``nan`` without resamples)."""
        if self.bootstrap.shape[0] < 2:
            return {k: float("nan") for k in _NAMES}
        sd = np.std(self.bootstrap, axis=0, ddof=1)
        return {k: float(v) for k, v in zip(_NAMES, sd, strict=True)}

    def intervals(self, *, level: float = 0.95) -> dict[str, tuple[float, float]]:
        """Percentile bootstrap interval of each parameter at ``level``."""
        if self.bootstrap.shape[0] == 0:
            return {k: (float("nan"), float("nan")) for k in _NAMES}
        q = (1.0 - level) / 2.0
        lo = np.quantile(self.bootstrap, q, axis=0)
        hi = np.quantile(self.bootstrap, 1.0 - q, axis=0)
        return {k: (float(a), float(b)) for k, a, b in zip(_NAMES, lo, hi, strict=True)}

    def compute_optimal(self, flops: Any) -> tuple[np.ndarray, np.ndarray]:
        """Loss-minimising ``(params, tokens)`` for a compute budget ``C = 6 N D``.

        Closed form of Hoffmann et al. (2022), eq. 4: ``N_opt = G (C / 6)^(beta / (alpha +
        beta))`` with ``G = (alpha A / (beta B))^(1 / (alpha + beta))`` and ``D_opt = C / (6
        N_opt)``.
        """
        c = np.asarray(flops, dtype=float) / 6.0
        s = self.alpha + self.beta
        g = (self.alpha * self.A / (self.beta * self.B)) ** (1.0 / s)
        n_opt = g * c ** (self.beta / s)
        return n_opt, c / n_opt


def _huber(r: np.ndarray, delta: float) -> np.ndarray:
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


def _terms(theta: np.ndarray, log_n: np.ndarray, log_d: np.ndarray) -> np.ndarray:
    """``(..., M, 3)`` stack of ``a - alpha log N``, ``b - beta log D``, ``e``."""
    a, b, e, alpha, beta = (theta[..., i, None] for i in range(5))
    return np.stack(
        [a - alpha * log_n, b - beta * log_d, np.broadcast_to(e, np.broadcast_shapes(
            e.shape, log_n.shape))],
        axis=-1,
    )


def _objective_grad(
    theta: np.ndarray, log_n: np.ndarray, log_d: np.ndarray, log_l: np.ndarray, delta: float
) -> tuple[float, np.ndarray]:
    t = _terms(theta, log_n, log_d)
    top = np.max(t, axis=-1, keepdims=True)
    ex = np.exp(t - top)
    total = np.sum(ex, axis=-1, keepdims=True)
    r = (top + np.log(total))[:, 0] - log_l
    w = ex / total
    g = np.clip(r, -delta, delta)
    grad = np.array([
        np.sum(g * w[:, 0]),
        np.sum(g * w[:, 1]),
        np.sum(g * w[:, 2]),
        -np.sum(g * w[:, 0] * log_n),
        -np.sum(g * w[:, 1] * log_d),
    ])
    return float(np.sum(_huber(r, delta))), grad


def _grid() -> np.ndarray:
    """Epoch's starting grid as ``(a, b, e, alpha, beta)`` rows (4,500 starts)."""
    ab = (0.0, 5.0, 10.0, 15.0, 20.0, 25.0)
    ex = (0.0, 0.5, 1.0, 1.5, 2.0)
    ee = (-1.0, -0.5, 0.0, 0.5, 1.0)
    return np.array([[a, b, e, al, be] for a, b, e, al, be in product(ab, ab, ee, ex, ex)])


def _lbfgs(
    x0: np.ndarray, log_n: np.ndarray, log_d: np.ndarray, log_l: np.ndarray, delta: float
) -> tuple[np.ndarray, float]:
    res = minimize(
        _objective_grad, x0, args=(log_n, log_d, log_l, delta), jac=True, method="L-BFGS-B",
        options={"maxiter": 10_000, "ftol": 1e-14, "gtol": 1e-10, "maxcor": 20},
    )
    return res.x, float(res.fun)


def _lbfgs_single_thread(
    x0: np.ndarray, log_n: np.ndarray, log_d: np.ndarray, log_l: np.ndarray, delta: float
) -> tuple[np.ndarray, float]:
    with threadpool_limits(limits=1, user_api="blas"):
        return _lbfgs(x0, log_n, log_d, log_l, delta)


def _fit_points(
    log_n: np.ndarray, log_d: np.ndarray, log_l: np.ndarray, delta: float,
    starts: np.ndarray,
) -> tuple[np.ndarray, float]:
    best_x, best_f = starts[0], np.inf
    for x0 in starts:
        x, f = _lbfgs(x0, log_n, log_d, log_l, delta)
        if f < best_f:
            best_x, best_f = x, f
    return best_x, best_f


def _natural(theta: np.ndarray) -> np.ndarray:
    """``(a, b, e, alpha, beta)`` -> ``(A, B, E, alpha, beta)`` (works row-wise)."""
    out = np.array(theta, dtype=float, copy=True)
    out[..., :3] = np.exp(out[..., :3])
    return out


def _check(name: str, values: Any) -> np.ndarray:
    arr = check_1d(name, values)
    try:
        arr = arr.astype(float)
    except (TypeError, ValueError) as exc:
        raise InputValidationError(f"{name} must be numeric ({exc}).") from exc
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise InputValidationError(
            f"{name} must hold finite values above 0 (the law is fitted in log space); "
            f"got a minimum of {np.nanmin(arr):.4g}. Drop failed runs first."
        )
    return arr


def fit_scaling_law(
    params: Any,
    tokens: Any,
    loss: Any,
    *,
    huber_delta: float = 1e-3,
    n_starts: int = 16,
    n_bootstrap: int = 0,
    random_state: Any = 0,
    n_jobs: int | None = None,
) -> ScalingLawFit:
    """Fit ``L = E + A / N^alpha + B / D^beta`` the Chinchilla / Epoch AI way.

    The objective (Huber loss, ``huber_delta``, on log loss) is evaluated at all 4,500 points
    of Epoch's grid (``alpha, beta`` in {0, 0.5, 1, 1.5, 2}; ``e`` in {-1, -0.5, 0, 0.5, 1};
    ``a, b`` in {0, 5, ..., 25}); L-BFGS runs from the ``n_starts`` best and the lowest optimum
    is kept. Bootstrap resamples of the points are refitted from that optimum (in parallel
    through joblib).

    Parameters
    ----------
    params : array-like of shape (M,)
        Model sizes ``N`` (parameters).
    tokens : array-like of shape (M,)
        Training tokens ``D``.
    loss : array-like of shape (M,)
        Final loss of each run.
    huber_delta : float, default=1e-3
        Huber threshold on log-loss residuals (Chinchilla's value).
    n_starts : int, default=16
        Grid points to start L-BFGS from (the best by objective); 4500 runs the whole grid.
    n_bootstrap : int, default=0
        Bootstrap resamples for standard errors and intervals (Epoch used 4,000).
    random_state : None, int or numpy.random.Generator, default=0
        Seeds the bootstrap.
    n_jobs : int, optional
        Parallel bootstrap workers (joblib; a Ray backend runs the same code).

    Returns
    -------
    ScalingLawFit

    Examples
    --------
    >>> import numpy as np
    >>> from assay.curves import fit_scaling_law
    >>> rng = np.random.default_rng(0)
    >>> n = 10 ** rng.uniform(7, 10, 60)
    >>> d = 10 ** rng.uniform(9, 12, 60)
    >>> loss = 1.8 + 400 / n**0.34 + 2000 / d**0.37
    >>> fit = fit_scaling_law(n, d, loss)
    >>> round(fit.alpha, 3), round(fit.beta, 3), round(fit.E, 3)
    (0.34, 0.37, 1.8)
    """
    n = _check("params", params)
    d = _check("tokens", tokens)
    ell = _check("loss", loss)
    if not (n.size == d.size == ell.size):
        raise InputValidationError(
            f"params, tokens and loss must have one entry per run; got {n.size}, {d.size} and "
            f"{ell.size}. Pass aligned arrays."
        )
    if n.size < 6:
        raise InputValidationError(
            f"The law has 5 parameters; fitting it needs at least 6 runs, got {n.size}."
        )
    if not (isinstance(huber_delta, int | float) and huber_delta > 0):
        raise InvalidParameterError("huber_delta", "a float above 0", huber_delta, owner=_OWNER)
    n_starts = check_int("n_starts", n_starts, low=1, high=4500, owner=_OWNER)
    n_bootstrap = check_int("n_bootstrap", n_bootstrap, low=0, owner=_OWNER)
    rng = check_random_state(random_state)
    log_n, log_d, log_l = np.log(n), np.log(d), np.log(ell)
    delta = float(huber_delta)

    grid = _grid()
    t = _terms(grid, log_n, log_d)
    start_loss = np.sum(_huber(logsumexp(t, axis=-1) - log_l, delta), axis=-1)
    starts = grid[np.argsort(start_loss, kind="stable")[:n_starts]]
    # Tiny BLAS calls inside L-BFGS-B are far slower with a thread pool than without.
    with threadpool_limits(limits=1, user_api="blas"):
        theta, f = _fit_points(log_n, log_d, log_l, delta, starts)

    boot = np.empty((0, 5))
    if n_bootstrap:
        idx = rng.integers(0, n.size, size=(n_bootstrap, n.size))
        fits = Parallel(n_jobs=n_jobs)(
            delayed(_lbfgs_single_thread)(theta, log_n[i], log_d[i], log_l[i], delta)
            for i in idx
        )
        boot = _natural(np.array([x for x, _ in fits]))
    A, B, E, alpha, beta = _natural(theta)
    return ScalingLawFit(
        A=float(A), B=float(B), E=float(E), alpha=float(alpha), beta=float(beta),
        bootstrap=boot, objective=f, n_points=int(n.size),
    )
