"""Agreement coefficients on a ``(coders, units)`` reliability matrix.

Conventions shared by every function here:

* ``reliability_data`` is a ``(coders, units)`` matrix (array or DataFrame) with ``NaN`` /
  ``None`` for a missing rating. Missing ratings are dropped, never counted as a category.
  Build one from a long table with :func:`assay.agreement.to_reliability_data`.
* The *scale* is the sorted set of observed categories, unless ``categories=`` gives it (in scale
  order). This matters for weighted kappa / AC2 (weights are on category *positions* in the scale,
  so an unused category between two used ones widens the distances) and for the number of
  categories ``q`` in Gwet's AC1 and Brennan-Prediger.
* Units with a single rating carry no agreement information: they are left out of observed
  agreement and of Krippendorff's coincidences, but (as in Gwet 2014) they count in the category
  shares of Fleiss' and Gwet's chance agreement and in each coder's marginals for Conger's kappa.
* **Undefined agreement.** A chance-corrected coefficient ``(p_a - p_e) / (1 - p_e)`` is undefined
  when chance agreement ``p_e`` is 1, and Krippendorff's alpha is undefined when expected
  disagreement is 0. Both happen when every rating is the same category. assay returns ``nan``
  there (never an error, never a made-up 0 or 1); :func:`percent_agreement` is still defined
  (it is 1.0). Gwet's AC1 and Brennan-Prediger are ``nan`` when the scale has one category.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd

from assay._annotations import encode_values
from assay._kernels import agreement as K
from assay._validation import check_choice, check_fraction, check_int, check_random_state
from assay.agreement._io import (
    Ratings,
    as_ratings,
    check_level,
    check_level_values,
    require_pairable,
)
from assay.exceptions import InputValidationError

WEIGHTS = ("linear", "quadratic")

COEFFICIENTS = (
    "percent_agreement",
    "krippendorff_alpha",
    "fleiss_kappa",
    "conger_kappa",
    "gwet_ac1",
    "gwet_ac2",
    "brennan_prediger",
    "scott_pi",
    "cohen_kappa",
)


def _check_weights(weights: Any, *, owner: str, allow_none: bool = True) -> str | None:
    if weights is None and allow_none:
        return None
    return check_choice("weights", weights, WEIGHTS, owner=owner)


def _prepare(
    reliability_data: Any,
    *,
    categories: Sequence[Any] | None,
    owner: str,
    min_coders: int = 1,
) -> Ratings:
    ratings = as_ratings(reliability_data, categories=categories, min_coders=min_coders)
    require_pairable(ratings)
    return ratings


# --------------------------------------------------------------------------- plans
# A coefficient is computed as ``finish(w @ F)``: ``F`` holds per-unit features (pair agreement,
# category shares, coincidence contributions, ...) and ``w`` unit weights. The point estimate
# uses ``w = 1``; a batch of bootstrap resamples is one matrix product ``W @ F``.

_MAX_FEATURE_CELLS = 50_000_000  # above this U * D, sums are computed per resample instead


class _Plan:
    """``finish(sums)`` of per-unit features; features are built lazily (only a bootstrap needs
    them) and ``direct(w)`` computes the sums without them where that is cheaper."""

    def __init__(
        self,
        finish: Callable[[np.ndarray], Any],
        build: Callable[[], np.ndarray] | None = None,
        direct: Callable[[np.ndarray | None], np.ndarray] | None = None,
    ) -> None:
        self.finish = finish
        self._build = build
        self._features: np.ndarray | None = None
        self.direct = direct

    @property
    def features(self) -> np.ndarray | None:
        if self._features is None and self._build is not None:
            self._features = self._build()
        return self._features

    def sums(self, w: np.ndarray | None = None) -> np.ndarray:
        """Weighted feature sums: ``(D,)`` for ``w`` None or ``(U,)``; ``(B, D)`` for ``(B, U)``."""
        if self.direct is not None and (w is None or w.ndim == 1 or self._build is None):
            if w is None or w.ndim == 1:
                return self.direct(w)
            return np.stack([self.direct(row) for row in w])
        feats = cast(np.ndarray, self.features)
        return feats.sum(axis=0) if w is None else w @ feats

    def value(self) -> Any:
        return self.finish(self.sums())


def _memo(r: Ratings, key: tuple[Any, ...], fn: Callable[[], np.ndarray]) -> np.ndarray:
    """Per-unit features cached on the ratings (several coefficients share them)."""
    memo = r.__dict__.setdefault("_feature_memo", {})
    if key not in memo:
        memo[key] = fn()
    return memo[key]


def _pair_feats(r: Ratings, weights: str | None) -> np.ndarray:
    wm = None if weights is None else K.agreement_weights(weights, r.n_categories)
    return _memo(r, ("pair", weights), lambda: K.unit_pair_agreement(r.counts, wm))


def _share_feats(r: Ratings) -> np.ndarray:
    return _memo(r, ("shares",), lambda: K.unit_shares(r.counts))


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 else float("nan")


def _plan_percent(r: Ratings, **_: Any) -> _Plan:
    return _Plan(lambda s: _ratio(s[0], s[1]), lambda: _pair_feats(r, None))


def _chance_plan(r: Ratings, weights: str | None, chance: Callable[..., float]) -> _Plan:
    q = r.n_categories
    wm = K.agreement_weights(weights, q)

    def build() -> np.ndarray:
        return np.hstack([_pair_feats(r, weights), _share_feats(r)])

    def finish(s: np.ndarray) -> float:
        pa = _ratio(s[0], s[1])
        if s[2 + q] <= 0:
            return float("nan")
        return K.chance_corrected(pa, chance(s[2 : 2 + q] / s[2 + q], wm))

    return _Plan(finish, build)


def _plan_fleiss(r: Ratings, *, weights: str | None = None, **_: Any) -> _Plan:
    return _chance_plan(r, weights, K.fleiss_chance)


def _plan_gwet(r: Ratings, *, weights: str | None = None, **_: Any) -> _Plan:
    return _chance_plan(r, weights, K.gwet_chance)


def _plan_ac2(r: Ratings, *, weights: str | None = None, **_: Any) -> _Plan:
    return _chance_plan(r, weights or "quadratic", K.gwet_chance)


def _plan_bp(r: Ratings, *, weights: str | None = None, **_: Any) -> _Plan:
    q = r.n_categories
    wm = K.agreement_weights(weights, q)
    pe = float(wm.sum()) / q**2 if q >= 2 else float("nan")
    return _Plan(
        lambda s: K.chance_corrected(_ratio(s[0], s[1]), pe),
        lambda: _pair_feats(r, weights),
    )


def _plan_conger(r: Ratings, *, weights: str | None = None, **_: Any) -> _Plan:
    q, n_raters = r.n_categories, r.codes.shape[0]
    wm = K.agreement_weights(weights, q)

    def build() -> np.ndarray:
        return np.hstack([_pair_feats(r, weights), K.rater_onehot(r.codes, q)])

    def finish(s: np.ndarray) -> float:
        pe = K.conger_chance_from_counts(s[2:].reshape(n_raters, q), wm)
        return K.chance_corrected(_ratio(s[0], s[1]), pe)

    return _Plan(finish, build)


def coincidence_plan(r: Ratings) -> _Plan:
    """Plan whose sums are the flattened coincidence matrix (finish returns the matrix)."""
    q = r.n_categories
    finish = lambda s: s.reshape(q, q)  # noqa: E731
    build = (lambda: K.unit_coincidences(r.counts)) if (
        len(r.units) * q * q <= _MAX_FEATURE_CELLS
    ) else None
    return _Plan(finish, build, direct=lambda w: K.coincidence(r.counts, w).ravel())


def _plan_alpha(r: Ratings, *, level: str = "nominal", **_: Any) -> _Plan:
    base = coincidence_plan(r)
    cats = r.categories
    q = r.n_categories

    def finish(s: np.ndarray) -> float:
        o = s.reshape(q, q)
        return K.alpha_from_coincidence(o, K.delta2(level, cats, o.sum(axis=1)))

    return _Plan(finish, base._build, base.direct)


def _plan_pair(
    r: Ratings, *, weights: str | None = None, scott: bool = False, **_: Any
) -> _Plan:
    q = r.n_categories
    wm = K.agreement_weights(weights, q)
    finish = lambda s: K.kappa_from_table(s.reshape(q, q), wm, scott=scott)  # noqa: E731
    a, b = r.codes[0], r.codes[1]
    build = (lambda: K.pair_onehot(a, b, q)) if len(r.units) * q * q <= _MAX_FEATURE_CELLS else None
    return _Plan(finish, build, direct=lambda w: K.pair_table(a, b, q, w).ravel())


def _plan_scott(r: Ratings, **kw: Any) -> _Plan:
    return _plan_pair(r, scott=True, **{k: v for k, v in kw.items() if k != "scott"})


_PLANS: dict[str, Callable[..., _Plan]] = {
    "percent_agreement": _plan_percent,
    "krippendorff_alpha": _plan_alpha,
    "fleiss_kappa": _plan_fleiss,
    "conger_kappa": _plan_conger,
    "gwet_ac1": _plan_gwet,
    "gwet_ac2": _plan_ac2,
    "brennan_prediger": _plan_bp,
    "scott_pi": _plan_scott,
    "cohen_kappa": _plan_pair,
}


def _value(name: str, r: Ratings, **kw: Any) -> float:
    return float(_PLANS[name](r, **kw).value())


def bootstrap_sums(
    plans: Sequence[_Plan], n_units: int, n_boot: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """``(n_boot, D_p)`` feature sums per plan over bootstrap resamples of the units."""
    out: list[list[np.ndarray]] = [[] for _ in plans]
    chunk = max(1, min(n_boot, 4_000_000 // max(n_units, 1)))
    done = 0
    while done < n_boot:
        b = min(chunk, n_boot - done)
        w = K.bootstrap_multiplicities(n_units, b, rng)
        for j, plan in enumerate(plans):
            out[j].append(np.atleast_2d(plan.sums(w)))
        done += b
    return [np.concatenate(parts, axis=0) for parts in out]


def _replicates(plan: _Plan, sums: np.ndarray) -> np.ndarray:
    return np.array([plan.finish(row) for row in sums], dtype=np.float64)


# --------------------------------------------------------------------------- public functions


def percent_agreement(reliability_data: Any) -> float:
    """Observed agreement: the share of agreeing rating pairs, averaged over units.

    For each unit with ``m >= 2`` ratings, ``sum_k n_k (n_k - 1) / (m (m - 1))`` is the share of
    ordered pairs of its ratings that agree; the result is the mean over those units (Gwet 2014).
    With two coders and no missing ratings this is the plain share of units they agree on.

    Parameters
    ----------
    reliability_data : array-like of shape (coders, units)
        Ratings, ``NaN`` or ``None`` where missing.

    Returns
    -------
    float
        In [0, 1]; 1.0 when every pair agrees.

    Examples
    --------
    >>> percent_agreement([[1, 2, 3, 3], [1, 2, 3, 1]])
    0.75
    """
    return _value(
        "percent_agreement",
        _prepare(reliability_data, categories=None, owner="percent_agreement"),
    )


def krippendorff_alpha(
    reliability_data: Any, *, level: str = "nominal", categories: Sequence[Any] | None = None
) -> float:
    """Krippendorff's alpha at the nominal, ordinal, interval or ratio level.

    ``alpha = 1 - D_o / D_e`` from the coincidence matrix of pairable values (units with two or
    more ratings). Unlike the ``krippendorff`` package, the default level is *nominal*, the right
    one for class labels; interval and ratio need numeric labels.

    Parameters
    ----------
    reliability_data : array-like of shape (coders, units)
        Ratings, ``NaN`` or ``None`` where missing.
    level : {"nominal", "ordinal", "interval", "ratio"}, default "nominal"
        Level of measurement (the difference function).
    categories : sequence, optional
        The scale in order; required for ``level="ordinal"`` with text labels.

    Returns
    -------
    float
        At most 1; ``nan`` when expected disagreement is zero (every rating identical).

    Examples
    --------
    >>> import numpy as np
    >>> data = [[1, 2, 3, 3, np.nan], [1, 2, 3, 1, 2]]
    >>> round(krippendorff_alpha(data, level="nominal"), 4)
    0.6667
    """
    level = check_level(level, owner="krippendorff_alpha")
    r = _prepare(reliability_data, categories=categories, owner="krippendorff_alpha")
    check_level_values(r, level, owner="krippendorff_alpha")
    return _value("krippendorff_alpha", r, level=level)


def fleiss_kappa(counts: Any) -> float:
    """Fleiss' kappa from a ``(units, categories)`` count matrix, any number of raters per unit.

    Gwet's (2014) generalisation: observed agreement is averaged over units with two or more
    ratings and chance agreement is ``sum_k pi_k^2`` with ``pi_k`` the mean share of category
    ``k`` over rated units. With the same number of raters on every unit it is Fleiss' (1971)
    kappa; unlike statsmodels it accepts unequal raters per unit.

    Parameters
    ----------
    counts : array-like of shape (units, categories)
        ``counts[u, k]`` = number of raters who put unit ``u`` in category ``k``.

    Returns
    -------
    float
        ``nan`` when chance agreement is 1 (every rating in one category).

    Examples
    --------
    >>> round(fleiss_kappa([[3, 0], [0, 3], [2, 1]]), 4)
    0.55
    """
    return _value("fleiss_kappa", _ratings_from_counts(counts, owner="fleiss_kappa"))


def fleiss_kappa_per_category(counts: Any) -> np.ndarray:
    """Fleiss' per-category kappa from a ``(units, categories)`` count matrix.

    ``kappa_k = 1 - sum_u n_uk (m_u - n_uk) / (m_u - 1) / (n p_k (1 - p_k))`` over units with
    ``m_u >= 2`` ratings, ``n`` their number of ratings and ``p_k`` category k's share of them.
    With equal raters per unit this is Fleiss (1971), eq. 14.

    Returns
    -------
    numpy.ndarray of shape (categories,)
        ``nan`` for a category no unit received (or that every rating used).

    Examples
    --------
    >>> fleiss_kappa_per_category([[3, 0], [0, 3], [2, 1]]).round(3)
    array([0.55, 0.55])
    """
    r = _ratings_from_counts(counts, owner="fleiss_kappa_per_category")
    return K.per_class_from_coincidence(K.coincidence(r.counts))[1]


def conger_kappa(reliability_data: Any) -> float:
    """Conger's (1980) kappa: Cohen's kappa generalised to many coders (Gwet's formulation).

    Chance agreement uses each coder's own category distribution (over the units that coder
    rated), unlike Fleiss' kappa which pools them.

    Examples
    --------
    >>> round(conger_kappa([[1, 2, 3, 3], [1, 2, 3, 1], [1, 2, 2, 3]]), 4)
    0.5152
    """
    return _value(
        "conger_kappa", _prepare(reliability_data, categories=None, owner="conger_kappa")
    )


def gwet_ac1(reliability_data: Any, *, categories: Sequence[Any] | None = None) -> float:
    """Gwet's AC1: chance agreement ``sum_k pi_k (1 - pi_k) / (q - 1)``.

    Robust to the "kappa paradox" (high raw agreement but low kappa when one class dominates).
    ``q`` is the number of categories in the scale (observed, or ``len(categories)``).

    Examples
    --------
    >>> round(gwet_ac1([[0, 0, 0, 1], [0, 0, 0, 0]]), 4)
    0.68
    """
    return _value(
        "gwet_ac1", _prepare(reliability_data, categories=categories, owner="gwet_ac1")
    )


def gwet_ac2(
    reliability_data: Any,
    *,
    weights: str = "quadratic",
    categories: Sequence[Any] | None = None,
) -> float:
    """Gwet's AC2: AC1 with linear or quadratic agreement weights for ordered categories.

    Weights are ``1 - (|i - j| / (q - 1))^p`` on category positions ``i, j`` in the scale
    (``p = 1`` linear, ``p = 2`` quadratic).

    Examples
    --------
    >>> round(gwet_ac2([[1, 2, 3, 3], [1, 2, 3, 2]], weights="linear"), 4)
    0.7241
    """
    wt = _check_weights(weights, owner="gwet_ac2", allow_none=False)
    r = _prepare(reliability_data, categories=categories, owner="gwet_ac2")
    return _value("gwet_ac2", r, weights=wt)


def brennan_prediger(reliability_data: Any, *, categories: Sequence[Any] | None = None) -> float:
    """Brennan-Prediger coefficient: chance agreement fixed at ``1 / q`` (uniform categories).

    Examples
    --------
    >>> round(brennan_prediger([[1, 2, 3, 3], [1, 2, 3, 1]]), 4)
    0.625
    """
    r = _prepare(reliability_data, categories=categories, owner="brennan_prediger")
    return _value("brennan_prediger", r)


def scott_pi(reliability_data: Any, *, categories: Sequence[Any] | None = None) -> float:
    """Scott's pi for two coders (units rated by both); chance from the pooled marginals.

    For more coders use :func:`fleiss_kappa` (its multi-coder generalisation) or
    :func:`krippendorff_alpha`.

    Examples
    --------
    >>> round(scott_pi([[1, 2, 3, 3], [1, 2, 3, 1]]), 4)
    0.619
    """
    r = _prepare(reliability_data, categories=categories, owner="scott_pi")
    _require_two(r, "scott_pi")
    return _value("scott_pi", r)


def cohen_kappa(
    a: Any, b: Any, *, weights: str | None = None, categories: Sequence[Any] | None = None
) -> float:
    """Cohen's kappa between two raters, unweighted or with linear / quadratic weights.

    Units where either rating is missing are dropped. Weighted kappa uses disagreement weights
    ``|i - j|`` or ``(i - j)^2`` on category positions in the scale: the union of both raters'
    observed categories (as scikit-learn) unless ``categories`` gives the full scale.

    Parameters
    ----------
    a, b : array-like of shape (units,)
        The two raters' labels, ``NaN`` or ``None`` where missing.
    weights : {None, "linear", "quadratic"}, default None
    categories : sequence, optional
        The scale in order (include unused categories to keep them in the weight distances).

    Returns
    -------
    float
        ``nan`` when chance agreement is 1 (both raters always use the same one category).

    Examples
    --------
    >>> round(cohen_kappa([0, 1, 1, 2], [0, 1, 2, 2]), 4)
    0.6364
    >>> round(cohen_kappa([0, 1, 1, 2], [0, 1, 2, 2], weights="quadratic"), 4)
    0.8
    """
    wt = _check_weights(weights, owner="cohen_kappa")
    a_arr, b_arr = _as_pair(a, b)
    codes, cats, numeric = encode_values(
        np.concatenate([a_arr, b_arr]), name="a and b", categories=categories
    )
    n = a_arr.shape[0]
    r = Ratings(codes.reshape(2, n), cats, numeric=numeric)
    if not np.any((r.codes[0] >= 0) & (r.codes[1] >= 0)):
        raise InputValidationError(
            "a and b have no unit rated by both (every unit has at least one missing rating), "
            "so Cohen's kappa is not defined. Pass ratings of the same units, aligned by position."
        )
    return _value("cohen_kappa", r, weights=wt)


def category_counts(
    reliability_data: Any, *, categories: Sequence[Any] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The ``(units, categories)`` count matrix of a reliability matrix, and the categories.

    Units with no rating are dropped. Feed the counts to :func:`fleiss_kappa`.

    Examples
    --------
    >>> counts, cats = category_counts([["a", "b"], ["a", None], ["a", "a"]])
    >>> counts.tolist(), cats.tolist()
    ([[3.0, 0.0], [1.0, 1.0]], ['a', 'b'])
    """
    r = as_ratings(reliability_data, categories=categories)
    return r.counts, r.categories


