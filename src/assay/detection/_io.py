"""The box store (:class:`BoxSet`) and COCO JSON reading and writing."""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

import numpy as np
import pandas as pd

from assay.exceptions import InputValidationError

__all__ = ["BoxSet", "read_coco", "write_coco"]

#: Bad rows named in an error message, at most.
_SHOWN = 5


def _fail(what: str, expected: str, got: str, fix: str) -> InputValidationError:
    return InputValidationError(f"{what}: expected {expected}. Got {got}. {fix}")


def _rows(mask: np.ndarray) -> str:
    bad = np.flatnonzero(mask)
    shown = ", ".join(str(int(i)) for i in bad[:_SHOWN])
    more = f" and {bad.size - _SHOWN} more" if bad.size > _SHOWN else ""
    return f"{bad.size} box(es) (rows {shown}{more})"


def _int_array(name: str, values: Any, n: int | None) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1 or (n is not None and arr.shape[0] != n):
        want = f"a 1-d array of {n} integers, one per box" if n is not None else "a 1-d array"
        raise _fail(f"BoxSet.{name} has the wrong shape", want, f"shape {arr.shape}",
                    "Pass one value per box, in the same order as xyxy.")
    if arr.size and arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(
        arr == np.round(arr)
    ):
        arr = arr.astype(np.int64)
    if arr.size and arr.dtype.kind not in "iu":
        raise _fail(f"BoxSet.{name} is not integer", "integer indices", f"dtype {arr.dtype}",
                    f"Encode {name} as indices (numpy.unique(..., return_inverse=True)).")
    return arr.astype(np.int64, copy=False)


def _check_xyxy(values: Any) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        arr = arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise _fail("BoxSet.xyxy has the wrong shape", "shape (M, 4): x0, y0, x1, y1 per box",
                    f"shape {arr.shape}", "Stack the boxes into an (M, 4) array.")
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        raise _fail("BoxSet.xyxy has non-finite coordinates", "finite numbers",
                    f"NaN or infinity in {_rows(bad)}", "Drop or repair those boxes first.")
    bad = (arr[:, 2] < arr[:, 0]) | (arr[:, 3] < arr[:, 1])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise _fail(
            "BoxSet.xyxy has boxes with x1 < x0 or y1 < y0",
            "[x0, y0, x1, y1] with x1 >= x0 and y1 >= y0",
            f"{_rows(bad)}, the first {arr[i].tolist()}",
            "If the boxes are COCO [x, y, width, height], convert them (x1 = x + width, "
            "y1 = y + height) or read the file with read_coco.",
        )
    return np.ascontiguousarray(arr)


def _check_score(values: Any, n: int) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise _fail("BoxSet.score has the wrong shape", f"one score per box, shape ({n},)",
                    f"shape {arr.shape}", "Pass the predicted boxes' confidences in box order.")
    bad = ~np.isfinite(arr) | (arr < 0) | (arr > 1)
    if bad.any():
        raise _fail("BoxSet.score is out of range", "confidences in [0, 1]",
                    f"{_rows(bad)} outside it", "Pass probabilities (apply a sigmoid or "
                    "softmax to raw logits) and drop NaN scores.")
    return arr


def _check_names(name: str, values: Sequence[Any]) -> list[Any]:
    out = list(values)
    uniq, counts = np.unique(np.array([repr(v) for v in out], dtype=object), return_counts=True)
    dup = [str(u) for u in uniq[counts > 1]]
    if dup:
        raise _fail(f"BoxSet.{name} has duplicates", f"unique {name}",
                    f"{', '.join(dup[:_SHOWN])} more than once",
                    f"Give each of the {name} one entry.")
    return out


