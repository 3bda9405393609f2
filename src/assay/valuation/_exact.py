"""Exact semivalues by enumerating every coalition: the oracle the estimators are tested against.

For ``n`` players and a utility ``u`` the semivalue of player ``i`` is
``v(i) = sum_k w(k) sum_{|S| = k, i not in S} [u(S + i) - u(S)]``. With ``2**n`` utility
evaluations this is feasible up to about ``n = 12``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.special import betaln, gammaln

from assay._validation import check_choice, check_int
from assay.exceptions import InputValidationError, InvalidParameterError

__all__ = ["exact_semivalues", "semivalue_weights"]

_OWNER = "exact_semivalues"
_KINDS = ("shapley", "banzhaf", "beta", "loo")
#: Largest number of players the oracle accepts (2**16 utility evaluations).
EXACT_MAX_PLAYERS = 16


def semivalue_weights(n: int, kind: str, *, alpha: float = 1.0, beta: float = 1.0) -> np.ndarray:
    """Weight ``w(k)`` of one coalition of size ``k = 0..n-1`` for a semivalue of ``n`` players.

    ``sum_k C(n-1, k) w(k) = 1`` for Shapley, Beta and leave-one-out; Banzhaf is ``2**-(n-1)``.

    Examples
    --------
    >>> from assay.valuation import semivalue_weights
    >>> semivalue_weights(3, "shapley").round(4).tolist()
    [0.3333, 0.1667, 0.3333]
    """
    kind = check_choice("kind", kind, _KINDS, owner="semivalue_weights")
    k = np.arange(n, dtype=np.float64)
    if kind == "shapley":
        return np.exp(-np.log(n) - _log_comb(n - 1, k))
    if kind == "banzhaf":
        return np.full(n, 2.0 ** -(n - 1))
    if kind == "beta":
        if not (alpha > 0 and beta > 0):
            raise InvalidParameterError(
                "alpha, beta", "positive floats", (alpha, beta), owner="semivalue_weights"
            )
        return np.exp(betaln(k + beta, n - k - 1 + alpha) - betaln(alpha, beta))
    w = np.zeros(n)
    w[-1] = 1.0
    return w


def _log_comb(n: int, k: np.ndarray) -> np.ndarray:
    return gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)


def exact_semivalues(
    utility: Callable[[np.ndarray], Any],
    n_players: int | None = None,
    *,
    kind: str = "shapley",
    alpha: float = 1.0,
    beta: float = 1.0,
) -> np.ndarray:
    """Exact Shapley, Banzhaf, Beta(alpha, beta) or leave-one-out values by enumeration.

    Parameters
    ----------
    utility : callable
        ``utility(indices) -> float`` or a vector of ``T`` floats, for an int array of player
        indices (sorted). A :class:`~assay.valuation.ModelUtility` or any callable.
    n_players : int, optional
        Number of players; read from ``utility.n_players`` when omitted. At most 16.
    kind : {"shapley", "banzhaf", "beta", "loo"}, default "shapley"
    alpha, beta : float, default 1.0
        Parameters of Beta Shapley (``kind="beta"``); Beta(1, 1) is Shapley.

    Returns
    -------
    ndarray of shape (n_players,) or (n_players, T)

    Examples
    --------
    >>> from assay.valuation import exact_semivalues
    >>> exact_semivalues(lambda s: float(len(s) > 0), 2).tolist()  # two interchangeable players
    [0.5, 0.5]
    """
    kind = check_choice("kind", kind, _KINDS, owner=_OWNER)
    if n_players is None:
        n_players = getattr(utility, "n_players", None)
        if n_players is None:
            raise InvalidParameterError(
                "n_players", "an int (the callable has no n_players attribute)", None, owner=_OWNER
            )
    n = check_int("n_players", n_players, low=1, high=EXACT_MAX_PLAYERS, owner=_OWNER)
    masks = np.arange(1 << n)
    bits = (masks[:, None] >> np.arange(n)[None, :]) & 1
    scores = []
    scalar = True
    for row in bits:
        value = np.asarray(utility(np.flatnonzero(row)), dtype=np.float64)
        if not np.all(np.isfinite(value)):
            raise InputValidationError(
                f"The utility returned {value.tolist()!r} for coalition {np.flatnonzero(row).tolist()}; "
                "exact values need a finite utility on every coalition."
            )
        scalar = value.ndim == 0
        scores.append(np.atleast_1d(value))
    u = np.stack(scores)  # (2**n, T)
    weights = semivalue_weights(n, kind, alpha=alpha, beta=beta)
    size = bits.sum(axis=1)
    out = np.empty((n, u.shape[1]))
    for i in range(n):
        without = masks[bits[:, i] == 0]
        delta = u[without | (1 << i)] - u[without]
        out[i] = weights[size[without]] @ delta
    return out[:, 0] if scalar else out
