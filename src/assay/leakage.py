"""Leakage: what crosses a split, and which columns encode the target.

Three public functions:

- :func:`find_leakage` lists the pairs of rows in different splits that are exact copies,
  near copies (distance under a threshold relative to the data's typical nearest-neighbour
  distance) or members of one group (a patient, a speaker, a source document).
- :func:`leakage_summary` turns those pairs into one row per split pair: how much of the later
  (evaluation) split is leaked.
- :func:`find_target_leakage` screens the columns of a table for features that predict the label
  too well on their own, identifier columns whose order tracks the label, and text columns that
  spell out the label.

The near-duplicate threshold
----------------------------
A pair is a *near* copy when its distance is at most ``near_factor`` times the median distance
from a row to its nearest other row (over all rows, same metric). cleanlab's Datalab uses the
same rule with a factor of 0.13 for its within-dataset near duplicates; assay's default,
``NEAR_FACTOR = 0.35``, was chosen on ``benchmarks/leakage.py`` (digits, MNIST-1D and a
templated text set with perturbed copies injected across splits; see
``docs/benchmarks/leakage.md``): at 0.13, 41 % of the one-word edits of the text set were
missed, while natural nearest neighbours seldom come closer than 0.35 times the median. The
factor was tuned on that benchmark, so its figures there are in-sample. The threshold, the
median and the factor are reported in ``DataFrame.attrs``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from assay._validation import (
    check_1d,
    check_choice,
    check_features,
    check_int,
    check_random_state,
    check_same_length,
    did_you_mean,
)
from assay.exceptions import InputValidationError, InvalidParameterError

__all__ = [
    "NEAR_FACTOR",
    "find_leakage",
    "find_target_leakage",
    "leakage_summary",
]

#: Default multiple of the median nearest-neighbour distance under which a pair is a near copy.
NEAR_FACTOR = 0.35

_KINDS = ("exact", "near", "group")
_METRICS = ("cosine", "euclidean")
# Canonical order of common split names: earlier splits are the reference ("i") side.
_SPLIT_RANK = {
    "train": 0, "training": 0, "trn": 0,
    "valid": 1, "val": 1, "validation": 1, "dev": 1, "development": 1,
    "test": 2, "testing": 2, "tst": 2, "holdout": 2, "eval": 2,
}
_COLUMNS = ["i", "j", "split_i", "split_j", "kind", "distance"]


# --------------------------------------------------------------------------------------------
# Shared helpers (also used by assay.splits)
# --------------------------------------------------------------------------------------------
def _split_codes(
    split: Any, *, splits: Sequence[Any] | None, owner: str, name: str = "split"
) -> tuple[np.ndarray, list[str]]:
    """Encode split names as 0..S-1 in reference-first order; rows outside ``splits`` get -1."""
    arr = check_1d(name, split)
    values = pd.Series(arr, dtype=object)
    if values.isna().any():
        bad = int(values.isna().sum())
        raise InputValidationError(
            f"The {name} column has {bad} missing value(s). Every row needs a split name "
            "(e.g. 'train', 'valid', 'test'); fill them or drop those rows."
        )
    text = values.astype(str).to_numpy()
    present = list(dict.fromkeys(text.tolist()))
    if splits is None:
        order = sorted(present, key=lambda s: (_SPLIT_RANK.get(s.lower(), 3), present.index(s)))
    else:
        order = [str(s) for s in splits]
        if len(set(order)) != len(order):
            raise InvalidParameterError(
                "splits", "a list of distinct split names", list(splits), owner=owner
            )
        for s in order:
            if s not in present:
                raise InvalidParameterError(
                    "splits",
                    "split names that occur in the data (" + ", ".join(present) + ")",
                    s,
                    owner=owner,
                    hint=(did_you_mean(s, present) + " Pass names from the split column.").strip(),
                )
    if len(order) < 2:
        raise InputValidationError(
            f"The {name} column has only one value ({present[0]!r}); leakage needs at least two "
            "splits. Pass the column that assigns rows to train / valid / test, or create one "
            "with assay.make_splits(...)."
        )
    lookup = {s: c for c, s in enumerate(order)}
    codes = np.fromiter((lookup.get(s, -1) for s in text), dtype=np.int64, count=text.size)
    return codes, order


def _group_codes(group: Any, *, n_rows: int, owner: str) -> np.ndarray:
    """Encode group ids as 0..G-1; missing values are an error (they would silently merge)."""
    arr = check_1d("group", group)
    check_same_length(rows=np.empty(n_rows), group=arr)
    codes, _ = pd.factorize(pd.Series(arr, dtype=object), use_na_sentinel=True)
    if (codes < 0).any():
        bad = int((codes < 0).sum())
        raise InputValidationError(
            f"group has {bad} missing value(s). A missing group cannot be checked for leakage. "
            "Give each such row its own group (e.g. its row id) or drop those rows."
        )
    return codes.astype(np.int64)


def _exact_codes(x: np.ndarray) -> np.ndarray:
    """Codes 0..U-1 such that two rows share a code iff their float32 values are identical."""
    x = np.ascontiguousarray(x + np.float32(0.0))  # -0.0 and 0.0 become the same bytes
    rows = x.view(np.dtype((np.void, x.dtype.itemsize * x.shape[1]))).ravel()
    _, inverse = np.unique(rows, return_inverse=True)
    return inverse.astype(np.int64).ravel()


def _raw_codes(raw: Any, *, n_rows: int) -> np.ndarray:
    """Codes such that two rows share a code iff their raw values hash alike (64-bit hash)."""
    frame = raw if isinstance(raw, pd.DataFrame) else pd.DataFrame(
        {"raw": raw} if np.ndim(raw) == 1 else np.asarray(raw)
    )
    if len(frame) != n_rows:
        raise InputValidationError(
            f"raw has {len(frame)} rows but features has {n_rows}. Pass the raw values "
            "(text, file contents, original columns) of the same rows, in the same order."
        )
    hashes = pd.util.hash_pandas_object(frame.astype(str), index=False).to_numpy()
    _, inverse = np.unique(hashes, return_inverse=True)
    return inverse.astype(np.int64).ravel()


def _code_pairs(
    codes: np.ndarray, rows_a: np.ndarray, rows_b: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i in rows_a, j in rows_b) with equal non-negative codes, at most k per j."""
    rows_a = rows_a[codes[rows_a] >= 0]
    rows_b = rows_b[codes[rows_b] >= 0]
    order = np.lexsort((rows_a, codes[rows_a]))
    a_sorted = rows_a[order]
    ca = codes[a_sorted]
    cb = codes[rows_b]
    lo = np.searchsorted(ca, cb, side="left")
    cnt = np.minimum(np.searchsorted(ca, cb, side="right") - lo, k)
    total = int(cnt.sum())
    j = np.repeat(rows_b, cnt)
    offsets = np.arange(total) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    i = a_sorted[np.repeat(lo, cnt) + offsets]
    return i.astype(np.int64), j.astype(np.int64)


