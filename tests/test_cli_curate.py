"""``assay curate``: the funnel's cuts from a recorded audit, the run it records, and the
``curation`` queue the review app serves for it."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from assay.cli.main import main
from assay.curate import curation_funnel
from assay.workspace import Workspace


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    """120 rows in 3 classes, some labels flipped, two exact copies; audited into ws/."""
    tmp = tmp_path_factory.mktemp("curate")
    rng = np.random.default_rng(1)
    n = 120
    y = rng.integers(0, 3, n)
    x = rng.normal(size=(n, 3)) + y[:, None] * 2.5
    names = np.array(["cat", "dog", "eel"], dtype=object)
    labels = names[y].copy()
    labels[::13] = names[(y[::13] + 1) % 3]
    frame = pd.DataFrame(x, columns=["a", "b", "c"]).assign(label=labels,
                                                             uid=[f"r{i}" for i in range(n)])
    frame = pd.concat([frame, frame.iloc[[5, 6]].assign(uid=["c5", "c6"])], ignore_index=True)
    data = tmp / "data.csv"
    frame.to_csv(data, index=False)
    ws = tmp / "ws"
    assert main(["audit", str(data), "--label", "label", "--id", "uid", "-w", str(ws),
                 "--out", str(tmp / "out"), "--json"]) in (0, 1)
    return ws


@pytest.fixture
def ws(audited, tmp_path):
    copy = tmp_path / "ws"
    shutil.copytree(audited, copy)
    return copy


def _issues(ws):
    from assay.app import stored_audit

    return stored_audit(Workspace.open(ws, create=False), None, command="curate")


def _curate(ws, capsys, *args):
    capsys.readouterr()
    assert main(["curate", "-w", str(ws), *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _by_hand(issues, sizes):
    """The funnel's stages from first principles: mean percentile rank, one copy per set."""
    sig = [issues[c].to_numpy(float) for c in ("label_score", "outlier_score")]

    def pct(x):  # average rank of ties, brute force: (#smaller + (#equal - 1) / 2) / (n - 1)
        smaller = (x[None, :] < x[:, None]).sum(1)
        equal = (x[None, :] == x[:, None]).sum(1)
        return (smaller + (equal - 1) / 2) / (x.size - 1)

    score = np.mean([pct(s) for s in sig], axis=0)
    sets = issues["duplicate_set"].to_numpy()
    dup = np.zeros(len(issues), dtype=bool)
    for s in set(sets[sets >= 0]):
        members = np.flatnonzero(sets == s)
        best = members[np.argmax(score[members])]  # argmax: the first of equal scores
        dup[members[members != best]] = True
    rows = sorted((r for r in range(len(issues)) if not dup[r]), key=lambda r: (-score[r], r))
    ids = issues["id"].astype(str).to_numpy()
    return {name: [ids[r] for r in rows[:k]]
            for name, k in zip(("automatic", "amateur", "expert"), sizes, strict=True)}, score


def test_the_cuts_are_the_funnels_on_the_audits_signals(ws, capsys):
    out = _curate(ws, capsys, "--sizes", "80,25,6")
    _, _, result = _issues(ws)
    issues = result.issues
    assert (issues["duplicate_set"] >= 0).sum() >= 4  # the copies of r5 and r6 are found
    want, score = _by_hand(issues, (80, 25, 6))
    table = pd.read_parquet(out["outputs"]["funnel"])
    got = {s: table.loc[table["stage"] == s, "row_id"].tolist() for s in want}
    assert got == want
    pos = pd.Series(np.arange(len(issues)), index=issues["id"].astype(str))
    np.testing.assert_allclose(table.loc[table["stage"] == "amateur", "score"],
                               score[pos[want["amateur"]].to_numpy()])
    # and they are curation_funnel's own cuts on the same signals
    in_set = (issues["duplicate_set"] >= 0).to_numpy()
    f = curation_funnel(label_quality=issues["label_score"], outlier_score=issues["outlier_score"],
                        is_duplicate=in_set & ~_keepers(issues, score), quotas=(80, 25, 6))
    assert {s: issues["id"].to_numpy()[q["row"]].tolist() for s, q in f.queues.items()} == want
    assert out["rows"] == {"automatic": 80, "amateur": 25, "expert": 6}
    assert out["n_excluded"] == in_set.sum() - issues.loc[in_set, "duplicate_set"].nunique()


def _keepers(issues, score):
    sets = issues["duplicate_set"].to_numpy()
    keep = np.zeros(len(issues), dtype=bool)
    for s in set(sets[sets >= 0]):
        members = np.flatnonzero(sets == s)
        keep[members[np.argmax(score[members])]] = True
    return keep


def test_balance_by_class_splits_each_cut_evenly(ws, capsys):
    out = _curate(ws, capsys, "--sizes", "60,30,9", "--balance-by-class")
    table = pd.read_parquet(out["outputs"]["funnel"])
    for stage, k in (("automatic", 20), ("amateur", 10), ("expert", 3)):
        assert table.loc[table["stage"] == stage, "label"].value_counts().tolist() == [k] * 3
    assert Workspace.open(ws).run(out["run_id"])["params"]["balance_by_class"] is True


