"""Optional PyTorch layer: long-tail losses, samplers, light heads on frozen features, PCGrad.

The only package of assay that imports torch (extra ``torch``: ``pip install 'assay[torch]'``).
``assay.torch.tracin`` is a separate module, imported by its own path.
"""

from __future__ import annotations

try:
    import torch as _torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised by a test that hides torch
    from assay.exceptions import MissingDependencyError

    raise MissingDependencyError("torch", "torch", "assay.torch") from exc

from assay.torch.functional import (
    balanced_softmax_loss,
    cross_entropy,
    focal_loss,
    ldam_loss,
    ldam_margins,
    logit_adjusted_loss,
)
from assay.torch.heads import (
    RECIPES,
    TAU_GRID,
    CosineClassifier,
    HeadFit,
    LightHead,
    fit_head,
    parameter_counts,
    select_tau_norm,
    tau_normalize,
)
from assay.torch.losses import (
    LOSSES,
    BalancedSoftmaxLoss,
    ClassBalancedLoss,
    CrossEntropyLoss,
    FocalLoss,
    LDAMLoss,
    LogitAdjustedLoss,
    make_loss,
)
from assay.torch.pcgrad import PCGrad
from assay.torch.samplers import (
    SAMPLERS,
    ClassPowerSampler,
    ProgressiveSampler,
    make_sampler,
)
from assay.torch.sanity import (
    AlignmentResult,
    SanityResult,
    head_overfit_check,
    label_alignment_check,
    overfit_check,
)
from assay.torch.schedule import find_lr

__all__ = [
    "LOSSES",
    "RECIPES",
    "SAMPLERS",
    "TAU_GRID",
    "BalancedSoftmaxLoss",
    "ClassBalancedLoss",
    "ClassPowerSampler",
    "CosineClassifier",
    "CrossEntropyLoss",
    "FocalLoss",
    "HeadFit",
    "LDAMLoss",
    "LightHead",
    "LogitAdjustedLoss",
    "PCGrad",
    "ProgressiveSampler",
    "SanityResult",
    "AlignmentResult",
    "balanced_softmax_loss",
    "cross_entropy",
    "fit_head",
    "focal_loss",
    "ldam_loss",
    "ldam_margins",
    "logit_adjusted_loss",
    "make_loss",
    "make_sampler",
    "label_alignment_check",
    "find_lr",
    "head_overfit_check",
    "overfit_check",
    "parameter_counts",
    "select_tau_norm",
    "tau_normalize",
]
