"""assay.longtail: shot groups, group accuracy, logit adjustment, weights, prior shift, LT subsample.

References: /work/shared/references/longtail.md (formulas, CIFAR-LT counts 12,406 / 10,847 and
the 35 / 35 / 30 shot split of CIFAR-100-LT IR100), brute-force loops, scikit-learn.
"""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import assay.longtail as lt
from assay.exceptions import InputValidationError, InvalidParameterError
from assay.longtail import (
    adjust_logits,
    class_balanced_weights,
    class_counts,
    group_accuracy,
    log_prior,
    make_long_tailed,
    prior_from_counts,
    prior_shift_accuracy,
    prior_shift_curve,
    sampling_probabilities,
    select_posthoc_tau,
    shifted_prior,
    shot_groups,
)


def test_docstring_examples_run():
    result = doctest.testmod(lt, extraglobs={"np": np})
    assert result.attempted > 15 and result.failed == 0


# ------------------------------------------------------------------ CIFAR-LT profile (published)
@pytest.mark.parametrize(("n_classes", "per_class", "total"), [(10, 5000, 12406), (100, 500, 10847)])
def test_cifar_lt_sizes_match_published(n_classes, per_class, total):
    labels = np.repeat(np.arange(n_classes), per_class)
    idx = make_long_tailed(labels, imbalance_ratio=100, random_state=0)
    assert idx.size == total
    counts = np.bincount(labels[idx])
    assert counts[0] == per_class and counts[-1] == per_class // 100


def test_shot_groups_cifar100_lt_ir100_is_35_35_30():
    labels = np.repeat(np.arange(100), 500)
    counts = np.bincount(labels[make_long_tailed(labels, imbalance_ratio=100, random_state=1)])
    groups = shot_groups(counts)
    assert [(groups == g).sum() for g in ("many", "medium", "few")] == [35, 35, 30]


