"""Exact (and truncated) KNN-Shapley values, Jia et al. (PVLDB 2019).

For one test point with label ``t`` and training points sorted by distance to it,
``alpha_1`` nearest ... ``alpha_N`` farthest, the utility of a coalition ``S`` is
``U(S) = (1/K) * sum_{k <= min(K, |S|)} f(alpha_k(S))`` with ``f(j) = 1[y_j == t]``
(classification) or ``f(j) = -(y_j - t)**2`` (regression). Its Shapley values follow from

    s_N = f(alpha_N) / N
    s_i = s_{i+1} + (f(alpha_i) - f(alpha_{i+1})) / max(K, i)

and the values of a test set are the mean over its points. Unrolled, with the prefix sums
``G_i = sum_{j <= i} f(alpha_j) / (j (j - 1))``, this is

    s_i = f(alpha_i) / max(K, i) + G_max(K, i) - G_N,

one cumulative sum per test point. The order comes from
:func:`assay._kernels.knn_shapley.rank_order` (a counting sort of quantised keys, sorting
networks, and an exact repair of quantisation ties: the float64 order, ties by index) and the
values are scattered with ``bincount``. Test points are processed a chunk at a time; memory is
``O(chunk * N)``, never ``N x n_test``.

Truncation error (``truncate=T``): starting the recursion from ``s_{T+1} = 0`` changes every
increment by nothing, so the T nearest get ``s_i - s_{T+1}`` and the others 0. For ``i > K``,
``s_i = f_i / i - sum_{j > i} f_j / (j (j - 1))`` and ``sum_{j > i} 1 / (j (j - 1)) = 1/i - 1/N``,
so with ``0 <= f <= 1`` (classification) ``-1/i < s_i <= 1/i``: every value of one test point
moves by at most ``1 / (T + 1)`` (``|s_{T+1}|`` for the T nearest, ``|s_i| <= 1/i`` for the
rest), hence so does their mean. With ``-M <= f <= 0`` (regression, ``M`` the largest squared
target difference of that test point) the bound is ``M / (T + 1)``. The bound is attained: a
test point whose only label match is its (T+1)-th neighbour has ``s_{T+1} = 1 / (T + 1)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from assay._kernels.knn_shapley import (
    Workspace,
    binary_value_sums,
    drop_self,
    nearest,
    rank_order,
    value_sums,
)
from assay._validation import check_1d, check_choice, check_int
from assay.exceptions import InputValidationError, InvalidParameterError

__all__ = ["knn_shapley"]

_OWNER = "knn_shapley"
_METRICS = ("euclidean", "cosine")
_TASKS = ("classification", "regression")
# test points per BLAS block: its (chunk, N) float64 keys are about 64 MiB, and at least 16 rows
# so the product reads x_train once per 16 test points even when N is large
_CHUNK_ELEMENTS = 1 << 23
_MIN_CHUNK = 16
# rows ranked at once: their (rows, N) work arrays (five of 8 bytes) stay near the L2 cache
_ROW_ELEMENTS = 1 << 18


def knn_shapley(
    x_train: Any,
    y_train: Any,
    x_test: Any = None,
    y_test: Any = None,
    *,
    k: int = 5,
    metric: str = "euclidean",
    task: str = "classification",
    truncate: int | None = None,
    chunk_size: int | None = None,
    n_jobs: int | None = None,
) -> np.ndarray:
    """Exact KNN-Shapley value of every training point for a K-nearest-neighbour model.

    Parameters
    ----------
    x_train : array-like of shape (n_train, d)
        Training features (the players).
    y_train : array-like of shape (n_train,)
        Training labels (any hashable values) or targets (``task="regression"``).
    x_test, y_test : array-like of shape (n_test, d) and (n_test,), optional
        The points the KNN model is scored on. When both are omitted every training row is
        valued against all *other* rows as test points (leave-self-out), so every row of one
        table gets a value without a held-out split.
    k : int, default 5
        Number of neighbours ``K`` of the KNN model. Must not exceed the number of players.
    metric : {"euclidean", "cosine"}, default "euclidean"
        Distance that orders the training points. Ties break by training-row index.
    task : {"classification", "regression"}, default "classification"
        Classification scores a neighbour 1 when its label equals the test label; regression
        scores it ``-(y_neighbour - y_test)**2`` (the utility is the mean over the K nearest).
    truncate : int, optional
        Approximate mode: only the ``T = truncate`` nearest training points of each test point
        get a contribution, the recursion started from ``s_{T+1} = 0`` (Jia et al.'s
        truncation); the ``T + 1`` nearest are selected without sorting the others. Every
        value is then within ``1 / (T + 1)`` of the exact value (classification), or within
        ``max_t max_j (y_j - y_t)**2 / (T + 1)`` (regression): the exact value of the i-th
        nearest point, ``i > K``, lies in ``(-max|f| / i, max|f| / i]`` and truncation moves
        each of a test point's values by ``|s_{T+1}|`` or ``|s_i|``, ``i > T`` (derivation in
        the module docstring; the bound is attained). Must be at least ``k``.
    chunk_size : int, optional
        Test points whose distances are computed at once (one BLAS product); by default about
        64 MiB of float64 keys, and at least 16 test points. They are then valued a few rows
        at a time with reused buffers.
    n_jobs : int, optional
        Threads over chunks of test points (numpy's kernels release the GIL); ``None`` or 1 runs
        in the calling thread, -1 uses every core. With several threads, BLAS runs on one
        thread in each (for the whole process, during the call). Memory grows with the number
        of threads.

    Returns
    -------
    ndarray of shape (n_train,), float64
        The values. For one test point they sum to ``U(all training points)``; the values of a
        test set sum to the mean of those utilities. Sum them over a column with
        :func:`assay.valuation.group_values` to value sources or groups.

    Examples
    --------
    >>> import numpy as np
    >>> from assay.valuation import knn_shapley
    >>> x = np.array([[0.0], [1.0], [10.0]])
    >>> y = np.array([0, 0, 1])
    >>> v = knn_shapley(x, y, np.array([[0.2]]), np.array([0]), k=1)
    >>> v.round(3).tolist()  # either near point alone predicts 0 correctly: they share the credit
    [0.5, 0.5, 0.0]
    """
    task = check_choice("task", task, _TASKS, owner=_OWNER)
    metric = check_choice("metric", metric, _METRICS, owner=_OWNER)
    x_tr = _features("x_train", x_train)
    y_tr = check_1d("y_train", y_train)
    _same_rows("x_train", x_tr, "y_train", y_tr)
    self_mode = x_test is None and y_test is None
    if self_mode:
        x_te, y_te = x_tr, y_tr
    else:
        if x_test is None or y_test is None:
            raise InputValidationError(
                "Pass both x_test and y_test, or neither (to value every row against the others). "
                f"Got x_test={'None' if x_test is None else 'an array'} and "
                f"y_test={'None' if y_test is None else 'an array'}."
            )
        x_te = _features("x_test", x_test)
        y_te = check_1d("y_test", y_test)
        _same_rows("x_test", x_te, "y_test", y_te)
        if x_te.shape[1] != x_tr.shape[1]:
            raise InputValidationError(
                f"x_test has {x_te.shape[1]} columns but x_train has {x_tr.shape[1]}. "
                "Pass test features in the same feature space as the training features."
            )
    n_players = x_tr.shape[0] - (1 if self_mode else 0)
    k = check_int("k", k, low=1, owner=_OWNER)
    if k > n_players:
        raise InvalidParameterError(
            "k", f"an int in the range [1, {n_players}] (the number of training points"
            + (" other than the test row itself)" if self_mode else ")"),
            k, owner=_OWNER, hint="Pass a smaller k or more training points.",
        )
    if truncate is not None:
        truncate = check_int("truncate", truncate, low=k, owner=_OWNER)
        if truncate >= n_players:
            truncate = None  # nothing to truncate: exact
    if chunk_size is not None:
        chunk_size = check_int("chunk_size", chunk_size, low=1, owner=_OWNER)
    if n_jobs is None:
        n_jobs = 1
    n_jobs = check_int("n_jobs", n_jobs, low=-1, owner=_OWNER)
    if n_jobs in (0, -1):
        import os

        n_jobs = os.cpu_count() or 1
    codes_tr, codes_te = _encode_targets(y_tr, y_te, task)
    if metric == "cosine":
        x_tr = _unit_rows(x_tr)
        x_te = x_tr if self_mode else _unit_rows(x_te)
    return _knn_shapley_values(
        x_tr, codes_tr, x_te, codes_te, k=k, task=task, truncate=truncate,
        chunk_size=chunk_size, self_mode=self_mode, n_jobs=n_jobs,
    )


def _features(name: str, x: Any) -> np.ndarray:
    """Validate a finite (N, d) matrix and return it as float64 (exact distances for ties)."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputValidationError(
            f"{name} must be a numeric (N, d) matrix; it could not be converted to float ({exc})."
        ) from exc
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputValidationError(
            f"{name} must be a non-empty 2-d array (rows x dimensions); got shape {arr.shape}. "
            "Reshape a single feature with x.reshape(-1, 1)."
        )
    if not np.all(np.isfinite(arr)):
        bad = int(np.sum(~np.isfinite(arr).all(axis=1)))
        raise InputValidationError(
            f"{name} has NaN or infinite values in {bad} row(s). Impute or drop them first."
        )
    return np.ascontiguousarray(arr)


