"""Exact (and truncated) KNN-Shapley values, Jia et al. (PVLDB 2019).

For one test point with label ``t`` and training points sorted by distance to it,
``alpha_1`` nearest ... ``alpha_N`` farthest, the utility of a coalition ``S`` is
``U(S) = (1/K) * sum_{k <= min(K, |S|)} f(alpha_k(S))`` with ``f(j) = 1[y_j == t]``
(classification) or ``f(j) = -(y_j - t)**2`` (regression). Its Shapley values follow from

    s_N = f(alpha_N) / N
    s_i = s_{i+1} + (f(alpha_i) - f(alpha_{i+1})) / max(K, i)

and the values of a test set are the mean over its points. The recursion is vectorised over a
chunk of test points at a time; memory is ``O(chunk * N)``, never ``N x n_test``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from assay._validation import check_1d, check_choice, check_int
from assay.exceptions import InputValidationError, InvalidParameterError

__all__ = ["knn_shapley"]

_OWNER = "knn_shapley"
_METRICS = ("euclidean", "cosine")
_TASKS = ("classification", "regression")
# elements per (chunk, N) work array: 2**23 float64 = 64 MiB; about five such arrays live at once
_CHUNK_ELEMENTS = 1 << 23


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
        Approximate mode: only the ``truncate`` nearest training points of each test point get
        a non-zero contribution (a partial sort instead of a full sort). Every value is then
        within ``1 / (truncate + 1)`` of the exact value (classification), or within
        ``max_j (y_j - y_test)**2 / (truncate + 1)`` (regression), because the exact
        contribution of the i-th nearest point, ``i >= K``, is bounded by ``max|f| / i``.
        Must be at least ``k``.
    chunk_size : int, optional
        Test points processed at once; by default chosen so a work array stays near 64 MiB.
    n_jobs : int, optional
        Threads over chunks of test points (numpy's sorts release the GIL); ``None`` or 1 runs
        in the calling thread, -1 uses every core. Memory grows with the number of threads.

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
    """Sum the per-test-point recursions over chunks of test points; return the mean."""
    n = x_tr.shape[0]
    sq_tr = np.einsum("ij,ij->i", x_tr, x_tr)
    if chunk_size is None:
        chunk_size = max(1, _CHUNK_ELEMENTS // n)
    n_test = x_te.shape[0]
    starts = list(range(0, n_test, chunk_size))

    def work(start: int) -> np.ndarray:
        stop = min(start + chunk_size, n_test)
        return _chunk_values(x_tr, sq_tr, y_tr, x_te[start:stop], y_te[start:stop], k=k,
                             task=task, truncate=truncate, self_offset=start if self_mode else None)

    if n_jobs > 1 and len(starts) > 1:
        from concurrent.futures import ThreadPoolExecutor  # numpy sorts release the GIL

        with ThreadPoolExecutor(max_workers=n_jobs) as pool:
            total = np.sum(list(pool.map(work, starts)), axis=0)
    else:
        total = np.zeros(n, dtype=np.float64)
        for start in starts:
            total += work(start)
    denom = n_test - 1 if self_mode else n_test
    return total / denom if denom > 0 else total


def _chunk_values(
    x_tr: np.ndarray, sq_tr: np.ndarray, y_tr: np.ndarray, xq: np.ndarray, yq: np.ndarray, *,
    k: int, task: str, truncate: int | None, self_offset: int | None,
) -> np.ndarray:
    """Sum over a chunk of test points of their KNN-Shapley values, shape (N,)."""
    n = x_tr.shape[0]
    c = xq.shape[0]
    d = _sq_distances(xq, x_tr, sq_tr)
    if self_offset is not None:  # the test row itself sorts first and is then dropped
        d[np.arange(c), np.arange(self_offset, self_offset + c)] = -np.inf
    order = _sorted_neighbours(d, truncate, drop_first=self_offset is not None)
    del d
    f = _neighbour_scores(y_tr[order], yq[:, None], task)
    n_players = n - (1 if self_offset is not None else 0)
    s = _recursion(f, k=k, n_players=n_players, truncated=truncate is not None)
    if truncate is not None:
        order = order[:, :truncate]
    return np.bincount(order.ravel(), weights=s.ravel(), minlength=n)


def _sq_distances(q: np.ndarray, x: np.ndarray, sq_x: np.ndarray) -> np.ndarray:
    """Sort keys (c, N) in float64: ``|x|^2 / 2 - q.x``, which orders the training points
    exactly as ``|q - x|^2 = |q|^2 + 2 * key`` does, in one pass over the block."""
    d = q @ x.T
    np.subtract(0.5 * sq_x[None, :], d, out=d)
    return d


def _sorted_neighbours(d: np.ndarray, truncate: int | None, *, drop_first: bool) -> np.ndarray:
    """Training indices sorted by distance per row, ties by index; the first ``truncate + 1``.

    A fast unstable sort runs first; rows that contain tied distances are sorted again with a
    stable sort, so the order is exactly "by distance, then by index".
    """
    extra = 1 if drop_first else 0
    if truncate is None:
        order = np.argsort(d, axis=1)
    else:
        m = truncate + 1 + extra
        part = np.sort(np.argpartition(d, m - 1, axis=1)[:, :m], axis=1)
        inner = np.argsort(np.take_along_axis(d, part, axis=1), axis=1, kind="stable")
        order = np.take_along_axis(part, inner, axis=1)
        return order[:, extra:] if drop_first else order
    ds = np.sort(d, axis=1)  # a second (vectorised) sort is cheaper than gathering d[order]
    tied = np.flatnonzero((ds[:, 1:] == ds[:, :-1]).any(axis=1))
    del ds
    if tied.size:
        order[tied] = np.argsort(d[tied], axis=1, kind="stable")
    return order[:, extra:] if drop_first else order


def _neighbour_scores(y_sorted: np.ndarray, y_query: np.ndarray, task: str) -> np.ndarray:
    if task == "classification":
        return (y_sorted == y_query).astype(np.float64)
    return -((y_sorted - y_query) ** 2)


def _recursion(f: np.ndarray, *, k: int, n_players: int, truncated: bool) -> np.ndarray:
    """Shapley values in sorted order, shape (c, L), from neighbour scores ``f`` (c, L).

    Exact (``L = N``): unrolling ``s_N = f_N / N``, ``s_i = s_{i+1} + (f_i - f_{i+1}) / max(K, i)``
    gives, for ranks ``i >= K``, ``s_i = f_i / i - sum_{j > i} f_j / (j (j - 1))``: one cumulative
    sum. Ranks below ``K`` follow the recursion from ``s_K``. Truncated (``L = T + 1``): the
    value of the (T+1)-th point is taken as 0, i.e. the suffix sum is cut at ``T + 1``, and
    the first ``T`` values are returned.
    """
    length = f.shape[1]
    rank = np.arange(1, length + 1, dtype=np.float64)
    w = np.zeros(length)
    w[1:] = 1.0 / (rank[1:] * (rank[1:] - 1.0))
    g = f * w
    if truncated:  # s_{T+1} := 0: s_i = f_i/i - sum_{i<j<=T} f_j/(j(j-1)) - f_{T+1}/T
        g[:, -1] = f[:, -1] / (rank[-1] - 1.0)
    # sum_{q > p} g_q = C_last - C_p with C the running sum (one contiguous pass, in place)
    np.cumsum(g, axis=1, out=g)
    s = f * (1.0 / rank)
    s += g
    s -= g[:, -1:]
    del g
    if truncated:
        s[:, -1] = 0.0
    kk = min(k, length)
    for p in range(kk - 2, -1, -1):  # ranks 1 .. K-1 (0-based p < K-1)
        s[:, p] = s[:, p + 1] + (f[:, p] - f[:, p + 1]) / k
    return s[:, :-1] if truncated else s
