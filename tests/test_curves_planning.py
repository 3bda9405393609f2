"""Measuring learning curves, and the plans read off them."""

from __future__ import annotations

import itertools
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import make_classification
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score

from assay.curves import (
    FAMILIES,
    allocate_budget,
    data_multiplier,
    default_sizes,
    fit_learning_curve,
    fit_per_class_curves,
    fit_pooled_class_curve,
    learning_curve,
    per_class_curves,
    plan_samples,
    relabel_or_collect,
    stratified_counts,
)
from assay.curves._planning import _greedy
from assay.exceptions import CurveWarning, InputValidationError, InvalidParameterError


@pytest.fixture(scope="module")
def blobs():
    X, y = make_classification(n_samples=600, n_features=8, n_informative=5, n_classes=3,
                               weights=[0.6, 0.3, 0.1], random_state=0)
    return X, y


# --- learning_curve -------------------------------------------------------------------------
def test_curve_shape_columns_and_per_class_counts(blobs):
    X, y = blobs
    curve = learning_curve(X, y, sizes=[40, 80, 160, 320, 480], n_seeds=2,
                           estimator=LogisticRegression(max_iter=500),
                           class_names=["a", "b", "c"])
    assert len(curve) == 10
    for col in ("n_train", "fraction", "seed", "accuracy", "balanced_accuracy", "macro_f1",
                "log_loss", "recall[a]", "n_train[c]"):
        assert col in curve.columns
    own = curve[["n_train[a]", "n_train[b]", "n_train[c]"]].sum(axis=1)
    assert (own == curve["n_train"]).all()
    assert curve["fraction"].max() == pytest.approx(1.0)  # 480 = 80 % of 600
    assert (curve["n_train[c]"] >= 1).all()
    long = per_class_curves(curve)
    assert set(long["class"]) == {"a", "b", "c"} and len(long) == 30


def test_majority_baseline_scores_are_hand_derivable(blobs):
    # DummyClassifier(prior) always predicts the most frequent training class (class 0 here),
    # so accuracy is class 0's share of the evaluation split and balanced accuracy is 1/3.
    X, y = blobs
    X_eval, y_eval = X[:150], y[:150]
    curve = learning_curve(X[150:], y[150:], estimator=DummyClassifier(strategy="prior"),
                           sizes=[0.1, 0.3, 0.6, 1.0], n_seeds=1, eval_set=(X_eval, y_eval))
    np.testing.assert_allclose(curve["accuracy"], np.mean(y_eval == 0))
    np.testing.assert_allclose(curve["balanced_accuracy"], 1 / 3)
    np.testing.assert_allclose(curve["recall[0]"], 1.0)
    np.testing.assert_allclose(curve["recall[2]"], 0.0)


def test_full_size_score_matches_a_direct_fit(blobs):
    # At 100 % every seed trains on the whole pool: the score equals a plain sklearn fit.
    X, y = blobs
    X_eval, y_eval = X[:150], y[:150]
    est = LogisticRegression(max_iter=1000)
    curve = learning_curve(X[150:], y[150:], estimator=est, sizes=[0.1, 0.2, 0.5, 1.0],
                           n_seeds=2, eval_set=(X_eval, y_eval))
    direct = accuracy_score(y_eval, est.fit(X[150:], y[150:]).predict(X_eval))
    np.testing.assert_allclose(curve.loc[curve["fraction"] == 1.0, "accuracy"], direct)


def test_parallel_and_serial_runs_agree(blobs):
    X, y = blobs
    kw = dict(sizes=[30, 60, 120, 240], n_seeds=1, estimator=LogisticRegression(max_iter=300))
    a = learning_curve(X, y, n_jobs=1, **kw)
    with joblib.parallel_config(backend="threading"):
        b = learning_curve(X, y, n_jobs=2, **kw)
    pd.testing.assert_frame_equal(a.drop(columns="fit_seconds"), b.drop(columns="fit_seconds"))


@settings(max_examples=40, deadline=None)
@given(counts=st.lists(st.integers(0, 50), min_size=2, max_size=6).filter(lambda c: sum(c) > 0),
       frac=st.floats(0.01, 1.0))
