"""Measuring learning curves, and the plans read off them."""

from __future__ import annotations

import itertools

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
    learning_curve,
    per_class_curves,
    plan_samples,
    relabel_or_collect,
    stratified_counts,
)
from assay.curves._planning import _greedy
from assay.exceptions import InputValidationError, InvalidParameterError


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
    assert plan["collect"].sum() == 500
    assert np.all(plan["recall_after"] >= plan["recall_now"] - 1e-12)


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
