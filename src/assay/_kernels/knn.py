"""k-NN kernels: numpy in, numpy out, no validation."""

from __future__ import annotations

import numpy as np


def normalise_rows(x: np.ndarray) -> np.ndarray:
    """Return float32 rows scaled to unit L2 norm (zero rows stay zero). Shape (N, d)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(x / norms, dtype=np.float32)


def memory_mapped(arr: np.ndarray) -> bool:
    """Whether ``arr`` is a view of a memory map (``numpy.memmap`` or ``mmap.mmap``): a file
    whose pages are read as they are touched, so scattered reads cost disk reads when it does
    not fit in memory."""
    import mmap

    base: object = arr
    while base is not None:
        if isinstance(base, np.memmap | mmap.mmap):
            return True
        base = getattr(base, "base", None)
    return False


def unit_rows(x: np.ndarray, norms: np.ndarray | None) -> np.ndarray:
    """``x`` divided row-wise by ``norms`` (zero norms count as 1), as float32; ``x`` itself
    when ``norms`` is None. The same values as :func:`normalise_rows`."""
    if norms is None:
        return x
    return np.asarray(x / np.where(norms == 0, 1.0, norms)[:, None], dtype=np.float32)


def rank_scores(q: np.ndarray, ref: np.ndarray, metric: str) -> np.ndarray:
    """Scores that order ``ref`` rows like their distance to each ``q`` row, best highest:
    ``q.r`` for cosine (unit rows), ``q.r - |r|^2 / 2`` for euclidean (no square roots)."""
    score = q @ ref.T
    if metric == "euclidean":
        score -= 0.5 * np.einsum("ij,ij->i", ref, ref)[None, :]
    return score


def score_distances(q: np.ndarray, top: np.ndarray, metric: str) -> np.ndarray:
    """The distances (float32) of the kept :func:`rank_scores` ``top`` of each ``q`` row."""
    if metric == "cosine":
        dist = np.clip(1.0 - top, 0.0, 2.0)
    else:
        q_sq = np.einsum("ij,ij->i", q, q)
        dist = np.sqrt(np.maximum(q_sq[:, None] - 2.0 * top, 0.0))
    return dist.astype(np.float32)


def blocked_topk(
    queries: np.ndarray,
    reference: np.ndarray,
    *,
    k: int,
    metric: str,
    exclude_self: bool,
    block: int = 2048,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` nearest reference rows for each query row, computed in row blocks.

    ``queries`` (Q, d) and ``reference`` (M, d) are float32; for ``metric="cosine"`` both must be
    unit-normalised already. With ``exclude_self`` (queries is reference), row i never returns i.
    Returns indices (Q, k) int64 and distances (Q, k) float32, ascending. Ties break by index.
    """
    q = queries.shape[0]
    out_idx = np.empty((q, k), dtype=np.int64)
    out_dist = np.empty((q, k), dtype=np.float32)
    ref_sq = np.einsum("ij,ij->i", reference, reference) if metric == "euclidean" else None
    for start in range(0, q, block):
        stop = min(start + block, q)
        d = _block_distances(queries[start:stop], reference, metric, ref_sq)
        if exclude_self:
            rows = np.arange(stop - start)
            d[rows, rows + start] = np.inf
        part = np.argpartition(d, k - 1, axis=1)[:, :k] if k < d.shape[1] else np.tile(
            np.arange(d.shape[1]), (d.shape[0], 1)
        )
        pd_ = np.take_along_axis(d, part, axis=1)
        order = np.lexsort((part, pd_), axis=1)
        out_idx[start:stop] = np.take_along_axis(part, order, axis=1)
        out_dist[start:stop] = np.take_along_axis(pd_, order, axis=1)
    return out_idx, out_dist


def _block_distances(
    qb: np.ndarray, reference: np.ndarray, metric: str, ref_sq: np.ndarray | None
) -> np.ndarray:
    prod = qb @ reference.T
    if metric == "cosine":
        d = 1.0 - prod
        np.clip(d, 0.0, 2.0, out=d)
        return d
    q_sq = np.einsum("ij,ij->i", qb, qb)
    d2 = q_sq[:, None] + ref_sq[None, :] - 2.0 * prod  # type: ignore[index]
    np.maximum(d2, 0.0, out=d2)
    return np.sqrt(d2, out=d2)