def test_stratified_counts_are_proportional_and_feasible(counts, frac):
    counts = np.array(counts)
    n = max(1, int(round(frac * counts.sum())))
    got = stratified_counts(counts, n)
    assert np.all(got <= counts)
    assert np.all(got[counts > 0] >= 1)
    exact = n * counts / counts.sum()
    # Largest remainder: each class within one of its exact share, before the at-least-one rule.
    assert np.all(np.abs(got - exact) <= np.maximum(1, (got == 1)))
    assert abs(int(got.sum()) - n) <= int(np.sum(counts > 0))


def test_default_sizes_are_geometric_and_end_at_the_pool():
    s = default_sizes(10_000, 10)
    assert s[-1] == 10_000 and s[0] == 300 and s.size == 8
    ratios = s[1:] / s[:-1]
    np.testing.assert_allclose(ratios, ratios[0], rtol=0.01)


def test_bad_sizes_are_refused(blobs):
    X, y = blobs
    with pytest.raises(InputValidationError, match="sizes go up to 1000 but only 480 rows"):
        learning_curve(X, y, sizes=[100, 200, 400, 1000])
    with pytest.raises(InputValidationError, match="at least 4 distinct training-set sizes"):
        learning_curve(X, y, sizes=[100, 200, 200])
    with pytest.raises(InvalidParameterError, match="'sizes' parameter"):
        learning_curve(X, y, sizes=[0.5, 2.5, 100])
    with pytest.raises(InvalidParameterError, match="'estimator' parameter"):
        learning_curve(X, y, estimator="logreg")
    with pytest.raises(InvalidParameterError, match="'test_size' parameter"):
        learning_curve(X, y, test_size=1.5)
    with pytest.raises(InputValidationError, match="one row per sample"):
        learning_curve(X, y[:-1])


def test_per_class_curves_needs_per_class_columns():
    with pytest.raises(InputValidationError, match="no per-class columns"):
        per_class_curves(pd.DataFrame({"n_train": [1], "seed": [0]}))


# --- plans ----------------------------------------------------------------------------------
def test_plan_samples_reads_the_size_off_the_curve():
    n = np.geomspace(100, 3_000, 6).round()
    curve = pd.DataFrame({"n_train": n, "accuracy": 1 - (2 * n**-0.5 + 0.03)})
    fit, need = plan_samples(curve, 0.95, family="pow3", n_bootstrap=0)
    # 0.05 = 2 n^-0.5 + 0.03  ->  n = (0.02 / 2) ** -2 = 10,000
    assert need.n_point == pytest.approx(10_000, rel=1e-6)
    with pytest.raises(InputValidationError, match="Column 'macro_f1' not found"):
        plan_samples(curve, 0.9, metric="macro_f1")


def test_data_multiplier_of_a_curve_shifted_by_two():
    n = np.geomspace(100, 10_000, 8)
    noisy = fit_learning_curve(n, 1 - FAMILIES["pow3"].formula(n / 2, 2, 0.5, 0.02),
                               family="pow3", n_bootstrap=0)
    clean = fit_learning_curve(n, 1 - FAMILIES["pow3"].formula(n, 2, 0.5, 0.02),
                               family="pow3", n_bootstrap=0)
    assert data_multiplier(noisy, clean, 5_000) == pytest.approx(2.0, rel=1e-6)
    assert data_multiplier(clean, clean, 5_000) == pytest.approx(1.0, rel=1e-6)


class _Curve:
    def __init__(self, a, b, c):
        self.a, self.b, self.c = a, b, c

    def predict(self, n):
        return 1 - self.c - self.a * np.asarray(n, float) ** -self.b


def _brute_force(curves, counts, n_steps, step, agg):
    best = -np.inf
    for alloc in itertools.product(range(n_steps + 1), repeat=len(curves)):
        if sum(alloc) != n_steps:
            continue
        vals = [c.predict(n + step * j) for c, n, j in zip(curves, counts, alloc, strict=True)]
        best = max(best, agg(vals))
    return best


@pytest.mark.parametrize("objective,agg", [("balanced_accuracy", np.mean),
                                           ("worst_class", np.min)])
