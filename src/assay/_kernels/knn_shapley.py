"""KNN-Shapley kernels: order every training point by distance, then sum the closed-form values.

numpy in, numpy out, no validation. The exact order is the one of the float64 sort keys with
ties broken by training index, obtained without a comparison sort of random data:

1. the keys of a row are quantised, monotonically, to 63-bit integers (``(key - min) * scale``,
   truncated): a larger key never gets a smaller integer;
2. a stable radix argsort of the top 16 bits of those integers buckets the row (numpy's
   ``argsort(kind="stable")`` of uint16 is a counting sort);
3. each quantised key, its low bits replaced by the training index, becomes one uint64; the
   bucketed row is then nearly sorted, and sorting blocks of B keys (64, or 256 above 2**17
   training points: a sorting network in numpy's SIMD sort), twice with the blocks shifted by
   B / 2, sorts it whenever no bucket holds more than B / 2 keys (otherwise, checked, a timsort
   finishes the row);
4. where two neighbours share a quantised key but differ in float64 key, the run is re-sorted by
   (float64 key, index): the result is the float64 order, ties by index, always.

Why not ``np.argsort``: on AMD Zen 4 numpy dispatches 64-bit sorts to an AVX-512 quicksort
whose compress-store is microcoded, about 25 M keys/s (AVX2 builds reach 140 M/s); argsort
is slower still. Sorting networks, counting sorts, gathers and ``bincount`` are not affected.

The values follow from the order in closed form (see :func:`binary_value_sums`); for 0/1
scores the prefix sum runs in 61-bit fixed point (integer ``cumsum`` is about 8x faster than
float64 ``cumsum``), with a rounding error of about ``n * 2**-62`` per value at most.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

_BLOCK = 256  # numpy's SIMD sort uses a sorting network up to 256 64-bit keys
_SMALL_BLOCK = 64  # faster still; enough while buckets average 2 keys or fewer (N <= 2**17)
_HIGH = 2.0**63 * (1.0 - 2.0**-20)  # largest quantised key: below 2**63 after rounding
_FIXED = 2.0**61  # fixed-point unit of the 0/1 recursion; prefix + 1/K term stay below 2**62


class Workspace:
    """Buffers reused by :func:`rank_order` and :func:`binary_value_sums` for ``rows`` x ``n``.

    Reusing them avoids the page faults of fresh large arrays. The packed-key buffer is padded
    to whole sorting blocks plus half a block on each side, and its padding stays all ones.
    """

    def __init__(self, rows: int, n: int) -> None:
        self.n = n
        self.idx_bits = max(1, (n - 1).bit_length())
        self.block = _SMALL_BLOCK if n <= 1 << 17 else _BLOCK
        padded = -(-n // self.block) * self.block + self.block
        self.packed = np.empty((rows, padded), dtype=np.uint64)
        self.packed[:, n:] = np.iinfo(np.uint64).max
        self.a = np.empty(rows * n, dtype=np.int64)
        self.b = np.empty(rows * n, dtype=np.int64)
        self.hits = np.empty(rows * n, dtype=bool)
        self.flags = np.empty(n, dtype=bool)

    def view(self, name: str, rows: int, cols: int) -> np.ndarray:
        """A contiguous (rows, cols) view of the flat buffer ``name``."""
        return getattr(self, name)[: rows * cols].reshape(rows, cols)


def rank_order(keys: np.ndarray, ws: Workspace) -> np.ndarray:
    """Training indices of each row sorted by (key, index). ``keys`` (s, n) float64 -> (s, n).

    The result is a view into ``ws`` (valid until the next call); ``keys`` is not modified.
    """
    s, n = keys.shape
    packed = ws.packed[:s]
    _bucket(_quantise(keys, ws), packed, ws)
    _block_sort(packed, n, ws.block)
    _fix_quantisation_ties(packed, keys, ws)
    idx = ws.view("b", s, n)
    np.bitwise_and(packed[:, :n], np.uint64((1 << ws.idx_bits) - 1), out=idx.view(np.uint64))
    return idx


def _quantise(keys: np.ndarray, ws: Workspace) -> np.ndarray:
    """``(key - row min) * scale`` truncated to int64 in [0, 2**63): monotone in the key."""
    s, n = keys.shape
    q = ws.view("a", s, n)
    lo, hi = keys.min(axis=1, keepdims=True), keys.max(axis=1, keepdims=True)
    with np.errstate(over="ignore"):
        span = hi - lo
    if not np.isfinite(span).all():  # keys near the float64 limit: halving keeps their order
        keys, lo, span = keys * 0.5, lo * 0.5, hi * 0.5 - lo * 0.5
    with np.errstate(divide="ignore", over="ignore"):
        scale = np.where(span > 0, _HIGH / span, 0.0)
    scale[~np.isfinite(scale)] = 0.0  # a subnormal span: all keys tie here; the fix-up orders them
    np.subtract(keys, lo, out=q.view(np.float64))
    np.multiply(q.view(np.float64), scale, out=q, casting="unsafe")  # in place, float -> int64
    return q


def _bucket(q: np.ndarray, packed: np.ndarray, ws: Workspace) -> None:
    """Bucket each row by its top 16 quantised bits; write (quantised key | index) in that order."""
    s, n = q.shape
    perm = np.argsort((q >> 47).astype(np.uint16), axis=1, kind="stable")
    body = packed[:, :n]
    for i in range(s):
        np.take(q[i], perm[i], out=body[i].view(np.int64), mode="clip")
    np.bitwise_and(body, np.uint64(~((1 << ws.idx_bits) - 1) & (2**64 - 1)), out=body)
    np.bitwise_or(body, perm.view(np.uint64), out=body)


def _block_sort(packed: np.ndarray, n: int, block: int) -> None:
    """Sort rows that are in order up to buckets of at most ``block / 2`` keys, in place.

    A bucket of at most ``block / 2`` consecutive keys lies inside one block of the first
    tiling or inside one of the second (shifted by half a block); sorting a block never moves
    a key past a key of another bucket, so after both tilings every bucket is sorted.
    """
    whole, half = -(-n // block) * block, block // 2
    for row in packed:
        row[:whole].reshape(-1, block).sort(axis=1)
        row[half : half + whole].reshape(-1, block).sort(axis=1)


def _fix_quantisation_ties(packed: np.ndarray, keys: np.ndarray, ws: Workspace) -> None:
    """Finish the order: rows left unsorted, then runs of equal quantised keys out of order.

    A row is left unsorted when a bucket held more than half a block of keys (many equal
    distances); timsort, fast on nearly sorted data, finishes it. Within a run of equal
    quantised keys the order is by index, which is right unless two float64 keys in the run
    decrease; quantisation never inverts keys across runs (it is monotone), so adjacent pairs
    inside runs are all that needs checking. Both show in one pass over the gaps between
    neighbours (packed keys are below 2**63): a negative gap is an inversion, a gap below
    ``2**idx_bits`` a candidate pair of equal quantised keys.
    """
    s, n = keys.shape
    bits, body = ws.idx_bits, packed[:, :n]
    gap, near = ws.view("a", s, n - 1), ws.view("hits", s, n - 1)
    np.subtract(body[:, 1:], body[:, :-1], out=gap.view(np.uint64))
    np.less(gap, 1 << bits, out=near)
    r, p = np.divmod(np.flatnonzero(near), n - 1)
    unsorted = np.unique(r[gap[r, p] < 0])
    if unsorted.size:
        body[unsorted] = np.sort(body[unsorted], axis=1, kind="stable")
        again = np.diff(body[unsorted], axis=1).view(np.int64) < 1 << bits
        r2, p2 = np.nonzero(again)
        redo = np.isin(r, unsorted)
        r, p = np.concatenate([r[~redo], unsorted[r2]]), np.concatenate([p[~redo], p2])
    first, second = body[r, p], body[r, p + 1]
    same = (first >> np.uint64(bits)) == (second >> np.uint64(bits))
    r, p, first, second = r[same], p[same], first[same], second[same]
    mask = np.uint64((1 << bits) - 1)
    bad = keys[r, (first & mask).astype(np.intp)] > keys[r, (second & mask).astype(np.intp)]
    if bad.any():
        _resort_runs(body, keys, r * n + p, bad, mask)


def _resort_runs(
    body: np.ndarray, keys: np.ndarray, pairs: np.ndarray, bad: np.ndarray, mask: np.uint64
) -> None:
    """Sort by (float64 key, index) the runs of equal quantised keys holding an inverted pair.

    ``pairs`` are flat positions ``row * n + p`` of the adjacent pairs (p, p + 1) with equal
    quantised keys; consecutive pairs of one row chain into a run. Two runs that touch are
    sorted as one, which is harmless: quantisation already orders them.
    """
    n = body.shape[1]
    order = np.argsort(pairs)
    pairs, bad = pairs[order], bad[order]
    run = np.cumsum(np.r_[True, pairs[1:] != pairs[:-1] + 1])
    pairs = pairs[np.isin(run, run[bad])]
    pos = np.unique(np.concatenate([pairs, pairs + 1]))
    rows, cols = np.divmod(pos, n)
    chain = np.cumsum(np.r_[True, (pos[1:] != pos[:-1] + 1) | (rows[1:] != rows[:-1])])
    vals = body[rows, cols]
    idx = (vals & mask).astype(np.intp)
    body[rows, cols] = vals[np.lexsort((idx, keys[rows, idx], chain))]


def nearest(keys: np.ndarray, m: int) -> np.ndarray:
    """The ``m`` nearest training indices of each row by (key, index), sorted. (s, n) -> (s, m).

    No full sort: a threshold from a strided sample of each row keeps a few times ``m``
    candidates (every key not above it), which are then sorted; a row whose threshold kept
    fewer than ``m`` falls back to its exact ``m``-th smallest key as threshold.
    """
    s, n = keys.shape
    sample = keys[:, :: max(1, n // max(2048, n // 64))]
    j = min(sample.shape[1], max(32, -(-2 * m * sample.shape[1] // n)))
    tau = np.partition(sample, j - 1, axis=1)[:, j - 1]
    keep = keys <= tau[:, None]
    rows, cols = np.divmod(np.flatnonzero(keep), n)
    short = np.flatnonzero(np.bincount(rows, minlength=s) < m)
    if short.size:
        tau[short] = np.partition(keys[short], m - 1, axis=1)[:, m - 1]
        keep[short] = keys[short] <= tau[short, None]
        rows, cols = np.divmod(np.flatnonzero(keep), n)
    cols = cols[np.lexsort((cols, keys[rows, cols], rows))]
    start = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=s))[:-1]])
    return cols[start[:, None] + np.arange(m)]


def drop_self(order: np.ndarray, self_idx: np.ndarray) -> np.ndarray:
    """Remove each row's own index from ``order`` (s, L), giving (s, L - 1).

    A row whose own index is absent (a truncated order) loses its last column instead.
    """
    keep = order != self_idx[:, None]
    keep[keep.all(axis=1), -1] = False
    return order[keep].reshape(order.shape[0], order.shape[1] - 1)


def binary_value_sums(
    order: np.ndarray, hits: np.ndarray, k: int, n: int, ws: Workspace
) -> tuple[np.ndarray, np.ndarray]:
    """Exact values for 0/1 scores, summed over rows per training index, in 61-bit fixed point.

    ``order`` (s, L) int64 holds training indices by rank and ``hits`` (s, L) bool the score
    ``f`` of each. The value of rank ``i`` (1-based) is ``f_i / max(K, i) + G_max(K, i) - G_L``
    with ``G_i = sum_{j <= i} f_j / (j (j - 1))`` (see :func:`value_sums`). Returns the sums over
    rows of all but the last term, shape (n,), and ``G_L`` per row, shape (s,), which the caller
    subtracts from every player of that row.
    """
    s, length = order.shape
    w, r = _fixed_weights(length, k)
    g = ws.packed[:s, :length].view(np.int64)
    np.multiply(hits, w, out=g)
    np.cumsum(g, axis=1, out=g)
    tail = g[:, -1] / _FIXED
    g[:, : k - 1] = g[:, k - 1 : k]
    term = ws.view("a", s, length)
    np.multiply(hits, r, out=term)
    np.add(g, term, out=term.view(np.float64), casting="unsafe")  # in place, int64 -> float64
    sums = np.bincount(order.ravel(), weights=term.view(np.float64).ravel(), minlength=n)
    return sums / _FIXED, tail


@lru_cache(maxsize=8)
def _fixed_weights(length: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    rank = np.arange(1, length + 1, dtype=np.float64)
    w = np.zeros(length, dtype=np.int64)
    w[1:] = np.rint(_FIXED / (rank[1:] * (rank[1:] - 1.0)))
    r = np.rint(_FIXED / np.maximum(rank, k)).astype(np.int64)
    w.flags.writeable = r.flags.writeable = False
    return w, r


def value_sums(
    order: np.ndarray, f: np.ndarray, k: int, n: int, *, truncated: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Exact (or truncated) values for real scores ``f`` (s, L), summed per training index.

    Unrolling Jia et al.'s recursion ``s_L = f_L / L``,
    ``s_i = s_{i+1} + (f_i - f_{i+1}) / max(K, i)`` gives
    ``s_i = f_i / max(K, i) - sum_{j > max(K, i)} f_j / (j (j - 1))``, i.e.
    ``s_i = g_i - G_L`` with ``g_i = f_i / max(K, i) + G_max(K, i)`` and the prefix sums
    ``G_i = sum_{j <= i} f_j / (j (j - 1))``. Exact: returns the sums of ``g`` (n,) and
    ``G_L`` (s,) as :func:`binary_value_sums`. Truncated (``L = T + 1``, the recursion started
    from ``s_{T+1} = 0``): the first ``T`` values are ``g_i - g_{T+1}``; returns their sums and
    zeros.
    """
    s, length = f.shape
    rank = np.arange(1, length + 1, dtype=np.float64)
    w = np.zeros(length)
    w[1:] = 1.0 / (rank[1:] * (rank[1:] - 1.0))
    g = f * w
    np.cumsum(g, axis=1, out=g)
    tail = g[:, -1].copy()
    g[:, : k - 1] = g[:, k - 1 : k]
    g += f / np.maximum(rank, k)
    if truncated:
        g -= g[:, -1:]
        sums = np.bincount(order[:, :-1].ravel(), weights=g[:, :-1].ravel(), minlength=n)
        return sums, np.zeros(s)
    return np.bincount(order.ravel(), weights=g.ravel(), minlength=n), tail
