"""Object-detection labels in tables: one row per image, its boxes in one cell.

A box cell is JSON text (or a list, in a DataFrame or Parquet) of ``[class, x, y, width, height]``
entries, COCO's box convention: ``[["dog", 10, 20, 30, 40], ["cat", 5, 5, 8, 8]]``; ``[]`` is an
image without boxes. A COCO annotation file (a JSON object with ``images``, ``annotations`` and
``categories``) reads as such a table (:func:`coco_table`): one row per image in file order, with
the columns ``image_id``, ``file_name`` (and ``width`` / ``height`` when given) and ``boxes``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from assay.exceptions import InputValidationError

__all__ = ["box_cells", "coco_table", "format_boxes", "is_box_column", "is_coco",
           "with_image_role"]


def is_coco(data: Any) -> bool:
    """Whether parsed JSON is a COCO annotation file (an object with images, annotations and
    categories lists)."""
    return isinstance(data, dict) and all(
        isinstance(data.get(k), list) for k in ("images", "annotations", "categories"))


def coco_table(data: dict[str, Any], *, name: str = "the COCO file") -> pd.DataFrame:
    """A COCO annotation file as a table of images: ``image_id``, ``file_name``, ``width`` and
    ``height`` (when every image has them) and ``boxes`` (:func:`format_boxes`).

    Examples
    --------
    >>> from assay.data._boxes import coco_table
    >>> coco = {"images": [{"id": 7, "file_name": "a.jpg"}, {"id": 9, "file_name": "b.jpg"}],
    ...         "categories": [{"id": 3, "name": "dog"}],
    ...         "annotations": [{"id": 1, "image_id": 7, "category_id": 3, "bbox": [1, 2, 3, 4]}]}
    >>> coco_table(coco)[["image_id", "boxes"]].values.tolist()
    [[7, '[["dog", 1, 2, 3, 4]]'], [9, '[]']]
    """
    try:
        ids = [img["id"] for img in data["images"]]
        names = {c["id"]: str(c["name"]) for c in data["categories"]}
    except (KeyError, TypeError) as exc:
        raise InputValidationError(
            f"{name} has an image or category without {exc}: every image needs an 'id' (and a "
            "'file_name'), every category an 'id' and a 'name'. Fix those entries.") from None
    if len(set(ids)) != len(ids):
        raise InputValidationError(
            f"{name} lists an image id twice; image ids must be unique. Fix the images list.")
    boxes: dict[Any, list[list[Any]]] = {i: [] for i in ids}
    for n, ann in enumerate(data["annotations"]):
        where = f"Annotation {n} of {name}"
        image, cat, bbox = ann.get("image_id"), ann.get("category_id"), ann.get("bbox")
        if image not in boxes:
            raise InputValidationError(
                f"{where} refers to image_id {image!r}, which is not in the images list. Add "
                "the image or drop the annotation.")
        if cat not in names:
            raise InputValidationError(
                f"{where} refers to category_id {cat!r}, which is not in the categories list "
                f"({', '.join(map(str, list(names)[:10]))}). Fix the category.")
        boxes[image].append([names[cat], *_bbox(bbox, where)])
    frame = pd.DataFrame({"image_id": ids,
                          "file_name": [str(img.get("file_name", img["id"]))
                                        for img in data["images"]]})
    for key in ("width", "height"):
        if all(key in img for img in data["images"]):
            frame[key] = [img[key] for img in data["images"]]
    frame["boxes"] = [format_boxes(boxes[i]) for i in ids]
    return frame


def _bbox(value: Any, where: str) -> list[float]:
    ok = isinstance(value, list | tuple) and len(value) == 4
    arr = np.asarray(value, dtype=float) if ok else np.zeros(0)
    if not ok or not np.all(np.isfinite(arr)) or arr[2] < 0 or arr[3] < 0:
        raise InputValidationError(
            f"{where} has bbox {value!r}; expected [x, y, width, height], four finite numbers "
            "with a width and height of at least 0. Fix the box.")
    return [_number(v) for v in arr.tolist()]


def _number(v: float) -> float | int:
    return int(v) if float(v).is_integer() else float(v)


def format_boxes(boxes: list[list[Any]]) -> str:
    """Boxes ``[class, x, y, width, height]`` as a cell's JSON text (whole numbers without a
    fraction)."""
    return json.dumps([[str(b[0]), *(_number(float(v)) for v in b[1:5])] for b in boxes],
                      ensure_ascii=False)


def _cell(value: Any, row: int, column: str) -> list[list[Any]]:
    parsed = value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = None
    elif isinstance(value, np.ndarray):
        parsed = value.tolist()
    ok = isinstance(parsed, list) and all(
        isinstance(b, list | tuple | np.ndarray) and len(b) == 5 for b in parsed)
    if not ok:
        raise InputValidationError(
            f"Row {row} of the box column '{column}' holds {str(value)[:60]!r}; expected a JSON "
            'list of [class, x, y, width, height] boxes, such as [["dog", 10, 20, 30, 40]], or '
            "[] for an image without boxes.")
    return [list(b) for b in parsed]


def box_cells(column: pd.Series, *, name: str = "boxes"
              ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The boxes of a box column as flat arrays: each box's row, its ``x0, y0, x1, y1`` and its
    class name.

    Examples
    --------
    >>> import pandas as pd
    >>> from assay.data._boxes import box_cells
    >>> rows, xyxy, names = box_cells(pd.Series(['[["dog", 1, 2, 3, 4]]', "[]"]))
    >>> rows.tolist(), xyxy.tolist(), names
    ([0], [[1.0, 2.0, 4.0, 6.0]], ['dog'])
    """
    rows: list[int] = []
    coords: list[list[float]] = []
    names: list[str] = []
    for i, value in enumerate(column.tolist()):
        for box in _cell(value, i, name):
            where = f"Row {i} of the box column '{name}'"
            rows.append(i)
            coords.append(_bbox(list(box[1:5]), where))
            names.append(str(box[0]))
    xywh = np.asarray(coords, dtype=np.float64).reshape(-1, 4)
    xyxy = np.c_[xywh[:, :2], xywh[:, :2] + xywh[:, 2:]]
    return np.asarray(rows, dtype=np.int64), xyxy, names


