"""assay.multilabel: parsing label sets, telling label-set columns from others, out-of-fold
probabilities without leakage, entry and row scores, and the flags against an independent
re-implementation (the noise model fitted by another optimiser, the selection by a loop) and
against cleanlab's multi-label module on planted errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import BaseEstimator, ClassifierMixin

from assay.exceptions import InputValidationError, InvalidParameterError
from assay.multilabel import (
    MAX_NOISE_RATE,
    MIN_ERROR_PROBABILITY,
    NOISE_PRIOR,
    cross_fit_multilabel_probs,
    find_multilabel_issues,
    is_label_set_column,
    multilabel_label_scores,
    parse_label_sets,
)


def _sigmoid(z):
    from scipy.special import expit

    return expit(z)


def _planted(n=600, k=4, wrong=30, seed=0, spread=8.0):
    """Labels drawn from calibrated probabilities (logits ~ N(0, spread)); ``wrong`` rows get
    one entry flipped. Returns (given, truth, p)."""
    rng = np.random.default_rng(seed)
    p = _sigmoid(rng.normal(0.0, spread, (n, k)))
    truth = (rng.random((n, k)) < p).astype(np.uint8)
    given_ = truth.copy()
    rows = rng.choice(n, wrong, replace=False)
    given_[rows, rng.integers(0, k, wrong)] ^= 1
    return given_, truth, p


def _features_data(n=800, k=4, flips=40, seed=0, d=6):
    """Features x and tags that are thresholds of linear functions of x, with ``flips`` rows
    getting one tag added or removed. Returns (x, given, truth)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    w = rng.normal(size=(d, k))
    truth = (x @ w + rng.normal(0, 0.3, (n, k)) > 0.3).astype(np.uint8)
    given_ = truth.copy()
    for r in rng.choice(n, flips, replace=False):
        given_[r, rng.integers(0, k)] ^= 1
    return x, given_, truth


# --------------------------------------------------------------------------------- parsing
def test_parse_every_format_gives_the_same_matrix():
    expected = np.array([[1, 1, 0], [0, 0, 1], [0, 0, 0], [1, 0, 1]], dtype=np.uint8)
    formats = [
        [["a", "b"], ["c"], [], ["c", "a"]],
        [("a", "b"), ("c",), (), ("a", "c")],
        [{"a", "b"}, {"c"}, set(), {"a", "c"}],
        [np.array(["b", "a"]), np.array(["c"]), np.array([], dtype=str), np.array(["a", "c"])],
        ['["a", "b"]', '["c"]', "[]", '["c", "a"]'],
        ["['a', 'b']", "('c',)", "[]", "{'a', 'c'}"],
        ["a,b", "c", "", "c,a"],
        [" a ; b ", "c", "", "a;c;"],
        ["a|b", " c ", "  ", "a | c"],
    ]
    for values in formats:
        y, classes = parse_label_sets(values)
        assert classes.tolist() == ["a", "b", "c"], values
        assert y.dtype == np.uint8
        np.testing.assert_array_equal(y, expected, err_msg=str(values))


def test_parse_series_and_explicit_separator():
    s = pd.Series(["New York, NY;Boston, MA", "Boston, MA", "Reno, NV"], index=[10, 20, 30])
    y, classes = parse_label_sets(s, sep=";")
    assert classes.tolist() == ["Boston, MA", "New York, NY", "Reno, NV"]
    assert y.tolist() == [[1, 1, 0], [1, 0, 0], [0, 0, 1]]
    # without sep the two separators are ambiguous, and the message says how to fix it
    with pytest.raises(InputValidationError, match=r"Several separators.*';'.*sep="):
        parse_label_sets(s)


def test_parse_keeps_the_type_of_class_names():
    y, classes = parse_label_sets([[3, 1], [2], [], "[1, 2]"])
    assert classes.dtype.kind == "i" and classes.tolist() == [1, 2, 3]
    assert y.tolist() == [[1, 0, 1], [0, 1, 0], [0, 0, 0], [1, 1, 0]]
    # numbers and names together become strings (and 1 and "1" are one class)
    y, classes = parse_label_sets([[1, "b"], ["1"]])
    assert classes.tolist() == ["1", "b"]
    assert y.tolist() == [[1, 1], [1, 0]]
    # delimited numbers stay the strings they were
    assert parse_label_sets(["1;3", "2"])[1].tolist() == ["1", "2", "3"]
    # a scalar is a set of one
    assert parse_label_sets(["a", 5])[1].tolist() == ["5", "a"]


