"""The review app as users run it: `assay review` in a subprocess, Debian's chromium, kill -9.

Never downloads a browser: Playwright drives /usr/bin/chromium, and the tests skip with the
reason when it is missing. The server is the real CLI command on 127.0.0.1.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from assay.cli.main import main  # noqa: E402
from assay.workspace import Workspace  # noqa: E402

EVIL = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reviewapp")
    rng = np.random.default_rng(3)
    n = 120
    y = rng.integers(0, 3, n)
    x = rng.normal(size=(n, 3)) + y[:, None] * 3.0
    names = np.array(["cat", "dog", EVIL], dtype=object)
    labels = names[y].copy()
    labels[::12] = names[(y[::12] + 1) % 3]
    frame = pd.DataFrame(x, columns=["a", "b", "c"]).assign(
        label=labels, uid=[f"r{i}" for i in range(n)], note=[f"{EVIL} row {i}" for i in range(n)])
    data = tmp / "data.csv"
    frame.to_csv(data, index=False)
    ws = tmp / "ws"
    assert main(["audit", str(data), "--label", "label", "--id", "uid", "--text", "note",
                 "-w", str(ws), "--out", str(tmp / "out"), "--json"]) == 0
    return ws


class Server:
    """`assay review` in a subprocess; ``url`` is the address it printed (with the token)."""

    def __init__(self, ws: Path, *extra: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "assay.cli.main", "review", "-w", str(ws), "--no-browser",
             "--port", "0", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "COLUMNS": "400"},
        )
        deadline = time.time() + 60
        self.url = None
        lines = []
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            m = re.search(r"(http://127\.0\.0\.1:\d+/\?token=\S+)", line)
            if m:
                self.url = m.group(1)
                break
        if self.url is None:
            self.proc.kill()
            raise AssertionError("server did not start: " + "".join(lines))
        self.base = self.url.split("/?")[0]
        self.token = self.url.split("token=")[1]
        for _ in range(100):  # the URL is printed just before uvicorn starts serving
            try:
                httpx.get(self.base + "/api/session", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self.proc.send_signal(sig)
        self.proc.wait(timeout=30)
        self.proc.stdout.close()




@pytest.mark.browser
@pytest.mark.slow
def test_keyboard_review_survives_a_restart(workspace, browser, tmp_path):
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(workspace, ws)
    server = Server(ws)
    try:
        page = browser.new_page()
        external = []
        page.on("request", lambda r: external.append(r.url)
                if not r.url.startswith(server.base) else None)
        page.goto(server.url)
        page.wait_for_selector("#item[data-row-id]")
        first_row = page.get_attribute("#item", "data-row-id")
        page.fill("#reviewer", "ana")
        page.keyboard.press("Escape")
        expected = []
        for i, (key, action) in enumerate([("k", "keep"), ("d", "remove"), ("2", "relabel"),
                                           ("s", "defer"), ("r", "relabel")]):
            row = page.get_attribute("#item", "data-row-id")
            page.keyboard.press(key)
            page.wait_for_function("n => document.body.dataset.saved === String(n)", arg=i + 1)
            expected.append((row, action))
        assert len({row for row, _ in expected}) == 5  # each key moved on to the next item
        assert page.evaluate("window.__xss") is None  # hostile labels and text stayed text
        assert EVIL in page.inner_text("#classes")
        assert external == []
        dec = Workspace.open(ws).decisions()
        assert list(zip(dec["row_id"], dec["action"], strict=True)) == expected
        classes = httpx.get(server.base + "/api/session",
                            headers={"X-Assay-Token": server.token}).json()["classes"]
        assert dec.loc[2, "new_label"] == classes[1]  # key 2: the second class
        assert (dec["reviewer"] == "ana").all()
        page.close()
    finally:
        server.stop()

    again = Server(ws)  # a new server, a new token: the decisions are still there
    try:
        page = browser.new_page()
        page.goto(again.url)
        page.wait_for_selector("#item[data-row-id]")
        assert page.get_attribute("#item", "data-row-id") == first_row
        assert "keep by ana" in page.inner_text("#decided")
        # the label spot check panel: nothing reviewed in its queue yet, the audit's estimate
        page.wait_for_function(
            "() => document.getElementById('spotcheck').innerText.includes('reviewed')")
        panel = page.inner_text("#spotcheck")
        assert "0 / " in panel and "random flagged rows reviewed" in panel
        assert "audit's estimate" in panel
        spot = httpx.get(again.base + "/api/spot_check",
                         headers={"X-Assay-Token": again.token}).json()
        assert ("plausibly" in panel) is bool(spot["estimates_reliable"])
        listed = httpx.get(again.base + "/api/decisions",
                           headers={"X-Assay-Token": again.token}).json()["decisions"]
        assert [d["action"] for d in listed] == [a for _, a in expected]
        page.close()
    finally:
        again.stop()


@pytest.mark.slow
def test_kill_9_mid_burst_loses_no_acknowledged_decision(workspace, tmp_path):
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(workspace, ws)
    server = Server(ws)
    rows = [it["row_id"] for it in httpx.get(
        server.base + "/api/queues/label_issues?limit=500",
        headers={"X-Assay-Token": server.token}).json()["items"]]
    bodies = [{"row_id": rows[i % len(rows)], "queue": "label_issues", "action": "keep",
               "reviewer": f"r{i}", "client_key": f"burst-{i}"} for i in range(60)]
    acked: dict[str, int] = {}

    def burst() -> None:
        with httpx.Client(headers={"X-Assay-Token": server.token}, timeout=10) as c:
            for body in bodies:
                try:
                    res = c.post(server.base + "/api/decisions", json=body)
                except httpx.TransportError:
                    return
                if res.status_code == 200:
                    acked[body["client_key"]] = res.json()["decision_id"]

    t = threading.Thread(target=burst)
    t.start()
    while len(acked) < 15 and t.is_alive():
        time.sleep(0.01)
    server.stop(signal.SIGKILL)
    t.join(timeout=30)
    assert 15 <= len(acked) < len(bodies)

    dec = Workspace.open(ws).decisions()
    stored = dict(zip(dec["client_key"], dec["decision_id"], strict=True))
    assert all(stored.get(k) == v for k, v in acked.items())  # every acknowledged one is there
    assert dec["client_key"].is_unique

    again = Server(ws)  # the client retries everything with the same keys: nothing doubles
    try:
        with httpx.Client(headers={"X-Assay-Token": again.token}) as c:
            for body in bodies:
                assert c.post(again.base + "/api/decisions", json=body).status_code == 200
    finally:
        again.stop()
    dec = Workspace.open(ws).decisions()
    assert len(dec) == len(bodies) and dec["client_key"].is_unique


@pytest.mark.browser
@pytest.mark.slow
def test_undo_votes_and_spot_check_header(workspace, browser, tmp_path):
    """`z` and the undo button bring the item back; the annotators' votes are on the card; the
    header always shows the spot check's progress and measured precision."""
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(workspace, ws)
    rng = np.random.default_rng(0)
    classes = ["cat", "dog", EVIL]
    ann = pd.DataFrame([{"item": f"r{i}", "annotator": who, "label": classes[rng.integers(0, 3)]}
                        for i in range(120) for who in ("alice", "bob", "carol")])
    ann.to_csv(tmp_path / "ann.csv", index=False)
    server = Server(ws, "--annotations", str(tmp_path / "ann.csv"))
    try:
        page = browser.new_page()
        page.goto(server.url)
        page.wait_for_selector("#item[data-row-id]")
        page.fill("#reviewer", "ana")
        page.keyboard.press("Escape")
        # votes panel: every annotator's label and the posterior of the top classes
        votes = page.inner_text("#votes")
        assert all(who in votes for who in ("alice", "bob", "carol"))
        assert "Dawid-Skene posterior" in votes
        assert page.evaluate("window.__xss") is None
        # the header: spot check progress, before any decision
        page.wait_for_function(
            "() => document.getElementById('spotbar').innerText.includes('reviewed')")
        assert re.search(r"spot check 0/\d+ reviewed", page.inner_text("#spotbar"))

        first = page.get_attribute("#item", "data-row-id")
        page.keyboard.press("k")
        page.wait_for_function("() => document.body.dataset.saved === '1'")
        assert page.get_attribute("#item", "data-row-id") != first
        page.keyboard.press("z")  # the key: back to the undone item, undecided again
        page.wait_for_function("() => document.body.dataset.saved === '2'")
        page.wait_for_function(f"() => document.getElementById('item').dataset.rowId === {first!r}")
        assert page.query_selector("#decided") is None

        # the spot-check queue: a drop shows in the header, the button takes it back
        page.click("nav button[data-queue='label_spot_check']")
        page.wait_for_function("() => document.querySelector('nav button.active')"
                               ".dataset.queue === 'label_spot_check'")
        sampled = page.get_attribute("#item", "data-row-id")
        page.keyboard.press("d")
        page.wait_for_function("() => document.body.dataset.saved === '3'")
        page.wait_for_function(
            "() => document.getElementById('spotbar').innerText.includes('1/')")
        assert re.search(r"spot check 1/\d+ reviewed · precision 100 % \(95 %: \d+-100 %\)",
                         page.inner_text("#spotbar"))
        page.click("#undo")
        page.wait_for_function("() => document.body.dataset.saved === '4'")
        page.wait_for_function(
            f"() => document.getElementById('item').dataset.rowId === {sampled!r}")
        page.wait_for_function(
            "() => document.getElementById('spotbar').innerText.includes('0/')")
        page.keyboard.press("z")  # nothing left of ana's: a clear message, nothing recorded
        page.wait_for_function(
            "() => document.getElementById('status').innerText.includes('Nothing to undo')")
        page.close()
    finally:
        server.stop()
    dec = Workspace.open(ws).decisions()
    assert dec["action"].tolist() == ["keep", "undo", "remove", "undo"]  # both kept in history
    assert dec["row_id"].tolist() == [first, first, sampled, sampled]


