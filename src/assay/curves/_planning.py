"""Plans read off learning curves: samples for a target, per-class budgets, clean or collect."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from assay._validation import check_choice, check_int, check_random_state
from assay.curves._fit import LearningCurveFit, SampleRequirement, fit_learning_curve
from assay.curves._learning_curve import learning_curve, per_class_curves
from assay.curves._quality import check_curve_quality
from assay.exceptions import InputValidationError, InvalidParameterError

OBJECTIVES = ("balanced_accuracy", "worst_class")


@dataclass(frozen=True)
class FlatCurve:
    """A per-class curve that does not change with ``n``: predicts its mean everywhere."""

    value: float

    def predict(self, n: Any) -> Any:
        out = np.full(np.shape(n), self.value, dtype=float)
        return float(out) if out.ndim == 0 else out

    @property
    def ceiling(self) -> float:
        return self.value

    def to_dict(self) -> dict[str, Any]:
        return {"family": "flat", "params": {"value": self.value}, "ceiling": self.value}


def plan_samples(
    curve: pd.DataFrame,
    target: float,
    *,
    metric: str = "accuracy",
    family: str = "auto",
    conservative: bool = True,
    n_bootstrap: int = 200,
    random_state: Any = 0,
) -> tuple[LearningCurveFit, SampleRequirement]:
    """Fit the curve of ``metric`` and read off the training-set size that reaches ``target``.

    Parameters
    ----------
    curve : pandas.DataFrame
        The output of :func:`learning_curve` (columns ``n_train`` and ``metric``).
    target : float
        Score to reach (a loss to get below for ``metric="log_loss"``).
    metric : str, default="accuracy"
        ``accuracy``, ``balanced_accuracy``, ``macro_f1`` or ``log_loss``.
    family, conservative, n_bootstrap, random_state
        As in :func:`fit_learning_curve` and :meth:`LearningCurveFit.samples_for`.

    Returns
    -------
    (LearningCurveFit, SampleRequirement)

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from assay.curves import plan_samples
    >>> n = np.geomspace(100, 3_000, 6).round()
    >>> curve = pd.DataFrame({"n_train": n, "accuracy": 1 - (2 * n**-0.5 + 0.03)})
    >>> fit, need = plan_samples(curve, 0.95, family="pow3", n_bootstrap=0)
    >>> round(need.n_point)
    10000
    """
    metric = check_choice("metric", metric, ("accuracy", "balanced_accuracy", "macro_f1",
                                               "log_loss"), owner="plan_samples")
    for col in ("n_train", metric):
        if col not in curve.columns:
            raise InputValidationError(
                f"Column '{col}' not found in the curve; columns: {', '.join(curve.columns)}. "
                "Pass the DataFrame returned by assay.curves.learning_curve."
            )
    kind = "loss" if metric == "log_loss" else "accuracy"
    fit = fit_learning_curve(curve["n_train"], curve[metric], family=family, kind=kind,
                             n_bootstrap=n_bootstrap, random_state=random_state)
    return fit, fit.samples_for(target, conservative=conservative)


def fit_per_class_curves(
    curve: pd.DataFrame, *, family: str = "auto", n_bootstrap: int = 0, random_state: Any = 0
) -> dict[str, LearningCurveFit | FlatCurve]:
    """Fit each class's recall against its own training count.

    A class whose recall does not change with its count (often 1.0 for an easy class) gets a
    :class:`FlatCurve` instead of a fit.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from assay.curves import fit_per_class_curves
    >>> n = np.array([10, 20, 40, 80, 160])
    >>> curve = pd.DataFrame({"n_train": 2 * n, "seed": 0, "recall[a]": 1 - n**-0.5,
    ...                       "n_train[a]": n, "recall[b]": 1.0, "n_train[b]": n})
    >>> sorted((k, type(v).__name__) for k, v in fit_per_class_curves(curve).items())
    [('a', 'LearningCurveFit'), ('b', 'FlatCurve')]
    """
    long = per_class_curves(curve)
    fits: dict[str, LearningCurveFit | FlatCurve] = {}
    rng = check_random_state(random_state)
    for name, part in long.groupby("class", sort=False):
        part = part[np.isfinite(part["recall"]) & (part["n_class"] > 0)]
        if part.empty:
            continue
        n = part["n_class"].to_numpy(float)
        r = part["recall"].to_numpy(float)
        flat = np.unique(n).size < 4 or check_curve_quality(n, np.maximum(1 - r, 1e-6)).constant
        if flat:
            fits[str(name)] = FlatCurve(float(np.mean(r)))
        else:
            fits[str(name)] = fit_learning_curve(n, r, family=family, kind="accuracy",
                                                 n_bootstrap=n_bootstrap, random_state=rng)
    return fits


def allocate_budget(
    fits: Mapping[str, Any],
    counts: Mapping[str, int],
    budget: int,
    *,
    objective: str = "balanced_accuracy",
    step: int | None = None,
) -> pd.DataFrame:
    """Split a collection budget across classes using each class's fitted recall curve.

    Greedy in chunks of ``step`` samples: ``"balanced_accuracy"`` gives each chunk to the class
    whose predicted recall gains most (optimal for concave curves, as a power law with floor
    is); ``"worst_class"`` gives it to the class with the lowest predicted recall that can still
    improve (water-filling; optimal for the maximin objective with increasing curves).

    Parameters
    ----------
    fits : mapping of class name to fitted curve
        Anything with ``predict(n)`` returning recall (see :func:`fit_per_class_curves`).
    counts : mapping of class name to int
        Current training rows of each class (same keys as ``fits``).
    budget : int
        New samples to collect in total.
    objective : {"balanced_accuracy", "worst_class"}, default="balanced_accuracy"
    step : int, optional
        Chunk size; default ``max(1, budget // 500)``.

    Returns
    -------
    pandas.DataFrame
        One row per class: ``class``, ``current``, ``collect``, ``total``, ``recall_now``,
        ``recall_after`` (both predicted), sorted by ``collect`` descending. ``df.attrs``
        holds the predicted objective before and after.

    Examples
    --------
    >>> from assay.curves import allocate_budget
    >>> class Curve:
    ...     def __init__(self, a): self.a = a
    ...     def predict(self, n): return 1 - self.a / (n + 1) ** 0.5
    >>> plan = allocate_budget({"x": Curve(1.0), "y": Curve(3.0)}, {"x": 100, "y": 100}, 300)
    >>> plan.set_index("class")["collect"].to_dict()
    {'y': 238, 'x': 62}
    """
    objective = check_choice("objective", objective, OBJECTIVES, owner="allocate_budget")
    budget = check_int("budget", budget, low=0, owner="allocate_budget")
    names = list(fits)
    missing = [k for k in names if k not in counts]
    if missing:
        raise InputValidationError(
            f"counts has no entry for class(es) {missing}; give the current training count of "
            "every class that has a curve."
        )
    step = max(1, budget // 500) if step is None else check_int("step", step, low=1,
                                                                owner="allocate_budget")
    n_steps = budget // step
    current = np.array([int(counts[k]) for k in names], dtype=np.int64)
    grid = current[:, None] + step * np.arange(n_steps + 1)[None, :]
    table = np.vstack([np.asarray(fits[k].predict(np.maximum(grid[i], 1)), float)
                       for i, k in enumerate(names)])
    alloc = _greedy(table, n_steps, objective)
    extra = alloc * step
    rows = np.arange(len(names))
    now, after = table[:, 0], table[rows, alloc]
    out = pd.DataFrame({
        "class": names,
        "current": current,
        "collect": extra,
        "total": current + extra,
        "recall_now": now,
        "recall_after": after,
    }).sort_values("collect", ascending=False, kind="stable").reset_index(drop=True)
    agg = np.mean if objective == "balanced_accuracy" else np.min
    out.attrs["objective"] = objective
    out.attrs["predicted_before"] = float(agg(now))
    out.attrs["predicted_after"] = float(agg(after))
    return out


def _greedy(table: np.ndarray, n_steps: int, objective: str) -> np.ndarray:
    """Chunks per class chosen greedily from ``table[k, j]`` = value of class k with j chunks."""
    k = table.shape[0]
    alloc = np.zeros(k, dtype=np.int64)
    rows = np.arange(k)
    for _ in range(n_steps):
        nxt = np.minimum(alloc + 1, n_steps)
        gain = table[rows, nxt] - table[rows, alloc]
        if objective == "balanced_accuracy":
            pick = int(np.argmax(gain))
        else:
            level = np.where(gain > 0, table[rows, alloc], np.inf)
            pick = int(np.argmin(level)) if np.isfinite(level).any() else int(np.argmax(gain))
        alloc[pick] += 1
    return alloc


def data_multiplier(reference: Any, improved: Any, n: float) -> float:
    """How many times more data the ``reference`` curve needs to match ``improved``.

    ``n / m`` where ``m`` is the size at which ``improved`` reaches the score ``reference``
    predicts at ``n``: the "effective data multiplier" of whatever made ``improved`` better
    (cleaning the labels, say). Above 1 means ``improved`` is worth more per sample.

    Examples
    --------
    >>> import numpy as np
    >>> from assay.curves import fit_learning_curve, data_multiplier
    >>> n = np.geomspace(100, 10_000, 8)
    >>> noisy = fit_learning_curve(n, 1 - 2 * (n / 2) ** -0.5, family="pow2", n_bootstrap=0)
    >>> clean = fit_learning_curve(n, 1 - 2 * n**-0.5, family="pow2", n_bootstrap=0)
    >>> round(data_multiplier(noisy, clean, 10_000), 6)
    2.0
    """
    score = float(reference.predict(float(n)))
    need = improved.samples_for(score, conservative=False).n_point
    return float(n / need) if need > 0 else math.inf


@dataclass(frozen=True)
class RelabelOrCollect:
    """Curves of the data as it is and cleaned, and what cleaning is worth in data.

    Attributes
    ----------
    curve_as_is, curve_clean : pandas.DataFrame
        The learning curves (:func:`learning_curve` output) on the same evaluation rows.
    fit_as_is, fit_clean : LearningCurveFit
    n_as_is, n_clean : int
        Training rows available as is and after cleaning.
    n_flagged : int
        Training rows the audit flagged (rows to review when cleaning).
    multiplier : float
        Effective data multiplier of cleaning: how many times more as-is rows give the score
        the cleaned curve reaches (at the as-is data's full size).
    extra_to_match : float
        As-is rows to collect to reach the cleaned data's full-size score (``inf`` when beyond
        the as-is ceiling).
    break_even_cost_ratio : float
        Cleaning wins when reviewing one flagged row costs less than this many times the cost
        of collecting (and labelling) one new row: ``extra_to_match / n_flagged``.
    metric : str
    """

    curve_as_is: pd.DataFrame
    curve_clean: pd.DataFrame
    fit_as_is: LearningCurveFit
    fit_clean: LearningCurveFit
    n_as_is: int
    n_clean: int
    n_flagged: int
    multiplier: float
    extra_to_match: float
    break_even_cost_ratio: float
    metric: str

    def summary(self) -> dict[str, Any]:
        """Plain-Python summary with the sentence a report shows."""
        def f(v: float) -> float | None:
            return None if not math.isfinite(v) else float(v)

        s_raw = float(self.fit_as_is.predict(self.n_as_is))
        s_clean = float(self.fit_clean.predict(self.n_clean))
        if math.isfinite(self.break_even_cost_ratio):
            verdict = (
                f"Cleaning wins while reviewing a flagged row costs less than "
                f"{self.break_even_cost_ratio:.2f}x collecting a new one."
            )
        else:
            verdict = (
                "Collecting more data as is is not predicted to reach the cleaned score "
                f"({s_clean:.4f} > as-is ceiling {self.fit_as_is.ceiling:.4f}): clean."
            )
        return {
            "metric": self.metric,
            "score_as_is": s_raw,
            "score_clean": s_clean,
            "n_as_is": self.n_as_is,
            "n_clean": self.n_clean,
            "n_flagged": self.n_flagged,
            "multiplier": f(self.multiplier),
            "extra_to_match": f(self.extra_to_match),
            "break_even_cost_ratio": f(self.break_even_cost_ratio),
            "message": (
                f"Cleaned labels are worth {self.multiplier:.2f}x as much data as the labels "
                f"as they are. {verdict}"
            ),
        }


def relabel_or_collect(
    X: Any,
    y: Any,
    issues: Any,
    *,
    suggested: Any = None,
    estimator: Any = None,
    sizes: Any = None,
    n_seeds: int = 3,
    test_size: float = 0.2,
    metric: str = "accuracy",
    n_bootstrap: int = 50,
    random_state: Any = 0,
    n_jobs: int | None = None,
) -> RelabelOrCollect:
    """Compare learning curves on the labels as they are and with suspected errors cleaned.

    One stratified evaluation split is held out; its flagged rows are dropped (or relabelled
    with ``suggested``) so both curves are scored against the cleaned evaluation labels. The
    training pool is used as is for one curve and cleaned the same way for the other.

    Parameters
    ----------
    X : array-like of shape (N, d)
    y : array-like of shape (N,)
        Class indices ``0..K-1`` as given.
    issues : array-like of shape (N,), bool
        Rows whose label is suspect (e.g. ``assay.labels.find_label_issues``).
    suggested : array-like of shape (N,), optional
        Replacement labels (e.g. ``assay.labels.suggest_labels``): flagged rows are relabelled
        instead of removed.
    estimator, sizes, n_seeds, test_size, random_state, n_jobs
        As in :func:`learning_curve` (``sizes`` as fractions applies to both pools).
    metric : str, default="accuracy"
        The score compared (any higher-is-better column of the curve).
    n_bootstrap : int, default=50
        Bootstrap resamples of each fit (intervals on the plot; the multiplier uses the fits).

    Returns
    -------
    RelabelOrCollect

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from assay.curves import relabel_or_collect
    >>> X, y = load_digits(return_X_y=True)
    >>> rng = np.random.default_rng(0)
    >>> noisy = y.copy(); flip = rng.random(y.size) < 0.2
    >>> noisy[flip] = rng.integers(0, 10, flip.sum())
    >>> res = relabel_or_collect(X, noisy, flip, sizes=[0.1, 0.2, 0.4, 0.7, 1.0], n_seeds=1)
    >>> res.multiplier > 1
    True
    """
    from assay._validation import check_1d, check_labels, check_same_length

    metric = check_choice("metric", metric, ("accuracy", "balanced_accuracy", "macro_f1"),
                          owner="relabel_or_collect")
    labels = check_labels(y, name="y")
    flags = check_1d("issues", issues)
    if flags.dtype != bool:
        raise InputValidationError(
            f"issues must be a boolean mask (True = suspect label); got dtype {flags.dtype}."
        )
    check_same_length(y=labels, issues=flags)
    fixed = labels.copy()
    if suggested is not None:
        sugg = check_labels(suggested, name="suggested", min_classes=1)
        check_same_length(y=labels, suggested=sugg)
        fixed[flags] = sugg[flags]
    if not (isinstance(test_size, float) and 0.0 < test_size < 1.0):
        raise InvalidParameterError("test_size", "a float in (0, 1)", test_size,
                                    owner="relabel_or_collect")
    rng = check_random_state(random_state)
    features = np.asarray(X)
    from sklearn.model_selection import train_test_split

    pool, held = train_test_split(np.arange(labels.size), test_size=test_size, stratify=labels,
                                  random_state=int(rng.integers(2**31 - 1)))
    if suggested is None:
        held = held[~flags[held]]
        clean_pool = pool[~flags[pool]]
    else:
        clean_pool = pool
    eval_set = (features[held], fixed[held])
    seed = int(rng.integers(2**31 - 1))
    common = dict(estimator=estimator, n_seeds=n_seeds, eval_set=eval_set, random_state=seed,
                  n_jobs=n_jobs)
    if sizes is None:
        sizes = np.geomspace(0.05, 1.0, 8)
    as_is = learning_curve(features[pool], labels[pool], sizes=sizes, **common)
    clean = learning_curve(features[clean_pool], fixed[clean_pool], sizes=sizes, **common)
    fit_raw = fit_learning_curve(as_is["n_train"], as_is[metric], n_bootstrap=n_bootstrap,
                                 random_state=seed)
    fit_clean = fit_learning_curve(clean["n_train"], clean[metric], n_bootstrap=n_bootstrap,
                                   random_state=seed)
    n_raw, n_clean = int(pool.size), int(clean_pool.size)
    mult = data_multiplier(fit_raw, fit_clean, n_raw)
    s_clean = float(fit_clean.predict(n_clean))
    need = fit_raw.samples_for(min(s_clean, 1.0), conservative=False).n_point
    extra = max(need - n_raw, 0.0) if math.isfinite(need) else math.inf
    n_flagged = int(flags[pool].sum())
    ratio = extra / n_flagged if n_flagged else math.inf
    return RelabelOrCollect(
        curve_as_is=as_is, curve_clean=clean, fit_as_is=fit_raw, fit_clean=fit_clean,
        n_as_is=n_raw, n_clean=n_clean, n_flagged=n_flagged, multiplier=mult,
        extra_to_match=extra, break_even_cost_ratio=ratio, metric=metric,
    )
