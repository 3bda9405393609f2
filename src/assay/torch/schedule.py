"""Learning-rate range test (Smith 2015, fast.ai's ``lr_find``) and the one-cycle schedule.

:func:`find_lr` trains a *copy* of a model for ``num_steps`` mini-batches while the learning
rate grows exponentially from ``start_lr`` to ``end_lr``; the loss is smoothed with an
exponential moving average (bias-corrected, ``beta = 0.98``) and the test stops once the
smoothed loss exceeds ``diverge`` times its best value. The suggestion rule is ``"min/10"``:
the learning rate at the minimum of the smoothed loss, divided by 10 (the rule of fast.ai v1's
``lr_find`` and of Smith's "one order of magnitude below where the loss is minimal"); it is
less noisy than the steepest-descent point on short curves. :func:`fit_head` with ``lr="auto"``
uses it as ``max_lr`` of :class:`torch.optim.lr_scheduler.OneCycleLR`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["SUGGESTION_RULE", "LRFinderResult", "find_lr"]

#: How :func:`find_lr` turns the curve into a learning rate.
SUGGESTION_RULE = "min/10"


@dataclass(frozen=True)
class LRFinderResult:
    """The curve of a learning-rate range test and the learning rate it suggests.

    Attributes
    ----------
    lrs : list of float
        Learning rate of every step that was run.
    losses : list of float
        Smoothed (bias-corrected exponential moving average) training loss after each step.
    suggested_lr : float
        ``lrs[argmin(losses)] / 10`` (rule ``"min/10"``), clipped to ``[start_lr, end_lr]``.
    rule : str
    stopped_early : bool
        Whether the smoothed loss passed ``diverge`` x its best before ``num_steps``.
    """

    lrs: list[float]
    losses: list[float]
    suggested_lr: float
    rule: str
    stopped_early: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ``lrs``, ``losses``, ``suggested_lr``, ``rule``, ``stopped_early``."""
        return {"lrs": [float(v) for v in self.lrs], "losses": [float(v) for v in self.losses],
                "suggested_lr": float(self.suggested_lr), "rule": self.rule,
                "stopped_early": bool(self.stopped_early)}


def find_lr(
    model: nn.Module,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    trainable: Callable[[nn.Module], list[nn.Parameter]] | None = None,
    batch_size: int = 128,
    weight_decay: float = 0.0,
    start_lr: float = 1e-5,
    end_lr: float = 1.0,
    num_steps: int = 100,
    beta: float = 0.98,
    diverge: float = 4.0,
    random_state: int = 0,
) -> LRFinderResult:
    """Learning-rate range test with Adam on a copy of ``model`` (``model`` is not changed).

    Parameters
    ----------
    model : torch.nn.Module
    loss_fn : callable
        ``loss_fn(logits, targets) -> scalar``.
    x, y : torch.Tensor
        Training rows and targets; mini-batches are drawn from seeded permutations.
    trainable : callable, optional
        ``trainable(copy) -> parameters to train`` (default: all of the copy's parameters).
    batch_size, weight_decay
        As in the training that follows.
    start_lr, end_lr, num_steps
        The learning rate of step ``i`` is ``start_lr * (end_lr / start_lr) ** (i / (num_steps
        - 1))``.
    beta : float
        Smoothing of the loss (exponential moving average, bias-corrected).
    diverge : float
        Stop when the smoothed loss exceeds ``diverge`` x the best smoothed loss so far.
    random_state : int
        Seeds the batch order; the same seed and inputs give the same curve.

    Returns
    -------
    LRFinderResult

    Examples
    --------
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(256, 2, generator=g)
    >>> y = (x[:, 0] > 0).long()
    >>> res = find_lr(torch.nn.Linear(2, 2), torch.nn.functional.cross_entropy, x, y)
    >>> res.rule, 1e-5 <= res.suggested_lr <= 1.0
    ('min/10', True)
    """
    work = copy.deepcopy(model)
    params = list(work.parameters()) if trainable is None else trainable(work)
    opt = torch.optim.Adam(params, lr=start_lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(int(random_state))
    ratio = (end_lr / start_lr) ** (1.0 / max(num_steps - 1, 1))
    n = x.shape[0]
    lrs: list[float] = []
    losses: list[float] = []
    avg, best, stopped = 0.0, float("inf"), False
    order = torch.randperm(n, generator=gen)
    pos = 0
    work.train()
    for step in range(num_steps):
        lr = start_lr * ratio**step
        for group in opt.param_groups:
            group["lr"] = lr
        if pos >= n:
            order, pos = torch.randperm(n, generator=gen), 0
        idx = order[pos:pos + batch_size]
        pos += batch_size
        loss = loss_fn(work(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        value = float(loss.detach())
        avg = beta * avg + (1 - beta) * value
        smooth = avg / (1 - beta ** (step + 1))
        if not np.isfinite(smooth):
            stopped = True
            break
        lrs.append(lr)
        losses.append(smooth)
        best = min(best, smooth)
        if step > 0 and smooth > diverge * best:
            stopped = True
            break
    if not losses:  # diverged at the first step: the smallest learning rate is all we know
        return LRFinderResult([], [], float(start_lr), SUGGESTION_RULE, True)
    lr_min = lrs[int(np.argmin(losses))]
    suggested = float(np.clip(lr_min / 10.0, start_lr, end_lr))
    return LRFinderResult(lrs, losses, suggested, SUGGESTION_RULE, stopped)