def test_make_long_tailed_is_seeded_and_without_replacement():
    labels = np.repeat(np.arange(5), 40)
    a = make_long_tailed(labels, imbalance_ratio=10, random_state=3)
    b = make_long_tailed(labels, imbalance_ratio=10, random_state=3)
    c = make_long_tailed(labels, imbalance_ratio=10, random_state=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.unique(a).size == a.size
    # floor(40 * 10^(-i/4)) = 40, 22, 12, 7, 4
    assert np.bincount(labels[a]).tolist() == [40, 22, 12, 7, 4]


def test_make_long_tailed_errors():
    labels = np.repeat(np.arange(3), 5)
    with pytest.raises(InputValidationError, match="needs 9 samples"):
        make_long_tailed(labels, imbalance_ratio=2, random_state=0, n_max=9)
    with pytest.raises(InvalidParameterError, match="imbalance_ratio"):
        make_long_tailed(labels, imbalance_ratio=0.5, random_state=0)
    with pytest.raises(InputValidationError, match="integer class indices"):
        make_long_tailed(np.array(["a", "b"]), imbalance_ratio=2, random_state=0)


# ------------------------------------------------------------------ shot groups & accuracy
def test_shot_group_boundaries_are_inclusive_for_medium():
    assert shot_groups([101, 100, 20, 19, 0]).tolist() == ["many", "medium", "medium", "few", "few"]
    assert shot_groups([11, 10, 5, 4], many=10, few=5).tolist() == ["many", "medium", "medium", "few"]


def test_group_accuracy_hand_worked():
    # classes: 0 many (200), 1 medium (50), 2 few (5)
    # class 0: 3 rows, 2 right -> 2/3; class 1: 1 row right -> 1; class 2: 2 rows, 0 right -> 0
    y_true = [0, 0, 0, 1, 2, 2]
    y_pred = [0, 0, 1, 1, 0, 1]
    r = group_accuracy(y_true, y_pred, [200, 50, 5])
    assert r.many == pytest.approx(2 / 3)
    assert r.medium == 1.0 and r.few == 0.0
    assert r.overall == pytest.approx(3 / 6)
    assert r.balanced == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert r.worst_class == 0.0 and r.harmonic_mean == 0.0


def test_group_accuracy_matches_sklearn_and_brute_force(rng):
    from sklearn.metrics import accuracy_score, balanced_accuracy_score

    counts = np.array([300, 150, 80, 40, 19, 10, 3])
    y_true = rng.integers(0, 7, 500)
    y_pred = np.where(rng.random(500) < 0.6, y_true, rng.integers(0, 7, 500))
    r = group_accuracy(y_true, y_pred, counts)
    assert r.overall == pytest.approx(accuracy_score(y_true, y_pred))
    assert r.balanced == pytest.approx(balanced_accuracy_score(y_true, y_pred))
    per = [np.mean(y_pred[y_true == j] == j) for j in range(7)]
    groups = shot_groups(counts)
    for g in ("many", "medium", "few"):
        assert getattr(r, g) == pytest.approx(np.mean([p for p, gg in zip(per, groups, strict=True) if gg == g]))
    assert r.harmonic_mean == pytest.approx(len(per) / sum(1 / p for p in per))
    assert r.worst_class == pytest.approx(min(per))


def test_group_accuracy_empty_group_is_nan_and_classes_without_test_rows_skipped():
    r = group_accuracy([0, 0], [0, 1], [500, 300, 2])
    assert np.isnan(r.medium) and np.isnan(r.few)
    assert np.isnan(r.per_class[1]) and r.balanced == 0.5


def test_group_accuracy_mismatched_class_counts():
    with pytest.raises(InputValidationError, match="train_counts has 2 classes"):
        group_accuracy([0, 2], [0, 1], [10, 5])
    with pytest.raises(InputValidationError, match="lengths differ"):
        group_accuracy([0, 1], [0], [10, 5])
    with pytest.raises(InputValidationError, match="non-negative"):
        group_accuracy([0], [0], [10, -1])


# ------------------------------------------------------------------ priors and logit adjustment
def test_posthoc_adjustment_equals_formula(rng):
    logits = rng.normal(size=(20, 4))
    pi = np.array([0.6, 0.25, 0.1, 0.05])
    for tau in (0.0, 0.5, 1.0, 1.7):
        np.testing.assert_allclose(adjust_logits(logits, pi, tau=tau), logits - tau * np.log(pi))


def test_adjustment_to_target_prior_is_pc_softmax(rng):
    logits = rng.normal(size=(10, 3))
    pi, q = np.array([0.7, 0.2, 0.1]), np.array([0.1, 0.3, 0.6])
    got = adjust_logits(logits, pi, target_prior=q)
    np.testing.assert_allclose(got, logits - np.log(pi) + np.log(q))
    # Bayes rule check: softmax(f) reweighted by q / pi and renormalised
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    bayes = p * q / pi
    bayes /= bayes.sum(1, keepdims=True)
    soft = np.exp(got) / np.exp(got).sum(1, keepdims=True)
    np.testing.assert_allclose(soft, bayes)


def test_adjustment_with_zero_target_class_never_predicts_it(rng):
    got = adjust_logits(rng.normal(size=(50, 3)), [0.5, 0.3, 0.2], target_prior=[0.5, 0.5, 0.0])
    assert np.all(np.isneginf(got[:, 2])) and np.all(got.argmax(1) != 2)


def test_zero_training_class_is_handled_explicitly():
    with pytest.raises(InputValidationError, match=r"zero training samples.*smoothing"):
        log_prior([10, 0, 5])
    with pytest.raises(InputValidationError, match=r"train_prior is 0 for class\(es\) \[1\]"):
        adjust_logits(np.zeros((1, 3)), [0.5, 0.0, 0.5])
    lp = log_prior([10, 0, 5], smoothing=1.0)
    np.testing.assert_allclose(lp, np.log(np.array([11, 1, 6]) / 18))
    assert np.all(np.isfinite(adjust_logits(np.zeros((1, 3)), prior_from_counts([10, 0, 5],
                                                                               smoothing=1.0))))


def test_prior_must_sum_to_one_and_match_classes():
    with pytest.raises(InputValidationError, match="must sum to 1.*sums to 0.9"):
        adjust_logits(np.zeros((2, 2)), [0.5, 0.4])
    with pytest.raises(InputValidationError, match="has 3 entries but there are 2 classes"):
        adjust_logits(np.zeros((2, 2)), [0.5, 0.25, 0.25])
    with pytest.raises(InputValidationError, match="must sum to 1"):
        prior_shift_accuracy([0], [0], [0.2, 0.2])
    with pytest.raises(InvalidParameterError, match="'tau' parameter"):
        adjust_logits(np.zeros((2, 2)), [0.5, 0.5], tau=-1)
    with pytest.raises(InputValidationError, match="non-finite|NaN"):
        adjust_logits([[np.nan, 0.0]], [0.5, 0.5])


def test_class_balanced_weights_reference_formula_and_sum():
    counts = np.array([5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50])
    for beta in (0.0, 0.9, 0.99, 0.999, 0.9999, 1.0):
        w = class_balanced_weights(counts, beta=beta)
        assert w.sum() == pytest.approx(len(counts))
        if 0 < beta < 1:  # the reference code, term by term
            eff = 1.0 - np.power(beta, counts)
            ref = (1.0 - beta) / eff
            ref = ref / ref.sum() * len(counts)
            np.testing.assert_allclose(w, ref, rtol=1e-10)
    np.testing.assert_allclose(class_balanced_weights(counts, beta=0.0), np.ones(10))
    inv = 1 / counts
    np.testing.assert_allclose(class_balanced_weights(counts, beta=1.0), inv / inv.sum() * 10)
    # beta -> 1 approaches inverse frequency continuously
    np.testing.assert_allclose(class_balanced_weights(counts, beta=1 - 1e-9),
                               class_balanced_weights(counts, beta=1.0), rtol=1e-4)


def test_class_balanced_weights_zero_class_and_bad_beta():
    w = class_balanced_weights([10, 0, 10], beta=0.99)
    assert w[1] == 0 and w.sum() == pytest.approx(3)
    with pytest.raises(InvalidParameterError, match=r"'beta' parameter.*\[0, 1\]"):
        class_balanced_weights([1, 2], beta=1.5)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(1, 10_000), min_size=2, max_size=30),
       st.floats(0.0, 1.0))
