"""The ranked next actions of an audit (``AuditResult.next_steps``), in the library, the JSON
and the command line; every command they print parses as the real CLI parses it."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from markupsafe import escape

from assay import AuditResult, CheckResult, Threshold


def parse_command(command: str) -> None:
    """Parse ``command`` with the real ``assay`` CLI without running it (click's own parser
    and type conversion): raises on an unknown command or option, or a bad or missing value."""
    import typer

    from assay.cli.main import app

    argv = shlex.split(command)
    assert argv[0] == "assay", command
    group = typer.main.get_command(app)
    root = group.context_class(group, info_name="assay")
    sub = group.get_command(root, argv[1])
    assert sub is not None, f"no command {argv[1]!r} in {command!r}"
    with sub.make_context(argv[1], argv[2:], parent=root):
        pass


# --------------------------------------------------------------------------------------------
# A constructed result with every kind of finding (the shapes the real checks record)
# --------------------------------------------------------------------------------------------
def constructed(*, reliable=True, run_id="20261205-abcd", error=True):
    n = 100
    sets = np.full(n, -1)
    sets[[0, 1, 2]] = 0        # three exact copies: 2 to drop
    sets[[3, 4]] = 1           # an exact pair with conflicting labels: 1 to drop
    sets[[5, 6]] = 2           # a near pair: 1 to review
    exact = np.isin(np.arange(n), [0, 1, 2, 3, 4])
    labels = np.array(["a", "b"] * 50, dtype=object)
    labels[[0, 1, 2]] = "a"    # set 0 agrees; set 1 (rows 3 "b", 4 "a") conflicts
    issues = pd.DataFrame({
        "row": np.arange(n), "given_label": labels, "is_label_issue": np.arange(n) < 20,
        "is_exact_duplicate": exact, "is_near_duplicate": np.isin(np.arange(n), [5, 6]),
        "duplicate_set": sets,
    })
    checks = {
        "label_issues": CheckResult("label_issues", "fail", summary={
            "n_flagged": 20, "n_estimated_errors": 15, "estimated_precision": 0.7,
            "estimated_precision_low": 0.4 if reliable else float("nan"),
            "estimated_precision_high": 0.95 if reliable else float("nan"),
            "estimates_reliable": reliable, "spot_check_size": 18,
            "unreliable_reason": "" if reliable else "weak_model"}),
        "duplicates": CheckResult("duplicates", "warn", summary={
            "n_exact": 5, "n_near": 2, "n_sets": 3, "n_redundant_rows": 4,
            "n_sets_with_conflicting_labels": 1}),
        "outliers": CheckResult("outliers", "warn", summary={"n_outliers": 4, "share": 0.04}),
        "leakage": CheckResult("leakage", "fail", summary={
            "n_leaked_rows": 6, "n_exact": 5, "n_near": 0, "n_group": 1},
            evidence={"split_pairs": [{"split_i": "train", "split_j": "test", "n_exact": 5,
                                       "n_near": 0, "n_group": 1, "n_leaked": 6}]}),
        "target_leakage": CheckResult("target_leakage", "warn", summary={
            "n_flagged": 1, "flagged_columns": ["leak"]},
            evidence={"columns": pd.DataFrame({"column": ["leak", "x"],
                                               "check": ["single_feature", "single_feature"],
                                               "flagged": [True, False]})}),
        "ambiguous_pairs": CheckResult("ambiguous_pairs", "warn", evidence={"pairs": [
            {"name_a": "a", "name_b": "b", "n_confused": 9, "rate": 0.09},
            {"name_a": "a", "name_b": "c", "n_confused": 2, "rate": 0.01}]},
            thresholds={"warn_rate": Threshold(0.05, "assay default")}),
        "class_profile": CheckResult("class_profile", "warn", summary={"few_threshold": 20},
                                     evidence={"classes": [
                                         {"class": "a", "count": 60, "group": "medium"},
                                         {"class": "b", "count": 32, "group": "medium"},
                                         {"class": "c", "count": 8, "group": "few"}]}),
        "slices": CheckResult("slices", "warn", summary={
            "n_slices_flagged": 1, "rows_in_flagged_slices": 30, "error_rate": 0.1},
            evidence={"slices": [{"source": "site", "slice": "B", "error_rate": 0.4,
                                  "flagged": True, "described_by": "higher age"}]}),
        "evaluation_size": CheckResult("evaluation_size", "warn",
                                       message="2 class recall(s) are too wide."),
    }
    if error:
        checks["broken"] = CheckResult("broken", "error", message="The check crashed.",
                                       error="Traceback ...\nValueError: boom")
    summary = {"n_rows": n, "run_id": run_id, "source": "data dir/data.csv",
               "roles": {"label": "y", "id": "uid", "split": "split", "text": None,
                         "features": ["x", "leak", "z"], "meta": [], "embedding_column": None}}
    return AuditResult(checks, issues, summary)


def test_ranked_by_the_documented_tiers():
    steps = constructed().next_steps()
    assert [s.rank for s in steps] == list(range(1, len(steps) + 1))
    kinds = [s.kind for s in steps]
    assert kinds[:7] == ["check_error", "split_leakage", "target_leakage", "label_issues",
                         "exact_duplicates", "near_duplicates", "outliers"]
    # the rest by rows, most first: slice 30, long tail 20 - 8 = 12, pairs 9, other check None
    assert kinds[7:] == ["weak_slices", "long_tail", "ambiguous_pairs", "check"]
    assert [s.rows for s in steps[7:]] == [30, 12, 9, None]


def test_content_of_each_step():
    steps = {s.kind: s for s in constructed().next_steps()}
    review = "assay review --run 20261205-abcd"
    leak = steps["split_leakage"]
    assert leak.rows == 6 and leak.command == review
    assert "6 test rows leak from train (5 have an exact copy there, 1 shares a group)" in leak.action
    target = steps["target_leakage"]
    assert "Drop column 'leak'" in target.action and target.rows == 100
    # a re-audit without the column, with the audit's other roles; the path is quoted
    assert target.command == ("assay audit 'data dir/data.csv' --label y --id uid --split split"
                              " --features x,z")
    label = steps["label_issues"]
    # 20 flagged at an estimated precision of 0.7: 14 real errors; 15 in the whole data
    assert label.rows == 20 and "about 14 of them" in label.worth and "15 label errors" in label.worth
    assert "(estimated precision 70%, plausibly 40% to 95%)" in label.worth
    assert label.command == review
    # no curve run measured what cleaning is worth: the step says how to measure it
    assert label.worth.endswith("; run the curve command to measure what cleaning is worth "
                                "against collecting")
    assert label.worth_command == "assay curve 'data dir/data.csv' --label y --compare-clean"
    parse_command(label.worth_command)
    assert all(s.worth_command is None for s in steps.values() if s is not label)
    exact = steps["exact_duplicates"]
    # set 0 holds 3 copies (drop 2), set 1 two (drop 1); set 1 carries "a" and "b"
    assert exact.rows == 3 and "one copy of each of 2 rows" in exact.action
    assert "1 set carries conflicting" in exact.worth
    assert steps["near_duplicates"].rows == 1          # 7 rows in 3 sets: 4 redundant - 3 exact
    assert "in 1 set;" in steps["near_duplicates"].action
    assert steps["ambiguous_pairs"].rows == 9 and "a / b" in steps["ambiguous_pairs"].action
    assert "a / c" not in steps["ambiguous_pairs"].action  # under the 0.05 warn rate
    tail = steps["long_tail"]
    assert "c" in tail.action and tail.command == "assay curve 'data dir/data.csv' --label y --per-class"
    assert steps["weak_slices"].command is None
    assert "site=B (higher age; 40% errors)" in steps["weak_slices"].action
    assert "ValueError: boom" in steps["check_error"].action
    for s in steps.values():
        if s.command:
            parse_command(s.command)


def test_a_reliable_estimate_without_bounds_states_the_point_alone():
    """An audit.json written before the interval (no keys), or NaN bounds: no band, no 'nan'."""
    for bounds in ({}, {"estimated_precision_low": float("nan"),
                        "estimated_precision_high": float("nan")}):
        res = constructed()
        summary = res.checks["label_issues"].summary
        del summary["estimated_precision_low"], summary["estimated_precision_high"]
        summary.update(bounds)
        label = next(s for s in res.next_steps() if s.kind == "label_issues")
        assert "(estimated precision 70%); about 15 label errors" in label.worth
        assert "nan" not in label.worth.lower()


def test_unreliable_estimates_put_the_spot_check_first():
    steps = constructed(reliable=False, error=False).next_steps()
    kinds = [s.kind for s in steps]
    assert kinds[2:4] == ["label_spot_check", "label_issues"]
    spot, rest = steps[2], steps[3]
    assert spot.rows == 18 and "18-row spot check" in spot.action
    assert "not reliable here: the model is weak" in spot.worth
    assert "upper bound" in rest.worth and rest.rows == 20
    # the relabel step, not the spot check, carries the command that measures the worth
    assert spot.worth_command is None
    assert rest.worth_command == "assay curve 'data dir/data.csv' --label y --compare-clean"


def test_workspace_and_unrecorded_runs():
    steps = constructed().next_steps(workspace="my proj/.assay")
    assert steps[1].command == "assay review -w 'my proj/.assay' --run 20261205-abcd"
    parse_command(steps[1].command)
    label = next(s for s in steps if s.kind == "label_issues")
    assert label.worth_command == ("assay curve 'data dir/data.csv' --label y --compare-clean "
                                   "-w 'my proj/.assay'")
    parse_command(label.worth_command)
    unrecorded = constructed(run_id=None).next_steps()
    assert all(s.command is None or not s.command.startswith("assay review") for s in unrecorded)
    assert {s.kind for s in unrecorded} == {s.kind for s in steps}  # the same work, no command


@pytest.mark.parametrize("reliable", [True, False])
def test_relabel_worth_from_a_measured_curve_run(reliable):
    """With a ``curve --compare-clean`` measurement in the summary (as ``record_audit`` puts it
    there), the relabel step turns the multiplier into samples and names the run."""
    res = constructed(reliable=reliable, error=False)
    res.summary["relabel_or_collect"] = {"run_id": "20261205-curve", "multiplier": 1.5,
                                         "n_train": 80, "n_flagged": 12, "extra_to_match": 39.6}
    label = [s for s in res.next_steps() if s.kind == "label_issues"][0]
    # the run's own count of as-is rows to reach the cleaned score, rounded
    assert ("cleaning is worth about 1.50x the data: as is, about 40 more samples would reach "
            "the cleaned score, by the relabel-or-collect estimate (from curve run "
            "20261205-curve)") in label.worth
    known = "about 14 of them are expected" if reliable else "at most about 15 label errors"
    assert label.worth.startswith(known)  # what the audit knows comes first
    assert label.worth_command == "assay curve 'data dir/data.csv' --label y --compare-clean"
    # cleaning worth less than the data as it is: no samples to gain
    res.summary["relabel_or_collect"].update(multiplier=0.9, extra_to_match=0.0)
    label = [s for s in res.next_steps() if s.kind == "label_issues"][0]
    assert "about 0.90x the data: no samples to gain by the relabel-or-collect" in label.worth
    # 0: the cleaned curve never reaches the as-is score; measured all the same
    res.summary["relabel_or_collect"]["multiplier"] = 0.0
    label = [s for s in res.next_steps() if s.kind == "label_issues"][0]
    assert "about 0.00x the data: no samples to gain" in label.worth
    # beyond the as-is curve's ceiling (stored as null): no amount of data as is reaches it
    res.summary["relabel_or_collect"].update(multiplier=2.0, extra_to_match=None)
    label = [s for s in res.next_steps() if s.kind == "label_issues"][0]
    assert "2.00x the data: more samples as they are would not reach the cleaned" in label.worth
    # read back from audit.json, the same
    back = AuditResult.from_json(res.to_json())
    assert [s.to_dict() for s in back.next_steps()] == [s.to_dict() for s in res.next_steps()]


def test_relabel_worth_without_a_data_file():
    """An audit of a DataFrame has no file to pass ``assay curve``: the worth names the
    function that measures it, and there is no command."""
    res = constructed(error=False)
    res.summary["source"] = None
    label = [s for s in res.next_steps() if s.kind == "label_issues"][0]
    assert label.worth_command is None
    assert label.worth.endswith("; assay.curves.relabel_or_collect measures what cleaning is "
                                "worth against collecting")


def test_passing_checks_and_an_empty_audit():
    assert AuditResult({}, pd.DataFrame(), {"n_rows": 0}).next_steps() == []
    quiet = AuditResult({
        "outliers": CheckResult("outliers", "pass", summary={"n_outliers": 3, "share": 0.01}),
        "slices": CheckResult("slices", "pass", summary={"n_slices_flagged": 0}),
        "label_issues": CheckResult("label_issues", "pass", summary={"n_flagged": 0}),
        "custom": CheckResult("custom", "pass", message="Fine."),
    }, pd.DataFrame({"row": [0, 1]}), {"n_rows": 2})
    assert quiet.next_steps() == []  # passing outliers are not a step; flagged labels would be


def test_missing_or_null_figures_never_break_the_list():
    """audit.json stores NaN as null and older results lack figures: every builder copes, since
    ``to_dict`` (and so every audit.json) depends on it."""
    res = constructed()
    for check in res.checks.values():
        check.summary.update({k: None for k in check.summary})
        for value in check.evidence.values():
            for rec in value if isinstance(value, list) else []:
                rec.update({k: None for k in rec if k not in ("flagged", "column")})
    steps = AuditResult(res.checks, pd.DataFrame(), {}).next_steps()
    assert steps[0].kind == "check_error"
    assert all(s.command is None for s in steps)  # no run, no data file
    json.dumps([s.to_dict() for s in steps], allow_nan=False)


def test_stored_in_audit_json_and_the_same_after_a_round_trip():
    res = constructed()
    doc = json.loads(res.to_json(include_issues=True))
    assert doc["next_steps"] == [s.to_dict() for s in res.next_steps()]
    back = AuditResult.from_json(res.to_json())
    assert [s.to_dict() for s in back.next_steps()] == doc["next_steps"]


# --------------------------------------------------------------------------------------------
# A real audit: a leak across splits, a leaky column, flipped labels, exact duplicates
# --------------------------------------------------------------------------------------------
def leaky_table(n=240, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.normal(size=(n, 3)) + y[:, None] * 2.0
    flip = rng.random(n) < 0.08
    given = np.where(flip, (y + 1) % 3, y)
    df = pd.DataFrame(x, columns=["a", "b", "c"])
    df["y"] = [f"k{v}" for v in given]
    df["code"] = [f"C{v}" for v in given]  # recodes the given label: gives it away
    df["split"] = np.where(np.arange(n) < 200, "train", "test")
    copies = df.iloc[:8].assign(split="test")   # 8 test rows copied from train
    dups = df.iloc[20:24]                        # 4 exact duplicates within train
    return pd.concat([df, copies, dups], ignore_index=True), y


def test_real_audit_ranks_leaks_first(tmp_path):
    import assay

    df, _ = leaky_table()
    ds = assay.load(df, label="y", split="split", features=["a", "b", "c"])
    res = assay.audit(ds, checks=["leakage", "target_leakage", "label_issues", "duplicates"],
                      model="logistic", random_state=0)
    steps = res.next_steps()
    kinds = [s.kind for s in steps]
    assert kinds[:2] == ["split_leakage", "target_leakage"]
    assert steps[0].rows == res.checks["leakage"].summary["n_leaked_rows"] >= 8
    assert "'code' from the training data" in steps[1].action  # not a feature: the model never read it
    assert steps[1].command is None
    label_kinds = {"label_spot_check", "label_issues"}
    assert label_kinds & set(kinds[2:4])
    assert "exact_duplicates" in kinds and kinds.index("exact_duplicates") > 2
    assert json.loads(res.to_json(include_issues=False))["next_steps"][0]["kind"] == "split_leakage"


def test_cli_prints_the_list_last_with_commands_that_parse(tmp_path):
    """As a user runs it: the list closes the output, and each printed command parses (in
    process, and as ``--help`` in a subprocess, which refuses unknown options)."""
    df, _ = leaky_table()
    data = tmp_path / "my data.csv"
    df.to_csv(data, index=False)
    run = subprocess.run(
        [sys.executable, "-m", "assay.cli.main", "audit", str(data), "--label", "y",
         "--split", "split", "--model", "logistic",
         "--checks", "leakage,target_leakage,label_issues,duplicates"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env=_env())
    assert run.returncode == 0, run.stderr
    lines = run.stdout.rstrip().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Next steps"))
    tail = lines[start:]
    assert "Then: assay export -o DIR" in "\n".join(tail[-3:]) and "assay diff" in tail[-1]
    assert tail[1].startswith(" 1. Fix the leak across splits: ")
    commands = [line.strip()[2:] for line in tail if line.strip().startswith("$ assay ")]
    assert any(c.startswith("assay review --run ") for c in commands)
    # the re-audit without the leaking column, with the data's path quoted
    assert any(c.startswith(f"assay audit {shlex.quote(str(data))} --label y") and
               "--features a,b,c" in c for c in commands)
    # the closing line's export and diff parse too (DIR is the user's folder)
    closing = " ".join(line.strip() for line in tail[-3:])
    commands += [re.search(r"assay export.*? -o DIR", closing).group(0),
                 re.search(r"assay diff \S+$", closing).group(0)]
    for command in dict.fromkeys(commands):
        parse_command(command)
        helped = subprocess.run([sys.executable, "-m", "assay.cli.main",
                                 *shlex.split(command)[1:], "--help"],
                                capture_output=True, text=True, timeout=120, cwd=tmp_path,
                                env=_env())
        assert helped.returncode == 0, (command, helped.stderr)


def noisy_table(n=300, seed=0):
    """Three separable classes with 12 % of the labels flipped: cleaning them is worth data."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.normal(size=(n, 3)) + y[:, None] * 1.5
    flip = rng.random(n) < 0.12
    df = pd.DataFrame(x, columns=["a", "b", "c"])
    df["y"] = [f"k{v}" for v in np.where(flip, (y + 1) % 3, y)]
    return df


