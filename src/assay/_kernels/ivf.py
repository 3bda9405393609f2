"""An inverted-file k-NN graph computed with matrix products (numpy in, numpy out).

The rows are clustered by k-means into ``nlist`` lists. Each row probes its own list and the
``nprobe`` lists whose centres are nearest to it (among the ``MAX_PROBES`` nearest to its own
list's centre). The rows of one list are searched together: for each list that any of them
probes, one float32 matrix product of the rows that probe it against its members (BLAS speed),
and only the scores above a bound on each row's k-th best are kept (:func:`row_topk`). A row
whose true neighbours lie in a list it does not probe misses them: the caller measures the
quality on a sample against exact search and widens ``nprobe`` until it is high enough.

Probing by row rather than by list (every row of a list probing the lists nearest to the list's
centre) compares fewer row pairs for the same quality, since a row near one side of its list
needs the lists on that side: on 10M Gaussian-blob rows in 128 dimensions, 97.5 % of a
512-row sample were served (below) at 30,500 candidates per row against 52,600 by list.

"High enough" is either of two measures reaching the target on the sample: the recall (the share
of the exact neighbours found), or the textbook (1 + eps)-approximate k-NN, where a sampled row
is served when each of its ``k`` returned distances is within a factor ``1 + eps`` of the exact
distance of the same rank (:func:`served`). Where the data have a low intrinsic dimension the
recall is reached first (distances spread, so a missed neighbour is often more than 5 % closer
than its replacement). Where the data have a high intrinsic dimension, distances concentrate:
many rows lie nearly as close as the exact neighbours, so finding *which* ones needs many probes
(recall 0.97 took 8 probes at 1M Gaussian-blob rows and 16 at 2M) while the distances, which
the outlier scores read, are within 5 % at 3 and 6 probes.

Near copies need more than the sample's distances: a sample of a few hundred rows rarely holds
one, and a pair split across two lists neither of which the other row probes is never compared.
So the probe count also waits until 99 % of near copies planted around the sampled rows are
reachable (:func:`planted_copies`), and a row close to its list's border also searches its
second-nearest list (in :func:`row_topk`, or after, when that list lies outside its own list's
probe order).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from assay._kernels.knn import rank_scores, scan_topk, score_distances, unit_rows
from assay._kernels.threads import MAX_THREADS, map_in_threads


def kmeans(
    x: np.ndarray, n_clusters: int, *, n_iter: int, rng: np.random.Generator
) -> np.ndarray:
    """Lloyd's k-means on ``x`` (float32), seeded with distinct random rows; returns centroids.

    Empty clusters are re-seeded with the rows farthest from their centroids.
    """
    centres = x[rng.choice(x.shape[0], size=n_clusters, replace=False)].copy()
    for _ in range(n_iter):
        assign, dist = assign_rows(x, centres)
        counts = np.bincount(assign, minlength=n_clusters)
        order = np.argsort(assign, kind="stable")
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        sums = np.zeros((n_clusters, x.shape[1]), dtype=np.float64)
        nonempty = counts > 0
        sums[nonempty] = np.add.reduceat(x[order].astype(np.float64), starts[nonempty], axis=0)
        empty = np.flatnonzero(counts == 0)
        if empty.size:
            far = np.argsort(dist)[::-1][: empty.size]
            sums[empty] = x[far]
            counts[empty] = 1
        centres = (sums / counts[:, None]).astype(np.float32)
    return centres


def assign_rows(
    x: np.ndarray, centres: np.ndarray, *, block: int = 8192
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centre (squared euclidean) of every row, in row blocks; (assignment, distance)."""
    c_sq = np.einsum("ij,ij->i", centres, centres)
    assign = np.empty(x.shape[0], dtype=np.int64)
    dist = np.empty(x.shape[0], dtype=np.float32)
    for start in range(0, x.shape[0], block):
        xb = x[start:start + block]
        d = c_sq[None, :] - 2.0 * (xb @ centres.T)
        a = np.argmin(d, axis=1)
        assign[start:start + block] = a
        dist[start:start + block] = d[np.arange(a.size), a] + np.einsum("ij,ij->i", xb, xb)
    return assign, dist


#: Up to this many lists the rows are assigned to the nearest of all centres; above, through a
#: two-level quantizer (:class:`Quantizer`).
FLAT_MAX_LISTS = 1024
#: Lists kept in each list's probe order: the probe count never exceeds it.
MAX_PROBES = 256


