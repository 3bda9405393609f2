"""Tests of assay.splits.make_splits: properties (hypothesis) and bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.exceptions import InputValidationError, InvalidParameterError
from assay.splits import make_splits, split_units

NAMES = ("train", "valid", "test")


@st.composite
def datasets(draw):
    n = draw(st.integers(30, 200))
    k = draw(st.integers(2, 6))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(k))
    y = rng.choice(k, size=n, p=probs)
    use_group = draw(st.booleans())
    group = rng.integers(0, max(n // 3, 3), size=n) if use_group else None
    return y, group, seed


@settings(max_examples=40, deadline=None)
@given(datasets())
def test_no_group_spans_two_splits_and_every_row_assigned(data):
    y, group, seed = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        s = make_splits(y, group=group, random_state=seed)
    assert s.shape == y.shape and set(s) <= set(NAMES)
    if group is not None:
        for g in np.unique(group):
            assert len(set(s[group == g])) == 1


@settings(max_examples=40, deadline=None)
@given(datasets())
def test_without_groups_fractions_within_tolerance_and_classes_present(data):
    y, _, seed = data
    n = y.size
    counts = np.bincount(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        s = make_splits(y, random_state=seed)
    k = counts.size
    for name, f in zip(NAMES, (0.8, 0.1, 0.1), strict=True):
        size = int((s == name).sum())
        # each class rounds to within one row of its share; tail minimums move at most one
        # row per class and evaluation split
        assert abs(size - f * n) <= 2 * k + 1
    for c in np.flatnonzero(counts >= 3):  # large enough for one row in each of 3 splits
        assert set(s[y == c]) == set(NAMES)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**16))
def test_no_duplicate_set_spans_two_splits(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(80, 6))
    y = rng.integers(0, 3, size=80)
    free = rng.permutation(np.r_[0:4, 9:80])
    src, dst = free[:12], free[12:24]  # disjoint, so no copy is overwritten later
    x[dst] = x[src] + rng.normal(scale=1e-4, size=(12, 6))  # near copies
    x[5:9] = x[4]  # an exact duplicate set of five rows
    s = make_splits(y, features=x, random_state=seed)
    units = split_units(80, features=x)
    for u in np.unique(units):
        assert len(set(s[units == u])) == 1
    assert len(set(s[4:9])) == 1
    for a, b in zip(src, dst, strict=True):
        assert s[a] == s[b]


@settings(max_examples=20, deadline=None)
@given(datasets())
def test_same_seed_same_split(data):
    y, group, seed = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        a = make_splits(y, group=group, random_state=seed)
        b = make_splits(y, group=group, random_state=seed)
    assert (a == b).all()


def test_different_seeds_differ():
    y = np.repeat([0, 1], 100)
    assert (make_splits(y, random_state=0) != make_splits(y, random_state=1)).any()


def test_exact_stratification_by_hand():
    # 100 of class 0 and 50 of class 1 at (0.6, 0.2, 0.2): targets 60/20/20 and 30/10/10
    y = np.r_[np.zeros(100, int), np.ones(50, int)]
    s = make_splits(y, fractions=(0.6, 0.2, 0.2), random_state=3)
    got = {(name, c): int(((s == name) & (y == c)).sum()) for name in NAMES for c in (0, 1)}
    assert got == {("train", 0): 60, ("valid", 0): 20, ("test", 0): 20,
                   ("train", 1): 30, ("valid", 1): 10, ("test", 1): 10}


def test_tail_class_gets_minimum_in_each_evaluation_split():
    # a class of 9 rows at 10 % would give 0.9 rows per evaluation split; min_per_class=2
    # moves two into each, leaving five for training
    y = np.r_[np.zeros(300, int), np.full(9, 1)]
    s = make_splits(y, min_per_class=2, random_state=0)
    tail = s[y == 1]
    assert (tail == "valid").sum() == 2 and (tail == "test").sum() == 2
    assert (tail == "train").sum() == 5


def test_class_too_small_for_minimum_is_named_in_a_warning():
    y = np.r_[np.zeros(100, int), np.full(2, 1)]
    with pytest.warns(UserWarning, match="cannot have 1 row.s. in every split: 1"):
        make_splits(y, random_state=0)


def test_large_group_goes_to_training():
    y = np.r_[np.zeros(100, int), np.ones(100, int)]
    group = np.arange(200)
    group[:60] = -1  # one group of 60 rows: too big for any evaluation split of 20
    s = make_splits(y, group=group, random_state=0)
    assert set(s[:60]) == {"train"}


def test_split_units_joins_groups_and_duplicates():
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.5, 0.6], [0.3, 0.9]])
    units = split_units(5, features=x, group=["g1", "g2", "g3", "g2", "g4"])
    # rows 0 and 2 are identical; rows 1 and 3 share g2; row 4 is alone
    assert units[0] == units[2] and units[1] == units[3]
    assert len(np.unique(units)) == 3


# ---------------------------------------------------------------------------- bad input
def test_too_few_rows_for_requested_split():
    with pytest.raises(InputValidationError, match="Too few rows .* split 'valid' 0.50 rows"):
        make_splits([0, 1, 0, 1, 0], fractions=(0.8, 0.1, 0.1))


def test_too_few_groups_for_the_splits():
    with pytest.raises(InputValidationError, match="join the 20 rows into 2 unit"):
        make_splits([0, 1] * 10, group=["a"] * 10 + ["b"] * 10, fractions=(0.5, 0.25, 0.25))


def test_groups_with_missing_values():
    with pytest.raises(InputValidationError, match="group has 1 missing value"):
        make_splits([0, 1] * 10, group=[1.0] * 19 + [np.nan], fractions=(0.5, 0.25, 0.25))


def test_labels_with_missing_values():
    with pytest.raises(InputValidationError, match="labels has 1 missing"):
        make_splits(["a", "b"] * 10 + [None], fractions=(0.5, 0.25, 0.25))


@pytest.mark.parametrize("fractions, match", [
    ((0.8, 0.3, 0.1), "positive floats summing to 1"),
    ((0.8, 0.2), "one fraction per split name"),
    ((1.1, -0.1, 0.0), "positive floats summing to 1"),
])
def test_bad_fractions(fractions, match):
    with pytest.raises(InvalidParameterError, match=match):
        make_splits(np.repeat([0, 1], 50), fractions=fractions)


def test_bad_names():
    with pytest.raises(InvalidParameterError, match="at least two distinct split names"):
        make_splits(np.repeat([0, 1], 50), names=("a", "a", "b"))
