"""Monte Carlo semivalues with any utility: TMC Shapley, Banzhaf (MSR) and Beta Shapley.

A *utility* maps a coalition (an int array of player indices) to a score, or to a vector of
``T`` scores (one per task or per validation slice). Every estimator then returns an ``n x T``
matrix from the same coalition evaluations, equal to ``T`` scalar runs with the same seed.

Utility evaluations go through :mod:`joblib`, so ``joblib.parallel_config(backend="ray")`` (after
``ray.util.joblib.register_ray()``) runs them on a Ray cluster with no change to this code.
Sampling happens in the calling process, so results depend on ``random_state`` only, never on
``n_jobs`` or the backend.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import betaln, gammaln

from assay._validation import check_choice, check_int, check_random_state
from assay.exceptions import AssayError, InputValidationError, InvalidParameterError
from assay.valuation._stopping import (
    MaxEvaluations,
    MaxSamples,
    MaxTime,
    RelativeStandardError,
    SamplingState,
    StopDecision,
    StoppingRule,
)

__all__ = [
    "GroupUtility",
    "ModelUtility",
    "UtilityError",
    "ValuationResult",
    "banzhaf",
    "beta_shapley",
    "tmc_shapley",
]

_ON_ERROR = ("count", "raise")
_MAX_FAILURE_TEXTS = 5


class _Default:
    """A keyword's default value, told apart from the same value passed explicitly (so that a
    budget keyword passed together with ``stop=`` is reported); shows as the value itself."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return repr(self.value)


def _default(value: Any) -> Any:
    return _Default(value)


def _given(value: Any) -> bool:
    return not isinstance(value, _Default)


def _value(value: Any) -> Any:
    return value.value if isinstance(value, _Default) else value


class UtilityError(AssayError, RuntimeError):
    """The utility raised or returned a non-finite score and ``on_error="raise"`` was chosen,
    or every sampled coalition failed."""


@dataclass(frozen=True)
class ValuationResult:
    """Values estimated by Monte Carlo, with their uncertainty and a record of what ran.

    Attributes
    ----------
    values : ndarray of shape (n_players,) or (n_players, T)
        Estimated values (one column per task when the utility returns a vector).
    stderr : ndarray, same shape as ``values``
        Standard error of each value (NaN with fewer than two samples).
    counts : ndarray of shape (n_players,)
        Samples behind each value (for Banzhaf: the smaller of the "with" and "without" counts).
    method : str
        ``"tmc-shapley"``, ``"banzhaf"`` or ``"beta-shapley(alpha, beta)"``.
    n_samples : int
        Permutations or coalitions that entered the estimate.
    n_evaluations : int
        Utility evaluations run, failed ones included.
    n_failed : int
        Samples dropped because the utility raised or returned NaN (never silently: counted
        here, described in ``failures`` and warned about).
    failures : tuple of str
        The first few distinct failure messages.
    converged : bool
        Whether a convergence rule (:class:`RelativeStandardError`) was met, rather than only
        a budget.
    topk_overlap : float
        Share of the ``topk`` highest-valued players unchanged since the previous batch
        (rank stability of the top-k; 1.0 means stable).
    elapsed_s : float
        Wall time.
    players : ndarray, optional
        Player names (group labels when groups are the players).
    stopped_by : str
        The stopping conditions met when sampling stopped, e.g. ``"MaxSamples(1000)"`` or
        ``"RelativeStandardError(0.05, min_samples=30)"`` (comma-separated when several were
        met at the same check).
    """

    values: np.ndarray
    stderr: np.ndarray
    counts: np.ndarray
    method: str
    n_samples: int
    n_evaluations: int
    n_failed: int
    failures: tuple[str, ...]
    converged: bool
    topk_overlap: float
    elapsed_s: float
    players: np.ndarray | None = None
    stopped_by: str = ""

    def to_frame(self) -> Any:
        """Return a pandas DataFrame with one row per player: value(s), stderr(s), count."""
        import pandas as pd

        index = self.players if self.players is not None else np.arange(self.values.shape[0])
        if self.values.ndim == 1:
            cols = {"value": self.values, "stderr": self.stderr}
        else:
            cols = {}
            for t in range(self.values.shape[1]):
                cols[f"value_{t}"] = self.values[:, t]
                cols[f"stderr_{t}"] = self.stderr[:, t]
        cols["count"] = self.counts
        return pd.DataFrame(cols, index=pd.Index(index, name="player"))


# --------------------------------------------------------------------------------------------
# utilities


