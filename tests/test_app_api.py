"""The review app's API, in process: queues, decisions, idempotency, stages, agreement, security
(the token on every data route, size limits, the expert token)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from assay.app import create_app, review_agreement  # noqa: E402
from assay.cli.main import main  # noqa: E402
from assay.workspace import Workspace  # noqa: E402

EVIL = "<script>window.__xss=1</script>"


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    """A table with flipped labels, exact duplicates (row 3 three times, row 4 twice) and a
    hostile class name, audited."""
    tmp = tmp_path_factory.mktemp("review")
    rng = np.random.default_rng(0)
    n = 150
    y = rng.integers(0, 3, n)
    x = rng.normal(size=(n, 3)) + y[:, None] * 3.0
    names = np.array(["cat", "dog", EVIL], dtype=object)
    labels = names[y].copy()
    flipped = np.arange(0, n, 15)
    labels[flipped] = names[(y[flipped] + 1) % 3]
    frame = pd.DataFrame(x, columns=["a", "b", "c"]).assign(label=labels,
                                                             uid=[f"r{i}" for i in range(n)])
    frame = pd.concat([frame, frame.iloc[[3, 4, 3]].assign(uid=["c3", "c4", "d3"])],
                      ignore_index=True)
    data = tmp / "data.csv"
    frame.to_csv(data, index=False)
    ws = tmp / "ws"
    assert main(["audit", str(data), "--label", "label", "--id", "uid", "-w", str(ws),
                 "--out", str(tmp / "out"), "--json"]) == 0
    return ws, data, flipped


@pytest.fixture
def client(audited, tmp_path):
    import shutil

    ws, _, _ = audited
    copy = tmp_path / "ws"
    shutil.copytree(ws, copy)
    app = create_app(copy, token="t0k", expert_token="exp3rt")
    with TestClient(app, base_url="http://127.0.0.1") as c:
        c.headers["X-Assay-Token"] = "t0k"
        c.ws = copy
        yield c


def decide(client, row_id, action, **extra):
    body = {"row_id": row_id, "queue": "label_issues", "action": action, "reviewer": "ana",
            **extra}
    return client.post("/api/decisions", json=body)


def test_session_and_queues_ordered_worst_first(client, audited):
    _, _, flipped = audited
    s = client.get("/api/session").json()
    names = [q["name"] for q in s["queues"]]
    assert names[:3] == ["label_issues", "duplicates", "outliers"]
    assert EVIL in s["classes"]
    items = client.get("/api/queues/label_issues?limit=500").json()["items"]
    scores = [it["scores"]["label_score"] for it in items]
    assert scores == sorted(scores) and len(items) == s["queues"][0]["total"]
    flagged = {it["row_id"] for it in items}
    assert len(flagged & {f"r{i}" for i in flipped}) >= 0.8 * len(flipped)
    first = items[0]
    assert first["fields"]["uid"] == first["row_id"] and first["given_label"] is not None
    # evidence: the audit's nearest rows, with their labels, nearest first
    nb = first["neighbours"]
    assert len(nb) == 5 and first["row_id"] not in {n["row_id"] for n in nb}
    assert [n["distance"] for n in nb] == sorted(n["distance"] for n in nb)
    dups = client.get("/api/queues/duplicates").json()["items"]
    groups = {}
    for it in dups:
        groups.setdefault(it["evidence"]["duplicate_set"], set()).add(it["row_id"])
    # the exact copies share a set (near neighbours in 3-d may join it)
    assert any({"r3", "c3"} <= g for g in groups.values())
    assert any({"r4", "c4"} <= g for g in groups.values())


def test_decisions_are_appended_with_who_what_and_progress(client):
    items = client.get("/api/queues/label_issues").json()["items"]
    a, b = items[0], items[1]
    r1 = decide(client, a["row_id"], "relabel", new_label=a["suggested_label"], note="obvious")
    r2 = decide(client, b["row_id"], "drop")
    assert r1.status_code == 200 and r2.status_code == 200
    r3 = decide(client, a["row_id"], "keep")  # a changed mind supersedes, never overwrites
    dec = Workspace.open(client.ws).decisions()
    assert dec["action"].tolist() == ["relabel", "remove", "keep"]
    assert dec["reviewer"].tolist() == ["ana"] * 3 and dec["queue"].tolist() == ["label_issues"] * 3
    assert dec.loc[0, "new_label"] == a["suggested_label"] and dec.loc[0, "note"] == "obvious"
    assert dec["decision_id"].tolist() == [r1.json()["decision_id"], r2.json()["decision_id"],
                                           r3.json()["decision_id"]]
    q = client.get("/api/session").json()["queues"][0]
    assert q["decided"] == 2
    shown = client.get("/api/queues/label_issues").json()["items"][0]["decision"]
    assert shown["action"] == "keep" and shown["reviewer"] == "ana"


def test_a_retried_request_is_recorded_once(client):
    row = client.get("/api/queues/label_issues").json()["items"][0]["row_id"]
    ids = {decide(client, row, "keep", client_key="same-key").json()["decision_id"]
           for _ in range(3)}
    assert len(ids) == 1 and len(Workspace.open(client.ws).decisions()) == 1


@pytest.mark.parametrize(("body", "message"), [
    ({"row_id": "nope"}, "is not a row of audit run"),
    ({"action": "burn"}, "Unknown action 'burn'"),
    ({"action": "relabel", "new_label": "horse"}, "Relabel needs new_label, one of"),
    ({"action": "keep", "new_label": "cat"}, "only allowed with action 'relabel'"),
    ({"queue": "x"}, "Unknown queue 'x'"),
    ({"reviewer": " "}, "Field 'reviewer' is required"),
    ({"stage": "boss"}, "Unknown stage 'boss'"),
])
def test_bad_decisions_are_refused_clearly(client, body, message):
    row = client.get("/api/queues/label_issues").json()["items"][0]["row_id"]
    payload = {"row_id": row, "queue": "label_issues", "action": "keep", "reviewer": "ana",
               **body}
    res = client.post("/api/decisions", json=payload)
    assert res.status_code == 422 and message in res.json()["error"]
    assert Workspace.open(client.ws).decisions().empty


def test_token_host_and_paths(client):
    res = client.post("/api/decisions", json={}, headers={"X-Assay-Token": "wrong"})
    assert res.status_code == 401 and "Wrong token" in res.json()["error"]
    assert "X-Assay-Token" in res.json()["error"] and "Bearer" in res.headers["www-authenticate"]
    bearer = client.get("/api/session", headers={"X-Assay-Token": "",
                                                  "Authorization": "Bearer t0k"})
    assert bearer.status_code == 401  # an empty X-Assay-Token is a wrong token, not absent
    del client.headers["X-Assay-Token"]
    assert client.get("/api/session", headers={"Authorization": "Bearer t0k"}).status_code == 200
    assert client.get("/api/session", headers={"Authorization": "bearer t0k"}).status_code == 200
    assert client.get("/api/session", headers={"Authorization": "Basic t0k"}).status_code == 401
    missing = client.post("/api/decisions", json={})
    assert missing.status_code == 401 and "Missing token" in missing.json()["error"]
    assert client.get("/api/session?token=t0k").status_code == 401  # the URL is for the page only
    page = client.get("/?token=t0k")  # the page shell: no data, no token in it
    assert page.status_code == 200 and "t0k" not in page.text
    assert client.get("/").text == page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    client.headers["X-Assay-Token"] = "t0k"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for local in ("localhost:8000", "[::1]:8000", "127.0.0.1"):
        assert client.get("/api/session", headers={"Host": local}).status_code == 200, local
    evil_host = client.get("/api/session", headers={"Host": "evil.example:8000"})
    assert evil_host.status_code == 400 and "refused" in evil_host.json()["error"]
    for path in ["/static/../_server.py", "/static/%2e%2e%2f_server.py", "/static/index.html",
                 "/api/rows/..%2F..%2Fetc%2Fpasswd/image", "/api/rows/r1/image",
                 "/static//etc/passwd"]:
        assert client.get(path).status_code == 404, path
    assert Workspace.open(client.ws).decisions().empty


def test_hostile_label_comes_back_as_data(client):
    items = client.get("/api/queues/label_issues?limit=500").json()["items"]
    assert any(EVIL in (it["given_label"], it["suggested_label"]) for it in items)
    body = json.dumps(client.get("/api/session").json())
    assert EVIL.replace("/", "\\/") in body or EVIL in body


def test_two_reviewers_agreement_matches_hand_computation(client):
    rows = [it["row_id"] for it in client.get("/api/queues/label_issues?limit=8").json()["items"]]
    a_actions = ["keep", "keep", "drop", "keep", "skip", "drop"]
    b_actions = ["keep", "drop", "drop", "keep", "keep", "drop"]
    for row, a, b in zip(rows, a_actions, b_actions, strict=False):
        assert decide(client, row, a).status_code == 200
        assert client.post("/api/decisions", json={
            "row_id": row, "queue": "label_issues", "action": b, "reviewer": "bo"}).status_code == 200
    agr = client.get("/api/agreement").json()
    assert agr["n_items"] == 6 and agr["reviewers"] == ["ana", "bo"]
    assert agr["percent_agreement"] == pytest.approx(4 / 6)
    # Cohen's kappa by hand: categories keep/remove/defer
    po = 4 / 6
    pa = {"keep": 3 / 6, "remove": 2 / 6, "defer": 1 / 6}
    pb = {"keep": 3 / 6, "remove": 3 / 6, "defer": 0}
    pe = sum(pa[c] * pb[c] for c in pa)
    assert agr["pairs"][0]["cohen_kappa"] == pytest.approx((po - pe) / (1 - pe))
    sm = pytest.importorskip("statsmodels.stats.inter_rater")
    table = pd.crosstab(pd.Series(["keep", "keep", "remove", "keep", "defer", "remove"]),
                        pd.Series(["keep", "remove", "remove", "keep", "keep", "remove"]))
    table = table.reindex(index=["keep", "remove", "defer"], columns=["keep", "remove", "defer"],
                          fill_value=0)
    assert agr["pairs"][0]["cohen_kappa"] == pytest.approx(sm.cohens_kappa(table.to_numpy()).kappa)
    # the expert stage sees exactly the rows the reviewers disagreed on or deferred
    expert = client.get("/api/queues/label_issues?stage=expert").json()["items"]
    assert {it["row_id"] for it in expert} == {rows[1], rows[4]}
    assert [q["expert"] for q in client.get("/api/session").json()["queues"]][0] == 2
    body = {"row_id": rows[1], "queue": "label_issues", "action": "keep", "reviewer": "eve",
            "stage": "expert"}
    refused = client.post("/api/decisions", json=body)  # the reviewers' token
    assert refused.status_code == 403 and "expert token" in refused.json()["error"]
    assert client.post("/api/decisions", json=body,
                       headers={"X-Assay-Token": "exp3rt"}).status_code == 200
    assert Workspace.open(client.ws).decisions()["stage"].tolist()[-1] == "expert"


def test_double_mode_hides_rows_two_others_decided(audited, tmp_path):
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(audited[0], ws)
    app = create_app(ws, token="x", double=True)
    with TestClient(app, base_url="http://localhost") as c:
        c.headers["X-Assay-Token"] = "x"
        first = c.get("/api/queues/label_issues?reviewer_name=cy").json()["items"][0]["row_id"]
        for who in ("ana", "bo"):
            c.post("/api/decisions", json={"row_id": first, "queue": "label_issues",
                                           "action": "keep", "reviewer": who})
        for_cy = c.get("/api/queues/label_issues?reviewer_name=cy&limit=500").json()["items"]
        for_ana = c.get("/api/queues/label_issues?reviewer_name=ana&limit=500").json()["items"]
    assert first not in {it["row_id"] for it in for_cy}
    mine = [it for it in for_ana if it["row_id"] == first]
    assert mine and mine[0]["decision"]["reviewer"] == "ana"


def test_quota_cuts_the_review_stage(audited, tmp_path):
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(audited[0], ws)
    with TestClient(create_app(ws, token="x", quota=3), base_url="http://127.0.0.1",
                    headers={"X-Assay-Token": "x"}) as c:
        items = c.get("/api/queues/label_issues?limit=500").json()["items"]
    assert len(items) == 3


def test_agreement_without_shared_items():
    assert review_agreement(pd.DataFrame(columns=[
        "decision_id", "row_id", "reviewer", "action", "new_label", "stage"]))["n_items"] == 0


def _png(path, colour, rng):
    from PIL import Image

    arr = np.clip(np.array(colour)[None, None, :] + rng.normal(0, 20, (12, 12, 3)), 0, 255)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr.astype(np.uint8)).save(path)


def test_images_are_served_by_row_id_and_only_from_inside_the_root(tmp_path):
    pytest.importorskip("PIL")
    rng = np.random.default_rng(0)
    root = tmp_path / "photos"
    colours = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220)}
    rows = []
    for cls, colour in colours.items():
        for i in range(14):
            _png(root / cls / f"{cls}{i}.png", colour, rng)
            rows.append({"path": f"{cls}/{cls}{i}.png", "label": cls, "uid": f"{cls}{i}"})
    _png(tmp_path / "secret.png", (0, 0, 0), rng)  # outside the data's folder
    rows[0]["path"] = "../secret.png"
    rows[1]["path"] = str(tmp_path / "secret.png")
    (root / "red" / "link.png").symlink_to(tmp_path / "secret.png")
    rows[2]["path"] = "red/link.png"
    table = root / "index.csv"
    pd.DataFrame(rows).to_csv(table, index=False)
    ws = tmp_path / "ws"
    assert main(["audit", str(table), "--label", "label", "--image", "path", "--id", "uid",
                 "-w", str(ws), "--out", str(tmp_path / "out")]) == 0
    with TestClient(create_app(ws, token="x"), base_url="http://127.0.0.1",
                    headers={"X-Assay-Token": "x"}) as c:
        ok = c.get("/api/rows/green3/image")
        assert ok.status_code == 200 and ok.headers["content-type"] == "image/png"
        assert ok.content == (root / "green" / "green3.png").read_bytes()
        for uid in ("red0", "red1", "red2"):  # ../, absolute, symlink out of the root
            assert c.get(f"/api/rows/{uid}/image").status_code == 404, uid


def test_low_value_queue_from_joined_values(tmp_path):
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(rng.normal(size=(90, 3)) + np.repeat([0, 4, 8], 30)[:, None],
                         columns=["a", "b", "c"]).assign(label=np.repeat(["x", "y", "z"], 30))
    data = tmp_path / "d.csv"
    frame.to_csv(data, index=False)
    v = rng.normal(size=90)
    pd.DataFrame({"row": range(90), "data_value": v}).to_csv(tmp_path / "v.csv", index=False)
    assert main(["audit", str(data), "--label", "label", "--values", str(tmp_path / "v.csv"),
                 "-w", str(tmp_path / "ws"), "--out", str(tmp_path / "o")]) == 0
    with TestClient(create_app(tmp_path / "ws", token="x"), base_url="http://127.0.0.1",
                    headers={"X-Assay-Token": "x"}) as c:
        items = c.get("/api/queues/low_value?limit=500").json()["items"]
    assert [it["row_id"] for it in items] == [str(i) for i in np.argsort(v) if v[i] < 0]


def test_label_spot_check_measures_precision_on_a_random_sample(client):
    """The spot-check queue is a seeded random sample of the flagged rows, sized by
    spot_check_size; /api/spot_check counts its decisions only (skips left out) and equals
    reviewed_precision on them."""
    from assay.labels import reviewed_precision, spot_check_size

    flagged = client.get("/api/queues/label_issues?limit=500").json()["items"]
    sample = client.get("/api/queues/label_spot_check?limit=500").json()["items"]
    flagged_ids = [it["row_id"] for it in flagged]
    sample_ids = [it["row_id"] for it in sample]
    assert len(sample_ids) == spot_check_size(len(flagged_ids)) > 0
    assert set(sample_ids) <= set(flagged_ids) and len(set(sample_ids)) == len(sample_ids)
    assert client.get("/api/spot_check").json()["n_reviewed"] == 0
    # three confirmed, one refuted, one skipped; a decision in the worst-first queue is not used
    actions = ["relabel", "drop", "drop", "keep", "skip"][: len(sample_ids)]
    for row, action in zip(sample_ids, actions, strict=False):
        extra = {"new_label": "cat"} if action == "relabel" else {}
        body = {"row_id": row, "queue": "label_spot_check", "action": action, "reviewer": "ana",
                **extra}
        assert client.post("/api/decisions", json=body).status_code == 200
    outside = [r for r in flagged_ids if r not in sample_ids]
    if outside:
        assert decide(client, outside[0], "keep").status_code == 200
    got = client.get("/api/spot_check").json()
    confirmed = [a in ("relabel", "drop") for a in actions if a != "skip"]
    want = reviewed_precision(confirmed, n_flagged=len(flagged_ids))
    assert got["n_reviewed"] == len(confirmed) and got["n_confirmed"] == sum(confirmed)
    assert got["n_deferred"] == actions.count("skip")
    assert got["precision"] == pytest.approx(want.precision)
    assert (got["low"], got["high"]) == pytest.approx((want.low, want.high))
    assert got["sample_size"] == len(sample_ids) and got["n_flagged"] == len(flagged_ids)
    assert got["estimated_precision"] is not None and got["estimates_reliable"] in (True, False)
    bounds = [got["estimated_precision_low"], got["estimated_precision_high"]]
    if got["estimates_reliable"]:  # the audit's interval around its estimate, as JSON numbers
        assert bounds[0] < got["estimated_precision"] < bounds[1]
    else:
        assert bounds == [None, None]
    # a second reviewer who disagrees on a confirmed row makes it a conflict: left out
    assert len(sample_ids) > 5
    body = {"row_id": sample_ids[0], "queue": "label_spot_check", "action": "keep",
            "reviewer": "bo"}
    assert client.post("/api/decisions", json=body).status_code == 200
    again = client.get("/api/spot_check").json()
    assert again["n_reviewed"] == got["n_reviewed"] - 1
    assert again["n_confirmed"] == got["n_confirmed"] - 1
    assert again["n_deferred"] == got["n_deferred"] + 1


# ------------------------------------------------------------------ issue 14: hardening
#: A value for each path parameter of the app's routes; a route with a parameter not listed here
#: fails test_every_data_route_needs_the_token until it is added.
PATH_SAMPLES = {"name": "label_issues", "row_id": "r1", "pos": "0"}
#: The only routes served without the token: the page shell, which holds no data.
PUBLIC_ROUTES = {"/", "/static/{name}"}
BAD_TOKENS = [
    None,                                    # no token at all
    "wrong",                                 # a wrong ASCII token
    "t0k0",                                  # the right one and more
    "t0",                                    # a prefix of the right one
    "t0k".upper(),                           # case matters
    "tök".encode(),                          # non-ASCII (UTF-8 bytes)
    b"\xff\xfe\xfd",                         # bytes that are not UTF-8
    "%ff%fe",                                # a percent-escape that is not UTF-8, undecoded
    "x" * 10_000,                            # very long
]


def _routes(app):
    from fastapi.routing import APIRoute

    routes = [r for r in app.routes if isinstance(r, APIRoute)]
    assert len(routes) == len(app.routes), "a route that is not an APIRoute escapes this test"
    return routes


def _concrete(path):
    import re

    def fill(match):
        name = match.group(1).split(":")[0]
        assert name in PATH_SAMPLES, f"add a sample value for path parameter {name!r} of {path}"
        return PATH_SAMPLES[name]

    return re.sub(r"\{([^}]+)\}", fill, path)


def test_every_data_route_needs_the_token(client):
    """Every registered route but the page shell answers 401 without the right token, for every
    kind of wrong token (no 500, no traceback), and serves the right one."""
    routes = _routes(client.app)
    assert {r.path for r in routes if r.path not in PUBLIC_ROUTES} >= {
        "/api/session", "/api/queues/{name}", "/api/decisions", "/api/agreement",
        "/api/spot_check", "/api/rows/{row_id}/image"}
    del client.headers["X-Assay-Token"]
    checked = 0
    for route in routes:
        if route.path in PUBLIC_ROUTES:
            continue
        url = _concrete(route.path)
        for method in sorted(route.methods):
            for bad in BAD_TOKENS:
                for header in ("X-Assay-Token", "Authorization"):
                    headers = {}
                    if bad is not None:
                        value = bad if header == "X-Assay-Token" else (
                            (b"Bearer " + bad) if isinstance(bad, bytes) else "Bearer " + bad)
                        headers[header] = value
                    res = client.request(method, url, headers=headers,
                                         json={} if method == "POST" else None)
                    assert res.status_code == 401, (method, url, header, repr(bad)[:40])
                    if method != "HEAD":
                        assert "token" in res.json()["error"]
                    checked += 1
            # the token in the query string is for the page only
            res = client.request(method, url + "?token=t0k", json={} if method == "POST" else None)
            assert res.status_code == 401, (method, url)
            # the right token gets through (to the route's own answer)
            res = client.request(method, url, headers={"X-Assay-Token": "t0k"},
                                 json={} if method == "POST" else None)
            assert res.status_code in (200, 404, 422), (method, url, res.status_code)
    assert checked >= 6 * len(BAD_TOKENS) * 2
    # an unknown path is refused without the token too (401 before 404)
    assert client.get("/api/not-a-route").status_code == 401
    assert Workspace.open(client.ws).decisions().empty


def test_the_public_routes_hold_no_data(client):
    assert {r.path for r in _routes(client.app) if r.path in PUBLIC_ROUTES} == PUBLIC_ROUTES
    del client.headers["X-Assay-Token"]
    session = client.get("/api/session", headers={"X-Assay-Token": "t0k"}).json()
    for url in ("/", "/?token=t0k", "/?token=%ff%fe", "/?token=" + "x" * 5000,
                "/static/app.js", "/static/app.css"):
        res = client.get(url)
        assert res.status_code == 200, url
        for secret in ("t0k", "exp3rt", session["run_id"], "dog", "label_issues"):
            assert secret not in res.text, (url, secret)
    js = client.get("/static/app.js").text
    assert "history.replaceState" in js and "sessionStorage" in js  # the token leaves the URL


@pytest.mark.parametrize(("field", "value", "message"), [
    ("note", "n" * 2001, "Field 'note' is 2001 characters long; the limit is 2000"),
    ("reviewer", "r" * 101, "Field 'reviewer' is 101 characters long; a reviewer name has at"),
    ("reviewer", "ana\nbo", "control character"),
    ("reviewer", "ana\x00", "control character"),
    ("client_key", "k" * 201, "Field 'client_key' is 201 characters long"),
    ("new_label", "c" * 501, "Field 'new_label' is 501 characters long"),
    ("row_id", "r" * 1001, "Field 'row_id' is 1001 characters long"),
    ("note", 5, "Field 'note' must be a string or null; got int"),
])
def test_field_limits(client, field, value, message):
    row = client.get("/api/queues/label_issues").json()["items"][0]["row_id"]
    body = {"row_id": row, "queue": "label_issues", "action": "keep", "reviewer": "ana",
            field: value}
    res = client.post("/api/decisions", json=body)
    assert res.status_code == 422 and message in res.json()["error"], res.text[:300]
    assert len(res.text) < 1000  # the error never echoes the long input back
    assert Workspace.open(client.ws).decisions().empty


def test_at_the_limits_is_accepted(client):
    row = client.get("/api/queues/label_issues").json()["items"][0]["row_id"]
    body = {"row_id": row, "queue": "label_issues", "action": "keep", "reviewer": "é" * 100,
            "note": "n" * 2000, "client_key": "k" * 200}
    assert client.post("/api/decisions", json=body).status_code == 200
    dec = Workspace.open(client.ws).decisions()
    assert dec["note"].tolist() == ["n" * 2000] and dec["reviewer"].tolist() == ["é" * 100]


def test_request_body_limit(client):
    row = client.get("/api/queues/label_issues").json()["items"][0]["row_id"]
    body = {"row_id": row, "queue": "label_issues", "action": "keep", "reviewer": "ana",
            "note": "n" * (2 * 1024 * 1024)}
    res = client.post("/api/decisions", json=body)
    assert res.status_code == 413 and "at most 65536 bytes" in res.json()["error"]
    # without a Content-Length (chunked): refused once the body passes the limit

    def chunks():
        yield b'{"note": "'
        for _ in range(100):
            yield b"n" * 1024
        yield b'"}'

    res = client.post("/api/decisions", content=chunks(),
                      headers={"Content-Type": "application/json"})
    assert res.status_code == 413 and "Request body too large" in res.json()["error"]
    res = client.post("/api/decisions", content=b"{}", headers={"Content-Length": "abc"})
    assert res.status_code == 400
    long_name = client.get("/api/queues/label_issues?reviewer_name=" + "x" * 101)
    assert long_name.status_code == 422 and "reviewer_name" in long_name.json()["error"]
    assert Workspace.open(client.ws).decisions().empty


def test_expert_stage_is_refused_when_not_enabled(audited, tmp_path):
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(audited[0], ws)
    app = create_app(ws, token="x")
    assert app.state.expert_token is None
    with TestClient(app, base_url="http://127.0.0.1", headers={"X-Assay-Token": "x"}) as c:
        assert c.get("/api/session").json()["role"] == "reviewer"
        row = c.get("/api/queues/label_issues").json()["items"][0]["row_id"]
        res = c.post("/api/decisions", json={"row_id": row, "queue": "label_issues",
                                             "action": "keep", "reviewer": "eve",
                                             "stage": "expert"})
        assert res.status_code == 403 and "--expert" in res.json()["error"]
    assert Workspace.open(ws).decisions().empty
    app = create_app(ws, expert=True)
    assert app.state.expert_token and app.state.expert_token != app.state.token
    with TestClient(app, base_url="http://127.0.0.1",
                    headers={"X-Assay-Token": app.state.expert_token}) as c:
        assert c.get("/api/session").json()["role"] == "expert"
        assert c.post("/api/decisions", json={"row_id": row, "queue": "label_issues",
                                              "action": "keep", "reviewer": "eve",
                                              "stage": "expert"}).status_code == 200


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"token": "same", "expert_token": "same"}, "'expert_token' parameter of create_app"),
    ({"token": "with space"}, "printable ASCII characters without spaces"),
    ({"token": "tök"}, "printable ASCII"),
    ({"token": ""}, "printable ASCII"),
    ({"reviewer": "x" * 101}, "'reviewer' parameter of create_app"),
])
def test_create_app_refuses_bad_tokens_and_names(audited, kwargs, message):
    from assay.exceptions import InvalidParameterError

    with pytest.raises(InvalidParameterError, match=message):
        create_app(audited[0], **kwargs)


def test_undo_appends_and_resolves_as_if_never_made(client, audited):
    """Undo is a decision of its own: the table only grows, and every reader (export included)
    answers as if the undone decision had never been made."""
    from assay.export import export_version
    from assay.workspace import resolve_decisions
    from assay.workspace._decisions import without_undone

    items = client.get("/api/queues/label_issues?limit=500").json()["items"]
    r0, r1, r2 = (it["row_id"] for it in items[:3])
    classes = client.get("/api/session").json()["classes"]
    new = next(c for c in classes if c != items[1]["given_label"])
    ids = [decide(client, r0, "keep").json()["decision_id"],
           decide(client, r1, "relabel", new_label=new).json()["decision_id"],
           decide(client, r0, "drop", note="copy").json()["decision_id"]]
    bo = decide(client, r2, "keep", reviewer="bo").json()["decision_id"]
    before = Workspace.open(client.ws).decisions()

    res = client.post("/api/undo", json={"reviewer": "ana", "client_key": "u1"})
    assert res.status_code == 200, res.text
    body = res.json()
    # the latest decision of ana's is taken back; her keep on r0 is in force again
    assert body["undone"] == {"decision_id": ids[2], "row_id": r0, "queue": "label_issues",
                              "action": "drop", "new_label": None, "stage": "review"}
    assert body["in_force"]["action"] == "keep" and body["in_force"]["decision_id"] == ids[0]
    # a retry with the same key answers the same undo and writes nothing
    assert client.post("/api/undo", json={"reviewer": "ana", "client_key": "u1"}).json() == body

    after = Workspace.open(client.ws).decisions()
    assert len(after) == len(before) + 1  # appended: nothing updated, nothing deleted
    def plain(frame):
        return frame.astype(object).where(frame.notna(), None).to_dict("records")

    assert plain(after.iloc[:len(before)]) == plain(before)
    undo_row = after.iloc[-1]
    assert (undo_row["action"], undo_row["row_id"], undo_row["reviewer"]) == ("undo", r0, "ana")
    # resolution after the undo == resolution without the undone decision (and its undo)
    pd.testing.assert_frame_equal(
        resolve_decisions(after), resolve_decisions(before[before["decision_id"] != ids[2]]))
    assert set(without_undone(after)["decision_id"]) == {ids[0], ids[1], bo}
    # the history shows both, linked
    listed = {d["decision_id"]: d for d in client.get("/api/decisions").json()["decisions"]}
    assert listed[ids[2]]["undone_by"] == body["decision_id"]
    assert listed[body["decision_id"]]["undoes"] == ids[2]
    # the item shows the decision in force again
    shown = {it["row_id"]: it.get("decision")
             for it in client.get("/api/queues/label_issues?limit=500").json()["items"]}
    assert shown[r0]["action"] == "keep" and shown[r0]["decision_id"] == ids[0]

    # export reads the same: r0 kept (not dropped), r1 relabelled
    _, data, _ = audited
    out = export_version(client.ws, client.ws.parent / "v2", source=data)
    assert out.counts["removed"] == 0 and out.counts["relabelled"] == 1

    # undo walks back through ana's own decisions only, latest first, then says there is none
    second = client.post("/api/undo", json={"reviewer": "ana"}).json()
    assert second["undone"]["decision_id"] == ids[1] and second["in_force"] is None
    third = client.post("/api/undo", json={"reviewer": "ana"}).json()
    assert third["undone"]["decision_id"] == ids[0] and third["in_force"] is None
    empty = client.post("/api/undo", json={"reviewer": "ana"})
    assert empty.status_code == 409 and "Nothing to undo" in empty.json()["error"]
    final = Workspace.open(client.ws).decisions()
    resolved = resolve_decisions(final)
    assert resolved["row_id"].tolist() == [r2]  # bo's keep stands, ana's are all undone
    shown = {it["row_id"]: it.get("decision")
             for it in client.get("/api/queues/label_issues?limit=500").json()["items"]}
    assert shown[r0] is None and shown[r1] is None
    progress = client.get("/api/session").json()["queues"][0]
    assert progress["name"] == "label_issues" and progress["decided"] == 1


@pytest.mark.parametrize(("body", "status", "message"), [
    ({}, 422, "reviewer"),
    ({"reviewer": "nobody"}, 409, "Nothing to undo"),
    ({"reviewer": "ana", "stage": "boss"}, 422, "Unknown stage"),
    ({"reviewer": "ana", "stage": "expert"}, 403, "expert token"),
    ({"reviewer": "ana", "client_key": 5}, 422, "client_key"),
])
def test_undo_refused_clearly(client, body, status, message):
    n = len(Workspace.open(client.ws).decisions())
    res = client.post("/api/undo", json=body)
    assert res.status_code == status and message in res.json()["error"]
    assert len(Workspace.open(client.ws).decisions()) == n


def test_undo_in_the_spot_check_queue_restores_the_measured_precision(client):
    rows = [it["row_id"] for it in
            client.get("/api/queues/label_spot_check?limit=3").json()["items"]]
    for r in rows[:2]:
        decide(client, r, "drop", queue="label_spot_check")
    two = client.get("/api/spot_check").json()
    decide(client, rows[2], "keep", queue="label_spot_check")
    assert client.get("/api/spot_check").json()["n_reviewed"] == 3
    assert client.post("/api/undo", json={"reviewer": "ana"}).status_code == 200
    assert client.get("/api/spot_check").json() == two


def test_annotator_votes_and_posterior_on_the_item(audited, tmp_path):
    import shutil

    ws, _, _ = audited
    copy = tmp_path / "ws"
    shutil.copytree(ws, copy)
    plain = create_app(copy, token="t0k")
    with TestClient(plain, base_url="http://127.0.0.1") as c:
        items = c.get("/api/queues/label_issues?limit=500",
                      headers={"X-Assay-Token": "t0k"}).json()["items"]
    assert all("annotators" not in it for it in items)  # no annotations: nothing shown
    r0, r1 = items[0]["row_id"], items[1]["row_id"]
    ann = pd.DataFrame({"item": [r0, r0, r0, r1, r1, "r7", "not-a-row"],
                        "annotator": ["a", "b", "c", "a", "b", "c", "a"],
                        "label": ["cat", "cat", "dog", "dog", "dog", "cat", "cat"]})
    app = create_app(copy, token="t0k", annotations=ann)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        items = c.get("/api/queues/label_issues?limit=500",
                      headers={"X-Assay-Token": "t0k"}).json()["items"]
    by_row = {it["row_id"]: it for it in items}
    votes = by_row[r0]["annotators"]
    assert votes["votes"] == [{"annotator": "a", "label": "cat"},
                              {"annotator": "b", "label": "cat"},
                              {"annotator": "c", "label": "dog"}]
    post = votes["posterior"]
    assert post[0]["label"] == "cat" and post[0]["p"] > 0.5
    assert [p["p"] for p in post] == sorted((p["p"] for p in post), reverse=True)
    assert sum(p["p"] for p in post) == pytest.approx(1.0, abs=1e-3)  # two classes rated
    assert by_row[r1]["annotators"]["posterior"][0]["label"] == "dog"
    assert all("annotators" not in it for r, it in by_row.items() if r not in {r0, r1, "r7"})
    with pytest.raises(Exception, match="item, annotator and label"):
        create_app(copy, token="t0k", annotations=ann.rename(columns={"label": "y"}))


# --- duplicate sets side by side, keep-one (a batch of decisions), undo of a batch ------------

def dup_sets(client):
    """The duplicates queue: (items, sets by id), and the id of the set holding r3."""
    data = client.get("/api/queues/duplicates?limit=500").json()
    triple = next(g for g, s in data["sets"].items() if "r3" in s["members"])
    return data["items"], data["sets"], triple


def keep_one(client, kept, members, **extra):
    """A keep-one as the page sends it: keep ``kept``, the other members its duplicates."""
    body = {"queue": "duplicates", "reviewer": "ana",
            "decisions": [{"row_id": kept, "action": "keep"}] + [
                {"row_id": m, "action": "duplicate", "duplicate_of": kept}
                for m in members if m != kept], **extra}
    return client.post("/api/decisions", json=body)


def test_batch_membership_is_read_from_the_keys():
    from assay.app._db import batch_keys, batch_of
    from assay.app._server import _in_batch

    keys = pd.Series([*batch_keys("a", 2), *batch_keys("a:b", 1), None, "a"], dtype=object)
    assert keys.tolist()[:3] == ["batch:a:0", "batch:a:1", "batch:a:b:0"]
    assert [batch_of(k) for k in keys] == ["a", "a", "a:b", None, None]
    # batch "a:b" starts like batch "a": only the exact batch counts
    assert _in_batch(keys, "a").tolist() == [True, True, False, False, False]
    assert _in_batch(keys, "a:b").tolist() == [False, False, True, False, False]
    assert _in_batch(keys.iloc[3:], "a").tolist() == [False, False]


def test_a_duplicate_set_is_shown_whole_with_what_differs(client):
    items, sets, triple = dup_sets(client)
    s = sets[triple]
    # r3, c3 and d3 are one row three times: the three cards differ in the id column only
    assert sorted(s["members"]) == ["c3", "d3", "r3"]
    assert [c["row_id"] for c in s["cards"]] == s["members"]
    assert s["differs"] == ["uid"] and s["label_differs"] is False
    assert len({c["label"] for c in s["cards"]}) == 1
    assert {c["fields"]["uid"] for c in s["cards"]} == {"c3", "d3", "r3"}
    assert all(c["decision"] is None for c in s["cards"]) and s["decided"] is False
    # every item of a set points at it, and the queue lists sets one after the other
    for it in items:
        assert it["evidence"]["members"] == sets[str(it["evidence"]["duplicate_set"])]["members"]
    order = [it["evidence"]["duplicate_set"] for it in items]
    assert order == sorted(order, key=order.index)  # contiguous
    assert "neighbours" not in s["cards"][0]
    # other queues have no sets
    assert client.get("/api/queues/label_issues").json()["sets"] == {}


def test_keep_one_is_one_batch_and_the_export_keeps_one_row(client, audited):
    from assay.export import export_version

    _, sets, triple = dup_sets(client)
    members = sets[triple]["members"]
    res = keep_one(client, "c3", members, client_key="k1", note="the copy with the id we use")
    assert res.status_code == 200, res.text
    ids = res.json()["decision_ids"]
    assert res.json()["batch"] == "k1" and len(ids) == 3 and ids == list(range(ids[0], ids[0] + 3))
    dec = Workspace.open(client.ws).decisions()
    assert dec["action"].tolist() == ["keep", "duplicate", "duplicate"]
    assert dec["row_id"].tolist() == ["c3"] + [m for m in members if m != "c3"]
    assert dec["duplicate_of"].tolist()[1:] == ["c3", "c3"] and pd.isna(dec["duplicate_of"][0])
    assert dec["client_key"].tolist() == ["batch:k1:0", "batch:k1:1", "batch:k1:2"]
    assert (dec["reviewer"] == "ana").all() and (dec["queue"] == "duplicates").all()
    assert (dec["note"] == "the copy with the id we use").all()
    # a retry of the whole batch (same key) writes nothing and answers the same ids
    again = keep_one(client, "c3", members, client_key="k1")
    assert again.json()["decision_ids"] == ids and len(Workspace.open(client.ws).decisions()) == 3
    # the cards are marked, the set is decided, the progress counts its three rows
    s = dup_sets(client)[1][triple]
    assert s["decided"] is True and s["kept"] == ["c3"]
    by_row = {c["row_id"]: c["decision"] for c in s["cards"]}
    assert by_row["c3"]["action"] == "keep" and by_row["c3"]["batch"] == "k1"
    assert {by_row[m]["duplicate_of"] for m in ("r3", "d3")} == {"c3"}
    assert {by_row[m]["action"] for m in ("r3", "d3")} == {"duplicate"}
    progress = {q["name"]: q for q in client.get("/api/session").json()["queues"]}
    assert progress["duplicates"]["decided"] == 3
    listed = client.get("/api/decisions").json()["decisions"]
    assert [d["batch"] for d in listed] == ["k1"] * 3
    # the export drops the two duplicates: one row of the three is left
    _, data, _ = audited
    out = export_version(client.ws, client.ws.parent / "v2", source=data)
    assert out.counts["duplicates_removed"] == 2 and out.counts["kept"] == 1
    left = pd.read_csv(out.data_path)
    assert sorted(set(left["uid"]) & {"r3", "c3", "d3"}) == ["c3"]
    assert len(left) == len(pd.read_csv(data)) - 2


def test_undo_takes_back_a_whole_batch(client):
    from assay.workspace import resolve_decisions

    _, sets, triple = dup_sets(client)
    members = sets[triple]["members"]
    single = decide(client, "r10", "keep").json()["decision_id"]
    before = Workspace.open(client.ws).decisions()
    ids = keep_one(client, "d3", members).json()["decision_ids"]
    res = client.post("/api/undo", json={"reviewer": "ana", "client_key": "u9"})
    assert res.status_code == 200, res.text
    body = res.json()
    # one undo per decision of the batch, answered for the batch's first (the keep)
    assert body["undone"]["decision_id"] == ids[0] and body["undone"]["action"] == "keep"
    assert [u["decision_id"] for u in body["undone_batch"]] == ids
    after = Workspace.open(client.ws).decisions()
    undos = after[after["decision_id"] > ids[-1]]
    assert undos["action"].tolist() == ["undo"] * 3
    assert sorted(undos["row_id"]) == sorted(members)
    pd.testing.assert_frame_equal(resolve_decisions(after), resolve_decisions(before))
    listed = {d["decision_id"]: d for d in client.get("/api/decisions").json()["decisions"]}
    assert {listed[i]["undone_by"] for i in ids} == set(undos["decision_id"])
    # a retry of the undo answers the same and writes nothing
    assert client.post("/api/undo", json={"reviewer": "ana", "client_key": "u9"}).json() == body
    assert len(Workspace.open(client.ws).decisions()) == len(after)
    s = dup_sets(client)[1][triple]
    assert s["decided"] is False and all(c["decision"] is None for c in s["cards"])
    # the next undo takes back the single decision made before the batch
    nxt = client.post("/api/undo", json={"reviewer": "ana"}).json()
    assert nxt["undone"]["decision_id"] == single and nxt["undone_batch"] is None


def test_a_batch_is_stored_whole_or_not_at_all(client, monkeypatch):
    """A failure after the first decision of a batch is written rolls the batch back."""
    from assay.exceptions import StoreError
    from assay.workspace import _decisions_store as store

    _, sets, triple = dup_sets(client)
    members = sets[triple]["members"]
    real = store._insert
    calls = []

    def failing(con, row, key, created):
        calls.append(key)
        if len(calls) == 2:
            raise StoreError("the disk is full (simulated)")
        return real(con, row, key, created)

    monkeypatch.setattr(store, "_insert", failing)
    res = keep_one(client, "r3", members)
    assert res.status_code == 503 and "disk is full" in res.json()["error"]
    assert len(calls) == 2
    assert Workspace.open(client.ws).decisions().empty  # the first insert was rolled back
    monkeypatch.setattr(store, "_insert", real)
    assert keep_one(client, "r3", members).status_code == 200  # nothing was left half-open
    assert len(Workspace.open(client.ws).decisions()) == 3


@pytest.mark.parametrize(("change", "message"), [
    (lambda b: b.update(decisions=[]), "must be a non-empty list"),
    (lambda b: b.update(decisions="r3"), "must be a non-empty list"),
    (lambda b: b["decisions"].append("r1"), "must be an object"),
    (lambda b: b["decisions"][1].update(reviewer="bo"), "a batch has one reviewer"),
    (lambda b: b["decisions"][2].update(row_id="nope"), "Decision 3 of 3 in the batch: Row 'nope'"),
    (lambda b: b["decisions"][1].update(row_id="c3"), "is decided twice"),
    (lambda b: b["decisions"][1].update(action="burn"), "Decision 2 of 3 in the batch: Unknown"),
    (lambda b: b["decisions"][0].update(duplicate_of="r3"), "duplicate_of must be"),
    (lambda b: b.update(reviewer=""), "Field 'reviewer' is required"),
    (lambda b: b.update(queue="x"), "Unknown queue 'x'"),
    (lambda b: b.update(client_key=7), "Field 'client_key' must be"),
    (lambda b: b.update(decisions=[{"row_id": f"r{i}", "action": "keep"} for i in range(1001)]),
     "at most 1000 decisions; got 1001"),
])
def test_bad_batches_are_refused_clearly_and_store_nothing(client, change, message):
    body = {"queue": "duplicates", "reviewer": "ana",
            "decisions": [{"row_id": "c3", "action": "keep"},
                          {"row_id": "r3", "action": "duplicate", "duplicate_of": "c3"},
                          {"row_id": "d3", "action": "duplicate", "duplicate_of": "c3"}]}
    change(body)
    res = client.post("/api/decisions", json=body)
    assert res.status_code == 422 and message in res.json()["error"], res.text
    assert Workspace.open(client.ws).decisions().empty


def test_batch_keys_are_reserved_and_expert_batches_need_the_expert_token(client):
    row = client.get("/api/queues/label_issues").json()["items"][0]["row_id"]
    res = decide(client, row, "keep", client_key="batch:x:0")
    assert res.status_code == 422 and "may not start with 'batch:'" in res.json()["error"]
    res = client.post("/api/undo", json={"reviewer": "ana", "client_key": "batch:x:0"})
    assert res.status_code == 422 and "may not start with 'batch:'" in res.json()["error"]
    members = dup_sets(client)[1][dup_sets(client)[2]]["members"]
    res = keep_one(client, "r3", members, stage="expert")
    assert res.status_code == 403 and "expert token" in res.json()["error"]
    assert Workspace.open(client.ws).decisions().empty
    res = client.post("/api/decisions", headers={"X-Assay-Token": "exp3rt"}, json={
        "queue": "duplicates", "reviewer": "eve", "stage": "expert",
        "decisions": [{"row_id": "r3", "action": "keep"},
                      {"row_id": "c3", "action": "duplicate", "duplicate_of": "r3"}]})
    assert res.status_code == 200, res.text
    assert Workspace.open(client.ws).decisions()["stage"].tolist() == ["expert", "expert"]


# --- issue 18: a table whose rows are images shows them as thumbnails --------------------------

def digits_like(n=90, seed=5):
    """An 8 x 8 grey image per row in columns pixel_0 ... pixel_63 (values 0 to 16, both
    present), three shapes as classes, every 15th label flipped; row 4 copied twice (d4 with one
    pixel changed), row 9 once."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    proto = np.zeros((3, 8, 8))
    proto[0, 1:7, 3:5] = 16  # a bar
    proto[1, 3:5, 1:7] = 16  # a dash
    proto[2, 1:7, 1:7] = 16  # a ring
    proto[2, 2:6, 2:6] = 0
    speckle = rng.integers(0, 5, (n, 8, 8)) * (rng.random((n, 8, 8)) < 0.3)
    img = np.clip(proto[y] + speckle, 0, 16).astype(int)
    frame = pd.DataFrame(img.reshape(n, 64), columns=[f"pixel_{i}" for i in range(64)])
    names = np.array(["bar", "dash", "ring"])
    labels = names[y].copy()
    labels[::15] = names[(y[::15] + 1) % 3]
    frame = frame.assign(label=labels, uid=[f"r{i}" for i in range(n)])
    copies = frame.iloc[[4, 4, 9]].assign(uid=["c4", "d4", "c9"]).reset_index(drop=True)
    copies.loc[1, "pixel_0"] = (copies.loc[1, "pixel_0"] + 1) % 17
    return pd.concat([frame, copies], ignore_index=True)


