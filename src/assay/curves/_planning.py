"""Plans read off learning curves: samples for a target, per-class budgets, clean or collect."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from assay._validation import check_choice, check_int, check_random_state
from assay.curves._fit import LearningCurveFit, SampleRequirement, fit_learning_curve
from assay.curves._learning_curve import learning_curve, per_class_curves
from assay.curves._quality import check_curve_quality
from assay.exceptions import CurveWarning, InputValidationError, InvalidParameterError

OBJECTIVES = ("balanced_accuracy", "worst_class")
#: Smallest predicted recall gain per collected row a plan pays for (0.01 per 1,000 rows).
MIN_GAIN = 1e-5
#: Held-out rows below which a class's recall is too coarse to plan on alone.
MIN_EVAL_ROWS = 20
#: Quantile of a class's recall (given its held-out rows) the worst-class objective plans on.
_WORST_QUANTILE = 0.1


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
        The output of :func:`learning_curve` (columns ``n_train`` and ``metric``; its
        ``<metric>_se`` column, when present, widens the intervals by the evaluation split's
        error, see ``fit_learning_curve(score_se=...)``).
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
    se = curve[f"{metric}_se"] if f"{metric}_se" in curve.columns else None
    fit = fit_learning_curve(curve["n_train"], curve[metric], family=family, kind=kind,
                             n_bootstrap=n_bootstrap, score_se=se, random_state=random_state)
    return fit, fit.samples_for(target, conservative=conservative)


def _fit_recall(n: np.ndarray, r: np.ndarray, *, family: str, n_bootstrap: int,
                random_state: Any) -> LearningCurveFit | FlatCurve:
    """Fit recall against a training count; a curve that does not change is a FlatCurve."""
    flat = np.unique(n).size < 4 or check_curve_quality(n, np.maximum(1 - r, 1e-6)).constant
    if flat:
        return FlatCurve(float(np.mean(r)))
    return fit_learning_curve(n, r, family=family, kind="accuracy", n_bootstrap=n_bootstrap,
                              random_state=random_state)


def fit_per_class_curves(
    curve: pd.DataFrame, *, family: str = "auto", n_bootstrap: int = 0, random_state: Any = 0
) -> dict[str, LearningCurveFit | FlatCurve]:
    """Fit each class's recall against its own training count.

    A class whose recall does not change with its count (often 1.0 for an easy class) gets a
    :class:`FlatCurve` instead of a fit.

    Parameters
    ----------
    curve : pandas.DataFrame
        The output of :func:`learning_curve` (columns ``recall[<class>]``, ``n_train[<class>]``).
    family, n_bootstrap, random_state
        As in :func:`fit_learning_curve`.

    Returns
    -------
    dict of str to LearningCurveFit or FlatCurve

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
        fits[str(name)] = _fit_recall(part["n_class"].to_numpy(float),
                                      part["recall"].to_numpy(float), family=family,
                                      n_bootstrap=n_bootstrap, random_state=rng)
    return fits


