"""Detect ill-behaved learning curves before fitting them.

Mohr et al. (LCDB, 2022) found about 14-15 % of real learning curves are not monotone or not
convex; a power law fitted through such a curve extrapolates badly. A violation counts only when
it exceeds the noise: two standard errors of the difference between neighbouring mean values
(from the replicates at each size), or ``tolerance`` where there are no replicates.
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
    """

    monotone: bool
    convex: bool
    constant: bool
    issues: list[str] = field(default_factory=list)

    @property
    def well_behaved(self) -> bool:
        """True when the curve is monotone, convex and not constant."""
        return self.monotone and self.convex and not self.constant


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
    return CurveQuality(
        monotone=rises.size == 0,
        convex=bends.size == 0,
        constant=constant,
        issues=issues,
    )
