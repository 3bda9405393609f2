"""Where does the model fail? Slices with a high error rate, and per-class error analysis.

- :func:`find_slices` tests slices of the data (each value of a categorical metadata column,
  quantile bins of a numeric one, k-means clusters of the embeddings) for an error rate above
  the rest of the data: a one-sided Fisher exact test per slice, Benjamini-Hochberg across all
  slices, reported with size, Wilson interval and effect. Every significant slice is reported,
  not only the worst.
- :func:`describe_slices`: each slice in words, by the columns whose values differ most between
  it and the rest (standardised effect sizes), and a rule of at most two conditions (a depth-2
  decision tree) with its precision and recall against the slice's rows.
- :func:`benjamini_hochberg`: the adjusted p-values (q-values) of the step-up procedure.
- :func:`normalized_confusion`: the confusion matrix with rows summing to one (recall per class).
- :func:`hardest_examples`: per class, the rows the model finds least like their given label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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
    "describe_slices",
    "find_slices",
    "hardest_examples",
    "normalized_confusion",
    "slice_name",
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


def slice_name(source: Any, kind: Any, value: Any) -> str:
    """A row of :func:`find_slices` as a reader names it.

    Parameters
    ----------
    source, kind, value
        The row's ``source``, ``kind`` and ``slice``.

    Returns
    -------
    str
        ``cluster 14``, ``place = car`` or ``snr in (12.3, 16.8]``.

    Examples
    --------
    >>> from assay.slices import slice_name
    >>> slice_name("cluster", "cluster", 14), slice_name("place", "category", "car")
    ('cluster 14', 'place = car')
    """
    if kind == "cluster":
        return f"cluster {value}"
    return f"{source} {'in' if kind == 'bin' else '='} {value}"


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


#: Cohen's conventional "small" effect: a column below it does not describe a slice.
MIN_EFFECT = 0.2
#: Effects beyond this are reported as this (a column constant on both sides, differing).
_MAX_EFFECT = 10.0
#: Columns with the largest effects offered to the depth-2 tree.
_TREE_COLUMNS = 5


def describe_slices(
    table: pd.DataFrame,
    slices: Sequence[Any],
    *,
    max_features: int = 3,
    min_effect: float = MIN_EFFECT,
    max_categories: int = 50,
    max_rows: int = 50_000,
    random_state: Any = 0,
) -> list[dict[str, Any]]:
    """Describe slices of a table by the columns that separate them from the other rows.

    For each column an effect size compares the slice with the rest: Cohen's *d* for a numeric
    column (the difference of the means over the pooled standard deviation), Cohen's *h* for a
    categorical one (``2 asin sqrt(p_slice) - 2 asin sqrt(p_rest)`` for the value whose share
    differs most). Both are on the same scale (0.2 small, 0.5 medium, 0.8 large). The
    ``max_features`` columns with the largest absolute effect, at least ``min_effect``, describe
    the slice. A depth-2 decision tree on the five strongest columns then gives a rule of at most
    two conditions; the node that best matches the slice (highest F1) is reported with its
    precision and recall against the slice's rows, counted on every row.

    Parameters
    ----------
    table : pandas.DataFrame
        The columns to describe by (numeric, categorical or boolean), one row per sample.
        Columns of another type (dates, vectors) and categorical columns whose values are
        nearly all distinct (ids, free text) are left out.
    slices : sequence of array-like
        Each slice's rows: positional indices, or a boolean mask of length ``len(table)``.
    max_features : int, default=3
        Most columns named per slice.
    min_effect : float, default=0.2
        Smallest absolute effect that names a column.
    max_categories : int, default=50
        Most frequent values of a categorical column compared; the others count as one.
    max_rows : int, default=50,000
        Effects and the tree use at most this many rows per slice (half from the slice, half
        from the rest, drawn at random); sizes, precision and recall count every row.
    random_state : int, Generator or None, default=0
        Seed of that sample and of the tree.

    Returns
    -------
    list of dict
        One per slice, JSON-serialisable: ``size``; ``features``, strongest first, each with
        ``column``, ``kind`` (``numeric`` | ``category``), ``effect`` (signed: positive when
        the slice has higher values or more of ``value``), ``text`` and, for numbers,
        ``slice_median``, ``rest_median`` and ``slice_low`` / ``slice_high`` (the 5th and
        95th percentiles in the slice), for categories ``value``, ``slice_share`` and
        ``rest_share``; ``rule`` (None when no column separates the slice) with ``text``,
        ``rows`` (rows it selects), ``precision`` and ``recall``; ``text``, the description in
        one line; ``short``, the named columns only.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from assay.slices import describe_slices
    >>> rng = np.random.default_rng(0)
    >>> table = pd.DataFrame({"carat": rng.uniform(0.2, 3.0, 1000),
    ...                       "colour": rng.choice(["D", "E", "F"], 1000)})
    >>> big = table["carat"].to_numpy() >= 2.5
    >>> d = describe_slices(table, [big])[0]
    >>> d["features"][0]["column"], d["rule"]["text"], d["rule"]["precision"]
    ('carat', 'carat >= 2.5', 1.0)
    """
    owner = "describe_slices"
    if not isinstance(table, pd.DataFrame):
        raise InputValidationError(
            f"table must be a pandas DataFrame of the columns to describe by; got "
            f"{type(table).__name__}."
        )
    max_features = check_int("max_features", max_features, low=1, owner=owner)
    max_categories = check_int("max_categories", max_categories, low=1, owner=owner)
    max_rows = check_int("max_rows", max_rows, low=2, owner=owner)
    if isinstance(min_effect, bool) or not isinstance(min_effect, int | float | np.number) \
            or not np.isfinite(min_effect) or min_effect < 0:
        from assay.exceptions import InvalidParameterError

        raise InvalidParameterError("min_effect", "a number >= 0", min_effect, owner=owner)
    rng = check_random_state(random_state)
    n = len(table)
    masks = [_slice_mask(s, n, i) for i, s in enumerate(slices)]
    cols = _prepare_columns(table, max_categories)
    out = []
    for mask in masks:
        out.append(_describe_one(cols, mask, max_features=max_features,
                                 min_effect=float(min_effect), max_rows=max_rows, rng=rng))
    return out


@dataclass
class _Columns:
    """A table's describable columns: numbers as one float matrix, categories as codes."""

    num_names: list[str]
    num: np.ndarray  # (N, p) float64, NaN where missing
    cat_names: list[str]
    cat: np.ndarray  # (N, q) int64 codes, -1 missing; the last code of a column is "other"
    cat_values: list[list[Any]]  # the value of each code (the "other" code has None)