def test_missing_is_not_an_empty_set_unless_asked():
    with pytest.raises(InputValidationError, match=r"Row 1 has a missing value.*missing='empty'"):
        parse_label_sets(["a", None, "b"])
    with pytest.raises(InputValidationError, match="Row 2 has a missing value"):
        parse_label_sets(pd.Series(["a", "b", np.nan]))
    y, classes = parse_label_sets(["a", None, float("nan"), "b"], missing="empty")
    assert y.tolist() == [[1, 0], [0, 0], [0, 0], [0, 1]]
    with pytest.raises(InvalidParameterError, match="'missing' parameter of parse_label_sets"):
        parse_label_sets(["a"], missing="skip")


@pytest.mark.parametrize("values, pattern", [
    (["a", "[a, b]"], r"Row 1: '\[a, b\]' looks like a list but is not a JSON or Python list"),
    ([["a", ["b"]]], r"Row 0: the label set .* holds \['b'\], which is not a class name"),
    ([["a", None]], r"Row 0: the label set .* holds None"),
    (["a", {"k": 1}], r"Row 1 holds dict"),
    ([["a", 1.5, True]], r"holds True"),
])
def test_unparseable_rows_say_which_row_and_value(values, pattern):
    with pytest.raises(InputValidationError, match=pattern):
        parse_label_sets(values)


def test_a_string_that_only_starts_like_a_list_is_a_name():
    # not list-like (no closing bracket): with no separator in the column, a set of one
    assert parse_label_sets(["a", '["a" b'])[1].tolist() == ['["a" b', "a"]


def test_parse_rejects_bad_shapes_and_separators():
    with pytest.raises(InputValidationError, match="one column of label sets"):
        parse_label_sets(pd.DataFrame({"a": ["x"], "b": ["y"]}))
    with pytest.raises(InputValidationError, match="indicator matrix needs no parsing"):
        parse_label_sets(np.zeros((3, 2)))
    with pytest.raises(InputValidationError, match=r"Wrap a single row in a list"):
        parse_label_sets("a,b")
    with pytest.raises(InvalidParameterError, match="'sep' parameter"):
        parse_label_sets(["a"], sep="  ")


def test_parse_empty_column():
    y, classes = parse_label_sets([])
    assert y.shape == (0, 0) and classes.size == 0
    y, classes = parse_label_sets(["", "[]"])
    assert y.shape == (2, 0)


# ------------------------------------------------------------------------ column detection
@pytest.mark.parametrize("values", [
    [["a", "b"], ["b"], []],
    [("x",), ("x", "y")],
    [np.array([1, 2]), np.array([3]), np.array([1, 2, 3])],
    ['["a", "b"]', '["b"]', "[]", '["c", "a"]'],
    ["Action|Comedy", "Drama", "Comedy|Drama", "Action", "Drama|Action", "Comedy"],
    ["red, blue", "blue", "green, red", "red", "blue, green", "green"],
    ["1;3", "2", "3;1", "2;3", "1"],
    pd.Series(["a;b", None, "b", "a", "b;c", "c;a"]),
])
def test_label_set_columns_are_recognised(values):
    assert is_label_set_column(values)
    parse_label_sets(values, missing="empty")  # and they parse


CITIES = ["New York, NY", "Albany, NY", "Boston, MA", "Austin, TX", "Dallas, TX", "Boston, MA",
          "New York, NY", "Austin, TX", "Albany, NY", "Dallas, TX"] * 5


