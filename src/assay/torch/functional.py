"""Pure long-tail losses on logits (no state, no modules).

Every loss takes ``logits`` of shape (N, C) and integer ``targets`` of shape (N,) and reduces a
per-row loss ``l_i`` to a scalar. Without ``weight`` that is the mean over the N rows. With a
per-class ``weight`` (``w_i = weight[targets[i]]``) the normalisation follows each loss's
reference implementation:

- :func:`cross_entropy`, :func:`ldam_loss` and :func:`logit_adjusted_loss` return the weighted
  mean ``sum_i w_i l_i / sum_i w_i``, exactly ``torch.nn.functional.cross_entropy(weight=...)``
  (``reduction="mean"``). This is what the LDAM-DRW reference code (Cao et al. 2019,
  github.com/kaidic/LDAM-DRW) computes after ``drw_start`` and for its class-balanced
  ("Reweight") cross-entropy.
- :func:`focal_loss` returns ``sum_i w_i l_i / N`` (Lin et al. 2017's alpha-balanced focal loss,
  and the ``.mean()`` of the LDAM-DRW repository's ``focal_loss``), see its docstring for the one
  place it differs from that repository.

A batch whose rows all have weight 0 gives NaN for the weighted mean, as in torch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from assay.exceptions import InputValidationError, InvalidParameterError

__all__ = [
    "balanced_softmax_loss",
    "cross_entropy",
    "focal_loss",
    "ldam_loss",
    "ldam_margins",
    "logit_adjusted_loss",
]


def _check(logits: torch.Tensor, targets: torch.Tensor) -> None:
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise InputValidationError(
            f"logits must be a 2-d torch tensor (rows x classes); got {shape}."
        )
    if not isinstance(targets, torch.Tensor) or targets.ndim != 1 or (
        targets.shape[0] != logits.shape[0]
    ):
        shape = tuple(targets.shape) if isinstance(targets, torch.Tensor) else type(targets).__name__
        raise InputValidationError(
            f"targets must be a 1-d integer tensor with one entry per logits row "
            f"({logits.shape[0]}); got {shape}."
        )


def _per_class(name: str, values: Any, logits: torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(values, dtype=logits.dtype, device=logits.device)
    if t.ndim != 1 or t.shape[0] != logits.shape[1]:
        raise InputValidationError(
            f"{name} must have one entry per class ({logits.shape[1]}); got shape "
            f"{tuple(t.shape)}. Pass the per-class vector in class-index order."
        )
    return t


def _reduce(
    per_row: torch.Tensor, targets: torch.Tensor, weight: Any, *, by_weight: bool = True
) -> torch.Tensor:
    """Mean of ``per_row``; with ``weight``, ``sum(w_y l) / sum(w_y)`` or, if not ``by_weight``,
    ``sum(w_y l) / N``."""
    if weight is None:
        return per_row.mean()
    w = weight[targets]
    total = (per_row * w).sum()
    return total / w.sum() if by_weight else total / per_row.shape[0]


def cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, *, weight: Any = None
) -> torch.Tensor:
    """Softmax cross-entropy, optionally class-weighted.

    Without ``weight`` the mean over rows; with it the weighted mean
    ``sum_i w_{y_i} l_i / sum_i w_{y_i}``, equal to
    ``torch.nn.functional.cross_entropy(logits, targets, weight=weight)``.

    Examples
    --------
    >>> import torch
    >>> round(float(cross_entropy(torch.zeros(2, 4), torch.tensor([0, 3]))), 4)
    1.3863
    """
    _check(logits, targets)
    w = None if weight is None else _per_class("weight", weight, logits)
    return _reduce(F.cross_entropy(logits, targets, reduction="none"), targets, w)


def focal_loss(
    logits: torch.Tensor, targets: torch.Tensor, *, gamma: float = 2.0, weight: Any = None
) -> torch.Tensor:
    """Softmax focal loss ``(1 - p_y)^gamma * (-log p_y)`` (Lin et al. 2017), mean over rows.

    ``gamma = 0`` is cross-entropy. With ``weight`` this is Lin et al.'s alpha-balanced form
    ``sum_i w_{y_i} (1 - p_{y_i})^gamma (-log p_{y_i}) / N``: divided by the number of rows N,
    not by the sum of the weights (so with weights and ``gamma = 0`` it is *not*
    :func:`cross_entropy` with the same weights, which divides by ``sum_i w_{y_i}``).

    The LDAM-DRW repository's ``FocalLoss`` (github.com/kaidic/LDAM-DRW, ``losses.py``) computes
    ``l_i = F.cross_entropy(..., weight=w, reduction="none")`` (already multiplied by ``w_{y_i}``),
    then ``p = exp(-l_i)`` and ``((1 - p)^gamma * l_i).mean()``. It equals this function without
    ``weight`` and with ``gamma = 0``; with both a weight and ``gamma > 0`` it differs, because
    its modulating factor uses ``exp(-w_{y_i} l_i)`` instead of the true-class probability
    ``p_{y_i}``. Assay keeps the true-class probability (the published formula).

    Examples
    --------
    >>> import torch
    >>> round(float(focal_loss(torch.zeros(1, 2), torch.tensor([0]), gamma=2.0)), 4)
    0.1733
    """
    _check(logits, targets)
    if not isinstance(gamma, int | float) or isinstance(gamma, bool) or gamma < 0:
        raise InvalidParameterError("gamma", "a float >= 0", gamma, owner="focal_loss")
    w = None if weight is None else _per_class("weight", weight, logits)
    logp = F.log_softmax(logits, dim=1).gather(1, targets[:, None]).squeeze(1)
    per_row = -((1.0 - logp.exp()).clamp_min(0.0) ** gamma) * logp
    return _reduce(per_row, targets, w, by_weight=False)


def ldam_margins(counts: Any, *, max_margin: float = 0.5) -> np.ndarray:
    """LDAM margins ``Delta_j`` proportional to ``n_j^(-1/4)``, rescaled so the largest is ``max_margin``.

    A class with no training sample never appears as a target; it gets ``max_margin``.

    Examples
    --------
    >>> ldam_margins([16, 1]).tolist()
    [0.25, 0.5]
    """
    from assay._validation import check_counts

    n = check_counts(counts, name="counts")
    if not isinstance(max_margin, int | float) or isinstance(max_margin, bool) or max_margin <= 0:
        raise InvalidParameterError("max_margin", "a float > 0", max_margin, owner="ldam_margins")
    raw = np.where(n > 0, np.power(np.where(n > 0, n, 1.0), -0.25), np.inf)
    finite_max = raw[np.isfinite(raw)].max()
    m = raw * (max_margin / finite_max)
    return np.where(np.isfinite(m), m, float(max_margin))


def ldam_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    margins: Any,
    *,
    scale: float = 30.0,
    weight: Any = None,
) -> torch.Tensor:
    """LDAM loss (Cao et al. 2019): ``CE(scale * (z - Delta_y e_y))`` on cosine logits ``z``.

    ``logits`` should be cosine similarities in [-1, 1] (a :class:`CosineClassifier` with
    ``scale=1``); the margin is subtracted from the true class only, then everything is scaled.
    With ``weight`` (deferred re-weighting) the loss is the weighted mean
    ``sum_i w_{y_i} l_i / sum_i w_{y_i}``, exactly the reference code's
    ``F.cross_entropy(s * output, target, weight=w)`` (Cao et al. 2019, kaidic/LDAM-DRW).

    Examples
    --------
    >>> import torch
    >>> z = torch.tensor([[0.5, 0.5]])
    >>> round(float(ldam_loss(z, torch.tensor([0]), [0.1, 0.1], scale=10.0)), 4)
    1.3133
    """
    _check(logits, targets)
    m = _per_class("margins", margins, logits)
    w = None if weight is None else _per_class("weight", weight, logits)
    shifted = logits - F.one_hot(targets, logits.shape[1]).to(logits.dtype) * m[targets][:, None]
    return _reduce(F.cross_entropy(scale * shifted, targets, reduction="none"), targets, w)


def logit_adjusted_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    log_prior: Any,
    *,
    tau: float = 1.0,
    weight: Any = None,
) -> torch.Tensor:
    """Logit-adjusted loss (Menon et al. 2021): ``CE(f + tau * log pi)``; predict with raw ``f``.

    ``log_prior`` must be finite (see :func:`assay.longtail.log_prior`, which refuses the
    ``-inf`` of an empty class unless you smooth). With ``weight``, the weighted mean
    ``sum_i w_{y_i} l_i / sum_i w_{y_i}``, as :func:`cross_entropy`.

    Examples
    --------
    >>> import torch
    >>> lp = torch.log(torch.tensor([0.5, 0.5]))
    >>> round(float(logit_adjusted_loss(torch.zeros(1, 2), torch.tensor([1]), lp)), 4)
    0.6931
    """
    _check(logits, targets)
    lp = _per_class("log_prior", log_prior, logits)
    if not torch.all(torch.isfinite(lp)):
        raise InputValidationError(
            "log_prior has -inf or NaN entries (a class with no training sample). Build it with "
            "assay.longtail.log_prior(counts, smoothing=1.0) to give empty classes a finite prior."
        )
    w = None if weight is None else _per_class("weight", weight, logits)
    adjusted = logits + tau * lp[None, :]
    return _reduce(F.cross_entropy(adjusted, targets, reduction="none"), targets, w)


def balanced_softmax_loss(
    logits: torch.Tensor, targets: torch.Tensor, log_prior: Any
) -> torch.Tensor:
    """Balanced Softmax (Ren et al. 2020): the logit-adjusted loss with ``tau = 1``.

    Examples
    --------
    >>> import torch
    >>> lp = torch.log(torch.tensor([0.9, 0.1]))
    >>> round(float(balanced_softmax_loss(torch.zeros(1, 2), torch.tensor([0]), lp)), 4)
    0.1054
    """
    return logit_adjusted_loss(logits, targets, log_prior, tau=1.0)
