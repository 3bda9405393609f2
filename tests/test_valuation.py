"""Tests of assay.valuation against independent references: exact enumeration on small n."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.exceptions import InputValidationError, InvalidParameterError
from assay.valuation import (
    GroupUtility,
    ModelUtility,
    UtilityError,
    addition_curve,
    banzhaf,
    beta_shapley,
    data_oob,
    exact_semivalues,
    flip_labels,
    group_values,
    knn_shapley,
    noisy_detection,
    removal_curve,
    semivalue_weights,
    task_conflict,
    tmc_shapley,
)

# ------------------------------------------------------------------------------------------
# independent reference: the KNN utility of a coalition, written as a plain loop


def knn_utility(x_tr, y_tr, x_te, y_te, k, task="classification"):
    """U(S) = mean over test points of (1/K) sum over the min(K, |S|) nearest in S of f."""

    def u(subset):
        total = 0.0
        for q, t in zip(x_te, y_te, strict=True):
            d = np.sqrt(((x_tr[subset] - q) ** 2).sum(axis=1))
            near = np.asarray(subset)[np.lexsort((np.asarray(subset), d))][:k]  # ties by index
            if task == "classification":
                total += sum(1.0 for j in near if y_tr[j] == t) / k
            else:
                total += sum(-((y_tr[j] - t) ** 2) for j in near) / k
        return total / len(x_te)

    return u


def _data(seed, n=8, n_test=5, d=3, n_classes=2):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, d)), rng.integers(0, n_classes, n),
            rng.normal(size=(n_test, d)), rng.integers(0, n_classes, n_test))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("k", [1, 3, 5])
def test_knn_shapley_equals_exact_enumeration(seed, k):
    x, y, xt, yt = _data(seed, n_classes=2 + seed % 2)
    exact = exact_semivalues(knn_utility(x, y, xt, yt, k), len(x))
    np.testing.assert_allclose(knn_shapley(x, y, xt, yt, k=k), exact, atol=1e-12, rtol=0)


@pytest.mark.parametrize("seed", range(3))
def test_knn_shapley_regression_equals_exact_enumeration(seed):
    rng = np.random.default_rng(seed)
    x, xt = rng.normal(size=(7, 2)), rng.normal(size=(4, 2))
    y, yt = rng.normal(size=7), rng.normal(size=4)
    exact = exact_semivalues(knn_utility(x, y, xt, yt, 3, "regression"), 7)
    got = knn_shapley(x, y, xt, yt, k=3, task="regression")
    np.testing.assert_allclose(got, exact, atol=1e-12, rtol=0)


def test_knn_shapley_ties_break_by_index():
    # duplicated training points: both at distance 0.5 from the test point; index order decides
    x = np.array([[0.0], [0.0], [1.0], [3.0]])
    y = np.array([0, 1, 0, 1])
    xt, yt = np.array([[0.5]]), np.array([0])
    exact = exact_semivalues(knn_utility(x, y, xt, yt, 1), 4)
    np.testing.assert_allclose(knn_shapley(x, y, xt, yt, k=1), exact, atol=1e-12)


def test_knn_shapley_hand_worked():
    # K = 1, sorted order 0, 1, 2 with f = 1, 1, 0: s_3 = 0/3 = 0; s_2 = 0 + (1 - 0)/2 = 0.5;
    # s_1 = 0.5 + (1 - 1)/1 = 0.5
    v = knn_shapley([[0.0], [1.0], [10.0]], [0, 0, 1], [[0.2]], [0], k=1)
    np.testing.assert_allclose(v, [0.5, 0.5, 0.0], atol=1e-15)


def test_knn_shapley_leave_self_out_equals_enumeration():
    x, y, _, _ = _data(7, n=7)
    expected = np.zeros(7)
    for j in range(7):  # test point j; players are the other rows
        others = np.delete(np.arange(7), j)
        u = knn_utility(x[others], y[others], x[j : j + 1], y[j : j + 1], 2)
        expected[others] += exact_semivalues(u, 6)
    expected /= 6  # each row is a player for the 6 other test points
    np.testing.assert_allclose(knn_shapley(x, y, k=2), expected, atol=1e-12)


def test_knn_shapley_cosine_uses_direction_only():
    x, y, xt, yt = _data(3)
    scaled = x * np.arange(1, 9)[:, None]  # rescaling rows does not change cosine distances
    np.testing.assert_allclose(
        knn_shapley(x, y, xt, yt, metric="cosine"), knn_shapley(scaled, y, xt, yt, metric="cosine")
    )


def test_knn_shapley_chunking_does_not_change_values():
    x, y, xt, yt = _data(5, n=50, n_test=23)
    np.testing.assert_allclose(knn_shapley(x, y, xt, yt, chunk_size=1),
                               knn_shapley(x, y, xt, yt, chunk_size=50), atol=1e-14)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 6), n=st.integers(6, 40))
def test_knn_shapley_efficiency_and_label_renaming(seed, k, n):
    x, y, xt, yt = _data(seed, n=n, n_test=3, n_classes=3)
    y[:2], yt[0] = [0, 1], 0  # two classes at least
    v = knn_shapley(x, y, xt, yt, k=k)
    # efficiency: values sum to the mean utility of the full training set
    full = knn_utility(x, y, xt, yt, k)(np.arange(n))
    assert v.sum() == pytest.approx(full, abs=1e-12)
    names = np.array(["cat", "dog", "emu"])
    np.testing.assert_allclose(knn_shapley(x, names[y], xt, names[yt], k=k), v, atol=1e-15)


@pytest.mark.parametrize("truncate", [5, 10, 30])
def test_knn_shapley_truncated_within_stated_bound(truncate):
    x, y, xt, yt = _data(11, n=200, n_test=20, d=4, n_classes=3)
    exact = knn_shapley(x, y, xt, yt, k=5)
    approx = knn_shapley(x, y, xt, yt, k=5, truncate=truncate)
    err = np.abs(approx - exact).max()
    assert err <= 1.0 / (truncate + 1)
    assert err > 0  # the approximation is not secretly exact


def test_knn_shapley_truncated_equals_loop_recursion():
    # reference: the paper's recursion in a plain loop, started from s_{T+1} = 0
    x, y, xt, yt = _data(4, n=30, n_test=3, n_classes=2)
    k, t = 3, 8
    expected = np.zeros(30)
    for q, lab in zip(xt, yt, strict=True):
        order = np.argsort(((x - q) ** 2).sum(axis=1), kind="stable")
        f = (y[order] == lab).astype(float)
        s = np.zeros(t + 1)
        for i in range(t, 0, -1):  # 1-based rank i, s[i] holds s_i, s[t+1 - 1] ... s_{T+1}=0
            s_next = s[i] if i < t else 0.0
            s[i - 1] = s_next + (f[i - 1] - f[i]) / max(k, i)
        expected[order[:t]] += s[:t]
    expected /= 3
    np.testing.assert_allclose(knn_shapley(x, y, xt, yt, k=k, truncate=t), expected, atol=1e-14)


def test_knn_shapley_threads_equal_serial():
    x, y, xt, yt = _data(6, n=60, n_test=17)
    np.testing.assert_allclose(knn_shapley(x, y, xt, yt, chunk_size=4, n_jobs=2),
                               knn_shapley(x, y, xt, yt), atol=1e-14)


def test_knn_shapley_regression_truncated_bound():
    rng = np.random.default_rng(0)
    x, xt = rng.normal(size=(100, 2)), rng.normal(size=(10, 2))
    y, yt = rng.normal(size=100), rng.normal(size=10)
    exact = knn_shapley(x, y, xt, yt, k=3, task="regression")
    approx = knn_shapley(x, y, xt, yt, k=3, task="regression", truncate=10)
    bound = ((y[:, None] - yt[None, :]) ** 2).max() / 11
    assert np.abs(approx - exact).max() <= bound


def test_knn_shapley_bad_input():
    x, y, xt, yt = _data(0)
    with pytest.raises(InvalidParameterError, match=r"'k' parameter of knn_shapley must be an int in the range \[1, 8\]"):
        knn_shapley(x, y, xt, yt, k=9)
    with pytest.raises(InvalidParameterError, match=r"other than the test row"):
        knn_shapley(x, y, k=8)
    with pytest.raises(InputValidationError, match="one class only"):
        knn_shapley(x, np.zeros(8, int), xt, np.zeros(5, int))
    with pytest.raises(InputValidationError, match="x_train has 8 rows but y_train has 7"):
        knn_shapley(x, y[:7], xt, yt)
    with pytest.raises(InputValidationError, match="x_test has 2 columns but x_train has 3"):
        knn_shapley(x, y, xt[:, :2], yt)
    with pytest.raises(InputValidationError, match="Pass both x_test and y_test"):
        knn_shapley(x, y, xt)
    with pytest.raises(InputValidationError, match="NaN or infinite values in 1 row"):
        knn_shapley(np.where(np.arange(8)[:, None] == 2, np.nan, x), y, xt, yt)
    with pytest.raises(InvalidParameterError, match="'metric' parameter"):
        knn_shapley(x, y, xt, yt, metric="manhattan")
    with pytest.raises(InvalidParameterError, match="'truncate' parameter"):
        knn_shapley(x, y, xt, yt, k=3, truncate=2)
    with pytest.raises(InputValidationError, match="Regression targets must be numeric"):
        knn_shapley(x, np.array(list("abababab")), xt, yt.astype(str), task="regression")


# ------------------------------------------------------------------------------------------
# KNN-Shapley against Jia et al.'s recursion written as a loop (any size, no enumeration)


def jia_recursion(x, y, xt, yt, k, task="classification", truncate=None, leave_self_out=False):
    """Jia et al. (2019), Theorem 1, per test point in a plain loop; the mean over test points.

    Distances are the true squared distances; ties break by training index (a stable sort).
    With ``truncate=T`` the recursion starts from ``s_{T+1} = 0`` and only the T nearest get a
    value. With ``leave_self_out`` the test points are the training rows, each without itself.
    """
    n = len(x)
    total = np.zeros(n)
    for t, (q, label) in enumerate(zip(xt, yt, strict=True)):
        players = np.delete(np.arange(n), t) if leave_self_out else np.arange(n)
        dist = ((x[players] - q) ** 2).sum(axis=1)
        order = players[np.argsort(dist, kind="stable")]
        if task == "classification":
            f = [1.0 if y[j] == label else 0.0 for j in order]
        else:
            f = [-((y[j] - label) ** 2) for j in order]
        m = len(order)
        s = [0.0] * m
        last = m if truncate is None else truncate + 1  # 1-based rank whose value starts it
        s[last - 1] = f[last - 1] / m if truncate is None else 0.0
        for i in range(last - 1, 0, -1):  # 1-based rank i from s_{i+1}
            s[i - 1] = s[i] + (f[i - 1] - f[i]) / max(k, i)
        for rank in range(last if truncate is None else truncate):
            total[order[rank]] += s[rank]
    return total / len(xt)


def _grid_data(seed, n, n_test, d=2, levels=4, n_classes=3, dup=0.2):
    """Integer features on a small grid: many exact ties, a share of duplicated rows."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, levels, size=(n, d)).astype(float)
    copies = rng.random(n) < dup
    x[copies] = x[rng.integers(0, n, copies.sum())]  # exact duplicate rows
    xt = rng.integers(0, levels, size=(n_test, d)).astype(float) + rng.choice([0.0, 0.5], (n_test, d))
    return x, rng.integers(0, n_classes, n), xt, rng.integers(0, n_classes, n_test)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("k", [1, 3, 5])
