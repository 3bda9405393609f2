"""Where does the model fail? Slices with a high error rate, and per-class error analysis.

- :func:`find_slices` tests slices of the data (each value of a categorical metadata column,
  quantile bins of a numeric one, k-means clusters of the embeddings) for an error rate above
  the rest of the data: a one-sided Fisher exact test per slice, Benjamini-Hochberg across all
  slices, reported with size, Wilson interval and effect. Every significant slice is reported,
  not only the worst.
- :func:`benjamini_hochberg`: the adjusted p-values (q-values) of the step-up procedure.
- :func:`normalized_confusion`: the confusion matrix with rows summing to one (recall per class).
- :func:`hardest_examples`: per class, the rows the model finds least like their given label.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from assay._kernels.ivf import assign_rows, kmeans
from assay._validation import (
    check_features,
    check_fraction,
    check_int,
    check_labels,
    check_pred_probs,
    check_predictions,
    check_random_state,
    check_same_length,
)
from assay.evaluation import wilson_interval
from assay.exceptions import InputValidationError

__all__ = [
    "benjamini_hochberg",
    "find_slices",
    "hardest_examples",
    "normalized_confusion",
]

_SLICE_COLUMNS = [
    "source", "kind", "slice", "size", "n_errors", "error_rate", "low", "high",
    "rest_error_rate", "effect", "p_value", "q_value", "flagged",
]


def benjamini_hochberg(p_values: Any) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values), in the input order.

    A hypothesis is rejected at false-discovery rate ``alpha`` when its q-value is at most
    ``alpha``.

    Parameters
    ----------
    p_values : array-like of shape (m,)

    Returns
    -------
    ndarray of shape (m,)

    Examples
    --------
    >>> from assay.slices import benjamini_hochberg
    >>> benjamini_hochberg([0.01, 0.04, 0.03, 0.5]).round(3).tolist()
    [0.04, 0.053, 0.053, 0.5]
    """
    p = np.asarray(p_values, dtype=np.float64).ravel()
    if p.size == 0:
        return p
    if np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise InputValidationError(
            "p_values must be finite numbers in [0, 1]. Check the tests that produced them."
        )
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    q_sorted = np.minimum.accumulate(scaled[::-1])[::-1]
    q = np.empty(m)
    q[order] = np.minimum(q_sorted, 1.0)
    return q


