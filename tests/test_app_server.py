"""The review server as users run it (`assay review --expert` in a subprocess on 127.0.0.1):
concurrent reviewers lose and double no decision; odd tokens get 401 over real HTTP, never a
500 or a traceback; the expert URL alone records expert decisions; oversized bodies get 413.
In Debian's chromium (skipped without it): the page moves the token out of the address bar and
sends it as a header; the expert stage works from the expert URL only; images show from blob:
URLs under the Content-Security-Policy.

Timing is not asserted here: ``benchmarks/review_throughput.py`` measures decisions/s.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("fastapi")

from assay.cli.main import main  # noqa: E402
from assay.workspace import Workspace  # noqa: E402


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reviewserver")
    rng = np.random.default_rng(5)
    n = 150
    y = rng.integers(0, 3, n)
    x = rng.normal(size=(n, 3)) + y[:, None] * 3.0
    names = np.array(["cat", "dog", "owl"], dtype=object)
    labels = names[y].copy()
    labels[::10] = names[(y[::10] + 1) % 3]
    frame = pd.DataFrame(x, columns=["a", "b", "c"]).assign(
        label=labels, uid=[f"r{i}" for i in range(n)])
    data = tmp / "data.csv"
    frame.to_csv(data, index=False)
    ws = tmp / "ws"
    assert main(["audit", str(data), "--label", "label", "--id", "uid", "-w", str(ws),
                 "--out", str(tmp / "out"), "--json"]) == 0
    return ws


class Server:
    """`assay review [--expert]` in a subprocess; its whole output is kept in ``output``."""

    def __init__(self, ws: Path, *, expert: bool = True) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "assay.cli.main", "review", "-w", str(ws), "--no-browser",
             "--port", "0", *(["--expert"] if expert else [])],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "COLUMNS": "400"})
        self.lines: list[str] = []
        found: dict[str, str] = {}
        deadline = time.time() + 60
        while time.time() < deadline and len(found) < 1 + expert:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            m = re.search(r"http://127\.0\.0\.1:(\d+)/\?token=(\S+)", line)
            if m:
                found["expert" if "Expert" in line else "reviewer"] = m.group(2)
                self.port = int(m.group(1))
        if len(found) < 1 + expert:
            self.proc.kill()
            raise AssertionError("server did not start: " + "".join(self.lines))
        self.token, self.expert_token = found["reviewer"], found.get("expert")
        self.base = f"http://127.0.0.1:{self.port}"
        self._drain = threading.Thread(target=self._read_rest, daemon=True)
        self._drain.start()
        for _ in range(200):  # the URL is printed just before uvicorn starts serving
            try:
                self.request("GET", "/api/session")
                return
            except OSError:
                time.sleep(0.05)

    def _read_rest(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def request(self, method: str, path: str, body: dict | None = None,
                token: str | None = None,
                con: http.client.HTTPConnection | None = None) -> tuple[int, dict]:
        own = con is None
        con = con or http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {"X-Assay-Token": token or self.token, "Content-Type": "application/json"}
        try:
            con.request(method, path, body=None if body is None else json.dumps(body).encode(),
                        headers=headers)
            res = con.getresponse()
            return res.status, json.loads(res.read() or b"{}")
        finally:
            if own:
                con.close()

    def raw(self, request: bytes) -> tuple[int, bytes]:
        """Send bytes as they are (headers no client library would send); status and body."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as sock:
            sock.sendall(request)
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        return int(head.split(b" ", 2)[1]), body

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self._drain.join(timeout=10)


@pytest.fixture
def server(audited, tmp_path):
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(audited, ws)
    srv = Server(ws)
    srv.ws = ws
    try:
        yield srv
    finally:
        srv.stop()


