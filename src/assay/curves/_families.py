"""Learning-curve families, each declared as data.

Every family models a quantity ``y`` that falls with the training-set size ``n`` (an error
``1 - accuracy`` or a loss) and stays positive. A family is a :class:`Family` record: the formula,
its closed-form inverse (the size at which ``y`` reaches a value), the map between the optimiser's
unconstrained-ish vector ``theta`` and the readable parameters, box bounds on ``theta`` and a
data-driven grid of starting points.

Parameters are passed to ``formula`` and ``inverse`` unpacked, so they broadcast: pass columns of
shape ``(B, 1)`` to evaluate ``B`` bootstrap fits at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import product

import numpy as np

_LOG_A = (-30.0, 30.0)
_EXP = (1e-6, 5.0)


@dataclass(frozen=True)
class Family:
    """One functional form of a learning curve.

    Attributes
    ----------
    name : str
        Short name (``"pow3"``).
    title : str
        The formula in words, for reports.
    param_names : tuple of str
        Readable parameter names, in order.
    formula : callable
        ``formula(n, *params) -> y``.
    inverse : callable
        ``inverse(y, *params) -> n`` with ``inf`` where ``y`` is at or below the floor.
    floor : callable
        ``floor(*params) -> y`` reached as ``n -> inf``.
    to_params : callable
        ``theta (p,) -> params (p,)``.
    to_theta : callable
        ``params (p,) -> theta (p,)``.
    bounds : callable
        ``bounds(n, y) -> list of (low, high)`` on ``theta``.
    starts : callable
        ``starts(n, y) -> (S, p) array`` of starting ``theta``.
    """

    name: str
    title: str
    param_names: tuple[str, ...]
    formula: Callable[..., np.ndarray]
    inverse: Callable[..., np.ndarray]
    floor: Callable[..., np.ndarray]
    to_params: Callable[[np.ndarray], np.ndarray]
    to_theta: Callable[[np.ndarray], np.ndarray]
    bounds: Callable[[np.ndarray, np.ndarray], list[tuple[float, float]]]
    starts: Callable[[np.ndarray, np.ndarray], np.ndarray]

    @property
    def n_params(self) -> int:
        return len(self.param_names)


def _pos(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x, np.nan)


def _inv_power(y: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray | float) -> np.ndarray:
    """Solve ``y = a n^-b + c`` for ``n``; ``inf`` at or below the floor ``c``."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        gap = np.asarray(y, dtype=float) - c
        n = np.exp(-np.log(_pos(gap) / a) / b)
    return np.where(gap > 0, n, np.inf)


def _log_exponents() -> np.ndarray:
    return np.array([0.05, 0.15, 0.3, 0.6, 1.0])


def _floor_grid(y: np.ndarray) -> np.ndarray:
    low = float(np.min(y))
    return np.array([0.0, 0.3 * low, 0.6 * low, 0.85 * low])


def _solve_log_a(n: np.ndarray, y: np.ndarray, b: float, c: float, d: float = 0.0) -> float:
    """Least-squares ``log a`` for fixed ``b, c, d`` in log space (floored gaps)."""
    gap = np.maximum(y - c, 1e-12)
    return float(np.mean(np.log(gap) + b * np.log(n + d)))


# --- pow3: a * n^-b + c --------------------------------------------------------------------
def _pow3(n, a, b, c):
    return a * np.power(n, -b) + c


def _pow3_starts(n, y):
    rows = []
    for b, c in product(_log_exponents(), _floor_grid(y)):
        rows.append([_solve_log_a(n, y, b, c), b, c])
    return np.array(rows)


POW3 = Family(
    name="pow3",
    title="power law with floor: a * n^-b + c",
    param_names=("a", "b", "c"),
    formula=_pow3,
    inverse=lambda y, a, b, c: _inv_power(y, a, b, c),
    floor=lambda a, b, c: c,
    to_params=lambda t: np.array([np.exp(t[0]), t[1], t[2]]),
    to_theta=lambda p: np.array([np.log(p[0]), p[1], p[2]]),
    bounds=lambda n, y: [_LOG_A, _EXP, (0.0, float(np.max(y)))],
    starts=_pow3_starts,
)


# --- pow2: a * n^-b --------------------------------------------------------------------------
def _pow2(n, a, b):
    return a * np.power(n, -b)


def _pow2_starts(n, y):
    slope, intercept = np.polyfit(np.log(n), np.log(np.maximum(y, 1e-12)), 1)
    rows = [[intercept, float(np.clip(-slope, 1e-3, 4.0))]]
    rows += [[_solve_log_a(n, y, b, 0.0), b] for b in _log_exponents()]
    return np.array(rows)


POW2 = Family(
    name="pow2",
    title="power law: a * n^-b",
    param_names=("a", "b"),
    formula=_pow2,
    inverse=lambda y, a, b: _inv_power(y, a, b, 0.0),
    floor=lambda a, b: np.zeros_like(np.asarray(a, dtype=float)),
    to_params=lambda t: np.array([np.exp(t[0]), t[1]]),
    to_theta=lambda p: np.array([np.log(p[0]), p[1]]),
    bounds=lambda n, y: [_LOG_A, _EXP],
    starts=_pow2_starts,
)


