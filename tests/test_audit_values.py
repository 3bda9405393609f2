"""Data values joined into the audit (issue 6: values join the per-row table and the report)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import assay
from assay.cli.main import main
from assay.exceptions import InputValidationError
from assay.valuation import knn_shapley


@pytest.fixture(scope="module")
def noisy():
    from sklearn.datasets import load_wine

    x, y = load_wine(return_X_y=True)
    rng = np.random.default_rng(0)
    flipped = rng.choice(len(y), 18, replace=False)
    noisy = y.copy()
    noisy[flipped] = (y[flipped] + 1) % 3
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(x.shape[1])])
    frame["label"] = noisy
    frame["uid"] = [f"w{i}" for i in range(len(y))]
    return frame, flipped


def test_values_join_the_rows_and_meet_the_label_issues(noisy):
    frame, flipped = noisy
    feats = frame.filter(like="f").to_numpy()
    feats = (feats - feats.mean(0)) / feats.std(0)
    values = knn_shapley(feats, frame["label"].to_numpy(), feats, frame["label"].to_numpy(), k=5)
    res = assay.audit(frame, label="label", id="uid", values=values)
    check = res.checks["data_values"]
    np.testing.assert_array_equal(res.issues["data_value"].to_numpy(), values)
    np.testing.assert_array_equal(res.issues["is_low_value"].to_numpy(), values < 0)
    s = check.summary
    assert s["n_negative"] == int((values < 0).sum()) > 0
    both = (values < 0) & res.issues["is_label_issue"].to_numpy()
    assert s["n_low_and_label_issue"] == int(both.sum())
    lowest = check.evidence["lowest"]
    assert [r["id"] for r in lowest[:3]] == [f"w{i}" for i in np.argsort(values, kind="stable")[:3]]
    # the harmful rows are mostly the flipped ones
    worst = set(np.argsort(values)[:18])
    assert len(worst & set(flipped)) >= 9


def test_values_by_id_in_any_order(noisy):
    frame, _ = noisy
    rng = np.random.default_rng(1)
    v = rng.normal(size=len(frame))
    table = pd.DataFrame({"row": frame["uid"], "data_value": v, "is_low_value": v < -1})
    shuffled = table.sample(frac=1.0, random_state=3)
    res = assay.audit(frame, label="label", id="uid", values=shuffled,
                      checks=["label_issues", "data_values"])
    np.testing.assert_array_equal(res.issues["data_value"].to_numpy(), v)
    np.testing.assert_array_equal(res.issues["is_low_value"].to_numpy(), v < -1)


@pytest.mark.parametrize(("values", "message"), [
    (pd.DataFrame({"value": [1.0]}), "need a 'data_value' column"),
    (np.zeros(5), "values have 5 rows but the data has 178"),
    (pd.DataFrame({"row": ["nope"] * 178, "data_value": 0.0}), "ids not in the data"),
    (pd.DataFrame({"data_value": ["x"] * 178}), "missing or non-numeric"),
])
def test_bad_values_are_refused(noisy, values, message):
    frame, _ = noisy
    with pytest.raises(InputValidationError, match=message):
        assay.audit(frame, label="label", id="uid", values=values)


def test_cli_value_then_audit_shows_harmful_rows_in_the_report(noisy, tmp_path, capsys):
    frame, _ = noisy
    data = tmp_path / "wine.csv"
    frame.to_csv(data, index=False)
    assert main(["value", str(data), "--label", "label", "--id", "uid", "--out",
                 str(tmp_path / "v"), "--json"]) == 0
    lowest = json.loads(capsys.readouterr().out)["lowest"][0]["row"]
    out = tmp_path / "audit"
    assert main(["audit", str(data), "--label", "label", "--id", "uid", "--values",
                 str(tmp_path / "v" / "values.csv"), "--out", str(out), "--no-workspace",
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert "data_values.n_low_value" in doc["metrics"]
    issues = pd.read_parquet(out / "issues.parquet")
    assert issues.loc[issues["data_value"].idxmin(), "id"] == lowest
    html = (out / "report.html").read_text()
    assert "data_values" in html and lowest in html