@pytest.fixture(scope="module")
def dup_workspace(tmp_path_factory):
    """An audited table with two duplicate sets: row 5 three times (one copy relabelled),
    row 7 twice."""
    tmp = tmp_path_factory.mktemp("reviewdups")
    rng = np.random.default_rng(4)
    n = 90
    y = rng.integers(0, 3, n)
    x = rng.normal(size=(n, 3)) + y[:, None] * 3.0
    names = np.array(["cat", "dog", EVIL], dtype=object)
    frame = pd.DataFrame(x, columns=["a", "b", "c"]).assign(
        label=names[y], uid=[f"r{i}" for i in range(n)])
    copies = frame.iloc[[5, 5, 7]].assign(uid=["c5", "d5", "c7"])
    copies.loc[copies["uid"] == "d5", "label"] = names[(y[5] + 1) % 3]
    frame = pd.concat([frame, copies], ignore_index=True)
    data = tmp / "data.csv"
    frame.to_csv(data, index=False)
    ws = tmp / "ws"
    assert main(["audit", str(data), "--label", "label", "--id", "uid", "-w", str(ws),
                 "--out", str(tmp / "out"), "--json"]) == 0
    return ws


@pytest.mark.browser
@pytest.mark.slow
def test_duplicate_set_side_by_side_keep_one_undo_and_export(dup_workspace, browser, tmp_path):
    """The duplicates queue shows a set's members as cards with what differs marked; a click
    keeps one (the others recorded as its duplicates, one batch) and moves past the set; `z`
    takes the whole set back; `o` keeps the focused card; the export has one row of the set."""
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(dup_workspace, ws)
    server = Server(ws)
    auth = {"X-Assay-Token": server.token}
    try:
        data = httpx.get(server.base + "/api/queues/duplicates", headers=auth).json()
        sets = data["sets"]
        assert sorted(len(s["members"]) for s in sets.values()) == [2, 3]
        page = browser.new_page()
        page.goto(server.url)
        page.wait_for_selector("#item[data-row-id]")
        page.fill("#reviewer", "ana")
        page.keyboard.press("Escape")
        page.click("nav button[data-queue='duplicates']")
        page.wait_for_selector("#dupset")
        first = page.get_attribute("#item", "data-row-id")
        group = next(it["evidence"]["duplicate_set"] for it in data["items"]
                     if it["row_id"] == first)
        members = sets[str(group)]["members"]
        # every member side by side, the current one focused, with its id and label
        cards = page.query_selector_all("#dupset .card")
        assert [c.get_attribute("data-row-id") for c in cards] == members
        assert page.get_attribute("#dupset .card.focused", "data-row-id") == first
        for card, row in zip(cards, members, strict=True):
            assert f"row {row}" in card.inner_text() and "label:" in card.inner_text()
        # what differs between the members is marked: the id column (and the relabelled copy)
        marked = [t.strip() for t in page.locator("#dupset tr.differs td:first-child")
                  .all_inner_texts()]
        differs = {"uid", "label"} if "d5" in members else {"uid"}
        assert set(marked) == differs and len(marked) == len(members) * len(differs)
        assert page.locator("#dupset .card-label.differs").count() == (
            3 if "d5" in members else 0)
        assert page.evaluate("window.__xss") is None

        kept = members[1]
        page.click(f"#dupset .card[data-row-id='{kept}'] button.keep-one")
        page.wait_for_function("() => document.body.dataset.saved === '1'")
        now = page.get_attribute("#item", "data-row-id")
        assert now not in members  # past the decided set, on the other one
        assert page.locator("#dupset .card").count() == 5 - len(members)
        dec = Workspace.open(ws).decisions()
        assert dec["row_id"].tolist() == [kept] + [m for m in members if m != kept]
        assert dec["action"].tolist() == ["keep"] + ["duplicate"] * (len(members) - 1)
        assert dec["duplicate_of"].tolist()[1:] == [kept] * (len(members) - 1)
        assert dec["client_key"].str.startswith("batch:").all()
        # back on the decided set: every member is marked
        page.keyboard.press("ArrowLeft")
        page.wait_for_function("m => m.includes(document.getElementById('item').dataset.rowId)",
                               arg=members)
        assert page.get_attribute("#dupset .card.kept", "data-row-id") == kept
        assert page.locator("#dupset .card.dropped").count() == len(members) - 1
        assert f"row {kept} kept" in page.inner_text("#dupset h3")
        assert f"duplicate of row {kept} by ana" in page.inner_text(
            f"#dupset .card[data-row-id='{members[0] if kept != members[0] else members[2]}']")

        page.keyboard.press("z")  # one undo takes the whole set back
        page.wait_for_function("() => document.body.dataset.saved === '2'")
        page.wait_for_function(f"() => document.getElementById('item').dataset.rowId === {kept!r}")
        assert page.locator("#dupset .card.kept, #dupset .card.dropped").count() == 0
        assert f"Undid {len(members)} decisions" in page.inner_text("#status")
        dec = Workspace.open(ws).decisions()
        assert dec["action"].tolist()[-len(members):] == ["undo"] * len(members)

        page.keyboard.press("o")  # keep the focused card, by key this time
        page.wait_for_function("() => document.body.dataset.saved === '3'")
        assert page.get_attribute("#item", "data-row-id") not in members
        page.close()
    finally:
        server.stop()
    out = tmp_path / "v2"
    assert main(["export", "-w", str(ws), "-o", str(out)]) == 0
    left = pd.read_csv(out / "data.csv")
    assert sorted(set(left["uid"]) & set(members)) == [kept]  # one row of the set survives
    assert len(left) == 93 - (len(members) - 1)


