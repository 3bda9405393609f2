"""Monte Carlo valuation on a local Ray runtime through joblib (extra ``dist``)."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def test_banzhaf_and_tmc_on_local_ray_equal_serial():
    ray = pytest.importorskip("ray")
    import joblib
    from ray.util.joblib import register_ray

    from assay.valuation import banzhaf, tmc_shapley

    def utility(s):  # a cheap deterministic game: value of the sum of weights, capped
        w = np.array([0.5, 0.2, 0.9, -0.3, 0.4, 0.1])
        return float(min(w[s].sum(), 1.2))

    serial_t = tmc_shapley(utility, n_players=6, max_samples=24, rtol=None, random_state=0)
    serial_b = banzhaf(utility, n_players=6, max_samples=48, rtol=None, random_state=0)
    register_ray()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        with joblib.parallel_config(backend="ray"):
            on_ray_t = tmc_shapley(utility, n_players=6, max_samples=24, rtol=None,
                                   random_state=0, n_jobs=2)
            on_ray_b = banzhaf(utility, n_players=6, max_samples=48, rtol=None, random_state=0,
                               n_jobs=2)
    finally:
        ray.shutdown()
    # sampling happens in the caller, so the backend changes where, never what, is computed
    np.testing.assert_allclose(on_ray_t.values, serial_t.values, atol=1e-12)
    np.testing.assert_allclose(on_ray_b.values, serial_b.values, atol=1e-12)
    assert on_ray_t.n_evaluations == serial_t.n_evaluations


def test_audit_cross_fitting_and_learning_curves_on_local_ray_equal_local():
    # They crashed under Ray before: its joblib backend refuses generator results.
    ray = pytest.importorskip("ray")
    import joblib
    import pandas as pd
    from ray.util.joblib import register_ray
    from sklearn.datasets import load_digits

    import assay
    from assay.curves import learning_curve
    from assay.models import cross_val_pred_probs

    x, y = load_digits(return_X_y=True)
    x, y = x[:600], y[:600]
    frame = pd.DataFrame(x).add_prefix("p").assign(y=y)
    local = (cross_val_pred_probs(x, y),
             learning_curve(x, y, sizes=[100, 200, 300, 400], n_seeds=2)["accuracy"],
             assay.audit(frame, label="y", checks=["label_issues"]).issues)
    register_ray()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        with joblib.parallel_config(backend="ray"):
            on_ray = (cross_val_pred_probs(x, y, n_jobs=2),
                      learning_curve(x, y, sizes=[100, 200, 300, 400], n_seeds=2,
                                     n_jobs=2)["accuracy"],
                      assay.audit(frame, label="y", checks=["label_issues"]).issues)
    finally:
        ray.shutdown()
    np.testing.assert_allclose(on_ray[0], local[0], atol=1e-12)
    np.testing.assert_allclose(on_ray[1].to_numpy(), local[1].to_numpy(), atol=1e-12)
    pd.testing.assert_frame_equal(on_ray[2], local[2])
