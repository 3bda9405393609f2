"""The fix loop of a token-classification task, end to end: audit -> review -> export -> re-audit
-> diff, on generated NER corpora (``benchmarks/token_labels.py``).

A CoNLL file goes through the commands as a user types them (``assay audit``, ``assay review``
driven through its HTTP API with the printed token, ``assay export``, ``assay diff``); a CSV
source with space-separated tags and a JSON Lines source with list cells are reviewed in process
and exported in their own form; the review page's token view is driven in Debian's chromium.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from assay.cli.main import main  # noqa: E402
from assay.exceptions import InputValidationError  # noqa: E402
from assay.workspace import Workspace  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
N_SENTENCES = 1500
ENV = {**os.environ, "BROWSER": "true", "PYTHONUNBUFFERED": "1", "NO_COLOR": "1",
       "COLUMNS": "200"}
ENV.pop("ASSAY_WORKSPACE", None)


def _bench():
    """``benchmarks/token_labels.py`` (its corpus generator), imported by path."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import token_labels
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return token_labels


def _corpus(n: int = N_SENTENCES) -> tuple[list[list[str]], list[list[str]]]:
    """Generated NER sentences and their noisy tags (tokens never hold a space)."""
    sents, _, noisy, _ = _bench().make("ner", n, np.random.default_rng(0))
    return [[w.replace(" ", "_") for w in s] for s in sents], [list(t) for t in noisy]


def _assay(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("assay")
    cmd = ([exe] if exe else [sys.executable, "-m", "assay.cli.main"]) + list(args)
    res = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=600)
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    return res


def _recorded_run(res: subprocess.CompletedProcess) -> str:
    found = re.search(r"Recorded run (\S+)", res.stdout)
    assert res.returncode in (0, 1) and found, (res.stdout[-2000:], res.stderr[-2000:])
    return found.group(1)