@pytest.mark.parametrize("values", [
    ["cat", "dog", "cat", "bird"],                                     # single labels
    CITIES,                                                            # "City, ST"
    ["I liked it, but the end was weak", "great film", "boring, long, slow", "fine",
     "not bad, really", "long, but fun"],                              # free text
    ["1,234", "12,500", "1,234,567", "3,000", "1,234"],                # thousands
    ["3.5, 4.2", "3.5, 4.9", "1.2, 4.2", "1.2, 4.9"],                  # coordinates
    [np.random.default_rng(0).random(4) for _ in range(5)],            # embeddings
    [[1, 2, 3], [4, 5, 6], [1, 2, 3]],                                 # equal-length vectors
    [[0.5, 1.0], [1.5]],                                               # floats
    [],
    [None, float("nan")],
    ["a,b;c", "a;b", "a,c"],                                           # ambiguous separators
    [1, 2, 3],                                                         # numbers
    ["[1, 2", "[3]"],                                                  # broken list strings
    ["x", "y,z"],                                                      # too few rows to tell
])
def test_other_columns_are_not_label_sets(values):
    assert not is_label_set_column(values)


def test_single_label_columns_of_real_data_are_not_label_sets():
    from sklearn.datasets import load_iris

    iris = load_iris()
    names = pd.Series(iris.target_names[iris.target])
    assert not is_label_set_column(names)
    # a compound value, "species, size": always two parts, each name in its own position
    size = pd.Series(np.where(iris.data[:, 2] > 4, "large", "small"))
    assert not is_label_set_column(names.str.cat(size, sep=", "))


# ---------------------------------------------------------------------------------- scores
def test_scores_hand_worked():
    # given 1 -> p; given 0 -> 1 - p; the row's score is its lowest entry
    cls, row = multilabel_label_scores([[1, 0, 1], [0, 0, 0]],
                                       np.array([[0.9, 0.2, 0.6], [0.1, 0.7, 0.0]]))
    np.testing.assert_allclose(cls, [[0.9, 0.8, 0.6], [0.9, 0.3, 1.0]])
    np.testing.assert_allclose(row, [0.6, 0.3])


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 30), st.integers(1, 6), st.integers(0, 10_000))
def test_scores_are_in_unit_interval_and_order_by_the_given_value(n, k, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, (n, k))
    p = rng.random((n, k))
    cls, row = multilabel_label_scores(y, p)
    assert cls.shape == (n, k) and row.shape == (n,)
    assert np.all((cls >= 0) & (cls <= 1)) and np.all((row >= 0) & (row <= 1))
    # raising the probability of a given 1 raises its score, of a given 0 lowers it
    p2 = np.clip(p + 0.1, 0, 1)
    cls2, _ = multilabel_label_scores(y, p2)
    assert np.all(np.where(y == 1, cls2 >= cls, cls2 <= cls))
    # renaming (permuting) classes permutes the entry scores and keeps the row scores
    perm = rng.permutation(k)
    cls3, row3 = multilabel_label_scores(y[:, perm], p[:, perm])
    np.testing.assert_array_equal(cls3, cls[:, perm])
    np.testing.assert_array_equal(row3, row)


def test_bad_inputs_say_what_to_pass():
    p = np.full((3, 2), 0.5)
    with pytest.raises(InputValidationError, match="indicator matrix of shape"):
        multilabel_label_scores([["a"], ["b"], []], p)
    with pytest.raises(InputValidationError, match=r"only 0 and 1; row 1, column 0 holds 2"):
        multilabel_label_scores([[0, 1], [2, 0], [1, 1]], p)
    with pytest.raises(InputValidationError, match=r"shape of labels, \(3, 2\)"):
        multilabel_label_scores([[0, 1], [1, 0], [1, 1]], np.full((3, 3), 0.5))
    with pytest.raises(InputValidationError, match=r"must lie in \[0, 1\].*not logits"):
        multilabel_label_scores([[0, 1], [1, 0], [1, 1]], p + 1.0)
    with pytest.raises(InputValidationError, match="NaN or infinite"):
        multilabel_label_scores([[0, 1], [1, 0], [1, 1]], np.where(p > 0, np.nan, p))
    with pytest.raises(InputValidationError, match="must hold 0/1"):
        multilabel_label_scores(np.array([["x", "y"]] * 3), p)
    with pytest.raises(InputValidationError, match="is empty"):
        multilabel_label_scores(np.zeros((3, 0)), np.zeros((3, 0)))


