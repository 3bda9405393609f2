"""The CLI: outputs, exit codes, one-line user errors, JSON."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from assay.cli.audit import evaluate_fail_on, parse_fail_on, unevaluated_fail_on
from assay.cli.main import main
from assay.exceptions import InvalidParameterError


@pytest.fixture
def csv_path(tmp_path):
    r = np.random.default_rng(0)
    y = np.repeat(["a", "b", "c"], 40)
    x = r.normal(size=(120, 4)) + np.repeat([0, 4, 8], 40)[:, None]
    frame = pd.DataFrame(x, columns=list("pqrs")).assign(label=y, uid=range(120))
    frame.loc[0, "label"] = "c"
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    return path


def test_audit_writes_outputs(csv_path, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["audit", str(csv_path), "--label", "label", "--id", "uid", "--out", str(out)])
    assert rc == 0
    issues = pd.read_parquet(out / "issues.parquet")
    assert len(issues) == 120 and bool(issues.loc[0, "is_label_issue"])
    assert (out / "issues.csv").exists()
    html = (out / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "label_issues" in html
    doc = json.loads((out / "audit.json").read_text())
    assert doc["schema_version"] == 1 and doc["summary"]["issues_file"] == "issues.parquet"
    assert "label_issues" in capsys.readouterr().out


def test_fail_on_exit_code(csv_path, tmp_path, capsys):
    rc = main(["audit", str(csv_path), "--label", "label", "--out", str(tmp_path / "o"),
               "--fail-on", "label>0.001"])
    assert rc == 1
    assert "--fail-on exceeded: label" in capsys.readouterr().err
    rc = main(["audit", str(csv_path), "--label", "label", "--out", str(tmp_path / "o"),
               "--fail-on", "label>0.5"])
    assert rc == 0


def test_json_output(csv_path, tmp_path, capsys):
    rc = main(["audit", str(csv_path), "--label", "label", "--out", str(tmp_path / "o"), "--json"])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["metrics"]["label"] > 0 and "outputs" in doc


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--label", "lable"], "Did you mean 'label'?"),
        (["--label", "label", "--fail-on", "label=>3"], "--fail-on"),
        (["--label", "label", "--fail-on", "lable>3"], "Did you mean 'label'?"),
        (["--label", "label", "--embeddings", "missing.npy"], "Embeddings file not found"),
        (["--label", "label", "--text-model", "bert"], "'text_model' parameter"),
    ],
)
def test_user_errors_are_one_line_exit_2(csv_path, tmp_path, capsys, args, message):
    rc = main(["audit", str(csv_path), "--out", str(tmp_path / "o"), *args])
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err
    assert err.strip().count("\n") == 0 and "Traceback" not in err


def test_missing_file_and_debug(tmp_path, capsys):
    assert main(["audit", str(tmp_path / "nope.csv"), "--label", "y"]) == 2
    assert "File not found" in capsys.readouterr().err
    with pytest.raises(Exception, match="File not found"):
        main(["--debug", "audit", str(tmp_path / "nope.csv"), "--label", "y"])


def test_non_utf8_file(tmp_path, capsys):
    p = tmp_path / "latin.csv"
    p.write_bytes("x,label\ncaf\xe9,a\n1,b\n".encode("latin-1"))
    assert main(["audit", str(p), "--label", "label"]) == 2
    assert "not valid UTF-8" in capsys.readouterr().err


def test_parse_fail_on():
    assert parse_fail_on("label>0.05, duplicate>=0") == [("label", ">", 0.05), ("duplicate", ">=", 0.0)]
    assert evaluate_fail_on([("label", ">", 0.05)], {"label": 0.1}) == ["label = 0.1 > 0.05"]
    with pytest.raises(InvalidParameterError):
        parse_fail_on("label")


def test_fail_on_a_metric_the_run_did_not_measure_is_said(tmp_path, capsys):
    """Labels the features cannot predict: the estimate is not reliable, so its precision
    interval is NaN. A rule on it neither passes nor fails in silence: one line says so."""
    rules = [("a", "<", 0.5), ("b", "<", 0.5)]
    assert evaluate_fail_on(rules, {"a": float("nan"), "b": 0.1}) == ["b = 0.1 < 0.5"]
    assert unevaluated_fail_on(rules, {"a": float("nan"), "b": 0.1}) == [
        "a < 0.5: a is not measured in this run (NaN)"]
    rng = np.random.default_rng(0)
    path = tmp_path / "noise.csv"
    pd.DataFrame({"x": rng.normal(size=300), "z": rng.normal(size=300),
                  "y": rng.choice(["a", "b"], 300)}).to_csv(path, index=False)
    args = ["audit", str(path), "--label", "y", "--no-workspace", "--checks", "label_issues",
            "--fail-on", "label_issues.estimated_precision_low<0.5"]
    assert main([*args, "--out", str(tmp_path / "o1")]) == 0
    err = capsys.readouterr().err
    assert "--fail-on not evaluated: label_issues.estimated_precision_low < 0.5" in err
    assert main([*args, "--out", str(tmp_path / "o2"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["fail_on"] == [] and len(doc["fail_on_not_evaluated"]) == 1


def test_demo_json(tmp_path, capsys):
    rc = main(["demo", "--out", str(tmp_path / "demo"), "--json"])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["scores"]["f1"] > 0.75 and doc["scores"]["near_duplicate_recall"] == 1.0
    s = doc["scores"]  # reliable at 10 %: the interval holds the measured precision
    assert s["estimated_precision_low"] <= s["precision"] <= s["estimated_precision_high"]


def test_demo_json_with_unreliable_estimates(tmp_path, capsys):
    """At 30 % noise the estimate is not called reliable: no interval, null in the JSON (a NaN
    there made json.dumps fail)."""
    rc = main(["demo", "--out", str(tmp_path / "demo"), "--json", "--noise", "0.3"])
    assert rc == 0
    s = json.loads(capsys.readouterr().out)["scores"]
    assert s["estimated_precision_low"] is None and s["estimated_precision_high"] is None
    assert 0 < s["estimated_precision"] <= 1


def test_model_option_as_a_subprocess(csv_path, tmp_path):
    """``--model`` chooses the classifier; a typo is one line and exit 2 (run as a user runs it)."""
    import subprocess
    import sys

    out = tmp_path / "o"
    ok = subprocess.run([sys.executable, "-m", "assay.cli.main", "audit", str(csv_path),
                         "--label", "label", "--model", "hgb", "--out", str(out),
                         "--no-workspace", "--checks", "label_issues"],
                        capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    doc = json.loads((out / "audit.json").read_text())
    assert doc["summary"]["model"]["name"] == "hgb"
    bad = subprocess.run([sys.executable, "-m", "assay.cli.main", "audit", str(csv_path),
                          "--label", "label", "--model", "hgbb", "--out", str(out),
                          "--no-workspace"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert "hgb" in bad.stderr


def test_permuted_pred_probs_are_one_line_exit_2(csv_path, tmp_path, capsys):
    frame = pd.read_csv(csv_path)
    codes = pd.factorize(frame["label"], sort=True)[0]
    probs = np.full((len(frame), 3), 0.05)
    probs[np.arange(len(frame)), codes] = 0.9
    path = tmp_path / "p.npy"
    np.save(path, probs[:, [2, 0, 1]])
    rc = main(["audit", str(csv_path), "--label", "label", "--pred-probs", str(path),
               "--out", str(tmp_path / "o"), "--no-workspace"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "look out of order" in err and "sorted order of the class names" in err