def test_knn_shapley_equals_jia_recursion_with_ties_and_duplicates(seed, k):
    # integer and half-integer coordinates: squared distances, and assay's keys
    # |x|^2/2 - q.x, are exact in float64, so both see the same ties
    for n, levels in [(40, 3), (300, 5), (700, 4)]:  # 700 rows on 16 grid points: buckets > 128
        x, y, xt, yt = _grid_data(seed, n, 9, levels=levels)
        expected = jia_recursion(x, y, xt, yt, k)
        np.testing.assert_allclose(knn_shapley(x, y, xt, yt, k=k), expected, atol=1e-12, rtol=0)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("k", [1, 3, 5])
def test_knn_shapley_regression_equals_jia_recursion(seed, k):
    x, _, xt, _ = _grid_data(seed, 260, 7, levels=5)
    rng = np.random.default_rng(seed)
    y, yt = rng.normal(size=260), rng.normal(size=7)
    expected = jia_recursion(x, y, xt, yt, k, task="regression")
    got = knn_shapley(x, y, xt, yt, k=k, task="regression")
    np.testing.assert_allclose(got, expected, atol=1e-12, rtol=0)


@pytest.mark.parametrize("seed", range(3))
def test_knn_shapley_random_data_equals_jia_recursion(seed):
    # continuous features, three chunks of test points, and threads
    rng = np.random.default_rng(seed)
    x, xt = rng.normal(size=(3000, 5)), rng.normal(size=(40, 5))
    y, yt = rng.integers(0, 4, 3000), rng.integers(0, 4, 40)
    expected = jia_recursion(x, y, xt, yt, 5)
    np.testing.assert_allclose(knn_shapley(x, y, xt, yt, k=5), expected, atol=1e-12, rtol=0)
    np.testing.assert_allclose(knn_shapley(x, y, xt, yt, k=5, chunk_size=16, n_jobs=2),
                               expected, atol=1e-12, rtol=0)


