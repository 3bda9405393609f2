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


def test_select_tau_norm_is_the_brute_force_best_of_its_grid(lt_data):
    """Issue 19: every tau of the grid by a loop over classes; the first maximum wins."""
    from assay.longtail import prior_shift_accuracy
    from assay.torch import TAU_GRID, fit_head, select_tau_norm, tau_normalize

    x, y, xt, yt = lt_data
    fit = fit_head(x, y, recipe="ce", epochs=4, random_state=0)
    xv, yv = xt[::7], yt[::7]
    assert TAU_GRID == tuple(round(0.1 * k, 10) for k in range(21))

    def recall(pred):
        return np.array([np.mean(pred[yv == j] == j) for j in range(3)])

    preds = [tau_normalize(fit.model, t)(torch.from_numpy(xv)).argmax(1).numpy()
             for t in TAU_GRID]
    tau, table = select_tau_norm(fit.model, xv, yv)
    balanced = [recall(p).mean() for p in preds]
    assert tau == TAU_GRID[int(np.argmax(balanced))]
    np.testing.assert_allclose(table["balanced_accuracy"], balanced, atol=1e-12)
    q = np.array([0.1, 0.2, 0.7])
    tau_q, table_q = select_tau_norm(fit.model, xv, yv, target_prior=q)
    under_q = [float(q @ recall(p)) for p in preds]
    assert tau_q == TAU_GRID[int(np.argmax(under_q))]
    np.testing.assert_allclose(table_q["target_prior_accuracy"], under_q, atol=1e-12)
    assert under_q[0] == pytest.approx(prior_shift_accuracy(yv, preds[0], q))
    # a hand-picked grid is searched as given, and the model is left untouched
    w = fit.model.classifier.weight.detach().clone()
    tau2, table2 = select_tau_norm(fit.model, xv, yv, taus=[2.0, 0.5])
    assert table2["tau"].tolist() == [2.0, 0.5] and tau2 in (2.0, 0.5)
    assert torch.equal(w, fit.model.classifier.weight)


def test_select_tau_norm_bad_input(lt_data):
    from assay.torch import LightHead, fit_head, select_tau_norm

    x, y, *_ = lt_data
    fit = fit_head(x, y, epochs=1)
    with pytest.raises(InvalidParameterError, match="'taus' parameter of select_tau_norm"):
        select_tau_norm(fit.model, x, y, taus=[-1.0])
    with pytest.raises(InvalidParameterError, match="'taus' parameter"):
        select_tau_norm(fit.model, x, y, taus=[])
    with pytest.raises(InvalidParameterError, match="linear classifier"):
        select_tau_norm(LightHead(6, 3, classifier="cosine"), x, y)
    with pytest.raises(InputValidationError, match="the model has 3 classes"):
        select_tau_norm(fit.model, x, y + 1)
    with pytest.raises(InputValidationError, match="target_prior has 2 entries"):
        select_tau_norm(fit.model, x, y, target_prior=[0.5, 0.5])
    with pytest.raises(InputValidationError, match="must sum to 1"):
        select_tau_norm(fit.model, x, y, target_prior=[0.5, 0.5, 0.5])


@pytest.mark.parametrize("options", [{}, {"hidden": 8}, {"classifier": "cosine"},
                                     {"recipe": "crt", "hidden": 8}])
def test_parameter_counts_of_a_fitted_head(lt_data, options):
    from assay.torch import LightHead, fit_head, parameter_counts

    x, y, *_ = lt_data
    fit = fit_head(x, y, epochs=1, **options)
    shape = {k: v for k, v in options.items() if k != "recipe"}
    n = sum(p.numel() for p in LightHead(6, 3, **shape).parameters())
    assert parameter_counts(fit.model) == {"trainable": n, "total": n} and fit.params_trained == n
    frozen = LightHead(6, 3, hidden=8)
    for p in frozen.body.parameters():
        p.requires_grad_(False)
    assert parameter_counts(frozen) == {"trainable": 8 * 3 + 3, "total": 6 * 8 + 8 + 8 * 3 + 3}
    with pytest.raises(InvalidParameterError, match="torch.nn.Module"):
        parameter_counts("head")


# --- learning-rate range test and one-cycle (lr="auto") ------------------------------------

from assay.torch import fit_head  # noqa: E402


