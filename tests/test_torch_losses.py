"""assay.torch losses and samplers against numpy references (parity) and the published formulas.

References: /work/shared/references/longtail.md (CB weights, focal, LDAM margins and DRW,
logit-adjusted loss, Balanced Softmax = logit adjustment with tau = 1).
"""

from __future__ import annotations

import doctest
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from assay.exceptions import InputValidationError, InvalidParameterError  # noqa: E402
from assay.longtail import class_balanced_weights  # noqa: E402

pytestmark = pytest.mark.torch
torch.set_num_threads(1)


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _np_ce(z, y, w=None):
    per = -_log_softmax(z)[np.arange(len(y)), y]
    # weighted: sum(w_y l) / sum(w_y), as torch.nn.functional.cross_entropy(weight=w)
    return float(np.mean(per) if w is None else np.sum(per * w[y]) / np.sum(w[y]))


@pytest.fixture
def batch():
    r = np.random.default_rng(0)
    z = r.normal(size=(32, 5)) * 2
    y = r.integers(0, 5, 32)
    counts = np.array([400, 120, 40, 12, 3])
    return z, y, counts


def _t(z, y):
    return torch.tensor(z, dtype=torch.float64), torch.tensor(y)


def test_docstring_examples_run():
    from assay.torch import functional, heads, losses, pcgrad, samplers, sanity

    for mod in (functional, losses, samplers, heads, pcgrad, sanity):
        result = doctest.testmod(mod, extraglobs={"np": np})
        assert result.failed == 0, mod.__name__


def test_cross_entropy_and_class_balanced_parity(batch):
    from assay.torch import ClassBalancedLoss, cross_entropy

    z, y, counts = batch
    assert float(cross_entropy(*_t(z, y))) == pytest.approx(_np_ce(z, y), rel=1e-10)
    w = class_balanced_weights(counts, beta=0.999)
    got = ClassBalancedLoss(counts, beta=0.999).double()(*_t(z, y))
    assert float(got) == pytest.approx(_np_ce(z, y, w), rel=1e-6)
    # unweighted torch CE is the same number
    assert float(cross_entropy(*_t(z, y))) == pytest.approx(
        float(torch.nn.functional.cross_entropy(*_t(z, y))), rel=1e-12)


@pytest.mark.parametrize("gamma", [0.0, 1.0, 2.0])
def test_focal_parity(batch, gamma):
    from assay.torch import FocalLoss, focal_loss

    z, y, _ = batch
    logp = _log_softmax(z)[np.arange(len(y)), y]
    ref = float(np.mean(-((1 - np.exp(logp)) ** gamma) * logp))
    assert float(focal_loss(*_t(z, y), gamma=gamma)) == pytest.approx(ref, rel=1e-10)
    assert float(FocalLoss(gamma=gamma)(*_t(z, y))) == pytest.approx(ref, rel=1e-10)
    if gamma == 0:
        assert ref == pytest.approx(_np_ce(z, y))
    with pytest.raises(InvalidParameterError, match="'gamma' parameter"):
        focal_loss(*_t(z, y), gamma=-1.0)


def test_focal_gradient_matches_finite_differences(batch):
    from assay.torch import focal_loss

    z, y, _ = batch
    zt = torch.tensor(z[:4], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a: focal_loss(a, torch.tensor(y[:4]), gamma=2.0),
                                    (zt,))


def test_ldam_margins_and_loss_parity(batch):
    from assay.torch import LDAMLoss, ldam_loss, ldam_margins

    z, y, counts = batch
    m = ldam_margins(counts)
    # reference code: m = 1 / sqrt(sqrt(n)); m = m * (max_m / max(m))
    ref_m = 1.0 / np.sqrt(np.sqrt(counts))
    ref_m = ref_m * (0.5 / ref_m.max())
    np.testing.assert_allclose(m, ref_m)
    cos = np.tanh(z)  # cosine-like logits in [-1, 1]
    shifted = cos - np.eye(5)[y] * ref_m[y][:, None]
    ref = _np_ce(30.0 * shifted, y)
    assert float(ldam_loss(*_t(cos, y), m, scale=30.0)) == pytest.approx(ref, rel=1e-10)
    loss = LDAMLoss(counts, drw_start=3).double()
    loss.set_epoch(2)
    assert float(loss(*_t(cos, y))) == pytest.approx(ref, rel=1e-6)
    loss.set_epoch(3)  # deferred re-weighting: class-balanced weights, beta 0.9999
    w = class_balanced_weights(counts, beta=0.9999)
    assert float(loss(*_t(cos, y))) == pytest.approx(_np_ce(30.0 * shifted, y, w), rel=1e-5)