class ModelUtility:
    """Score of a scikit-learn estimator trained on a coalition, on a validation set.

    Parameters
    ----------
    estimator : scikit-learn estimator
        Cloned and fitted on each coalition.
    x_train, y_train : array-like of shape (n, d) and (n,) or (n, T)
        The players. A 2-d ``y_train`` holds ``T`` tasks: one model per task is fitted on the
        same coalition and the utility returns ``T`` scores.
    x_valid, y_valid : array-like of shape (m, d) and (m,) or (m, T)
        The validation data the score is computed on (never modified).
    scoring : str or callable, optional
        A scikit-learn scorer name or ``scorer(estimator, X, y)``; default ``"accuracy"`` for
        classifiers and ``"neg_mean_squared_error"`` for regressors.
    valid_groups : array-like of shape (m,), optional
        Score on each validation slice separately (a vector utility, one score per slice,
        slices in sorted order).
    empty_score : float, default 0.0
        Score of the empty coalition. A classification coalition with a single class is scored
        as a model that always predicts that class.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from assay.valuation import ModelUtility
    >>> x = np.array([[0.0], [1.0], [5.0], [6.0]]); y = np.array([0, 0, 1, 1])
    >>> u = ModelUtility(KNeighborsClassifier(1), x, y, x, y)
    >>> u(np.array([0, 2]))
    1.0
    """

    def __init__(
        self,
        estimator: Any,
        x_train: Any,
        y_train: Any,
        x_valid: Any,
        y_valid: Any,
        *,
        scoring: str | Callable[..., float] | None = None,
        valid_groups: Any = None,
        empty_score: float = 0.0,
    ) -> None:
        from sklearn.base import is_classifier
        from sklearn.metrics import get_scorer

        self.estimator = estimator
        self.x_train = _matrix("x_train", x_train)
        self.x_valid = _matrix("x_valid", x_valid)
        self.y_train = np.asarray(y_train)
        self.y_valid = np.asarray(y_valid)
        _rows("x_train", self.x_train, "y_train", self.y_train)
        _rows("x_valid", self.x_valid, "y_valid", self.y_valid)
        if self.y_train.ndim != self.y_valid.ndim or self.y_train.ndim not in (1, 2) or (
            self.y_train.ndim == 2 and self.y_train.shape[1] != self.y_valid.shape[1]
        ):
            raise InputValidationError(
                f"y_train has shape {self.y_train.shape} and y_valid {self.y_valid.shape}; both "
                "must be 1-d (one task) or 2-d with the same number of task columns."
            )
        if not (hasattr(estimator, "fit") and hasattr(estimator, "predict")):
            raise InvalidParameterError(
                "estimator", "a scikit-learn estimator with fit and predict",
                type(estimator).__name__, owner="ModelUtility",
            )
        self.is_classifier = bool(is_classifier(estimator))
        # default scores are computed directly from predict (the scorer machinery costs more
        # than fitting a small model)
        self.scorer = None if scoring is None else (
            get_scorer(scoring) if isinstance(scoring, str) else scoring)
        self.empty_score = float(empty_score)
        self.n_players = int(self.x_train.shape[0])
        self.slices: list[np.ndarray] | None = None
        if valid_groups is not None:
            if self.y_train.ndim == 2:
                raise InputValidationError(
                    "Pass either several task columns in y_train or valid_groups, not both."
                )
            g = np.asarray(valid_groups)
            _rows("x_valid", self.x_valid, "valid_groups", g)
            self.slices = [np.flatnonzero(g == v) for v in np.unique(g)]

    def __call__(self, subset: np.ndarray) -> float | np.ndarray:
        idx = np.asarray(subset, dtype=np.int64)
        if self.y_train.ndim == 2:
            return np.array(
                [self._score(idx, self.y_train[:, t], self.y_valid[:, t])[0]
                 for t in range(self.y_train.shape[1])]
            )
        scores = self._score(idx, self.y_train, self.y_valid)
        return scores[0] if self.slices is None else np.asarray(scores)

    def _score(self, idx: np.ndarray, y_tr: np.ndarray, y_va: np.ndarray) -> list[float]:
        from sklearn.base import clone

        n_out = 1 if self.slices is None else len(self.slices)
        if idx.size == 0:
            return [self.empty_score] * n_out
        y_sub = y_tr[idx]
        if self.is_classifier and np.unique(y_sub).size < 2:
            from sklearn.dummy import DummyClassifier

            model = DummyClassifier(strategy="most_frequent").fit(self.x_train[idx], y_sub)
        else:
            model = clone(self.estimator).fit(self.x_train[idx], y_sub)
        if self.scorer is not None:
            if self.slices is None:
                return [float(self.scorer(model, self.x_valid, y_va))]
            return [float(self.scorer(model, self.x_valid[s], y_va[s])) for s in self.slices]
        pred = model.predict(self.x_valid)
        per_row = (pred == y_va).astype(np.float64) if self.is_classifier else -(
            (pred.astype(np.float64) - y_va.astype(np.float64)) ** 2)
        if self.slices is None:
            return [float(per_row.mean())]
        return [float(per_row[s].mean()) for s in self.slices]