@pytest.mark.parametrize("k", [1, 3])
def test_knn_shapley_leave_self_out_equals_jia_recursion(k):
    x, y, _, _ = _grid_data(5, 300, 1, levels=4)  # duplicates: a row's twin ranks first
    expected = jia_recursion(x, y, x, y, k, leave_self_out=True) * len(x) / (len(x) - 1)
    np.testing.assert_allclose(knn_shapley(x, y, k=k), expected, atol=1e-12, rtol=0)
    expected = jia_recursion(x, y, x, y, k, truncate=20, leave_self_out=True) * len(x) / (len(x) - 1)
    np.testing.assert_allclose(knn_shapley(x, y, k=k, truncate=20), expected, atol=1e-12, rtol=0)


@pytest.mark.parametrize("truncate", [5, 12, 60])
def test_knn_shapley_truncated_equals_jia_recursion(truncate):
    for n in (100, 2000):  # 8 (T + 2) > n takes the full order, else the threshold selection
        x, y, xt, yt = _grid_data(truncate, n, 6, levels=6)
        expected = jia_recursion(x, y, xt, yt, 5, truncate=truncate)
        got = knn_shapley(x, y, xt, yt, k=5, truncate=truncate)
        np.testing.assert_allclose(got, expected, atol=1e-12, rtol=0)