class Review:
    """``assay review`` in a subprocess, in folder ``cwd``; ``url`` is the address it printed."""

    def __init__(self, cwd: Path) -> None:
        exe = shutil.which("assay")
        cmd = ([exe] if exe else [sys.executable, "-m", "assay.cli.main"])
        self.proc = subprocess.Popen([*cmd, "review", "--no-browser", "--port", "0"], cwd=cwd,
                                     env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        lines: list[str] = []
        self.url = None
        deadline = time.monotonic() + 120
        while self.url is None and time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            found = re.search(r"(http://127\.0\.0\.1:\d+/\?token=\S+)", line)
            self.url = found.group(1) if found else None
        if self.url is None:
            self.proc.kill()
            raise AssertionError("assay review did not start: " + "".join(lines))
        self.base, self.token = self.url.split("/?token=")
        for _ in range(100):  # the URL is printed just before uvicorn serves
            try:
                httpx.get(self.base + "/api/session", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers={"X-Assay-Token": self.token},
                            timeout=60)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.proc.stdout.close()


@pytest.fixture(scope="module")
def conll_audit(tmp_path_factory):
    """A generated NER corpus as a CoNLL file (1,500 sentences, tags flipped by the benchmark's
    noise), audited with ``assay audit corpus.conll --label tags`` in its folder."""
    folder = tmp_path_factory.mktemp("tokloop")
    sents, _, noisy, _ = _bench().make("ner", N_SENTENCES, np.random.default_rng(0))
    _bench().via_conll(sents, noisy, folder)
    run_a = _recorded_run(_assay("audit", "corpus.conll", "--label", "tags", cwd=folder))
    return folder, run_a


def _copy(folder: Path, tmp_path: Path) -> Path:
    """A copy of an audited folder (data and workspace: the source is recorded relative)."""
    out = tmp_path / "work"
    shutil.copytree(folder, out)
    return out


def _post(client: httpx.Client, row_id: str, action: str, **extra) -> httpx.Response:
    body = {"row_id": row_id, "queue": extra.pop("queue", "label_issues"), "action": action,
            "reviewer": "ana", **extra}
    return client.post("/api/decisions", json=body)


def _blocks(path: Path) -> list[str]:
    """A CoNLL file's sentences as written (each block with its lines, no blank line)."""
    return [b for b in path.read_text(encoding="utf-8").split("\n\n") if b.strip()]


def _tags_of(block: str) -> list[str]:
    return [line.split()[-1] for line in block.splitlines()]


# ---------------------------------------------------------------------- CoNLL, as a user
@pytest.mark.slow
def test_conll_fix_loop_as_a_user(conll_audit, tmp_path):
    """audit -> review (suggested tags, a typed sequence, refusals) -> export (a CoNLL file with
    the corrected tags, the duplicate left out, every other sentence as write_conll writes it)
    -> re-audit -> diff counts the relabelled sentences fixed."""
    from assay.tokens import read_conll, write_conll

    work = _copy(conll_audit[0], tmp_path)
    run_a = conll_audit[1]
    source = work / "corpus.conll"
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    server = Review(work)
    try:
        with server.client() as client:
            session = client.get("/api/session").json()
            assert session["task"] == "tokens"
            assert session["classes"] == ["B-LOC", "B-MISC", "B-ORG", "B-PER", "I-LOC",
                                          "I-MISC", "I-ORG", "I-PER", "O"]
            dups = client.get("/api/queues/duplicates", params={"limit": 500}).json()["items"]
            drop = max(dups, key=lambda it: it["row"])  # the last: row numbers before it hold
            items = client.get("/api/queues/label_issues",
                               params={"limit": 500}).json()["items"]
            usable = [it for it in items if it["token_tags"]["changed"]
                      and it["row"] < drop["row"]]
            assert len(usable) >= 6
            first = usable[0]
            view = first["token_tags"]
            assert view["tokens"] and len(view["tokens"]) == len(view["given"])
            assert first["given_label"] == " ".join(view["given"])
            assert first["suggested_label"] == " ".join(view["suggested"])
            assert view["changed"] == [i for i, (a, b) in enumerate(
                zip(view["given"], view["suggested"], strict=True)) if a != b]
            assert first["text"] == " ".join(view["tokens"])  # a duplicate card's sentence
            new_tags: dict[int, list[str]] = {}
            for it in usable[:3]:  # r: the suggested tags
                assert _post(client, it["row_id"], "relabel",
                             new_label=it["suggested_label"]).status_code == 200
                new_tags[it["row"]] = it["token_tags"]["suggested"]
            typed = usable[3]  # l: the given tags with one suggested change, typed as JSON
            tags = list(typed["token_tags"]["given"])
            at = typed["token_tags"]["changed"][0]
            tags[at] = typed["token_tags"]["suggested"][at]
            res = _post(client, typed["row_id"], "relabel", new_label="  " + json.dumps(tags))
            assert res.status_code == 200, res.text
            new_tags[typed["row"]] = tags
            short = usable[4]
            n = len(short["token_tags"]["given"])
            res = _post(client, short["row_id"], "relabel",
                        new_label=" ".join(short["token_tags"]["suggested"][:-1]))
            assert res.status_code == 422
            assert res.json()["error"].startswith(
                f"The sentence has {n} tokens; got {n - 1} tags (")
            assert "Type one tag per token, separated by spaces" in res.json()["error"]
            bad = ["B-PRE", *short["token_tags"]["suggested"][1:]]
            res = _post(client, short["row_id"], "relabel", new_label=" ".join(bad))
            assert res.status_code == 422
            assert res.json()["error"].startswith(
                "Unknown tag 'B-PRE'; known tags: B-LOC, B-MISC, B-ORG, B-PER, I-LOC")
            kept = usable[5]
            assert _post(client, kept["row_id"], "keep").status_code == 200
            assert _post(client, drop["row_id"], "duplicate",
                         queue="duplicates").status_code == 200
    finally:
        server.stop()
    stored = Workspace.open(work / ".assay", read_only=True).decisions()
    relabels = stored[stored["action"] == "relabel"]
    assert relabels["new_label"].tolist() == [" ".join(new_tags[r]) for r in new_tags]

    res = _assay("export", "-o", "v2", "--json", cwd=work)
    assert res.returncode == 0, res.stderr
    counts = json.loads(res.stdout)["counts"]
    assert counts["relabelled"] == 4 and counts["duplicates_removed"] == 1
    assert counts["rows_after"] == N_SENTENCES - 1
    assert hashlib.sha256(source.read_bytes()).hexdigest() == digest  # never in place
    exported = work / "v2" / "corpus.conll"
    write_conll(read_conll(source), tmp_path / "reference.conll")
    reference = _blocks(tmp_path / "reference.conll")
    blocks = _blocks(exported)
    expected = [b for i, b in enumerate(reference) if i != drop["row"]]
    assert len(blocks) == len(expected) == N_SENTENCES - 1
    for i, (got, want) in enumerate(zip(blocks, expected, strict=True)):
        if i in new_tags:  # before the dropped sentence: same positions
            assert _tags_of(got) == new_tags[i]
            assert [ln.split()[:-1] for ln in got.splitlines()] == \
                   [ln.split()[:-1] for ln in want.splitlines()]
        else:
            assert got == want, i
    assert read_conll(exported).n_sentences == N_SENTENCES - 1

    run_b = _recorded_run(_assay("audit", "v2/corpus.conll", "--label", "tags", cwd=work))
    res = _assay("diff", run_a, run_b, "--json", cwd=work)
    assert res.returncode == 0, res.stderr
    diff = json.loads(res.stdout)
    token = next(c for c in diff["checks"] if c["check"] == "token_labels")
    fixed = {str(r) for r in diff["fixed_rows"]["token_labels"]}
    acted = {str(r) for r in new_tags}
    assert fixed <= acted and token["fixed"] == len(fixed) >= 3
    assert token["kept"] == 1
    dup = next(c for c in diff["checks"] if c["check"] == "duplicates")
    assert dup["fixed"] >= 1
    text = _assay("diff", run_a, run_b, cwd=work).stdout
    assert re.search(r"token_labels\s+\d+\s+\d+\s+" + str(len(fixed)), text)


# ---------------------------------------------------------------------- tables, in process
def _review_in_process(ws: Path, picks: int = 2) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Relabel the first flagged sentences to their suggestion through the API (a TestClient);
    the last one typed as a JSON list. Returns each relabelled row's tags and what was stored."""
    from fastapi.testclient import TestClient

    from assay.app import create_app

    chosen: dict[str, list[str]] = {}
    with TestClient(create_app(ws, token="t0k"), base_url="http://127.0.0.1",
                    headers={"X-Assay-Token": "t0k"}) as client:
        items = client.get("/api/queues/label_issues", params={"limit": 500}).json()["items"]
        items = [it for it in items if it["token_tags"]["changed"]][:picks]
        assert len(items) == picks
        for k, it in enumerate(items):
            tags = it["token_tags"]["suggested"]
            typed = json.dumps(tags) if k == picks - 1 else it["suggested_label"]
            res = client.post("/api/decisions", json={
                "row_id": it["row_id"], "queue": "label_issues", "action": "relabel",
                "reviewer": "ana", "new_label": typed})
            assert res.status_code == 200, res.text
            chosen[it["row_id"]] = tags
    dec = Workspace.open(ws, read_only=True).decisions()
    return chosen, dict(zip(dec["row_id"].astype(str), dec["new_label"], strict=True))


@pytest.mark.slow
def test_csv_with_space_separated_tags_exports_space_separated(tmp_path):
    """A CSV source: the relabelled tags are stored and written space-separated; every other
    cell is unchanged."""
    from assay.export import export_version

    sents, noisy = _corpus()
    data = tmp_path / "ner.csv"
    pd.DataFrame({"sid": [f"s{i}" for i in range(len(sents))],
                  "tokens": [" ".join(s) for s in sents],
                  "tags": [" ".join(t) for t in noisy]}).to_csv(data, index=False)
    ws = tmp_path / "ws"
    assert main(["audit", str(data), "--label", "tags", "--id", "sid", "-w", str(ws),
                 "--out", str(tmp_path / "out"), "--json"]) in (0, 1)
    chosen, stored = _review_in_process(ws)
    assert stored == {r: " ".join(t) for r, t in chosen.items()}  # normalised: spaces
    res = export_version(ws, tmp_path / "v2")
    assert res.counts["relabelled"] == len(chosen)
    before = pd.read_csv(data)
    after = pd.read_csv(res.data_path)
    assert list(after.columns) == ["sid", "tokens", "tags"] and len(after) == len(before)
    changed = after["sid"].isin(list(chosen)).to_numpy()
    assert after.loc[changed, "tags"].tolist() == [" ".join(chosen[r])
                                                   for r in after.loc[changed, "sid"]]
    pd.testing.assert_frame_equal(after[~changed], before[~changed])
    assert after["tags"].str.split().str.len().tolist() == \
        after["tokens"].str.split().str.len().tolist()


@pytest.mark.slow
def test_jsonl_with_list_cells_exports_lists(tmp_path):
    """A JSON Lines source with list cells: the relabelled tags are stored as a JSON list and
    written back as a list; every other line is the same record."""
    from assay.export import export_version

    sents, noisy = _corpus()
    data = tmp_path / "ner.jsonl"
    with open(data, "w", encoding="utf-8") as fh:
        for i, (s, t) in enumerate(zip(sents, noisy, strict=True)):
            fh.write(json.dumps({"id": f"s{i}", "tokens": s, "tags": t, "src": "gen"}) + "\n")
    ws = tmp_path / "ws"
    assert main(["audit", str(data), "--label", "tags", "--id", "id", "-w", str(ws),
                 "--out", str(tmp_path / "out"), "--json"]) in (0, 1)
    chosen, stored = _review_in_process(ws)
    assert {r: json.loads(v) for r, v in stored.items()} == chosen  # normalised: JSON lists
    assert all(v.startswith('["') for v in stored.values())
    res = export_version(ws, tmp_path / "v2")
    assert res.counts["relabelled"] == len(chosen)
    before = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()]
    after = [json.loads(line) for line in res.data_path.read_text(encoding="utf-8").splitlines()]
    assert len(after) == len(before)
    for old, new in zip(before, after, strict=True):
        if old["id"] in chosen:
            assert new == {**old, "tags": chosen[old["id"]]}
        else:
            assert new == old


