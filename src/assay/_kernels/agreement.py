"""Agreement kernels: numpy in, numpy out, no validation.

Notation: ``codes`` is a ``(R, U)`` int64 matrix of category indices (raters x units) with ``-1``
for a missing rating; ``counts`` is the ``(U, K)`` float64 matrix of how many ratings each unit
received in each category; ``w`` is an optional ``(U,)`` vector of unit weights (all ones for the
point estimate, bootstrap multiplicities for a resample). Every statistic below is a function of
unit-weighted sums, so a bootstrap over units only changes ``w``.
"""

from __future__ import annotations

import numpy as np

_NAN = float("nan")


def unit_counts(codes: np.ndarray, n_categories: int) -> np.ndarray:
    """``(U, K)`` float64 counts of ratings per unit and category from ``(R, U)`` codes."""
    n_units = codes.shape[1]
    unit = np.broadcast_to(np.arange(n_units, dtype=np.int64), codes.shape)
    ok = codes >= 0
    flat = unit[ok] * n_categories + codes[ok]
    return np.bincount(flat, minlength=n_units * n_categories).reshape(
        n_units, n_categories
    ).astype(np.float64)


def _weights(n_units: int, w: np.ndarray | None) -> np.ndarray:
    return np.ones(n_units) if w is None else w


def agreement_weights(kind: str | None, n_categories: int) -> np.ndarray:
    """``(K, K)`` agreement weights on category positions: identity, linear or quadratic."""
    if kind is None or n_categories < 2:
        return np.eye(n_categories)
    pos = np.arange(n_categories, dtype=np.float64)
    dist = np.abs(pos[:, None] - pos[None, :]) / (n_categories - 1)
    return 1.0 - (dist if kind == "linear" else dist**2)


def observed_agreement(
    counts: np.ndarray, w: np.ndarray | None = None, weight_mat: np.ndarray | None = None
) -> float:
    """Gwet's (weighted) percent agreement: mean over units with >= 2 ratings."""
    w = _weights(counts.shape[0], w)
    m = counts.sum(axis=1)
    keep = m >= 2
    c, mk, wk = counts[keep], m[keep], w[keep]
    star = c if weight_mat is None else c @ weight_mat.T
    per_unit = (c * (star - 1.0)).sum(axis=1) / (mk * (mk - 1.0))
    total = wk.sum()
    return float(wk @ per_unit / total) if total > 0 else _NAN


