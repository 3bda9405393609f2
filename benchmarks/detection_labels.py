"""Benchmark: annotation errors in object detection, assay vs cleanlab's object_detection module.

Scenes are generated, the detector is real. Each scene is a small grey image (64x64 or 96x96)
with shapes of 5 classes (square, disk, triangle, cross, ring) of varied size and intensity on
Gaussian noise; the exact box of each shape is the bounding box of its visible rendered pixels
(a later shape may hide up to 40 % of an earlier one). Shapes are rotated (0-90 degrees) and
stretched (aspect 0.75-1.33). Two scene sets:

- ``sparse``: 64x64, 1-3 large shapes (diameter 16-28 px) that do not touch, intensity
  0.3-1.0 on strong noise (standard deviation 0.08-0.22 per image);
- ``crowded``: 96x96, 4-8 small shapes (diameter 8-18 px) whose boxes may overlap (IoU <= 0.25),
  intensity 0.4-1.0, noise 0.03-0.10.

**Detector** (run on the pixels, never on the true boxes): Gaussian smoothing, a threshold,
``scipy.ndimage.label`` connected components, each cut at half its peak intensity into pieces,
and pieces of clearly bimodal intensity also split in two (Otsu), as region proposals; per
proposal, 24 shape features (size, fill, holes, perimeter, row and column
profiles, centre and corner occupancy, intensity) and a scikit-learn
``HistGradientBoostingClassifier`` (60 rounds of 15-leaf trees) over the K classes plus background, trained on the *noisy*
annotations (a component takes the class of the annotation it overlaps at IoU >= 0.5, else
background) and cross-fitted by image in 5 folds, so no image is predicted by a model that saw
it. Each component yields one predicted box per class with probability >= 0.05 (score = that
probability), as MMDetection-style detectors output per-class boxes.

**Errors** in 10 % of the boxes, a quarter of each kind: class swaps (another class, uniform),
bad locations (shifted by 35-60 % of the size or scaled by 0.5-0.7 or 1.45-1.8, so that the IoU
with the true box is in [0.15, 0.6]), deleted boxes (missing), and added boxes of a typical size
on background (spurious, IoU 0 with every shape). An image is wrong when it holds any error.

**Tools**, on the same annotations and predictions: assay's
``find_detection_issues`` (``is_issue``, ``image_score``); cleanlab 2.9's
``object_detection.filter.find_label_issues`` (flags) and ``rank.get_label_quality_scores``
(image scores). Measured: image-level precision, recall, F1 of the flags and AUPRC of the
scores (low = wrong), the F1 leaving out images whose only errors are spurious boxes (which
cleanlab does not look for), image-level recall per error kind for both, assay without its
crowding rule (``explain_crowding=False``), and for assay the box-level recall and precision of
each kind (a deleted box counts as found when a missing box suggested
by assay overlaps it at IoU >= 0.5). Then a 100,000-box ``find_detection_issues`` call (20,000
images x 5 boxes, simulated predictions) in a fresh process: seconds and peak RSS.

Run: ``python benchmarks/detection_labels.py`` (seeds 0-2, both scene sets; a few minutes on a
2-core VM); ``--quick``: one seed, fewer images. Seeds 100 and up were used for development;
the reported table is seeds 0-2.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score
from threadpoolctl import threadpool_limits

from assay.detection import BoxSet, box_iou, find_detection_issues

CLASSES = ["square", "disk", "triangle", "cross", "ring"]
ERROR_RATE = 0.10
KINDS = ("swap", "badloc", "delete", "spurious")
#: per-class prediction floor: a component yields one box per class at least this probable
MIN_PROB = 0.05


@dataclass(frozen=True)
class SceneSet:
    name: str
    size: int
    n_shapes: tuple[int, int]
    radius: tuple[float, float]
    max_overlap: float
    n_images: int
    intensity: tuple[float, float]
    noise: tuple[float, float]


SCENE_SETS = {
    "sparse": SceneSet("sparse", 64, (1, 3), (8.0, 14.0), 0.0, 900, (0.3, 1.0), (0.08, 0.22)),
    "crowded": SceneSet("crowded", 96, (4, 8), (4.0, 9.0), 0.25, 450, (0.4, 1.0), (0.03, 0.1)),
}


# --------------------------------------------------------------------------------------------
# Rendering


def shape_mask(kind: int, cx: float, cy: float, r: float, size: int, angle: float = 0.0,
               aspect: float = 1.0) -> np.ndarray:
    """Pixels of one shape (pixel centres at integer + 0.5), rotated and stretched."""
    y, x = np.mgrid[0:size, 0:size] + 0.5
    c, s = np.cos(angle), np.sin(angle)
    dx = (c * (x - cx) + s * (y - cy)) / aspect
    dy = (-s * (x - cx) + c * (y - cy)) * aspect
    d2 = dx**2 + dy**2
    if kind == 0:  # square
        s = 0.85 * r
        return (np.abs(dx) <= s) & (np.abs(dy) <= s)
    if kind == 1:  # disk
        return d2 <= r**2
    if kind == 2:  # triangle, apex up
        return (dy >= -r) & (dy <= r) & (np.abs(dx) <= (dy + r) / 2)
    if kind == 3:  # cross
        arm = r / 3
        return ((np.abs(dx) <= r) & (np.abs(dy) <= arm)) | ((np.abs(dx) <= arm) & (np.abs(dy) <= r))
    return (d2 <= r**2) & (d2 >= (0.55 * r) ** 2)  # ring


def mask_box(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=float)


def render(rng: np.random.Generator, spec: SceneSet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One scene: image, true boxes (L, 4), true classes (L,).

    Shapes are painted in turn, a later one over an earlier; a true box is the extent of the
    shape's visible pixels (what an annotator sees). A placement is rejected when it would hide
    more than 40 % of an earlier shape, or its box overlaps another beyond ``max_overlap``.
    """
    size = spec.size
    image = np.zeros((size, size))
    owner = np.full((size, size), -1)
    full: list[int] = []
    boxes: list[np.ndarray] = []
    labels: list[int] = []
    want = int(rng.integers(spec.n_shapes[0], spec.n_shapes[1] + 1))
    for _ in range(want * 30):
        if len(labels) == want:
            break
        kind = int(rng.integers(len(CLASSES)))
        r = float(rng.uniform(*spec.radius))
        cx, cy = rng.uniform(r + 1, size - r - 1, size=2)
        mask = shape_mask(kind, cx, cy, r, size, angle=float(rng.uniform(0, np.pi / 2)),
                          aspect=float(rng.uniform(0.75, 1.33)))
        if mask.sum() < 12:
            continue
        box = mask_box(mask)
        if boxes:
            iou = box_iou(box[None], np.array(boxes))[0]
            if iou.max() > spec.max_overlap or (spec.max_overlap == 0 and _touch(box, boxes)):
                continue
            hidden = np.bincount(owner[mask & (owner >= 0)], minlength=len(full))
            if np.any(hidden > 0.4 * np.array(full)):
                continue
        image[mask] = rng.uniform(*spec.intensity)
        owner[mask] = len(labels)
        full.append(int(mask.sum()))
        boxes.append(box)
        labels.append(kind)
    image += rng.normal(0, rng.uniform(*spec.noise), image.shape)
    visible = [mask_box(owner == j) for j in range(len(labels))]
    return image, np.array(visible).reshape(-1, 4), np.array(labels, dtype=np.int64)