# ------------------------------------------------------------------ flags: reference checks
def _reference_error_probability(p, s):
    """The noise model of find_multilabel_issues, written independently: maximise the log
    posterior over (a, b, r0, r1) with Nelder-Mead from several starts, on a softer
    parametrisation, then apply Bayes' rule."""
    from scipy.optimize import minimize

    pc = np.clip(p, 1e-6, 1 - 1e-6)
    z = np.log(pc / (1 - pc))

    def rates(t):
        return (MAX_NOISE_RATE / (1 + math.exp(-min(max(t[2], -30), 30))),
                MAX_NOISE_RATE / (1 + math.exp(-min(max(t[3], -30), 30))))

    def neg_log_post(t):
        a, b = math.exp(min(max(t[0], -8), 8)), t[1]
        r0, r1 = rates(t)
        prob1 = r0 + (1 - r0 - r1) * _sigmoid(a * z + b)
        prob1 = np.clip(prob1, 1e-12, 1 - 1e-12)
        ll = np.sum(np.where(s == 1, np.log(prob1), np.log(1 - prob1)))
        prior = (NOISE_PRIOR - 1) * (math.log(1 - r0 / MAX_NOISE_RATE)
                                     + math.log(1 - r1 / MAX_NOISE_RATE))
        return -(ll + prior)

    best = min((minimize(neg_log_post, np.array(t0), method="Nelder-Mead",
                         options={"xatol": 1e-9, "fatol": 1e-11, "maxiter": 20_000})
                for t0 in ([0, 0, -5, -5], [0.5, 0, -2, -2], [-0.5, 0, 0, 0], [0, 1, -3, -1])),
               key=lambda r: r.fun)
    t = best.x
    a, b = math.exp(min(max(t[0], -8), 8)), t[1]
    r0, r1 = rates(t)
    q = _sigmoid(a * z + b)
    prob1 = r0 + (1 - r0 - r1) * q
    return np.where(s == 1, r0 * (1 - q) / prob1, r1 * q / (1 - prob1)), (r0, r1)