# --------------------------------------------------------------------------- bootstrap


@dataclass(frozen=True)
class ConfidenceInterval:
    """A point estimate with a percentile bootstrap interval over units (items).

    Attributes
    ----------
    estimate : float
        The coefficient on the full data.
    low, high : float
        Interval bounds (``nan`` when fewer than two replicates are defined).
    confidence : float
        Nominal coverage, e.g. 0.95.
    n_boot : int
        Number of bootstrap resamples of the units.
    n_valid : int
        Resamples where the coefficient was defined (not ``nan``).
    """

    estimate: float
    low: float
    high: float
    confidence: float
    n_boot: int
    n_valid: int


def _interval(estimate: float, reps: np.ndarray, confidence: float, n_boot: int) -> ConfidenceInterval:
    ok = reps[np.isfinite(reps)]
    if ok.size < 2:
        low = high = float("nan")
    else:
        tail = (1.0 - confidence) / 2.0
        low, high = (float(v) for v in np.quantile(ok, [tail, 1.0 - tail]))
    return ConfidenceInterval(float(estimate), low, high, confidence, n_boot, int(ok.size))


def bootstrap_ci(
    reliability_data: Any,
    *,
    coefficient: str = "krippendorff_alpha",
    level: str = "nominal",
    weights: str | None = None,
    categories: Sequence[Any] | None = None,
    n_boot: int = 1000,
    confidence: float = 0.95,
    random_state: Any = 0,
) -> ConfidenceInterval:
    """Percentile bootstrap confidence interval of a coefficient, resampling units (items).

    Each resample draws units with replacement (all of a unit's ratings move together), which is
    the right unit of replication when items are sampled from a larger pool. Resamples where the
    coefficient is undefined are left out (counted in ``n_valid``).

    Parameters
    ----------
    reliability_data : array-like of shape (coders, units)
    coefficient : str, default "krippendorff_alpha"
        One of ``assay.agreement.COEFFICIENTS``.
    level : str, default "nominal"
        Level of measurement for Krippendorff's alpha.
    weights : {None, "linear", "quadratic"}
        Agreement weights for the kappa-type coefficients (AC2 defaults to quadratic).
    categories : sequence, optional
        The scale in order.
    n_boot : int, default 1000
    confidence : float, default 0.95
    random_state : None, int or numpy.random.Generator, default 0

    Returns
    -------
    ConfidenceInterval

    Examples
    --------
    >>> ci = bootstrap_ci([[1, 2, 3, 3, 2, 1], [1, 2, 3, 1, 2, 2]], n_boot=200)
    >>> ci.low <= ci.estimate <= ci.high
    True
    """
    coefficient = check_choice("coefficient", coefficient, COEFFICIENTS, owner="bootstrap_ci")
    level = check_level(level, owner="bootstrap_ci")
    wt = _check_weights(weights, owner="bootstrap_ci")
    n_boot = check_int("n_boot", n_boot, low=1, owner="bootstrap_ci")
    confidence = check_fraction("confidence", confidence, owner="bootstrap_ci")
    rng = check_random_state(random_state)
    r = _prepare(reliability_data, categories=categories, owner="bootstrap_ci")
    if coefficient == "krippendorff_alpha":
        check_level_values(r, level, owner="bootstrap_ci")
    if coefficient in ("scott_pi", "cohen_kappa"):
        _require_two(r, coefficient)
    plan = _PLANS[coefficient](r, level=level, weights=wt)
    estimate = float(plan.value())
    (sums,) = bootstrap_sums([plan], len(r.units), n_boot, rng)
    reps = _replicates(plan, sums)
    return _interval(estimate, reps, confidence, n_boot)


