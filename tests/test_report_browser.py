"""The HTML report in a real browser: Debian's chromium driven by Playwright, fully offline.

Never downloads a browser (no ``playwright install``): the tests use ``/usr/bin/chromium`` and
skip with the reason when it is missing. Every request except ``file:`` is aborted and recorded.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.browser

EVIL = '<script>window.__xss=1</script>"</div>'
EVIL_IMG = '<img src=x onerror="window.__xss=2">'
CHECKS = ["label_issues", "duplicates", "outliers", "class_profile", "ambiguous_pairs", "slices"]




@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    """A real audit of a small table whose labels, column names and text are hostile."""
    import assay
    from assay.report import write_report

    rng = np.random.default_rng(0)
    n = 240
    y = rng.integers(0, 3, n)
    x = rng.normal(size=(n, 4)) + y[:, None] * 1.5
    names = np.array([EVIL, 'say "hi"', "</div><b>c</b>" + EVIL_IMG], dtype=object)
    df = pd.DataFrame(x, columns=["f0", "f1", EVIL, "f3"])
    flip = rng.random(n) < 0.1
    df["label"] = names[np.where(flip, (y + 1) % 3, y)]
    df["note"] = [f"{EVIL} {EVIL_IMG} row {i}" for i in range(n)]
    df = pd.concat([df, df.iloc[:3]], ignore_index=True)  # three exact duplicates
    ds = assay.load(df, label="label", features=["f0", "f1", EVIL, "f3"], text="note")
    # class probabilities from the distance to each class centre (known in this simulation),
    # so the audit needs no model fit and the test stays quick
    centres = np.arange(3)[:, None] * 1.5 * np.ones((1, 4))
    logits = -((df[["f0", "f1", EVIL, "f3"]].to_numpy()[:, None, :] - centres) ** 2).sum(-1)
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    order = [list(names).index(c) for c in ds.classes]  # columns in the dataset's class order
    res = assay.audit(ds, pred_probs=probs[:, order], checks=CHECKS, random_state=0)
    out = tmp_path_factory.mktemp("report")
    res.issues.to_parquet(out / "issues.parquet")
    path = write_report(res, out / "report.html", dataset=ds, issues_href="issues.parquet")
    return res, path


def _open(browser, path, *, width=1280):
    page = browser.new_page(viewport={"width": width, "height": 900})
    requests: list[str] = []
    errors: list[str] = []

    def route(r):
        if r.request.url.startswith("file:"):
            r.continue_()
        else:
            requests.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: requests.append(r.url))
    page.goto(path.resolve().as_uri())
    page.wait_for_load_state("load")
    return page, requests, errors


def test_sections_and_counts_match_the_json(browser, audited):
    res, path = audited
    doc = json.loads(res.to_json(include_issues=False))
    checks = {c["name"]: c for c in doc["checks"]}
    page, requests, errors = _open(browser, path)
    for sid in ["summary", "class-profile", "label-issues", "duplicates", "outliers",
                "ambiguous-pairs", "confusion", "slices"]:
        assert page.locator(f"section#{sid}").count() == 1, sid
    count = lambda sid: int(page.get_attribute(f"section#{sid}", "data-count"))  # noqa: E731
    assert count("label-issues") == checks["label_issues"]["summary"]["n_flagged"]
    assert count("duplicates") == checks["duplicates"]["summary"]["n_sets"]
    assert count("outliers") == checks["outliers"]["summary"]["n_outliers"]
    assert count("class-profile") == checks["class_profile"]["summary"]["n_classes"] == 3
    # one row per check in the summary table, with the JSON's status
    statuses = page.eval_on_selector_all(
        "#checks-table tbody tr", "rs => rs.map(r => [r.dataset.check, r.dataset.status])")
    assert dict(statuses) == {c["name"]: c["status"] for c in doc["checks"]}
    assert page.inner_text("#overall-status") == doc["status"].upper()
    # the rows in the gallery are the flagged rows (all of them: fewer than the cap)
    rows = page.eval_on_selector_all("#label-issues tr[data-row]", "rs => rs.map(r => +r.dataset.row)")
    assert sorted(rows) == sorted(np.flatnonzero(res.issues["is_label_issue"]).tolist())
    data = json.loads(page.inner_text("#assay-data"))
    assert data["statuses"] == {c["name"]: c["status"] for c in doc["checks"]}
    assert page.locator("#class-profile svg rect.bar").count() == 3
    assert requests == [] and errors == []
    page.close()


def test_hostile_strings_render_as_text(browser, audited):
    _, path = audited
    page, requests, errors = _open(browser, path)
    assert page.evaluate("window.__xss") is None
    assert page.locator("script").count() == 2  # the JSON block and the page script
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("b:text-is('c')").count() == 0  # exact: 'euclidean' contains a c
    if page.get_attribute("#class-profile", "data-open") == "false":  # a passing section
        page.click("#class-profile > details > summary")  # starts collapsed: open it
    text = page.inner_text("#class-profile table")
    assert EVIL in text and 'say "hi"' in text and "</div><b>c</b>" in text
    assert EVIL in page.inner_text("#label-issues")  # column name and text excerpt, as text
    assert requests == [] and errors == []
    page.close()


def test_pagination_and_filter(browser, tmp_path):
    from assay.report import write_report
    from test_report import make_result

    path = write_report(make_result(n=2000, n_flag=300), tmp_path / "r.html", max_rows=200)
    page, requests, errors = _open(browser, path)
    visible = "#label-issues tr.pg-item:not(.pg-hidden)"
    assert page.locator("#label-issues tr.pg-item").count() == 200
    assert page.locator(visible).count() == 25
    pager = page.locator("#label-issues .pager")
    assert "page 1 of 8" in pager.inner_text()
    pager.locator("button", has_text="Next").click()
    assert "page 2 of 8" in pager.inner_text()
    pager.locator("input").fill("r1999999")  # no such id
    assert page.locator(visible).count() == 0
    pager.locator("input").fill("")
    assert page.locator(visible).count() == 25
    # printed, every row shows and the navigation bar does not
    page.emulate_media(media="print")
    shown = page.eval_on_selector_all(
        "#label-issues tr.pg-item", "rs => rs.filter(r => getComputedStyle(r).display !== 'none').length")
    assert shown == 200
    assert page.locator(".top").is_hidden()
    assert requests == [] and errors == []
    page.close()


def test_screenshot_is_not_blank(browser, audited, tmp_path):
    from PIL import Image

    _, path = audited
    page, _, errors = _open(browser, path)
    png = page.screenshot(full_page=False)
    page.close()
    im = Image.open(io.BytesIO(png)).convert("RGB")
    assert im.size == (1280, 900)
    colours = im.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50
    # the dark top bar, the red FAIL verdict and white cards are all there
    arr = np.asarray(im)
    assert (arr.reshape(-1, 3).std(axis=0) > 20).all()
    assert errors == []


def test_next_steps_are_at_the_top_and_visible(browser, audited):
    """The ranked list is the first thing in the summary: on screen without scrolling, above
    the check table, one item per ``AuditResult.next_steps()`` in the same order, and printed."""
    res, path = audited
    steps = res.next_steps()
    assert steps, "the fixture has flipped labels and exact duplicates"
    for width in (1280, 600):  # a desktop window and a narrow one
        page, requests, errors = _open(browser, path, width=width)
        box = page.locator("#next-steps").bounding_box()
        assert page.locator("#next-steps").is_visible()
        assert box is not None and box["y"] < 900  # in the first screen, no scrolling
        first = page.locator("#next-steps li").first
        assert first.is_visible() and first.bounding_box()["y"] < 900
        assert page.evaluate(
            "document.querySelector('#next-steps').compareDocumentPosition("
            "document.querySelector('#checks-table')) & Node.DOCUMENT_POSITION_FOLLOWING") > 0
        kinds = page.eval_on_selector_all("#next-steps li", "ls => ls.map(l => l.dataset.kind)")
        assert kinds == [s.kind for s in steps]
        texts = page.eval_on_selector_all("#next-steps .ns-action", "ns => ns.map(n => n.innerText)")
        assert texts == [s.action for s in steps]
        data = json.loads(page.inner_text("#assay-data"))
        assert [s["kind"] for s in data["next_steps"]] == kinds
        page.emulate_media(media="print")
        assert page.locator("#next-steps li").first.is_visible()
        assert requests == [] and errors == []
        page.close()


@pytest.fixture(scope="module")
def digits_report(tmp_path_factory):
    """A real audit of scikit-learn's digits stored as a table (pixel_0 ... pixel_63)."""
    import assay
    from assay.demo import make_demo_data
    from assay.report import write_report

    table = make_demo_data(random_state=0).table.drop(columns=["true_label"])
    ds = assay.load(table, label="label", id="id")
    res = assay.audit(ds, checks=["label_issues", "duplicates", "outliers", "class_profile"],
                      model="logistic", random_state=0)
    path = write_report(res, tmp_path_factory.mktemp("digits") / "report.html", dataset=ds)
    return res, path


