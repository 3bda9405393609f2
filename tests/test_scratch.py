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
