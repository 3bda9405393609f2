"""The pipelines behind ``audit``, ``value`` and ``curve``, called as library functions."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from assay.data import load
from assay.exceptions import InvalidParameterError
from assay.pipelines import (
    AUDIT_OUTPUT_NAMES,
    learning_plan,
    record_audit,
    value_rows,
    write_audit_outputs,
)
from assay.valuation import low_value_cluster, noisy_detection
from assay.workspace import Workspace


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    y = np.repeat(["a", "b", "c"], 40)
    x = rng.normal(size=(120, 3)) + np.repeat([0, 4, 8], 40)[:, None]
    out = pd.DataFrame(x, columns=["p", "q", "r"]).assign(label=y, uid=range(120))
    out.loc[0, "label"] = "c"  # one wrong label
    return out


def test_record_audit_records_the_run_its_files_and_findings(frame, tmp_path):
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    dataset = load(path, label="label", id="uid")
    ws_path = tmp_path / ".assay"
    seen = []
    result, run_id = record_audit(dataset, ws_path, {"data": str(path)},
                                  checks=["label_issues", "duplicates"],
                                  on_result=seen.append)
    assert run_id is not None and seen == [result]
    assert result.summary["run_id"] == run_id
    ws = Workspace.open(ws_path)
    run = ws.run(run_id)
    assert run["command"] == "audit" and run["status"] in ("ok", "warn", "fail")
    assert run["params"] == {"data": str(path)} and run["summary"]["n_rows"] == 120
    folder = ws.results_dir(run_id)
    for name in (*AUDIT_OUTPUT_NAMES, "rows.parquet"):
        assert (folder / name).is_file(), name
    assert json.loads((folder / "audit.json").read_text())["summary"]["issues_file"] \
        == "issues.parquet"
    rows = pd.read_parquet(folder / "rows.parquet")
    assert rows["row_id"].tolist() == [str(i) for i in range(120)]
    findings = ws.findings(run_id, check="label_issues", flagged_only=True)
    assert "0" in set(findings["row_id"].astype(str))
    assert ws.dataset(dataset.fingerprint)["source"] == str(path.resolve())


def test_record_audit_without_a_workspace_records_nothing(frame, tmp_path):
    dataset = load(frame, label="label", id="uid")
    out = tmp_path / "out"
    paths: dict = {}
    result, run_id = record_audit(dataset, None, {}, checks=["duplicates"],
                                  on_result=lambda r: paths.update(
                                      write_audit_outputs(r, out, dataset)))
    assert run_id is None and "duplicates" in result.checks
    assert set(paths) == {"issues", "json", "issues_csv", "report"}
    assert sorted(p.name for p in out.iterdir()) == sorted(AUDIT_OUTPUT_NAMES)


def test_value_rows_knn_shapley_one_row_per_data_row(frame):
    progress = []
    rows, groups, summary = value_rows(
        frame, label="label", method="knn-shapley", id="uid",
        progress=lambda step, done, total: progress.append((step, done, total)))
    assert len(rows) == len(frame) and groups is None
    assert list(rows.columns) == ["row", "label", "data_value", "data_value_label",
                                  "is_low_value"]
    assert rows["row"].tolist() == list(range(120))
    assert np.array_equal(rows["data_value"], rows["data_value_label"])
    assert rows["is_low_value"].dtype == bool
    assert summary["method"] == "knn-shapley" and summary["n_rows"] == 120
    assert summary["n_low_value"] == int(rows["is_low_value"].sum())
    assert progress[0][1:] == (0, 1) and progress[-1][1:] == (1, 1)
    # the mislabelled row is valued lowest
    assert rows.loc[rows["data_value"].idxmin(), "row"] == 0
    # the pipeline's low-value flag is the one rule in assay.valuation
    assert np.array_equal(rows["is_low_value"],
                          low_value_cluster(rows["data_value"].to_numpy(), random_state=0))


def test_value_rows_groups_and_tasks(frame):
    frame = frame.assign(src=np.where(np.arange(120) < 60, "s1", "s2"),
                         big=(frame["q"] > 4).astype(int))
    rows, groups, summary = value_rows(frame, label="label", tasks=["big"], group="src")
    assert {"data_value_big", "task_conflict"} <= set(rows.columns)
    assert groups is not None and set(groups.index) == {"s1", "s2"}
    assert summary["tasks"] == ["label", "big"]


def test_value_rows_rejects_an_unknown_method(frame):
    with pytest.raises(InvalidParameterError, match="'method' parameter of value_rows"):
        value_rows(frame, label="label", method="knn-shaply")


def test_the_low_value_rule_flags_nothing_when_all_values_are_equal():
    assert not low_value_cluster(np.full(10, 0.3)).any()
    assert not low_value_cluster([0.5]).any() and low_value_cluster([]).size == 0
    assert low_value_cluster([1.0, 0.9, 1.1, -2.0]).tolist() == [False, False, False, True]
    # noisy_detection uses the same rule: equal values detect nothing
    r = noisy_detection(np.zeros(6), [1, 0, 0, 0, 0, 0])
    assert (r.n_flagged, r.f1_kmeans) == (0, 0.0)


def test_learning_plan_returns_the_curve_and_its_fit():
    rng = np.random.default_rng(0)
    n = 300
    x = rng.normal(size=(n, 4))
    y = np.where(x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=0.5, size=n) > 0, "pos", "neg")
    data = pd.DataFrame(x, columns=["a", "b", "c", "d"]).assign(y=y)
    plan = learning_plan(data, label="y", target=0.99, sizes=[30, 60, 120, 240], seeds=2,
                         n_bootstrap=20)
    curve, fit = plan["curve"], plan["fit"]
    assert isinstance(curve, pd.DataFrame) and {"n_train", "accuracy"} <= set(curve.columns)
    assert sorted(set(curve["n_train"])) == [30, 60, 120, 240]
    assert plan["n_pool"] == 240 and plan["n_rows"] == 300 and plan["metric"] == "accuracy"
    assert fit.kind == "accuracy" and 0.0 < float(fit.predict(240)) <= 1.0
    assert [f["n"] for f in plan["forecast"]] == [240, 480, 1200, 2400]
    assert "requirement" in plan and "per_class" not in plan
    with pytest.raises(InvalidParameterError, match="'metric' parameter of learning_plan"):
        learning_plan(data, label="y", metric="auc")


def test_data_oob_task_conflict_is_the_spread_of_accuracies():
    """Data-OOB values are >= 0, so conflict against zero was always 0 (issue 19); as the spread
    of the out-of-bag accuracies, rows whose second label contradicts the first conflict."""
    import numpy as np
    import pandas as pd

    from assay.pipelines import value_rows

    rng = np.random.default_rng(0)
    n = 200
    x = rng.normal(size=(n, 2))
    y1 = (x[:, 0] > 0).astype(int)
    y2 = y1.copy()
    flipped = rng.choice(n, size=20, replace=False)
    y2[flipped] = 1 - y2[flipped]  # task 2 disagrees with task 1 on these rows
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "t1": y1, "t2": y2})
    rows, _, _ = value_rows(frame, label="t1", tasks=["t2"], method="data-oob",
                            n_estimators=60, seed=0)
    conflict = rows["task_conflict"].to_numpy()
    assert (conflict > 0).any()
    inside = np.zeros(n, dtype=bool)
    inside[flipped] = True
    assert conflict[inside].mean() > 3 * conflict[~inside].mean()


def test_learning_plan_knows_the_evaluation_rows_of_each_class():
    """Issue 19: the plan knows how many held-out rows each class's recall rests on. The split
    is the one learning_curve makes itself (same seed, same random stream), so the curve does
    not change and eval_support counts exactly the rows it was scored on."""
    import warnings

    from assay.curves import learning_curve
    from assay.data import featurize, load

    rng = np.random.default_rng(1)
    y = np.repeat(["big", "mid", "rare"], [200, 80, 20])
    x = rng.normal(size=(y.size, 3)) + (y[:, None] == np.array(["big", "mid", "rare"])) * 2.0
    data = pd.DataFrame(x, columns=["a", "b", "c"]).assign(y=y)
    plan = learning_plan(data, label="y", budget=60, sizes=[40, 80, 160, 240], seeds=1,
                         n_bootstrap=0, seed=3, min_per_class=25)
    # 20 % of 300 rows, stratified: 40 + 16 + 4.
    assert plan["eval_support"] == {"big": 40, "mid": 16, "rare": 4}
    assert plan["per_class"].set_index("class")["eval_rows"].to_dict() == plan["eval_support"]
    assert len(plan["warnings"]) == 1 and "'mid' (16 held-out rows), 'rare' (4)" in \
        plan["warnings"][0]
    alloc = plan["allocation"].set_index("class")
    assert alloc.attrs["uncertain"] == ["mid", "rare"] and (alloc["total"] >= 25).all()
    dataset = load(data, label="y")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        direct = learning_curve(featurize(dataset, random_state=3).matrix, dataset.labels,
                                sizes=[40, 80, 160, 240], n_seeds=1, random_state=3,
                                class_names=plan["classes"])
    cols = [c for c in direct.columns if c.startswith(("recall[", "n_train["))]
    pd.testing.assert_frame_equal(plan["curve"][cols], direct[cols])
