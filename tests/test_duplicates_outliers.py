"""Duplicates and outliers against brute-force references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.duplicates import find_duplicates, hash_rows
from assay.exceptions import InputValidationError
from assay.outliers import find_outliers, outlier_scores


def brute_near_pairs(x: np.ndarray, threshold: float) -> set[tuple[int, int]]:
    """All pairs (i < j) of non-identical rows with cosine distance <= threshold, O(n^2)."""
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    d = 1 - xn @ xn.T
    out = set()
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            if d[i, j] <= threshold and not np.array_equal(x[i], x[j]):
                out.add((i, j))
    return out


def test_exact_sets_larger_than_k(rng):
    base = rng.normal(size=(30, 5))
    x = np.vstack([base, np.repeat(base[:1], 15, axis=0)])  # 16 copies of row 0, k = 3
    res = find_duplicates(x, k=3)
    members = np.flatnonzero(res.duplicate_set == res.duplicate_set[0])
    assert set(members) == {0, *range(30, 45)}
    assert res.is_exact_duplicate[members].all()


def test_near_pairs_match_brute_force(rng):
    base = rng.normal(size=(80, 6))
    copies = base[:10] + rng.normal(scale=1e-3, size=(10, 6))
    x = np.vstack([base, copies])
    res = find_duplicates(x, k=len(x) - 1)  # full graph: nothing missed by the k-NN step
    expected = brute_near_pairs(x, res.threshold)
    assert {tuple(p) for p in res.pairs.tolist()} == expected
    assert {(i, 80 + i) for i in range(10)} <= expected


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_duplicate_relation_is_symmetric_and_consistent(seed):
    r = np.random.default_rng(seed)
    base = r.normal(size=(25, 3))
    x = np.vstack([base, base[:5], base[5:8] + 1e-4])
    res = find_duplicates(x, k=5)
    # a row in a set has a partner in the same set; flags agree with set membership
    sets = res.duplicate_set
    for s in np.unique(sets[sets >= 0]):
        assert (sets == s).sum() >= 2
    assert ((res.is_exact_duplicate | res.is_near_duplicate) <= (sets >= 0)).all()
    for i, j in res.pairs:
        assert sets[i] == sets[j] >= 0
    # copies of rows 0..4 are found as exact duplicates of their originals
    for i in range(5):
        assert sets[i] == sets[25 + i] >= 0 and res.is_exact_duplicate[i]


def test_hash_rows_equal_for_equal_rows_and_negative_zero():
    x = np.array([[0.0, 1.0], [-0.0, 1.0], [1.0, 0.0]])
    h = hash_rows(x)
    assert h[0] == h[1] != h[2]


def test_content_length_mismatch():
    with pytest.raises(InputValidationError, match="content has 2 rows but features have 3"):
        find_duplicates(np.eye(3), k=1, content=np.zeros((2, 1)))


def test_outliers_flag_the_far_point(rng):
    x = np.vstack([rng.normal(size=(200, 3)), [[25.0, 25.0, 25.0]]])
    res = find_outliers(x, k=5)
    assert res.is_outlier[-1] and res.score.argmin() == 200
    # reference: the IQR rule on brute-force mean 5-NN distances
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    mean5 = np.sort(d, axis=1)[:, :5].mean(axis=1)
    q1, q3 = np.quantile(mean5, [0.25, 0.75])
    np.testing.assert_array_equal(res.is_outlier, mean5 > q3 + 1.7 * (q3 - q1))
    np.testing.assert_allclose(res.mean_distance, mean5, rtol=1e-4)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000))
def test_outlier_scores_in_unit_interval(seed):
    x = np.random.default_rng(seed).normal(size=(30, 2))
    s = outlier_scores(x, k=3)
    assert ((s > 0) & (s <= 1)).all()
