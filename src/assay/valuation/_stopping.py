"""Stopping rules for the Monte Carlo estimators, composed with ``|`` (either) and ``&`` (both).

A rule looks at the state of the sampling loop after each batch (:class:`SamplingState`:
samples drawn, utility evaluations, elapsed time, the current values and standard errors) and
says whether to stop and which conditions were met (:class:`StopDecision`)::

    stop = MaxSamples(200) | RelativeStandardError(0.05)      # whichever comes first
    stop = (MaxSamples(100) & RelativeStandardError(0.05)) | MaxTime(600)

The estimators record the conditions met in ``ValuationResult.stopped_by``.

A custom rule subclasses :class:`StoppingRule` and implements ``should_stop(state) -> bool``
(and ``__repr__``). A rule must not hold mutable state: the same object can drive several runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from assay._validation import check_int
from assay.exceptions import InvalidParameterError

__all__ = [
    "MaxEvaluations",
    "MaxSamples",
    "MaxTime",
    "RelativeStandardError",
    "SamplingState",
    "StopDecision",
    "StoppingRule",
]


@dataclass(frozen=True)
class SamplingState:
    """What the sampling loop knows after a batch; the input of :meth:`StoppingRule.check`.

    Attributes
    ----------
    n_samples : int
        Permutations or coalitions drawn so far, failed ones included.
    n_evaluations : int
        Utility evaluations run so far, failed ones included.
    elapsed_s : float
        Seconds since the estimator started.
    values, stderr : ndarray of shape (n_players, T)
        Current estimates and their standard errors (NaN where not yet defined).
    counts : ndarray of shape (n_players,)
        Samples behind each value (for Banzhaf: the smaller of the "with" and "without" counts).
    """

    n_samples: int
    n_evaluations: int
    elapsed_s: float
    values: np.ndarray
    stderr: np.ndarray
    counts: np.ndarray


@dataclass(frozen=True)
class StopDecision:
    """Whether to stop, and the conditions (leaf rules) that were met to decide it.

    Truthy exactly when ``stop`` is true.
    """

    stop: bool
    met: tuple[StoppingRule, ...] = ()

    def __bool__(self) -> bool:
        return self.stop

    @property
    def reason(self) -> str:
        """The conditions met, e.g. ``"MaxSamples(200)"``; ``""`` when not stopping."""
        return ", ".join(repr(r) for r in self.met) if self.stop else ""

    @property
    def converged(self) -> bool:
        """Whether a convergence rule (not only a budget) was among the conditions met."""
        return self.stop and any(r.convergence for r in self.met)


_CONTINUE = StopDecision(False)


class StoppingRule:
    """Base class of the stopping rules; ``a | b`` stops when either does, ``a & b`` when both.

    Subclasses implement :meth:`should_stop`. The class attribute ``convergence`` marks rules
    whose stop means the estimate converged (reported as ``ValuationResult.converged``).
    """

    convergence: ClassVar[bool] = False

    def should_stop(self, state: SamplingState) -> bool:
        """Whether this condition is met in ``state``."""
        raise NotImplementedError(f"{type(self).__name__} must implement should_stop(state).")

    def check(self, state: SamplingState) -> StopDecision:
        """Called by the sampling loop after each batch: whether to stop, and why."""
        return StopDecision(True, (self,)) if self.should_stop(state) else _CONTINUE

    @property
    def sample_limit(self) -> int | None:
        """The most samples this rule lets the loop draw (``None``: no such limit)."""
        return None

    @property
    def bounded(self) -> bool:
        """Whether the rule is sure to stop (a budget, not only convergence)."""
        return False

    def __or__(self, other: Any) -> StoppingRule:
        if not isinstance(other, StoppingRule):
            return NotImplemented
        return _AnyOf((self, other))

    def __and__(self, other: Any) -> StoppingRule:
        if not isinstance(other, StoppingRule):
            return NotImplemented
        return _AllOf((self, other))

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _positive_number(name: str, value: Any, owner: str, expected: str) -> float:
    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    if not ok or not float(value) > 0:  # NaN fails too
        raise InvalidParameterError(name, expected, value, owner=owner)
    return float(value)


def _number_text(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


class MaxSamples(StoppingRule):
    """Stop once ``n`` permutations or coalitions have been drawn (failed ones included).

    Examples
    --------
    >>> from assay.valuation import MaxSamples, tmc_shapley
    >>> res = tmc_shapley(lambda s: float(0 in s), n_players=3, stop=MaxSamples(50))
    >>> res.n_samples, res.stopped_by
    (50, 'MaxSamples(50)')
    """

    def __init__(self, n: int) -> None:
        self.n = check_int("n", n, low=1, owner="MaxSamples")

    def should_stop(self, state: SamplingState) -> bool:
        return state.n_samples >= self.n

    @property
    def sample_limit(self) -> int | None:
        return self.n

    @property
    def bounded(self) -> bool:
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MaxSamples) and other.n == self.n

    def __hash__(self) -> int:
        return hash((MaxSamples, self.n))

    def __repr__(self) -> str:
        return f"MaxSamples({self.n})"


class MaxEvaluations(StoppingRule):
    """Stop once the utility has been evaluated ``n`` times (checked after each batch, so a
    batch in progress finishes: the count can pass ``n`` by up to a batch)."""

    def __init__(self, n: int) -> None:
        self.n = check_int("n", n, low=1, owner="MaxEvaluations")

    def should_stop(self, state: SamplingState) -> bool:
        return state.n_evaluations >= self.n

    @property
    def bounded(self) -> bool:
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MaxEvaluations) and other.n == self.n

    def __hash__(self) -> int:
        return hash((MaxEvaluations, self.n))

    def __repr__(self) -> str:
        return f"MaxEvaluations({self.n})"


class MaxTime(StoppingRule):
    """Stop once ``seconds`` of wall time have passed (checked after each batch)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = _positive_number("seconds", seconds, "MaxTime",
                                        "a positive number of seconds")

    def should_stop(self, state: SamplingState) -> bool:
        return state.elapsed_s >= self.seconds

    @property
    def bounded(self) -> bool:
        return math.isfinite(self.seconds)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MaxTime) and other.seconds == self.seconds

    def __hash__(self) -> int:
        return hash((MaxTime, self.seconds))

    def __repr__(self) -> str:
        return f"MaxTime({_number_text(self.seconds)})"


