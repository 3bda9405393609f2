"""Detect ill-behaved learning curves before fitting them.

Mohr et al. (LCDB, 2022) found about 14-15 % of real learning curves are not monotone or not
convex; a power law fitted through such a curve extrapolates badly. A violation counts only when
it exceeds the noise: two standard errors of the difference between neighbouring mean values
(from the replicates at each size), or ``tolerance`` where there are no replicates.

A curve can also be monotone and convex and still not be in its power-law region yet: in the
"small-data region" (Hestness et al. 2017) the error first falls slowly and then faster, so its
log-log slope steepens. A fit through those sizes cannot tell how much steeper the curve will
get: on ``benchmarks/curve_extrapolation.py`` (an MLP on MNIST-1D) every family under-predicted
the gains ahead and over-estimated the data a target needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class CurveQuality:
    """What is wrong with a learning curve, if anything.

    Attributes
    ----------
    monotone : bool
        The mean of ``y`` (error or loss) never rises between neighbouring sizes by more than
        the noise.
    convex : bool
        The slope of ``y`` against ``n`` never falls by more than the noise (diminishing
        returns, as every family assumes).
    constant : bool
        The curve does not change with ``n`` beyond the noise (two median standard errors).
    issues : list of str
        One sentence per violation, naming the sizes.
    power_law : bool
        False when the log-log slope of ``y`` steepens beyond the noise over the sizes (by more
        than ``STEEPENING`` from the smallest to the largest size, and by more than two standard
        errors of a quadratic fit in log-log space): the curve is still in its small-data region.
    """

    monotone: bool
    convex: bool
    constant: bool
    issues: list[str] = field(default_factory=list)
    power_law: bool = True

    @property
    def well_behaved(self) -> bool:
        """True when the curve is monotone, convex, not constant and in its power-law region."""
        return self.monotone and self.convex and not self.constant and self.power_law


#: Least change of the log-log slope, smallest to largest size, that counts as steepening.
STEEPENING = 0.1
_MIN_SIZES_FOR_CURVATURE = 5


def log_log_curvature(
    n: np.ndarray, mean: np.ndarray, se: np.ndarray
) -> tuple[float, float, float, float]:
    """Quadratic fit of ``log mean`` on ``log n``: (curvature, its standard error, slope at the
    smallest size, slope at the largest).

    Weighted by the replicates' standard errors of ``log mean`` (floored at 0.001); the
    coefficient's standard error uses the larger of the replicate and the residual variance.
    """
    z = np.log(n)
    zc = z - z.mean()
    ly = np.log(np.maximum(mean, 1e-300))
    rel = np.where(se > 0, se / np.maximum(mean, 1e-300), 0.0)
    w = 1.0 / np.maximum(rel, 1e-3) ** 2
    x = np.column_stack([np.ones_like(zc), zc, zc**2])
    sw = np.sqrt(w)
    beta, *_ = np.linalg.lstsq(x * sw[:, None], ly * sw, rcond=None)
    res = (ly - x @ beta) * sw
    scale = max(float(res @ res) / max(n.size - 3, 1), 1.0)
    cov = scale * np.linalg.pinv((x * w[:, None]).T @ x)
    c2 = float(beta[2])
    slope = lambda v: float(beta[1] + 2.0 * c2 * v)  # noqa: E731
    return c2, float(np.sqrt(max(cov[2, 2], 0.0))), slope(zc.min()), slope(zc.max())


def summarise_by_size(sizes: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return distinct sizes (ascending), the mean of ``y`` and its standard error at each."""
    uniq, inv = np.unique(sizes, return_inverse=True)
    count = np.bincount(inv).astype(float)
    mean = np.bincount(inv, weights=y) / count
    sq = np.bincount(inv, weights=(y - mean[inv]) ** 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = np.where(count > 1, sq / np.maximum(count - 1, 1), 0.0)
    return uniq, mean, np.sqrt(var / count)


def check_curve_quality(
    sizes: np.ndarray, y: np.ndarray, *, tolerance: float = 0.0
) -> CurveQuality:
    """Check a falling curve ``y(n)`` for non-monotone steps, non-convex bends and flatness.

    Parameters
    ----------
    sizes : ndarray of shape (M,)
        Training-set sizes (repeats allowed: one row per seed).
    y : ndarray of shape (M,)
        Error or loss at each size (lower is better).
    tolerance : float, default=0.0
        Smallest change counted as real, added to the noise estimated from replicates.

    Returns
    -------
    CurveQuality

    Examples
    --------
    >>> import numpy as np
    >>> from assay.curves import check_curve_quality
    >>> n = np.array([100, 200, 400, 800])
    >>> check_curve_quality(n, np.array([0.4, 0.3, 0.35, 0.2])).monotone
    False
    """
    n, mean, se = summarise_by_size(np.asarray(sizes, float), np.asarray(y, float))
    issues: list[str] = []
    scale = max(float(np.max(np.abs(mean))), 1e-300)
    tiny = 1e-9 * scale
    noise = 2.0 * np.sqrt(se[:-1] ** 2 + se[1:] ** 2) + tolerance + tiny

    constant = bool(np.max(mean) - np.min(mean) <= 2.0 * float(np.median(se)) + tolerance + tiny)
    if constant:
        issues.append(
            f"the curve is flat: y stays within {np.max(mean) - np.min(mean):.3g} of "
            f"{float(np.mean(mean)):.4g} from n={n[0]:g} to n={n[-1]:g}"
        )

    rises = np.flatnonzero(np.diff(mean) > noise)
    for i in rises:
        issues.append(
            f"not monotone: y rises from {mean[i]:.4g} at n={n[i]:g} to {mean[i + 1]:.4g} "
            f"at n={n[i + 1]:g}"
        )

    bends: np.ndarray = np.array([], dtype=int)
    if n.size >= 3:
        dn = np.diff(n)
        slope = np.diff(mean) / dn
        slope_noise = noise / dn
        # Convex means slopes do not decrease: slope[i+1] >= slope[i] (both negative).
        bends = np.flatnonzero(slope[1:] < slope[:-1] - (slope_noise[1:] + slope_noise[:-1]))
        for i in bends:
            issues.append(
                f"not convex: the curve falls faster after n={n[i + 1]:g} than before it"
            )
    power_law = True
    if n.size >= _MIN_SIZES_FOR_CURVATURE and not constant and np.all(mean > 0):
        c2, c2_se, first, last = log_log_curvature(n, mean, se)
        if c2 < -2.0 * c2_se and last - first < -STEEPENING:
            power_law = False
            issues.append(
                f"not yet in its power-law region: the log-log slope steepens from {first:.2f} "
                f"at n={n[0]:g} to {last:.2f} at n={n[-1]:g} (small-data region); extrapolating "
                "from these sizes under-predicts the gains ahead and over-estimates the data a "
                "target needs"
            )
    return CurveQuality(
        monotone=rises.size == 0,
        convex=bends.size == 0,
        constant=constant,
        issues=issues,
        power_law=power_law,
    )
