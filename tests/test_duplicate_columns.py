"""Tables with two columns of the same name are refused at the public boundary (issue 14).

Before, ``assay.audit`` silently used the first of the two columns and a CSV read through pandas
had its second ``x1`` renamed ``x1.1`` (which export then wrote back).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import assay
from assay.data import read_table
from assay.exceptions import AssayError, InputValidationError


def _frame(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    y = np.repeat(["a", "b"], n // 2)
    return pd.DataFrame({"x1": rng.normal(size=n) + (y == "b") * 3, "x2": rng.normal(size=n),
                         "y": y})


def _dup_frame() -> pd.DataFrame:
    f = _frame()
    out = pd.concat([f[["x1", "x2"]], f[["x1"]] * -1.0, f[["y"]]], axis=1)
    assert list(out.columns) == ["x1", "x2", "x1", "y"]
    return out


def test_audit_refuses_a_dataframe_with_duplicate_column_names():
    with pytest.raises(InputValidationError) as info:
        assay.audit(_dup_frame(), label="y", checks=["class_profile"])
    msg = str(info.value)
    assert isinstance(info.value, AssayError)
    assert "duplicate column names" in msg and "'x1' at columns 1 and 3" in msg
    assert "Rename" in msg


def test_load_refuses_names_that_collide_once_made_strings():
    f = _frame()
    f.columns = [1, "1", "y"]  # assay uses column names as strings
    with pytest.raises(InputValidationError, match=r"'1' at columns 1 and 2"):
        assay.load(f, label="y")


def test_duplicate_label_column_is_refused_not_half_used():
    f = _frame()
    f = pd.concat([f, f[["y"]]], axis=1)
    with pytest.raises(InputValidationError, match=r"'y' at columns 3 and 4"):
        assay.load(f, label="y")


@pytest.mark.parametrize(("suffix", "sep"), [(".csv", ","), (".tsv", "\t")])
def test_read_table_refuses_duplicate_header_names(tmp_path, suffix, sep):
    path = tmp_path / f"d{suffix}"
    rows = ["x1,x2,x1,y", "1,2,3,a", "4,5,6,b"]
    path.write_text("\n".join(r.replace(",", sep) for r in rows) + "\n", encoding="utf-8")
    # the reference: pandas on its own renames the second x1 and says nothing
    assert list(pd.read_csv(path, sep=sep).columns) == ["x1", "x2", "x1.1", "y"]
    with pytest.raises(InputValidationError, match=r"'x1' at columns 1 and 3"):
        read_table(path)
    with pytest.raises(InputValidationError, match="duplicate column names"):
        assay.load(path, label="y")


def test_distinct_names_that_look_mangled_are_accepted(tmp_path):
    path = tmp_path / "ok.csv"
    path.write_text("\ufeffx1,x1.1,y\n1,2,a\n3,4,b\n", encoding="utf-8")  # with a BOM
    assert list(read_table(path).columns) == ["x1", "x1.1", "y"]


def test_cli_audit_refuses_a_csv_with_duplicate_column_names(tmp_path):
    path = tmp_path / "dup.csv"
    _dup_frame().to_csv(path, index=False)
    assert path.read_text().splitlines()[0] == "x1,x2,x1,y"
    run = subprocess.run([sys.executable, "-m", "assay.cli.main", "audit", str(path),
                          "--label", "y", "--out", str(tmp_path / "o"), "--no-workspace"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 2, run.stderr
    err = run.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert "duplicate column names" in err and "'x1' at columns 1 and 3" in err
    assert not (tmp_path / "o" / "audit.json").exists()
