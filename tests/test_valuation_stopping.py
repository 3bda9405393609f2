"""Stopping rules of the Monte Carlo estimators (``stop=``), composed with ``|`` and ``&``."""

from __future__ import annotations

import time

import numpy as np
import pytest

from assay.exceptions import InvalidParameterError
from assay.valuation import (
    MaxEvaluations,
    MaxSamples,
    MaxTime,
    RelativeStandardError,
    SamplingState,
    StoppingRule,
    banzhaf,
    beta_shapley,
    tmc_shapley,
)

ESTIMATORS = [tmc_shapley, banzhaf, beta_shapley]


def only_zero(s):
    return float(0 in s)


def constant(s):
    return 1.0


def game(s):
    s = {int(i) for i in s}
    return float(np.sqrt(len(s)) + 0.3 * (0 in s) - 0.2 * (2 in s and 3 in s) + 0.1 * (4 in s))


def _state(n_samples=0, n_evaluations=0, elapsed_s=0.0, values=None, stderr=None, counts=None):
    values = np.array([[1.0], [0.5]]) if values is None else values
    stderr = np.full_like(values, 0.01) if stderr is None else stderr
    counts = np.full(values.shape[0], n_samples) if counts is None else counts
    return SamplingState(n_samples, n_evaluations, elapsed_s, values, stderr, counts)


# ------------------------------------------------------------------------------------------
# the rules on their own


def test_each_rule_checks_its_own_quantity():
    assert not MaxSamples(10).check(_state(n_samples=9))
    assert MaxSamples(10).check(_state(n_samples=10)).reason == "MaxSamples(10)"
    assert not MaxEvaluations(5).check(_state(n_evaluations=4))
    assert MaxEvaluations(5).check(_state(n_evaluations=7))
    assert not MaxTime(2).check(_state(elapsed_s=1.9))
    assert MaxTime(2).check(_state(elapsed_s=2.0))
    rse = RelativeStandardError(0.05, min_samples=30)
    assert not rse.check(_state(n_samples=29))  # too few samples
    assert rse.check(_state(n_samples=30)).converged  # 0.01 <= 0.05 * max|value| = 0.05
    assert not rse.check(_state(n_samples=30, stderr=np.array([[0.01], [0.06]])))
    assert not rse.check(_state(n_samples=30, stderr=np.array([[0.01], [np.nan]])))
    assert not MaxSamples(10).check(_state(n_samples=10)).converged


def test_or_stops_at_the_first_and_at_the_last():
    a, b = MaxSamples(10), MaxEvaluations(50)
    either, both = a | b, a & b
    assert not either.check(_state(n_samples=9, n_evaluations=49))
    d = either.check(_state(n_samples=10, n_evaluations=3))
    assert d and d.met == (a,) and d.reason == "MaxSamples(10)"
    assert either.check(_state(n_samples=2, n_evaluations=50)).reason == "MaxEvaluations(50)"
    # both met at the same check: both are reported
    assert either.check(_state(n_samples=10, n_evaluations=50)).met == (a, b)
    assert not both.check(_state(n_samples=10, n_evaluations=3))
    assert not both.check(_state(n_samples=2, n_evaluations=50))
    d = both.check(_state(n_samples=10, n_evaluations=50))
    assert d and d.reason == "MaxSamples(10), MaxEvaluations(50)"


@pytest.mark.parametrize("fn", ESTIMATORS)
def test_composition_in_a_run(fn):
    kw = {"n_players": 3, "batch_size": 1, "random_state": 0}
    first = fn(only_zero, stop=MaxSamples(7) | MaxSamples(19), **kw)
    last = fn(only_zero, stop=MaxSamples(7) & MaxSamples(19), **kw)
    assert (first.n_samples, last.n_samples) == (7, 19)
    assert first.stopped_by == "MaxSamples(7)"
    assert last.stopped_by == "MaxSamples(7), MaxSamples(19)"
    # "at least 40 samples and converged" (a constant utility converges at once), with a cap
    res = fn(constant, stop=(MaxSamples(40) & RelativeStandardError(0.05, 2)) | MaxTime(600),
             **kw)
    assert res.n_samples == 40 and res.converged
    assert res.stopped_by == "MaxSamples(40), RelativeStandardError(0.05, min_samples=2)"


def test_composition_flattens_and_prints_with_precedence():
    r = (MaxSamples(100) & RelativeStandardError(0.05)) | MaxTime(60) | MaxEvaluations(500)
    assert repr(r) == ("(MaxSamples(100) & RelativeStandardError(0.05, min_samples=30)) "
                       "| MaxTime(60) | MaxEvaluations(500)")
    assert repr(MaxSamples(3) & (MaxTime(1.5) | MaxSamples(4))) == (
        "MaxSamples(3) & (MaxTime(1.5) | MaxSamples(4))")
    assert (MaxSamples(1) | MaxTime(2)) | MaxEvaluations(3) == MaxSamples(1) | (
        MaxTime(2) | MaxEvaluations(3))
    assert MaxSamples(5) == MaxSamples(5) and MaxSamples(5) != MaxEvaluations(5)
    assert len({MaxTime(1), MaxTime(1.0), RelativeStandardError(0.1)}) == 2