class GroupUtility:
    """Make groups of rows (source, annotator, batch, class) the players of a utility.

    The coalition of groups ``G`` is scored as ``utility(union of the rows of G)``.

    Parameters
    ----------
    utility : callable
        Utility over rows, with ``n_players`` rows (or pass ``groups`` of that length).
    groups : array-like of shape (n_rows,)
        Group label of each row.

    Examples
    --------
    >>> import numpy as np
    >>> from assay.valuation import GroupUtility
    >>> u = GroupUtility(lambda rows: float(len(rows)), ["a", "a", "b"])
    >>> u.players.tolist(), u(np.array([0]))
    (['a', 'b'], 2.0)
    """

    def __init__(self, utility: Callable[[np.ndarray], Any], groups: Any) -> None:
        g = np.asarray(groups)
        if g.ndim != 1:
            raise InputValidationError(f"groups must be 1-d (one label per row); got shape {g.shape}.")
        n_rows = getattr(utility, "n_players", None)
        if n_rows is not None and n_rows != g.size:
            raise InputValidationError(
                f"groups has {g.size} labels but the utility has {n_rows} rows. "
                "Pass one group label per row, in the same order."
            )
        self.utility = utility
        self.players, codes = np.unique(g, return_inverse=True)
        self.members = [np.flatnonzero(codes == j) for j in range(self.players.size)]
        self.n_players = int(self.players.size)

    def __call__(self, subset: np.ndarray) -> Any:
        idx = np.asarray(subset, dtype=np.int64)
        rows = np.sort(np.concatenate([self.members[j] for j in idx])) if idx.size else idx
        return self.utility(rows)


def _matrix(name: str, x: Any) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise InputValidationError(
            f"{name} must be a 2-d array (rows x features); got shape {arr.shape}. "
            "Reshape a single feature with x.reshape(-1, 1)."
        )
    return arr


def _rows(xname: str, x: np.ndarray, yname: str, y: np.ndarray) -> None:
    if x.shape[0] != y.shape[0]:
        raise InputValidationError(
            f"{xname} has {x.shape[0]} rows but {yname} has {y.shape[0]}. "
            "Pass one entry per row, in the same order."
        )


# --------------------------------------------------------------------------------------------
# workers (run through joblib)


def _evaluate(utility: Callable[[np.ndarray], Any], idx: np.ndarray) -> tuple[np.ndarray | None, str]:
    """One utility call; ``(None, reason)`` when it raises or returns a non-finite score."""
    try:
        value = np.atleast_1d(np.asarray(utility(idx), dtype=np.float64))
    except Exception as exc:  # noqa: BLE001 - any user error is counted and reported
        return None, f"{type(exc).__name__}: {exc} (coalition of {idx.size})"
    if not np.all(np.isfinite(value)):
        return None, f"non-finite score {value.tolist()} (coalition of {idx.size})"
    return value, ""


def _permutation_marginals(
    utility: Callable[[np.ndarray], Any], perm: np.ndarray, ratio: np.ndarray,
    rtol: float | None, u_empty: np.ndarray, u_full: np.ndarray | None,
) -> tuple[np.ndarray | None, int, str]:
    """Weighted marginal contributions along one permutation (player order), per task.

    With ``rtol`` a task stops (its later marginals are 0) once the prefix score is within
    ``rtol * |u(all)|`` of the full score; evaluation stops when every task has stopped.
    """
    n, n_tasks = perm.size, u_empty.size
    marg = np.zeros((n, n_tasks))
    done = np.zeros(n_tasks, dtype=bool)
    prev = u_empty
    evals = 0
    for pos in range(n):
        if done.all():
            break
        cur, why = _evaluate(utility, np.sort(perm[: pos + 1]))
        evals += 1
        if cur is None:
            return None, evals, why
        if cur.size != n_tasks:
            return None, evals, f"utility returned {cur.size} scores, expected {n_tasks}"
        marg[perm[pos]] = np.where(done, 0.0, (cur - prev) * ratio[pos])
        prev = cur
        if rtol is not None and u_full is not None:
            done |= np.abs(cur - u_full) <= rtol * np.abs(u_full)
    return marg, evals, ""