# --- pow4: a * (n + d)^-b + c ----------------------------------------------------------------
def _pow4(n, a, b, c, d):
    return a * np.power(n + d, -b) + c


def _pow4_inverse(y, a, b, c, d):
    return np.maximum(_inv_power(y, a, b, c) - d, 0.0)


def _pow4_starts(n, y):
    rows = []
    for d_frac, b, c in product((0.01, 0.3, 1.0), _log_exponents(), _floor_grid(y)):
        d = d_frac * float(np.min(n))
        rows.append([_solve_log_a(n, y, b, c, d), b, c, np.log(d)])
    return np.array(rows)


POW4 = Family(
    name="pow4",
    title="shifted power law with floor: a * (n + d)^-b + c",
    param_names=("a", "b", "c", "d"),
    formula=_pow4,
    inverse=_pow4_inverse,
    floor=lambda a, b, c, d: c,
    to_params=lambda t: np.array([np.exp(t[0]), t[1], t[2], np.exp(t[3])]),
    to_theta=lambda p: np.array([np.log(p[0]), p[1], p[2], np.log(p[3])]),
    bounds=lambda n, y: [
        _LOG_A,
        _EXP,
        (0.0, float(np.max(y))),
        (-12.0, float(np.log(10.0 * np.max(n)))),
    ],
    starts=_pow4_starts,
)


# --- exp3: a * exp(-b n) + c -----------------------------------------------------------------
def _exp3(n, a, b, c):
    return a * np.exp(-b * n) + c


def _exp3_inverse(y, a, b, c):
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = np.asarray(y, dtype=float) - c
        n = -np.log(_pos(gap) / a) / b
    return np.where(gap > 0, np.maximum(n, 0.0), np.inf)


def _exp3_starts(n, y):
    rows = []
    n_max = float(np.max(n))
    for k, c in product((0.3, 1.0, 3.0, 10.0, 30.0), _floor_grid(y)):
        b = k / n_max
        gap = np.maximum(y - c, 1e-12)
        rows.append([float(np.mean(np.log(gap) + b * n)), np.log(b), c])
    return np.array(rows)


EXP3 = Family(
    name="exp3",
    title="exponential saturation: a * exp(-b n) + c",
    param_names=("a", "b", "c"),
    formula=_exp3,
    inverse=_exp3_inverse,
    floor=lambda a, b, c: c,
    to_params=lambda t: np.array([np.exp(t[0]), np.exp(t[1]), t[2]]),
    to_theta=lambda p: np.array([np.log(p[0]), np.log(p[1]), p[2]]),
    bounds=lambda n, y: [
        _LOG_A,
        (float(np.log(1e-4 / np.max(n))), float(np.log(1e3 / np.min(n)))),
        (0.0, float(np.max(y))),
    ],
    starts=_exp3_starts,
)


# --- logistic in log n: c + a / (1 + exp(b (log n - m))) -------------------------------------
def _logistic(n, a, b, c, m):
    z = np.clip(b * (np.log(n) - m), -700.0, 700.0)
    return c + a / (1.0 + np.exp(z))


def _logistic_inverse(y, a, b, c, m):
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = np.asarray(y, dtype=float) - c
        ratio = a / _pos(gap) - 1.0
        n = np.exp(m + np.log(_pos(ratio)) / b)
    out = np.where(gap > 0, n, np.inf)
    return np.where(gap >= a, 0.0, out)


def _logistic_starts(n, y):
    rows = []
    lo, hi = float(np.log(np.min(n))), float(np.log(np.max(n)))
    y_max = float(np.max(y))
    for m_frac, b, c in product((0.0, 0.5, 1.0), (0.5, 1.0, 2.0), _floor_grid(y)):
        m = lo + m_frac * (hi - lo)
        a = max(2.0 * (y_max - c), 1e-6)
        rows.append([np.log(a), b, c, m])
    return np.array(rows)


LOGISTIC = Family(
    name="logistic",
    title="logistic in log n: c + a / (1 + exp(b (log n - m)))",
    param_names=("a", "b", "c", "m"),
    formula=_logistic,
    inverse=_logistic_inverse,
    floor=lambda a, b, c, m: c,
    to_params=lambda t: np.array([np.exp(t[0]), t[1], t[2], t[3]]),
    to_theta=lambda p: np.array([np.log(p[0]), p[1], p[2], p[3]]),
    bounds=lambda n, y: [
        _LOG_A,
        (1e-6, 20.0),
        (0.0, float(np.max(y))),
        (float(np.log(np.min(n))) - 15.0, float(np.log(np.max(n))) + 15.0),
    ],
    starts=_logistic_starts,
)


FAMILIES: dict[str, Family] = {f.name: f for f in (POW3, POW2, POW4, EXP3, LOGISTIC)}
"""Every family by name, in the order ``family="auto"`` tries them (ties go to the earlier)."""