def _pair_distances(x: np.ndarray, i: np.ndarray, j: np.ndarray, metric: str) -> np.ndarray:
    """Distances between rows ``x[i]`` and ``x[j]``, in chunks."""
    out = np.empty(i.size, dtype=np.float64)
    for start in range(0, i.size, 65536):
        a = x[i[start:start + 65536]].astype(np.float64)
        b = x[j[start:start + 65536]].astype(np.float64)
        if metric == "euclidean":
            out[start:start + 65536] = np.linalg.norm(a - b, axis=1)
        else:
            na = np.linalg.norm(a, axis=1)
            nb = np.linalg.norm(b, axis=1)
            denom = np.where((na == 0) | (nb == 0), 1.0, na * nb)
            cos = np.einsum("ij,ij->i", a, b) / denom
            out[start:start + 65536] = np.clip(1.0 - cos, 0.0, 2.0)
    return out


def _near_threshold(
    x: np.ndarray, *, metric: str, near_factor: float, near_threshold: float | None,
    knn: Any = None,
) -> dict[str, Any]:
    """The near-copy distance threshold and where it came from."""
    if near_threshold is not None:
        return {
            "near_threshold": float(near_threshold), "near_factor": None,
            "median_nn_distance": None, "metric": metric,
            "source": "near_threshold given by the caller",
        }
    if knn is not None:
        nn = np.asarray(knn.distances)[:, 0]
        source = "shared k-NN graph"
    else:
        from assay.neighbors import knn_graph

        nn = knn_graph(x, k=1, metric=metric, method="auto").distances[:, 0]
        source = "1-NN over all rows (exact up to 20,000 rows)"
    median = float(np.median(nn))
    return {
        "near_threshold": near_factor * median, "near_factor": near_factor,
        "median_nn_distance": median, "metric": metric,
        "source": f"near_factor x median nearest-neighbour distance ({source}); "
                  "the rule of cleanlab Datalab's near_duplicate check (factor 0.13 there)",
    }