def _touch(box: np.ndarray, boxes: list[np.ndarray]) -> bool:
    grown = box + np.array([-2, -2, 2, 2])
    return bool((box_iou(grown[None], np.array(boxes))[0] > 0).any())


# --------------------------------------------------------------------------------------------
# Detector: components + shape features


def components(image: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Region proposals: (box, feature vector) each.

    Connected components of the lightly smoothed image above 0.2; each is cut at half its own
    peak intensity into connected pieces (one proposal each), and a piece whose intensities are
    clearly bimodal (Otsu split, class means 0.2 apart) also yields its two parts, so that
    touching shapes of different brightness are proposed apart as well as together.
    """
    light = ndimage.gaussian_filter(image, 0.7)
    lab, _ = ndimage.label(light > 0.2)
    out: list[tuple[np.ndarray, np.ndarray]] = []
    for idx, sl in enumerate(ndimage.find_objects(lab), start=1):
        if sl is None:
            continue
        region = lab[sl] == idx
        if region.sum() < 10:
            continue
        patch = light[sl]
        fine = (patch > 0.5 * np.percentile(patch[region], 90)) & region
        for piece in _pieces(fine):
            out.append(_proposal(piece, patch, sl))
            for part in _intensity_split(piece, patch):
                out.append(_proposal(part, patch, sl))
    return out


def _pieces(mask: np.ndarray, min_size: int = 10) -> list[np.ndarray]:
    lab, k = ndimage.label(mask)
    sizes = ndimage.sum(mask, lab, range(1, k + 1))
    return [lab == j + 1 for j in range(k) if sizes[j] >= min_size]


def _intensity_split(piece: np.ndarray, patch: np.ndarray) -> list[np.ndarray]:
    vals = np.sort(patch[piece])
    if vals.size < 30:
        return []
    n = vals.size
    csum = np.cumsum(vals)
    k = np.arange(1, n)
    m0, m1 = csum[:-1] / k, (csum[-1] - csum[:-1]) / (n - k)
    between = k * (n - k) * (m1 - m0) ** 2
    cut = int(np.argmax(between))
    if m1[cut] - m0[cut] < 0.2 or min(cut + 1, n - cut - 1) < 15:
        return []
    thr = vals[cut]
    low = ndimage.binary_opening(piece & (patch <= thr))
    high = ndimage.binary_opening(piece & (patch > thr))
    return _pieces(low, 15) + _pieces(high, 15)


def _proposal(mask: np.ndarray, patch: np.ndarray, sl: tuple[slice, ...]) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.nonzero(mask)
    y0, x0 = sl[0].start, sl[1].start
    box = np.array([x0 + xs.min(), y0 + ys.min(), x0 + xs.max() + 1, y0 + ys.max() + 1],
                   dtype=float)
    crop = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
    return box, shape_features(mask[crop], patch[crop][mask[crop]])


def shape_features(m: np.ndarray, vals: np.ndarray) -> np.ndarray:
    h, w = m.shape
    area = float(m.sum())
    holes = (ndimage.binary_fill_holes(m).sum() - area) / area
    edge = (m & ~ndimage.binary_erosion(m)).sum() / np.sqrt(area)
    at = np.array([0.1, 0.3, 0.5, 0.7, 0.9])
    rows = m.mean(axis=1)[np.minimum((at * h).astype(int), h - 1)]
    cols = m.mean(axis=0)[np.minimum((at * w).astype(int), w - 1)]
    ch, cw = max(h // 5, 1), max(w // 5, 1)
    centre = m[h // 2 - ch // 2:h // 2 + ch // 2 + 1, w // 2 - cw // 2:w // 2 + cw // 2 + 1].mean()
    corners = np.mean([m[:ch, :cw].mean(), m[:ch, -cw:].mean(), m[-ch:, :cw].mean(),
                       m[-ch:, -cw:].mean()])
    ys, xs = np.nonzero(m)
    return np.array([h, w, area, area / (h * w), w / h, holes, edge, *rows, *cols, centre,
                     corners, ys.mean() / h - 0.5, xs.mean() / w - 0.5, vals.mean(), vals.std(),
                     np.percentile(vals, 90)])


def detector_predictions(
    comps: list[list[tuple[np.ndarray, np.ndarray]]], noisy: BoxSet, seed: int
) -> BoxSet:
    """Class scores per component from a classifier cross-fitted by image on noisy labels."""
    k = len(CLASSES)
    img = np.concatenate([np.full(len(c), i) for i, c in enumerate(comps)]).astype(np.int64)
    boxes = np.array([b for c in comps for b, _ in c]).reshape(-1, 4)
    feats = np.array([f for c in comps for _, f in c])
    target = np.full(len(img), k)  # background
    for i in range(noisy.n_images):
        rows = np.flatnonzero(img == i)
        ann = noisy.rows_of(i)
        if rows.size == 0 or ann.stop == ann.start:
            continue
        iou = box_iou(boxes[rows], noisy.xyxy[ann])
        best = iou.argmax(axis=1)
        hit = iou.max(axis=1) >= 0.5
        target[rows[hit]] = noisy.label[ann][best[hit]]
    fold = np.random.default_rng(seed).permutation(noisy.n_images) % 5
    probs = np.zeros((len(img), k + 1))
    for f in range(5):
        test = fold[img] == f
        model = HistGradientBoostingClassifier(max_iter=60, max_leaf_nodes=15,
                                               early_stopping=False, random_state=seed)
        model.fit(feats[~test], target[~test])
        probs[np.ix_(test, model.classes_)] = model.predict_proba(feats[test])
    comp, cls = np.nonzero(probs[:, :k] >= MIN_PROB)
    return BoxSet(image=img[comp], xyxy=boxes[comp], label=cls, score=probs[comp, cls],
                  classes=CLASSES, images=list(range(noisy.n_images)))


# --------------------------------------------------------------------------------------------
# Errors


@dataclass
class Noisy:
    labels: BoxSet
    kind: np.ndarray  # per noisy box: "", "swap", "badloc", "spurious"
    deleted: BoxSet  # the true boxes removed
    image_kinds: list[set[str]]


def _bad_box(rng: np.random.Generator, box: np.ndarray, size: int) -> np.ndarray:
    w, h = box[2] - box[0], box[3] - box[1]
    for _ in range(100):
        if rng.random() < 0.5:
            sx, sy = rng.uniform(0.35, 0.6, 2) * rng.choice([-1, 1], 2) * (rng.random(2) < 0.7)
            new = box + np.array([sx * w, sy * h, sx * w, sy * h])
        else:
            f = rng.uniform(0.5, 0.7) if rng.random() < 0.5 else rng.uniform(1.45, 1.8)
            c = (box[:2] + box[2:]) / 2
            new = np.r_[c - f * np.array([w, h]) / 2, c + f * np.array([w, h]) / 2]
        new = np.round(np.clip(new, 0, size))
        if new[2] - new[0] >= 2 and new[3] - new[1] >= 2:
            iou = box_iou(new[None], box[None])[0, 0]
            if 0.15 <= iou <= 0.6:
                return new
    return box


def _spurious_box(rng: np.random.Generator, truth: np.ndarray, dims: np.ndarray,
                  size: int) -> np.ndarray | None:
    for _ in range(100):
        w, h = dims[rng.integers(len(dims))]
        x, y = rng.uniform(0, size - w), rng.uniform(0, size - h)
        box = np.round(np.array([x, y, x + w, y + h]))
        if len(truth) == 0 or box_iou(box[None], truth)[0].max() == 0:
            return box
    return None


def inject(rng: np.random.Generator, truth: BoxSet, size: int) -> Noisy:
    n = truth.n_boxes
    n_err = int(round(ERROR_RATE * n))
    per = n_err // 4
    chosen = rng.permutation(n)[: 3 * per]
    swap, badloc, delete = chosen[:per], chosen[per:2 * per], chosen[2 * per:]
    label, xyxy = truth.label.copy(), truth.xyxy.copy()
    kind = np.full(n, "", dtype="<U8")
    label[swap] = (label[swap] + rng.integers(1, len(CLASSES), swap.size)) % len(CLASSES)
    kind[swap] = "swap"
    for i in badloc:
        xyxy[i] = _bad_box(rng, xyxy[i], size)
    kind[badloc] = "badloc"
    keep = np.ones(n, bool)
    keep[delete] = False
    dims = truth.xyxy[:, 2:] - truth.xyxy[:, :2]
    add_img, add_box = [], []
    for i in rng.choice(truth.n_images, size=per, replace=False):
        box = _spurious_box(rng, truth.xyxy[truth.rows_of(int(i))], dims, size)
        if box is not None:
            add_img.append(int(i))
            add_box.append(box)
    m = len(add_img)
    labels = BoxSet(
        image=np.r_[truth.image[keep], np.array(add_img, dtype=np.int64)],
        xyxy=np.r_[xyxy[keep], np.array(add_box).reshape(-1, 4)],
        label=np.r_[label[keep], rng.integers(0, len(CLASSES), m)],
        classes=CLASSES, images=truth.images,
    )
    all_kind = np.r_[kind[keep], np.full(m, "spurious")]
    # BoxSet sorts stably by image: apply the same order to the kinds
    order = np.argsort(np.r_[truth.image[keep], np.array(add_img, dtype=np.int64)],
                       kind="stable")
    deleted = BoxSet(image=truth.image[delete], xyxy=truth.xyxy[delete],
                     label=truth.label[delete], classes=CLASSES, images=truth.images)
    image_kinds: list[set[str]] = [set() for _ in range(truth.n_images)]
    for i, k in zip(labels.image, all_kind[order], strict=True):
        if k:
            image_kinds[i].add(k)
    for i in deleted.image:
        image_kinds[i].add("delete")
    return Noisy(labels, all_kind[order], deleted, image_kinds)


# --------------------------------------------------------------------------------------------
# Tools


def to_cleanlab(labels: BoxSet, preds: BoxSet) -> tuple[list[dict[str, Any]], list[list[np.ndarray]]]:
    assert preds.score is not None
    lab, pred = [], []
    for i in range(labels.n_images):
        r = labels.rows_of(i)
        lab.append({"bboxes": labels.xyxy[r].astype(np.float32).reshape(-1, 4),
                    "labels": labels.label[r].copy()})
        p = preds.rows_of(i)
        rows = np.column_stack([preds.xyxy[p], preds.score[p]]).astype(np.float32)
        pred.append([rows[preds.label[p] == k].reshape(-1, 5) for k in range(labels.n_classes)])
    return lab, pred


def run_cleanlab(labels: BoxSet, preds: BoxSet) -> dict[str, Any]:
    from cleanlab.object_detection.filter import find_label_issues
    from cleanlab.object_detection.rank import get_label_quality_scores

    lab, pred = to_cleanlab(labels, preds)
    start = time.perf_counter()
    scores = get_label_quality_scores(lab, pred, verbose=False)
    flags = np.asarray(find_label_issues(lab, pred), dtype=bool)
    return {"flags": flags, "score": np.asarray(scores), "seconds": time.perf_counter() - start}


def run_assay(labels: BoxSet, preds: BoxSet, **options: Any) -> dict[str, Any]:
    start = time.perf_counter()
    found = find_detection_issues(labels, preds, **options)
    return {"flags": found.is_issue, "score": found.image_score, "found": found,
            "seconds": time.perf_counter() - start}


def image_metrics(truth: np.ndarray, out: dict[str, Any], kinds: list[set[str]]) -> dict[str, float]:
    flags = out["flags"]
    row = {
        "precision": precision_score(truth, flags, zero_division=0.0),
        "recall": recall_score(truth, flags, zero_division=0.0),
        "F1": f1_score(truth, flags, zero_division=0.0),
        "AUPRC": average_precision_score(truth, 1.0 - out["score"]),
        "flagged": int(flags.sum()),
        "seconds": out["seconds"],
    }
    # the kinds cleanlab looks for: leave out the images whose only errors are spurious boxes
    scope = np.array([s != {"spurious"} for s in kinds])
    row["F1 cl-scope"] = f1_score(truth[scope], flags[scope], zero_division=0.0)
    for k in KINDS:
        has = np.array([k in s for s in kinds])
        row[f"img recall {k}"] = float(flags[has].mean()) if has.any() else float("nan")
    return row


def box_metrics(noisy: Noisy, found: Any) -> dict[str, float]:
    """Assay's box-level recall and precision per kind."""
    out: dict[str, float] = {}
    pairs = (("swap", "wrong_class"), ("badloc", "badly_located"), ("spurious", "spurious"))
    for truth_kind, issue in pairs:
        true = noisy.kind == truth_kind
        said = found.issue == issue
        out[f"R {truth_kind}"] = float((said & true).sum() / max(true.sum(), 1))
        out[f"P {truth_kind}"] = float((said & true).sum() / max(said.sum(), 1))
    miss, deleted = found.missing, noisy.deleted
    hit_deleted = np.zeros(deleted.n_boxes, bool)
    hit_missing = np.zeros(miss.n_boxes, bool)
    for i in np.unique(np.r_[miss.image, deleted.image]):
        a, b = deleted.rows_of(int(i)), miss.rows_of(int(i))
        if a.stop > a.start and b.stop > b.start:
            ok = box_iou(deleted.xyxy[a], miss.xyxy[b]) >= 0.5
            hit_deleted[a] = ok.any(axis=1)
            hit_missing[b] = ok.any(axis=0)
    out["R delete"] = float(hit_deleted.mean()) if deleted.n_boxes else float("nan")
    out["P delete"] = float(hit_missing.mean()) if miss.n_boxes else float("nan")
    return out


# --------------------------------------------------------------------------------------------


def generate(spec: SceneSet, seed: int, n_images: int) -> tuple[Noisy, BoxSet, dict[str, float]]:
    rng = np.random.default_rng(seed)
    scenes = [render(rng, spec) for _ in range(n_images)]
    truth = BoxSet.from_per_image([s[1] for s in scenes], [s[2] for s in scenes],
                                  classes=CLASSES)
    noisy = inject(rng, truth, spec.size)
    comps = [components(s[0]) for s in scenes]
    preds = detector_predictions(comps, noisy.labels, seed)
    return noisy, preds, detector_quality(truth, preds)


def detector_quality(truth: BoxSet, preds: BoxSet) -> dict[str, float]:
    """Recall of true boxes (a prediction at IoU >= 0.5, its top class right) and top-1 AP proxy."""
    assert preds.score is not None
    found = located = 0
    for i in range(truth.n_images):
        t, p = truth.rows_of(i), preds.rows_of(i)
        if t.stop == t.start or p.stop == p.start:
            continue
        iou = box_iou(truth.xyxy[t], preds.xyxy[p])
        at = iou >= 0.5
        located += int(at.any(axis=1).sum())
        score = np.where(at, preds.score[p][None, :], -1)
        top = np.where(score.max(axis=1) >= 0, preds.label[p][score.argmax(axis=1)], -1)
        found += int((top == truth.label[t]).sum())
    return {"det located": located / truth.n_boxes, "det recall": found / truth.n_boxes}


def evaluate(spec: SceneSet, seed: int, n_images: int) -> dict[str, Any]:
    noisy, preds, det = generate(spec, seed, n_images)
    truth_img = np.array([bool(s) for s in noisy.image_kinds])
    a = run_assay(noisy.labels, preds)
    c = run_cleanlab(noisy.labels, preds)
    return {
        "set": spec.name, "seed": seed, "images": n_images, "boxes": noisy.labels.n_boxes,
        "wrong images": int(truth_img.sum()), **det,
        "assay": image_metrics(truth_img, a, noisy.image_kinds),
        "cleanlab": image_metrics(truth_img, c, noisy.image_kinds),
        "assay_raw": image_metrics(truth_img, run_assay(noisy.labels, preds,
                                                        explain_crowding=False),
                                   noisy.image_kinds),
        "boxes_assay": box_metrics(noisy, a["found"]),
        "thresholds": a["found"].thresholds,
    }


# --------------------------------------------------------------------------------------------
# Scale


def simulated(n_images: int, per_image: int) -> tuple[BoxSet, BoxSet]:
    """Random annotations (20 classes) and predictions near them: 95 % of the boxes predicted
    with a 3-pixel jitter, 90 % with the right class, plus 10 % extra boxes on background."""
    rng = np.random.default_rng(0)
    n = n_images * per_image
    image = np.repeat(np.arange(n_images), per_image)
    xy = rng.uniform(0, 400, (n, 2))
    wh = rng.uniform(10, 80, (n, 2))
    labels = BoxSet(image=image, xyxy=np.c_[xy, xy + wh], label=rng.integers(0, 20, n),
                    classes=[f"c{k}" for k in range(20)])
    jitter = rng.normal(0, 3, (n, 4))
    plabel = np.where(rng.random(n) < 0.9, labels.label, rng.integers(0, 20, n))
    keep = rng.random(n) < 0.95
    extra = rng.integers(0, n_images, n // 10)
    exy = rng.uniform(0, 400, (extra.size, 2))
    pbox = np.r_[np.sort((labels.xyxy + jitter)[keep].reshape(-1, 2, 2), axis=1).reshape(-1, 4),
                 np.c_[exy, exy + rng.uniform(10, 80, (extra.size, 2))]]
    preds = BoxSet(image=np.r_[image[keep], extra], xyxy=pbox,
                   label=np.r_[plabel[keep], rng.integers(0, 20, extra.size)],
                   score=rng.beta(5, 1.5, pbox.shape[0]), classes=labels.classes,
                   images=labels.images)
    return labels, preds


def scale_child(n_images: int, per_image: int) -> None:
    """100k-box audit on simulated predictions; prints seconds and peak RSS (MB)."""
    labels, preds = simulated(n_images, per_image)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    found = find_detection_issues(labels, preds)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{seconds:.3f} {before:.1f} {peak:.1f} {labels.n_boxes} {preds.n_boxes} "
          f"{int(found.is_issue.sum())}")


def run_scale(n_images: int, per_image: int) -> str:
    proc = subprocess.run([sys.executable, __file__, "--scale-child", str(n_images),
                           str(per_image)], capture_output=True, text=True, check=True)
    sec, before, peak, nb, npred, flagged = proc.stdout.split()
    return (f"find_detection_issues on {int(nb):,} boxes / {int(npred):,} predictions "
            f"({n_images:,} images): {float(sec):.2f} s; peak RSS of the process {float(peak):.0f}"
            f" MB, {float(before):.0f} MB before the call (imports and inputs); "
            f"{int(flagged):,} images flagged")


def run_audit(n_images: int, per_image: int) -> str:
    """``assay audit instances.json --label boxes --predictions preds.json`` as a user runs it,
    on the simulated boxes written as a COCO file and a COCO results file (no image files, so
    the image checks are skipped), timed with ``/usr/bin/time -v``."""
    import json
    import tempfile

    from assay.detection import write_coco

    labels, preds = simulated(n_images, per_image)
    folder = Path(tempfile.mkdtemp())
    ids = list(range(1, n_images + 1))
    template = {"images": [{"id": i, "file_name": f"{i:06d}.jpg"} for i in ids],
                "categories": [{"id": k + 1, "name": c} for k, c in enumerate(labels.classes)],
                "annotations": []}
    write_coco(BoxSet(image=labels.image, xyxy=labels.xyxy, label=labels.label,
                      classes=labels.classes, images=ids), folder / "instances.json",
               template=template)
    xywh = np.c_[preds.xyxy[:, :2], preds.xyxy[:, 2:] - preds.xyxy[:, :2]].round(2)
    results = [{"image_id": int(i) + 1, "category_id": int(k) + 1, "bbox": b.tolist(),
                "score": round(float(sc), 4)}
               for i, k, b, sc in zip(preds.image, preds.label, xywh, preds.score, strict=True)]
    (folder / "preds.json").write_text(json.dumps(results), encoding="utf-8")
    out = folder / "audit"
    start = time.perf_counter()
    run = subprocess.run(["/usr/bin/time", "-v", "assay", "audit", str(folder / "instances.json"),
                          "--label", "boxes", "--predictions", str(folder / "preds.json"),
                          "--no-workspace", "--out", str(out)],
                         capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    rss = next(int(line.split()[-1]) for line in run.stderr.splitlines()
               if "Maximum resident" in line)
    summary = json.loads((out / "audit.json").read_text())["summary"]
    timings = {k: round(v, 2) for k, v in summary["timings_s"].items() if v >= 0.01}
    return (f"assay audit on {labels.n_boxes:,} boxes / {preds.n_boxes:,} predictions "
            f"({n_images:,} images, COCO files): {wall:.1f} s wall, peak RSS "
            f"{rss / 2**20:.2f} GiB; timings {timings}")


# --------------------------------------------------------------------------------------------


def _mean(rows: list[dict[str, Any]], tool: str, key: str) -> float:
    return float(np.nanmean([r[tool][key] for r in rows]))


def print_tables(results: list[dict[str, Any]]) -> None:
    sets = list(dict.fromkeys(r["set"] for r in results))
    print("\nPer run (image level)")
    print("| set | seed | images | boxes | wrong images | det. located | det. recall "
          "| F1 assay | F1 cleanlab | AUPRC assay | AUPRC cleanlab |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['set']} | {r['seed']} | {r['images']} | {r['boxes']} | {r['wrong images']} "
              f"| {r['det located']:.3f} | {r['det recall']:.3f} | {r['assay']['F1']:.3f} "
              f"| {r['cleanlab']['F1']:.3f} | {r['assay']['AUPRC']:.3f} "
              f"| {r['cleanlab']['AUPRC']:.3f} |")
    print("\nMean over seeds (image level)")
    print("| set | F1 assay | F1 cleanlab | ratio | AUPRC assay | AUPRC cleanlab | ratio "
          "| P assay | R assay | P cleanlab | R cleanlab | flagged assay | flagged cleanlab "
          "| s assay | s cleanlab |")
    print("|---|" + "---:|" * 14)
    for s in sets:
        rows = [r for r in results if r["set"] == s]
        m = {(t, k): _mean(rows, t, k) for t in ("assay", "cleanlab")
             for k in ("F1", "AUPRC", "precision", "recall", "flagged", "seconds")}
        print(f"| {s} | {m['assay', 'F1']:.3f} | {m['cleanlab', 'F1']:.3f} "
              f"| {m['assay', 'F1'] / max(m['cleanlab', 'F1'], 1e-9):.2f} "
              f"| {m['assay', 'AUPRC']:.3f} | {m['cleanlab', 'AUPRC']:.3f} "
              f"| {m['assay', 'AUPRC'] / max(m['cleanlab', 'AUPRC'], 1e-9):.2f} "
              f"| {m['assay', 'precision']:.3f} | {m['assay', 'recall']:.3f} "
              f"| {m['cleanlab', 'precision']:.3f} | {m['cleanlab', 'recall']:.3f} "
              f"| {m['assay', 'flagged']:.0f} | {m['cleanlab', 'flagged']:.0f} "
              f"| {m['assay', 'seconds']:.3f} | {m['cleanlab', 'seconds']:.2f} |")
    print("\nImage-level F1 leaving out the images whose only errors are spurious boxes "
          "(cleanlab does not look for those), mean")
    print("| set | F1 assay | F1 cleanlab | ratio |")
    print("|---|---:|---:|---:|")
    for s in sets:
        rows = [r for r in results if r["set"] == s]
        fa, fc = _mean(rows, "assay", "F1 cl-scope"), _mean(rows, "cleanlab", "F1 cl-scope")
        print(f"| {s} | {fa:.3f} | {fc:.3f} | {fa / max(fc, 1e-9):.2f} |")
    print("\nAblation: assay with explain_crowding=False (location judged on every box), mean")
    print("| set | F1 | AUPRC | precision | recall |")
    print("|---|---:|---:|---:|---:|")
    for s in sets:
        rows = [r for r in results if r["set"] == s]
        vals = " | ".join(f"{_mean(rows, 'assay_raw', k):.3f}"
                          for k in ("F1", "AUPRC", "precision", "recall"))
        print(f"| {s} | {vals} |")
    print("\nImage-level recall per error kind (images holding an error of that kind), mean")
    print("| set | tool | swap | badloc | delete | spurious |")
    print("|---|---|---:|---:|---:|---:|")
    for s in sets:
        rows = [r for r in results if r["set"] == s]
        for t in ("assay", "cleanlab"):
            vals = " | ".join(f"{_mean(rows, t, f'img recall {k}'):.3f}" for k in KINDS)
            print(f"| {s} | {t} | {vals} |")
    print("\nassay, box level per kind (R = recall, P = precision), mean")
    print("| set | R swap | P swap | R badloc | P badloc | R delete | P delete "
          "| R spurious | P spurious |")
    print("|---|" + "---:|" * 8)
    for s in sets:
        rows = [r for r in results if r["set"] == s]
        keys = ("R swap", "P swap", "R badloc", "P badloc", "R delete", "P delete",
                "R spurious", "P spurious")
        vals = " | ".join(f"{float(np.nanmean([r['boxes_assay'][k] for r in rows])):.3f}"
                          for k in keys)
        print(f"| {s} | {vals} |")


def run_set(name: str, seeds: list[int], quick: bool, results: list[dict[str, Any]]) -> None:
    spec = SCENE_SETS[name]
    n_images = spec.n_images // 3 if quick else spec.n_images
    for seed in seeds:
        start = time.perf_counter()
        r = evaluate(spec, seed, n_images)
        th = r["thresholds"]
        print(f"{name} seed {seed}: {time.perf_counter() - start:.1f} s; F1 assay "
              f"{r['assay']['F1']:.3f} cleanlab {r['cleanlab']['F1']:.3f}; location IoU "
              f"{th['location_iou']:.3f}; confident "
              + " ".join(f"{v:.2f}" for v in th["confident_score"].values()), flush=True)
        results.append(r)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 seed, a third of the images")
    ap.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    ap.add_argument("--sets", nargs="*", default=list(SCENE_SETS))
    ap.add_argument("--no-scale", action="store_true", help="skip the 100k-box timing")
    ap.add_argument("--scale-child", type=int, nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--audit", action="store_true",
                    help="only time `assay audit` on 100k simulated boxes in COCO files")
    args = ap.parse_args()
    if args.scale_child:
        scale_child(*args.scale_child)
        return
    if args.audit:
        for when in ("start", None, "end"):
            if when is None:
                print(run_audit(20_000, 5), flush=True)
                continue
            up = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
            print(f"{when}: {up}", flush=True)
        return
    seeds = args.seeds[:1] if args.quick else args.seeds
    up = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"start: {up}")
    results: list[dict[str, Any]] = []
    with threadpool_limits(1):  # one OpenMP thread: the machine is shared
        for name in args.sets:
            run_set(name, seeds, args.quick, results)
    print_tables(results)
    if not args.no_scale:
        print()
        print(run_scale(20_000, 5))
    up = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"end: {up}")


if __name__ == "__main__":
    main()