# ---------------------------------------------------------------------- export, fast
def _registered(tmp_path: Path, data: Path, **roles) -> tuple[Workspace, str]:
    """``data`` registered with a finished tokens audit (no real audit: fast)."""
    import assay

    ds = assay.load(data, **roles)
    ws = Workspace.open(tmp_path / "ws")
    with ws.hold():
        ws.register_dataset(ds.fingerprint, n_rows=ds.n_rows, source=str(data),
                            roles=ds.roles.to_dict())
        run_id = ws.start_run("audit", {"data": str(data)}, fingerprint=ds.fingerprint)
        ws.finish_run(run_id, summary={"task": "tokens"})
    return ws, run_id


SMALL = pd.DataFrame({"id": [1, 2, 3, 4],
                      "tokens": [["EU", "rejects", "call"], ["Peter", "Blackburn"],
                                 ["in", "Bonn", "today"], ["Hi", "Bo"]],
                      "tags": [["B-ORG", "O", "O"], ["B-PER", "I-PER"], ["O", "B-LOC", "O"],
                               ["O", "B-PER"]]})


@pytest.mark.parametrize("form", ["parquet-list", "csv-json"])
def test_export_writes_the_columns_form_and_refuses_bad_tags(tmp_path, form):
    """Parquet list cells stay lists, JSON list strings stay JSON strings; a decision with the
    wrong number of tags, or an unknown tag, is refused with what was expected and received."""
    from assay.export import export_version

    if form == "parquet-list":
        data = tmp_path / "ner.parquet"
        SMALL.to_parquet(data, index=False)
    else:
        data = tmp_path / "ner.csv"
        SMALL.assign(tokens=SMALL["tokens"].map(json.dumps),
                     tags=SMALL["tags"].map(json.dumps)).to_csv(data, index=False)
    ws, run_id = _registered(tmp_path, data, label="tags", id="id", text="tokens")
    ws.append_decision(1, "relabel", new_label="B-ORG O B-LOC", reviewer="ana", run_id=run_id)
    ws.append_decision(4, "remove", reviewer="ana", run_id=run_id)
    res = export_version(ws, tmp_path / "v2")
    assert res.counts["relabelled"] == 1 and res.counts["rows_after"] == 3
    if form == "parquet-list":
        out = [list(v) for v in pd.read_parquet(res.data_path)["tags"]]
    else:
        cells = pd.read_csv(res.data_path)["tags"].tolist()
        assert cells[0] == '["B-ORG", "O", "B-LOC"]'
        out = [json.loads(c) for c in cells]
    assert out == [["B-ORG", "O", "B-LOC"], ["B-PER", "I-PER"], ["O", "B-LOC", "O"]]
    ws.append_decision(2, "relabel", new_label="B-PER", reviewer="ana", run_id=run_id)
    with pytest.raises(InputValidationError, match=r"1 tag\(s\) \('B-PER'\), but its "
                                                   r"sentence has 2 tokens"):
        export_version(ws, tmp_path / "v3")
    ws.append_decision(2, "relabel", new_label="B-PER I-PRE", reviewer="ana", run_id=run_id)
    with pytest.raises(InputValidationError, match=r"does not have \(I-PRE; tags: B-LOC"):
        export_version(ws, tmp_path / "v3")
    res = export_version(ws, tmp_path / "v3", allow_new_classes=True)
    assert res.counts["relabelled"] == 2


