"""Tests of ``assay split``."""

from __future__ import annotations

import json

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