def _reference_flags(err, scores):
    """Count entries with err > 0.5, then take that many by (score, -err, position) among
    entries with err >= MIN_ERROR_PROBABILITY: a plain loop."""
    n, k = err.shape
    budget = sum(1 for i in range(n) for j in range(k) if err[i, j] > 0.5)
    entries = sorted((scores[i, j], -err[i, j], i * k + j) for i in range(n) for j in range(k)
                      if err[i, j] >= MIN_ERROR_PROBABILITY)
    flags = np.zeros((n, k), dtype=bool)
    for _, _, pos in entries[:budget]:
        flags[pos // k, pos % k] = True
    return flags


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_flags_equal_an_independent_reference(seed):
    given_, truth, p = _planted(n=300, k=3, wrong=20, seed=seed)
    res = find_multilabel_issues(given_, p)
    for c in range(3):
        ref, (r0, r1) = _reference_error_probability(p[:, c], given_[:, c])
        np.testing.assert_allclose(res.error_probability[:, c], ref, atol=2e-3)
        np.testing.assert_allclose(res.noise_rates[c], [r0, r1], atol=1e-3)
    scores = np.where(given_ == 1, p, 1 - p)
    np.testing.assert_array_equal(res.class_issues, _reference_flags(res.error_probability,
                                                                     scores))
    # the bookkeeping
    assert res.n_estimated_errors == int((res.error_probability > 0.5).sum())
    np.testing.assert_array_equal(res.is_issue, res.class_issues.any(axis=1))
    np.testing.assert_array_equal(res.suggested, (given_ == 1) ^ res.class_issues)
    assert res.n_estimated_rows == res.is_issue.sum()
    assert res.expected_errors == pytest.approx(res.error_probability.sum())
    # the planted errors are found: most flags are planted, most planted entries flagged
    wrong = given_ != truth
    tp = int((res.class_issues & wrong).sum())
    assert tp >= 0.7 * res.class_issues.sum() and tp >= 0.45 * wrong.sum()


def test_flags_agree_with_scores():
    given_, _, p = _planted(seed=3)
    res = find_multilabel_issues(given_, p)
    eligible = res.error_probability >= MIN_ERROR_PROBABILITY
    flagged = res.class_scores[res.class_issues]
    unflagged = res.class_scores[eligible & ~res.class_issues]
    assert flagged.size and flagged.max() <= unflagged.min()
    assert not (res.class_issues & ~eligible).any()


def test_flags_are_invariant_to_renaming_classes_and_reordering_rows():
    given_, _, p = _planted(seed=4)
    res = find_multilabel_issues(given_, p)
    rng = np.random.default_rng(0)
    perm, rows = rng.permutation(given_.shape[1]), rng.permutation(given_.shape[0])
    res2 = find_multilabel_issues(given_[rows][:, perm], p[rows][:, perm])
    np.testing.assert_array_equal(res2.class_issues, res.class_issues[rows][:, perm])
    np.testing.assert_allclose(res2.error_probability, res.error_probability[rows][:, perm],
                               atol=1e-6)


def test_hand_worked_swap_is_flagged_and_suggested():
    # 80 rows, two classes each predicted at 0.97 for its rows; row 0 is given {a} but the
    # model says b (p = [0.02, 0.98]): both of its entries are wrong, and the suggestion is {b}
    y = np.array([[1, 0]] * 40 + [[0, 1]] * 40)
    p = np.where(y == 1, 0.97, 0.03)
    p[0] = [0.02, 0.98]
    res = find_multilabel_issues(y, p)
    assert np.flatnonzero(res.is_issue).tolist() == [0]
    assert res.class_issues[0].tolist() == [True, True]
    assert res.suggested[0].tolist() == [False, True]
    frame = res.to_frame(["a", "b"])
    assert frame.loc[0, "suggested_labels"] == ["b"]
    assert frame.loc[1, "missing_labels"] == [] and not frame.loc[1, "is_label_issue"]
    with pytest.raises(InputValidationError, match="classes has 3 names"):
        res.to_frame(["a", "b", "c"])


def test_classes_that_cannot_be_assessed_are_never_flagged():
    given_, _, p = _planted(n=200, k=3, seed=5)
    given_[:, 2] = 0
    given_[0, 2] = 1  # one positive only
    p[:, 2] = 0.01
    res = find_multilabel_issues(given_, p)
    assert res.assessed.tolist() == [True, True, False]
    assert not res.class_issues[:, 2].any()
    assert np.isnan(res.class_auc[2]) and np.isnan(res.noise_rates[2]).all()


def test_f1_not_lower_than_cleanlab_on_planted_errors():
    filt = pytest.importorskip("cleanlab.multilabel_classification.filter")
    from sklearn.metrics import f1_score

    f1_assay, f1_cleanlab = [], []
    for seed in range(3):
        x, given_, truth = _features_data(seed=seed)
        probs = cross_fit_multilabel_probs(x, given_, random_state=seed).pred_probs
        res = find_multilabel_issues(given_, probs)
        lists = [np.flatnonzero(r).tolist() for r in given_]
        cl = np.asarray(filt.find_label_issues(labels=lists, pred_probs=probs, n_jobs=1))
        wrong = (given_ != truth).any(axis=1)
        f1_assay.append(f1_score(wrong, res.is_issue))
        f1_cleanlab.append(f1_score(wrong, cl))
    assert np.mean(f1_assay) >= np.mean(f1_cleanlab)
    assert min(a - c for a, c in zip(f1_assay, f1_cleanlab, strict=True)) >= -0.02


# ------------------------------------------------------------------------------ reliability
def test_informative_features_are_reliable():
    x, given_, truth = _features_data(seed=7)
    probs = cross_fit_multilabel_probs(x, given_).pred_probs
    res = find_multilabel_issues(given_, probs, inputs=x)
    assert res.reliable and res.reason == "" and res.caveat == ""
    assert res.mean_auc > 0.9
    n_wrong = int((given_ != truth).sum())
    assert 0.5 * n_wrong <= res.n_estimated_errors <= 1.5 * n_wrong


def test_random_features_are_unreliable():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 5))
    y = (rng.random((500, 4)) < 0.3).astype(int)
    res = find_multilabel_issues(y, cross_fit_multilabel_probs(x, y).pred_probs)
    assert not res.reliable and res.reason == "weak_model"
    assert "mean AUC" in res.caveat


