"""Confident joint and flags on tiny inputs with exact ties, against cleanlab (issue 14).

cleanlab (the reference, run here) computes thresholds with ``np.mean``, calibrates a confident
joint held in Fortran order (``np.sum`` adds it column by column), rounds each row with
``round_preserving_sum`` (``np.argsort`` of the residues) and prunes with
``np.argsort(-margin)``. On tiny inputs many rows share probabilities, so calibrated cells land
exactly on .5 and margins tie at the cut: the results then hang on the last bit of a sum and on
argsort's order among equal values. The cases below are built to hit those ties.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from assay.labels import compute_confident_joint, estimate_label_issues, find_label_issues

N_CASES = 200
METHODS = [("prune_by_noise_rate", "prune_by_noise_rate"), ("off_diagonal", "confident_learning")]


def _tiny_case(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """3-10 rows, 2-4 classes (each present), probabilities with many exact ties."""
    n = int(rng.integers(3, 11))
    k = int(rng.integers(2, min(n, 4) + 1))
    kind = int(rng.integers(0, 3))
    if kind == 0:  # small-integer grid: thresholds and margins tie exactly
        grid = rng.integers(0, 4, size=(n, k)).astype(float)
        grid[grid.sum(axis=1) == 0, 0] = 1.0
        p = grid / grid.sum(axis=1, keepdims=True)
    elif kind == 1:  # one to three distinct rows, repeated
        base = rng.dirichlet(np.ones(k), size=int(rng.integers(1, 4)))
        p = base[rng.integers(0, len(base), n)]
    else:
        p = rng.dirichlet(np.full(k, 0.7), size=n)
    y = rng.integers(0, k, n)
    y[:k] = np.arange(k)  # cleanlab needs every class present
    rng.shuffle(y)
    return y, p


def _cases(seed: int = 14) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [_tiny_case(rng) for _ in range(N_CASES)]


def test_tiny_cases_hit_rounding_ties():
    """The generator must produce the ties this file is about (else the tests prove little)."""
    count = pytest.importorskip("cleanlab.count")
    hits = 0
    for y, p in _cases():
        raw = count.compute_confident_joint(y, p, calibrate=False)
        lc = np.bincount(y, minlength=p.shape[1])
        cal = raw / np.maximum(raw.sum(axis=1, keepdims=True), 1) * lc[:, None]
        hits += bool(np.any(np.isclose(cal - np.floor(cal), 0.5)))
    assert hits >= 20


def test_calibrated_confident_joint_equals_cleanlab_on_tiny_tied_inputs():
    count = pytest.importorskip("cleanlab.count")
    for i, (y, p) in enumerate(_cases()):
        for calibrate in (True, False):
            expected = count.compute_confident_joint(y, p, calibrate=calibrate)
            got = compute_confident_joint(y, p, calibrate=calibrate)
            assert np.array_equal(got, expected), (i, calibrate, y.tolist(), p.tolist())


# Found by the random search above (with more cases): calibrated cells of exactly 0.5 whose
# rounding hangs on the last bit of the calibrated total.
REGRESSIONS = [
    ([2, 0, 1, 1, 2, 3, 3],
     [[0.05295047903894483, 0.433835949021742, 0.09288781025277312, 0.42032576168654]] * 7),
    ([0, 0, 0, 3, 1, 3, 2, 2],
     [[0.3, 0.3, 0.3, 0.1], [0.3, 0.2, 0.2, 0.3], [2 / 7, 1 / 7, 1 / 7, 3 / 7], [1 / 3] * 3 + [0.0],
      [3 / 7, 1 / 7, 0.0, 3 / 7], [0.25, 0.375, 0.375, 0.0], [2 / 3, 1 / 3, 0.0, 0.0],
      [0.125, 0.25, 0.375, 0.25]]),
    ([3, 3, 1, 2, 1, 0, 2],
     [[0.04051037447959548, 0.12224626922399781, 0.5527409488817971, 0.2845024074146094],
      [0.004226311500915484, 0.6917910335819172, 0.13026044995211558, 0.17372220496505167],
      [0.004226311500915484, 0.6917910335819172, 0.13026044995211558, 0.17372220496505167],
      [0.04051037447959548, 0.12224626922399781, 0.5527409488817971, 0.2845024074146094],
      [0.04051037447959548, 0.12224626922399781, 0.5527409488817971, 0.2845024074146094],
      [0.004226311500915484, 0.6917910335819172, 0.13026044995211558, 0.17372220496505167],
      [0.04051037447959548, 0.12224626922399781, 0.5527409488817971, 0.2845024074146094]]),
]


@pytest.mark.parametrize("case", range(len(REGRESSIONS)))
def test_calibrated_joint_rounding_tie_regressions(case):
    count = pytest.importorskip("cleanlab.count")
    y, p = np.array(REGRESSIONS[case][0]), np.array(REGRESSIONS[case][1])
    assert np.array_equal(compute_confident_joint(y, p),
                          count.compute_confident_joint(y, p, calibrate=True))


def test_calibration_kernel_equals_cleanlab_on_small_joints():
    """Random small joints, many cells at exactly .5 after rescaling (500 cases).

    cleanlab calibrates the joint that ``compute_confident_joint`` builds, a transposed
    confusion matrix (Fortran order); ``calibrate_confident_joint`` is given the same layout.
    """
    count = pytest.importorskip("cleanlab.count")
    from assay._kernels.confident import calibrate_joint

    rng = np.random.default_rng(1)
    for _ in range(500):
        k = int(rng.integers(2, 7))
        cj = rng.integers(0, 4, size=(k, k))
        np.fill_diagonal(cj, np.maximum(cj.diagonal(), 1))
        label_counts = rng.integers(1, 6, k)
        expected = count.calibrate_confident_joint(
            np.asfortranarray(cj), np.repeat(np.arange(k), label_counts))
        assert np.array_equal(calibrate_joint(cj, label_counts), expected), (cj, label_counts)


@pytest.mark.parametrize(("ours", "theirs"), METHODS)
def test_flags_equal_cleanlab_on_tiny_tied_inputs(ours, theirs):
    cleanlab_filter = pytest.importorskip("cleanlab.filter")
    for i, (y, p) in enumerate(_cases()):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # cleanlab warns about classes with one row
            expected = cleanlab_filter.find_label_issues(y, p, filter_by=theirs, n_jobs=1)
        got = find_label_issues(y, p, method=ours)
        assert np.array_equal(got, expected), (i, y.tolist(), p.tolist())


def test_flags_equal_cleanlab_when_margins_tie_at_the_cut():
    """Larger classes of repeated rows: prune counts cut through runs of equal margins."""
    cleanlab_filter = pytest.importorskip("cleanlab.filter")
    rng = np.random.default_rng(3)
    for _ in range(60):
        n, k = int(rng.integers(20, 200)), int(rng.integers(2, 9))
        base = np.round(rng.dirichlet(np.full(k, 0.5), size=int(rng.integers(2, 8))), 1)
        base[:, 0] += 1.0 - base.sum(axis=1)
        base = np.clip(base, 0.0, 1.0)
        base /= base.sum(axis=1, keepdims=True)
        p = base[rng.integers(0, len(base), n)]
        y = rng.integers(0, k, n)
        y[:k] = np.arange(k)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = cleanlab_filter.find_label_issues(y, p, n_jobs=1)
        assert np.array_equal(find_label_issues(y, p, method="prune_by_noise_rate"), expected)


def test_results_do_not_depend_on_memory_order():
    rng = np.random.default_rng(0)
    cases = _cases()
    for _ in range(40):  # and wider ones, where row sums and products can round differently
        n, k = int(rng.integers(20, 300)), int(rng.integers(2, 14))
        p = rng.dirichlet(np.full(k, 0.5), size=n)
        y = np.where(rng.random(n) < 0.6, p.argmax(axis=1), rng.integers(0, k, n))
        cases.append((y, p))
    for y, p in cases:
        c, f = np.ascontiguousarray(p), np.asfortranarray(p)
        assert np.array_equal(compute_confident_joint(y, c), compute_confident_joint(y, f))
        for method in ("prune_by_noise_rate", "off_diagonal", "posterior", "hybrid"):
            assert np.array_equal(find_label_issues(y, c, method=method),
                                  find_label_issues(y, f, method=method))
        a, b = estimate_label_issues(y, c), estimate_label_issues(y, f)
        assert np.array_equal(a.error_probability, b.error_probability)
        assert np.array_equal(a.noise_matrix, b.noise_matrix)
        assert np.array_equal(a.flagged, b.flagged)


def test_memory_mapped_probabilities_are_read_in_class_groups(tmp_path, monkeypatch):
    # a mapped matrix is gathered in sequential passes over groups of classes (here a budget of
    # ~3 classes' rows): the same flags as the matrix in memory, ties included (rounded rows)
    import assay._kernels.confident as cl
    from assay.labels import find_label_issues

    rng = np.random.default_rng(6)
    y = rng.integers(0, 8, size=600)
    p = np.round(rng.dirichlet(np.ones(8) * 0.5, size=600), 2)
    p[np.arange(600), y] += 0.3
    p /= p.sum(axis=1, keepdims=True)
    np.save(tmp_path / "p.npy", p)
    mapped = np.load(tmp_path / "p.npy", mmap_mode="r")
    assert cl.memory_mapped(np.asarray(mapped)) and not cl.memory_mapped(p)
    monkeypatch.setattr(cl, "GATHER_BYTES", 3 * 75 * 8 * 8)
    order = np.argsort(y, kind="stable")
    bounds = np.searchsorted(y[order], np.arange(9))
    got = list(cl._class_rows(np.asarray(mapped), y, order, bounds, [0, 2, 3, 5, 7]))
    assert [c for c, _, _ in got] == [0, 2, 3, 5, 7]
    for c, rows, sub in got:
        np.testing.assert_array_equal(rows, np.flatnonzero(y == c))
        np.testing.assert_array_equal(sub, p[rows])
    for method in ("prune_by_noise_rate", "hybrid"):
        np.testing.assert_array_equal(find_label_issues(y, mapped, method=method),
                                      find_label_issues(y, p, method=method))
