"""The HTML report as a pure function: sections, counts, escaping, size and speed.

The results here are built directly (no audit runs), so the tests are fast and every figure the
page must show is known in advance. ``test_report_browser.py`` opens real reports in Chromium.
"""

from __future__ import annotations

import base64
import io
import json
import re
import time
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay import AuditResult, CheckResult, Threshold
from assay.exceptions import InputValidationError, InvalidParameterError
from assay.report import load_dataset_for, render_report, safe_json, write_report

EVIL = '<script>window.__xss=1</script>"</div>'


# --------------------------------------------------------------------------------------------
# A synthetic result with every kind of evidence (the shapes the real checks produce)
# --------------------------------------------------------------------------------------------
def make_result(n=300, k=4, *, classes=None, seed=0, n_flag=None, confusion_k=None):
    rng = np.random.default_rng(seed)
    classes = list(classes) if classes is not None else [f"class_{i}" for i in range(k)]
    k = len(classes)
    # long tail: class j has roughly n / 2**j rows, each class at least one row
    weights = 0.5 ** np.arange(k)
    codes = rng.choice(k, size=n, p=weights / weights.sum())
    codes[:k] = np.arange(k)
    names = np.asarray(classes, dtype=object)
    score = rng.random(n)
    n_flag = n // 10 if n_flag is None else n_flag
    flagged = np.zeros(n, bool)
    flagged[np.argsort(score)[:n_flag]] = True
    dup_set = np.full(n, -1)
    dup_set[[5, 6, 7]] = 0
    dup_set[[10, 11]] = 1
    outlier_score = rng.random(n)
    is_outlier = outlier_score < 0.03
    issues = pd.DataFrame({
        "row": np.arange(n), "id": [f"r{i}" for i in range(n)], "given_label": names[codes],
        "label_score": score, "is_label_issue": flagged,
        "suggested_label": names[(codes + 1) % k], "label_error_probability": 1 - score,
        "knn_label_agreement": rng.random(n),
        "is_exact_duplicate": np.isin(np.arange(n), [5, 6]),
        "is_near_duplicate": np.isin(np.arange(n), [7, 10, 11]), "duplicate_set": dup_set,
        "outlier_score": outlier_score, "is_outlier": is_outlier,
    })
    counts = np.bincount(codes, minlength=k)
    order = np.argsort(-counts, kind="stable")
    profile = pd.DataFrame({
        "class": names[order], "count": counts[order], "share": counts[order] / n,
        "group": np.where(counts[order] > 100, "many", np.where(counts[order] < 20, "few", "medium")),
        "n_issues": np.bincount(codes[flagged], minlength=k)[order],
    })
    ck = k if confusion_k is None else confusion_k
    conf = rng.random((ck, ck)) * 0.1 + np.eye(ck)
    conf /= conf.sum(axis=1, keepdims=True)
    th = {"warn_rate": Threshold(0.01, "assay default; Northcutt et al. 2021")}
    checks = {
        "label_issues": CheckResult(
            "label_issues", "fail", summary={"n_flagged": int(flagged.sum()),
                                             "rate": float(flagged.mean())},
            evidence={"top_rows": np.flatnonzero(flagged)[:50].tolist()}, thresholds=th,
            message=f"{int(flagged.sum())} rows look mislabelled."),
        "duplicates": CheckResult(
            "duplicates", "warn", summary={"n_exact": 2, "n_near": 3, "n_sets": 2},
            evidence={"sets": [
                {"rows": [5, 6, 7], "size": 3, "ids": ["r5", "r6", "r7"],
                 "labels": [str(names[codes[i]]) for i in (5, 6, 7)]},
                {"rows": [10, 11], "size": 2, "ids": ["r10", "r11"],
                 "labels": [str(names[codes[i]]) for i in (10, 11)]}]},
            thresholds={"near_fraction": Threshold(0.13, "cleanlab Datalab's default")},
            message="2 duplicate sets."),
        "outliers": CheckResult(
            "outliers", "pass", summary={"n_outliers": int(is_outlier.sum())},
            message=f"{int(is_outlier.sum())} outliers."),
        "class_profile": CheckResult(
            "class_profile", "warn", summary={"n_classes": k, "imbalance_ratio":
                                               float(counts.max() / counts.min()),
                                               "many_threshold": 100, "few_threshold": 20},
            evidence={"classes": profile}, message="Long tail."),
        "ambiguous_pairs": CheckResult(
            "ambiguous_pairs", "pass",
            evidence={"pairs": [{"class_a": 0, "class_b": 1, "a_as_b": 3, "b_as_a": 2,
                                 "n_confused": 5, "rate": 0.04, "examples": [1, 2, 3],
                                 "name_a": str(names[0]), "name_b": str(names[1 % k])}]},
            thresholds={"warn_rate": Threshold(0.05, "assay default")}, message="One pair."),
        "slices": CheckResult(
            "slices", "pass", summary={"n_slices_flagged": 0},
            evidence={"confusion": {"classes": [str(c) for c in names[:ck]], "matrix": conf},
                      "slices": pd.DataFrame({"source": ["cluster"], "slice": [1],
                                              "size": [40], "flagged": [False]})},
            message="No weak slice."),
        "broken": CheckResult("broken", "error", message="The check crashed.",
                              error="ValueError: boom </pre><b>bold</b>"),
        "custom_check": CheckResult("custom_check", "warn", summary={"widgets": 7},
                                    evidence={"things": [{"name": "a", "value": 1}]},
                                    message="Seven widgets."),
    }
    summary = {"n_rows": n, "n_classes": k, "classes": [str(c) for c in classes],
               "fingerprint": "abc123", "source": None, "skipped": {"leakage": "needs split"},
               "timings_s": {"total": 1.5}}
    return AuditResult(checks, issues, summary)


class _Collect(HTMLParser):
    """Sections with their data-count, every tag's attributes, and script bodies."""

    def __init__(self):
        super().__init__()
        self.sections: dict[str, dict[str, str]] = {}
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "section" and a.get("id"):
            self.sections[a["id"]] = a
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data


def parse(html):
    p = _Collect()
    p.feed(html)
    return p


@pytest.fixture(scope="module")
def result():
    return make_result()


@pytest.fixture(scope="module")
def page(result):
    return render_report(result)


# --------------------------------------------------------------------------------------------
# Structure and counts
# --------------------------------------------------------------------------------------------
def test_every_section_is_present(page):
    ids = set(parse(page).sections)
    assert {"summary", "class-profile", "label-issues", "duplicates", "outliers",
            "ambiguous-pairs", "confusion", "slices", "errors", "check-custom-check"} <= ids


def test_counts_match_the_json(result, page):
    doc = {c["name"]: c for c in json.loads(result.to_json(include_issues=False))["checks"]}
    sec = parse(page).sections
    assert int(sec["label-issues"]["data-count"]) == doc["label_issues"]["summary"]["n_flagged"]
    assert int(sec["duplicates"]["data-count"]) == doc["duplicates"]["summary"]["n_sets"]
    assert int(sec["outliers"]["data-count"]) == doc["outliers"]["summary"]["n_outliers"]
    assert int(sec["class-profile"]["data-count"]) == doc["class_profile"]["summary"]["n_classes"]
    assert int(sec["errors"]["data-count"]) == 1


def test_data_block_is_the_json_status(result, page):
    scripts = parse(page).scripts
    data = json.loads(scripts[0])
    assert data["statuses"] == {n: c.status for n, c in result.checks.items()}
    assert data["status"] == result.status == "error"
    assert data["counts"]["label-issues"] == int(result.issues["is_label_issue"].sum())


def test_summary_table_lists_checks_thresholds_and_skips(result, page):
    rows = {a["data-check"]: a["data-status"] for t, a in parse(page).tags
            if t == "tr" and "data-check" in a}
    assert rows == {**{n: c.status for n, c in result.checks.items()}, "leakage": "skip"}
    assert "Northcutt et al. 2021" in page and "warn_rate" in page