def test_conll_export_keeps_other_columns_and_tabs(tmp_path):
    """A CoNLL file with a POS column, tab-separated: the export keeps the column and the tabs,
    writes the corrected tags, and leaves a removed sentence out."""
    from assay.export import export_version

    data = tmp_path / "small.iob"
    data.write_text("EU\tNNP\tB-ORG\nrejects\tVBZ\tO\n\nPeter\tNNP\tB-PER\nBlackburn\tNNP\t"
                    "I-PER\n\nin\tIN\tO\nBonn\tNNP\tO\n\nHi\tUH\tO\n\n", encoding="utf-8")
    ws, run_id = _registered(tmp_path, data, label="tags")
    ws.append_decision(2, "relabel", new_label="O B-PER", reviewer="ana", run_id=run_id)
    ws.append_decision(3, "remove", reviewer="ana", run_id=run_id)
    res = export_version(ws, tmp_path / "v2")
    assert res.data_path.name == "small.iob"
    assert res.data_path.read_text(encoding="utf-8") == (
        "EU\tNNP\tB-ORG\nrejects\tVBZ\tO\n\nPeter\tNNP\tB-PER\nBlackburn\tNNP\tI-PER\n\n"
        "in\tIN\tO\nBonn\tNNP\tB-PER\n\n")
    assert data.read_text(encoding="utf-8").count("\n\n") == 4  # the source is untouched


