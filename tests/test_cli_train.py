"""`assay train`: end to end on small tables, the run record, and user errors (exit 2)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")

from assay.cli.main import main  # noqa: E402
from assay.compare import RUN_SCHEMA, compare_runs, load_run_records  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def frames():
    r = np.random.default_rng(0)
    means = r.normal(scale=2.0, size=(3, 5))
    counts = {"train": [120, 30, 8], "valid": [10, 10, 10], "test": [20, 20, 20]}
    rows = []
    for part, cs in counts.items():
        for j, n in enumerate(cs):
            for v in means[j] + r.normal(size=(n, 5)):
                rows.append({"vec": v.tolist(), "y": f"c{j}", "part": part})
    table = pd.DataFrame(rows)
    numeric = pd.DataFrame(np.stack(table["vec"]), columns=[f"f{i}" for i in range(5)])
    numeric["y"], numeric["part"] = table["y"], table["part"]
    return table, numeric


def _run(args, capsys):
    rc = main(args)
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def test_train_vector_column_with_split_writes_record(frames, tmp_path, capsys):
    table, _ = frames
    path = tmp_path / "emb.parquet"
    table.to_parquet(path)
    out = tmp_path / "runs"
    rc, stdout, err = _run(["train", str(path), "--label", "y", "--split", "part",
                            "--recipe", "logit-adjusted", "--posthoc-tau", "auto",
                            "--backbone", "toy-net", "--extra-data", "web", "--epochs", "5",
                            "--out", str(out), "--json"], capsys)
    assert rc == 0, err
    record = json.loads(stdout)
    assert record["schema"] == RUN_SCHEMA and record["recipe"] == "logit-adjusted"
    prov = record["provenance"]
    assert prov["backbone"] == "toy-net" and prov["extra_data"] == ["web"]
    assert prov["selection"] == {"tau": "validation", "checkpoint": "validation",
                                 "tau_norm": "none"}
    assert prov["params_trained"] == 5 * 3 + 3
    assert prov["split"] == {"source": "column:part", "train": 158, "valid": 30, "test": 60}
    assert record["train_counts"] == [120, 30, 8] and record["classes"] == ["c0", "c1", "c2"]
    m = record["metrics"]
    assert set(m) >= {"many", "medium", "few", "overall", "balanced", "prior_shift"}
    assert m["many"] is not None and m["medium"] is not None and m["few"] is not None
    assert "forward-50" in m["prior_shift"] and "backward-50" in m["prior_shift"]
    saved = load_run_records(out)
    assert [r["run_id"] for r in saved] == [record["run_id"]]


def test_train_numeric_csv_random_split_table_output_and_compare(frames, tmp_path, capsys):
    _, numeric = frames
    path = tmp_path / "num.csv"
    numeric.drop(columns="part").to_csv(path, index=False)
    out = tmp_path / "runs"
    for recipe in ("ce", "balanced-softmax"):
        rc, stdout, err = _run(["train", str(path), "--label", "y", "--recipe", recipe,
                                "--epochs", "3", "--posthoc-tau", "1", "--out", str(out)],
                               capsys)
        assert rc == 0, err
        assert "balanced" in stdout and "backward-50" in stdout
    records = load_run_records(out)
    assert len(records) == 2
    assert all(r["provenance"]["selection"]["tau"] == "fixed" for r in records)
    assert "random per class" in records[0]["provenance"]["split"]["source"]
    frame = compare_runs(records)
    assert frame["like_for_like"].all()  # same data, same split seed, same backbone
    # the leaderboard command shows both runs
    rc, stdout, err = _run(["runs", "--compare", "--records", str(out), "--json"], capsys)
    assert rc == 0, err
    board = json.loads(stdout)
    assert sorted(r["recipe"] for r in board) == ["balanced-softmax", "ce"]
    assert all(r["like_for_like"] for r in board)


def test_train_npy_with_labels_file(frames, tmp_path, capsys):
    table, _ = frames
    np.save(tmp_path / "emb.npy", np.stack(table["vec"]).astype(np.float32))
    table[["y", "part"]].to_csv(tmp_path / "labels.csv", index=False)
    rc, stdout, err = _run(["train", str(tmp_path / "emb.npy"), "--labels",
                            str(tmp_path / "labels.csv"), "--label", "y", "--split", "part",
                            "--recipe", "crt", "--epochs", "2", "--out", str(tmp_path / "r"),
                            "--json"], capsys)
    assert rc == 0, err
    assert json.loads(stdout)["params"]["sampler"] == "class-balanced"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--recipe", "balanced_softmax"], "Did you mean 'balanced-softmax'"),
        (["--posthoc-tau", "-1"], "--posthoc-tau"),
        (["--split", "y"], "not train / valid / test"),
    ],
)
def test_user_errors_exit_2(frames, tmp_path, capsys, extra, message):
    table, _ = frames
    path = tmp_path / "emb.parquet"
    table.to_parquet(path)
    rc, _, err = _run(["train", str(path), "--label", "y", "--epochs", "1",
                       "--out", str(tmp_path / "r"), *extra], capsys)
    assert rc == 2 and message in err


def test_npy_without_labels_and_auto_tau_without_validation(frames, tmp_path, capsys):
    table, _ = frames
    np.save(tmp_path / "emb.npy", np.stack(table["vec"]))
    rc, _, err = _run(["train", str(tmp_path / "emb.npy"), "--label", "y"], capsys)
    assert rc == 2 and "--labels FILE" in err
    no_valid = table[table["part"] != "valid"]
    no_valid.to_parquet(tmp_path / "nv.parquet")
    rc, _, err = _run(["train", str(tmp_path / "nv.parquet"), "--label", "y", "--split", "part",
                       "--posthoc-tau", "auto", "--out", str(tmp_path / "r")], capsys)
    assert rc == 2 and "validation rows" in err


def test_class_missing_from_training_is_explicit(frames, tmp_path, capsys):
    table, _ = frames
    t = table[~((table["y"] == "c2") & (table["part"] == "train"))]
    t.to_parquet(tmp_path / "t.parquet")
    args = ["train", str(tmp_path / "t.parquet"), "--label", "y", "--split", "part",
            "--recipe", "balanced-softmax", "--epochs", "1", "--out", str(tmp_path / "r")]
    rc, _, err = _run(args, capsys)
    assert rc == 2 and "zero training samples" in err
    rc, _, err = _run([*args, "--prior-smoothing", "1"], capsys)
    assert rc == 0, err


# ---------------------------------------------------------------------------------------------
# issue 19: --sampler, --tau-norm, --target-prior; parameter counts and choices in the record
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def npy_input(frames, tmp_path):
    """The frames as a .npy matrix plus a labels table: the CLI reads exactly this matrix."""
    table, _ = frames
    np.save(tmp_path / "emb.npy", np.stack(table["vec"]).astype(np.float32))
    table[["y", "part"]].to_csv(tmp_path / "labels.csv", index=False)
    return ["train", str(tmp_path / "emb.npy"), "--labels", str(tmp_path / "labels.csv"),
            "--label", "y", "--split", "part", "--out", str(tmp_path / "runs"), "--json"]


def _refit(argv, **options):
    """The head the CLI trained for ``argv``: same loader, split and fit_head call (seeded)."""
    from pathlib import Path

    from assay.cli import train as cli_train
    from assay.torch import fit_head

    ds, x, _ = cli_train._load(Path(argv[1]), label="y", split="part", embedding=None,
                               labels_file=Path(argv[3]))
    part, _ = cli_train._split(ds, "part", 0)
    tr, va, te = (np.flatnonzero(part == k) for k in ("train", "valid", "test"))
    y = ds.labels
    fit = fit_head(x[tr], y[tr], n_classes=ds.n_classes, random_state=0,
                   validation=(x[va], y[va]), **options)
    return fit, x, y, tr, va, te


def _per_class(y, pred, n_classes=3):
    """Per-class accuracy by a loop (the oracle of the vectorised scores)."""
    return np.array([np.mean(pred[y == j] == j) for j in range(n_classes)])


def test_sampler_option_is_trained_with_and_recorded(npy_input, capsys):
    rc, stdout, err = _run([*npy_input, "--sampler", "square-root", "--epochs", "3"], capsys)
    assert rc == 0, err
    record = json.loads(stdout)
    assert record["params"]["sampler"] == "square-root"
    assert record["provenance"]["choices"]["sampler"] == {"name": "square-root", "how": "given"}
    # the option reaches training: the test metrics are those of a square-root-sampled head
    fit, x, y, _, _, te = _refit(npy_input, sampler="square-root", epochs=3)
    balanced = _per_class(y[te], fit.predict(x[te])).mean()
    assert record["metrics"]["balanced"] == pytest.approx(balanced)
    instance, *_ = _refit(npy_input, sampler="instance", epochs=3)
    assert not np.allclose(instance.logits(x[te]), fit.logits(x[te]))
    rc, stdout, err = _run([*npy_input, "--recipe", "crt", "--epochs", "2"], capsys)
    assert rc == 0, err
    assert json.loads(stdout)["provenance"]["choices"]["sampler"] == {
        "name": "class-balanced", "how": "recipe default (crt)"}


@pytest.mark.parametrize(
    ("extra", "head"),
    [([], {}), (["--hidden", "4"], {"hidden": 4}),
     (["--recipe", "ldam-drw"], {"classifier": "cosine"})],
)
def test_parameter_count_is_that_of_the_head_built_with_the_same_options(
        npy_input, capsys, extra, head):
    from assay.torch import LightHead

    rc, stdout, err = _run([*npy_input, *extra, "--epochs", "1"], capsys)
    assert rc == 0, err
    prov = json.loads(stdout)["provenance"]
    model = LightHead(5, 3, **head)  # 5 features, 3 classes
    n = sum(p.numel() for p in model.parameters())
    assert prov["head_parameters"] == {"trainable": n, "total": n}
    assert prov["params_trained"] == n


def test_tau_norm_auto_picks_the_best_tau_of_its_grid_on_valid(npy_input, capsys):
    import torch

    from assay.torch import tau_normalize

    rc, stdout, err = _run([*npy_input, "--tau-norm", "auto", "--epochs", "4"], capsys)
    assert rc == 0, err
    record = json.loads(stdout)
    choice = record["provenance"]["choices"]["tau_norm"]
    grid = [round(0.1 * k, 10) for k in range(21)]
    assert choice["grid"] == grid and choice["metric"] == "balanced_accuracy"
    assert choice["how"] == ("auto on valid split (30 rows), metric balanced_accuracy, grid "
                             "[0, 0.1, ..., 2] (21 values)")
    assert record["provenance"]["selection"]["tau_norm"] == "validation"
    # brute force: every tau of the grid, balanced accuracy on the valid rows by a loop
    fit, x, y, _, va, te = _refit(npy_input, epochs=4)
    scores = [_per_class(y[va], tau_normalize(fit.model, t)(torch.from_numpy(x[va]))
                         .argmax(1).numpy()).mean() for t in grid]
    best = grid[int(np.argmax(scores))]  # first maximum: ties go to the smallest tau
    assert choice["value"] == best == record["params"]["tau_norm"]
    np.testing.assert_allclose(choice["scores"], scores, atol=1e-6)
    normed = tau_normalize(fit.model, best)
    pred = normed(torch.from_numpy(x[te])).argmax(1).numpy()
    assert record["metrics"]["balanced"] == pytest.approx(_per_class(y[te], pred).mean())


def test_tau_norm_given_and_combined_with_logit_adjustment(npy_input, capsys):
    rc, stdout, err = _run([*npy_input, "--tau-norm", "1", "--posthoc-tau", "0.5",
                            "--epochs", "2"], capsys)
    assert rc == 0, err
    prov = json.loads(stdout)["provenance"]
    assert prov["choices"]["tau_norm"] == {"value": 1.0, "chosen": "given", "how": "given"}
    assert prov["choices"]["posthoc_tau"] == {"value": 0.5, "chosen": "given", "how": "given"}
    assert prov["selection"] == {"tau": "fixed", "tau_norm": "fixed", "checkpoint": "validation"}
    assert prov["choices"]["target_prior"]["source"] == "uniform"
    assert prov["choices"]["target_prior"]["chosen"] == "default"


def test_target_prior_adjusts_logits_to_log_p_plus_log_q_over_pi(npy_input, tmp_path, capsys):
    import torch

    from assay.longtail import adjust_logits

    q = {"c0": 0.2, "c1": 0.3, "c2": 0.5}
    (tmp_path / "q.json").write_text(json.dumps(q))
    rc, stdout, err = _run([*npy_input, "--posthoc-tau", "1", "--target-prior",
                            str(tmp_path / "q.json"), "--epochs", "3"], capsys)
    assert rc == 0, err
    record = json.loads(stdout)
    choice = record["provenance"]["choices"]["target_prior"]
    assert choice["source"] == f"file:{tmp_path / 'q.json'}" and choice["chosen"] == "given"
    assert choice["shares"] == q and record["params"]["target_prior"] == choice["source"]
    fit, x, y, tr, _, te = _refit(npy_input, epochs=3)
    logits = fit.logits(x[te])
    pi = np.array([120, 30, 8]) / 158  # the train split's class shares
    qv = np.array([0.2, 0.3, 0.5])
    log_p = torch.log_softmax(torch.from_numpy(logits), dim=1).numpy()
    by_hand = log_p + np.log(qv / pi)
    adjusted = adjust_logits(logits, np.bincount(y[tr]) / tr.size, target_prior=qv, tau=1.0)
    # equal up to each row's softmax normaliser (log-sum-exp), which changes no prediction
    lse = np.log(np.exp(logits).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(adjusted - lse, by_hand, atol=1e-9)
    pred = by_hand.argmax(axis=1)
    acc = _per_class(y[te], pred)
    assert record["metrics"]["balanced"] == pytest.approx(acc.mean())
    assert record["metrics"]["target_prior_accuracy"] == pytest.approx(float(qv @ acc))


def test_target_prior_auto_tau_maximises_accuracy_under_the_prior(npy_input, tmp_path, capsys):
    (tmp_path / "q.csv").write_text("class,share\nc0,0.6\nc1,0.3\nc2,0.1\n")
    rc, stdout, err = _run([*npy_input, "--posthoc-tau", "auto", "--prior",
                            str(tmp_path / "q.csv"), "--epochs", "3"], capsys)
    assert rc == 0, err
    choice = json.loads(stdout)["provenance"]["choices"]["posthoc_tau"]
    assert choice["metric"] == "target_prior_accuracy" and choice["chosen"] == "auto"
    fit, x, y, tr, va, _ = _refit(npy_input, epochs=3)
    f = fit.logits(x[va])
    log_pi, log_q = np.log(np.bincount(y[tr]) / tr.size), np.log([0.6, 0.3, 0.1])
    scores = [float(np.array([0.6, 0.3, 0.1]) @ _per_class(
        y[va], (f - t * log_pi + t * log_q).argmax(axis=1))) for t in choice["grid"]]
    assert choice["value"] == choice["grid"][int(np.argmax(scores))]
    np.testing.assert_allclose(choice["scores"], scores, atol=1e-6)


def test_target_prior_train_and_uniform_keywords(npy_input, capsys):
    rc, stdout, err = _run([*npy_input, "--target-prior", "train", "--epochs", "1"], capsys)
    assert rc == 0, err
    record = json.loads(stdout)
    shares = record["provenance"]["choices"]["target_prior"]["shares"]
    np.testing.assert_allclose(list(shares.values()), np.array([120, 30, 8]) / 158, atol=1e-8)
    rc, stdout, err = _run([*npy_input, "--target-prior", "uniform", "--epochs", "1"], capsys)
    assert rc == 0, err
    record = json.loads(stdout)
    assert record["provenance"]["choices"]["target_prior"]["chosen"] == "given"
    # under a uniform prior (every class has test rows) accuracy is balanced accuracy
    assert record["metrics"]["target_prior_accuracy"] == pytest.approx(
        record["metrics"]["balanced"])


_PRIOR_FILES = {
    "missing.csv": "class,share\nc0,0.5\nc1,0.5\n",
    "negative.csv": "class,share\nc0,0.6\nc1,0.5\nc2,-0.1\n",
    "sum.csv": "class,share\nc0,0.5\nc1,0.3\nc2,0.1\n",
    "unknown.json": '{"c0": 0.5, "c1": 0.3, "c2": 0.1, "cat": 0.1}',
    "list.json": "[0.2, 0.3, 0.5]",
    "twice.csv": "class,share\nc0,0.5\nc0,0.3\nc2,0.2\n",
    "wide.csv": "class,share,note\nc0,0.5,x\n",
    "text.csv": "class,share\nc0,half\nc1,0.3\nc2,0.2\n",
}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--sampler", "class_balanced"], "Did you mean 'class-balanced'"),
        (["--tau-norm", "lots"], "'--tau-norm' parameter of assay train must be a float >= 0"),
        (["--tau-norm", "-1"], "'--tau-norm' parameter"),
        (["--tau-norm", "1", "--recipe", "ldam-drw"], "classifier is cosine (recipe ldam-drw)"),
        (["--tau-norm", "auto", "--classifier", "cosine"], "Drop --tau-norm"),
        (["--target-prior", "unifrom"], "Did you mean 'uniform'"),
        (["--target-prior", "PRIOR/none.csv"], "No file"),
        (["--target-prior", "PRIOR/missing.csv"], "has no share for class(es) ['c2']"),
        (["--target-prior", "PRIOR/negative.csv"], "gives class 'c2' the share -0.1"),
        (["--target-prior", "PRIOR/sum.csv"], "summing to 0.9, not 1"),
        (["--target-prior", "PRIOR/unknown.json"], "['cat'] that are not in the data"),
        (["--target-prior", "PRIOR/list.json"], "holds a JSON list, not an object"),
        (["--target-prior", "PRIOR/twice.csv"], "lists class 'c0' twice"),
        (["--target-prior", "PRIOR/wide.csv"], "has 3 columns"),
        (["--target-prior", "PRIOR/text.csv"], "the share 'half'"),
    ],
)
def test_new_option_errors_exit_2_in_one_line(npy_input, tmp_path, capsys, extra, message):
    for name, text in _PRIOR_FILES.items():
        (tmp_path / name).write_text(text)
    extra = [e.replace("PRIOR", str(tmp_path)) for e in extra]
    rc, _, err = _run([*npy_input, "--epochs", "1", *extra], capsys)
    assert rc == 2 and message in err, err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").glob("*.json"))


def test_auto_choices_need_valid_rows_of_every_class_the_prior_weighs(frames, tmp_path, capsys):
    table, _ = frames
    no_valid = table[table["part"] != "valid"]
    no_valid.to_parquet(tmp_path / "nv.parquet")
    args = ["train", str(tmp_path / "nv.parquet"), "--label", "y", "--split", "part",
            "--out", str(tmp_path / "r"), "--epochs", "1"]
    rc, _, err = _run([*args, "--tau-norm", "auto"], capsys)
    assert rc == 2 and "--tau-norm auto chooses tau on validation rows" in err
    t = table[~((table["y"] == "c2") & (table["part"] == "valid"))]
    t.to_parquet(tmp_path / "t.parquet")
    args[1] = str(tmp_path / "t.parquet")
    rc, _, err = _run([*args, "--posthoc-tau", "auto", "--target-prior", "train"], capsys)
    assert rc == 2 and "no row of class(es) ['c2']" in err


def test_bad_value_in_a_real_process_is_one_line_without_traceback(npy_input, tmp_path):
    import os
    import subprocess
    import sys

    (tmp_path / "q.csv").write_text(_PRIOR_FILES["missing.csv"])
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "80"}
    proc = subprocess.run([sys.executable, "-m", "assay.cli.main", *npy_input, "--prior",
                           str(tmp_path / "q.csv")], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: Target prior file")
    assert "Traceback" not in proc.stderr + proc.stdout


def test_compare_shows_post_hoc_choices_within_80_columns(npy_input, tmp_path, capsys):
    from assay.cli._common import console

    (tmp_path / "q.csv").write_text("class,share\nc0,0.6\nc1,0.3\nc2,0.1\n")
    for extra in (["--tau-norm", "auto", "--posthoc-tau", "1"],
                  ["--sampler", "progressive", "--target-prior", str(tmp_path / "q.csv"),
                   "--posthoc-tau", "auto"]):
        rc, _, err = _run([*npy_input, "--epochs", "2", *extra], capsys)
        assert rc == 0, err
    rc, stdout, err = _run(["runs", "--compare", "--records", str(tmp_path / "runs"), "--json"],
                           capsys)
    assert rc == 0, err
    board = {r["sampler"]: r for r in json.loads(stdout)}
    assert board["instance"]["tau_norm_how"].startswith("auto on valid split (30 rows)")
    assert board["instance"]["posthoc_tau"] == 1.0 and board["instance"]["posthoc_tau_how"] == (
        "given")
    prog = board["progressive"]
    assert prog["target_prior"] == f"file:{tmp_path / 'q.csv'}" and prog["tau_norm"] is None
    assert "metric target_prior_accuracy" in prog["posthoc_tau_how"]
    assert prog["params_total"] == 18 and prog["target_prior_accuracy"] is not None
    width = console.width
    console.width = 80
    try:
        rc, stdout, err = _run(["runs", "--compare", "--records", str(tmp_path / "runs")],
                               capsys)
    finally:
        console.width = width
    assert rc == 0, err
    part = stdout[stdout.index("Training and post-hoc choices"):]
    assert all(len(line) <= 80 for line in part.splitlines())
    assert "progressive" in part and "file [" in part and "auto on valid split" in part
    assert f"file:{tmp_path / 'q.csv'}" in part.replace("\n", "")


def test_lr_auto_records_the_finder_curve_in_a_real_process(npy_input, tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "80"}
    proc = subprocess.run([sys.executable, "-m", "assay.cli.main", *npy_input, "--lr", "auto",
                           "--epochs", "2"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["params"]["lr"] == "auto" and record["params"]["lr_schedule"] == "one-cycle"
    (finder,) = record["provenance"]["lr_finder"]
    assert finder["rule"] == "min/10" and len(finder["lrs"]) == len(finder["losses"]) > 10
    assert finder["lrs"][0] == pytest.approx(1e-5)
    best = finder["lrs"][int(np.argmin(finder["losses"]))]
    assert finder["suggested_lr"] == pytest.approx(best / 10)
    (path,) = (tmp_path / "runs").glob("*.json")  # the record on disk is the one printed
    assert json.loads(path.read_text())["provenance"]["lr_finder"] == [finder]


def test_fixed_lr_records_no_finder(npy_input, capsys):
    rc, stdout, err = _run([*npy_input, "--lr", "0.01", "--epochs", "1"], capsys)
    assert rc == 0, err
    record = json.loads(stdout)
    assert record["params"]["lr"] == 0.01 and record["params"]["lr_schedule"] == "cosine"
    assert record["provenance"]["lr_finder"] == []


@pytest.mark.parametrize("bad", ["fast", "0", "-1", "nan", "inf"])
def test_bad_lr_exits_2_in_one_line(npy_input, tmp_path, capsys, bad):
    rc, _, err = _run([*npy_input, "--epochs", "1", "--lr", bad], capsys)
    assert rc == 2 and "'--lr' parameter of assay train must be a float > 0 or 'auto'" in err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")
