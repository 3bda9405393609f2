"""The object-detection task of an audit: the annotated boxes of each row (an image) and the
user's predicted boxes, as :class:`assay.detection.BoxSet` aligned with the rows.

A row of the data is an image: its boxes in the label column (:mod:`assay.data._boxes` cells,
``[class, x, y, width, height]``; a COCO annotation file loads that way). The predictions are the
user's detector's boxes with scores, ideally out of sample: a COCO results file or list
(``image_id``, ``category_id`` or ``category_name``, ``bbox``, ``score``), a table with the
columns ``image_id`` (or ``file_name``, or ``row``), ``class``, ``x``, ``y``, ``width``,
``height`` and ``score``, or a ``BoxSet`` with one image per row.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from assay.data import Dataset, box_cells, is_box_column, is_coco
from assay.exceptions import InputValidationError

__all__ = ["box_labels", "box_predictions", "holds_boxes"]

_TABLE_COLUMNS = ("class", "x", "y", "width", "height", "score")


def holds_boxes(dataset: Dataset) -> bool:
    """Whether the label column holds box cells (a detection task under ``auto``)."""
    return is_box_column(dataset.table[dataset.roles.label])


def box_labels(dataset: Dataset) -> Any:
    """The annotated boxes, one image per row (:class:`assay.detection.BoxSet`); its classes,
    sorted by name, are those of the boxes and, for a COCO file, of its categories."""
    from assay.detection import BoxSet

    label = dataset.roles.label
    rows, xyxy, names = box_cells(dataset.table[label], name=label)
    classes = sorted(set(names) | set(_categories(dataset).values()))
    index = {c: k for k, c in enumerate(classes)}
    return BoxSet(image=rows, xyxy=xyxy, label=np.array([index[n] for n in names], np.int64),
                  classes=classes, images=[str(i) for i in dataset.ids])


def box_predictions(predictions: Any, dataset: Dataset, labels: Any) -> Any:
    """The user's predicted boxes as a :class:`assay.detection.BoxSet` on the dataset's rows and
    the annotations' classes (a predicted class the annotations lack is refused)."""
    from assay.detection import BoxSet

    if isinstance(predictions, BoxSet):
        return _from_boxset(predictions, dataset, labels)
    if isinstance(predictions, str | Path):
        path = Path(predictions)
        if not path.is_file():
            raise InputValidationError(
                f"Predictions file '{path}' not found. Pass your detector's boxes as a COCO "
                "results .json (image_id, category_id, bbox, score) or a .csv table.")
        if path.suffix.lower() == ".json":
            with open(path, encoding="utf-8") as fh:
                predictions = json.load(fh)
        else:
            from assay.data import read_table

            predictions = read_table(path)
    if isinstance(predictions, dict) and isinstance(predictions.get("annotations"), list):
        predictions = predictions["annotations"]
    if isinstance(predictions, list):
        predictions = _coco_results(predictions, dataset)
    if not isinstance(predictions, pd.DataFrame):
        raise InputValidationError(
            "predictions must be a COCO results list or file (image_id, category_id or "
            "category_name, bbox, score), a table with the columns image_id (or file_name, or "
            "row), class, x, y, width, height and score, or an assay.detection.BoxSet; got "
            f"{type(predictions).__name__}.")
    return _from_table(predictions, dataset, labels)


def _categories(dataset: Dataset) -> dict[Any, str]:
    """Category id -> name from the COCO file the data came from (empty when it is not one)."""
    if dataset.source is None or not str(dataset.source).lower().endswith(".json"):
        return {}
    try:
        with open(dataset.source, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, json.JSONDecodeError):
        return {}
    if not is_coco(data):
        return {}
    return {c.get("id"): str(c.get("name")) for c in data["categories"]}


def _coco_results(rows: list[Any], dataset: Dataset) -> pd.DataFrame:
    """A COCO results list as a prediction table (class names from the source's categories)."""
    names = _categories(dataset)
    out = []
    for n, r in enumerate(rows):
        if not isinstance(r, dict) or "bbox" not in r or "score" not in r or not (
                "category_id" in r or "category_name" in r):
            raise InputValidationError(
                f"Prediction {n} is {str(r)[:80]!r}; a COCO result needs image_id, "
                "category_id (or category_name), bbox [x, y, width, height] and score.")
        if "category_name" in r:
            name = str(r["category_name"])
        elif r["category_id"] in names:
            name = names[r["category_id"]]
        else:
            raise InputValidationError(
                f"Prediction {n} has category_id {r['category_id']!r}, which is not a category "
                "of the annotation file" + (f" ({', '.join(map(str, list(names)[:10]))})"
                                           if names else " (the data is not a COCO file: use "
                                           "category_name)") + ". Fix the predictions.")
        box = r["bbox"]
        if not isinstance(box, list | tuple) or len(box) != 4:
            raise InputValidationError(
                f"Prediction {n} has bbox {box!r}; expected [x, y, width, height].")
        out.append({"image_id": r.get("image_id"), "class": name, "x": box[0], "y": box[1],
                    "width": box[2], "height": box[3], "score": r["score"]})
    return pd.DataFrame(out, columns=["image_id", *_TABLE_COLUMNS])


