"""Tests of assay.torch.tracin: per-example per-task gradient alignment and conflict."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.torch
torch = pytest.importorskip("torch")

from assay.exceptions import InputValidationError  # noqa: E402
from assay.torch.tracin import task_gradient_alignment  # noqa: E402


def _setup(seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    x = torch.randn(12, 3)
    y = torch.randint(0, 2, (12,))
    ce = torch.nn.CrossEntropyLoss(reduction="none")
    tasks = {"a": (torch.randn(6, 3), torch.randint(0, 2, (6,)), ce),
             "b": (torch.randn(5, 3), torch.randint(0, 2, (5,)), ce)}
    return model, x, y, tasks, ce


def _flat_grad(model, loss):
    grads = torch.autograd.grad(loss, list(model.parameters()))
    return torch.cat([g.reshape(-1) for g in grads]).double()


def test_exact_alignment_equals_autograd_loop():
    model, x, y, tasks, ce = _setup()
    res = task_gradient_alignment(model, x, y, tasks, loss_fn=ce, projection_dim=None)
    task_g = [_flat_grad(model, ce(model(xv), yv).mean()) for xv, yv, _ in tasks.values()]
    for i in range(12):
        gi = _flat_grad(model, ce(model(x[i : i + 1]), y[i : i + 1]).sum())
        expected = [float(gi @ g) for g in task_g]
        np.testing.assert_allclose(res.alignment[i], expected, rtol=1e-5, atol=1e-7)
    conflict = np.maximum(0, np.minimum(res.alignment.max(1), -res.alignment.min(1)))
    np.testing.assert_allclose(res.conflict, conflict)
    assert res.tasks == ("a", "b") and res.to_frame().shape == (12, 3)


def test_projection_preserves_dot_products():
    model, x, y, tasks, ce = _setup(1)
    exact = task_gradient_alignment(model, x, y, tasks, loss_fn=ce, projection_dim=None)
    proj = task_gradient_alignment(model, x, y, tasks, loss_fn=ce, projection_dim=4096,
                                   random_state=3)
    scale = np.abs(exact.alignment).max()
    assert np.abs(proj.alignment - exact.alignment).max() < 0.15 * scale
    again = task_gradient_alignment(model, x, y, tasks, loss_fn=ce, projection_dim=4096,
                                    random_state=3)
    np.testing.assert_array_equal(again.alignment, proj.alignment)  # seeded


def test_conflicting_example_is_flagged():
    # linear model, two tasks that want opposite outputs on the same input direction
    model = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.zero_()
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    y = torch.tensor([[1.0], [1.0], [0.0]])

    def mse(out, t):
        return ((out - t) ** 2).sum(dim=1)

    tasks = {"up": (x[:1], torch.tensor([[1.0]]), mse), "down": (x[:1], torch.tensor([[-1.0]]), mse)}
    res = task_gradient_alignment(model, x, y, tasks, loss_fn=mse, projection_dim=None,
                                  normalize=True)
    # example 0 pushes w0 up: helps "up" (cos 1), hurts "down" (cos -1); example 1 only moves w1
    np.testing.assert_allclose(res.alignment[0], [1.0, -1.0], atol=1e-12)
    np.testing.assert_allclose(res.alignment[1], [0.0, 0.0], atol=1e-12)
    assert res.conflict[0] == pytest.approx(1.0) and np.argmax(res.conflict) == 0


def test_bad_input():
    model, x, y, tasks, ce = _setup()
    with pytest.raises(InputValidationError, match="x_train has 12 rows but y_train has 11"):
        task_gradient_alignment(model, x, y[:11], tasks, loss_fn=ce)
    with pytest.raises(InputValidationError, match="tasks is empty"):
        task_gradient_alignment(model, x, y, {}, loss_fn=ce)