@pytest.fixture(scope="module")
def pixel_workspace(tmp_path_factory):
    """Digits-like rows: an 8 x 8 grey image in pixel_0 ... pixel_63 (0 to 16), three shapes as
    classes with every 15th label flipped; row 4 copied twice, row 9 once (duplicate sets)."""
    tmp = tmp_path_factory.mktemp("reviewpixels")
    rng = np.random.default_rng(5)
    n = 90
    y = rng.integers(0, 3, n)
    proto = np.zeros((3, 8, 8))
    proto[0, 1:7, 3:5] = proto[1, 3:5, 1:7] = proto[2, 1:7, 1:7] = 16
    proto[2, 2:6, 2:6] = 0
    img = np.clip(proto[y] + rng.integers(0, 5, (n, 8, 8)) * (rng.random((n, 8, 8)) < 0.3), 0, 16)
    names = np.array(["bar", "dash", "ring"])
    labels = names[y].copy()
    labels[::15] = names[(y[::15] + 1) % 3]
    frame = pd.DataFrame(img.reshape(n, 64).astype(int),
                         columns=[f"pixel_{i}" for i in range(64)]).assign(
        label=labels, uid=[f"r{i}" for i in range(n)])
    frame = pd.concat([frame, frame.iloc[[4, 4, 9]].assign(uid=["c4", "d4", "c9"])],
                      ignore_index=True)
    frame.to_csv(tmp / "digits.csv", index=False)
    ws = tmp / "ws"
    assert main(["audit", str(tmp / "digits.csv"), "--label", "label", "--id", "uid",
                 "-w", str(ws), "--out", str(tmp / "out"), "--json"]) == 0
    return ws


