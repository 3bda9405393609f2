"""Is the evaluation set big enough, and do two evaluation splits agree?

- :func:`wilson_interval` and :func:`wilson_samples_needed`: the Wilson score interval of a
  proportion (accuracy, the recall of one class) and the sample size that narrows it to a width.
- :func:`bootstrap_interval`: percentile bootstrap for metrics that are not one proportion
  (macro recall, macro precision, macro F1).
- :func:`evaluation_intervals`: all of these per evaluation split, with the classes whose
  interval is too wide to support a decision and the samples that would narrow it.
- :func:`compare_splits`: a two-sample test between two splits: a domain classifier's
  cross-validated AUC with a permutation p-value, and a chi-square test of the label shift.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from assay._validation import (
    check_1d,
    check_choice,
    check_features,
    check_fraction,
    check_int,
    check_labels,
    check_predictions,
    check_random_state,
    check_same_length,
)
from assay.exceptions import InputValidationError, InvalidParameterError
from assay.leakage import SPLIT_RANK, encode_splits

__all__ = [
    "SplitComparison",
    "bootstrap_interval",
    "compare_splits",
    "evaluation_intervals",
    "wilson_interval",
    "wilson_samples_needed",
]

_METRICS = ("accuracy", "macro_recall", "macro_precision", "macro_f1")


def _z(confidence: float) -> float:
    from scipy.special import ndtri

    return float(ndtri(0.5 + confidence / 2))


def wilson_interval(
    successes: Any, n: Any, *, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion.

    Parameters
    ----------
    successes : int or array-like of int
        Number of successes (correct predictions).
    n : int or array-like of int
        Number of trials; where 0, the interval is ``[0, 1]``.
    confidence : float, default=0.95

    Returns
    -------
    low, high : ndarray
        The bounds, element-wise (0-d arrays for scalar input).

    Examples
    --------
    >>> from assay.evaluation import wilson_interval
    >>> low, high = wilson_interval(8, 10)
    >>> round(float(low), 4), round(float(high), 4)
    (0.4902, 0.9433)
    """
    confidence = check_fraction("confidence", confidence, owner="wilson_interval")
    k = np.asarray(successes, dtype=np.float64)
    m = np.asarray(n, dtype=np.float64)
    if np.any(m < 0) or np.any(k < 0) or np.any(k > m):
        raise InputValidationError(
            "wilson_interval needs 0 <= successes <= n; got successes "
            f"{np.asarray(successes).tolist()} and n {np.asarray(n).tolist()}."
        )
    z = _z(confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(m > 0, k / m, 0.5)
        denom = 1 + z**2 / m
        centre = (p + z**2 / (2 * m)) / denom
        half = z * np.sqrt(p * (1 - p) / m + z**2 / (4 * m**2)) / denom
        low = np.where(m > 0, np.clip(centre - half, 0.0, 1.0), 0.0)
        high = np.where(m > 0, np.clip(centre + half, 0.0, 1.0), 1.0)
    return low, high


def wilson_samples_needed(proportion: Any, width: float, *, confidence: float = 0.95) -> Any:
    """Smallest sample size whose Wilson interval at ``proportion`` is at most ``width`` wide.

    Parameters
    ----------
    proportion : float or array-like
        The expected proportion (use the observed one, or 0.5 for the worst case).
    width : float
        The full width ``high - low`` wanted, in (0, 1).
    confidence : float, default=0.95

    Returns
    -------
    int or ndarray of int64

    Examples
    --------
    >>> from assay.evaluation import wilson_samples_needed
    >>> int(wilson_samples_needed(0.5, 0.1))
    381
    """
    width = check_fraction("width", width, owner="wilson_samples_needed")
    confidence = check_fraction("confidence", confidence, owner="wilson_samples_needed")
    p = np.clip(np.asarray(proportion, dtype=np.float64), 0.0, 1.0)
    z = _z(confidence)

    def wide(m: np.ndarray) -> np.ndarray:
        half = z * np.sqrt(p * (1 - p) / m + z**2 / (4 * m**2)) / (1 + z**2 / m)
        return 2 * half

    lo = np.ones_like(p)  # wide(lo) may already be small enough
    hi = np.full_like(p, 2.0**40)
    for _ in range(50):
        mid = np.floor((lo + hi) / 2)
        ok = wide(mid) <= width
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid)
    out = np.where(wide(lo) <= width, lo, hi).astype(np.int64)
    return int(out) if out.ndim == 0 else out