class RelativeStandardError(StoppingRule):
    """Converged: every standard error is at most ``rtol * max|value|`` (per task), once every
    value rests on at least ``min_samples`` samples.

    Alone it may never stop; combine it with a budget, e.g.
    ``MaxSamples(1000) | RelativeStandardError(0.05)``.
    """

    convergence: ClassVar[bool] = True

    def __init__(self, rtol: float, min_samples: int = 30) -> None:
        self.rtol = _positive_number("rtol", rtol, "RelativeStandardError", "a positive float")
        self.min_samples = check_int("min_samples", min_samples, low=2,
                                     owner="RelativeStandardError")

    def should_stop(self, state: SamplingState) -> bool:
        if state.counts.min() < self.min_samples:
            return False
        scale = np.max(np.abs(state.values), axis=0)
        return bool(np.all(np.nan_to_num(state.stderr, nan=np.inf) <= self.rtol * scale[None, :]))

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, RelativeStandardError) and other.rtol == self.rtol
                and other.min_samples == self.min_samples)

    def __hash__(self) -> int:
        return hash((RelativeStandardError, self.rtol, self.min_samples))

    def __repr__(self) -> str:
        return f"RelativeStandardError({self.rtol!r}, min_samples={self.min_samples})"


class _Composite(StoppingRule):
    symbol: ClassVar[str] = ""

    def __init__(self, rules: tuple[StoppingRule, ...]) -> None:
        flat: list[StoppingRule] = []
        for r in rules:  # a | (b | c) is a | b | c
            flat.extend(r.rules if isinstance(r, _Composite) and type(r) is type(self) else (r,))
        self.rules: tuple[StoppingRule, ...] = tuple(flat)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Composite) and type(other) is type(self) and (
            other.rules == self.rules)

    def __hash__(self) -> int:
        return hash((type(self), self.rules))

    def __repr__(self) -> str:
        parts = [f"({r!r})" if isinstance(r, _Composite) else repr(r) for r in self.rules]
        return f" {self.symbol} ".join(parts)


class _AnyOf(_Composite):
    """Stop when any rule stops (``a | b``)."""

    symbol = "|"

    def should_stop(self, state: SamplingState) -> bool:
        return bool(self.check(state))

    def check(self, state: SamplingState) -> StopDecision:
        # every rule is evaluated, so the reason lists all conditions met at this check
        met = tuple(m for r in self.rules for m in r.check(state).met)
        return StopDecision(True, met) if met else _CONTINUE

    @property
    def sample_limit(self) -> int | None:
        limits = [lim for r in self.rules if (lim := r.sample_limit) is not None]
        return min(limits) if limits else None

    @property
    def bounded(self) -> bool:
        return any(r.bounded for r in self.rules)


class _AllOf(_Composite):
    """Stop when every rule stops (``a & b``)."""

    symbol = "&"

    def should_stop(self, state: SamplingState) -> bool:
        return bool(self.check(state))

    def check(self, state: SamplingState) -> StopDecision:
        met: list[StoppingRule] = []
        for r in self.rules:
            d = r.check(state)
            if not d:
                return _CONTINUE
            met.extend(d.met)
        return StopDecision(True, tuple(met))

    @property
    def sample_limit(self) -> int | None:
        limits = [r.sample_limit for r in self.rules]
        return None if any(lim is None for lim in limits) else max(
            lim for lim in limits if lim is not None)

    @property
    def bounded(self) -> bool:
        return all(r.bounded for r in self.rules)
