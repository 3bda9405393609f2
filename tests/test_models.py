"""Model choice for the audit: inputs, candidates, nested selection, class-order checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import assay
from assay.exceptions import InputValidationError, InvalidParameterError
from assay.models import (
    AutoClassifier,
    BlendClassifier,
    KNNProbaClassifier,
    cross_fit,
    make_model,
    model_input,
)


def _mixed_table(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    b = rng.normal(size=n)
    c = rng.choice(["red", "green", "blue"], size=n)
    y = np.where((a > 0) ^ (b > 0), "yes", "no")  # XOR: no linear model separates it
    a[::17] = np.nan
    return pd.DataFrame({"a": a, "b": b, "c": c, "uid": [f"row{i}" for i in range(n)], "y": y})


def test_model_input_keeps_the_table_as_it_is():
    frame = _mixed_table()
    mi = model_input(assay.load(frame, label="y"))
    assert mi.kind == "table"
    assert mi.columns == ["a", "b", "c"]  # the unique-per-row string column is an id: dropped
    assert mi.categorical.tolist() == [False, False, True]
    assert np.isnan(mi.matrix[0, 0])  # missing values stay missing for the model
    assert set(np.unique(mi.matrix[:, 2])) == {0.0, 1.0, 2.0}
    assert mi.info["dropped"] == ["uid"]


def test_model_input_reads_vectors_for_text_or_embeddings():
    ds = assay.load(pd.DataFrame({"t": ["a b", "c d", "a c"], "y": [0, 1, 0]}), label="y",
                    text="t")
    vec = np.eye(3)
    mi = model_input(ds, vectors=vec)
    assert mi.kind == "vectors" and mi.matrix.shape == (3, 3)


def test_auto_chooses_boosting_where_no_line_separates_the_classes():
    frame = _mixed_table(400)
    mi = model_input(assay.load(frame, label="y"))
    y = (frame["y"] == "yes").to_numpy().astype(int)
    model = make_model("auto", mi).fit(mi.matrix, y)
    sel = model.selection_
    assert sel["chosen"] in ("hgb", "blend")
    assert sel["candidates"]["hgb"]["log_loss"] < sel["candidates"]["logistic"]["log_loss"]
    assert sel["candidates"]["logistic"]["accuracy"] < 0.7 < sel["candidates"]["hgb"]["accuracy"]


def test_auto_prefers_the_linear_model_on_linear_data():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 5))
    y = (x @ np.array([1.0, -1.0, 0.5, 0.0, 2.0]) + rng.normal(scale=0.5, size=300) > 0)
    model = AutoClassifier(candidates=("logistic", "hgb", "blend")).fit(x, y.astype(int))
    assert model.selection_["chosen"] in ("logistic", "blend")
    assert model.selection_["candidates"]["logistic"]["log_loss"] < \
        model.selection_["candidates"]["hgb"]["log_loss"]


def test_selection_is_nested_in_each_fold_and_does_not_leak():
    # Labels independent of the inputs: any leak of the predicted fold into the choice or the
    # preprocessing would lift the out-of-fold accuracy above chance.
    rng = np.random.default_rng(2)
    x = rng.normal(size=(400, 6))
    y = rng.integers(0, 2, size=400)
    mi = assay.models.ModelInput(x, np.zeros(6, dtype=bool), "table", [])
    res = cross_fit(x, y, estimator=make_model("auto", mi), n_folds=4)
    sel = res.selection()
    assert len(sel["per_fold"]) == 4
    assert all(f["selection"]["n_rows_scored"] <= f["n_train"] for f in res.folds)
    assert all(f["n_train"] + f["n_test"] == 400 for f in res.folds)
    acc = float(np.mean(res.pred_probs.argmax(axis=1) == y))
    assert acc < 0.58


def test_blend_is_the_mean_of_its_parts():
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB

    x, y = load_iris(return_X_y=True)
    blend = BlendClassifier([LogisticRegression(max_iter=500), GaussianNB()]).fit(x, y)
    want = (LogisticRegression(max_iter=500).fit(x, y).predict_proba(x)
            + GaussianNB().fit(x, y).predict_proba(x)) / 2
    np.testing.assert_allclose(blend.predict_proba(x), want, atol=1e-12)


def test_knn_head_matches_a_brute_force_vote():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 3))
    y = rng.integers(0, 3, size=40)
    q = rng.normal(size=(7, 3))
    m = KNNProbaClassifier(n_neighbors=5, alpha=1.0).fit(x, y)
    got = m.predict_proba(q)
    for i in range(7):
        d = np.linalg.norm(x - q[i], axis=1)
        nn = np.argsort(d)[:5]
        w = 1.0 / (d[nn] + 1e-6)
        w *= 5 / w.sum()
        votes = np.bincount(y[nn], weights=w, minlength=3) + 1.0 / 3
        np.testing.assert_allclose(got[i], votes / votes.sum(), rtol=1e-4)


def test_audit_records_the_candidates_their_scores_and_the_choice():
    frame = _mixed_table(300)
    res = assay.audit(frame, label="y", checks=["label_issues"])
    model = res.summary["model"]
    assert model["input"] == "table"
    assert model["name"] in ("logistic", "hgb", "blend")
    assert set(model["selection"]["candidates"]) == {"logistic", "hgb", "blend"}
    assert len(model["selection"]["per_fold"]) == 5
    html = assay.render_report(res)
    assert "chosen by cross-validated log-loss" in html


def test_audit_takes_a_named_model_or_an_estimator():
    from sklearn.naive_bayes import GaussianNB

    frame = _mixed_table(200)
    assert assay.audit(frame, label="y", checks=["label_issues"],
                       model="hgb").summary["model"]["name"] == "hgb"
    res = assay.audit(frame.drop(columns=["c", "uid"]).fillna(0.0), label="y",
                      checks=["label_issues"], model=GaussianNB())
    assert "GaussianNB" in res.summary["model"]["name"]


def test_audit_refuses_an_unknown_model_name_with_a_suggestion():
    with pytest.raises(InvalidParameterError, match="Did you mean 'hgb'"):
        assay.audit(_mixed_table(50), label="y", model="hgbb")


def test_permuted_probability_columns_are_refused():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, size=200)
    p = np.full((200, 3), 0.05)
    p[np.arange(200), y] = 0.9
    frame = pd.DataFrame({"x": rng.normal(size=200), "y": np.array(["a", "b", "c"])[y]})
    assay.audit(frame, label="y", pred_probs=p, checks=["label_issues"])  # in order: fine
    with pytest.raises(InputValidationError, match=r"look out of order.*\['b', 'c', 'a'\]"):
        assay.audit(frame, label="y", pred_probs=p[:, [1, 2, 0]], checks=["label_issues"])
    weak = rng.dirichlet(np.ones(3), size=200)  # no signal: nothing to say about the order
    assay.audit(frame, label="y", pred_probs=weak, checks=["label_issues"])


def test_a_table_of_free_text_falls_back_to_the_feature_vectors():
    """A string column unique per row (free text not declared with --text) is not a category:
    the model reads the featurizer's vectors instead of failing."""
    rng = np.random.default_rng(5)
    words = np.array(["red", "blue", "green", "small", "large"])
    text = [" ".join(rng.choice(words, 4)) + f" {i}" for i in range(120)]
    frame = pd.DataFrame({"t": text, "y": rng.integers(0, 2, 120)})
    res = assay.audit(frame, label="y", checks=["label_issues"])
    assert res.summary["model"]["input"] == "vectors"