def test_outcome_like_labels_of_identical_inputs_are_unreliable():
    # 20 inputs, 40 rows each; class 0's rate differs from input to input (an outcome), class 1
    # is decided by the input. The model predicts each input's own rate.
    rng = np.random.default_rng(1)
    group = np.repeat(np.arange(20), 40)
    rate0 = np.linspace(0.02, 0.98, 20)[group]
    y = np.column_stack([rng.random(group.size) < rate0, group % 2 == 0]).astype(int)
    p = np.column_stack([rate0, np.where(group % 2 == 0, 0.99, 0.01)])
    res = find_multilabel_issues(y, p, inputs=group.reshape(-1, 1).astype(float))
    assert res.mean_auc >= 0.85
    assert not res.reliable and res.reason == "input_conflicts"
    assert "class 0" in res.caveat
    assert find_multilabel_issues(y, p).reason != "input_conflicts"  # only with inputs


def test_many_wrong_rows_are_unreliable():
    # half the logits near 0, half near +-10; then 30 % of class 0's entries are flipped. (The
    # noise shows as plateaus of the calibration curve; with a flattened curve and few rows it
    # can also pass for none: NOISE_PRIOR.)
    rng = np.random.default_rng(0)
    z = np.where(rng.random((600, 4)) < 0.5, rng.normal(0, 2, (600, 4)),
                 rng.choice([-10, 10], (600, 4)) + rng.normal(0, 1, (600, 4)))
    p = _sigmoid(z)
    given_ = (rng.random((600, 4)) < p).astype(int)
    given_[rng.choice(600, 180, replace=False), 0] ^= 1
    res = find_multilabel_issues(given_, p)
    assert res.reason == "error_rate" and not res.reliable
    assert res.is_issue.mean() > 0.15


def test_few_rows_and_no_class_are_unreliable():
    given_, _, p = _planted(n=20, k=2, wrong=1)
    assert find_multilabel_issues(given_, p).reason == "few_rows"
    y = np.zeros((50, 2), dtype=int)
    y[0, 0] = 1
    res = find_multilabel_issues(y, np.full((50, 2), 0.1))
    assert res.reason == "no_class" and not res.is_issue.any()


# -------------------------------------------------------------------------------- cross-fit
class _Memorizer(ClassifierMixin, BaseEstimator):
    """Predicts 1.0 for a row it was trained on, 0.5 otherwise."""

    def fit(self, x, y):
        self.seen_ = {row.tobytes() for row in np.asarray(x, dtype=np.float64)}
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, x):
        seen = np.array([row.tobytes() in self.seen_ for row in np.asarray(x, dtype=np.float64)])
        p1 = np.where(seen, 1.0, 0.5)
        return np.column_stack([1 - p1, p1])


def test_no_row_is_predicted_by_a_model_that_saw_it():
    x, y, _ = _features_data(n=200, seed=2)
    fit = cross_fit_multilabel_probs(x, y, model=_Memorizer())
    assert np.all(fit.pred_probs == 0.5)
    assert fit.model == "_Memorizer"


def test_a_rows_own_label_does_not_move_its_prediction():
    x, y, _ = _features_data(n=300, seed=3)
    folds = np.arange(300) % 5
    a = cross_fit_multilabel_probs(x, y, folds=folds).pred_probs
    y2 = y.copy()
    y2[7] ^= 1  # every label of row 7 changes
    b = cross_fit_multilabel_probs(x, y2, folds=folds).pred_probs
    np.testing.assert_array_equal(a[7], b[7])
    np.testing.assert_array_equal(a[folds == folds[7]], b[folds == folds[7]])
    assert not np.array_equal(a, b)  # the other folds' models did see the change


