"""Long-tail losses as modules built from training class counts, and their registry.

Each module is ``loss(logits, targets)``; the ones with a schedule (LDAM-DRW) also have
``set_epoch(epoch)``, which the trainer calls at the start of every epoch (a no-op elsewhere).
:data:`LOSSES` maps recipe names to factories ``factory(counts, **options) -> module``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from assay._validation import check_choice, check_counts
from assay.longtail import class_balanced_weights, log_prior
from assay.torch import functional as Fn

__all__ = [
    "LOSSES",
    "BalancedSoftmaxLoss",
    "ClassBalancedLoss",
    "CrossEntropyLoss",
    "FocalLoss",
    "LDAMLoss",
    "LogitAdjustedLoss",
    "make_loss",
]


class _LongTailLoss(nn.Module):
    """Base: a loss with an optional per-epoch schedule."""

    #: the registry name of the loss, recorded with every run
    name: str = ""

    def set_epoch(self, epoch: int) -> None:
        """Called by the trainer at the start of each epoch; no-op unless the loss is scheduled."""


class CrossEntropyLoss(_LongTailLoss):
    """Plain softmax cross-entropy (the ``"ce"`` recipe), optionally class-weighted.

    With ``weight`` the loss is ``sum_i w_{y_i} l_i / sum_i w_{y_i}``, as
    ``torch.nn.CrossEntropyLoss(weight=...)``.

    Examples
    --------
    >>> import torch
    >>> loss = CrossEntropyLoss()
    >>> round(float(loss(torch.zeros(1, 2), torch.tensor([0]))), 4)
    0.6931
    """

    name = "ce"
    weight: torch.Tensor | None  # buffer

    def __init__(self, weight: Any = None) -> None:
        super().__init__()
        w = None if weight is None else torch.as_tensor(np.asarray(weight), dtype=torch.float32)
        self.register_buffer("weight", w)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return Fn.cross_entropy(logits, targets, weight=self.weight)


class ClassBalancedLoss(_LongTailLoss):
    """Cross-entropy weighted by class-balanced weights (Cui et al. 2019; ``"cb"`` recipe).

    Weights: :func:`assay.longtail.class_balanced_weights` (sum to C). The batch loss is the
    weighted mean ``sum_i w_{y_i} l_i / sum_i w_{y_i}``, as
    ``torch.nn.CrossEntropyLoss(weight=w)`` (the LDAM-DRW repository's ``Reweight`` rule).

    Examples
    --------
    >>> import torch
    >>> loss = ClassBalancedLoss([100, 10], beta=0.999)
    >>> float(loss.weight.sum())
    2.0
    """

    name = "cb"
    weight: torch.Tensor  # buffer

    def __init__(self, counts: Any, *, beta: float = 0.9999) -> None:
        super().__init__()
        w = class_balanced_weights(counts, beta=beta)
        self.register_buffer("weight", torch.as_tensor(w, dtype=torch.float32))

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return Fn.cross_entropy(logits, targets, weight=self.weight)


class FocalLoss(_LongTailLoss):
    """Softmax focal loss (``"focal"`` recipe); ``gamma = 2`` by default.

    The recipe uses no class weights. With ``weight`` the loss is
    ``sum_i w_{y_i} (1 - p_{y_i})^gamma (-log p_{y_i}) / N`` (divided by the number of rows, as
    the LDAM-DRW repository's ``focal_loss(...).mean()``); see :func:`assay.torch.focal_loss`
    for how it differs from that repository when both a weight and ``gamma > 0`` are given.

    Examples
    --------
    >>> import torch
    >>> round(float(FocalLoss(gamma=0.0)(torch.zeros(1, 2), torch.tensor([0]))), 4)
    0.6931
    """

    name = "focal"
    weight: torch.Tensor | None  # buffer

    def __init__(self, *, gamma: float = 2.0, weight: Any = None) -> None:
        super().__init__()
        self.gamma = float(gamma)
        w = None if weight is None else torch.as_tensor(np.asarray(weight), dtype=torch.float32)
        self.register_buffer("weight", w)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return Fn.focal_loss(logits, targets, gamma=self.gamma, weight=self.weight)


class LDAMLoss(_LongTailLoss):
    """LDAM with deferred re-weighting (``"ldam-drw"`` recipe, Cao et al. 2019).

    Margins ``Delta_j`` proportional to ``n_j^(-1/4)`` with the largest ``max_margin``; logits
    scaled by ``scale`` after the margin. With ``drw_start`` set, epochs ``>= drw_start`` use
    class-balanced weights with ``beta`` (the paper: epoch 160 of 200, beta 0.9999); earlier
    epochs are unweighted. A weighted batch's loss is the weighted mean
    ``sum_i w_{y_i} l_i / sum_i w_{y_i}``, exactly the reference code's
    ``F.cross_entropy(s * output, target, weight=per_cls_weights)`` (kaidic/LDAM-DRW).
    Expects cosine logits (a :class:`CosineClassifier` with scale 1).

    Examples
    --------
    >>> loss = LDAMLoss([100, 1], drw_start=2)
    >>> loss.set_epoch(0); loss.weight is None
    True
    >>> loss.set_epoch(2); [round(float(w), 3) for w in loss.weight]
    [0.02, 1.98]
    """

    name = "ldam-drw"

    # buffers (registered in __init__); declared so type checkers see Tensors, not
    # nn.Module.__getattr__'s ``Tensor | Module``
    margins: torch.Tensor
    _drw_weight: torch.Tensor

    def __init__(
        self,
        counts: Any,
        *,
        max_margin: float = 0.5,
        scale: float = 30.0,
        drw_start: int | None = None,
        beta: float = 0.9999,
    ) -> None:
        super().__init__()
        self.scale = float(scale)
        self.drw_start = drw_start
        self.register_buffer(
            "margins", torch.as_tensor(Fn.ldam_margins(counts, max_margin=max_margin),
                                       dtype=torch.float32)
        )
        self.register_buffer(
            "_drw_weight",
            torch.as_tensor(class_balanced_weights(counts, beta=beta), dtype=torch.float32),
        )
        self.weight: torch.Tensor | None = None

    def set_epoch(self, epoch: int) -> None:
        """Switch to class-balanced weights from ``drw_start`` on (deferred re-weighting)."""
        on = self.drw_start is not None and epoch >= self.drw_start
        self.weight = self._drw_weight if on else None

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return Fn.ldam_loss(logits, targets, self.margins, scale=self.scale, weight=self.weight)


class LogitAdjustedLoss(_LongTailLoss):
    """Logit-adjusted cross-entropy ``CE(f + tau log pi)`` (``"logit-adjusted"`` recipe).

    ``smoothing`` adds a pseudo-count to every class before taking the log prior; without it a
    class with zero training samples raises (its log prior is ``-inf``).

    Examples
    --------
    >>> import torch
    >>> loss = LogitAdjustedLoss([3, 1], tau=1.0)
    >>> round(float(loss(torch.zeros(1, 2), torch.tensor([1]))), 4)
    1.3863
    """

    name = "logit-adjusted"
    log_prior: torch.Tensor  # buffer

    def __init__(self, counts: Any, *, tau: float = 1.0, smoothing: float = 0.0) -> None:
        super().__init__()
        self.tau = float(tau)
        self.register_buffer(
            "log_prior", torch.as_tensor(log_prior(counts, smoothing=smoothing),
                                         dtype=torch.float32)
        )

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return Fn.logit_adjusted_loss(logits, targets, self.log_prior, tau=self.tau)


class BalancedSoftmaxLoss(LogitAdjustedLoss):
    """Balanced Softmax (``"balanced-softmax"`` recipe): the logit-adjusted loss with tau = 1.

    Examples
    --------
    >>> import torch
    >>> loss = BalancedSoftmaxLoss([3, 1])
    >>> round(float(loss(torch.zeros(1, 2), torch.tensor([1]))), 4)
    1.3863
    """

    name = "balanced-softmax"

    def __init__(self, counts: Any, *, smoothing: float = 0.0) -> None:
        super().__init__(counts, tau=1.0, smoothing=smoothing)


def _ce(counts: Any, **_: Any) -> _LongTailLoss:
    check_counts(counts, name="counts")
    return CrossEntropyLoss()


def _cb(counts: Any, *, beta: float = 0.9999, **_: Any) -> _LongTailLoss:
    return ClassBalancedLoss(counts, beta=beta)


def _focal(counts: Any, *, gamma: float = 2.0, **_: Any) -> _LongTailLoss:
    check_counts(counts, name="counts")
    return FocalLoss(gamma=gamma)


def _ldam(
    counts: Any, *, drw_start: int | None = None, beta: float = 0.9999,
    max_margin: float = 0.5, ldam_scale: float = 30.0, **_: Any,
) -> _LongTailLoss:
    return LDAMLoss(counts, max_margin=max_margin, scale=ldam_scale, drw_start=drw_start,
                    beta=beta)


def _la(counts: Any, *, tau: float = 1.0, smoothing: float = 0.0, **_: Any) -> _LongTailLoss:
    return LogitAdjustedLoss(counts, tau=tau, smoothing=smoothing)


def _bs(counts: Any, *, smoothing: float = 0.0, **_: Any) -> _LongTailLoss:
    return BalancedSoftmaxLoss(counts, smoothing=smoothing)


#: recipe name -> factory(counts, **options) -> loss module
LOSSES: dict[str, Callable[..., _LongTailLoss]] = {
    "ce": _ce,
    "cb": _cb,
    "focal": _focal,
    "ldam-drw": _ldam,
    "logit-adjusted": _la,
    "balanced-softmax": _bs,
}


def make_loss(name: str, counts: Any, **options: Any) -> _LongTailLoss:
    """Build the loss registered under ``name`` from training class counts.

    Parameters
    ----------
    name : {"ce", "cb", "focal", "ldam-drw", "logit-adjusted", "balanced-softmax"}
    counts : array-like, shape (C,)
        Training samples per class.
    **options
        ``beta`` (cb, ldam-drw), ``gamma`` (focal), ``tau`` (logit-adjusted), ``drw_start``,
        ``max_margin``, ``ldam_scale`` (ldam-drw), ``smoothing`` (logit-adjusted,
        balanced-softmax). Options a loss does not use are ignored.

    Returns
    -------
    torch.nn.Module
        With ``name`` equal to ``name`` and a ``set_epoch(epoch)`` method.

    Examples
    --------
    >>> make_loss("balanced-softmax", [10, 1]).name
    'balanced-softmax'
    """
    check_choice("name", name, tuple(LOSSES), owner="make_loss")
    return LOSSES[name](counts, **options)