def test_auto_scores_the_blend_at_each_weight_and_fits_the_best():
    """The blend competes with its best weight, recomputed here from the parts' inner
    out-of-fold probabilities; the fitted blend carries that weight."""
    from sklearn.datasets import load_breast_cancer

    from assay.models import AutoClassifier, ModelInput, make_model
    from assay.models._choice import BLEND_WEIGHTS, _cv_proba

    x, y = load_breast_cancer(return_X_y=True)
    mi = ModelInput(x, np.zeros(x.shape[1], dtype=bool), "table", [])
    auto = AutoClassifier(candidates=("logistic", "hgb", "blend"), categorical=mi.categorical,
                          kind="table").fit(x, y)
    classes = np.unique(y)
    parts = {n: _cv_proba(lambda n=n: make_model(n, mi), x, y, classes, 3, 0)
             for n in ("logistic", "hgb")}
    def loss(p):
        p = np.clip(p, 1e-6, 1.0)
        p /= p.sum(axis=1, keepdims=True)
        return -np.mean(np.log(p[np.arange(y.size), y]))

    losses = {w: loss((1 - w) * parts["logistic"] + w * parts["hgb"]) for w in BLEND_WEIGHTS}
    best = min(losses, key=losses.get)
    blend = auto.selection_["candidates"]["blend"]
    assert blend["weight"] == best
    assert blend["log_loss"] == pytest.approx(losses[best], abs=1e-4)
    if auto.selection_["chosen"] == "blend":
        np.testing.assert_allclose(auto.model_.weights_, [1 - best, best])
    weighted = make_model("blend", mi, blend_weight=0.75).fit(x, y)
    p = [e.predict_proba(x[:5]) for e in weighted.estimators_]
    np.testing.assert_allclose(weighted.predict_proba(x[:5]), 0.25 * p[0] + 0.75 * p[1])


def test_mass_points_are_learnt_on_training_rows_and_let_a_line_step():
    """A column that is 0 for many rows (hours worked) and a label that is exactly "worked":
    logistic regression on the raw value cannot put a step at 0; with the indicator the table
    model (``make_model("logistic")``) separates the classes."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from assay.models import MassPoints, ModelInput

    x = np.array([[0.0, 1.0], [0.0, 2.0], [3.5, 3.0], [7.0, 4.0], [0.0, 5.0]])
    points = MassPoints().fit(x)
    assert points.columns_.tolist() == [0] and points.values_.tolist() == [0.0]
    # learnt once: new rows are judged against the training value, NaN is never the mass point
    out = points.transform(np.array([[0.0, 9.0], [np.nan, 1.0], [2.0, 2.0]]))
    assert out[:, 2].tolist() == [1.0, 0.0, 0.0]
    assert MassPoints().fit(np.array([[0.0], [1.0], [0.0], [1.0]])).columns_.size == 0  # binary
    rng = np.random.default_rng(0)
    hours = np.where(rng.random(600) < 0.45, 0.0, rng.exponential(300.0, 600) + 1.0)
    x = np.c_[hours, rng.normal(size=600)]
    y = (hours > 0).astype(int)
    mi = ModelInput(x, np.array([False, False]), "table", ["hours", "noise"])
    plain = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    assert cross_val_score(make_model("logistic", mi), x, y, cv=5).mean() == 1.0
    assert cross_val_score(plain, x, y, cv=5).mean() < 0.95