#: Natural and drawn size of every thumbnail image in an element, and whether it is pixelated.
_THUMBS = """sel => [...document.querySelectorAll(sel + ' img.thumb')].map(i => ({
    natural: [i.naturalWidth, i.naturalHeight], shown: [i.width, i.height],
    rendering: getComputedStyle(i).imageRendering, complete: i.complete}))"""


@pytest.mark.browser
@pytest.mark.slow
def test_pixel_rows_are_drawn_as_thumbnails(pixel_workspace, browser):
    """A digits-like table: the item is its 8 x 8 image scaled to 128 px (nearest neighbour), not
    64 pixel fields; the nearest rows and a duplicate set's cards show small images too."""
    server = Server(pixel_workspace)
    try:
        page = browser.new_page()
        external = []
        page.on("request", lambda r: external.append(r.url)  # blob: the fetched thumbnails
                if not r.url.startswith((server.base, "blob:" + server.base)) else None)
        page.goto(server.url)
        page.wait_for_selector("#item[data-row-id]")
        # the item's own image, then five neighbours': all loaded
        page.wait_for_function(
            "() => { const t = [...document.querySelectorAll('#item img.thumb')];"
            " return t.length === 6 && t.every(i => i.complete && i.naturalWidth > 0); }")
        item, *near = page.evaluate(_THUMBS, "#item")
        assert item["natural"] == [8, 8] and item["shown"] == [128, 128]
        assert item["rendering"] == "pixelated"
        assert [t["natural"] for t in near] == [[8, 8]] * 5
        assert [t["shown"] for t in near] == [[32, 32]] * 5
        assert page.locator("#item .neighbours img.thumb").count() == 5
        text = page.inner_text("#item")
        assert "pixel_0" not in text and "pixel_63" not in text  # drawn, not listed
        assert "label_score" in text and "uid" in text  # the other fields stay

        page.click("nav button[data-queue='duplicates']")
        page.wait_for_selector("#dupset")
        page.wait_for_function(
            "() => { const c = document.querySelectorAll('#dupset .card');"
            " const t = [...document.querySelectorAll('#dupset .card img.thumb')];"
            " return c.length > 1 && t.length === c.length"
            "   && t.every(i => i.complete && i.naturalWidth > 0); }")
        cards = page.evaluate(_THUMBS, "#dupset .card")
        assert all(c["natural"] == [8, 8] and c["shown"] == [64, 64] for c in cards)
        assert "pixels" in page.inner_text("#dupset")  # identical images, or how many differ
        assert "pixel_0" not in page.inner_text("#dupset")
        assert external == []
        page.close()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def regression_workspace(tmp_path_factory):
    """scikit-learn's diabetes with 20 targets moved up by 250 (a numeric target)."""
    from sklearn.datasets import load_diabetes

    tmp = tmp_path_factory.mktemp("reviewregression")
    frame = load_diabetes(as_frame=True).frame
    rng = np.random.default_rng(0)
    frame.loc[rng.choice(len(frame), 20, replace=False), "target"] += 250
    frame.to_csv(tmp / "diabetes.csv", index=False)
    ws = tmp / "ws"
    assert main(["audit", str(tmp / "diabetes.csv"), "--label", "target", "--checks",
                 "regression_labels", "-w", str(ws), "--out", str(tmp / "out"), "--json"]) == 0
    return ws, tmp / "out"


