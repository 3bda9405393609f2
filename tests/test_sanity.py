"""Sanity checks before training (``assay.sanity``, ``assay sanity``): each bound against a brute
force or scikit-learn, each check on a case made to pass and one made to fail."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits
from sklearn.metrics import balanced_accuracy_score, f1_score

from assay.exceptions import InputValidationError, InvalidParameterError
from assay.models import cross_val_pred_probs
from assay.sanity import metric_ceiling, sanity_checks


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    return x, y, cross_val_pred_probs(x, y)


@pytest.mark.parametrize("seed", range(5))
def test_accuracy_ceiling_is_the_best_map_from_true_class_to_label(seed):
    rng = np.random.default_rng(seed)
    joint = rng.integers(0, 30, size=(3, 3)) + np.diag(rng.integers(0, 60, 3))
    q = joint / joint.sum()
    # brute force: every deterministic prediction of the given label from the true class
    best = max(sum(q[f[j], j] for j in range(3)) for f in itertools.product(range(3), repeat=3))
    assert metric_ceiling(joint) == pytest.approx(best)


@pytest.mark.parametrize("seed", range(5))
def test_other_ceilings_equal_scikit_learn_on_the_rows_the_joint_counts(seed):
    rng = np.random.default_rng(seed)
    joint = rng.integers(1, 20, size=(4, 4)) + np.diag(rng.integers(10, 50, 4))
    given, true = np.nonzero(np.ones_like(joint))
    reps = joint[given, true]
    y_given, y_true = np.repeat(given, reps), np.repeat(true, reps)  # predict the true class
    assert metric_ceiling(joint, "balanced_accuracy") == pytest.approx(
        balanced_accuracy_score(y_given, y_true))
    assert metric_ceiling(joint, "macro_f1") == pytest.approx(
        f1_score(y_given, y_true, average="macro"))


def test_identical_input_bound_is_the_best_function_of_the_inputs():
    rng = np.random.default_rng(0)
    inputs = rng.integers(0, 4, size=(40, 1)).astype(float)  # 4 distinct inputs
    y = rng.integers(0, 3, size=40)
    p = np.full((40, 3), 1 / 3)
    res = sanity_checks(inputs, y, p)
    best = max(np.mean(np.asarray(f)[inputs[:, 0].astype(int)] == y)
               for f in itertools.product(range(3), repeat=4))
    assert res.check("identical_inputs").evidence["bound"] == pytest.approx(best)
    assert res.check("identical_inputs").status == "warn"


def test_aligned_labels_pass_and_shuffled_labels_fail(digits):
    x, y, p = digits
    ok = sanity_checks(x, y, p)
    assert ok.check("labels_align").status == "pass"
    shuffled = np.random.default_rng(1).permutation(y)
    bad = sanity_checks(x, shuffled, cross_val_pred_probs(x, shuffled))
    assert bad.check("labels_align").status == "fail"
    assert bad.status == "fail"
    assert "do not line up" in bad.check("labels_align").message
    # an unreliable noise estimate (the model is at chance) is reported, never the bound
    assert not bad.check("label_noise_ceiling").evidence["estimates_reliable"]
    assert bad.bound_source != "label_noise_ceiling"


def test_too_few_rows_to_test_alignment_is_a_warning_not_a_failure():
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([0, 0, 1, 1])
    res = sanity_checks(x, y, np.eye(2)[y])  # all right, yet 0.5 ** 4 > 0.01
    assert res.check("labels_align").status == "warn"
    assert "Too few rows" in res.check("labels_align").message


def test_target_above_the_noise_ceiling_fails(digits):
    x, y, _ = digits
    rng = np.random.default_rng(0)
    noisy = y.copy()
    flip = rng.choice(y.size, size=180, replace=False)  # 10 % flipped
    noisy[flip] = (noisy[flip] + rng.integers(1, 10, flip.size)) % 10
    p = cross_val_pred_probs(x, noisy)
    res = sanity_checks(x, noisy, p, target=0.97)
    noise = res.check("label_noise_ceiling").evidence
    assert noise["estimates_reliable"]
    assert 0.85 <= noise["bound"] <= 0.95  # about 1 - 10 %
    assert res.bound_source == "label_noise_ceiling"
    assert res.check("target").status == "fail"
    assert sanity_checks(x, noisy, p, target=0.8).check("target").status == "pass"


def test_tiny_subset_fits_digits_and_flags_inputs_that_are_all_the_same(digits):
    pytest.importorskip("torch")
    x, y, p = digits
    assert sanity_checks(x, y, p).check("tiny_subset").status == "pass"
    same = np.zeros_like(x)
    assert sanity_checks(same, y, p).check("tiny_subset").status == "fail"


def test_bad_arguments_are_refused(digits):
    x, y, p = digits
    with pytest.raises(InvalidParameterError, match="metric"):
        sanity_checks(x, y, p, metric="auc")
    with pytest.raises(InvalidParameterError, match="target"):
        sanity_checks(x, y, p, target=3)
    with pytest.raises(InputValidationError, match="columns"):
        sanity_checks(x, y, p[:, :5])
    with pytest.raises(InputValidationError, match="square"):
        metric_ceiling([[1, 2, 3]])


def _run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "assay.cli.main", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600)


def test_cli_passes_fails_and_reads_annotations(tmp_path):
    x, y = load_digits(return_X_y=True)
    keep = np.arange(0, 1797, 2)
    frame = pd.DataFrame(x[keep], columns=[f"p{i}" for i in range(64)]).assign(y=y[keep])
    frame.to_csv(tmp_path / "d.csv", index=False)
    frame.assign(leak=frame["y"] * 3 + 1).to_csv(tmp_path / "leaky.csv", index=False)
    # three annotators of 300 items; each gives a wrong label 15 % of the time
    rng = np.random.default_rng(0)
    rows = []
    for item in range(300):
        for a in range(3):
            lab = int(y[item]) if rng.random() > 0.15 else int((y[item] + 1) % 10)
            rows.append({"item": item, "who": f"a{a}", "label": lab})
    pd.DataFrame(rows).to_csv(tmp_path / "ann.csv", index=False)

    ok = _run("sanity", "d.csv", "--label", "y", "--target", "0.9", "--no-workspace",
              "--out", "o1", "--json", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    payload = json.loads(ok.stdout)
    assert payload["status"] == "pass"
    assert {c["name"] for c in payload["checks"]} >= {
        "labels_align", "tiny_subset", "identical_inputs", "label_noise_ceiling", "target",
        "target_leakage"}
    assert json.loads((tmp_path / "o1" / "sanity.json").read_text())["status"] == "pass"

    human = _run("sanity", "d.csv", "--label", "y", "--target", "0.95", "--annotations",
                 "ann.csv", "--item", "item", "--annotator", "who", "--annotation-label",
                 "label", "--no-workspace", "--out", "o2", "--json", cwd=tmp_path)
    assert human.returncode == 1, human.stderr  # 0.95 is above what the annotators allow
    payload = json.loads(human.stdout)
    assert payload["bound_source"] == "human_ceiling"
    assert 0.8 <= payload["upper_bound"] < 0.95
    target = next(c for c in payload["checks"] if c["name"] == "target")
    assert target["status"] == "fail" and "above the oracle upper bound" in target["message"]
    assert "Traceback" not in human.stderr

    leaky = _run("sanity", "leaky.csv", "--label", "y", "--no-workspace", "--out", "o3",
                 cwd=tmp_path)
    assert leaky.returncode == 1
    assert "leak" in " ".join(leaky.stdout.split())


def test_cli_records_the_run_in_the_workspace(tmp_path):
    rng = np.random.default_rng(0)
    y = np.repeat(["a", "b"], 60)
    frame = pd.DataFrame({"x": rng.normal(size=120) + (y == "b") * 3, "y": y})
    frame.to_csv(tmp_path / "t.csv", index=False)
    res = _run("sanity", "t.csv", "--label", "y", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    runs = _run("runs", "--json", cwd=tmp_path)
    assert any(r["command"] == "sanity" for r in json.loads(runs.stdout)), runs.stdout
