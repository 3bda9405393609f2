"""assay.multitask: gradient conflict measures and the numpy PCGrad projection.

References: the PCGrad rule and conflict / magnitude definitions in
/work/shared/references/valuation.md; brute force over every task order.
"""

from __future__ import annotations

import doctest
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import assay.multitask as mt
from assay.exceptions import InputValidationError
from assay.multitask import gradient_conflict, project_conflicting, task_orders


def test_docstring_examples_run():
    result = doctest.testmod(mt, extraglobs={"np": np})
    assert result.attempted >= 4 and result.failed == 0


def _reference_pcgrad(g: np.ndarray, orders: list[list[int]]) -> np.ndarray:
    """The paper's loop, written out plainly."""
    out = []
    for i in range(len(g)):
        gi = g[i].astype(float).copy()
        for j in orders[i]:
            dot = gi @ g[j]
            if dot < 0:
                gi = gi - dot / (g[j] @ g[j]) * g[j]
        out.append(gi)
    return np.array(out)


def test_two_conflicting_gradients_no_longer_conflict():
    g = np.array([[1.0, 0.0], [-1.0, 1.0]])
    assert gradient_conflict(g).conflict_rate == 1.0
    p = project_conflicting(g, random_state=0)
    # each projected gradient is orthogonal to the other task's original gradient
    assert p[0] @ g[1] == pytest.approx(0.0) and p[1] @ g[0] == pytest.approx(0.0)
    # and the update conflicts with neither task
    update = p.sum(0)
    assert update @ g[0] >= 0 and update @ g[1] >= 0
    # hand-worked: g1 - (-1/2) g2 = [0.5, 0.5]; g2 - (-1/1) g1 = [0, 1]
    np.testing.assert_allclose(p, [[0.5, 0.5], [0.0, 1.0]])


@settings(max_examples=100, deadline=None)
@given(arrays(np.float64, (2, 5), elements=st.floats(-10, 10)))
def test_two_task_update_never_conflicts(g):
    p = project_conflicting(g, random_state=0)
    update = p.sum(0)
    scale = 1e-9 * (1 + np.abs(g).sum()) ** 2
    assert update @ g[0] >= -scale and update @ g[1] >= -scale
    if g[0] @ g[1] >= 0:  # no conflict: untouched
        np.testing.assert_array_equal(p, g)


def test_matches_brute_force_over_task_orders(rng):
    for _ in range(20):
        g = rng.normal(size=(3, 6))
        p = project_conflicting(g, random_state=int(rng.integers(1000)))
        candidates = {
            i: [
                _reference_pcgrad(g, [list(o) if k == i else [] for k in range(3)])[i]
                for o in itertools.permutations([j for j in range(3) if j != i])
            ]
            for i in range(3)
        }
        for i in range(3):
            assert any(np.allclose(p[i], c) for c in candidates[i])


def test_same_orders_give_the_reference_result(rng):
    g = rng.normal(size=(4, 10))
    orders = task_orders(4, np.random.default_rng(5))
    expected = _reference_pcgrad(g, orders.tolist())
    np.testing.assert_allclose(project_conflicting(g, random_state=np.random.default_rng(5)),
                               expected)


def test_order_is_really_shuffled_and_seeded():
    # three mutually conflicting gradients: the result depends on the order
    g = np.array([[1.0, 0.0, 0.0], [-0.9, 1.0, 0.2], [-0.5, -1.0, 1.0]])
    results = {project_conflicting(g, random_state=s).round(10).tobytes() for s in range(30)}
    assert len(results) > 1  # the official code's fixed order would give a single result
    np.testing.assert_array_equal(project_conflicting(g, random_state=7),
                                  project_conflicting(g, random_state=7))
    orders = task_orders(3, np.random.default_rng(0))
    for i, row in enumerate(orders):
        assert sorted(row.tolist()) == [j for j in range(3) if j != i]


def test_gradient_conflict_reference_values():
    g = np.array([[3.0, 0.0], [0.0, 4.0], [-1.0, 0.0]])
    r = gradient_conflict(g)
    np.testing.assert_allclose(r.cosine, [[1, 0, -1], [0, 1, 0], [-1, 0, 1]], atol=1e-12)
    # magnitude similarity 2|a||b| / (|a|^2 + |b|^2): (3, 4) -> 24 / 25; (3, 1) -> 6 / 10
    assert r.magnitude_similarity[0, 1] == pytest.approx(24 / 25)
    assert r.magnitude_similarity[0, 2] == pytest.approx(0.6)
    assert r.conflict_rate == pytest.approx(1 / 3)
    assert r.conflict_frequency[0, 2] == 1 and r.conflict_frequency[0, 1] == 0


