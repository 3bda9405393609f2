"""A light head on frozen embeddings: linear or cosine classifier, long-tail recipes, cRT, tau-norm.

The LIFT lesson (Shi et al., ICML 2024): on features from a strong foundation model, a light
head trained with a long-tail loss beats heavy fine-tuning. So the backbone stays frozen: you
pass its embeddings, and only the head (optionally one hidden layer, then the classifier) is
trained.

Recipes (:data:`RECIPES`): ``ce``, ``cb`` (class-balanced weights), ``focal``, ``ldam-drw``
(cosine classifier, margins, deferred re-weighting), ``logit-adjusted``, ``balanced-softmax``
and ``crt`` (Kang et al. 2020: train with instance sampling, then freeze the representation and
re-train the classifier from scratch with class-balanced sampling; with no hidden layer the
representation is the frozen embedding itself, so only the second stage runs).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypedDict, cast

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from assay._validation import (
    check_choice,
    check_features,
    check_int,
    check_labels,
    check_random_state,
    check_same_length,
)
from assay.exceptions import InputValidationError, InvalidParameterError
from assay.longtail import prior_shift_accuracy
from assay.torch.losses import _LongTailLoss, make_loss
from assay.torch.samplers import SAMPLERS, make_sampler
from assay.torch.schedule import LRFinderResult, find_lr

__all__ = [
    "RECIPES",
    "TAU_GRID",
    "CosineClassifier",
    "HeadFit",
    "LightHead",
    "fit_head",
    "parameter_counts",
    "select_tau_norm",
    "tau_normalize",
]

#: recipe name -> (loss name, default sampler, default classifier)
RECIPES: dict[str, tuple[str, str, str]] = {
    "ce": ("ce", "instance", "linear"),
    "cb": ("cb", "instance", "linear"),
    "focal": ("focal", "instance", "linear"),
    "ldam-drw": ("ldam-drw", "instance", "cosine"),
    "logit-adjusted": ("logit-adjusted", "instance", "linear"),
    "balanced-softmax": ("balanced-softmax", "instance", "linear"),
    "crt": ("ce", "class-balanced", "linear"),
}

#: Default grid of :func:`select_tau_norm` (``0, 0.1, ..., 2.0``; Kang et al. sweep [0, 2]).
TAU_GRID: tuple[float, ...] = tuple(float(t) for t in np.round(np.linspace(0.0, 2.0, 21), 10))


class CosineClassifier(nn.Module):
    """Cosine classifier: ``scale * cos(x, w_j)`` (normalised features and class weights).

    Examples
    --------
    >>> import torch
    >>> head = CosineClassifier(4, 3, scale=1.0)
    >>> bool(head(torch.randn(2, 4)).abs().max() <= 1.0 + 1e-6)
    True
    """

    def __init__(self, in_features: int, n_classes: int, *, scale: float = 16.0) -> None:
        super().__init__()
        self.scale = float(scale)
        self.weight = nn.Parameter(torch.empty(n_classes, in_features))
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * F.normalize(x, dim=1) @ F.normalize(self.weight, dim=1).T


class LightHead(nn.Module):
    """Standardise, optional hidden layer (``body``), then a linear or cosine ``classifier``.

    Examples
    --------
    >>> import torch
    >>> LightHead(8, 3, hidden=16)(torch.randn(5, 8)).shape
    torch.Size([5, 3])
    """

    # buffers (registered in __init__); declared so type checkers see Tensors, not
    # nn.Module.__getattr__'s ``Tensor | Module``
    mean: torch.Tensor
    std: torch.Tensor

    def __init__(
        self,
        in_features: int,
        n_classes: int,
        *,
        classifier: str = "linear",
        hidden: int | None = None,
        scale: float = 16.0,
    ) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(in_features))
        self.register_buffer("std", torch.ones(in_features))
        width = in_features if hidden is None else hidden
        self.body: nn.Module = (
            nn.Identity() if hidden is None
            else nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU())
        )
        self.classifier_kind = classifier
        self.scale = scale
        self.n_classes = n_classes
        self.width = width
        self.classifier: nn.Module = self.new_classifier()

    def new_classifier(self) -> nn.Module:
        """A freshly initialised classifier of this head's kind (used by cRT)."""
        if self.classifier_kind == "cosine":
            return CosineClassifier(self.width, self.n_classes, scale=self.scale)
        return nn.Linear(self.width, self.n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The representation the classifier sees."""
        return self.body((x - self.mean) / self.std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@dataclass(frozen=True)
class HeadFit:
    """A trained light head and how it was trained.

    Attributes
    ----------
    model : LightHead
    recipe, loss, sampler, classifier : str
    counts : numpy.ndarray, shape (C,)
        Training samples per class.
    params_trained : int
        Number of parameters that were trained (the frozen backbone trains none).
    train_seconds : float
    epochs : int
    history : list of float
        Mean training loss per epoch (both cRT stages, in order).
    checkpoint : {"last", "validation"}
        How the returned weights were chosen.
    best_epoch : int
        The epoch of the returned weights (0-based, counting all stages).
    lr : float or "auto"
        The ``lr`` argument: a float trains with Adam and cosine decay per epoch from it;
        ``"auto"`` with Adam and one-cycle per batch, ``max_lr`` from the range test.
    lr_schedule : {"cosine", "one-cycle"}
    lr_finder : tuple of LRFinderResult
        With ``lr="auto"``, the range test of each training stage (two for cRT with a hidden
        layer): its curve, the suggested ``max_lr`` and the rule; empty otherwise.
    lr_trace : list of float
        With ``lr="auto"``, the learning rate of every optimiser step, in order (all stages).
    """

    model: LightHead
    recipe: str
    loss: str
    sampler: str
    classifier: str
    counts: np.ndarray
    params_trained: int
    train_seconds: float
    epochs: int
    history: list[float] = field(default_factory=list)
    checkpoint: str = "last"
    best_epoch: int = -1
    lr: float | str = 5e-2
    lr_schedule: str = "cosine"
    lr_finder: tuple[LRFinderResult, ...] = ()
    lr_trace: list[float] = field(default_factory=list)

    def logits(self, features: Any) -> np.ndarray:
        """Raw logits ``f(x)`` (no prior adjustment), float64 (N, C)."""
        return _logits(self.model, features)

    def predict(self, features: Any) -> np.ndarray:
        """Predicted class indices."""
        return self.logits(features).argmax(axis=1)


def _logits(model: nn.Module, features: Any, *, batch: int = 8192) -> np.ndarray:
    x = check_features(features)
    model.eval()
    out = []
    with torch.no_grad():
        for s in range(0, x.shape[0], batch):
            out.append(model(torch.from_numpy(x[s:s + batch])).double().numpy())
    return np.concatenate(out)


def _balanced_accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    pred = _logits(model, x).argmax(axis=1)
    n = np.bincount(y)
    hits = np.bincount(y, weights=(pred == y).astype(float), minlength=n.size)
    return float(np.mean(hits[n > 0] / n[n > 0]))


def _check_float(
    name: str, value: Any, *, low: float = 0.0, strict: bool = False, owner: str = "fit_head"
) -> float:
    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    if ok:
        v = float(value)
        ok = bool(np.isfinite(v)) and (v > low if strict else v >= low)
    if not ok:
        rel = ">" if strict else ">="
        raise InvalidParameterError(name, f"a finite float {rel} {low}", value, owner=owner)
    return float(value)


class _StageOptions(TypedDict):
    """Keyword arguments shared by every :func:`_train_stage` call of one :func:`fit_head`."""

    batch_size: int
    lr: float | str
    weight_decay: float
    rng: np.random.Generator
    validation: tuple[np.ndarray, np.ndarray] | None
    state: dict[str, Any]
    progress: Callable[[str, int, int], None] | None


def _train_stage(
    model: LightHead,
    params: list[nn.Parameter],
    loss_fn: _LongTailLoss,
    x: torch.Tensor,
    y: torch.Tensor,
    labels_np: np.ndarray,
    *,
    sampler_name: str,
    epochs: int,
    batch_size: int,
    lr: float | str,
    weight_decay: float,
    rng: np.random.Generator,
    validation: tuple[np.ndarray, np.ndarray] | None,
    state: dict[str, Any],
    progress: Callable[[str, int, int], None] | None = None,
) -> None:
    gen = torch.Generator().manual_seed(int(rng.integers(0, 2**62)))
    sampler = None if sampler_name == "instance" else make_sampler(
        sampler_name, labels_np, total_epochs=epochs, random_state=rng
    )
    n = x.shape[0]
    per_batch: torch.optim.lr_scheduler.OneCycleLR | None = None
    if lr == "auto":  # range test on a copy, then one-cycle with max_lr = its suggestion
        ids = [id(p) for p in params]
        names = [k for k, p in model.named_parameters() if id(p) in ids]

        def trainable(copy_: nn.Module) -> list[nn.Parameter]:
            named = dict(copy_.named_parameters())
            return [named[k] for k in names]

        loss_fn.set_epoch(0)
        found = find_lr(model, loss_fn, x, y, trainable=trainable, batch_size=batch_size,
                        weight_decay=weight_decay, random_state=int(rng.integers(0, 2**62)))
        state["lr_finder"].append(found)
        opt = torch.optim.Adam(params, lr=found.suggested_lr, weight_decay=weight_decay)
        steps = -(-(n if sampler is None else len(sampler)) // batch_size)
        per_batch = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=found.suggested_lr, total_steps=epochs * steps)
        sched = None
    else:
        opt = torch.optim.Adam(params, lr=float(lr), weight_decay=weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(epochs, 1))
    for epoch in range(epochs):
        loss_fn.set_epoch(epoch)
        if sampler is None:
            order = torch.randperm(n, generator=gen)
        else:
            sampler.set_epoch(epoch)
            order = torch.as_tensor(list(iter(sampler)), dtype=torch.long)
        model.train()
        total, count = 0.0, 0
        for s in range(0, n, batch_size):
            idx = order[s:s + batch_size]
            loss = loss_fn(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if per_batch is not None:
                state["lr_trace"].append(opt.param_groups[0]["lr"])
                per_batch.step()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        if sched is not None:
            sched.step()
        state["history"].append(total / count)
        if progress is not None:
            progress("training epochs", len(state["history"]), state["planned_epochs"])
        if validation is not None:
            score = _balanced_accuracy(model, *validation)
            if score > state["best_score"]:
                state["best_score"] = score
                state["best_state"] = copy.deepcopy(model.state_dict())
                state["best_epoch"] = len(state["history"]) - 1


def fit_head(
    features: Any,
    labels: Any,
    *,
    recipe: str = "ce",
    n_classes: int | None = None,
    classifier: str | None = None,
    hidden: int | None = None,
    sampler: str | None = None,
    epochs: int = 30,
    batch_size: int = 128,
    lr: float | str = 5e-2,
    weight_decay: float = 1e-4,
    validation: tuple[Any, Any] | None = None,
    beta: float = 0.9999,
    gamma: float = 2.0,
    tau: float = 1.0,
    smoothing: float = 0.0,
    drw_start: int | None = None,
    crt_epochs: int | None = None,
    scale: float = 16.0,
    random_state: Any = 0,
    progress: Callable[[str, int, int], None] | None = None,
) -> HeadFit:
    """Train a light head on frozen embeddings with a long-tail recipe.

    Parameters
    ----------
    features : array-like, shape (N, d)
        Frozen embeddings of the training rows (standardised inside the head).
    labels : array-like of int, shape (N,)
        Class indices ``0..C-1``.
    recipe : str, default "ce"
        One of :data:`RECIPES`.
    n_classes : int, optional
        ``C``, when some classes have no training row (default ``max(labels) + 1``).
    classifier : {"linear", "cosine"}, optional
        Default: cosine for ``ldam-drw`` (its scale is then 1 and the loss scales by 30), linear
        otherwise.
    hidden : int, optional
        Width of one hidden ReLU layer; ``None`` trains a linear / cosine classifier only.
    sampler : {"instance", "class-balanced", "square-root", "progressive"}, optional
        Default: the recipe's (class-balanced for the second stage of cRT, instance otherwise).
    epochs, batch_size, weight_decay
        Adam's epochs, mini-batch size and weight decay.
    lr : float > 0 or "auto", default 0.05
        A float: Adam at that learning rate with cosine decay per epoch (the behaviour of
        earlier versions). ``"auto"``: a learning-rate range test
        (:func:`assay.torch.schedule.find_lr`, 100 steps from 1e-5 to 1 on a copy of the head, rule
        ``"min/10"``) per training stage, then Adam with
        :class:`torch.optim.lr_scheduler.OneCycleLR` stepped per batch (``max_lr`` = the
        suggestion, 30 % warm-up, cosine annealing); the curves are in ``HeadFit.lr_finder``.
    validation : (features, labels), optional
        Held-out *validation* rows: the returned weights are those of the epoch with the best
        balanced accuracy on them (``checkpoint="validation"``); otherwise the last epoch's.
    beta : float, default 0.9999
        Class-balanced weights (``cb``; ``ldam-drw`` after ``drw_start``). A weighted batch's
        loss is ``sum_i w_{y_i} l_i / sum_i w_{y_i}``, as ``torch.nn.CrossEntropyLoss(weight=w)``
        and the LDAM-DRW reference code.
    gamma : float, default 2.0
        Focal loss.
    tau : float, default 1.0
        Logit-adjusted loss.
    smoothing : float, default 0.0
        Pseudo-count for the log prior (logit-adjusted, balanced-softmax) when a class has no
        training row.
    drw_start : int, optional
        First epoch of deferred re-weighting for ``ldam-drw`` (default ``int(0.8 * epochs)``,
        the paper's 160 of 200).
    crt_epochs : int, optional
        Epochs of cRT's classifier re-training (default ``epochs``).
    scale : float, default 16.0
        Cosine classifier scale (not used by ``ldam-drw``, which uses scale 1 and its own 30).
    random_state : None, int or numpy.random.Generator
        Seeds initialisation and sampling.
    progress : callable, optional
        ``progress(step, done, total)`` after each epoch (the CLI draws a bar with it).

    Returns
    -------
    HeadFit

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = np.r_[rng.normal(0, 1, (40, 2)), rng.normal(4, 1, (8, 2))]
    >>> y = np.r_[np.zeros(40, int), np.ones(8, int)]
    >>> fit = fit_head(x, y, recipe="balanced-softmax", epochs=20)
    >>> fit.recipe, fit.params_trained
    ('balanced-softmax', 6)
    >>> fit.history[-1] < fit.history[0]
    True
    """
    recipe = check_choice("recipe", recipe, tuple(RECIPES), owner="fit_head")
    x_np = check_features(features)
    y_np = check_labels(labels, min_classes=1)
    check_same_length(features=x_np, labels=y_np)
    c = int(y_np.max()) + 1 if n_classes is None else check_int(
        "n_classes", n_classes, low=2, owner="fit_head"
    )
    if y_np.max() >= c:
        raise InputValidationError(
            f"labels hold class index {int(y_np.max())} but n_classes is {c}. Pass n_classes "
            "greater than every label."
        )
    if c < 2:
        raise InputValidationError(
            "labels contain a single class; a classifier needs at least 2. Pass n_classes if "
            "the other classes have no training row."
        )
    loss_name, default_sampler, default_classifier = RECIPES[recipe]
    classifier = check_choice("classifier", classifier or default_classifier,
                              ("linear", "cosine"), owner="fit_head")
    sampler_name = check_choice("sampler", sampler or default_sampler, tuple(SAMPLERS),
                                owner="fit_head")
    epochs = check_int("epochs", epochs, low=1, owner="fit_head")
    batch_size = check_int("batch_size", batch_size, low=1, owner="fit_head")
    lr = _check_lr(lr)
    weight_decay = _check_float("weight_decay", weight_decay)
    if hidden is not None:
        hidden = check_int("hidden", hidden, low=1, owner="fit_head")
    crt_epochs = epochs if crt_epochs is None else check_int("crt_epochs", crt_epochs, low=1,
                                                             owner="fit_head")
    if drw_start is None:
        drw_start = int(0.8 * epochs)
    val = None
    if validation is not None:
        xv = check_features(validation[0], name="validation features")
        yv = check_labels(validation[1], name="validation labels", min_classes=1)
        check_same_length(validation_features=xv, validation_labels=yv)
        if xv.shape[1] != x_np.shape[1] or yv.max() >= c:
            raise InputValidationError(
                f"validation rows must have {x_np.shape[1]} features and labels < {c}; got "
                f"{xv.shape[1]} features and max label {int(yv.max())}."
            )
        val = (xv, yv)
    rng = check_random_state(random_state)
    counts = np.bincount(y_np, minlength=c)
    is_ldam = loss_name == "ldam-drw"
    loss_fn = make_loss(loss_name, counts, beta=beta, gamma=gamma, tau=tau, smoothing=smoothing,
                        drw_start=drw_start)

    start = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(rng.integers(0, 2**62)))
        model = LightHead(x_np.shape[1], c, classifier=classifier, hidden=hidden,
                          scale=1.0 if is_ldam else scale)
    model.mean.copy_(torch.from_numpy(x_np.mean(axis=0)))
    model.std.copy_(torch.from_numpy(np.maximum(x_np.std(axis=0), 1e-6)))
    x = torch.from_numpy(x_np)
    y = torch.from_numpy(y_np)
    state: dict[str, Any] = {"history": [], "best_score": -1.0, "best_state": None,
                             "best_epoch": -1, "lr_finder": [], "lr_trace": []}
    state["planned_epochs"] = epochs + (crt_epochs if recipe == "crt" else 0)
    common = _StageOptions(batch_size=batch_size, lr=lr, weight_decay=weight_decay, rng=rng,
                           validation=val, state=state, progress=progress)
    has_body = any(True for _ in model.body.parameters())
    if recipe != "crt":
        _train_stage(model, list(model.parameters()), loss_fn, x, y, y_np,
                     sampler_name=sampler_name, epochs=epochs, **common)
        total_epochs = epochs
    else:
        total_epochs = crt_epochs
        if has_body:  # stage 1: representation learning with plain CE, instance sampling
            _train_stage(model, list(model.parameters()), loss_fn, x, y, y_np,
                         sampler_name="instance", epochs=epochs, **common)
            total_epochs += epochs
            state.update(best_score=-1.0, best_state=None, best_epoch=-1)
        for p in model.body.parameters():
            p.requires_grad_(False)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(rng.integers(0, 2**62)))
            model.classifier = model.new_classifier()
        _train_stage(model, list(model.classifier.parameters()), loss_fn, x, y, y_np,
                     sampler_name=sampler_name, epochs=crt_epochs, **common)
        for p in model.body.parameters():
            p.requires_grad_(True)
    checkpoint = "last"
    best_epoch = len(state["history"]) - 1
    if state["best_state"] is not None:
        model.load_state_dict(state["best_state"])
        checkpoint, best_epoch = "validation", state["best_epoch"]
    model.eval()
    seconds = time.perf_counter() - start
    n_params = sum(p.numel() for p in model.parameters())
    return HeadFit(
        model=model, recipe=recipe, loss=loss_fn.name, sampler=sampler_name,
        classifier=classifier, counts=counts, params_trained=int(n_params),
        train_seconds=float(seconds), epochs=total_epochs, history=list(state["history"]),
        checkpoint=checkpoint, best_epoch=int(best_epoch), lr=lr,
        lr_schedule="one-cycle" if lr == "auto" else "cosine",
        lr_finder=tuple(state["lr_finder"]), lr_trace=list(state["lr_trace"]),
    )


def _check_lr(value: Any) -> float | str:
    """``"auto"`` or a finite float > 0, else InvalidParameterError (one line)."""
    if isinstance(value, str) and value == "auto":
        return value
    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    if not ok or not np.isfinite(float(value)) or float(value) <= 0:
        raise InvalidParameterError(
            "lr", "'auto' or a finite float > 0", value, owner="fit_head",
            hint="'auto' runs a learning-rate range test and trains with one-cycle; 0.05 is "
            "the fixed rate of earlier versions.")
    return float(value)


def tau_normalize(model: LightHead, tau: float) -> LightHead:
    """tau-normalisation (Kang et al. 2020): ``w_j <- w_j / ||w_j||^tau``, bias dropped.

    Returns a copy; ``tau = 0`` keeps the weights (bias still dropped), ``tau = 1`` gives unit
    class vectors. Sweep ``tau`` in [0, 2] and choose it on validation data.

    Parameters
    ----------
    model : LightHead
        With a linear classifier.
    tau : float >= 0

    Returns
    -------
    LightHead

    Examples
    --------
    >>> import torch
    >>> head = LightHead(3, 2)
    >>> normed = tau_normalize(head, 1.0)
    >>> [round(float(v), 4) for v in normed.classifier.weight.detach().norm(dim=1)]
    [1.0, 1.0]
    """
    if not isinstance(model, LightHead) or not isinstance(model.classifier, nn.Linear):
        raise InvalidParameterError(
            "model", "a LightHead with a linear classifier", type(model).__name__,
            owner="tau_normalize", hint="tau-normalisation rescales linear class weights; a "
            "cosine classifier is already normalised.",
        )
    tau = _check_float("tau", tau, owner="tau_normalize")
    out = copy.deepcopy(model)
    # a deep copy of the nn.Linear checked above (the attribute is declared as nn.Module)
    linear = cast(nn.Linear, out.classifier)
    with torch.no_grad():
        w = linear.weight
        norms = w.norm(dim=1, keepdim=True).clamp_min(1e-12)
        w.div_(norms.pow(tau))
        if linear.bias is not None:
            linear.bias.zero_()
    return out


def parameter_counts(model: nn.Module) -> dict[str, int]:
    """Parameters of a head: ``trainable`` (``requires_grad``) and ``total``.

    Buffers (the standardisation ``mean`` and ``std`` of a :class:`LightHead`) are fitted
    statistics, not parameters, and are not counted; nor is the frozen backbone, which is not
    part of the head.

    Parameters
    ----------
    model : torch.nn.Module

    Returns
    -------
    dict
        ``{"trainable": int, "total": int}``.

    Examples
    --------
    >>> parameter_counts(LightHead(8, 3, hidden=16))  # (8 * 16 + 16) + (16 * 3 + 3)
    {'trainable': 195, 'total': 195}
    """
    if not isinstance(model, nn.Module):
        raise InvalidParameterError("model", "a torch.nn.Module", type(model).__name__,
                                    owner="parameter_counts")
    params = list(model.parameters())
    return {"trainable": int(sum(p.numel() for p in params if p.requires_grad)),
            "total": int(sum(p.numel() for p in params))}


def select_tau_norm(
    model: LightHead,
    features: Any,
    labels: Any,
    *,
    taus: Any = None,
    target_prior: Any = None,
) -> tuple[float, pd.DataFrame]:
    """Choose the tau-normalisation strength on *validation* rows, over a grid.

    Every ``tau`` of the grid is applied with :func:`tau_normalize` and scored on the rows
    passed: by balanced accuracy (the mean per-class accuracy over the classes present), or,
    with a ``target_prior`` ``q``, by the accuracy under that prior ``sum_j q_j acc_j``
    (:func:`assay.longtail.prior_shift_accuracy`, ``method="weight"``; for a uniform ``q`` the
    two are equal). The best ``tau`` wins, ties going to the smallest, as in
    :func:`assay.longtail.select_posthoc_tau`. Pass validation rows, never test ones.

    Parameters
    ----------
    model : LightHead
        With a linear classifier (the trained ``HeadFit.model``); it is not changed.
    features : array-like, shape (N, d)
        Validation embeddings.
    labels : array-like of int, shape (N,)
        Validation labels (class indices).
    taus : sequence of float, optional
        Grid to search (each >= 0). Default :data:`TAU_GRID`, ``0, 0.1, ..., 2.0``.
    target_prior : array-like, shape (C,), optional
        Test class prior to score under (sums to 1); every class it gives a positive share
        needs a validation row. Default: uniform (balanced accuracy).

    Returns
    -------
    (float, pandas.DataFrame)
        The best ``tau`` and a frame with columns ``tau`` and the metric
        (``balanced_accuracy``, or ``target_prior_accuracy`` with a ``target_prior``).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = np.r_[rng.normal(0, 1, (40, 2)), rng.normal(2, 1, (8, 2))]
    >>> y = np.r_[np.zeros(40, int), np.ones(8, int)]
    >>> fit = fit_head(x, y, epochs=5)
    >>> tau, table = select_tau_norm(fit.model, x, y, taus=[0.0, 1.0])
    >>> table.columns.tolist(), tau in (0.0, 1.0)
    (['tau', 'balanced_accuracy'], True)
    """
    x = check_features(features)
    y = check_labels(labels, min_classes=1)
    check_same_length(features=x, labels=y)
    grid = _check_grid(TAU_GRID if taus is None else taus, owner="select_tau_norm")
    tau_normalize(model, 0.0)  # refuses a model without a linear classifier, before the loop
    n_classes = int(model.n_classes)
    if int(y.max()) >= n_classes:
        raise InputValidationError(
            f"labels hold class index {int(y.max())} but the model has {n_classes} classes. "
            "Pass validation labels encoded like the training labels."
        )
    if target_prior is not None and np.size(target_prior) != n_classes:
        raise InputValidationError(
            f"target_prior has {np.size(target_prior)} entries but the model has {n_classes} "
            "classes. Pass one share per class, in class-index order."
        )
    metric = "balanced_accuracy" if target_prior is None else "target_prior_accuracy"
    scores = []
    for tau in grid:
        normed = tau_normalize(model, float(tau))
        if target_prior is None:
            scores.append(_balanced_accuracy(normed, x, y))
        else:
            pred = _logits(normed, x).argmax(axis=1)
            scores.append(prior_shift_accuracy(y, pred, target_prior, method="weight"))
    best = float(grid[int(np.argmax(scores))])
    return best, pd.DataFrame({"tau": grid, metric: scores})


def _check_grid(taus: Any, *, owner: str) -> np.ndarray:
    """A non-empty 1-d float grid of values >= 0, or InvalidParameterError."""
    try:
        grid = np.asarray(taus, dtype=np.float64)
    except (TypeError, ValueError):
        grid = np.array([np.nan])
    if grid.ndim != 1 or grid.size == 0 or not np.all(np.isfinite(grid)) or np.any(grid < 0):
        raise InvalidParameterError("taus", "a non-empty 1-d sequence of floats >= 0", taus,
                                    owner=owner)
    return grid
