"""assay.consensus: majority vote tie rules, Dawid-Skene vs crowd-kit and vs known truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning

from assay.consensus import consensus_labels, dawid_skene, majority_vote
from assay.exceptions import InputValidationError, InvalidParameterError

# crowd-kit (a test-only oracle) uses pandas APIs that pandas 3 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")


def simulate(
    n_items: int,
    accuracies: list[float],
    *,
    n_classes: int = 3,
    coverage: float = 0.8,
    seed: int = 0,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Annotators with known confusion matrices (diagonal = accuracy, errors asymmetric)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_classes, n_items)
    confusions = []
    rows = []
    for g, acc in enumerate(accuracies):
        conf = np.full((n_classes, n_classes), 0.0)
        for k in range(n_classes):
            off = rng.dirichlet(np.ones(n_classes - 1)) * (1 - acc)
            conf[k] = np.insert(off, k, acc)
        confusions.append(conf)
        cum = conf[truth].cumsum(axis=1)
        lab = (rng.random(n_items)[:, None] > cum).sum(axis=1)
        keep = rng.random(n_items) < coverage
        rows.append(pd.DataFrame({"task": np.flatnonzero(keep), "worker": f"w{g}",
                                  "label": lab[keep]}))
    return pd.concat(rows, ignore_index=True), truth, np.stack(confusions)


# ----------------------------------------------------------------------------- majority vote


TIES = pd.DataFrame(
    {
        "item": [1, 1, 2, 2, 3, 3, 3],
        "who": ["a", "b", "a", "b", "a", "b", "c"],
        "y": ["x", "z", "z", "z", "z", "z", "x"],
    }
)


def test_majority_vote_tie_rules() -> None:
    # Item 1 is a tie between x and z; overall z is more frequent (5 of 7).
    prior = majority_vote(TIES, item="item", annotator="who", label="y")
    assert prior["label"].tolist() == ["z", "z", "z"]
    assert prior["n_tied"].tolist() == [2, 1, 1]
    assert prior["confidence"].tolist() == pytest.approx([0.5, 1.0, 2 / 3])
    first = majority_vote(TIES, item="item", annotator="who", label="y", tie="first")
    assert first["label"].tolist() == ["x", "z", "z"]
    none = majority_vote(TIES, item="item", annotator="who", label="y", tie="none")
    assert pd.isna(none["label"].iloc[0]) and none["label"].tolist()[1:] == ["z", "z"]
    seen = {
        majority_vote(TIES, item="item", annotator="who", label="y", tie="random",
                      random_state=s)["label"].iloc[0]
        for s in range(20)
    }
    assert seen == {"x", "z"}


@pytest.mark.slow  # importing crowd-kit alone takes seconds
def test_majority_vote_matches_crowdkit_without_ties() -> None:
    crowdkit = pytest.importorskip("crowdkit.aggregation")
    df, _, _ = simulate(300, [0.9, 0.8, 0.7], seed=1)
    ours = majority_vote(df, item="task", annotator="worker", label="label", tie="none")
    theirs = crowdkit.MajorityVote().fit_predict(df)
    clear = ours[ours["n_tied"] == 1].set_index("item")["label"]
    assert (clear.astype(int) == theirs.loc[clear.index]).all()


# ----------------------------------------------------------------------------- Dawid-Skene


@pytest.mark.slow  # importing crowd-kit alone takes seconds
def test_dawid_skene_same_iterations_as_crowdkit_give_identical_posteriors() -> None:
    # Same initialisation (majority-vote shares) and updates: crowd-kit's probas after n EM
    # iterations are our posteriors after the same n iterations (more cases:
    # tests/test_dawid_skene_reference.py).
    crowdkit = pytest.importorskip("crowdkit.aggregation")
    df, _, _ = simulate(600, [0.9, 0.75, 0.6, 0.5], seed=5)
    ck = crowdkit.DawidSkene(n_iter=8, tol=0).fit(df)
    assert len(ck.loss_history_) == 8
    with pytest.warns(ConvergenceWarning, match="max_iter=8"):
        ours = dawid_skene(df, item="task", annotator="worker", label="label", smoothing=0.0,
                           max_iter=8, tol=0)
    assert ours.n_iter == 8 and not ours.converged
    theirs = ck.probas_.loc[ours.labels["item"], ours.classes].to_numpy()
    np.testing.assert_allclose(ours.posteriors, theirs, atol=1e-10)


@pytest.mark.slow  # importing crowd-kit alone takes seconds
def test_dawid_skene_converged_close_to_crowdkit() -> None:
    crowdkit = pytest.importorskip("crowdkit.aggregation")
    df, _, _ = simulate(1500, [0.9, 0.75, 0.6, 0.5, 0.45], seed=2)
    ours = dawid_skene(df, item="task", annotator="worker", label="label", smoothing=0.0)
    ck = crowdkit.DawidSkene(n_iter=100).fit(df)
    ours_labels = ours.labels.set_index("item")["label"]
    same = (ours_labels.loc[ck.labels_.index].to_numpy() == ck.labels_.to_numpy()).mean()
    assert same >= 0.99
    # Annotator accuracy as the posterior-expected share of correct labels, from crowd-kit's
    # probas. crowd-kit stops earlier (its loss tolerance), so the match is close, not exact.
    probas = ck.probas_
    p = probas.to_numpy()[
        probas.index.get_indexer(df["task"]), probas.columns.get_indexer(df["label"])
    ]
    ck_acc = pd.Series(p).groupby(df["worker"].to_numpy()).mean()
    ours_acc = ours.annotators.set_index("annotator")["accuracy"]
    np.testing.assert_allclose(ours_acc.loc[ck_acc.index], ck_acc, atol=0.02)
    for g, name in enumerate(ours.annotators["annotator"]):
        theirs = ck.errors_.loc[name][ours.classes].loc[ours.classes].T.to_numpy()
        np.testing.assert_allclose(ours.confusion[g], theirs, atol=0.05)


def test_dawid_skene_recovers_known_confusions_and_beats_majority() -> None:
    accuracies = [0.95, 0.85, 0.55, 0.45, 0.4]
    df, truth, confusions = simulate(4000, accuracies, coverage=0.9, seed=3)
    res = dawid_skene(df, item="task", annotator="worker", label="label")
    assert res.converged
    items = res.labels["item"].to_numpy()
    ds_acc = (res.labels["label"].to_numpy().astype(int) == truth[items]).mean()
    mv = majority_vote(df, item="task", annotator="worker", label="label")
    mv_acc = (mv["label"].to_numpy().astype(int) == truth[mv["item"].to_numpy()]).mean()
    assert ds_acc > mv_acc + 0.02
    order = [res.annotators["annotator"].tolist().index(f"w{g}") for g in range(5)]
    np.testing.assert_allclose(res.confusion[order], confusions, atol=0.06)
    np.testing.assert_allclose(res.annotators["accuracy"].to_numpy()[order], accuracies, atol=0.04)
    np.testing.assert_allclose(res.posteriors.sum(axis=1), 1.0)
    np.testing.assert_allclose(res.confusion.sum(axis=2), 1.0)
    assert res.priors.sum() == pytest.approx(1.0)
    frame = res.confusion_frame("w0")
    assert frame.shape == (3, 3)


def test_dawid_skene_unanimous_items_are_certain() -> None:
    df = pd.DataFrame({"i": [1, 1, 1, 2, 2, 2], "w": list("abcabc"), "y": ["p"] * 3 + ["q"] * 3})
    res = dawid_skene(df, item="i", annotator="w", label="y")
    assert res.labels["label"].tolist() == ["p", "q"]
    assert (res.labels["confidence"] > 0.95).all()


def test_consensus_labels_for_the_audit() -> None:
    df, truth, _ = simulate(200, [0.9, 0.8, 0.7], seed=4)
    out = consensus_labels(df, item="task", annotator="worker", label="label")
    assert list(out.columns) == [
        "item", "consensus_label", "confidence", "n_ratings", "n_distinct_labels", "agreement",
        "annotators_disagree",
    ]
    assert ((out["agreement"] > 0) & (out["agreement"] <= 1)).all()
    assert (out["annotators_disagree"] == (out["n_distinct_labels"] > 1)).all()
    mv = consensus_labels(df, item="task", annotator="worker", label="label", method="majority")
    assert (mv["confidence"] == mv["agreement"]).all()


def test_consensus_bad_input() -> None:
    with pytest.raises(InvalidParameterError, match="'tie' parameter of majority_vote"):
        majority_vote(TIES, item="item", annotator="who", label="y", tie="coin")
    with pytest.raises(InvalidParameterError, match="'smoothing'"):
        dawid_skene(TIES, item="item", annotator="who", label="y", smoothing=-1)
    with pytest.raises(InvalidParameterError, match="'max_iter'"):
        dawid_skene(TIES, item="item", annotator="who", label="y", max_iter=0)
    with pytest.raises(InvalidParameterError, match="'method'"):
        consensus_labels(TIES, item="item", annotator="who", label="y", method="vote")
    with pytest.raises(InputValidationError, match="more than one label"):
        dawid_skene(pd.concat([TIES, TIES.iloc[:1]]), item="item", annotator="who", label="y")
    with pytest.raises(InputValidationError, match="no ratings"):
        majority_vote(TIES.assign(y=None), item="item", annotator="who", label="y")
    with pytest.raises(InputValidationError, match="Unknown annotator"):
        dawid_skene(TIES, item="item", annotator="who", label="y").confusion_frame("zed")
