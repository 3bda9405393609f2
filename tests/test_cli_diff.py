"""``assay diff``: audit, fix, re-audit and diff end to end; ``--html`` on a hand-worked workspace."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest

from assay.cli.main import main
from assay.demo import make_demo_data
from assay.workspace import Workspace


@pytest.mark.slow
def test_audit_fix_reaudit_diff(tmp_path, capsys):
    demo = make_demo_data(noise=0.1, random_state=1, n_near=0, n_exact=0)
    table = demo.table
    before = tmp_path / "v1.csv"
    table.drop(columns=["true_label"]).to_csv(before, index=False)
    ws = tmp_path / "ws"
    args = ["--label", "label", "--id", "id", "-w", str(ws), "--checks", "label_issues,outliers"]
    assert main(["audit", str(before), "--out", str(tmp_path / "o1"), *args, "--json"]) == 0
    run_a = json.loads(capsys.readouterr().out)["run_id"]
    # fix every injected error: labels back to the truth
    after = tmp_path / "v2.csv"
    table.assign(label=table["true_label"]).drop(columns=["true_label"]).to_csv(after, index=False)
    assert main(["audit", str(after), "--out", str(tmp_path / "o2"), *args, "--json"]) == 0
    run_b = json.loads(capsys.readouterr().out)["run_id"]
    assert main(["diff", run_a, run_b, "-w", str(ws), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    label = next(c for c in d["checks"] if c["check"] == "label_issues")
    assert not d["same_dataset"]
    assert label["flagged_a"] > 100 and label["flagged_b"] < label["flagged_a"] / 4
    # the labels were fixed by hand, not through review decisions: the flags that went away
    # are "cleared", and nothing counts as fixed (only reviewed rows do)
    injected = set(table["id"][demo.flipped])
    cleared = set(d["cleared_rows"]["label_issues"])
    assert len(cleared & injected) >= 0.75 * len(injected)
    assert label["fixed"] == 0 and d["n_decisions"] == 0
    assert label["cleared"] == len(cleared)
    metric = {m["metric"]: m for m in d["metrics"]}
    assert metric["label"]["delta"] < -0.05
    # both runs are in the workspace with their findings
    w = Workspace.open(ws, create=False)
    assert {r for r in w.runs()["run_id"]} >= {run_a, run_b}


def test_diff_without_workspace_is_a_user_error(tmp_path, capsys):
    assert main(["diff", "a", "b", "-w", str(tmp_path / "none")]) == 2
    assert "No workspace" in capsys.readouterr().err


# ------------------------------------------------------------------ assay diff --html (fast)

EVIL = '<script>window.__xss=1</script>"</td>'


def _audit_run(ws, fingerprint, findings, metrics, checks):
    run = ws.start_run("audit", {"k": 10}, fingerprint=fingerprint)
    ws.record_findings(run, findings)
    ws.finish_run(run, summary={"status": "fail", "metrics": metrics, "checks": checks})
    return run


@pytest.fixture
def two_audits(tmp_path):
    return build_two_audits(tmp_path)


def build_two_audits(tmp_path):
    """Two audits of a 10-row table, worked by hand; returns (workspace, run a, run b, data).

    label_issues, rows r0..r9: run A flags r0-r5, run B (same data) flags r3, r4, r8, r9.
    Decisions on A: r0 relabelled, r1 removed (both gone in B: fixed), r3 kept (still flagged:
    kept and persisting). So of A's six: fixed {r0, r1}; kept {r3}; cleared {r2, r5} (present
    in B, no decision); removed {} ; persisting {r3, r4}; new {r8, r9}.
    outliers: A flags r7, B has no row r7 (dropped without decision): removed {r7}.
    """
    import pandas as pd

    data = tmp_path / "data.csv"
    data.write_text("id,x,y\n" + "".join(f"r{i},{i},a\n" for i in range(10)))
    path = tmp_path / "ws"
    ids = [f"r{i}" for i in range(10)]
    labels = ["cat", EVIL, "dog", "cat", "dog", "cat", "dog", "cat", "dog", "cat"]
    with Workspace.open(path) as ws, ws.hold():
        ws.register_dataset("fp1", n_rows=10, source=str(data), roles={"label": "y"})
        fa = pd.concat([
            pd.DataFrame({"row_id": ids, "check": "label_issues",
                          "score": [0.05, 0.10, 0.20, 0.30, 0.25, 0.15, 0.9, 0.9, 0.9, 0.9],
                          "flag": [True] * 6 + [False] * 4, "given_label": labels}),
            pd.DataFrame({"row_id": ids, "check": "outliers", "score": 0.5,
                          "flag": [i == 7 for i in range(10)]}),
        ])
        a = _audit_run(ws, "fp1", fa, {"label": 0.6, "outlier": 0.1, "errors": 0.0},
                       {"label_issues": "fail", "outliers": "warn"})
        fb = pd.concat([
            pd.DataFrame({"row_id": ids, "check": "label_issues",
                          "score": [0.9, 0.9, 0.8, 0.35, 0.3, 0.7, 0.9, 0.9, 0.12, 0.02],
                          "flag": [False, False, False, True, True, False, False, False, True,
                                   True], "given_label": labels}),
            pd.DataFrame({"row_id": [i for i in ids if i != "r7"], "check": "outliers",
                          "score": 0.5, "flag": False}),
        ])
        b = _audit_run(ws, "fp1", fb, {"label": 0.4, "outlier": 0.0, "errors": 0.0},
                       {"label_issues": "warn", "outliers": "pass"})
        ws.append_decision("r0", "relabel", reviewer="ann", run_id=a, new_label=EVIL)
        ws.append_decision("r1", "remove", reviewer="ann", run_id=a)
        ws.append_decision("r3", "keep", reviewer="ann", run_id=a)
    return path, a, b, data


EXPECTED = {  # from the fixture's docstring
    "label_issues": {"flagged_a": 6, "flagged_b": 4, "fixed": 2, "kept": 1, "cleared": 2,
                     "removed": 0, "new": 2, "persisting": 2},
    "outliers": {"flagged_a": 1, "flagged_b": 0, "fixed": 0, "kept": 0, "cleared": 0,
                 "removed": 1, "new": 0, "persisting": 0},
}


class _Page(HTMLParser):
    """The diff page's counts (td[data-col] by row), category tables and visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: dict[str, dict[str, int]] = {}
        self.metrics: dict[str, list[str]] = {}
        self.rows: dict[tuple[str, str], list[list[str]]] = {}
        self.scripts = 0
        self._check = self._col = self._metric = self._section = self._cat = None
        self._cell: list[str] | None = None
        self._tr: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script":
            self.scripts += 1
        if tag == "section" and "data-check" in a:
            self._section = a["data-check"]
        if tag == "details" and "data-category" in a:
            self._cat = a["data-category"]
        if tag == "tr" and "data-check" in a:
            self._check = a["data-check"]
            self.counts[self._check] = {}
        if tag == "tr" and "data-metric" in a:
            self._metric = a["data-metric"]
            self.metrics[self._metric] = []
        if tag == "tr" and self._cat and self._section:
            self._tr = []
        if tag == "td":
            self._col = a.get("data-col")
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            text = "".join(self._cell).strip()
            if self._check and self._col:
                self.counts[self._check][self._col] = int(text.replace(",", ""))
            if self._metric:
                self.metrics[self._metric].append(text)
            if self._tr is not None:
                self._tr.append(text)
            self._cell = None
        if tag == "tr":
            if self._tr:
                self.rows.setdefault((self._section, self._cat), []).append(self._tr)
            self._check = self._metric = self._tr = None
        if tag == "details":
            self._cat = None
        if tag == "section":
            self._section = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


