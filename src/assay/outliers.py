"""Outliers from k-NN distances with a robust (interquartile) threshold.

The score is a row's mean distance to its k nearest neighbours. A tight group of junk rows
(twenty blank or faint images, say) has small distances to its own members, so with k = 10 it
looks like the densest part of the data. Such a group is detached in the k-NN graph: when an
undirected component of the graph holds at most ``DETACHED_MAX_SHARE`` of the rows (at least
``2 k``, at most ``DETACHED_MAX_ROWS``), its rows are scored by their mean distance to the k
nearest rows outside every such group (one batched search). Larger components are clusters,
not junk: well-separated classes of an embedding must not all become outliers.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from assay._kernels.ivf import row_norms
from assay._kernels.knn import normalise_rows, scan_topk, weak_components
from assay._validation import check_choice, check_features, check_int
from assay.exceptions import InputValidationError, InvalidParameterError
from assay.neighbors import KnnGraph, knn_graph, knn_query

__all__ = [
    "OutlierResult",
    "UnusualCombinations",
    "find_outliers",
    "find_unusual_combinations",
    "outlier_scores",
]

#: Flag rows whose mean k-NN distance exceeds Q3 + IQR_FACTOR * IQR (Datalab's 1.7).
IQR_FACTOR = 1.7
#: A k-NN graph component with at most this share of the rows (or 2k rows) is a detached group.
DETACHED_MAX_SHARE = 0.02
#: ... and never more than this many rows.
DETACHED_MAX_ROWS = 50
#: Detached rows up to which their distance to the rest is searched among all rows (see
#: ``_distance_to_rest``); beyond, among a copy of the other rows.
DETACHED_QUERY_MAX = 2_000


@dataclass(frozen=True)
class OutlierResult:
    """Outlier scores and flags.

    Attributes
    ----------
    score : ndarray of shape (N,)
        In (0, 1]; low means far from the data. ``exp(-ln2 * d / median(d))`` of the mean
        k-NN distance d, so a row at the median distance scores 0.5.
    is_outlier : ndarray of shape (N,), bool
    mean_distance : ndarray of shape (N,)
    threshold : float
        Mean-distance cut-off ``Q3 + 1.7 IQR``.
    detached : ndarray of shape (N,), bool
        Rows of a small detached group of the k-NN graph, scored by the distance to the rows
        outside their group.
    metric : str
        Distance of the k-NN graph used.
    score_threshold : float
        ``threshold`` on the score's scale: a row is flagged when its score is below it.
    """

    score: np.ndarray
    is_outlier: np.ndarray
    mean_distance: np.ndarray
    threshold: float
    detached: np.ndarray | None = None
    metric: str = ""
    score_threshold: float = float("nan")


def find_outliers(
    features: Any,
    *,
    knn: KnnGraph | None = None,
    k: int = 10,
    metric: str = "euclidean",
    iqr_factor: float = IQR_FACTOR,
) -> OutlierResult:
    """Score and flag outliers by their mean distance to the k nearest neighbours.

    Parameters
    ----------
    features : array-like of shape (N, d)
    knn : KnnGraph, optional
        A graph already built on ``features`` (reused; its metric is used).
    k : int, default=10
    metric : {"euclidean", "cosine"}, default="euclidean"
        Distance of the graph built here. Euclidean suits pixels and robustly scaled tables:
        a blank, faint or inverted image, or a row far out of range, differs in magnitude,
        which cosine ignores (and cosine gives a row near the origin an arbitrary direction).
        Cosine suits text and learned embeddings (``assay.data.featurize`` records which fits).
    iqr_factor : float, default=1.7
        Flag rows above ``Q3 + iqr_factor * (Q3 - Q1)`` of the mean distances.

    Returns
    -------
    OutlierResult

    Examples
    --------
    >>> import numpy as np
    >>> x = np.vstack([np.random.default_rng(0).normal(size=(50, 2)), [[40.0, 40.0]]])
    >>> r = find_outliers(x, k=5)
    >>> bool(r.is_outlier[-1]), int(r.score.argmin())
    (True, 50)
    """
    x = check_features(features)
    if not iqr_factor >= 0:
        raise InvalidParameterError("iqr_factor", "a float >= 0", iqr_factor, owner="find_outliers")
    metric = check_choice("metric", metric, ("euclidean", "cosine"), owner="find_outliers")
    graph = knn if knn is not None else knn_graph(x, k=min(k, x.shape[0] - 1), metric=metric)
    mean_d = _mean_distances(graph.distances)
    detached = np.zeros(x.shape[0], dtype=bool)
    max_size = max(2 * graph.k, min(int(DETACHED_MAX_SHARE * x.shape[0]), DETACHED_MAX_ROWS))
    for rows in _detached_groups(graph, max_size):
        detached[rows] = True
    if detached.any() and (~detached).sum() >= 1:
        rows = np.flatnonzero(detached)
        mean_d[rows] = _distance_to_rest(x, rows, detached, graph)
    q1, med, q3 = np.quantile(mean_d, [0.25, 0.5, 0.75])
    threshold = float(q3 + iqr_factor * (q3 - q1))
    scale = med if med > 0 else (mean_d.max() if mean_d.max() > 0 else 1.0)
    score = np.exp(-np.log(2.0) * mean_d / scale)
    score_threshold = float(np.exp(-np.log(2.0) * threshold / scale))
    return OutlierResult(score, mean_d > threshold, mean_d, threshold, detached, graph.metric,
                         score_threshold)


def _mean_distances(distances: np.ndarray, block: int = 65_536) -> np.ndarray:
    """Mean of each row's finite k-NN distances (NaN where none is finite), in float64, in row
    blocks (no N x k float64 copies)."""
    out = np.empty(distances.shape[0], dtype=np.float64)
    for start in range(0, distances.shape[0], block):
        d = distances[start:start + block].astype(np.float64)
        d[~np.isfinite(d)] = np.nan
        out[start:start + block] = np.nanmean(d, axis=1)
    return out


def _distance_to_rest(x: np.ndarray, rows: np.ndarray, detached: np.ndarray,
                      graph: KnnGraph) -> np.ndarray:
    """Mean distance of each detached row to its k nearest rows outside every detached group.

    Up to ``DETACHED_QUERY_MAX`` detached rows, the neighbours are searched among all rows in
    one bounded pass (``k + len(rows)`` of them) and the detached ones dropped (exact: at most
    ``len(rows)`` are detached), so no copy of the other rows, nor a unit-norm one, is made;
    beyond, among a copy of the other rows.
    """
    n_rest = int((~detached).sum())
    k_out = min(graph.k, n_rest)
    if rows.size > DETACHED_QUERY_MAX:
        _, dist = knn_query(x[~detached], x[rows], k=k_out, metric=graph.metric)
        return dist.astype(np.float64).mean(axis=1)
    queries, norms = x[rows], None
    if graph.metric == "cosine":  # unit queries; the rows are divided by their norms as read
        queries, norms = normalise_rows(queries), row_norms(x)
    idx, dist = scan_topk(queries, x, k=min(x.shape[0], k_out + rows.size), metric=graph.metric,
                          chunk=8_192, ref_norms=norms)
    keep = (idx >= 0) & ~detached[np.maximum(idx, 0)]
    # the first k_out kept neighbours of each row, in distance order
    rank = np.cumsum(keep, axis=1)
    take = keep & (rank <= k_out)
    return np.where(take, dist.astype(np.float64), 0.0).sum(axis=1) / k_out


def _detached_groups(graph: KnnGraph, max_size: int) -> list[np.ndarray]:
    """Rows of each undirected k-NN component with at most ``max_size`` rows (not the largest)."""
    roots, comp, sizes = np.unique(weak_components(graph.indices), return_inverse=True,
                                   return_counts=True)
    n_comp = roots.size
    if n_comp < 2:
        return []
    comp = comp.reshape(-1)
    largest = int(sizes.argmax())
    small = [c for c in range(n_comp) if c != largest and sizes[c] <= max_size]
    order = np.argsort(comp, kind="stable")
    bounds = np.r_[0, np.cumsum(sizes)]
    return [order[bounds[c]:bounds[c + 1]] for c in small]


def outlier_scores(
    features: Any, *, knn: KnnGraph | None = None, k: int = 10, metric: str = "euclidean"
) -> np.ndarray:
    """Outlier score per row in (0, 1]; low means far from its neighbours.

    Examples
    --------
    >>> import numpy as np
    >>> s = outlier_scores(np.array([[0.0], [0.1], [0.2], [9.0]]), k=1)
    >>> int(s.argmin())
    3
    """
    return find_outliers(features, knn=knn, k=k, metric=metric).score


# --------------------------------------------------------------------- unusual combinations
#: Flag rows whose log1p(score) exceeds Q3 + UNUSUAL_IQR_FACTOR * IQR (the outliers' 1.7) ...
UNUSUAL_IQR_FACTOR = 1.7
#: ... and whose score is at least this many times a typical surprise (about 1 for a row the
#: models predict as well as usual): without it, the interquartile rule alone flags 13 % of a
#: clean Gaussian table and precision was 0.23-0.46 on Benefits, Treatment, Participation.
MIN_UNUSUAL_SCORE = 10.0
#: Cap of a numeric column's surprise ((residual / robust scale) ** 2).
SURPRISE_CAP = 1e4
#: Floor of a predicted class probability (so -log p stays finite).
PROB_FLOOR = 1e-4
#: Boosting rounds of each per-column model.
UNUSUAL_MAX_ITER = 50
#: Columns fitted at once (threads; each model on one OpenMP thread).
UNUSUAL_MAX_THREADS = 4
#: Categories kept per column (the most frequent; the rest share one code), as the audit's
#: model input: HistGradientBoosting's native categories take at most 255 bins.
UNUSUAL_MAX_CATEGORIES = 250


@dataclass(frozen=True)
class UnusualCombinations:
    """Rows whose values are each plausible but unusual together (attribute-wise learning).

    Attributes
    ----------
    score : ndarray of shape (N,)
        Higher is more unusual: the predictability-weighted mean surprise of the row's values
        given its other columns (0 when no column is predictable from the others).
    is_unusual : ndarray of shape (N,), bool
        ``score > threshold``.
    threshold : float
        The larger of ``expm1(Q3 + 1.7 IQR)`` of ``log1p(score)`` and 10 (ten times a typical
        surprise).
    weights : dict of str to float
        Per scored column, how predictable it is from the others (0: not at all; 1: exactly).
    top_column : ndarray of shape (N,), object
        The column contributing most to the row's score ("" when the score is 0).
    expected : ndarray of shape (N,), object
        What the other columns predict for ``top_column`` (a number, or a category).
    columns : list of str
        The columns scored (the first ``max_columns`` usable ones).
    ignored_columns : list of str
        Columns not used: past ``max_columns``, constant, or an identifier (unique per row).
    sampled : ndarray of int
        The rows the models were fitted on (cross-fitted), in fitting order.
    fold : ndarray of shape (N,), int
        Each sampled row's fold; -1 for rows outside the sample (predicted by every fold's
        model, averaged).
    """

    score: np.ndarray
    is_unusual: np.ndarray
    threshold: float
    weights: dict[str, float]
    top_column: np.ndarray
    expected: np.ndarray
    columns: list[str]
    ignored_columns: list[str]
    sampled: np.ndarray
    fold: np.ndarray


def find_unusual_combinations(
    table: Any,
    *,
    categorical: Any = None,
    max_rows: int = 5000,
    n_folds: int = 3,
    max_columns: int = 30,
    random_state: int = 0,
    keys: Any = None,
) -> UnusualCombinations:
    """Score rows whose values are unusual together, each predicted from the other columns.

    A junk row whose every value is drawn independently from its column (plausible in every
    column, implausible as a combination) looks ordinary to neighbour methods. Here each column
    is predicted from the others (ALSO, Paulheim & Meusel 2015): a gradient-boosted regressor
    (numeric column) or classifier (categorical column), cross-fitted on a sample so that no
    row is predicted by a model that saw it. A row's surprise in a column is its squared
    residual over a robust scale (1.4826 MAD of the out-of-fold residuals, capped at 1e4), or
    ``-log p(value)`` over the mean ``-log prior``; the row's score is the mean surprise over
    its non-missing columns, weighted by how predictable each column is (numeric:
    ``max(0, 1 - RMSE / sd)``; categorical: ``max(0, 1 - CE / prior CE)``, out of fold).

    Parameters
    ----------
    table : DataFrame or array-like of shape (N, d)
        The rows. Missing values are allowed (a row skips the columns it lacks).
    categorical : list of column names or indices, or bool mask of shape (d,), optional
        Columns holding categories. Default: a DataFrame's non-numeric and boolean columns; no
        column of an array. A numeric column with only two values (a 0/1 flag) is always
        predicted as a category.
    max_rows : int, default=5000
        The models are fitted on a random sample of at most this many rows.
    n_folds : int, default=3
        Cross-fitting folds over the sample.
    max_columns : int, default=30
        Only the first ``max_columns`` usable columns are scored and used as predictors.
    random_state : int, default=0
        Seed of the sample and the folds.
    keys : array-like of shape (N,), optional
        One key per row (ids): the sample and the folds come from a seeded hash of the keys, so
        they do not depend on the order of the rows. Default: the row positions.

    Returns
    -------
    UnusualCombinations

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> a = rng.normal(size=300)
    >>> t = pd.DataFrame({"a": a, "b": 2 * a + rng.normal(0, 0.1, 300),
    ...                   "c": np.where(a > 0, "up", "down")})
    >>> t.loc[0, ["a", "b", "c"]] = [2.0, -4.0, "up"]  # b contradicts a
    >>> r = find_unusual_combinations(t)
    >>> int(r.score.argmax()), str(r.top_column[0])
    (0, 'b')
    """
    owner = "find_unusual_combinations"
    max_rows = check_int("max_rows", max_rows, low=20, owner=owner)
    n_folds = check_int("n_folds", n_folds, low=2, high=20, owner=owner)
    max_columns = check_int("max_columns", max_columns, low=2, owner=owner)
    random_state = check_int("random_state", random_state, low=0, owner=owner)
    cols, cat, names, decoders, ignored = _unusual_matrix(table, categorical, owner)
    n = cols[0].size if cols else _n_rows(table)
    ignored += names[max_columns:]
    cols, cat, names, decoders = (cols[:max_columns], cat[:max_columns], names[:max_columns],
                                  decoders[:max_columns])
    if len(cols) < 2:
        raise InputValidationError(
            f"find_unusual_combinations needs at least 2 usable columns (numeric, or categorical "
            f"with 2 or more values and not unique per row); found {len(cols)} "
            f"({', '.join(names) or 'none'}; not usable: {', '.join(ignored) or 'none'}). Pass a "
            "table with more columns.")
    if n < 20:
        raise InputValidationError(
            f"find_unusual_combinations needs at least 20 rows to cross-fit its models; got {n}. "
            "Pass more rows.")
    if keys is None:
        keys = np.arange(n)
    keys = np.asarray(keys, dtype=object)
    if keys.shape != (n,):
        raise InputValidationError(
            f"keys must hold one key per row: expected shape ({n},), got {keys.shape}. Pass the "
            "row ids (or leave keys=None for the row positions).")
    sampled, fold = _sample_folds(keys, max_rows, n_folds, random_state)
    x = np.column_stack(cols)
    cat_mask = np.array(cat, dtype=bool)
    contrib = np.zeros((n, len(cols)))
    present = ~np.isnan(x)
    weights: dict[str, float] = {}
    preds: list[np.ndarray] = []
    from concurrent.futures import ThreadPoolExecutor

    def fit_col(j: int) -> tuple[float, np.ndarray, np.ndarray]:
        fit = _fit_categorical if cat_mask[j] else _fit_numeric
        return fit(x, j, cat_mask, sampled, fold, n_folds, random_state)

    # Columns in threads: the boosting's fit and predict loops release the GIL.
    workers = max(1, min(len(cols), os.cpu_count() or 1, UNUSUAL_MAX_THREADS))
    with warnings.catch_warnings(), ThreadPoolExecutor(workers) as pool:
        # a column of many rare categories (a sample code in a small table) makes scikit-learn
        # guess it is a regression target; its predictability weight already says so (~0)
        warnings.filterwarnings("ignore", message="The number of unique classes is greater",
                                category=UserWarning)
        fitted = list(pool.map(fit_col, range(len(cols))))
    for j, (w, surprise, expected) in enumerate(fitted):
        weights[names[j]] = w
        contrib[:, j] = w * np.where(present[:, j], surprise, 0.0)
        preds.append(expected)
    wsum = present.astype(float) @ np.array([weights[c] for c in names])
    score = np.divide(contrib.sum(axis=1), wsum, out=np.zeros(n), where=wsum > 0)
    logs = np.log1p(score)
    q1, q3 = np.quantile(logs, [0.25, 0.75])
    threshold = max(float(np.expm1(q3 + UNUSUAL_IQR_FACTOR * (q3 - q1))), MIN_UNUSUAL_SCORE)
    top = contrib.argmax(axis=1)
    has = contrib.max(axis=1) > 0
    top_column = np.where(has, np.asarray(names, dtype=object)[top], "")
    expected = np.empty(n, dtype=object)
    for j in range(len(cols)):
        rows = has & (top == j)
        got = preds[j][rows]
        expected[rows] = decoders[j][got.astype(int)] if cat_mask[j] else got
    return UnusualCombinations(score, score > threshold, threshold, weights, top_column,
                               expected, list(names), ignored, sampled, fold)


def _n_rows(table: Any) -> int:
    return len(table) if hasattr(table, "__len__") else 0


def _unusual_matrix(
    table: Any, categorical: Any, owner: str
) -> tuple[list[np.ndarray], list[bool], list[str], list[Any], list[str]]:
    """(float columns, is-categorical, names, code decoders, ignored names) of ``table``:
    categories become codes by descending frequency (NaN for missing)."""
    import pandas as pd

    if isinstance(table, pd.DataFrame):
        frame = table
    else:
        arr = np.asarray(table)
        if arr.ndim != 2:
            raise InputValidationError(
                f"table must be a DataFrame or a 2-D array (rows x columns); got an array of "
                f"shape {arr.shape}. Pass one row per sample and one column per variable.")
        frame = pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])
    names = [str(c) for c in frame.columns]
    if categorical is None:
        is_cat = [not pd.api.types.is_numeric_dtype(frame[c]) or
                  pd.api.types.is_bool_dtype(frame[c]) for c in frame.columns]
    else:
        mask = np.asarray(categorical)
        if mask.dtype == bool:
            if mask.shape != (len(names),):
                raise InvalidParameterError(
                    "categorical", f"a bool mask with one entry per column ({len(names)})",
                    f"a mask of shape {mask.shape}", owner=owner)
            is_cat = mask.tolist()
        else:
            pos = {name: i for i, name in enumerate(names)}
            is_cat = [False] * len(names)
            for c in np.atleast_1d(mask).tolist():
                i = pos.get(str(c), c if isinstance(c, int) and 0 <= c < len(names) else None)
                if i is None:
                    from assay._validation import did_you_mean

                    raise InvalidParameterError(
                        "categorical", "column names or indices of the table ("
                        + ", ".join(names[:10]) + (" ..." if len(names) > 10 else "") + ")",
                        c, owner=owner, hint=did_you_mean(str(c), names).strip())
                is_cat[i] = True
    cols: list[np.ndarray] = []
    cat: list[bool] = []
    kept: list[str] = []
    decoders: list[Any] = []
    ignored: list[str] = []
    n = len(frame)
    for name, c, categ in zip(names, frame.columns, is_cat, strict=True):
        col = frame[c]
        if categ:
            values = col.astype("string")
            counts = values.value_counts(dropna=True)
            if len(counts) < 2 or (len(counts) > 0.9 * n and len(counts) > 50):
                ignored.append(name)
                continue
            k = min(len(counts), UNUSUAL_MAX_CATEGORIES)
            rank = pd.Series(np.minimum(np.arange(len(counts)), k - 1), index=counts.index)
            codes = values.map(rank).astype("Float64").to_numpy(dtype=np.float64,
                                                                  na_value=np.nan)
            labels = counts.index[:k].astype(object).to_numpy()
            if len(counts) > k:
                labels[-1] = "(a rare value)"
            cols.append(codes)
            decoders.append(labels)
        else:
            try:
                v = np.array(pd.to_numeric(col).to_numpy(dtype=np.float64, na_value=np.nan))
            except (TypeError, ValueError) as exc:
                raise InputValidationError(
                    f"Column '{name}' holds non-numbers but is not listed in categorical. Add "
                    f"it to categorical=[...] or convert it to numbers. ({exc})") from None
            v[~np.isfinite(v)] = np.nan
            distinct = np.unique(v[~np.isnan(v)])
            if distinct.size < 2:
                ignored.append(name)
                continue
            if distinct.size == 2:  # a flag: predicted as a category (a regression's residual
                categ = True        # scale on 0/1 values is meaningless)
                decoders.append(distinct.astype(object))
                cols.append(np.where(np.isnan(v), np.nan, (v == distinct[1]).astype(float)))
            else:
                cols.append(v)
                decoders.append(None)
        cat.append(bool(categ))
        kept.append(name)
    return cols, cat, kept, decoders, ignored


def _sample_folds(keys: np.ndarray, max_rows: int, n_folds: int,
                  random_state: int) -> tuple[np.ndarray, np.ndarray]:
    """The sampled rows (the ``max_rows`` smallest seeded key hashes, in hash order) and each
    row's fold (dealt round-robin in that order; -1 outside the sample)."""
    import pandas as pd

    hash_key = f"assay-also-{random_state:05d}"[-16:].rjust(16, "0")
    values = pd.Series(keys).astype(str).to_numpy(dtype=object)
    hashed = pd.util.hash_array(values, hash_key=hash_key, categorize=False)
    sampled = np.argsort(hashed, kind="stable")[:max_rows]
    fold = np.full(keys.size, -1, dtype=np.int64)
    fold[sampled] = np.arange(sampled.size) % n_folds
    return sampled, fold