def _duplicate_edges(
    x: np.ndarray, *, metric: str, near_factor: float, near_threshold: float | None, k: int
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Edges (i, j) of the within-data duplicate graph: exact copies and near copies."""
    from assay.neighbors import knn_graph

    n = x.shape[0]
    codes = _exact_codes(x)
    order = np.argsort(codes, kind="stable")
    same = codes[order][1:] == codes[order][:-1]
    ei, ej = order[:-1][same], order[1:][same]  # chain identical rows together
    k = min(k, n - 1)
    graph = knn_graph(x, k=k, metric=metric, method="auto")
    info = _near_threshold(
        x, metric=metric, near_factor=near_factor, near_threshold=near_threshold, knn=graph
    )
    close = graph.distances <= info["near_threshold"]
    rows = np.repeat(np.arange(n), k)[close.ravel()]
    cols = graph.indices.ravel()[close.ravel()]
    return np.concatenate([ei, rows]), np.concatenate([ej, cols]), info


# --------------------------------------------------------------------------------------------
# Cross-split leakage
# --------------------------------------------------------------------------------------------
def find_leakage(
    features: Any,
    split: Any,
    *,
    group: Any = None,
    raw: Any = None,
    splits: Sequence[Any] | None = None,
    metric: str = "cosine",
    near_factor: float = NEAR_FACTOR,
    near_threshold: float | None = None,
    k: int = 5,
    kinds: Sequence[str] = _KINDS,
    knn: Any = None,
) -> pd.DataFrame:
    """Find rows that leak between splits: exact copies, near copies and shared groups.

    For every pair of splits ``(a, b)`` with ``a`` before ``b`` (train before valid before
    test; other names in order of appearance), each row ``j`` of ``b`` is matched against the
    rows ``i`` of ``a``:

    - ``exact``: identical feature rows, or identical raw content when ``raw`` is given
      (a 64-bit hash of the row's raw values); distance 0.
    - ``near``: not exact, and at distance at most ``near_threshold`` among the ``k`` nearest
      rows of ``a`` (exact blocked search). By default the threshold is ``near_factor`` times
      the median nearest-neighbour distance over all rows (cleanlab's rule; see the module
      docstring for the factor).
    - ``group``: the same value of ``group``; the distance between the two rows is reported.

    Parameters
    ----------
    features : array-like of shape (N, d)
        Numeric features or embeddings.
    split : array-like of shape (N,)
        Split name of each row (any names; at least two distinct).
    group : array-like of shape (N,), optional
        Group id of each row (patient, speaker, source). No missing values.
    raw : DataFrame, Series or array of shape (N,) or (N, m), optional
        Raw content (text, file bytes' hash, original columns) for exact matching.
    splits : sequence of str, optional
        Splits to compare, in reference-first order. Default: every split in the data.
    metric : {"cosine", "euclidean"}, default="cosine"
        Distance for near copies (ignored in favour of ``knn.metric`` when ``knn`` is given).
    near_factor : float, default=NEAR_FACTOR
        Multiple of the median nearest-neighbour distance that makes the threshold.
    near_threshold : float, optional
        An absolute distance threshold; overrides ``near_factor``.
    k : int, default=5
        At most this many partners per row, split pair and kind.
    kinds : sequence of {"exact", "near", "group"}, default all
        Which leak kinds to look for.
    knn : KnnGraph, optional
        A k-NN graph of the same rows (from :func:`assay.neighbors.knn_graph`) whose first
        neighbour distances give the median; saves one search.

    Returns
    -------
    pandas.DataFrame
        Columns ``i``, ``j`` (row positions, ``i`` in the earlier split), ``split_i``,
        ``split_j``, ``kind`` and ``distance``. ``attrs["thresholds"]`` records the near
        threshold, the median and the factor used, and where they came from.

    Examples
    --------
    >>> import numpy as np
    >>> from assay.leakage import find_leakage
    >>> x = np.array([[0.0, 1.0], [1.0, 0.0], [5.0, 5.0], [0.0, 1.0]])
    >>> leaks = find_leakage(x, ["train", "train", "train", "test"], kinds=("exact",))
    >>> leaks[["i", "j", "kind"]].values.tolist()
    [[0, 3, 'exact']]
    """
    owner = "find_leakage"
    x = check_features(features)
    n = x.shape[0]
    split_codes, names = _split_codes(split, splits=splits, owner=owner)
    check_same_length(features=x, split=split_codes)
    k = check_int("k", k, low=1, owner=owner)
    kinds = [check_choice("kinds", kd, _KINDS, owner=owner) for kd in kinds]
    if knn is not None:
        if getattr(knn, "n_rows", None) != n:
            raise InputValidationError(
                f"knn has {getattr(knn, 'n_rows', '?')} rows but features has {n}. "
                "Pass the k-NN graph built on these features."
            )
        metric = knn.metric
    metric = check_choice("metric", metric, _METRICS, owner=owner)
    if not (isinstance(near_factor, int | float) and near_factor >= 0):
        raise InvalidParameterError("near_factor", "a float >= 0", near_factor, owner=owner)
    if near_threshold is not None and not (
        isinstance(near_threshold, int | float) and near_threshold >= 0
    ):
        raise InvalidParameterError("near_threshold", "a float >= 0", near_threshold, owner=owner)
    group_codes = _group_codes(group, n_rows=n, owner=owner) if group is not None else None
    if "group" in kinds and group_codes is None:
        kinds = [kd for kd in kinds if kd != "group"]
    exact_sets = [_exact_codes(x)]
    if raw is not None:
        exact_sets.append(_raw_codes(raw, n_rows=n))

    thresholds: dict[str, Any] = {"metric": metric, "k": k}
    if "near" in kinds:
        thresholds.update(
            _near_threshold(
                x, metric=metric, near_factor=float(near_factor),
                near_threshold=near_threshold, knn=knn,
            )
        )
    parts: list[pd.DataFrame] = []
    for a in range(len(names)):
        rows_a = np.flatnonzero(split_codes == a)
        for b in range(a + 1, len(names)):
            rows_b = np.flatnonzero(split_codes == b)
            found = _leaks_between(
                x, rows_a, rows_b, kinds=kinds, exact_sets=exact_sets,
                group_codes=group_codes, metric=metric, k=k,
                threshold=thresholds.get("near_threshold"),
            )
            for kind, (i, j, dist) in found.items():
                parts.append(pd.DataFrame({
                    "i": i, "j": j, "split_i": names[a], "split_j": names[b],
                    "kind": kind, "distance": dist,
                }))
    if parts:
        out = pd.concat(parts, ignore_index=True)
    else:
        out = pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(
            _COLUMNS, ["int64", "int64", "object", "object", "object", "float64"], strict=True
        )})
    out = out.astype({"i": "int64", "j": "int64", "distance": "float64"})
    kind_rank = out["kind"].map({kd: r for r, kd in enumerate(_KINDS)})
    out = (
        out.assign(_r=kind_rank)
        .sort_values(["split_i", "split_j", "_r", "j", "distance", "i"], kind="stable")
        .drop(columns="_r")
        .reset_index(drop=True)
    )
    out.attrs["thresholds"] = thresholds
    out.attrs["splits"] = names
    return out


def _leaks_between(
    x: np.ndarray,
    rows_a: np.ndarray,
    rows_b: np.ndarray,
    *,
    kinds: Sequence[str],
    exact_sets: list[np.ndarray],
    group_codes: np.ndarray | None,
    metric: str,
    k: int,
    threshold: float | None,
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The leaked pairs of each kind between two splits (``i`` in a, ``j`` in b)."""
    out: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    if rows_a.size == 0 or rows_b.size == 0:
        return out
    if "exact" in kinds:
        pairs = [_code_pairs(codes, rows_a, rows_b, k) for codes in exact_sets]
        i = np.concatenate([p[0] for p in pairs])
        j = np.concatenate([p[1] for p in pairs])
        if i.size:
            ij = np.unique(np.stack([j, i], axis=1), axis=0)
            # keep at most k partners per j after merging the feature and raw matches
            j, i = ij[:, 0], ij[:, 1]
            first = np.searchsorted(j, j, side="left")
            keep = np.arange(j.size) - first < k
            i, j = i[keep], j[keep]
        out["exact"] = (i, j, np.zeros(i.size))
    if "near" in kinds and threshold is not None:
        from assay.neighbors import knn_query

        kq = min(k, rows_a.size)
        idx, dist = knn_query(x[rows_a], x[rows_b], k=kq, metric=metric)
        close = dist <= threshold
        j = np.repeat(rows_b, kq)[close.ravel()]
        i = rows_a[idx.ravel()[close.ravel()]]
        d = dist.ravel()[close.ravel()].astype(np.float64)
        is_exact = np.zeros(i.size, dtype=bool)
        for codes in exact_sets:
            is_exact |= codes[i] == codes[j]
        out["near"] = (i[~is_exact], j[~is_exact], d[~is_exact])
    if "group" in kinds and group_codes is not None:
        i, j = _code_pairs(group_codes, rows_a, rows_b, k)
        out["group"] = (i, j, _pair_distances(x, i, j, metric))
    return out


def leakage_summary(
    leaks: pd.DataFrame, split: Any, *, splits: Sequence[Any] | None = None
) -> pd.DataFrame:
    """Summarise leaked pairs per split pair: how much of each split is leaked.

    Parameters
    ----------
    leaks : DataFrame
        The output of :func:`find_leakage`.
    split : array-like of shape (N,)
        The split column passed to :func:`find_leakage`.
    splits : sequence of str, optional
        The same ``splits`` passed to :func:`find_leakage`.

    Returns
    -------
    pandas.DataFrame
        One row per split pair ``(split_i, split_j)``: sizes ``n_i`` and ``n_j``; the number of
        rows of ``split_j`` (the evaluation side) with an exact, near or group partner in
        ``split_i`` (``n_exact``, ``n_near``, ``n_group``) and with any (``n_leaked``);
        ``share_leaked = n_leaked / n_j``; and ``n_leaked_i``, the rows of ``split_i`` involved.

    Examples
    --------
    >>> import numpy as np
    >>> from assay.leakage import find_leakage, leakage_summary
    >>> x = np.array([[0.0, 1.0], [1.0, 0.0], [5.0, 5.0], [0.0, 1.0]])
    >>> s = ["train", "train", "test", "test"]
    >>> leakage_summary(find_leakage(x, s, kinds=("exact",)), s)["share_leaked"].tolist()
    [0.5]
    """
    missing = [c for c in _COLUMNS if c not in getattr(leaks, "columns", [])]
    if missing:
        raise InputValidationError(
            f"leaks lacks the column(s) {missing}. Pass the DataFrame returned by find_leakage."
        )
    codes, names = _split_codes(split, splits=splits, owner="leakage_summary")
    sizes = np.bincount(codes[codes >= 0], minlength=len(names))
    rows = []
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            sub = leaks[(leaks["split_i"] == names[a]) & (leaks["split_j"] == names[b])]
            rec: dict[str, Any] = {
                "split_i": names[a], "split_j": names[b],
                "n_i": int(sizes[a]), "n_j": int(sizes[b]),
            }
            for kind in _KINDS:
                rec[f"n_{kind}"] = int(sub.loc[sub["kind"] == kind, "j"].nunique())
            rec["n_leaked"] = int(sub["j"].nunique())
            rec["share_leaked"] = rec["n_leaked"] / sizes[b] if sizes[b] else 0.0
            rec["n_leaked_i"] = int(sub["i"].nunique())
            rows.append(rec)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Target leakage
# --------------------------------------------------------------------------------------------
_TL_COLUMNS = ["column", "check", "score", "baseline", "flagged", "detail"]


def find_target_leakage(
    table: pd.DataFrame,
    label: Any,
    *,
    columns: Sequence[str] | None = None,
    max_lift: float = 0.95,
    order_p_value: float = 0.001,
    text_rate: float = 0.5,
    n_folds: int = 5,
    n_permutations: int = 200,
    random_state: Any = 0,
) -> pd.DataFrame:
    """Screen the columns of a table for ones that give the label away.

    Three checks, one result row per column and check:

    - ``single_feature``: a model on that column alone (a depth-4 decision tree on numbers; the
      in-fold majority label of each value on categories) is scored by stratified
      ``n_folds``-fold balanced accuracy. ``score`` is the lift over chance
      ``(bacc - 1/K) / (1 - 1/K)``; flagged at ``score >= max_lift`` (a single column that
      nearly determines the label is either the label in disguise or a bug).
    - ``identifier_order``: for identifier-like columns (integers or strings, at least 90 %
      distinct values), the labels read in the order of the identifier form runs; ``score`` is
      ``(expected runs - runs) / (expected runs - K)`` (about 0 for random order, 1 when sorted
      by label) with a
      p-value in ``detail`` (normal tail, with the mean and spread of the runs under
      ``n_permutations`` random orders); flagged when the p-value is below ``order_p_value``.
    - ``label_in_text``: for text columns, the share of rows whose text contains their own
      label's name as a word (``score``), against the share containing another class's name
      (``baseline``); flagged when ``score >= text_rate`` and ``score >= 3 * baseline``.

    Parameters
    ----------
    table : DataFrame
        The data, one row per sample.
    label : str or array-like of shape (N,)
        The label column's name, or the labels themselves.
    columns : sequence of str, optional
        Columns to screen. Default: every column but the label.
    max_lift : float, default=0.95
        Lift over chance at which a single column is flagged.
    order_p_value : float, default=0.001
        Significance for the identifier-order check.
    text_rate : float, default=0.5
        Share of rows naming their own label at which a text column is flagged.
    n_folds : int, default=5
    n_permutations : int, default=200
        Permutations for the identifier-order p-value.
    random_state : int, Generator or None, default=0

    Returns
    -------
    pandas.DataFrame
        Columns ``column``, ``check``, ``score``, ``baseline``, ``flagged``, ``detail``; flagged
        rows first. ``attrs["thresholds"]`` records the thresholds.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from assay.leakage import find_target_leakage
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat(["cat", "dog"], 50)
    >>> df = pd.DataFrame({"y": y, "noise": rng.normal(size=100), "copy": (y == "dog") * 1.0})
    >>> res = find_target_leakage(df, "y")
    >>> res.loc[res["flagged"], "column"].tolist()
    ['copy']
    """
    owner = "find_target_leakage"
    if not isinstance(table, pd.DataFrame):
        raise InputValidationError(
            f"table must be a pandas DataFrame; got {type(table).__name__}. "
            "Read files with assay.data.read_table(path)."
        )
    if isinstance(label, str):
        if label not in table.columns:
            raise InputValidationError(
                f"Column {label!r} not found.{did_you_mean(label, table.columns)} "
                f"Columns: {', '.join(map(str, table.columns))}."
            )
        y_raw = table[label]
        label_name = label
    else:
        y_raw = pd.Series(check_1d("label", label))
        label_name = None
    check_same_length(table=table, label=y_raw)
    if y_raw.isna().any():
        raise InputValidationError(
            f"label has {int(y_raw.isna().sum())} missing value(s). Drop unlabelled rows first."
        )
    y, classes = pd.factorize(y_raw.astype(object), sort=True)
    if len(classes) < 2:
        raise InputValidationError(
            "label has one class; target leakage needs at least two. Check the label column."
        )
    if columns is None:
        columns = [c for c in table.columns if c != label_name]
    for c in columns:
        if c not in table.columns:
            raise InvalidParameterError(
                "columns", "names of columns of table", c, owner=owner,
                hint=did_you_mean(str(c), table.columns).strip(),
            )
    for name, v in (("max_lift", max_lift), ("text_rate", text_rate)):
        if not (isinstance(v, int | float) and 0 < v <= 1):
            raise InvalidParameterError(name, "a float in (0, 1]", v, owner=owner)
    n_folds = check_int("n_folds", n_folds, low=2, owner=owner)
    n_permutations = check_int("n_permutations", n_permutations, low=1, owner=owner)
    rng = check_random_state(random_state)
    n_classes = len(classes)
    folds = _stratified_folds(y, n_folds, rng)
    rows: list[dict[str, Any]] = []
    for col in columns:
        values = table[col]
        bacc = _single_feature_bacc(values, y, folds, n_classes)
        chance = 1.0 / n_classes
        lift = (bacc - chance) / (1.0 - chance)
        rows.append({
            "column": col, "check": "single_feature", "score": lift, "baseline": 0.0,
            "flagged": bool(lift >= max_lift),
            "detail": f"balanced accuracy {bacc:.3f} from this column alone (chance {chance:.3f})",
        })
        if _is_identifier(values):
            score, p = _order_runs(values, y, n_permutations, rng)
            rows.append({
                "column": col, "check": "identifier_order", "score": score, "baseline": 0.0,
                "flagged": bool(p < order_p_value),
                "detail": f"labels sorted by {col} form fewer runs than chance (p = {p:.4g})"
                if p < order_p_value else f"label runs along {col} look random (p = {p:.4g})",
            })
        if _is_text(values):
            own, other, usable = _label_in_text(values, y, [str(c) for c in classes], rng)
            if usable:
                rows.append({
                    "column": col, "check": "label_in_text", "score": own, "baseline": other,
                    "flagged": bool(own >= text_rate and own >= 3 * other),
                    "detail": f"{own:.1%} of rows contain their own label's name, "
                              f"{other:.1%} another class's",
                })
    out = pd.DataFrame(rows, columns=_TL_COLUMNS)
    out = out.sort_values(["flagged", "score"], ascending=[False, False], kind="stable")
    out = out.reset_index(drop=True)
    out.attrs["thresholds"] = {
        "max_lift": max_lift, "order_p_value": order_p_value, "text_rate": text_rate,
        "text_ratio": 3.0, "identifier_min_distinct": 0.9, "n_folds": n_folds,
    }
    return out


def _stratified_folds(y: np.ndarray, n_folds: int, rng: np.random.Generator) -> np.ndarray:
    """A fold id per row, each class dealt round-robin over the folds after shuffling."""
    fold = np.empty(y.size, dtype=np.int64)
    perm = rng.permutation(y.size)
    order = perm[np.argsort(y[perm], kind="stable")]
    starts = np.searchsorted(y[order], np.arange(int(y.max()) + 1))
    rank = np.arange(y.size) - starts[y[order]]
    offset = rng.integers(n_folds, size=int(y.max()) + 1)
    fold[order] = (rank + offset[y[order]]) % n_folds
    return fold


def _balanced_accuracy(y: np.ndarray, pred: np.ndarray, n_classes: int) -> float:
    counts = np.bincount(y, minlength=n_classes)
    hits = np.bincount(y[pred == y], minlength=n_classes)
    present = counts > 0
    return float(np.mean(hits[present] / counts[present]))


def _single_feature_bacc(
    values: pd.Series, y: np.ndarray, folds: np.ndarray, n_classes: int
) -> float:
    """Out-of-fold balanced accuracy of a model on one column."""
    pred = np.empty(y.size, dtype=np.int64)
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if numeric:
        from sklearn.tree import DecisionTreeClassifier

        v = values.to_numpy(dtype=np.float64, na_value=np.nan)
        missing = np.isnan(v)
        fill = np.nanmedian(v) if (~missing).any() else 0.0
        xm = np.column_stack([np.where(missing, fill, v), missing])
        for f in np.unique(folds):
            test = folds == f
            tree = DecisionTreeClassifier(max_depth=4, random_state=0)
            tree.fit(xm[~test], y[~test])
            pred[test] = tree.predict(xm[test])
        return _balanced_accuracy(y, pred, n_classes)
    codes, _ = pd.factorize(values.astype(object), use_na_sentinel=False)
    n_values = int(codes.max()) + 1
    for f in np.unique(folds):
        test = folds == f
        table = np.zeros((n_values, n_classes), dtype=np.int64)
        np.add.at(table, (codes[~test], y[~test]), 1)
        majority = int(np.argmax(np.bincount(y[~test], minlength=n_classes)))
        seen = table.sum(axis=1) > 0
        best = np.where(seen, table.argmax(axis=1), majority)
        pred[test] = best[codes[test]]
    return _balanced_accuracy(y, pred, n_classes)


def _is_identifier(values: pd.Series) -> bool:
    if len(values) < 10 or values.isna().any():
        return False
    integer = pd.api.types.is_integer_dtype(values)
    stringy = pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)
    return (integer or stringy) and values.nunique() >= 0.9 * len(values)


def _is_text(values: pd.Series) -> bool:
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return False
    return pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)


def _runs(y_sorted: np.ndarray) -> np.ndarray:
    """Number of runs along the last axis."""
    return 1 + np.count_nonzero(np.diff(y_sorted, axis=-1), axis=-1)


def _order_runs(
    values: pd.Series, y: np.ndarray, n_permutations: int, rng: np.random.Generator
) -> tuple[float, float]:
    """Clumping score of labels read in identifier order, and its permutation p-value."""
    key = pd.to_numeric(values, errors="coerce")
    if key.isna().any():
        key = values.astype(str)
    order = np.argsort(key.to_numpy(), kind="stable")
    observed = int(_runs(y[order]))
    n = y.size
    counts = np.bincount(y)
    expected = 1 + (n - 1) * (1 - np.sum(counts * (counts - 1)) / (n * (n - 1)))
    fewest = int(np.count_nonzero(counts))  # runs when the rows are sorted by label
    score = float(np.clip((expected - observed) / max(expected - fewest, 1e-12), -1.0, 1.0))
    null = np.empty(n_permutations, dtype=np.float64)
    for start in range(0, n_permutations, 50):
        stop = min(start + 50, n_permutations)
        perms = rng.permuted(np.tile(y, (stop - start, 1)), axis=1)
        null[start:stop] = _runs(perms)
    # Normal tail with the permutation null's mean and spread: a plain permutation p-value
    # cannot go below 1 / (n_permutations + 1), which is too coarse for a strict threshold.
    sd = float(null.std(ddof=1)) if n_permutations > 1 else 0.0
    if sd > 0:
        from scipy.stats import norm

        p = float(norm.cdf((observed + 0.5 - null.mean()) / sd))
    else:
        p = 1.0 if observed >= null.mean() else 0.0
    return score, float(p)


def _label_in_text(
    values: pd.Series, y: np.ndarray, names: list[str], rng: np.random.Generator
) -> tuple[float, float, bool]:
    """Share of rows naming their own label, share naming another; False when unusable."""
    usable = [len(s) >= 2 and not re.fullmatch(r"[\d.\-]+", s) for s in names]
    if not any(usable):
        return 0.0, 0.0, False
    text = values.fillna("").astype(str).str.lower()
    patterns = [
        re.compile(r"(?<![a-z])" + re.escape(s.lower()) + r"(?![a-z])") for s in names
    ]
    own_hits = 0
    other_hits = 0
    other_total = 0
    for c, ok in enumerate(usable):
        if not ok:
            continue
        mine = np.flatnonzero(y == c)
        own_hits += int(text.iloc[mine].str.contains(patterns[c]).sum())
        others = np.flatnonzero(y != c)
        if others.size > 200:
            others = rng.choice(others, size=200, replace=False)
        other_hits += int(text.iloc[others].str.contains(patterns[c]).sum())
        other_total += others.size
    n_own = int(np.isin(y, np.flatnonzero(usable)).sum())
    own = own_hits / n_own if n_own else 0.0
    other = other_hits / other_total if other_total else 0.0
    return float(own), float(other), True
