"""Arrays on disk (assay.data.disk_array): writable, zero-filled, the dtype asked for, gone with
the last reference; bad input refused in one sentence."""

from __future__ import annotations

import gc
import os

import numpy as np
import pytest

from assay.data import disk_array
from assay.exceptions import InputValidationError


def test_disk_array_reads_and_writes_like_memory(tmp_path):
    a = disk_array((5000, 7), np.float64, folder=tmp_path)
    assert isinstance(a, np.memmap) and a.shape == (5000, 7) and a.dtype == np.float64
    assert not a.any()  # zero-filled
    ref = np.random.default_rng(0).random((5000, 7))
    a[:] = ref
    np.testing.assert_array_equal(a[::7], ref[::7])
    assert list(tmp_path.iterdir()) == []  # the file has no name in the folder


def test_disk_array_file_goes_with_the_array(tmp_path):
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc to count open files")

    def mapped() -> int:
        with open("/proc/self/maps") as fh:
            return sum(str(tmp_path) in line for line in fh)

    a = disk_array((1000, 3), folder=tmp_path)
    a[0] = 1.0
    assert mapped() == 1
    del a
    gc.collect()
    assert mapped() == 0


def test_disk_array_edge_cases_and_errors(tmp_path):
    assert disk_array((0, 4)).shape == (0, 4)
    assert disk_array((3,), np.int64)[2] == 0
    with pytest.raises(InputValidationError, match="non-negative sizes"):
        disk_array((-1, 3))
    with pytest.raises(InputValidationError, match="is not an existing folder"):
        disk_array((3, 3), folder=tmp_path / "missing")


def test_load_npy_maps_large_files_copy_on_write(tmp_path):
    from assay.data import MAP_BYTES, load_npy

    small, large = tmp_path / "small.npy", tmp_path / "large.npy"
    np.save(small, np.arange(10.0))
    ref = np.random.default_rng(0).random((MAP_BYTES // 8 + 1,))
    np.save(large, ref)
    assert not isinstance(load_npy(small), np.memmap)
    got = load_npy(large)
    assert isinstance(got, np.memmap) and np.array_equal(got, ref)
    got[:5] = -1.0  # private to the process
    assert np.array_equal(np.load(large), ref)
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError):
        load_npy(tmp_path / "obj.npy")  # never unpickled


@pytest.mark.parametrize("block_bytes", [1, 72, 1 << 20])
def test_widened_equals_astype_in_memory_and_on_disk(block_bytes):
    from assay.data import widened

    a = np.random.default_rng(1).random((301, 9)).astype(np.float32)
    on_disk = widened(a, block_bytes=block_bytes, on_disk_bytes=0)
    assert isinstance(on_disk, np.memmap) and on_disk.dtype == np.float64
    np.testing.assert_array_equal(on_disk, a.astype(np.float64))
    in_memory = widened(a, block_bytes=block_bytes)  # 21 kB: below the 1 GiB bound
    assert not isinstance(in_memory, np.memmap) and in_memory.dtype == np.float64
    np.testing.assert_array_equal(in_memory, a.astype(np.float64))
    b = a.astype(np.float64)
    assert widened(b, on_disk_bytes=0) is b  # float64 as it is
    assert widened(np.zeros((0, 3), np.float32), on_disk_bytes=0).shape == (0, 3)


def test_audit_with_float32_probabilities_widened_on_disk(monkeypatch):
    """The audit gives the same result for float32 probabilities widened on disk as for the
    float64 ones, and never makes the float64 copy in memory."""
    import pandas as pd

    import assay
    import assay.data._scratch as scratch

    rng = np.random.default_rng(0)
    n, k = 600, 4
    y = rng.integers(0, k, n)
    x = rng.normal(size=(n, 5)) + np.eye(k, 5)[y] * 2.0
    logits = rng.normal(size=(n, k)) + 2.5 * np.eye(k)[y]
    p32 = (np.exp(logits) / np.exp(logits).sum(1, keepdims=True)).astype(np.float32)
    p32 /= p32.sum(1, keepdims=True)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(5)]).assign(y=y)
    checks = ["label_issues", "duplicates", "outliers"]
    ref = assay.audit(frame, label="y", pred_probs=p32.astype(np.float64), checks=checks)
    made = []
    real = scratch.disk_array
    monkeypatch.setattr(scratch, "WIDEN_ON_DISK_BYTES", 0)
    monkeypatch.setattr(scratch, "disk_array", lambda *a, **kw: made.append(a) or real(*a, **kw))
    got = assay.audit(frame, label="y", pred_probs=p32, checks=checks)
    assert made and made[0][0] == (n, k) and made[0][1] == np.float64
    pd.testing.assert_frame_equal(got.issues, ref.issues)
    assert (got.checks["label_issues"].summary["n_estimated_errors"]
            == ref.checks["label_issues"].summary["n_estimated_errors"])