def _confusions(y: np.ndarray, pred: np.ndarray, idx: np.ndarray, k: int) -> np.ndarray:
    """Confusion counts (B, K, K) of the resamples ``idx`` (B, n)."""
    b = idx.shape[0]
    flat = (np.arange(b)[:, None] * k * k + y[idx] * k + pred[idx]).ravel()
    return np.bincount(flat, minlength=b * k * k).reshape(b, k, k)


def _metric_from_confusion(conf: np.ndarray, metric: str, present: np.ndarray) -> np.ndarray:
    """Metric of each confusion matrix (B, K, K); macro over the classes in ``present``."""
    diag = np.diagonal(conf, axis1=1, axis2=2).astype(np.float64)
    if metric == "accuracy":
        return diag.sum(axis=1) / conf.sum(axis=(1, 2))
    support = conf.sum(axis=2)[:, present]
    predicted = conf.sum(axis=1)[:, present]
    d = diag[:, present]
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(support > 0, d / support, np.nan)
        precision = np.where(predicted > 0, d / predicted, 0.0)
        if metric == "macro_recall":
            return np.nanmean(recall, axis=1)
        precision = np.where(support > 0, precision, np.nan)
        if metric == "macro_precision":
            return np.nanmean(precision, axis=1)
        f1 = np.where(
            (precision + recall) > 0, 2 * precision * recall / (precision + recall), 0.0
        )
        f1 = np.where(support > 0, f1, np.nan)
        return np.nanmean(f1, axis=1)


