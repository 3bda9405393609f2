"""``kill -9`` at random points of ``assay audit`` and ``assay export`` (issue 14).

After every kill: no file that sits in a finished output is truncated (each one parses in full);
after the next run: no temporary survives; every export folder that was written completely is
recorded as a version. The commands run as subprocesses, as a user runs them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from assay.workspace import Workspace

pytestmark = pytest.mark.slow

_ENV = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120"}
KILLS = 10  # per command; 20 in all


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "assay.cli.main", *args]


def _temps(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".tmp-" in p.name]


def _kill_at(cmd: list[str], cwd: Path, after: float) -> int | None:
    """Start ``cmd``, SIGKILL it after ``after`` seconds (if still running); its exit code."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=_ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        return proc.wait(timeout=after)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        return None


def _timed(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    res = subprocess.run(cmd, cwd=cwd, env=_ENV, capture_output=True, text=True, timeout=600)
    assert res.returncode in (0, 1), res.stderr
    return time.perf_counter() - t0


def _assert_audit_files_whole(out: Path, n_rows: int) -> None:
    """Every finished file in ``out`` parses in full and has every row."""
    if not out.exists():
        return
    names = {p.name for p in out.iterdir() if ".tmp-" not in p.name}
    if "issues.parquet" in names:
        assert len(pd.read_parquet(out / "issues.parquet")) == n_rows
    if "issues.csv" in names:
        assert len(pd.read_csv(out / "issues.csv")) == n_rows
    if "audit.json" in names:
        assert json.loads((out / "audit.json").read_text())["summary"]["n_rows"] == n_rows
    if "report.html" in names:
        assert (out / "report.html").read_text().rstrip().endswith("</html>")


def _table(tmp_path: Path, n: int = 1500) -> Path:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, n)
    x = rng.normal(size=(n, 6)) + y[:, None]
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(6)]).round(4)
    frame.insert(0, "id", [f"r{i}" for i in range(n)])
    frame["y"] = np.array(["a", "b", "c"])[y]
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    return path


def test_kill_9_during_audit_never_leaves_a_torn_output(tmp_path):
    data = _table(tmp_path)
    out, ws = tmp_path / "out", tmp_path / ".assay"
    cmd = _cli("audit", str(data), "--label", "y", "--id", "id", "--out", str(out), "-w", str(ws))
    full = _timed(cmd, tmp_path)  # a complete audit first: later kills hit a full --out folder
    rng = np.random.default_rng(1)
    for after in rng.uniform(0.5 * full, full * 1.05, KILLS):  # the files are written last
        _kill_at(cmd, tmp_path, float(after))
        _assert_audit_files_whole(out, 1500)
        for run_dir in (ws / "runs").iterdir():
            _assert_audit_files_whole(run_dir, 1500)
    _timed(cmd, tmp_path)  # the next run removes what the killed ones left
    _assert_audit_files_whole(out, 1500)
    assert _temps(out) == []
    with Workspace.open(ws, read_only=True) as w:
        runs = w.runs(command="audit")
        ok = runs.loc[runs["status"] == "ok", "run_id"]
        assert len(ok) >= 2
        for run_id in ok:  # a run recorded ok has all its files
            files = {p.name for p in w.results_dir(run_id).iterdir()}
            assert {"issues.parquet", "audit.json"} <= files
        assert set(runs["status"]) <= {"ok", "interrupted"}


