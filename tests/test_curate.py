"""The multi-stage curation funnel."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import rankdata

from assay.curate import balanced_quota, curation_funnel, quality_rank
from assay.exceptions import InputValidationError, InvalidParameterError


def test_quality_rank_is_the_mean_percentile_rank():
    rng = np.random.default_rng(0)
    lq = rng.random(50).round(1)  # ties on purpose
    val = rng.normal(size=50)
    got = quality_rank(label_quality=lq, value=val, weights={"label_quality": 3.0})
    pct = lambda x: (rankdata(x, method="average") - 1) / (x.size - 1)  # noqa: E731
    np.testing.assert_allclose(got, (3 * pct(lq) + pct(val)) / 4)
    assert got.min() >= 0 and got.max() <= 1


def _round_robin(available, quota):
    """One row at a time to the open class with the fewest so far (ties: first listed)."""
    take = np.zeros(len(available), dtype=int)
    for _ in range(min(quota, sum(available))):
        open_ = [i for i in range(len(available)) if take[i] < available[i]]
        i = min(open_, key=lambda j: (take[j], j))
        take[i] += 1
    return take


@settings(max_examples=60, deadline=None)
@given(available=st.lists(st.integers(0, 40), min_size=1, max_size=6),
       quota=st.integers(0, 150))
def test_balanced_quota_matches_round_robin(available, quota):
    got = balanced_quota(np.array(available), quota)
    assert got.sum() == min(quota, sum(available))
    assert np.all(got <= np.array(available))
    # Same multiset of per-class counts as the one-at-a-time reference (max-min fair).
    np.testing.assert_array_equal(np.sort(got), np.sort(_round_robin(available, quota)))


def test_funnel_stages_are_nested_best_first_and_skip_duplicates():
    rng = np.random.default_rng(1)
    n = 1_000
    lq, out, val = rng.random(n), rng.random(n), rng.random(n)
    dup = rng.random(n) < 0.1
    f = curation_funnel(label_quality=lq, outlier_score=out, value=val, is_duplicate=dup,
                        quotas=(300, 60, 10))
    auto, amateur, expert = (set(f.queues[s]["row"]) for s in ("automatic", "amateur", "expert"))
    assert len(auto) == 300 and len(amateur) == 60 and len(expert) == 10
    assert expert <= amateur <= auto
    assert not (auto & set(np.flatnonzero(dup)))
    score = quality_rank(label_quality=lq, outlier_score=out, value=val)
    eligible = np.flatnonzero(~dup)
    top = eligible[np.argsort(-score[eligible], kind="stable")[:300]]
    assert auto == set(top)
    q = f.queues["automatic"]["score"].to_numpy()
    assert np.all(np.diff(q) <= 0)  # review order: best first
    r = f.ranking
    assert (r.loc[dup, "stage"] == "filtered_out").all()
    assert (r.loc[dup, "excluded"] == "duplicate").all()
    assert r["rank"].max() == n and r.loc[dup, "rank"].min() > (~dup).sum()
    assert f.summary()["rows"].tolist() == [300, 60, 10]


def test_class_balanced_funnel_gives_every_class_its_fair_share():
    rng = np.random.default_rng(2)
    labels = np.array(["cat"] * 500 + ["dog"] * 300 + ["emu"] * 12)
    f = curation_funnel(label_quality=rng.random(labels.size), labels=labels,
                        quotas=(90, 30, 9), class_balanced=True)
    counts = f.queues["automatic"]["label"].value_counts().to_dict()
    assert counts == {"cat": 39, "dog": 39, "emu": 12}
    assert f.queues["amateur"]["label"].value_counts().to_dict() == {
        "cat": 10, "dog": 10, "emu": 10}
    assert f.queues["expert"]["label"].value_counts().to_dict() == {
        "cat": 3, "dog": 3, "emu": 3}
    # Within a class, the best rows are the ones kept.
    cats = f.ranking[f.ranking["label"] == "cat"].sort_values("score", ascending=False)
    assert set(f.queues["automatic"].query("label == 'cat'")["row"]) == set(cats["row"][:39])


def test_funnel_bad_input():
    with pytest.raises(InputValidationError, match="No quality signal given"):
        curation_funnel(quotas=(2, 1))
    with pytest.raises(InvalidParameterError, match="non-increasing stage sizes"):
        curation_funnel(label_quality=[0.1, 0.2, 0.3], quotas=(1, 2), stage_names=("a", "b"))
    with pytest.raises(InvalidParameterError, match="one name per quota"):
        curation_funnel(label_quality=[0.1, 0.2, 0.3], quotas=(2, 1))
    with pytest.raises(InputValidationError, match="class_balanced=True needs labels"):
        curation_funnel(label_quality=[0.1, 0.2], quotas=(2, 1, 1), class_balanced=True)
    with pytest.raises(InputValidationError, match="value has 2 rows but the other signals have 3"):
        quality_rank(label_quality=[0.1, 0.2, 0.3], value=[1.0, 2.0])
    with pytest.raises(InputValidationError, match="is_duplicate must be a boolean mask"):
        curation_funnel(label_quality=[0.1, 0.2], is_duplicate=[0, 1], quotas=(1,),
                        stage_names=("a",))
    with pytest.raises(InputValidationError, match="missing or infinite"):
        quality_rank(value=[1.0, np.nan])
    with pytest.raises(InvalidParameterError, match="'weights' parameter"):
        quality_rank(value=[1.0, 2.0], weights={"valu": 1.0})
    with pytest.raises(InvalidParameterError, match=r"'quotas\[0\]' parameter"):
        curation_funnel(value=[1.0, 2.0], quotas=(0,), stage_names=("a",))
