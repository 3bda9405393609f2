"""The long-tail class profile: counts, shot groups, imbalance, and per-class issue rates."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from assay._validation import check_int, check_labels
from assay.evaluation import wilson_interval
from assay.exceptions import InputValidationError, InvalidParameterError

__all__ = ["ClassProfile", "class_profile", "gini"]


@dataclass(frozen=True)
class ClassProfile:
    """Per-class table and dataset-level imbalance figures.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per class, most frequent first: ``class``, ``count``, ``share``, ``group``
        (``many`` / ``medium`` / ``few``), ``effective_number``, and when issues are given
        ``n_issues``, ``issue_rate``, ``issue_rate_low``, ``issue_rate_high`` (Wilson 95 %),
        ``rate_trusted`` (interval narrower than ``max_width``).
    summary : dict
        ``n_classes``, ``imbalance_ratio`` (largest / smallest count), ``gini``,
        ``n_many``, ``n_medium``, ``n_few``, ``effective_number_total``, ``head_share``
        (share of rows in the largest 20 % of classes).
    """

    table: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)


def gini(counts: Any) -> float:
    """Gini coefficient of class counts: 0 for balanced classes, towards 1 for a long tail.

    Examples
    --------
    >>> gini([10, 10, 10]), round(gini([0, 0, 30]), 4)
    (0.0, 0.6667)
    """
    c = np.sort(np.asarray(counts, dtype=np.float64))
    n = c.size
    if n == 0 or c.sum() == 0:
        return 0.0
    ranks = np.arange(1, n + 1)
    return float((2 * np.sum(ranks * c) / (n * c.sum())) - (n + 1) / n)


def class_profile(
    labels: Any,
    *,
    classes: list[Any] | None = None,
    many: int = 100,
    few: int = 20,
    issues: Any = None,
    beta: float = 0.999,
    max_width: float = 0.2,
) -> ClassProfile:
    """Profile the class distribution: the head, the tail, and per-class label-issue rates.

    Parameters
    ----------
    labels : array-like of shape (N,)
        Class indices ``0..K-1``.
    classes : list, optional
        Class names (default: the indices). Classes with no rows still appear, count 0.
    many, few : int, default=100, 20
        Shot groups: ``many`` > 100 rows, ``few`` < 20, ``medium`` in between (inclusive).
    issues : array-like of shape (N,), bool, optional
        Flagged rows (e.g. label issues) for a per-class rate with its Wilson interval.
    beta : float, default=0.999
        Effective number of samples ``(1 - beta^n) / (1 - beta)`` (Cui et al. 2019).
    max_width : float, default=0.2
        A class's issue rate is trusted when its 95 % interval is narrower than this.

    Returns
    -------
    ClassProfile

    Examples
    --------
    >>> import numpy as np
    >>> prof = class_profile(np.repeat([0, 1, 2], [150, 50, 5]), classes=["a", "b", "c"])
    >>> prof.table["group"].tolist(), prof.summary["imbalance_ratio"]
    (['many', 'medium', 'few'], 30.0)
    """
    y = check_labels(labels, min_classes=1)
    many = check_int("many", many, low=1, owner="class_profile")
    few = check_int("few", few, low=1, owner="class_profile")
    if few > many:
        raise InvalidParameterError(
            "few", f"at most many ({many})", few, owner="class_profile",
            hint="Shot groups need few <= many.",
        )
    if not 0 <= beta < 1:
        raise InvalidParameterError("beta", "a float in [0, 1)", beta, owner="class_profile")
    k = int(y.max()) + 1 if classes is None else len(classes)
    if y.max() >= k:
        raise InputValidationError(
            f"labels contain index {int(y.max())} but only {k} classes were named."
        )
    names = list(range(k)) if classes is None else list(classes)
    counts = np.bincount(y, minlength=k)
    group = np.where(counts > many, "many", np.where(counts < few, "few", "medium"))
    eff = (1.0 - np.power(beta, counts)) / (1.0 - beta) if beta > 0 else np.minimum(counts, 1.0)
    table = pd.DataFrame({
        "class": names, "count": counts, "share": counts / counts.sum(),
        "group": group, "effective_number": eff,
    })
    if issues is not None:
        flags = np.asarray(issues, dtype=bool)
        if flags.shape != y.shape:
            raise InputValidationError(
                f"issues must be a boolean array of length {len(y)}; got shape {flags.shape}."
            )
        n_iss = np.bincount(y[flags], minlength=k)
        lo, hi = wilson_interval(n_iss, counts)
        table["n_issues"] = n_iss
        table["issue_rate"] = np.divide(n_iss, counts, out=np.zeros(k), where=counts > 0)
        table["issue_rate_low"] = lo
        table["issue_rate_high"] = hi
        table["rate_trusted"] = (hi - lo) < max_width
    table = table.sort_values("count", ascending=False, kind="stable").reset_index(drop=True)
    present = counts[counts > 0]
    n_head = max(1, int(np.ceil(0.2 * k)))
    summary = {
        "n_classes": k,
        "n_rows": int(counts.sum()),
        "imbalance_ratio": float(present.max() / present.min()),
        "gini": gini(counts),
        "n_many": int((group == "many").sum()),
        "n_medium": int((group == "medium").sum()),
        "n_few": int((group == "few").sum()),
        "n_empty": int((counts == 0).sum()),
        "effective_number_total": float(eff.sum()),
        "head_share": float(np.sort(counts)[::-1][:n_head].sum() / counts.sum()),
        "many_threshold": many,
        "few_threshold": few,
    }
    return ClassProfile(table, summary)