def is_box_column(column: pd.Series) -> bool:
    """Whether a column holds box cells: its first non-missing cells (up to 20) are lists of
    ``[class, x, y, width, height]`` and at least one holds a box."""
    present = column.dropna().head(20)
    if not len(present) or pd.api.types.is_numeric_dtype(present):
        return False
    seen = False
    for i, value in enumerate(present.tolist()):
        try:
            boxes = _cell(value, i, "")
        except InputValidationError:
            return False
        if any(not isinstance(b[0], str) for b in boxes):
            return False
        seen = seen or bool(boxes)
    return seen


def read_json_table(path: Path) -> pd.DataFrame | None:
    """A COCO annotation file as a table of images (:func:`coco_table`), or None when the
    JSON file is something else (read by pandas then)."""
    with open(path, encoding="utf-8") as fh:
        if not fh.read(256).lstrip().startswith("{"):
            return None
        fh.seek(0)
        try:
            data = json.load(fh)
        except json.JSONDecodeError:
            return None
    return coco_table(data, name=f"'{path.name}'") if is_coco(data) else None


def with_image_role(dataset: Any) -> Any:
    """A detection dataset (:class:`assay.data.Dataset`) with ``file_name`` as its image column
    when those files are found next to the data (so duplicates and outliers read the images),
    and without the bookkeeping columns (``image_id``, ``file_name``, ``width``, ``height``)
    among the table features. The audit, the review app and the export all set the roles this
    way."""
    from dataclasses import replace

    roles = dataset.roles
    table = dataset.table
    image = roles.image
    if image is None and "file_name" in table.columns and dataset.root is not None:
        first = table["file_name"].dropna().astype(str).head(5)
        if len(first) and all((dataset.root / f).is_file() for f in first):
            image = "file_name"
    skip = {"image_id", "file_name", "width", "height", image}
    features = tuple(c for c in roles.features if c not in skip)
    return replace(dataset, roles=replace(roles, image=image, features=features))