def _convex_toy():
    """Logistic regression on two separable Gaussian blobs: a convex loss in the weights."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(512, 4, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    return x, y


def test_lr_finder_on_a_convex_problem_is_sane_deterministic_and_leaves_the_model():
    from assay.torch.schedule import find_lr

    x, y = _convex_toy()
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    before = [p.detach().clone() for p in model.parameters()]
    res = find_lr(model, torch.nn.functional.cross_entropy, x, y, random_state=3)
    again = find_lr(model, torch.nn.functional.cross_entropy, x, y, random_state=3)
    assert res == again  # same seed, same curve and suggestion
    assert all(torch.equal(a, p) for a, p in zip(before, model.parameters(), strict=True))
    assert res.rule == "min/10"
    # exponential sweep from 1e-5 to 1: consecutive ratios are constant
    ratios = np.diff(np.log(res.lrs))
    assert res.lrs[0] == pytest.approx(1e-5) and np.allclose(ratios, np.log(1e5) / 99)
    # the rule, recomputed from the curve; and a sane rate for Adam on a convex problem
    assert res.suggested_lr == pytest.approx(res.lrs[int(np.argmin(res.losses))] / 10)
    assert 1e-4 <= res.suggested_lr <= 1.0
    assert min(res.losses) < 0.75 * res.losses[0]  # the sweep does find a descent
    d = res.as_dict()
    assert set(d) == {"lrs", "losses", "suggested_lr", "rule", "stopped_early"}


def test_lr_finder_stops_when_the_smoothed_loss_diverges():
    from assay.torch.schedule import find_lr

    x, y = _convex_toy()
    torch.manual_seed(0)
    # sweeping Adam up to lr 1e5 blows a linear model's loss up: the test stops before 100
    # steps, at the first smoothed loss above 4 x the best one
    res = find_lr(torch.nn.Linear(4, 2), torch.nn.functional.cross_entropy, x, y,
                  end_lr=1e5, random_state=0)
    assert res.stopped_early and len(res.lrs) < 100
    assert res.losses[-1] > 4 * min(res.losses)
    assert all(v <= 4 * min(res.losses[:i + 1]) for i, v in enumerate(res.losses[:-1]))


def test_fit_head_auto_uses_one_cycle_with_its_peak_at_30_percent(lt_data):
    x, y, _, _ = lt_data
    fit = fit_head(x, y, lr="auto", epochs=6, batch_size=32)
    assert fit.lr == "auto" and fit.lr_schedule == "one-cycle" and len(fit.lr_finder) == 1
    trace = np.array(fit.lr_trace)
    steps = 6 * -(-y.size // 32)
    assert trace.size == steps
    max_lr = fit.lr_finder[0].suggested_lr
    # OneCycleLR defaults: starts at max_lr / 25, peaks at max_lr after 30 % of the steps,
    # then anneals (cosine) towards max_lr / 25 / 1e4
    peak = int(np.argmax(trace))
    assert abs(peak - (0.3 * steps - 1)) <= 1
    assert trace[peak] == pytest.approx(max_lr, rel=1e-2)  # the peak falls between steps
    assert trace[0] == pytest.approx(max_lr / 25)
    assert np.all(np.diff(trace[:peak + 1]) > 0) and np.all(np.diff(trace[peak:]) < 0)
    assert trace[-1] < max_lr / 100


def test_fit_head_auto_matches_the_fixed_rate_on_separable_data_and_is_reproducible():
    r = np.random.default_rng(1)
    means = np.array([[4.0, 0, 0], [0, 4.0, 0], [0, 0, 4.0]])
    y = np.repeat(np.arange(3), [120, 40, 20])
    x = (means[y] + r.normal(size=(y.size, 3))).astype(np.float32)
    fixed = fit_head(x, y, epochs=15)
    auto = fit_head(x, y, lr="auto", epochs=15)
    acc = {k: float(np.mean(f.predict(x) == y)) for k, f in (("fixed", fixed), ("auto", auto))}
    assert acc["auto"] >= 0.97 and acc["auto"] >= acc["fixed"] - 0.02, acc
    assert fixed.lr == 0.05 and fixed.lr_schedule == "cosine" and fixed.lr_finder == ()
    again = fit_head(x, y, lr="auto", epochs=15)
    assert np.array_equal(auto.logits(x), again.logits(x))
    assert auto.lr_finder == again.lr_finder


def test_fit_head_auto_crt_with_a_hidden_layer_runs_one_finder_per_stage(lt_data):
    x, y, _, _ = lt_data
    fit = fit_head(x, y, recipe="crt", hidden=8, lr="auto", epochs=2)
    assert len(fit.lr_finder) == 2 and fit.epochs == 4


def test_a_float_lr_keeps_the_previous_training_exactly(lt_data):
    """lr=0.05 draws nothing more from the seed than before: same as passing it explicitly."""
    x, y, _, _ = lt_data
    a = fit_head(x, y, epochs=3)
    b = fit_head(x, y, epochs=3, lr=0.05)
    assert np.array_equal(a.logits(x), b.logits(x)) and a.lr_trace == []


@pytest.mark.parametrize("bad", ["fast", "AUTO", 0, -0.1, float("nan"), float("inf"), True, None])
def test_bad_lr_is_refused_in_one_line(lt_data, bad):
    x, y, _, _ = lt_data
    with pytest.raises(InvalidParameterError) as err:
        fit_head(x, y, lr=bad, epochs=1)
    msg = str(err.value)
    assert "'lr' parameter of fit_head must be 'auto' or a finite float > 0" in msg
    assert "\n" not in msg