@dataclass(frozen=True, eq=False)
class BoxSet:
    """Boxes of many images as flat arrays, sorted by image.

    Parameters
    ----------
    image : array-like of shape (M,), int
        Each box's image, an index into ``images`` (``0..n_images-1``).
    xyxy : array-like of shape (M, 4), float
        The boxes as ``x0, y0, x1, y1`` (``x1 >= x0``, ``y1 >= y0``, finite).
    label : array-like of shape (M,), int
        Each box's class, an index into ``classes``.
    score : array-like of shape (M,), optional
        Confidences in ``[0, 1]``, for predicted boxes; ``None`` for annotations.
    classes : sequence of str, optional
        The class names; default ``"0"``, ``"1"``, ... up to the largest label.
    images : sequence, optional
        The image ids or file names, one per image (images without boxes included); default
        ``0, 1, ...`` up to the largest image index.

    Attributes
    ----------
    offsets : ndarray of shape (n_images + 1,), int64
        The boxes of image ``i`` are rows ``offsets[i]:offsets[i + 1]``.

    Notes
    -----
    The boxes are sorted by image at construction, stably: the boxes of one image keep their
    order. Every per-box result refers to rows in this order. Bad input raises
    :class:`~assay.exceptions.InputValidationError`.

    Examples
    --------
    >>> from assay.detection import BoxSet
    >>> boxes = BoxSet(image=[1, 0, 1], xyxy=[[0, 0, 2, 2], [1, 1, 3, 4], [5, 5, 6, 6]],
    ...                label=[0, 1, 0], classes=["cat", "dog"], images=["a.jpg", "b.jpg"])
    >>> boxes
    BoxSet(n_boxes=3, n_images=2, n_classes=2, scored=False)
    >>> boxes.image.tolist(), boxes.offsets.tolist()
    ([0, 1, 1], [0, 1, 3])
    >>> boxes.xyxy[boxes.offsets[1]:boxes.offsets[2]].tolist()
    [[0.0, 0.0, 2.0, 2.0], [5.0, 5.0, 6.0, 6.0]]
    """

    image: np.ndarray
    xyxy: np.ndarray
    label: np.ndarray
    score: np.ndarray | None = None
    classes: list[str] = field(default_factory=list)
    images: list[Any] = field(default_factory=list)
    offsets: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        xyxy = _check_xyxy(self.xyxy)
        n = xyxy.shape[0]
        image = _int_array("image", self.image, n)
        label = _int_array("label", self.label, n)
        score = None if self.score is None else _check_score(self.score, n)
        classes = _check_names("classes", [str(c) for c in self.classes])
        images = _check_names("images", self.images)
        if not classes:
            classes = [str(k) for k in range(int(label.max()) + 1 if n else 0)]
        if not images:
            images = list(range(int(image.max()) + 1 if n else 0))
        bad = (image < 0) | (image >= len(images))
        if bad.any():
            raise _fail("BoxSet.image has indices out of range",
                        f"indices 0..{len(images) - 1} into images ({len(images)} images)",
                        f"{_rows(bad)}, e.g. {int(image[bad][0])}",
                        "Pass every image in `images` (also those without boxes).")
        bad = (label < 0) | (label >= len(classes))
        if bad.any():
            raise _fail("BoxSet.label has class indices out of range",
                        f"indices 0..{len(classes) - 1} into classes {classes[:10]}",
                        f"{_rows(bad)}, e.g. {int(label[bad][0])}",
                        "Pass every class name in `classes`, in label order.")
        order = np.argsort(image, kind="stable")
        if np.any(np.diff(image) < 0):
            image, xyxy, label = image[order], xyxy[order], label[order]
            score = None if score is None else score[order]
        offsets = np.searchsorted(image, np.arange(len(images) + 1)).astype(np.int64)
        for name, value in (("image", image), ("xyxy", xyxy), ("label", label),
                            ("score", score), ("classes", classes), ("images", images),
                            ("offsets", offsets)):
            object.__setattr__(self, name, value)

    # ----------------------------------------------------------------------------------------
    @property
    def n_boxes(self) -> int:
        """Number of boxes."""
        return int(self.xyxy.shape[0])

    @property
    def n_images(self) -> int:
        """Number of images (with or without boxes)."""
        return len(self.images)

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    def __len__(self) -> int:
        return self.n_boxes

    def __repr__(self) -> str:
        return (f"BoxSet(n_boxes={self.n_boxes}, n_images={self.n_images}, "
                f"n_classes={self.n_classes}, scored={self.score is not None})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BoxSet):
            return NotImplemented
        if self.score is None or other.score is None:
            same_score = self.score is None and other.score is None
        else:
            same_score = np.array_equal(self.score, other.score)
        return bool(
            np.array_equal(self.image, other.image) and np.array_equal(self.xyxy, other.xyxy)
            and np.array_equal(self.label, other.label) and same_score
            and self.classes == other.classes and self.images == other.images
        )

    __hash__ = None  # type: ignore[assignment]

    def rows_of(self, i: int) -> slice:
        """The rows of image ``i`` (a slice into every per-box array).

        Examples
        --------
        >>> from assay.detection import BoxSet
        >>> b = BoxSet(image=[0, 2, 2], xyxy=[[0, 0, 1, 1]] * 3, label=[0, 0, 0])
        >>> b.rows_of(2), b.rows_of(1)
        (slice(1, 3, None), slice(1, 1, None))
        """
        return slice(int(self.offsets[i]), int(self.offsets[i + 1]))

    def counts(self) -> np.ndarray:
        """Boxes per image, shape ``(n_images,)``.

        Examples
        --------
        >>> from assay.detection import BoxSet
        >>> BoxSet(image=[0, 2, 2], xyxy=[[0, 0, 1, 1]] * 3, label=[0, 0, 0]).counts().tolist()
        [1, 0, 2]
        """
        return np.diff(self.offsets)

    @classmethod
    def from_per_image(
        cls,
        xyxy: Sequence[Any],
        labels: Sequence[Any],
        scores: Sequence[Any] | None = None,
        *,
        classes: Sequence[str] = (),
        images: Sequence[Any] = (),
    ) -> BoxSet:
        """Build a box set from one array per image (boxes ``(L_i, 4)``, labels ``(L_i,)``).

        Parameters
        ----------
        xyxy : sequence of array-like of shape (L_i, 4)
            Each image's boxes.
        labels : sequence of array-like of shape (L_i,)
            Each image's class indices.
        scores : sequence of array-like of shape (L_i,), optional
            Each image's confidences (predictions).
        classes, images : sequence, optional
            As for :class:`BoxSet`; ``images`` defaults to ``0..len(xyxy)-1``.

        Returns
        -------
        BoxSet

        Examples
        --------
        >>> from assay.detection import BoxSet
        >>> b = BoxSet.from_per_image([[[0, 0, 2, 2]], []], [[1], []], classes=["a", "b"])
        >>> b.n_images, b.label.tolist()
        (2, [1])
        """
        n = len(xyxy)
        if len(labels) != n or (scores is not None and len(scores) != n):
            raise _fail("BoxSet.from_per_image got lists of different lengths",
                        "one entry per image in xyxy, labels (and scores)",
                        f"{n} boxes, {len(labels)} labels"
                        + ("" if scores is None else f", {len(scores)} scores"),
                        "Pass an (empty) entry for every image.")
        boxes = [np.asarray(b, dtype=float).reshape(-1, 4) for b in xyxy]
        counts = np.array([b.shape[0] for b in boxes], dtype=np.int64)
        return cls(
            image=np.repeat(np.arange(n), counts),
            xyxy=np.concatenate(boxes) if n else np.zeros((0, 4)),
            label=np.concatenate([np.asarray(v).reshape(-1) for v in labels]).astype(np.int64)
            if n else np.zeros(0, np.int64),
            score=None if scores is None else np.concatenate(
                [np.asarray(v, dtype=float).reshape(-1) for v in scores]) if n else np.zeros(0),
            classes=list(classes),
            images=list(images) if len(images) else list(range(n)),
        )

    def to_frame(self) -> pd.DataFrame:
        """One row per box: image id, ``x0 y0 x1 y1``, class index and name (and score).

        Examples
        --------
        >>> from assay.detection import BoxSet
        >>> BoxSet(image=[0], xyxy=[[1, 2, 3, 4]], label=[0], classes=["cat"]).to_frame()
           image   x0   y0   x1   y1  label class
        0      0  1.0  2.0  3.0  4.0      0   cat
        """
        frame = pd.DataFrame({
            "image": [self.images[i] for i in self.image],
            "x0": self.xyxy[:, 0], "y0": self.xyxy[:, 1],
            "x1": self.xyxy[:, 2], "y1": self.xyxy[:, 3],
            "label": self.label, "class": [self.classes[k] for k in self.label],
        })
        if self.score is not None:
            frame["score"] = self.score
        return frame


# --------------------------------------------------------------------------------------------
# COCO


def _load(source: Any, what: str) -> Any:
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise _fail(f"{what} file not found", "a path to a COCO JSON file",
                        f"{str(path)!r}", "Check the path.")
        with path.open(encoding="utf-8") as fh:
            return json.load(fh)
    return source


def _table(data: Any, key: str, what: str) -> list[dict[str, Any]]:
    rows = data.get(key) if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise _fail(f"{what} has no '{key}' list", f"a COCO dict with a '{key}' list",
                    f"{type(data).__name__}" + (f" with keys {sorted(data)[:8]}"
                                                if isinstance(data, dict) else ""),
                    "Pass a COCO annotation file (images, categories, annotations).")
    return rows


def _bbox_array(rows: list[dict[str, Any]], what: str) -> np.ndarray:
    try:
        xywh = np.array([r["bbox"] for r in rows], dtype=float).reshape(-1, 4)
    except (KeyError, ValueError, TypeError) as err:
        raise _fail(f"{what} has an entry without a valid 'bbox'",
                    "'bbox': [x, y, width, height] (4 numbers) in every entry",
                    repr(err), "Fix or drop the broken entries.") from None
    bad = ~np.isfinite(xywh).all(axis=1) | (xywh[:, 2] < 0) | (xywh[:, 3] < 0)
    if bad.any():
        raise _fail(f"{what} has invalid bboxes", "finite [x, y, width, height] with "
                    "width >= 0 and height >= 0", f"{_rows(bad)}, the first "
                    f"{xywh[bad][0].tolist()}", "COCO bboxes are [x, y, w, h], not corners.")
    return np.column_stack([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]])