def _subset_score(utility: Callable[[np.ndarray], Any], mask: np.ndarray) -> tuple[np.ndarray | None, str]:
    return _evaluate(utility, np.flatnonzero(mask))


# --------------------------------------------------------------------------------------------
# public estimators


def tmc_shapley(
    utility: Callable[[np.ndarray], Any],
    *,
    n_players: int | None = None,
    groups: Any = None,
    truncation_rtol: float | None = None,
    stop: StoppingRule | None = None,
    max_samples: int = _default(1000),
    max_evaluations: int | None = None,
    max_time: float | None = None,
    rtol: float | None = _default(0.05),
    min_samples: int = _default(30),
    batch_size: int | None = None,
    topk: int = 10,
    n_jobs: int | None = None,
    on_error: str = "count",
    random_state: int | np.random.Generator | None = 0,
) -> ValuationResult:
    """Data Shapley by permutation sampling, optionally truncated (TMC, Ghorbani & Zou 2019).

    Each sampled permutation evaluates the utility on its growing prefixes; the difference at
    each step is one unbiased sample of that player's Shapley value.

    Parameters
    ----------
    utility : callable
        ``utility(indices) -> float`` or ``T`` floats, e.g. :class:`ModelUtility`.
    n_players : int, optional
        Read from ``utility.n_players`` when omitted.
    groups : array-like of shape (n_players,), optional
        Value groups of rows instead of rows (see :class:`GroupUtility`).
    truncation_rtol : float, optional
        Truncate a permutation once the prefix score is within ``truncation_rtol * |u(all)|`` of
        the full score (0.01 is the classic TMC setting; it saves evaluations and adds a small
        bias). ``None`` (default) samples whole permutations: unbiased.
    stop : StoppingRule, optional
        When to stop sampling, e.g. ``MaxSamples(200) | RelativeStandardError(0.05)`` or
        ``MaxTime(60)`` (see :class:`StoppingRule`; ``|`` stops at the first rule met, ``&``
        once all are). It replaces the budget keywords below: passing one of them
        too raises :class:`~assay.exceptions.InvalidParameterError`. ``None`` (default) builds
        ``MaxSamples(max_samples) | RelativeStandardError(rtol, min_samples)``, plus
        ``| MaxEvaluations(max_evaluations)`` and ``| MaxTime(max_time)`` when given.
    max_samples, max_evaluations, max_time : budget
        Stop after this many permutations (failed ones included), utility evaluations or
        seconds.
    rtol : float or None, default 0.05
        Convergence: stop once every standard error is at most ``rtol * max|value|`` (after
        ``min_samples`` permutations). ``None`` runs the whole budget.
    min_samples : int, default 30
    batch_size : int, optional
        Permutations sampled between convergence checks (default 32).
    topk : int, default 10
        Size of the top set whose stability is reported.
    n_jobs : int, optional
        joblib workers (the active joblib backend, e.g. Ray, decides where they run).
    on_error : {"count", "raise"}, default "count"
        A permutation whose utility raises or returns NaN is dropped, counted in
        ``n_failed`` and warned about (``"count"``), or raises :class:`UtilityError`.
    random_state : int, Generator or None, default 0

    Returns
    -------
    ValuationResult

    Examples
    --------
    >>> from assay.valuation import tmc_shapley
    >>> res = tmc_shapley(lambda s: float(0 in s), n_players=3, max_samples=50, rtol=None)
    >>> res.values.round(6).tolist()
    [1.0, 0.0, 0.0]

    The same budget as a stopping rule:

    >>> from assay.valuation import MaxSamples, MaxTime
    >>> res = tmc_shapley(lambda s: float(0 in s), n_players=3, stop=MaxSamples(50) | MaxTime(60))
    >>> res.n_samples, res.stopped_by
    (50, 'MaxSamples(50)')
    """
    n, utility, players = _setup(utility, n_players, groups, "tmc_shapley")
    ratio = np.ones(n)
    return _run_permutations(
        utility, n, players, ratio, "tmc-shapley", truncation_rtol=truncation_rtol,
        budget=_Budget.make(stop, max_samples, max_evaluations, max_time, rtol, min_samples,
                            batch_size, topk, "tmc_shapley"),
        n_jobs=n_jobs, on_error=on_error, random_state=random_state,
    )