def _loaded(page, selector):
    """(visible, loaded and decoded with a width) for each <img> under ``selector``."""
    return page.eval_on_selector_all(
        selector, "is => is.map(i => [i.getBoundingClientRect().width > 0 && "
                  "getComputedStyle(i).visibility !== 'hidden', i.complete && i.naturalWidth > 0, "
                  "i.naturalWidth, i.naturalHeight])")


def test_pixel_rows_show_as_loaded_thumbnails_and_the_page_stays_interactive(browser,
                                                                             digits_report):
    res, path = digits_report
    page, requests, errors = _open(browser, path)
    # every thumbnail decodes (8 x 8 pixels, drawn at 96 px); those on the first page show
    thumbs = _loaded(page, "#label-issues img.thumb")
    n_flagged = int(res.issues["is_label_issue"].sum())
    assert len(thumbs) == min(n_flagged, 200)
    assert all(ok and w == 8 and h == 8 for _, ok, w, h in thumbs)
    assert sum(vis for vis, *_ in thumbs) == min(n_flagged, 24)  # one page of tiles
    first = page.locator("#label-issues figure.tile:not(.pg-hidden) img.thumb").first
    first.scroll_into_view_if_needed()
    box = first.bounding_box()
    assert box is not None and box["width"] == pytest.approx(96, abs=2)
    # a picture beside its given label, suggested label and score
    tile = page.locator("#label-issues figure.tile").first
    assert tile.locator(".given").count() == 1 and tile.locator(".suggested").count() == 1
    assert "score" in tile.inner_text()
    # the page still answers: the next page of tiles, loaded too, and the filter
    pager = page.locator("#label-issues .pager")
    pager.locator("button", has_text="Next").click()
    assert "page 2 of" in pager.inner_text()
    page2 = _loaded(page, "#label-issues figure.tile:not(.pg-hidden) img.thumb")
    assert len(page2) == min(n_flagged - 24, 24) and all(v and ok for v, ok, *_ in page2)
    some_id = str(res.issues.loc[res.issues["is_label_issue"], "id"].iloc[0])
    pager.locator("input").fill(some_id)
    assert page.locator("#label-issues figure.tile:not(.pg-hidden):not(.pg-filtered)").count() == 1
    # duplicate sets show their members as pictures
    dup = _loaded(page, "#duplicates .dupset:not(.pg-hidden) img.thumb")
    assert dup and all(v and ok for v, ok, *_ in dup)
    # plots: the label-score histogram and the data map are drawn, with marks
    hist = page.locator('#label-issues figure.hist[data-check="label_issues"] svg')
    assert hist.is_visible() and hist.bounding_box()["height"] > 80
    assert page.locator("#label-issues rect.bin-flagged").count() > 0
    assert page.locator("#data-map svg").is_visible()
    assert page.locator("#data-map circle.mark").count() == int(page.get_attribute(
        "#data-map figure", "data-marked")) > 0
    # a passing section starts collapsed and opens with a click, its pictures then shown
    assert page.get_attribute("#outliers", "data-open") == "false"
    assert not page.locator("#outliers figure.hist").is_visible()
    page.click("#outliers > details > summary")
    assert page.locator("#outliers figure.hist").is_visible()
    assert page.locator("#outliers line.cut").count() == 1  # the recorded threshold
    out = _loaded(page, "#outliers figure.tile:not(.pg-hidden) img.thumb")
    assert out and all(v and ok for v, ok, *_ in out)
    assert requests == [] and errors == []
    page.close()


