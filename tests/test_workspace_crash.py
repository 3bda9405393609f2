"""A writer killed with SIGKILL mid-write leaves the workspace readable and consistent."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from assay.workspace import Workspace

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")

N_ROWS = 200_000

_WRITER = """
import sys, contextlib
import numpy as np, pandas as pd
from assay.workspace import Workspace

path, n, hold = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
ws = Workspace.open(path)
ws.register_dataset("fp", n_rows=n)
rng = np.random.default_rng(0)
frame = pd.DataFrame({"row_id": np.arange(n), "check": "label", "score": rng.random(n),
                      "flag": rng.random(n) < 0.1, "suggested": rng.integers(0, 5, n)})
with ws.hold() if hold else contextlib.nullcontext():
    for i in range(1000):
        run_id = ws.start_run("audit", {"i": i}, fingerprint="fp")
        print("writing", run_id, flush=True)
        ws.record_findings(run_id, frame)
        print("artifact", run_id, flush=True)
        ws.save_artifact("features", "fp", {"i": i}, rng.random((n // 4, 8)).astype(np.float32))
        ws.finish_run(run_id, summary={"n": n})
"""


def _kill_during(tmp_path, *, event: str, occurrence: int, delay: float, hold: bool) -> list[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(tmp_path), str(N_ROWS), "1" if hold else "0"],
        stdout=subprocess.PIPE, text=True,
    )
    seen = 0
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line.strip())
            if line.startswith(event):
                seen += 1
                if seen == occurrence:
                    time.sleep(delay)
                    break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, lines
    return lines


def _check_consistent(path) -> None:
    for read_only in (True, False):
        with Workspace.open(path, read_only=read_only) as ws, ws.hold():
            runs = ws.runs()
            assert len(runs) >= 1
            for run in runs.itertuples():
                counts = ws.finding_counts(run.run_id)
                stored = int(counts["n_rows"].sum()) if len(counts) else 0
                # all or nothing: the findings and the run's counter commit together
                assert stored == run.n_findings, (run.run_id, stored, run.n_findings)
                assert run.n_findings in (0, N_ROWS)
                if run.status == "ok":
                    assert run.n_findings == N_ROWS
                else:
                    assert run.status == "interrupted"
            for art in ws.artifacts().itertuples():
                file = ws.path / art.path
                assert file.stat().st_size == art.nbytes
                assert hashlib.sha256(file.read_bytes()).hexdigest() == art.sha256
                assert not art.path.endswith(".tmp")  # a temp file is never registered
                value = ws.load_artifact(art.kind, art.fingerprint, json.loads(art.params))
                assert value.shape == (N_ROWS // 4, 8) and value.dtype == np.float32
            complete = runs[runs["status"] == "ok"]
            if len(complete):
                got = ws.findings(complete["run_id"].iloc[0], expand_details=True)
                assert len(got) == N_ROWS and got["row_id"].is_unique


def test_kill_mid_findings_insert(tmp_path):
    _kill_during(tmp_path, event="writing", occurrence=2, delay=0.15, hold=False)
    _check_consistent(tmp_path)
    with Workspace.open(tmp_path, read_only=True) as ws:
        assert ws.runs()["status"].tolist() == ["interrupted", "ok"]
    # and the workspace keeps working for the next writer
    with Workspace.open(tmp_path) as ws:
        run_id = ws.start_run("audit", fingerprint="fp")
        ws.finish_run(run_id)
        assert ws.run(run_id)["status"] == "ok"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("event", "occurrence", "delay", "hold"),
    [
        ("writing", 1, 0.0, False),
        ("writing", 2, 0.4, True),
        ("artifact", 1, 0.05, False),
        ("artifact", 2, 0.2, True),
        ("writing", 3, 0.8, False),
    ],
)
def test_kill_at_various_points(tmp_path, event, occurrence, delay, hold):
    _kill_during(tmp_path, event=event, occurrence=occurrence, delay=delay, hold=hold)
    _check_consistent(tmp_path)
