"""`assay train`: end to end on small tables, the run record, and user errors (exit 2)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")

from assay.cli.main import main  # noqa: E402
from assay.compare import RUN_SCHEMA, compare_runs, load_run_records  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def frames():
    r = np.random.default_rng(0)
    means = r.normal(scale=2.0, size=(3, 5))
    counts = {"train": [120, 30, 8], "valid": [10, 10, 10], "test": [20, 20, 20]}
    rows = []
    for part, cs in counts.items():
        for j, n in enumerate(cs):
            for v in means[j] + r.normal(size=(n, 5)):
                rows.append({"vec": v.tolist(), "y": f"c{j}", "part": part})
    table = pd.DataFrame(rows)
    numeric = pd.DataFrame(np.stack(table["vec"]), columns=[f"f{i}" for i in range(5)])
    numeric["y"], numeric["part"] = table["y"], table["part"]
    return table, numeric


def _run(args, capsys):
    rc = main(args)
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def test_train_vector_column_with_split_writes_record(frames, tmp_path, capsys):
    table, _ = frames
    path = tmp_path / "emb.parquet"
    table.to_parquet(path)
    out = tmp_path / "runs"
    rc, stdout, err = _run(["train", str(path), "--label", "y", "--split", "part",
                            "--recipe", "logit-adjusted", "--posthoc-tau", "auto",
                            "--backbone", "toy-net", "--extra-data", "web", "--epochs", "5",
                            "--out", str(out), "--json"], capsys)
    assert rc == 0, err
    record = json.loads(stdout)
    assert record["schema"] == RUN_SCHEMA and record["recipe"] == "logit-adjusted"
    prov = record["provenance"]
    assert prov["backbone"] == "toy-net" and prov["extra_data"] == ["web"]
    assert prov["selection"] == {"tau": "validation", "checkpoint": "validation"}
    assert prov["params_trained"] == 5 * 3 + 3
    assert prov["split"] == {"source": "column:part", "train": 158, "valid": 30, "test": 60}
    assert record["train_counts"] == [120, 30, 8] and record["classes"] == ["c0", "c1", "c2"]
    m = record["metrics"]
    assert set(m) >= {"many", "medium", "few", "overall", "balanced", "prior_shift"}
    assert m["many"] is not None and m["medium"] is not None and m["few"] is not None
    assert "forward-50" in m["prior_shift"] and "backward-50" in m["prior_shift"]
    saved = load_run_records(out)
    assert [r["run_id"] for r in saved] == [record["run_id"]]


def test_train_numeric_csv_random_split_table_output_and_compare(frames, tmp_path, capsys):
    _, numeric = frames
    path = tmp_path / "num.csv"
    numeric.drop(columns="part").to_csv(path, index=False)
    out = tmp_path / "runs"
    for recipe in ("ce", "balanced-softmax"):
        rc, stdout, err = _run(["train", str(path), "--label", "y", "--recipe", recipe,
                                "--epochs", "3", "--posthoc-tau", "1", "--out", str(out)],
                               capsys)
        assert rc == 0, err
        assert "balanced" in stdout and "backward-50" in stdout
    records = load_run_records(out)
    assert len(records) == 2
    assert all(r["provenance"]["selection"]["tau"] == "fixed" for r in records)
    assert "random per class" in records[0]["provenance"]["split"]["source"]
    frame = compare_runs(records)
    assert frame["like_for_like"].all()  # same data, same split seed, same backbone
    # the leaderboard command shows both runs
    rc, stdout, err = _run(["runs", "--compare", "--records", str(out), "--json"], capsys)
    assert rc == 0, err
    board = json.loads(stdout)
    assert sorted(r["recipe"] for r in board) == ["balanced-softmax", "ce"]
    assert all(r["like_for_like"] for r in board)


def test_train_npy_with_labels_file(frames, tmp_path, capsys):
    table, _ = frames
    np.save(tmp_path / "emb.npy", np.stack(table["vec"]).astype(np.float32))
    table[["y", "part"]].to_csv(tmp_path / "labels.csv", index=False)
    rc, stdout, err = _run(["train", str(tmp_path / "emb.npy"), "--labels",
                            str(tmp_path / "labels.csv"), "--label", "y", "--split", "part",
                            "--recipe", "crt", "--epochs", "2", "--out", str(tmp_path / "r"),
                            "--json"], capsys)
    assert rc == 0, err
    assert json.loads(stdout)["params"]["sampler"] == "class-balanced"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--recipe", "balanced_softmax"], "Did you mean 'balanced-softmax'"),
        (["--posthoc-tau", "-1"], "--posthoc-tau"),
        (["--split", "y"], "not train / valid / test"),
    ],
)
def test_user_errors_exit_2(frames, tmp_path, capsys, extra, message):
    table, _ = frames
    path = tmp_path / "emb.parquet"
    table.to_parquet(path)
    rc, _, err = _run(["train", str(path), "--label", "y", "--epochs", "1",
                       "--out", str(tmp_path / "r"), *extra], capsys)
    assert rc == 2 and message in err


def test_npy_without_labels_and_auto_tau_without_validation(frames, tmp_path, capsys):
    table, _ = frames
    np.save(tmp_path / "emb.npy", np.stack(table["vec"]))
    rc, _, err = _run(["train", str(tmp_path / "emb.npy"), "--label", "y"], capsys)
    assert rc == 2 and "--labels FILE" in err
    no_valid = table[table["part"] != "valid"]
    no_valid.to_parquet(tmp_path / "nv.parquet")
    rc, _, err = _run(["train", str(tmp_path / "nv.parquet"), "--label", "y", "--split", "part",
                       "--posthoc-tau", "auto", "--out", str(tmp_path / "r")], capsys)
    assert rc == 2 and "validation rows" in err


def test_class_missing_from_training_is_explicit(frames, tmp_path, capsys):
    table, _ = frames
    t = table[~((table["y"] == "c2") & (table["part"] == "train"))]
    t.to_parquet(tmp_path / "t.parquet")
    args = ["train", str(tmp_path / "t.parquet"), "--label", "y", "--split", "part",
            "--recipe", "balanced-softmax", "--epochs", "1", "--out", str(tmp_path / "r")]
    rc, _, err = _run(args, capsys)
    assert rc == 2 and "zero training samples" in err
    rc, _, err = _run([*args, "--prior-smoothing", "1"], capsys)
    assert rc == 0, err