def test_diff_html_page_holds_the_json_counts_and_the_rows(two_audits, tmp_path, capsys):
    path, a, b, _ = two_audits
    out = tmp_path / "pages"
    out.mkdir()
    assert main(["diff", a, b, "-w", str(path), "--json", "--html", str(out)]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["html"] == str(out / "diff.html")  # a folder: diff.html in it
    got = {c["check"]: {k: v for k, v in c.items() if k != "check"} for c in d["checks"]}
    assert got == EXPECTED  # the JSON, against the hand-worked fixture
    page = _parse((out / "diff.html").read_text())
    assert page.counts == EXPECTED  # and the page shows the same numbers
    assert page.scripts == 0
    assert page.metrics["label"] == ["label", "0.6", "0.4", "-0.2"]
    assert page.metrics["outlier"][1:] == ["0.1", "0", "-0.1"]
    rows = page.rows
    # each category's rows, most severe (lowest score of the run that flags them) first
    assert [r[0] for r in rows[("label_issues", "fixed")]] == ["r0", "r1"]
    assert [r[0] for r in rows[("label_issues", "cleared")]] == ["r5", "r2"]  # 0.15, 0.20
    assert [r[0] for r in rows[("label_issues", "new")]] == ["r9", "r8"]  # B: 0.02, 0.12
    assert [r[0] for r in rows[("label_issues", "kept")]] == ["r3"]
    assert [r[0] for r in rows[("outliers", "removed")]] == ["r7"]
    fixed = rows[("label_issues", "fixed")]
    assert fixed[0][:5] == ["r0", "0.050", "0.900", "not flagged", f"relabel → {EVIL}"]
    assert fixed[1][4] == "remove" and fixed[1][5] == EVIL  # given_label, as text
    assert rows[("outliers", "removed")][0][1:4] == ["0.500", "absent", "absent"]


def test_diff_html_escapes_the_data(two_audits, tmp_path, capsys):
    path, a, b, _ = two_audits
    target = tmp_path / "d.html"
    assert main(["diff", a, b, "-w", str(path), "--html", str(target)]) == 0
    out = capsys.readouterr().out
    assert f"Wrote {target}" in " ".join(out.split())
    text = target.read_text()
    assert "<script>" not in text and "&lt;script&gt;window.__xss=1&lt;/script&gt;" in text
    assert "script-src 'none'" in text and "http://" not in text and "https://" not in text


def test_diff_html_never_overwrites_an_input(two_audits, capsys):
    path, a, b, data = two_audits
    before = data.read_bytes()
    run_json = path / "runs" / a
    run_json.mkdir(parents=True, exist_ok=True)
    (run_json / "audit.json").write_text("{}")
    for target in (data, path / "assay.duckdb", run_json / "audit.json"):
        assert main(["diff", a, b, "-w", str(path), "--html", str(target)]) == 2
        err = " ".join(capsys.readouterr().err.split())
        assert "is the input" in err and "--html" in err, err
    assert data.read_bytes() == before and (run_json / "audit.json").read_text() == "{}"


def test_diff_text_fits_80_columns(two_audits):
    import os
    import subprocess
    import sys

    path, a, b, _ = two_audits
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1", "TERM": "dumb"}
    res = subprocess.run([sys.executable, "-m", "assay.cli.main", "diff", a, b, "-w", str(path)],
                         capture_output=True, text=True, timeout=120, env=env)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    row = next(line for line in lines if line.startswith("label_issues"))
    assert row.split() == ["label_issues", "6", "4", "2", "1", "2", "0", "2", "2"]
