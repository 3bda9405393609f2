"""The common check suite: every registered check, on data that supplies every declared need.

In the style of scikit-learn's estimator checks, each registered check (the built-in ones and any
registered later) runs through the same invariants, with no skips:

- it runs (is not skipped, does not crash) on data that supplies all of ``NEEDS``;
- its output matches its specification: the per-row columns of ``RowOutputs``, boolean flags,
  its metric, its findings, thresholds with a source, a message, a JSON-able summary;
- it never modifies its inputs (the table, the annotations, the values);
- it is idempotent (the same result twice) and row-order invariant (rows shuffled, ids kept:
  the same status and the same flagged ids);
- missing feature values and a one-class label get a clear answer (a result, or an
  ``AssayError`` at the boundary), never a crash.

Out-of-fold probabilities are given (``pred_probs``), so the checks themselves are tested, not the
randomness of cross-fitting folds. A check for a regression task (one that needs ``target``) runs
on the same table with a numeric label (``task="regression"``), where no probabilities apply; its
cross-fitting folds come from the row ids, so shuffling the rows changes nothing. A check for a
multi-label task (one that needs ``label_sets``) runs on a column of label sets ("hi1|hi3"),
with given per-class probabilities. A check for a tokens task (one that needs ``token_corpus``)
runs on sentences of four tokens ("w0 w1 w2 w3") tagged "HI" or "O", with given per-token
probabilities. A check for a detection task (one that needs ``boxes``) runs on one box per row
of the row's class (12 of them of another class), with given predicted boxes.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import assay
from assay.checks import NEEDS, registered_checks
from assay.exceptions import AssayError

N = 180
CLASSES = np.array(["ant", "bee", "cat"])


def _data(seed: int = 0) -> dict:
    """A table, annotations, values and probabilities that supply every need of NEEDS."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), N // 3)
    x = rng.normal(size=(N, 4)) + 2.0 * y[:, None]
    x[5] = x[4] + 1e-6  # a near copy
    x[7] = x[6]         # an exact copy
    x[9] += 25.0        # an outlier
    labels = CLASSES[y].copy()
    flipped = rng.choice(N, size=12, replace=False)
    labels[flipped] = CLASSES[(y[flipped] + 1) % 3]
    table = pd.DataFrame(x.round(5), columns=["f1", "f2", "f3", "f4"])
    table.insert(0, "id", [f"r{i:03d}" for i in range(N)])
    table["split"] = np.where(np.arange(N) % 5 == 0, "test",
                              np.where(np.arange(N) % 5 == 1, "valid", "train"))
    table["group"] = rng.integers(0, 40, N)
    table["site"] = rng.choice(["north", "south", "east"], N)
    table["y"] = labels
    logits = -((x[:, None, :2] - 2.0 * np.arange(3)[None, :, None]) ** 2).sum(-1)
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    probs = 0.9 * probs + 0.1 / 3
    items = table["id"].to_numpy()[:60]
    ann = pd.DataFrame({
        "item": np.repeat(items, 3),
        "annotator": np.tile(["a1", "a2", "a3"], 60),
        "label": [lab if rng.random() > 0.15 else CLASSES[rng.integers(3)]
                  for lab in np.repeat(table["y"].to_numpy()[:60], 3)],
    })
    value = rng.normal(size=N)
    values = pd.DataFrame({"row": table["id"], "data_value": value,
                           "is_low_value": value < np.quantile(value, 0.1)})
    # a numeric target for regression checks: linear in the features, 12 values far off
    target = (x @ np.array([3.0, -2.0, 1.0, 0.5]) + rng.normal(size=N) * 0.5).round(4)
    target[flipped] += rng.choice([-1.0, 1.0], flipped.size) * 8.0
    table["target"] = target
    # label sets for multi-label checks: tag k when feature k is high, 12 rows with a tag flipped
    margin = x[:, :3] - 2.0
    sets = margin > 0
    sets[flipped, rng.integers(0, 3, flipped.size)] ^= True
    table["tags"] = ["|".join(t for t, on in zip(("hi1", "hi2", "hi3"), row, strict=True) if on)
                     for row in sets]
    set_probs = 0.02 + 0.96 / (1.0 + np.exp(-3.0 * margin))
    # sentences for token checks: token j of a row is "HI" when feature j is high (the same
    # margins), 12 rows with a tag flipped; given probabilities per token
    hi = np.hstack([margin, x[:, 3:4] - 2.0]) > 0
    tags = hi.copy()
    tags[flipped, rng.integers(0, 4, flipped.size)] ^= True
    table["tokens"] = "w0 w1 w2 w3"
    table["ner"] = [" ".join("HI" if t else "O" for t in row) for row in tags]
    p_hi = 0.02 + 0.96 / (1.0 + np.exp(-3.0 * np.hstack([margin, x[:, 3:4] - 2.0])))
    token_probs = np.stack([p_hi, 1.0 - p_hi], axis=-1)  # (N, 4, 2): tags HI, O (sorted)
    # boxes for detection checks: one box per row of its label's class, at a place drawn from
    # the features; the predictions find each box with its true class (so the 12 flipped rows
    # carry a wrong class), and 6 rows get a confident box nobody annotated (missing)
    corner = (np.abs(x[:, :2]) * 10).round()
    table["boxes"] = [json.dumps([[str(lab), int(a), int(b), 20, 20]])
                      for lab, (a, b) in zip(labels, corner, strict=True)]
    rows = np.r_[np.arange(N), np.arange(6)]
    pred_corner = np.r_[corner, np.full((6, 2), 200.0)]
    box_preds = pd.DataFrame({"row": rows, "class": np.r_[CLASSES[y], ["ant"] * 6],
                              "x": pred_corner[:, 0], "y": pred_corner[:, 1], "width": 20.0,
                              "height": 20.0, "score": np.r_[np.full(N, 0.9), np.full(6, 0.97)]})
    return {"table": table, "annotations": ann, "values": values, "pred_probs": probs,
            "set_probs": set_probs, "token_probs": token_probs, "box_predictions": box_preds}


