"""assay.compare: leaderboard order, cost columns, like-for-like flags, record loading."""

from __future__ import annotations

import doctest
import json

import pytest

import assay.compare as cmp
from assay.compare import RUN_SCHEMA, compare_runs, load_run_records
from assay.exceptions import InputValidationError, InvalidParameterError


def _run(run_id, balanced, **prov):
    base = {"data_fingerprint": "fp1", "backbone": "clip-b16", "pretraining_data": None,
            "extra_data": [], "params_trained": 5130, "train_seconds": 1.5,
            "inference_seconds": 0.01, "selection": {"tau": "validation", "checkpoint": "last"}}
    base.update(prov)
    return {"schema": RUN_SCHEMA, "run_id": run_id, "recipe": "ce",
            "metrics": {"balanced": balanced, "overall": balanced + 0.05, "many": 0.9,
                        "medium": 0.6, "few": 0.2}, "provenance": base}


def test_docstring_examples_run():
    assert doctest.testmod(cmp).failed == 0


def test_leaderboard_sorted_with_cost_next_to_accuracy():
    frame = compare_runs([_run("a", 0.6), _run("b", 0.7, train_seconds=9.0)])
    assert frame["run_id"].tolist() == ["b", "a"]
    cols = frame.columns.tolist()
    assert cols.index("params_trained") > cols.index("balanced")
    assert frame.loc[0, "train_seconds"] == 9.0
    assert frame["like_for_like"].all() and (frame["flags"] == "").all()
    assert frame.loc[frame["run_id"] == "a", "is_reference"].item()


def test_each_unfair_difference_is_flagged():
    runs = [
        _run("ref", 0.6),
        _run("data", 0.7, data_fingerprint="fp2"),
        _run("bigger", 0.8, backbone="clip-l14"),
        _run("extra", 0.75, extra_data=["imagenet-21k"]),
        _run("peek", 0.65, selection={"tau": "test", "checkpoint": "last"}),
        _run("fair", 0.62),
    ]
    frame = compare_runs(runs).set_index("run_id")
    assert frame.loc["data", "flags"] == "different data"
    assert frame.loc["bigger", "flags"].startswith("different backbone (clip-l14 vs clip-b16)")
    assert frame.loc["extra", "flags"] == "extra data: imagenet-21k"
    assert frame.loc["peek", "flags"] == "tau selected on test"
    assert frame.loc["fair", "like_for_like"] and frame.loc["ref", "like_for_like"]
    assert frame["like_for_like"].sum() == 2


def test_reference_by_id_and_selection_on_test_flags_the_reference_too():
    runs = [_run("a", 0.6, selection={"tau": "fixed", "checkpoint": "test"}),
            _run("b", 0.7, backbone="other")]
    frame = compare_runs(runs, reference="b").set_index("run_id")
    assert frame.loc["b", "is_reference"] and frame.loc["b", "like_for_like"]
    assert "checkpoint selected on test" in frame.loc["a", "flags"]
    assert "different backbone" in frame.loc["a", "flags"]


def test_bad_records():
    with pytest.raises(InputValidationError, match="non-empty list"):
        compare_runs([])
    with pytest.raises(InputValidationError, match="lacks provenance"):
        compare_runs([{"run_id": "x", "metrics": {"balanced": 0.5}}])
    with pytest.raises(InputValidationError, match="no numeric metrics.balanced"):
        compare_runs([{"run_id": "x", "metrics": {}, "provenance": {}}])
    with pytest.raises(InputValidationError, match="reference run 'zz'"):
        compare_runs([_run("a", 0.5)], reference="zz")
    with pytest.raises(InvalidParameterError, match="'sort_by' parameter"):
        compare_runs([_run("a", 0.5)], sort_by="f1")


def test_load_run_records(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(_run("a", 0.5)))
    (tmp_path / "other.json").write_text(json.dumps({"schema": "something-else"}))
    assert [r["run_id"] for r in load_run_records(tmp_path)] == ["a"]
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InputValidationError, match="not valid JSON"):
        load_run_records(tmp_path)
    with pytest.raises(InputValidationError, match="does not exist"):
        load_run_records(tmp_path / "missing")


def test_choices_columns_and_tau_norm_selected_on_test():
    """Issue 19: sampler, head size and every post-hoc choice with how it was made."""
    auto = "auto on valid split (30 rows), metric balanced_accuracy, grid [0, 0.1, ..., 2]"
    new = _run("new", 0.7, head_parameters={"trainable": 18, "total": 18},
               selection={"tau": "fixed", "tau_norm": "validation", "checkpoint": "last"},
               choices={"sampler": {"name": "square-root", "how": "given"},
                        "tau_norm": {"value": 1.2, "chosen": "auto", "how": auto},
                        "posthoc_tau": {"value": 1.0, "chosen": "given", "how": "given"},
                        "target_prior": {"source": "file:q.csv", "chosen": "given",
                                         "how": "given", "shares": {}}})
    new["params"] = {"sampler": "square-root", "tau_norm": 1.2, "posthoc_tau": 1.0,
                     "target_prior": "file:q.csv"}
    new["metrics"]["target_prior_accuracy"] = 0.9
    old = _run("old", 0.6)  # a record written before the choices were recorded
    old["params"] = {"posthoc_tau": 0.4, "sampler": "instance"}
    peek = _run("peek", 0.5, selection={"tau": "none", "tau_norm": "test", "checkpoint": "last"})
    frame = compare_runs([old, new, peek]).set_index("run_id")
    row = frame.loc["new"]
    assert (row["sampler"], row["params_total"], row["tau_norm"], row["tau_norm_how"]) == (
        "square-root", 18, 1.2, auto)
    assert (row["posthoc_tau"], row["posthoc_tau_how"], row["target_prior"]) == (
        1.0, "given", "file:q.csv")
    assert row["target_prior_how"] == "given" and row["tau_norm_selection"] == "validation"
    assert row["target_prior_accuracy"] == 0.9
    o = frame.loc["old"]
    assert o["posthoc_tau"] == 0.4 and o["posthoc_tau_how"] == "auto on the validation rows"
    assert o[["tau_norm", "params_total", "target_prior", "tau_norm_how"]].isna().all()
    assert frame.loc["peek", "flags"] == "tau-norm selected on test"
    by_q = compare_runs([old, new, peek], sort_by="target_prior_accuracy")
    assert by_q["run_id"].tolist()[0] == "new"  # the others have no figure (NaN, last)