def bootstrap_interval(
    labels: Any,
    predictions: Any,
    *,
    metric: str | Callable[[np.ndarray, np.ndarray], float] = "macro_f1",
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    random_state: Any = 0,
) -> tuple[float, float, float]:
    """Percentile bootstrap interval of a classification metric.

    Parameters
    ----------
    labels : array-like of shape (N,)
        Given classes ``0..K-1``.
    predictions : array-like of shape (N,) or (N, K)
        Predicted classes, or predicted probabilities (the arg-max is taken).
    metric : {"accuracy", "macro_recall", "macro_precision", "macro_f1"} or callable
        A callable takes ``(labels, predicted_classes)`` and returns a float. Macro metrics
        average over the classes present in ``labels`` (sklearn's ``labels=`` set).
    n_bootstrap : int, default=1000
    confidence : float, default=0.95
    random_state : int, Generator or None, default=0

    Returns
    -------
    estimate, low, high : float

    Examples
    --------
    >>> import numpy as np
    >>> from assay.evaluation import bootstrap_interval
    >>> y = np.array([0, 0, 1, 1] * 25)
    >>> est, low, high = bootstrap_interval(y, y, metric="macro_f1")
    >>> est, low, high
    (1.0, 1.0, 1.0)
    """
    owner = "bootstrap_interval"
    y = check_labels(labels, min_classes=1)
    pred = check_predictions(predictions, n_rows=y.size)
    n_bootstrap = check_int("n_bootstrap", n_bootstrap, low=10, owner=owner)
    confidence = check_fraction("confidence", confidence, owner=owner)
    rng = check_random_state(random_state)
    k = int(max(y.max(), pred.max())) + 1
    present = np.bincount(y, minlength=k) > 0
    if callable(metric):
        est = float(metric(y, pred))
        stats = np.array([
            metric(y[i], pred[i]) for i in rng.integers(y.size, size=(n_bootstrap, y.size))
        ], dtype=np.float64)
    else:
        metric = check_choice("metric", metric, _METRICS, owner=owner)
        full = _confusions(y, pred, np.arange(y.size)[None, :], k)
        est = float(_metric_from_confusion(full, metric, present)[0])
        stats = np.empty(n_bootstrap)
        chunk = max(1, 2_000_000 // max(y.size, k * k))
        for start in range(0, n_bootstrap, chunk):
            stop = min(start + chunk, n_bootstrap)
            idx = rng.integers(y.size, size=(stop - start, y.size))
            stats[start:stop] = _metric_from_confusion(_confusions(y, pred, idx, k), metric, present)
    alpha = 1 - confidence
    low, high = np.nanquantile(stats, [alpha / 2, 1 - alpha / 2])
    return est, float(low), float(high)


def evaluation_intervals(
    labels: Any,
    predictions: Any,
    *,
    split: Any = None,
    splits: Sequence[Any] | None = None,
    classes: Sequence[Any] | None = None,
    confidence: float = 0.95,
    max_width: float = 0.1,
    n_bootstrap: int = 1000,
    random_state: Any = 0,
) -> pd.DataFrame:
    """Confidence intervals of accuracy, macro metrics and per-class recall per split.

    Accuracy and each class's recall are proportions and get Wilson intervals; macro recall,
    precision and F1 get percentile bootstrap intervals. An interval wider than ``max_width`` is
    too wide to support a decision (``too_wide``); ``n_needed`` is the sample size that would
    narrow it to ``max_width`` (for recall, rows of that class; Wilson at the observed
    proportion; for bootstrap metrics the ``1/sqrt(n)`` law ``n * (width / max_width)**2``) and
    ``n_more`` how many rows that adds.

    Parameters
    ----------
    labels : array-like of shape (N,)
        Given classes ``0..K-1``.
    predictions : array-like of shape (N,) or (N, K)
        Predicted classes or probabilities.
    split : array-like of shape (N,), optional
        Split of each row. Without it every row is one split named ``"all"``.
    splits : sequence of str, optional
        Splits to report. Default: every split but a training split (``train``,
        ``training``), or all when none is left.
    classes : sequence, optional
        Class names for the ``class`` column (default: the indices).
    confidence : float, default=0.95
    max_width : float, default=0.1
        Widest acceptable interval (``high - low``).
    n_bootstrap : int, default=1000
    random_state : int, Generator or None, default=0

    Returns
    -------
    pandas.DataFrame
        Columns ``split``, ``metric``, ``class`` (``None`` except for ``recall``),
        ``estimate``, ``low``, ``high``, ``width``, ``n``, ``method``, ``too_wide``,
        ``n_needed``, ``n_more``.

    Examples
    --------
    >>> import numpy as np
    >>> from assay.evaluation import evaluation_intervals
    >>> y = np.array([0] * 90 + [1] * 10)
    >>> pred = y.copy(); pred[:9] = 1
    >>> res = evaluation_intervals(y, pred, n_bootstrap=200)
    >>> res.loc[res["metric"] == "recall", ["class", "n", "too_wide"]].values.tolist()
    [[0, 90, True], [1, 10, True]]
    """
    owner = "evaluation_intervals"
    y = check_labels(labels, min_classes=1)
    pred = check_predictions(predictions, n_rows=y.size)
    confidence = check_fraction("confidence", confidence, owner=owner)
    max_width = check_fraction("max_width", max_width, owner=owner)
    rng = check_random_state(random_state)
    k = int(max(y.max(), pred.max())) + 1
    if classes is not None:
        classes = list(classes)
        if len(classes) < int(y.max()) + 1:
            raise InputValidationError(
                f"classes names {len(classes)} classes but labels go up to {int(y.max())}. "
                "Pass one name per class index."
            )
    if split is None:
        codes = np.zeros(y.size, dtype=np.int64)
        names = ["all"]
        report = [0]
    else:
        s = check_1d("split", split)
        check_same_length(labels=y, split=s)
        codes, names = encode_splits(s, splits=None, owner=owner) if pd.Series(
            s, dtype=object
        ).nunique() > 1 else (np.zeros(y.size, dtype=np.int64), [str(s[0])])
        if splits is None:
            report = [c for c, nm in enumerate(names) if SPLIT_RANK.get(nm.lower()) != 0]
            report = report or list(range(len(names)))
        else:
            report = []
            for nm in splits:
                if str(nm) not in names:
                    raise InvalidParameterError(
                        "splits", "names in the split column (" + ", ".join(names) + ")", nm,
                        owner=owner,
                    )
                report.append(names.index(str(nm)))
    rows: list[dict[str, Any]] = []
    for c in report:
        mask = codes == c
        ys, ps = y[mask], pred[mask]
        n = int(ys.size)
        if n == 0:
            continue
        correct = int(np.sum(ys == ps))
        rows.append(_wilson_row(names[c], "accuracy", None, correct, n, confidence, max_width))
        for metric in ("macro_recall", "macro_precision", "macro_f1"):
            est, low, high = bootstrap_interval(
                ys, ps, metric=metric, n_bootstrap=n_bootstrap, confidence=confidence,
                random_state=rng,
            )
            width = high - low
            needed = int(np.ceil(n * (width / max_width) ** 2)) if width > max_width else n
            rows.append({
                "split": names[c], "metric": metric, "class": None, "estimate": est,
                "low": low, "high": high, "width": width, "n": n, "method": "bootstrap",
                "too_wide": bool(width > max_width), "n_needed": needed,
                "n_more": max(needed - n, 0),
            })
        support = np.bincount(ys, minlength=k)
        hits = np.bincount(ys[ys == ps], minlength=k)
        for cls in np.flatnonzero(support):
            name = classes[cls] if classes is not None else int(cls)
            rows.append(_wilson_row(
                names[c], "recall", name, int(hits[cls]), int(support[cls]), confidence,
                max_width,
            ))
    out = pd.DataFrame(rows, columns=[
        "split", "metric", "class", "estimate", "low", "high", "width", "n", "method",
        "too_wide", "n_needed", "n_more",
    ])
    out["class"] = pd.Series([r["class"] for r in rows], dtype=object)
    return out


def _wilson_row(
    split: str, metric: str, cls: Any, hits: int, n: int, confidence: float, max_width: float
) -> dict[str, Any]:
    low, high = wilson_interval(hits, n, confidence=confidence)
    width = float(high - low)
    needed = int(wilson_samples_needed(hits / n, max_width, confidence=confidence))
    return {
        "split": split, "metric": metric, "class": cls, "estimate": hits / n,
        "low": float(low), "high": float(high), "width": width, "n": n, "method": "wilson",
        "too_wide": bool(width > max_width), "n_needed": max(needed, n) if width > max_width
        else n, "n_more": max(needed - n, 0) if width > max_width else 0,
    }


# --------------------------------------------------------------------------------------------
# Do two splits agree?
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SplitComparison:
    """A two-sample comparison of two splits.

    Attributes
    ----------
    split_a, split_b : str
        The splits compared.
    n_a, n_b : int
        Rows used from each (after subsampling to ``max_rows``).
    auc : float
        Mean cross-validated ROC AUC of a classifier telling ``b`` rows from ``a`` rows on the
        features; 0.5 when the splits are exchangeable.
    auc_p_value : float
        Permutation p-value of ``auc``: ``(1 + #{null >= auc}) / (1 + n_permutations)``.
    n_permutations : int
    label_statistic, label_p_value : float
        Chi-square test of homogeneity of the label counts (NaN without labels).
    label_tvd : float
        Total variation distance between the two label distributions (NaN without labels).
    """

    split_a: str
    split_b: str
    n_a: int
    n_b: int
    auc: float
    auc_p_value: float
    n_permutations: int
    label_statistic: float
    label_p_value: float
    label_tvd: float

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (JSON-ready)."""
        return asdict(self)


def compare_splits(
    features: Any,
    split: Any,
    *,
    labels: Any = None,
    split_a: str | None = None,
    split_b: str | None = None,
    estimator: Any = None,
    n_permutations: int = 100,
    n_folds: int = 5,
    max_rows: int = 5000,
    random_state: Any = 0,
) -> SplitComparison:
    """Test whether two splits (valid and test, by default) come from one distribution.

    A domain classifier is cross-validated to tell the rows of ``split_b`` from those of
    ``split_a``; its mean fold AUC gets a permutation p-value (the classifier refitted on
    shuffled split labels). The default classifier is ridge regression on standardised
    features (a random Gaussian projection to 512 dimensions when wider): its fold predictions are
    linear in the labels, so all permutations are refitted with one matrix product per fold.
    Folds are random and fixed across permutations, which keeps the test exact. Pass a
    scikit-learn ``estimator`` to use another classifier (through scikit-learn's
    ``permutation_test_score`` with stratified folds; slower). The label distributions are
    compared with a chi-square test of homogeneity and the total variation distance.

    Parameters
    ----------
    features : array-like of shape (N, d)
    split : array-like of shape (N,)
    labels : array-like of shape (N,), optional
        Class of each row, for the label-shift test.
    split_a, split_b : str, optional
        The two splits. Default: the first two evaluation splits (valid then test), or the
        only two splits.
    estimator : scikit-learn classifier, optional
    n_permutations : int, default=100
    n_folds : int, default=5
    max_rows : int, default=5000
        At most this many rows per split are used (a random subsample).
    random_state : int, Generator or None, default=0

    Returns
    -------
    SplitComparison

    Examples
    --------
    >>> import numpy as np
    >>> from assay.evaluation import compare_splits
    >>> rng = np.random.default_rng(0)
    >>> x = np.vstack([rng.normal(size=(100, 3)), rng.normal(1.0, size=(100, 3))])
    >>> res = compare_splits(x, ["valid"] * 100 + ["test"] * 100, n_permutations=20)
    >>> res.auc > 0.8, res.auc_p_value < 0.1
    (True, True)
    """
    owner = "compare_splits"
    x = check_features(features)
    codes, names = encode_splits(split, splits=None, owner=owner)
    check_same_length(features=x, split=codes)
    n_permutations = check_int("n_permutations", n_permutations, low=1, owner=owner)
    n_folds = check_int("n_folds", n_folds, low=2, owner=owner)
    max_rows = check_int("max_rows", max_rows, low=2, owner=owner)
    rng = check_random_state(random_state)
    if split_a is None or split_b is None:
        evals = [nm for nm in names if SPLIT_RANK.get(nm.lower()) != 0]
        pick = evals if len(evals) >= 2 else names
        split_a = split_a if split_a is not None else pick[0]
        split_b = split_b if split_b is not None else next(nm for nm in pick if nm != split_a)
    for nm, val in (("split_a", split_a), ("split_b", split_b)):
        if str(val) not in names:
            raise InvalidParameterError(
                nm, "a split name in the data (" + ", ".join(names) + ")", val, owner=owner
            )
    if str(split_a) == str(split_b):
        raise InvalidParameterError(
            "split_b", f"a split other than split_a ({split_a!r})", split_b, owner=owner
        )
    rows_a = np.flatnonzero(codes == names.index(str(split_a)))
    rows_b = np.flatnonzero(codes == names.index(str(split_b)))
    if rows_a.size > max_rows:
        rows_a = np.sort(rng.choice(rows_a, size=max_rows, replace=False))
    if rows_b.size > max_rows:
        rows_b = np.sort(rng.choice(rows_b, size=max_rows, replace=False))
    if min(rows_a.size, rows_b.size) < n_folds:
        raise InputValidationError(
            f"Splits {split_a!r} ({rows_a.size} rows) and {split_b!r} ({rows_b.size} rows) are "
            f"too small for {n_folds}-fold cross-validation; each needs at least {n_folds} rows. "
            "Lower n_folds or compare larger splits."
        )
    rows = np.concatenate([rows_a, rows_b])
    domain = np.r_[np.zeros(rows_a.size, dtype=np.int64), np.ones(rows_b.size, dtype=np.int64)]
    if estimator is None:
        auc, p_value = _ridge_permutation_auc(x[rows], domain, n_folds, n_permutations, rng)
    else:
        from sklearn.model_selection import StratifiedKFold, permutation_test_score

        seed = int(rng.integers(2**31 - 1))
        cv = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        auc, _, p_value = permutation_test_score(
            estimator, x[rows], domain, cv=cv, scoring="roc_auc",
            n_permutations=n_permutations, random_state=seed,
        )
    stat = p_label = tvd = float("nan")
    if labels is not None:
        y = check_1d("labels", labels)
        check_same_length(features=x, labels=y)
        stat, p_label, tvd = _label_shift(y[rows_a], y[rows_b])
    return SplitComparison(
        split_a=str(split_a), split_b=str(split_b), n_a=int(rows_a.size), n_b=int(rows_b.size),
        auc=float(auc), auc_p_value=float(p_value), n_permutations=n_permutations,
        label_statistic=stat, label_p_value=p_label, label_tvd=tvd,
    )


def _ridge_permutation_auc(
    x: np.ndarray, domain: np.ndarray, n_folds: int, n_permutations: int,
    rng: np.random.Generator, alpha: float = 1.0, max_dim: int = 512,
) -> tuple[float, float]:
    """Mean fold AUC of ridge domain classification and its permutation p-value."""
    from scipy.stats import rankdata

    z = x.astype(np.float64)
    z = z - z.mean(axis=0)
    sd = z.std(axis=0)
    z = z[:, sd > 0] / sd[sd > 0]
    if z.shape[1] == 0:
        return 0.5, 1.0
    if z.shape[1] > max_dim:  # label-free projection, so the permutation test stays exact
        proj = rng.normal(size=(z.shape[1], max_dim)) / np.sqrt(max_dim)
        z = z @ proj
    n = z.shape[0]
    fold = rng.permutation(np.arange(n) % n_folds)
    targets = np.empty((n, n_permutations + 1))
    targets[:, 0] = domain
    for p in range(n_permutations):
        targets[:, p + 1] = rng.permutation(domain)
    aucs = np.full((n_folds, n_permutations + 1), np.nan)
    for f in range(n_folds):
        test = fold == f
        xtr = z[~test]
        mu = xtr.mean(axis=0)
        xc = xtr - mu
        gram = xc.T @ xc + alpha * np.eye(z.shape[1])
        w = np.linalg.solve(gram, xc.T @ targets[~test])
        scores = (z[test] - mu) @ w
        t = targets[test]
        n_pos = t.sum(axis=0)
        n_neg = t.shape[0] - n_pos
        ranks = rankdata(scores, axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            auc = ((ranks * t).sum(axis=0) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
        aucs[f] = np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)
    mean_auc = np.nanmean(aucs, axis=0)
    observed = float(mean_auc[0])
    p_value = (1 + int(np.sum(mean_auc[1:] >= observed))) / (1 + n_permutations)
    return observed, float(p_value)


def _label_shift(ya: np.ndarray, yb: np.ndarray) -> tuple[float, float, float]:
    """Chi-square homogeneity statistic, its p-value, and the total variation distance."""
    from scipy.stats import chi2_contingency

    _, inv = np.unique(np.concatenate([ya, yb]).astype(str), return_inverse=True)
    k = int(inv.max()) + 1
    table = np.stack([
        np.bincount(inv[: ya.size], minlength=k), np.bincount(inv[ya.size:], minlength=k)
    ])
    tvd = 0.5 * float(np.abs(table[0] / table[0].sum() - table[1] / table[1].sum()).sum())
    if k < 2:
        return 0.0, 1.0, tvd
    res = chi2_contingency(table, correction=False)
    return float(res.statistic), float(res.pvalue), tvd
