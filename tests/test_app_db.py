"""The review server's workspace thread: one connection held while busy, released when idle,
a decisions cache that never serves stale rows, errors handed to the caller."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from assay.app._db import WorkspaceThread
from assay.exceptions import InputValidationError
from assay.workspace import Workspace


@pytest.fixture
def ws(tmp_path):
    w = Workspace.open(tmp_path / "ws")
    run_id = w.start_run("audit")
    return w, run_id


def _append_in_another_process(path, lock_timeout: float) -> subprocess.CompletedProcess:
    code = ("import sys; from assay.workspace import Workspace; "
            f"w = Workspace.open(sys.argv[1], lock_timeout={lock_timeout}); "
            "print(w.append_decision('x', 'keep', reviewer='other'))")
    return subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                          text=True, timeout=120)


def test_writes_are_serial_and_reads_see_every_write(ws):
    w, run_id = ws
    thread = WorkspaceThread(w, run_id, idle_release_s=0.2)
    try:
        ids: list[int] = []
        lock = threading.Lock()

        def write(k: int) -> None:
            for i in range(20):
                got = thread.call(lambda w, k=k, i=i: w.append_decision(
                    f"r{i}", "keep", reviewer=f"rev{k}", run_id=run_id,
                    client_key=f"{k}-{i}"), write=True)
                with lock:
                    ids.append(got)
                version, dec = thread.decisions()  # read-your-writes
                assert got in set(dec["decision_id"])

        workers = [threading.Thread(target=write, args=(k,)) for k in range(8)]
        for t in workers:
            t.start()
        for t in workers:
            t.join()
        assert sorted(ids) == list(range(1, 161))
        version, dec = thread.decisions()
        assert len(dec) == 160 and thread.decisions()[1] is dec  # cached until the next write
        with pytest.raises(InputValidationError, match="does not exist"):
            thread.call(lambda w: w.append_decision("r1", "keep", reviewer="a", run_id="nope"),
                        write=True)
    finally:
        thread.close()


def test_the_connection_is_released_when_idle_and_the_cache_follows(ws):
    w, run_id = ws
    thread = WorkspaceThread(w, run_id, idle_release_s=0.2)
    try:
        assert thread.decisions()[1].empty
        # another user of the same file in this process waits for the release, then writes
        t0 = time.monotonic()
        Workspace.open(w.path).append_decision("r9", "keep", reviewer="x", run_id=run_id)
        assert time.monotonic() - t0 < 5
        # the cache was dropped with the connection: the outside write is seen
        assert thread.decisions()[1]["reviewer"].tolist() == ["x"]
    finally:
        thread.close()


def test_other_processes_get_the_workspace_between_bursts(ws):
    w, run_id = ws
    thread = WorkspaceThread(w, run_id, idle_release_s=60)
    try:
        thread.call(lambda w: w.append_decision("r1", "keep", reviewer="a"), write=True)
        held = _append_in_another_process(w.path, lock_timeout=0)
        assert held.returncode != 0 and "locked by another process" in held.stderr
    finally:
        thread.close()  # releases the file
    free = _append_in_another_process(w.path, lock_timeout=5)
    assert free.returncode == 0, free.stderr
    try:  # the thread starts again after close, and sees the other process's decision
        assert thread.call(lambda w: w.decisions()["reviewer"].tolist()) == ["a", "other"]
    finally:
        thread.close()
