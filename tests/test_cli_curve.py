"""``assay curve`` end to end."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification

from assay.cli.main import main


@pytest.fixture(scope="module")
def data_csv(tmp_path_factory):
    X, y = make_classification(n_samples=500, n_features=6, n_informative=4, n_classes=3,
                               weights=[0.5, 0.3, 0.2], class_sep=1.2, random_state=0)
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    df["kind"] = np.array(["ant", "bee", "cow"])[y]
    path = tmp_path_factory.mktemp("curve") / "data.csv"
    df.to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_curve_json_plan_with_budget(data_csv, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["curve", str(data_csv), "--label", "kind", "--target", "0.99", "--budget", "300",
               "--seeds", "2", "--bootstrap", "20", "--out", str(out), "--json",
               "--sizes", "0.1,0.2,0.35,0.6,1.0"])
    assert rc == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["n_rows"] == 500 and payload["n_train"] == 400
    assert payload["fit"]["family"] in ("pow3", "pow2", "pow4", "exp3", "logistic")
    req = payload["requirement"]
    assert req["target"] == 0.99
    if not req["reachable"]:
        assert "ceiling" in req["message"]
    alloc = payload["allocation"]
    assert sum(c["collect"] for c in alloc["classes"]) == 300
    assert {c["class"] for c in alloc["classes"]} == {"ant", "bee", "cow"}
    curve = pd.read_csv(out / "curve.csv")
    assert len(curve) == 10 and "recall[bee]" in curve.columns
    fits = json.loads((out / "fits.json").read_text())
    assert fits["fit"]["family"] == payload["fit"]["family"]
    assert (out / "curve.png").read_bytes()[:4] == b"\x89PNG"
    page = (out / "curve.html").read_text()
    assert "data:image/png;base64," in page and "Collection budget" in page
    assert req["message"].split(":")[0] in page.replace("&#39;", "'")


def test_curve_prints_a_plan_and_writes_svg(data_csv, tmp_path, capsys):
    out = tmp_path / "svg"
    rc = main(["curve", str(data_csv), "--label", "kind", "--per-class", "--seeds", "1",
               "--bootstrap", "0", "--plot-format", "svg", "--out", str(out),
               "--sizes", "40,80,160,400"])
    assert rc == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "Forecast" in text and "Per class" in text and "best extrapolating family" in text
    assert (out / "curve.svg").read_text().lstrip().startswith("<?xml")


@pytest.mark.slow
def test_curve_compare_clean(data_csv, tmp_path, capsys):
    rc = main(["curve", str(data_csv), "--label", "kind", "--compare-clean", "--seeds", "1",
               "--bootstrap", "0", "--out", str(tmp_path / "c"), "--json",
               "--sizes", "0.1,0.2,0.4,0.7,1.0"])
    assert rc == 0
    clean = json.loads(capsys.readouterr().out)["clean"]
    assert clean["n_flagged"] >= 0 and "worth" in clean["message"]
    assert (tmp_path / "c" / "curve_clean.csv").exists()


def test_curve_user_errors_exit_2(data_csv, tmp_path, capsys):
    rc = main(["curve", str(data_csv), "--label", "kind", "--sizes", "50,100,200",
               "--out", str(tmp_path / "e")])
    assert rc == 2
    assert "at least 4 distinct training-set sizes" in capsys.readouterr().err
    rc = main(["curve", str(data_csv), "--label", "kind", "--sizes", "50,100,200,5000",
               "--out", str(tmp_path / "e")])
    assert rc == 2
    assert "sizes go up to 5000 but only 400 rows" in capsys.readouterr().err
    rc = main(["curve", str(data_csv), "--label", "kind", "--plot-format", "gif"])
    assert rc == 2
    assert "png or svg" in capsys.readouterr().err
    rc = main(["curve", str(tmp_path / "missing.csv"), "--label", "kind"])
    assert rc == 2
    assert "not found" in capsys.readouterr().err
    rc = main(["curve", str(data_csv), "--label", "kind", "--metric", "auc"])
    assert rc == 2
    assert "'--metric' parameter" in capsys.readouterr().err


@pytest.fixture(scope="module")
def long_tail_csv(tmp_path_factory):
    # 4 classes; 'rare' keeps 25 rows, so the 20 % evaluation split holds 5 of them.
    X, y = make_classification(n_samples=900, n_features=6, n_informative=4, n_classes=4,
                               class_sep=1.5, random_state=3)
    rng = np.random.default_rng(0)
    keep = np.concatenate([np.flatnonzero(y != 3), rng.choice(np.flatnonzero(y == 3), 25,
                                                              replace=False)])
    df = pd.DataFrame(X[keep], columns=[f"f{i}" for i in range(6)])
    df["kind"] = np.array(["ant", "bee", "cow", "rare"])[y[keep]]
    path = tmp_path_factory.mktemp("curve_lt") / "data.csv"
    df.to_csv(path, index=False)
    return path


def _run_cli(*args):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "assay.cli.main", "curve", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_budget_with_min_per_class_and_few_eval_rows_as_a_subprocess(long_tail_csv, tmp_path):
    common = ["--label", "kind", "--budget", "200", "--objective", "worst_class",
              "--seeds", "1", "--bootstrap", "0", "--sizes", "0.2,0.4,0.7,1.0"]
    res = _run_cli(long_tail_csv, *common, "--min-per-class", "40", "--json",
                   "--out", tmp_path / "j")
    assert res.returncode == 0, res.stderr
    payload = json.loads(res.stdout)
    alloc = payload["allocation"]
    classes = {c["class"]: c for c in alloc["classes"]}
    assert classes["rare"]["current"] == 20 and classes["rare"]["eval_rows"] == 5
    assert all(c["total"] >= 40 for c in classes.values())  # the minimum is honoured
    assert classes["rare"]["collect"] >= 20
    assert sum(c["collect"] for c in classes.values()) + alloc["unallocated"] == 200
    assert alloc["min_per_class"] == 40 and alloc["uncertain"] == ["rare"]
    assert payload["eval_support"]["rare"] == 5
    assert any("'rare' (5 held-out rows)" in w for w in payload["warnings"])
    assert "pooled curve" in alloc["rule"]
    # As text: the warning on stderr, the allocation summary on stdout.
    res = _run_cli(long_tail_csv, *common, "--out", tmp_path / "t")
    assert res.returncode == 0, res.stderr
    err = " ".join(res.stderr.split())
    assert "warning: Recall of class 'rare' (5 held-out rows) is measured on fewer than 20" in err
    out = " ".join(res.stdout.split())
    assert "of 200 rows" in out and "eval rows" in out
    page = (tmp_path / "t" / "curve.html").read_text()
    assert "held-out rows" in page.replace("&#39;", "'")


def test_min_per_class_needs_a_budget(data_csv, tmp_path, capsys):
    rc = main(["curve", str(data_csv), "--label", "kind", "--min-per-class", "30",
               "--out", str(tmp_path / "m")])
    assert rc == 2
    assert "--min-per-class 30 needs --budget" in capsys.readouterr().err
    rc = main(["curve", str(data_csv), "--label", "kind", "--budget", "10", "--min-per-class",
               "300", "--out", str(tmp_path / "m2"), "--sizes", "40,80,160,400", "--seeds", "1",
               "--bootstrap", "0"])
    assert rc == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "--min-per-class 300 needs" in err and "but the budget is 10" in err
    assert "Raise --budget to at least" in err and "lower --min-per-class" in err
