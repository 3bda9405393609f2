"""The fix loop of an object-detection task, end to end: audit -> review -> export -> re-audit
-> diff, on rendered shape scenes (``tests/test_audit_detection.py::_scenes``: PNG files, noisy
COCO annotations, a real detector's boxes).

A COCO file goes through the commands as a user types them (``assay audit``, ``assay review``
driven through its HTTP API with the printed token, ``assay export``, ``assay diff``); the COCO
export rules and a table source with box cells (JSON text in a CSV, lists in JSON Lines) are
checked in process on small files; the review page's box view is driven in Debian's chromium.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("PIL")

from assay.data import format_boxes  # noqa: E402
from assay.exceptions import InputValidationError  # noqa: E402
from assay.workspace import Workspace  # noqa: E402

N_IMAGES = 200
CLASSES = ["cross", "disk", "ring", "square", "triangle"]
# the CLI-as-a-subprocess harness (environment, `assay` runner, `assay review` server) is the
# token loop's
from test_tokens_loop import ENV, Review, _assay, _recorded_run  # noqa: E402, F401


@pytest.fixture(scope="module")
def coco_audit(tmp_path_factory):
    """200 rendered scenes (PNG files, noisy COCO annotations, a detector's boxes), audited with
    ``assay audit instances.json --label boxes --predictions preds.json`` in their folder."""
    from test_audit_detection import _scenes

    folder = tmp_path_factory.mktemp("detloop")
    _scenes(folder, n_images=N_IMAGES)
    run_a = _recorded_run(_assay("audit", "instances.json", "--label", "boxes", "--predictions",
                                 "preds.json", cwd=folder))
    return folder, run_a


def _copy(folder: Path, tmp_path: Path) -> Path:
    """A copy of an audited folder (data, images and workspace: the source is recorded by its
    path, so the copy's review reads the copied files only when the copy is where it looks)."""
    out = tmp_path / "work"
    shutil.copytree(folder, out)
    ws = Workspace.open(out / ".assay")
    with ws.hold():  # point the copy's dataset at the copied file
        for fp in ws.datasets()["fingerprint"]:
            rec = ws.dataset(fp)
            src = Path(rec["source"])
            if src.is_relative_to(folder):
                ws.register_dataset(fp, n_rows=rec["n_rows"], source=str(out / src.relative_to(
                    folder)), schema=rec.get("schema"), roles=rec.get("roles"))
    ws.close()
    return out


def _post(client: httpx.Client, row_id: str, action: str, **extra) -> httpx.Response:
    body = {"row_id": row_id, "queue": extra.pop("queue", "label_issues"), "action": action,
            "reviewer": "ana", **extra}
    return client.post("/api/decisions", json=body)


def _by_image(annotations: list[dict]) -> dict:
    out: dict = {}
    for ann in annotations:
        out.setdefault(ann["image_id"], []).append(ann)
    return out


# ---------------------------------------------------------------------- COCO, as a user
@pytest.mark.slow
def test_coco_fix_loop_as_a_user(coco_audit, tmp_path):
    """audit -> review (suggested boxes, typed boxes, refusals) -> export (a COCO file with the
    corrected boxes, every other annotation object as it was, the dropped image gone) ->
    re-audit with the exported predictions -> diff counts the corrected images fixed."""
    work = _copy(coco_audit[0], tmp_path)
    run_a = coco_audit[1]
    source = work / "instances.json"
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    coco = json.loads(source.read_text(encoding="utf-8"))
    server = Review(work)
    try:
        with server.client() as client:
            session = client.get("/api/session").json()
            assert session["task"] == "detection" and session["classes"] == CLASSES
            assert session["banner"] is None
            items = client.get("/api/queues/label_issues",
                               params={"limit": 500}).json()["items"]
            drop = max(items, key=lambda it: it["row"])  # the last: row numbers before it hold
            usable = [it for it in items if it["row"] < drop["row"]]
            assert len(usable) >= 6
            first = usable[0]
            view = first["boxes"]
            assert view["given"] == json.loads(first["given_label"])
            assert view["suggested"] == json.loads(first["suggested_label"])
            assert view["given"] != view["suggested"] and view["changes"]
            assert (view["width"], view["height"]) == (64, 64)
            assert view["changed_given"] or view["changed_suggested"]
            assert all(view["given"][i] not in view["suggested"] for i in view["changed_given"])
            assert first["image"] is True and "boxes" not in first["fields"]
            png = client.get(f"/api/rows/{first['row_id']}/image")
            assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
            assert re.fullmatch(r"\d+ box(es)?: .+|no boxes", first["neighbours"][0]["label"])
            new_boxes: dict[int, list] = {}
            for it in usable[:3]:  # r: the suggested boxes
                assert _post(client, it["row_id"], "relabel",
                             new_label=it["suggested_label"]).status_code == 200
                new_boxes[it["row"]] = it["boxes"]["suggested"]
            typed = usable[3]  # l: the suggestion typed by hand, spaced and with fractions
            boxes = [[b[0], float(b[1]), float(b[2]), b[3], b[4]]
                     for b in typed["boxes"]["suggested"]]
            res = _post(client, typed["row_id"], "relabel",
                        new_label="  " + json.dumps(boxes, indent=2))
            assert res.status_code == 200, res.text
            new_boxes[typed["row"]] = typed["boxes"]["suggested"]
            bad = usable[4]
            res = _post(client, bad["row_id"], "relabel", new_label='[["triangel", 1, 2, 3, 4]]')
            assert res.status_code == 422
            assert res.json()["error"].startswith(
                "Box 1 ([\"triangel\", 1, 2, 3, 4]) has the class 'triangel', which the dataset "
                "does not have; classes: cross, disk, ring, square, triangle. Use one of them.")
            res = _post(client, bad["row_id"], "relabel", new_label='[["ring", 1, 2, 3 4]]')
            assert res.status_code == 422
            assert res.json()["error"].startswith(
                "new_label is not valid JSON (Expecting ',' delimiter at character 18); "
                "expected a JSON list of [class, x, y, width, height] boxes")
            assert "got '[[\"ring\", 1, 2, 3 4]]'. Fix the JSON." in res.json()["error"]
            res = _post(client, bad["row_id"], "relabel", new_label='[["ring", 1, 2, -3, 4]]')
            assert res.status_code == 422
            assert res.json()["error"].startswith(
                'Box 1 (["ring", 1, 2, -3, 4]) has width -3; a width and a height are at least 0')
            for wrong in ('{"ring": 1}', '[["ring", 1, 2]]', '[["ring", 1, "2", 3, 4]]',
                          '[["ring", 1, NaN, 3, 4]]', '[[7, 1, 2, 3, 4]]', ""):
                res = _post(client, bad["row_id"], "relabel", new_label=wrong)
                assert res.status_code == 422, wrong
                assert "Press l to edit the image's boxes" in res.json()["error"]
            kept = usable[5]
            assert _post(client, kept["row_id"], "keep").status_code == 200
            assert _post(client, drop["row_id"], "drop").status_code == 200
    finally:
        server.stop()
    stored = Workspace.open(work / ".assay", read_only=True).decisions()
    relabels = stored[stored["action"] == "relabel"]
    assert relabels["new_label"].tolist() == [format_boxes(b) for b in new_boxes.values()]

    res = _assay("export", "-o", "v2", "--json", cwd=work)
    assert res.returncode == 0, res.stderr
    counts = json.loads(res.stdout)["counts"]
    assert counts["relabelled"] == 4 and counts["removed"] == 1 and counts["kept"] == 1
    assert counts["rows_after"] == N_IMAGES - 1
    assert hashlib.sha256(source.read_bytes()).hexdigest() == digest  # never in place
    out = json.loads((work / "v2" / "instances.json").read_text(encoding="utf-8"))
    assert list(out) == list(coco) and out["categories"] == coco["categories"]
    dropped_id = coco["images"][drop["row"]]["id"]
    assert out["images"] == [img for img in coco["images"] if img["id"] != dropped_id]
    before, after = _by_image(coco["annotations"]), _by_image(out["annotations"])
    assert dropped_id not in after
    fixed_ids = {coco["images"][r]["id"]: b for r, b in new_boxes.items()}
    names = {c["id"]: c["name"] for c in coco["categories"]}
    top = max(a["id"] for a in coco["annotations"])
    for img in out["images"]:
        got = after.get(img["id"], [])
        if img["id"] in fixed_ids:
            assert [[names[a["category_id"]], *a["bbox"]] for a in got] == fixed_ids[img["id"]]
            assert all(a["id"] > top and a["iscrowd"] == 0 and a["area"] == a["bbox"][2]
                       * a["bbox"][3] for a in got)
        else:  # the same objects, keys and values, in the same order
            assert [json.dumps(a) for a in got] == [json.dumps(a)
                                                     for a in before.get(img["id"], [])]
    assert len({a["id"] for a in out["annotations"]}) == len(out["annotations"])
    assert (work / "v2" / coco["images"][0]["file_name"]).is_file()  # the images came along
    preds = json.loads((work / "v2" / "preds.json").read_text(encoding="utf-8"))
    original = json.loads((work / "preds.json").read_text(encoding="utf-8"))
    assert preds == [p for p in original if p["image_id"] != dropped_id]

    run_b = _recorded_run(_assay("audit", "v2/instances.json", "--label", "boxes",
                                 "--predictions", "v2/preds.json", cwd=work))
    res = _assay("diff", run_a, run_b, "--json", cwd=work)
    assert res.returncode == 0, res.stderr
    diff = json.loads(res.stdout)
    check = next(c for c in diff["checks"] if c["check"] == "detection_labels")
    fixed = {str(r) for r in diff["fixed_rows"]["detection_labels"]}
    acted = {str(r) for r in new_boxes} | {str(drop["row"])}
    assert fixed <= acted and check["fixed"] == len(fixed)
    assert len(fixed & {str(r) for r in new_boxes}) >= 3
    assert check["kept"] == 1
    text = _assay("diff", run_a, run_b, cwd=work).stdout
    assert re.search(r"detection_labels\s+\d+\s+\d+\s+" + str(len(fixed)), text)


@pytest.mark.slow
def test_without_the_image_files_the_boxes_come_alone(coco_audit, tmp_path):
    """The images moved away: the item has no image, and its size still comes from the COCO
    file (the page draws the boxes on a blank canvas of that size)."""
    from fastapi.testclient import TestClient

    from assay.app import create_app

    work = _copy(coco_audit[0], tmp_path)
    shutil.rmtree(work / "images")
    with TestClient(create_app(work / ".assay", token="t0k"), base_url="http://127.0.0.1",
                    headers={"X-Assay-Token": "t0k"}) as client:
        item = client.get("/api/queues/label_issues").json()["items"][0]
        assert item["image"] is False
        assert (item["boxes"]["width"], item["boxes"]["height"]) == (64, 64)
        assert client.get(f"/api/rows/{item['row_id']}/image").status_code == 404
        assert item["fields"]["file_name"].startswith("images/")


# ---------------------------------------------------------------------- export, fast
def _registered(tmp_path: Path, data: Path, *, predictions: Path | None = None,
                **roles) -> tuple[Workspace, str]:
    """``data`` registered with a finished detection audit (no real audit: fast)."""
    import assay

    ds = assay.load(data, **roles)
    ws = Workspace.open(tmp_path / "ws")
    with ws.hold():
        ws.register_dataset(ds.fingerprint, n_rows=ds.n_rows, source=str(data),
                            roles=ds.roles.to_dict())
        params = {"data": str(data), "predictions": str(predictions) if predictions else None}
        run_id = ws.start_run("audit", params, fingerprint=ds.fingerprint)
        ws.finish_run(run_id, summary={"task": "detection"})
    return ws, run_id


COCO = {
    "info": {"description": "toy", "version": "1.0"},
    "licenses": [{"id": 1, "name": "CC-BY 4.0"}],
    "images": [{"id": 11, "file_name": "a.png", "width": 40, "height": 30, "license": 1},
               {"id": 12, "file_name": "b.png", "width": 40, "height": 30},
               {"id": 13, "file_name": "c.png", "width": 40, "height": 30},
               {"id": 14, "file_name": "d.png", "width": 40, "height": 30}],
    "categories": [{"id": 1, "name": "dog", "supercategory": "animal"},
                   {"id": 7, "name": "cat", "supercategory": "animal"}],
    "annotations": [
        {"id": 5, "image_id": 11, "category_id": 1, "bbox": [1.5, 2, 10, 8], "area": 80,
         "iscrowd": 0, "segmentation": [[1.5, 2, 11.5, 2, 11.5, 10]]},
        {"id": 9, "image_id": 12, "category_id": 7, "bbox": [0.0, 0.0, 5.0, 5.0],
         "area": 25.0, "iscrowd": 0, "segmentation": [[0, 0, 5, 0, 5, 5]], "score_hint": None},
        {"id": 21, "image_id": 11, "category_id": 7, "bbox": [20, 10, 6, 6], "area": 36,
         "iscrowd": 1},
        {"id": 30, "image_id": 13, "category_id": 1, "bbox": [3, 3, 4, 4], "area": 16,
         "iscrowd": 0}]}


def test_coco_export_keeps_untouched_annotations_and_rebuilds_relabelled_ones(tmp_path):
    """Untouched images keep their annotation objects exactly; a relabelled image's are
    replaced (in place, fresh ids above the largest, area, iscrowd 0, category by name); an
    image without annotations gets its new ones last; a removed image goes with its
    annotations; info, licenses and categories stay; so do the predictions on kept images."""
    from assay.export import export_version

    data = tmp_path / "instances.json"
    data.write_text(json.dumps(COCO, indent=1), encoding="utf-8")
    preds = tmp_path / "preds.json"
    results = [{"image_id": i, "category_id": 1, "bbox": [1, 1, 3, 3], "score": 0.9}
               for i in (11, 12, 13, 14, 13)]
    preds.write_text(json.dumps(results), encoding="utf-8")
    raw = data.read_bytes()
    ws, run_id = _registered(tmp_path, data, predictions=preds, label="boxes")
    ws.append_decision(0, "relabel", new_label='[["cat", 1.5, 2, 10, 8]]', reviewer="ana",
                       run_id=run_id)
    ws.append_decision(2, "remove", reviewer="ana", run_id=run_id)
    ws.append_decision(3, "relabel", new_label='[["dog", 1, 1, 2.5, 2]]', reviewer="ana",
                       run_id=run_id)
    ws.append_decision(1, "relabel", new_label='[["cat", 0, 0, 5, 5]]', reviewer="ana",
                       run_id=run_id)  # the boxes it has: nothing changes
    res = export_version(ws, tmp_path / "v2")
    assert res.counts["relabelled"] == 2 and res.counts["relabel_same_label"] == 1
    assert res.counts["removed"] == 1 and res.counts["rows_after"] == 3
    assert data.read_bytes() == raw
    out = json.loads(res.data_path.read_text(encoding="utf-8"))
    assert res.data_path.name == "instances.json"
    assert list(out) == ["info", "licenses", "images", "categories", "annotations"]
    assert out["info"] == COCO["info"] and out["licenses"] == COCO["licenses"]
    assert out["categories"] == COCO["categories"]
    assert out["images"] == [COCO["images"][i] for i in (0, 1, 3)]
    assert out["annotations"] == [
        {"id": 31, "image_id": 11, "category_id": 7, "bbox": [1.5, 2, 10, 8], "area": 80.0,
         "iscrowd": 0},
        COCO["annotations"][1],
        {"id": 32, "image_id": 14, "category_id": 1, "bbox": [1, 1, 2.5, 2], "area": 5.0,
         "iscrowd": 0}]
    assert json.dumps(out["annotations"][1]) == json.dumps(COCO["annotations"][1])
    assert json.loads((tmp_path / "v2" / "preds.json").read_text()) == [
        r for r in results if r["image_id"] != 13]
    assert res.changelog["predictions"] == {"source": str(preds.resolve()), "n_before": 5,
                                            "n_after": 3,
                                            "path": str(tmp_path / "v2" / "preds.json")}


def test_coco_export_refuses_an_unknown_class_unless_allowed(tmp_path):
    """A relabel to a class the COCO file does not have is refused, with the classes and the
    flag; with allow_new_classes it gets a new category; a malformed decision is refused."""
    from assay.export import export_version

    data = tmp_path / "instances.json"
    data.write_text(json.dumps(COCO), encoding="utf-8")
    ws, run_id = _registered(tmp_path, data, label="boxes")
    ws.append_decision(1, "relabel", new_label='[["bird", 1, 1, 4, 4], ["cat", 0, 0, 5, 5]]',
                       reviewer="ana", run_id=run_id)
    with pytest.raises(InputValidationError,
                       match=r"Row '1' is relabelled to boxes of classes the data does not have "
                             r"\(bird; classes: cat, dog\)\. Fix the decision, or pass "
                             r"--allow-new-classes"):
        export_version(ws, tmp_path / "v2")
    assert not (tmp_path / "v2").exists()
    res = export_version(ws, tmp_path / "v2", allow_new_classes=True)
    out = json.loads(res.data_path.read_text(encoding="utf-8"))
    assert out["categories"] == [*COCO["categories"], {"id": 8, "name": "bird"}]
    assert [(a["category_id"], a["bbox"]) for a in out["annotations"]
            if a["image_id"] == 12] == [(8, [1, 1, 4, 4]), (7, [0, 0, 5, 5])]
    ws.append_decision(1, "relabel", new_label='[["cat", 0, 0, -5, 5]]', reviewer="ana",
                       run_id=run_id)
    with pytest.raises(InputValidationError,
                       match=r"Row '1' is relabelled to '\[\[\"cat\", 0, 0, -5, 5\]\]', which is "
                             r"not a list of boxes\. Fix the decision \(assay review\)"):
        export_version(ws, tmp_path / "v3")


CELLS = ['[["dog", 1, 2, 3, 4]]', '[["cat", 5, 5, 8, 8], ["dog", 0, 0, 2, 2]]', "[]",
         '[["cat", 1.5, 1, 2, 2]]']


@pytest.mark.parametrize("form", ["csv-json", "jsonl-list"])
def test_table_export_writes_box_cells_in_the_columns_form(tmp_path, form):
    """A CSV of JSON box cells stays JSON text, a JSON Lines file of list cells stays lists;
    every other row and column is unchanged; a removed row is gone."""
    from assay.export import export_version

    table = pd.DataFrame({"id": ["a", "b", "c", "d"], "site": ["x", "y", "x", "z"],
                          "boxes": CELLS})
    if form == "csv-json":
        data = tmp_path / "boxes.csv"
        table.to_csv(data, index=False)
    else:
        data = tmp_path / "boxes.jsonl"
        with open(data, "w", encoding="utf-8") as fh:
            for rec in table.to_dict("records"):
                fh.write(json.dumps({**rec, "boxes": json.loads(rec["boxes"])}) + "\n")
    ws, run_id = _registered(tmp_path, data, label="boxes", id="id")
    ws.append_decision("c", "relabel", new_label='[["cat", 2.0, 3, 4, 5]]', reviewer="ana",
                       run_id=run_id)
    ws.append_decision("d", "remove", reviewer="ana", run_id=run_id)
    res = export_version(ws, tmp_path / "v2")
    assert res.counts["relabelled"] == 1 and res.counts["rows_after"] == 3
    if form == "csv-json":
        after = pd.read_csv(res.data_path)
        assert after["boxes"].tolist() == [*CELLS[:2], '[["cat", 2, 3, 4, 5]]']
        pd.testing.assert_frame_equal(after.iloc[:2], pd.read_csv(data).iloc[:2])
    else:
        lines = [json.loads(x) for x in res.data_path.read_text(encoding="utf-8").splitlines()]
        assert lines == [{"id": "a", "site": "x", "boxes": json.loads(CELLS[0])},
                         {"id": "b", "site": "y", "boxes": json.loads(CELLS[1])},
                         {"id": "c", "site": "x", "boxes": [["cat", 2, 3, 4, 5]]}]


# ---------------------------------------------------------------------- the page
@pytest.mark.browser
@pytest.mark.slow
def test_box_view_in_the_browser(coco_audit, browser, tmp_path):
    """The image is drawn with its given and suggested boxes, a legend and the changes in
    words; r takes the suggested boxes; l opens the box with the given boxes as JSON, a bad
    class is refused with the server's reason, an edited list + Enter records it."""
    work = _copy(coco_audit[0], tmp_path)
    server = Review(work)
    try:
        with server.client() as client:
            items = client.get("/api/queues/label_issues").json()["items"]
        page = browser.new_page()
        external: list[str] = []
        page.on("request", lambda r: external.append(r.url)  # the images come as blob: URLs
                if not r.url.startswith((server.base, "blob:" + server.base)) else None)
        page.goto(server.url)
        page.wait_for_selector("#item[data-row-id] #boxview[data-image='shown']")
        assert page.evaluate("document.getElementById('relabel').tagName") == "INPUT"
        assert page.is_hidden("#key-digits")
        assert "new boxes (JSON)" in page.inner_text("aside")
        assert page.inner_text("#classes").split() == CLASSES
        first = items[0]
        assert page.get_attribute("#item", "data-row-id") == first["row_id"]
        href = page.get_attribute("#boxview image.photo", "href")
        assert href.startswith("blob:")
        view = first["boxes"]
        assert page.locator("#boxview g.box.given").count() == len(view["given"])
        assert page.locator("#boxview g.box.suggested").count() == len(view["suggested"])
        assert page.locator("#boxview g.box.given.changed").count() == len(view["changed_given"])
        assert page.locator("#boxview g.box.given text").all_text_contents() == [
            b[0] for b in view["given"]]
        rect = page.locator("#boxview g.box.given rect").first
        assert [float(rect.get_attribute(k)) for k in ("x", "y", "width", "height")] == \
            [float(v) for v in view["given"][0][1:]]
        assert "given box" in page.inner_text("#boxview .legend")
        assert page.inner_text("#box-changes") == view["changes"]
        size = page.evaluate("(() => { const r = document.querySelector('#boxview svg')"
                             ".getBoundingClientRect(); return [r.width, r.height]; })()")
        assert min(size) > 300  # a 64x64 image drawn large enough to read
        assert page.input_value("#relabel") == first["given_label"]
        page.fill("#reviewer", "ana")
        page.keyboard.press("Escape")
        page.keyboard.press("3")  # digits pick no class here
        assert "an image's label is its boxes" in page.inner_text("#status")
        page.keyboard.press("r")
        page.wait_for_function("() => document.body.dataset.saved === '1'")
        second = page.get_attribute("#item", "data-row-id")
        assert second != first["row_id"]
        given = json.loads(page.input_value("#relabel"))
        page.keyboard.press("l")
        assert page.evaluate("document.activeElement.id") == "relabel"
        wrong = [["triangel", *given[0][1:]], *given[1:]] if given else [["triangel", 1, 1, 2, 2]]
        page.fill("#relabel", json.dumps(wrong))
        page.keyboard.press("Enter")  # an unknown class: refused, nothing stored
        page.wait_for_function(
            "() => document.getElementById('status').innerText.includes('triangel')")
        assert ("has the class 'triangel', which the dataset does not have; classes: cross, "
                "disk, ring, square, triangle" in page.inner_text("#status"))
        assert page.evaluate("document.body.dataset.saved") == "1"
        typed = [*given, ["disk", 1, 2, 3, 4]]
        page.keyboard.press("l")
        page.fill("#relabel", json.dumps(typed))
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.body.dataset.saved === '2'")
        dec = Workspace.open(work / ".assay").decisions()
        assert dec["row_id"].tolist() == [first["row_id"], second]
        assert dec["new_label"].tolist() == [first["suggested_label"], format_boxes(typed)]
        assert external == []
        page.close()
    finally:
        server.stop()


@pytest.mark.browser
@pytest.mark.slow
def test_box_view_without_the_image_file(coco_audit, browser, tmp_path):
    """The image files are gone: the boxes are drawn on a blank canvas of the image's size
    (from the COCO file), and the page says so."""
    work = _copy(coco_audit[0], tmp_path)
    shutil.rmtree(work / "images")
    server = Review(work)
    try:
        with server.client() as client:
            first = client.get("/api/queues/label_issues").json()["items"][0]
        page = browser.new_page()
        page.goto(server.url)
        page.wait_for_selector("#item[data-row-id] #boxview[data-image='none']")
        assert page.locator("#boxview image").count() == 0
        blank = page.locator("#boxview rect.blank")
        assert (blank.get_attribute("width"), blank.get_attribute("height")) == ("64", "64")
        assert page.locator("#boxview g.box.given").count() == len(first["boxes"]["given"])
        assert "drawn on a blank 64×64 canvas" in page.inner_text("#boxview .boxnote")
        page.close()
    finally:
        server.stop()
