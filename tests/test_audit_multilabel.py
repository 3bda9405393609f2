"""Multi-label targets in the audit: the task read from the column, the multilabel_labels check,
the class-based checks skipped with the reason, the user's probabilities, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits

import assay
from assay.cli.main import main
from assay.data import infer_task
from assay.exceptions import InputValidationError

TAGS = ("even", "prime", "ge5", "loop", "straight")


def _digit_tags(digit: np.ndarray) -> np.ndarray:
    """Tags that follow from the digit: (N, 5) indicator in TAGS order."""
    return np.stack([digit % 2 == 0, np.isin(digit, [2, 3, 5, 7]), digit >= 5,
                     np.isin(digit, [0, 6, 8, 9]), np.isin(digit, [1, 4, 7])], axis=1)


@pytest.fixture(scope="module")
def noisy_digits():
    """Digits (8 x 8 pixels) with their tags as "a|b" strings; 60 rows get one tag flipped."""
    x, digit = load_digits(return_X_y=True)
    y = _digit_tags(digit)
    rng = np.random.default_rng(0)
    wrong = rng.choice(len(y), 60, replace=False)
    noisy = y.copy()
    noisy[wrong, rng.integers(0, len(TAGS), wrong.size)] ^= True
    frame = pd.DataFrame(x, columns=[f"p{i}" for i in range(64)])
    frame["tags"] = ["|".join(t for t, on in zip(TAGS, row, strict=True) if on) for row in noisy]
    return frame, y, noisy, wrong


def test_task_is_read_from_the_column():
    assert infer_task(["a|b", "b", "a", "a|c", "c", "b|c"] * 10).task == "multilabel"
    assert infer_task(pd.Series([["x"], ["x", "y"], []] * 10)).task == "multilabel"
    assert infer_task(['["x"]', '["x", "y"]', "[]"] * 10).task == "multilabel"
    cities = ["Austin, TX", "Dallas, TX", "Reno, NV", "Austin, TX"] * 10
    assert infer_task(cities).task == "classification"  # a compound value, not a set
    assert infer_task(["cat", "dog"] * 10).task == "classification"


def test_audit_finds_flipped_tags_and_skips_class_checks(noisy_digits):
    frame, truth, noisy, wrong = noisy_digits
    res = assay.audit(frame, label="tags", checks=["multilabel_labels", "label_issues",
                                                   "class_profile", "duplicates"])
    assert res.summary["task"] == "multilabel"
    assert res.summary["classes"] == sorted(TAGS) and res.summary["n_classes"] == 5
    assert "holds label sets" in res.summary["skipped"]["label_issues"]
    assert "class_profile" in res.summary["skipped"]
    check = res.checks["multilabel_labels"]
    flagged = np.flatnonzero(res.issues["is_label_issue"].to_numpy(bool))
    hits = np.isin(flagged, wrong).sum()
    assert hits >= 0.7 * wrong.size and hits >= 0.9 * flagged.size, (hits, flagged.size)
    assert check.summary["estimates_reliable"]
    assert abs(check.summary["n_estimated_errors"] - wrong.size) <= 0.3 * wrong.size
    # the suggested set is the true one on most flagged rows, written as the column writes it
    order = list(TAGS)
    suggested = res.issues.loc[flagged, "suggested_label"]
    true_text = ["|".join(t for t, on in zip(order, truth[i], strict=True) if on)
                 for i in flagged]
    same = [set(s.split("|")) - {""} == set(t.split("|")) - {""}
            for s, t in zip(suggested, true_text, strict=True)]
    assert np.mean(same) >= 0.9
    # what to change: one class to add or remove on a row with one flipped tag
    row = flagged[0]
    change = res.issues.loc[row, ["missing_labels", "spurious_labels"]].tolist()
    assert sum(bool(c) for c in change) >= 1
    classes = check.evidence["classes"]
    assert sorted(classes["class"]) == sorted(TAGS)
    assert classes["count"].sum() == noisy.sum()
    assert ((res.issues["label_score"] >= 0) & (res.issues["label_score"] <= 1)).all()


def test_given_probabilities_are_checked(noisy_digits):
    frame, truth, _, _ = noisy_digits
    good = np.where(truth[:, np.argsort(TAGS)], 0.95, 0.05)  # columns: classes sorted
    res = assay.audit(frame, label="tags", pred_probs=good, checks=["multilabel_labels"])
    assert res.checks["multilabel_labels"].summary["model"] == "user"
    assert res.issues["is_label_issue"].sum() > 30
    with pytest.raises(InputValidationError, match=r"shape \(1797, 5\).*got shape \(1797, 4\)"):
        assay.audit(frame, label="tags", pred_probs=good[:, :4], checks=["multilabel_labels"])
    with pytest.raises(InputValidationError, match=r"in \[0, 1\]"):
        assay.audit(frame, label="tags", pred_probs=good * 2, checks=["multilabel_labels"])


def test_list_cells_and_empty_cells_are_label_sets(tmp_path):
    rng = np.random.default_rng(1)
    n = 300
    x = rng.normal(size=(n, 3))
    sets = [[t for t, on in zip("abc", row > 0.3, strict=True) if on] for row in x]
    frame = pd.DataFrame(x, columns=["u", "v", "w"]).assign(tags=sets)
    res = assay.audit(frame, label="tags", checks=["multilabel_labels"])
    assert res.summary["task"] == "multilabel" and res.summary["classes"] == ["a", "b", "c"]
    assert res.checks["multilabel_labels"].summary["label_form"] == {"kind": "list"}
    # the same sets in a CSV, where a row without labels is an empty cell (read as missing)
    frame.assign(tags=[",".join(s) for s in sets]).to_csv(tmp_path / "t.csv", index=False)
    assert sum(not s for s in sets) > 0
    res = assay.audit(tmp_path / "t.csv", label="tags", checks=["multilabel_labels"])
    assert res.summary["task"] == "multilabel"
    assert res.checks["multilabel_labels"].summary["label_form"] == {"kind": "delimited",
                                                                     "sep": ","}


def test_cli_prints_the_sets_that_look_wrong(noisy_digits, tmp_path, capsys):
    frame, _, _, _ = noisy_digits
    frame.to_csv(tmp_path / "d.csv", index=False)
    assert main(["audit", str(tmp_path / "d.csv"), "--label", "tags", "--no-workspace",
                 "--out", str(tmp_path / "o"), "--checks", "multilabel_labels"]) == 0
    out = capsys.readouterr().out
    assert "multi-label target 'tags' with 5 classes" in out
    assert "Label sets that look wrong" in out
    doc = json.loads((tmp_path / "o" / "audit.json").read_text())
    assert doc["summary"]["task"] == "multilabel"
    assert main(["audit", str(tmp_path / "d.csv"), "--label", "tags", "--no-workspace",
                 "--out", str(tmp_path / "o2"), "--task", "multilabl"]) == 2
    assert "multilabel" in capsys.readouterr().err
