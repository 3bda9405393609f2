"""PCGrad (Yu et al., NeurIPS 2020) around any torch optimizer.

Per step: one gradient per task loss, each projected off the task gradients it conflicts with,
visiting the other tasks in a fresh, seeded random order (the official code never shuffles);
the parameters' ``.grad`` is set to the sum of the projected gradients and the wrapped optimizer
steps. The projection and the order are those of :func:`assay.multitask.project_conflicting`,
so for the same seed both give the same update.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from assay._validation import check_random_state
from assay.exceptions import InputValidationError, InvalidParameterError
from assay.multitask import GradientConflict, gradient_conflict, task_orders

__all__ = ["PCGrad"]


def _project(g: torch.Tensor, orders: Any) -> torch.Tensor:
    sq = (g * g).sum(dim=1)
    out = g.clone()
    for i in range(g.shape[0]):
        for j in orders[i]:
            j = int(j)
            if sq[j] == 0:
                continue
            dot = out[i] @ g[j]
            if dot < 0:
                out[i] = out[i] - (dot / sq[j]) * g[j]
    return out


class PCGrad:
    """Wrap an optimizer so each step follows the PCGrad-projected sum of task gradients.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
        Any optimizer; its parameters are the ones projected.
    random_state : None, int or numpy.random.Generator
        Seeds the task orders (a new order is drawn for every task at every step).
    track_conflicts : bool, default False
        Keep :func:`assay.multitask.gradient_conflict` of each step's raw task gradients in
        ``conflicts`` (costs a T x T Gram matrix per step).

    Examples
    --------
    >>> import torch
    >>> w = torch.nn.Parameter(torch.zeros(2))
    >>> opt = PCGrad(torch.optim.SGD([w], lr=0.1), random_state=0)
    >>> opt.zero_grad()
    >>> projected = opt.pc_backward([(w - torch.tensor([1.0, 0.0])).pow(2).sum(),
    ...                  (w - torch.tensor([-1.0, 1.0])).pow(2).sum()])
    >>> projected.tolist()  # g1 = [-2, 0], g2 = [2, -2] conflict; each is projected off the other
    [[-1.0, -1.0], [0.0, -2.0]]
    >>> opt.step()
    >>> [round(v, 4) for v in w.tolist()]
    [0.1, 0.3]
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        *,
        random_state: Any = None,
        track_conflicts: bool = False,
    ) -> None:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise InvalidParameterError(
                "optimizer", "a torch.optim.Optimizer", type(optimizer).__name__, owner="PCGrad"
            )
        self.optimizer = optimizer
        self._rng = check_random_state(random_state)
        self.track_conflicts = bool(track_conflicts)
        self.conflicts: list[GradientConflict] = []

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        """The wrapped optimizer's parameter groups."""
        return self.optimizer.param_groups

    def _params(self) -> list[torch.nn.Parameter]:
        return [p for g in self.optimizer.param_groups for p in g["params"] if p.requires_grad]

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients (delegates to the optimizer)."""
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def step(self, closure: Any = None) -> Any:
        """Step the wrapped optimizer with the projected gradients."""
        return self.optimizer.step(closure)

    def task_gradients(self, losses: Sequence[torch.Tensor]) -> torch.Tensor:
        """Flattened gradient of each task loss over the optimizer's parameters, (T, P)."""
        if len(losses) < 2:
            raise InputValidationError(
                f"PCGrad needs at least 2 task losses; got {len(losses)}. With one task use the "
                "optimizer directly."
            )
        params = self._params()
        rows = []
        for k, loss in enumerate(losses):
            if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
                raise InputValidationError(
                    f"Task loss {k} must be a scalar tensor; got "
                    f"{getattr(loss, 'shape', type(loss).__name__)}. Reduce it (e.g. .mean())."
                )
            grads = torch.autograd.grad(loss, params, retain_graph=k < len(losses) - 1,
                                        allow_unused=True)
            rows.append(torch.cat([
                (gr if gr is not None else torch.zeros_like(p)).reshape(-1)
                for gr, p in zip(grads, params, strict=True)
            ]))
        return torch.stack(rows)

    def pc_backward(self, losses: Sequence[torch.Tensor]) -> torch.Tensor:
        """Set each parameter's ``.grad`` to the PCGrad update of the task ``losses``.

        Returns the projected per-task gradients (T, P); their sum is what was written.
        """
        g = self.task_gradients(losses)
        if self.track_conflicts:
            self.conflicts.append(gradient_conflict(g.detach().double().cpu().numpy()))
        orders = task_orders(g.shape[0], self._rng)
        projected = _project(g, orders)
        update = projected.sum(dim=0)
        offset = 0
        for p in self._params():
            n = p.numel()
            p.grad = update[offset:offset + n].view_as(p).clone()
            offset += n
        return projected