@pytest.mark.browser
@pytest.mark.slow
def test_regression_review_takes_or_types_a_number(regression_workspace, browser, tmp_path):
    """A numeric target: the report lists the flagged values with their suggestion; in the app,
    no class list; the item shows the suggestion with its interval and the neighbours' values; r
    takes the suggestion, l + a typed number + Enter records that number, and a word typed
    instead is refused with the server's one-line reason."""
    import json
    import shutil

    source, out = regression_workspace
    audit = json.loads((out / "audit.json").read_text())
    check = next(c for c in audit["checks"] if c["name"] == "regression_labels")
    page = browser.new_page()
    page.goto((out / "report.html").resolve().as_uri())
    section = page.locator("#check-regression-labels")
    assert "values flagged" in section.inner_text().lower()
    cells = section.locator("table").last.locator("tbody tr").count()
    assert cells == check["summary"]["n_flagged"] > 0  # one row per flagged value
    assert "suggested" in section.inner_text().lower()
    assert "interval" in section.inner_text().lower()
    page.close()

    ws = tmp_path / "ws"
    shutil.copytree(source, ws)
    server = Server(ws)
    try:
        page = browser.new_page()
        page.goto(server.url)
        page.wait_for_selector("#item[data-row-id]")
        assert page.evaluate("document.getElementById('relabel').tagName") == "INPUT"
        assert page.is_hidden("#classes") and page.is_hidden("#key-digits")
        assert "new value" in page.inner_text("aside")
        text = page.inner_text("#item")
        assert "95 % interval" in text and "neighbours' median" in text
        suggested = page.inner_text("#item .suggested")
        assert re.fullmatch(r"-?\d+", suggested)  # whole numbers in, a whole number out
        assert page.input_value("#relabel") == suggested  # the box starts at the suggestion
        nearest = page.locator("#item .neighbours td").all_inner_texts()
        assert any(re.fullmatch(r"\d+", t) for t in nearest)  # the neighbours' values
        page.fill("#reviewer", "ana")
        page.keyboard.press("Escape")
        first = page.get_attribute("#item", "data-row-id")
        page.keyboard.press("r")
        page.wait_for_function("() => document.body.dataset.saved === '1'")
        second = page.get_attribute("#item", "data-row-id")
        assert second != first
        page.keyboard.press("l")
        page.fill("#relabel", "cheap")
        page.keyboard.press("Enter")
        page.wait_for_function(
            "() => document.getElementById('status').innerText.includes('finite number')")
        page.keyboard.press("l")
        page.fill("#relabel", "123.5")
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.body.dataset.saved === '2'")
        dec = Workspace.open(ws).decisions()
        assert dec["row_id"].tolist() == [first, second]
        assert dec["new_label"].tolist() == [suggested, "123.5"]
        page.close()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def multilabel_workspace(tmp_path_factory):
    """400 digits with tags that follow from the digit ("even|loop"), 30 with a tag flipped."""
    from sklearn.datasets import load_digits

    tmp = tmp_path_factory.mktemp("reviewmultilabel")
    x, digit = load_digits(return_X_y=True)
    x, digit = x[:400], digit[:400]
    tags = ("even", "prime", "ge5", "loop", "straight")
    y = np.stack([digit % 2 == 0, np.isin(digit, [2, 3, 5, 7]), digit >= 5,
                  np.isin(digit, [0, 6, 8, 9]), np.isin(digit, [1, 4, 7])], axis=1)
    rng = np.random.default_rng(0)
    wrong = rng.choice(len(y), 30, replace=False)
    y[wrong, rng.integers(0, 5, wrong.size)] ^= True
    frame = pd.DataFrame(x.astype(int), columns=[f"pixel_{i}" for i in range(64)]).assign(
        tags=["|".join(t for t, on in zip(tags, r, strict=True) if on) for r in y])
    frame.to_csv(tmp / "tags.csv", index=False)
    ws = tmp / "ws"
    assert main(["audit", str(tmp / "tags.csv"), "--label", "tags", "--checks",
                 "multilabel_labels", "-w", str(ws), "--out", str(tmp / "out"), "--json"]) == 0
    return ws