class Quantizer:
    """Centres of the lists, and a coarse level that finds a row's list without all of them.

    Up to ``FLAT_MAX_LISTS`` lists, one k-means over the training rows; the nearest centre of
    each row is found among all ``nlist`` (N x nlist products, which grow as N^2 when the lists
    keep a fixed size). Above, about sqrt(nlist) coarse k-means centres split the training rows,
    and each coarse cell is clustered into lists in proportion to its rows; a row goes to the
    nearest list of its two nearest coarse cells: about 3 sqrt(nlist) products per row instead
    of nlist (10,000 lists: 300 instead of 10,000). A row near a coarse border may miss its very
    nearest list, which the measured quality of the graph accounts for like any other miss.
    :meth:`assign` also gives each row's second-nearest list and its distance to the border
    between the two, for the rows near a border that also search their second list.
    """

    def __init__(self, train: np.ndarray, nlist: int, *, n_iter: int,
                 rng: np.random.Generator) -> None:
        if nlist <= FLAT_MAX_LISTS:
            self.centres = kmeans(train, nlist, n_iter=n_iter, rng=rng)
            self.coarse: np.ndarray | None = None
            self.cells: list[np.ndarray] = []
            return
        n_coarse = int(round(np.sqrt(nlist)))
        self.coarse = kmeans(train, n_coarse, n_iter=n_iter, rng=rng)
        cell, _ = assign_rows(train, self.coarse)
        counts = np.bincount(cell, minlength=n_coarse)
        per_cell = np.maximum(1, np.round(nlist * counts / train.shape[0])).astype(int)
        per_cell = np.minimum(per_cell, np.maximum(counts, 1))
        centres, self.cells = [], []
        start = 0
        for c in range(n_coarse):
            rows = train[cell == c]
            fine = (kmeans(rows, int(per_cell[c]), n_iter=n_iter, rng=rng) if rows.shape[0]
                    else self.coarse[c:c + 1].copy())
            centres.append(fine)
            self.cells.append(np.arange(start, start + fine.shape[0]))
            start += fine.shape[0]
        self.centres = np.concatenate(centres)

    @property
    def n_lists(self) -> int:
        return int(self.centres.shape[0])

    def assign(self, x: np.ndarray, *, norms: np.ndarray | None = None,
               block: int = 8192) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The nearest and second-nearest list of every row of ``x`` (float32; divided by
        ``norms`` when given), in row blocks, and the row's distance to the plane that bisects
        their centres (how far it is from the border; inf with one list)."""
        first = np.empty(x.shape[0], dtype=np.int64)
        second = np.empty(x.shape[0], dtype=np.int64)
        margin = np.empty(x.shape[0], dtype=np.float32)
        c_sq = np.einsum("ij,ij->i", self.centres, self.centres)
        # row spans in threads: 6.7 s against 12.2 s for 2M rows on two cores
        spans = [(lo, min(lo + 8 * block, x.shape[0])) for lo in range(0, x.shape[0], 8 * block)]
        map_in_threads(lambda s: self._assign_span(x, norms, c_sq, s[0], s[1], block, first,
                                                   second, margin), spans)
        return first, second, margin

    def _assign_span(self, x: np.ndarray, norms: np.ndarray | None, c_sq: np.ndarray, lo: int,
                     hi: int, block: int, first: np.ndarray, second: np.ndarray,
                     margin: np.ndarray) -> None:
        for start in range(lo, hi, block):
            stop = min(start + block, hi)
            xb = unit_rows(x[start:stop], None if norms is None else norms[start:stop])
            m = xb.shape[0]
            best = np.full((m, 2), np.inf, dtype=np.float64)
            pick = np.zeros((m, 2), dtype=np.int64)
            groups = ([(np.arange(m), np.arange(self.n_lists))] if self.coarse is None else
                      [(np.flatnonzero((near == c).any(axis=1)), self.cells[int(c)])
                       for near in [_two_nearest(xb, self.coarse)] for c in np.unique(near)])
            for rows, ids in groups:
                d = c_sq[ids][None, :] - 2.0 * (xb[rows] @ self.centres[ids].T)
                at = np.arange(rows.size)
                a1 = np.argmin(d, axis=1)  # two argmin passes: 3.4 s at 1M rows, a partition 13.4 s
                v1 = d[at, a1]
                if ids.size > 1:
                    d[at, a1] = np.inf
                    a2 = np.argmin(d, axis=1)
                    v2 = d[at, a2]
                else:
                    a2, v2 = a1, np.full(rows.size, np.inf, dtype=d.dtype)
                part = np.stack([a1, a2], axis=1)
                vals = np.stack([v1, v2], axis=1)
                # merge this group's best two with the best two so far (a row sits in two
                # coarse cells, whose lists are disjoint)
                all_vals = np.concatenate([best[rows], vals], axis=1)
                all_ids = np.concatenate([pick[rows], ids[part]], axis=1)
                order = np.argsort(all_vals, axis=1, kind="stable")[:, :2]
                best[rows] = np.take_along_axis(all_vals, order, axis=1)
                pick[rows] = np.take_along_axis(all_ids, order, axis=1)
            two_found = np.isfinite(best[:, 1])
            first[start:stop] = pick[:, 0]
            second[start:stop] = np.where(two_found, pick[:, 1], pick[:, 0])
            # |x - c2|^2 - |x - c1|^2 = 2 |c1 - c2| * (distance of x to the bisecting plane)
            gap = np.linalg.norm(self.centres[pick[:, 0]] - self.centres[pick[:, 1]], axis=1)
            margin[start:stop] = np.where(
                two_found & (gap > 0), (best[:, 1] - best[:, 0]) / np.maximum(2.0 * gap, 1e-30),
                np.inf)


def row_norms(x: np.ndarray, *, block: int = 65_536) -> np.ndarray:
    """L2 norm of every row (float32, as :func:`numpy.linalg.norm` gives it), in row blocks."""
    out = np.empty(x.shape[0], dtype=np.float32)
    for start in range(0, x.shape[0], block):
        out[start:start + block] = np.linalg.norm(x[start:start + block], axis=1)
    return out


def _two_nearest(xb: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Indices of the two nearest ``centres`` (squared euclidean) of each row, shape (m, 2)."""
    d = np.einsum("ij,ij->i", centres, centres)[None, :] - 2.0 * (xb @ centres.T)
    if centres.shape[0] < 2:
        return np.zeros((xb.shape[0], 2), dtype=np.int64)
    return np.argpartition(d, 1, axis=1)[:, :2]


