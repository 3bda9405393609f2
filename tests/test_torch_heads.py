"""assay.torch heads: every registered recipe end to end, cRT, tau-norm, the sanity check.

A reference codebase once shipped a loss option that never took effect (`==` instead of `=`):
each recipe here must change the trained weights relative to plain cross-entropy.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from assay.exceptions import InputValidationError, InvalidParameterError  # noqa: E402
from assay.longtail import group_accuracy  # noqa: E402

pytestmark = pytest.mark.torch
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def lt_data():
    """Three Gaussian classes in 6-d, long-tailed train (200 / 40 / 8), balanced test."""
    r = np.random.default_rng(0)
    means = r.normal(scale=1.6, size=(3, 6))

    def draw(counts):
        y = np.repeat(np.arange(3), counts)
        return (means[y] + r.normal(size=(y.size, 6))).astype(np.float32), y

    x, y = draw([200, 40, 8])
    xt, yt = draw([200, 200, 200])
    return x, y, xt, yt


def _flat(fit):
    return torch.cat([p.detach().reshape(-1) for p in fit.model.parameters()]).numpy()


def test_every_registered_recipe_trains_and_takes_effect(lt_data):
    from assay.torch import RECIPES, fit_head

    x, y, xt, yt = lt_data
    fits = {r: fit_head(x, y, recipe=r, epochs=4, random_state=0) for r in RECIPES}
    base = fits["ce"]
    for recipe, fit in fits.items():
        loss_name, _, classifier = RECIPES[recipe]
        assert fit.recipe == recipe and fit.loss == loss_name and fit.classifier == classifier
        assert len(fit.history) == fit.epochs and np.all(np.isfinite(fit.history))
        assert fit.history[-1] < fit.history[0] or recipe == "crt"
        assert fit.predict(xt).shape == yt.shape
        if recipe != "ce":  # the option must change what is trained
            a, b = _flat(fit), _flat(base)
            assert a.shape != b.shape or not np.allclose(a, b), recipe
    assert fits["crt"].sampler == "class-balanced"


def test_fit_is_seeded(lt_data):
    from assay.torch import fit_head

    x, y, *_ = lt_data
    a = fit_head(x, y, recipe="focal", epochs=3, random_state=4)
    b = fit_head(x, y, recipe="focal", epochs=3, random_state=4)
    np.testing.assert_array_equal(_flat(a), _flat(b))


@pytest.mark.slow
def test_logit_adjustment_beats_ce_on_few_shot_and_balanced(lt_data):
    from assay.torch import fit_head

    x, y, xt, yt = lt_data
    counts = np.bincount(y)
    scores = {}
    for recipe in ("ce", "logit-adjusted", "balanced-softmax"):
        accs = [group_accuracy(yt, fit_head(x, y, recipe=recipe, epochs=30, random_state=s)
                               .predict(xt), counts, many=100, few=20) for s in range(3)]
        scores[recipe] = (np.mean([a.few for a in accs]), np.mean([a.balanced for a in accs]))
    for recipe in ("logit-adjusted", "balanced-softmax"):
        assert scores[recipe][0] > scores["ce"][0] + 0.05
        assert scores[recipe][1] > scores["ce"][1]


def test_crt_freezes_the_representation(lt_data):
    from assay.torch import fit_head

    x, y, *_ = lt_data
    ce = fit_head(x, y, recipe="ce", hidden=8, epochs=4, random_state=1)
    crt = fit_head(x, y, recipe="crt", hidden=8, epochs=4, crt_epochs=3, random_state=1)
    # stage 1 of cRT is exactly the CE run (same seed); stage 2 must leave the body untouched
    for p, q in zip(ce.model.body.parameters(), crt.model.body.parameters(), strict=True):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
    assert not np.allclose(ce.model.classifier.weight.detach().numpy(),
                           crt.model.classifier.weight.detach().numpy())
    assert crt.epochs == 7 and len(crt.history) == 7
    assert all(p.requires_grad for p in crt.model.parameters())


def test_validation_checkpoint_selection(lt_data):
    from assay.torch import fit_head

    x, y, xt, yt = lt_data
    fit = fit_head(x, y, recipe="ce", epochs=5, validation=(xt[::5], yt[::5]), random_state=0)
    assert fit.checkpoint == "validation" and 0 <= fit.best_epoch < 5
    assert fit_head(x, y, epochs=2).checkpoint == "last"


def test_tau_normalize(lt_data):
    from assay.torch import LightHead, fit_head, tau_normalize

    x, y, *_ = lt_data
    fit = fit_head(x, y, recipe="ce", epochs=3)
    w = fit.model.classifier.weight.detach().numpy()
    for tau in (0.0, 0.5, 1.0, 2.0):
        got = tau_normalize(fit.model, tau).classifier
        ref = w / np.linalg.norm(w, axis=1, keepdims=True) ** tau
        np.testing.assert_allclose(got.weight.detach().numpy(), ref, rtol=1e-5)
        assert float(got.bias.detach().abs().max()) == 0.0
    assert float(fit.model.classifier.bias.detach().abs().max()) > 0  # the original is untouched
    with pytest.raises(InvalidParameterError, match="linear classifier"):
        tau_normalize(LightHead(3, 2, classifier="cosine"), 1.0)


def test_fit_head_bad_input(lt_data):
    from assay.torch import fit_head

    x, y, *_ = lt_data
    with pytest.raises(InvalidParameterError, match="'recipe' parameter of fit_head.*Did you mean"):
        fit_head(x, y, recipe="balanced_softmax")
    with pytest.raises(InputValidationError, match="lengths differ"):
        fit_head(x, y[:-1])
    with pytest.raises(InputValidationError, match="n_classes is 2"):
        fit_head(x, y, n_classes=2)
    # a class with no training row: log prior -inf, refused unless smoothed
    with pytest.raises(InputValidationError, match="zero training samples"):
        fit_head(x, y, n_classes=4, recipe="balanced-softmax", epochs=1)
    fit = fit_head(x, y, n_classes=4, recipe="balanced-softmax", epochs=1, smoothing=1.0)
    assert fit.counts.tolist() == [200, 40, 8, 0]


def test_overfit_check_passes_and_catches_a_frozen_model(lt_data):
    from assay.torch import overfit_check

    x, y, *_ = lt_data
    mlp = torch.nn.Sequential(torch.nn.Linear(6, 32), torch.nn.ReLU(), torch.nn.Linear(32, 3))
    before = [p.detach().clone() for p in mlp.parameters()]
    ok = overfit_check(mlp, x, y, n_samples=12, steps=200)
    assert ok.passed and ok.final_loss < ok.initial_loss
    for p, q in zip(before, mlp.parameters(), strict=True):  # the model passed in is untouched
        assert torch.equal(p, q)
    frozen = torch.nn.Linear(6, 3)
    frozen.weight.requires_grad_(False)  # only the bias can move: cannot memorise
    r_labels = np.random.default_rng(1).integers(0, 3, len(y))
    bad = overfit_check(frozen, x, r_labels, n_samples=12, steps=200)
    assert not bad.passed
    with pytest.raises(InvalidParameterError, match="'threshold' parameter"):
        overfit_check(mlp, x, y, threshold=0)


def test_overfit_check_memorises_shuffled_labels_but_alignment_check_catches_them(lt_data):
    """Issue 19: memorising a tiny subset says nothing about the labels; held-out accuracy does."""
    from assay.torch import label_alignment_check, overfit_check

    x, y, *_ = lt_data
    shuffled = np.random.default_rng(3).permutation(y)
    mlp = torch.nn.Sequential(torch.nn.Linear(6, 32), torch.nn.ReLU(), torch.nn.Linear(32, 3))
    assert overfit_check(mlp, x, shuffled, n_samples=12, steps=300).passed  # memorised anyway
    good = label_alignment_check(mlp, x, y)
    bad = label_alignment_check(mlp, x, shuffled)
    assert good.passed and good.accuracy > good.chance
    assert not bad.passed and bad.p_value > 0.01
    for check in (overfit_check, label_alignment_check):
        frozen = torch.nn.Linear(6, 3).requires_grad_(False)
        with pytest.raises(InvalidParameterError, match="trainable parameter"):
            check(frozen, x, y)
