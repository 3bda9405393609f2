"""Duplicates and outliers against brute-force references."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.duplicates import (
    find_duplicates,
    hash_rows,
    intrinsic_dimension,
    near_ratio,
)
from assay.exceptions import InputValidationError, InvalidParameterError
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
    # the global rule (Datalab's), full graph: nothing missed by the k-NN step
    res = find_duplicates(x, k=len(x) - 1, metric="cosine", near_fraction=0.13)
    assert res.rule == "global" and res.metric == "cosine"
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


def test_hash_rows_in_blocks_equals_one_pass(monkeypatch):
    # blocks of 7 rows (with a ragged last block) give the hashes of one pass over the matrix,
    # for float32, float64 with -0.0 and integer rows
    import assay.duplicates as dup

    rng = np.random.default_rng(0)
    mats = [rng.normal(size=(50, 5)).astype(np.float32), np.where(rng.random((50, 3)) < 0.3,
            -0.0, rng.normal(size=(50, 3))), rng.integers(0, 3, size=(50, 4))]
    whole = [hash_rows(m) for m in mats]
    monkeypatch.setattr(dup, "BLOCK_ROWS", 7)
    for m, want in zip(mats, whole, strict=True):
        np.testing.assert_array_equal(hash_rows(m), want)


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


# --------------------------------------------------------------------------------------------
# Distances per modality: the local ratio test, detached junk groups, real data
# --------------------------------------------------------------------------------------------
def brute_ratio_pairs(x: np.ndarray, k: int, alpha: float) -> set[tuple[int, int]]:
    """The ratio rule computed from the full O(n^2) Euclidean distance matrix."""
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    dk = np.take_along_axis(d, order, axis=1)
    ok = dk[:, 0] > 0
    m = np.median((k - 1) / np.log(dk[ok, -1:] / dk[ok, :-1]).sum(axis=1))
    r = (1 - (1 - alpha) ** (1 / (k - 1))) ** (1 / m)
    local = np.maximum(dk[:, -1], np.quantile(dk[:, -1], 0.05))
    out = set()
    for i in range(len(x)):
        for j in order[i]:
            if d[i, j] <= r * local[i] and not np.array_equal(x[i], x[j]):
                out.add((min(i, int(j)), max(i, int(j))))
    return out


def test_ratio_rule_matches_brute_force(rng):
    base = rng.normal(size=(150, 4))
    copies = base[:12] + rng.normal(scale=0.02, size=(12, 4))
    x = np.vstack([base, copies, base[20:22]])  # two exact copies too
    res = find_duplicates(x, k=8)
    assert res.rule == "ratio" and res.metric == "euclidean"
    expected = brute_ratio_pairs(x, 8, 1e-3)
    assert {tuple(p) for p in res.pairs.tolist()} == expected
    assert {(i, 150 + i) for i in range(12)} <= expected
    assert res.is_exact_duplicate[[20, 21, 162, 163]].all()


def test_near_ratio_is_the_chance_level():
    # uniform points in a square, rows away from the edges: the share of rows whose nearest
    # neighbour is within near_ratio * d_k is alpha
    from assay.neighbors import knn_graph

    r = np.random.default_rng(1)
    x = r.uniform(size=(4000, 2))
    k, alpha = 10, 0.05
    inner = ((x > 0.1) & (x < 0.9)).all(axis=1)
    dist = knn_graph(x, k=k, metric="euclidean").distances.astype(float)[inner]
    share = np.mean(dist[:, 0] <= near_ratio(2.0, k, alpha=alpha) * dist[:, -1])
    assert abs(share - alpha) < 0.015
    assert abs(intrinsic_dimension(dist) - 2.0) < 0.25
    with pytest.raises(InvalidParameterError, match="alpha"):
        near_ratio(2.0, k, alpha=1.5)


def test_near_copy_set_larger_than_k(rng):
    base = rng.normal(size=(300, 6))
    cluster = base[:1] + rng.normal(scale=1e-3, size=(15, 6))  # 15 near copies of row 0, k=10
    res = find_duplicates(np.vstack([base, cluster]), k=10)
    members = np.flatnonzero(res.duplicate_set == res.duplicate_set[0])
    assert set(members) == {0, *range(300, 315)}
    assert (res.duplicate_set[1:300] == -1).all()


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    return load_digits(as_frame=True).frame


@pytest.mark.parametrize("sd", [0.25, 0.5])
def test_noisy_digit_copies(digits, sd):
    r = np.random.default_rng(0)
    x = digits.drop(columns="target").to_numpy(float)
    src = r.choice(len(x), 100, replace=False)
    copies = np.clip(x[src] + r.normal(0, sd, size=(100, 64)), 0, 16)
    res = find_duplicates(np.vstack([x, copies]))
    sets = res.duplicate_set
    recall = np.mean([sets[s] >= 0 and sets[s] == sets[len(x) + i] for i, s in enumerate(src)])
    flagged = np.flatnonzero(res.is_near_duplicate | res.is_exact_duplicate)
    precision = np.isin(flagged, np.r_[src, len(x) + np.arange(100)]).mean()
    assert recall >= 0.95 and precision >= 0.9
    if sd == 0.5:  # Datalab's global rule on these Euclidean distances misses them
        old = find_duplicates(np.vstack([x, copies]), near_fraction=0.13)
        assert old.is_near_duplicate[len(x):].mean() < 0.5


def _junk_digits(digits: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    r = np.random.default_rng(0)
    cols = [c for c in digits.columns if c != "target"]
    noise = r.uniform(0, 16, size=(20, 64))
    inverted = 16 - digits[cols].to_numpy(float)[r.choice(len(digits), 20)]
    faint = np.zeros((20, 8, 8))
    for img in faint:  # a faint random stroke on a blank image
        row = r.integers(0, 8)
        faint_cols = np.arange(r.integers(0, 3), r.integers(5, 8))
        img[row, faint_cols] = r.uniform(2, 5)
    junk = pd.DataFrame(np.round(np.vstack([noise, inverted, faint.reshape(20, -1)])),
                        columns=cols).assign(target=r.integers(0, 10, 60))
    frame = pd.concat([digits, junk], ignore_index=True)
    return frame, np.r_[np.zeros(len(digits), bool), np.ones(60, bool)]


def test_digit_junk_ranked_far(digits):
    from sklearn.metrics import roc_auc_score

    import assay

    frame, is_junk = _junk_digits(digits)
    res = assay.audit(frame, label="target", checks=["outliers"])
    score = res.issues["outlier_score"].to_numpy()
    assert roc_auc_score(is_junk, -score) >= 0.95
    check = res.checks["outliers"]
    assert check.thresholds["metric"].value == "euclidean"
    assert "pixel" in check.summary["metric_reason"] or "unit" in check.summary["metric_reason"]
    # the faint strokes form a tight group of 20 (k = 10): only the detached-group rule sees it
    x = frame.drop(columns="target").to_numpy(float)
    plain = find_outliers(x)
    assert plain.detached[-20:].all() and not plain.detached[:-60].any()


def test_iris_top_flags_are_extreme_rows():
    from sklearn.datasets import load_iris

    import assay

    frame = load_iris(as_frame=True).frame
    res = assay.audit(frame, label="target", checks=["outliers"])
    score = res.issues["outlier_score"].to_numpy()
    x = frame.drop(columns="target").to_numpy(float)
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    centrality = np.linalg.norm(z, axis=1)  # distance from the feature mean
    top = np.argsort(score, kind="stable")[:7]
    central = np.argsort(centrality)[:15]
    assert not set(top) & set(central)
    assert pd.Series(centrality).rank(pct=True).to_numpy()[top].mean() > 0.75


def test_exact_image_file_copies_are_exact(tmp_path):
    import shutil

    from PIL import Image

    import assay

    r = np.random.default_rng(0)
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        for i in range(8):
            pix = r.integers(0, 256, size=(12, 12), dtype=np.uint8)
            Image.fromarray(pix).save(tmp_path / cls / f"{i}.png")
    shutil.copyfile(tmp_path / "a" / "0.png", tmp_path / "b" / "z_copy.png")  # same bytes
    # same pixels, other bytes (another compression level): a near copy, not an exact one
    Image.open(tmp_path / "a" / "1.png").save(tmp_path / "a" / "z_recoded.png", compress_level=0)
    res = assay.audit(tmp_path, label="label", checks=["duplicates"])
    paths = assay.load(tmp_path, label="label").table["path"].tolist()
    iss = res.issues.assign(path=paths).set_index("path")
    assert iss.loc[["a/0.png", "b/z_copy.png"], "is_exact_duplicate"].all()
    assert iss.loc["a/0.png", "duplicate_set"] == iss.loc["b/z_copy.png", "duplicate_set"]
    assert not iss.loc[["a/1.png", "a/z_recoded.png"], "is_exact_duplicate"].any()
    assert iss.loc[["a/1.png", "a/z_recoded.png"], "is_near_duplicate"].all()
    assert iss["is_exact_duplicate"].sum() == 2
    summary = res.checks["duplicates"].summary
    assert summary["exact_by"] == "file bytes" and summary["metric"] == "euclidean"


def test_duplicates_check_records_metric_and_rule():
    import assay

    r = np.random.default_rng(0)
    frame = pd.DataFrame(r.normal(size=(200, 3)), columns=["a", "b", "c"])
    frame["y"] = r.integers(0, 2, 200)
    frame.loc[199, ["a", "b", "c"]] = frame.loc[0, ["a", "b", "c"]] + 1e-4
    res = assay.audit(frame, label="y", checks=["duplicates", "outliers"])
    th = res.checks["duplicates"].thresholds
    assert th["metric"].value == "euclidean" and "table" in th["metric"].source
    assert 0 < th["near_ratio"].value < 1 and th["intrinsic_dimension"].value > 1
    assert res.issues.loc[[0, 199], "is_near_duplicate"].all()
    assert res.checks["outliers"].summary["metric"] == "euclidean"


def test_well_separated_clusters_are_not_outliers():
    """Classes that form separate k-NN components (embeddings of distinct classes) are clusters,
    not junk: only small detached groups are scored by their distance to the rest."""
    from assay.outliers import find_outliers

    rng = np.random.default_rng(0)
    centres = rng.normal(scale=50.0, size=(60, 8))  # 60 classes of 60 rows: each 1.7 % of rows
    x = np.vstack([c + rng.normal(size=(60, 8)) for c in centres])
    res = find_outliers(x, k=10)
    assert res.is_outlier.mean() < 0.05
    assert not res.detached.any()


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_detached_rows_distance_to_the_rest_without_a_copy(monkeypatch, metric):
    # two tight far groups of 6 rows (k = 5): detached. Their distance to the rest searched among
    # all rows (detached ones dropped) equals the search among a copy of the other rows
    import assay.outliers as out

    rng = np.random.default_rng(2)
    x = np.vstack([4.0 + rng.normal(size=(300, 4)),  # directions near (1, 1, 1, 1)
                   np.r_[8.0, -8.0, -8.0, 8.0] + 0.01 * rng.normal(size=(6, 4)),
                   np.r_[-8.0, 8.0, -8.0, 8.0] + 0.01 * rng.normal(size=(6, 4))])
    res = find_outliers(x, k=5, metric=metric)
    assert res.detached[-12:].all() and not res.detached[:300].any()
    monkeypatch.setattr(out, "DETACHED_QUERY_MAX", 0)
    copied = find_outliers(x, k=5, metric=metric)
    np.testing.assert_allclose(res.mean_distance, copied.mean_distance, rtol=1e-6, atol=1e-7)


def test_mean_distance_skips_missing_neighbours_in_blocks():
    from assay.outliers import _mean_distances

    d = np.array([[1.0, 3.0], [np.inf, 2.0], [np.inf, np.inf], [0.5, 0.5]], dtype=np.float32)
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        got = _mean_distances(d, block=3)
    np.testing.assert_array_equal(got, [2.0, 2.0, np.nan, 0.5])


def test_find_duplicates_in_row_blocks_equals_one_pass(monkeypatch):
    # the intrinsic dimension, the near pairs and their distances read the graph in blocks of
    # 7 rows: the same result as one block
    import assay.duplicates as dup

    rng = np.random.default_rng(5)
    x = rng.normal(size=(120, 6))
    x[100:110] = x[:10] + 1e-3 * rng.normal(size=(10, 6))
    x[110:115] = x[20:25]
    whole = find_duplicates(x)
    monkeypatch.setattr(dup, "BLOCK_ROWS", 7)
    blocks = find_duplicates(x)
    assert blocks.intrinsic_dim == whole.intrinsic_dim and blocks.threshold == whole.threshold
    np.testing.assert_array_equal(blocks.pairs, whole.pairs)
    np.testing.assert_array_equal(blocks.pair_distances, whole.pair_distances)
    np.testing.assert_array_equal(blocks.duplicate_set, whole.duplicate_set)
    assert whole.is_near_duplicate[:10].all() and whole.is_exact_duplicate[110:115].all()
