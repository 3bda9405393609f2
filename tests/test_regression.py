"""assay.regression and the regression models: against independent computations (statsmodels'
MAD, scipy's normal tail and kernel density, loops), synthetic data with known wrong values, and
cleanlab's regression module on the same data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from assay.exceptions import InputValidationError, InvalidParameterError
from assay.models import cross_fit_regression, fold_ids, make_regressor, model_input
from assay.regression import (
    NORMAL_MAD,
    estimate_regression_label_issues,
    find_regression_label_issues,
    fit_noise_scale,
    fit_target_predictions,
    knn_target_consensus,
    mad_scale,
    regression_label_issues,
    regression_label_scores,
)


def _linear_data(n=400, wrong=20, seed=0, noise=1.0, shift=12.0):
    """y = x @ w + noise; the first ``wrong`` rows moved by +-``shift`` noise sds."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    y = x @ np.array([3.0, -2.0, 1.0, 0.5]) * 4 + rng.normal(size=n) * noise
    y[:wrong] += rng.choice([-1.0, 1.0], wrong) * shift * noise
    truth = np.zeros(n, dtype=bool)
    truth[:wrong] = True
    return x, y, truth


# ------------------------------------------------------------------------------ noise scale
def test_mad_scale_equals_statsmodels():
    from statsmodels.robust.scale import mad

    rng = np.random.default_rng(0)
    for v in (rng.normal(size=101), rng.standard_t(3, size=500) * 7 + 3, np.arange(10.0)):
        assert mad_scale(v) == pytest.approx(float(mad(v)), rel=1e-12)


def test_mad_scale_hand_worked_and_degenerate():
    # median 3, absolute deviations 2 1 0 1 97: MAD 1, times 1.4826
    assert mad_scale([1.0, 2.0, 3.0, 4.0, 100.0]) == pytest.approx(NORMAL_MAD)
    # more than half equal the median (MAD 0): mean absolute deviation * sqrt(pi / 2)
    v = [5.0, 5.0, 5.0, 5.0, 9.0]
    assert mad_scale(v) == pytest.approx(0.8 * np.sqrt(np.pi / 2))
    assert mad_scale([2.0, 2.0, 2.0]) == 0.0
    assert mad_scale([]) == 0.0


def test_noise_scale_bins_match_a_loop():
    rng = np.random.default_rng(1)
    pred = rng.uniform(0, 10, 1000)
    r = rng.normal(size=1000) * (0.5 + pred)
    ns = fit_noise_scale(r, pred)
    assert ns.heteroscedastic and ns.p_value < 1e-6
    order = np.argsort(pred, kind="stable")
    for b, (centre, scale) in enumerate(zip(ns.centres, ns.bin_scales, strict=True)):
        rows = order[b * 100:(b + 1) * 100]  # 10 equal ranges of 100 rows
        assert centre == pytest.approx(np.median(pred[rows]))
        dev = np.abs(r[rows] - np.median(r[rows]))
        assert scale == pytest.approx(1.482602218505602 * np.median(dev))
    # DerSimonian-Laird shrinkage of the log scales towards their pooled mean, by hand
    w = 100 / 1.3605
    logs = np.log(ns.bin_scales)
    pooled = logs.mean()
    q = np.sum(w * (logs - pooled) ** 2)
    tau2 = (q - 9) / (10 * w - 10 * w ** 2 / (10 * w))
    assert ns.spread == pytest.approx(np.sqrt(tau2))
    shrunk = np.exp(pooled + tau2 / (tau2 + 1 / w) * (logs - pooled))
    assert np.allclose(ns.scale, np.interp(pred, ns.centres, shrunk))
    # the local scale follows the true one (0.5 + pred) within sampling error
    mid = (pred > 2) & (pred < 8)
    assert np.median(ns.scale[mid] / (0.5 + pred[mid])) == pytest.approx(1.0, abs=0.15)


def test_noise_scale_is_global_under_constant_noise_for_most_seeds():
    rejected = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        ns = fit_noise_scale(rng.normal(size=800) * 3, rng.uniform(size=800))
        rejected += ns.heteroscedastic
        if not ns.heteroscedastic:
            assert np.all(ns.scale == ns.global_scale)
    assert rejected <= 3  # a 1 % test: about 0.4 of 40 expected


def test_noise_scale_of_few_rows_is_global():
    ns = fit_noise_scale([1.0, -1.0, 2.0, -2.0], [0.0, 1.0, 2.0, 3.0])
    assert not ns.heteroscedastic and ns.p_value == 1.0
    assert ns.scale.tolist() == [ns.global_scale] * 4