# ------------------------------------------------------------------------------------------
# each rule stops a run where it should (toy utility: only player 0 matters)


@pytest.mark.parametrize("fn", ESTIMATORS)
def test_max_samples_stops_exactly(fn):
    res = fn(only_zero, n_players=3, stop=MaxSamples(45))  # batches of 32, the last cut to 13
    assert res.n_samples == 45 and not res.converged and res.stopped_by == "MaxSamples(45)"


def test_max_evaluations_stops_after_the_batch_that_reaches_it():
    # one empty-coalition call, then 3 evaluations per permutation of 3 players
    res = tmc_shapley(only_zero, n_players=3, batch_size=1, stop=MaxEvaluations(20))
    assert (res.n_samples, res.n_evaluations) == (7, 22)
    assert res.stopped_by == "MaxEvaluations(20)" and not res.converged
    res = banzhaf(only_zero, n_players=3, batch_size=4, stop=MaxEvaluations(10))
    assert (res.n_samples, res.n_evaluations) == (12, 13)


def test_max_time_stops_after_that_many_seconds():
    def slow(s):
        time.sleep(0.01)
        return float(0 in s)

    res = tmc_shapley(slow, n_players=3, batch_size=1, stop=MaxTime(0.2) | MaxSamples(10_000))
    assert res.stopped_by == "MaxTime(0.2)" and not res.converged
    assert res.elapsed_s >= 0.2 and 1 <= res.n_samples < 10_000


@pytest.mark.parametrize("fn", ESTIMATORS)
def test_relative_standard_error_stops_once_converged(fn):
    rule = RelativeStandardError(0.05, min_samples=5) | MaxSamples(1000)
    res = fn(constant, n_players=3, batch_size=1, stop=rule)
    # every sample gives the exact values (all 0): zero standard error once there are enough
    assert res.converged and res.stopped_by == "RelativeStandardError(0.05, min_samples=5)"
    assert res.counts.min() == 5 and np.all(res.values == 0)
    if fn is tmc_shapley:  # unweighted permutations: player 0 is worth 1, each sample exactly
        res = fn(only_zero, n_players=3, batch_size=1, stop=rule)
        assert res.converged and res.n_samples == 5 and float(res.values[0]) == pytest.approx(1)


def test_custom_rule_and_reuse_of_a_rule():
    class EvenSamples(StoppingRule):
        def should_stop(self, state):
            return state.n_samples >= 4 and state.n_samples % 2 == 0

        def __repr__(self):
            return "EvenSamples()"

    rule = EvenSamples() | MaxSamples(100)
    a = tmc_shapley(only_zero, n_players=3, batch_size=3, stop=rule)
    b = tmc_shapley(only_zero, n_players=3, batch_size=3, stop=rule)  # rules hold no state
    assert a.n_samples == b.n_samples == 6 and a.stopped_by == "EvenSamples()"


# ------------------------------------------------------------------------------------------
# keywords and stop= agree, and today's results are unchanged

# values of the keyword call path before stopping rules existed (game, n_players=5, seed 7)
_OLD = {
    "tmc": ((37, 186, False), [0.7590320936430354, 0.43310366735050776, 0.35343392945814456,
                               0.3651565330333307, 0.5253417540147711]),
    "tmc_rtol": ((32, 161, True), [0.7425729078020508, 0.4517601068684968,
                                   0.28901963328766117, 0.40646170475944776,
                                   0.5462536247821334]),
    "tmc_evals": ((32, 146, False), [0.7425729078020508, 0.4517601068684968,
                                     0.28112976320958216, 0.39631758608763185,
                                     0.5462536247821334]),
    "banzhaf": ((53, 54, False), [0.702476397478311, 0.36138985171614063, 0.4473220798281162,
                                  0.3284804657617087, 0.6095650065197568]),
    "banzhaf_rtol": ((96, 97, True), [0.6333570801294933, 0.2501314753802305,
                                      0.36530600874453084, 0.27257462320241765,
                                      0.5076161288551708]),
    "beta": ((41, 206, False), [0.8328464517488391, 0.4864671321977363, 0.5140678601577189,
                                0.46153691405420477, 0.609184099744096]),
}

_CASES = {
    "tmc": (tmc_shapley, {"batch_size": 8}, {"max_samples": 37, "rtol": None},
            MaxSamples(37)),
    "tmc_rtol": (tmc_shapley, {}, {"max_samples": 5000, "rtol": 0.1, "min_samples": 10},
                 MaxSamples(5000) | RelativeStandardError(0.1, min_samples=10)),
    "tmc_evals": (tmc_shapley, {"truncation_rtol": 0.05},
                  {"max_samples": 5000, "max_evaluations": 101, "rtol": None},
                  MaxSamples(5000) | MaxEvaluations(101)),
    "banzhaf": (banzhaf, {"batch_size": 7}, {"max_samples": 53, "rtol": None}, MaxSamples(53)),
    "banzhaf_rtol": (banzhaf, {}, {"max_samples": 5000, "rtol": 0.2},
                     MaxSamples(5000) | RelativeStandardError(0.2)),
    "beta": (beta_shapley, {"alpha": 4.0, "beta": 2.0}, {"max_samples": 41, "rtol": None},
             MaxSamples(41)),
}