def test_printed_report_opens_collapsed_sections(browser, digits_report):
    _, path = digits_report
    page, _, errors = _open(browser, path)
    page.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    assert page.eval_on_selector_all("details.sec", "ds => ds.every(d => d.open)")
    page.emulate_media(media="print")
    assert page.locator("#outliers figure.hist").is_visible()
    assert errors == []
    page.close()


# ------------------------------------------------- the diff page and the run-history page


def test_diff_and_history_pages_render_offline(browser, tmp_path):
    """``assay diff --html`` and ``assay runs --html`` of a hand-worked workspace: counts in the
    DOM equal the JSON's, the charts are drawn, no script runs, nothing is fetched."""
    import contextlib

    from PIL import Image

    from assay.cli.main import main
    from test_cli_diff import EVIL as DIFF_EVIL
    from test_cli_diff import EXPECTED, build_two_audits

    path, a, b, _ = build_two_audits(tmp_path)
    out = tmp_path / "pages"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["diff", a, b, "-w", str(path), "--html", str(out) + "/"]) == 0
        assert main(["runs", "-w", str(path), "--html", str(out) + "/"]) == 0

    page, requests, errors = _open(browser, out / "diff.html")
    assert page.evaluate("window.__xss") is None and page.locator("script").count() == 0
    counts = page.eval_on_selector_all(
        "#diff-checks tbody tr",
        "rs => rs.map(r => [r.dataset.check, Object.fromEntries([...r.querySelectorAll("
        "'td[data-col]')].map(td => [td.dataset.col, +td.innerText.replace(/,/g, '')]))])")
    assert dict(counts) == EXPECTED
    fixed = page.locator("#check-label-issues details[data-category='fixed'] tbody tr")
    assert fixed.count() == 2 and fixed.first.is_visible()
    assert DIFF_EVIL in fixed.first.inner_text()  # the relabel target, shown as text
    png = page.screenshot(full_page=False)
    assert len(Image.open(io.BytesIO(png)).convert("RGB").getcolors(1 << 20) or []) > 20
    assert requests == [] and errors == []
    page.close()

    page, requests, errors = _open(browser, out / "runs.html")
    assert page.locator("script").count() == 0
    assert page.locator("#trends figure.trend").count() == 3  # errors, label, outlier
    label = page.locator("#trends figure[data-metric='label']")
    box = label.locator("svg").bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 50  # drawn, visible
    assert label.locator("circle.pt").count() == 2 and label.locator("path.line").count() == 1
    assert page.locator("#runs-table tbody tr").count() == 2
    assert requests == [] and errors == []
    page.close()