@pytest.mark.slow  # about 25 s: a learning curve twice over, in a subprocess
def test_relabel_worth_measured_by_the_printed_curve_command(tmp_path, capsys):
    """As a user follows it: the audit prints ``assay curve ... --compare-clean`` under the
    relabel step; run as printed, it records a curve run in the workspace; the next audit of
    the same data reads that run's multiplier and says what relabelling is worth in samples
    (in its output, its audit.json and its report)."""
    from assay.cli.main import main
    from assay.workspace import Workspace

    data = tmp_path / "my data.csv"
    noisy_table().to_csv(data, index=False)
    ws = tmp_path / "proj ws"
    argv = ["audit", str(data), "--label", "y", "-w", str(ws), "--model", "logistic",
            "--checks", "label_issues", "--seed", "0"]
    assert main(argv) == 0
    first = " ".join(capsys.readouterr().out.split())  # rich wraps lines: words, not lines
    printed = re.findall(r"\$ (assay curve .*?--compare-clean(?: -w '[^']*'| -w \S+)?)(?= \$|$| Then:)",
                         first)
    assert printed == [f"assay curve {shlex.quote(str(data))} --label y --compare-clean "
                       f"-w {shlex.quote(str(ws))}"]
    assert "run the curve command to measure what cleaning is worth against collecting" in first
    curve = subprocess.run([sys.executable, "-m", "assay.cli.main", *shlex.split(printed[0])[1:]],
                           capture_output=True, text=True, timeout=300, cwd=tmp_path, env=_env())
    assert curve.returncode == 0, curve.stderr
    store = Workspace.open(ws)
    (run_id,) = store.runs(command="curve")["run_id"]
    clean = json.loads((store.results_dir(run_id) / "fits.json").read_text())["clean"]
    m, extra = clean["multiplier"], round(clean["extra_to_match"])
    assert extra > 0  # 12 % flipped labels: the cleaned curve is worth more data
    expected = (f"cleaning is worth about {m:.2f}x the data: as is, about {extra:,} more samples "
                f"would reach the cleaned score, by the relabel-or-collect estimate (from curve "
                f"run {run_id})")

    assert main(argv) == 0
    second = " ".join(capsys.readouterr().out.split())
    assert expected in second
    audit_id = store.runs(command="audit")["run_id"].iloc[0]
    doc = json.loads((store.results_dir(audit_id) / "audit.json").read_text())
    assert doc["summary"]["relabel_or_collect"]["run_id"] == run_id
    assert doc["summary"]["relabel_or_collect"]["multiplier"] == m
    (label,) = [s for s in doc["next_steps"] if s["kind"] == "label_issues"]
    assert expected in label["worth"]
    report = (store.results_dir(audit_id) / "report.html").read_text()
    assert expected in report
    # the report shows the command that measured it (as audit.json records it), under the
    # review command
    assert label["worth_command"].startswith("assay curve ")
    assert f'<code class="ns-cmd ns-worth">{escape(label["worth_command"])}</code>' in report
    # another label of the same file is another measurement: not this run's
    df = noisy_table()
    df["y2"] = df["y"]
    other = tmp_path / "other.csv"
    df.to_csv(other, index=False)
    from assay.pipelines import prior_relabel_or_collect

    assert prior_relabel_or_collect(store, data, label="y")["run_id"] == run_id
    assert prior_relabel_or_collect(store, data, label="a") is None
    assert prior_relabel_or_collect(store, other, label="y") is None  # other bytes