def test_label_gallery_shows_lowest_scores_first_capped():
    res = make_result(n=2000, n_flag=500)
    html = render_report(res, max_rows=50)
    shown = [int(a["data-row"]) for t, a in parse(html).tags
             if t == "tr" and "data-row" in a]
    iss = res.issues
    # reference: sort every flagged row by score in plain Python and take the first 50
    flagged = [(s, r) for r, s, f in zip(iss["row"], iss["label_score"], iss["is_label_issue"],
                                         strict=True) if f]
    expected = [r for _, r in sorted(flagged)[:50]]
    assert shown[:50] == expected
    assert "Showing the 50 most severe of 500" in html


def test_duplicate_sets_side_by_side(page):
    assert page.count('class="dupset pg-item') == 2
    assert page.count('data-size="3"') == 1


def test_errored_check_is_shown_with_its_message(page):
    i = page.index('id="errors"')
    assert "The check crashed." in page[i:] and "ValueError: boom" in page[i:]
    assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt;" in page


def test_class_chart_is_log_scale():
    # counts 1000, 100, 10, 1: on a log axis the bar heights are 3 : 2 : 1 : 0
    classes = ["a", "b", "c", "d"]
    res = make_result(n=50, classes=classes)
    prof = pd.DataFrame({"class": classes, "count": [1000, 100, 10, 1], "share": [0.9, .09, .009, .001],
                         "group": ["many", "medium", "few", "few"]})
    res.checks["class_profile"].evidence["classes"] = prof
    html = render_report(res)
    heights = [float(a["height"]) for t, a in parse(html).tags
               if t == "rect" and "bar" in (a.get("class") or "")]
    assert len(heights) == 4
    unit = heights[0] / 3
    assert heights == pytest.approx([3 * unit, 2 * unit, unit, 0.0], abs=0.05)
    assert 'class="bar g-many"' in html and 'class="bar g-few"' in html
    assert "many: 100" in html and "few: 20" in html


def test_many_classes_draw_one_curve_and_a_capped_confusion_matrix():
    res = make_result(n=3000, classes=[f"c{i}" for i in range(400)], confusion_k=50)
    html = render_report(res)
    assert "<path class=\"bar g-many\"" in html
    assert html.count("<rect class=\"bar") == 0
    assert "Showing the 30 of 50 classes" in html
    assert html.count('class="rowh"') == 30


# --------------------------------------------------------------------------------------------
# Escaping: data never becomes markup
# --------------------------------------------------------------------------------------------
def test_labels_ids_and_messages_are_escaped():
    res = make_result(n=60, classes=[EVIL, 'say "hi"', "</div>", "ok"])
    html = render_report(res)
    assert EVIL not in html
    assert "<script>window.__xss" not in html
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;&#34;&lt;/div&gt;" in html
    p = parse(html)
    assert len(p.scripts) == 2  # ours: the JSON block and the page script
    assert json.loads(p.scripts[0])["n_classes"] == 4
    assert html.count("<div") == html.count("</div>")  # no stray </div> closed ours


def test_column_names_and_text_are_escaped():
    from assay.data import load

    n = 40
    res = make_result(n=n, classes=["a", "b"])
    table = pd.DataFrame({"label": res.issues["given_label"], EVIL: np.arange(n),
                          "note": [EVIL] * n})
    ds = load(table, label="label")
    html = render_report(res, ds)
    assert EVIL not in html and "<script>window" not in html
    assert html.count("&lt;script&gt;window.__xss=1&lt;/script&gt;") > 2  # name and value cells
    ds_text = load(table, label="label", text="note")
    html = render_report(res, ds_text)
    assert '<p class="excerpt">&lt;script&gt;window.__xss=1&lt;/script&gt;&#34;&lt;/div&gt;' in html


def test_safe_json_cannot_close_a_script():
    text = safe_json({"x": "</script><!-- & \u2028\u2029"})
    assert not set(text) & {"<", ">", "&", "\u2028", "\u2029"}
    assert json.loads(text) == {"x": "</script><!-- & \u2028\u2029"}


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.text(max_size=20), st.lists(st.text(max_size=30) | st.integers(),
                                                      max_size=4), max_size=4))
def test_safe_json_round_trips_anything(value):
    text = safe_json(value)
    assert json.loads(text) == value
    assert "<" not in text and ">" not in text and "&" not in text


# --------------------------------------------------------------------------------------------
# Self-contained, offline, pure
# --------------------------------------------------------------------------------------------
def test_page_is_self_contained(result):
    html = render_report(result, issues_href="issues.parquet")
    p = parse(html)
    for tag, a in p.tags:
        for attr in ("src", "href", "action", "srcset", "data"):
            v = a.get(attr)
            if v is not None:
                assert v.startswith(("#", "data:")) or v == "issues.parquet", (tag, attr, v)
        assert tag not in {"link", "iframe", "object", "embed", "base"}
    assert not re.search(r"url\(|@import|https?://", html.split("<body>")[0].split("<style>")[1])
    assert "default-src 'none'" in html


def test_script_is_allowed_by_hash_only(page):
    import hashlib

    script = parse(page).scripts[1]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in page
    assert "unsafe-inline'; script" not in page.replace("style-src 'unsafe-inline'", "")


def test_render_is_deterministic_and_does_not_mutate(result):
    before = result.to_json()
    assert render_report(result) == render_report(result)
    assert result.to_json() == before


def test_round_trip_through_json_renders_the_same_counts(result, tmp_path):
    path = tmp_path / "audit.json"
    result.to_json(path)
    back = AuditResult.from_json(path)
    a, b = parse(render_report(result)).sections, parse(render_report(back)).sections
    assert {k: v.get("data-count") for k, v in a.items()} == \
        {k: v.get("data-count") for k, v in b.items()}


def test_empty_result_renders():
    html = render_report(AuditResult({}, pd.DataFrame(), {}))
    assert 'id="summary"' in html and 'data-status="pass"' in html


# --------------------------------------------------------------------------------------------
# Samples: thumbnails, text excerpts, table cells
# --------------------------------------------------------------------------------------------
def test_image_thumbnails_are_small_inline_pngs(tmp_path):
    from PIL import Image

    from assay.data import load

    n = 30
    res = make_result(n=n, classes=["a", "b"], n_flag=4)
    paths = []
    for i in range(n):
        if i != int(np.flatnonzero(res.issues["is_label_issue"])[0]):
            Image.new("RGB", (300, 200), (i * 8, 100, 200)).save(tmp_path / f"{i}.png")
        paths.append(f"{i}.png")
    ds = load(pd.DataFrame({"path": paths, "label": res.issues["given_label"]}), label="label",
              image="path")
    ds = type(ds)(ds.table, ds.roles, ds.classes, ds.labels, root=tmp_path)
    html = render_report(res, ds)
    srcs = [a["src"] for t, a in parse(html).tags if t == "img"]
    assert len(srcs) == 4 + 5 - 1  # flagged rows + duplicate members, one file missing
    for s in srcs:
        assert s.startswith("data:image/png;base64,")
        im = Image.open(io.BytesIO(base64.b64decode(s.split(",", 1)[1])))
        assert im.format == "PNG" and max(im.size) <= 96
    assert "file not found" in html


