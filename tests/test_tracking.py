"""MLflow logging: what ``assay audit --mlflow`` writes is read back with MLflow's own client."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pandas as pd
import pytest

from assay.cli.main import main
from assay.exceptions import InputValidationError, MissingDependencyError
from assay.tracking import flatten_metrics, log_mlflow


def test_flatten_keeps_finite_numbers_only():
    flat = flatten_metrics({"a": 1, "b": {"c": 0.5, "d": "text", "e": math.nan},
                            "f": True, "g": math.inf, "h w": 2.0, "i<j>": 3})
    assert flat == {"a": 1.0, "b.c": 0.5, "f": 1.0, "h w": 2.0, "i_j_": 3.0}


def test_missing_artifact_is_refused(tmp_path):
    with pytest.raises(InputValidationError, match="artifact file.*not found.*nope.html"):
        log_mlflow(run_name="r", params={}, metrics={}, artifacts=[tmp_path / "nope.html"])


def test_missing_mlflow_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'assay\[mlflow\]'"):
        log_mlflow(run_name="r", params={}, metrics={})


def test_audit_logs_params_metrics_and_files(tmp_path, monkeypatch, capsys):
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    rng = np.random.default_rng(0)
    y = np.repeat(["a", "b", "c"], 40)
    frame = pd.DataFrame(rng.normal(size=(120, 3)) + np.repeat([0, 4, 8], 40)[:, None],
                         columns=list("pqr")).assign(label=y)
    frame.loc[0, "label"] = "c"
    data = tmp_path / "data.csv"
    frame.to_csv(data, index=False)
    out = tmp_path / "out"
    rc = main(["audit", str(data), "--label", "label", "--out", str(out), "--json", "--mlflow",
               "--mlflow-experiment", "audits"])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    client = mlflow.MlflowClient(uri)
    run = client.get_run(doc["mlflow_run_id"])
    assert run.info.run_name == doc["run_id"]
    assert run.data.tags["assay.run_id"] == doc["run_id"]
    assert client.get_experiment(run.info.experiment_id).name == "audits"
    assert run.data.params["label"] == "label" and run.data.params["k"] == "10"
    expected = flatten_metrics(doc["metrics"])
    assert set(run.data.metrics) == set(expected)
    for name, value in expected.items():
        assert run.data.metrics[name] == pytest.approx(value)
    assert run.data.metrics["label"] > 0
    files = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert files == {"report.html", "audit.json"}
