"""Agreement between two annotators' boxes on the same images."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from assay.detection._io import BoxSet
from assay.detection._match import match_boxes
from assay.exceptions import InputValidationError, InvalidParameterError

__all__ = ["BoxAgreement", "box_agreement", "kappa_from_pairs"]


@dataclass(frozen=True, eq=False)
class BoxAgreement:
    """How far two sets of boxes on the same images agree (see :func:`box_agreement`).

    Attributes
    ----------
    a_index, b_index : ndarray of shape (P,), int
        The matched pairs: box ``a_index[p]`` of ``a`` with box ``b_index[p]`` of ``b``.
    iou : ndarray of shape (P,)
        IoU of each matched pair.
    matched_share_a, matched_share_b : float
        Share of ``a``'s (``b``'s) boxes that are matched (``nan`` for an empty set).
    mean_iou : float
        Mean IoU of the matched pairs (``nan`` without pairs).
    class_agreement : float
        Share of matched pairs with the same class.
    kappa : float
        Cohen's kappa of the two classes over the matched pairs (``nan`` when chance
        agreement is 1 or there are no pairs).
    a_only, b_only, class_differs : ndarray of shape (n_images,), int
        Per image: boxes only in ``a``, only in ``b``, and matched pairs whose classes differ.
    images : list
        The image ids.

    Examples
    --------
    >>> from assay.detection import BoxSet, box_agreement
    >>> a = BoxSet(image=[0, 0], xyxy=[[0, 0, 10, 10], [20, 20, 30, 30]], label=[0, 1])
    >>> b = BoxSet(image=[0], xyxy=[[1, 0, 10, 10]], label=[0], classes=["0", "1"])
    >>> ag = box_agreement(a, b)
    >>> ag.matched_share_a, ag.matched_share_b, ag.a_only.tolist(), round(ag.mean_iou, 2)
    (0.5, 1.0, [1], 0.9)
    """

    a_index: np.ndarray
    b_index: np.ndarray
    iou: np.ndarray
    matched_share_a: float
    matched_share_b: float
    mean_iou: float
    class_agreement: float
    kappa: float
    a_only: np.ndarray
    b_only: np.ndarray
    class_differs: np.ndarray
    images: list[object]

    def __repr__(self) -> str:
        return (f"BoxAgreement(pairs={self.iou.size}, matched_share_a={self.matched_share_a:.3f}, "
                f"matched_share_b={self.matched_share_b:.3f}, mean_iou={self.mean_iou:.3f}, "
                f"kappa={self.kappa:.3f})")

    def images_frame(self) -> pd.DataFrame:
        """One row per image: ``a_only``, ``b_only``, ``class_differs`` and their sum.

        Examples
        --------
        >>> from assay.detection import BoxSet, box_agreement
        >>> a = BoxSet(image=[0], xyxy=[[0, 0, 4, 4]], label=[0], images=["x.jpg"])
        >>> box_agreement(a, a).images_frame()
           image  a_only  b_only  class_differs  disagreements
        0  x.jpg       0       0              0              0
        """
        return pd.DataFrame({
            "image": self.images, "a_only": self.a_only, "b_only": self.b_only,
            "class_differs": self.class_differs,
            "disagreements": self.a_only + self.b_only + self.class_differs,
        })


def kappa_from_pairs(a: np.ndarray, b: np.ndarray, n_classes: int) -> float:
    """Cohen's kappa of two aligned label vectors with classes ``0..n_classes-1``."""
    n = a.size
    if n == 0:
        return float("nan")
    table = np.zeros((n_classes, n_classes))
    np.add.at(table, (a, b), 1.0)
    observed = np.trace(table) / n
    expected = float(table.sum(axis=1) @ table.sum(axis=0)) / n**2
    if expected >= 1.0:
        return float("nan")
    return float((observed - expected) / (1.0 - expected))


def box_agreement(a: BoxSet, b: BoxSet, *, iou_threshold: float = 0.5) -> BoxAgreement:
    """Agreement between two annotators' boxes: matches, overlap, class agreement, kappa.

    Boxes are matched one-to-one per image, ignoring classes, among pairs at IoU >=
    ``iou_threshold``: the matching with the most pairs and, among those, the largest total
    IoU (Hungarian algorithm). Classes are then compared on the matched pairs.

    Parameters
    ----------
    a, b : BoxSet
        The two annotators' boxes, on the same images (same ``images`` list) and classes.
    iou_threshold : float, default=0.5
        The least IoU of a matched pair.

    Returns
    -------
    BoxAgreement

    Examples
    --------
    >>> from assay.detection import BoxSet, box_agreement
    >>> a = BoxSet(image=[0, 0, 1], xyxy=[[0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 5, 5]],
    ...            label=[0, 1, 1])
    >>> b = BoxSet(image=[0, 0, 1], xyxy=[[0, 0, 10, 9], [21, 20, 30, 30], [0, 0, 5, 5]],
    ...            label=[0, 1, 0])
    >>> ag = box_agreement(a, b)
    >>> ag.a_index.tolist(), ag.b_index.tolist(), ag.class_differs.tolist()
    ([0, 1, 2], [0, 1, 2], [0, 1])
    >>> round(ag.class_agreement, 3), round(ag.kappa, 3)
    (0.667, 0.4)
    """
    for name, value in (("a", a), ("b", b)):
        if not isinstance(value, BoxSet):
            raise InputValidationError(
                f"box_agreement: {name} must be a BoxSet. Got {type(value).__name__}. Build "
                "one with BoxSet(...), BoxSet.from_per_image(...) or read_coco(...)."
            )
    if a.images != b.images or a.classes != b.classes:
        raise InputValidationError(
            "box_agreement: a and b must list the same images and classes in the same order. "
            f"Got {a.n_images} vs {b.n_images} images and classes {a.classes[:10]} vs "
            f"{b.classes[:10]}. Build both with images=... and classes=... from one list."
        )
    ok = isinstance(iou_threshold, int | float) and not isinstance(iou_threshold, bool)
    if not ok or not 0.0 < float(iou_threshold) <= 1.0:
        raise InvalidParameterError("iou_threshold", "a float in (0, 1]", iou_threshold,
                                    owner="box_agreement")
    ia, ib, iou = match_boxes(a, b, iou_threshold=float(iou_threshold))
    la, lb = a.label[ia], b.label[ib]
    n_img = a.n_images
    differs = la != lb
    return BoxAgreement(
        a_index=ia, b_index=ib, iou=iou,
        matched_share_a=ia.size / a.n_boxes if a.n_boxes else float("nan"),
        matched_share_b=ib.size / b.n_boxes if b.n_boxes else float("nan"),
        mean_iou=float(iou.mean()) if iou.size else float("nan"),
        class_agreement=float(1.0 - differs.mean()) if iou.size else float("nan"),
        kappa=kappa_from_pairs(la, lb, a.n_classes),
        a_only=a.counts() - np.bincount(a.image[ia], minlength=n_img),
        b_only=b.counts() - np.bincount(b.image[ib], minlength=n_img),
        class_differs=np.bincount(a.image[ia[differs]], minlength=n_img),
        images=list(a.images),
    )
