"""assay.distributed: ``backend="ray"`` and ``--ray`` give the local results, on a local Ray that
the tests start (extra ``dist``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import assay
from assay.cli.main import _bare_ray
from assay.exceptions import InvalidParameterError, MissingDependencyError


def test_backend_is_checked_before_any_work():
    frame = pd.DataFrame({"x": np.arange(20.0), "y": ["a", "b"] * 10})
    with pytest.raises(InvalidParameterError, match="'backend'.*'local', 'ray'. Got 'spark'"):
        assay.audit(frame, label="y", backend="spark")
    with pytest.raises(InvalidParameterError, match="ray_address.*backend='ray'"):
        assay.audit(frame, label="y", ray_address="auto")


def test_missing_ray_names_the_extra(monkeypatch):
    from assay.distributed import ray_backend

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'assay\[dist\]'"):
        with ray_backend():
            pass


def test_bare_ray_flag_means_local():
    assert _bare_ray(["audit", "d.csv", "--ray"]) == ["audit", "d.csv", "--ray", "local"]
    assert _bare_ray(["audit", "--ray", "--label", "y"]) == ["audit", "--ray", "local",
                                                             "--label", "y"]
    assert _bare_ray(["audit", "--ray", "auto"]) == ["audit", "--ray", "auto"]


def test_an_unreachable_cluster_is_one_line_exit_2(tmp_path):
    pytest.importorskip("ray")
    pd.DataFrame({"x": np.arange(40.0), "y": ["a", "b"] * 20}).to_csv(tmp_path / "d.csv",
                                                                      index=False)
    proc = subprocess.run(
        [sys.executable, "-m", "assay.cli.main", "audit", "d.csv", "--label", "y",
         "--no-workspace", "--out", "o", "--ray", "ray://127.0.0.1:1"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "Could not start or join Ray" in proc.stderr


def _cli(*args: str, cwd) -> dict:
    """``assay ARGS --json`` in a subprocess: its stdout must be the JSON alone."""
    proc = subprocess.run([sys.executable, "-m", "assay.cli.main", *args, "--json"], cwd=cwd,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


@pytest.mark.slow  # three local Ray starts: about a minute on 2 cores
def test_cli_ray_runs_equal_local_runs(tmp_path):
    """``--ray`` (a local Ray started by the command) on audit, value and curve: the same rows,
    values and curve as the same command without it, and a clean --json stdout although Ray
    prints its notices from a thread."""
    pytest.importorskip("ray")
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame
    frame["kind"] = np.where(frame["alcohol"] > 13, "strong", "light")  # a categorical column
    frame.loc[::17, "target"] = (frame.loc[::17, "target"] + 1) % 3
    frame.to_csv(tmp_path / "wine.csv", index=False)

    common = ["audit", "wine.csv", "--label", "target", "--no-workspace",
              "--checks", "label_issues,duplicates,outliers"]
    on_ray = _cli(*common, "--out", "ray", "--ray", cwd=tmp_path)
    assert on_ray["summary"]["backend"]["name"] == "ray"
    assert on_ray["summary"]["backend"]["started"] and on_ray["summary"]["backend"]["cpus"] >= 1
    local = _cli(*common, "--out", "local", cwd=tmp_path)
    assert local["summary"]["backend"] == {"name": "local"}
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "ray" / "issues.parquet"),
                                  pd.read_parquet(tmp_path / "local" / "issues.parquet"))
    assert on_ray["summary"]["model"]["name"] == local["summary"]["model"]["name"]

    common = ["value", "wine.csv", "--label", "target", "--no-workspace", "--method",
              "banzhaf", "--max-samples", "16"]
    assert _cli(*common, "--out", "vray", "--ray", "--n-jobs", "2",
                cwd=tmp_path)["backend"]["name"] == "ray"
    _cli(*common, "--out", "vlocal", cwd=tmp_path)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "vray" / "values.csv"),
                                  pd.read_csv(tmp_path / "vlocal" / "values.csv"))

    common = ["curve", "wine.csv", "--label", "target", "--no-workspace", "--sizes",
              "30,60,90,120", "--seeds", "2", "--bootstrap", "20"]
    _cli(*common, "--out", "cray", "--ray", cwd=tmp_path)
    _cli(*common, "--out", "clocal", cwd=tmp_path)
    timing = ["fit_seconds"]  # the one column that is not a result
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "cray" / "curve.csv").drop(columns=timing),
                                  pd.read_csv(tmp_path / "clocal" / "curve.csv").drop(columns=timing))
    fits = [json.loads((tmp_path / f / "fits.json").read_text()) for f in ("cray", "clocal")]
    assert fits[0] == fits[1]
