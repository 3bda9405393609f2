"""Tests of assay.evaluation: intervals, sample sizes, split comparison."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.evaluation import (
    _ridge_permutation_auc,
    bootstrap_interval,
    compare_splits,
    evaluation_intervals,
    wilson_interval,
    wilson_samples_needed,
)
from assay.exceptions import InputValidationError, InvalidParameterError


# ---------------------------------------------------------------------------- Wilson
@pytest.mark.parametrize("k, n", [(0, 10), (3, 10), (10, 10), (47, 50), (500, 1000), (1, 3)])
def test_wilson_matches_statsmodels(k, n):
    statsmodels = pytest.importorskip("statsmodels.stats.proportion")
    low, high = wilson_interval(k, n, confidence=0.9)
    ref = statsmodels.proportion_confint(k, n, alpha=0.1, method="wilson")
    assert (float(low), float(high)) == pytest.approx(ref, abs=1e-10)


def test_wilson_published_value():
    # Newcombe (1998), Table I: 81 of 263 -> 0.2553 to 0.3662 (95 %)
    low, high = wilson_interval(81, 263)
    assert float(low) == pytest.approx(0.2553, abs=5e-5)
    assert float(high) == pytest.approx(0.3662, abs=5e-5)


def test_wilson_vectorised_and_empty():
    low, high = wilson_interval([0, 5], [0, 10])
    assert low[0] == 0.0 and high[0] == 1.0
    assert 0 < low[1] < 0.5 < high[1] < 1


def test_wilson_bad_counts():
    with pytest.raises(InputValidationError, match="0 <= successes <= n"):
        wilson_interval(5, 3)


@settings(max_examples=50, deadline=None)
@given(st.floats(0.0, 1.0), st.floats(0.02, 0.5))
def test_samples_needed_is_the_smallest_n_brute_force(p, width):
    n = wilson_samples_needed(p, width)
    z = 1.959963984540054

    def wide(m):
        return 2 * z * np.sqrt(p * (1 - p) / m + z**2 / (4 * m**2)) / (1 + z**2 / m)

    assert wide(n) <= width + 1e-12
    assert n == 1 or wide(n - 1) > width


def test_samples_needed_textbook_value():
    # the normal-approximation rule n = z^2 / (w/2)^2 * p(1-p) gives 384 at p = 0.5, w = 0.1;
    # Wilson's interval is slightly narrower at the same n, so 381 rows suffice
    assert wilson_samples_needed(0.5, 0.1) == 381


# ---------------------------------------------------------------------------- bootstrap
@pytest.mark.parametrize("metric, ref", [
    ("accuracy", "accuracy_score"),
    ("macro_recall", "recall"),
    ("macro_precision", "precision"),
    ("macro_f1", "f1"),
])
def test_bootstrap_point_estimates_match_sklearn(metric, ref):
    from sklearn import metrics as skm

    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 300)
    pred = np.where(rng.random(300) < 0.7, y, rng.integers(0, 4, 300))
    est, low, high = bootstrap_interval(y, pred, metric=metric, n_bootstrap=200)
    labels = np.unique(y)
    expect = {
        "accuracy_score": lambda: skm.accuracy_score(y, pred),
        "recall": lambda: skm.recall_score(y, pred, average="macro", labels=labels),
        "precision": lambda: skm.precision_score(y, pred, average="macro", labels=labels),
        "f1": lambda: skm.f1_score(y, pred, average="macro", labels=labels),
    }[ref]()
    assert est == pytest.approx(expect, abs=1e-12)
    assert low <= est <= high


def test_bootstrap_matches_loop_reference():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 120)
    pred = np.where(rng.random(120) < 0.6, y, rng.integers(0, 3, 120))
    # the vectorised resampling draws the same indices as this loop with the same generator
    est, low, high = bootstrap_interval(y, pred, metric="macro_f1", n_bootstrap=100,
                                        random_state=np.random.default_rng(7))
    idx = np.random.default_rng(7).integers(120, size=(100, 120))
    stats = [f1_score(y[i], pred[i], average="macro", labels=np.unique(y[i]),
                      zero_division=0) for i in idx]
    ref_low, ref_high = np.quantile(stats, [0.025, 0.975])
    assert (low, high) == pytest.approx((ref_low, ref_high), abs=1e-9)


def test_bootstrap_callable_metric_and_probabilities():
    y = np.array([0, 1] * 30)
    probs = np.eye(2)[y] * 0.8 + 0.1
    est, low, high = bootstrap_interval(
        y, probs, metric=lambda a, b: float(np.mean(a == b)), n_bootstrap=50
    )
    assert (est, low, high) == (1.0, 1.0, 1.0)


def test_bootstrap_bad_metric():
    with pytest.raises(InvalidParameterError, match="'metric' parameter"):
        bootstrap_interval([0, 1], [0, 1], metric="auc")


# ---------------------------------------------------------------------------- intervals table
def test_evaluation_intervals_flags_small_classes():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(2000, int), np.ones(2000, int), np.full(15, 2)]
    pred = np.where(rng.random(y.size) < 0.9, y, (y + 1) % 3)
    split = np.r_[np.full(y.size - 1000, "train"), np.full(1000, "test")].astype(object)
    split[-15:] = "test"
    res = evaluation_intervals(y, pred, split=split, classes=["a", "b", "c"], n_bootstrap=200)
    assert set(res["split"]) == {"test"}  # the training split is not an evaluation split
    rec = res[res["metric"] == "recall"].set_index("class")
    assert rec.loc["c", "too_wide"] and rec.loc["c", "n"] == 15
    assert rec.loc["c", "n_needed"] == wilson_samples_needed(rec.loc["c", "estimate"], 0.1)
    assert rec.loc["c", "n_more"] == rec.loc["c", "n_needed"] - 15
    acc = res[res["metric"] == "accuracy"].iloc[0]
    low, high = wilson_interval(int(round(acc["estimate"] * acc["n"])), acc["n"])
    assert (acc["low"], acc["high"]) == pytest.approx((float(low), float(high)))


def test_evaluation_intervals_bad_split_name():
    with pytest.raises(InvalidParameterError, match="'splits' parameter"):
        evaluation_intervals([0, 1, 0, 1], [0, 1, 1, 1], split=["a", "a", "b", "b"],
                             splits=["c"])


# ---------------------------------------------------------------------------- compare_splits
def test_ridge_permutation_auc_matches_sklearn_ridge_per_fold():
    from sklearn.linear_model import Ridge
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(size=(60, 4)), rng.normal(0.4, size=(60, 4))])
    d = np.r_[np.zeros(60), np.ones(60)]
    auc, _ = _ridge_permutation_auc(x, d, 4, 5, np.random.default_rng(3))
    # reference: the same folds (first draw of the same generator), sklearn Ridge per fold
    ref_rng = np.random.default_rng(3)
    fold = ref_rng.permutation(np.arange(120) % 4)
    z = (x - x.mean(0)) / x.std(0)
    aucs = []
    for f in range(4):
        te = fold == f
        model = Ridge(alpha=1.0).fit(z[~te], d[~te])
        aucs.append(roc_auc_score(d[te], model.predict(z[te])))
    assert auc == pytest.approx(np.mean(aucs), abs=1e-9)


def test_compare_splits_detects_shift_and_label_shift():
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(size=(150, 5)), rng.normal(0.7, size=(150, 5))])
    y = np.r_[rng.choice(3, 150, p=[0.6, 0.3, 0.1]), rng.choice(3, 150, p=[0.2, 0.3, 0.5])]
    split = ["valid"] * 150 + ["test"] * 150
    res = compare_splits(x, split, labels=y, n_permutations=50)
    assert (res.split_a, res.split_b) == ("valid", "test")
    assert res.auc > 0.8 and res.auc_p_value == pytest.approx(1 / 51)
    assert res.label_p_value < 1e-6 and res.label_tvd > 0.3


def test_compare_splits_label_test_matches_scipy():
    from scipy.stats import chi2_contingency

    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 3))
    y = rng.integers(0, 3, 200)
    res = compare_splits(x, ["valid"] * 100 + ["test"] * 100, labels=y, n_permutations=5)
    table = np.stack([np.bincount(y[:100], minlength=3), np.bincount(y[100:], minlength=3)])
    ref = chi2_contingency(table, correction=False)
    assert res.label_statistic == pytest.approx(ref.statistic)
    assert res.label_p_value == pytest.approx(ref.pvalue)


def test_compare_splits_p_value_is_roughly_uniform_under_the_null():
    ps = []
    for seed in range(40):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(80, 3))
        ps.append(compare_splits(x, ["valid"] * 40 + ["test"] * 40, n_permutations=40,
                                 random_state=seed).auc_p_value)
    ps = np.array(ps)
    assert 0.02 <= np.mean(ps <= 0.1) <= 0.25


def test_compare_splits_picks_evaluation_splits_and_validates():
    x = np.random.default_rng(0).normal(size=(30, 2))
    split = ["train"] * 10 + ["valid"] * 10 + ["test"] * 10
    res = compare_splits(x, split, n_permutations=5, n_folds=2)
    assert (res.split_a, res.split_b) == ("valid", "test") and res.n_a == 10
    with pytest.raises(InvalidParameterError, match="'split_a' parameter"):
        compare_splits(x, split, split_a="dev")
    with pytest.raises(InputValidationError, match="too small for 5-fold"):
        compare_splits(x[:13], split[:13], split_a="train", split_b="valid")
    with pytest.raises(InputValidationError, match="only one value"):
        compare_splits(x, ["test"] * 30)
