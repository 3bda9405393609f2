"""Small-model sanity check: can the model drive its loss near zero on a tiny subset?

A model (and loss, and data pipeline) that cannot memorise a handful of examples has a bug: a
detached graph, a frozen layer, labels misaligned with features, a loss option that never took
effect. Run this before a long training run.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from assay._validation import (
    check_features,
    check_int,
    check_labels,
    check_random_state,
    check_same_length,
)
from assay.exceptions import InvalidParameterError

__all__ = ["SanityResult", "overfit_check"]


@dataclass(frozen=True)
class SanityResult:
    """Outcome of :func:`overfit_check`.

    Attributes
    ----------
    passed : bool
        ``final_loss <= threshold``.
    initial_loss, final_loss : float
    threshold : float
    n_samples, steps : int
    rows : numpy.ndarray
        The subset used (row indices).
    """

    passed: bool
    initial_loss: float
    final_loss: float
    threshold: float
    n_samples: int
    steps: int
    rows: np.ndarray


def overfit_check(
    model: nn.Module,
    features: Any,
    labels: Any,
    *,
    n_samples: int = 16,
    steps: int = 300,
    lr: float = 1e-2,
    threshold: float = 0.05,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    random_state: Any = 0,
) -> SanityResult:
    """Train a copy of ``model`` full-batch on ``n_samples`` rows and report whether it fits them.

    The model passed in is not modified.

    Parameters
    ----------
    model : torch.nn.Module
        Maps a float32 (n, d) tensor to (n, C) logits.
    features : array-like, shape (N, d)
    labels : array-like of int, shape (N,)
    n_samples : int, default 16
        Size of the tiny subset (drawn at random, seeded).
    steps : int, default 300
        Adam steps on the full subset.
    lr : float, default 1e-2
    threshold : float, default 0.05
        The check passes when the final loss is at most this.
    loss_fn : callable, optional
        ``loss_fn(logits, targets)``; default cross-entropy.
    random_state : None, int or numpy.random.Generator

    Returns
    -------
    SanityResult

    Examples
    --------
    >>> import numpy as np, torch
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.normal(size=(50, 8)), rng.integers(0, 3, 50)
    >>> model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(),
    ...                             torch.nn.Linear(32, 3))
    >>> overfit_check(model, x, y, n_samples=8).passed
    True
    """
    if not isinstance(model, nn.Module):
        raise InvalidParameterError("model", "a torch.nn.Module", type(model).__name__,
                                    owner="overfit_check")
    x = check_features(features)
    y = check_labels(labels, min_classes=1)
    check_same_length(features=x, labels=y)
    n_samples = check_int("n_samples", n_samples, low=1, owner="overfit_check")
    steps = check_int("steps", steps, low=1, owner="overfit_check")
    ok = isinstance(threshold, int | float) and not isinstance(threshold, bool) and threshold > 0
    if not ok:
        raise InvalidParameterError("threshold", "a float > 0", threshold, owner="overfit_check")
    rng = check_random_state(random_state)
    rows = np.sort(rng.choice(x.shape[0], size=min(n_samples, x.shape[0]), replace=False))
    xt = torch.from_numpy(x[rows])
    yt = torch.from_numpy(y[rows])
    fn = loss_fn or F.cross_entropy
    trial = copy.deepcopy(model)
    trial.train()
    opt = torch.optim.Adam([p for p in trial.parameters() if p.requires_grad], lr=lr)
    with torch.no_grad():
        initial = float(fn(trial(xt), yt))
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = fn(trial(xt), yt)
        loss.backward()
        opt.step()
    with torch.no_grad():
        final = float(fn(trial(xt), yt))
    return SanityResult(
        passed=bool(final <= threshold), initial_loss=initial, final_loss=final,
        threshold=float(threshold), n_samples=int(rows.size), steps=steps, rows=rows,
    )