def _lookup(rows: list[dict[str, Any]], key: str, index: dict[Any, int], what: str,
            known: str) -> np.ndarray:
    try:
        ids = [r[key] for r in rows]
    except KeyError:
        raise _fail(f"{what} has an entry without '{key}'", f"'{key}' in every entry",
                    "an entry without it", "Fix or drop the broken entries.") from None
    out = np.array([index.get(i, -1) for i in ids], dtype=np.int64).reshape(-1)
    if (out < 0).any():
        unknown = sorted({str(ids[i]) for i in np.flatnonzero(out < 0)})
        raise _fail(f"{what} refers to unknown {key} values",
                    f"{key} values listed in the annotation file's {known}",
                    f"{len(unknown)} unknown: {unknown[:_SHOWN]}",
                    "Read predictions with the annotation file they were made for, or drop "
                    "the entries of other images or classes.")
    return out


def _boxes(rows: list[dict[str, Any]], image_index: dict[Any, int],
           class_index: dict[Any, int], classes: list[str], images: list[Any], what: str,
           scored: bool) -> BoxSet:
    score = None
    if scored:
        try:
            score = np.array([r["score"] for r in rows], dtype=float)
        except (KeyError, ValueError, TypeError):
            raise _fail(f"{what} has an entry without a numeric 'score'",
                        "'score' in every prediction", "an entry without it",
                        "Pass a COCO results list (image_id, category_id, bbox, score).") from None
    return BoxSet(
        image=_lookup(rows, "image_id", image_index, what, "images"),
        xyxy=_bbox_array(rows, what),
        label=_lookup(rows, "category_id", class_index, what, "categories"),
        score=score, classes=classes, images=images,
    )


