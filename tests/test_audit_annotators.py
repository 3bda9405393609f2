"""The audit with annotations: consensus per row, and conflicts counted as label issues."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import assay
from assay.cli.main import main
from assay.exceptions import InputValidationError


def make_case():
    r = np.random.default_rng(0)
    n = 120
    y = np.repeat(["a", "b", "c"], 40)
    x = r.normal(size=(n, 3)) + np.repeat([0, 5, 10], 40)[:, None]
    table = pd.DataFrame(x, columns=["p", "q", "r"]).assign(label=y, id=[f"r{i}" for i in range(n)])
    # three annotators; all agree with the truth except on rows 0-9 where they split 2-1
    rows = []
    for i in range(n):
        for who in ["ann1", "ann2", "ann3"]:
            lab = y[i]
            if i < 10 and who == "ann3":
                lab = "b" if y[i] != "b" else "c"
            rows.append((f"r{i}", who, lab))
    ann = pd.DataFrame(rows, columns=["item", "annotator", "label"])
    # row 100 carries label "a" but all three annotators say "c" (it is a "c" row)
    table.loc[100, "label"] = "a"
    return table, ann


def test_consensus_conflict_is_a_label_issue():
    table, ann = make_case()
    res = assay.audit(table, label="label", id="id", annotations=ann,
                      checks=["label_issues", "annotators"])
    iss = res.issues.set_index("id")
    assert iss.loc["r100", "consensus_label"] == "c" and iss.loc["r100", "is_consensus_conflict"]
    assert iss.loc["r100", "is_label_issue"]
    assert iss.loc["r0", "annotators_disagree"] and not iss.loc["r50", "annotators_disagree"]
    s = res.checks["annotators"].summary
    assert s["n_rows_annotated"] == 120 and s["n_conflicts"] == 1
    assert s["disagreement_rate"] == pytest.approx(10 / 120)


def test_annotations_need_columns():
    table, ann = make_case()
    with pytest.raises(InputValidationError, match="need the columns item, annotator and label"):
        assay.audit(table, label="label", annotations=ann.rename(columns={"item": "x"}))


def test_cli_annotations(tmp_path, capsys):
    table, ann = make_case()
    table.to_csv(tmp_path / "d.csv", index=False)
    ann.rename(columns={"annotator": "who"}).to_csv(tmp_path / "a.csv", index=False)
    rc = main(["audit", str(tmp_path / "d.csv"), "--label", "label", "--id", "id",
               "--annotations", str(tmp_path / "a.csv"), "--annotation-columns", "item,who,label",
               "--checks", "annotators", "--no-workspace", "--out", str(tmp_path / "o")])
    assert rc == 0
    assert pd.read_parquet(tmp_path / "o" / "issues.parquet")["is_consensus_conflict"].sum() == 1
    rc = main(["audit", str(tmp_path / "d.csv"), "--label", "label",
               "--annotations", str(tmp_path / "a.csv"), "--no-workspace", "--out", str(tmp_path / "o")])
    assert rc == 2 and "Column 'annotator' not found" in capsys.readouterr().err
