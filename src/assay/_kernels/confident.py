"""Confident-learning kernels (Northcutt et al., 2021): numpy in, numpy out, no validation.

``labels`` is int64 (N,) in ``0..K-1``; ``pred_probs`` float64 (N, K) with rows summing to 1.
Matrices are indexed ``[given label, true label]`` unless named ``prune`` (transposed).

Every floating-point sum is taken in the order cleanlab takes it (``np.mean`` of each class's
probabilities; the calibrated joint summed column by column, as cleanlab holds it in Fortran
order), and every choice among exact ties goes through the same ``np.argsort`` call as cleanlab,
so that rounding ties on tiny inputs come out as in ``cleanlab.count.compute_confident_joint``
and ``cleanlab.filter.find_label_issues``. ``np.argsort``'s order among equal values is numpy's
(it can depend on the CPU's sorting kernels); it is the same for both because the call is.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from assay._kernels.knn import memory_mapped

EPS = 1e-6  # fuzzy comparison of probabilities
THRESHOLD_FLOOR = 2e-6  # confident thresholds are clipped from below to this
BLOCK = 65_536  # rows at a time where a row-wise copy is needed
#: Bytes of class rows gathered per sequential pass over a memory-mapped matrix (``_class_rows``).
GATHER_BYTES = 1024 * 2**20


def confident_thresholds(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """Per-class threshold t_j: mean p_j over rows labelled j (2.0, never reached, if absent).

    Each mean is ``np.mean`` of the class's probabilities in row order, as cleanlab computes it
    (a different summation order can move a threshold by one unit in the last place).
    """
    own = pred_probs[np.arange(len(labels)), labels]
    return class_means(labels, own, pred_probs.shape[1])


def class_means(labels: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    """Per-class mean of ``values`` (N,) over the rows labelled j, ``np.mean`` in row order;
    2.0 for a class without rows; floored at ``THRESHOLD_FLOOR``."""
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(k + 1))
    t = np.full(k, 2.0)
    for j in range(k):
        if bounds[j + 1] > bounds[j]:
            t[j] = np.mean(values[order[bounds[j] : bounds[j + 1]]])
    return np.maximum(t, THRESHOLD_FLOOR)


def true_label_guess(
    pred_probs: np.ndarray, thresholds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Guess of each row's true class, and whether the row is confidently any class.

    A row counts for class j when p_j >= t_j; with several such classes the argmax wins.
    In row blocks: the N x K comparison and numpy's copy of a read-only matrix for ``argmax``
    are one block's.
    """
    n = pred_probs.shape[0]
    guess = np.empty(n, dtype=np.intp)
    n_conf = np.empty(n, dtype=np.intp)
    cut = thresholds - EPS
    for start in range(0, n, BLOCK):
        block = pred_probs[start:start + BLOCK]
        confident = block >= cut
        count = confident.sum(axis=1)
        guess[start:start + BLOCK] = np.where(count > 1, block.argmax(axis=1),
                                              confident.argmax(axis=1))
        n_conf[start:start + BLOCK] = count
    return guess, n_conf > 0


def confident_joint(labels: np.ndarray, guess: np.ndarray, mask: np.ndarray, k: int) -> np.ndarray:
    """Counts C[given, true] over confident rows, with the diagonal floored at 1."""
    cj = np.bincount(labels[mask] * k + guess[mask], minlength=k * k).reshape(k, k)
    np.fill_diagonal(cj, np.maximum(cj.diagonal(), 1))
    return cj


def calibrate_joint(cj: np.ndarray, label_counts: np.ndarray) -> np.ndarray:
    """Rescale rows to the given-label counts, the total to N, and round keeping row totals.

    The total is summed column by column (``ravel(order="F")``): cleanlab holds this matrix in
    Fortran order and ``np.sum`` adds it in memory order, and the last bit of the total decides
    exact .5 rounding ties on tiny inputs.
    """
    rows = cj.sum(axis=1, keepdims=True).astype(np.float64)
    cal = cj / np.maximum(rows, 1e-100) * label_counts[:, None]
    total = float(np.add.reduce(cal.ravel(order="F")))
    cal = cal / max(total, 1e-100) * int(label_counts.sum())
    return round_rows(np.ascontiguousarray(cal))