def class_shares(counts: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """``(K,)`` mean over rated units of each unit's share of ratings in each category."""
    w = _weights(counts.shape[0], w)
    m = counts.sum(axis=1)
    keep = m >= 1
    wk = w[keep]
    return (wk @ (counts[keep] / m[keep, None])) / wk.sum()


def fleiss_chance(pi: np.ndarray, weight_mat: np.ndarray) -> float:
    """Chance agreement of Fleiss' kappa (Gwet's generalisation): ``pi' W pi``."""
    return float(pi @ weight_mat @ pi)


def gwet_chance(pi: np.ndarray, weight_mat: np.ndarray) -> float:
    """Chance agreement of Gwet's AC1/AC2: ``sum(W) * sum(pi (1 - pi)) / (q (q - 1))``."""
    q = pi.shape[0]
    if q < 2:
        return _NAN
    return float(weight_mat.sum() * np.sum(pi * (1.0 - pi)) / (q * (q - 1)))


def chance_corrected(pa: float, pe: float) -> float:
    """``(pa - pe) / (1 - pe)``, NaN when ``pe == 1`` (agreement undefined)."""
    if not np.isfinite(pe) or not np.isfinite(pa) or abs(1.0 - pe) < 1e-12:
        return _NAN
    return float((pa - pe) / (1.0 - pe))


def rater_category_counts(
    codes: np.ndarray, n_categories: int, w: np.ndarray | None = None
) -> np.ndarray:
    """``(R, K)`` unit-weighted number of ratings each rater gave in each category."""
    n_raters, n_units = codes.shape
    w = _weights(n_units, w)
    rater = np.broadcast_to(np.arange(n_raters, dtype=np.int64)[:, None], codes.shape)
    ok = codes >= 0
    flat = rater[ok] * n_categories + codes[ok]
    wts = np.broadcast_to(w[None, :], codes.shape)[ok]
    return np.bincount(flat, weights=wts, minlength=n_raters * n_categories).reshape(
        n_raters, n_categories
    )


def conger_chance(
    codes: np.ndarray, n_categories: int, weight_mat: np.ndarray, w: np.ndarray | None = None
) -> float:
    """Chance agreement of Conger's kappa (Gwet's formulation with missing ratings)."""
    return conger_chance_from_counts(rater_category_counts(codes, n_categories, w), weight_mat)


def pair_table(
    a: np.ndarray, b: np.ndarray, n_categories: int, w: np.ndarray | None = None
) -> np.ndarray:
    """``(K, K)`` weighted contingency table of two raters over units both rated."""
    ok = (a >= 0) & (b >= 0)
    wts = None if w is None else w[ok]
    return np.bincount(
        a[ok] * n_categories + b[ok], weights=wts, minlength=n_categories * n_categories
    ).reshape(n_categories, n_categories).astype(np.float64)


def kappa_from_table(table: np.ndarray, weight_mat: np.ndarray, *, scott: bool = False) -> float:
    """Cohen's (or, with ``scott``, Scott's) weighted kappa from a contingency table."""
    n = table.sum()
    if n <= 0:
        return _NAN
    p = table / n
    row, col = p.sum(axis=1), p.sum(axis=0)
    pa = float(np.sum(weight_mat * p))
    if scott:
        mean = (row + col) / 2.0
        pe = float(mean @ weight_mat @ mean)
    else:
        pe = float(row @ weight_mat @ col)
    return chance_corrected(pa, pe)


def coincidence(counts: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Krippendorff's ``(K, K)`` coincidence matrix over units with >= 2 ratings."""
    m = counts.sum(axis=1)
    keep = m >= 2
    c = counts[keep]
    f = 1.0 / (m[keep] - 1.0)
    if w is not None:
        f = f * w[keep]
    cf = c * f[:, None]
    o = cf.T @ c
    o[np.diag_indices_from(o)] -= cf.sum(axis=0)
    return o


def delta2(level: str, values: np.ndarray, marginals: np.ndarray) -> np.ndarray:
    """Squared difference function of Krippendorff's alpha for a level of measurement."""
    k = marginals.shape[0]
    if level == "nominal":
        return 1.0 - np.eye(k)
    if level == "ordinal":
        cum = np.cumsum(marginals)
        i, j = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
        lo, hi = np.minimum(i, j), np.maximum(i, j)
        between = cum[hi] - cum[lo] + marginals[lo]
        d = between - (marginals[i] + marginals[j]) / 2.0
        return d**2
    v = values.astype(np.float64)
    diff = v[:, None] - v[None, :]
    if level == "interval":
        return diff**2
    total = v[:, None] + v[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(total > 0, (diff / np.where(total > 0, total, 1.0)) ** 2, 0.0)
    return out


def alpha_from_coincidence(o: np.ndarray, d2: np.ndarray) -> float:
    """Krippendorff's alpha ``1 - D_o / D_e``; NaN when expected disagreement is zero."""
    n_c = o.sum(axis=1)
    n = n_c.sum()
    if n <= 1:
        return _NAN
    d_o = float(np.sum(o * d2))
    d_e = float(n_c @ d2 @ n_c) / (n - 1.0)
    if d_e <= 1e-12 * max(n, 1.0):
        return _NAN
    return float(1.0 - d_o / d_e)


def per_class_from_coincidence(o: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class alpha (class vs rest, binary nominal) and Fleiss' per-category kappa.

    With ``n_c`` the pairable values of class c and ``o_cc`` its agreeing coincidences,
    ``n_c - o_cc = sum_u n_uc (m_u - n_uc) / (m_u - 1)`` so that
    ``alpha_c = 1 - (n - 1)(n_c - o_cc) / (n_c (n - n_c))`` and Fleiss' per-category kappa is the
    same with ``n`` in place of ``n - 1``.
    """
    n_c = o.sum(axis=1)
    n = n_c.sum()
    dis = n_c - np.diag(o)
    denom = n_c * (n - n_c)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(denom > 0, dis / np.where(denom > 0, denom, 1.0), np.nan)
    return 1.0 - (n - 1.0) * ratio, 1.0 - n * ratio


# ---------------------------------------------------------------- per-unit features (bootstrap)
# A coefficient is ``finish(w @ F)`` with ``F`` a (U, D) matrix of per-unit features; a batch of
# bootstrap resamples is one matrix product ``W @ F`` with W (B, U) unit multiplicities.


def unit_pair_agreement(counts: np.ndarray, weight_mat: np.ndarray | None = None) -> np.ndarray:
    """``(U, 2)``: per-unit (weighted) share of agreeing rating pairs, and a ``m >= 2`` flag.

    The share is 0 (not NaN) for units with fewer than two ratings, whose flag is 0.
    """
    m = counts.sum(axis=1)
    keep = m >= 2
    star = counts if weight_mat is None else counts @ weight_mat.T
    num = (counts * (star - 1.0)).sum(axis=1)
    share = np.where(keep, num / np.where(keep, m * (m - 1.0), 1.0), 0.0)
    return np.column_stack([share, keep.astype(np.float64)])


def unit_shares(counts: np.ndarray) -> np.ndarray:
    """``(U, K + 1)``: each unit's category shares, then a ``m >= 1`` flag."""
    m = counts.sum(axis=1)
    has = m >= 1
    shares = counts / np.where(has, m, 1.0)[:, None]
    return np.column_stack([shares, has.astype(np.float64)])


def unit_coincidences(counts: np.ndarray) -> np.ndarray:
    """``(U, K * K)``: each unit's contribution to the coincidence matrix (0 when ``m < 2``)."""
    n_units, k = counts.shape
    m = counts.sum(axis=1)
    f = np.where(m >= 2, 1.0 / np.where(m >= 2, m - 1.0, 1.0), 0.0)
    out = (counts[:, :, None] * counts[:, None, :]).reshape(n_units, k * k)
    diag = np.arange(k) * (k + 1)
    out[:, diag] -= counts
    out *= f[:, None]
    return out


def rater_onehot(codes: np.ndarray, n_categories: int) -> np.ndarray:
    """``(U, R * K)``: one-hot of each rater's category on each unit (zeros where missing)."""
    n_raters, n_units = codes.shape
    out = np.zeros((n_units, n_raters * n_categories))
    g, u = np.nonzero(codes >= 0)
    out[u, g * n_categories + codes[g, u]] = 1.0
    return out


def pair_onehot(a: np.ndarray, b: np.ndarray, n_categories: int) -> np.ndarray:
    """``(U, K * K)``: one-hot of the (a, b) category pair on units both rated."""
    out = np.zeros((a.shape[0], n_categories * n_categories))
    ok = np.flatnonzero((a >= 0) & (b >= 0))
    out[ok, a[ok] * n_categories + b[ok]] = 1.0
    return out


def conger_chance_from_counts(per_rater: np.ndarray, weight_mat: np.ndarray) -> float:
    """Conger's chance agreement from ``(R, K)`` per-rater category counts."""
    n_g = per_rater.sum(axis=1)
    per_rater = per_rater[n_g > 0]
    r = per_rater.shape[0]
    if r < 2:
        return _NAN
    p = per_rater / per_rater.sum(axis=1, keepdims=True)
    p_mean = p.mean(axis=0)
    s2 = (p.T @ p - r * np.outer(p_mean, p_mean)) / (r - 1)
    return float(np.sum(weight_mat * (np.outer(p_mean, p_mean) - s2 / r)))


def bootstrap_multiplicities(
    n_units: int, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """``(n_boot, U)`` float64 multiplicities of units drawn with replacement."""
    draws = rng.integers(0, n_units, size=(n_boot, n_units))
    draws += (np.arange(n_boot) * n_units)[:, None]
    return np.bincount(draws.ravel(), minlength=n_boot * n_units).reshape(
        n_boot, n_units
    ).astype(np.float64)