def fit_pooled_class_curve(
    curve: pd.DataFrame, *, family: str = "pow3", n_bootstrap: int = 0, random_state: Any = 0
) -> LearningCurveFit | FlatCurve:
    """Fit one recall curve to every class's points together: how a typical class grows.

    Each class contributes its ``(own training count, recall)`` points, so the small sizes of
    the large classes tell how recall grows at counts where the small classes sit.
    :func:`allocate_budget` (``pooled=``) lends its shape to a class with few evaluation rows.

    Parameters
    ----------
    curve : pandas.DataFrame
        The output of :func:`learning_curve` (columns ``recall[<class>]``, ``n_train[<class>]``).
    family : str, default="pow3"
        As in :func:`fit_learning_curve`. The default power law with floor has an error that
        grows without bound as ``n`` shrinks, so a class at any error above the floor can be
        placed on it; a bounded family (``logistic``, ``exp3``) cannot place a class that is
        worse than the pooled curve ever is, and would predict it never improves.
    n_bootstrap, random_state
        As in :func:`fit_learning_curve`.

    Returns
    -------
    LearningCurveFit or FlatCurve

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from assay.curves import fit_pooled_class_curve
    >>> n = np.array([10, 20, 40, 80, 160])
    >>> curve = pd.DataFrame({"n_train": 3 * n, "seed": 0,
    ...                       "recall[a]": 1 - n**-0.5, "n_train[a]": n,
    ...                       "recall[b]": 1 - (2 * n) ** -0.5, "n_train[b]": 2 * n})
    >>> pooled = fit_pooled_class_curve(curve, family="pow2")
    >>> round(float(pooled.predict(1_000)), 4)   # both lie on 1 - n^-0.5
    0.9684
    """
    long = per_class_curves(curve)
    part = long[np.isfinite(long["recall"]) & (long["n_class"] > 0)]
    if part.empty:
        raise InputValidationError(
            "The curve has no finite per-class recall with a training count above 0, so no "
            "pooled curve can be fitted. Pass the DataFrame returned by "
            "assay.curves.learning_curve, measured with every class in the evaluation split."
        )
    return _fit_recall(part["n_class"].to_numpy(float), part["recall"].to_numpy(float),
                       family=family, n_bootstrap=n_bootstrap,
                       random_state=check_random_state(random_state))


def eval_support_warning(eval_support: Mapping[str, int], *, min_eval_rows: int = MIN_EVAL_ROWS
                         ) -> str | None:
    """The warning for classes whose recall is measured on fewer than ``min_eval_rows`` rows.

    Recall measured on ``s`` held-out rows moves in steps of ``1 / s`` (and its binomial
    standard error is up to ``0.5 / sqrt(s)``), so a per-class curve from a handful of
    evaluation rows is mostly noise.

    Parameters
    ----------
    eval_support : mapping of class name to int
        Held-out evaluation rows of each class (the rows its recall was measured on).
    min_eval_rows : int, default=20

    Returns
    -------
    str or None
        The sentence to show, or ``None`` when every class has enough rows.

    Examples
    --------
    >>> from assay.curves import eval_support_warning
    >>> print(eval_support_warning({"cat": 40, "dog": 4}))  # doctest: +NORMALIZE_WHITESPACE
    Recall of class 'dog' (4 held-out rows) is measured on fewer than 20 held-out rows, in
    steps of 1/rows (0.25 at 4 rows), so its own learning curve is too coarse to plan on
    alone. Collect more rows of it, or evaluate on a larger split.
    >>> eval_support_warning({"cat": 40}) is None
    True
    """
    min_eval_rows = check_int("min_eval_rows", min_eval_rows, low=1, owner="eval_support_warning")
    few = {str(k): int(v) for k, v in eval_support.items() if int(v) < min_eval_rows}
    if not few:
        return None
    named = ", ".join(f"'{k}' ({v} held-out rows)" if i == 0 else f"'{k}' ({v})"
                      for i, (k, v) in enumerate(few.items()))
    low = min(few.values())
    step = f"{1 / low:.2g} at {low} rows" if low > 0 else "no rows at all"
    one = len(few) == 1
    return (
        f"Recall of class{'' if one else 'es'} {named} is measured on fewer than "
        f"{min_eval_rows} held-out rows, in steps of 1/rows ({step}), so {'its' if one else 'their'}"
        f" own learning curve{'' if one else 's'} {'is' if one else 'are'} too coarse to plan on "
        f"alone. Collect more rows of {'it' if one else 'them'}, or evaluate on a larger split."
    )


@dataclass(frozen=True)
class _Borrowed:
    """``w * own(n) + (1 - w) * pooled(scale * n)``: a class's curve with the pooled shape.

    ``pooled(scale * n)`` is the pooled curve moved along ``n`` (a data multiplier ``scale``)
    to pass through the class's own recall at its current count.
    """

    own: Any
    pooled: Any
    weight: float
    scale: float

    def predict(self, n: Any) -> Any:
        n = np.asarray(n, float)
        return (self.weight * np.asarray(self.own.predict(n), float)
                + (1 - self.weight) * np.asarray(self.pooled.predict(self.scale * n), float))


