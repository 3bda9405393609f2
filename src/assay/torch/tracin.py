"""Per-example, per-task gradient alignment (TracIn-style) and a task-conflict score.

For a model trained by gradient descent, the first-order effect of one step on training example
``i`` on task ``t``'s validation loss is ``-lr * <g_i, G_t>``, where ``g_i`` is the gradient of
example ``i``'s training loss and ``G_t`` the gradient of task ``t``'s mean validation loss
(TracIn, Pruthi et al. 2020, at one checkpoint). A positive alignment means the example helps
the task; a negative one that it hurts it. Gradients are compressed by a seeded Gaussian random
projection (Johnson-Lindenstrauss: dot products are preserved in expectation), so memory is
``O(n * projection_dim)``. An example *conflicts* when it helps one task and hurts another:
``conflict_i = max(0, min(max_t a_it, -min_t a_it))``.

torch is imported lazily; this module is the only one here that needs it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from assay.exceptions import InputValidationError, InvalidParameterError, MissingDependencyError

__all__ = ["TaskAlignment", "task_gradient_alignment"]


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - exercised without torch only
        raise MissingDependencyError("torch", "torch", "assay.torch.tracin") from exc
    return torch


@dataclass(frozen=True)
class TaskAlignment:
    """Alignment of each training example's gradient with each task's validation gradient.

    Attributes
    ----------
    alignment : ndarray of shape (n_train, T)
        ``<P g_i, P G_t>`` (or the cosine with ``normalize=True``); > 0 helps task ``t``.
    conflict : ndarray of shape (n_train,)
        ``max(0, min(max_t alignment, -min_t alignment))``: large when the example helps one
        task and hurts another by similar amounts.
    tasks : tuple of str
        Task names, in column order.
    projection_dim : int or None
        Dimension of the random projection (None: exact gradients).
    """

    alignment: np.ndarray
    conflict: np.ndarray
    tasks: tuple[str, ...]
    projection_dim: int | None

    def to_frame(self) -> Any:
        """One row per training example: ``alignment_<task>`` columns and ``conflict``."""
        import pandas as pd

        frame = pd.DataFrame(self.alignment, columns=[f"alignment_{t}" for t in self.tasks])
        frame["conflict"] = self.conflict
        return frame


def task_gradient_alignment(
    model: Any,
    x_train: Any,
    y_train: Any,
    tasks: Mapping[str, tuple[Any, Any, Callable[..., Any]]],
    *,
    loss_fn: Callable[..., Any],
    projection_dim: int | None = 256,
    normalize: bool = False,
    batch_size: int = 256,
    random_state: int = 0,
) -> TaskAlignment:
    """Per-example, per-task gradient alignment of a torch model, with a conflict score.

    Parameters
    ----------
    model : torch.nn.Module
        The (partly) trained model; its parameters with ``requires_grad`` are used.
    x_train, y_train : tensors (or arrays) with ``n_train`` rows
        Training examples and their targets (any shapes your losses accept).
    tasks : mapping name -> (x_valid, y_valid, task_loss)
        For each task, validation inputs, targets and ``task_loss(outputs, targets)`` returning
        one loss per example (reduction ``"none"``); the task gradient is that of their mean.
    loss_fn : callable
        ``loss_fn(outputs, targets)`` returning one training loss per example.
    projection_dim : int or None, default 256
        Dimension of the Gaussian random projection; ``None`` uses exact gradients.
    normalize : bool, default False
        Return cosines instead of dot products.
    batch_size : int, default 256
        Examples per vectorised per-example-gradient batch (``torch.func.vmap``).
    random_state : int, default 0
        Seed of the projection.

    Returns
    -------
    TaskAlignment

    Examples
    --------
    >>> import torch
    >>> from assay.torch.tracin import task_gradient_alignment
    >>> model = torch.nn.Linear(2, 1, bias=False)
    >>> with torch.no_grad():
    ...     _ = model.weight.zero_()
    >>> x = torch.tensor([[1.0, 0.0], [0.0, 1.0]]); y = torch.tensor([[1.0], [1.0]])
    >>> mse = lambda out, t: ((out - t) ** 2).sum(dim=1)
    >>> tasks = {"a": (x[:1], y[:1], mse), "b": (x[:1], -y[:1], mse)}
    >>> res = task_gradient_alignment(model, x, y, tasks, loss_fn=mse, projection_dim=None)
    >>> res.alignment.tolist()  # example 0 helps task a and hurts task b; example 1 is neutral
    [[4.0, -4.0], [0.0, 0.0]]
    >>> res.conflict.tolist()
    [4.0, 0.0]
    """
    torch = _torch()
    from torch.func import functional_call, grad, vmap

    if not tasks:
        raise InputValidationError("tasks is empty. Pass at least one task: {name: (x, y, loss)}.")
    if projection_dim is not None and (
        isinstance(projection_dim, bool) or not isinstance(projection_dim, int) or projection_dim < 1
    ):
        raise InvalidParameterError("projection_dim", "a positive int or None", projection_dim,
                                    owner="task_gradient_alignment")
    xt, yt = torch.as_tensor(x_train), torch.as_tensor(y_train)
    if xt.shape[0] != yt.shape[0]:
        raise InputValidationError(
            f"x_train has {xt.shape[0]} rows but y_train has {yt.shape[0]}. Pass one target per "
            "training example."
        )
    params = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}
    if not params:
        raise InputValidationError("The model has no parameters with requires_grad=True.")
    buffers = {k: v.detach() for k, v in model.named_buffers()}
    proj = _Projection(params, projection_dim, random_state, torch)

    def one_loss(p: dict[str, Any], x: Any, y: Any) -> Any:
        out = functional_call(model, (p, buffers), (x.unsqueeze(0),))
        return loss_fn(out, y.unsqueeze(0)).sum()

    per_example = vmap(grad(one_loss), in_dims=(None, 0, 0))
    blocks = []
    for start in range(0, xt.shape[0], batch_size):
        g = per_example(params, xt[start:start + batch_size], yt[start:start + batch_size])
        blocks.append(proj(g))
    train_g = torch.cat(blocks)  # (n, p)
    names = tuple(tasks)
    task_g = []
    for name in names:
        xv, yv, task_loss = tasks[name]
        xv, yv = torch.as_tensor(xv), torch.as_tensor(yv)

        def mean_loss(p: dict[str, Any], task_loss: Callable[..., Any] = task_loss,
                      xv: Any = xv, yv: Any = yv) -> Any:
            return task_loss(functional_call(model, (p, buffers), (xv,)), yv).mean()

        gv = grad(mean_loss)(params)
        task_g.append(proj({k: v.unsqueeze(0) for k, v in gv.items()})[0])
    tg = torch.stack(task_g)  # (T, p)
    if normalize:
        train_g = torch.nn.functional.normalize(train_g, dim=1)
        tg = torch.nn.functional.normalize(tg, dim=1)
    align = (train_g @ tg.T).double().cpu().numpy()
    conflict = np.maximum(0.0, np.minimum(align.max(axis=1), -align.min(axis=1))) + 0.0
    return TaskAlignment(align, conflict, names, projection_dim)


class _Projection:
    """Flatten per-example gradients and project them with a seeded Gaussian matrix / sqrt(p).

    The matrix is generated per parameter tensor (block of columns), so memory is
    ``p * max(parameter size)``, never ``p * total parameters`` at once.
    """

    def __init__(self, params: dict[str, Any], dim: int | None, seed: int, torch: Any) -> None:
        self.dim, self.torch = dim, torch
        self.blocks: dict[str, Any] = {}
        if dim is not None:
            gen = torch.Generator().manual_seed(int(seed))
            for name, p in params.items():
                self.blocks[name] = torch.randn(p.numel(), dim, generator=gen,
                                                dtype=torch.float64) / dim**0.5

    def __call__(self, grads: dict[str, Any]) -> Any:
        torch = self.torch
        flat = {k: v.reshape(v.shape[0], -1).double() for k, v in grads.items()}
        if self.dim is None:
            return torch.cat([flat[k] for k in flat], dim=1)
        return sum(flat[k] @ self.blocks[k] for k in flat)