def beta_shapley(
    utility: Callable[[np.ndarray], Any],
    *,
    alpha: float = 16.0,
    beta: float = 1.0,
    n_players: int | None = None,
    groups: Any = None,
    truncation_rtol: float | None = None,
    stop: StoppingRule | None = None,
    max_samples: int = _default(1000),
    max_evaluations: int | None = None,
    max_time: float | None = None,
    rtol: float | None = _default(0.05),
    min_samples: int = _default(30),
    batch_size: int | None = None,
    topk: int = 10,
    n_jobs: int | None = None,
    on_error: str = "count",
    random_state: int | np.random.Generator | None = 0,
) -> ValuationResult:
    """Beta(alpha, beta) Shapley (Kwon & Zou 2022) by importance-weighted permutation sampling.

    The weight of a coalition of size ``k`` is ``w(k) = B(k + beta, n - k - 1 + alpha) /
    B(alpha, beta)``; a marginal at position ``k`` of a uniform permutation is reweighted by
    ``n * C(n-1, k) * w(k)``, which makes it unbiased. ``alpha=16, beta=1`` (the default, as in
    the official code) emphasises small coalitions; Beta(1, 1) is Shapley.

    Parameters are those of :func:`tmc_shapley`, plus ``alpha`` and ``beta`` (positive).

    Returns
    -------
    ValuationResult

    Examples
    --------
    >>> from assay.valuation import beta_shapley
    >>> res = beta_shapley(lambda s: float(len(s)), n_players=4, max_samples=400, rtol=None)
    >>> bool(abs(res.values - 1.0).max() < 4 * res.stderr.max())  # additive utility: all 1
    True
    """
    owner = "beta_shapley"
    for name, val in (("alpha", alpha), ("beta", beta)):
        if isinstance(val, bool) or not isinstance(val, int | float) or not val > 0:
            raise InvalidParameterError(name, "a positive float", val, owner=owner)
    n, utility, players = _setup(utility, n_players, groups, owner)
    k = np.arange(n, dtype=np.float64)
    log_comb = gammaln(n) - gammaln(k + 1) - gammaln(n - k)
    ratio = np.exp(np.log(n) + log_comb + betaln(k + beta, n - k - 1 + alpha) - betaln(alpha, beta))
    return _run_permutations(
        utility, n, players, ratio, f"beta-shapley({alpha:g}, {beta:g})",
        truncation_rtol=truncation_rtol,
        budget=_Budget.make(stop, max_samples, max_evaluations, max_time, rtol, min_samples,
                            batch_size, topk, owner),
        n_jobs=n_jobs, on_error=on_error, random_state=random_state,
    )


def banzhaf(
    utility: Callable[[np.ndarray], Any],
    *,
    n_players: int | None = None,
    groups: Any = None,
    stop: StoppingRule | None = None,
    max_samples: int = _default(2000),
    max_evaluations: int | None = None,
    max_time: float | None = None,
    rtol: float | None = _default(0.05),
    min_samples: int = _default(30),
    batch_size: int | None = None,
    topk: int = 10,
    n_jobs: int | None = None,
    on_error: str = "count",
    random_state: int | np.random.Generator | None = 0,
) -> ValuationResult:
    """Data Banzhaf by maximum sample reuse (MSR, Wang & Jia 2023).

    Coalitions include each player with probability 1/2; the value of ``i`` is the mean score
    of the sampled coalitions containing ``i`` minus the mean of those without it, so every
    evaluation updates all ``n`` values. The standard error is
    ``sqrt(var_with / n_with + var_without / n_without)``.

    Parameters are those of :func:`tmc_shapley`, ``stop`` included (``max_samples`` and
    :class:`MaxSamples` count coalitions; ``min_samples`` applies to the smaller of the two
    counts of each player).

    Returns
    -------
    ValuationResult

    Examples
    --------
    >>> from assay.valuation import banzhaf
    >>> res = banzhaf(lambda s: float(0 in s), n_players=3, max_samples=200, rtol=None)
    >>> float(res.values[0])  # only player 0 matters: with it 1, without it 0
    1.0
    >>> bool(abs(res.values[1:]).max() < 4 * res.stderr[1:].max())  # the others: 0 within noise
    True
    """
    owner = "banzhaf"
    n, utility, players = _setup(utility, n_players, groups, owner)
    budget = _Budget.make(stop, max_samples, max_evaluations, max_time, rtol, min_samples,
                          batch_size, topk, owner)
    on_error = check_choice("on_error", on_error, _ON_ERROR, owner=owner)
    rng = check_random_state(random_state)
    from joblib import Parallel, delayed

    t0 = time.perf_counter()
    tracker = _Tracker(on_error, budget, t0)
    u_empty, scalar = _checked_call(utility, np.arange(0), "the empty coalition")
    tracker.evaluations += 1
    state = _MsrState(n, u_empty.size)
    with Parallel(n_jobs=n_jobs) as parallel:
        while True:
            masks = rng.random((tracker.next_batch(), n)) < 0.5
            outs = parallel(delayed(_subset_score)(utility, m) for m in masks)
            keep, scores = [], []
            for j, (score, why) in enumerate(outs):
                tracker.evaluations += 1
                if score is None or score.size != u_empty.size:
                    tracker.fail(why or f"utility returned {score.size} scores, expected "
                                 f"{u_empty.size}")
                    continue
                keep.append(j)
                scores.append(score)
                tracker.samples += 1
            if keep:
                state.add(masks[keep], np.stack(scores))
            values, stderr, counts = state.estimate()
            if tracker.check(values, stderr, counts):
                break
    return tracker.result(values, stderr, counts, "banzhaf", players, scalar=scalar)


