"""Store round trips, validation messages, artifact reuse and locking of assay.workspace."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from assay.exceptions import InputValidationError, InvalidParameterError, StoreError
from assay.workspace import SCHEMA_VERSION, Workspace, default_workspace, open_workspace


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    # Held: one connection for the whole test (opening DuckDB costs ~50-100 ms per call).
    # Tests that need the per-call connections open their own workspace.
    with Workspace.open(tmp_path / "ws") as w, w.hold():
        yield w


def _findings(n: int = 6, *, check: str = "label", seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "row_id": np.arange(n, dtype=np.int64) * 10,
        "check": check,
        "score": rng.random(n),
        "flag": rng.random(n) < 0.5,
        "suggested_label": rng.integers(0, 3, n),
        "given": [f"c{i}" for i in rng.integers(0, 3, n)],
        "distance": rng.random(n).astype(np.float64),
    })


# ---------------------------------------------------------------- opening


def test_create_open_and_reopen(tmp_path):
    path = tmp_path / "deep" / "ws"
    ws = open_workspace(path)
    assert (path / "assay.duckdb").is_file()
    assert (path / "artifacts").is_dir()
    assert ws.schema_version == SCHEMA_VERSION
    ws.close()
    with pytest.raises(StoreError, match="is closed"):
        ws.runs()
    with Workspace.open(path, create=False) as again:
        assert again.schema_version == SCHEMA_VERSION
        assert "read-write" in repr(again)


def test_missing_workspace_without_create(tmp_path):
    with pytest.raises(StoreError, match=r"No assay workspace at .*assay\.duckdb is missing"):
        Workspace.open(tmp_path / "nope", create=False)
    with pytest.raises(StoreError, match="No assay workspace"):
        Workspace.open(tmp_path / "nope", read_only=True)
    assert not (tmp_path / "nope").exists()


def test_path_is_a_file(tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("a\n1\n")
    with pytest.raises(StoreError, match="is a file, but a workspace is a folder"):
        Workspace.open(f)


def test_not_a_duckdb_file(tmp_path):
    (tmp_path / "assay.duckdb").write_bytes(b"hello, not a database" * 200)
    with pytest.raises(StoreError, match="not an assay workspace database"):
        Workspace.open(tmp_path)


def test_foreign_duckdb_file(tmp_path):
    import duckdb

    con = duckdb.connect(str(tmp_path / "assay.duckdb"))
    con.execute("CREATE TABLE other (x INTEGER)")
    con.close()
    with pytest.raises(StoreError, match="DuckDB file but not an assay workspace"):
        Workspace.open(tmp_path)


def test_bad_lock_timeout(tmp_path):
    with pytest.raises(InvalidParameterError, match="'lock_timeout' parameter of Workspace.open"):
        Workspace.open(tmp_path, lock_timeout=-1)


def test_default_workspace(tmp_path, monkeypatch):
    monkeypatch.delenv("ASSAY_WORKSPACE", raising=False)
    assert default_workspace(tmp_path / "data.csv") == tmp_path.resolve() / ".assay"
    monkeypatch.chdir(tmp_path)
    assert default_workspace() == tmp_path / ".assay"
    monkeypatch.setenv("ASSAY_WORKSPACE", str(tmp_path / "elsewhere"))
    assert default_workspace(tmp_path / "data.csv") == tmp_path / "elsewhere"


# ---------------------------------------------------------------- datasets and runs


def test_dataset_round_trip(ws):
    schema = {"text": "str", "y": "int64"}
    ws.register_dataset("fp-1", n_rows=5, source=Path("a/b.csv"), schema=schema,
                        roles={"label": "y", "text": "text"})
    got = ws.dataset("fp-1")
    assert got["n_rows"] == 5 and got["source"] == "a/b.csv" and got["schema"] == schema
    assert got["created"].tzinfo is not None
    # idempotent; later source and roles win; created is kept
    ws.register_dataset("fp-1", n_rows=5, source="c.csv", roles={"label": "y"})
    again = ws.dataset("fp-1")
    assert again["source"] == "c.csv" and again["roles"] == {"label": "y"}
    assert again["created"] == got["created"]
    assert ws.dataset("unknown") is None
    assert list(ws.datasets()["fingerprint"]) == ["fp-1"]


def test_dataset_validation(ws):
    ws.register_dataset("fp", n_rows=3)
    with pytest.raises(InputValidationError, match="registered with 3 rows, but n_rows=4"):
        ws.register_dataset("fp", n_rows=4)
    with pytest.raises(InvalidParameterError, match="'n_rows' parameter of register_dataset"):
        ws.register_dataset("fp2", n_rows=-1)
    with pytest.raises(InvalidParameterError, match="'fingerprint' parameter must be a non-empty"):
        ws.register_dataset("has space", n_rows=1)
    with pytest.raises(InvalidParameterError, match=r"'roles\['f'\]' parameter must be JSON"):
        ws.register_dataset("fp3", n_rows=1, roles={"f": object()})


def test_run_round_trip(ws):
    ws.register_dataset("fp", n_rows=4)
    params = {"k": np.int64(10), "thresholds": np.array([0.1, 0.5]), "nan": float("nan"),
              "nested": {"a": [1, 2]}, "flag": np.bool_(True)}
    run_id = ws.start_run("audit", params, fingerprint="fp")
    assert ws.run(run_id)["status"] == "running"
    ws.finish_run(run_id, status="ok", summary={"label": {"status": "warn", "n": 3}},
                  timings={"features": 0.25, "total": 1}, provenance={"threshold": "default"})
    info = ws.run(run_id)
    assert info["params"] == {"k": 10, "thresholds": [0.1, 0.5], "nan": None,
                              "nested": {"a": [1, 2]}, "flag": True}
    assert info["summary"] == {"label": {"status": "warn", "n": 3}}
    assert info["timings"] == {"features": 0.25, "total": 1}
    assert info["provenance"] == {"threshold": "default"}
    assert info["status"] == "ok" and info["fingerprint"] == "fp" and info["command"] == "audit"
    assert info["finished"] >= info["started"] and info["duration_s"] >= 0
    import importlib.metadata as md

    for pkg in ("assay", "numpy", "scipy", "pandas", "scikit-learn", "duckdb"):
        assert info["versions"][pkg] == md.version(pkg)
    assert ("torch" in info["versions"]) == ("torch" in sys.modules)


@pytest.mark.slow
def test_versions_never_import_torch(tmp_path):
    code = textwrap.dedent(f"""
        import sys
        from assay.workspace import Workspace
        ws = Workspace.open({str(tmp_path)!r})
        run_id = ws.start_run("x")
        assert "torch" not in sys.modules, "start_run imported torch"
        assert "torch" not in ws.run(run_id)["versions"]
    """)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_run_validation(ws):
    with pytest.raises(InvalidParameterError, match="'command' parameter of start_run"):
        ws.start_run("  ")
    with pytest.raises(InvalidParameterError, match="'params' parameter of start_run"):
        ws.start_run("audit", [1, 2])
    with pytest.raises(InputValidationError, match="Dataset nope is not registered"):
        ws.start_run("audit", fingerprint="nope")
    run_id = ws.start_run("audit")
    with pytest.raises(InvalidParameterError, match="'status' parameter of finish_run must be one"):
        ws.finish_run(run_id, status="done")
    with pytest.raises(InvalidParameterError, match="'timings' parameter of finish_run"):
        ws.finish_run(run_id, timings={"a": "slow"})
    with pytest.raises(InputValidationError, match="Run 'zzz' does not exist"):
        ws.finish_run("zzz")
    ws.finish_run(run_id)
    with pytest.raises(StoreError, match="already finished .*immutable"):
        ws.finish_run(run_id)
    with pytest.raises(StoreError, match="already finished"):
        ws.record_findings(run_id, _findings())


def test_runs_listing_and_resolution(ws):
    with ws.hold():
        ids = []
        for cmd in ("audit", "value", "audit"):
            ids.append(ws.start_run(cmd))
            time.sleep(0.002)
        ws.finish_run(ids[0], status="error", summary={"error": "boom"})
    frame = ws.runs()
    assert list(frame["run_id"]) == ids[::-1]
    assert list(frame.columns) == ["run_id", "command", "status", "started", "finished",
                                   "fingerprint", "n_findings", "duration_s"]
    assert frame.set_index("run_id").loc[ids[0], "status"] == "error"
    assert list(ws.runs(command="audit")["run_id"]) == [ids[2], ids[0]]
    assert len(ws.runs(limit=1)) == 1
    with pytest.raises(InvalidParameterError, match="'limit' parameter of runs"):
        ws.runs(limit=0)
    assert ws.resolve_run("latest") == ids[2]
    assert ws.resolve_run(ids[1]) == ids[1]
    with pytest.raises(InputValidationError, match="ambiguous; it matches"):
        ws.resolve_run(ids[0][:4])
    with pytest.raises(InputValidationError, match="No run 'nothing'"):
        ws.resolve_run("nothing")


def test_resolve_latest_in_empty_workspace(ws):
    with pytest.raises(InputValidationError, match="has no runs yet"):
        ws.resolve_run("latest")


def test_record_run_context(ws):
    with ws.record_run("curve", {"target": 0.9}) as rec:
        with rec.step("fit"):
            rec.summary["n"] = 4
    ok = ws.run(rec.run_id)
    assert ok["status"] == "ok" and ok["summary"] == {"n": 4}
    assert set(ok["timings"]) == {"fit", "total"} and ok["timings"]["total"] >= ok["timings"]["fit"]
    with pytest.raises(ZeroDivisionError):
        with ws.record_run("curve") as failing:
            _ = 1 / 0
    bad = ws.run(failing.run_id)
    assert bad["status"] == "error"
    assert bad["summary"]["error"].startswith("ZeroDivisionError")


@pytest.mark.slow
def test_dead_running_run_is_interrupted(tmp_path):
    code = f"from assay.workspace import Workspace; print(Workspace.open({str(tmp_path)!r}).start_run('audit'))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True, timeout=120)
    run_id = out.stdout.strip()
    with Workspace.open(tmp_path) as ws:
        assert ws.run(run_id)["status"] == "interrupted"
        assert list(ws.runs()["status"]) == ["interrupted"]
        mine = ws.start_run("audit")  # this process is alive: still running
        assert ws.run(mine)["status"] == "running"


# ---------------------------------------------------------------- findings


def test_findings_round_trip_typed(ws):
    run_id = ws.start_run("audit")
    label = _findings(7, check="label")
    label.loc[2, "distance"] = np.nan
    outlier = pd.DataFrame({"row_id": [10, 0], "check": "outlier", "score": [0.3, np.nan],
                            "flag": [True, False], "neighbours": [[1, 2], [3]],
                            "when": pd.to_datetime(["2024-01-01", "2024-02-01"])})
    assert ws.record_findings(run_id, label) == 7
    assert ws.record_findings(run_id, outlier) == 2
    assert ws.run(run_id)["n_findings"] == 9

    got = ws.findings(run_id, check="label", expand_details=True)
    expected = label.copy()
    expected["neighbours"] = None
    expected["when"] = pd.NaT
    pd.testing.assert_frame_equal(
        got[label.columns].reset_index(drop=True), label, check_dtype=False
    )
    assert got["row_id"].dtype == np.int64
    got_o = ws.findings(run_id, check="outlier", expand_details=True)
    assert got_o["neighbours"].map(list).tolist() == [[1, 2], [3]]
    assert list(got_o["when"]) == list(outlier["when"])
    assert np.isnan(got_o["score"].iloc[1])
    assert got_o["suggested_label"].isna().all()  # columns of another check are missing here

    raw = ws.findings(run_id)
    assert list(raw.columns) == ["row_id", "check", "score", "flag", "details"]
    assert json.loads(raw["details"].iloc[0])["given"] == label["given"].iloc[0]
    flagged = ws.findings(run_id, flagged_only=True)
    assert len(flagged) == int(label["flag"].sum()) + 1 and flagged["flag"].all()


def test_findings_string_row_ids_and_minimal_columns(ws):
    run_id = ws.start_run("audit")
    frame = pd.DataFrame({"row_id": ["a", "b<script>", 'c"'], "check": "dup"})
    ws.record_findings(run_id, frame)
    got = ws.findings(run_id, expand_details=True)
    assert got["row_id"].tolist() == ["a", "b<script>", 'c"']
    assert got["score"].isna().all() and got["flag"].isna().all()
    assert ws.record_findings(run_id, frame.iloc[:0].assign(check="empty")) == 0


def test_finding_counts_match_pandas(ws):
    run_id = ws.start_run("audit")
    frames = [_findings(50, check=c, seed=i) for i, c in enumerate(["label", "outlier", "dup"])]
    with ws.hold():
        for f in frames:
            ws.record_findings(run_id, f)
    both = pd.concat(frames)
    expected = both.groupby("check").agg(n_rows=("row_id", "size"), n_flagged=("flag", "sum"),
                                         mean_score=("score", "mean")).reset_index()
    got = ws.finding_counts(run_id)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def test_extra_column_type_conflict_falls_back_to_text(ws):
    run_id = ws.start_run("audit")
    ws.record_findings(run_id, pd.DataFrame({"row_id": [1], "check": "a", "v": [5]}))
    ws.record_findings(run_id, pd.DataFrame({"row_id": [1], "check": "b", "v": ["x"]}))
    got = ws.findings(run_id, expand_details=True)
    assert got["v"].tolist() == ["5", "x"]


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        (pd.DataFrame({"rowid": [1], "check": "a"}),
         r"no column 'row_id'\. Did you mean 'rowid'\? Columns: rowid, check"),
        (pd.DataFrame({"row_id": [1]}), "no column 'check'"),
        (pd.DataFrame({"row_id": [1.0, None], "check": "a"}), "row_id has 1 missing value"),
        (pd.DataFrame({"row_id": [1.5], "check": "a"}), "row_id must hold ints or strings"),
        (pd.DataFrame({"row_id": [1], "check": [None]}), "check must hold the check name"),
        (pd.DataFrame({"row_id": [1, 2], "check": "a", "score": [0.5, 1.5]}),
         r"score must lie in \[0, 1\].*got values from 0\.5 to 1\.5"),
        (pd.DataFrame({"row_id": [1], "check": "a", "score": ["high"]}), "score must be numeric"),
        (pd.DataFrame({"row_id": [1], "check": "a", "flag": [1]}), "flag must be boolean"),
        (pd.DataFrame({"row_id": [1, 1], "check": "a"}), r"repeated \(row_id, check\) pairs"),
        (pd.DataFrame({"row_id": [1], "check": "a", "x": [object()]}),
         "could not be converted for storage"),
        ({"row_id": [1]}, "must be a pandas DataFrame; got dict"),
        (pd.DataFrame([[1, "a", 2]], columns=["row_id", "check", "row_id"]),
         "duplicate column names"),
    ],
)
def test_findings_validation(ws, frame, match):
    run_id = ws.start_run("audit")
    with pytest.raises(InputValidationError, match=match):
        ws.record_findings(run_id, frame)
    assert ws.run(run_id)["n_findings"] == 0


def test_findings_check_recorded_twice_and_row_id_type_change(ws):
    run_id = ws.start_run("audit")
    ws.record_findings(run_id, _findings(3))
    with pytest.raises(InputValidationError, match=r"already has findings for check\(s\) \['label'\]"):
        ws.record_findings(run_id, _findings(3))
    with pytest.raises(InputValidationError, match="row_id has type VARCHAR, but earlier"):
        ws.record_findings(run_id, pd.DataFrame({"row_id": ["a"], "check": "other"}))
    assert ws.run(run_id)["n_findings"] == 3
    with pytest.raises(InputValidationError, match="Run 'missing' does not exist"):
        ws.record_findings("missing", _findings(3))


# ---------------------------------------------------------------- decisions and versions


def test_decisions_append_only(ws):
    run_id = ws.start_run("audit")
    with ws.hold():
        ids = [
            ws.append_decision(5, "relabel", reviewer="ana", run_id=run_id, new_label="dog"),
            ws.append_decision("7", "remove", reviewer="bo", note="blurry </div>"),
            ws.append_decision(5, "keep", reviewer="cy"),
        ]
    assert ids == [1, 2, 3]
    all_ = ws.decisions()
    assert all_["action"].tolist() == ["relabel", "remove", "keep"]
    assert all_["row_id"].tolist() == ["5", "7", "5"]
    assert all_["note"].tolist()[1] == "blurry </div>"
    latest = ws.decisions(latest=True)
    assert latest.set_index("row_id")["action"].to_dict() == {"5": "keep", "7": "remove"}
    assert ws.decisions(run_id=run_id)["decision_id"].tolist() == [1]
    assert ws.decisions(row_id=5)["decision_id"].tolist() == [1, 3]


@pytest.mark.parametrize(
    ("args", "kwargs", "exc", "match"),
    [
        ((1, "fix"), {"reviewer": "a"}, InvalidParameterError,
         "'action' parameter of append_decision must be one of 'keep', 'relabel'"),
        ((1, "relabel"), {"reviewer": "a"}, InputValidationError, "needs new_label"),
        ((1, "keep"), {"reviewer": "a", "new_label": "x"}, InputValidationError,
         "only meaningful for action='relabel'"),
        ((1, "keep"), {"reviewer": ""}, InvalidParameterError, "'reviewer' parameter"),
        ((1.5, "keep"), {"reviewer": "a"}, InvalidParameterError, "'row_id' parameter"),
        ((1, "keep"), {"reviewer": "a", "run_id": "zz"}, InputValidationError,
         "Run 'zz' does not exist"),
    ],
)
def test_decision_validation(ws, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        ws.append_decision(*args, **kwargs)
    assert len(ws.decisions()) == 0


def test_versions(ws):
    assert ws.record_version("fp1", "v1.parquet") == 1
    assert ws.record_version("fp2", Path("v2.parquet"), parent_fingerprint="fp1",
                             changelog={"removed": [3, 4]}) == 2
    v = ws.versions()
    assert v["fingerprint"].tolist() == ["fp1", "fp2"]
    assert v["parent_fingerprint"].isna().tolist() == [True, False]
    assert json.loads(v["changelog"].iloc[1]) == {"removed": [3, 4]}
    with pytest.raises(InvalidParameterError, match="'parent_fingerprint' parameter"):
        ws.record_version("fp3", "x", parent_fingerprint="")


# ---------------------------------------------------------------- read-only mode


def test_read_only_refuses_writes(tmp_path):
    with Workspace.open(tmp_path) as rw:
        rw.register_dataset("fp", n_rows=1)
        run_id = rw.start_run("audit", fingerprint="fp")
    with Workspace.open(tmp_path, read_only=True) as ro:
        assert ro.run(run_id)["command"] == "audit"
        for call in (lambda: ro.start_run("x"), lambda: ro.append_decision(1, "keep", reviewer="a"),
                     lambda: ro.save_artifact("features", "fp", {}, np.zeros(2))):
            with pytest.raises(StoreError, match="read-only"):
                call()
        calls = []
        value = ro.get_or_compute("features", "fp", {}, lambda: calls.append(1) or np.ones(3))
        assert calls == [1] and value.tolist() == [1, 1, 1]
        assert len(ro.artifacts()) == 0  # computed, not stored


# ---------------------------------------------------------------- artifacts


def test_artifacts_reused_not_recomputed(ws):
    calls: list[str] = []

    def make(name, value):
        def compute():
            calls.append(name)
            return value
        return compute

    feats = np.arange(12, dtype=np.float32).reshape(4, 3)
    a = ws.get_or_compute("features", "fp", {"featurizer": "tfidf", "dim": 3}, make("f", feats))
    b = ws.get_or_compute("features", "fp", {"dim": 3, "featurizer": "tfidf"}, make("f2", None))
    assert calls == ["f"] and b.dtype == np.float32 and np.array_equal(a, b)
    # other params, other fingerprint, other kind: each computed once
    ws.get_or_compute("features", "fp", {"featurizer": "tfidf", "dim": 4}, make("g", feats))
    ws.get_or_compute("features", "fp-2", {"featurizer": "tfidf", "dim": 3}, make("h", feats))
    ws.get_or_compute("pred_probs", "fp", {"featurizer": "tfidf", "dim": 3}, make("i", feats))
    assert calls == ["f", "g", "h", "i"]

    knn = {"indices": np.array([[1], [0]], dtype=np.int64),
           "distances": np.array([[0.5], [0.5]], dtype=np.float32)}
    got = ws.get_or_compute("knn", "fp", {"k": 1, "metric": "cosine"}, make("knn", knn))
    again = ws.get_or_compute("knn", "fp", {"k": 1, "metric": "cosine"}, make("knn2", None))
    assert calls[-1] == "knn" and set(again) == {"indices", "distances"}
    assert np.array_equal(again["indices"], got["indices"])
    assert again["distances"].dtype == np.float32

    table = pd.DataFrame({"a": [1, 2], "b": ["x", "</div>"]})
    ws.get_or_compute("issues", "fp", None, make("t", table))
    pd.testing.assert_frame_equal(ws.load_artifact("issues", "fp", None), table)
    listing = ws.artifacts()
    assert len(listing) == 6
    for rel, size in zip(listing["path"], listing["nbytes"], strict=True):
        assert (ws.path / rel).stat().st_size == size
    assert ws.artifact_path("issues", "fp", None).suffix == ".parquet"
    assert ws.artifact_path("issues", "fp", {"x": 1}) is None
    assert not list(ws.path.rglob("*.tmp"))


def test_artifact_missing_or_damaged_file_is_recomputed(ws):
    calls = []
    compute = lambda: calls.append(1) or np.arange(5)  # noqa: E731
    ws.get_or_compute("features", "fp", {}, compute)
    path = ws.artifact_path("features", "fp", {})
    path.write_bytes(path.read_bytes()[:-3])  # truncated
    assert ws.load_artifact("features", "fp", {}) is None
    ws.get_or_compute("features", "fp", {}, compute)
    path.unlink()
    assert ws.get_or_compute("features", "fp", {}, compute).tolist() == [0, 1, 2, 3, 4]
    assert len(calls) == 3 and len(ws.artifacts()) == 1


def test_large_npy_artifact_is_memory_mapped_copy_on_write(ws):
    """From MAP_BYTES an .npy artifact comes back memory-mapped: equal values, pages read from
    disk as used, and writing to it changes neither the file nor the next load."""
    from assay.data import MAP_BYTES

    big = np.random.default_rng(0).random((MAP_BYTES // 8 // 4 + 1, 4))
    ws.get_or_compute("token_probs", "fp", {}, lambda: big)
    got = ws.load_artifact("token_probs", "fp", {})
    assert isinstance(got, np.memmap) and np.array_equal(got, big)
    got[:10] = -1.0  # private to this process
    again = ws.load_artifact("token_probs", "fp", {})
    assert np.array_equal(again, big)
    small = ws.get_or_compute("features", "fp", {}, lambda: np.arange(5.0))
    assert not isinstance(ws.load_artifact("features", "fp", {}), np.memmap)
    assert small.tolist() == [0, 1, 2, 3, 4]


def test_artifact_key_includes_assay_version(ws, monkeypatch):
    calls = []
    compute = lambda: calls.append(1) or np.arange(3)  # noqa: E731
    ws.get_or_compute("features", "fp", {}, compute)
    monkeypatch.setattr(ws._artifacts, "_assay_version", "99.0")
    ws.get_or_compute("features", "fp", {}, compute)
    assert len(calls) == 2


@dataclasses.dataclass(frozen=True)
class _Foreign:
    x: np.ndarray


def test_artifact_assay_dataclasses_round_trip(ws):
    from assay.data import Features
    from assay.neighbors import KnnGraph

    feats = Features(np.eye(3, dtype=np.float32), "tabular", {"columns": ["a", "b"], "d": 3})
    graph = KnnGraph(np.array([[1], [0], [1]]), np.array([[0.1], [0.1], [0.2]], np.float32),
                     "cosine", "exact", {})
    ws.save_artifact("features", "fp", {"m": 1}, feats)
    ws.save_artifact("knn", "fp", {"k": 1}, graph)
    got_f = ws.get_or_compute("features", "fp", {"m": 1}, lambda: pytest.fail("recomputed"))
    got_g = ws.load_artifact("knn", "fp", {"k": 1})
    assert isinstance(got_f, Features) and isinstance(got_g, KnnGraph)
    assert got_f.featurizer == "tabular" and got_f.info == feats.info
    assert np.array_equal(got_f.matrix, feats.matrix) and got_f.matrix.dtype == np.float32
    assert np.array_equal(got_g.indices, graph.indices) and got_g.metric == "cosine"
    assert got_g.k == 1


@pytest.mark.parametrize(
    ("kind", "params", "value", "match"),
    [
        ("Features", {}, np.zeros(2), "'kind' parameter must be a lowercase identifier"),
        ("../x", {}, np.zeros(2), "'kind' parameter"),
        ("features", [1], np.zeros(2), "'params' parameter must be a dict"),
        ("features", {"f": object()}, np.zeros(2), r"'params\['f'\]' parameter must be JSON"),
        ("features", {}, np.array([object()]), "never does"),
        ("features", {}, [1, 2, 3], "must be a numpy array, a pandas DataFrame, a non-empty dict"),
        ("features", {}, {}, "non-empty dict"),
        ("features", {}, _Foreign(np.zeros(2)), "must be a dataclass defined in assay"),
    ],
)
def test_artifact_validation(ws, kind, params, value, match):
    with pytest.raises(InvalidParameterError, match=match):
        ws.get_or_compute(kind, "fp", params, lambda: value)
    assert len(ws.artifacts()) == 0


# ---------------------------------------------------------------- concurrency

_HOLDER = """
import sys, time
from assay.workspace import Workspace
ws = Workspace.open(sys.argv[1])
with ws.hold():
    ws.start_run("holder")
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _start_holder(path: Path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(path), str(seconds)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_writer_gets_clear_error_after_bounded_wait(tmp_path):
    ws = Workspace.open(tmp_path, lock_timeout=0.5)  # holds no lock between calls
    holder = _start_holder(tmp_path, 30)
    try:
        t0 = time.monotonic()
        with pytest.raises(StoreError, match=r"locked by another process \(waited 0.5 s\)"):
            ws.start_run("second")
        waited = time.monotonic() - t0
        assert 0.3 <= waited < 5
        with pytest.raises(StoreError, match="locked by another process"):
            Workspace.open(tmp_path, read_only=True, lock_timeout=0.2)
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.slow
def test_writer_waits_for_lock_then_succeeds(tmp_path):
    ws = Workspace.open(tmp_path, lock_timeout=20)
    holder = _start_holder(tmp_path, 1.0)
    try:
        run_id = ws.start_run("second")  # retried with backoff until the holder lets go
        assert ws.run(run_id)["command"] == "second"
    finally:
        holder.wait(timeout=30)
    assert sorted(ws.runs()["command"]) == ["holder", "second"]


_READER = """
import sys, time
from pathlib import Path
from assay.workspace import Workspace
path, me, n, barrier = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
ws = Workspace.open(path, read_only=True, lock_timeout=60)
with ws.hold():  # the file stays open by this reader until the block ends
    (barrier / me).touch()
    deadline = time.monotonic() + 90
    while len(list(barrier.iterdir())) < n:  # wait until every reader has it open at once
        if time.monotonic() > deadline:
            sys.exit("not all readers got the file open together")
        time.sleep(0.05)
    print(len(ws.findings("latest")), flush=True)
"""


@pytest.mark.slow
def test_concurrent_readers(tmp_path):
    path, barrier = tmp_path / "ws", tmp_path / "barrier"
    barrier.mkdir()
    with Workspace.open(path) as ws:
        run_id = ws.start_run("audit")
        ws.record_findings(run_id, _findings(40))
        ws.finish_run(run_id)
    n = 3
    readers = [subprocess.Popen([sys.executable, "-c", _READER, str(path), str(i), str(n),
                                 str(barrier)], stdout=subprocess.PIPE, text=True)
               for i in range(n)]
    outs = [r.communicate(timeout=180)[0].split() for r in readers]
    # the three readers held the file open simultaneously (the barrier) and each read it all
    assert outs == [["40"]] * n
    assert all(r.returncode == 0 for r in readers)
    with Workspace.open(path, read_only=True) as ro:  # and this process too
        assert len(ro.findings(run_id)) == 40


def test_threads_share_a_workspace(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    ws = Workspace.open(tmp_path)
    run_id = ws.start_run("audit")

    def work(i):
        ws.append_decision(i, "keep", reviewer=f"t{i}")
        return len(ws.runs())

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(work, range(8))) == [1] * 8
    assert sorted(ws.decisions()["decision_id"]) == list(range(1, 9))
    assert ws.run(run_id)["status"] == "running"


# ---------------------------------------------------------------- scale


@pytest.mark.slow
def test_one_million_findings_in_seconds(tmp_path):
    n = 1_000_000
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"row_id": np.arange(n), "check": "label", "score": rng.random(n),
                          "flag": rng.random(n) < 0.05, "suggested_label": rng.integers(0, 10, n)})
    with Workspace.open(tmp_path) as ws:
        run_id = ws.start_run("audit")
        t0 = time.perf_counter()
        ws.record_findings(run_id, frame)
        write_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        back = ws.findings(run_id, expand_details=True)
        read_s = time.perf_counter() - t0
    assert len(back) == n and back["suggested_label"].sum() == frame["suggested_label"].sum()
    assert write_s < 20 and read_s < 20, (write_s, read_s)


def test_other_threads_wait_for_a_hold(tmp_path):
    import threading

    ws = Workspace.open(tmp_path)
    done = []

    def other():
        done.append(ws.start_run("from-thread"))

    with ws.hold():
        ws.start_run("held")
        t = threading.Thread(target=other)
        t.start()
        t.join(timeout=0.5)
        assert t.is_alive() and not done  # blocked until the hold ends
    t.join(timeout=30)
    assert len(done) == 1
    assert sorted(ws.runs()["command"]) == ["from-thread", "held"]
