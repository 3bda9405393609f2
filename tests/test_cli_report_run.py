"""``assay report RUN``: a report rendered from the result the workspace keeps for each audit."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from assay import AuditResult
from assay.cli.main import main
from assay.workspace import Workspace


@pytest.fixture
def audited(tmp_path, capsys):
    rng = np.random.default_rng(1)
    y = np.repeat(["a", "b", "c"], 40)
    frame = pd.DataFrame(rng.normal(size=(120, 3)) + np.repeat([0, 4, 8], 40)[:, None],
                         columns=list("pqr")).assign(label=y, uid=[f"r{i}" for i in range(120)])
    frame.loc[[0, 50], "label"] = ["c", "a"]
    data = tmp_path / "data.csv"
    frame.to_csv(data, index=False)
    ws = tmp_path / "ws"
    rc = main(["audit", str(data), "--label", "label", "--id", "uid", "--out",
               str(tmp_path / "out"), "-w", str(ws), "--json"])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    return ws, doc


def test_audit_keeps_its_result_in_the_workspace(audited):
    ws, doc = audited
    stored = ws / "runs" / doc["run_id"] / "audit.json"
    result = AuditResult.from_json(stored)
    assert result.summary["run_id"] == doc["run_id"]
    assert int(result.issues["is_label_issue"].sum()) == round(doc["metrics"]["label"] * 120)
    assert not list((ws / "runs" / doc["run_id"]).glob(".*tmp"))


def test_report_from_a_run_id(audited, tmp_path, capsys, monkeypatch):
    ws, doc = audited
    out = tmp_path / "r.html"
    rc = main(["report", doc["run_id"][:12], "-w", str(ws), "-o", str(out), "--json"])
    assert rc == 0
    payload = json.loads(capsys.readouterr().out)
    html = out.read_text()
    assert payload["report"] == str(out) and payload["samples"] is True
    assert html.startswith("<!DOCTYPE html>") and "label_issues" in html
    assert "r50" in html  # a flagged row shown with its id
    # the default output: the run's own folder, with the workspace from the environment
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ASSAY_WORKSPACE", str(ws))
    target = ws / "runs" / doc["run_id"] / "report.html"
    target.unlink()
    assert main(["report", "latest"]) == 0
    assert target.exists() and not list(tmp_path.glob("report-*.html"))


def test_report_refuses_what_it_cannot_render(audited, tmp_path, capsys):
    ws, doc = audited
    with Workspace.open(ws) as w:
        other = w.start_run("value")
        w.finish_run(other, status="ok")
    assert main(["report", other, "-w", str(ws)]) == 2
    assert "'assay value' run; 'assay report' works on audits" in capsys.readouterr().err
    assert main(["report", "nosuchrun", "-w", str(ws)]) == 2
    assert "No run 'nosuchrun'" in capsys.readouterr().err
    assert main(["report", "latest", "-w", str(tmp_path / "empty")]) == 2
    assert "no workspace at" in capsys.readouterr().err
    shutil.rmtree(ws / "runs" / doc["run_id"])
    assert main(["report", doc["run_id"], "-w", str(ws)]) == 2
    assert "no stored result for audit run" in capsys.readouterr().err