def _pooled_scale(pooled: Any, level: float, n_now: float) -> float:
    """Data multiplier ``m`` with ``pooled(m * n_now) = level`` (bisection in log n).

    A level at or above everything the pooled curve reaches gives a huge ``m`` (the pooled part
    is then flat at its ceiling); one below its smallest value a tiny ``m``.
    """
    lo, hi = -12.0, 12.0  # log10 of n
    for _ in range(80):
        mid = (lo + hi) / 2
        if float(pooled.predict(10.0**mid)) < level:
            lo = mid
        else:
            hi = mid
    return 10.0 ** ((lo + hi) / 2) / max(n_now, 1.0)


def _check_mapping(name: str, value: Any, names: list[str], what: str) -> dict[str, int]:
    if not isinstance(value, Mapping):
        raise InvalidParameterError(name, f"a mapping of class name to {what}", type(value),
                                    owner="allocate_budget")
    missing = [k for k in names if k not in value]
    if missing:
        raise InputValidationError(
            f"{name} has no entry for class(es) {missing}; give the {what} of every class that "
            "has a curve."
        )
    out = {}
    for k in names:
        v = value[k]
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 0:
            raise InputValidationError(
                f"{name}[{k!r}] must be a count (an int >= 0); got {v!r}. Give the {what} of "
                "each class."
            )
        out[k] = int(v)
    return out