def find_slices(
    labels: Any,
    predictions: Any,
    *,
    meta: pd.DataFrame | None = None,
    features: Any = None,
    n_clusters: int | None = None,
    n_bins: int = 4,
    max_categories: int = 20,
    min_size: int = 20,
    alpha: float = 0.05,
    confidence: float = 0.95,
    random_state: Any = 0,
) -> pd.DataFrame:
    """Find slices of the data where the model errs more than elsewhere.

    Slices are each value of a categorical column of ``meta`` (up to ``max_categories`` most
    frequent values; missing values form a slice), ``n_bins`` quantile bins of each numeric
    column with more than ``max_categories`` distinct values, and ``n_clusters`` k-means
    clusters of ``features``. Each slice with at least ``min_size`` rows is tested against the
    rest of the data with a one-sided Fisher exact test (the hypergeometric tail of its error
    count); q-values control the false-discovery rate over all slices (Benjamini-Hochberg).

    Parameters
    ----------
    labels : array-like of shape (N,)
        Given classes ``0..K-1``.
    predictions : array-like of shape (N,) or (N, K)
        Predicted classes, or out-of-fold predicted probabilities (arg-max taken).
    meta : DataFrame, optional
        Metadata columns to slice by, one row per sample.
    features : array-like of shape (N, d), optional
        Embeddings to cluster.
    n_clusters : int, optional
        k-means clusters; default ``clip(N // 100, 2, 30)``.
    n_bins : int, default=4
        Quantile bins per numeric column.
    max_categories : int, default=20
        Most frequent values tested per categorical column.
    min_size : int, default=20
        Smallest slice tested.
    alpha : float, default=0.05
        False-discovery rate: a slice is flagged when its q-value is at most ``alpha`` and its
        error rate is above the rest's.
    confidence : float, default=0.95
        Level of the Wilson interval of each slice's error rate.
    random_state : int, Generator or None, default=0
        Seed of k-means.

    Returns
    -------
    pandas.DataFrame
        One row per tested slice: ``source`` (column name or ``"cluster"``), ``kind``
        (``category`` | ``bin`` | ``cluster``), ``slice`` (the value, bin or cluster id),
        ``size``, ``n_errors``, ``error_rate`` with its interval ``low`` / ``high``,
        ``rest_error_rate``, ``effect`` (the difference), ``p_value``, ``q_value``,
        ``flagged``. Flagged slices first, most significant first. ``attrs`` holds the overall
        error rate, the thresholds and, under ``"members"``, the row indices of each flagged
        slice (keyed by the row's index in the frame).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from assay.slices import find_slices
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 400)
    >>> place = np.repeat(["home", "car", "office", "street"], 100)
    >>> pred = y.copy()
    >>> wrong = (place == "car") & (rng.random(400) < 0.5)
    >>> pred[wrong] = 1 - pred[wrong]
    >>> res = find_slices(y, pred, meta=pd.DataFrame({"place": place}))
    >>> res.loc[res["flagged"], "slice"].tolist()
    ['car']
    """
    owner = "find_slices"
    y = check_labels(labels, min_classes=1)
    pred = check_predictions(predictions, n_rows=y.size)
    n = y.size
    n_bins = check_int("n_bins", n_bins, low=2, owner=owner)
    max_categories = check_int("max_categories", max_categories, low=1, owner=owner)
    min_size = check_int("min_size", min_size, low=1, owner=owner)
    alpha = check_fraction("alpha", alpha, owner=owner)
    confidence = check_fraction("confidence", confidence, owner=owner)
    rng = check_random_state(random_state)
    if meta is None and features is None:
        raise InputValidationError(
            "find_slices needs something to slice by: pass meta (a DataFrame of metadata "
            "columns) and/or features (embeddings to cluster)."
        )
    errors = pred != y
    slices: list[tuple[str, str, Any, np.ndarray]] = []
    if meta is not None:
        if not isinstance(meta, pd.DataFrame):
            raise InputValidationError(
                f"meta must be a pandas DataFrame of metadata columns; got {type(meta).__name__}."
            )
        check_same_length(labels=y, meta=meta)
        for col in meta.columns:
            slices.extend(_column_slices(meta[col], str(col), n_bins, max_categories))
    if features is not None:
        x = check_features(features, n_rows=n)
        k = n_clusters if n_clusters is not None else int(np.clip(n // 100, 2, 30))
        k = check_int("n_clusters", k, low=2, high=max(n - 1, 2), owner=owner)
        clusters = _kmeans(x, k, rng)
        for c in range(k):
            slices.append(("cluster", "cluster", c, np.flatnonzero(clusters == c)))
    slices = [s for s in slices if min_size <= s[3].size < n]
    total_errors = int(errors.sum())
    if not slices:
        out = pd.DataFrame(columns=_SLICE_COLUMNS)
    else:
        from scipy.stats import hypergeom

        size = np.array([s[3].size for s in slices])
        n_err = np.array([int(errors[s[3]].sum()) for s in slices])
        rate = n_err / size
        rest = (total_errors - n_err) / (n - size)
        low, high = wilson_interval(n_err, size, confidence=confidence)
        p = np.clip(hypergeom.sf(n_err - 1, n, total_errors, size), 0.0, 1.0)
        q = benjamini_hochberg(p)
        out = pd.DataFrame({
            "source": [s[0] for s in slices], "kind": [s[1] for s in slices],
            "slice": pd.Series([s[2] for s in slices], dtype=object), "size": size,
            "n_errors": n_err, "error_rate": rate, "low": low, "high": high,
            "rest_error_rate": rest, "effect": rate - rest, "p_value": p, "q_value": q,
            "flagged": (q <= alpha) & (rate > rest),
        })
        members = {
            int(i): slices[i][3].tolist() for i in np.flatnonzero(out["flagged"].to_numpy())
        }
        out = out.sort_values(
            ["flagged", "q_value", "effect"], ascending=[False, True, False], kind="stable"
        )
        out.attrs["members"] = members
    out.attrs.update({
        "error_rate": total_errors / n, "n_rows": n, "alpha": alpha, "min_size": min_size,
        "n_tested": len(slices), "test": "one-sided Fisher exact (hypergeometric tail), "
        "Benjamini-Hochberg over all tested slices",
    })
    return out


def _column_slices(
    values: pd.Series, name: str, n_bins: int, max_categories: int
) -> list[tuple[str, str, Any, np.ndarray]]:
    """The slices of one metadata column: categories, or quantile bins of numbers."""
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    missing = values.isna().to_numpy()
    out: list[tuple[str, str, Any, np.ndarray]] = []
    if numeric and values.nunique() > max_categories:
        binned = pd.qcut(values.astype(np.float64), q=n_bins, duplicates="drop")
        codes = binned.cat.codes.to_numpy()
        for c, interval in enumerate(binned.cat.categories):
            out.append((name, "bin", str(interval), np.flatnonzero(codes == c)))
    else:
        counts = values[~missing].astype(object).value_counts()
        for value in counts.index[:max_categories]:
            out.append((name, "category", value, np.flatnonzero(
                (values.astype(object) == value).to_numpy() & ~missing
            )))
    if missing.any():
        out.append((name, "category", "(missing)", np.flatnonzero(missing)))
    return out


def _kmeans(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means clusters of ``x``: Lloyd's algorithm (20 iterations) on at most 20,000 sampled
    rows, then every row assigned to its nearest centre."""
    n = x.shape[0]
    fit_rows = np.sort(rng.choice(n, size=20_000, replace=False)) if n > 20_000 else slice(None)
    xf = np.ascontiguousarray(x, dtype=np.float32)
    centres = kmeans(xf[fit_rows], k, n_iter=20, rng=rng)
    return assign_rows(xf, centres)[0]


def normalized_confusion(
    labels: Any, predictions: Any, *, n_classes: int | None = None
) -> np.ndarray:
    """Confusion matrix with rows (given classes) normalised to sum to one.

    Entry ``[i, j]`` is the share of rows labelled ``i`` predicted as ``j``; the diagonal is the
    recall of each class. Rows of classes absent from ``labels`` are all zero.

    Parameters
    ----------
    labels : array-like of shape (N,)
    predictions : array-like of shape (N,) or (N, K)
    n_classes : int, optional
        Default: one more than the largest class index seen.

    Returns
    -------
    ndarray of shape (K, K), float64

    Examples
    --------
    >>> from assay.slices import normalized_confusion
    >>> normalized_confusion([0, 0, 1, 1], [0, 1, 1, 1]).tolist()
    [[0.5, 0.5], [0.0, 1.0]]
    """
    y = check_labels(labels, min_classes=1)
    pred = check_predictions(predictions, n_rows=y.size)
    k = int(max(y.max(), pred.max())) + 1
    if n_classes is not None:
        k = check_int("n_classes", n_classes, low=k, owner="normalized_confusion")
    counts = np.bincount(y * k + pred, minlength=k * k).reshape(k, k).astype(np.float64)
    support = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, support, out=np.zeros_like(counts), where=support > 0)


def hardest_examples(labels: Any, pred_probs: Any, *, per_class: int = 5) -> pd.DataFrame:
    """The rows of each class that the model finds least like their given label.

    Parameters
    ----------
    labels : array-like of shape (N,)
    pred_probs : array-like of shape (N, K)
        Out-of-fold predicted probabilities.
    per_class : int, default=5

    Returns
    -------
    pandas.DataFrame
        Columns ``class``, ``row``, ``given_prob`` (probability of the given label, ascending
        within a class), ``predicted``, ``predicted_prob``.

    Examples
    --------
    >>> import numpy as np
    >>> from assay.slices import hardest_examples
    >>> probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    >>> hardest_examples([0, 0, 1, 1], probs, per_class=1)["row"].tolist()
    [1, 2]
    """
    y = check_labels(labels, min_classes=1)
    probs = check_pred_probs(pred_probs, n_rows=y.size)
    if y.max() >= probs.shape[1]:
        raise InputValidationError(
            f"labels go up to {int(y.max())} but pred_probs has {probs.shape[1]} columns. "
            "Pass one column per class."
        )
    per_class = check_int("per_class", per_class, low=1, owner="hardest_examples")
    given = probs[np.arange(y.size), y]
    order = np.lexsort((given, y))
    ys = y[order]
    starts = np.searchsorted(ys, ys, side="left")
    keep = order[(np.arange(ys.size) - starts) < per_class]
    pred = probs[keep].argmax(axis=1)
    return pd.DataFrame({
        "class": y[keep], "row": keep, "given_prob": given[keep], "predicted": pred,
        "predicted_prob": probs[keep, pred],
    })