def test_concurrent_reviewers_lose_and_double_nothing(server):
    """400 decisions from 20 threads, each with its own key: every one acknowledged is stored
    once with the id it was acknowledged with; resending them all (retries) adds nothing."""
    status, queue = server.request("GET", "/api/queues/label_issues?limit=500")
    assert status == 200
    rows = [it["row_id"] for it in queue["items"]]
    n_threads, n = 20, 400
    bodies = [{"row_id": rows[i % len(rows)], "queue": "label_issues",
               "action": ("keep", "drop", "skip")[i % 3], "reviewer": f"rev{i % n_threads}",
               "note": f"decision {i}", "client_key": f"key-{i}"} for i in range(n)]
    acked: dict[str, int] = {}
    errors: list[str] = []
    lock = threading.Lock()

    def reviewer(k: int, batch: list[dict]) -> None:
        con = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        try:
            for body in batch:
                status, out = server.request("POST", "/api/decisions", body, con=con)
                with lock:
                    if status == 200:
                        if acked.setdefault(body["client_key"], out["decision_id"]) != (
                                out["decision_id"]):
                            errors.append(f"{body['client_key']}: two ids")
                    else:
                        errors.append(f"{status}: {out}")
        finally:
            con.close()

    def burst(items: list[dict]) -> None:
        threads = [threading.Thread(target=reviewer, args=(k, items[k::n_threads]))
                   for k in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        assert not any(t.is_alive() for t in threads)

    burst(bodies)
    assert errors == [] and len(acked) == n
    assert len(set(acked.values())) == n  # n distinct decision ids
    status, listed = server.request("GET", "/api/decisions")
    assert status == 200 and len(listed["decisions"]) == n
    burst(bodies[::-1])  # every request retried, from other threads, in another order
    assert errors == [] and len(acked) == n
    server.stop()  # the file is the judge, after the server is gone
    dec = Workspace.open(server.ws).decisions()
    assert len(dec) == n and dec["client_key"].is_unique
    stored = dict(zip(dec["client_key"], dec["decision_id"], strict=True))
    assert stored == acked
    by_key = dec.set_index("client_key")
    assert all(by_key.loc[b["client_key"], "note"] == b["note"] for b in bodies)
    assert all(by_key.loc[b["client_key"], "reviewer"] == b["reviewer"] for b in bodies)


def test_batches_from_concurrent_reviewers_are_whole_even_after_kill_9(audited, tmp_path):
    """Batches of decisions (as the keep-one action sends them) from 6 threads beside single
    decisions, the server killed with SIGKILL in the middle: each batch is stored whole, with
    consecutive ids, or not at all; every acknowledged batch is there with the ids it was
    acknowledged with; resending everything to a new server adds each batch exactly once; one
    undo takes a whole batch back."""
    import shutil
    import signal

    ws = tmp_path / "ws"
    shutil.copytree(audited, ws)
    srv = Server(ws, expert=False)
    status, queue = srv.request("GET", "/api/queues/label_issues?limit=500")
    rows = [it["row_id"] for it in queue["items"]]
    size, n_threads, n = 4, 6, 120
    bodies = [{"queue": "label_issues", "reviewer": f"rev{i % n_threads}", "client_key": f"b{i}",
               "decisions": [{"row_id": rows[(i + j) % len(rows)], "action": "keep"}
                             for j in range(size)]} for i in range(n)]
    acked: dict[str, list[int]] = {}
    lock = threading.Lock()

    def reviewer(k: int) -> None:
        con = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
        try:
            for body in bodies[k::n_threads]:
                single = {"row_id": rows[k], "queue": "label_issues",
                          "action": "skip", "reviewer": f"solo{k}"}
                srv.request("POST", "/api/decisions", single, con=con)
                status, out = srv.request("POST", "/api/decisions", body, con=con)
                if status == 200:
                    with lock:
                        acked[body["client_key"]] = out["decision_ids"]
        except OSError:
            return  # the server is gone
        finally:
            con.close()

    threads = [threading.Thread(target=reviewer, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    deadline = time.time() + 120
    while len(acked) < 30 and time.time() < deadline:
        time.sleep(0.005)
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait(timeout=30)
    for t in threads:
        t.join(timeout=60)
    assert 30 <= len(acked) < n

    def batches() -> dict[str, list[int]]:
        dec = Workspace.open(ws).decisions()
        dec = dec[dec["client_key"].fillna("").str.startswith("batch:")]
        keys = dec["client_key"].str.rsplit(":", n=1).str[0].str.removeprefix("batch:")
        return {k: sorted(g) for k, g in dec.groupby(keys)["decision_id"]}

    stored = batches()
    assert all(len(ids) == size and ids == list(range(ids[0], ids[0] + size))
               for ids in stored.values())  # whole, and nothing in between
    assert all(stored.get(k) == v for k, v in acked.items())

    again = Server(ws, expert=False)  # retry everything with the same keys
    try:
        for body in bodies:
            status, out = again.request("POST", "/api/decisions", body)
            assert status == 200 and len(out["decision_ids"]) == size
        stored = batches()
        assert len(stored) == n and all(len(ids) == size for ids in stored.values())
        assert all(stored[k] == v for k, v in acked.items())
        status, out = again.request("POST", "/api/undo", {"reviewer": "rev0"})
        assert status == 200 and len(out["undone_batch"]) == size
        last = max((b for b in bodies if b["reviewer"] == "rev0"),
                   key=lambda b: stored[b["client_key"]][0])
        assert [u["decision_id"] for u in out["undone_batch"]] == stored[last["client_key"]]
    finally:
        again.stop()
    assert "Traceback" not in again.output


def test_odd_tokens_get_401_over_http_and_no_traceback(server):
    long = b"x" * 10_000
    for path in (b"/api/session", b"/api/decisions", b"/api/queues/label_issues",
                 b"/api/agreement", b"/api/spot_check", b"/api/rows/r1/image"):
        for header in (b"X-Assay-Token: \xff\xfe\xfd", b"X-Assay-Token: t\xc3\xb6k",
                       b"X-Assay-Token: %ff%fe", b"Authorization: Bearer \xff\xfe",
                       b"Authorization: Bearer " + long, b"X-Assay-Token: " + long,
                       b"X-Assay-Token: " + server.token.encode() + b"\xff"):
            status, body = server.raw(b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                      + header + b"\r\nConnection: close\r\n\r\n")
            assert status == 401, (path, header[:40])
            assert b"token" in body
        status, _ = server.raw(b"GET " + path + b"?token=%ff%fe%c3 HTTP/1.1\r\n"
                               b"Host: 127.0.0.1\r\nConnection: close\r\n\r\n")
        assert status == 401, path
    status, body = server.raw(b"GET /?token=%ff%fe%c3 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              b"Connection: close\r\n\r\n")
    assert status == 200 and server.token.encode() not in body  # the shell only
    status, _ = server.raw(b"POST /api/decisions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           b"X-Assay-Token: \xe2\x82\r\nContent-Length: 2\r\n"
                           b"Connection: close\r\n\r\n{}")
    assert status == 401
    status, _ = server.request("GET", "/api/session")
    assert status == 200  # still serving
    server.stop()
    assert "Traceback" not in server.output and "Internal Server Error" not in server.output


def test_expert_url_alone_records_expert_decisions_and_bodies_are_capped(server):
    status, queue = server.request("GET", "/api/queues/label_issues")
    row = queue["items"][0]["row_id"]
    body = {"row_id": row, "queue": "label_issues", "action": "keep", "reviewer": "eve",
            "stage": "expert"}
    status, out = server.request("POST", "/api/decisions", body)
    assert status == 403 and "expert token" in out["error"]
    status, out = server.request("POST", "/api/decisions", body, token=server.expert_token)
    assert status == 200
    status, session = server.request("GET", "/api/session", token=server.expert_token)
    assert session["role"] == "expert" and session["expert_enabled"] is True
    big = {**body, "stage": "review", "note": "n" * (2 * 1024 * 1024)}
    status, out = server.request("POST", "/api/decisions", big)
    assert status == 413 and "65536" in out["error"]
    server.stop()
    dec = Workspace.open(server.ws).decisions()
    assert dec["stage"].tolist() == ["expert"]


@pytest.mark.browser
def test_the_page_moves_the_token_out_of_the_url(server, browser):
    page = browser.new_page()
    api: list[tuple[str, str | None]] = []
    page.on("request", lambda r: api.append((r.url, r.headers.get("x-assay-token")))
            if "/api/" in r.url else None)
    page.goto(f"{server.base}/?token={server.token}")
    page.wait_for_selector("#item[data-row-id]")
    assert page.url == server.base + "/"  # gone from the address bar, and so from the history
    assert page.evaluate("sessionStorage.getItem('assay-token')") == server.token
    assert page.evaluate("document.querySelector('#stage option[value=expert]').disabled")
    page.reload()  # the tab keeps working without the token in its URL
    page.wait_for_selector("#item[data-row-id]")
    assert len(api) >= 4
    assert all(token == server.token and "token=" not in url for url, token in api), api
    fresh = browser.new_page()  # a new tab without the token: a message, no data
    fresh.goto(server.base + "/")
    fresh.wait_for_function("() => document.getElementById('status').textContent.length > 0")
    assert "Open the URL" in fresh.inner_text("#status")
    assert not fresh.query_selector("#item[data-row-id]")
    page.close()
    fresh.close()


@pytest.mark.browser
def test_the_expert_url_records_expert_decisions_from_the_page(server, browser):
    status, queue = server.request("GET", "/api/queues/label_issues")
    row = queue["items"][2]["row_id"]
    for who, action in (("ana", "keep"), ("bo", "drop")):  # a disagreement: the expert's row
        assert server.request("POST", "/api/decisions", {
            "row_id": row, "queue": "label_issues", "action": action, "reviewer": who})[0] == 200
    page = browser.new_page()
    page.goto(f"{server.base}/?token={server.expert_token}")
    page.wait_for_selector("#item[data-row-id]")
    assert page.url == server.base + "/"
    page.fill("#reviewer", "eve")
    page.keyboard.press("Escape")
    page.select_option("#stage", "expert")
    page.wait_for_function("r => document.getElementById('item').dataset.rowId === r", arg=row)
    page.focus("body")
    page.keyboard.press("k")
    page.wait_for_function("() => document.body.dataset.saved === '1'")
    page.close()
    server.stop()
    dec = Workspace.open(server.ws).decisions()
    assert dec[["row_id", "reviewer", "stage"]].values.tolist()[-1] == [row, "eve", "expert"]


@pytest.mark.browser
def test_images_show_from_blob_urls(tmp_path, browser):
    pytest.importorskip("PIL")
    from PIL import Image

    rng = np.random.default_rng(0)
    root = tmp_path / "photos"
    rows = []
    for cls, colour in {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220)}.items():
        for i in range(12):
            arr = np.clip(np.array(colour)[None, None, :] + rng.normal(0, 20, (12, 12, 3)), 0, 255)
            path = root / cls / f"{cls}{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(arr.astype(np.uint8)).save(path)
            rows.append({"path": f"{cls}/{cls}{i}.png", "label": cls, "uid": f"{cls}{i}"})
    rows[0]["label"] = rows[1]["label"] = "blue"  # flipped: something to review
    table = root / "index.csv"
    pd.DataFrame(rows).to_csv(table, index=False)
    ws = tmp_path / "ws"
    assert main(["audit", str(table), "--label", "label", "--image", "path", "--id", "uid",
                 "-w", str(ws), "--out", str(tmp_path / "out")]) == 0
    srv = Server(ws, expert=False)
    try:
        page = browser.new_page()
        page.goto(f"{srv.base}/?token={srv.token}")
        page.wait_for_function(
            "() => { const i = document.querySelector('#item img');"
            " return i && i.complete && i.naturalWidth > 0; }")
        assert page.get_attribute("#item img", "src").startswith("blob:")
        page.close()
    finally:
        srv.stop()