def _rows_of(frame: pd.DataFrame, dataset: Dataset) -> np.ndarray:
    """Each prediction's row of the data, from ``image_id``, ``file_name`` or ``row``."""
    table = dataset.table
    for key in ("image_id", "file_name"):
        if key in frame.columns and key in table.columns:
            index = {v: i for i, v in enumerate(table[key].tolist())}
            rows = np.array([index.get(v, -1) for v in frame[key].tolist()], dtype=np.int64)
            if (rows < 0).any():
                bad = frame[key].to_numpy()[rows < 0][:5].tolist()
                raise InputValidationError(
                    f"Predictions for {key} {bad} match no image of the data. Predict on the "
                    "audited images, or drop those predictions.")
            return rows
    if "row" in frame.columns:
        rows = pd.to_numeric(frame["row"], errors="coerce").to_numpy()
        if not np.all(np.isfinite(rows)) or rows.min(initial=0) < 0 or rows.max(
                initial=0) >= dataset.n_rows:
            raise InputValidationError(
                f"The predictions' row column must hold row numbers 0..{dataset.n_rows - 1}.")
        return rows.astype(np.int64)
    raise InputValidationError(
        "The predictions need a column that says the image: image_id or file_name (as in the "
        "data) or row (its position); got columns " + ", ".join(map(str, frame.columns)) + ".")


def _from_table(frame: pd.DataFrame, dataset: Dataset, labels: Any) -> Any:
    from assay.detection import BoxSet

    missing = [c for c in _TABLE_COLUMNS if c not in frame.columns]
    if missing:
        raise InputValidationError(
            f"The predictions lack the column(s) {missing}; expected image_id (or file_name, or "
            "row), class, x, y, width, height and score, one row per predicted box.")
    rows = _rows_of(frame, dataset)
    xywh = frame[["x", "y", "width", "height"]].apply(pd.to_numeric, errors="coerce").to_numpy(
        np.float64)
    score = pd.to_numeric(frame["score"], errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(xywh).all(axis=1) | ~np.isfinite(score) | (xywh[:, 2:] < 0).any(axis=1)
    if bad.any():
        raise InputValidationError(
            f"{int(bad.sum())} predicted box(es) have a missing or negative size or a missing "
            f"score (first at prediction {int(np.flatnonzero(bad)[0])}). Fix or drop them.")
    index = {c: k for k, c in enumerate(labels.classes)}
    names = frame["class"].astype(str).tolist()
    unknown = sorted({n for n in names if n not in index})
    if unknown:
        raise InputValidationError(
            f"Predicted class(es) {unknown[:5]} are not among the annotated classes "
            f"({', '.join(labels.classes[:10])}). Map them to the annotation's class names.")
    return BoxSet(image=rows, xyxy=np.c_[xywh[:, :2], xywh[:, :2] + xywh[:, 2:]],
                  label=np.array([index[n] for n in names], np.int64), score=score,
                  classes=list(labels.classes), images=list(labels.images))


def _from_boxset(boxes: Any, dataset: Dataset, labels: Any) -> Any:
    from assay.detection import BoxSet

    if boxes.score is None or boxes.n_images != dataset.n_rows:
        raise InputValidationError(
            f"A BoxSet of predictions needs scores and one image per row ({dataset.n_rows}); "
            f"got {boxes.n_images} images" + (" and no scores." if boxes.score is None else "."))
    index = {c: k for k, c in enumerate(labels.classes)}
    names = [str(boxes.classes[k]) for k in boxes.label]
    unknown = sorted({n for n in names if n not in index})
    if unknown:
        raise InputValidationError(
            f"Predicted class(es) {unknown[:5]} are not among the annotated classes "
            f"({', '.join(labels.classes[:10])}).")
    return BoxSet(image=boxes.image, xyxy=boxes.xyxy,
                  label=np.array([index[n] for n in names], np.int64), score=boxes.score,
                  classes=list(labels.classes), images=list(labels.images))