# ---------------------------------------------------------------------- the page
@pytest.mark.browser
@pytest.mark.slow
def test_token_view_in_the_browser(conll_audit, browser, tmp_path):
    """The sentence is drawn token by token, the changed tags marked given -> suggested; r
    takes the suggested tags; l opens the box with the given tags, a typed sequence + Enter
    records it, and a wrong-length one is refused with the server's reason."""
    work = _copy(conll_audit[0], tmp_path)
    server = Review(work)
    try:
        page = browser.new_page()
        external: list[str] = []
        page.on("request", lambda r: external.append(r.url)
                if not r.url.startswith(server.base) else None)
        page.goto(server.url)
        page.wait_for_selector("#item[data-row-id] #tokens")
        assert page.evaluate("document.getElementById('relabel').tagName") == "INPUT"
        assert page.is_hidden("#key-digits")
        assert "new tags" in page.inner_text("aside")
        assert page.inner_text("#classes").split() == ["B-LOC", "B-MISC", "B-ORG", "B-PER",
                                                       "I-LOC", "I-MISC", "I-ORG", "I-PER", "O"]
        words = page.locator("#tokens .tok .word").all_inner_texts()
        assert len(words) > 3
        changed = page.locator("#tokens .tok.changed")
        assert changed.count() >= 1
        mark = changed.first.locator(".tag").inner_text()
        assert re.fullmatch(r"\S+ → \S+", mark)
        suggested = page.inner_text("#item .suggested")
        given = page.inner_text("#item .given")
        assert len(suggested.split()) == len(words) == len(given.split())
        assert page.input_value("#relabel") == given  # the box starts at the given tags
        page.fill("#reviewer", "ana")
        page.keyboard.press("Escape")
        first = page.get_attribute("#item", "data-row-id")
        page.keyboard.press("r")
        page.wait_for_function("() => document.body.dataset.saved === '1'")
        second = page.get_attribute("#item", "data-row-id")
        assert second != first
        tags = page.input_value("#relabel").split()
        page.keyboard.press("l")
        assert page.evaluate("document.activeElement.id") == "relabel"
        page.fill("#relabel", " ".join(tags[:-1]))
        page.keyboard.press("Enter")  # one tag short: refused, nothing stored
        page.wait_for_function(
            "() => document.getElementById('status').innerText.includes('The sentence has')")
        assert (f"The sentence has {len(tags)} tokens; got {len(tags) - 1} tags"
                in page.inner_text("#status"))
        assert page.evaluate("document.body.dataset.saved") == "1"
        typed = ["B-MISC", *tags[1:]]
        page.keyboard.press("l")
        page.fill("#relabel", " ".join(typed))
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.body.dataset.saved === '2'")
        dec = Workspace.open(work / ".assay").decisions()
        assert dec["row_id"].tolist() == [first, second]
        assert dec["new_label"].tolist() == [suggested, " ".join(typed)]
        assert external == []
        page.close()
    finally:
        server.stop()