class ListIndex:
    """Rows grouped by their k-means list, and each list's probe order (nearest lists first,
    the ``MAX_PROBES`` nearest kept)."""

    def __init__(self, x: np.ndarray, centres: np.ndarray, assign: np.ndarray,
                 norms: np.ndarray | None = None,
                 store: Callable[[tuple[int, int]], np.ndarray] | None = None) -> None:
        self.x = x
        self.norms = norms
        self.assign = assign
        self.order = np.argsort(assign, kind="stable")
        nlist = centres.shape[0]
        counts = np.bincount(assign, minlength=nlist)
        self.bounds = np.concatenate([[0], np.cumsum(counts)])
        # with a store: the rows copied into it in list order, so each list is read as one
        # contiguous range (``position[i]``: where row i went)
        self.sorted: np.ndarray | None = None
        self.position: np.ndarray | None = None
        if store is not None:  # for cosine the store holds the rows divided by their norms
            self.sorted, self.position = _list_ordered(x, self.order, self.bounds, store,
                                                       norms=norms)
        self.centres = centres
        self.c_sq = c_sq = np.einsum("ij,ij->i", centres, centres)
        keep = min(nlist, MAX_PROBES)
        self.probe_order = np.empty((nlist, keep), dtype=np.int64)
        for start in range(0, nlist, 1024):  # a block of lists at a time, not nlist x nlist
            cd = c_sq[start:start + 1024, None] + c_sq[None, :] - 2.0 * (
                centres[start:start + 1024] @ centres.T)
            if keep < nlist:
                part = np.argpartition(cd, keep - 1, axis=1)[:, :keep]
                cd_part = np.take_along_axis(cd, part, axis=1)
                order = np.lexsort((part, cd_part), axis=1)
                self.probe_order[start:start + 1024] = np.take_along_axis(part, order, axis=1)
            else:
                self.probe_order[start:start + 1024] = np.argsort(cd, axis=1, kind="stable")

    def rows(self, idx: np.ndarray) -> np.ndarray:
        """Rows ``idx`` of the data as searched: divided by their norms for cosine (here, so no
        unit-norm copy of the whole matrix is held in memory; a list-ordered store holds them
        divided already)."""
        if self.sorted is None or self.position is None:
            return unit_rows(self.x[idx], None if self.norms is None else self.norms[idx])
        return self.sorted[self.position[idx]]  # divided when written

    def centre_dist(self, lst: int) -> np.ndarray:
        """Squared distances from list ``lst``'s centre to every centre."""
        c = self.centres[lst]
        return self.c_sq[lst] + self.c_sq - 2.0 * (self.centres @ c)

    def members(self, lst: int) -> np.ndarray:
        return self.order[self.bounds[lst]:self.bounds[lst + 1]]

    def list_rows(self, lst: int) -> np.ndarray:
        """The rows of list ``lst`` as searched (:meth:`rows` of :meth:`members`): a slice of the
        list-ordered store when there is one, no gather."""
        if self.sorted is None:
            return self.rows(self.members(lst))
        return self.sorted[int(self.bounds[lst]):int(self.bounds[lst + 1])]


