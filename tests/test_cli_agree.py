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