def test_logit_adjusted_parity_and_balanced_softmax_equivalence(batch):
    from assay.torch import (
        BalancedSoftmaxLoss,
        LogitAdjustedLoss,
        balanced_softmax_loss,
        logit_adjusted_loss,
    )

    z, y, counts = batch
    lp = np.log(counts / counts.sum())
    for tau in (0.5, 1.0, 2.0):
        ref = _np_ce(z + tau * lp, y)
        assert float(logit_adjusted_loss(*_t(z, y), lp, tau=tau)) == pytest.approx(ref, rel=1e-10)
    la1 = LogitAdjustedLoss(counts, tau=1.0).double()(*_t(z, y))
    bs = BalancedSoftmaxLoss(counts).double()(*_t(z, y))
    assert float(la1) == pytest.approx(float(bs), rel=1e-12)
    assert float(balanced_softmax_loss(*_t(z, y), lp)) == pytest.approx(
        float(logit_adjusted_loss(*_t(z, y), lp, tau=1.0)), rel=1e-12)
    # Balanced Softmax as Ren et al. write it: -log(n_y e^{z_y} / sum_j n_j e^{z_j})
    num = counts[y] * np.exp(z[np.arange(len(y)), y])
    den = (counts[None, :] * np.exp(z)).sum(1)
    assert float(bs) == pytest.approx(float(np.mean(-np.log(num / den))), rel=1e-6)


def test_zero_count_class_handled_explicitly():
    from assay.torch import BalancedSoftmaxLoss, LogitAdjustedLoss, logit_adjusted_loss

    with pytest.raises(InputValidationError, match="zero training samples.*smoothing"):
        BalancedSoftmaxLoss([10, 0, 3])
    loss = LogitAdjustedLoss([10, 0, 3], smoothing=0.5)
    assert torch.isfinite(loss(torch.zeros(2, 3), torch.tensor([0, 1])))
    with pytest.raises(InputValidationError, match="log_prior has -inf"):
        logit_adjusted_loss(torch.zeros(1, 2), torch.tensor([0]), [0.0, -np.inf])


def test_shape_errors():
    from assay.torch import cross_entropy, logit_adjusted_loss

    with pytest.raises(InputValidationError, match="2-d torch tensor"):
        cross_entropy(torch.zeros(3), torch.tensor([0, 1, 2]))
    with pytest.raises(InputValidationError, match="one entry per logits row"):
        cross_entropy(torch.zeros(3, 2), torch.tensor([0, 1]))
    with pytest.raises(InputValidationError, match="one entry per class"):
        logit_adjusted_loss(torch.zeros(2, 3), torch.tensor([0, 1]), [0.0, 0.0])


def test_make_loss_registry_builds_the_named_loss():
    from assay.torch import LOSSES, make_loss

    for name in LOSSES:
        assert make_loss(name, [10, 5, 1]).name == name
    with pytest.raises(InvalidParameterError, match="'name' parameter of make_loss"):
        make_loss("balanced_softmax", [1, 2])


@pytest.mark.parametrize(("name", "q"), [("class-balanced", 0.0), ("square-root", 0.5),
                                         ("instance", 1.0)])
def test_sampler_class_frequencies(name, q):
    from assay.torch import make_sampler

    labels = np.repeat(np.arange(3), [800, 150, 50])
    s = make_sampler(name, labels, num_samples=30_000, random_state=0)
    freq = np.bincount(labels[list(s)], minlength=3) / 30_000
    ref = np.array([800, 150, 50], float) ** q
    np.testing.assert_allclose(freq, ref / ref.sum(), atol=0.015)
    assert list(make_sampler(name, labels, random_state=1)) == list(
        make_sampler(name, labels, random_state=1))


def test_progressive_sampler_moves_from_instance_to_class_balanced():
    from assay.torch import ProgressiveSampler

    labels = np.repeat([0, 1], [90, 10])
    s = ProgressiveSampler(labels, total_epochs=4, random_state=0)
    np.testing.assert_allclose(s.class_probabilities, [0.9, 0.1])
    s.set_epoch(2)
    np.testing.assert_allclose(s.class_probabilities, [0.7, 0.3])
    s.set_epoch(4)
    np.testing.assert_allclose(s.class_probabilities, [0.5, 0.5])


def test_missing_torch_raises_missing_dependency_error():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from assay.exceptions import MissingDependencyError\n"
        "try:\n    import assay.torch\nexcept MissingDependencyError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert "assay.torch needs torch" in out.stdout
    assert "pip install 'assay[torch]'" in out.stdout
