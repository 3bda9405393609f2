"""``assay agree A.json --boxes B.json``: two annotators' COCO boxes, end to end.

The two files below differ in known ways. They list the images in different orders with
different ids (matched by ``file_name``) and the categories with different ids (matched by
name); each has an image and a category the other lacks. On the shared images ``p.jpg`` and
``q.jpg`` (IoU threshold 0.5):

====================  ======================  ======================  =====  ==============
pair                  A (id, class, box)      B (id, class, box)      IoU    note
====================  ======================  ======================  =====  ==============
p.jpg                 1 cat [0,0,10,10]       101 cat [0,0,10,8]      0.8
p.jpg                 2 dog [20,0,10,10]      102 cat [20,0,10,10]    1.0    class differs
p.jpg                 3 cat [40,0,10,10]      103 cat [40,0,10,5]     0.5    gone at 0.6
q.jpg                 4 dog [0,0,10,10]       104 dog [0,0,10,10]     1.0
q.jpg                 5 cat [50,50,10,10]     -                              only in A
q.jpg                 -                       105 dog [80,80,10,10]          only in B
====================  ======================  ======================  =====  ==============

So 5 boxes each, 4 pairs, shares 0.8, mean IoU 0.825, class agreement 0.75, kappa 0.5
(observed 0.75; chance (2*3 + 2*1) / 16 = 0.5), disagreements q.jpg 2, p.jpg 1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from assay.cli.main import main

_ENV = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "CLICOLOR_FORCE")}
_ENV.update({"NO_COLOR": "1", "COLUMNS": "120", "TERM": "dumb"})


def _ann(ann_id: int, image: int, cat: int, bbox: list[float]) -> dict[str, Any]:
    return {"id": ann_id, "image_id": image, "category_id": cat, "bbox": bbox}


COCO_A: dict[str, Any] = {
    "images": [{"id": 1, "file_name": "p.jpg"}, {"id": 2, "file_name": "q.jpg"},
               {"id": 3, "file_name": "r.jpg"}],
    "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"},
                   {"id": 3, "name": "bird"}],
    "annotations": [
        _ann(1, 1, 1, [0, 0, 10, 10]), _ann(2, 1, 2, [20, 0, 10, 10]),
        _ann(3, 1, 1, [40, 0, 10, 10]), _ann(4, 2, 2, [0, 0, 10, 10]),
        _ann(5, 2, 1, [50, 50, 10, 10]), _ann(6, 3, 1, [0, 0, 5, 5]),
    ],
}
COCO_B: dict[str, Any] = {
    "images": [{"id": 20, "file_name": "q.jpg"}, {"id": 10, "file_name": "p.jpg"},
               {"id": 30, "file_name": "s.jpg"}],
    "categories": [{"id": 7, "name": "dog"}, {"id": 8, "name": "cat"},
                   {"id": 9, "name": "fish"}],
    "annotations": [
        _ann(105, 20, 7, [80, 80, 10, 10]), _ann(101, 10, 8, [0, 0, 10, 8]),
        _ann(102, 10, 8, [20, 0, 10, 10]), _ann(104, 20, 7, [0, 0, 10, 10]),
        _ann(103, 10, 8, [40, 0, 10, 5]), _ann(106, 30, 7, [1, 1, 4, 4]),
    ],
}


@pytest.fixture()
def files(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(COCO_A))
    b.write_text(json.dumps(COCO_B))
    return a, b


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "assay.cli.main", "agree", *args],
                          capture_output=True, text=True, timeout=120, cwd=cwd, env=_ENV)


def _cells(text: str) -> dict[str, list[str]]:
    """Table rows of the printed summary: first cell -> the other cells."""
    return {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
            for line in text.splitlines() if line.count("│") >= 3}


def _one_line_error(rc: int, err: str, needle: str) -> None:
    assert rc == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert needle in lines[0], err


# ------------------------------------------------------------------------------------- results


def test_subprocess_prints_counts_shares_classes_and_worst_images(files: tuple[Path, Path]
                                                                   ) -> None:
    a, b = files
    res = _cli(str(a), "--boxes", str(b), "--no-workspace", "--out", "out", cwd=a.parent)
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    text = res.stdout
    cells = _cells(text)
    assert cells["boxes in A"] == ["5"] and cells["boxes in B"] == ["5"]
    assert cells["matched pairs"] == ["4"]
    assert cells["share of A matched"] == ["0.800"] == cells["share of B matched"]
    assert cells["mean IoU of matched pairs"] == ["0.825"]
    assert cells["class agreement (matched pairs)"] == ["0.750"]
    assert cells["Cohen's kappa (matched pairs)"] == ["0.500"]
    assert cells["only in A"] == ["1"] == cells["only in B"] == cells["class differs"]
    # per class: in A, in B, matched (A's boxes of the class), class agreement
    assert cells["cat"] == ["3", "3", "2", "1.000"]
    assert cells["dog"] == ["2", "2", "2", "0.500"]
    assert cells["bird"] == ["0", "0", "0", "undefined"]  # a category of A only
    assert cells["fish"] == ["0", "0", "0", "undefined"]
    # the images with the most disagreement, worst first: only in A, only in B, class, total
    assert cells["q.jpg"] == ["1", "1", "0", "2"] and cells["p.jpg"] == ["0", "0", "1", "1"]
    assert text.index("q.jpg") < text.index("p.jpg")
    assert "only in A (a.json)" in text and "r.jpg" in text
    assert "only in B (b.json)" in text and "s.jpg" in text
    assert "categories only in A (a.json): bird" in text
    assert "categories only in B (b.json): fish" in text
    out = a.parent / "out"
    assert sorted(p.name for p in out.iterdir()) == ["images.csv", "pairs.csv", "summary.json"]


def test_json_and_kappa_match_sklearn_on_the_matched_pairs(files: tuple[Path, Path],
                                                           capsys: pytest.CaptureFixture[str]
                                                           ) -> None:
    a, b = files
    out = a.parent / "out"
    rc = main(["agree", str(a), "--boxes", str(b), "--no-workspace", "--out", str(out),
               "--json"])
    assert rc == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["images_matched_by"] == "file_name"
    assert payload["n_images"] == 2
    assert payload["n_images_only_a"] == 1 and payload["n_images_only_b"] == 1
    assert (payload["n_boxes_a"], payload["n_boxes_b"], payload["n_pairs"]) == (5, 5, 4)
    assert payload["matched_share_a"] == pytest.approx(0.8)
    assert payload["matched_share_b"] == pytest.approx(0.8)
    assert payload["mean_iou"] == pytest.approx(0.825)
    assert payload["class_agreement"] == pytest.approx(0.75)
    assert (payload["a_only"], payload["b_only"], payload["class_differs"]) == (1, 1, 1)
    assert payload["classes_only_a"] == ["bird"] and payload["classes_only_b"] == ["fish"]
    per = {r["class"]: r for r in payload["per_class"]}
    assert per["dog"] == {"class": "dog", "in_a": 2, "in_b": 2, "matched": 2,
                          "class_agreement": 0.5}
    assert per["fish"]["class_agreement"] is None  # undefined: no matched box of the class
    assert [r["file_name"] for r in payload["top_images"]] == ["q.jpg", "p.jpg"]
    assert [r["disagreements"] for r in payload["top_images"]] == [2, 1]
    assert payload["outputs"] == {"json": str(out / "summary.json"),
                                  "images": str(out / "images.csv"),
                                  "pairs": str(out / "pairs.csv")}
    # summary.json is the same summary, without the outputs
    written = json.loads((out / "summary.json").read_text())
    assert written == {k: v for k, v in payload.items() if k != "outputs"}
    pairs = pd.read_csv(out / "pairs.csv")
    expected = cohen_kappa_score(pairs["class_a"], pairs["class_b"])
    assert expected == pytest.approx(0.5)
    assert payload["kappa"] == pytest.approx(expected)


def test_csvs_hold_per_image_counts_and_the_matched_pairs(files: tuple[Path, Path],
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    a, b = files
    out = a.parent / "out"
    assert main(["agree", str(a), "--boxes", str(b), "--no-workspace", "--out", str(out)]) == 0
    capsys.readouterr()
    images = pd.read_csv(out / "images.csv")
    assert list(images.columns) == [
        "image", "file_name", "image_id_a", "image_id_b", "boxes_a", "boxes_b", "matched",
        "a_only", "b_only", "class_differs", "disagreements"]
    assert images.to_dict(orient="list") == {
        "image": ["p.jpg", "q.jpg"], "file_name": ["p.jpg", "q.jpg"],
        "image_id_a": [1, 2], "image_id_b": [10, 20], "boxes_a": [3, 2], "boxes_b": [3, 2],
        "matched": [3, 1], "a_only": [0, 1], "b_only": [0, 1], "class_differs": [1, 0],
        "disagreements": [1, 2]}
    pairs = pd.read_csv(out / "pairs.csv")
    assert list(pairs.columns) == ["image", "box_a", "box_b", "iou", "class_a", "class_b"]
    got = {(r.image, r.box_a, r.box_b, round(r.iou, 9), r.class_a, r.class_b)
           for r in pairs.itertuples()}
    assert got == {("p.jpg", 1, 101, 0.8, "cat", "cat"), ("p.jpg", 2, 102, 1.0, "dog", "cat"),
                   ("p.jpg", 3, 103, 0.5, "cat", "cat"), ("q.jpg", 4, 104, 1.0, "dog", "dog")}
    assert not list(out.glob(".*tmp*"))  # written atomically: no temporaries left


def test_iou_threshold_and_top(files: tuple[Path, Path],
                               capsys: pytest.CaptureFixture[str]) -> None:
    a, b = files
    rc = main(["agree", str(a), "--boxes", str(b), "--iou", "0.6", "--top", "1",
               "--no-workspace", "--out", str(a.parent / "o"), "--json"])
    assert rc == 0
    payload = json.loads(capsys.readouterr().out)
    # the pair at IoU 0.5 (boxes 3 and 103) is no longer a match: one more only-A, only-B
    assert payload["iou_threshold"] == 0.6 and payload["n_pairs"] == 3
    assert payload["matched_share_a"] == pytest.approx(0.6)
    assert payload["mean_iou"] == pytest.approx((0.8 + 1.0 + 1.0) / 3)
    assert (payload["a_only"], payload["b_only"], payload["class_differs"]) == (2, 2, 1)
    assert [r["file_name"] for r in payload["top_images"]] == ["p.jpg"]  # 3 > 2, top 1


def test_images_matched_by_id_without_file_names(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    a = json.loads(json.dumps(COCO_A))
    b = json.loads(json.dumps(COCO_B))
    ids = {10: 1, 20: 2, 30: 4}  # B's images under A's ids, no file names in B
    for im in b["images"]:
        del im["file_name"]
        im["id"] = ids[im["id"]]
    for ann in b["annotations"]:
        ann["image_id"] = ids[ann["image_id"]]
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    rc = main(["agree", str(tmp_path / "a.json"), "--boxes", str(tmp_path / "b.json"),
               "--no-workspace", "--out", str(tmp_path / "o"), "--json"])
    assert rc == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["images_matched_by"] == "id"
    assert payload["n_pairs"] == 4 and payload["kappa"] == pytest.approx(0.5)
    assert [r["image"] for r in payload["top_images"]] == [2, 1]
    assert [r["file_name"] for r in payload["top_images"]] == ["q.jpg", "p.jpg"]  # A's names
    assert any("matched by COCO image id" in n for n in payload["notes"])


def test_run_is_recorded_in_the_workspace_by_default(files: tuple[Path, Path],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from assay.workspace import Workspace

    a, b = files
    rc = main(["agree", str(a), "--boxes", str(b), "--json"])
    assert rc == 0
    payload = json.loads(capsys.readouterr().out)
    with Workspace.open(a.parent / ".assay", read_only=True) as ws:
        run_id = ws.runs(command="agree")["run_id"].iloc[0]
        folder = ws.results_dir(run_id)
    assert payload["outputs"]["json"] == str(folder / "summary.json")
    assert (folder / "images.csv").exists() and (folder / "pairs.csv").exists()


# -------------------------------------------------------------------------------------- errors


def _bad_files(tmp_path: Path) -> dict[str, Path]:
    out = {
        "list": [COCO_A["annotations"][0]],
        "nocats": {"images": COCO_A["images"], "annotations": []},
        "other": {**COCO_B, "images": [{"id": 10, "file_name": "z.jpg"}],
                  "annotations": []},
    }
    paths = {}
    for name, data in out.items():
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_text(json.dumps(data))
    paths["text"] = tmp_path / "text.json"
    paths["text"].write_text("images: none\n")
    return paths


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--boxes", "{text}"], "is not a COCO annotation file"),
        (["--boxes", "{list}"], "Got a JSON list"),
        (["--boxes", "{nocats}"], "Got no 'categories' list"),
        (["--boxes", "{b}", "--iou", "0"], "'--iou' parameter"),
        (["--boxes", "{b}", "--iou", "1.5"], "must be a number in (0, 1]. Got 1.5"),
        (["--boxes", "{other}"], "have no image in common"),
        (["--boxes", "{tmp}/missing.json"], "B's COCO file not found"),
        (["--boxes", "{b}", "--label", "y"], "--label does not apply"),
        (["--item", "i", "--annotator", "w"], "Missing option '--label'"),
        ([], "Missing options '--item', '--annotator' and '--label'"),
    ],
    ids=["not-json", "json-list", "no-categories", "iou-zero", "iou-above-1", "no-common-image",
         "missing-b", "boxes-with-label", "table-missing-label", "nothing"],
)
def test_bad_input_is_one_line_exit_2(files: tuple[Path, Path], args: list[str], needle: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    a, b = files
    names = {k: str(v) for k, v in _bad_files(a.parent).items()}
    argv = [x.format(b=b, tmp=a.parent, **names) for x in args]
    rc = main(["agree", str(a), *argv, "--no-workspace", "--out", str(a.parent / "o")])
    captured = capsys.readouterr()
    _one_line_error(rc, captured.err, needle)
    assert captured.out == ""


def test_bad_input_as_a_subprocess(files: tuple[Path, Path]) -> None:
    a, b = files
    names = _bad_files(a.parent)
    res = _cli(str(a), "--boxes", str(names["nocats"]), "--no-workspace", "--out", "o",
               cwd=a.parent)
    _one_line_error(res.returncode, res.stderr, "expected a JSON object with 'images', "
                                                "'annotations' and 'categories' lists")
    res = _cli(str(a), "--boxes", str(b), "--iou", "-0.2", cwd=a.parent)
    _one_line_error(res.returncode, res.stderr, "Got -0.2")
    assert not (a.parent / ".assay").exists()  # refused before any run was recorded
    # the table mode without its columns: the usage line names what is missing
    res = _cli(str(a), "--item", "i", "--annotator", "w", cwd=a.parent)
    _one_line_error(res.returncode, res.stderr, "Missing option '--label'")
    assert "--help' to see the usage." in res.stderr
