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


# ------------------------------------------------------------- show: rounded for people


@pytest.fixture
def precise(tmp_path):
    path = tmp_path / "ws"
    with Workspace.open(path) as ws:
        run = ws.start_run("audit", {"k": 10, "note": None, "flag": True}, fingerprint=None)
        ws.finish_run(run, summary={
            "status": "warn", "n_rows": 123456, "classes": ["a", "b"],
            "checks": {"label_issues": "warn", "outliers": "pass"},
            "metrics": {"label": 0.14166666666666666, "label_issues.n_flagged": 17.0,
                        "calibration_gap": -0.0771132203497562, "tiny": 1.234567e-7,
                        "big": 1234567.891},
        }, timings={"total": 1.5763499})
    return path, run


def test_show_rounds_numbers_and_json_keeps_them(precise, capsys):
    path, run = precise
    assert main(["show", run, "-w", str(path)]) == 0
    out = capsys.readouterr().out
    for shown in ("0.1417", "-0.07711", "1.23e-07", "1,234,568", "123,456", "1.576"):
        assert shown in out, shown
    assert "0.14166666" not in out and "17.0" not in out and "0.0771132" not in out
    lines = {" ".join(line.split()) for line in out.splitlines()}
    assert "label_issues.n_flagged 17" in lines  # a whole number without ".0"
    assert "flag yes" in lines and "note -" in lines  # no JSON true / null
    assert "classes a, b" in lines
    assert main(["show", run, "-w", str(path), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["summary"]["metrics"]["label"] == 0.14166666666666666  # full precision
    assert got["summary"]["metrics"]["calibration_gap"] == -0.0771132203497562


# ------------------------------------------------------------- runs --html: the history


def test_runs_html_history_page(tmp_path, capsys):
    from html.parser import HTMLParser

    path = tmp_path / "ws"
    labels = [0.30, 0.20, None, 0.05]  # the third audit did not run label_issues
    with Workspace.open(path) as ws, ws.hold():
        for i, share in enumerate(labels):
            fp = "fp-a" if i < 2 else "fp-b"  # a new dataset version from the third audit
            ws.register_dataset(fp, n_rows=10, source=str(tmp_path / f"{fp}.csv"))
            run = ws.start_run("audit", {}, fingerprint=fp)
            metrics = {"outlier": 0.01 * i, "outliers.n_outliers": float(i)}
            if share is not None:
                metrics["label"] = share
            ws.finish_run(run, summary={"status": "warn", "metrics": metrics})
        ws.start_run("value")  # still running: in the table, not in the trends
    assert main(["runs", "-w", str(path), "--html", str(tmp_path / "h.html"), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["runs"] == 5 and got["audits"] == 4
    text = (tmp_path / "h.html").read_text()

    class Page(HTMLParser):
        def __init__(self):
            super().__init__()
            self.charts, self.points, self.rows, self.changes, self.scripts = {}, {}, [], {}, 0
            self._chart = None

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "script":
                self.scripts += 1
            if tag == "figure" and "data-metric" in a:
                self._chart = a["data-metric"]
                self.charts[self._chart] = a
                self.points[self._chart] = []
                self.changes[self._chart] = 0
            if tag == "circle" and self._chart:
                self.points[self._chart].append((a["data-run"], float(a["data-value"])))
            if tag == "line" and self._chart and "version-change" in a.get("class", ""):
                self.changes[self._chart] += 1
            if tag == "tr" and "data-run" in a:
                self.rows.append((a["data-run"], a["data-command"], a["data-status"]))

        def handle_endtag(self, tag):
            if tag == "figure":
                self._chart = None

    page = Page()
    page.feed(text)
    with Workspace.open(path, read_only=True) as ws:
        runs = ws.runs()
    audits = list(runs.loc[runs["command"] == "audit", "run_id"])[::-1]  # oldest first
    assert page.scripts == 0 and "script-src 'none'" in text
    assert set(page.charts) == {"label", "outlier"}  # headline metrics; figures in a table
    assert page.points["label"] == [(audits[0], 0.3), (audits[1], 0.2), (audits[3], 0.05)]
    assert [v for _, v in page.points["outlier"]] == pytest.approx([0.0, 0.01, 0.02, 0.03])
    assert page.charts["label"]["data-latest"] == "0.05"
    assert page.changes["label"] == 1  # fp-a -> fp-b
    assert [r[0] for r in page.rows] == list(runs["run_id"])  # the table: every run, newest first
    assert page.rows[0][1:] == ("value", "running")
    assert 'data-metric="outliers.n_outliers"' in text  # the check figure's sparkline row


def test_runs_html_refuses_an_input_and_compare(workspace, tmp_path, capsys):
    path, _, _ = workspace
    data = tmp_path / "data.csv"
    data.write_text("x\n1\n")
    with Workspace.open(path) as ws:
        ws.register_dataset("fp-data", n_rows=1, source=str(data))
    for target in (data, path / "assay.duckdb"):
        assert main(["runs", "-w", str(path), "--html", str(target)]) == 2
        assert "is the input" in " ".join(capsys.readouterr().err.split())
    assert data.read_text() == "x\n1\n"
    assert main(["runs", "-w", str(path), "--compare", "--html", str(tmp_path / "r.html")]) == 2
    assert "does not combine with --compare" in " ".join(capsys.readouterr().err.split())
    assert main(["runs", "-w", str(path), "--html", str(tmp_path / "pages") + "/"]) == 0
    assert (tmp_path / "pages" / "runs.html").exists()  # a trailing slash: a folder


# ------------------------------------------------------------- runs --compare at 80 columns


def _train_record(i, recipe, **prov):
    return {"schema": "assay.run/1", "run_id": f"20261122T05000{i}-{recipe}-3f9a1c",
            "recipe": recipe,
            "provenance": {"backbone": "resnet50", "data_fingerprint": "abc", "extra_data": [],
                           "params_trained": 1234567 * (i + 1), "train_seconds": 12.3456 * (i + 1),
                           "selection": {"tau": "validation", "checkpoint": "last"}, **prov},
            "metrics": {"balanced": 0.7 + 0.01 * i, "few": 0.4 + 0.02 * i, "overall": 0.81234}}


def test_runs_compare_fits_80_columns(tmp_path):
    import os
    import re
    import subprocess
    import sys

    recs = tmp_path / "recs"
    recs.mkdir()
    records = [_train_record(0, "ce"), _train_record(1, "logit-adjusted",
                                                     selection={"tau": "test"}),
               _train_record(2, "balanced-softmax", backbone="vit-b16-in21k-finetuned"),
               _train_record(3, "ldam-drw", data_fingerprint="xyz"),
               _train_record(4, "focal", extra_data=["web-crawl-2024", "pseudo-labels"])]
    for r in records:
        (recs / f"{r['run_id']}.json").write_text(json.dumps(r))
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1", "TERM": "dumb"}
    res = subprocess.run([sys.executable, "-m", "assay.cli.main", "runs", "--compare",
                          "--records", str(recs)], capture_output=True, text=True, timeout=120,
                         env=env)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, "\n".join(lines)
    # every run id on one line, and every figure whole: the numbers of the records appear as
    # tokens, never cut across lines
    for r in records:
        assert any(r["run_id"] in line for line in lines), r["run_id"]
    tokens = set(" ".join(lines).split())
    for r in records:
        prov = r["provenance"]
        for number in (f"{r['metrics']['balanced']:.3f}", f"{r['metrics']['few']:.3f}",
                       f"{prov['params_trained']:,}", f"{prov['train_seconds']:.3f}"):
            assert number in tokens, number
    assert "0.812" in tokens
    # no token is a piece of one of those numbers (cut across lines or columns)
    whole = {f"{r[k]:.3f}" for r in (x["metrics"] for x in records) for k in ("balanced", "few")}
    whole |= {f"{r['provenance'][k]:{f}}" for r in records
              for k, f in (("params_trained", ","), ("train_seconds", ".3f"))}
    pieces = {t for t in tokens if re.fullmatch(r"[\d.,]+", t) and t not in whole
              and any(w.startswith(t) or w.endswith(t) for w in whole)}
    assert not pieces, pieces
    # the flags are all there, wrapped at spaces
    for word in ("selected", "different", "pseudo-labels,", "web-crawl-2024",
                 "(vit-b16-in21k-finetuned"):
        assert word in tokens, word
