"""End to end: audit, fix the injected errors, re-audit, and diff shows them fixed."""

from __future__ import annotations

import json

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
