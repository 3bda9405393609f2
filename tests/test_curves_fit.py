"""Learning-curve families, fitting, family choice, intervals and ill-behaved curves."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.curves import FAMILIES, check_curve_quality, fit_learning_curve
from assay.exceptions import InputValidationError, InvalidParameterError

SIZES = np.geomspace(50, 20_000, 12)
TRUTH = {
    "pow3": (1.5, 0.4, 0.05),
    "pow2": (2.0, 0.3),
    "pow4": (3.0, 0.5, 0.03, 200.0),
    "exp3": (0.5, 1e-3, 0.1),
    "logistic": (0.6, 1.5, 0.05, math.log(800.0)),
}


@pytest.mark.parametrize("name", list(TRUTH))
def test_exact_recovery_from_noise_free_curves(name):
    params = np.array(TRUTH[name])
    y = FAMILIES[name].formula(SIZES, *params)
    fit = fit_learning_curve(SIZES, y, family=name, kind="error", n_bootstrap=0)
    got = np.array(list(fit.params.values()))
    np.testing.assert_allclose(got, params, rtol=1e-6)
    assert list(fit.params) == list(FAMILIES[name].param_names)


@pytest.mark.parametrize("name", ["pow3", "pow4", "exp3", "logistic"])
def test_auto_choice_finds_the_generating_family(name):
    y = FAMILIES[name].formula(SIZES, *TRUTH[name])
    fit = fit_learning_curve(SIZES, y, kind="error", n_bootstrap=0)
    assert fit.family == name
    assert fit.heldout_error[name] < 1e-6
    # exp3 cannot follow a power law's slow decay beyond the fitted sizes.
    assert fit.heldout_error["exp3"] > 0.01 or name == "exp3"


def test_auto_prefers_the_simpler_of_tied_families():
    # A plain power law is also a pow3 with c = 0: both extrapolate exactly; pow2 is simpler.
    y = FAMILIES["pow2"].formula(SIZES, *TRUTH["pow2"])
    assert fit_learning_curve(SIZES, y, kind="error", n_bootstrap=0).family == "pow2"


def test_accuracy_kind_fits_the_error_and_reports_scores():
    acc = 1.0 - FAMILIES["pow3"].formula(SIZES, 1.5, 0.4, 0.05)
    fit = fit_learning_curve(SIZES, acc, family="pow3", n_bootstrap=0)
    assert fit.params["c"] == pytest.approx(0.05, rel=1e-6)
    assert fit.ceiling == pytest.approx(0.95, rel=1e-6)
    # Hand-computed: 1 - (1.5 * 1e6^-0.4 + 0.05) = 0.95 - 1.5e-2.4 = 0.9437...
    assert fit.predict(1e6) == pytest.approx(0.95 - 1.5 * 10**-2.4, rel=1e-9)
    assert isinstance(fit.predict(1e6), float)
    assert fit.predict(np.array([1e3, 1e4])).shape == (2,)


def test_samples_for_inverts_the_curve_by_hand():
    acc = 1.0 - FAMILIES["pow3"].formula(SIZES, 1.5, 0.4, 0.05)
    fit = fit_learning_curve(SIZES, acc, family="pow3", n_bootstrap=0)
    need = fit.samples_for(0.94)
    # 0.06 = 1.5 n^-0.4 + 0.05  ->  n = (0.01 / 1.5) ** (-1 / 0.4) = 150 ** 2.5
    assert need.n_point == pytest.approx(150**2.5, rel=1e-6)
    assert need.reachable
    assert need.n_point == need.n_low == need.n_high  # no bootstrap: no interval
    # far beyond the measured sizes: the conservative recommendation is one round of 2x
    assert need.capped and need.n == pytest.approx(2 * SIZES.max())
    assert f"n={150**2.5:,.0f}" in need.message and f"collect up to n={2 * SIZES.max():,.0f}" in need.message
    assert need.to_dict()["n_point"] == pytest.approx(150**2.5, rel=1e-6)
    uncapped = fit.samples_for(0.94, max_growth=math.inf)
    assert not uncapped.capped and uncapped.n == pytest.approx(150**2.5, rel=1e-6)
    assert "x the" in uncapped.message
    assert fit.samples_for(0.94, conservative=False).n == pytest.approx(150**2.5, rel=1e-6)
    with pytest.raises(InvalidParameterError, match="max_growth"):
        fit.samples_for(0.94, max_growth=0.5)


def test_target_above_the_ceiling_says_so_with_the_ceiling():
    acc = 1.0 - FAMILIES["pow3"].formula(SIZES, 1.5, 0.4, 0.05)
    fit = fit_learning_curve(SIZES, acc, family="pow3", n_bootstrap=0)
    need = fit.samples_for(0.97)
    assert not need.reachable
    assert math.isinf(need.n)
    assert need.ceiling == pytest.approx(0.95, rel=1e-6)
    assert "beyond the fitted ceiling 0.95" in need.message
    assert need.to_dict()["n"] is None


def test_target_already_reached_is_reported_as_such():
    acc = 1.0 - FAMILIES["pow3"].formula(SIZES, 1.5, 0.4, 0.05)
    fit = fit_learning_curve(SIZES, acc, family="pow3", n_bootstrap=0)
    assert "within the" in fit.samples_for(0.5).message


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(sorted(TRUTH)),
    scale=st.floats(0.5, 2.0),
    n=st.floats(10.0, 1e6),
)
def test_inverse_undoes_formula_for_every_family(name, scale, n):
    fam = FAMILIES[name]
    params = np.array(TRUTH[name]) * np.r_[scale, np.ones(fam.n_params - 1)]
    y = fam.formula(np.array(n), *params)
    back = fam.inverse(y, *params)
    if name == "exp3" and abs(y - fam.floor(*params)) < 1e-12 * y:
        return  # underflow: exp(-b n) == 0, n cannot be recovered
    assert back == pytest.approx(n, rel=1e-6)


def test_loss_kind_and_predict_interval_bracket_the_fit():
    rng = np.random.default_rng(0)
    n = np.repeat(SIZES, 4)
    loss = FAMILIES["pow3"].formula(n, 3.0, 0.3, 1.2) * np.exp(rng.normal(0, 0.02, n.size))
    fit = fit_learning_curve(n, loss, family="pow3", kind="loss", n_bootstrap=50)
    lo, hi = fit.predict_interval([1e3, 1e5], level=0.9)
    mid = fit.predict(np.array([1e3, 1e5]))
    assert np.all(lo <= mid + 1e-12) and np.all(mid <= hi + 1e-12)
    assert fit.bootstrap_params.shape == (50, 3)
    need = fit.samples_for(1.3)
    assert need.n_low <= need.n_point <= need.n_high
    assert fit.samples_for(1.3, conservative=False).n == need.n_point
    assert need.n == min(need.n_low, 2 * n.max())  # conservative: the low end, one round at most
    assert fit.samples_for(1.3, max_growth=math.inf).n == need.n_low


def test_bootstrap_without_replicates_uses_residuals():
    rng = np.random.default_rng(1)
    y = FAMILIES["pow3"].formula(SIZES, 1.5, 0.4, 0.05) * np.exp(rng.normal(0, 0.03, SIZES.size))
    fit = fit_learning_curve(SIZES, y, family="pow3", kind="error", n_bootstrap=30)
    spread = np.ptp(fit.bootstrap_params[:, 1])
    assert 0 < spread < 1.0


def _coverage(n_rep: int, level: float) -> float:
    """Share of noisy synthetic curves whose interval at n=2,000 covers the true score."""
    rng = np.random.default_rng(123)
    sizes = np.repeat(np.geomspace(100, 5_000, 8), 5)
    truth = FAMILIES["pow3"].formula(2_000.0, 1.5, 0.4, 0.05)
    hits = 0
    for _ in range(n_rep):
        y = FAMILIES["pow3"].formula(sizes, 1.5, 0.4, 0.05) * np.exp(
            rng.normal(0, 0.05, sizes.size))
        fit = fit_learning_curve(sizes, y, family="pow3", kind="error", n_bootstrap=100,
                                 random_state=rng)
        lo, hi = fit.predict_interval(2_000.0, level=level)
        hits += bool(lo[0] <= truth <= hi[0])
    return hits / n_rep


@pytest.mark.slow
def test_bootstrap_intervals_cover_the_truth_on_noisy_curves():
    # Nominal 90 %; percentile intervals from 5 replicates per size run a little narrow.
    assert _coverage(40, 0.9) >= 0.75


# --- ill-behaved curves ---------------------------------------------------------------------
def _shared_error_coverage(n_rep: int, use_se: bool) -> tuple[float, float]:
    """Coverage at the largest size and at 2x it when every score shares one evaluation error.

    Three seeds per size scatter by 0.01; all scores of one curve are also off by one draw of
    N(0, 0.02) (the same evaluation rows score every model), as on a 400-row split.
    """
    rng = np.random.default_rng(7)
    n = np.repeat(np.geomspace(50, 1_600, 8).round(), 3)

    def truth(m):
        return 1 - (1.2 * m**-0.4 + 0.05)

    hits = np.zeros(2)
    for r in range(n_rep):
        scores = truth(n) + rng.normal(0, 0.02) + rng.normal(0, 0.01, n.size)
        fit = fit_learning_curve(n, scores, family="pow3", n_bootstrap=80, random_state=r,
                                 score_se=np.full(n.size, 0.02) if use_se else None)
        lo, hi = fit.predict_interval([1_600, 3_200], level=0.8)
        hits += (lo <= truth(np.array([1_600, 3_200]))) & (truth(np.array([1_600, 3_200])) <= hi)
    return float(hits[0] / n_rep), float(hits[1] / n_rep)


@pytest.mark.slow
def test_shared_evaluation_error_widens_intervals_to_their_nominal_rate():
    seeds_only = _shared_error_coverage(40, use_se=False)
    with_se = _shared_error_coverage(40, use_se=True)
    # The seeds cannot reveal an error they all share: their intervals are far too narrow.
    assert max(seeds_only) <= 0.45
    # Binomial sd of a coverage from 40 curves at 0.8 is 0.06.
    assert all(0.65 <= c <= 0.95 for c in with_se), with_se


def test_interval_sources_are_recorded():
    n = np.repeat(SIZES, 2)
    y = 1 - FAMILIES["pow3"].formula(n, 1.5, 0.4, 0.05)
    fit = fit_learning_curve(n, y, n_bootstrap=5, score_se=np.full(n.size, 0.01))
    assert fit.interval_sources == ("seeds", "evaluation split")
    assert fit.to_dict()["interval_sources"] == ["seeds", "evaluation split"]
    assert fit_learning_curve(n, y, n_bootstrap=5).interval_sources == ("seeds",)
    assert fit_learning_curve(n, y, n_bootstrap=0).interval_sources == ()


def test_replicate_bootstrap_has_the_variance_of_the_mean():
    # Three replicates per size, no trend in their scatter: the resampled curves' spread at a
    # measured size must match the standard error of a 3-replicate mean, not (2/3) of its
    # variance as the plain bootstrap gives.
    rng = np.random.default_rng(3)
    sizes = np.geomspace(100, 10_000, 8)
    n = np.repeat(sizes, 3)
    spreads = []
    for r in range(30):
        y = FAMILIES["pow2"].formula(n, 2.0, 0.5) * np.exp(rng.normal(0, 0.05, n.size))
        fit = fit_learning_curve(n, y, family="pow2", kind="error", n_bootstrap=200,
                                 random_state=r)
        pred = FAMILIES["pow2"].formula(1_000.0, *fit.bootstrap_params.T)
        spreads.append(np.std(np.log(pred)))
    # Two-parameter fit to 8 size means with log sd 0.05/sqrt(3) each: near the middle of the
    # range the prediction's log sd is about 0.05 / sqrt(3 * 8) ~ 0.0102.
    # (the plain bootstrap gives sqrt(2/3) of that, 0.0083; the mean of 30 curves has sd 0.0003)
    assert 0.0092 <= float(np.mean(spreads)) <= 0.0112, np.mean(spreads)


def test_bad_score_se_is_refused():
    n = np.repeat(SIZES, 2)
    y = 1 - FAMILIES["pow3"].formula(n, 1.5, 0.4, 0.05)
    with pytest.raises(InputValidationError, match="one standard error per score"):
        fit_learning_curve(n, y, score_se=[0.01])
    with pytest.raises(InputValidationError, match="finite and >= 0"):
        fit_learning_curve(n, y, score_se=np.full(n.size, -0.01))
    with pytest.raises(InputValidationError, match="finite and >= 0"):
        fit_learning_curve(n, y, score_se=np.full(n.size, np.nan))


def test_quality_flags_a_bump_and_a_bend():
    n = np.array([100, 200, 400, 800, 1600])
    bump = np.array([0.40, 0.30, 0.35, 0.20, 0.15])
    q = check_curve_quality(n, bump)
    assert not q.monotone and not q.well_behaved
    assert any("n=200" in s and "n=400" in s for s in q.issues)
    # Slopes per sample: -0.1/100, -0.1/200, -0.1/400, then -0.09/800: convex (non-decreasing).
    assert check_curve_quality(n, np.array([0.5, 0.4, 0.3, 0.2, 0.11])).convex
    # A curve that falls faster later (-0.01/100 then -0.2/200): not convex.
    q = check_curve_quality(n[:3], np.array([0.5, 0.49, 0.29]))
    assert q.monotone and not q.convex


def test_quality_ignores_wiggles_within_the_noise():
    rng = np.random.default_rng(0)
    n = np.repeat(SIZES, 5)
    y = FAMILIES["pow3"].formula(n, 1.5, 0.4, 0.05) + rng.normal(0, 0.002, n.size)
    q = check_curve_quality(n, y)
    assert q.well_behaved, q.issues


def test_fit_reports_quality_of_an_ill_behaved_curve():
    n = np.array([100, 200, 400, 800, 1600, 3200])
    acc = np.array([0.60, 0.70, 0.65, 0.80, 0.83, 0.85])
    fit = fit_learning_curve(n, acc, n_bootstrap=0)
    assert not fit.quality.monotone
    assert fit.to_dict()["well_behaved"] is False


# --- bad input ------------------------------------------------------------------------------
def test_fewer_than_four_sizes_is_refused():
    with pytest.raises(InputValidationError, match="at least 4 distinct training-set sizes"):
        fit_learning_curve([100, 200, 400, 100], [0.5, 0.6, 0.7, 0.5])


def test_constant_curve_is_refused():
    with pytest.raises(InputValidationError, match="learning curve is flat"):
        fit_learning_curve([100, 200, 400, 800], [0.9, 0.9, 0.9, 0.9])


def test_misaligned_and_non_finite_inputs_are_refused():
    with pytest.raises(InputValidationError, match="got 4 sizes and 3 scores"):
        fit_learning_curve([1, 2, 3, 4], [0.1, 0.2, 0.3])
    with pytest.raises(InputValidationError, match="must be finite"):
        fit_learning_curve([1, 2, 3, 4], [0.1, np.nan, 0.3, 0.4])
    with pytest.raises(InputValidationError, match="must be positive"):
        fit_learning_curve([0, 2, 3, 4], [0.1, 0.2, 0.3, 0.4])
    with pytest.raises(InputValidationError, match=r"must lie in \[0, 1\] for kind='accuracy'"):
        fit_learning_curve([1, 2, 3, 4], [0.1, 0.2, 0.3, 1.4])
    with pytest.raises(InputValidationError, match="above 0 for kind='loss'"):
        fit_learning_curve([1, 2, 3, 4], [1.0, 0.5, 0.0, 0.1], kind="loss")


def test_bad_options_are_refused():
    y = 1 - FAMILIES["pow3"].formula(SIZES, 1.5, 0.4, 0.05)
    with pytest.raises(InvalidParameterError, match="Did you mean 'pow3'"):
        fit_learning_curve(SIZES, y, family="pow33")
    with pytest.raises(InvalidParameterError, match="'n_bootstrap' parameter"):
        fit_learning_curve(SIZES, y, n_bootstrap=-1)
    with pytest.raises(InvalidParameterError, match="'huber_delta' parameter"):
        fit_learning_curve(SIZES, y, huber_delta=0)


def test_bad_target_is_refused():
    y = 1 - FAMILIES["pow3"].formula(SIZES, 1.5, 0.4, 0.05)
    fit = fit_learning_curve(SIZES, y, family="pow3", n_bootstrap=0)
    with pytest.raises(InvalidParameterError, match=r"'target' parameter of samples_for must be a float in \(0, 1\]"):
        fit.samples_for(95)


def test_log_log_curvature_matches_polyfit_on_an_exact_quadratic():
    from assay.curves._quality import log_log_curvature

    n = np.geomspace(100, 10_000, 7)
    z = np.log(n)
    ly = 1.0 + 0.5 * (z - z.mean()) - 0.2 * (z - z.mean()) ** 2
    c2, c2_se, first, last = log_log_curvature(n, np.exp(ly), np.zeros_like(n))
    ref = np.polyfit(z - z.mean(), ly, 2)  # highest power first
    assert c2 == pytest.approx(ref[0], abs=1e-9) == pytest.approx(-0.2, abs=1e-9)
    assert first == pytest.approx(0.5 - 0.4 * (z.min() - z.mean()), abs=1e-9)
    assert last == pytest.approx(0.5 - 0.4 * (z.max() - z.mean()), abs=1e-9)
    assert c2_se < 1e-3  # no residual: only the 0.001 floor on the replicate error


def _seeded(y_of_n, sizes, sd=0.01, seeds=3):
    rng = np.random.default_rng(0)
    n = np.repeat(sizes, seeds)
    return n, y_of_n(n) * np.exp(rng.normal(0, sd, n.size))


def test_small_data_region_is_detected_and_recommendations_come_in_rounds():
    """An error curve whose log-log slope steepens (a logistic in log n before its midpoint) is
    flagged; power laws with noise are not; far targets are asked for one round at a time."""
    sizes = np.geomspace(80, 1_000, 7)
    steep = lambda n: 0.2 + 0.6 / (1 + np.exp(1.5 * (np.log(n) - np.log(3_000))))  # noqa: E731
    n, err = _seeded(steep, sizes)
    q = check_curve_quality(n, err)
    assert not q.power_law and not q.well_behaved
    assert "small-data region" in q.issues[-1]
    fit = fit_learning_curve(n, 1 - err, family="pow2", n_bootstrap=20)
    assert fit.to_dict()["power_law_region"] is False
    need = fit.samples_for(1 - steep(4_000.0))
    assert need.capped and need.n == pytest.approx(2 * sizes[-1])
    assert need.to_dict()["capped"] is True
    for name in ("pow3", "pow2"):
        params = TRUTH[name]
        n, err = _seeded(lambda v, p=params, f=FAMILIES[name]: f.formula(v, *p), sizes)
        assert check_curve_quality(n, err).power_law, name


def test_learning_curve_standard_errors_match_the_binomial_formulas():
    from sklearn.datasets import load_digits

    from assay.curves import learning_curve

    X, y = load_digits(return_X_y=True)
    curve = learning_curve(X, y, sizes=[100, 200, 400, 800], n_seeds=1, test_size=0.3)
    n_eval = int(np.ceil(0.3 * y.size))
    for row in curve.itertuples():
        # accuracy: a mean of n_eval hits -> sqrt(p (1 - p) / n_eval)
        expected = math.sqrt(row.accuracy * (1 - row.accuracy) / n_eval)
        assert row.accuracy_se == pytest.approx(expected, rel=0.2)
    # balanced accuracy: the mean of K recalls, each a binomial share of its class's rows
    recalls = curve.filter(like="recall[").to_numpy()
    support = np.bincount(y) * 0.3
    expected = np.sqrt(np.sum(recalls * (1 - recalls) / support, axis=1)) / 10
    assert curve["balanced_accuracy_se"].to_numpy() == pytest.approx(expected, rel=0.25)
    assert np.all(curve["macro_f1_se"] > 0) and np.all(curve["log_loss_se"] > 0)