def _slice_mask(members: Any, n: int, i: int) -> np.ndarray:
    arr = np.asarray(members)
    if arr.dtype == bool:
        if arr.shape != (n,):
            raise InputValidationError(
                f"Slice {i} is a boolean mask of shape {arr.shape}, but the table has {n} rows. "
                "Pass one flag per row, or the rows' positions."
            )
        return arr
    if arr.size and (not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0 or arr.max() >= n):
        raise InputValidationError(
            f"Slice {i} must hold row positions in [0, {n}) or a boolean mask; got values of "
            f"type {arr.dtype} in [{arr.min()}, {arr.max()}]."
        )
    mask = np.zeros(n, dtype=bool)
    mask[arr.astype(np.int64).ravel()] = True
    return mask


def _prepare_columns(table: pd.DataFrame, max_categories: int) -> _Columns:
    """Encode each describable column once: numbers to floats, categories to codes."""
    n = len(table)
    num_names, num_cols, cat_names, cat_cols, cat_values = [], [], [], [], []
    for name in table.columns:
        col = table[name]
        if pd.api.types.is_bool_dtype(col) or not pd.api.types.is_numeric_dtype(col):
            if pd.api.types.is_datetime64_any_dtype(col) or pd.api.types.is_timedelta64_dtype(col):
                continue
            codes, uniques = pd.factorize(col, use_na_sentinel=True)
            if len(uniques) > max(0.5 * n, 1) or not all(
                    isinstance(v, str | bool | int | float | np.generic) for v in uniques[:100]):
                continue  # an id or free text, or cells holding vectors
            counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
            top = np.argsort(-counts, kind="stable")[:max_categories]
            remap = np.full(len(uniques), top.size, dtype=np.int64)
            remap[top] = np.arange(top.size)
            cat_cols.append(np.where(codes >= 0, remap[np.maximum(codes, 0)], -1))
            cat_names.append(str(name))
            cat_values.append([_plain_value(uniques[t]) for t in top]
                              + ([None] if top.size < len(uniques) else []))
        else:
            num_names.append(str(name))
            num_cols.append(col.to_numpy(dtype=np.float64, na_value=np.nan))
    num = np.column_stack(num_cols) if num_cols else np.empty((n, 0))
    cat = np.column_stack(cat_cols) if cat_cols else np.empty((n, 0), dtype=np.int64)
    return _Columns(num_names, num, cat_names, cat, cat_values)


