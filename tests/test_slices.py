"""Tests of assay.slices: slice discovery, BH, confusion matrix, hardest examples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.exceptions import InputValidationError, InvalidParameterError
from assay.slices import benjamini_hochberg, find_slices, hardest_examples, normalized_confusion


def _data(n=1200, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    meta = pd.DataFrame({
        "place": rng.choice(["home", "car", "office", "street", "park"], n),
        "device": rng.choice(["a", "b"], n),
        "snr": rng.normal(20, 5, n),
    })
    pred = np.where(rng.random(n) < 0.9, y, (y + 1) % 3)  # 10 % base error everywhere
    return rng, y, meta, pred


def test_slice_with_injected_errors_is_found_and_others_are_not():
    rng, y, meta, pred = _data()
    car = (meta["place"] == "car").to_numpy()
    bad = car & (rng.random(y.size) < 0.5)
    pred[bad] = (y[bad] + 2) % 3
    res = find_slices(y, pred, meta=meta)
    flagged = res[res["flagged"]]
    assert flagged[["source", "slice"]].values.tolist() == [["place", "car"]]
    row = flagged.iloc[0]
    assert row["size"] == car.sum() and row["n_errors"] == (pred != y)[car].sum()
    assert row["low"] < row["error_rate"] < row["high"] and row["effect"] > 0.2
    members = res.attrs["members"][flagged.index[0]]
    assert members == np.flatnonzero(car).tolist()


def test_several_slices_are_reported_including_a_numeric_bin():
    rng, y, meta, pred = _data(seed=1)
    low_snr = (meta["snr"] < meta["snr"].quantile(0.25)).to_numpy()
    car = (meta["place"] == "car").to_numpy()
    bad = (low_snr | car) & (rng.random(y.size) < 0.4)
    pred[bad] = (y[bad] + 1) % 3
    res = find_slices(y, pred, meta=meta, n_bins=4)
    flagged = set(map(tuple, res.loc[res["flagged"], ["source", "kind"]].values.tolist()))
    assert ("place", "category") in flagged and ("snr", "bin") in flagged


def test_cluster_slices_find_a_bad_region_of_embedding_space():
    rng = np.random.default_rng(2)
    centres = rng.normal(scale=10, size=(6, 4))
    which = rng.integers(0, 6, 900)
    x = centres[which] + rng.normal(size=(900, 4))
    y = rng.integers(0, 2, 900)
    pred = y.copy()
    bad = (which == 3) & (rng.random(900) < 0.5)
    pred[bad] = 1 - pred[bad]
    res = find_slices(y, pred, features=x, n_clusters=6, random_state=0)
    flagged = res[res["flagged"]]
    assert len(flagged) == 1 and flagged.iloc[0]["kind"] == "cluster"
    members = np.array(res.attrs["members"][flagged.index[0]])
    assert np.mean(which[members] == 3) > 0.95


def test_p_values_match_fisher_exact_and_q_values_match_statsmodels():
    from scipy.stats import fisher_exact

    multitest = pytest.importorskip("statsmodels.stats.multitest")
    rng, y, meta, pred = _data(n=400, seed=3)
    res = find_slices(y, pred, meta=meta)
    err = pred != y
    for _, row in res[res["kind"] == "category"].iterrows():
        mask = (meta[row["source"]] == row["slice"]).to_numpy()
        table = [[err[mask].sum(), (~err[mask]).sum()], [err[~mask].sum(), (~err[~mask]).sum()]]
        assert row["p_value"] == pytest.approx(fisher_exact(table, alternative="greater")[1])
    ref = multitest.multipletests(res["p_value"], method="fdr_bh")[1]
    assert res["q_value"].to_numpy() == pytest.approx(ref)


def test_missing_values_form_their_own_slice_and_small_slices_are_skipped():
    y = np.zeros(100, int)
    pred = np.zeros(100, int)
    pred[:30] = 1
    meta = pd.DataFrame({"m": [None] * 30 + ["x"] * 65 + ["tiny"] * 5})
    res = find_slices(y, pred, meta=meta, min_size=10)
    assert set(res["slice"]) == {"(missing)", "x"}
    assert res.iloc[0]["slice"] == "(missing)" and res.iloc[0]["flagged"]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=40))
def test_bh_matches_statsmodels(p):
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    ref = multitest.multipletests(p, method="fdr_bh")[1]
    assert benjamini_hochberg(p) == pytest.approx(ref)


def test_bh_bad_input():
    with pytest.raises(InputValidationError, match="finite numbers in \\[0, 1\\]"):
        benjamini_hochberg([0.1, 1.5])


def test_normalized_confusion_matches_sklearn():
    from sklearn.metrics import confusion_matrix

    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 200)
    pred = rng.integers(0, 4, 200)
    ref = confusion_matrix(y, pred, normalize="true")
    assert normalized_confusion(y, pred) == pytest.approx(ref)
    probs = np.eye(4)[pred] * 0.7 + 0.075
    assert normalized_confusion(y, probs, n_classes=5).shape == (5, 5)


def test_hardest_examples_brute_force():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), 60)
    y = rng.integers(0, 3, 60)
    res = hardest_examples(y, probs, per_class=4)
    for c in range(3):
        rows = np.flatnonzero(y == c)
        expect = rows[np.argsort(probs[rows, c], kind="stable")][:4]
        assert res.loc[res["class"] == c, "row"].tolist() == expect.tolist()


def test_slices_bad_input():
    with pytest.raises(InputValidationError, match="needs something to slice by"):
        find_slices([0, 1], [0, 1])
    with pytest.raises(InputValidationError, match="lengths differ"):
        find_slices([0, 1, 1], [0, 1, 1], meta=pd.DataFrame({"a": [1, 2]}))
    with pytest.raises(InvalidParameterError, match="'alpha' parameter"):
        find_slices([0, 1], [0, 1], meta=pd.DataFrame({"a": [1, 2]}), alpha=2)
    with pytest.raises(InputValidationError, match="pred_probs has 3 columns"):
        hardest_examples([0, 3], np.full((2, 3), 1 / 3))
