"""The audit end to end, the check compliance suite, crash handling, and JSON round trips."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import assay
from assay._audit import AuditResult, CheckResult, _registry, register_check, registered_checks
from assay.demo import make_demo_data, score_demo
from assay.exceptions import InputValidationError, InvalidParameterError


@pytest.fixture(scope="module")
def demo_result():
    demo = make_demo_data(noise=0.1, random_state=0)
    result = assay.audit(demo.table.drop(columns=["true_label"]), label="label", id="id")
    return demo, result


def test_demo_audit_finds_what_was_injected(demo_result):
    demo, result = demo_result
    scores = score_demo(demo, result.issues)
    assert scores["precision"] > 0.65 and scores["recall"] > 0.8
    assert scores["near_duplicate_recall"] == 1.0 and scores["exact_duplicate_recall"] == 1.0
    assert scores["suggested_label_accuracy"] > 0.85
    summary = result.checks["label_issues"].summary
    est = summary["estimated_precision"]
    assert abs(est - scores["precision"]) < 0.1
    # reliable here: the interval holds the measured precision and the message states both
    assert summary["estimates_reliable"]
    low, high = summary["estimated_precision_low"], summary["estimated_precision_high"]
    assert low <= scores["precision"] <= high and low < est < high
    message = result.checks["label_issues"].message
    assert f"plausibly {low:.0%} to {high:.0%}" in message and "label_spot_check" in message


def test_issue_columns_are_stable(demo_result):
    _, result = demo_result
    expected = ["row", "id", "given_label", "label_score", "is_label_issue", "suggested_label",
                "label_error_probability", "label_decided", "knn_label_agreement",
                "is_exact_duplicate",
                "is_near_duplicate", "duplicate_set", "copy_of_row", "outlier_score", "is_outlier",
                "in_weak_slice", "weak_slice"]
    assert list(result.issues.columns) == expected
    assert len(result.issues) == result.summary["n_rows"]


def test_check_compliance(demo_result):
    """Every check that ran on the demo returns a well-formed result aligned with the rows; the
    others are exactly those whose needs the demo lacks (every check, on data with every need:
    tests/test_check_suite.py)."""
    _, result = demo_result
    specs = registered_checks()
    # the demo's label holds classes: no numeric target for the regression checks, no label
    # sets for the multi-label one, no tag sequences for the token one, no boxes for the
    # detection one; its columns are the pixels of digit images: no plain table
    lacking = {"split", "group", "meta", "annotations", "consensus", "values", "target",
               "target_predictions", "plain_table", "label_sets", "label_set_probs",
               "token_corpus", "token_probs", "boxes", "box_predictions"}
    assert set(specs) - set(result.checks) == {
        n for n, s in specs.items() if set(s.needs) & lacking}
    for check in result.checks.values():
        assert isinstance(check, CheckResult) and check.status in ("pass", "warn", "fail")
        assert check.message
        for t in check.thresholds.values():
            assert t.source
        if check.rows is not None:
            assert len(check.rows) == result.summary["n_rows"]
            for col in check.rows.columns:
                if col.endswith(("_score", "_probability", "_agreement")):
                    v = check.rows[col].to_numpy(float)
                    assert ((v >= 0) & (v <= 1)).all(), col


def test_json_round_trip(demo_result):
    _, result = demo_result
    back = AuditResult.from_json(result.to_json())
    assert back.summary["fingerprint"] == result.summary["fingerprint"]
    assert back.summary["classes"] == result.summary["classes"]
    assert list(back.checks) == list(result.checks)
    assert back.checks["label_issues"].summary == result.checks["label_issues"].summary
    pd.testing.assert_frame_equal(
        back.issues[["row", "is_label_issue"]], result.issues[["row", "is_label_issue"]],
        check_dtype=False,
    )
    assert back.metrics()["label"] == pytest.approx(result.metrics()["label"])


def test_newer_json_schema_refused(demo_result):
    _, result = demo_result
    text = result.to_json(include_issues=False).replace('"schema_version": 1', '"schema_version": 99')
    with pytest.raises(InputValidationError, match="schema version 99 is not supported"):
        AuditResult.from_json(text)


def test_crashing_check_is_recorded_not_swallowed(monkeypatch):
    monkeypatch.setattr(_registry, "_REGISTRY", dict(registered_checks()))

    @register_check("always_crashes", needs=("labels",))
    def _crash(ctx):
        raise ZeroDivisionError("boom")

    frame = pd.DataFrame({"x": np.arange(30.0), "y": [0, 1, 2] * 10})
    result = assay.audit(frame, label="y", checks=["class_profile", "always_crashes"])
    crashed = result.checks["always_crashes"]
    assert crashed.status == "error" and "ZeroDivisionError: boom" in crashed.error
    assert result.status == "error" and result.metrics()["errors"] == 1.0
    assert result.checks["class_profile"].status in ("pass", "warn")


def test_user_pred_probs_and_embeddings(rng):
    n = 90
    y = np.repeat([0, 1, 2], 30)
    emb = rng.normal(size=(n, 8)) + y[:, None] * 3
    probs = np.full((n, 3), 0.05)
    probs[np.arange(n), y] = 0.9
    probs[0] = [0.05, 0.9, 0.05]  # row 0 labelled 0 but predicted 1
    result = assay.audit(pd.DataFrame({"y": y}), label="y", embeddings=emb, pred_probs=probs)
    assert result.summary["pred_probs"] == "user" and result.summary["featurizer"] == "embeddings"
    assert result.issues.loc[0, "is_label_issue"]
    assert result.issues.loc[0, "suggested_label"] == 1


def test_class_with_one_sample_is_a_clear_error():
    frame = pd.DataFrame({"x": np.arange(21.0), "y": [0, 1] * 10 + [2]})
    with pytest.raises(InputValidationError, match=r"1 class\(es\) with a single row \('2'\)"):
        assay.audit(frame, label="y")
    # the same error whichever check asks for the probabilities first (class_profile reads the
    # shared label flags, which need them too)
    with pytest.raises(InputValidationError, match="single row"):
        assay.audit(frame, label="y", checks=["class_profile"])
    # with the user's probabilities there is nothing to cross-fit: the audit runs
    probs = np.full((21, 3), 1 / 3)
    assert "class_profile" in assay.audit(frame, label="y", pred_probs=probs,
                                          checks=["class_profile"]).checks


def test_bad_pred_probs_shape():
    frame = pd.DataFrame({"x": np.arange(20.0), "y": [0, 1] * 10})
    with pytest.raises(InputValidationError, match="pred_probs has 3 columns but labels contain 2 classes"):
        assay.audit(frame, label="y", pred_probs=np.full((20, 3), 1 / 3))


def test_unknown_check_name():
    frame = pd.DataFrame({"x": np.arange(20.0), "y": [0, 1] * 10})
    with pytest.raises(InvalidParameterError, match="Did you mean 'outliers'"):
        assay.audit(frame, label="y", checks=["outlier"])


def test_text_audit_finds_flipped_sentiment():
    pos = [f"a wonderful delightful film number {i}, truly great" for i in range(40)]
    neg = [f"a terrible boring film number {i}, truly awful" for i in range(40)]
    frame = pd.DataFrame({"review": pos + neg, "y": ["pos"] * 40 + ["neg"] * 40})
    frame.loc[3, "y"] = "neg"
    result = assay.audit(frame, label="y", text="review")
    assert result.summary["featurizer"] == "tfidf-svd"
    assert result.issues.loc[3, "is_label_issue"] and result.issues.loc[3, "suggested_label"] == "pos"


def test_weak_model_marks_the_estimates_unreliable():
    """Below 60 % out-of-fold accuracy the label check says its estimates are upper bounds."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 60)
    given = y.copy()
    given[::20] = (y[::20] + 1) % 4  # a few flipped labels, so something is flagged
    strong = pd.DataFrame(rng.normal(size=(240, 3)) + y[:, None] * 4.0, columns=list("abc"))
    weak = pd.DataFrame(rng.normal(size=(240, 3)) + y[:, None] * 0.15, columns=list("abc"))
    for frame, reliable in ((strong, True), (weak, False)):
        res = assay.audit(frame.assign(label=given), label="label", checks=["label_issues"])
        check = res.checks["label_issues"]
        assert check.summary["estimates_reliable"] is reliable
        assert (check.summary["model_accuracy"] < 0.6) is not reliable
        assert check.summary["n_flagged"] > 0
        assert ("the model is weak" in check.message) is not reliable
