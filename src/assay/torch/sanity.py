"""Sanity checks to run before a long training run.

- :func:`overfit_check`: can the model drive its loss near zero on a tiny subset? A model (and
  loss, and training step) that cannot memorise a handful of examples has a bug: a detached
  graph, a frozen layer, a loss option that never took effect. Memorising says nothing about the
  labels: a network memorises shuffled labels too (Zhang et al., "Understanding deep learning
  requires rethinking generalization", 2017).
- :func:`label_alignment_check`: does the model, trained on some rows, predict held-out rows
  better than chance? Labels misaligned with their features (a shifted join, a shuffled column)
  leave held-out accuracy at chance, which a one-sided binomial test against the majority-class
  rate detects.
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

__all__ = ["AlignmentResult", "SanityResult", "head_overfit_check", "label_alignment_check",
           "overfit_check"]


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
    x, y = _inputs(model, features, labels, min_classes=1, owner="overfit_check")
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
    opt = torch.optim.Adam(_trainable(trial, "overfit_check"), lr=lr)
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


def _inputs(model: Any, features: Any, labels: Any, *, min_classes: int,
            owner: str) -> tuple[np.ndarray, np.ndarray]:
    """The checks' common boundary: a torch module, numeric features, aligned integer labels."""
    if not isinstance(model, nn.Module):
        raise InvalidParameterError("model", "a torch.nn.Module", type(model).__name__,
                                    owner=owner)
    x = check_features(features)
    y = check_labels(labels, min_classes=min_classes)
    check_same_length(features=x, labels=y)
    return x, y


def _trainable(model: nn.Module, owner: str) -> list[nn.Parameter]:
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise InvalidParameterError(
            "model", "a module with at least one trainable parameter (requires_grad=True)",
            f"{type(model).__name__} with none", owner=owner,
            hint="Unfreeze the layers to train (p.requires_grad_(True)), or check the head that "
                 "was meant to replace the frozen ones.")
    return params


@dataclass(frozen=True)
class AlignmentResult:
    """Outcome of :func:`label_alignment_check`.

    Attributes
    ----------
    passed : bool
        Held-out accuracy above chance at ``alpha`` (one-sided binomial test).
    accuracy : float
        Held-out accuracy of the trained copy.
    chance : float
        The majority-class rate among the held-out rows (what a model that ignores the features
        reaches).
    p_value : float
    n_train, n_test : int
    """

    passed: bool
    accuracy: float
    chance: float
    p_value: float
    n_train: int
    n_test: int


def label_alignment_check(
    model: nn.Module,
    features: Any,
    labels: Any,
    *,
    n_train: int = 256,
    n_test: int = 256,
    steps: int = 200,
    lr: float = 1e-2,
    alpha: float = 0.01,
    random_state: Any = 0,
) -> AlignmentResult:
    """Train a copy of ``model`` on some rows and test whether it beats chance on held-out rows.

    Catches labels misaligned with their features, which :func:`overfit_check` cannot: with
    shuffled labels held-out accuracy stays at the majority-class rate. The model passed in is
    not modified.

    Parameters
    ----------
    model : torch.nn.Module
        Maps a float32 (n, d) tensor to (n, C) logits.
    features : array-like, shape (N, d)
    labels : array-like of int, shape (N,)
    n_train, n_test : int, default 256
        Rows to train on and to test on (disjoint, drawn at random, seeded; at most half of the
        data each).
    steps : int, default 200
        Full-batch Adam steps (cross-entropy).
    lr : float, default 1e-2
    alpha : float, default 0.01
        Significance of the one-sided binomial test against the majority-class rate.
    random_state : None, int or numpy.random.Generator

    Returns
    -------
    AlignmentResult

    Examples
    --------
    >>> import numpy as np, torch
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(400, 8)); y = (x[:, 0] > 0).astype(int)
    >>> model = torch.nn.Linear(8, 2)
    >>> label_alignment_check(model, x, y).passed
    True
    >>> label_alignment_check(model, x, rng.permutation(y)).passed
    False
    """
    from scipy.stats import binomtest

    x, y = _inputs(model, features, labels, min_classes=2, owner="label_alignment_check")
    n_train = check_int("n_train", n_train, low=2, owner="label_alignment_check")
    n_test = check_int("n_test", n_test, low=2, owner="label_alignment_check")
    steps = check_int("steps", steps, low=1, owner="label_alignment_check")
    if not (isinstance(alpha, float) and 0 < alpha < 1):
        raise InvalidParameterError("alpha", "a float in (0, 1)", alpha,
                                    owner="label_alignment_check")
    rng = check_random_state(random_state)
    order = rng.permutation(x.shape[0])
    half = x.shape[0] // 2
    train = order[: min(n_train, half)]
    test = order[half: half + min(n_test, x.shape[0] - half)]
    if test.size < 2:
        raise InvalidParameterError("labels", "at least 4 rows", x.shape[0],
                                    owner="label_alignment_check")
    trial = copy.deepcopy(model)
    trial.train()
    opt = torch.optim.Adam(_trainable(trial, "label_alignment_check"), lr=lr)
    xt, yt = torch.from_numpy(x[train]), torch.from_numpy(y[train])
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(trial(xt), yt).backward()
        opt.step()
    trial.eval()
    with torch.no_grad():
        pred = trial(torch.from_numpy(x[test])).argmax(dim=1).numpy()
    hits = int((pred == y[test]).sum())
    chance = float(np.bincount(y[test]).max() / test.size)
    p_value = float(binomtest(hits, int(test.size), chance, alternative="greater").pvalue)
    return AlignmentResult(passed=bool(p_value < alpha), accuracy=hits / test.size,
                           chance=chance, p_value=p_value, n_train=int(train.size),
                           n_test=int(test.size))


def head_overfit_check(
    features: Any,
    labels: Any,
    *,
    hidden: int = 128,
    n_samples: int = 32,
    steps: int = 300,
    random_state: Any = 0,
) -> SanityResult:
    """:func:`overfit_check` of a fresh :class:`~assay.torch.LightHead` with one hidden layer.

    The head is initialised from ``random_state`` (the global torch generator is left as it
    was), so the result is reproducible. ``assay sanity`` runs it on rows with distinct inputs.

    Examples
    --------
    >>> import numpy as np
    >>> from assay.torch import head_overfit_check
    >>> rng = np.random.default_rng(0)
    >>> head_overfit_check(rng.normal(size=(64, 5)), rng.integers(0, 3, 64)).passed
    True
    """
    from assay.torch.heads import LightHead

    x = check_features(features, name="features")
    y = check_labels(labels, name="labels", min_classes=1)
    check_same_length(features=x, labels=y)
    hidden = check_int("hidden", hidden, low=1, owner="head_overfit_check")
    rng = check_random_state(random_state)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(rng.integers(2**31 - 1)))
        head = LightHead(x.shape[1], int(y.max()) + 1, hidden=hidden)
    return overfit_check(head, x, y, n_samples=n_samples, steps=steps, random_state=rng)