def _rank_cases():
    rng = np.random.default_rng(1)
    for n in (1, 2, 3, 255, 256, 257, 3000):
        yield rng.normal(size=(3, n))
        yield rng.integers(0, 5, size=(3, n)).astype(float)  # exact ties, buckets > 128 keys
        yield np.full((2, n), 3.5)  # one key: index order
        wide = rng.normal(size=(2, n))  # quantisation merges distinct keys: 1 and 1 + 1e-13
        wide[:, ::3], wide[:, 1::5] = 1e20, 1.0 + rng.integers(0, 3, wide[:, 1::5].shape) * 1e-13
        yield wide
        yield rng.integers(0, 3, size=(2, n)) * 5e-324  # subnormal span
        yield np.sort(rng.normal(size=(2, n)), axis=1)[:, ::-1].copy()  # descending
    for n in (3000, (1 << 17) + 3):  # sorting blocks of 64 keys, then of 256 (N > 2**17)
        yield rng.normal(size=(2, n)) ** 2
        yield rng.integers(0, 2000, size=(2, n)).astype(float)  # buckets of ~65 equal keys
    extreme = rng.normal(size=(2, 5000))
    extreme[:, :500], extreme[:, 500:1000] = 1e300, -1e300
    yield extreme
    yield np.array([[1e308, -1e308, 0.0, 1e308, 5.0]])  # the span overflows to inf


def test_rank_order_is_the_float64_order_with_ties_by_index():
    from assay._kernels.knn_shapley import Workspace, nearest, rank_order

    for keys in _rank_cases():
        s, n = keys.shape
        expected = np.array([np.lexsort((np.arange(n), row)) for row in keys])
        got = rank_order(keys.copy(), Workspace(s, n))
        np.testing.assert_array_equal(got, expected)
        for m in {1, min(n, 3), min(n, 60)}:
            np.testing.assert_array_equal(nearest(keys, m), expected[:, :m])


def test_nearest_falls_back_when_the_sample_threshold_keeps_too_few():
    from assay._kernels.knn_shapley import nearest

    # the strided sample (every 4th column here) holds the 2,500 smallest keys, so its
    # threshold keeps about 50 candidates, fewer than m = 100: the exact threshold takes over
    keys = np.arange(10_000, dtype=float)[None, :] + 1e6
    keys[0, ::4] = np.arange(2500)
    np.testing.assert_array_equal(nearest(keys, 100)[0], np.argsort(keys[0], kind="stable")[:100])


def test_knn_shapley_truncation_bound_is_attained():
    # the derivation: truncation changes the T nearest values by s_{T+1} and drops the others
    # (|s_i| <= 1/i). One test point whose only label match is its (T+1)-th neighbour has
    # s_{T+1} = 1/(T+1) - sum_{j > T+1} f_j / (j (j-1)) = 1/(T+1): the bound, exactly.
    t = 10
    x = np.arange(40, dtype=float)[:, None]
    y = np.zeros(40, int)
    y[t] = 1  # rank T+1 (0-based row T, distance T from the test point at 0)
    exact = knn_shapley(x, y, [[0.0]], [1], k=3)
    approx = knn_shapley(x, y, [[0.0]], [1], k=3, truncate=t)
    err = np.abs(approx - exact)
    assert err.max() == pytest.approx(1.0 / (t + 1), abs=1e-15)  # attained: not a loose bound
    np.testing.assert_allclose(err[:t], 1.0 / (t + 1), atol=1e-15)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("truncate", [5, 20, 80])
