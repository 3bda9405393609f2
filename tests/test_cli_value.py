"""Tests of ``assay value``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from assay.cli.main import main


@pytest.fixture()
def table(tmp_path):
    rng = np.random.default_rng(0)
    n = 80
    x = rng.normal(size=(n, 2))
    y = np.where(x[:, 0] > 0, "pos", "neg")
    y[:6] = np.where(y[:6] == "pos", "neg", "pos")  # six flipped labels
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": y, "y2": (x[:, 1] > 0).astype(int),
                          "src": np.where(np.arange(n) < 40, "s1", "s2")})
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    return path


def test_value_knn_shapley_json_and_files(table, tmp_path, capsys):
    out = tmp_path / "out"
    pd.read_csv(table).drop(columns="y2").to_csv(table, index=False)  # features: a, b only
    rc = main(["value", str(table), "--label", "y", "--group", "src", "--out", str(out), "--json"])
    assert rc == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["method"] == "knn-shapley" and payload["n_rows"] == 80
    values = pd.read_csv(out / "values.csv")
    assert len(values) == 80 and {"data_value", "is_low_value"} <= set(values.columns)
    # the flipped rows are among the lowest-valued
    lowest = set(values.nsmallest(10, "data_value")["row"])
    assert len(lowest & set(range(6))) >= 4
    groups = pd.read_csv(out / "group_values.csv")
    assert groups["value"].sum() == pytest.approx(values["data_value"].sum())
    # the values equal the library's leave-self-out KNN-Shapley on standardised features
    from assay.valuation import knn_shapley

    frame = pd.read_csv(table)
    x = frame[["a", "b"]].to_numpy()
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    np.testing.assert_allclose(values["data_value"], knn_shapley(x, frame["y"].to_numpy(), k=5),
                               atol=1e-6)


def test_value_tasks_and_text_summary(table, tmp_path, capsys):
    rc = main(["value", str(table), "--label", "y", "--task", "y2", "--method", "data-oob",
               "--n-estimators", "30", "--out", str(tmp_path / "o")])
    assert rc == 0
    text = capsys.readouterr().out
    assert "data-oob" in text and "Lowest-valued rows" in text
    values = pd.read_csv(tmp_path / "o" / "values.csv")
    assert {"data_value_y", "data_value_y2", "task_conflict"} <= set(values.columns)


@pytest.mark.slow
def test_value_monte_carlo_method(table, tmp_path, capsys):
    rc = main(["value", str(table), "--label", "y", "--method", "banzhaf", "--max-samples", "20",
               "--out", str(tmp_path / "o"), "--json"])
    assert rc == 0
    values = pd.read_csv(tmp_path / "o" / "values.csv")
    assert "data_value_stderr_y" in values.columns and values["data_value"].notna().all()


def test_value_user_errors(table, capsys):
    assert main(["value", str(table), "--label", "y", "--method", "knn-shaply"]) == 2
    assert "'--method' parameter of assay value must be one of" in capsys.readouterr().err
    assert main(["value", str(table), "--label", "y", "--k", "500"]) == 2
    assert "'k' parameter of knn_shapley" in capsys.readouterr().err
    assert main(["value", str(table), "--label", "nope"]) == 2
    assert "nope" in capsys.readouterr().err


def test_value_one_class(tmp_path, capsys):
    path = tmp_path / "one.csv"
    pd.DataFrame({"a": [1.0, 2.0, 3.0], "y": ["x", "x", "x"]}).to_csv(path, index=False)
    assert main(["value", str(path), "--label", "y"]) == 2
    assert "one class only" in capsys.readouterr().err