@pytest.mark.parametrize("case", sorted(_CASES))
def test_keywords_and_stop_object_give_todays_results(case):
    fn, common, keywords, rule = _CASES[case]
    old = fn(game, n_players=5, random_state=7, **common, **keywords)
    new = fn(game, n_players=5, random_state=7, stop=rule, **common)
    (n_samples, n_evals, converged), values = _OLD[case]
    for res in (old, new):
        assert (res.n_samples, res.n_evaluations, res.converged) == (n_samples, n_evals, converged)
        np.testing.assert_allclose(res.values, values, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(old.values, new.values)
    np.testing.assert_array_equal(old.stderr, new.stderr)
    np.testing.assert_array_equal(old.counts, new.counts)
    assert old.stopped_by == new.stopped_by != ""


def test_keyword_budgets_with_time_are_the_same_rule():
    kw = {"n_players": 5, "random_state": 1}
    old = banzhaf(game, max_samples=300, max_time=3600, max_evaluations=10_000, rtol=0.1, **kw)
    new = banzhaf(game, stop=MaxSamples(300) | RelativeStandardError(0.1) | MaxEvaluations(10_000)
                  | MaxTime(3600), **kw)
    np.testing.assert_array_equal(old.values, new.values)
    assert old.n_samples == new.n_samples and old.stopped_by == new.stopped_by


def test_default_keywords_report_their_stop_reason():
    res = tmc_shapley(only_zero, n_players=3, max_samples=50, rtol=None)
    assert res.stopped_by == "MaxSamples(50)" and not res.converged
    res = tmc_shapley(only_zero, n_players=3)
    assert res.converged and res.stopped_by == "RelativeStandardError(0.05, min_samples=30)"
    assert res.n_samples == 32  # the first batch reaches min_samples with zero error


# ------------------------------------------------------------------------------------------
# bad arguments


@pytest.mark.parametrize(("make", "match"), [
    (lambda: MaxSamples(0), "'n' parameter of MaxSamples must be an int"),
    (lambda: MaxSamples(1.5), "'n' parameter of MaxSamples"),
    (lambda: MaxSamples(True), "'n' parameter of MaxSamples"),
    (lambda: MaxEvaluations(-1), "'n' parameter of MaxEvaluations"),
    (lambda: MaxTime(0), "'seconds' parameter of MaxTime must be a positive number"),
    (lambda: MaxTime("60"), "'seconds' parameter of MaxTime"),
    (lambda: MaxTime(float("nan")), "'seconds' parameter of MaxTime"),
    (lambda: RelativeStandardError(0), "'rtol' parameter of RelativeStandardError"),
    (lambda: RelativeStandardError(None), "'rtol' parameter of RelativeStandardError"),
    (lambda: RelativeStandardError(0.1, min_samples=1),
     "'min_samples' parameter of RelativeStandardError must be an int"),
])
def test_bad_rule_arguments(make, match):
    with pytest.raises(InvalidParameterError, match=match):
        make()


@pytest.mark.parametrize("fn", ESTIMATORS)
def test_stop_and_budget_keywords_conflict(fn):
    stop = MaxTime(60)
    for kw in ({"max_samples": 100}, {"max_samples": 1000}, {"rtol": None}, {"rtol": 0.05},
               {"min_samples": 30}, {"max_time": 5}, {"max_evaluations": 10}):
        name = next(iter(kw))
        with pytest.raises(InvalidParameterError, match=f"'{name}' parameter of {fn.__name__} "
                           "must be left unset when stop= is given"):
            fn(only_zero, n_players=3, stop=stop, **kw)
    # None for the optional budgets sets nothing; batch_size and topk are not budgets
    res = fn(only_zero, n_players=3, stop=MaxSamples(10), max_time=None, max_evaluations=None,
             batch_size=4, topk=2)
    assert res.n_samples == 10


def test_bad_stop_argument():
    with pytest.raises(InvalidParameterError, match="'stop' parameter of tmc_shapley must be a "
                       "StoppingRule"):
        tmc_shapley(only_zero, n_players=3, stop=100)
    with pytest.raises(InvalidParameterError, match="sure to stop"):
        banzhaf(only_zero, n_players=3, stop=RelativeStandardError(0.05))
    with pytest.raises(InvalidParameterError, match="sure to stop"):
        banzhaf(only_zero, n_players=3, stop=MaxSamples(10) & RelativeStandardError(0.05))
    with pytest.raises(InvalidParameterError, match="sure to stop"):
        banzhaf(only_zero, n_players=3, stop=MaxTime(float("inf")))
    with pytest.raises(TypeError):
        MaxSamples(3) | 3
    with pytest.raises(NotImplementedError, match="must implement should_stop"):
        StoppingRule().check(_state())