@pytest.fixture(scope="module")
def pixel_client(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pixels")
    frame = digits_like()
    frame.to_csv(tmp / "digits.csv", index=False)
    assert main(["audit", str(tmp / "digits.csv"), "--label", "label", "--id", "uid",
                 "-w", str(tmp / "ws"), "--out", str(tmp / "out"), "--json"]) == 0
    with TestClient(create_app(tmp / "ws", token="x"), base_url="http://127.0.0.1",
                    headers={"X-Assay-Token": "x"}) as c:
        c.frame = frame
        yield c


def test_a_pixel_row_is_an_image_not_64_fields(pixel_client):
    items = pixel_client.get("/api/queues/label_issues?limit=500").json()["items"]
    assert items
    for it in items:
        assert it["pixels"] == {"height": 8, "width": 8}
        assert it["fields"] == {"label": it["given_label"], "uid": it["row_id"]}  # no pixel_*
        assert "label_score" in it["scores"]
        assert all(set(n) >= {"row", "row_id"} for n in it["neighbours"])
        assert [pixel_client.frame["uid"][n["row"]] for n in it["neighbours"]] == [
            n["row_id"] for n in it["neighbours"]]


def test_the_thumbnail_is_the_row_drawn_grey(pixel_client):
    from io import BytesIO

    Image = pytest.importorskip("PIL.Image")
    frame = pixel_client.frame
    pixels = frame[[f"pixel_{i}" for i in range(64)]].to_numpy(float)
    assert pixels.min() == 0 and pixels.max() == 16  # the table's range: 0 black, 16 white
    for pos in (0, 15, 4, len(frame) - 1):
        res = pixel_client.get(f"/api/thumbnails/{pos}.png")
        assert res.status_code == 200 and res.headers["content-type"] == "image/png"
        assert "no-store" in res.headers["cache-control"]
        img = Image.open(BytesIO(res.content))
        assert img.size == (8, 8) and img.mode == "L"
        # row-major: pixel_{8 r + c} is at row r, column c; v -> round(v / 16 * 255)
        want = np.round(pixels[pos].reshape(8, 8) / 16 * 255).astype(np.uint8)
        np.testing.assert_array_equal(np.asarray(img), want)


@pytest.mark.parametrize("pos", ["93", "1000", "-1", "abc", "1e3", "0x1", "²", " 1", "9" * 40])
def test_a_thumbnail_of_no_row_is_404(pixel_client, pos):
    res = pixel_client.get(f"/api/thumbnails/{pos}.png")
    assert res.status_code == 404
    assert "No row at position" in res.json()["error"] and "from 0 to 92" in res.json()["error"]


def test_no_thumbnail_when_the_rows_are_not_images(client):
    item = client.get("/api/queues/label_issues").json()["items"][0]
    assert item["pixels"] is None and {"a", "b", "c"} <= set(item["fields"])
    res = client.get(f"/api/thumbnails/{item['row']}.png")
    assert res.status_code == 404 and "not images stored as pixel columns" in res.json()["error"]


def test_duplicate_cards_carry_their_images_and_how_many_pixels_differ(pixel_client):
    sets = pixel_client.get("/api/queues/duplicates?limit=500").json()["sets"]
    frame = pixel_client.frame
    cols = [f"pixel_{i}" for i in range(64)]
    by_uid = dict(zip(frame["uid"], range(len(frame)), strict=True))
    assert any({"r9", "c9"} <= set(s["members"]) for s in sets.values())
    assert any({"r4", "c4", "d4"} <= set(s["members"]) for s in sets.values())  # d4: 1 pixel off
    for s in sets.values():
        for card in s["cards"]:
            assert card["pixels"] == {"height": 8, "width": 8}
            assert card["row"] == by_uid[card["row_id"]]
            assert set(card["fields"]) == {"label", "uid"}
        # brute force: the pixel columns whose values are not all equal across the members
        values = frame.iloc[[c["row"] for c in s["cards"]]][cols].to_numpy()
        assert s["pixels_differ"] == int((values != values[0]).any(axis=0).sum())
        assert s["n_pixels"] == 64
        assert s["pixels_differ"] == (1 if "d4" in s["members"] else 0)