def test_weak_slices_are_described_and_p_values_rounded(browser, tmp_path):
    """A slice planted in a real-looking table (errors only where carat > 2): the report names
    carat for it, and every p- and q-value shows at most three significant digits."""
    import re

    import assay
    from assay.report import write_report

    rng = np.random.default_rng(0)
    n = 3000
    df = pd.DataFrame({"carat": rng.gamma(2.0, 0.4, n), "depth": rng.normal(61.7, 1.4, n),
                       "colour": rng.choice(list("DEFGHIJ"), n)})
    y = rng.integers(0, 3, n)
    probs = np.full((n, 3), 0.1)
    probs[np.arange(n), y] = 0.8
    flip = (df["carat"] > 2).to_numpy() & (rng.random(n) < 0.6)
    df["label"] = np.where(flip, (y + 1) % 3, y)
    res = assay.audit(df, label="label", pred_probs=probs, checks=["slices"], random_state=0)
    assert res.checks["slices"].status == "warn"
    path = write_report(res, tmp_path / "report.html")
    page, requests, errors = _open(browser, path)
    try:
        items = page.locator("#slice-descriptions li")
        assert items.count() == res.checks["slices"].summary["n_slices_flagged"]
        first = items.first.inner_text()
        assert "carat" in first and "precision" in first
        table = page.locator("#slices table").first
        heads = [t.strip() for t in table.locator("thead th").all_inner_texts()]
        assert "described by" in heads
        cells = table.locator("tbody tr td")
        for col in ("p", "q"):
            i = heads.index(col)
            values = [cells.nth(r * len(heads) + i).inner_text()
                      for r in range(min(table.locator("tbody tr").count(), 20))]
            assert all(re.fullmatch(r"<\s0\.001|0\.\d{1,3}|0\.0\d{1,3}|0\.00\d{1,3}|1", v)
                       for v in values), values
        assert requests == [] and errors == []
    finally:
        page.close()


@pytest.fixture(scope="module")
def text_leak_report(tmp_path_factory):
    """A real audit of short texts in two splits: a few test rows copy training rows, a few
    labels are flipped, and one text is hostile."""
    import assay
    from assay.report import write_report

    rng = np.random.default_rng(1)
    words = {"pos": ["good", "great", "fun", "lovely", "superb"],
             "neg": ["bad", "awful", "boring", "dull", "poor"]}
    n = 120
    y = rng.integers(0, 2, n)
    cls = np.array(["neg", "pos"])
    texts = [" ".join(rng.choice(words[cls[c]], 4)) + f" film {i}" for i, c in enumerate(y)]
    texts[5] = texts[5] + " " + EVIL_IMG
    label = cls[y].copy()
    flip = np.arange(n) % 15 == 0
    label[flip] = cls[1 - y[flip]]
    split = np.where(np.arange(n) < 90, "train", "test")
    for i, j in ((1, 100), (2, 101), (3, 102)):  # test rows that copy training rows
        texts[j], label[j] = texts[i], label[i]
    df = pd.DataFrame({"text": texts, "label": label, "split": split})
    ds = assay.load(df, label="label", text="text", split="split")
    probs = np.full((n, 2), 0.1)
    probs[np.arange(n), y] = 0.9  # the true class
    order = [list(cls).index(c) for c in ds.classes]
    res = assay.audit(ds, pred_probs=probs[:, order], checks=["label_issues", "leakage"],
                      random_state=0)
    path = write_report(res, tmp_path_factory.mktemp("text") / "report.html", dataset=ds)
    return res, path


