"""The two-variable scaling law against Epoch AI's replication of Chinchilla."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize_scalar

from assay.curves import fit_scaling_law
from assay.exceptions import InputValidationError, InvalidParameterError

# The 245 (params, tokens, loss) points Epoch AI extracted from Chinchilla's figure 4, kept in the
# repository so CI never depends on a path outside it.
POINTS = Path(__file__).resolve().parent / "data" / "chinchilla_points.csv"
# Epoch AI (Besiroglu et al. 2024), table 1: estimate and standard error.
EPOCH = {
    "A": (482.01, 124.5),
    "B": (2085.43, 1293.3),
    "E": (1.817, 0.026),
    "alpha": (0.3478, 0.0154),
    "beta": (0.3658, 0.0206),
}


@pytest.fixture(scope="module")
def chinchilla():
    df = pd.read_csv(POINTS)
    # Epoch drops the 5 highest-loss points before fitting.
    return df.sort_values("loss").iloc[:-5]


@pytest.fixture(scope="module")
def chinchilla_fit(chinchilla):
    return fit_scaling_law(chinchilla["params"], chinchilla["tokens"], chinchilla["loss"])


def test_reproduces_epoch_estimates_within_their_standard_errors(chinchilla, chinchilla_fit):
    assert len(chinchilla) == 240
    for name, (estimate, se) in EPOCH.items():
        got = chinchilla_fit.params[name]
        assert abs(got - estimate) < se, (name, got, estimate, se)
    # Tighter than one s.e. on the well-determined parameters.
    assert chinchilla_fit.E == pytest.approx(1.817, abs=0.005)
    assert chinchilla_fit.alpha == pytest.approx(0.3478, abs=0.003)
    assert chinchilla_fit.beta == pytest.approx(0.3658, abs=0.005)


def test_paper_rounded_values_fit_worse_than_ours(chinchilla, chinchilla_fit):
    # Epoch's point: Chinchilla's published (E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
    # fit the data poorly. Compare the mean absolute log residual.
    n, d, loss = (chinchilla[c].to_numpy() for c in ("params", "tokens", "loss"))
    ours = np.mean(np.abs(np.log(chinchilla_fit.predict(n, d)) - np.log(loss)))
    paper = 1.69 + 406.4 / n**0.34 + 410.7 / d**0.28
    assert ours < np.mean(np.abs(np.log(paper) - np.log(loss)))


def test_noise_free_synthetic_law_is_recovered():
    rng = np.random.default_rng(0)
    n = 10 ** rng.uniform(7, 10, 80)
    d = 10 ** rng.uniform(9, 12, 80)
    truth = {"A": 400.0, "B": 2000.0, "E": 1.8, "alpha": 0.34, "beta": 0.37}
    loss = truth["E"] + truth["A"] / n ** truth["alpha"] + truth["B"] / d ** truth["beta"]
    fit = fit_scaling_law(n, d, loss)
    for k, v in truth.items():
        assert fit.params[k] == pytest.approx(v, rel=1e-4), k


def test_compute_optimal_matches_a_brute_force_search(chinchilla_fit):
    c = 1e22
    n_opt, d_opt = chinchilla_fit.compute_optimal(c)
    res = minimize_scalar(
        lambda logn: float(chinchilla_fit.predict(np.exp(logn), c / (6 * np.exp(logn)))),
        bounds=(np.log(1e6), np.log(1e13)), method="bounded", options={"xatol": 1e-10},
    )
    assert float(n_opt) == pytest.approx(np.exp(res.x), rel=1e-4)
    assert float(n_opt * d_opt * 6) == pytest.approx(c)


@pytest.mark.slow
def test_bootstrap_standard_errors_match_epoch(chinchilla):
    fit = fit_scaling_law(chinchilla["params"], chinchilla["tokens"], chinchilla["loss"],
                          n_bootstrap=300, random_state=0)
    se = fit.standard_errors()
    for name in ("E", "alpha", "beta", "A"):
        assert 0.6 * EPOCH[name][1] < se[name] < 1.6 * EPOCH[name][1], (name, se[name])
    lo, hi = fit.intervals(level=0.95)["alpha"]
    # Epoch's 95 % interval for alpha: (0.317, 0.373).
    assert lo == pytest.approx(0.317, abs=0.01) and hi == pytest.approx(0.373, abs=0.01)


def test_without_bootstrap_errors_are_nan(chinchilla_fit):
    assert np.isnan(chinchilla_fit.standard_errors()["alpha"])
    assert np.isnan(chinchilla_fit.intervals()["E"][0])


def test_bad_input_is_refused():
    with pytest.raises(InputValidationError, match="params must hold finite values above 0"):
        fit_scaling_law([1e8, -1, 1e9, 1e9, 1e9, 1e9], [1e9] * 6, [3.0] * 6)
    with pytest.raises(InputValidationError, match="got 6, 5 and 6"):
        fit_scaling_law([1e8] * 6, [1e9] * 5, [3.0] * 6)
    with pytest.raises(InputValidationError, match="at least 6 runs, got 5"):
        fit_scaling_law([1e8] * 5, [1e9] * 5, [3.0] * 5)
    with pytest.raises(InvalidParameterError, match="'n_starts' parameter"):
        fit_scaling_law([1e8] * 6, [1e9] * 6, [3.0] * 6, n_starts=0)
    with pytest.raises(InvalidParameterError, match="'huber_delta' parameter"):
        fit_scaling_law([1e8] * 6, [1e9] * 6, [3.0] * 6, huber_delta=-1)