def test_class_balanced_weights_properties(counts, beta):
    w = class_balanced_weights(counts, beta=beta)
    assert np.all(np.isfinite(w)) and w.sum() == pytest.approx(len(counts))
    order = np.argsort(counts, kind="stable")
    assert np.all(np.diff(w[order]) <= 1e-9)  # rarer classes never get less weight


def test_sampling_probabilities():
    np.testing.assert_allclose(sampling_probabilities([90, 10], q=1.0), [0.9, 0.1])
    np.testing.assert_allclose(sampling_probabilities([90, 10, 0], q=0.0), [0.5, 0.5, 0.0])
    np.testing.assert_allclose(sampling_probabilities([9, 1], q=0.5), [0.75, 0.25])
    with pytest.raises(InvalidParameterError, match="'q' parameter"):
        sampling_probabilities([1, 2], q=2)


def test_select_posthoc_tau_uses_given_rows_only(rng):
    # a head-biased model: logits favour class 0 by log(pi) -> tau near 1 fixes it
    pi = np.array([0.8, 0.15, 0.05])
    y = rng.integers(0, 3, 3000)
    logits = 2.0 * np.eye(3)[y] + rng.normal(size=(3000, 3)) + np.log(pi)
    tau, table = select_posthoc_tau(logits, y, pi)
    assert 0.7 <= tau <= 1.3
    assert table["balanced_accuracy"].max() == table.loc[table["tau"] == tau,
                                                         "balanced_accuracy"].iloc[0]
    with pytest.raises(InvalidParameterError, match="'taus' parameter"):
        select_posthoc_tau(logits, y, pi, taus=[])


# ------------------------------------------------------------------ shifted priors
def test_shifted_prior_profiles():
    counts = [5, 500, 50]  # head order: class 1, 2, 0
    fwd = shifted_prior(counts, profile="forward", imbalance=100)
    np.testing.assert_allclose(fwd / fwd.min(), [1, 100, 10])
    bwd = shifted_prior(counts, profile="backward", imbalance=100)
    np.testing.assert_allclose(bwd / bwd.min(), [100, 1, 10])
    np.testing.assert_allclose(shifted_prior(counts, profile="uniform"), [1 / 3] * 3)
    with pytest.raises(InvalidParameterError, match="'profile' parameter"):
        shifted_prior(counts, profile="sideways")


def test_prior_shift_weighting_equals_brute_force_resampling(rng):
    # a test set already drawn at prior q: plain accuracy == importance-weighted accuracy
    y_true = np.repeat([0, 1, 2], [60, 30, 10])
    y_pred = np.where(rng.random(100) < 0.7, y_true, (y_true + 1) % 3)
    q = np.array([0.6, 0.3, 0.1])
    weighted = prior_shift_accuracy(y_true, y_pred, q)
    assert weighted == pytest.approx(np.mean(y_true == y_pred))
    # resampling with the whole class available: every draw takes all rows -> same number
    resampled = prior_shift_accuracy(y_true, y_pred, q, method="resample", random_state=0)
    assert resampled == pytest.approx(weighted)