def agreement_coefficients(
    reliability_data: Any,
    *,
    level: str = "nominal",
    categories: Sequence[Any] | None = None,
    n_boot: int = 0,
    confidence: float = 0.95,
    random_state: Any = 0,
) -> pd.DataFrame:
    """Every coefficient at once, with bootstrap intervals sharing the same resamples.

    Scott's pi and Cohen's kappa are included only for exactly two coders; Gwet's AC2 and the
    weighted variants only when the labels are ordered (``level`` other than nominal).

    Parameters
    ----------
    reliability_data : array-like of shape (coders, units)
    level : str, default "nominal"
    categories : sequence, optional
    n_boot : int, default 0
        Bootstrap resamples of the units; 0 skips the intervals (``ci_low``/``ci_high`` NaN).
    confidence : float, default 0.95
    random_state : None, int or numpy.random.Generator, default 0

    Returns
    -------
    pandas.DataFrame
        One row per coefficient: ``coefficient``, ``value``, ``ci_low``, ``ci_high``.

    Examples
    --------
    >>> table = agreement_coefficients([[1, 2, 3, 3], [1, 2, 3, 1]])
    >>> table.set_index("coefficient").loc["percent_agreement", "value"]
    np.float64(0.75)
    """
    level = check_level(level, owner="agreement_coefficients")
    n_boot = check_int("n_boot", n_boot, low=0, owner="agreement_coefficients")
    confidence = check_fraction("confidence", confidence, owner="agreement_coefficients")
    rng = check_random_state(random_state)
    r = _prepare(reliability_data, categories=categories, owner="agreement_coefficients")
    check_level_values(r, level, owner="agreement_coefficients")
    return coefficient_table(r, level=level, n_boot=n_boot, confidence=confidence, rng=rng)


