"""Confident-learning kernels (Northcutt et al., 2021): numpy in, numpy out, no validation.

``labels`` is int64 (N,) in ``0..K-1``; ``pred_probs`` float64 (N, K) with rows summing to 1.
Matrices are indexed ``[given label, true label]`` unless named ``prune`` (transposed).
"""

from __future__ import annotations

import numpy as np

EPS = 1e-6  # fuzzy comparison of probabilities
THRESHOLD_FLOOR = 2e-6  # confident thresholds are clipped from below to this


def confident_thresholds(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """Per-class threshold t_j: mean p_j over rows labelled j (2.0, never reached, if absent)."""
    k = pred_probs.shape[1]
    counts = np.bincount(labels, minlength=k)
    sums = np.bincount(labels, weights=pred_probs[np.arange(len(labels)), labels], minlength=k)
    t = np.full(k, 2.0)
    present = counts > 0
    t[present] = sums[present] / counts[present]
    return np.maximum(t, THRESHOLD_FLOOR)


def true_label_guess(
    pred_probs: np.ndarray, thresholds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Guess of each row's true class, and whether the row is confidently any class.

    A row counts for class j when p_j >= t_j; with several such classes the argmax wins.
    """
    confident = pred_probs >= thresholds - EPS
    n_conf = confident.sum(axis=1)
    guess = np.where(n_conf > 1, pred_probs.argmax(axis=1), confident.argmax(axis=1))
    return guess, n_conf > 0


def confident_joint(labels: np.ndarray, guess: np.ndarray, mask: np.ndarray, k: int) -> np.ndarray:
    """Counts C[given, true] over confident rows, with the diagonal floored at 1."""
    cj = np.bincount(labels[mask] * k + guess[mask], minlength=k * k).reshape(k, k)
    np.fill_diagonal(cj, np.maximum(cj.diagonal(), 1))
    return cj


def calibrate_joint(cj: np.ndarray, label_counts: np.ndarray) -> np.ndarray:
    """Rescale rows to the given-label counts, the total to N, and round keeping row totals."""
    rows = cj.sum(axis=1, keepdims=True).astype(np.float64)
    cal = cj / np.maximum(rows, 1e-100) * label_counts[:, None]
    cal = cal / max(cal.sum(), 1e-100) * label_counts.sum()
    return round_rows(cal)


def round_rows(mat: np.ndarray) -> np.ndarray:
    """Round each row to integers whose sum equals the rounded row sum.

    Entries are first rounded; the remaining difference is given to (or taken from) the entries
    with the largest (smallest) rounding residue, as in the reference implementation. Exact
    residue ties are broken by column order (so results can depend on the class order when
    counts are tiny and tie exactly).
    """
    ints = np.round(mat)
    target = np.round(mat.sum(axis=1))
    diff = (target - ints.sum(axis=1)).astype(np.int64)
    for r in np.flatnonzero(diff):
        step = 1 if diff[r] > 0 else -1
        residue = mat[r] - ints[r]
        order = np.argsort(residue)[::-step][: min(abs(int(diff[r])), mat.shape[1])]
        ints[r, order] += step
    return ints.astype(np.int64)


def keep_at_least_one(prune: np.ndarray) -> np.ndarray:
    """Floor the diagonal of a [true, given] count matrix at 1, taking it evenly off the column."""
    diag = prune.diagonal().astype(np.float64)
    new_diag = np.maximum(diag, 1.0)
    per_col = np.maximum(np.count_nonzero(prune, axis=0) - 1.0, 1.0)
    out = prune - (new_diag - diag) / per_col
    out[out < 0] = 0
    np.fill_diagonal(out, new_diag)
    out = out.astype(np.int64)  # truncation, as in the reference
    return round_rows(out.astype(np.float64))


def prune_by_noise_rate(
    labels: np.ndarray, pred_probs: np.ndarray, prune: np.ndarray
) -> np.ndarray:
    """Flag, for each given class k and true class j != k, the ``prune[j, k]`` rows labelled k
    with the largest margin ``p_j - p_k``. Classes with one row are never pruned."""
    n, k = pred_probs.shape
    mask = np.zeros(n, dtype=bool)
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(k + 1))
    for given in range(k):
        rows = order[bounds[given] : bounds[given + 1]]
        if rows.size <= 1:
            continue
        sub = pred_probs[rows]
        for true in np.flatnonzero(prune[:, given] > 0):
            if true == given:
                continue
            count = int(min(prune[true, given], rows.size))
            margin = sub[:, true] - sub[:, given]
            top = np.argpartition(-margin, count - 1)[:count] if count < rows.size else slice(None)
            mask[rows[top]] = True
    return mask


def given_is_predicted(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """True where the given label is (within EPS) the model's top prediction."""
    bumped = pred_probs.copy()
    idx = np.arange(len(labels))
    bumped[idx, labels] += EPS
    return bumped.argmax(axis=1) == labels