@overload
def read_coco(path_or_dict: str | Path | dict[str, Any], *, predictions: None = None) -> BoxSet:
    ...


@overload
def read_coco(
    path_or_dict: str | Path | dict[str, Any],
    *,
    predictions: str | Path | list[dict[str, Any]] | dict[str, Any],
) -> tuple[BoxSet, BoxSet]:
    ...


def read_coco(
    path_or_dict: str | Path | dict[str, Any],
    *,
    predictions: str | Path | list[dict[str, Any]] | dict[str, Any] | None = None,
) -> BoxSet | tuple[BoxSet, BoxSet]:
    """Read COCO annotations (and optionally a COCO results file of predictions).

    Parameters
    ----------
    path_or_dict : str, Path or dict
        A COCO annotation file or its parsed dict (``images``, ``categories``,
        ``annotations``; ``bbox`` is ``[x, y, width, height]``).
    predictions : str, Path, list of dict or dict, optional
        Predicted boxes as a COCO results list (``image_id``, ``category_id``, ``bbox``,
        ``score``), its file, or a dict with an ``annotations`` list of such entries.

    Returns
    -------
    BoxSet or (BoxSet, BoxSet)
        The annotations; with ``predictions``, also the predictions, on the same images and
        classes. ``images`` are the COCO image ids in file order, ``classes`` the category
        names in the order of their ids. Every annotation becomes a box (``iscrowd`` ones
        too); segmentations and other per-annotation fields are not read.

    Raises
    ------
    InputValidationError
        A missing file or key, a bad bbox, or an id not listed in ``images``/``categories``.

    Examples
    --------
    >>> from assay.detection import read_coco
    >>> coco = {"images": [{"id": 7, "file_name": "a.jpg"}],
    ...         "categories": [{"id": 1, "name": "cat"}, {"id": 3, "name": "dog"}],
    ...         "annotations": [{"id": 1, "image_id": 7, "category_id": 3,
    ...                          "bbox": [10, 20, 30, 40]}]}
    >>> labels, preds = read_coco(coco, predictions=[
    ...     {"image_id": 7, "category_id": 3, "bbox": [11, 20, 30, 40], "score": 0.9}])
    >>> labels.xyxy.tolist(), labels.classes, labels.images, preds.score.tolist()
    ([[10.0, 20.0, 40.0, 60.0]], ['cat', 'dog'], [7], [0.9])
    """
    data = _load(path_or_dict, "annotations")
    image_rows = _table(data, "images", "the annotation file")
    cat_rows = _table(data, "categories", "the annotation file")
    try:
        images = [r["id"] for r in image_rows]
        cats = sorted(((r["id"], str(r["name"])) for r in cat_rows), key=lambda c: c[0])
    except KeyError as err:
        raise _fail("the annotation file has an image or category without " + str(err),
                    "'id' in every image, 'id' and 'name' in every category", "a missing key",
                    "Fix the file's images and categories lists.") from None
    image_index = {v: i for i, v in enumerate(images)}
    class_index = {cid: k for k, (cid, _) in enumerate(cats)}
    classes = [name for _, name in cats]
    labels = _boxes(_table(data, "annotations", "the annotation file"), image_index,
                    class_index, classes, images, "the annotations", scored=False)
    if predictions is None:
        return labels
    pred_data = _load(predictions, "predictions")
    rows = pred_data if isinstance(pred_data, list) else _table(
        pred_data, "annotations", "the predictions")
    preds = _boxes(rows, image_index, class_index, classes, images, "the predictions",
                   scored=True)
    return labels, preds