def test_knn_shapley_truncated_error_within_bound_random(seed, truncate):
    rng = np.random.default_rng(seed)
    x, xt = rng.normal(size=(600, 3)), rng.normal(size=(15, 3))
    y, yt = rng.integers(0, 2, 600), rng.integers(0, 2, 15)
    exact = knn_shapley(x, y, xt, yt, k=5)
    err = np.abs(knn_shapley(x, y, xt, yt, k=5, truncate=truncate) - exact)
    assert 0 < err.max() <= 1.0 / (truncate + 1)
    # per test point the bound is 1/(T+1) too: check it one point at a time
    for q, label in zip(xt[:3], yt[:3], strict=True):
        one = knn_shapley(x, y, q[None], [label], k=5)
        diff = np.abs(knn_shapley(x, y, q[None], [label], k=5, truncate=truncate) - one)
        assert diff.max() <= 1.0 / (truncate + 1)


# ------------------------------------------------------------------------------------------
# exact oracle


def test_semivalue_weights_normalised():
    from scipy.special import comb

    n = 9
    for kind, kw in [("shapley", {}), ("beta", {"alpha": 16, "beta": 1}), ("beta", {"alpha": 4, "beta": 2}),
                     ("loo", {})]:
        w = semivalue_weights(n, kind, **kw)
        assert (comb(n - 1, np.arange(n)) * w).sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(semivalue_weights(n, "beta", alpha=1, beta=1), semivalue_weights(n, "shapley"))


def test_exact_semivalues_hand_worked_glove_game():
    # glove game: players 0 (left) and 1, 2 (right); u = 1 if a left and a right glove are in S.
    # Shapley: player 0 gets 2/3, players 1, 2 get 1/6 each (classic result).
    u = lambda s: float(0 in s and (1 in s or 2 in s))  # noqa: E731
    np.testing.assert_allclose(exact_semivalues(u, 3), [2 / 3, 1 / 6, 1 / 6], atol=1e-15)
    # Banzhaf: player 0 pivotal in 3 of 4 coalitions of {1,2}: 3/4; player 1 only in {0}: 1/4
    np.testing.assert_allclose(exact_semivalues(u, 3, kind="banzhaf"), [0.75, 0.25, 0.25])
    # leave-one-out: u(N) - u(N - i): 1, 0, 0
    np.testing.assert_allclose(exact_semivalues(u, 3, kind="loo"), [1, 0, 0])


def test_exact_semivalues_bad_input():
    with pytest.raises(InvalidParameterError, match="'n_players' parameter of exact_semivalues"):
        exact_semivalues(lambda s: 0.0, 17)
    with pytest.raises(InputValidationError, match="exact values need a finite utility"):
        exact_semivalues(lambda s: float("nan"), 3)


# ------------------------------------------------------------------------------------------
# Monte Carlo semivalues against the exact values


class _NearestMean:
    """A tiny scikit-learn classifier (nearest class mean) so model utilities stay fast."""

    _estimator_type = "classifier"

    def get_params(self, deep=True):
        return {}

    def set_params(self, **params):
        return self

    def __sklearn_tags__(self):
        from sklearn.base import BaseEstimator, ClassifierMixin

        class _T(ClassifierMixin, BaseEstimator):
            pass

        return _T().__sklearn_tags__()

    def fit(self, x, y):
        self.classes_ = np.unique(y)
        self.means_ = np.stack([x[y == c].mean(axis=0) for c in self.classes_])
        return self

    def predict(self, x):
        d = ((x[:, None, :] - self.means_[None]) ** 2).sum(axis=2)
        return self.classes_[np.argmin(d, axis=1)]


def _model_utility(seed=0, n=6, tasks=1, estimator=None):

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    xv = rng.normal(size=(30, 2))

    def lab(z, t):
        return ((z[:, 0] + (0.7 if t else -0.3) * z[:, 1] + rng.normal(0, 0.5, len(z))) > 0).astype(int)

    if tasks == 1:
        y, yv = lab(x, 0), lab(xv, 0)
    else:
        y = np.stack([lab(x, t) for t in range(tasks)], axis=1)
        yv = np.stack([lab(xv, t) for t in range(tasks)], axis=1)
    est = _NearestMean() if estimator is None else estimator
    return ModelUtility(est, x, y, xv, yv)


def _two_task_knn_utility(seed=9):
    """A cheap vector utility: the KNN game for two label sets on the same points."""
    x, y, xt, yt = _data(seed, n=8, n_test=6)
    y2 = (x[:, 1] > 0).astype(int)
    yt2 = (xt[:, 1] > 0).astype(int)
    tasks = [knn_utility(x, y, xt, yt, 3), knn_utility(x, y2, xt, yt2, 3)]
    return tasks, (lambda s: np.array([t(s) for t in tasks]))