def test_cli_empty_audit_says_so_in_one_line(tmp_path, capsys):
    from assay.cli.main import main

    rng = np.random.default_rng(0)
    y = np.repeat(["a", "b"], 30)
    x = rng.normal(size=(60, 2)) + np.repeat([0, 9], 30)[:, None]
    path = tmp_path / "clean.csv"
    pd.DataFrame(x, columns=["p", "q"]).assign(y=y).to_csv(path, index=False)
    assert main(["audit", str(path), "--label", "y", "--no-workspace", "--out",
                 str(tmp_path / "o"), "--checks", "duplicates"]) == 0
    out = capsys.readouterr().out.rstrip().splitlines()
    assert out[-1].startswith("Next steps: nothing to fix")
    assert main(["audit", str(path), "--label", "y", "--no-workspace", "--out",
                 str(tmp_path / "o2"), "--checks", "duplicates", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["next_steps"] == []
    assert json.loads((tmp_path / "o2" / "audit.json").read_text())["next_steps"] == []


def _env():
    import os

    return {**os.environ, "COLUMNS": "100"}


@pytest.mark.parametrize("command", [
    "assay review --run x --bogus",
    "assay curve d.csv --per-class",          # --label is required
    "assay nosuchcommand",
])
def test_parse_command_refuses_what_the_cli_refuses(command):
    with pytest.raises((Exception, AssertionError)) as info:  # noqa: B017 - named below
        parse_command(command)
    names = {c.__name__ for c in type(info.value).__mro__}
    assert names & {"UsageError", "AssertionError"}, type(info.value)
