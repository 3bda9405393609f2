"""The fix loop of README.md and docs/review.md, run verbatim, end to end (issue 14).

The command block is read from both documents (they must match), and every line runs as a
subprocess in a fresh folder, as a user types it: ``assay review`` starts the real server (the
browser it opens is a no-op), a scripted reviewer decides the label-issue queue through the HTTP
API with the token the command printed, ``A`` and ``B`` become the run ids the audits printed.
Then ``assay diff`` must count as fixed only rows a reviewer acted on.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _loop_block(path: Path) -> list[str]:
    """The command lines of the first ```bash block that runs `assay review`."""
    text = path.read_text(encoding="utf-8")
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        lines = [ln.split("#", 1)[0].strip() for ln in block.splitlines()]
        lines = [ln for ln in lines if ln]
        if any(ln.startswith("assay review") for ln in lines):
            return lines
    raise AssertionError(f"no loop block in {path}")


def _cmd(line: str) -> list[str]:
    args = shlex.split(line)
    assert args[0] == "assay"
    exe = shutil.which("assay")
    return ([exe] if exe else [sys.executable, "-m", "assay.cli.main"]) + args[1:]


def _data(folder: Path) -> set[str]:
    """A real table (scikit-learn's wine) with 8 % of labels flipped; the flipped ids."""
    from sklearn.datasets import load_wine

    wine = load_wine(as_frame=True)
    frame = wine.frame.drop(columns="target")
    names = np.array(["barolo", "grignolino", "barbera"])
    y = names[wine.target.to_numpy()]
    rng = np.random.default_rng(0)
    flip = rng.choice(len(y), size=int(0.08 * len(y)), replace=False)
    y[flip] = [rng.choice([c for c in names if c != v]) for v in y[flip]]
    frame.insert(0, "id", [f"w{i:03d}" for i in range(len(frame))])
    frame["y"] = y
    frame.to_csv(folder / "data.csv", index=False)
    return {f"w{i:03d}" for i in flip}


def test_readme_and_review_doc_show_the_same_loop():
    assert _loop_block(ROOT / "README.md") == _loop_block(ROOT / "docs" / "review.md")


def test_the_documented_loop_runs_verbatim(tmp_path):
    lines = _loop_block(ROOT / "docs" / "review.md")
    flipped = _data(tmp_path)
    env = {**os.environ, "BROWSER": "true", "PYTHONUNBUFFERED": "1", "NO_COLOR": "1",
           "COLUMNS": "200"}
    env.pop("ASSAY_WORKSPACE", None)
    runs: list[str] = []
    decided: dict[str, str] = {}
    for line in lines:
        args = _cmd(line)
        if line.split()[1] == "diff":  # A and B stand for the run ids the audits printed
            args = [runs[0] if a == "A" else runs[1] if a == "B" else a for a in args]
        if line.startswith("assay review"):
            decided = _review(args, tmp_path, env, flipped)
            continue
        res = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=900)
        assert res.returncode in (0, 1), (line, res.stdout[-2000:], res.stderr[-2000:])
        assert "Traceback" not in res.stderr
        found = re.search(r"Recorded run (\S+)", res.stdout)
        if line.startswith("assay audit"):
            assert found, res.stdout[-2000:]
            runs.append(found.group(1))
    assert len(runs) == 2 and (tmp_path / "data.v2" / "data.csv").exists()
    assert decided  # the scripted reviewer decided something
    # the numbers behind what diff printed
    res = subprocess.run(_cmd(f"assay diff {runs[0]} {runs[1]} --json"), cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    d = json.loads(res.stdout)
    label = next(c for c in d["checks"] if c["check"] == "label_issues")
    fixed = set(d["fixed_rows"]["label_issues"])
    acted = {r for r, act in decided.items() if act == "relabel"}
    kept = {r for r, act in decided.items() if act == "keep"}
    assert fixed <= acted  # only reviewed rows count as fixed
    assert label["fixed"] == len(fixed) > 0
    assert label["kept"] == len(kept)
    assert not (set(d["cleared_rows"]["label_issues"]) & set(decided))  # churn: undecided only
    assert len(fixed & flipped) >= 0.6 * len(acted & flipped)
    # the kept rows carry their decision into run B (unchanged rows)
    from assay.workspace import Workspace, carried_decisions

    with Workspace.open(tmp_path / ".assay", read_only=True) as ws:
        carried = set(carried_decisions(ws, runs[1])["row_id"])
    assert carried == kept


def _review(args: list[str], cwd: Path, env: dict[str, str], flipped: set[str]) -> dict[str, str]:
    """Start `assay review` as typed, decide the label-issue queue like a careful reviewer."""
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    decided: dict[str, str] = {}
    try:
        url = None
        deadline = time.monotonic() + 300
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                raise AssertionError(f"assay review stopped: {proc.stderr.read()[-2000:]}")
            found = re.search(r"Open (http://\S+)", line)
            url = found.group(1) if found else None
        assert url, "assay review printed no URL"
        base, token = url.split("/?token=")
        headers = {"X-Assay-Token": token}
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            session = client.get("/api/session").json()
            assert "label_issues" in {q["name"] for q in session["queues"]}
            items = client.get("/api/queues/label_issues", params={"limit": 500}).json()["items"]
            assert items
            for n, item in enumerate(items):
                row = str(item["row_id"])
                if row in flipped and item["suggested_label"] not in (None, item["given_label"]):
                    body = {"action": "relabel", "new_label": item["suggested_label"]}
                else:
                    body = {"action": "keep"}
                body.update({"row_id": row, "queue": "label_issues", "reviewer": "ana",
                             "client_key": f"loop-{n}"})
                res = client.post("/api/decisions", json=body)
                assert res.status_code == 200, res.text
                decided[row] = body["action"]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return decided