def round_rows(mat: np.ndarray) -> np.ndarray:
    """Round each row to integers whose sum equals the rounded row sum.

    Entries are first rounded (half to even); the remaining difference is given to (or taken
    from) the entries with the largest (smallest) rounding residue, row by row exactly as
    cleanlab's ``round_preserving_sum`` (same sums, same ``np.argsort`` call, same loop), so exact
    residue ties are broken as cleanlab breaks them.
    """
    ints = np.round(mat)
    for r in range(mat.shape[0]):
        row = mat[r]
        target = np.round(np.sum(row))
        got = np.round(np.sum(ints[r]))
        while abs(got - target) > EPS:
            diff = np.round(target - got)
            step = -1 if diff < 0 else 1
            changes = min(int(abs(diff)), row.shape[0])
            order = np.argsort(row - ints[r])[::-step][:changes]
            ints[r, order] += step
            got = np.round(np.sum(ints[r]))
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
    with the largest margin ``p_j - p_k``. Classes with one row are never pruned.

    Which rows win a tie at the cut is cleanlab's choice (``np.argsort(-margin)[:count]``);
    ``np.argpartition`` is used when no tie straddles the cut, where the set is the same.
    """
    n, k = pred_probs.shape
    mask = np.zeros(n, dtype=bool)
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(k + 1))
    pruned = [g for g in range(k) if bounds[g + 1] - bounds[g] > 1
              and np.delete(prune[:, g], g).max(initial=0) > 0]
    for given, rows, sub in _class_rows(pred_probs, labels, order, bounds, pruned):
        for true in np.flatnonzero(prune[:, given] > 0):
            if true == given:
                continue
            count = int(min(prune[true, given], rows.size))
            neg = -(sub[:, true] - sub[:, given])
            if count >= rows.size:
                mask[rows] = True
                continue
            part = np.argpartition(neg, count)
            top = part[:count]
            if neg[top].max() >= neg[part[count]]:  # a tie straddles the cut: cleanlab's order
                top = np.argsort(neg)[:count]
            mask[rows[top]] = True
    return mask


def _class_rows(pred_probs: np.ndarray, labels: np.ndarray, order: np.ndarray,
                bounds: np.ndarray,
                classes: list[int]) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Yield ``(c, rows, pred_probs[rows])`` for each class ``c`` of ``classes`` (ascending),
    ``rows`` its rows in ascending order.

    A matrix in memory is indexed class by class. A memory-mapped one is read in passes in
    file order instead, each gathering the rows of as many classes as fit ``GATHER_BYTES``:
    indexing one class's rows touches pages all over the file, and when the file does not fit
    in memory beside the rest (10M rows x 100 classes is 8 GB) every class would read it from
    disk again. With the file in the page cache the passes cost more than the class-by-class
    gathers (0.5 s against 0.2 s at 1M rows x 100 classes): they pay off only when the file is
    read from disk.
    """
    if not memory_mapped(pred_probs):
        for c in classes:
            rows = order[bounds[c]:bounds[c + 1]]
            yield c, rows, pred_probs[rows]
        return
    per_row = pred_probs.shape[1] * pred_probs.dtype.itemsize
    sizes = {c: int(bounds[c + 1] - bounds[c]) for c in classes}
    cap = min(sum(sizes.values()), max(GATHER_BYTES // per_row, max(sizes.values(), default=0)))
    buf = np.empty((cap, pred_probs.shape[1]), dtype=pred_probs.dtype)  # one buffer, reused
    start_class = 0
    while start_class < len(classes):
        group: list[int] = []
        total = 0
        for c in classes[start_class:]:
            if group and total + sizes[c] > cap:
                break
            group.append(c)
            total += sizes[c]
        start_class += len(group)
        rows = np.sort(np.concatenate([order[bounds[c]:bounds[c + 1]] for c in group]))
        held = buf[:rows.size]
        for lo in range(0, rows.size, 8_192):  # in file order, through small temporaries
            held[lo:lo + 8_192] = pred_probs[rows[lo:lo + 8_192]]
        by_class = np.argsort(labels[rows], kind="stable")
        off = 0
        for c in group:  # ascending classes: consecutive runs of by_class
            yield c, order[bounds[c]:bounds[c + 1]], held[by_class[off:off + sizes[c]]]
            off += sizes[c]


def given_is_predicted(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """True where the given label is (within EPS) the model's top prediction (in row blocks:
    one block's copy, not the matrix's)."""
    out = np.empty(len(labels), dtype=bool)
    for start in range(0, len(labels), BLOCK):
        yb = labels[start:start + BLOCK]
        bumped = pred_probs[start:start + BLOCK].copy()
        bumped[np.arange(len(yb)), yb] += EPS
        out[start:start + BLOCK] = bumped.argmax(axis=1) == yb
    return out