def test_photos_become_jpeg_and_the_thumbnail_budget_holds(tmp_path, monkeypatch):
    from PIL import Image

    from assay.data import load
    from assay.report import _samples

    noise = np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "photo.png")
    Image.new("RGB", (50, 50), (1, 2, 3)).save(tmp_path / "flat.png")
    ds = load(pd.DataFrame({"p": ["photo.png", "flat.png", "flat.png"], "y": ["a", "b", "a"]}),
              label="y", image="p")
    ds = type(ds)(ds.table, ds.roles, ds.classes, ds.labels, root=tmp_path)
    monkeypatch.setattr(_samples, "MAX_THUMBNAILS", 2)
    got = _samples.build_samples(ds, np.array([1, 0, 1, 2]))  # priority order, one repeat
    assert got[1]["src"].startswith("data:image/png;base64,")
    assert got[0]["src"].startswith("data:image/jpeg;base64,")
    assert len(got[0]["src"]) < 4 / 3 * 10_000
    assert got[2] == {"kind": "missing", "path": "flat.png", "reason": "thumbnail budget (2) used"}


def test_long_text_is_excerpted():
    from assay.data import load

    res = make_result(n=20, classes=["a", "b"], n_flag=2)
    table = pd.DataFrame({"label": res.issues["given_label"], "t": ["word " * 200] * 20})
    html = render_report(res, load(table, label="label", text="t"))
    m = re.search(r'<p class="excerpt">([^<]*)<span class="muted">…</span>', html)
    assert m is not None and len(m.group(1)) == 280


def test_without_dataset_no_sample_column(page):
    assert "sample-col" not in page


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------
def test_bad_inputs_raise_clear_errors(result, tmp_path):
    from assay.data import load

    with pytest.raises(InputValidationError, match="needs an assay.AuditResult; got dict"):
        render_report({"checks": []})
    with pytest.raises(InvalidParameterError, match="'max_rows' parameter of render_report"):
        render_report(result, max_rows=0)
    with pytest.raises(InputValidationError, match="issues_href must be a string"):
        render_report(result, issues_href=3)
    small = load(pd.DataFrame({"x": [1, 2], "y": ["a", "b"]}), label="y")
    with pytest.raises(InputValidationError, match="dataset has 2 rows but the audit has 300"):
        render_report(result, small)
    with pytest.raises(InputValidationError, match="must be an assay.Dataset"):
        render_report(result, pd.DataFrame())
    with pytest.raises(InputValidationError, match="does not exist"):
        write_report(result, tmp_path / "nope" / "r.html")


def test_write_report_links_the_parquet_beside_it(result, tmp_path):
    (tmp_path / "issues.parquet").write_bytes(b"x")
    res = AuditResult(result.checks, result.issues, {**result.summary, "issues_file": "issues.parquet"})
    path = write_report(res, tmp_path)
    assert path == tmp_path / "report.html"
    assert 'href="issues.parquet"' in path.read_text(encoding="utf-8")
    assert not list(tmp_path.glob(".*.tmp"))


def test_load_dataset_for_checks_alignment(tmp_path):
    res = make_result(n=20, classes=["a", "b"])
    data = tmp_path / "d.csv"
    pd.DataFrame({"y": res.issues["given_label"], "x": np.arange(20)}).to_csv(data, index=False)
    summary = {**res.summary, "source": str(data), "roles": {"label": "y"}}
    ds = load_dataset_for(AuditResult(res.checks, res.issues, summary))
    assert ds.n_rows == 20
    flipped = res.issues["given_label"].map({"a": "b", "b": "a"})
    pd.DataFrame({"y": flipped, "x": np.arange(20)}).to_csv(data, index=False)
    with pytest.raises(InputValidationError, match="labels differ from the audit's on 20 rows"):
        load_dataset_for(AuditResult(res.checks, res.issues, summary))
    with pytest.raises(InputValidationError, match="Data file not found"):
        load_dataset_for(AuditResult(res.checks, res.issues, summary), tmp_path / "gone.csv")
    assert load_dataset_for(AuditResult(res.checks, res.issues, {**summary, "source": "/gone"})) is None


# --------------------------------------------------------------------------------------------
# Scale: a 1M-row audit renders in seconds and stays small
# --------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_million_row_report_is_fast_and_small():
    res = make_result(n=1_000_000, classes=[f"class_{i}" for i in range(1000)], n_flag=50_000,
                      confusion_k=1000)
    t0 = time.perf_counter()
    html = render_report(res)
    elapsed = time.perf_counter() - t0
    size = len(html.encode("utf-8"))
    assert elapsed < 5.0, elapsed
    assert size < 3_000_000, size
    assert int(parse(html).sections["label-issues"]["data-count"]) == 50_000


# --------------------------------------------------------------------------------------------
# CLI: assay report
# --------------------------------------------------------------------------------------------
def _saved_audit(tmp_path, n=50):
    res = make_result(n=n, classes=["a", "b"])
    folder = tmp_path / "audit"
    folder.mkdir()
    res.issues.to_parquet(folder / "issues.parquet")
    data = tmp_path / "data.csv"
    pd.DataFrame({"y": res.issues["given_label"], "txt": [f"text {EVIL} {i}" for i in range(n)]}
                 ).to_csv(data, index=False)
    summary = {**res.summary, "issues_file": "issues.parquet", "source": str(data),
               "roles": {"label": "y", "text": "txt"}}
    AuditResult(res.checks, res.issues, summary).to_json(folder / "audit.json",
                                                         include_issues=False)
    return folder, data


