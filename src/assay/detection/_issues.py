"""Label issues of annotated boxes, judged against a detector's predicted boxes.

Evidence per annotated box ``a`` of class ``k`` (``t`` = ``iou_threshold``), from the
predictions of its image:

- ``best_iou``: the largest IoU of ``a`` with a prediction of any class;
- ``p_same``: the highest score of a class-``k`` prediction at IoU >= ``t`` with ``a``;
- ``p_other`` (class ``j``): the highest score of a prediction of another class at IoU >= ``t``;
- ``crowded``: the detector's boxes say nothing reliable about ``a``'s location when its best
  prediction covers at least half of another annotated box (the detector merged touching
  objects), when no prediction overlaps ``a`` but ``a`` overlaps another annotated box
  (occlusion), or when ``a`` overlaps another annotated box whose best prediction overlaps
  ``a``'s (the objects touch, not only the boxes). The location of such boxes is not judged
  (``explain_crowding=True``). On the crowded scenes of ``benchmarks/detection_labels.py``
  (development seed 101), 313 of the 490 clean boxes with IoU < 0.7 had a merged best
  prediction, against 6 of the 64 shifted ones, and 56 of the 72 clean boxes the detector
  missed overlapped another box, against none of the 66 spurious boxes it missed. (Overlap
  between annotations alone is not enough: a box shifted onto a neighbour overlaps it too.)

Thresholds come from the data, as confident learning's per-class thresholds do (Northcutt,
Jiang and Chuang, JAIR 2021): the *confident score* of class ``j`` is the mean of ``p_same``
over the class-``j`` boxes that a class-``j`` prediction locates, the detector's typical
confidence when it agrees with the annotation (the mean over all classes for a class with fewer
than 10 such boxes); the *location IoU* is Tukey's far-out fence ``Q1 - 3 IQR`` of
``best_iou`` over the located (IoU >= ``t``), not crowded boxes, kept in ``[t, 0.9]``: a box
is badly placed when its overlap with the detector is an outlier among ordinary boxes'.

Each kind of evidence ``x`` in [0, 1] with a flag bar ``b`` becomes a score in [0, 1] by
:func:`evidence_score`, piecewise linear with ``score(b) = 0.5``: ``1 - x / (2 b)`` below the
bar, ``(1 - x) / (2 (1 - b))`` above it. So every score is < 0.5 exactly when its evidence
clears its bar, and scores of different kinds share one scale:

- wrong class: ``x = p_other``, bar ``max(p_same, confident score of j)``: another class is
  predicted at the box with at least the detector's typical confidence, and above the
  annotated class;
- location (boxes not crowded): ``x = 1 - best_iou``, bar ``1 - location IoU``; below
  ``spurious_iou`` (0.1) the box overlaps nothing and is *spurious*, otherwise *badly
  located*;
- missing: a prediction that no annotation claims (no box has it as its best match at IoU >=
  0.1), that overlaps every annotation at IoU < ``t``, is not the same object as a claimed
  prediction (IoU < ``t`` with each) and has no better-scored such candidate at IoU >= ``t``:
  ``x = score``, bar = its class's confident score.

A box's score is the lower of its class and location scores, its kind that of the lower; an
image's score is the lowest score of its boxes and missing boxes (1 when it has none), and the
image is an issue when that is below 0.5. Work is flat over all (annotation, prediction) pairs
that share an image: no loop over images.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from assay.detection._io import BoxSet
from assay.detection._match import image_pairs, pair_iou, segment_max
from assay.exceptions import InputValidationError, InvalidParameterError

__all__ = [
    "ISSUE_KINDS",
    "DetectionIssues",
    "evidence_score",
    "find_detection_issues",
]

#: The kinds of an annotated box's issue (``"missing"`` issues are predictions, listed apart).
ISSUE_KINDS = ("ok", "wrong_class", "badly_located", "spurious")
#: Below this best IoU with any prediction, a flagged box is spurious rather than badly located.
SPURIOUS_IOU = 0.1
#: Tukey's fence multiplier for the location IoU threshold (3: "far out").
TUKEY_K = 3.0
#: The location IoU threshold never exceeds this: a box within IoU 0.9 of the detector's box is
#: never called badly located.
LOCATION_IOU_CAP = 0.9
#: Fewer located boxes than this (overall, or of one class) and the threshold falls back: to
#: ``iou_threshold`` for location, to the mean over all classes for a class's confident score.
MIN_LOCATED = 10
#: Confident score when no box at all is located by a same-class prediction.
DEFAULT_CONFIDENT_SCORE = 0.5


def evidence_score(x: np.ndarray, bar: np.ndarray | float) -> np.ndarray:
    """Turn evidence of an issue ``x`` in [0, 1] into a quality score, 0.5 at the bar.

    Parameters
    ----------
    x : ndarray
        Evidence, larger = worse.
    bar : ndarray or float
        The flag bar: ``x > bar`` is flagged.

    Returns
    -------
    ndarray
        ``1 - x / (2 bar)`` for ``x <= bar``, ``(1 - x) / (2 (1 - bar))`` above: decreasing in
        ``x``, 1 at ``x = 0``, 0.5 at the bar, 0 at ``x = 1``.

    Examples
    --------
    >>> import numpy as np
    >>> from assay.detection import evidence_score
    >>> evidence_score(np.array([0.0, 0.4, 0.8, 0.9, 1.0]), 0.8).round(3).tolist()
    [1.0, 0.75, 0.5, 0.25, 0.0]
    """
    b = np.clip(np.asarray(bar, dtype=float), 1e-9, 1 - 1e-9)
    xs = np.asarray(x, dtype=float)
    return np.clip(np.where(xs <= b, 1 - 0.5 * xs / b, 0.5 * (1 - xs) / (1 - b)), 0.0, 1.0)


@dataclass(frozen=True, eq=False)
class DetectionIssues:
    """What :func:`find_detection_issues` found, per annotated box, missing box and image.

    Attributes
    ----------
    labels : BoxSet
        The audited annotations (rows in the order of ``labels``).
    box_score : ndarray of shape (M,)
        In [0, 1], low = worse: the lower of ``class_score`` and ``location_score``.
    class_score, location_score : ndarray of shape (M,)
        The two parts (see the module notes); < 0.5 means flagged.
    issue : ndarray of shape (M,), str
        ``"ok"``, ``"wrong_class"``, ``"badly_located"`` or ``"spurious"``.
    suggested_label : ndarray of shape (M,), int
        The class to use: the predicted class for ``wrong_class``, -1 (remove the box) for
        ``spurious``, else the given one.
    suggested_xyxy : ndarray of shape (M, 4)
        The box to use: the best-overlapping prediction for ``badly_located``, else the given.
    best_iou : ndarray of shape (M,)
        The largest IoU with a prediction of any class.
    crowded : ndarray of shape (M,), bool
        The detector's boxes are unreliable at this box (its best prediction spans another
        annotated box, or it overlaps another annotated box that the detector misses or
        places against it); its location is not judged (``location_score`` 1).
    missing : BoxSet
        Confident predictions no annotation covers (suggested to add), with their scores.
    missing_score : ndarray of shape (len(missing),)
        In [0, 0.5), low = more confident that the box is missing.
    image_score : ndarray of shape (n_images,)
        The lowest score of the image's boxes and missing boxes (1 when it has none).
    is_issue : ndarray of shape (n_images,), bool
        ``image_score < 0.5``: the image has at least one flagged or missing box.
    image_counts : dict of str to ndarray of shape (n_images,)
        Flagged boxes per image of each kind (``wrong_class``, ``badly_located``,
        ``spurious``, ``missing``).
    thresholds : dict
        The bars used: ``confident_score`` (per class name), ``location_iou``,
        ``spurious_iou``, ``iou_threshold``.

    Examples
    --------
    >>> from assay.detection import BoxSet, find_detection_issues
    >>> labels = BoxSet(image=[0, 0], xyxy=[[0, 0, 10, 10], [20, 20, 30, 30]], label=[0, 0],
    ...                 classes=["cat", "dog"])
    >>> preds = BoxSet(image=[0, 0], xyxy=[[0, 0, 10, 10], [20, 20, 30, 30]], label=[0, 1],
    ...                score=[0.9, 0.95], classes=["cat", "dog"])
    >>> found = find_detection_issues(labels, preds)
    >>> found.issue.tolist(), found.suggested_label.tolist(), found.is_issue.tolist()
    (['ok', 'wrong_class'], [0, 1], [True])
    >>> found.counts
    {'wrong_class': 1, 'badly_located': 0, 'spurious': 0, 'missing': 0}
    """

    labels: BoxSet
    box_score: np.ndarray
    class_score: np.ndarray
    location_score: np.ndarray
    issue: np.ndarray
    suggested_label: np.ndarray
    suggested_xyxy: np.ndarray
    best_iou: np.ndarray
    crowded: np.ndarray
    missing: BoxSet
    missing_score: np.ndarray
    image_score: np.ndarray
    is_issue: np.ndarray
    image_counts: dict[str, np.ndarray] = field(default_factory=dict)
    thresholds: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}={v}" for k, v in self.counts.items())
        return (f"DetectionIssues(n_boxes={self.labels.n_boxes}, "
                f"images_flagged={int(self.is_issue.sum())}/{self.labels.n_images}, {parts})")

    @property
    def counts(self) -> dict[str, int]:
        """Flagged boxes of each kind, over all images.

        Examples
        --------
        >>> from assay.detection import BoxSet, find_detection_issues
        >>> b = BoxSet(image=[0], xyxy=[[0, 0, 4, 4]], label=[0])
        >>> find_detection_issues(b, BoxSet(image=[], xyxy=[], label=[], score=[],
        ...                                 images=[0], classes=["0"])).counts["spurious"]
        1
        """
        return {k: int(v.sum()) for k, v in self.image_counts.items()}

    def boxes_frame(self) -> pd.DataFrame:
        """One row per annotated box: image, class, issue, scores and the suggested fix.

        Examples
        --------
        >>> from assay.detection import BoxSet, find_detection_issues
        >>> b = BoxSet(image=[0], xyxy=[[0, 0, 4, 4]], label=[0], classes=["cat"])
        >>> p = BoxSet(image=[0], xyxy=[[0, 0, 4, 4]], label=[0], score=[0.9], classes=["cat"])
        >>> find_detection_issues(b, p).boxes_frame()[["image", "class", "issue"]]
           image class issue
        0      0   cat    ok
        """
        lab = self.labels
        names = np.array([*lab.classes, ""], dtype=object)
        frame = lab.to_frame().drop(columns="label")
        frame["issue"] = self.issue
        frame["box_score"] = self.box_score
        frame["class_score"] = self.class_score
        frame["location_score"] = self.location_score
        frame["best_iou"] = self.best_iou
        frame["crowded"] = self.crowded
        frame["suggested_class"] = names[self.suggested_label]
        for i, c in enumerate(("x0", "y0", "x1", "y1")):
            frame[f"suggested_{c}"] = self.suggested_xyxy[:, i]
        return frame

    def images_frame(self) -> pd.DataFrame:
        """One row per image: score, flag, boxes and flagged boxes of each kind.

        Examples
        --------
        >>> from assay.detection import BoxSet, find_detection_issues
        >>> b = BoxSet(image=[0], xyxy=[[0, 0, 4, 4]], label=[0], images=["a.jpg", "b.jpg"])
        >>> p = BoxSet(image=[1], xyxy=[[0, 0, 4, 4]], label=[0], score=[0.9],
        ...            images=["a.jpg", "b.jpg"])
        >>> find_detection_issues(b, p).images_frame()[["image", "is_issue", "spurious",
        ...                                              "missing"]]
           image  is_issue  spurious  missing
        0  a.jpg      True         1        0
        1  b.jpg      True         0        1
        """
        frame = pd.DataFrame({"image": self.labels.images, "image_score": self.image_score,
                              "is_issue": self.is_issue, "n_boxes": self.labels.counts()})
        for kind, values in self.image_counts.items():
            frame[kind] = values
        return frame

    def apply_fixes(self, *, kinds: Sequence[str] = ("wrong_class", "badly_located", "spurious",
                                                     "missing")) -> BoxSet:
        """The annotations with the suggested fixes of the given kinds applied.

        ``wrong_class`` boxes get the suggested class, ``badly_located`` boxes the suggested
        box, ``spurious`` boxes are removed, ``missing`` boxes added (without scores).

        Parameters
        ----------
        kinds : sequence of str
            Which fixes to apply.

        Returns
        -------
        BoxSet

        Examples
        --------
        >>> from assay.detection import BoxSet, find_detection_issues
        >>> b = BoxSet(image=[0], xyxy=[[0, 0, 4, 4]], label=[0])
        >>> p = BoxSet(image=[0], xyxy=[[10, 10, 14, 14]], label=[0], score=[0.9])
        >>> fixed = find_detection_issues(b, p).apply_fixes()
        >>> fixed.xyxy.tolist()
        [[10.0, 10.0, 14.0, 14.0]]
        """
        allowed = (*ISSUE_KINDS[1:], "missing")
        bad = [k for k in kinds if k not in allowed]
        if bad:
            raise InvalidParameterError("kinds", f"a subset of {allowed}", list(kinds),
                                        owner="DetectionIssues.apply_fixes")
        lab = self.labels
        label, xyxy = lab.label.copy(), lab.xyxy.copy()
        relabel = self.issue == "wrong_class" if "wrong_class" in kinds else np.zeros(
            lab.n_boxes, bool)
        label[relabel] = self.suggested_label[relabel]
        if "badly_located" in kinds:
            move = self.issue == "badly_located"
            xyxy[move] = self.suggested_xyxy[move]
        keep = ~(self.issue == "spurious") if "spurious" in kinds else np.ones(lab.n_boxes, bool)
        add = "missing" in kinds
        miss = self.missing
        return BoxSet(
            image=np.concatenate([lab.image[keep], miss.image if add else []]).astype(np.int64),
            xyxy=np.concatenate([xyxy[keep], miss.xyxy if add else np.zeros((0, 4))]),
            label=np.concatenate([label[keep], miss.label if add else []]).astype(np.int64),
            classes=lab.classes, images=lab.images,
        )


# --------------------------------------------------------------------------------------------


def _check_inputs(labels: Any, predictions: Any) -> None:
    for name, value in (("labels", labels), ("predictions", predictions)):
        if not isinstance(value, BoxSet):
            raise InputValidationError(
                f"find_detection_issues: {name} must be a BoxSet. Got {type(value).__name__}. "
                "Build one with BoxSet(...), BoxSet.from_per_image(...) or read_coco(...)."
            )
    if predictions.score is None:
        raise InputValidationError(
            "find_detection_issues: predictions must carry scores (BoxSet.score), the "
            "detector's confidence per box. Got a BoxSet without scores. Pass score=[...] or "
            "read a COCO results file with read_coco(..., predictions=...)."
        )
    if labels.classes != predictions.classes:
        raise InputValidationError(
            "find_detection_issues: labels and predictions must use the same classes in the "
            f"same order. Got {labels.classes[:10]} and {predictions.classes[:10]}. Encode "
            "both with one class list (read_coco does)."
        )
    if labels.images != predictions.images:
        raise InputValidationError(
            "find_detection_issues: labels and predictions must list the same images in the "
            f"same order. Got {labels.n_images} and {predictions.n_images} images (first "
            f"{labels.images[:3]} and {predictions.images[:3]}). Pass images=labels.images "
            "when building the predictions (images without boxes included)."
        )


def _fraction(name: str, value: Any, *, low: float, high: float, closed: bool) -> float:
    ok = isinstance(value, int | float | np.floating | np.integer) and not isinstance(value, bool)
    if ok:
        v = float(value)
        ok = (low <= v <= high) if closed else (low < v < high)
    if not ok:
        rng = f"[{low}, {high}]" if closed else f"({low}, {high})"
        raise InvalidParameterError(name, f"a float in {rng}", value,
                                    owner="find_detection_issues")
    return float(value)


def _confident_scores(labels: BoxSet, p_same: np.ndarray) -> np.ndarray:
    """Per class: the mean same-class score over the boxes a same-class prediction locates."""
    located = p_same > 0
    if not located.any():
        return np.full(labels.n_classes, DEFAULT_CONFIDENT_SCORE)
    k = labels.n_classes
    counts = np.bincount(labels.label[located], minlength=k)
    sums = np.bincount(labels.label[located], weights=p_same[located], minlength=k)
    overall = float(p_same[located].mean())
    return np.where(counts >= MIN_LOCATED, sums / np.maximum(counts, 1), overall)


def _location_iou(best_iou: np.ndarray, judged: np.ndarray, t: float) -> float:
    located = best_iou[judged & (best_iou >= t)]
    if located.size < MIN_LOCATED:
        return t
    q1, q3 = np.percentile(located, [25, 75])
    return float(np.clip(q1 - TUKEY_K * (q3 - q1), t, max(t, LOCATION_IOU_CAP)))


@dataclass
class _Evidence:
    ia: np.ndarray
    ib: np.ndarray
    iou: np.ndarray
    best_iou: np.ndarray
    best_pred: np.ndarray
    same_iou: np.ndarray
    same_pred: np.ndarray
    p_same: np.ndarray
    p_other: np.ndarray
    other_label: np.ndarray
    crowded: np.ndarray


def _take(values: np.ndarray, at: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """``values[at]`` where ``ok``, else -1 (also when ``values`` is empty)."""
    out = np.full(at.shape[0], -1, dtype=np.int64)
    out[ok] = values[at[ok]]
    return out


def _crowded(labels: BoxSet, preds: BoxSet, ia: np.ndarray, ib: np.ndarray,
             best_pred: np.ndarray, best_iou: np.ndarray, spurious_iou: float) -> np.ndarray:
    """Boxes whose location the detector's boxes say nothing reliable about.

    ``merged``: the box's best prediction covers at least half of another annotated box (the
    detector merged touching objects). ``hidden``: no prediction overlaps the box (IoU below
    ``spurious_iou``) and it overlaps another annotated box (occlusion). ``touching``: it
    overlaps another annotated box whose best prediction overlaps its own best prediction
    (the objects touch, not only the boxes).
    """
    n = labels.n_boxes
    ja, jb = image_pairs(labels.image, labels.offsets)
    pair = (ja != jb) & (pair_iou(labels.xyxy[ja], labels.xyxy[jb]) > 0)
    ja, jb = ja[pair], jb[pair]
    overlaps = np.zeros(n, bool)
    overlaps[ja] = True
    pa, pb = best_pred[ja], best_pred[jb]
    both = (pa >= 0) & (pb >= 0)
    near = np.zeros(ja.size, bool)
    near[both] = (pa[both] == pb[both]) | (
        pair_iou(preds.xyxy[pa[both]], preds.xyxy[pb[both]]) > 0)
    touching = np.zeros(n, bool)
    touching[ja[near]] = True

    a, p = labels.xyxy[ia], preds.xyxy[ib]
    w = np.clip(np.minimum(a[:, 2], p[:, 2]) - np.maximum(a[:, 0], p[:, 0]), 0, None)
    h = np.clip(np.minimum(a[:, 3], p[:, 3]) - np.maximum(a[:, 1], p[:, 1]), 0, None)
    area = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    covers = np.divide(w * h, area, out=(area <= 0).astype(float), where=area > 0) >= 0.5
    n_covered = np.bincount(ib[covers], minlength=preds.n_boxes)
    own = np.zeros(n, np.int64)
    own[ia[covers & (ib == best_pred[ia])]] = 1
    merged = _take(n_covered, best_pred, best_pred >= 0) - own >= 1
    hidden = overlaps & (best_iou < spurious_iou)
    return merged | hidden | touching


def _evidence(labels: BoxSet, preds: BoxSet, t: float, spurious_iou: float) -> _Evidence:
    assert preds.score is not None  # checked by _check_inputs
    n = labels.n_boxes
    ia, ib = image_pairs(labels.image, preds.offsets)
    iou = pair_iou(labels.xyxy[ia], preds.xyxy[ib])
    score = preds.score[ib]
    same = preds.label[ib] == labels.label[ia]
    located = iou >= t
    best_iou, best_at = segment_max(iou, ia, n, fill=0.0)
    same_iou, same_at = segment_max(np.where(same, iou, -1.0), ia, n, fill=-1.0)
    p_same, _ = segment_max(np.where(same & located, score, -1.0), ia, n, fill=-1.0)
    p_other, other_at = segment_max(np.where(~same & located, score, -1.0), ia, n, fill=-1.0)
    best_pred = _take(ib, best_at, best_iou > 0)
    other_pred = _take(ib, other_at, p_other >= 0)
    return _Evidence(
        ia=ia, ib=ib, iou=iou, best_iou=best_iou, best_pred=best_pred,
        same_iou=np.maximum(same_iou, 0.0), same_pred=_take(ib, same_at, same_iou >= 0),
        p_same=np.maximum(p_same, 0.0), p_other=np.maximum(p_other, 0.0),
        other_label=_take(preds.label, other_pred, other_pred >= 0),
        crowded=_crowded(labels, preds, ia, ib, best_pred, best_iou, spurious_iou),
    )


def _missing(labels: BoxSet, preds: BoxSet, ev: _Evidence, confident: np.ndarray,
             t: float, spurious_iou: float) -> BoxSet:
    """Confident predictions that no annotation covers, one per object."""
    assert preds.score is not None
    m = preds.n_boxes
    overlap = np.zeros(m)
    np.maximum.at(overlap, ev.ib, ev.iou)
    claimed = np.zeros(m, bool)
    claimed[ev.best_pred[(ev.best_iou >= spurious_iou) & (ev.best_pred >= 0)]] = True
    cand = np.flatnonzero(~claimed & (overlap < t) & (preds.score > confident[preds.label]))
    blockers = np.flatnonzero(claimed | np.isin(np.arange(m), cand))
    offsets = np.searchsorted(preds.image[blockers], np.arange(preds.n_images + 1))
    ci, bj = image_pairs(preds.image[cand], offsets)
    c, b = cand[ci], blockers[bj]
    same_object = (c != b) & (pair_iou(preds.xyxy[c], preds.xyxy[b]) >= t)
    s_c, s_b = preds.score[c], preds.score[b]
    beaten = claimed[b] | (s_b > s_c) | ((s_b == s_c) & (b < c))
    dropped = np.zeros(cand.size, bool)
    dropped[ci[same_object & beaten]] = True
    keep = cand[~dropped]
    return BoxSet(image=preds.image[keep], xyxy=preds.xyxy[keep], label=preds.label[keep],
                  score=preds.score[keep], classes=preds.classes, images=preds.images)


def _kinds(flagged: np.ndarray, loc_worse: np.ndarray, best_iou: np.ndarray,
           spurious_iou: float) -> np.ndarray:
    issue = np.full(flagged.shape[0], "ok", dtype="<U13")
    issue[flagged & loc_worse & (best_iou < spurious_iou)] = "spurious"
    issue[flagged & loc_worse & (best_iou >= spurious_iou)] = "badly_located"
    issue[flagged & ~loc_worse] = "wrong_class"
    return issue


def find_detection_issues(
    labels: BoxSet,
    predictions: BoxSet,
    *,
    iou_threshold: float = 0.5,
    min_score: float = 0.0,
    confident_score: float | None = None,
    location_iou: float | None = None,
    explain_crowding: bool = True,
) -> DetectionIssues:
    """Find wrong-class, badly located, spurious and missing boxes in annotations.

    Parameters
    ----------
    labels : BoxSet
        The annotations to audit.
    predictions : BoxSet
        A detector's boxes with scores, on the same images and classes, ideally out of sample
        (each image predicted by a model that was not trained on it). Several classes may be
        predicted for one box (one row each).
    iou_threshold : float, default=0.5
        IoU at which a prediction is *at* a box: its class counts as evidence about the box's
        class, and a prediction overlapping an annotation this much is not missing.
    min_score : float, default=0.0
        Predictions scored below it are ignored.
    confident_score : float, optional
        The score a prediction needs to call a box wrong-class or missing; default per class
        from the data (the mean score of same-class predictions that locate annotated boxes).
    location_iou : float, optional
        A box whose best IoU with a prediction is below it is badly located (or spurious below
        0.1); default from the data (Tukey's far-out fence ``Q1 - 3 IQR`` of the located boxes'
        IoUs, kept in ``[iou_threshold, 0.9]``).
    explain_crowding : bool, default=True
        Do not judge the location of crowded boxes (see ``DetectionIssues.crowded``), where the
        detector's boxes are unreliable: merged over touching objects, or missing an occluded
        one.

    Returns
    -------
    DetectionIssues
        Per box, per missing box and per image; see its attributes.

    Notes
    -----
    Evidence per box: its best IoU with any prediction, the best scores of its own class and
    of another class among predictions at IoU >= ``iou_threshold``. Wrong class: the other
    class scores above both the box's class and the other class's confident score. Badly
    located: best IoU below the location IoU (spurious below 0.1), for boxes not crowded
    (touching or occluded objects, where the detector's boxes are unreliable).
    Missing: a prediction above its class's confident score that no box claims and that
    overlaps every box at IoU < ``iou_threshold`` (one per object). Every score is 0.5 at its
    bar (:func:`evidence_score`); a box scores the lower of its class and location scores, an
    image the lowest of its boxes and missing boxes, flagged below 0.5.

    Examples
    --------
    >>> from assay.detection import BoxSet, find_detection_issues
    >>> classes = ["square", "disk"]
    >>> labels = BoxSet(image=[0, 1, 2], xyxy=[[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]],
    ...                 label=[0, 1, 0], classes=classes)
    >>> preds = BoxSet(image=[0, 1, 2, 2], xyxy=[[0, 0, 10, 10], [5, 5, 15, 15],
    ...                [0, 0, 10, 10], [30, 30, 40, 40]], label=[0, 1, 0, 1],
    ...                score=[0.9, 0.8, 0.9, 0.95], classes=classes)
    >>> found = find_detection_issues(labels, preds)
    >>> found.issue.tolist()
    ['ok', 'badly_located', 'ok']
    >>> found.suggested_xyxy[1].tolist(), found.missing.xyxy.tolist()
    ([5.0, 5.0, 15.0, 15.0], [[30.0, 30.0, 40.0, 40.0]])
    >>> found.is_issue.tolist(), found.image_score.round(2).tolist()
    ([False, True, True], [1.0, 0.14, 0.25])
    """
    _check_inputs(labels, predictions)
    t = _fraction("iou_threshold", iou_threshold, low=0.0, high=1.0, closed=False)
    floor = _fraction("min_score", min_score, low=0.0, high=1.0, closed=True)
    assert predictions.score is not None
    preds = predictions
    if floor > 0:
        keep = predictions.score >= floor
        preds = replace(predictions, image=predictions.image[keep],
                        xyxy=predictions.xyxy[keep], label=predictions.label[keep],
                        score=predictions.score[keep])
    spurious_iou = min(SPURIOUS_IOU, t)
    ev = _evidence(labels, preds, t, spurious_iou)
    if confident_score is None:
        confident = _confident_scores(labels, ev.p_same)
    else:
        value = _fraction("confident_score", confident_score, low=0.0, high=1.0, closed=True)
        confident = np.full(labels.n_classes, value)
    judged = ~ev.crowded if explain_crowding else np.ones(labels.n_boxes, bool)
    loc_bar = _location_iou(ev.best_iou, judged, t) if location_iou is None else _fraction(
        "location_iou", location_iou, low=0.0, high=1.0, closed=True)

    location_score = np.where(judged, evidence_score(1.0 - ev.best_iou, 1.0 - loc_bar), 1.0)
    class_bar = np.maximum(ev.p_same, confident[np.maximum(ev.other_label, 0)])
    class_score = np.where(ev.other_label >= 0, evidence_score(ev.p_other, class_bar), 1.0)
    box_score = np.minimum(location_score, class_score)
    issue = _kinds(box_score < 0.5, location_score <= class_score, ev.best_iou, spurious_iou)

    suggested_label = labels.label.copy()
    wrong = issue == "wrong_class"
    suggested_label[wrong] = ev.other_label[wrong]
    suggested_label[issue == "spurious"] = -1
    suggested_xyxy = labels.xyxy.copy()
    moved = np.flatnonzero(issue == "badly_located")
    use_same = ev.same_iou[moved] >= spurious_iou
    suggested_xyxy[moved] = preds.xyxy[np.where(use_same, ev.same_pred[moved],
                                                ev.best_pred[moved])]

    missing = _missing(labels, preds, ev, confident, t, spurious_iou)
    assert missing.score is not None
    missing_score = evidence_score(missing.score, confident[missing.label])
    n_img = labels.n_images
    image_score = np.ones(n_img)
    np.minimum.at(image_score, labels.image, box_score)
    np.minimum.at(image_score, missing.image, missing_score)
    counts = {kind: np.bincount(labels.image[issue == kind], minlength=n_img)
              for kind in ISSUE_KINDS[1:]}
    counts["missing"] = np.bincount(missing.image, minlength=n_img)
    return DetectionIssues(
        labels=labels, box_score=box_score, class_score=class_score,
        location_score=location_score, issue=issue, suggested_label=suggested_label,
        suggested_xyxy=suggested_xyxy, best_iou=ev.best_iou, crowded=ev.crowded,
        missing=missing,
        missing_score=missing_score, image_score=image_score, is_issue=image_score < 0.5,
        image_counts=counts,
        thresholds={
            "confident_score": dict(zip(labels.classes, confident.tolist(), strict=True)),
            "location_iou": loc_bar, "spurious_iou": spurious_iou, "iou_threshold": t,
        },
    )