@pytest.fixture(scope="module")
def knn_game():
    x, y, xt, yt = _data(42, n=8, n_test=6, n_classes=2)
    u = knn_utility(x, y, xt, yt, 3)
    return u, {kind: exact_semivalues(u, 8, kind=kind, **kw)
               for kind, kw in [("shapley", {}), ("banzhaf", {}), ("beta", {"alpha": 16, "beta": 1})]}


def _within_se(est, exact, z=4.0):
    err = np.abs(est.values - exact)
    return np.all(err <= z * est.stderr + 1e-12), err, est.stderr


@pytest.mark.parametrize("method", ["tmc", "banzhaf", "beta"])
def test_monte_carlo_within_reported_standard_error(knn_game, method):
    u, exact = knn_game
    fn, ref = {"tmc": (tmc_shapley, exact["shapley"]), "banzhaf": (banzhaf, exact["banzhaf"]),
               "beta": (beta_shapley, exact["beta"])}[method]
    res = fn(u, n_players=8, max_samples=400, rtol=None, random_state=1)
    ok, err, se = _within_se(res, ref)
    assert ok, (err, se)
    assert np.all(se > 0) and res.n_samples == 400 and res.n_failed == 0
    assert not res.converged


def test_tmc_with_model_utility_matches_exact():
    u = _model_utility()
    exact = exact_semivalues(u, kind="shapley")
    res = tmc_shapley(u, max_samples=60, rtol=None, random_state=0)
    ok, err, se = _within_se(res, exact)
    assert ok, (err, se)
    # the empty coalition is scored empty_score, a one-class coalition as a constant model
    assert u(np.arange(0)) == 0.0 and 0.0 <= u(np.array([0])) <= 1.0


@pytest.mark.slow
def test_tmc_with_logistic_regression_matches_exact():
    from sklearn.linear_model import LogisticRegression

    u = _model_utility(n=6, estimator=LogisticRegression())
    exact = exact_semivalues(u, kind="shapley")
    res = tmc_shapley(u, max_samples=150, rtol=None, random_state=0)
    ok, err, se = _within_se(res, exact)
    assert ok, (err, se)


def test_truncation_saves_evaluations(knn_game):
    u, _ = knn_game
    full = tmc_shapley(u, n_players=8, max_samples=40, rtol=None, random_state=0)
    trunc = tmc_shapley(u, n_players=8, max_samples=40, rtol=None, truncation_rtol=0.05,
                        random_state=0)
    assert trunc.n_evaluations < full.n_evaluations


def test_convergence_stops_before_budget(knn_game):
    u, _ = knn_game
    res = tmc_shapley(u, n_players=8, max_samples=100_000, rtol=0.2, random_state=0)
    assert res.converged and res.n_samples < 100_000
    assert np.all(res.stderr <= 0.2 * np.abs(res.values).max())
    assert 0.0 <= res.topk_overlap <= 1.0
    capped = tmc_shapley(u, n_players=8, max_samples=10_000, max_evaluations=100, rtol=None)
    assert capped.n_evaluations >= 100 and capped.n_samples < 10_000 and not capped.converged


@pytest.mark.parametrize("fn", [tmc_shapley, banzhaf, beta_shapley])
def test_vector_utility_equals_scalar_runs(fn):
    tasks, vector = _two_task_knn_utility()
    kw = {"n_players": 8, "max_samples": 60, "rtol": None, "random_state": 3}
    if fn is tmc_shapley:
        kw["truncation_rtol"] = 0.02  # per-task truncation keeps the equality
    res = fn(vector, **kw)
    assert res.values.shape == (8, 2)
    for t in range(2):
        one = fn(tasks[t], **kw)
        np.testing.assert_allclose(res.values[:, t], one.values, atol=1e-12)
        np.testing.assert_allclose(res.stderr[:, t], one.stderr, atol=1e-12)
    assert not np.allclose(res.values[:, 0], res.values[:, 1])  # the tasks differ


def test_model_utility_tasks_equal_scalar_runs():
    u = _model_utility(tasks=2)
    res = tmc_shapley(u, max_samples=8, rtol=None, random_state=0)
    for t in range(2):
        scalar = ModelUtility(u.estimator, u.x_train, u.y_train[:, t], u.x_valid, u.y_valid[:, t])
        one = tmc_shapley(scalar, max_samples=8, rtol=None, random_state=0)
        np.testing.assert_allclose(res.values[:, t], one.values, atol=1e-12)