# --------------------------------------------------------------------------------------------
# engine


_BUDGET_KEYWORDS = ("max_samples", "max_evaluations", "max_time", "rtol", "min_samples")


@dataclass(frozen=True)
class _Budget:
    stop: StoppingRule
    batch_size: int
    topk: int

    @classmethod
    def make(cls, stop: Any, max_samples: Any, max_evaluations: Any, max_time: Any, rtol: Any,
             min_samples: Any, batch_size: Any, topk: Any, owner: str) -> _Budget:
        if stop is None:
            rule = _keyword_rule(_value(max_samples), max_evaluations, max_time, _value(rtol),
                                 _value(min_samples), owner)
        else:
            rule = _check_stop(stop, {
                "max_samples": max_samples, "max_evaluations": max_evaluations,
                "max_time": max_time, "rtol": rtol, "min_samples": min_samples}, owner)
        batch_size = 32 if batch_size is None else check_int("batch_size", batch_size, low=1,
                                                             owner=owner)
        topk = check_int("topk", topk, low=1, owner=owner)
        return cls(rule, batch_size, topk)


def _keyword_rule(max_samples: Any, max_evaluations: Any, max_time: Any, rtol: Any,
                  min_samples: Any, owner: str) -> StoppingRule:
    """The rule the budget keywords stand for (validated with the keyword names)."""
    max_samples = check_int("max_samples", max_samples, low=1, owner=owner)
    if max_evaluations is not None:
        max_evaluations = check_int("max_evaluations", max_evaluations, low=1, owner=owner)
    if max_time is not None and not (isinstance(max_time, int | float) and max_time > 0):
        raise InvalidParameterError("max_time", "a positive number of seconds", max_time,
                                    owner=owner)
    if rtol is not None and not (isinstance(rtol, int | float) and rtol > 0):
        raise InvalidParameterError("rtol", "a positive float or None", rtol, owner=owner)
    min_samples = check_int("min_samples", min_samples, low=2, owner=owner)
    rule: StoppingRule = MaxSamples(max_samples)
    if rtol is not None:
        rule = rule | RelativeStandardError(float(rtol), min_samples)
    if max_evaluations is not None:
        rule = rule | MaxEvaluations(max_evaluations)
    if max_time is not None:
        rule = rule | MaxTime(float(max_time))
    return rule


def _check_stop(stop: Any, keywords: dict[str, Any], owner: str) -> StoppingRule:
    if not isinstance(stop, StoppingRule):
        raise InvalidParameterError(
            "stop", "a StoppingRule such as MaxSamples(1000) | RelativeStandardError(0.05), or "
            "None", stop, owner=owner,
        )
    for name, val in keywords.items():
        # max_evaluations / max_time default to None; None passed explicitly sets no budget
        if _given(val) and not (val is None and name in ("max_evaluations", "max_time")):
            raise InvalidParameterError(
                name, "left unset when stop= is given", val, owner=owner,
                hint=f"Pass the whole budget as the rule (stop={stop!r} here), e.g. "
                "stop=MaxSamples(200) | RelativeStandardError(0.05) | MaxTime(60), or drop "
                f"stop= and use the keywords ({', '.join(_BUDGET_KEYWORDS)}).",
            )
    if not stop.bounded:
        raise InvalidParameterError(
            "stop", "a rule that is sure to stop", stop, owner=owner,
            hint="A convergence rule alone may never be met: add a budget with '|', e.g. "
            f"({stop!r}) | MaxSamples(1000) or | MaxTime(600).",
        )
    return stop