def test_the_run_is_recorded_and_listed(ws, capsys):
    out = _curate(ws, capsys, "--sizes", "50,10,3")
    info = Workspace.open(ws).run(out["run_id"])
    assert info["command"] == "curate" and info["status"] == "ok"
    assert info["params"]["audit_run"] == out["audit_run"]
    assert info["params"]["sizes"] == [50, 10, 3]
    assert info["summary"]["rows"] == {"automatic": 50, "amateur": 10, "expert": 3}
    assert out["review_command"].endswith(f"--run {out['audit_run']}")
    capsys.readouterr()
    assert main(["runs", "-w", str(ws), "--command", "curate", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in listed] == [out["run_id"]]
    # the human summary names the stage sizes and the review command
    assert main(["curate", "-w", str(ws), "--sizes", "50,10,3"]) == 0
    text = capsys.readouterr().out
    assert "amateur" in text and out["review_command"] in text


def test_the_review_app_serves_the_curation_queue_in_rank_order(ws, capsys):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from assay.app import create_app

    _curate(ws, capsys, "--sizes", "80,25,6")  # an older run: the latest one is served
    out = _curate(ws, capsys, "--sizes", "70,20,2")
    table = pd.read_parquet(out["outputs"]["funnel"])
    amateur = table.loc[table["stage"] == "amateur", "row_id"].tolist()
    app = create_app(ws, token="t0k", expert_token="exp3rt")
    with TestClient(app, base_url="http://127.0.0.1") as c:
        c.headers["X-Assay-Token"] = "t0k"
        s = c.get("/api/session").json()
        q = {x["name"]: x for x in s["queues"]}["curation"]
        assert q["total"] == 20 and q["expert"] == 0
        assert s["curation"]["run_id"] == out["run_id"] and s["curation"]["sizes"] == [70, 20, 2]
        items = c.get("/api/queues/curation?limit=500").json()["items"]
        assert [it["row_id"] for it in items] == amateur
        scores = [it["queue_score"] for it in items]
        assert scores == sorted(scores, reverse=True)
        # stage 3: the rows reviewers disagreed on or deferred, best first, at most 2

        def post(row, action, who):
            r = c.post("/api/decisions", json={"row_id": row, "queue": "curation",
                                               "action": action, "reviewer": who})
            assert r.status_code == 200, r.text

        post(amateur[1], "keep", "ana")
        post(amateur[1], "drop", "bob")  # disagreement
        post(amateur[4], "skip", "ana")  # deferred
        post(amateur[7], "skip", "bob")
        post(amateur[0], "keep", "ana")  # agreed: not for experts
        expert = c.get("/api/queues/curation?stage=expert").json()
        assert [it["row_id"] for it in expert["items"]] == [amateur[1], amateur[4]]
        r = c.post("/api/decisions", json={"row_id": amateur[1], "queue": "curation",
                                           "action": "keep", "reviewer": "eve",
                                           "stage": "expert"},
                   headers={"X-Assay-Token": "exp3rt"})
        assert r.status_code == 200
        assert {x["name"]: x for x in c.get("/api/session").json()["queues"]}[
            "curation"]["expert"] == 2
    dec = Workspace.open(ws).decisions()
    assert set(dec["queue"]) == {"curation"}


def test_no_curation_queue_without_a_curate_run(ws):
    pytest.importorskip("fastapi")
    from assay.app import load_session

    session = load_session(Workspace.open(ws, create=False))
    assert "curation" not in session.queues and session.curation is None


@pytest.mark.parametrize(("args", "message"), [
    (("--sizes", "10,20,5"), "may not grow"),
    (("--sizes", "10,5"), "three whole numbers"),
    (("--sizes", "10,5,0"), "three whole numbers"),
    (("--sizes", "a,b,c"), "three whole numbers"),
    (("--sizes", "5000,200,20"), "has 122 rows"),
    (("--sizes", "10,5,1", "--run", "zzzz"), "No run 'zzzz'"),
])
def test_bad_input_is_one_line_and_exit_2(ws, capsys, args, message):
    capsys.readouterr()
    assert main(["curate", "-w", str(ws), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert Workspace.open(ws).runs(command="curate").empty


def test_no_audit_and_a_curate_run_are_refused(ws, tmp_path, capsys):
    empty = tmp_path / "empty"
    Workspace.open(empty)  # a workspace without runs
    assert main(["curate", "-w", str(empty), "--sizes", "3,2,1"]) == 2
    assert "has no audit runs" in capsys.readouterr().err
    out = _curate(ws, capsys, "--sizes", "10,5,1")
    assert main(["curate", "-w", str(ws), "--sizes", "10,5,1", "--run", out["run_id"]]) == 2
    assert "works on audits" in capsys.readouterr().err