def _is_regression(check: str) -> bool:
    return "target" in registered_checks()[check].needs


def _is_multilabel(check: str) -> bool:
    return "label_sets" in registered_checks()[check].needs


def _is_tokens(check: str) -> bool:
    return "token_corpus" in registered_checks()[check].needs


def _is_detection(check: str) -> bool:
    return "boxes" in registered_checks()[check].needs


def _audit(d: dict, check: str, *, order: np.ndarray | None = None):
    table, probs, set_probs = d["table"], d["pred_probs"], d["set_probs"]
    token_probs, box_preds = d["token_probs"], d["box_predictions"]
    if order is not None:
        table, probs = table.iloc[order].reset_index(drop=True), probs[order]
        set_probs, token_probs = set_probs[order], token_probs[order]
        where = np.argsort(order)  # old row -> its new position
        box_preds = box_preds.assign(row=where[box_preds["row"].to_numpy()])
    task = ("regression" if _is_regression(check) else "multilabel" if _is_multilabel(check)
            else "tokens" if _is_tokens(check) else "detection" if _is_detection(check)
            else "classification")
    return assay.audit(
        table, label={"regression": "target", "multilabel": "tags", "tokens": "ner",
                      "detection": "boxes"}.get(task, "y"), id="id",
        predictions=box_preds if task == "detection" else None,
        split="split", group="group", meta=["site"], features=["f1", "f2", "f3", "f4"],
        pred_probs={"regression": None, "detection": None, "multilabel": set_probs,
                    "tokens": token_probs.reshape(-1, 2)}.get(task, probs),
        annotations=d["annotations"], values=d["values"], checks=[check], random_state=0,
        task=task,
    )


CHECKS = list(registered_checks())


def test_the_suite_data_supplies_every_need():
    res = _audit(_data(), CHECKS[0])
    assert not res.summary.get("skipped")
    # every need a check can declare is one the suite's data has (target needs: with the
    # numeric label)
    assert set(NEEDS) == {"labels", "features", "row_content", "pred_probs", "label_flags", "knn",
                          "split", "group", "meta", "annotations", "consensus", "values",
                          "target", "target_predictions", "plain_table", "label_sets",
                          "label_set_probs", "token_corpus", "token_probs", "boxes",
                          "box_predictions"}
    assert any(_is_regression(c) for c in CHECKS) and not all(_is_regression(c) for c in CHECKS)