# ------------------------------------------------------------------------------ scores and flags
def test_scores_are_the_two_sided_normal_tail():
    rng = np.random.default_rng(2)
    y, p, s = rng.normal(size=50) * 3, rng.normal(size=50), rng.uniform(0.5, 2, 50)
    got = regression_label_scores(y, p, s)
    assert np.allclose(got, 2 * stats.norm.sf(np.abs(y - p) / s), rtol=1e-12, atol=1e-300)
    assert ((got >= 0) & (got <= 1)).all()


def test_wrong_value_density_is_half_the_kernel_density_half_uniform():
    from assay.regression import _wrong_value_density

    rng = np.random.default_rng(3)
    y = np.r_[rng.normal(size=300), rng.normal(size=200) * 0.5 + 4]
    sd, iqr = np.std(y), np.subtract(*np.percentile(y, [75, 25]))
    h = 0.9 * min(sd, iqr / 1.349) * y.size ** -0.2  # Silverman's rule
    kde = stats.gaussian_kde(y, bw_method=h / np.std(y, ddof=1))
    expected = 0.5 * kde(y) + 0.5 / (3 * (y.max() - y.min()))
    assert np.allclose(_wrong_value_density(y), expected, rtol=0.02)


def test_estimate_flags_exactly_the_far_values():
    x, y, truth = _linear_data(shift=15.0)
    pred = x @ np.array([3.0, -2.0, 1.0, 0.5]) * 4  # the true function
    est = estimate_regression_label_issues(y, pred, 1.0)
    assert np.array_equal(est.flagged, truth)
    assert est.reliable and est.reason == ""
    assert est.n_estimated == pytest.approx(20, abs=2)
    assert est.estimated_precision > 0.95
    # EM's fixed point: the fitted rate is the mean posterior
    assert est.error_rate == pytest.approx(est.error_probability.mean(), abs=1e-6)
    assert np.array_equal(find_regression_label_issues(y, pred, 1.0), est.flagged)


def test_posterior_matches_bayes_rule_at_the_fitted_rate():
    from assay.regression import _wrong_value_density

    x, y, _ = _linear_data(seed=4)
    pred = x @ np.array([3.0, -2.0, 1.0, 0.5]) * 4
    est = estimate_regression_label_issues(y, pred, 1.0)
    rate = est.error_rate
    wrong = rate * _wrong_value_density(y)
    clean = (1 - rate) * stats.norm.pdf(y - pred)
    assert np.allclose(est.error_probability, wrong / (wrong + clean), atol=1e-9)


def test_estimates_are_unreliable_with_a_weak_model_or_few_rows():
    rng = np.random.default_rng(5)
    y = rng.normal(size=300)
    pred = 0.3 * y + rng.normal(size=300)  # explains little of y
    r = y - pred
    est = estimate_regression_label_issues(y, pred, mad_scale(r))
    assert not est.reliable and est.reason == "weak_model" and est.explained < 0.5
    few = estimate_regression_label_issues(y[:20], y[:20] + 0.01 * rng.normal(size=20), 0.01)
    assert not few.reliable and few.reason == "few_rows"


def test_bad_inputs_are_refused_clearly():
    with pytest.raises(InputValidationError, match="finite"):
        regression_label_scores([1.0, np.nan], [1.0, 1.0], 1.0)
    with pytest.raises(InputValidationError, match="scale must be positive"):
        regression_label_scores([1.0, 2.0], [1.0, 1.0], 0.0)
    with pytest.raises(InputValidationError, match="lengths differ"):
        regression_label_scores([1.0, 2.0], [1.0], 1.0)
    with pytest.raises(InputValidationError, match=r"\(N, k\)"):
        knn_target_consensus([1.0, 2.0], np.array([0, 1]))
    with pytest.raises(InputValidationError, match="missing or infinite"):
        cross_fit_regression(np.zeros((4, 1)), [1.0, np.inf, 2.0, 3.0])
    with pytest.raises(InvalidParameterError, match="Did you mean 'hgb'"):
        cross_fit_regression(np.zeros((10, 1)), np.arange(10.0), model="hgbb")


# ------------------------------------------------------------------------------ neighbours
def test_knn_consensus_matches_a_loop():
    rng = np.random.default_rng(6)
    y = rng.normal(size=60)
    idx = np.array([rng.choice(np.delete(np.arange(60), i), 5, replace=False)
                    for i in range(60)])
    s = rng.uniform(0.2, 1.0, 60)
    med, agree = knn_target_consensus(y, idx, s)
    for i in range(60):
        assert med[i] == np.median(y[idx[i]])
        assert agree[i] == sum(abs(y[j] - y[i]) <= 2 * s[i] for j in idx[i]) / 5


