"""``assay agree`` end to end: summary, JSON, Parquet outputs, user errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from assay.agreement import krippendorff_alpha, to_reliability_data
from assay.cli.main import main


@pytest.fixture()
def labels_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    rows = []
    for rd, noise in (("v1", 0.4), ("v2", 0.05)):
        truth = rng.integers(0, 3, 40)
        for who in "abc":
            lab = np.where(rng.random(40) < noise, (truth + 1) % 3, truth)
            rows.append(pd.DataFrame({
                "item": [f"{rd}-{j}" for j in range(40)], "who": who,
                "y": np.array(["cat", "dog", "fox"])[lab], "v": rd,
            }))
    path = tmp_path / "labels.csv"
    pd.concat(rows).to_csv(path, index=False)
    return path


def test_agree_prints_summary_and_writes_outputs(labels_csv: Path, capsys) -> None:  # noqa: ANN001
    out = labels_csv.parent / "out"
    rc = main(["agree", str(labels_csv), "--item", "item", "--annotator", "who", "--label", "y",
               "--round", "v", "--n-boot", "50", "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "krippendorff_alpha" in text and "revision list" in text and "Ceiling" in text
    assert "v1 -> v2" in text
    payload = json.loads((out / "agreement.json").read_text())
    table = pd.read_csv(labels_csv)
    expected = krippendorff_alpha(to_reliability_data(table, item="item", annotator="who", label="y"))
    alpha = {r["coefficient"]: r["value"] for r in payload["coefficients"]}["krippendorff_alpha"]
    assert alpha == pytest.approx(expected)
    cons = pd.read_parquet(out / "consensus.parquet")
    assert len(cons) == 80 and {"consensus_label", "annotators_disagree"} <= set(cons.columns)
    for name in ("coefficients", "per_class", "revision_list", "items_to_discuss", "pairwise",
                 "annotators", "rounds", "round_pairs"):
        assert (out / f"{name}.parquet").exists(), name


def test_agree_json_and_default_out(labels_csv: Path, capsys) -> None:  # noqa: ANN001
    rc = main(["agree", str(labels_csv), "--item", "item", "--annotator", "who", "--label", "y",
               "--n-boot", "0", "--consensus", "majority", "--json"])
    assert rc == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["n_items"] == 80 and payload["n_annotators"] == 3
    # the run is recorded, its files in the run's folder: <workspace>/runs/<run id>/
    from assay.workspace import Workspace

    with Workspace.open(labels_csv.parent / ".assay", read_only=True) as ws:
        run_id = ws.runs(command="agree")["run_id"].iloc[0]
        default = ws.results_dir(run_id) / "agreement.json"
    assert payload["outputs"]["json"] == str(default) and default.exists()
    assert "dawid_skene_accuracy" not in payload["annotators"][0]


def test_agree_ordinal_numeric_labels_with_categories(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    path = tmp_path / "scores.csv"
    pd.DataFrame({"i": [1, 1, 2, 2, 3, 3], "w": list("ababab"), "s": [1, 2, 3, 3, 5, 4]}).to_csv(
        path, index=False
    )
    rc = main(["agree", str(path), "--item", "i", "--annotator", "w", "--label", "s",
               "--level", "ordinal", "--categories", "1,2,3,4,5", "--n-boot", "0", "--json"])
    assert rc == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["classes"] == [1, 2, 3, 4, 5]
    names = {r["coefficient"] for r in payload["coefficients"]}
    assert {"cohen_kappa_quadratic", "gwet_ac2_linear"} <= names


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--label", "lable"], "Column 'lable'"),
        (["--label", "y", "--level", "ordinl"], "'level' parameter"),
        (["--label", "y", "--level", "interval"], "needs numeric labels"),
    ],
)
def test_agree_user_errors_exit_2(labels_csv: Path, capsys, extra: list[str], message: str) -> None:  # noqa: ANN001
    rc = main(["agree", str(labels_csv), "--item", "item", "--annotator", "who", *extra])
    assert rc == 2
    assert message in capsys.readouterr().err


def test_agree_missing_file_exit_2(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    rc = main(["agree", str(tmp_path / "nope.csv"), "--item", "i", "--annotator", "w",
               "--label", "y"])
    assert rc == 2
    assert "not found" in capsys.readouterr().err


def test_agree_prints_counts_as_integers(labels_csv: Path, capsys) -> None:  # noqa: ANN001
    import re

    out = labels_csv.parent / "ints"
    rc = main(["agree", str(labels_csv), "--item", "item", "--annotator", "who", "--label", "y",
               "--round", "v", "--n-boot", "0", "--no-workspace", "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    # no count printed with a fraction: "pairable 88.0", "n ratings 80.000", "disagreements 13.0"
    assert not re.search(r"(?<![\d.])\d+\.0+(?!\d)", text), text
    payload = json.loads((out / "agreement.json").read_text())
    cells = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
             for line in text.splitlines() if line.count("│") >= 4}
    for row in payload["per_class"]:  # 3 raters per item: pairable values are whole numbers
        assert cells[row["class"]][0] == f"{round(row['n_pairable']):,}"
    for row in payload["annotators"]:
        assert cells[row["annotator"]][0] == str(row["n_ratings"]) == "80"
    for row in payload["revision_list"]:
        line = next(x for x in text.splitlines()
                    if f"{row['class_a']} / {row['class_b']}" in x and "│" in x)
        v = row["disagreements"]  # a whole number unless some item has 3+ distinct values
        assert line.split("│")[3].strip() == (f"{v:,.0f}" if v == round(v) else f"{v:,.1f}")


def test_agree_fractional_disagreements_keep_one_decimal(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    # one item rated a, b, c by three annotators: each pair of values disagrees with weight
    # 1 / (3 - 1) = 0.5 (Krippendorff's coincidences), so every class pair has 0.5
    # disagreements; a second item (a, a, a) keeps alpha defined
    path = tmp_path / "r.csv"
    pd.DataFrame({"i": [1, 1, 1, 2, 2, 2], "w": list("xyzxyz"),
                  "y": ["a", "b", "c", "a", "a", "a"]}).to_csv(path, index=False)
    rc = main(["agree", str(path), "--item", "i", "--annotator", "w", "--label", "y",
               "--n-boot", "0", "--no-workspace", "--out", str(tmp_path / "o")])
    assert rc == 0
    text = capsys.readouterr().out
    rows = [line for line in text.splitlines() if " / " in line and "│" in line]
    assert len(rows) == 3 and all(line.split("│")[3].strip() == "0.5" for line in rows), rows


def test_agree_labels_and_annotators_are_printed_literally(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    path = tmp_path / "r.csv"
    pd.DataFrame({"i": [1, 1, 2, 2, 3, 3], "w": ["[/x]", "b"] * 3,
                  "y": ["[/bold]", "[red]dog", "[/bold]", "[/bold]", "[red]dog", "[red]dog"]}
                 ).to_csv(path, index=False)
    rc = main(["agree", str(path), "--item", "i", "--annotator", "w", "--label", "y",
               "--n-boot", "0", "--no-workspace", "--out", str(tmp_path / "o")])
    assert rc == 0  # rich markup in the data used to raise MarkupError
    text = capsys.readouterr().out
    assert "[/bold]" in text and "[red]dog" in text and "[/x]" in text
