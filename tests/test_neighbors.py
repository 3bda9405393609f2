"""k-NN graph against brute force; approximate recall against exact."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.exceptions import InputValidationError, InvalidParameterError
from assay.neighbors import knn_graph, knn_query


def brute_knn(x: np.ndarray, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """O(n^2) reference: full distance matrix, self set to +inf, stable sort."""
    x = x.astype(np.float64)
    if metric == "cosine":
        n = np.linalg.norm(x, axis=1, keepdims=True)
        n[n == 0] = 1
        xn = x / n
        d = 1 - xn @ xn.T
    else:
        d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    idx = np.argsort(d, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(d, idx, axis=1)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("block", [7, 2048])
def test_exact_matches_brute_force(metric, block, rng):
    x = rng.normal(size=(120, 9))
    g = knn_graph(x, k=6, metric=metric, method="exact", block_size=block)
    idx, dist = brute_knn(x, 6, metric)
    np.testing.assert_allclose(g.distances, dist, atol=2e-5)
    # indices agree except where two distances tie within float32 precision
    same = g.indices == idx
    assert same.mean() > 0.99
    assert g.indices.dtype == np.int64 and g.distances.dtype == np.float32
    assert not (g.indices == np.arange(120)[:, None]).any()


def test_tiny_hand_worked():
    # points on a line at 0, 1, 3: neighbours 1->0 (d=1), 0->1 (d=1), 3->1 (d=2)
    g = knn_graph(np.array([[0.0], [1.0], [3.0]]), k=1, metric="euclidean")
    assert g.indices.ravel().tolist() == [1, 0, 1]
    assert g.distances.ravel().tolist() == [1.0, 1.0, 2.0]


def _requires(method):
    if method == "faiss":
        pytest.importorskip("faiss")


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("method", ["ivf", "faiss"])
def test_approximate_recall_against_exact(rng, method, metric):
    _requires(method)
    centres = rng.normal(size=(30, 32))
    x = (centres[rng.integers(0, 30, 6000)] + rng.normal(size=(6000, 32)) * 0.8).astype(np.float32)
    exact = knn_graph(x, k=10, method="exact", metric=metric)
    approx = knn_graph(x, k=10, method=method, metric=metric)
    hits = (approx.indices[:, :, None] == exact.indices[:, None, :]).any(axis=2).mean()
    assert hits >= 0.95
    assert approx.method == {"ivf": "ivf", "faiss": "faiss-ivf"}[method]
    assert approx.info["sample_recall"] >= 0.95
    assert not (approx.indices == np.arange(6000)[:, None]).any()
    # each returned distance is the true distance of the returned neighbour, ascending
    rows = rng.choice(6000, 200, replace=False)
    xs = x.astype(np.float64)
    if metric == "cosine":
        xs /= np.linalg.norm(xs, axis=1, keepdims=True)
        true = 1.0 - np.einsum("ij,ikj->ik", xs[rows], xs[approx.indices[rows]])
    else:
        true = np.linalg.norm(xs[rows][:, None, :] - xs[approx.indices[rows]], axis=2)
    np.testing.assert_allclose(approx.distances[rows], true, atol=2e-3, rtol=1e-4)
    assert (np.diff(approx.distances, axis=1) >= 0).all()


@pytest.mark.parametrize("method", ["ivf", "faiss"])
def test_approximate_recall_on_unstructured_data(rng, method):
    """Gaussian noise has no clusters: the probe count must grow until recall is reached."""
    _requires(method)
    x = rng.normal(size=(4000, 24)).astype(np.float32)
    exact = knn_graph(x, k=5, method="exact")
    approx = knn_graph(x, k=5, method=method)
    hits = (approx.indices[:, :, None] == exact.indices[:, None, :]).any(axis=2).mean()
    assert hits >= 0.95
    assert approx.info["nprobe"] > 8  # it had to widen


def test_ivf_with_duplicate_rows_and_tiny_lists(rng):
    """Exact copies (distance 0) and lists smaller than k still give k valid neighbours."""
    base = rng.normal(size=(300, 8)).astype(np.float32)
    x = np.vstack([base, base[:50], base[:50]])
    g = knn_graph(x, k=12, method="ivf", metric="euclidean")
    assert g.indices.shape == (400, 12) and (g.indices >= 0).all()
    assert not (g.indices == np.arange(400)[:, None]).any()
    assert (np.sort(g.indices, axis=1)[:, 1:] != np.sort(g.indices, axis=1)[:, :-1]).all()
    # row 0 has two exact copies (300 and 350): both are its nearest neighbours at distance 0
    assert set(g.indices[0, :2]) == {300, 350} and np.allclose(g.distances[0, :2], 0.0)


def test_knn_query_matches_brute_force(rng):
    ref, qry = rng.normal(size=(50, 4)), rng.normal(size=(13, 4))
    idx, dist = knn_query(ref, qry, k=3, block_size=5)
    d = np.sqrt(((qry[:, None] - ref[None]) ** 2).sum(-1))
    np.testing.assert_array_equal(idx, np.argsort(d, axis=1, kind="stable")[:, :3])
    np.testing.assert_allclose(dist, np.sort(d, axis=1)[:, :3], atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_distances_invariant_to_row_order(seed):
    r = np.random.default_rng(seed)
    x = r.normal(size=(40, 5))
    perm = r.permutation(40)
    a = knn_graph(x, k=4, metric="euclidean")
    b = knn_graph(x[perm], k=4, metric="euclidean")
    np.testing.assert_allclose(a.distances[perm], b.distances, atol=1e-5)


def test_errors():
    x = np.zeros((5, 2))
    with pytest.raises(InvalidParameterError, match="'k' parameter of knn_graph must be smaller"):
        knn_graph(x, k=5)
    with pytest.raises(InvalidParameterError, match="'metric' parameter.*Got 'cosin'.*cosine"):
        knn_graph(x, metric="cosin")
    with pytest.raises(InputValidationError, match="NaN or infinite values in 1 row"):
        knn_graph(np.array([[0.0, 1.0], [np.nan, 1.0], [2.0, 2.0]]), k=1)
    with pytest.raises(InputValidationError, match="must be a 2-d array"):
        knn_graph(np.zeros(5), k=1)


def test_top_scores_equals_a_full_sort_with_ties_and_excluded_cells():
    """The bound-and-filter top-k of the inverted file equals sorting every row (best first,
    ties to the lower column), whatever the prefix that gives the bound."""
    from assay._kernels.ivf import top_scores

    gen = np.random.default_rng(1)
    for trial in range(300):
        m, c, k = int(gen.integers(1, 60)), int(gen.integers(12, 400)), int(gen.integers(1, 11))
        s = gen.normal(size=(m, c)).astype(np.float32)
        if trial % 3 == 0:
            s = np.round(s, 1)  # many ties
        s[gen.random((m, c)) < 0.05] = -np.inf  # excluded (the row itself)
        if (np.isfinite(s).sum(axis=1) < k).any():
            continue
        cols, vals = top_scores(s, k, prefix=int(gen.integers(1, c + 1)))
        ref = np.lexsort((np.broadcast_to(np.arange(c), s.shape), -s), axis=1)[:, :k]
        np.testing.assert_array_equal(cols, ref)
        np.testing.assert_array_equal(vals, np.take_along_axis(s, ref, axis=1))


def test_list_count_grows_linearly_past_a_million_rows():
    from assay._kernels.ivf import LIST_ROWS, n_lists

    assert n_lists(100) == 16 and n_lists(250_000) == 500 and n_lists(1_000_000) == 1000
    assert n_lists(2_000_000) == 2000 and n_lists(10_000_000) == 10_000_000 // LIST_ROWS
