"""The detection task of the audit: a COCO annotation file reads as one row per image with its
boxes, the task is read from the data, the user's predicted boxes (a COCO results file, a table
or a BoxSet) drive ``detection_labels``, whose flags are :func:`assay.find_detection_issues`'
per image; the images themselves feed duplicates and outliers; bad input is one clear error."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import assay
from assay.data import read_table
from assay.detection import BoxSet, find_detection_issues, read_coco
from assay.exceptions import InputValidationError, InvalidParameterError

ROOT = Path(__file__).resolve().parents[1]


def _scenes(folder: Path, n_images: int = 240, seed: int = 0) -> dict:
    """Rendered shape scenes (benchmarks/detection_labels.py) written as PNG files, their noisy
    annotations as a COCO file, and a real detector's boxes as a COCO results file."""
    from PIL import Image

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import detection_labels as bench

    spec = bench.SCENE_SETS["sparse"]
    rng = np.random.default_rng(seed)
    scenes = [bench.render(rng, spec) for _ in range(n_images)]
    (folder / "images").mkdir()
    names = [f"images/{i:04d}.png" for i in range(n_images)]
    for (img, _, _), name in zip(scenes, names, strict=True):
        Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(folder / name)
    truth = BoxSet.from_per_image([s[1] for s in scenes], [s[2] for s in scenes],
                                  classes=bench.CLASSES)
    noisy = bench.inject(rng, truth, spec.size)
    preds = bench.detector_predictions([bench.components(s[0]) for s in scenes], noisy.labels,
                                       seed)
    template = {"images": [{"id": 100 + i, "file_name": n, "width": spec.size,
                            "height": spec.size} for i, n in enumerate(names)],
                "categories": [{"id": k + 1, "name": c} for k, c in enumerate(bench.CLASSES)],
                "annotations": []}
    lab = noisy.labels
    ids = [100 + i for i in range(n_images)]
    from assay.detection import write_coco

    write_coco(BoxSet(image=lab.image, xyxy=lab.xyxy, label=lab.label, classes=bench.CLASSES,
                      images=ids), folder / "instances.json", template=template)
    results = [{"image_id": 100 + int(preds.image[j]), "category_id": int(preds.label[j]) + 1,
                "bbox": [float(preds.xyxy[j, 0]), float(preds.xyxy[j, 1]),
                         float(preds.xyxy[j, 2] - preds.xyxy[j, 0]),
                         float(preds.xyxy[j, 3] - preds.xyxy[j, 1])],
                "score": float(preds.score[j])} for j in range(preds.n_boxes)]
    (folder / "preds.json").write_text(json.dumps(results), encoding="utf-8")
    wrong = np.array([bool(k) for k in noisy.image_kinds]) if hasattr(
        noisy, "image_kinds") else None
    return {"folder": folder, "wrong": wrong, "n": n_images}


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    return _scenes(tmp_path_factory.mktemp("scenes"))


@pytest.fixture(scope="module")
def audited(scenes):
    f = scenes["folder"]
    return assay.audit(f / "instances.json", label="boxes", predictions=f / "preds.json")


def test_a_coco_file_reads_as_one_row_per_image(scenes):
    table = read_table(scenes["folder"] / "instances.json")
    assert list(table.columns) == ["image_id", "file_name", "width", "height", "boxes"]
    assert len(table) == scenes["n"] and table["image_id"].iat[0] == 100
    coco = read_coco(scenes["folder"] / "instances.json")
    first = json.loads(table["boxes"].iat[0])
    part = coco.rows_of(0)
    assert [b[0] for b in first] == [coco.classes[k] for k in coco.label[part]]
    np.testing.assert_allclose([[b[1], b[2], b[1] + b[3], b[2] + b[4]] for b in first],
                               coco.xyxy[part])


def test_the_task_is_read_from_the_data_and_the_images_feed_the_shared_checks(audited):
    s = audited.summary
    assert s["task"] == "detection" and "boxes" in s["task_reason"]
    assert s["roles"]["image"] == "file_name" and s["featurizer"].startswith("image")
    assert s["classes"] == ["cross", "disk", "ring", "square", "triangle"]
    assert {"detection_labels", "duplicates", "outliers"} <= set(audited.checks)
    assert "holds boxes" in s["skipped"]["label_issues"]


def test_flags_are_find_detection_issues_per_image(scenes, audited):
    f = scenes["folder"]
    labels, preds = read_coco(f / "instances.json", predictions=f / "preds.json")
    direct = find_detection_issues(labels, preds)
    iss = audited.issues
    np.testing.assert_array_equal(iss["is_label_issue"].to_numpy(bool), direct.is_issue)
    np.testing.assert_allclose(iss["label_score"].to_numpy(), direct.image_score)
    s = audited.checks["detection_labels"].summary
    assert s["counts"] == direct.counts and s["n_boxes"] == labels.n_boxes
    if scenes["wrong"] is not None:
        wrong, flags = scenes["wrong"], direct.is_issue
        assert wrong[flags].mean() >= 0.8 and flags[wrong].mean() >= 0.8


def test_suggestions_apply_the_fixes_and_name_each_change(audited):
    iss = audited.issues
    flagged = np.flatnonzero(iss["is_label_issue"].to_numpy(bool))
    assert flagged.size
    for i in flagged[:20]:
        changes = iss["box_changes"].iat[i]
        assert changes and any(k in changes for k in ("wrong class", "badly located",
                                                       "spurious", "missing"))
        if changes.startswith("spurious") and ";" not in changes:
            assert len(json.loads(iss["suggested_label"].iat[i])) == len(
                json.loads(iss["given_label"].iat[i])) - 1
    ok = ~iss["is_label_issue"].to_numpy(bool)
    same = [json.loads(a) == json.loads(b) for a, b in
            zip(iss.loc[ok, "given_label"], iss.loc[ok, "suggested_label"], strict=True)]
    assert all(same)
    ev = audited.checks["detection_labels"].evidence
    assert ev["flagged"][0]["label_score"] <= ev["flagged"][-1]["label_score"]
    assert set(ev["classes"].columns) >= {"class", "boxes", "wrong_class", "missing"}


