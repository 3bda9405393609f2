"""``assay runs`` and ``assay show``."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from assay.cli.main import main
from assay.workspace import Workspace


@pytest.fixture
def workspace(tmp_path):
    path = tmp_path / "ws"
    with Workspace.open(path) as ws, ws.hold():
        ws.register_dataset("fp-abc", n_rows=3, source="data.csv", roles={"label": "y"})
        first = ws.start_run("audit", {"k": 10, "note": "[bold]not markup[/bold]"},
                             fingerprint="fp-abc")
        ws.record_findings(first, pd.DataFrame({
            "row_id": [0, 1, 2, 0], "check": ["label"] * 3 + ["outlier"],
            "score": [0.1, 0.8, 0.05, 0.5], "flag": [True, False, True, False]}))
        ws.finish_run(first, summary={"label": "warn"}, timings={"features": 0.5, "total": 2.0})
        second = ws.start_run("value")
    return path, first, second


def test_runs_json(workspace, capsys):
    path, first, second = workspace
    assert main(["runs", "--workspace", str(path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in rows] == [second, first]
    assert rows[1]["status"] == "ok" and rows[1]["n_findings"] == 4
    assert rows[1]["fingerprint"] == "fp-abc" and rows[1]["started"].endswith("Z")
    assert rows[0]["status"] == "running" and rows[0]["duration_s"] is None
    assert main(["runs", "-w", str(path), "--json", "--command", "value"]) == 0
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)] == [second]


def test_runs_table(workspace, capsys):
    path, first, second = workspace
    assert main(["runs", "--workspace", str(path), "--limit", "5"]) == 0
    out = capsys.readouterr().out
    assert first in out and second in out and "audit" in out and "fp-abc" in out


def test_runs_default_workspace_from_env(workspace, capsys, monkeypatch):
    path, first, _ = workspace
    monkeypatch.setenv("ASSAY_WORKSPACE", str(path))
    assert main(["runs", "--json"]) == 0
    assert first in capsys.readouterr().out


def test_runs_empty_workspace(tmp_path, capsys):
    Workspace.open(tmp_path).close()
    assert main(["runs", "-w", str(tmp_path)]) == 0
    assert "No runs" in capsys.readouterr().out


def test_show_json(workspace, capsys):
    path, first, _ = workspace
    assert main(["show", first[:-2], "--workspace", str(path), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["run_id"] == first and got["params"]["k"] == 10
    assert got["summary"] == {"label": "warn"} and got["timings"]["total"] == 2.0
    assert got["dataset"]["source"] == "data.csv" and got["dataset"]["n_rows"] == 3
    by_check = {r["check"]: r for r in got["findings_by_check"]}
    assert by_check["label"]["n_rows"] == 3 and by_check["label"]["n_flagged"] == 2
    assert by_check["outlier"]["n_flagged"] == 0
    assert got["versions"]["assay"]


def test_show_text_prints_data_literally(workspace, capsys):
    path, first, _ = workspace
    assert main(["show", "latest", "-w", str(path)]) == 0
    out = capsys.readouterr().out
    assert "value" in out and "running" in out
    assert main(["show", first, "-w", str(path)]) == 0
    out = capsys.readouterr().out
    assert "[bold]not markup[/bold]" in out  # rich markup in the data is shown, not applied
    assert "findings by check" in out and "outlier" in out and "features" in out


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["show", "nope"], "No run 'nope' in the workspace"),
        (["show", "2"], "ambiguous"),
    ],
)
def test_show_errors(workspace, capsys, argv, match):
    path, _, _ = workspace
    assert main([*argv, "--workspace", str(path)]) == 2
    assert match in " ".join(capsys.readouterr().err.split())


def test_missing_workspace_is_a_user_error(tmp_path, capsys):
    assert main(["runs", "--workspace", str(tmp_path / "none")]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "error: No assay workspace at" in err
    assert not (tmp_path / "none").exists()  # listing never creates a workspace