@pytest.fixture(scope="module")
def data():
    return _data()


@pytest.fixture(scope="module")
def results(data):
    return {name: _audit(data, name) for name in CHECKS}


@pytest.mark.parametrize("name", CHECKS)
def test_runs_and_matches_its_specification(name, results, data):
    spec = registered_checks()[name]
    res = results[name]
    assert name in res.checks, res.summary.get("skipped")
    check = res.checks[name]
    assert check.status in ("pass", "warn", "fail"), check.message
    assert isinstance(check.message, str) and check.message
    for key, threshold in check.thresholds.items():
        assert str(threshold.source).strip(), f"{name}: threshold {key} has no source"
    json.dumps(res.to_dict(include_issues=False), allow_nan=True, default=str)
    out = spec.outputs
    if out is None:
        return
    rows = check.rows
    assert rows is not None and len(rows) == N
    for col in out.columns:
        assert col in res.issues, f"{name}: declared column {col!r} is not in the issue table"
    for col in out.flags:
        assert res.issues[col].dtype == bool, f"{name}: flag column {col!r} is not boolean"
    if out.metric:
        assert res.metrics()[out.metric] == pytest.approx(out.flagged(res.issues).mean())
    findings = res.findings()
    mine = findings[findings["check"] == name]
    assert len(mine) == N and set(mine["row_id"]) == set(data["table"]["id"])
    assert mine["flag"].sum() == out.flagged(res.issues).sum()
    if out.unit_score:
        scores = mine["score"].dropna()
        assert ((scores >= 0) & (scores <= 1)).all()


@pytest.mark.parametrize("name", CHECKS)
def test_does_not_modify_its_inputs(name, data):
    before = {k: v.copy() for k, v in data.items()}
    _audit(data, name)
    for key, value in before.items():
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(data[key], value)
        else:
            np.testing.assert_array_equal(data[key], value)


def _flagged_ids(res, name) -> set[str]:
    spec = registered_checks()[name]
    if spec.outputs is None:
        return set()
    return set(res.issues.loc[spec.outputs.flagged(res.issues), "id"].astype(str))


@pytest.mark.parametrize("name", CHECKS)
def test_idempotent(name, data, results):
    again = _audit(data, name)
    first = results[name]
    assert again.checks[name].status == first.checks[name].status
    assert again.checks[name].summary.keys() == first.checks[name].summary.keys()
    assert _flagged_ids(again, name) == _flagged_ids(first, name)


@pytest.mark.parametrize("name", CHECKS)
def test_row_order_invariant(name, data, results):
    order = np.random.default_rng(1).permutation(N)
    shuffled = _audit(data, name, order=order)
    first = results[name]
    assert shuffled.checks[name].status == first.checks[name].status, name
    a, b = _flagged_ids(first, name), _flagged_ids(shuffled, name)
    assert a == b, (name, sorted(a ^ b))


@pytest.mark.parametrize("name", CHECKS)
def test_missing_feature_values_get_a_result_or_a_clear_error(name, data):
    holed = dict(data)
    table = data["table"].copy()
    table.loc[[3, 11, 40], "f2"] = np.nan
    holed["table"] = table
    try:
        res = _audit(holed, name)
    except AssayError as exc:
        assert str(exc)
        return
    assert res.checks[name].status != "error", res.checks[name].message


@pytest.mark.parametrize("name", CHECKS)
def test_one_class_label_is_refused_clearly(name, data):
    one = dict(data)
    one["table"] = data["table"].assign(y="ant", target=3.0, tags="hi1|hi2", ner="O O O O",
                                        boxes='[["ant", 1, 1, 20, 20]]')
    one["pred_probs"] = np.ones((N, 1))
    with pytest.raises(AssayError, match="one class"):
        _audit(one, name)
