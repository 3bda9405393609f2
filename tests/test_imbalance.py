"""Class profile: shot groups, Gini, Wilson intervals, effective numbers."""

from __future__ import annotations

import numpy as np
import pytest

from assay.exceptions import InvalidParameterError
from assay.imbalance import class_profile, gini


def brute_gini(c):
    """Mean absolute difference over all pairs / (2 * mean)."""
    c = np.asarray(c, dtype=float)
    return np.abs(c[:, None] - c[None, :]).sum() / (2 * len(c) ** 2 * c.mean())


@pytest.mark.parametrize("counts", [[10, 10, 10], [1, 2, 3, 4, 100], [0, 0, 30], [5]])
def test_gini_matches_pairwise_definition(counts):
    assert gini(counts) == pytest.approx(brute_gini(counts))


def test_cifar100_lt_profile_groups():
    # CIFAR-100-LT IR 100: n_i = floor(500 * 100^(-i/99)) gives 35 / 35 / 30 many/medium/few
    counts = np.floor(500 * 100.0 ** (-np.arange(100) / 99)).astype(int)
    labels = np.repeat(np.arange(100), counts)
    prof = class_profile(labels)
    s = prof.summary
    assert (s["n_many"], s["n_medium"], s["n_few"]) == (35, 35, 30)
    assert s["imbalance_ratio"] == pytest.approx(100.0)
    assert len(labels) == 10847


def test_issue_rates_and_trust():
    labels = np.repeat([0, 1], [400, 8])
    issues = np.zeros(408, bool)
    issues[:40] = True
    issues[400:402] = True
    t = class_profile(labels, classes=["big", "tiny"], issues=issues).table.set_index("class")
    assert t.loc["big", "issue_rate"] == pytest.approx(0.1)
    assert t.loc["tiny", "issue_rate"] == pytest.approx(0.25)
    assert bool(t.loc["big", "rate_trusted"]) and not bool(t.loc["tiny", "rate_trusted"])


def test_effective_number_formula():
    t = class_profile(np.repeat([0, 1], [10, 1000]), beta=0.99).table.set_index("class")
    assert t.loc[0, "effective_number"] == pytest.approx((1 - 0.99**10) / 0.01)


def test_bad_groups():
    with pytest.raises(InvalidParameterError, match="few <= many"):
        class_profile([0, 1], many=10, few=20)