def _template_ids(template: dict[str, Any], boxes: BoxSet) -> tuple[list[Any], list[Any]]:
    image_ids = {r.get("id") for r in _table(template, "images", "the template")}
    missing = [i for i in boxes.images if i not in image_ids]
    if missing:
        raise _fail("write_coco: images not in the template", "every image id of the boxes "
                    "listed in the template's images", f"{len(missing)} missing, e.g. "
                    f"{missing[:_SHOWN]}", "Pass the file the boxes were read from.")
    by_name = {str(r.get("name")): r.get("id") for r in _table(template, "categories",
                                                                "the template")}
    absent = [c for c in boxes.classes if c not in by_name]
    if absent:
        raise _fail("write_coco: classes not in the template", "every class name listed "
                    "in the template's categories", f"{absent[:_SHOWN]}",
                    "Pass the file the boxes were read from, or add the categories.")
    return list(boxes.images), [by_name[c] for c in boxes.classes]


def write_coco(
    boxes: BoxSet,
    path: str | Path | None,
    *,
    template: str | Path | dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write boxes as a COCO annotation file.

    Parameters
    ----------
    boxes : BoxSet
        The (corrected) annotations. Scores, when present, are written as ``score``.
    path : str, Path or None
        Where to write the JSON; ``None`` only returns the dict.
    template : str, Path or dict, optional
        The COCO file the boxes came from: its ``images``, ``categories`` and other top-level
        fields (``info``, ``licenses``...) are kept, only ``annotations`` is replaced (ids
        ``1..M``, ``bbox``, ``area``, ``iscrowd`` 0: per-annotation extras such as
        segmentations are not carried over); classes are matched to categories by name. Without it, images get ids ``images[i]`` (when
        integers, else ``i + 1``) and categories ids ``1..K``.

    Returns
    -------
    dict
        The COCO dict written.

    Examples
    --------
    >>> from assay.detection import BoxSet, write_coco
    >>> out = write_coco(BoxSet(image=[0], xyxy=[[10, 20, 40, 60]], label=[0],
    ...                         classes=["cat"], images=[7]), None)
    >>> out["annotations"][0]["bbox"], out["categories"]
    ([10.0, 20.0, 30.0, 40.0], [{'id': 1, 'name': 'cat'}])
    """
    if template is not None:
        data = copy.deepcopy(_load(template, "template"))
        image_ids, cat_ids = _template_ids(data, boxes)
    else:
        image_ids = [v if isinstance(v, int | np.integer) else i + 1
                     for i, v in enumerate(boxes.images)]
        cat_ids = list(range(1, boxes.n_classes + 1))
        data = {
            "images": [{"id": int(i), "file_name": str(v)}
                       for i, v in zip(image_ids, boxes.images, strict=True)],
            "categories": [{"id": c, "name": n}
                           for c, n in zip(cat_ids, boxes.classes, strict=True)],
        }
    xy = boxes.xyxy
    wh = xy[:, 2:] - xy[:, :2]
    anns = []
    for r in range(boxes.n_boxes):
        ann: dict[str, Any] = {
            "id": r + 1,
            "image_id": _plain(image_ids[boxes.image[r]]),
            "category_id": _plain(cat_ids[boxes.label[r]]),
            "bbox": [float(xy[r, 0]), float(xy[r, 1]), float(wh[r, 0]), float(wh[r, 1])],
            "area": float(wh[r, 0] * wh[r, 1]),
            "iscrowd": 0,
        }
        if boxes.score is not None:
            ann["score"] = float(boxes.score[r])
        anns.append(ann)
    data["annotations"] = anns
    if path is not None:
        Path(path).write_text(json.dumps(data), encoding="utf-8")
    return data


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
