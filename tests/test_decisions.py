"""Decisions across review queues (issue 14: an expert's relabel cancelled a unanimous duplicate)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from assay.workspace import resolve_decisions


def _frame(rows: list[tuple]) -> pd.DataFrame:
    """(row_id, reviewer, action, new_label, stage, queue) in decision order."""
    cols = ["row_id", "reviewer", "action", "new_label", "stage", "queue"]
    frame = pd.DataFrame([r + (None,) * (6 - len(r)) for r in rows], columns=cols)
    frame.insert(0, "decision_id", np.arange(1, len(rows) + 1))
    return frame


def test_expert_relabel_in_one_queue_does_not_cancel_a_unanimous_duplicate_in_another():
    d = _frame([
        ("9", "ana", "duplicate", None, "review", "duplicates"),
        ("9", "bo", "duplicate", None, "review", "duplicates"),
        ("9", "ana", "relabel", "b", "review", "label_issues"),
        ("9", "bo", "keep", None, "review", "label_issues"),
        ("9", "eve", "relabel", "c", "expert", "label_issues"),
    ])
    r = resolve_decisions(d).set_index("row_id").loc["9"]
    assert r["action"] == "duplicate"  # the copy goes, whatever its label
    assert r["stage"] == "expert" and r["queues"] == "duplicates,label_issues"
    assert r["n_superseded"] == 2  # ana's and bo's label-queue decisions, overridden by eve


def test_within_one_queue_the_expert_still_overrides():
    d = _frame([
        ("1", "ana", "remove", None, "review", "outliers"),
        ("1", "bo", "keep", None, "review", "outliers"),
        ("1", "eve", "keep", None, "expert", "outliers"),
    ])
    assert resolve_decisions(d).set_index("row_id").loc["1", "action"] == "keep"


@pytest.mark.parametrize(("a", "b", "expected"), [
    (("relabel", "x"), ("keep", None), "relabel"),
    (("relabel", "x"), ("relabel", "x"), "relabel"),
    (("relabel", "x"), ("relabel", "y"), "conflict"),
    (("keep", None), ("defer", None), "keep"),
    (("remove", None), ("relabel", "x"), "remove"),
    (("defer", None), ("defer", None), "defer"),
])
def test_across_queues(a, b, expected):
    d = _frame([("1", "ana", a[0], a[1], None, "q1"), ("1", "ana", b[0], b[1], None, "q2")])
    assert resolve_decisions(d)["action"].iloc[0] == expected


def test_one_queue_matches_the_queue_blind_rules_on_random_decisions():
    """Without queues, the per-queue rules are the former rules: brute force on small cases."""
    rng = np.random.default_rng(0)
    actions = [("keep", None), ("remove", None), ("relabel", "a"), ("relabel", "b"),
               ("defer", None)]
    for _ in range(200):
        n = int(rng.integers(1, 7))
        rows = []
        for _ in range(n):
            act, lab = actions[rng.integers(len(actions))]
            rows.append((str(rng.integers(3)), ["ana", "bo", "cy"][rng.integers(3)], act, lab,
                         ["review", "expert"][rng.integers(2)]))
        d = _frame(rows)
        got = resolve_decisions(d).set_index("row_id")
        for row_id, grp in d.groupby("row_id"):
            top = grp[grp["stage"] == ("expert" if (grp["stage"] == "expert").any()
                                       else "review")]
            last = top.drop_duplicates("reviewer", keep="last")
            keys = {(a, lab or "") for a, lab in zip(last["action"], last["new_label"],
                                                     strict=True)}
            want = "conflict" if len(keys) > 1 else last["action"].iloc[-1]
            assert got.loc[row_id, "action"] == want, (rows, row_id)


def test_latest_policy_across_queues_takes_the_most_recent_relabel():
    d = _frame([("1", "ana", "relabel", "x", None, "q1"), ("1", "bo", "relabel", "y", None, "q2")])
    r = resolve_decisions(d, policy="latest").iloc[0]
    assert (r["action"], r["new_label"]) == ("relabel", "y")
    assert list(itertools.chain(r["reviewers"])) == ["ana", "bo"]


def test_a_kept_row_carries_its_decision_to_the_next_version(tmp_path):
    """Audit, keep one flagged row and relabel another, export, re-audit: the keep carries."""
    import subprocess
    import sys

    from assay.workspace import Workspace, carried_decisions

    rng = np.random.default_rng(0)
    n = 240
    y = rng.integers(0, 2, n)
    x = rng.normal(size=(n, 3)) + 2.5 * y[:, None]
    frame = pd.DataFrame(x.round(4), columns=["a", "b", "c"])
    frame.insert(0, "id", [f"r{i}" for i in range(n)])
    frame["y"] = np.where(y == 1, "pos", "neg")
    frame.loc[:11, "y"] = np.where(frame.loc[:11, "y"] == "pos", "neg", "pos")  # 12 flips
    (tmp_path / "data.csv").write_text(frame.to_csv(index=False))

    def cli(*args):
        res = subprocess.run([sys.executable, "-m", "assay.cli.main", *args], cwd=tmp_path,
                             capture_output=True, text=True, timeout=600)
        assert res.returncode in (0, 1), res.stderr
        return res

    cli("audit", "data.csv", "--label", "y", "--id", "id", "--checks", "label_issues")
    ws = Workspace.open(tmp_path / ".assay")
    run_a = ws.runs(command="audit")["run_id"].iloc[0]
    flagged = ws.findings(run_a)
    flagged = flagged[flagged["flag"].astype(bool)]["row_id"].astype(str).tolist()
    assert len(flagged) >= 2
    kept, fixed = flagged[0], flagged[1]
    ws.append_decision(kept, "keep", reviewer="ana", run_id=run_a, queue="label_issues")
    new = "pos" if frame.set_index("id").loc[fixed, "y"] == "neg" else "neg"
    ws.append_decision(fixed, "relabel", new_label=new, reviewer="ana", run_id=run_a,
                       queue="label_issues")
    cli("export", "-o", "data.v2")
    cli("audit", "data.v2/data.csv", "--label", "y", "--id", "id", "--checks", "label_issues")
    runs = ws.runs(command="audit")
    assert len(runs) == 2  # the re-audit found the project's workspace upward
    run_b = runs["run_id"].iloc[0]
    carried = carried_decisions(ws, run_b)
    assert carried["row_id"].tolist() == [kept]  # the relabelled row changed: reviewed afresh
    assert carried["from_run"].iloc[0] == run_a and carried["reviewers"].iloc[0] == ["ana"]


def test_a_batch_of_decisions_is_stored_whole_or_not_at_all(tmp_path):
    """``append_decisions`` checks every decision before it writes any; a bad one stores
    nothing and says which it was; a retry with the same keys writes nothing."""
    from assay.exceptions import InputValidationError
    from assay.workspace import Workspace

    ws = Workspace.open(tmp_path / "ws")
    batch = [{"row_id": 1, "action": "keep", "reviewer": "ana"},
             {"row_id": 2, "action": "duplicate", "reviewer": "ana", "duplicate_of": 1},
             {"row_id": 3, "action": "duplicate", "reviewer": "ana", "duplicate_of": 1,
              "new_label": "x"}]
    with pytest.raises(InputValidationError, match="Decision 3 of 3: new_label is only"):
        ws.append_decisions(batch)
    assert ws.decisions().empty
    batch[2].pop("new_label")
    ids = ws.append_decisions(batch, client_keys=["k:0", "k:1", "k:2"])
    assert ids == [1, 2, 3]
    assert ws.append_decisions(batch, client_keys=["k:0", "k:1", "k:2"]) == ids  # a retry
    stored = ws.decisions()
    assert stored["action"].tolist() == ["keep", "duplicate", "duplicate"]
    assert stored["duplicate_of"].tolist()[1:] == ["1", "1"]
    with pytest.raises(InputValidationError, match="one distinct key per decision"):
        ws.append_decisions(batch, client_keys=["a", "a", "b"])