def _fold_fits(x: np.ndarray, j: int, cat_mask: np.ndarray, sampled: np.ndarray,
               fold: np.ndarray, n_folds: int, random_state: int,
               classifier: bool) -> list[tuple[np.ndarray, np.ndarray, Any]]:
    """Per fold: (training rows, held-out rows, fitted model) predicting column j from the
    others, on the sampled rows where column j is present."""
    # one OpenMP thread per model (assay.models' wrappers): spinning OpenMP threads
    # oversubscribe a busy machine, and the columns are fitted in threads already
    from assay.models import HGBClassifier, HGBRegressor

    others = np.delete(np.arange(x.shape[1]), j)
    cat_x = cat_mask[others]
    rows = sampled[~np.isnan(x[sampled, j])]
    out = []
    for k in range(n_folds):
        train, held = rows[fold[rows] != k], rows[fold[rows] == k]
        params: dict[str, Any] = {"max_iter": UNUSUAL_MAX_ITER, "early_stopping": False,
                                  "random_state": random_state,
                                  "categorical_features": cat_x if cat_x.any() else None}
        y = x[train, j]
        if classifier and np.unique(y).size < 2:
            model: Any = _Constant(y[0] if y.size else 0.0)
        elif not classifier and y.size < 2:
            model = _Constant(float(y.mean()) if y.size else 0.0, proba=False)
        else:
            model = (HGBClassifier if classifier else HGBRegressor)(**params)
            model.fit(x[np.ix_(train, others)], y)
        out.append((train, held, model))
    return out


