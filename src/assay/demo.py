"""The bundled demo: scikit-learn's digits with known injected label noise and duplicates.

Everything is generated offline and seeded, so the audit can be scored against the truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from assay._validation import check_fraction, check_int, check_random_state

__all__ = ["DemoData", "make_demo_data", "score_demo"]


@dataclass(frozen=True)
class DemoData:
    """A demo table and what was injected into it.

    Attributes
    ----------
    table : pandas.DataFrame
        Columns ``id``, ``label`` (possibly corrupted), ``true_label``, ``pixel_0..63``.
    flipped : ndarray of shape (N,), bool
        Rows whose label was changed.
    near_copies : ndarray of shape (P, 2), int64
        ``(original, copy)`` row pairs added as near duplicates (pixels plus small noise).
    exact_copies : ndarray of shape (Q, 2), int64
        ``(original, copy)`` pairs added as exact duplicates.
    """

    table: pd.DataFrame
    flipped: np.ndarray
    near_copies: np.ndarray
    exact_copies: np.ndarray

    @property
    def feature_columns(self) -> list[str]:
        return [c for c in self.table.columns if c.startswith("pixel_")]


def make_demo_data(
    *,
    noise: float = 0.1,
    n_near: int = 30,
    n_exact: int = 10,
    random_state: int = 0,
) -> DemoData:
    """Digits (1,797 8x8 images) with uniform label flips and injected duplicates.

    Parameters
    ----------
    noise : float, default=0.1
        Share of rows whose label is replaced by a different class, uniformly at random.
    n_near, n_exact : int, default=30, 10
        Near copies (noise of standard deviation 0.25 on the inked pixels, 0-16 scale) and exact copies
        appended to the table.
    random_state : int, default=0

    Returns
    -------
    DemoData

    Examples
    --------
    >>> d = make_demo_data(noise=0.1, random_state=0)
    >>> d.table.shape[0], int(d.flipped.sum()) > 100
    (1837, True)
    """
    from sklearn.datasets import load_digits

    check_fraction("noise", noise, inclusive=True, owner="make_demo_data")
    check_int("n_near", n_near, low=0, owner="make_demo_data")
    check_int("n_exact", n_exact, low=0, owner="make_demo_data")
    rng = check_random_state(random_state)
    x, y = load_digits(return_X_y=True)
    n = len(y)
    src_near = rng.choice(n, size=n_near, replace=False)
    src_exact = rng.choice(np.setdiff1d(np.arange(n), src_near), size=n_exact, replace=False)
    jitter = rng.normal(0, 0.25, size=(n_near, x.shape[1])) * (x[src_near] > 0)
    x_all = np.vstack([x, np.clip(x[src_near] + jitter, 0, 16),
                       x[src_exact]])
    y_all = np.concatenate([y, y[src_near], y[src_exact]])
    total = len(y_all)
    flipped = rng.random(total) < noise
    noisy = y_all.copy()
    noisy[flipped] = (y_all[flipped] + rng.integers(1, 10, flipped.sum())) % 10
    table = pd.DataFrame(x_all, columns=[f"pixel_{i}" for i in range(x.shape[1])])
    table.insert(0, "true_label", [f"digit_{v}" for v in y_all])
    table.insert(0, "label", [f"digit_{v}" for v in noisy])
    table.insert(0, "id", [f"img{i:05d}" for i in range(total)])
    near = np.stack([src_near, n + np.arange(n_near)], axis=1)
    exact = np.stack([src_exact, n + n_near + np.arange(n_exact)], axis=1)
    return DemoData(table, flipped, near.astype(np.int64), exact.astype(np.int64))


def score_demo(demo: DemoData, issues: pd.DataFrame) -> dict[str, Any]:
    """Score an audit's per-row issues against what :func:`make_demo_data` injected.

    Returns precision, recall and F1 of the label-issue flags, the share of flagged rows whose
    suggested label is the true one, and the recall of injected duplicate pairs.
    """
    flags = issues["is_label_issue"].to_numpy(bool)
    truth = demo.flipped
    tp = int((flags & truth).sum())
    precision = tp / max(int(flags.sum()), 1)
    recall = tp / max(int(truth.sum()), 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-12)
    fixed = flags & truth
    true_labels = demo.table["true_label"].to_numpy()
    suggested_ok = float(np.mean(issues["suggested_label"].to_numpy()[fixed] == true_labels[fixed])) \
        if fixed.any() else float("nan")
    sets = issues["duplicate_set"].to_numpy()

    def pair_recall(pairs: np.ndarray) -> float:
        if len(pairs) == 0:
            return float("nan")
        a, b = sets[pairs[:, 0]], sets[pairs[:, 1]]
        return float(np.mean((a >= 0) & (a == b)))

    return {
        "n_flipped": int(truth.sum()), "n_flagged": int(flags.sum()), "true_positives": tp,
        "precision": precision, "recall": recall, "f1": f1,
        "suggested_label_accuracy": suggested_ok,
        "near_duplicate_recall": pair_recall(demo.near_copies),
        "exact_duplicate_recall": pair_recall(demo.exact_copies),
    }