def _setup(utility: Any, n_players: Any, groups: Any, owner: str) -> tuple[int, Any, Any]:
    if not callable(utility):
        raise InvalidParameterError(
            "utility", "a callable utility(indices) -> score (e.g. ModelUtility)",
            type(utility).__name__, owner=owner,
        )
    if n_players is None:
        n_players = getattr(utility, "n_players", None)
        if n_players is None:
            raise InvalidParameterError(
                "n_players", "an int (the utility has no n_players attribute)", None, owner=owner,
                hint="Pass n_players=, or use ModelUtility which knows its size.",
            )
    n = check_int("n_players", n_players, low=1, owner=owner)
    players = getattr(utility, "players", None)
    if groups is not None:
        if len(groups) != n:
            raise InputValidationError(
                f"groups has {len(groups)} labels but the utility has {n} players. "
                "Pass one group label per row, in the same order."
            )
        utility = GroupUtility(utility, groups)
        n, players = utility.n_players, utility.players
    return n, utility, players


class _Tracker:
    """Counts samples, evaluations and failures; applies the stopping rules."""

    def __init__(self, on_error: str, budget: _Budget, t0: float) -> None:
        self.on_error, self.budget, self.t0 = on_error, budget, t0
        self.samples = self.evaluations = self.failed = 0
        self.failures: list[str] = []
        self.decision = StopDecision(False)
        self.overlap = float("nan")
        self._top: list[set[int]] | None = None

    def next_batch(self) -> int:
        limit = self.budget.stop.sample_limit
        if limit is None:
            return self.budget.batch_size
        return max(1, min(self.budget.batch_size, limit - self.samples - self.failed))

    def fail(self, why: str) -> None:
        if self.on_error == "raise":
            raise UtilityError(
                f"The utility failed: {why}. Fix the utility, or pass on_error='count' to drop "
                "and count such samples."
            )
        self.failed += 1
        if len(self.failures) < _MAX_FAILURE_TEXTS and why not in self.failures:
            self.failures.append(why)

    def check(self, values: np.ndarray, stderr: np.ndarray, counts: np.ndarray) -> bool:
        b = self.budget
        k = min(b.topk, values.shape[0])
        top = [set(np.argsort(-values[:, t], kind="stable")[:k].tolist())
               for t in range(values.shape[1])]
        if self._top is not None:
            self.overlap = float(np.mean([len(a & c) / k for a, c in zip(top, self._top,
                                                                           strict=True)]))
        self._top = top
        state = SamplingState(
            n_samples=self.samples + self.failed, n_evaluations=self.evaluations,
            elapsed_s=time.perf_counter() - self.t0, values=values, stderr=stderr, counts=counts,
        )
        self.decision = b.stop.check(state)
        return bool(self.decision)

    def result(self, values: np.ndarray, stderr: np.ndarray, counts: np.ndarray, method: str,
               players: Any, *, scalar: bool) -> ValuationResult:
        if self.samples == 0:
            raise UtilityError(
                f"Every one of the {self.failed} sampled coalitions failed; first failures: "
                f"{'; '.join(self.failures)}. Fix the utility (it must return a finite score "
                "for any coalition, including small ones)."
            )
        if self.failed:
            warnings.warn(
                f"{self.failed} of {self.failed + self.samples} samples were dropped because the "
                f"utility failed ({'; '.join(self.failures[:2])}). See ValuationResult.failures.",
                RuntimeWarning, stacklevel=3,
            )
        if scalar:
            values, stderr = values[:, 0], stderr[:, 0]
        return ValuationResult(
            values=values, stderr=stderr, counts=counts, method=method, n_samples=self.samples,
            n_evaluations=self.evaluations, n_failed=self.failed, failures=tuple(self.failures),
            converged=self.decision.converged, topk_overlap=self.overlap,
            elapsed_s=time.perf_counter() - self.t0,
            players=None if players is None else np.asarray(players),
            stopped_by=self.decision.reason,
        )