@pytest.mark.browser
@pytest.mark.slow
def test_multilabel_review_edits_a_label_set(multilabel_workspace, browser, tmp_path):
    """Label sets: the item says which classes to add or remove; r takes the suggested set; a
    digit key adds or removes class n in the box and Enter records the edited set."""
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(multilabel_workspace, ws)
    server = Server(ws)
    try:
        page = browser.new_page()
        page.goto(server.url)
        page.wait_for_selector("#item[data-row-id]")
        assert page.evaluate("document.getElementById('relabel').tagName") == "INPUT"
        assert page.inner_text("#classes").split() == ["even", "ge5", "loop", "prime",
                                                       "straight"]
        assert "new label set" in page.inner_text("aside")
        change = page.inner_text("#item .setchange")
        assert change.startswith("add:") or "remove:" in change
        suggested = page.inner_text("#item .suggested")
        assert page.input_value("#relabel") == suggested
        page.fill("#reviewer", "ana")
        page.keyboard.press("Escape")
        first = page.get_attribute("#item", "data-row-id")
        page.keyboard.press("r")
        page.wait_for_function("() => document.body.dataset.saved === '1'")
        second = page.get_attribute("#item", "data-row-id")
        box = page.input_value("#relabel")
        had_even = "even" in [t.strip() for t in box.split(",")]
        page.keyboard.press("1")  # toggles "even" in the box, records nothing yet
        toggled = page.input_value("#relabel")
        assert ("even" in [t.strip() for t in toggled.split(",")]) != had_even
        assert page.evaluate("document.body.dataset.saved") == "1"
        page.focus("#relabel")
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.body.dataset.saved === '2'")
        dec = Workspace.open(ws).decisions()
        assert dec["row_id"].tolist() == [first, second]
        assert dec["new_label"].tolist() == [suggested, toggled]
        page.close()
    finally:
        server.stop()