def test_folds_are_shared_and_spread_every_class():
    rng = np.random.default_rng(0)
    y = (rng.random((500, 3)) < [0.5, 0.2, 0.0]).astype(int)
    y[rng.choice(500, 5, replace=False), 2] = 1  # a rare class of exactly 5 rows
    fit = cross_fit_multilabel_probs(rng.normal(size=(500, 3)), y, n_folds=5)
    assert fit.folds.shape == (500,) and set(fit.folds.tolist()) == set(range(5))
    for c in range(3):
        assert len(set(fit.folds[y[:, c] == 1].tolist())) == 5
    assert np.bincount(fit.folds).max() - np.bincount(fit.folds).min() <= 1


def test_constant_classes_get_the_training_share_with_a_note():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 2))
    y = np.column_stack([x[:, 0] > 0, np.zeros(100), np.ones(100)]).astype(int)
    y[3, 1] = 1  # one positive
    fit = cross_fit_multilabel_probs(x, y)
    assert fit.constant_classes.tolist() == [1, 2]
    assert len(fit.notes) == 2 and "1 positive" in fit.notes[0]
    for f in range(5):
        train = fit.folds != f
        for c in (1, 2):
            share = (y[train, c].sum() + 0.5) / (train.sum() + 1)
            assert np.allclose(fit.pred_probs[fit.folds == f, c], share)
    assert 0 < fit.pred_probs[:, 1].max() < 0.05 and fit.pred_probs[:, 2].min() > 0.95


def test_cross_fit_is_reproducible_and_parallel_safe():
    x, y, _ = _features_data(n=200, seed=4)
    a = cross_fit_multilabel_probs(x, y, random_state=3)
    b = cross_fit_multilabel_probs(x, y, random_state=3, n_jobs=2)
    np.testing.assert_array_equal(a.folds, b.folds)
    np.testing.assert_allclose(a.pred_probs, b.pred_probs)
    c = cross_fit_multilabel_probs(x, y, random_state=4)
    assert not np.array_equal(a.folds, c.folds)
    seen = []
    cross_fit_multilabel_probs(x, y, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (20, 20)


def test_cross_fit_reads_tables_and_missing_values():
    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame({"num": rng.normal(size=n), "cat": rng.choice(["u", "v", "w"], n)})
    frame.loc[::10, "num"] = np.nan
    y = np.column_stack([frame["cat"] == "u", frame["num"].fillna(0) > 0]).astype(int)
    fit = cross_fit_multilabel_probs(frame, y)
    assert fit.model == "hgb" and fit.pred_probs.shape == (n, 2)
    assert find_multilabel_issues(y, fit.pred_probs).mean_auc > 0.9
    x = frame[["num"]].to_numpy()
    assert cross_fit_multilabel_probs(x, y, model=None).model == "hgb"  # NaN: a table
    assert cross_fit_multilabel_probs(np.nan_to_num(x), y, model="knn").model == "knn"


def test_cross_fit_bad_inputs():
    x, y, _ = _features_data(n=50, seed=0)
    with pytest.raises(InvalidParameterError, match="Did you mean 'logistic'"):
        cross_fit_multilabel_probs(x, y, model="logistc")
    with pytest.raises(InvalidParameterError, match="predict_proba"):
        cross_fit_multilabel_probs(x, y, model=object())
    with pytest.raises(InputValidationError, match="features has 49 rows but labels 50"):
        cross_fit_multilabel_probs(x[:49], y)
    with pytest.raises(InputValidationError, match="single fold"):
        cross_fit_multilabel_probs(x, y, folds=np.zeros(50))
    with pytest.raises(InputValidationError, match=r"one fold per row, shape \(50,\)"):
        cross_fit_multilabel_probs(x, y, folds=np.zeros(10))
    with pytest.raises(InvalidParameterError, match="'n_folds' parameter"):
        cross_fit_multilabel_probs(x, y, n_folds=1)
    with pytest.raises(InputValidationError, match="infinite"):
        cross_fit_multilabel_probs(np.where(x > 2, np.inf, x), y)
    with pytest.raises(InputValidationError, match="no column a model can read"):
        cross_fit_multilabel_probs(pd.DataFrame({"id": [f"r{i}" for i in range(60)]}),
                                   np.tile([[0, 1], [1, 0]], (30, 1)))