def test_cli_report_rerenders_with_samples(tmp_path, capsys):
    from assay.cli.main import main

    folder, _ = _saved_audit(tmp_path)
    assert main(["report", str(folder), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["report"] == str(folder / "report.html") and out["samples"] is True
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert 'href="issues.parquet"' in html and '<p class="excerpt">text &lt;script&gt;' in html
    target = tmp_path / "elsewhere" / "r.html"
    target.parent.mkdir()
    assert main(["report", str(folder / "audit.json"), "-o", str(target), "--no-data"]) == 0
    html = target.read_text(encoding="utf-8")
    assert 'href="../audit/issues.parquet"' in html and 'class="excerpt"' not in html
    assert "Wrote" in capsys.readouterr().out


def test_cli_report_explicit_data_and_errors(tmp_path, capsys):
    from assay.cli.main import main

    folder, data = _saved_audit(tmp_path)
    assert main(["report", str(folder), "--data", str(data), "--label", "y", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["samples"] is True
    other = tmp_path / "other.csv"
    pd.DataFrame({"y": ["a", "b", "a"]}).to_csv(other, index=False)
    assert main(["report", str(folder), "--data", str(other), "--label", "y"]) == 2
    assert "3 rows but the audit has 50" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "No audit found" in capsys.readouterr().err
    assert main(["report", str(tmp_path)]) == 2
    assert "No audit.json in" in capsys.readouterr().err
    data.unlink()  # the recorded source is gone: render without samples, and say so
    assert main(["report", str(folder), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["samples"] is False and "not found" in out["note"]


def test_real_audit_counts_and_json_round_trip(tmp_path):
    import assay

    rng = np.random.default_rng(1)
    n = 150
    y = rng.integers(0, 3, n)
    x = rng.normal(size=(n, 3)) + y[:, None] * 2.0
    noisy = np.where(rng.random(n) < 0.1, (y + 1) % 3, y)
    df = pd.DataFrame(x, columns=["a", "b", "c"]).assign(label=[f"k{v}" for v in noisy])
    logits = -((x[:, None, :] - 2.0 * np.arange(3)[:, None] * np.ones((1, 3))) ** 2).sum(-1)
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    res = assay.audit(df, label="label", pred_probs=probs, random_state=0,
                      checks=["label_issues", "duplicates", "outliers", "class_profile",
                              "ambiguous_pairs"])
    for r in (res, AuditResult.from_json(res.to_json())):
        sec = parse(render_report(r)).sections
        doc = {c["name"]: c for c in r.to_dict(include_issues=False)["checks"]}
        assert int(sec["label-issues"]["data-count"]) == doc["label_issues"]["summary"]["n_flagged"]
        assert int(sec["outliers"]["data-count"]) == doc["outliers"]["summary"]["n_outliers"]
        assert int(sec["duplicates"]["data-count"]) == doc["duplicates"]["summary"]["n_sets"]
        assert int(sec["class-profile"]["data-count"]) == 3
        assert int(sec["label-issues"]["data-shown"]) == int(r.issues["is_label_issue"].sum())


def test_unreliable_label_estimates_are_shown_as_upper_bounds():
    res = make_result()
    label = res.checks["label_issues"]
    for reliable in (True, False):
        label.summary.update({"estimated_precision": 0.8, "estimates_reliable": reliable,
                              "spot_check_size": 73})
        html = render_report(res)
        assert "80.0%" in html and "rows to spot-check" in html and ">73<" in html
        assert ("an upper bound" in html) is (not reliable)
    # a reliable estimate is shown with its interval; NaN bounds (older runs) are left out
    label.summary.update({"estimates_reliable": True, "estimated_precision_low": 0.62,
                          "estimated_precision_high": 0.97})
    assert "80.0% (plausibly 62.0% to 97.0%)" in render_report(res)
    label.summary.update({"estimated_precision_low": float("nan")})
    html = render_report(res)
    assert "80.0%" in html and "plausibly" not in html and "nan" not in html.lower().split(
        "<script")[0]


def test_report_names_the_next_step():
    from assay import AuditResult
    from assay.report import render_report

    label = CheckResult("label_issues", "warn", summary={"n_flagged": 3})
    res = AuditResult({"label_issues": label}, pd.DataFrame({"row": [0, 1, 2]}),
                      {"n_rows": 3, "n_classes": 2, "run_id": "20261205-x"})
    html = render_report(res)
    step = re.search(r'<p class="next-step" id="next-step">(.*?)</p>', html, flags=re.S)
    assert step and "assay review --run 20261205-x" in step.group(1)
    assert "assay export -o DIR" in step.group(1)


def _next_steps_block(html):
    return re.search(r'<div class="next-steps" id="next-steps"[^>]*>(.*?)\n  </div>', html,
                     flags=re.S).group(1)


def test_next_steps_are_at_the_top_ranked_with_their_commands():
    res = make_result()
    res.summary["run_id"] = "20261205-y"
    steps = res.next_steps()
    html = render_report(res)
    # inside the summary, before the facts and the check table
    assert html.index('id="next-steps"') < html.index('class="facts"') < html.index('id="checks-table"')
    block = _next_steps_block(html)
    kinds = re.findall(r'<li data-kind="([^"]+)"', block)
    assert kinds == [s.kind for s in steps]
    # the crashed check first, then labels, then duplicates (the documented tiers)
    assert kinds[:4] == ["check_error", "label_issues", "exact_duplicates", "near_duplicates"]
    assert block.count('<code class="ns-cmd">assay review --run 20261205-y</code>') == 3
    assert f'data-count="{len(steps)}"' in html
    data = json.loads(re.search(r'id="assay-data">(.*?)</script>', html, flags=re.S).group(1))
    assert [s["kind"] for s in data["next_steps"]] == kinds


def test_next_steps_escape_the_data():
    res = AuditResult({"target_leakage": CheckResult(
        "target_leakage", "warn", summary={"n_flagged": 1},
        evidence={"columns": [{"column": EVIL, "check": "single_feature", "flagged": True}]})},
        pd.DataFrame({"row": [0, 1]}),
        {"n_rows": 2, "n_classes": 2, "source": "d.csv",
         "roles": {"label": "y", "features": [EVIL, "x"]}})
    block = _next_steps_block(render_report(res))
    assert "<script>" not in block and "&lt;script&gt;window.__xss=1&lt;/script&gt;" in block
    assert "--features x" in block  # the re-audit without the column


def test_an_empty_audit_says_so_in_one_line():
    html = render_report(AuditResult({"outliers": CheckResult("outliers", "pass")},
                                     pd.DataFrame({"row": [0]}), {"n_rows": 1, "n_classes": 2}))
    block = _next_steps_block(html)
    assert re.findall(r"<p[^>]*>(.*?)</p>", block) == [
        "Nothing to fix: no check found rows or columns that need action."]
    assert "<li" not in block and 'id="next-step"' not in html


# --------------------------------------------------------------------------------------------
# Pictures: table rows that are images, unusual cells, score histograms, the data map, size
# --------------------------------------------------------------------------------------------
def _digits_table(names="flat"):
    """scikit-learn's digits as a table: 64 pixel columns (0-16) and a label column."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    cols = ([f"pixel_{i}" for i in range(64)] if names == "flat"
            else [f"pixel_{r}_{c}" for r in range(8) for c in range(8)])
    return pd.DataFrame(x, columns=cols), y


def _decode(src):
    from PIL import Image

    assert src.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))


def _shown_rows(html):
    """(row of each gallery item or duplicate member in page order, src of its <img> or None)."""
    out = []

    class P(HTMLParser):
        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag in ("tr", "figure") and "pg-item" in (a.get("class") or "") and "data-row" in a:
                out.append([int(a["data-row"]), None])
            elif tag == "div" and a.get("class") == "member":
                out.append([None, None])
            elif tag == "img" and out:
                out[-1][1] = a["src"]

    P().feed(html)
    return out


def test_digit_rows_of_a_table_are_thumbnails_of_the_right_shape():
    from assay.data import load

    table, _ = _digits_table()
    res = make_result(n=len(table), classes=[f"digit_{i}" for i in range(10)])
    table["label"] = res.issues["given_label"]
    ds = load(table, label="label")
    html = render_report(res, ds)
    iss = res.issues
    expected = int(iss["is_label_issue"].sum()) + int(iss["is_outlier"].sum()) + 5  # + 5 dup members
    assert expected < 500  # under the thumbnail budget: every shown row is a picture
    shown = _shown_rows(html)
    imgs = [t for t, a in parse(html).tags if t == "img"]
    assert len(shown) == len(imgs) == expected
    assert "+56 more columns" not in html and 'alt="8x8 pixels"' in html
    pixels = table.drop(columns="label").to_numpy()
    for row, src in shown:
        im = _decode(src)
        assert im.mode == "L" and im.size == (8, 8)  # (width, height)
        if row is not None:  # pixel for pixel: 0-16 over the column range, to 0-255
            want = np.round(pixels[row].reshape(8, 8) / 16 * 255).astype(np.uint8)
            assert np.array_equal(np.asarray(im), want), row
        assert len(src) < 400  # a few hundred bytes each


def test_grid_names_and_an_explicit_shape():
    from assay.data import load

    table, _ = _digits_table(names="grid")  # pixel_0_0 ... pixel_7_7, as load_digits(as_frame)
    table = table.iloc[:300].sample(frac=1.0, axis=1, random_state=0)  # columns shuffled
    res = make_result(n=300, classes=["a", "b"], n_flag=5)
    table["label"] = res.issues["given_label"].to_numpy()
    ds = load(table, label="label")
    rows = np.flatnonzero(res.issues["is_label_issue"])
    srcs = dict(_shown_rows(render_report(res, ds))[:5])  # the label gallery comes first
    assert sorted(srcs) == sorted(rows.tolist())
    r = rows[0]
    want = np.round(table.loc[r, [f"pixel_{i}_{j}" for i in range(8) for j in range(8)]]
                    .to_numpy(float).reshape(8, 8) / 16 * 255)
    assert np.array_equal(np.asarray(_decode(srcs[r])), want)  # row-major, whatever the order
    wide = render_report(res, ds, image_shape="4x16")
    assert {_decode(a["src"]).size for t, a in parse(wide).tags if t == "img"} == {(16, 4)}
    assert "<img" not in render_report(res, ds, image_shape="none")
    with pytest.raises(InputValidationError, match="image_shape 5x5 needs 25 numeric pixel"):
        render_report(res, ds, image_shape=(5, 5))
    with pytest.raises(InvalidParameterError, match="'image_shape' parameter of render_report"):
        render_report(res, ds, image_shape="8 by 8")


def test_signed_numbered_features_are_not_taken_for_pixels():
    from assay.data import load, pixel_layout

    rng = np.random.default_rng(0)
    table = pd.DataFrame(rng.normal(size=(120, 100)), columns=[f"f{i}" for i in range(100)])
    assert pixel_layout(table) is None  # 100 = 10 x 10, but signed: features, not pixels
    assert pixel_layout(table.abs()).shape == (10, 10)
    assert pixel_layout(table.abs().iloc[:, :63]) is None  # 63 columns: no square
    assert pixel_layout(table, image_shape="10x10").shape == (10, 10)  # told: it is an image
    res = make_result(n=120, classes=["a", "b"], n_flag=3)
    table["y"] = res.issues["given_label"]
    html = render_report(res, load(table, label="y"))
    assert "<img" not in html and 'class="cells"' in html


def test_the_cells_that_make_a_row_unusual_come_first_highlighted():
    from assay.data import load
    from assay.report import _samples

    rng = np.random.default_rng(0)
    n = 400
    table = pd.DataFrame(rng.normal(size=(n, 12)), columns=[f"c{i}" for i in range(12)])
    table["colour"] = rng.choice(["red", "blue"], n)
    table.loc[7, "c10"] = 50.0  # far out in a column past the first eight
    table.loc[7, "c3"] = -40.0
    table["y"] = np.where(np.arange(n) % 2, "a", "b")
    ds = load(table, label="y")
    got = _samples.build_samples(ds, np.array([7, 8]))
    cells = got[7]["cells"]
    assert [c["name"] for c in cells[:2]] == ["c10", "c3"]  # largest |z| first
    assert [c["unusual"] for c in cells] == [True, True] + [False] * 6
    # the z-score, by hand: (50 - median) / (1.4826 * MAD) of column c10
    col = table["c10"].to_numpy()
    med = np.median(col)
    assert cells[0]["z"] == pytest.approx((50 - med) / (1.4826 * np.median(np.abs(col - med))))
    assert [c["name"] for c in cells[2:]] == ["c0", "c1", "c2", "c4", "c5", "c6"]
    assert got[7]["more"] == 13 - 8
    assert not any(c["unusual"] for c in got[8]["cells"])  # an ordinary row: none highlighted
    res = make_result(n=n, classes=["a", "b"], n_flag=0)
    res.issues.loc[:, "is_outlier"] = np.arange(n) == 7
    html = render_report(res, ds)
    assert re.search(r'<th class="unusual">c10</th><th class="unusual">c3</th>', html)
    assert re.search(r'<td class="unusual" title="robust z = \+\d+\.\d">50</td>', html)


def _hist(html, check):
    m = re.search(rf'<figure class="chart hist" data-check="{check}"[^>]*>.*?</figure>', html,
                  flags=re.S)
    return None if m is None else m.group(0)


def test_score_histograms_draw_the_threshold():
    from assay.report._render import build_context

    res = make_result(n=3000, n_flag=200)
    # outliers: the threshold the check recorded on its score's scale
    res.checks["outliers"] = CheckResult(
        "outliers", "warn", summary={"n_outliers": int(res.issues["is_outlier"].sum())},
        thresholds={"outlier_score": Threshold(0.03, "the distance cut-off")}, message="x")
    html = render_report(res)
    out = _hist(html, "outliers")
    assert 'data-threshold="0.03"' in out and '<line class="cut"' in out
    assert "the distance cut-off" in out
    # label issues flag the 200 lowest scores: a cut, read off the data (nothing recorded)
    lab = _hist(html, "label_issues")
    cut = float(np.sort(res.issues["label_score"])[199])
    assert f'data-threshold="{cut}"' in lab and '<line class="cut"' in lab
    # the bars hold every row, and the flagged ones, bin by bin (oracle: a loop)
    sec = {s["id"]: s for s in build_context(res)["sections"]}
    hist = sec["label-issues"]["hist"]
    s, f = res.issues["label_score"].to_numpy(), res.issues["is_label_issue"].to_numpy()
    for b in hist["bars"]:
        last = b["hi"] == 1.0
        inside = [(v >= b["lo"]) and (v <= b["hi"] if last else v < b["hi"]) for v in s]
        assert b["n"] == sum(inside) and b["f"] == sum(i and g for i, g in zip(inside, f, strict=True))
    assert sum(b["n"] for b in hist["bars"]) == 3000
    assert sum(b["f"] for b in hist["bars"]) == 200 == hist["n_flagged"]
    # flags that are no single cut on the score: bars, but no line
    res.issues.loc[:, "is_label_issue"] = np.arange(3000) % 7 == 0
    lab = _hist(render_report(res), "label_issues")
    assert lab is not None and "data-threshold" not in lab and "no line is drawn" in lab


def test_a_check_that_passed_with_nothing_found_has_no_plot_and_is_collapsed():
    res = make_result(n=500)
    res.issues.loc[:, "is_outlier"] = False
    res.checks["outliers"] = CheckResult("outliers", "pass", summary={"n_outliers": 0},
                                         message="No outliers.")
    html = render_report(res)
    sec = parse(html).sections
    assert _hist(html, "outliers") is None and _hist(html, "label_issues") is not None
    assert sec["outliers"]["data-open"] == "false" and sec["label-issues"]["data-open"] == "true"
    body = re.search(r'<section id="outliers".*?</section>', html, flags=re.S).group(0)
    assert '<details class="sec">' in body and "passed: click to show" in body
    assert "<svg" not in body
    assert re.search(r'<section id="label-issues".*?<details class="sec" open>', html, flags=re.S)


def _with_map(res, rows, seed=0):
    rng = np.random.default_rng(seed)
    res.summary["map"] = {"method": "pca", "rows": list(map(int, rows)),
                          "x": rng.normal(size=len(rows)).round(3).tolist(),
                          "y": rng.normal(size=len(rows)).round(3).tolist(),
                          "explained_variance_ratio": [0.4, 0.2], "n_rows": len(res.issues),
                          "n_random": len(rows)}
    return res


def test_data_map_marks_the_flagged_rows():
    res = make_result(n=1000)
    rows = np.arange(0, 1000, 2)
    html = render_report(_with_map(res, rows))
    fig = re.search(r'<figure class="chart map".*?</figure>', html, flags=re.S).group(0)
    iss = res.issues.iloc[rows]
    flagged = (iss["is_label_issue"] | iss["is_outlier"] | iss["is_exact_duplicate"]
               | iss["is_near_duplicate"]).to_numpy()
    marked = [int(r) for r in re.findall(r'<circle class="mark"[^>]*data-row="(\d+)"', fig)]
    assert sorted(marked) == sorted(rows[flagged].tolist())
    assert f'data-points="{len(rows)}"' in fig
    ks = dict(re.findall(r'data-row="(\d+)" data-k="(\d+)"', fig))
    label_rows = rows[iss["is_label_issue"].to_numpy()]
    assert {ks[str(r)] for r in label_rows} == {"0"}  # label issues are the first mark
    assert fig.count("h0") == len(rows) - flagged.sum()  # the others: one dot each in a path
    assert "40.0% and 20.0% of the variance" in fig
    assert 'id="data-map"' not in render_report(make_result(n=1000))  # no map recorded: none


def test_the_audit_records_a_bounded_pca_map():
    from sklearn.decomposition import PCA

    from assay._audit import _map
    from assay._audit._spec import RowOutputs

    rng = np.random.default_rng(0)
    n = 3000
    x = rng.normal(size=(n, 60)) * np.r_[6.0, 3.0, np.linspace(1.0, 0.1, 58)]  # 60 > 50 dims:
    # the randomized SVD, whose first two axes must match the exact PCA's
    flag = np.zeros(n, bool)
    flag[rng.choice(n, 40, replace=False)] = True
    issues = pd.DataFrame({"f": flag, "s": rng.random(n)})
    m = _map.data_map(x, issues, {"c": RowOutputs(flag="f", score="s")})
    assert len(m["rows"]) == n and m["n_random"] == n  # small: every row
    want = PCA(2).fit_transform(x)
    got = np.column_stack([m["x"], m["y"]])
    want *= np.sign((want * got).sum(axis=0))  # signs of principal axes are arbitrary
    assert np.abs(got - want).max() < 1e-3 * np.abs(want).max()
    assert m["explained_variance_ratio"] == pytest.approx(
        PCA(2).fit(x).explained_variance_ratio_, abs=1e-3)
    big = np.repeat(x, 10, axis=0)  # 30,000 rows: a sample, every flagged row in it
    flag_big = np.zeros(len(big), bool)
    flag_big[::997] = True
    m = _map.data_map(big, pd.DataFrame({"f": flag_big}), {"c": RowOutputs(flag="f")})
    assert len(m["rows"]) <= _map.MAP_POINTS and m["n_rows"] == 30_000
    assert set(np.flatnonzero(flag_big)) <= set(m["rows"])


def test_a_real_audit_of_digit_pixels_has_pictures_plots_and_a_map():
    import assay
    from assay.demo import make_demo_data

    table = make_demo_data(random_state=0).table.drop(columns=["true_label"]).iloc[:600].copy()
    pix = [c for c in table.columns if c.startswith("pixel_")]
    table.loc[[3, 4], pix] = [[16.0] * 64, [8.0] * 64]  # two images that are not digits
    ds = assay.load(table, label="label", id="id")
    res = assay.audit(ds, checks=["label_issues", "outliers", "duplicates"], model="logistic")
    assert len(res.summary["map"]["rows"]) == 600
    cut = res.checks["outliers"].thresholds["outlier_score"].value  # on the score's scale
    iss = res.issues
    assert iss.loc[[3, 4], "is_outlier"].all()
    assert np.array_equal(iss["is_outlier"], iss["outlier_score"] < cut)
    for r in (res, AuditResult.from_json(res.to_json())):
        html = render_report(r, ds)
        assert 'id="data-map"' in html and _hist(html, "label_issues") is not None
        imgs = [a["src"] for t, a in parse(html).tags if t == "img"]
        assert imgs and {_decode(s).size for s in imgs} == {(8, 8)}
        if r.issues["is_outlier"].any():
            assert 'data-threshold="' in _hist(html, "outliers")


def test_hundred_thousand_row_report_stays_under_10_mb():
    """A 100k-row result with a full map, every gallery at its cap, and 28x28 pixel rows: the
    worst case for thumbnails. (``docs/report.md`` gives the sizes of real audits.)"""
    from assay.data import load

    n = 100_000
    res = _with_map(make_result(n=n, classes=[f"c{i}" for i in range(10)], n_flag=5000),
                    np.sort(np.random.default_rng(0).choice(n, 5000, replace=False)))
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, size=(n, 784), dtype=np.uint8)  # noise: compresses worst
    table = pd.DataFrame(pixels, columns=[f"pixel{i}" for i in range(1, 785)])
    table["label"] = res.issues["given_label"].to_numpy()
    t0 = time.perf_counter()
    html = render_report(res, load(table, label="label"))
    elapsed = time.perf_counter() - t0
    size = len(html.encode("utf-8"))
    imgs = [a["src"] for t, a in parse(html).tags if t == "img"]
    assert len(imgs) >= 400 and _decode(imgs[0]).size == (28, 28)
    assert size < 10_000_000, size
    assert elapsed < 30, elapsed


@pytest.mark.slow
def test_real_hundred_thousand_row_audit_report_stays_under_10_mb():
    from sklearn.datasets import make_classification

    import assay

    n = 100_000
    x, y = make_classification(n_samples=n, n_features=20, n_informative=10, n_classes=5,
                               random_state=0)
    rng = np.random.default_rng(0)
    flip = rng.random(n) < 0.05
    y[flip] = (y[flip] + rng.integers(1, 5, flip.sum())) % 5
    df = pd.DataFrame(x, columns=[f"f{i}" for i in range(20)]).assign(label=y)
    ds = assay.load(df, label="label")
    res = assay.audit(ds, checks=["label_issues", "duplicates", "outliers", "class_profile"],
                      model="logistic")
    html = render_report(res, ds)
    assert len(html.encode("utf-8")) < 10_000_000
    assert len(res.summary["map"]["rows"]) <= 5_000 and 'id="data-map"' in html


def test_cli_image_shape_for_report_and_audit(tmp_path, capsys):
    from assay.cli.main import main

    table, _ = _digits_table()
    res = make_result(n=len(table), classes=["a", "b"], n_flag=6)
    table["y"] = res.issues["given_label"]
    data = tmp_path / "digits.csv"
    table.to_csv(data, index=False)
    folder = tmp_path / "audit"
    folder.mkdir()
    res.issues.to_parquet(folder / "issues.parquet")
    summary = {**res.summary, "issues_file": "issues.parquet", "source": str(data),
               "roles": {"label": "y"}}
    AuditResult(res.checks, res.issues, summary).to_json(folder / "audit.json",
                                                         include_issues=False)
    sizes = lambda: {_decode(a["src"]).size for t, a in parse(  # noqa: E731
        (folder / "report.html").read_text(encoding="utf-8")).tags if t == "img"}
    assert main(["report", str(folder)]) == 0 and sizes() == {(8, 8)}
    assert main(["report", str(folder), "--image-shape", "2x32"]) == 0 and sizes() == {(32, 2)}
    assert main(["report", str(folder), "--image-shape", "none"]) == 0 and sizes() == set()
    capsys.readouterr()
    assert main(["report", str(folder), "--image-shape", "8y8"]) == 2
    err = capsys.readouterr().err
    assert "'image_shape' parameter" in err and "--image-shape 8x8" in err
    out = tmp_path / "aud"
    assert main(["audit", str(data), "--label", "y", "--checks", "outliers", "--no-workspace",
                 "--out", str(out), "--image-shape", "4x16"]) == 0
    assert json.loads((out / "audit.json").read_text())["summary"]["image_shape"] == [4, 16]
    html = (out / "report.html").read_text(encoding="utf-8")
    assert {_decode(a["src"]).size for t, a in parse(html).tags if t == "img"} <= {(16, 4)}
    assert main(["audit", str(data), "--label", "y", "--checks", "outliers", "--no-workspace",
                 "--out", str(tmp_path / "aud2"), "--image-shape", "9x9"]) == 2
    assert "image_shape 9x9 needs 81 numeric pixel columns" in capsys.readouterr().err


def test_png_writer_and_block_means_by_hand():
    from PIL import Image

    from assay.report._samples import THUMB_SIZE, _shrink, png_grey

    pix = np.arange(15, dtype=np.uint8).reshape(3, 5) * 17  # 3 high, 5 wide
    im = Image.open(io.BytesIO(png_grey(pix)))
    assert im.mode == "L" and im.size == (5, 3) and np.array_equal(np.asarray(im), pix)
    big = np.arange(200 * 150, dtype=float).reshape(200, 150)
    small = _shrink(big)  # 200 px > 96: blocks of ceil(200 / 96) = 3 px
    assert small.shape == (67, 50) and max(small.shape) <= THUMB_SIZE
    assert small[0, 0] == big[:3, :3].mean() and small[-1, -1] == big[198:, 147:].mean()
    assert _shrink(np.ones((28, 28))).shape == (28, 28)  # small images keep every pixel


# --------------------------------------------------------------------------------------------
# AuditResult._repr_html_: the notebook summary
# --------------------------------------------------------------------------------------------
class _Repr(HTMLParser):
    """The summary's check rows (cells as text), its next steps and every tag seen."""

    def __init__(self):
        super().__init__()
        self.rows: list[list[str]] = []
        self.steps: list[str] = []
        self.tags: set[str] = set()
        self._cell: list[str] | None = None
        self._li: list[str] | None = None
        self._in_body = False

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        if tag == "tbody":
            self._in_body = True
        if tag == "tr" and self._in_body:
            self.rows.append([])
        if tag == "td":
            self._cell = []
        if tag == "li":
            self._li = []

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None
        if tag == "li" and self._li is not None:
            self.steps.append("".join(self._li))
            self._li = None
        if tag == "tbody":
            self._in_body = False

    def handle_data(self, data):
        for part in (self._cell, self._li):
            if part is not None:
                part.append(data)


def _repr(result):
    p = _Repr()
    p.feed(result._repr_html_())
    return p


def test_repr_html_summarises_status_checks_and_next_steps(result):
    text = result._repr_html_()
    assert len(text) < 10_000  # small: a notebook cell, not a report
    p = _repr(result)
    assert p.tags <= {"div", "b", "span", "table", "thead", "tbody", "tr", "th", "td", "code",
                      "ol", "li", "br"}  # no script, no style element, no image
    head = text.split("</div>")[0]  # the verdict line: the worst status, an error here
    assert result.status == "error" and ">ERROR</span>" in head
    assert "300 rows · 4 classes · 8 checks" in head
    rows = {r[0]: r for r in p.rows}
    assert list(rows) == list(result.checks)  # one row per check, in the order they ran
    for name, check in result.checks.items():
        assert rows[name][1] == check.status.upper()
    assert rows["label_issues"][2] == str(int(result.issues["is_label_issue"].sum())) == "30"
    assert rows["outliers"][2] == str(int(result.issues["is_outlier"].sum()))
    assert rows["duplicates"][2] == "5"  # rows 5, 6, 7, 10, 11
    assert rows["class_profile"][2] == "—"  # no per-row output
    assert rows["broken"][3] == "The check crashed."
    steps = result.next_steps()
    assert len(steps) > 5 or len(p.steps) == len(steps)
    assert [s.split(" (")[0] for s in p.steps] == [s.action.split(" (")[0] for s in steps[:5]]
    if len(steps) > 5:
        assert f"and {len(steps) - 5} more" in text


def test_repr_html_escapes_hostile_names():
    evil_check = CheckResult(EVIL, "warn", message=f"class {EVIL} has 1 row",
                             error=None)
    crashed = CheckResult("crashed", "error", error="Traceback\nValueError: </td><b>x</b>")
    res = AuditResult({EVIL: evil_check, "crashed": crashed}, pd.DataFrame({"row": [0, 1]}),
                      {"n_rows": 2, "n_classes": 2, "classes": [EVIL, "b"],
                       "run_id": '"><img src=x onerror=alert(1)>'})
    text = res._repr_html_()
    assert "<script>" not in text and "<img" not in text and "<b>x</b>" not in text
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;&quot;&lt;/div&gt;" in text
    p = _repr(res)
    assert [r[0] for r in p.rows] == [EVIL, "crashed"]  # shown as text
    assert p.rows[0][3] == f"class {EVIL} has 1 row"
    assert p.rows[1][3] == "ValueError: </td><b>x</b>"  # the error's last line, as text


def test_repr_html_of_results_read_back_from_json(tmp_path):
    import assay

    rng = np.random.default_rng(2)
    n = 120
    y = rng.integers(0, 3, n)
    x = rng.normal(size=(n, 3)) + y[:, None] * 2.0
    names = np.array([EVIL, 'say "hi"', "</td><b>c</b>"], dtype=object)
    df = pd.DataFrame(x, columns=["a", "b", "c"]).assign(label=names[y])
    probs = np.full((n, 3), 0.1)
    probs[np.arange(n), (y + (rng.random(n) < 0.1)) % 3] = 0.8
    order = [list(names).index(c) for c in sorted(names)]
    res = assay.audit(df, label="label", pred_probs=probs[:, order], random_state=0,
                      checks=["label_issues", "duplicates", "outliers", "class_profile"])
    path = tmp_path / "audit.json"
    res.to_json(path)
    without_rows = AuditResult.from_json(res.to_json(include_issues=False))
    for r in (res, AuditResult.from_json(path), without_rows,
              AuditResult.from_json('{"schema_version": 1}')):
        text = r._repr_html_()  # never raises
        assert "<script>" not in text and "<b>c</b>" not in text
    rows = {row[0]: row for row in _repr(AuditResult.from_json(path)).rows}
    assert rows["label_issues"][2] == f"{int(res.issues['is_label_issue'].sum()):,}"
    assert {row[0]: row[2] for row in _repr(without_rows).rows}["label_issues"] == "—"
    assert "Nothing to fix." in AuditResult.from_json('{"schema_version": 1}')._repr_html_()


# --------------------------------------------------------------------------------------------
# Weak slices: described in words, p-values rounded
# --------------------------------------------------------------------------------------------
def test_slices_show_their_description_and_rounded_p_values():
    res = make_result()
    desc = {"source": "cluster", "kind": "cluster", "slice": 14, "name": "cluster 14",
            "size": 412, "error_rate": 0.31, "rest_error_rate": 0.1, "p_value": 1e-9,
            "q_value": 3e-8, "short": "higher carat, clarity = I1",
            "text": "higher carat (median 1.6 vs 0.7; 90 % of the slice in 1.2 to 2.5); more "
                    "clarity = I1 (35% of the slice vs 1% of the rest) · rule carat >= 1.5: "
                    "450 rows, precision 0.80, recall 0.87",
            "features": [], "rule": {"text": "carat >= 1.5", "rows": 450, "precision": 0.8,
                                     "recall": 0.87, "conditions": []}}
    res.checks["slices"] = CheckResult(
        "slices", "warn",
        summary={"n_slices_flagged": 1, "n_slices_tested": 2, "error_rate": 0.11,
                 "rows_in_flagged_slices": 412, "described_by": "9 table columns"},
        evidence={"slices": pd.DataFrame({
            "source": ["cluster", "cluster"], "kind": ["cluster", "cluster"], "slice": [14, 3],
            "size": [412, 380], "error_rate": [0.31, 0.12], "low": [0.27, 0.09],
            "high": [0.36, 0.16], "rest_error_rate": [0.1, 0.11], "p_value": [1e-9, 0.009564],
            "q_value": [3e-8, 0.0191280001], "flagged": [True, False],
            "name": ["cluster 14", "cluster 3"],
            "described_by": ["higher carat, clarity = I1", ""],
            "rule": ["carat >= 1.5 (450 rows; precision 0.80, recall 0.87)", ""]}),
            "descriptions": [desc]},
        message="Slices with more errors than the rest: cluster 14 (higher carat).")
    for r in (res, AuditResult.from_json(res.to_json(include_issues=False))):
        html = render_report(r)
        section = html[html.index('<section id="slices"'):]
        section = section[:section.index("</section>")]
        assert 'data-slice="cluster 14"' in section and "rule carat &gt;= 1.5" in section
        assert "higher carat, clarity = I1" in section  # the table's column
        assert "0.00956" in section and "0.0191" in section and "&lt;\u00a00.001" in section
        assert "0.009564" not in section and "0.01913" not in section
        assert "31.0%" in section and "27.0%\u00a0–\u00a036.0%" in section
        assert "9 table columns" in section


def test_format_p_value():
    from assay.report import format_p_value

    assert [format_p_value(v) for v in (0.009564, 0.05, 0.00099, 1.0, None, float("nan"))] == [
        "0.00956", "0.05", "< 0.001", "1", "—", "—"]


# --------------------------------------------------------------------------------------------
# Leaked pairs side by side; the words of a text that point to the suggested label
# --------------------------------------------------------------------------------------------
def _leak_result(n=12):
    issues = pd.DataFrame({"row": np.arange(n), "id": [f"r{i}" for i in range(n)],
                           "given_label": ["a", "b"] * (n // 2)})
    pairs = [  # out of order on purpose: the gallery puts exact first, then near by distance
        {"i": 1, "j": 9, "id_i": "r1", "id_j": "r9", "split_i": "train", "split_j": "test",
         "kind": "near", "distance": 0.5},
        {"i": 2, "j": 8, "id_i": "r2", "id_j": "r8", "split_i": "train", "split_j": "test",
         "kind": "near", "distance": 0.1},
        {"i": 0, "j": 10, "id_i": "r0", "id_j": "r10", "split_i": "train", "split_j": "test",
         "kind": "exact", "distance": 0.0},
    ]
    check = CheckResult("leakage", "fail", summary={"n_leaked_rows": 3, "n_exact": 1,
                                                    "n_near": 2, "n_group": 0},
                        evidence={"pairs": pairs, "n_pairs": 3}, message="3 rows leak.")
    return AuditResult({"leakage": check}, issues, {"n_rows": n, "n_classes": 2})


def _pair_blocks(html):
    return re.findall(r'<div class="dupset leakpair[^"]*" data-kind="(\w+)" data-rows="(\d+) (\d+)">'
                      r'(.*?)</div>\s*</div>\s*</div>', html, flags=re.S)


def test_leaked_pairs_are_shown_side_by_side_with_the_differing_cells():
    from assay.data import load

    n = 12
    table = pd.DataFrame({"x": np.arange(n, dtype=float), "colour": ["red"] * n,
                          "size": np.arange(n) % 3, "y": ["a", "b"] * (n // 2),
                          "split": ["train"] * 6 + ["test"] * 6})
    table.loc[10, ["x", "size"]] = table.loc[0, ["x", "size"]]  # exact copy of row 0
    table.loc[8, "colour"] = "blue"  # row 8 differs from row 2 in x and colour; size equal
    ds = load(table, label="y", split="split")
    html = render_report(_leak_result(n), ds)
    blocks = _pair_blocks(html)
    assert [(k, int(a), int(b)) for k, a, b, _ in blocks] == [
        ("exact", 0, 10), ("near", 2, 8), ("near", 1, 9)]
    kind, a, b, body = blocks[0]
    assert body.count('<div class="member"') == 2 and body.count('class="cells"') == 2
    for row, split in ((0, "train"), (10, "test")):  # each row with its split, id and label
        assert re.search(rf'data-row="{row}">.*?<span class="split" title="split">{split}</span> '
                         rf'<span class="id">r{row}</span> <span class="lab">a</span>', body, re.S)
    assert "differs" not in body  # an exact copy: nothing highlighted
    near = blocks[1][3]
    # x (2 vs 8) and colour (red vs blue) differ, first and highlighted; size (2 % 3 == 8 % 3)
    assert near.count('<th class="differs">x</th><th class="differs">colour</th><th>size</th>') == 2
    assert "distance 0.1" in near
    data = json.loads(parse(html).scripts[0])
    assert [p["rows"] for p in data["leaked_pairs"]] == [[0, 10], [2, 8], [1, 9]]
    assert data["leaked_pairs"][0]["splits"] == ["train", "test"]
    # the table of pairs is still there, below, collapsed
    assert re.search(r'<details class="more-table"><summary>Leaked pairs', html)


def test_leaked_pairs_are_capped_and_render_without_data():
    from assay.report._render import MAX_LEAK_PAIRS

    res = _leak_result()
    res.checks["leakage"].evidence["pairs"] = [
        {"i": i, "j": i + 1, "kind": "near", "distance": 1.0 / (i + 1)} for i in range(40)]
    res.checks["leakage"].evidence["n_pairs"] = 40
    html = render_report(res)
    blocks = _pair_blocks(html)
    assert len(blocks) == MAX_LEAK_PAIRS
    assert (blocks[0][1], blocks[0][2]) == ("39", "40")  # the closest first
    assert "(30 of 40;" in html and 'class="cells"' not in html  # no data: captions only


def _marked(html):
    return {m.group(2).lower(): m.group(1)
            for m in re.finditer(r'<mark class="to-(\w+)" title="[^"]*">([^<]*)</mark>', html)}


def test_text_marks_the_words_that_point_to_the_suggested_label():
    from assay.data import load
    from assay.report._words import WordRatios, tokenize

    texts = ["good great fun onerror", "good movie", "bad awful movie", "bad boring plot",
             "good bad movie fun plot boring <img onerror=x> </div><b>"]
    labels = ["pos", "pos", "neg", "neg", "neg"]
    issues = pd.DataFrame({"row": range(5), "id": [f"r{i}" for i in range(5)],
                           "given_label": labels, "suggested_label": ["pos"] * 5,
                           "label_score": [0.9, 0.9, 0.9, 0.9, 0.1],
                           "is_label_issue": [False] * 4 + [True]})
    res = AuditResult({"label_issues": CheckResult("label_issues", "fail",
                                                   summary={"n_flagged": 1})},
                      issues, {"n_rows": 5, "n_classes": 2})
    ds = load(pd.DataFrame({"text": texts, "label": labels}), label="label", text="text")
    html = render_report(res, ds)
    # By hand. Words (2+ word characters, lower case): pos rows have 6 (good x2, great, fun,
    # onerror, movie), neg rows 15; the vocabulary has V = 11 words. For row 4 (given neg,
    # suggested pos), r(w) = log((n_pos + 1) / (6 + 11)) - log((n_neg + 1) / (15 + 11)):
    #   good  log(3/17) - log(2/26) = +0.830    bad    log(1/17) - log(4/26) = -0.961
    #   fun   log(2/17) - log(2/26) = +0.425    plot   log(1/17) - log(3/26) = -0.674
    #   onerror                       +0.425    boring                         -0.674
    #   movie log(2/17) - log(3/26) = +0.019    img, div log(1/17) - log(2/26) = -0.268
    # All 4 positive words are marked (at most 5); the 3 most negative: bad, boring, plot.
    assert _marked(html) == {"good": "suggested", "fun": "suggested", "onerror": "suggested",
                             "movie": "suggested", "bad": "given", "boring": "given",
                             "plot": "given"}
    assert 'title="log-ratio +0.83: points to the suggested label">good</mark>' in html
    r = WordRatios(texts, ds.labels).ratios(tokenize(texts[4]), ds.classes.index("neg"),
                                            ds.classes.index("pos"))
    assert r["good"] == pytest.approx(np.log(3 / 17) - np.log(2 / 26))
    assert r["bad"] == pytest.approx(np.log(1 / 17) - np.log(4 / 26))
    # the hostile text stays text, marked words included
    assert "<img onerror" not in html and "</div><b>" not in html
    assert ('&lt;img <mark class="to-suggested" title="log-ratio +0.42: points to the suggested '
            'label">onerror</mark>=x&gt; &lt;/div&gt;&lt;b&gt;') in html
    assert 'id="marks-note"' in html
    # the marks are the label gallery's only: without text, or without the dataset, none
    assert "<mark" not in render_report(res).split("</style>")[1]


def test_word_counts_are_sampled_above_the_cap():
    """A long text column is counted on a seeded sample, labels kept aligned with it."""
    from assay.report._words import WordRatios

    texts = [f"alpha w{i}" if i % 2 else f"beta w{i}" for i in range(50)]
    labels = np.arange(50) % 2
    full = WordRatios(texts, labels)
    part = WordRatios(texts, labels, max_rows=20)
    assert full.matrix.shape[0] == 50 and part.matrix.shape[0] == 20
    # every sampled row still carries its own label: alpha only in class 1, beta only in 0
    alpha, beta = part.vocab["alpha"], part.vocab["beta"]
    assert part.counts(0)[alpha] == 0 and part.counts(1)[beta] == 0
    assert part.counts(0)[beta] + part.counts(1)[alpha] == 20