def scan_topk(
    queries: np.ndarray,
    reference: np.ndarray,
    *,
    k: int,
    metric: str,
    chunk: int = 65_536,
    ref_norms: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` reference rows of a few queries, one pass over ``reference`` in chunks.

    With ``ref_norms`` (cosine), each chunk of ``reference`` is divided by its rows' norms as it
    is read (zero norms count as 1), so the caller needs no unit-norm copy of it.

    For a small sample of queries against many rows (the sample that measures an approximate
    graph). Ranks by the score ``q.r`` (cosine, unit rows) or ``q.r - |r|^2 / 2`` (euclidean),
    which orders like the distance; a query's ``k``-th best score so far bounds what can still
    enter its top ``k``, so after the first chunk only the few reference rows above the bound
    are kept and merged, instead of every distance being computed and partitioned. Memory is
    ``Q x chunk`` scores. Returns indices (Q, k) int64 and distances (Q, k) float32, ascending,
    ties by index (the self row is not excluded).
    """
    n_q = queries.shape[0]
    k = min(k, reference.shape[0])
    best_val = np.full((n_q, 0), -np.inf, dtype=np.float32)
    best_col = np.zeros((n_q, 0), dtype=np.int64)
    bound = np.full(n_q, -np.inf, dtype=np.float32)
    for start in range(0, reference.shape[0], chunk):
        ref = unit_rows(np.asarray(reference[start:start + chunk], dtype=np.float32),
                        None if ref_norms is None else ref_norms[start:start + chunk])
        score = rank_scores(queries, ref, metric)
        if best_val.shape[1] < k:  # first chunk(s): the chunk's own k-th best is a bound
            kk = min(k, score.shape[1])
            bound = np.maximum(bound, np.partition(score, score.shape[1] - kk, axis=1)[
                :, score.shape[1] - kk])
        rows, cols = np.nonzero(score >= bound[:, None])
        vals = np.concatenate([best_val.ravel(), score[rows, cols]])
        cols = np.concatenate([best_col.ravel(), cols + start])
        rows = np.concatenate([np.repeat(np.arange(n_q), best_val.shape[1]), rows])
        order = np.lexsort((cols, -vals, rows))
        rows, cols, vals = rows[order], cols[order], vals[order]
        first = np.searchsorted(rows, np.arange(n_q))
        counts = np.diff(np.append(first, rows.size))
        width = int(min(k, counts.min()))
        pick = first[:, None] + np.arange(width)[None, :]
        best_val, best_col = vals[pick], cols[pick]
        if width == k:
            bound = best_val[:, -1].copy()
    return best_col.astype(np.int64), score_distances(queries, best_val, metric)


def weak_components(indices: np.ndarray, block: int = 65_536) -> np.ndarray:
    """Connected components of the undirected k-NN graph: each row's label is the smallest row
    index in its component.

    Union-find over the edges in row blocks: every edge hooks the larger of its two roots under
    the smaller (``np.minimum.at``), then pointer jumping takes every row to its root; repeated
    until no edge joins two roots. Memory is O(N) plus one block of edges, where a sparse matrix
    for ``scipy.sparse.csgraph.connected_components`` holds the N x k edges several times over
    (measured at 1M rows x 10: 44 MiB against 299-412 MiB, 0.4-0.5 s against 1.1-1.5 s).

    Parameters
    ----------
    indices : ndarray of shape (N, k), integer
        Neighbour indices; negative entries are missing neighbours.
    block : int
        Rows whose edges are hooked at a time.

    Returns
    -------
    ndarray of shape (N,), int64
    """
    n = indices.shape[0]
    parent = np.arange(n, dtype=np.int64)
    while True:
        changed = False
        for start in range(0, n, block):
            cols = indices[start:start + block]
            rows = np.broadcast_to(np.arange(start, start + cols.shape[0])[:, None], cols.shape)
            ok = cols >= 0
            pu, pv = parent[rows[ok]], parent[cols[ok]]
            differ = pu != pv
            if differ.any():
                changed = True
                np.minimum.at(parent, np.maximum(pu[differ], pv[differ]),
                              np.minimum(pu[differ], pv[differ]))
        while True:  # pointer jumping: every row straight to its root
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
        if not changed:
            return parent