def allocate_budget(
    fits: Mapping[str, Any],
    counts: Mapping[str, int],
    budget: int,
    *,
    objective: str = "balanced_accuracy",
    step: int | None = None,
    min_per_class: int = 0,
    min_gain: float = MIN_GAIN,
    eval_support: Mapping[str, int] | None = None,
    pooled: Any = None,
    min_eval_rows: int = MIN_EVAL_ROWS,
) -> pd.DataFrame:
    """Split a collection budget across classes using each class's fitted recall curve.

    First every class is topped up to ``min_per_class`` training rows. The rest goes greedily
    in chunks of ``step`` rows: ``"balanced_accuracy"`` gives each chunk to the class whose
    predicted recall gains most (optimal for concave curves, as a power law with floor is);
    ``"worst_class"`` gives it to the class with the lowest predicted recall among those that
    can still improve (water-filling: optimal for the maximin objective; a class that cannot
    improve is skipped, so the budget then lifts the next-lowest classes).

    A chunk counts only if it buys a meaningful gain: at least ``min_gain`` recall per
    collected row (``min_gain * step`` per chunk). A class whose curve has flattened (a fitted
    ceiling reached) gets nothing, and when no class can improve the rest of the budget is
    left unallocated (``attrs["unallocated"]``, with the reason) rather than spent.

    With ``eval_support`` and ``pooled``, a class measured on ``s`` held-out rows is planned
    on ``w * own(n) + (1 - w) * pooled(m * n)`` with ``w = s / (s + min_eval_rows)``: its own
    fit, weighted by the evidence behind it, and the pooled curve of all classes
    (:func:`fit_pooled_class_curve`) moved along ``n`` by a data multiplier ``m`` so that it
    passes through the class's own recall now, smoothed as a binomial proportion
    (Jeffreys: ``(hits + 1/2) / (s + 1)``; for ``"worst_class"`` the 10 % quantile of that
    posterior, because the lowest of several uncertain recalls is lower than the lowest of
    their means, so a class measured 4 of 4 may still be the worst). The class keeps its
    level (the pooled curve's level is biased for a rare class, which a long-tailed model
    under-predicts at any count); what it borrows is how recall grows with data. A class with
    ``min_eval_rows`` rows is planned half on each; classes below it raise a
    :class:`~assay.exceptions.CurveWarning`.

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
        Chunk size; default ``max(1, b // 500)`` for the ``b`` rows left after the top-ups.
    min_per_class : int, default=0
        Training rows every class ends with at least (current plus collected).
    min_gain : float, default=1e-5
        Smallest predicted recall gain per collected row worth paying for (1e-5: 0.01 recall
        per 1,000 rows). ``0`` spends on any positive gain.
    eval_support : mapping of class name to int, optional
        Held-out evaluation rows each class's recall was measured on. Enables the warning and,
        with ``pooled``, the borrowed shape.
    pooled : fitted curve, optional
        The all-class curve whose shape few-row classes borrow (:func:`fit_pooled_class_curve`);
        needs ``eval_support``.
    min_eval_rows : int, default=20
        Evaluation rows below which a class is warned about (and planned more on the pooled
        shape than on its own fit).

    Returns
    -------
    pandas.DataFrame
        One row per class: ``class``, ``current``, ``collect``, ``total``, ``recall_now``,
        ``recall_after`` (both predicted by the curves the plan used), with ``eval_support``
        also ``eval_rows`` and ``own_weight``, and ``note`` (why a class got what it got);
        sorted by ``collect`` descending. ``df.attrs`` holds ``objective``,
        ``predicted_before`` and ``predicted_after``, ``budget``, ``allocated``,
        ``unallocated`` and ``unallocated_reason``, ``saturated`` and ``uncertain`` (class
        lists), ``rule`` (how few-row classes were planned), ``notes`` and ``warnings``
        (sentences), and the options used.

    Examples
    --------
    >>> from assay.curves import allocate_budget
    >>> class Curve:
    ...     def __init__(self, a): self.a = a
    ...     def predict(self, n): return 1 - self.a / (n + 1) ** 0.5
    >>> plan = allocate_budget({"x": Curve(1.0), "y": Curve(3.0)}, {"x": 100, "y": 100}, 300)
    >>> plan.set_index("class")["collect"].to_dict()
    {'y': 238, 'x': 62}

    A class that has reached its ceiling gets nothing, and what no class can use is left over:

    >>> class Flat:
    ...     def predict(self, n): return 0.8 + 0 * n
    >>> plan = allocate_budget({"x": Flat()}, {"x": 100}, 50, objective="worst_class")
    >>> plan.attrs["unallocated"], plan.loc[0, "note"]
    (50, 'saturated')
    """
    owner = "allocate_budget"
    objective = check_choice("objective", objective, OBJECTIVES, owner=owner)
    budget = check_int("budget", budget, low=0, owner=owner)
    min_per_class = check_int("min_per_class", min_per_class, low=0, owner=owner)
    min_eval_rows = check_int("min_eval_rows", min_eval_rows, low=1, owner=owner)
    if isinstance(min_gain, bool) or not isinstance(min_gain, int | float | np.number) or not (
            math.isfinite(float(min_gain)) and min_gain >= 0):
        raise InvalidParameterError("min_gain", "a finite number >= 0 (recall per collected row)",
                                    min_gain, owner=owner)
    min_gain = float(min_gain)
    names = [str(k) for k in fits]
    fits = {str(k): v for k, v in fits.items()}
    current_map = _check_mapping("counts", {str(k): v for k, v in counts.items()}, names,
                                 "current training count")
    support = None
    if eval_support is not None:
        support = _check_mapping("eval_support", {str(k): v for k, v in eval_support.items()},
                                 names, "held-out evaluation rows")
    if pooled is not None and not hasattr(pooled, "predict"):
        raise InvalidParameterError("pooled", "a fitted curve with predict(n) (see "
                                    "fit_pooled_class_curve)", type(pooled), owner=owner)
    if pooled is not None and support is None:
        raise InputValidationError(
            "allocate_budget got pooled= but no eval_support=: the weight of each class's own "
            "curve is rows / (rows + min_eval_rows), so the held-out evaluation rows of every "
            "class are needed. Pass eval_support (np.bincount of the evaluation labels per class)."
        )
    current = np.array([current_map[k] for k in names], dtype=np.int64)
    top_up = np.maximum(min_per_class - current, 0)
    if top_up.sum() > budget:
        short = ", ".join(f"'{k}' ({c} rows)" for k, c, t in zip(names, current, top_up,
                                                                 strict=True) if t > 0)
        raise InputValidationError(
            f"min_per_class={min_per_class} needs {int(top_up.sum())} new rows to top up {short}, "
            f"but the budget is {budget}. Raise the budget to at least {int(top_up.sum())}, or "
            "lower min_per_class."
        )

    # The curves the plan uses, and why.
    weights = np.ones(len(names))
    uncertain: list[str] = []
    warn: list[str] = []
    rule = "own curves"
    curves = [fits[k] for k in names]
    if support is not None:
        s = np.array([support[k] for k in names], dtype=float)
        uncertain = [k for k, v in zip(names, s, strict=True) if v < min_eval_rows]
        if pooled is not None:
            from scipy.stats import beta

            weights = s / (s + min_eval_rows)
            for i, k in enumerate(names):
                # Anchor: the class's recall now as a binomial proportion measured on s rows,
                # under Jeffreys' prior: its posterior mean (hits + 1/2) / (s + 1) for a sum of
                # recalls (4 of 4 reads 0.9, not 1), its 10 % quantile for the worst class (the
                # minimum of uncertain recalls is lower than the minimum of their means).
                r = float(np.clip(fits[k].predict(float(max(current[i], 1))), 0.0, 1.0))
                hits, misses = r * s[i] + 0.5, (1 - r) * s[i] + 0.5
                level = (hits / (hits + misses) if objective == "balanced_accuracy"
                         else float(beta.ppf(_WORST_QUANTILE, hits, misses)))
                scale = _pooled_scale(pooled, level, float(current[i]))
                curves[i] = _Borrowed(fits[k], pooled, float(weights[i]), scale)
            rule = (f"each class's own curve weighted rows / (rows + {min_eval_rows}); the rest "
                    "the pooled curve of all classes moved along n to pass through the "
                    "class's own recall")
        message = eval_support_warning({k: support[k] for k in uncertain},
                                       min_eval_rows=min_eval_rows)
        if message is not None:
            message += (f" The plan weighs each class's own curve by rows / (rows + "
                        f"{min_eval_rows}) and, for the rest, follows the pooled curve of all "
                        "classes from the class's own recall." if pooled is not None else
                        " The plan uses their own curves as measured; pass pooled= "
                        "(fit_pooled_class_curve) to borrow the pooled curve's shape.")
            warn.append(message)
            warnings.warn(CurveWarning(message, {k: support[k] for k in uncertain}),
                          stacklevel=2)

    # Top up, then spend the rest greedily on meaningful gains.
    start = current + top_up
    rest = budget - int(top_up.sum())
    step = max(1, rest // 500) if step is None else check_int("step", step, low=1, owner=owner)
    n_steps = rest // step
    grid = start[:, None] + step * np.arange(n_steps + 1)[None, :]
    table = _predict(curves, grid)
    alloc = _greedy(table, n_steps, objective, min_gain=min_gain * step)
    extra = top_up + alloc * step
    left = rest - int(alloc.sum()) * step
    if 0 < left < step and alloc.sum() == n_steps:  # the remainder below one chunk
        base = start + alloc * step
        pair = _predict(curves, np.stack([base, base + left], axis=1))
        pick = _greedy(pair, 1, objective, min_gain=min_gain * left)
        extra = extra + pick * left
        left -= int(pick.sum()) * left
    probe = _predict(curves, np.stack([start, start + step], axis=1))
    flat = (probe[:, 1] - probe[:, 0]) < max(min_gain * step, 1e-12)
    saturated = [k for k, f in zip(names, flat, strict=True) if f]

    total = current + extra
    now = _predict(curves, current[:, None])[:, 0]
    after = _predict(curves, total[:, None])[:, 0]
    nxt = _predict(curves, (total + step)[:, None])[:, 0]
    stuck = (nxt - after) < max(min_gain * step, 1e-12)
    notes_col = []
    for i, k in enumerate(names):
        parts = []
        if top_up[i]:
            parts.append(f"topped up to {min_per_class}")
        if flat[i]:
            parts.append("saturated")
        if k in uncertain:
            parts.append(f"own curve {weights[i]:.0%}" if pooled is not None
                         else "few eval rows")
        notes_col.append("; ".join(parts))
    out = pd.DataFrame({"class": names, "current": current, "collect": extra, "total": total,
                        "recall_now": now, "recall_after": after})
    if support is not None:
        out["eval_rows"] = [support[k] for k in names]
        out["own_weight"] = weights
    out["note"] = notes_col
    out = out.sort_values("collect", ascending=False, kind="stable").reset_index(drop=True)

    agg = np.mean if objective == "balanced_accuracy" else np.min
    notes: list[str] = []
    reason = None
    if left > 0:
        if alloc.sum() < n_steps or left >= step:
            reason = (
                f"{left:,} of {budget:,} rows left unallocated: no class is predicted to gain at "
                f"least {min_gain:g} recall per collected row (checked in chunks of {step}). "
                "Collecting them is not predicted to help; collect the plan, re-measure the "
                "curve and plan again (or lower min_gain)."
            )
        else:
            reason = (f"{left} row(s) left unallocated: below one chunk of {step} and no class "
                      f"gains {min_gain:g} recall per row from them.")
        notes.append(reason)
    if objective == "worst_class" and pooled is not None and uncertain:
        notes.append(
            f"Classes with fewer than {min_eval_rows} evaluation rows are planned from the low "
            f"end (the {_WORST_QUANTILE:.0%} quantile) of their measured recall, so recall_now "
            "and recall_after are cautious for them."
        )
    if objective == "worst_class" and len(names):
        low = int(np.argmin(after))
        if stuck[low]:
            notes.append(
                f"Class '{names[low]}' is predicted to stay at {after[low]:.4f} however many rows "
                "are collected (its curve has flattened): collecting cannot raise the worst-class "
                "recall" + (", so the budget went to the next-lowest classes that can still "
                            "improve." if alloc.sum() else ".")
            )
    out.attrs.update({
        "objective": objective,
        "predicted_before": float(agg(now)) if len(names) else math.nan,
        "predicted_after": float(agg(after)) if len(names) else math.nan,
        "budget": budget,
        "allocated": int(extra.sum()),
        "unallocated": int(left),
        "unallocated_reason": reason,
        "saturated": saturated,
        "uncertain": uncertain,
        "rule": rule,
        "notes": notes,
        "warnings": warn,
        "min_per_class": min_per_class,
        "min_gain": min_gain,
        "min_eval_rows": min_eval_rows,
        "step": step,
    })
    return out


def _predict(curves: list[Any], grid: np.ndarray) -> np.ndarray:
    """``out[k, j]`` = recall curve ``k`` predicts at ``grid[k, j]`` rows (at least 1)."""
    return np.vstack([np.asarray(c.predict(np.maximum(grid[i], 1).astype(float)), float)
                      .reshape(-1) for i, c in enumerate(curves)]) if curves else \
        np.zeros((0, grid.shape[1]))


def _greedy(table: np.ndarray, n_steps: int, objective: str, *, min_gain: float = 0.0
            ) -> np.ndarray:
    """Chunks per class chosen greedily from ``table[k, j]`` = value of class k with j chunks.

    A chunk is given only where it gains more than 0 and at least ``min_gain``; when no class
    has such a chunk the rest is not given (the returned counts sum to less than ``n_steps``).
    """
    k = table.shape[0]
    alloc = np.zeros(k, dtype=np.int64)
    rows = np.arange(k)
    for _ in range(n_steps):
        nxt = np.minimum(alloc + 1, table.shape[1] - 1)
        gain = table[rows, nxt] - table[rows, alloc]
        ok = (gain > 0) & (gain >= min_gain)
        if not ok.any():
            break
        if objective == "balanced_accuracy":
            pick = int(np.argmax(np.where(ok, gain, -np.inf)))
        else:
            pick = int(np.argmin(np.where(ok, table[rows, alloc], np.inf)))
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
