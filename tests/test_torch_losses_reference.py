"""Weighted long-tail losses against the reference implementations' normalisation (issue 14).

The LDAM-DRW reference code (Cao et al. 2019, github.com/kaidic/LDAM-DRW, ``losses.py``):

- ``LDAMLoss.forward``: ``F.cross_entropy(self.s * output, target, weight=self.weight)``, i.e. the
  weighted mean ``sum(w_y l) / sum(w_y)`` once DRW switches the weights on;
- the class-balanced ("Reweight") rule: ``nn.CrossEntropyLoss(weight=per_cls_weights)``;
- ``FocalLoss.forward``: ``focal_loss(F.cross_entropy(input, target, reduction="none",
  weight=self.weight), gamma)`` with ``focal_loss(v, g) = ((1 - exp(-v)) ** g * v).mean()``.

Each reference is rebuilt here from torch primitives, independently of assay.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from assay.longtail import class_balanced_weights  # noqa: E402

pytestmark = pytest.mark.torch
torch.set_num_threads(1)

N_CASES = 20


def _case(seed: int):
    r = np.random.default_rng(seed)
    c = int(r.integers(2, 9))
    n = int(r.integers(1, 65))
    counts = r.integers(1, 500, c)
    cos = torch.tensor(np.tanh(r.normal(size=(n, c)) * 1.5), dtype=torch.float64)
    y = torch.tensor(r.integers(0, c, n))
    return counts, cos, y


def _ref_margins(counts: np.ndarray, max_m: float = 0.5) -> torch.Tensor:
    m = 1.0 / np.sqrt(np.sqrt(counts.astype(float)))  # C / n_j^(1/4), largest = max_m
    return torch.tensor(m * (max_m / m.max()), dtype=torch.float64)


def _ref_ldam(x, target, counts, weight, s=30.0):
    m = _ref_margins(counts)
    index = torch.zeros_like(x, dtype=torch.bool)
    index.scatter_(1, target.view(-1, 1), True)
    batch_m = (m[None, :] @ index.to(x.dtype).T).view(-1, 1)
    output = torch.where(index, x - batch_m, x)
    return F.cross_entropy(s * output, target, weight=weight)


def _ref_focal_kaidic(x, target, weight, gamma):
    v = F.cross_entropy(x, target, reduction="none", weight=weight)
    p = torch.exp(-v)
    return ((1 - p) ** gamma * v).mean()


@pytest.mark.parametrize("seed", range(N_CASES))
def test_ldam_drw_weighted_loss_equals_torch_cross_entropy_with_weight(seed):
    from assay.torch import LDAMLoss, ldam_loss

    counts, cos, y = _case(seed)
    w = torch.tensor(class_balanced_weights(counts, beta=0.9999), dtype=torch.float64)
    loss = LDAMLoss(counts, max_margin=0.5, scale=30.0, drw_start=5).double()
    loss.set_epoch(4)  # before DRW: unweighted
    assert abs(float(loss(cos, y)) - float(_ref_ldam(cos, y, counts, None))) < 1e-6
    loss.set_epoch(5)  # DRW on: weighted mean sum(w_y l) / sum(w_y)
    ref = float(_ref_ldam(cos, y, counts, w))
    assert abs(float(loss(cos, y)) - ref) < 1e-6
    got = ldam_loss(cos, y, _ref_margins(counts), scale=30.0, weight=w)
    assert abs(float(got) - ref) < 1e-6


def test_ldam_drw_weighted_loss_is_not_the_row_mean():
    """The old normalisation (mean of w_y l over rows) must be detectably different."""
    from assay.torch import LDAMLoss

    counts, cos, y = _case(3)
    w = torch.tensor(class_balanced_weights(counts, beta=0.9999), dtype=torch.float64)
    loss = LDAMLoss(counts, drw_start=0).double()
    loss.set_epoch(0)
    per = F.cross_entropy(30.0 * torch.where(
        F.one_hot(y, cos.shape[1]).bool(), cos - _ref_margins(counts)[y][:, None], cos),
        y, reduction="none")
    row_mean = float((per * w[y]).mean())
    assert abs(float(loss(cos, y)) - row_mean) > 1e-3


@pytest.mark.parametrize("seed", range(N_CASES))
def test_class_balanced_and_weighted_ce_equal_torch_cross_entropy_with_weight(seed):
    from assay.torch import ClassBalancedLoss, CrossEntropyLoss, cross_entropy

    counts, cos, y = _case(seed)
    z = cos * 4.0
    w = torch.tensor(class_balanced_weights(counts, beta=0.999), dtype=torch.float64)
    ref = float(F.cross_entropy(z, y, weight=w))
    assert abs(float(ClassBalancedLoss(counts, beta=0.999).double()(z, y)) - ref) < 1e-6
    assert abs(float(CrossEntropyLoss(weight=w.numpy()).double()(z, y)) - ref) < 1e-6
    assert abs(float(cross_entropy(z, y, weight=w)) - ref) < 1e-6


@pytest.mark.parametrize("seed", range(N_CASES))
@pytest.mark.parametrize("gamma", [0.0, 1.0, 2.0])
def test_focal_loss_normalisation_against_ldam_drw_focal(seed, gamma):
    from assay.torch import FocalLoss, focal_loss

    counts, cos, y = _case(seed)
    z = cos * 4.0
    w = torch.tensor(class_balanced_weights(counts, beta=0.999), dtype=torch.float64)
    # unweighted: identical to the reference for every gamma
    assert abs(float(FocalLoss(gamma=gamma)(z, y)) - float(
        _ref_focal_kaidic(z, y, None, gamma))) < 1e-6
    # weighted: divided by N (not by sum w_y), modulating factor from the true-class probability
    logp = F.log_softmax(z, dim=1).gather(1, y[:, None]).squeeze(1)
    alpha_balanced = float((w[y] * (1 - logp.exp()) ** gamma * -logp).sum() / len(y))
    got = float(focal_loss(z, y, gamma=gamma, weight=w))
    assert abs(got - alpha_balanced) < 1e-6
    if gamma == 0.0:  # the reference's weighted focal with gamma 0 is the same number
        assert abs(got - float(_ref_focal_kaidic(z, y, w, 0.0))) < 1e-6


def test_weighted_focal_documented_difference_from_ldam_drw_repository():
    """With a weight and gamma > 0 the LDAM-DRW repository's focal uses exp(-w_y l) as p."""
    from assay.torch import focal_loss

    counts, cos, y = _case(1)
    z = cos * 4.0
    w = torch.tensor(class_balanced_weights(counts, beta=0.999), dtype=torch.float64)
    got = float(focal_loss(z, y, gamma=2.0, weight=w))
    assert abs(got - float(_ref_focal_kaidic(z, y, w, 2.0))) > 1e-4