class _Welford:
    """Running mean and variance per player and task, updated a batch at a time (Chan et al.)."""

    def __init__(self, n: int, n_tasks: int) -> None:
        self.count = 0
        self.mean = np.zeros((n, n_tasks))
        self.m2 = np.zeros((n, n_tasks))

    def add(self, batch: np.ndarray) -> None:  # batch: (b, n, T)
        b = batch.shape[0]
        if b == 0:
            return
        bmean = batch.mean(axis=0)
        bm2 = ((batch - bmean) ** 2).sum(axis=0)
        total = self.count + b
        delta = bmean - self.mean
        self.mean = self.mean + delta * (b / total)
        self.m2 = self.m2 + bm2 + delta**2 * (self.count * b / total)
        self.count = total

    def estimate(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = self.mean.shape[0]
        if self.count < 2:
            se = np.full_like(self.mean, np.nan)
        else:
            se = np.sqrt(self.m2 / (self.count - 1) / self.count)
        return self.mean.copy(), se, np.full(n, self.count)


class _MsrState:
    """Sums of scores with and without each player (shifted by the first score for accuracy)."""

    def __init__(self, n: int, n_tasks: int) -> None:
        self.shift: np.ndarray | None = None
        self.cnt = np.zeros((2, n))
        self.sum = np.zeros((2, n, n_tasks))
        self.sq = np.zeros((2, n, n_tasks))

    def add(self, masks: np.ndarray, scores: np.ndarray) -> None:  # (b, n) bool, (b, T)
        if masks.shape[0] == 0:
            return
        if self.shift is None:
            self.shift = scores[0].copy()
        s = scores - self.shift
        for side, m in enumerate((masks, ~masks)):
            mf = m.astype(np.float64)
            self.cnt[side] += mf.sum(axis=0)
            self.sum[side] += mf.T @ s
            self.sq[side] += mf.T @ (s * s)

    def estimate(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cnt = self.cnt[:, :, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = self.sum / cnt
            var = np.maximum(self.sq - cnt * mean**2, 0.0) / (cnt - 1)
            values = mean[0] - mean[1]
            se = np.sqrt(var[0] / cnt[0] + var[1] / cnt[1])
        counts = self.cnt.min(axis=0).astype(np.int64)
        values = np.where((counts >= 1)[:, None], values, np.nan)
        se = np.where((counts >= 2)[:, None], se, np.nan)
        return values, se, counts


def _run_permutations(
    utility: Any, n: int, players: Any, ratio: np.ndarray, method: str, *,
    truncation_rtol: float | None, budget: _Budget, n_jobs: int | None, on_error: str,
    random_state: Any,
) -> ValuationResult:
    from joblib import Parallel, delayed

    owner = method.split("(")[0].replace("-", "_")
    on_error = check_choice("on_error", on_error, _ON_ERROR, owner=owner)
    if truncation_rtol is not None and not (
        isinstance(truncation_rtol, int | float) and truncation_rtol >= 0
    ):
        raise InvalidParameterError("truncation_rtol", "a float >= 0 or None", truncation_rtol,
                                    owner=owner)
    rng = check_random_state(random_state)
    t0 = time.perf_counter()
    tracker = _Tracker(on_error, budget, t0)
    u_empty, scalar = _checked_call(utility, np.arange(0), "the empty coalition")
    tracker.evaluations += 1
    u_full = None
    if truncation_rtol is not None:
        u_full, _ = _checked_call(utility, np.arange(n), "the full coalition")
        tracker.evaluations += 1
    stats = _Welford(n, u_empty.size)
    with Parallel(n_jobs=n_jobs) as parallel:
        while True:
            perms = [rng.permutation(n) for _ in range(tracker.next_batch())]
            outs = parallel(
                delayed(_permutation_marginals)(utility, p, ratio, truncation_rtol, u_empty, u_full)
                for p in perms
            )
            good = []
            for marg, evals, why in outs:
                tracker.evaluations += evals
                if marg is None:
                    tracker.fail(why)
                else:
                    good.append(marg)
                    tracker.samples += 1
            if good:
                stats.add(np.stack(good))
            values, stderr, counts = stats.estimate()
            if tracker.check(values, stderr, counts):
                break
    return tracker.result(values, stderr, counts, method, players, scalar=scalar)


def _checked_call(utility: Any, idx: np.ndarray, what: str) -> tuple[np.ndarray, bool]:
    """Evaluate once in this process; return the scores as 1-d and whether the utility is scalar."""
    try:
        raw = np.asarray(utility(idx), dtype=np.float64)
    except Exception as exc:  # noqa: BLE001 - re-raised with context
        raise UtilityError(
            f"The utility failed on {what}: {type(exc).__name__}: {exc}. It must return a finite "
            "score for every coalition (ModelUtility scores the empty coalition as empty_score)."
        ) from exc
    if not np.all(np.isfinite(raw)):
        raise UtilityError(
            f"The utility returned {raw.tolist()!r} on {what}; it must return a finite score for "
            "every coalition (ModelUtility scores the empty coalition as empty_score)."
        )
    return np.atleast_1d(raw), raw.ndim == 0
