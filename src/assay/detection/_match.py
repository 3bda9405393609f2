"""IoU kernels, all box pairs that share an image, segment reductions and one-to-one matching.

Work over many images is flat: :func:`image_pairs` lists every (box of ``a``, box of ``b``)
pair in the same image with ``np.repeat`` arithmetic on the image offsets, so an audit costs
one vectorised pass over ``sum_i L_i * M_i`` pairs and no Python loop over images.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from assay.detection._io import BoxSet
from assay.exceptions import InputValidationError

__all__ = ["box_iou", "image_pairs", "match_boxes", "pair_iou", "segment_max"]


def _as_boxes(name: str, values: Any) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        arr = arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise InputValidationError(
            f"box_iou: {name} must have shape (N, 4), one [x0, y0, x1, y1] box per row. Got "
            f"shape {arr.shape}. Stack the boxes into a 2-d array (a single box as [[...]])."
        )
    return arr


def box_iou(a: Any, b: Any) -> np.ndarray:
    """Pairwise intersection over union of two sets of ``x0, y0, x1, y1`` boxes.

    Parameters
    ----------
    a : array-like of shape (N, 4)
    b : array-like of shape (M, 4)

    Returns
    -------
    ndarray of shape (N, M)
        ``area(a_i & b_j) / area(a_i | b_j)``; 0 where the union has no area.

    Examples
    --------
    >>> from assay.detection import box_iou
    >>> box_iou([[0, 0, 2, 2]], [[1, 1, 3, 3], [0, 0, 2, 2], [5, 5, 6, 6]]).round(4).tolist()
    [[0.1429, 1.0, 0.0]]
    """
    aa, bb = _as_boxes("a", a), _as_boxes("b", b)
    w = np.minimum(aa[:, None, 2], bb[None, :, 2]) - np.maximum(aa[:, None, 0], bb[None, :, 0])
    h = np.minimum(aa[:, None, 3], bb[None, :, 3]) - np.maximum(aa[:, None, 1], bb[None, :, 1])
    inter = np.clip(w, 0, None) * np.clip(h, 0, None)
    union = _area(aa)[:, None] + _area(bb)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _area(x: np.ndarray) -> np.ndarray:
    return (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])


def pair_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of row ``i`` of ``a`` with row ``i`` of ``b`` (both ``(P, 4)``)."""
    w = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    h = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    inter = np.clip(w, 0, None) * np.clip(h, 0, None)
    union = _area(a) + _area(b) - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def image_pairs(image_a: np.ndarray, offsets_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair (box ``i`` of ``a``, box ``j`` of ``b``) in the same image.

    ``image_a`` is the image of each box of ``a``; ``offsets_b`` the image offsets of ``b``
    (boxes sorted by image). Pairs come grouped by ``i`` (ascending), ``j`` ascending within.
    """
    counts = (offsets_b[1:] - offsets_b[:-1])[image_a]
    total = int(counts.sum())
    ia = np.repeat(np.arange(image_a.shape[0]), counts)
    start = offsets_b[image_a] - (np.cumsum(counts) - counts)
    ib = np.repeat(start, counts) + np.arange(total)
    return ia, ib


def segment_max(
    values: np.ndarray, groups: np.ndarray, n: int, *, fill: float
) -> tuple[np.ndarray, np.ndarray]:
    """Largest value and its position per group, for ``groups`` sorted ascending.

    Returns ``(max, position)`` of length ``n``: ``fill`` and ``-1`` for groups without
    values; ties go to the first position.
    """
    best = np.full(n, fill, dtype=float)
    where = np.full(n, -1, dtype=np.int64)
    if values.size == 0:
        return best, where
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    present = groups[starts]
    best[present] = np.maximum.reduceat(values, starts)
    hit = np.flatnonzero(values == best[groups])
    first_group, first = np.unique(groups[hit], return_index=True)
    where[first_group] = hit[first]
    return best, where


def match_boxes(
    a: BoxSet, b: BoxSet, *, iou_threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-to-one matching of ``a``'s and ``b``'s boxes per image, ignoring classes.

    Only pairs with IoU >= ``iou_threshold`` can match. Per image the matching has the most
    pairs and, among those, the largest total IoU (Hungarian algorithm on weights
    ``C + IoU``, ``C`` larger than any total IoU); pairs without a competitor are taken
    directly, so the assignment runs only on images with conflicts.

    Returns ``(index in a, index in b, IoU)`` of the matched pairs, sorted by ``a``'s index.
    """
    ia, ib = image_pairs(a.image, b.offsets)
    iou = pair_iou(a.xyxy[ia], b.xyxy[ib])
    keep = iou >= iou_threshold
    ia, ib, iou = ia[keep], ib[keep], iou[keep]
    deg_a = np.bincount(ia, minlength=a.n_boxes)
    deg_b = np.bincount(ib, minlength=b.n_boxes)
    simple = (deg_a[ia] == 1) & (deg_b[ib] == 1)
    out_a, out_b, out_iou = [ia[simple]], [ib[simple]], [iou[simple]]
    hard = ~simple
    h_img = a.image[ia[hard]]
    h_a, h_b, h_iou = ia[hard], ib[hard], iou[hard]
    bounds = np.flatnonzero(np.r_[True, h_img[1:] != h_img[:-1], True])
    for s, e in zip(bounds[:-1], bounds[1:], strict=True) if h_img.size else ():
        ra, rows = np.unique(h_a[s:e], return_inverse=True)
        rb, cols = np.unique(h_b[s:e], return_inverse=True)
        pair = np.full((ra.size, rb.size), -1.0)
        pair[rows, cols] = h_iou[s:e]
        weight = np.where(pair >= 0, min(ra.size, rb.size) + 1.0 + pair, 0.0)
        r, c = linear_sum_assignment(weight, maximize=True)
        ok = pair[r, c] >= 0
        out_a.append(ra[r[ok]])
        out_b.append(rb[c[ok]])
        out_iou.append(pair[r[ok], c[ok]])
    ma, mb, mi = np.concatenate(out_a), np.concatenate(out_b), np.concatenate(out_iou)
    order = np.argsort(ma, kind="stable")
    return ma[order].astype(np.int64), mb[order].astype(np.int64), mi[order]