def _list_ordered(x: np.ndarray, order: np.ndarray, bounds: np.ndarray,
                  store: Callable[[tuple[int, int]], np.ndarray],
                  part_bytes: int = 256 * 2**20,
                  norms: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``x``'s rows in list order (``order``), written into ``store((N, d))`` (a file-backed
    array), and each row's position there; divided by ``norms`` when given (as
    :func:`~assay._kernels.knn.unit_rows` divides them), so a list is searched straight from the
    store.

    In sequential passes, so that a memory-mapped ``x`` larger than memory is read once in order
    and no page is written at random: the lists are cut into parts of about ``part_bytes``; each
    block of ``x`` appends its rows to their parts' ranges (one contiguous write per part), then
    each part, read whole, is put in list order and written back.
    """
    n, d = x.shape
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n)
    out = store((n, d))
    per_row = max(1, d * x.dtype.itemsize)
    # part boundaries on list boundaries: about part_bytes of rows each
    cuts = [0]
    for b in bounds[1:-1]:
        if (b - cuts[-1]) * per_row >= part_bytes:
            cuts.append(int(b))
    cuts.append(n)
    starts = np.asarray(cuts[:-1], dtype=np.int64)
    cursor = starts.copy()
    held_by = np.empty(n, dtype=np.int64)  # which row each slot holds until the reordering
    for lo in range(0, n, 65_536):
        block = np.asarray(x[lo:lo + 65_536])
        part = np.searchsorted(starts, position[lo:lo + 65_536], side="right") - 1
        by_part = np.argsort(part, kind="stable")
        split = np.flatnonzero(np.diff(part[by_part])) + 1
        for rows in np.split(by_part, split) if by_part.size else []:
            p = int(part[rows[0]])
            out[cursor[p]:cursor[p] + rows.size] = unit_rows(
                block[rows], None if norms is None else norms[lo + rows])
            held_by[cursor[p]:cursor[p] + rows.size] = lo + rows
            cursor[p] += rows.size
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        chunk = np.array(out[a:b])
        out[position[held_by[a:b]]] = chunk
    return out, position


def row_probes(index: ListIndex, q: np.ndarray, lst: int, nprobe: int,
               need: int) -> tuple[np.ndarray, np.ndarray]:
    """The lists each row of ``q`` (rows of list ``lst``, as searched) probes: its ``nprobe``
    nearest lists by centre among the ``MAX_PROBES`` nearest to ``lst``'s centre, its own list
    always, and more of them, nearest first, while they hold fewer than ``need`` rows.

    Returns the candidate lists ``po`` (lst's probe order) and a boolean mask (rows x lists) of
    which each row probes. Where the whole probe order holds fewer than ``need`` rows (near-empty
    lists), every list is a candidate.
    """
    po = index.probe_order[lst]
    sizes_all = np.diff(index.bounds)
    if sizes_all[po].sum() < need:
        po = np.argsort(index.centre_dist(lst), kind="stable")
    elif not (po == lst).any():  # hundreds of coincident centres: keep the own list
        po = np.concatenate([[lst], po[:-1]])
    n_po = po.size
    d = index.c_sq[po][None, :] - 2.0 * (q @ index.centres[po].T)
    take = min(n_po, nprobe)
    mask = np.zeros((q.shape[0], n_po), dtype=bool)
    if take < n_po:
        np.put_along_axis(mask, np.argpartition(d, take - 1, axis=1)[:, :take], True, axis=1)
    else:
        mask[:] = True
    mask[:, np.flatnonzero(po == lst)] = True
    sizes = sizes_all[po]
    short = (mask @ sizes) < need
    if short.any():  # nearest lists first until they hold enough rows
        order = np.argsort(d[short], axis=1, kind="stable")
        cum = np.cumsum(sizes[order], axis=1)
        count = np.minimum(n_po, (cum < need).sum(axis=1) + 1)
        sub = mask[short]
        np.put_along_axis(sub, order, np.arange(n_po)[None, :] < count[:, None], axis=1)
        mask[short] = sub | mask[short]
    return po, mask


def row_topk(
    index: ListIndex, rows: np.ndarray, lst: int, *, k: int, metric: str, nprobe: int,
    also: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-``k`` neighbours (self excluded) of ``rows``, all members of list ``lst``, each row
    searched against the lists it probes (:func:`row_probes`) and, where ``also[i] >= 0``, list
    ``also[i]`` too when it is among ``lst``'s probe order.

    The rows of one list are searched together: for each list that any of them probes, one
    matrix product of the rows that probe it against its members. A row's own list is searched
    first; the smallest of the maxima of ``k`` disjoint column groups there bounds the row's
    ``k``-th best score from below (k distinct candidates reach it), so one comparison keeps the
    few candidates above it, the own list's exact top ``k`` follows from those, and its ``k``-th
    score is the bound every other list's scores are compared with. Only the candidates above the
    bound are kept and ranked (value, then row index), so no row's scores are partitioned whole.
    Ranks by the score ``q.r`` (cosine, unit rows) or ``q.r - |r|^2 / 2`` (euclidean).

    Returns indices (m, k) int64, distances (m, k) float32 ascending, ties by index, and for
    each row whether ``also[i]`` was searched (false where it is outside the probe order).
    """
    q = index.rows(rows)
    m = rows.size
    po, mask = row_probes(index, q, lst, nprobe, k + 1)
    searched = np.zeros(m, dtype=bool)
    if also is not None:
        hit = (po[None, :] == also[:, None]) & (also[:, None] >= 0)
        searched = hit.any(axis=1)
        mask |= hit
    own = int(np.flatnonzero(po == lst)[0])
    mem = index.members(lst)
    score = rank_scores(q, index.list_rows(lst), metric)
    if mem.size >= m and np.array_equal(mem[:m], rows):
        score[np.arange(m), np.arange(m)] = -np.inf
    else:
        score[rows[:, None] == mem[None, :]] = -np.inf
    flat = np.flatnonzero(score >= group_bound(score, k)[:, None])
    r, c = np.divmod(flat, score.shape[1])
    best_id, best_val = dense_topk(r, mem[c], score.ravel()[flat], m, k)
    bound = best_val[:, -1]
    r_all, c_all, v_all = [np.repeat(np.arange(m), k)], [best_id.ravel()], [best_val.ravel()]
    for j in np.flatnonzero(mask.any(axis=0)):
        if j == own:
            continue
        mem = index.members(int(po[j]))
        if not mem.size:
            continue
        sub = np.flatnonzero(mask[:, j])
        score = rank_scores(q[sub], index.list_rows(int(po[j])), metric)
        flat = np.flatnonzero(score >= bound[sub][:, None])
        if flat.size:
            r, c = np.divmod(flat, score.shape[1])
            r_all.append(sub[r])
            c_all.append(mem[c])
            v_all.append(score.ravel()[flat])
    if len(r_all) > 1:
        best_id, best_val = dense_topk(np.concatenate(r_all), np.concatenate(c_all),
                                       np.concatenate(v_all), m, k)
    return best_id, score_distances(q, best_val, metric), searched


def group_bound(score: np.ndarray, k: int) -> np.ndarray:
    """A lower bound on each row's ``k``-th largest score: the smallest of the maxima of ``k``
    disjoint groups of columns (k distinct columns reach it); -inf with fewer than ``k``
    columns. One pass over the matrix, where a partition of each row costs ten times more."""
    c = score.shape[1]
    if c < k:
        return np.full(score.shape[0], -np.inf, dtype=score.dtype)
    return np.maximum.reduceat(score, (np.arange(k) * c) // k, axis=1).min(axis=1)


def dense_topk(
    rows: np.ndarray, ids: np.ndarray, vals: np.ndarray, m: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best entries (value descending, then id ascending) of each of ``m`` rows, from
    entries given as (row, id, value); a row with fewer than ``k`` is padded with value -inf
    and id ``int64`` max. Entries are laid out in an m x (most per row) matrix, partitioned
    where wide, then sorted on the ``k`` kept (every entry tied with the ``k``-th is kept until
    the sort, so ties go to the lower id)."""
    order = np.argsort(rows, kind="stable")
    rows, ids, vals = rows[order], ids[order], vals[order]
    counts = np.bincount(rows, minlength=m)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    width = max(int(counts.max()) if rows.size else 0, k)
    v = np.full((m, width), -np.inf, dtype=np.float32)
    i = np.full((m, width), np.iinfo(np.int64).max, dtype=np.int64)
    slot = np.arange(rows.size) - first[rows]
    v[rows, slot] = vals
    i[rows, slot] = ids
    if width > 4 * k:
        part = np.argpartition(-v, k - 1, axis=1)[:, :k]
        kth = np.take_along_axis(v, part, axis=1).min(axis=1)
        ties = (v == kth[:, None]).sum(axis=1) > (np.take_along_axis(v, part, axis=1)
                                                  == kth[:, None]).sum(axis=1)
        if ties.any():  # a tie with the k-th may hide a lower id outside the partition
            part[ties] = np.lexsort((i[ties], -v[ties]), axis=1)[:, :k]
        v, i = np.take_along_axis(v, part, axis=1), np.take_along_axis(i, part, axis=1)
    o = np.lexsort((i, -v), axis=1)[:, :k]
    return np.take_along_axis(i, o, axis=1), np.take_along_axis(v, o, axis=1)


def _search_lists(
    index: ListIndex, lists: np.ndarray, *, k: int, metric: str, nprobe: int,
    also: np.ndarray, out_idx: np.ndarray, out_dist: np.ndarray,
) -> np.ndarray:
    """Search the rows of ``lists``; returns the rows whose ``also`` list was not searched."""
    left = []
    for lst in lists:
        rows = index.members(int(lst))
        if rows.size:
            out_idx[rows], out_dist[rows], searched = row_topk(
                index, rows, int(lst), k=k, metric=metric, nprobe=nprobe, also=also[rows])
            left.append(rows[~searched & (also[rows] >= 0)])
    return np.concatenate(left) if left else np.empty(0, dtype=np.int64)


def reaches(index: ListIndex, q: np.ndarray, lists: np.ndarray, targets: np.ndarray, *,
            nprobe: int, need: int) -> np.ndarray:
    """Whether each row ``q[i]`` (as searched, in list ``lists[i]``) probes list ``targets[i]``
    (:func:`row_probes`)."""
    out = np.zeros(q.shape[0], dtype=bool)
    for lst in np.unique(lists):
        at = np.flatnonzero(lists == lst)
        po, mask = row_probes(index, q[at], int(lst), nprobe, need)
        out[at] = (mask & (po[None, :] == targets[at, None])).any(axis=1)
    return out


def drop_self(
    idx: np.ndarray, dist: np.ndarray, rows: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest of ``k + 1`` results per row without the row itself (the last one when
    the row is not among them, e.g. behind exact copies of it)."""
    is_self = idx == rows[:, None]
    is_self[~is_self.any(axis=1), -1] = True
    keep = ~is_self
    m = idx.shape[0]
    return idx[keep].reshape(m, k), dist[keep].reshape(m, k)


def served(found: np.ndarray, exact: np.ndarray, *, metric: str, eps: float) -> float:
    """Share of rows whose every returned distance is within ``1 + eps`` of the exact one.

    Both arrays hold each row's distances in ascending order, so rank ``i`` of ``found`` is held
    to rank ``i`` of ``exact``: the (1 + eps)-approximate k-NN criterion. Cosine distances are
    compared as the euclidean distances of the unit rows, ``sqrt(2 d)``, so ``eps`` means the
    same for both metrics. An absolute slack of 1e-4 of the median ``k``-th distance absorbs
    float32 rounding, so an exact copy (distance 0) must be found to be served.
    """
    f = found.astype(np.float64)
    e = exact.astype(np.float64)
    if metric == "cosine":
        f, e = np.sqrt(2.0 * np.maximum(f, 0.0)), np.sqrt(2.0 * np.maximum(e, 0.0))
    slack = 1e-4 * float(np.median(e[:, -1])) if e.size else 0.0
    ok = (f <= (1.0 + eps) * e + slack).all(axis=1)
    return float(ok.mean()) if ok.size else 1.0


def _search_second(
    index: ListIndex, rows: np.ndarray, lst: int, *, k: int, metric: str,
    out_idx: np.ndarray, out_dist: np.ndarray,
) -> None:
    """Search ``rows`` (none of them in list ``lst``) against the members of ``lst`` and merge
    what they find into their top ``k``."""
    cand = index.members(lst)
    if not cand.size:
        return
    q = index.rows(rows)
    score = rank_scores(q, index.rows(cand), metric)
    kk = min(k, cand.size)
    part = np.argpartition(-score, kk - 1, axis=1)[:, :kk] if kk < cand.size else np.broadcast_to(
        np.arange(cand.size), score.shape)
    vals = np.take_along_axis(score, part, axis=1)
    order = np.lexsort((part, -vals), axis=1)
    cols, top = np.take_along_axis(part, order, axis=1), np.take_along_axis(vals, order, axis=1)
    out_idx[rows], out_dist[rows] = merge_topk(out_idx[rows], out_dist[rows], cand[cols],
                                               score_distances(q, top, metric), k)


def merge_topk(
    idx_a: np.ndarray, dist_a: np.ndarray, idx_b: np.ndarray, dist_b: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest of two neighbour lists per row, each index once, ties by index."""
    idx = np.concatenate([idx_a, idx_b], axis=1)
    dist = np.concatenate([dist_a, dist_b], axis=1).astype(np.float32)
    by_idx = np.lexsort((dist, idx), axis=1)  # by index, then distance: repeats side by side
    idx_s = np.take_along_axis(idx, by_idx, axis=1)
    dist_s = np.take_along_axis(dist, by_idx, axis=1)
    repeat = np.zeros(idx_s.shape, dtype=bool)
    repeat[:, 1:] = idx_s[:, 1:] == idx_s[:, :-1]
    dist_s = np.where(repeat, np.inf, dist_s)
    order = np.lexsort((idx_s, dist_s), axis=1)[:, :k]
    return np.take_along_axis(idx_s, order, axis=1), np.take_along_axis(dist_s, order, axis=1)


#: Rows per list from which the number of lists grows with N rather than with sqrt(N).
LIST_ROWS = 1000


def n_lists(n: int) -> int:
    """About sqrt(N) lists up to a million rows, then lists of ``LIST_ROWS`` rows.

    A row is compared with ``nprobe`` lists of about ``N / nlist`` rows, so sqrt(N) lists make
    the search grow as N^1.5 at a fixed probe count: from 1M to 2M rows 2.8x. Lists of a fixed
    size keep each probe's cost fixed (the probe count still grows where the quality rule needs
    it); above ``FLAT_MAX_LISTS`` lists the assignment goes through the two-level
    :class:`Quantizer`, so it does not grow as N x nlist.
    """
    return int(max(16, round(np.sqrt(n)), round(n / LIST_ROWS)))


#: Planted near copies per sampled row, their distance as a share of the row's k-th neighbour
#: distance, and the share of them that must fall in a list probed from the row's own list.
PLANTED_PER_ROW = 4
PLANTED_SCALE = 0.1
NEAR_COPY_TARGET = 0.99


def planted_copies(
    rows: np.ndarray, kth_dist: np.ndarray, *, metric: str,
    assign: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]],
    random_state: int,
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Near copies of sampled ``rows`` (as searched: unit rows for cosine), and what ``assign``
    (:meth:`Quantizer.assign`) says of them: their lists, second lists and border distances.

    Each row is moved ``PLANTED_PER_ROW`` times in a random direction by ``PLANTED_SCALE`` times
    its exact ``k``-th neighbour distance (cosine distances are taken as unit-row euclidean
    ones, and the copies renormalised). A near copy that k-means puts in a list that neither
    row's list probes is never compared with the row: the search misses the pair, whatever its
    recall elsewhere. The share of copies that stay reachable is what the probe count must keep
    high for the duplicates check, which reads the same graph; the distances alone cannot, as
    a sample of a few hundred rows rarely holds a real copy.
    """
    gen = np.random.default_rng(random_state + 1)  # the graph's own draws are left as they were
    dk = np.sqrt(2.0 * np.maximum(kth_dist, 0.0)) if metric == "cosine" else kth_dist
    base = np.repeat(rows.astype(np.float32), PLANTED_PER_ROW, axis=0)
    noise = gen.normal(size=base.shape).astype(np.float32)
    noise *= (PLANTED_SCALE * np.repeat(dk, PLANTED_PER_ROW)
              / np.maximum(np.linalg.norm(noise, axis=1), 1e-12))[:, None].astype(np.float32)
    copies = base + noise
    if metric == "cosine":
        copies = unit_rows(copies, np.linalg.norm(copies, axis=1))
    return copies, assign(copies)


def ivf_graph(
    x: np.ndarray,
    *,
    k: int,
    metric: str,
    target: float,
    eps: float,
    random_state: int,
    n_sample: int = 256,
    store: Callable[[tuple[int, int]], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, float | int]]:
    """Approximate k-NN graph of ``x`` (float32, any norms: for cosine the rows are divided by
    their norms as they are read) with measured quality.

    ``store``, given a shape, returns a writable file-backed array: the rows are then copied
    into it in list order and searched from there (for a memory-mapped ``x``, whose rows of one
    list would otherwise be read from pages all over the file).

    The probe count is the smallest at which, on ``n_sample`` sampled rows, the recall or the
    share :func:`served` within ``1 + eps`` reaches ``target``, and ``NEAR_COPY_TARGET`` of the
    :func:`planted_copies` of those rows are reachable (a probed list, or a second list the row
    searches for being near its list's border). Returns indices (N, k) int64, distances (N, k)
    float32 (ascending; cosine distance for ``metric="cosine"``, euclidean otherwise) and an
    info dict (``nlist``, ``nprobe``, ``eps``, ``sample_served``, ``sample_recall``,
    ``sample_near_copies``).
    """
    n = x.shape[0]
    rng = np.random.default_rng(random_state)
    nlist = n_lists(n)
    n_train = min(n, 32 * nlist)
    # cosine: rows are divided by their norms where they are read, not copied as unit rows
    norms = row_norms(x) if metric == "cosine" else None
    train_rows = np.sort(rng.choice(n, size=n_train, replace=False))
    train = unit_rows(x[train_rows], None if norms is None else norms[train_rows])
    quantizer = Quantizer(train, nlist, n_iter=8, rng=rng)
    nlist = quantizer.n_lists
    assign, second, margin = quantizer.assign(x, norms=norms)
    index = ListIndex(x, quantizer.centres, assign, norms, store=store)
    max_probe = index.probe_order.shape[1]

    sample = np.sort(rng.choice(n, size=min(n, n_sample), replace=False))
    # exact neighbours of the sample in one pass over the rows, 65,536 at a time (2.5 s at 2M
    # rows; 12 s when every distance was computed and partitioned)
    sample_rows = index.rows(sample)  # as searched: read once, used three times
    exact, exact_dist = scan_topk(sample_rows, x, k=k + 1, metric=metric, ref_norms=norms)
    exact_idx, exact_dist = drop_self(exact, exact_dist, sample, k)
    copies, (copy_lists, copy_second, copy_margin) = planted_copies(
        sample_rows, exact_dist[:, -1], metric=metric,
        assign=lambda c: quantizer.assign(c), random_state=random_state)
    own_lists = np.repeat(assign[sample], PLANTED_PER_ROW)
    own_second = np.repeat(second[sample], PLANTED_PER_ROW)
    own_margin = np.repeat(margin[sample], PLANTED_PER_ROW)
    sample_rep = np.repeat(sample_rows, PLANTED_PER_ROW, axis=0)
    # rows this close to their list's border are also searched against their second list
    kth = exact_dist[:, -1].astype(np.float64)
    kth = np.sqrt(2.0 * np.maximum(kth, 0.0)) if metric == "cosine" else kth
    border = float(PLANTED_SCALE * np.quantile(kth, 0.9)) if kth.size else 0.0
    also = np.where((second != assign) & (margin <= border), second, -1)

    def measure(nprobe: int) -> tuple[float, float, float]:
        """The sample's served share, recall and reachable planted copies at ``nprobe``."""
        found = np.empty((sample.size, k), dtype=np.int64)
        found_dist = np.empty((sample.size, k), dtype=np.float32)
        for lst in np.unique(assign[sample]):
            at = np.flatnonzero(assign[sample] == lst)
            found[at], found_dist[at], _ = row_topk(index, sample[at], int(lst), k=k,
                                                    metric=metric, nprobe=nprobe,
                                                    also=also[sample[at]])
        quality = served(found_dist, exact_dist, metric=metric, eps=eps)
        recall = float((found[:, :, None] == exact_idx[:, None, :]).any(axis=2).mean())
        # a pair is compared when either row probes the other's list, or one row's
        # second-nearest list is the other's (searched by that row as well)
        near = float((reaches(index, sample_rep, own_lists, copy_lists, nprobe=nprobe,
                              need=k + 1)
                      | reaches(index, copies, copy_lists, own_lists, nprobe=nprobe, need=k + 1)
                      | ((own_second == copy_lists) & (own_margin <= border))
                      | ((copy_second == own_lists) & (copy_margin <= border))).mean())
        return quality, recall, near

    def enough(m: tuple[float, float, float]) -> bool:
        return max(m[0], m[1]) >= target and m[2] >= NEAR_COPY_TARGET

    # The smallest probe count that meets the rule: the schedule 2, 3, 4, 6, 8, 11, 16, 23, ...
    # (steps of about sqrt(2)) brackets it, then bisection between the last count that fell
    # short and the first that met it (at 10M rows the schedule's 23 where 19 was enough; the
    # sample's search costs seconds, the full search about 40 s per probe).
    nprobe, short = min(max_probe, 2), 0
    m = measure(nprobe)
    while not enough(m) and nprobe < max_probe:
        short = nprobe
        nprobe = min(max_probe, max(nprobe + 1, round(nprobe * np.sqrt(2))))
        m = measure(nprobe)
    if enough(m):
        while nprobe - short > 1:
            mid = (short + nprobe) // 2
            m_mid = measure(mid)
            if enough(m_mid):
                nprobe, m = mid, m_mid
            else:
                short = mid
    quality, recall, near = m

    out_idx = np.empty((n, k), dtype=np.int64)
    out_dist = np.empty((n, k), dtype=np.float32)
    # Lists are independent: threads share the work (map_in_threads), four chunks a thread.
    n_threads = max(1, min(os.cpu_count() or 1, MAX_THREADS))
    chunks = np.array_split(rng.permutation(nlist), n_threads * 4)
    # A row near the border of its list also searches its second-nearest list, so a near copy
    # just across the border is found without probing more lists for every row; the few whose
    # second list lies outside their own list's probe order are searched against it after.
    left = map_in_threads(lambda c: _search_lists(index, c, k=k, metric=metric, nprobe=nprobe,
                                                  also=also, out_idx=out_idx,
                                                  out_dist=out_dist), chunks)
    extra = np.concatenate(left) if left else np.empty(0, dtype=np.int64)
    extra = extra[np.argsort(second[extra], kind="stable")]
    cuts = np.flatnonzero(np.diff(second[extra])) + 1
    groups = np.split(extra, cuts) if extra.size else []
    map_in_threads(lambda g: _search_second(index, g, int(second[g[0]]), k=k, metric=metric,
                                            out_idx=out_idx, out_dist=out_dist), groups)
    info: dict[str, float | int] = {"nlist": nlist, "nprobe": nprobe, "n_train": n_train,
                                    "eps": eps, "sample_served": quality,
                                    "sample_recall": recall, "sample_near_copies": near}
    return out_idx, out_dist, info