def _same_rows(xname: str, x: np.ndarray, yname: str, y: np.ndarray) -> None:
    if x.shape[0] != y.shape[0]:
        raise InputValidationError(
            f"{xname} has {x.shape[0]} rows but {yname} has {y.shape[0]}. "
            "Pass one label per row, in the same order."
        )


def _encode_targets(y_tr: np.ndarray, y_te: np.ndarray, task: str) -> tuple[np.ndarray, np.ndarray]:
    if task == "regression":
        try:
            a = y_tr.astype(np.float64)
            b = y_te.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise InputValidationError(
                f"Regression targets must be numeric; they could not be converted ({exc}). "
                "Pass numbers, or use task='classification' for class labels."
            ) from exc
        if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
            raise InputValidationError(
                "Regression targets contain NaN or infinite values. Drop or impute those rows."
            )
        return a, b
    if y_tr.dtype.kind == "f" and np.isnan(y_tr).any():
        raise InputValidationError(
            "y_train contains missing labels (NaN). Drop unlabelled rows before valuing them."
        )
    both = np.concatenate([y_tr, y_te]) if y_tr.dtype == y_te.dtype else np.concatenate(
        [y_tr.astype(object), y_te.astype(object)]
    )
    try:
        classes, codes = np.unique(both, return_inverse=True)
    except TypeError as exc:
        raise InputValidationError(
            f"Labels could not be compared ({exc}). Pass labels of one type (all str or all int)."
        ) from exc
    if classes.size < 2:
        raise InputValidationError(
            f"The labels contain one class only ({classes[0]!r}); every point would get the same "
            "value. Pass data with at least two classes, or use task='regression' for targets."
        )
    codes = codes.astype(np.int32 if classes.size < 2**31 else np.int64)
    return codes[: y_tr.size], codes[y_tr.size :]


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return x / norms


