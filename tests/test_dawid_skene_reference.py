"""Dawid-Skene with ``smoothing=0`` against crowd-kit's ``DawidSkene`` at the same iteration count.

crowd-kit (the reference, run here): majority-vote shares as initial posteriors; per iteration one
E-step then one M-step; its M-step clips counts at 1e-10 and normalises each worker's rows over
the labels that worker used (so a true class with no posterior mass on a worker's items becomes
uniform over the worker's labels, not over all classes). ``DawidSkene(n_iter=T, tol=-inf)`` runs
exactly T iterations; assay's ``dawid_skene(max_iter=T, tol=0)`` must give the same posteriors,
labels and confusion matrices.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning

from assay.consensus import dawid_skene

pytestmark = [
    pytest.mark.slow,  # importing crowd-kit alone takes seconds
    # crowd-kit (a test-only oracle) uses pandas APIs that newer pandas deprecates.
    pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning"),
]


def _random_annotations(seed: int) -> pd.DataFrame:
    """Random annotators (noisy confusions, partial coverage) plus two awkward annotators.

    ``narrow`` rates only items on which nobody else gave the last class, and uses only labels
    0 and 1: its items carry no majority-vote mass for the last class. ``mono`` always says 0.
    """
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 5))
    n_items = int(rng.integers(15, 80))
    n_ann = int(rng.integers(2, 6))
    truth = rng.integers(0, k, n_items)
    rows = []
    for g in range(n_ann):
        acc = rng.uniform(0.35, 0.95)
        conf = rng.dirichlet(np.ones(k), size=k) * (1 - acc) + np.eye(k) * acc
        keep = rng.random(n_items) < rng.uniform(0.4, 1.0)
        for i in np.flatnonzero(keep):
            rows.append((i, f"w{g}", int(rng.choice(k, p=conf[truth[i]]))))
    df = pd.DataFrame(rows, columns=["task", "worker", "label"])
    free = sorted(set(range(n_items)) - set(df.loc[df["label"] == k - 1, "task"]))
    for i in free[: max(3, len(free) // 2)]:
        rows.append((i, "narrow", int(rng.integers(0, 2))))
    for i in rng.choice(n_items, size=min(5, n_items), replace=False):
        rows.append((int(i), "mono", 0))
    df = pd.DataFrame(rows, columns=["task", "worker", "label"])
    # every class must appear somewhere for the class sets to agree
    return df if df["label"].nunique() == k else _random_annotations(seed + 1000)


def _compare(df: pd.DataFrame, n_iter: int) -> tuple[float, float]:
    from crowdkit.aggregation import DawidSkene

    ck = DawidSkene(n_iter=n_iter, tol=-np.inf).fit(df)
    assert len(ck.loss_history_) == n_iter
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = dawid_skene(df, item="task", annotator="worker", label="label", smoothing=0.0,
                           max_iter=n_iter, tol=0.0)
    assert ours.n_iter == n_iter
    items = ours.labels["item"].tolist()
    theirs = ck.probas_.loc[items, ours.classes].to_numpy()
    post_diff = float(np.abs(ours.posteriors - theirs).max())
    assert post_diff < 1e-6
    # labels: crowd-kit takes idxmax over its (sorted) class columns, we take the first argmax
    top2 = np.sort(theirs, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-6
    ck_labels = ck.labels_.loc[items].to_numpy()
    assert (ours.labels["label"].to_numpy()[clear] == ck_labels[clear]).all()
    # confusion matrices: crowd-kit's errors_ rows (worker, given label), columns true class;
    # labels a worker never gave are absent there and exactly 0 here
    conf_diff = 0.0
    for g, name in enumerate(ours.annotators["annotator"]):
        err = ck.errors_.loc[name][ours.classes]
        full = err.reindex(ours.classes).fillna(0.0).T.to_numpy()  # (true, given)
        conf_diff = max(conf_diff, float(np.abs(ours.confusion[g] - full).max()))
    assert conf_diff < 1e-6
    return post_diff, conf_diff


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("n_iter", [1, 2, 5, 15])
def test_dawid_skene_smoothing_zero_equals_crowdkit_at_same_n_iter(seed, n_iter):
    pytest.importorskip("crowdkit.aggregation")
    _compare(_random_annotations(seed), n_iter)


def test_annotator_without_mass_for_a_class_is_uniform_over_their_own_labels():
    """The initial M-step (majority-vote shares) against crowd-kit's ``DawidSkene._m_step``."""
    pytest.importorskip("crowdkit.aggregation")
    from crowdkit.aggregation import DawidSkene, MajorityVote

    from assay.consensus import _m_step, encode_ratings

    df = _random_annotations(7)
    k = df["label"].nunique()
    enc = encode_ratings(df, item="task", annotator="worker", label="label")
    counts = enc.counts
    _, conf = _m_step(enc, counts / counts.sum(axis=1, keepdims=True), 0.0)
    ref = DawidSkene._m_step(df, MajorityVote().fit_predict_proba(df))
    g = enc.annotators.index("narrow")
    # no majority-vote mass for the last class on narrow's items: uniform over the two labels
    # narrow used (crowd-kit), not over all k classes; labels narrow never gave get 0
    expected = np.zeros(k)
    expected[:2] = 0.5
    np.testing.assert_allclose(conf[g, k - 1], expected, atol=1e-9)
    theirs = ref.loc["narrow"][enc.classes].reindex(enc.classes).fillna(0.0).T.to_numpy()
    np.testing.assert_allclose(conf[g], theirs, atol=1e-12)
    g = enc.annotators.index("mono")
    np.testing.assert_allclose(conf[g, :, 0], 1.0)
    # and the whole fit from there still matches crowd-kit
    _compare(df, 3)


def test_dawid_skene_warns_and_records_non_convergence():
    df = _random_annotations(3)
    with pytest.warns(ConvergenceWarning, match=r"did not converge in max_iter=2"):
        res = dawid_skene(df, item="task", annotator="worker", label="label", max_iter=2,
                          tol=0.0)
    assert res.n_iter == 2 and res.converged is False
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        res = dawid_skene(df, item="task", annotator="worker", label="label", max_iter=500)
    assert res.converged and res.n_iter < 500
