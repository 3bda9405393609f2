"""assay.torch.PCGrad: parity with the numpy projection, the 2D toy, bad input."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from assay.exceptions import InputValidationError, InvalidParameterError  # noqa: E402
from assay.multitask import project_conflicting  # noqa: E402

pytestmark = pytest.mark.torch
torch.set_num_threads(1)

_LOWER = 5e-6


def toy_torch(x):
    """The PCGrad / CAGrad 2D toy, as written in the CAGrad repository."""
    x1, x2 = x[0], x[1]
    f1 = torch.clamp((0.5 * (-x1 - 7) - torch.tanh(-x2)).abs(), _LOWER).log() + 6
    f2 = torch.clamp((0.5 * (-x1 + 3) + torch.tanh(-x2) + 2).abs(), _LOWER).log() + 6
    c1 = torch.clamp(torch.tanh(x2 * 0.5), 0)
    f1_sq = ((-x1 + 7).pow(2) + 0.1 * (-x2 - 8).pow(2)) / 10 - 20
    f2_sq = ((-x1 - 7).pow(2) + 0.1 * (-x2 - 8).pow(2)) / 10 - 20
    c2 = torch.clamp(torch.tanh(-x2 * 0.5), 0)
    return f1 * c1 + f1_sq * c2, f2 * c1 + f2_sq * c2


def test_projection_parity_with_numpy():
    from assay.torch import PCGrad

    r = np.random.default_rng(0)
    w = torch.nn.Parameter(torch.tensor(r.normal(size=6), dtype=torch.float64))
    targets = [torch.tensor(r.normal(size=6) * 3) for _ in range(4)]
    losses = [((w - t) ** 2).sum() for t in targets]
    opt = PCGrad(torch.optim.SGD([w], lr=0.1), random_state=3)
    projected = opt.pc_backward(losses)
    raw = np.stack([2 * (w.detach().numpy() - t.numpy()) for t in targets])
    ref = project_conflicting(raw, random_state=3)
    np.testing.assert_allclose(projected.detach().numpy(), ref, rtol=1e-10)
    np.testing.assert_allclose(w.grad.numpy(), ref.sum(0), rtol=1e-10)


def test_toy_gradients_match_the_numpy_version():
    from test_multitask import toy_losses_and_grads

    for p in ([9.0, 9.0], [-7.5, -0.5], [0.3, 2.0], [5.0, -3.0], [-8.5, 7.5]):
        x = torch.tensor(p, dtype=torch.float64, requires_grad=True)
        f1, f2 = toy_torch(x)
        g1 = torch.autograd.grad(f1, x, retain_graph=True)[0].numpy()
        g2 = torch.autograd.grad(f2, x)[0].numpy()
        f, g = toy_losses_and_grads(np.array(p))
        np.testing.assert_allclose(f, [float(f1.detach()), float(f2.detach())], rtol=1e-10)
        np.testing.assert_allclose(g, np.stack([g1, g2]), rtol=1e-8, atol=1e-12)


def test_pcgrad_adam_on_toy_matches_numpy_adam_step_for_step():
    from assay.torch import PCGrad
    from test_multitask import _adam

    x = torch.nn.Parameter(torch.tensor([-8.5, 7.5], dtype=torch.float64))
    opt = PCGrad(torch.optim.Adam([x], lr=3e-3), random_state=np.random.default_rng(0))
    for _ in range(300):
        opt.zero_grad()
        opt.pc_backward(list(toy_torch(x)))
        opt.step()
    ref = _adam([-8.5, 7.5], steps=300, lr=3e-3, pcgrad=True, seed=0)
    np.testing.assert_allclose(x.detach().numpy(), ref, rtol=1e-6)


def test_unused_parameters_and_conflict_tracking():
    from assay.torch import PCGrad

    a = torch.nn.Parameter(torch.tensor([1.0]))
    b = torch.nn.Parameter(torch.tensor([1.0]))  # used by task 0 only
    opt = PCGrad(torch.optim.SGD([a, b], lr=1.0), random_state=0, track_conflicts=True)
    opt.pc_backward([(a * 2 + b).sum(), (-a).sum()])
    # g0 = [2, 1], g1 = [-1, 0]: conflict. g0' = g0 - (-2 / 1) g1 = [0, 1]; g1' = g1 + (2/5) g0
    np.testing.assert_allclose(a.grad.numpy(), [0 + (-1 + 0.8)])
    np.testing.assert_allclose(b.grad.numpy(), [1 + 0.4])
    assert len(opt.conflicts) == 1 and opt.conflicts[0].conflict_rate == 1.0


def test_bad_input():
    from assay.torch import PCGrad

    w = torch.nn.Parameter(torch.zeros(2))
    opt = PCGrad(torch.optim.SGD([w], lr=0.1))
    with pytest.raises(InputValidationError, match="at least 2 task losses"):
        opt.pc_backward([w.sum()])
    with pytest.raises(InputValidationError, match="must be a scalar"):
        opt.pc_backward([w * 1.0, w.sum()])
    with pytest.raises(InvalidParameterError, match="torch.optim.Optimizer"):
        PCGrad("sgd")