class _Constant:
    """A fold model for a training fold with a single class (or too few rows)."""

    def __init__(self, value: float, proba: bool = True) -> None:
        self.classes_ = np.array([value])
        self.value = value

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.full(x.shape[0], self.value)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return np.ones((x.shape[0], 1))


def _out_of_fold(x: np.ndarray, j: int, fits: list[tuple[np.ndarray, np.ndarray, Any]],
                 fold: np.ndarray, predict: Any) -> tuple[np.ndarray, np.ndarray]:
    """Predictions for every row with column j present: out of fold for the sampled rows, the
    mean of the fold models for the others; and the mask of out-of-fold rows."""
    others = np.delete(np.arange(x.shape[1]), j)
    n = x.shape[0]
    present = ~np.isnan(x[:, j])
    rest = np.flatnonzero(present & (fold < 0))
    pred: np.ndarray | None = None
    for _, held, model in fits:
        for rows, share in ((held, 1.0), (rest, 1.0 / len(fits))):
            if rows.size == 0:
                continue
            p = predict(model, x[np.ix_(rows, others)])
            if pred is None:
                pred = np.zeros((n, *p.shape[1:]))
            pred[rows] += share * p
    if pred is None:  # no row with column j present
        pred = np.zeros(n)
    oof = present & (fold >= 0)
    return pred, oof