def test_leaked_pairs_side_by_side_match_the_json(browser, text_leak_report):
    res, path = text_leak_report
    page, requests, errors = _open(browser, path)
    try:
        data = json.loads(page.inner_text("#assay-data"))
        want = data["leaked_pairs"]
        assert len(want) >= 3 and want[0]["kind"] == "exact"
        pairs = page.locator("#leak-pairs .leakpair")
        assert pairs.count() == len(want)
        for k, p in enumerate(want[:10]):  # the first page
            box = pairs.nth(k)
            assert box.is_visible()
            members = box.locator(".member")
            assert members.count() == 2
            for m in range(2):
                mb = members.nth(m)
                assert int(mb.get_attribute("data-row")) == p["rows"][m]
                assert mb.locator(".excerpt").count() == 1  # the text itself, shown
                assert mb.locator(".id").inner_text() == str(p["ids"][m])
                assert mb.locator(".split").inner_text() == p["splits"][m]
            if p["kind"] == "exact":
                a, b = (members.nth(m).locator(".excerpt").inner_text() for m in range(2))
                assert a == b
        assert requests == [] and errors == []
    finally:
        page.close()


def test_label_error_texts_mark_the_disagreeing_words(browser, text_leak_report):
    res, path = text_leak_report
    page, requests, errors = _open(browser, path)
    try:
        assert page.locator("#marks-note").is_visible()
        marks = page.locator("#label-issues .excerpt mark.to-suggested")
        assert marks.count() > 0
        assert marks.first.get_attribute("title").startswith("log-ratio +")
        marked = {t.strip().lower() for t in marks.all_inner_texts()}
        # the flipped rows carry the other class's words: those are what get marked
        assert marked & {"good", "great", "fun", "lovely", "superb", "bad", "awful", "boring",
                         "dull", "poor"}
        assert page.evaluate("window.__xss") is None
        assert page.locator("img[src='x']").count() == 0
        assert requests == [] and errors == []
    finally:
        page.close()


def test_token_and_box_sections_render_their_findings(browser, tmp_path):
    """The report of a tokens audit and of a detection audit: each task's section is there, its
    first flagged row's changes are shown as text (a hostile token and class name included),
    nothing runs and nothing is fetched."""
    import assay
    from assay.report import write_report
    from test_tokens import make_corpus

    sents, noisy, _ = make_corpus(600, seed=1)
    sents[0][0] = EVIL  # a token that is markup
    frame = pd.DataFrame({"tokens": [json.dumps(s) for s in sents],
                          "tags": [json.dumps(t) for t in noisy]})
    res = assay.audit(frame, label="tags", checks=["token_labels"])
    flagged = res.checks["token_labels"].evidence["flagged"]
    assert flagged, "the corpus has planted wrong tags"
    path = write_report(res, tmp_path / "tokens.html")
    page, requests, errors = _open(browser, path)
    section = page.locator("#check-token-labels")
    assert section.count() == 1
    text = section.inner_text()
    assert "Sentences with a tag that looks wrong" in text and flagged[0]["changes"] in text
    assert page.evaluate("window.__xss") is None
    assert requests == [] and errors == []
    page.close()

    boxes = [json.dumps([[EVIL, 10, 10, 40, 40]]), json.dumps([["cat", 0, 0, 20, 20]])] * 20
    preds = pd.DataFrame({"row": np.arange(40), "class": ["cat"] * 40, "x": [10, 0] * 20,
                          "y": [10, 0] * 20, "width": [40, 20] * 20, "height": [40, 20] * 20,
                          "score": 0.95})
    det = assay.audit(pd.DataFrame({"boxes": boxes}), label="boxes", predictions=preds)
    first = det.checks["detection_labels"].evidence["flagged"][0]["changes"]
    assert first.startswith("wrong class")
    path = write_report(det, tmp_path / "boxes.html")
    page, requests, errors = _open(browser, path)
    section = page.locator("#check-detection-labels")
    assert section.count() == 1 and first in section.inner_text()
    assert page.evaluate("window.__xss") is None
    assert requests == [] and errors == []
    page.close()