@pytest.mark.parametrize("seed", range(4))
def test_allocation_matches_brute_force(objective, agg, seed):
    rng = np.random.default_rng(seed)
    curves = {f"k{i}": _Curve(rng.uniform(0.5, 5), rng.uniform(0.2, 0.8), rng.uniform(0, 0.2))
              for i in range(3)}
    counts = {k: int(rng.integers(5, 200)) for k in curves}
    plan = allocate_budget(curves, counts, 100, objective=objective, step=10)
    assert plan["collect"].sum() == 100
    best = _brute_force(list(curves.values()), list(counts.values()), 10, 10, agg)
    assert plan.attrs["predicted_after"] == pytest.approx(best, abs=1e-12)
    assert plan.attrs["predicted_after"] >= plan.attrs["predicted_before"]


def test_worst_class_skips_classes_that_cannot_improve():
    table = np.array([[0.2, 0.2, 0.2], [0.5, 0.6, 0.7]])
    assert _greedy(table, 2, "worst_class").tolist() == [0, 2]


def test_allocation_bad_input():
    with pytest.raises(InputValidationError, match=r"no entry for class\(es\) \['b'\]"):
        allocate_budget({"a": _Curve(1, 0.5, 0), "b": _Curve(1, 0.5, 0)}, {"a": 3}, 10)
    with pytest.raises(InvalidParameterError, match="Did you mean 'worst_class'"):
        allocate_budget({"a": _Curve(1, 0.5, 0)}, {"a": 3}, 10, objective="worst")


