"""A 2-D map of the audited rows: the feature matrix projected on its first two principal axes.

Kept in ``AuditResult.summary["map"]`` so the report can draw the data with the flagged rows
marked, without the feature matrix. Bounded: at most ``MAP_POINTS`` rows, whatever the size of
the data, so ``audit.json`` and the report stay small for a million rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from assay._audit._spec import RowOutputs

__all__ = ["MAP_FLAGGED", "MAP_POINTS", "data_map"]

#: Most rows on the map.
MAP_POINTS = 5_000
#: Of which at most this many are flagged rows picked on purpose (shared among the checks).
MAP_FLAGGED = 1_500


def data_map(
    matrix: np.ndarray,
    issues: pd.DataFrame,
    outputs: dict[str, RowOutputs],
    *,
    random_state: int = 0,
) -> dict[str, Any] | None:
    """Project a bounded sample of rows on the first two principal axes of the features.

    The rows drawn are the most severe flagged rows of each check (``MAP_FLAGGED`` shared
    equally; by the check's score when it has one, else at random) and a uniform random sample
    of all rows up to ``MAP_POINTS``. The axes are fitted on a uniform sample of the rows, so a
    few far outliers do not pick them.

    Parameters
    ----------
    matrix : ndarray of shape (N, d)
        The audit's feature matrix.
    issues : pandas.DataFrame
        The per-row table (flags and scores).
    outputs : dict of str to RowOutputs
        Each check's per-row columns.
    random_state : int, default=0

    Returns
    -------
    dict or None
        ``method`` ("pca"), ``rows`` (sorted positions), ``x``, ``y`` (coordinates, four
        significant digits), ``explained_variance_ratio``, ``n_rows``, ``n_random`` (rows of the
        uniform sample); None for fewer than 3 rows or no feature column.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> x = np.random.default_rng(0).normal(size=(50, 3)) * [3.0, 1.0, 0.1]
    >>> m = data_map(x, pd.DataFrame({"row": np.arange(50)}), {})
    >>> len(m["rows"]), round(m["explained_variance_ratio"][0], 1)
    (50, 0.9)
    """
    x = np.asarray(matrix)  # only the sampled rows are read as float64 (not a copy of all)
    n = x.shape[0]
    if x.ndim != 2 or n < 3 or x.shape[1] == 0:
        return None
    rng = np.random.default_rng(random_state)
    picked = [_most_severe(issues, o, MAP_FLAGGED // max(len(outputs), 1), rng)
              for o in outputs.values()]
    flagged = np.unique(np.concatenate(picked)) if picked else np.empty(0, np.int64)
    n_random = min(n, MAP_POINTS - flagged.size)
    uniform = np.sort(rng.choice(n, size=n_random, replace=False)) if n_random < n else np.arange(n)
    rows = np.union1d(flagged, uniform).astype(np.int64)[:MAP_POINTS]
    fit = np.asarray(x[uniform] if uniform.size >= 3 else x[rows], dtype=np.float64)
    finite = np.isfinite(fit)
    centre = np.nanmean(np.where(finite, fit, np.nan), axis=0)
    centre = np.where(np.isfinite(centre), centre, 0.0)
    fitc = np.where(finite, fit, centre) - centre
    axes, top = _principal_axes(fitc, random_state)
    axes = axes * np.where(axes[np.arange(axes.shape[0]), np.abs(axes).argmax(axis=1)] < 0,
                           -1.0, 1.0)[:, None]  # deterministic signs
    pts = np.asarray(x[rows], dtype=np.float64)
    pts = np.where(np.isfinite(pts), pts, centre) - centre
    xy = pts @ axes.T
    if xy.shape[1] == 1:
        xy = np.column_stack([xy[:, 0], np.zeros(len(rows))])
    total = float((fitc**2).sum())
    ratio = [float(v) / total if total > 0 else 0.0 for v in top**2]
    return {"method": "pca", "rows": rows.tolist(), "x": _round(xy[:, 0]),
            "y": _round(xy[:, 1]), "explained_variance_ratio": [round(r, 4) for r in ratio],
            "n_rows": int(n), "n_random": int(uniform.size)}


def _principal_axes(xc: np.ndarray, random_state: int) -> tuple[np.ndarray, np.ndarray]:
    """The first two right singular vectors of the centred ``xc`` and their singular values
    (exact for narrow matrices, randomized SVD for wide ones)."""
    if min(xc.shape) <= 50:
        _, s, vt = np.linalg.svd(xc, full_matrices=False)
        return vt[:2], s[:2]
    from sklearn.utils.extmath import randomized_svd

    _, s, vt = randomized_svd(xc, n_components=2, random_state=random_state)
    return vt, s


def _most_severe(issues: pd.DataFrame, out: RowOutputs, budget: int,
                 rng: np.random.Generator) -> np.ndarray:
    """Positions of up to ``budget`` rows this check flags, the worst scores first."""
    if budget <= 0 or not all(c in issues.columns for c in out.flags):
        return np.empty(0, np.int64)
    pos = np.flatnonzero(out.flagged(issues))
    if pos.size <= budget:
        return pos
    if out.score is not None and out.score in issues.columns:
        s = pd.to_numeric(issues[out.score], errors="coerce").to_numpy(dtype=float)[pos]
        s = np.where(np.isnan(s), np.inf, s if out.worse == "low" else -s)
        return np.sort(pos[np.argsort(s, kind="stable")[:budget]])
    return np.sort(rng.choice(pos, size=budget, replace=False))


def _round(values: np.ndarray) -> list[float]:
    """Four significant digits of the largest value (keeps audit.json small)."""
    top = float(np.abs(values).max()) if values.size else 0.0
    decimals = 3 - int(np.floor(np.log10(top))) if top > 0 else 0
    return np.round(values, max(decimals, 0)).tolist()
