"""Two-stage pipelines (``assay.twostage``, ``assay pipeline``): the variants against a hand
computation, the gap's decomposition, and the essay's case where only robust training works."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from assay.exceptions import InputValidationError, InvalidParameterError
from assay.twostage import two_stage


def _xor_case(n=2000, seed=0):
    """Stage 1 (a linear model) cannot learn its XOR labels; stage 2's label is stage 1's."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    kind = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype(int)
    return x, kind, kind.copy()


def test_oracle_and_naive_equal_a_hand_computation():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(800, 3))
    kind = (x[:, 0] + rng.normal(0, 0.8, 800) > 0).astype(int)
    final = (kind + (x[:, 1] > 0.5)).astype(int)
    res = two_stage(x, kind, final, n_bootstrap=100, random_state=3)
    train, test = train_test_split(np.arange(800), test_size=0.25, stratify=final,
                                   random_state=3)

    def model():
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, C=1.0,
                                                                  random_state=3))

    eye = np.eye(2)
    s2 = model().fit(np.hstack([x[train], eye[kind[train]]]), final[train])
    oracle = np.mean(s2.predict(np.hstack([x[test], eye[kind[test]]])) == final[test])
    s1 = model().fit(x[train], kind[train])
    naive = np.mean(s2.predict(np.hstack([x[test], s1.predict_proba(x[test])])) == final[test])
    assert res.scores["oracle"] == pytest.approx(oracle)
    assert res.scores["naive"] == pytest.approx(naive)
    assert res.stage1_accuracy == pytest.approx(np.mean(s1.predict(x[test]) == kind[test]))
    # the per-class shares of the gap add up to the accuracy gap
    assert res.by_class["gap_naive_share"].sum() == pytest.approx(oracle - naive)
    assert res.by_stage1["n"].sum() == res.n_test == test.size


def test_training_on_stage_one_outputs_recovers_what_gold_inputs_hide():
    x, kind, final = _xor_case()
    res = two_stage(x, kind, final, n_bootstrap=300,
                    stage2_estimator=HistGradientBoostingClassifier(random_state=0))
    # Gold inputs decide the label, so a stage 2 trained on them ignores x; stage 1 (linear)
    # is at chance on XOR, so at deployment that stage 2 is too. Trained on stage 1's
    # out-of-fold outputs, stage 2 learns the XOR from x itself.
    assert res.scores["oracle"] == 1.0
    assert res.stage1_accuracy < 0.65 and res.scores["naive"] < 0.65
    assert res.scores["robust"] > 0.9
    assert res.intervals["recovery"][0] > 0.2
    assert "train it that way" in res.message()
    wrong = res.by_stage1.set_index("rows").loc["stage 1 wrong"]
    assert wrong["naive_accuracy"] < 0.1 and wrong["robust_accuracy"] > 0.85


def test_a_perfect_first_stage_costs_nothing():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(600, 2))
    kind = (x[:, 0] > 0).astype(int)
    x[:, 0] += np.where(kind == 1, 3.0, -3.0)  # a wide margin: stage 1 never errs
    final = (kind ^ (x[:, 1] > 0)).astype(int)
    res = two_stage(x, kind, final, n_bootstrap=200,
                    stage2_estimator=HistGradientBoostingClassifier(random_state=0))
    assert res.stage1_accuracy == 1.0
    assert res.gap_naive == 0.0 and res.intervals["gap_naive"] == (0.0, 0.0)
    assert "no measurable" in res.message() and res.notes


def test_bad_arguments_are_refused():
    x, kind, final = _xor_case(200)
    with pytest.raises(InvalidParameterError, match="metric"):
        two_stage(x, kind, final, metric="auc")
    with pytest.raises(InvalidParameterError, match="test_size"):
        two_stage(x, kind, final, test_size=0.9)
    with pytest.raises(InputValidationError, match="at least 2 rows"):
        two_stage(x, kind, np.r_[np.zeros(199, dtype=int), 1])
    with pytest.raises(InputValidationError):
        two_stage(x, kind[:10], final)


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "assay.cli.main", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def test_cli_records_the_run_and_refuses_bad_columns(tmp_path):
    x, kind, final = _xor_case(800)
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "kind": np.where(kind, "k1", "k0"),
                  "y": np.where(final, "yes", "no")}).to_csv(tmp_path / "t.csv", index=False)
    res = _cli("pipeline", "t.csv", "--stage1", "kind", "--label", "y", "--model", "hgb",
               "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    payload = json.loads(res.stdout)
    assert payload["scores"]["oracle"] == 1.0 and payload["scores"]["robust"] > 0.85
    assert json.loads(open(payload["outputs"]["json"]).read())["stage1"] == "kind"
    runs = json.loads(_cli("runs", "--json", cwd=tmp_path).stdout)
    assert any(r["command"] == "pipeline" for r in runs)
    for args, match in ((["--stage1", "y"], "both 'y'"), (["--stage1", "kindd"], "kindd"),
                        (["--stage1", "kind", "--features", "a,kind"], "stage-1 column"),
                        (["--stage1", "kind", "--model", "knn"], "logistic or hgb")):
        bad = _cli("pipeline", "t.csv", "--label", "y", *args, cwd=tmp_path)
        assert bad.returncode == 2, (args, bad.stderr)
        assert match in bad.stderr and "Traceback" not in bad.stderr