# ------------------------------------------------------------------------------ folds and models
def test_fold_ids_follow_the_keys_not_the_row_order():
    keys = np.array([f"id{i}" for i in range(103)])
    f = fold_ids(keys, n_folds=5, random_state=7)
    perm = np.random.default_rng(0).permutation(103)
    assert np.array_equal(fold_ids(keys[perm], n_folds=5, random_state=7), f[perm])
    assert sorted(np.bincount(f).tolist()) == [20, 20, 21, 21, 21]
    assert not np.array_equal(fold_ids(keys, n_folds=5, random_state=8), f)
    groups = np.repeat(np.arange(30), 3)
    g = fold_ids(groups, n_folds=4)
    assert all(len(set(g[groups == k])) == 1 for k in range(30))


def test_predictions_are_out_of_fold():
    """A row's own value never reaches its prediction; the other folds' rows do."""
    x, y, _ = _linear_data(n=120, wrong=0)
    folds = fold_ids(np.arange(120), n_folds=4)
    base = cross_fit_regression(x, y, model="linear", folds=folds).predictions
    changed = y.copy()
    changed[7] += 1000.0
    again = cross_fit_regression(x, changed, model="linear", folds=folds).predictions
    assert again[7] == pytest.approx(base[7], abs=1e-9)
    other = folds != folds[7]
    assert np.abs(again[other] - base[other]).max() > 1.0


def test_auto_chooses_by_out_of_fold_absolute_error():
    x, y, _ = _linear_data(n=300, wrong=0)
    fit = cross_fit_regression(x, y, model="auto")
    maes = {k: v["mae"] for k, v in fit.candidates.items()}
    assert set(maes) == {"linear", "hgb", "blend"}
    assert fit.chosen == min(maes, key=maes.get) == "linear"  # a linear truth
    assert np.mean(np.abs(y - fit.predictions)) == pytest.approx(maes["linear"], rel=1e-5)


def test_trimmed_refit_leaves_far_values_out_of_training():
    x, y, truth = _linear_data(shift=30.0)
    first = cross_fit_regression(x, y, model="linear")
    fit = fit_target_predictions(x, y, model="linear")
    assert fit.n_left_out >= truth.sum()
    clean = ~truth
    assert (np.abs(y - fit.predictions)[clean].mean()
            < np.abs(y - first.predictions)[clean].mean())


def test_make_regressor_names():
    mi = model_input(__import__("assay").load(
        pd.DataFrame({"a": [1.0, 2.0, 3.0], "c": ["x", "y", "x"], "t": [1.5, 2.5, 3.5]}),
        label="t"))
    assert type(make_regressor("blend", mi)).__name__ == "BlendRegressor"
    with pytest.raises(InvalidParameterError, match="'linear', 'hgb', 'blend'"):
        make_regressor("auto", mi)


# ------------------------------------------------------------------------------ end to end
def test_synthetic_wrong_values_are_found():
    x, y, truth = _linear_data(n=500, wrong=25, shift=8.0)
    res = regression_label_issues(x, y)
    flags = res["is_label_issue"].to_numpy()
    precision = (flags & truth).sum() / flags.sum()
    recall = (flags & truth).sum() / truth.sum()
    assert precision >= 0.9 and recall >= 0.9
    lo, hi = res["suggested_low"].to_numpy(), res["suggested_high"].to_numpy()
    true_y = x @ np.array([3.0, -2.0, 1.0, 0.5]) * 4
    assert ((true_y >= lo) & (true_y <= hi))[truth].mean() >= 0.9  # the suggestion's interval
    assert res.attrs["estimate"].reliable


def test_at_least_as_good_as_cleanlab_on_a_small_case():
    """scikit-learn's diabetes with 8 % of the values moved by 2-4 sd (one row of
    benchmarks/regression_labels.py): F1 of the flags, beside cleanlab's regression
    CleanLearning given HistGradientBoosting."""
    pytest.importorskip("cleanlab")
    from cleanlab.regression.learn import CleanLearning
    from sklearn.datasets import load_diabetes
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.metrics import f1_score
    from threadpoolctl import threadpool_limits

    x, y0 = load_diabetes(return_X_y=True)
    rng = np.random.default_rng(0)
    rows = rng.choice(y0.size, 35, replace=False)
    y = y0.copy()
    y[rows] += rng.choice([-1.0, 1.0], 35) * rng.uniform(2, 4, 35) * y0.std()
    truth = y != y0
    ours = regression_label_issues(x, y)["is_label_issue"].to_numpy()
    with threadpool_limits(1, user_api="openmp"):
        theirs = CleanLearning(model=HistGradientBoostingRegressor(random_state=0),
                               seed=0).find_label_issues(x, y)["is_label_issue"].to_numpy()
    f_ours, f_theirs = f1_score(truth, ours), f1_score(truth, theirs)
    assert f_ours >= f_theirs, (f_ours, f_theirs)
    assert f_ours >= 0.7