def _fit_numeric(x: np.ndarray, j: int, cat_mask: np.ndarray, sampled: np.ndarray,
                 fold: np.ndarray, n_folds: int,
                 random_state: int) -> tuple[float, np.ndarray, np.ndarray]:
    """(weight, surprise per row, predicted value per row) of numeric column j."""
    fits = _fold_fits(x, j, cat_mask, sampled, fold, n_folds, random_state, classifier=False)
    pred, oof = _out_of_fold(x, j, fits, fold, lambda m, a: m.predict(a))
    v = np.nan_to_num(x[:, j])
    resid = v - pred
    r = resid[oof]
    if r.size < 2:
        return 0.0, np.zeros(v.size), pred
    scale = 1.4826 * float(np.median(np.abs(r - np.median(r))))
    if scale <= 0:
        scale = float(np.std(r)) or 1e-12
    sd = float(np.std(v[oof]))
    weight = max(0.0, 1.0 - float(np.sqrt(np.mean(r ** 2))) / sd) if sd > 0 else 0.0
    surprise = np.minimum((resid / scale) ** 2, SURPRISE_CAP)
    return weight, surprise, pred


def _fit_categorical(x: np.ndarray, j: int, cat_mask: np.ndarray, sampled: np.ndarray,
                     fold: np.ndarray, n_folds: int,
                     random_state: int) -> tuple[float, np.ndarray, np.ndarray]:
    """(weight, surprise per row, predicted code per row) of categorical column j."""
    codes = x[:, j]
    n_codes = int(np.nanmax(codes)) + 1

    def proba(model: Any, a: np.ndarray) -> np.ndarray:
        full = np.zeros((a.shape[0], n_codes))
        full[:, np.asarray(model.classes_, dtype=int)] = model.predict_proba(a)
        return full

    fits = _fold_fits(x, j, cat_mask, sampled, fold, n_folds, random_state, classifier=True)
    p, oof = _out_of_fold(x, j, fits, fold, proba)
    y = np.nan_to_num(codes).astype(int)
    p_true = np.clip(p[np.arange(y.size), y], PROB_FLOOR, 1.0)
    nll = -np.log(p_true)
    prior = np.bincount(y[oof], minlength=n_codes) / max(int(oof.sum()), 1)
    base = float(np.mean(-np.log(np.clip(prior[y[oof]], PROB_FLOOR, 1.0)))) if oof.any() else 0
    if base <= 0:
        return 0.0, np.zeros(y.size), p.argmax(axis=1).astype(float)
    weight = max(0.0, 1.0 - float(nll[oof].mean()) / base)
    return weight, nll / base, p.argmax(axis=1).astype(float)