def test_vector_utility_over_validation_slices_matches_exact():
    u = _model_utility()
    sliced = ModelUtility(u.estimator, u.x_train, u.y_train, u.x_valid, u.y_valid,
                          valid_groups=np.arange(30) % 2)
    exact = exact_semivalues(sliced, kind="banzhaf")
    assert exact.shape == (6, 2)
    res = banzhaf(sliced, max_samples=200, rtol=None, random_state=0)
    ok, err, se = _within_se(res, exact)
    assert ok, (err, se)


def test_groups_as_players_match_exact_group_game(knn_game):
    u, _ = knn_game
    groups = np.array(list("aabbccdd"))
    gu = GroupUtility(u, groups)
    exact = exact_semivalues(gu, 4, kind="shapley")
    res = tmc_shapley(u, n_players=8, groups=groups, max_samples=200, rtol=None, random_state=0)
    assert res.players.tolist() == ["a", "b", "c", "d"]
    ok, err, se = _within_se(res, exact)
    assert ok, (err, se)
    # efficiency for the group game: exact values sum to u(all) - u(empty)
    assert exact.sum() == pytest.approx(u(np.arange(8)) - u(np.arange(0)))


def test_group_values_sums():
    frame = group_values([1.0, 2.0, 3.0, -1.0], ["b", "a", "b", "a"])
    assert frame.index.tolist() == ["a", "b"]
    assert frame["value"].tolist() == [1.0, 4.0] and frame["n_rows"].tolist() == [2, 2]
    with pytest.raises(InputValidationError, match="one entry per row"):
        group_values([1.0, 2.0], ["a"])


def test_utility_failures_are_counted_and_reported():
    calls = {"n": 0}

    def flaky(s):
        calls["n"] += 1
        if len(s) == 3:
            raise ValueError("boom")
        return float("nan") if len(s) == 5 else float(len(s))

    with pytest.warns(RuntimeWarning, match="samples were dropped because the utility failed"):
        res = banzhaf(flaky, n_players=6, max_samples=100, rtol=None, random_state=0)
    assert res.n_failed > 0 and res.n_samples + res.n_failed == 100
    assert any("ValueError: boom" in f for f in res.failures)
    assert any("non-finite" in f for f in res.failures)
    with pytest.raises(UtilityError, match="ValueError: boom"):
        tmc_shapley(flaky, n_players=6, max_samples=10, on_error="raise")
    with pytest.raises(UtilityError, match="Every one of the 5 sampled coalitions failed"):
        tmc_shapley(lambda s: 1.0 if len(s) == 0 else float("nan"), n_players=3, max_samples=5)
    with pytest.raises(UtilityError, match="failed on the empty coalition"):
        tmc_shapley(lambda s: 1 / 0, n_players=3)


def test_semivalue_bad_parameters():
    with pytest.raises(InvalidParameterError, match="'n_players' parameter of tmc_shapley"):
        tmc_shapley(lambda s: 0.0)
    with pytest.raises(InvalidParameterError, match="'alpha' parameter of beta_shapley must be a positive"):
        beta_shapley(lambda s: 0.0, n_players=3, alpha=0)
    with pytest.raises(InvalidParameterError, match="'on_error' parameter"):
        banzhaf(lambda s: 0.0, n_players=3, on_error="ignore")
    with pytest.raises(InvalidParameterError, match="'max_samples' parameter"):
        banzhaf(lambda s: 0.0, n_players=3, max_samples=0)
    with pytest.raises(InvalidParameterError, match="'utility' parameter"):
        banzhaf(3, n_players=3)
    with pytest.raises(InputValidationError, match="groups has 2 labels but the utility has 3"):
        banzhaf(lambda s: 0.0, n_players=3, groups=["a", "b"])
    with pytest.raises(InputValidationError, match="x_train has 3 rows but y_train has 2"):
        ModelUtility(None, np.zeros((3, 1)), [0, 1], np.zeros((2, 1)), [0, 1])
    with pytest.raises(InvalidParameterError, match="'estimator' parameter of ModelUtility"):
        ModelUtility(None, np.zeros((2, 1)), [0, 1], np.zeros((2, 1)), [0, 1])
    with pytest.raises(InputValidationError, match="same number of task columns"):
        ModelUtility(_NearestMean(), np.zeros((2, 1)), [0, 1], np.zeros((2, 1)), [[0, 1], [1, 0]])


# ------------------------------------------------------------------------------------------
# Data-OOB