def test_kill_9_during_export_records_every_complete_version(tmp_path):
    data = _table(tmp_path, n=600)
    ws = tmp_path / ".assay"
    res = subprocess.run(_cli("audit", str(data), "--label", "y", "--id", "id", "-w", str(ws),
                              "--out", str(tmp_path / "audit"), "--checks", "label_issues"),
                         cwd=tmp_path, env=_ENV, capture_output=True, text=True, timeout=600)
    assert res.returncode in (0, 1), res.stderr
    with Workspace.open(ws) as w:
        run_id = w.runs(command="audit")["run_id"].iloc[0]
        for i in range(0, 60, 3):
            w.append_decision(f"r{i}", "relabel", reviewer="ann", new_label="a", run_id=run_id)
    versions = tmp_path / "versions"
    versions.mkdir()
    full = _timed(_cli("export", "-o", str(versions / "full"), "-w", str(ws)), tmp_path)
    rng = np.random.default_rng(2)
    for k, after in enumerate(rng.uniform(0.2, full * 1.05, KILLS)):
        _kill_at(_cli("export", "-o", str(versions / f"v{k}"), "-w", str(ws)), tmp_path,
                 float(after))
        for folder in versions.iterdir():  # a version folder is whole or absent
            if ".tmp-" in folder.name:
                continue
            log = json.loads((folder / "changelog.json").read_text())
            assert len(pd.read_csv(folder / "data.csv")) == 600 - log["counts"].get("removed", 0)
    _timed(_cli("export", "-o", str(versions / "last"), "-w", str(ws)), tmp_path)
    assert _temps(versions) == []
    with Workspace.open(ws, read_only=True) as w:
        recorded = {str(Path(p).resolve().parent) for p in w.versions()["path"]}
        statuses = set(w.runs(command="export")["status"])
    complete = {str(p.resolve()) for p in versions.iterdir() if (p / "changelog.json").exists()}
    assert complete <= recorded, complete - recorded
    assert statuses <= {"ok", "interrupted"}


# Killed inside a write: the N-th file write of a run writes half its content and the process
# dies on the spot (os._exit, as SIGKILL: no cleanup runs). Every write point of a run is hit.
_WRAPPER = """
import os, pathlib, sys
import pandas as pd
N = int(os.environ["ASSAY_TEST_DIE_ON_WRITE"])
count = [0]

def _die(path, data):
    pathlib.Path(path).write_bytes(data[: len(data) // 2])
    os._exit(137)

def wrap(orig, render):
    def inner(self, path=None, *args, **kwargs):
        if path is not None and not hasattr(path, "write"):
            count[0] += 1
            if count[0] == N:
                _die(path, render(self, args, kwargs))
        return orig(self, path, *args, **kwargs)
    return inner

pd.DataFrame.to_csv = wrap(pd.DataFrame.to_csv,
                           lambda self, a, k: self.to_csv(None, *a, **k).encode())
pd.DataFrame.to_parquet = wrap(pd.DataFrame.to_parquet,
                               lambda self, a, k: b"PAR1" + b"x" * 4096 + b"PAR1")
_write_text = pathlib.Path.write_text
def write_text(self, data, *args, **kwargs):
    count[0] += 1
    if count[0] == N:
        _die(self, data.encode())
    return _write_text(self, data, *args, **kwargs)
pathlib.Path.write_text = write_text
from assay.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def test_death_inside_every_write_of_an_audit(tmp_path):
    data = _table(tmp_path, n=300)
    out, ws = tmp_path / "out", tmp_path / ".assay"
    args = ["audit", str(data), "--label", "y", "--id", "id", "--out", str(out), "-w", str(ws),
            "--checks", "label_issues,duplicates"]
    assert subprocess.run(_cli(*args), cwd=tmp_path, env=_ENV, capture_output=True,
                          timeout=600).returncode in (0, 1)
    died = 0
    for n in range(1, 30):
        env = {**_ENV, "ASSAY_TEST_DIE_ON_WRITE": str(n)}
        res = subprocess.run([sys.executable, "-c", _WRAPPER, *args], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=600)
        if res.returncode != 137:
            assert res.returncode in (0, 1), res.stderr
            break  # the run wrote fewer than n files: every write point was hit
        died += 1
        _assert_audit_files_whole(out, 300)
        for run_dir in (ws / "runs").iterdir():
            _assert_audit_files_whole(run_dir, 300)
    assert died >= 4  # issues.parquet, audit.json, issues.csv, report.html at least
    assert _temps(out) == []  # the last, complete run removed the partial temporaries


def test_ctrl_c_prints_one_line_and_exits_130(tmp_path):
    data = _table(tmp_path, n=3000)
    proc = subprocess.Popen(_cli("audit", str(data), "--label", "y", "--no-workspace", "--out",
                                 str(tmp_path / "out")),
                            cwd=tmp_path, env=_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    time.sleep(4.0)  # past the imports, inside the audit
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the audit finished before the interrupt")
    assert proc.returncode == 130, err
    assert "Traceback" not in err and err.strip().startswith("interrupted")
    assert _temps(tmp_path / "out") == [] if (tmp_path / "out").exists() else True