def test_per_class_fits_from_a_measured_curve(blobs):
    X, y = blobs
    curve = learning_curve(X, y, sizes=[0.1, 0.2, 0.35, 0.6, 1.0], n_seeds=2,
                           estimator=LogisticRegression(max_iter=300))
    fits = fit_per_class_curves(curve, family="pow3")
    assert set(fits) == {"0", "1", "2"}
    counts = {k: int(curve[f"n_train[{k}]"].max()) for k in fits}
    plan = allocate_budget(fits, counts, 500, objective="worst_class")
    # These pow3 fits flatten at once (exponent at its lower bound): what no class can use is
    # left unallocated, with the reason, instead of being spent on gains of 1e-9 per row.
    assert plan["collect"].sum() + plan.attrs["unallocated"] == 500
    if plan.attrs["unallocated"]:
        assert "no class is predicted to gain" in plan.attrs["unallocated_reason"]
    assert np.all(plan["recall_after"] >= plan["recall_now"] - 1e-12)
    pooled = fit_pooled_class_curve(curve, family="pow3")
    support = dict(zip(("0", "1", "2"), np.bincount(y, minlength=3) // 5, strict=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CurveWarning)  # class 2 has 12 evaluation rows
        plan = allocate_budget(fits, counts, 500, eval_support=support, pooled=pooled)
    assert plan["collect"].sum() + plan.attrs["unallocated"] == 500


# --- issue 19: saturated classes, minimum per class, few evaluation rows --------------------
class _Saturated:
    """Recall 0.7961 less a vanishing term: gains per row of about 2e-9 at n = 100."""

    def predict(self, n):
        return 0.7961 - 1e-3 * np.asarray(n, float) ** -2.0


class _Flat:
    def __init__(self, value):
        self.value = value

    def predict(self, n):
        return np.full(np.shape(n), self.value, dtype=float)


def test_saturated_class_gets_nothing():
    # "grows" is 1 - n^-0.5: 0.9 at 100 rows, above "sat", and still gaining 5e-4 per row.
    curves = {"sat": _Saturated(), "grows": _Curve(1.0, 0.5, 0.0)}
    counts = {"sat": 100, "grows": 100}
    for objective in ("worst_class", "balanced_accuracy"):
        plan = allocate_budget(curves, counts, 240, objective=objective).set_index("class")
        assert plan.loc["sat", "collect"] == 0
        assert plan.loc["grows", "collect"] == 240
        assert plan.attrs["saturated"] == ["sat"]
        assert plan.loc["sat", "note"] == "saturated"
    # The lowest class cannot be lifted: the plan says so instead of feeding it.
    worst = allocate_budget(curves, counts, 240, objective="worst_class")
    assert any("'sat' is predicted to stay at 0.7961" in n for n in worst.attrs["notes"])
    # The old rule (any positive gain counts) poured everything into the saturated class:
    table = np.vstack([c.predict(100 + np.arange(241)) for c in curves.values()])
    assert _greedy(table, 240, "worst_class", min_gain=0.0).tolist() == [240, 0]
    assert _greedy(table, 240, "worst_class", min_gain=1e-5).tolist() == [0, 240]


def test_nothing_to_improve_is_left_unallocated():
    plan = allocate_budget({"a": _Flat(0.8), "b": _Saturated()}, {"a": 50, "b": 100}, 300,
                           objective="balanced_accuracy")
    assert plan["collect"].sum() == 0
    assert plan.attrs["unallocated"] == 300 and plan.attrs["allocated"] == 0
    assert plan.attrs["unallocated_reason"].startswith("300 of 300 rows left unallocated: no "
                                                       "class is predicted to gain at least 1e-05")
    # min_gain=0 still refuses gains that are not positive, but buys the 2e-9 ones.
    loose = allocate_budget({"a": _Flat(0.8), "b": _Saturated()}, {"a": 50, "b": 100}, 300,
                            min_gain=0.0).set_index("class")
    assert loose.loc["a", "collect"] == 0 and loose.loc["b", "collect"] == 300


def test_min_per_class_tops_up_first():
    curves = {"a": _Flat(0.9), "b": _Curve(3.0, 0.5, 0.0), "c": _Flat(0.5)}
    counts = {"a": 5, "b": 50, "c": 200}
    # Top-ups: a 5 -> 30 (25 rows), b and c already have 30. The flat classes gain nothing
    # more, so the other 75 rows all go to b.
    plan = allocate_budget(curves, counts, 100, min_per_class=30).set_index("class")
    assert plan["collect"].to_dict() == {"b": 75, "a": 25, "c": 0}
    assert (plan["total"] >= 30).all()
    assert plan.loc["a", "note"] == "topped up to 30; saturated"
    assert plan.attrs["min_per_class"] == 30
    # Without the minimum, a gets nothing (its curve is flat).
    assert allocate_budget(curves, counts, 100).set_index("class").loc["a", "collect"] == 0
    # Top-ups are made even when no chunk after them is worth buying.
    flat = allocate_budget({"a": _Flat(0.9), "c": _Flat(0.5)}, {"a": 5, "c": 200}, 100,
                           min_per_class=30, objective="worst_class").set_index("class")
    assert flat["collect"].to_dict() == {"a": 25, "c": 0}
    assert flat.attrs["unallocated"] == 75


@settings(max_examples=30, deadline=None)
@given(counts=st.lists(st.integers(0, 120), min_size=2, max_size=5),
       minimum=st.integers(0, 60), extra=st.integers(0, 200),
       objective=st.sampled_from(["balanced_accuracy", "worst_class"]))
def test_min_per_class_is_honoured_for_any_counts(counts, minimum, extra, objective):
    names = [f"k{i}" for i in range(len(counts))]
    curves = {k: _Curve(1.0 + i, 0.5, 0.01) for i, k in enumerate(names)}
    need = sum(max(minimum - c, 0) for c in counts)
    plan = allocate_budget(curves, dict(zip(names, counts, strict=True)), need + extra,
                           objective=objective, min_per_class=minimum)
    assert (plan["total"] >= minimum).all()
    assert plan["collect"].sum() + plan.attrs["unallocated"] == need + extra
    assert (plan["collect"] >= 0).all()


def test_min_per_class_beyond_the_budget_is_refused():
    with pytest.raises(InputValidationError,
                       match=r"min_per_class=30 needs 45 new rows to top up 'a' \(5 rows\), "
                             r"'b' \(10 rows\), but the budget is 40\. Raise the budget to at "
                             r"least 45, or lower min_per_class\."):
        allocate_budget({"a": _Flat(0.9), "b": _Flat(0.9)}, {"a": 5, "b": 10}, 40,
                        min_per_class=30)


def test_few_eval_rows_warn_and_are_recorded():
    curves = {"rare": _Curve(1.0, 0.5, 0.0), "common": _Curve(1.0, 0.5, 0.0)}
    counts = {"rare": 16, "common": 400}
    with pytest.warns(CurveWarning, match=r"class 'rare' \(4 held-out rows\) is measured on "
                                          r"fewer than 20 held-out rows, in steps of 1/rows "
                                          r"\(0.25 at 4 rows\)") as caught:
        plan = allocate_budget(curves, counts, 100, eval_support={"rare": 4, "common": 100})
    assert caught[0].message.classes == {"rare": 4}
    assert plan.attrs["uncertain"] == ["rare"]
    assert plan.attrs["warnings"] and "pass pooled=" in plan.attrs["warnings"][0]
    assert plan.set_index("class").loc["rare", "eval_rows"] == 4
    # Enough rows everywhere: no warning at all.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet = allocate_budget(curves, counts, 100, eval_support={"rare": 20, "common": 100})
    assert quiet.attrs["uncertain"] == [] and quiet.attrs["warnings"] == []


def test_few_eval_rows_borrow_the_pooled_shape():
    # "rare" measured 4 of 4 on 4 held-out rows (own curve flat at 1.0). Anchor, smoothed:
    # (4 + 1/2) / (4 + 1) = 0.9. The pooled curve 1 - n^-0.5 reaches 0.9 at n = 100, so with
    # 16 rows now the multiplier is 100 / 16 = 6.25, and the own weight is 4 / (4 + 20) = 1/6.
    # Planned recall at 16 rows: 1/6 * 1 + 5/6 * 0.9 = 0.916667; at 32 rows (+16):
    # 1/6 + 5/6 * (1 - 200^-0.5) = 0.941074.
    pooled = _Curve(1.0, 0.5, 0.0)
    fits = {"rare": _Flat(1.0), "common": _Flat(1.0)}
    counts = {"rare": 16, "common": 400}
    support = {"rare": 4, "common": 10_000}
    with pytest.warns(CurveWarning):
        plan = allocate_budget(fits, counts, 16, eval_support=support, pooled=pooled,
                               step=16).set_index("class")
    assert plan.loc["rare", "recall_now"] == pytest.approx(1 / 6 + 5 / 6 * 0.9, abs=1e-9)
    assert plan.loc["rare", "collect"] == 16
    assert plan.loc["rare", "recall_after"] == pytest.approx(
        1 / 6 + 5 / 6 * (1 - 200**-0.5), abs=1e-9)
    assert plan.loc["rare", "own_weight"] == pytest.approx(1 / 6)
    assert plan.loc["rare", "note"] == "own curve 17%"
    # On its own (flat) curve alone, the rare class would get nothing.
    alone = allocate_budget(fits, counts, 16, step=16).set_index("class")
    assert alone.loc["rare", "collect"] == 0 and alone.attrs["unallocated"] == 16


def _exhaustive(table, n_steps, objective, penalty=0.0):
    """Best allocation of at most ``n_steps`` chunks by enumeration (value less penalty)."""
    best, arg = -np.inf, None
    k = table.shape[0]
    for alloc in itertools.product(range(n_steps + 1), repeat=k):
        if sum(alloc) > n_steps:
            continue
        vals = table[np.arange(k), list(alloc)]
        value = (vals.sum() if objective == "balanced_accuracy" else vals.min())
        value -= penalty * sum(alloc)
        if value > best + 1e-15:
            best, arg = value, alloc
    return best, np.array(arg)


@pytest.mark.parametrize("seed", range(12))
def test_greedy_equals_exhaustive_search_on_concave_curves(seed):
    # Greedy by marginal gain is exact for a sum of concave functions; with a minimum gain t
    # per chunk it maximises sum(recall) - t * chunks (buy while the marginal gain >= t).
    rng = np.random.default_rng(seed)
    k, n_steps, step = 3, 8, int(rng.integers(5, 40))
    curves = [_Curve(rng.uniform(0.5, 5), rng.uniform(0.2, 0.9), rng.uniform(0, 0.2))
              for _ in range(k)]
    counts = rng.integers(5, 200, k)
    grid = counts[:, None] + step * np.arange(n_steps + 1)[None, :]
    table = np.vstack([c.predict(g) for c, g in zip(curves, grid, strict=True)])
    gains = np.diff(table, axis=1)
    t = float(rng.choice([0.0, np.quantile(gains, 0.5)]))  # sometimes stops early
    greedy = _greedy(table, n_steps, "balanced_accuracy", min_gain=t)
    best, arg = _exhaustive(table, n_steps, "balanced_accuracy", penalty=t)
    np.testing.assert_array_equal(greedy, arg)
    # Through the public function: same allocation, in rows.
    names = [f"k{i}" for i in range(k)]
    plan = allocate_budget(dict(zip(names, curves, strict=True)),
                           dict(zip(names, counts.tolist(), strict=True)), n_steps * step,
                           step=step, min_gain=t / step).set_index("class")
    np.testing.assert_array_equal(plan.loc[names, "collect"].to_numpy(), arg * step)
    # Worst class (water-filling) reaches the exhaustive max-min.
    wf = _greedy(table, n_steps, "worst_class")
    best_min, _ = _exhaustive(table, n_steps, "worst_class")
    assert table[np.arange(k), wf].min() == pytest.approx(best_min, abs=1e-12)


def test_allocation_options_bad_input():
    curves, counts = {"a": _Curve(1, 0.5, 0)}, {"a": 3}
    with pytest.raises(InvalidParameterError, match="'min_gain' parameter of allocate_budget "
                                                    "must be a finite number >= 0"):
        allocate_budget(curves, counts, 10, min_gain=-1e-3)
    with pytest.raises(InvalidParameterError, match="'min_per_class' parameter"):
        allocate_budget(curves, counts, 10, min_per_class=-1)
    with pytest.raises(InputValidationError, match=r"eval_support has no entry for class\(es\) "
                                                   r"\['a'\]"):
        allocate_budget(curves, counts, 10, eval_support={"b": 3})
    with pytest.raises(InputValidationError, match=r"eval_support\['a'\] must be a count"):
        allocate_budget(curves, counts, 10, eval_support={"a": 2.5})
    with pytest.raises(InputValidationError, match="got pooled= but no eval_support="):
        allocate_budget(curves, counts, 10, pooled=_Curve(1, 0.5, 0))
    with pytest.raises(InvalidParameterError, match="'pooled' parameter"):
        allocate_budget(curves, counts, 10, eval_support={"a": 3}, pooled="pooled")


def test_pooled_curve_needs_per_class_recall():
    curve = pd.DataFrame({"n_train": [10, 20], "seed": 0, "recall[a]": np.nan,
                          "n_train[a]": [5, 10]})
    with pytest.raises(InputValidationError, match="no finite per-class recall"):
        fit_pooled_class_curve(curve)


@pytest.mark.slow
def test_cleaning_known_noise_is_worth_more_data():
    X, y = make_classification(n_samples=2_000, n_features=10, n_informative=6, n_classes=3,
                               class_sep=1.5, random_state=1)
    rng = np.random.default_rng(0)
    noisy = y.copy()
    flip = rng.random(y.size) < 0.25
    noisy[flip] = (y[flip] + rng.integers(1, 3, flip.sum())) % 3
    res = relabel_or_collect(X, noisy, flip, suggested=y, n_seeds=2,
                             estimator=LogisticRegression(max_iter=500))
    summary = res.summary()
    assert res.n_clean == res.n_as_is  # relabelled, not removed
    assert res.multiplier > 1.0
    assert summary["score_clean"] > summary["score_as_is"]
    assert "worth" in summary["message"]


def test_relabel_or_collect_bad_input(blobs):
    X, y = blobs
    with pytest.raises(InputValidationError, match="issues must be a boolean mask"):
        relabel_or_collect(X, y, np.zeros(y.size, dtype=int))
    with pytest.raises(InputValidationError, match="lengths differ"):
        relabel_or_collect(X, y, np.zeros(y.size - 1, dtype=bool))