def test_gradient_conflict_over_steps_and_zero_gradients():
    steps = np.array([[[1.0, 0.0], [-1.0, 0.0]], [[1.0, 0.0], [1.0, 1.0]],
                      [[0.0, 0.0], [0.0, 0.0]]])
    r = gradient_conflict(steps)
    assert r.cosine.shape == (3, 2, 2)
    assert r.conflict_frequency[0, 1] == pytest.approx(1 / 3)
    assert r.cosine[2, 0, 1] == 0 and r.magnitude_similarity[2, 0, 1] == 1


def test_bad_input():
    with pytest.raises(InputValidationError, match="at least 2 are needed"):
        project_conflicting(np.ones((1, 3)))
    with pytest.raises(InputValidationError, match=r"shape \(tasks, parameters\)"):
        project_conflicting(np.ones(3))
    with pytest.raises(InputValidationError, match="NaN or infinite"):
        gradient_conflict([[1.0, np.nan], [0.0, 1.0]])


# ------------------------------------------------------------------ the paper's 2D toy problem
_LOWER = 5e-6


def toy_losses_and_grads(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two-task 2D toy of PCGrad (as shipped by the CAGrad and Nash-MTL repositories).

    Above x2 = 0 both losses are log-valleys; below, quadratics with minima at x1 = +7 and -7
    (x2 = -8). The Pareto set of joint optima is x2 = -8, -7 <= x1 <= 7. Gradients by hand
    (checked against torch autograd in test_torch_pcgrad.py).
    """
    x1, x2 = x
    t = np.tanh(-x2)
    dt = -(1 - t * t)
    a1, a2 = 0.5 * (-x1 - 7) - t, 0.5 * (-x1 + 3) + t + 2
    f1a, f2a = np.log(max(abs(a1), _LOWER)) + 6, np.log(max(abs(a2), _LOWER)) + 6
    g1a = np.array([-0.5 / a1, -dt / a1]) if abs(a1) > _LOWER else np.zeros(2)
    g2a = np.array([-0.5 / a2, dt / a2]) if abs(a2) > _LOWER else np.zeros(2)
    h = np.tanh(x2 / 2)
    c1, dc1 = (h, 0.5 * (1 - h * h)) if h > 0 else (0.0, 0.0)
    c2, dc2 = (-h, -0.5 * (1 - h * h)) if h < 0 else (0.0, 0.0)
    f1s = ((7 - x1) ** 2 + 0.1 * (x2 + 8) ** 2) / 10 - 20
    f2s = ((x1 + 7) ** 2 + 0.1 * (x2 + 8) ** 2) / 10 - 20
    g1s = np.array([-0.2 * (7 - x1), 0.02 * (x2 + 8)])
    g2s = np.array([0.2 * (x1 + 7), 0.02 * (x2 + 8)])
    f = np.array([f1a * c1 + f1s * c2, f2a * c1 + f2s * c2])
    g = np.array([g1a * c1 + g1s * c2 + [0.0, f1a * dc1 + f1s * dc2],
                  g2a * c1 + g2s * c2 + [0.0, f2a * dc1 + f2s * dc2]])
    return f, g


def _adam(x0, *, steps: int, lr: float, pcgrad: bool, seed: int = 0) -> np.ndarray:
    x, m, v = np.array(x0, float), np.zeros(2), np.zeros(2)
    rng = np.random.default_rng(seed)
    for t in range(1, steps + 1):
        _, g = toy_losses_and_grads(x)
        d = project_conflicting(g, random_state=rng).sum(0) if pcgrad else g.sum(0)
        m = 0.9 * m + 0.1 * d
        v = 0.999 * v + 0.001 * d * d
        x = x - lr * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    return x


@pytest.mark.slow
def test_toy_pcgrad_reaches_joint_optimum_where_adam_stalls():
    start = [-8.5, 7.5]  # one of the toy's standard starting points
    adam = _adam(start, steps=12_000, lr=3e-3, pcgrad=False)
    pc = _adam(start, steps=12_000, lr=3e-3, pcgrad=True)
    f_adam, f_pc = toy_losses_and_grads(adam)[0], toy_losses_and_grads(pc)[0]
    # Adam stalls in the upper valley, where one task dominates: both losses stay high
    assert adam[1] > 0 and f_adam.sum() > 0
    # PCGrad goes down to the Pareto set x2 = -8, -7 <= x1 <= 7 (sum of losses near -25..-30)
    assert pc[1] < -6 and -7 <= pc[0] <= 7
    assert f_pc.sum() < -20