def coefficient_table(
    r: Ratings, *, level: str, n_boot: int, confidence: float, rng: np.random.Generator
) -> pd.DataFrame:
    """Compute the coefficient table on validated ratings (shared by ``agree``)."""
    specs: list[tuple[str, str, dict[str, Any]]] = [
        ("percent_agreement", "percent_agreement", {}),
        ("krippendorff_alpha", "krippendorff_alpha", {"level": level}),
        ("fleiss_kappa", "fleiss_kappa", {}),
        ("conger_kappa", "conger_kappa", {}),
        ("gwet_ac1", "gwet_ac1", {}),
        ("brennan_prediger", "brennan_prediger", {}),
    ]
    if level != "nominal":
        specs.append(("gwet_ac2_quadratic", "gwet_ac2", {"weights": "quadratic"}))
        specs.append(("gwet_ac2_linear", "gwet_ac2", {"weights": "linear"}))
    if len(r.coders) == 2:
        specs.append(("scott_pi", "scott_pi", {}))
        specs.append(("cohen_kappa", "cohen_kappa", {}))
        if level != "nominal":
            specs.append(("cohen_kappa_linear", "cohen_kappa", {"weights": "linear"}))
            specs.append(("cohen_kappa_quadratic", "cohen_kappa", {"weights": "quadratic"}))
    plans = [_PLANS[fn](r, **kw) for _, fn, kw in specs]
    values = [float(p.value()) for p in plans]
    reps = np.full((n_boot, len(specs)), np.nan)
    if n_boot:
        for j, sums in enumerate(bootstrap_sums(plans, len(r.units), n_boot, rng)):
            reps[:, j] = _replicates(plans[j], sums)
    rows = []
    for j, (name, _, _) in enumerate(specs):
        ci = _interval(values[j], reps[:, j], confidence, n_boot)
        rows.append(
            {"coefficient": name, "value": ci.estimate, "ci_low": ci.low, "ci_high": ci.high}
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- helpers


def _require_two(r: Ratings, owner: str) -> None:
    if len(r.coders) != 2:
        raise InputValidationError(
            f"{owner} compares exactly two coders; reliability_data has {len(r.coders)} coders "
            "with ratings. For more coders use fleiss_kappa (Scott's pi generalised), "
            "conger_kappa (Cohen's kappa generalised) or krippendorff_alpha."
        )


def _as_pair(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    a_arr, b_arr = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
    if a_arr.ndim != 1 or b_arr.ndim != 1:
        raise InputValidationError(
            f"a and b must be 1-d label vectors (one label per unit); got shapes {a_arr.shape} "
            f"and {b_arr.shape}."
        )
    if a_arr.shape != b_arr.shape:
        raise InputValidationError(
            f"a and b must rate the same units; got {a_arr.shape[0]} and {b_arr.shape[0]} labels. "
            "Align them by unit and mark a missing rating with NaN or None."
        )
    return a_arr, b_arr


def _ratings_from_counts(counts: Any, *, owner: str) -> Ratings:
    try:
        arr = np.asarray(counts, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputValidationError(
            f"counts must be a numeric (units, categories) matrix of rating counts; it could not "
            f"be converted to numbers ({exc})."
        ) from exc
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise InputValidationError(
            f"counts must be a 2-d (units, categories) matrix; got shape {arr.shape}. "
            "Row u, column k holds how many raters put unit u in category k."
        )
    if not np.all(np.isfinite(arr)) or np.any(arr < 0) or not np.all(arr == np.round(arr)):
        raise InputValidationError(
            "counts must hold non-negative whole numbers (how many raters chose each category); "
            "got negative, fractional or non-finite entries. Pass raw counts, not shares. For "
            f"ratings per coder, use assay.agreement.category_counts first ({owner})."
        )
    arr = arr[arr.sum(axis=1) > 0]
    r = Ratings(np.empty((0, arr.shape[0]), dtype=np.int64), np.arange(arr.shape[1]), numeric=True)
    r.counts = arr  # type: ignore[misc]  # cached_property slot, set directly
    r.n_ratings_per_unit = arr.sum(axis=1)  # type: ignore[misc]
    require_pairable(r, name="counts")
    return r