def _plain_value(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _describe_one(cols: _Columns, mask: np.ndarray, *, max_features: int, min_effect: float,
                  max_rows: int, rng: np.random.Generator) -> dict[str, Any]:
    """One slice: effects on a sample, the strongest columns, the best depth-2 rule."""
    size = int(mask.sum())
    empty = {"size": size, "features": [], "rule": None, "text": "", "short": ""}
    if size == 0 or size == mask.size:
        return empty
    inside, outside = np.flatnonzero(mask), np.flatnonzero(~mask)
    half = max_rows // 2
    sample = np.sort(np.concatenate([
        inside if inside.size <= half else rng.choice(inside, half, replace=False),
        outside if outside.size <= half else rng.choice(outside, half, replace=False)]))
    m = mask[sample]
    found = _numeric_effects(cols, sample, m) + _category_effects(cols, sample, m)
    found.sort(key=lambda f: -abs(f["effect"]))
    named = [f for f in found if abs(f["effect"]) >= min_effect][:max_features]
    if not named:
        return empty
    for f in named:
        f["text"] = _feature_text(f)
    rule = _tree_rule(cols, [f for f in found if abs(f["effect"]) >= min_effect][:_TREE_COLUMNS],
                      sample, mask, rng)
    for f in found:
        f.pop("code", None)  # the tree's handle on a category, not a result
    text = "; ".join(f["text"] for f in named)
    if rule is not None:
        text += (f" · rule {rule['text']}: {rule['rows']:,} rows, precision "
                 f"{rule['precision']:.2f}, recall {rule['recall']:.2f}")
    return {"size": size, "features": named, "rule": rule, "text": text,
            "short": ", ".join(_short_text(f) for f in named)}


def _numeric_effects(cols: _Columns, sample: np.ndarray, m: np.ndarray) -> list[dict[str, Any]]:
    """Cohen's d of every numeric column (slice minus rest over the pooled sd), with medians."""
    if not cols.num_names:
        return []
    x = cols.num[sample]
    a, b = x[m], x[~m]
    with np.errstate(all="ignore"):
        ok = (np.isfinite(a).sum(0) >= 2) & (np.isfinite(b).sum(0) >= 2)
        a_mean, b_mean = np.nanmean(a, 0), np.nanmean(b, 0)
        pooled = np.sqrt((np.nanvar(a, 0, ddof=1) + np.nanvar(b, 0, ddof=1)) / 2)
        diff = a_mean - b_mean
        d = np.where(pooled > 0, diff / np.where(pooled > 0, pooled, 1.0),
                     np.sign(diff) * _MAX_EFFECT)
    d = np.clip(np.where(ok & np.isfinite(d), d, 0.0), -_MAX_EFFECT, _MAX_EFFECT)
    out = []
    for j in np.flatnonzero(d != 0):
        lo, med, hi = np.nanpercentile(a[:, j], [5, 50, 95])
        out.append({"column": cols.num_names[j], "kind": "numeric", "effect": float(d[j]),
                    "slice_median": float(med), "rest_median": float(np.nanmedian(b[:, j])),
                    "slice_mean": float(a_mean[j]), "rest_mean": float(b_mean[j]),
                    "slice_low": float(lo), "slice_high": float(hi)})
    return out


def _category_effects(cols: _Columns, sample: np.ndarray, m: np.ndarray) -> list[dict[str, Any]]:
    """Cohen's h of the value of each categorical column whose share differs most."""
    out = []
    for j, name in enumerate(cols.cat_names):
        codes = cols.cat[sample, j]
        k = len(cols.cat_values[j])
        ps = np.bincount(codes[m & (codes >= 0)], minlength=k) / max(int(m.sum()), 1)
        pr = np.bincount(codes[~m & (codes >= 0)], minlength=k) / max(int((~m).sum()), 1)
        h = 2 * np.arcsin(np.sqrt(ps)) - 2 * np.arcsin(np.sqrt(pr))
        if cols.cat_values[j] and cols.cat_values[j][-1] is None:
            h[-1] = 0.0  # "other values" names nothing
        best = int(np.argmax(np.abs(h)))
        if h[best] == 0:
            continue
        out.append({"column": name, "kind": "category", "effect": float(h[best]),
                    "value": cols.cat_values[j][best], "code": best,
                    "slice_share": float(ps[best]), "rest_share": float(pr[best])})
    return out


def _feature_text(f: dict[str, Any]) -> str:
    """``higher carat (median 2.3 vs 0.71; 90 % of the slice in 2.01-3.01)``."""
    col = f["column"]
    if f["kind"] == "category":
        word = "more" if f["effect"] > 0 else "fewer"
        return (f"{word} {col} = {f['value']} ({f['slice_share']:.0%} of the slice vs "
                f"{f['rest_share']:.0%} of the rest)")
    word = "higher" if f["effect"] > 0 else "lower"
    if f["slice_median"] != f["rest_median"]:
        centre = f"median {_num_text(f['slice_median'])} vs {_num_text(f['rest_median'])}"
    else:
        centre = f"mean {_num_text(f['slice_mean'])} vs {_num_text(f['rest_mean'])}"
    return (f"{word} {col} ({centre}; 90 % of the slice in {_num_text(f['slice_low'])} to "
            f"{_num_text(f['slice_high'])})")


def _short_text(f: dict[str, Any]) -> str:
    if f["kind"] == "category":
        return f"{f['column']} {'=' if f['effect'] > 0 else '!='} {f['value']}"
    return f"{'higher' if f['effect'] > 0 else 'lower'} {f['column']}"


def _num_text(v: float) -> str:
    """A number in at most three significant digits, without exponent for large values."""
    if not np.isfinite(v):
        return str(v)
    if float(v).is_integer() and abs(v) < 1e15:
        return f"{int(v):,}"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def _tree_rule(cols: _Columns, strongest: list[dict[str, Any]], sample: np.ndarray,
               mask: np.ndarray, rng: np.random.Generator) -> dict[str, Any] | None:
    """The node of a depth-2 tree (slice vs rest) that best matches the slice, as a rule."""
    if not strongest:
        return None
    from sklearn.tree import DecisionTreeClassifier

    full = [cols.num[:, cols.num_names.index(f["column"])] if f["kind"] == "numeric"
            else (cols.cat[:, cols.cat_names.index(f["column"])] == f["code"]).astype(np.float64)
            for f in strongest]
    x = np.column_stack([v[sample] for v in full])
    with np.errstate(all="ignore"):
        fill = np.nan_to_num(np.nanmedian(x, axis=0))
    x = np.where(np.isnan(x), fill, x)
    tree = DecisionTreeClassifier(
        max_depth=2, class_weight="balanced", min_samples_leaf=max(5, sample.size // 200),
        random_state=int(rng.integers(2**31 - 1)),
    ).fit(x, mask[sample])
    t = tree.tree_
    paths: list[list[tuple[int, bool, float]]] = []  # every node's path: leaves and the
    stack: list[tuple[int, list[tuple[int, bool, float]]]] = [(0, [])]  # first split's sides
    while stack:  # at most 7 nodes
        node, conds = stack.pop()
        paths.append(conds)
        if t.children_left[node] == -1:
            continue
        f, thr = int(t.feature[node]), float(t.threshold[node])
        stack.append((int(t.children_left[node]), [*conds, (f, False, thr)]))
        stack.append((int(t.children_right[node]), [*conds, (f, True, thr)]))
    size, best = int(mask.sum()), None
    for conds in paths:
        if not conds:
            continue
        sel = np.ones(mask.size, dtype=bool)
        for f, above, thr in conds:
            sel &= (full[f] > thr) if above else (full[f] <= thr)
        rows, hits = int(sel.sum()), int((sel & mask).sum())
        if hits == 0:
            continue
        precision, recall = hits / rows, hits / size
        score = 2 * precision * recall / (precision + recall)
        if best is None or score > best[0]:
            best = (score, conds, rows, precision, recall)
    if best is None or best[3] <= size / mask.size:  # no better than picking rows at random
        return None
    _, conds, rows, precision, recall = best
    text, conditions = _rule_text(conds, strongest, full)
    return {"text": text, "conditions": conditions, "rows": rows,
            "precision": float(precision), "recall": float(recall)}


def _rule_text(conds: list[tuple[int, bool, float]], strongest: list[dict[str, Any]],
               full: list[np.ndarray]) -> tuple[str, list[dict[str, Any]]]:
    """``carat >= 2.01 and clarity = I1``: thresholds snapped to values in the data."""
    bounds: dict[int, dict[str, float]] = {}
    for f, above, thr in conds:
        b = bounds.setdefault(f, {})
        if above:
            b["low"] = max(b.get("low", -np.inf), thr)
        else:
            b["high"] = min(b.get("high", np.inf), thr)
    parts, conditions = [], []
    for f, b in bounds.items():
        feat = strongest[f]
        col = feat["column"]
        if feat["kind"] == "category":
            op = "=" if "low" in b else "!="
            parts.append(f"{col} {op} {feat['value']}")
            conditions.append({"column": col, "op": op, "value": feat["value"]})
            continue
        v = full[f]
        lo = _snap(v[v > b["low"]], b["low"], np.min) if "low" in b else None
        hi = _snap(v[v <= b["high"]], b["high"], np.max) if "high" in b else None
        if lo is not None:
            conditions.append({"column": col, "op": ">=", "value": lo})
        if hi is not None:
            conditions.append({"column": col, "op": "<=", "value": hi})
        if lo is not None and hi is not None:
            parts.append(f"{_num_text(lo)} <= {col} <= {_num_text(hi)}")
        elif lo is not None:
            parts.append(f"{col} >= {_num_text(lo)}")
        elif hi is not None:
            parts.append(f"{col} <= {_num_text(hi)}")
    return " and ".join(parts), conditions


def _snap(values: np.ndarray, threshold: float, pick: Any) -> float:
    """The value in the data nearest a split threshold on its side (the threshold itself when
    that side holds no value: only filled-in missing values were there)."""
    return float(pick(values)) if values.size else float(threshold)


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
    probs = check_pred_probs(pred_probs, n_rows=y.size, copy=False)  # read only
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