def test_prior_shift_resample_close_to_weighting_on_balanced_test(rng):
    y_true = np.repeat(np.arange(5), 200)
    acc_j = np.array([0.9, 0.8, 0.6, 0.4, 0.2])
    y_pred = np.where(rng.random(1000) < acc_j[y_true], y_true, (y_true + 1) % 5)
    q = shifted_prior([500, 200, 90, 40, 5], profile="forward", imbalance=10)
    w = prior_shift_accuracy(y_true, y_pred, q)
    r = prior_shift_accuracy(y_true, y_pred, q, method="resample", n_repeats=30, random_state=1)
    assert abs(w - r) < 0.02


def test_prior_shift_curve_and_missing_class():
    y_true = np.repeat(np.arange(3), 10)
    y_pred = np.where(y_true == 0, 0, 0)  # only class 0 right
    curve = prior_shift_curve(y_true, y_pred, [100, 10, 1], imbalances=[10, 2])
    assert curve["profile"].tolist() == ["forward-10", "forward-2", "uniform", "backward-2",
                                         "backward-10"]
    acc = curve["accuracy"].to_numpy()
    assert np.all(np.diff(acc) < 0)  # the more test mass on the head, the better
    assert acc[2] == pytest.approx(1 / 3)
    with pytest.raises(InputValidationError, match="no evaluation row"):
        prior_shift_accuracy([0, 0], [0, 0], [0.5, 0.5])


def test_class_counts():
    assert class_counts([1, 1, 3]).tolist() == [0, 2, 0, 1]
    with pytest.raises(InputValidationError, match="train_counts has 2 classes"):
        class_counts([0, 2], n_classes=2)


# ------------------------------------------------------------------ feature-space tail augmentation
def _tail_case():
    rng = np.random.default_rng(0)
    heads = [((0.0, 0.0), (1.0, 0.3)), ((6.0, 0.0), (0.5, 2.0)), ((0.0, 9.0), (3.0, 1.0))]
    x = np.vstack([rng.normal(m, s, size=(200, 2)) for m, s in heads])
    tail = np.array([[4.0, 1.0]])
    return np.vstack([x, tail]), np.repeat([0, 1, 2, 3], [200, 200, 200, 1])


def test_augment_tail_draws_from_the_calibrated_gaussian():
    from assay.longtail import augment_tail

    x, y = _tail_case()
    aug = augment_tail(x, y, target=40_001, k=2, alpha=0.2, random_state=1)
    assert aug.features.shape == (40_000, 2) and np.all(aug.labels == 3)
    means = np.stack([x[y == c].mean(axis=0) for c in range(3)])
    near = np.argsort(((means - x[-1]) ** 2).sum(axis=1))[:2]  # brute force: classes 1 and 0
    mu = (means[near].sum(axis=0) + x[-1]) / 3
    cov = np.mean([np.cov(x[y == c], rowvar=False) for c in near], axis=0) + 0.2 * np.eye(2)
    assert aug.features.mean(axis=0) == pytest.approx(mu, abs=0.03)
    assert np.cov(aug.features, rowvar=False) == pytest.approx(cov, abs=0.05)
    assert set(aug.per_class.iloc[0]["donors"]) == set(near.tolist())


def test_augment_tail_fills_only_tail_classes_to_the_target_reproducibly():
    from assay.longtail import augment_tail

    rng = np.random.default_rng(2)
    x = rng.normal(size=(260, 3))
    y = np.repeat([0, 1, 2, 3], [120, 100, 30, 10])
    a = augment_tail(x, y, few=40, target=60, random_state=5)
    b = augment_tail(x, y, few=40, target=60, random_state=5)
    assert np.array_equal(a.features, b.features)
    assert np.bincount(a.labels, minlength=4).tolist() == [0, 0, 30, 50]
    assert a.per_class["n_added"].tolist() == [30, 50]
    assert augment_tail(x, y, few=40, random_state=5).per_class["n_added"].tolist() == [80, 100]


def test_augment_tail_refuses_data_without_a_donor_class():
    from assay.longtail import augment_tail

    with pytest.raises(InputValidationError, match="lend its spread"):
        augment_tail(np.zeros((6, 2)) + np.arange(6)[:, None], [0, 0, 0, 1, 1, 1], few=10)
