"""assay.agreement: peer oracles, brute force, properties, disagreement analysis, bad input."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assay.agreement import (
    agree,
    agreement_by_round,
    agreement_coefficients,
    annotator_agreement,
    annotator_ceiling,
    bootstrap_ci,
    brennan_prediger,
    category_counts,
    cohen_kappa,
    coincidence_matrix,
    confused_pairs,
    conger_kappa,
    fleiss_kappa,
    fleiss_kappa_per_category,
    gwet_ac1,
    gwet_ac2,
    items_to_discuss,
    krippendorff_alpha,
    pairwise_kappa,
    per_class_agreement,
    percent_agreement,
    scott_pi,
    to_reliability_data,
    wide_to_long,
)
from assay.exceptions import InputValidationError, InvalidParameterError

krippendorff = pytest.importorskip("krippendorff")
sm_ir = pytest.importorskip("statsmodels.stats.inter_rater")
sk_metrics = pytest.importorskip("sklearn.metrics")

nan = np.nan
LEVELS = ["nominal", "ordinal", "interval", "ratio"]


# ----------------------------------------------------------------------------- strategies


@st.composite
def reliability(draw: st.DrawFn, *, min_coders: int = 2, max_coders: int = 5) -> np.ndarray:
    """(coders, units) float data in 1..q with NaN holes; >= 1 pairable unit, >= 2 values."""
    n_coders = draw(st.integers(min_coders, max_coders))
    n_units = draw(st.integers(2, 25))
    q = draw(st.integers(2, 5))
    values = draw(
        st.lists(st.integers(1, q), min_size=n_coders * n_units, max_size=n_coders * n_units)
    )
    holes = draw(
        st.lists(st.booleans(), min_size=n_coders * n_units, max_size=n_coders * n_units)
    )
    data = np.array(values, dtype=float).reshape(n_coders, n_units)
    data[np.array(holes).reshape(n_coders, n_units)] = nan
    data[:2, 0] = [1.0, 2.0]  # unit 0 is pairable and two values occur
    return data


HYP = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ----------------------------------------------------------------------------- peer oracles


@HYP
@given(reliability(), st.sampled_from(LEVELS))
def test_alpha_matches_krippendorff_package(data: np.ndarray, level: str) -> None:
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
    assert krippendorff_alpha(data, level=level) == pytest.approx(expected, abs=1e-9)


def test_alpha_default_level_is_nominal_unlike_the_krippendorff_package() -> None:
    data = np.array([[1, 2, 3, 3, 2], [1, 2, 3, 1, 3]], dtype=float)
    nominal = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    interval = krippendorff.alpha(reliability_data=data)  # the package's default
    assert krippendorff_alpha(data) == pytest.approx(nominal)
    assert krippendorff_alpha(data) != pytest.approx(interval)


@HYP
@given(
    st.integers(2, 6),
    st.lists(st.lists(st.integers(0, 3), min_size=2, max_size=25), min_size=3, max_size=3),
)
def test_fleiss_matches_statsmodels_on_equal_raters(n_raters: int, seeds: list[list[int]]) -> None:
    rng = np.random.default_rng(sum(map(sum, seeds)) + n_raters)
    n_units = len(seeds[0])
    ratings = rng.integers(0, 4, size=(n_units, n_raters))
    ratings[0, :2] = [0, 1]
    table, _ = sm_ir.aggregate_raters(ratings, n_cat=4)
    assert fleiss_kappa(table) == pytest.approx(sm_ir.fleiss_kappa(table), abs=1e-9)
    # Brennan-Prediger is statsmodels' "randolph" (free-marginal) kappa with q = 4 columns.
    bp = brennan_prediger(ratings.T, categories=[0, 1, 2, 3])
    assert bp == pytest.approx(sm_ir.fleiss_kappa(table, method="randolph"), abs=1e-9)


def test_fleiss_with_every_rating_identical_is_nan_where_statsmodels_warns() -> None:
    table = np.array([[3, 0], [3, 0], [3, 0]])
    with np.errstate(invalid="ignore", divide="ignore"):
        theirs = sm_ir.fleiss_kappa(table)
    assert math.isnan(theirs)
    assert math.isnan(fleiss_kappa(table))


@HYP
@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=2, max_size=40),
    st.sampled_from([None, "linear", "quadratic"]),
)
def test_cohen_matches_sklearn(pairs: list[tuple[int, int]], weights: str | None) -> None:
    a = np.array([p[0] for p in pairs])
    b = np.array([p[1] for p in pairs])
    if len(set(a) | set(b)) < 2:
        a[0], b[0] = 0, 1
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = sk_metrics.cohen_kappa_score(a, b, weights=weights)
    got = cohen_kappa(a, b, weights=weights)
    if math.isnan(expected):
        assert math.isnan(got)
    else:
        assert got == pytest.approx(expected, abs=1e-9)


def test_cohen_matches_statsmodels_table() -> None:
    table = np.array([[13, 0, 0], [0, 20, 7], [0, 4, 56]])
    rows, cols = np.indices(table.shape)
    a, b = np.repeat(rows.ravel(), table.ravel()), np.repeat(cols.ravel(), table.ravel())
    res = sm_ir.cohens_kappa(table)
    assert cohen_kappa(a, b) == pytest.approx(res.kappa, abs=1e-12)
    res_lin = sm_ir.cohens_kappa(table, wt="linear")
    assert cohen_kappa(a, b, weights="linear") == pytest.approx(res_lin.kappa, abs=1e-12)


def test_scott_pi_is_fleiss_for_two_complete_raters() -> None:
    rng = np.random.default_rng(3)
    data = rng.integers(0, 3, size=(2, 50))
    table, _ = sm_ir.aggregate_raters(data.T, n_cat=3)
    assert scott_pi(data) == pytest.approx(sm_ir.fleiss_kappa(table), abs=1e-12)


# ----------------------------------------------------------------------------- brute force


def _brute_gwet(data: np.ndarray) -> dict[str, float]:
    """Loop transcription of Gwet (2014) formulas: pa, Fleiss, AC1, Conger, BP (identity)."""
    cats = sorted({v for v in data.ravel() if not math.isnan(v)})
    q = len(cats)
    n_coders, n_units = data.shape
    pa_sum, n2, pi = 0.0, 0, [0.0] * q
    n1 = 0
    for u in range(n_units):
        col = [v for v in data[:, u] if not math.isnan(v)]
        m = len(col)
        if m == 0:
            continue
        n1 += 1
        for k, c in enumerate(cats):
            pi[k] += col.count(c) / m
        if m >= 2:
            n2 += 1
            pa_sum += sum(col.count(c) * (col.count(c) - 1) for c in cats) / (m * (m - 1))
    pa = pa_sum / n2
    pi = [p / n1 for p in pi]
    pe_f = sum(p * p for p in pi)
    pe_g = sum(p * (1 - p) for p in pi) / (q - 1)
    p_gk = []
    for g in range(n_coders):
        row = [v for v in data[g] if not math.isnan(v)]
        if row:
            p_gk.append([row.count(c) / len(row) for c in cats])
    r = len(p_gk)
    pbar = [sum(p[k] for p in p_gk) / r for k in range(q)]
    s2 = [
        [(sum(p[k] * p[j] for p in p_gk) - r * pbar[k] * pbar[j]) / (r - 1) for j in range(q)]
        for k in range(q)
    ]
    pe_c = sum(pbar[k] * pbar[k] - s2[k][k] / r for k in range(q))
    return {
        "percent": pa,
        "fleiss": (pa - pe_f) / (1 - pe_f),
        "ac1": (pa - pe_g) / (1 - pe_g),
        "conger": (pa - pe_c) / (1 - pe_c),
        "bp": (pa - 1 / q) / (1 - 1 / q),
    }


@HYP
@given(reliability())
def test_gwet_family_matches_loop_transcription(data: np.ndarray) -> None:
    ref = _brute_gwet(data)
    counts, _ = category_counts(data)
    assert percent_agreement(data) == pytest.approx(ref["percent"], abs=1e-9)
    for got, key in (
        (fleiss_kappa(counts), "fleiss"),
        (gwet_ac1(data), "ac1"),
        (conger_kappa(data), "conger"),
        (brennan_prediger(data), "bp"),
    ):
        if math.isnan(ref[key]) or math.isinf(ref[key]):
            continue
        assert got == pytest.approx(ref[key], abs=1e-9), key


def test_gwet_ac2_weights_reduce_to_ac1_for_binary_and_reward_near_misses() -> None:
    binary = np.array([[0, 1, 1, 0, 1], [0, 1, 0, 0, 1]])
    # With two categories every weighting is the identity.
    assert gwet_ac2(binary, weights="linear") == pytest.approx(gwet_ac1(binary))
    ordinal = np.array([[1, 2, 3, 4, 5, 1], [2, 3, 4, 5, 5, 1]])
    assert gwet_ac2(ordinal, weights="quadratic") > gwet_ac1(ordinal)


def test_bootstrap_replicates_equal_explicit_resampling_of_units() -> None:
    rng = np.random.default_rng(0)
    data = rng.integers(0, 3, size=(3, 30)).astype(float)
    data[rng.random(data.shape) < 0.2] = nan
    ci = bootstrap_ci(data, n_boot=50, confidence=0.9, random_state=7)
    draws = np.random.default_rng(7).integers(0, 30, size=(50, 30))
    reps = [krippendorff_alpha(data[:, idx]) for idx in draws]
    lo, hi = np.quantile(reps, [0.05, 0.95])
    assert ci.estimate == pytest.approx(krippendorff_alpha(data))
    assert (ci.low, ci.high) == pytest.approx((lo, hi), abs=1e-12)
    assert ci.n_valid == 50


def test_bootstrap_ci_for_every_coefficient_brackets_the_estimate() -> None:
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 3, 200)
    data = np.where(rng.random((2, 200)) < 0.8, truth, rng.integers(0, 3, (2, 200)))
    table = agreement_coefficients(data, level="ordinal", n_boot=200, random_state=0)
    assert {"scott_pi", "cohen_kappa", "gwet_ac2_quadratic"} <= set(table["coefficient"])
    assert np.all(table["ci_low"] <= table["value"] + 1e-12)
    assert np.all(table["value"] <= table["ci_high"] + 1e-12)
    again = agreement_coefficients(data, level="ordinal", n_boot=200, random_state=0)
    pd.testing.assert_frame_equal(table, again)


# ----------------------------------------------------------------------------- properties


@HYP
@given(reliability(), st.randoms(use_true_random=False))
def test_coefficients_invariant_to_unit_and_coder_order(data: np.ndarray, rnd) -> None:  # noqa: ANN001
    units = list(range(data.shape[1]))
    coders = list(range(data.shape[0]))
    rnd.shuffle(units)
    rnd.shuffle(coders)
    shuffled = data[coders][:, units]
    for fn in (percent_agreement, krippendorff_alpha, gwet_ac1, conger_kappa):
        a, b = fn(data), fn(shuffled)
        assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=1e-12)


@HYP
@given(reliability())
def test_nominal_alpha_invariant_to_renaming_classes(data: np.ndarray) -> None:
    names = np.array(["zeta", "alpha", "mid", "b", "q", "x"], dtype=object)
    renamed = np.where(np.isnan(data), None, names[np.nan_to_num(data).astype(int)])
    assert krippendorff_alpha(renamed) == pytest.approx(krippendorff_alpha(data), abs=1e-12)


@HYP
@given(reliability())
def test_coefficients_bounded(data: np.ndarray) -> None:
    pa = percent_agreement(data)
    assert 0.0 <= pa <= 1.0
    for fn in (krippendorff_alpha, gwet_ac1, brennan_prediger, conger_kappa):
        v = fn(data)
        assert math.isnan(v) or v <= 1.0 + 1e-12


def test_missing_ratings_are_dropped_not_a_category() -> None:
    # NLTK's pitfall: None counted as a label. Here None, NaN and pd.NA are all missing.
    with_none = np.array([["a", "b", None, "a"], ["a", "b", "b", None]], dtype=object)
    with_na = np.array([["a", "b", pd.NA, "a"], ["a", "b", "b", nan]], dtype=object)
    complete = np.array([["a", "b"], ["a", "b"]], dtype=object)
    assert krippendorff_alpha(with_none) == pytest.approx(krippendorff_alpha(complete))
    assert krippendorff_alpha(with_na) == pytest.approx(1.0)
    _, cats = category_counts(with_none)
    assert cats.tolist() == ["a", "b"]


def test_weighted_kappa_depends_on_unused_categories_in_the_scale() -> None:
    a, b = [1, 2, 5, 5], [1, 5, 5, 2]
    observed = cohen_kappa(a, b, weights="linear")
    full = cohen_kappa(a, b, weights="linear", categories=[1, 2, 3, 4, 5])
    # With only {1, 2, 5} observed, 2 and 5 are adjacent positions; on the full scale they are 3
    # steps apart, so the 2<->5 disagreements weigh more and kappa drops.
    assert full < observed


# ----------------------------------------------------------------------------- disagreement

LONG = pd.DataFrame(
    {
        "id": [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5],
        "who": ["a", "b", "c"] * 4 + ["a", "b"],
        "y": ["cat", "cat", "dog", "dog", "dog", "dog", "cat", "dog", "dog", "fox", "fox", "cat",
              "fox", "fox"],
    }
)


def test_coincidence_matrix_hand_worked() -> None:
    # unit 1: cat cat dog -> cat-cat 2/2=1... weights 1/(m-1)=1/2 per ordered pair.
    data = to_reliability_data(LONG, item="id", annotator="who", label="y")
    o = coincidence_matrix(data)
    # ordered pairs per unit (x 1/(m-1)): u1 (cat,cat,dog): cc 2, cd 2, dc 2 -> 1, 1, 1
    # u2 dog x3: dd 6 -> 3; u3 (cat,dog,dog): cd 1, dd 1 (x2 ordered -> 2/2); u4 (fox,fox,cat):
    # ff 1, fc 1; u5 (fox, fox) m=2: ff 2.
    assert o.loc["cat", "cat"] == pytest.approx(1.0)
    assert o.loc["cat", "dog"] == pytest.approx(2.0)
    assert o.loc["dog", "dog"] == pytest.approx(4.0)
    assert o.loc["fox", "fox"] == pytest.approx(3.0)
    assert o.loc["cat", "fox"] == pytest.approx(1.0)
    np.testing.assert_allclose(o.to_numpy(), o.to_numpy().T)
    assert o.to_numpy().sum() == pytest.approx(14)  # every rating is a pairable value


def test_per_class_alpha_equals_binary_alpha_of_class_vs_rest() -> None:
    data = to_reliability_data(LONG, item="id", annotator="who", label="y")
    table = per_class_agreement(data).set_index("class")
    arr = data.to_numpy(dtype=object)
    for cls in ["cat", "dog", "fox"]:
        binary = np.where(pd.isna(arr), nan, (arr == cls).astype(float))
        expected = krippendorff.alpha(reliability_data=binary.astype(float),
                                      level_of_measurement="nominal")
        assert table.loc[cls, "alpha"] == pytest.approx(expected, abs=1e-9)


def test_per_class_fleiss_matches_fleiss_kappa_of_binarised_counts() -> None:
    rng = np.random.default_rng(4)
    ratings = rng.integers(0, 3, size=(40, 5))
    table, _ = sm_ir.aggregate_raters(ratings, n_cat=3)
    per = fleiss_kappa_per_category(table)
    for k in range(3):
        binary = np.column_stack([table[:, k], table.sum(axis=1) - table[:, k]])
        assert per[k] == pytest.approx(sm_ir.fleiss_kappa(binary), abs=1e-9)


def test_confused_pairs_ranked_with_examples() -> None:
    data = to_reliability_data(LONG, item="id", annotator="who", label="y")
    pairs = confused_pairs(data, n_examples=2)
    assert pairs[["class_a", "class_b"]].values.tolist() == [["cat", "dog"], ["cat", "fox"]]
    assert pairs["disagreements"].tolist() == pytest.approx([2.0, 1.0])
    assert pairs["share_of_disagreement"].sum() == pytest.approx(1.0)
    assert pairs.loc[0, "example_items"] == [1, 3]
    assert pairs.loc[1, "example_items"] == [4]


def test_items_to_discuss_worst_first() -> None:
    data = to_reliability_data(LONG, item="id", annotator="who", label="y")
    items = items_to_discuss(data)
    assert items["item"].tolist() == [1, 3, 4]
    assert items.loc[0, "labels"] == {"cat": 2, "dog": 1}
    assert items["agreement"].tolist() == pytest.approx([1 / 3] * 3)


def test_pairwise_kappa_equals_sklearn_on_common_units() -> None:
    rng = np.random.default_rng(5)
    data = rng.integers(0, 3, size=(3, 60)).astype(float)
    data[rng.random(data.shape) < 0.25] = nan
    table = pairwise_kappa(data)
    assert len(table) == 3
    for row in table.itertuples():
        a, b = data[row.coder_a], data[row.coder_b]
        both = ~np.isnan(a) & ~np.isnan(b)
        assert row.n_common == both.sum()
        assert row.kappa == pytest.approx(sk_metrics.cohen_kappa_score(a[both], b[both]))


def test_annotator_agreement_with_consensus() -> None:
    data = np.array([[1, 2, 1, 1], [1, 2, 2, 1], [1, 2, 1, 2]], dtype=float)
    table = annotator_agreement(data, consensus=[1, 2, 1, 1])
    assert table["accuracy_vs_consensus"].tolist() == pytest.approx([1.0, 0.75, 0.75])
    # coder 0 vs others' majority: units 1-2 agree (1, 1); unit 3 others (2, 1) tie -> 0.5;
    # unit 4 others (1, 2) tie -> 0.5.
    assert table.loc[0, "accuracy_vs_others"] == pytest.approx(3 / 4)


def test_ceiling_brute_force() -> None:
    rng = np.random.default_rng(6)
    data = rng.integers(0, 3, size=(4, 30)).astype(float)
    data[rng.random(data.shape) < 0.2] = nan
    ceiling = annotator_ceiling(data)
    credits, errors = [], []
    for u in range(data.shape[1]):
        col = data[:, u]
        rated = [g for g in range(4) if not np.isnan(col[g])]
        if len(rated) < 2:
            continue
        vals = [col[g] for g in rated]
        errors.append(1 - max(vals.count(v) for v in set(vals)) / len(vals))
        for g in rated:
            others = [col[h] for h in rated if h != g]
            best = max(others.count(v) for v in set(others))
            tied = {v for v in others if others.count(v) == best}
            credits.append((col[g] in tied) / len(tied))
    assert ceiling.single_annotator_accuracy == pytest.approx(np.mean(credits))
    assert ceiling.bayes_error == pytest.approx(np.mean(errors))
    assert ceiling.ceiling == pytest.approx(1 - np.mean(errors))
    assert "biased low" in ceiling.note


# ----------------------------------------------------------------------------- rounds and agree


def _rounds_table(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for rd, noise in ((1, 0.5), (2, 0.1)):
        truth = rng.integers(0, 3, 150)
        for g in range(3):
            lab = np.where(rng.random(150) < noise, (truth + 1) % 3, truth)  # 0->1, 1->2 confusions
            rows.append(pd.DataFrame({"item": np.arange(150) + 1000 * rd, "who": g,
                                      "y": np.array(["a", "b", "c"])[lab], "v": rd}))
    return pd.concat(rows, ignore_index=True)


def test_rounds_show_improvement_with_interval() -> None:
    res = agreement_by_round(_rounds_table(), item="item", annotator="who", label="y", round="v",
                             n_boot=200, random_state=0)
    assert res.per_round["round"].tolist() == [1, 2]
    assert res.per_round["value"].iloc[1] > res.per_round["value"].iloc[0]
    change = res.changes.iloc[0]
    assert change["ci_low"] > 0 and change["significant"]
    assert change["change"] == pytest.approx(
        res.per_round["value"].iloc[1] - res.per_round["value"].iloc[0]
    )
    assert set(res.pairs["status"]) <= {"improved", "worse", "no clear change"}
    assert (res.pairs["status"] == "improved").sum() >= 2


def test_agree_end_to_end_and_json() -> None:
    import json

    rep = agree(LONG, item="id", annotator="who", label="y", n_boot=50)
    data = to_reliability_data(LONG, item="id", annotator="who", label="y")
    assert rep.coefficient("krippendorff_alpha") == pytest.approx(krippendorff_alpha(data))
    assert rep.n_items == 5 and rep.n_annotators == 3 and rep.n_ratings == 14
    assert rep.revision_list.loc[0, "class_a"] == "cat"
    assert set(rep.consensus.columns) >= {"item", "consensus_label", "annotators_disagree"}
    assert "dawid_skene_accuracy" in rep.annotators.columns
    text = json.dumps(rep.to_dict(), allow_nan=False)
    assert json.loads(text)["result_version"] == 1
    with pytest.raises(InputValidationError, match="No coefficient 'nope'"):
        rep.coefficient("nope")


def test_agree_with_rounds_keeps_latest_rating() -> None:
    table = _rounds_table()
    again = table[table["v"] == 2].assign(v=3)  # same items relabelled in round 3
    rep = agree(pd.concat([table, again]), item="item", annotator="who", label="y", round="v",
                n_boot=0)
    assert rep.rounds is not None and len(rep.rounds.per_round) == 3
    assert any("latest round" in n for n in rep.notes)


def test_wide_to_long_roundtrip() -> None:
    wide = pd.DataFrame({"id": [1, 2, 3], "ann1": ["a", "b", None], "ann2": ["a", "a", "b"]})
    long = wide_to_long(wide, item="id")
    assert len(long) == 5
    back = to_reliability_data(long, item="id", annotator="annotator", label="label")
    assert back.shape == (2, 3)


# ----------------------------------------------------------------------------- bad input


def test_item_with_one_rating_is_left_out_with_a_note() -> None:
    long = pd.concat([LONG, pd.DataFrame({"id": [99], "who": ["a"], "y": ["cat"]})])
    rep = agree(long, item="id", annotator="who", label="y", n_boot=0)
    assert any("single rating" in n for n in rep.notes)
    assert rep.n_pairable_items == 5 and rep.n_items == 6
    assert rep.coefficient("percent_agreement") == pytest.approx(
        agree(LONG, item="id", annotator="who", label="y", n_boot=0).coefficient(
            "percent_agreement"
        )
    )


def test_every_item_with_one_rating_is_an_error() -> None:
    with pytest.raises(InputValidationError, match="No unit in .* has two or more ratings"):
        krippendorff_alpha([[1, nan, 2], [nan, 3, nan]])


def test_annotator_with_no_labels_is_dropped_with_a_note() -> None:
    long = pd.concat([LONG, pd.DataFrame({"id": [1, 2], "who": ["ghost", "ghost"], "y": [None, None]})])
    rep = agree(long, item="id", annotator="who", label="y", n_boot=0)
    assert rep.n_annotators == 3
    assert any("ghost" in n for n in rep.notes)
    data = np.array([[1, 2, 1], [nan, nan, nan], [1, 2, 2]])
    assert krippendorff_alpha(data) == pytest.approx(krippendorff_alpha(data[[0, 2]]))


def test_mixed_label_types_are_an_error() -> None:
    with pytest.raises(InputValidationError, match="mixes label types"):
        krippendorff_alpha(np.array([[1, "a", 2], [1, "a", "b"]], dtype=object))
    long = LONG.assign(y=LONG["y"].astype(object))
    long.loc[0, "y"] = 3
    with pytest.raises(InputValidationError, match="mixes label types"):
        agree(long, item="id", annotator="who", label="y")


def test_unknown_level_name() -> None:
    with pytest.raises(InvalidParameterError, match="'level' parameter .* Did you mean 'ordinal'"):
        krippendorff_alpha([[1, 2], [1, 2]], level="ordinl")
    with pytest.raises(InvalidParameterError, match="'level'"):
        agree(LONG, item="id", annotator="who", label="y", level="categorical")


def test_every_rating_identical_gives_nan_not_an_error() -> None:
    data = [[1, 1, 1], [1, 1, 1]]
    assert percent_agreement(data) == 1.0
    for fn in (krippendorff_alpha, gwet_ac1, brennan_prediger, scott_pi, conger_kappa):
        assert math.isnan(fn(data)), fn.__name__
    assert math.isnan(cohen_kappa([1, 1, 1], [1, 1, 1]))
    long = pd.DataFrame({"id": [1, 1, 2, 2], "who": list("abab"), "y": ["x"] * 4})
    rep = agree(long, item="id", annotator="who", label="y", n_boot=10)
    assert math.isnan(rep.coefficient("krippendorff_alpha"))
    assert any("every rating is the same category" in n for n in rep.notes)


def test_level_needs_fitting_labels() -> None:
    with pytest.raises(InputValidationError, match="needs numeric labels"):
        krippendorff_alpha([["a", "b"], ["a", "a"]], level="interval")
    with pytest.raises(InputValidationError, match="needs an order of the categories"):
        krippendorff_alpha([["lo", "hi"], ["lo", "lo"]], level="ordinal")
    ordered = krippendorff_alpha([["lo", "hi"], ["lo", "mid"]], level="ordinal",
                                 categories=["lo", "mid", "hi"])
    assert ordered == pytest.approx(
        krippendorff.alpha(reliability_data=[[1, 3], [1, 2]], level_of_measurement="ordinal")
    )
    with pytest.raises(InputValidationError, match="non-negative"):
        krippendorff_alpha([[-1, 2], [-1, 3]], level="ratio")


def test_categories_must_cover_labels() -> None:
    with pytest.raises(InputValidationError, match="values not in `categories`"):
        gwet_ac1([["a", "b"], ["a", "c"]], categories=["a", "b"])
    with pytest.raises(InputValidationError, match="duplicate"):
        gwet_ac1([["a", "b"], ["a", "b"]], categories=["a", "a", "b"])


def test_long_table_errors() -> None:
    with pytest.raises(InputValidationError, match="Column 'lable' .* Did you mean 'label'"):
        agree(LONG.rename(columns={"y": "label"}), item="id", annotator="who", label="lable")
    dup = pd.concat([LONG, LONG.iloc[:1]])
    with pytest.raises(InputValidationError, match="more than one label"):
        agree(dup, item="id", annotator="who", label="y")
    with pytest.raises(InputValidationError, match="must be a pandas DataFrame"):
        agree(LONG.to_numpy(), item="id", annotator="who", label="y")
    bad = LONG.astype({"who": object})
    bad.loc[0, "who"] = None
    with pytest.raises(InputValidationError, match="annotator column 'who' has 1 missing"):
        agree(bad, item="id", annotator="who", label="y")


def test_array_shape_and_parameter_errors() -> None:
    with pytest.raises(InputValidationError, match="2-d \\(coders, units\\) matrix"):
        krippendorff_alpha([1, 2, 3])
    with pytest.raises(InputValidationError, match="no ratings"):
        krippendorff_alpha([[nan, nan], [nan, nan]])
    with pytest.raises(InputValidationError, match="exactly two coders"):
        scott_pi([[1, 2], [1, 2], [2, 2]])
    with pytest.raises(InputValidationError, match="same units"):
        cohen_kappa([1, 2, 3], [1, 2])
    with pytest.raises(InputValidationError, match="no unit rated by both"):
        cohen_kappa([1, None], [None, 2])
    with pytest.raises(InvalidParameterError, match="'weights' parameter of cohen_kappa"):
        cohen_kappa([1, 2], [1, 2], weights="cubic")
    with pytest.raises(InputValidationError, match="non-negative whole numbers"):
        fleiss_kappa([[1.5, 0.5], [2, 0]])
    with pytest.raises(InputValidationError, match="2-d \\(units, categories\\)"):
        fleiss_kappa([1, 2, 3])
    with pytest.raises(InvalidParameterError, match="'n_boot'"):
        bootstrap_ci([[1, 2], [1, 2]], n_boot=0)
    with pytest.raises(InvalidParameterError, match="'confidence'"):
        bootstrap_ci([[1, 2], [1, 2]], confidence=95)
    with pytest.raises(InvalidParameterError, match="'coefficient'"):
        bootstrap_ci([[1, 2], [1, 2]], coefficient="kappa")
    with pytest.raises(InputValidationError, match="infinite"):
        krippendorff_alpha([[1, np.inf], [1, 2]])
    with pytest.raises(InputValidationError, match="one label per unit"):
        annotator_agreement([[1, 2], [1, 2]], consensus=[1])


def test_docs_example_runs() -> None:
    import re
    from pathlib import Path

    doc = Path(__file__).resolve().parents[1] / "docs" / "agreement.md"
    if not doc.exists():
        pytest.skip("docs/agreement.md not present")
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(), re.S)
    assert blocks
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        for code in blocks:
            exec(compile(code, str(doc), "exec"), {})  # noqa: S102
