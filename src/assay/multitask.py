"""Conflicting task gradients in multi-task learning: measure them, project them apart (PCGrad).

numpy only. :class:`assay.torch.PCGrad` wraps a torch optimizer with the same projection and the
same seeded task orders, so the two agree step for step.

PCGrad (Yu et al., NeurIPS 2020): for each task ``i``, visiting the other tasks ``j`` in a random
order, if ``g_i . g_j < 0`` replace ``g_i`` by ``g_i - (g_i . g_j / ||g_j||^2) g_j``; the update
is the sum of the projected gradients. The official code never actually shuffles the order; here
the order is a real, seeded permutation drawn for every task at every step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from assay._validation import check_random_state
from assay.exceptions import InputValidationError

__all__ = ["GradientConflict", "gradient_conflict", "project_conflicting", "task_orders"]


def _check_grads(grads: Any, *, allow_steps: bool = False) -> np.ndarray:
    try:
        arr = np.asarray(grads, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputValidationError(
            f"grads must be a numeric (tasks x parameters) array; it could not be converted ({exc})."
        ) from exc
    ok_dims = (2, 3) if allow_steps else (2,)
    if arr.ndim not in ok_dims:
        shape = "(tasks, parameters) or (steps, tasks, parameters)" if allow_steps else (
            "(tasks, parameters)"
        )
        raise InputValidationError(
            f"grads must have shape {shape}; got {arr.shape}. Flatten each task's gradient "
            "into one row (numpy.concatenate([g.ravel() for g in per_parameter_grads]))."
        )
    if arr.shape[-2] < 2:
        raise InputValidationError(
            f"grads holds {arr.shape[-2]} task(s); at least 2 are needed to compare or project "
            "task gradients."
        )
    if arr.shape[-1] == 0:
        raise InputValidationError("grads has no parameters (last dimension is 0).")
    if not np.all(np.isfinite(arr)):
        raise InputValidationError(
            "grads has NaN or infinite values. Check the task losses for overflow first."
        )
    return arr


@dataclass(frozen=True)
class GradientConflict:
    """Pairwise relations between task gradients.

    Attributes
    ----------
    cosine : numpy.ndarray, shape (..., T, T)
        Cosine similarity of each pair (0 where a gradient is zero).
    magnitude_similarity : numpy.ndarray, shape (..., T, T)
        ``2 ||g_i|| ||g_j|| / (||g_i||^2 + ||g_j||^2)`` in [0, 1] (1 for two zero gradients).
    conflict_frequency : numpy.ndarray, shape (T, T)
        Fraction of steps on which each pair conflicts (``cosine < 0``); 0/1 for one step.
    conflict_rate : float
        Fraction of (step, unordered pair) combinations that conflict.
    """

    cosine: np.ndarray
    magnitude_similarity: np.ndarray
    conflict_frequency: np.ndarray
    conflict_rate: float


def gradient_conflict(grads: Any) -> GradientConflict:
    """Pairwise cosine, magnitude similarity and conflict frequency of task gradients.

    Parameters
    ----------
    grads : array-like, shape (T, P) or (S, T, P)
        One flattened gradient per task, optionally for ``S`` steps.

    Returns
    -------
    GradientConflict

    Examples
    --------
    >>> r = gradient_conflict([[1.0, 0.0], [-1.0, 1.0]])
    >>> round(float(r.cosine[0, 1]), 4), r.conflict_rate
    (-0.7071, 1.0)
    """
    g = _check_grads(grads, allow_steps=True)
    steps = g if g.ndim == 3 else g[None]
    gram = np.einsum("stp,sup->stu", steps, steps)
    sq = np.einsum("stt->st", gram)
    norms = np.sqrt(sq)
    outer = norms[:, :, None] * norms[:, None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        cosine = np.where(outer > 0, gram / np.where(outer > 0, outer, 1.0), 0.0)
        denom = sq[:, :, None] + sq[:, None, :]
        magnitude = np.where(denom > 0, 2.0 * outer / np.where(denom > 0, denom, 1.0), 1.0)
    cosine = np.clip(cosine, -1.0, 1.0)
    conflict = cosine < 0
    frequency = conflict.mean(axis=0)
    t = g.shape[-2]
    iu = np.triu_indices(t, k=1)
    rate = float(conflict[:, iu[0], iu[1]].mean())
    if g.ndim == 2:
        cosine, magnitude = cosine[0], magnitude[0]
    return GradientConflict(
        cosine=cosine,
        magnitude_similarity=magnitude,
        conflict_frequency=frequency,
        conflict_rate=rate,
    )


def task_orders(n_tasks: int, rng: np.random.Generator) -> np.ndarray:
    """Draw, for each task, a random order of the other tasks (one PCGrad step).

    Parameters
    ----------
    n_tasks : int
        Number of tasks ``T``.
    rng : numpy.random.Generator

    Returns
    -------
    numpy.ndarray of int64, shape (T, T - 1)
        Row ``i`` is a permutation of ``{0..T-1} \\ {i}``.

    Examples
    --------
    >>> task_orders(3, np.random.default_rng(0)).shape
    (3, 2)
    """
    others = np.array([[j for j in range(n_tasks) if j != i] for i in range(n_tasks)],
                      dtype=np.int64).reshape(n_tasks, n_tasks - 1)
    return rng.permuted(others, axis=1)


def _project(g: np.ndarray, orders: np.ndarray) -> np.ndarray:
    sq = np.einsum("tp,tp->t", g, g)
    out = g.copy()
    for i in range(g.shape[0]):
        gi = out[i]
        for j in orders[i]:
            if sq[j] == 0:
                continue
            dot = float(gi @ g[j])
            if dot < 0:
                gi -= (dot / sq[j]) * g[j]
    return out


def project_conflicting(grads: Any, *, random_state: Any = None) -> np.ndarray:
    """PCGrad: project each task gradient off the others it conflicts with.

    For each task ``i``, in a seeded random order of the other tasks ``j``: if
    ``g_i . g_j < 0``, ``g_i <- g_i - (g_i . g_j / ||g_j||^2) g_j`` (``g_j`` is the *original*
    gradient of task ``j``, as in the paper). The update to apply is the sum of the returned
    rows. After projection each row no longer conflicts with the task it was last projected
    off, and for two tasks the summed update has a non-negative dot product with both original
    gradients.

    Parameters
    ----------
    grads : array-like, shape (T, P)
        One flattened gradient per task (tasks x parameters).
    random_state : None, int or numpy.random.Generator
        Seeds the task orders (draw once per step from one Generator for a reproducible run).

    Returns
    -------
    numpy.ndarray of float64, shape (T, P)
        Projected per-task gradients; their sum is the PCGrad update.

    Examples
    --------
    >>> g = np.array([[1.0, 0.0], [-1.0, 1.0]])
    >>> project_conflicting(g, random_state=0).tolist()
    [[0.5, 0.5], [0.0, 1.0]]
    """
    g = _check_grads(grads)
    rng = check_random_state(random_state)
    return _project(g, task_orders(g.shape[0], rng))