def _knn_shapley_values(
    x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray, y_te: np.ndarray, *, k: int,
    task: str, truncate: int | None, chunk_size: int | None, self_mode: bool, n_jobs: int,
) -> np.ndarray:
    """Sum the per-test-point values over chunks of test points; return the mean.

    Each thread takes every ``n_jobs``-th chunk and reuses its own buffers: the (chunk, N)
    float64 keys and a :class:`~assay._kernels.knn_shapley.Workspace` of a few rows.
    """
    n, n_test = x_tr.shape[0], x_te.shape[0]
    half_sq = 0.5 * np.einsum("ij,ij->i", x_tr, x_tr)
    if chunk_size is None:
        chunk_size = max(_MIN_CHUNK, _CHUNK_ELEMENTS // n)
    chunk_size = min(chunk_size, n_test)
    starts = list(range(0, n_test, chunk_size))
    rows = min(chunk_size, max(1, _ROW_ELEMENTS // n))
    full_order = truncate is None or 8 * (truncate + 2) > n  # else a threshold selection

    def work(first: int) -> np.ndarray:
        keys = np.empty((chunk_size, n), dtype=np.float64)
        ws = Workspace(rows, n) if full_order else None
        total = np.zeros(n, dtype=np.float64)
        for start in starts[first::n_jobs]:
            stop = min(start + chunk_size, n_test)
            total += _chunk_values(x_tr, half_sq, y_tr, x_te[start:stop], y_te[start:stop],
                                   keys[: stop - start], ws, k=k, task=task, truncate=truncate,
                                   self_offset=start if self_mode else None)
        return total

    n_jobs = min(n_jobs, len(starts))
    if n_jobs > 1:
        from concurrent.futures import ThreadPoolExecutor  # numpy's kernels release the GIL

        from threadpoolctl import threadpool_limits

        # one BLAS thread per worker: n_jobs workers x all-core BLAS would oversubscribe
        with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(n_jobs) as pool:
            total = np.sum(list(pool.map(work, range(n_jobs))), axis=0)
    else:
        total = work(0)
    denom = n_test - 1 if self_mode else n_test
    return total / denom if denom > 0 else total


def _chunk_values(
    x_tr: np.ndarray, half_sq: np.ndarray, y_tr: np.ndarray, xq: np.ndarray, yq: np.ndarray,
    keys: np.ndarray, ws: Workspace | None, *, k: int, task: str, truncate: int | None,
    self_offset: int | None,
) -> np.ndarray:
    """Sum over a chunk of test points of their KNN-Shapley values, shape (N,).

    One BLAS product (into ``keys``) gives the sort keys of the chunk, ``|x|^2 / 2 - q.x`` in
    float64, which order the training points as ``|q - x|^2 = |q|^2 + 2 * key`` does; the rows
    are then valued a few at a time (``ws``), so their work arrays stay in cache.
    """
    n = x_tr.shape[0]
    np.matmul(xq, x_tr.T, out=keys)
    rows = ws.packed.shape[0] if ws is not None else min(len(xq), max(1, _ROW_ELEMENTS // n))
    total = np.zeros(n, dtype=np.float64)
    for a in range(0, len(xq), rows):
        b = min(a + rows, len(xq))
        np.subtract(half_sq, keys[a:b], out=keys[a:b])  # here, while these rows are in cache
        own = None if self_offset is None else np.arange(self_offset + a, self_offset + b)
        total += _rows_values(keys[a:b], y_tr, yq[a:b], k=k, task=task, truncate=truncate,
                              self_idx=own, ws=ws)
    return total


def _rows_values(
    keys: np.ndarray, y_tr: np.ndarray, yq: np.ndarray, *, k: int, task: str,
    truncate: int | None, self_idx: np.ndarray | None, ws: Workspace | None,
) -> np.ndarray:
    """Sum of the values of a few test rows, from their sort keys (s, N).

    ``ws`` is None when only the ``truncate + 1`` nearest are needed and they are few enough
    to select without ranking every training point.
    """
    n = keys.shape[1]
    # players ranked: all, or the T + 1 nearest (T + 2 counting the test row itself)
    m = n if truncate is None else truncate + 1 + (self_idx is not None)
    order = nearest(keys, m) if ws is None else rank_order(keys, ws)[:, :m]
    if self_idx is not None:
        order = drop_self(order, self_idx)
    if ws is not None and truncate is None and task == "classification":
        s, length = order.shape
        hits = ws.view("hits", s, length)
        for i in range(s):  # the 0/1 scores by rank: a one-byte gather per training point
            np.equal(y_tr, yq[i], out=ws.flags)
            np.take(ws.flags, order[i], out=hits[i], mode="clip")
        sums, tail = binary_value_sums(order, hits, k, n, ws)
    else:
        if task == "classification":
            f = (y_tr[order] == yq[:, None]).astype(np.float64)
        else:
            f = -((y_tr[order] - yq[:, None]) ** 2)
        sums, tail = value_sums(order, f, k, n, truncated=truncate is not None)
    sums -= tail.sum()  # every player of a row loses that row's G_L ...
    if self_idx is not None:
        sums[self_idx] += tail  # ... and the test row itself is not a player of its own row
    return sums