def test_predictions_as_a_table_or_a_boxset_give_the_same_flags(scenes, audited):
    f = scenes["folder"]
    results = json.loads((f / "preds.json").read_text())
    names = {k + 1: c for k, c in enumerate(["square", "disk", "triangle", "cross", "ring"])}
    table = pd.DataFrame({"image_id": [r["image_id"] for r in results],
                          "class": [names[r["category_id"]] for r in results],
                          "x": [r["bbox"][0] for r in results],
                          "y": [r["bbox"][1] for r in results],
                          "width": [r["bbox"][2] for r in results],
                          "height": [r["bbox"][3] for r in results],
                          "score": [r["score"] for r in results]})
    want = audited.issues["is_label_issue"].to_numpy(bool)
    by_table = assay.audit(f / "instances.json", label="boxes", predictions=table,
                           checks=["detection_labels"])
    np.testing.assert_array_equal(by_table.issues["is_label_issue"].to_numpy(bool), want)
    _, preds = read_coco(f / "instances.json", predictions=f / "preds.json")
    by_boxes = assay.audit(f / "instances.json", label="boxes", predictions=preds,
                           checks=["detection_labels"])
    np.testing.assert_array_equal(by_boxes.issues["is_label_issue"].to_numpy(bool), want)


def test_bad_input_says_what_is_wrong(scenes, tmp_path):
    f = scenes["folder"]
    skipped = assay.audit(f / "instances.json", label="boxes", checks=["detection_labels"])
    assert "predicted boxes" in skipped.summary["skipped"]["detection_labels"]
    bad = json.loads((f / "preds.json").read_text())
    bad[0]["image_id"] = 999
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(InputValidationError, match=r"image_id \[999\] match no image"):
        assay.audit(f / "instances.json", label="boxes", predictions=tmp_path / "bad.json")
    bad = json.loads((f / "preds.json").read_text())
    bad[0]["category_id"] = 42
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(InputValidationError, match="category_id 42"):
        assay.audit(f / "instances.json", label="boxes", predictions=tmp_path / "bad.json")
    with pytest.raises(InvalidParameterError, match="unless the task is detection"):
        assay.audit(pd.DataFrame({"x": np.arange(30.0), "y": ["a", "b"] * 15}), label="y",
                    predictions=[])
    frame = pd.DataFrame({"x": np.arange(30.0), "y": ["a", "b"] * 15})
    with pytest.raises(InputValidationError, match=r"Row 0 of the box column 'y' holds 'a'"):
        assay.audit(frame, label="y", task="detection")
    broken = read_table(f / "instances.json")
    broken.loc[5, "boxes"] = '[["dog", 1, 2]]'
    with pytest.raises(InputValidationError, match=r"Row 5 of the box column 'boxes'"):
        assay.audit(broken, label="boxes", task="detection")


def test_a_bad_coco_annotation_is_one_clear_error(tmp_path):
    coco = {"images": [{"id": 1, "file_name": "a.png"}], "categories": [{"id": 1, "name": "x"}],
            "annotations": [{"id": 1, "image_id": 2, "category_id": 1, "bbox": [0, 0, 1, 1]}]}
    (tmp_path / "c.json").write_text(json.dumps(coco))
    with pytest.raises(InputValidationError, match="image_id 2, which is not in the images"):
        read_table(tmp_path / "c.json")
    coco["annotations"][0].update(image_id=1, bbox=[0, 0, -1, 1])
    (tmp_path / "c.json").write_text(json.dumps(coco))
    with pytest.raises(InputValidationError, match=r"expected \[x, y, width, height\]"):
        read_table(tmp_path / "c.json")


def test_cli_audits_a_coco_file_with_predictions(scenes, tmp_path):
    f = scenes["folder"]
    out = subprocess.run(
        [sys.executable, "-m", "assay.cli.main", "audit", str(f / "instances.json"), "--label",
         "boxes", "--predictions", str(f / "preds.json"), "--no-workspace", "--out",
         str(tmp_path / "out"), "--checks", "detection_labels"],
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "images" in out.stdout and "boxes in 'boxes'" in out.stdout
    assert "Images with a box that looks wrong" in out.stdout
    assert "Fix the boxes of the" in out.stdout
    report = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "Images with a box that looks wrong" in report
    bad = subprocess.run(
        [sys.executable, "-m", "assay.cli.main", "audit", str(f / "instances.json"), "--label",
         "boxes", "--predictions", str(tmp_path / "nope.json"), "--no-workspace"],
        capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "nope.json" in bad.stderr


def test_without_the_image_files_the_image_checks_are_skipped_with_the_reason(scenes, tmp_path):
    """A COCO file whose images are not next to it: the boxes are audited, and the checks that
    read the images say why they did not run (the bookkeeping columns are no features)."""
    f = scenes["folder"]
    for name in ("instances.json", "preds.json"):
        (tmp_path / name).write_bytes((f / name).read_bytes())
    res = assay.audit(tmp_path / "instances.json", label="boxes",
                      predictions=tmp_path / "preds.json")
    assert res.summary["roles"]["image"] is None
    assert set(res.checks) == {"detection_labels"}
    assert "needs the images" in res.summary["skipped"]["duplicates"]
    assert "plain tables only" in res.summary["skipped"]["unusual_combinations"]
