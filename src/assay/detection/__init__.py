"""Label quality of object detection data: wrong, misplaced, missing and spurious boxes.

An annotated box can be wrong in four ways: the annotator chose the wrong class
(``wrong_class``), drew it in the wrong place (``badly_located``), drew it where there is no
object (``spurious``), or overlooked an object (``missing``, a box that should be added). The
evidence is a detector's predicted boxes with scores, ideally out of sample:

- :class:`BoxSet` holds the boxes of many images as flat arrays (image index, ``x0 y0 x1 y1``,
  class, optional score), sorted by image with offsets; :func:`read_coco` and
  :func:`write_coco` read and write COCO JSON (annotations and results files).
- :func:`box_iou` is the pairwise IoU kernel.
- :func:`find_detection_issues` scores every annotated box and image in [0, 1] (low = worse),
  names each box's issue and suggests a fix; thresholds come from the data.
  :meth:`DetectionIssues.apply_fixes` applies the fixes, :func:`write_coco` writes them back.
- :func:`box_agreement` compares two annotators' boxes: matched pairs, shares matched, mean
  IoU, class agreement and Cohen's kappa on the matched pairs, disagreements per image.

The rules, in brief (``t`` = ``iou_threshold``, 0.5 by default; details in
:func:`find_detection_issues` and :mod:`assay.detection._issues`):

- *wrong class*: a prediction of another class at IoU >= ``t`` scores above both the
  annotated class's best score there and that class's *confident score* (the mean score of
  same-class predictions that locate annotated boxes of the class, as confident learning's
  per-class thresholds);
- *badly located*: the box's best IoU with any prediction is below the *location IoU*
  (Tukey's far-out fence ``Q1 - 3 IQR`` of the best IoUs of located boxes, kept in
  ``[t, 0.9]``); *spurious* when that IoU is below 0.1. Not judged for *crowded* boxes, where a
  detector's boxes are unreliable (its best box spans another annotated box, or the box
  overlaps another annotated box and the detector misses it or places the two together);
- *missing*: a prediction above its class's confident score that no annotation claims and
  that overlaps every annotation at IoU < ``t`` (one per object).

Each piece of evidence maps to a score with 0.5 at its bar, so a box, missing box or image is
flagged exactly when its score is below 0.5; an image scores the minimum over its boxes and
missing boxes.

On ``benchmarks/detection_labels.py`` (rendered scenes of shapes, a connected-component
detector with a cross-fitted classifier, 10 % injected annotation errors; seeds 0-2) the
image-level F1 was 0.93 (sparse scenes) and 0.87 (crowded) against 0.61 and 0.41 for cleanlab
2.9's ``object_detection`` module on the same predictions, and 0.91 / 0.84 against 0.72 / 0.48
leaving out the images whose only errors are spurious boxes, which cleanlab does not look for
(``docs/benchmarks/detection.md``).
"""

from __future__ import annotations

from assay.detection._agreement import BoxAgreement, box_agreement
from assay.detection._io import BoxSet, read_coco, write_coco
from assay.detection._issues import (
    ISSUE_KINDS,
    DetectionIssues,
    evidence_score,
    find_detection_issues,
)
from assay.detection._match import box_iou

__all__ = [
    "ISSUE_KINDS",
    "BoxAgreement",
    "BoxSet",
    "DetectionIssues",
    "box_agreement",
    "box_iou",
    "evidence_score",
    "find_detection_issues",
    "read_coco",
    "write_coco",
]