def test_data_oob_matches_loop_reference():
    # independent reference: redo the bootstraps with the same seeds in a plain loop
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    y = (x[:, 0] > 0).astype(int)
    est = DecisionTreeClassifier(max_depth=2)
    got = data_oob(x, y, estimator=est, n_estimators=30, random_state=5)
    seeds = np.random.default_rng(5).integers(0, 2**31 - 1, size=30)
    num, den = np.zeros(40), np.zeros(40)
    for s in seeds:
        idx = np.random.default_rng(int(s)).integers(0, 40, size=40)
        oob = np.setdiff1d(np.arange(40), idx)
        model = DecisionTreeClassifier(max_depth=2, random_state=int(s)).fit(x[idx], y[idx])
        num[oob] += model.predict(x[oob]) == y[oob]
        den[oob] += 1
    np.testing.assert_allclose(got, num / den)


def test_data_oob_finds_flipped_labels_and_multitask():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2))
    y = (x[:, 0] > 0).astype(int)
    noisy, flipped = flip_labels(y, 0.1, random_state=0)
    v = data_oob(x, noisy, n_estimators=100)
    assert noisy_detection(v, flipped).auroc > 0.9
    y2 = np.stack([noisy, (x[:, 1] > 0).astype(int)], axis=1)
    both = data_oob(x, y2, n_estimators=100)
    assert both.shape == (200, 2)
    np.testing.assert_allclose(both[:, 0], v)  # same bootstraps, same seeds per task
    reg = data_oob(x, x[:, 0] * 2.0, task="regression", n_estimators=20)
    assert reg.shape == (200,) and np.all(reg <= 0)


def test_data_oob_bad_input():
    x = np.zeros((10, 2))
    with pytest.raises(InputValidationError, match="one class only"):
        data_oob(x, np.zeros(10))
    with pytest.raises(InputValidationError, match="x has 10 rows but y has shape"):
        data_oob(x, np.zeros(9))
    with pytest.raises(InputValidationError, match="never out of bag"):
        data_oob(np.arange(20.0)[:, None], np.arange(20) % 2, n_estimators=1)
    with pytest.raises(InvalidParameterError, match="'max_samples' parameter of data_oob"):
        data_oob(x, np.arange(10) % 2, max_samples=1.5)


# ------------------------------------------------------------------------------------------
# quality tools


def test_noisy_detection_hand_worked():
    # values: two clear clusters; the low cluster {3, 4} against noisy {3, 5}:
    # tp = 1, F1 = 2*1 / (2 + 2) = 0.5; the 2 lowest are {3, 4}: recall 0.5;
    # AUROC: noisy 3 is below all 4 clean rows, noisy 5 (0.9) is below 2 of 4 (1.0, 0.95): 6/8
    v = [1.0, 0.95, 0.8, -1.0, -0.9, 0.9]
    r = noisy_detection(v, [0, 0, 0, 1, 0, 1])
    assert (r.f1_kmeans, r.recall_at_noisy, r.n_flagged) == (0.5, 0.5, 2)
    assert r.auroc == pytest.approx(6 / 8)
    with pytest.raises(InputValidationError, match="both corrupted and clean"):
        noisy_detection([1.0, 2.0], [0, 0])


def test_flip_labels_flips_to_another_class():
    y = np.arange(100) % 4
    noisy, flipped = flip_labels(y, 0.1, random_state=1)
    assert flipped.sum() == 10 and np.all(noisy[flipped] != y[flipped])
    assert np.all(noisy[~flipped] == y[~flipped])


def test_task_conflict():
    np.testing.assert_allclose(task_conflict([[0.3, -0.2], [0.3, 0.1], [-0.1, -0.4]]), [0.2, 0, 0])
    with pytest.raises(InputValidationError, match="T >= 2 tasks"):
        task_conflict([0.1, 0.2])


def test_removal_curve_orders():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2))
    y = (x[:, 0] > 0).astype(int)
    noisy, flipped = flip_labels(y, 0.2, random_state=0)
    oracle = np.where(flipped, -1.0, 1.0)  # perfect values
    low = removal_curve(oracle, x, noisy, x, y, order="low", fractions=[0.0, 0.2])
    high = removal_curve(oracle, x, noisy, x, y, order="high", fractions=[0.0, 0.2])
    assert low["score"].iloc[1] >= low["score"].iloc[0]  # removing bad data does not hurt
    assert high["score"].iloc[1] <= low["score"].iloc[1]
    add = addition_curve(oracle, x, noisy, x, y, fractions=[0.5, 1.0])
    assert add["n_train"].tolist() == [100, 200]
    with pytest.raises(InvalidParameterError, match="'order' parameter of removal_curve"):
        removal_curve(oracle, x, noisy, x, y, order="best")
