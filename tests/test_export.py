"""assay.export: decision semantics, every format's round trip, refusals and crash safety."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import assay
from assay.exceptions import InputValidationError, InvalidParameterError
from assay.export import (
    STAGE_ORDER,
    ExportError,
    export_version,
    resolve_decisions,
)
from assay.workspace import Workspace


# ---------------------------------------------------------------------- helpers
def _table(labels: list) -> pd.DataFrame:
    n = len(labels)
    return pd.DataFrame({
        "id": np.arange(100, 100 + n),
        "x": np.linspace(0.1, 1.0, n) / 3,  # floats that need full precision to round-trip
        # a comma, a quote, non-ASCII and one missing value
        "name": [None if i == 2 else f"r{i} é,\"q\"" for i in range(n)],
        "label": labels,
        "n": np.arange(n, dtype=np.int64) * 7,
    })


def _write(table: pd.DataFrame, path: Path) -> None:
    suffix = path.suffix
    if suffix == ".csv":
        table.to_csv(path, index=False)
    elif suffix == ".tsv":
        table.to_csv(path, index=False, sep="\t")
    elif suffix == ".parquet":
        table.to_parquet(path, index=False)
    elif suffix == ".jsonl":
        table.to_json(path, orient="records", lines=True, double_precision=15)
    else:
        table.to_json(path, orient="records", double_precision=15)


def _audited(tmp_path: Path, data: Path, *, task: str | None = None,
             **roles) -> tuple[Workspace, str, assay.data.Dataset]:
    """Register ``data`` and a finished audit run in a fresh workspace (no real audit: fast)."""
    roles.setdefault("label", "label")
    ds = assay.load(data, **roles)
    ws = Workspace.open(tmp_path / "ws")
    with ws.hold():
        ws.register_dataset(ds.fingerprint, n_rows=ds.n_rows, source=str(data),
                            roles=ds.roles.to_dict())
        run_id = ws.start_run("audit", {"data": str(data)}, fingerprint=ds.fingerprint)
        ws.finish_run(run_id, summary=None if task is None else {"task": task})
    return ws, run_id, ds


def _decisions(rows: list[tuple]) -> pd.DataFrame:
    """Frame of (row_id, reviewer, action, new_label[, stage]) in decision order."""
    cols = ["row_id", "reviewer", "action", "new_label", "stage"]
    frame = pd.DataFrame([r + (None,) * (5 - len(r)) for r in rows], columns=cols)
    frame.insert(0, "decision_id", np.arange(1, len(rows) + 1))
    return frame


# ---------------------------------------------------------------------- decision semantics
def test_resolve_hand_worked():
    d = _decisions([
        ("1", "ana", "relabel", "b"),      # row 1: ana then bo agree -> relabel b
        ("1", "bo", "relabel", "b"),
        ("2", "ana", "relabel", "b"),      # row 2: ana and bo disagree on the label -> conflict
        ("2", "bo", "relabel", "c"),
        ("3", "ana", "remove", None),      # row 3: ana supersedes her own remove with keep
        ("3", "ana", "keep", None),
        ("4", "ana", "remove", None),      # row 4: the expert overrides both reviewers
        ("4", "bo", "keep", None),
        ("4", "eve", "relabel", "a", "expert"),
        ("5", "ana", "keep", None, "expert"),  # row 5: a later review-stage decision loses
        ("5", "bo", "remove", None, "review"),
        ("6", "ana", "defer", None),       # row 6: defer vs keep is a different action
        ("6", "bo", "keep", None),
    ])
    r = resolve_decisions(d).set_index("row_id")
    assert r.loc["1", "action"] == "relabel" and r.loc["1", "new_label"] == "b"
    assert r.loc["1", "reviewers"] == ["ana", "bo"] and r.loc["1", "decision_ids"] == [1, 2]
    assert r.loc["2", "action"] == "conflict" and r.loc["2", "new_label"] is None
    assert r.loc["3", "action"] == "keep" and r.loc["3", "n_superseded"] == 1
    assert r.loc["3", "decision_ids"] == [6]
    assert r.loc["4", "action"] == "relabel" and r.loc["4", "new_label"] == "a"
    assert r.loc["4", "stage"] == "expert" and r.loc["4", "n_superseded"] == 2
    assert r.loc["5", "action"] == "keep"
    assert r.loc["6", "action"] == "conflict"
    assert list(r.index) == ["1", "2", "3", "4", "5", "6"]
    # policy="latest": the most recent decision of the deciding stage wins
    latest = resolve_decisions(d, policy="latest").set_index("row_id")
    assert latest.loc["2", "new_label"] == "c" and latest.loc["6", "action"] == "keep"


def test_resolve_empty_and_without_optional_columns():
    empty = resolve_decisions(_decisions([]))
    assert empty.empty and "action" in empty.columns
    d = _decisions([("1", "ana", "remove")]).drop(columns=["stage"])
    assert resolve_decisions(d)["action"].tolist() == ["remove"]


def test_resolve_refusals():
    with pytest.raises(InputValidationError, match=r"curation stage\(s\) \['triage'\].*row '1'"):
        resolve_decisions(_decisions([("1", "ana", "keep", None, "triage")]))
    with pytest.raises(InputValidationError, match=r"action\(s\) \['merge'\]"):
        resolve_decisions(_decisions([("1", "ana", "merge")]))
    with pytest.raises(InputValidationError, match=r"lacks the column\(s\) \['reviewer'\]"):
        resolve_decisions(_decisions([("1", "ana", "keep")]).drop(columns=["reviewer"]))
    with pytest.raises(InputValidationError, match="must be a pandas DataFrame"):
        resolve_decisions([1, 2])
    with pytest.raises(InvalidParameterError, match="'policy' parameter"):
        resolve_decisions(_decisions([]), policy="majority")


def _brute_force(rows: list[tuple], policy: str) -> dict[str, tuple]:
    """Loop version of the rules: highest stage, each reviewer's last word, agreement."""
    out = {}
    for row in sorted({r[0] for r in rows}):
        mine = [(i, r) for i, r in enumerate(rows) if r[0] == row]
        top = max(STAGE_ORDER[r[4] or "review"] for _, r in mine)
        last: dict[str, tuple] = {}
        order: dict[str, int] = {}
        for i, r in mine:
            if STAGE_ORDER[r[4] or "review"] == top:
                last[r[1]] = r
                order[r[1]] = i
        votes = {(r[2], r[3]) for r in last.values()}
        newest = last[max(order, key=order.get)]
        if policy == "consensus" and len(votes) > 1:
            out[row] = ("conflict", None)
        else:
            out[row] = (newest[2], newest[3])
    return out


_decision = st.tuples(
    st.sampled_from(["1", "2", "3"]),
    st.sampled_from(["ana", "bo", "cy"]),
    st.sampled_from(["keep", "remove", "relabel-a", "relabel-b", "defer"]),
    st.sampled_from([None, "review", "expert"]),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(_decision, min_size=1, max_size=12), st.sampled_from(["consensus", "latest"]))
def test_resolve_matches_brute_force(raw, policy):
    rows = [(r, who, a.split("-")[0], a.split("-")[1] if "-" in a else None, s)
            for r, who, a, s in raw]
    got = resolve_decisions(_decisions(rows), policy=policy)
    want = _brute_force(rows, policy)
    assert {r.row_id: (r.action, r.new_label) for r in got.itertuples()} == want


# ---------------------------------------------------------------------- formats
@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet", ".jsonl", ".json"])
@pytest.mark.parametrize("kind", ["str", "int"])
def test_round_trip_every_format(tmp_path, suffix, kind):
    labels = ["cat", "dog", "cat", "bird", "dog", "cat"] if kind == "str" else [3, 5, 3, 7, 5, 3]
    new = "bird" if kind == "str" else 7
    table = _table(labels)
    data = tmp_path / f"data{suffix}"
    _write(table, data)
    before = data.read_bytes()
    ws, run_id, ds = _audited(tmp_path, data, id="id")
    with ws.hold():
        ws.append_decision(101, "relabel", new_label=new, reviewer="ana", run_id=run_id)
        ws.append_decision(103, "remove", reviewer="ana", run_id=run_id)
        ws.append_decision(104, "keep", reviewer="ana", run_id=run_id)
        ws.append_decision(105, "defer", reviewer="ana", run_id=run_id)

    res = export_version(ws, tmp_path / "v2", run=run_id)

    assert data.read_bytes() == before
    assert res.data_path == (tmp_path / "v2" / data.name).resolve()
    new_ds = assay.load(res.data_path, label="label", id="id")
    out = new_ds.table
    # column order and dtypes kept; integer labels stay integers
    assert list(out.columns) == list(ds.table.columns)
    assert out.dtypes.to_dict() == ds.table.dtypes.to_dict()
    if kind == "int":
        assert out["label"].dtype.kind == "i"
    # row 103 dropped, row 101 relabelled, every other cell as it was
    expected = ds.table[ds.table["id"] != 103].reset_index(drop=True).copy()
    expected.loc[expected["id"] == 101, "label"] = new
    pd.testing.assert_frame_equal(out, expected)
    assert res.fingerprint == new_ds.fingerprint != res.parent_fingerprint
    assert res.counts == {"relabelled": 1, "relabel_same_label": 0, "removed": 1,
                          "duplicates_removed": 0, "dedup_removed": 0, "kept": 1, "deferred": 1,
                          "conflicts": 0,
                          "undecided": 2, "rows_before": 6, "rows_after": 5}
    log = json.loads((tmp_path / "v2" / "changelog.json").read_text())
    assert log["parent_fingerprint"] == ds.fingerprint and log["fingerprint"] == res.fingerprint
    assert log["run_id"] == run_id and log["assay_version"] == assay.__version__
    entry = next(e for e in log["rows"] if e["row_id"] == "101")
    assert entry["action"] == "relabel" and entry["old_label"] == labels[1]
    assert entry["new_label"] == new and entry["reviewers"] == ["ana"]
    assert entry["decision_ids"] == [1]
    assert [e["row_id"] for e in log["rows"]] == ["101", "103", "104", "105"]
    # recorded in the workspace, and the new dataset registered with its path
    with ws.hold():
        _check_recorded(ws, res, ds, data)


def _check_recorded(ws, res, ds, data):
    v = ws.versions()
    assert v["fingerprint"].tolist() == [res.fingerprint]
    assert v["parent_fingerprint"].tolist() == [ds.fingerprint]
    assert json.loads(v["changelog"].iloc[0])["counts"]["removed"] == 1
    assert ws.dataset(res.fingerprint)["source"] == str(res.data_path)
    assert ws.dataset(ds.fingerprint)["source"] == str(data)
    exports = ws.runs(command="export")
    assert exports["status"].tolist() == ["ok"]


def test_csv_bytes_when_nothing_changes(tmp_path):
    """No decisions: a pandas-written CSV comes back byte-identical with the same fingerprint."""
    data = tmp_path / "data.csv"
    _write(_table(["a", "b", "a"]), data)
    ws, run_id, ds = _audited(tmp_path, data)
    res = export_version(ws, tmp_path / "v2")
    assert (tmp_path / "v2" / "data.csv").read_bytes() == data.read_bytes()
    assert res.fingerprint == res.parent_fingerprint == ds.fingerprint
    # the parent's source is not re-pointed at the copy
    assert ws.dataset(ds.fingerprint)["source"] == str(data)
    assert res.counts["undecided"] == 3


def test_row_numbers_without_id_and_categorical_parquet(tmp_path):
    table = _table(["a", "b", "a", "b"]).drop(columns=["id"])
    table["label"] = table["label"].astype("category")
    data = tmp_path / "data.parquet"
    table.to_parquet(data, index=False)
    ws, run_id, _ = _audited(tmp_path, data)
    ws.append_decision(0, "relabel", new_label="c", reviewer="ana", run_id=run_id)
    ws.append_decision(3, "remove", reviewer="ana", run_id=run_id)
    with pytest.raises(InputValidationError, match=r"Row '0' is relabelled to 'c'.*allow-new"):
        export_version(ws, tmp_path / "v2")
    res = export_version(ws, tmp_path / "v2", allow_new_classes=True)
    out = pd.read_parquet(res.data_path)
    assert isinstance(out["label"].dtype, pd.CategoricalDtype)
    assert out["label"].astype(str).tolist() == ["c", "b", "a"]


def test_allow_new_integer_class(tmp_path):
    data = tmp_path / "data.csv"
    _write(_table([1, 2, 1, 2]), data)
    ws, run_id, _ = _audited(tmp_path, data, id="id")
    ws.append_decision(100, "relabel", new_label="x", reviewer="ana", run_id=run_id)
    with pytest.raises(InputValidationError, match="holds integers. Use an integer class"):
        export_version(ws, tmp_path / "v2", allow_new_classes=True)
    ws.append_decision(100, "relabel", new_label="9", reviewer="ana", run_id=run_id)
    res = export_version(ws, tmp_path / "v2", allow_new_classes=True)
    out = pd.read_csv(res.data_path)
    assert out["label"].tolist() == [9, 2, 1, 2] and out["label"].dtype.kind == "i"


def test_regression_relabel_writes_numbers(tmp_path):
    """A regression audit's relabels are numbers: whole ones keep an integer column integer, a
    fraction makes it float, and a value that is not a finite number is refused."""
    data = tmp_path / "data.csv"
    _write(_table(list(range(10, 90, 10))), data)
    ws, run_id, _ = _audited(tmp_path, data, id="id", task="regression")
    ws.append_decision(100, "relabel", new_label="15", reviewer="ana", run_id=run_id)
    ws.append_decision(101, "relabel", new_label=" 20 ", reviewer="ana", run_id=run_id)  # same
    res = export_version(ws, tmp_path / "v2")
    out = pd.read_csv(res.data_path)
    assert out["label"].tolist()[:3] == [15, 20, 30] and out["label"].dtype.kind == "i"
    assert res.counts["relabelled"] == 1 and res.counts["relabel_same_label"] == 1
    ws.append_decision(102, "relabel", new_label="31.5", reviewer="ana", run_id=run_id)
    out = pd.read_csv(export_version(ws, tmp_path / "v3").data_path)
    assert out["label"].tolist()[:3] == [15.0, 20.0, 31.5] and out["label"].dtype.kind == "f"
    ws.append_decision(103, "relabel", new_label="inf", reviewer="ana", run_id=run_id)
    with pytest.raises(InputValidationError, match="holds numbers. Fix the decision"):
        export_version(ws, tmp_path / "v4")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_multilabel_relabel_keeps_the_columns_form(tmp_path, suffix):
    """A multi-label audit's relabels are label sets: written with the column's separator (CSV
    "a|b") or as lists (Parquet), checked against the classes."""
    sets = [["a"], ["a", "b"], [], ["b", "c"], ["c"], ["a", "c"], ["b", "c"], ["a", "b", "c"]]
    table = pd.DataFrame({"id": np.arange(100, 108), "x": np.arange(8.0)})
    data = tmp_path / f"data{suffix}"
    if suffix == ".csv":
        table.assign(label=["|".join(s) for s in sets]).to_csv(data, index=False)
    else:
        table.assign(label=sets).to_parquet(data, index=False)
    ws, run_id, _ = _audited(tmp_path, data, id="id", task="multilabel")
    ws.append_decision(100, "relabel", new_label="c, a", reviewer="ana", run_id=run_id)
    ws.append_decision(102, "relabel", new_label="", reviewer="ana", run_id=run_id)  # same: {}
    ws.append_decision(103, "relabel", new_label='["b"]', reviewer="ana", run_id=run_id)
    res = export_version(ws, tmp_path / "v2")
    assert res.counts["relabelled"] == 2 and res.counts["relabel_same_label"] == 1
    if suffix == ".csv":
        out = pd.read_csv(res.data_path, keep_default_na=False)["label"].tolist()
        assert out == ["a|c", "a|b", "", "b", "c", "a|c", "b|c", "a|b|c"]
    else:
        out = [list(v) for v in pd.read_parquet(res.data_path)["label"]]
        assert out == [["a", "c"], ["a", "b"], [], ["b"], ["c"], ["a", "c"], ["b", "c"],
                       ["a", "b", "c"]]
    ws.append_decision(104, "relabel", new_label="a, purple", reviewer="ana", run_id=run_id)
    with pytest.raises(InputValidationError, match="does not have \\(purple"):
        export_version(ws, tmp_path / "v3")


def test_embeddings_file_is_subset(tmp_path):
    data = tmp_path / "data.csv"
    _write(_table(["a", "b", "a", "b", "a"]), data)
    emb = np.arange(15, dtype=np.float32).reshape(5, 3)
    np.save(tmp_path / "emb.npy", emb)
    ds = assay.load(data, label="label", id="id", embeddings=tmp_path / "emb.npy")
    ws = Workspace.open(tmp_path / "ws")
    ws.register_dataset(ds.fingerprint, n_rows=5, source=str(data), roles=ds.roles.to_dict())
    run_id = ws.start_run("audit", {"data": str(data), "embeddings": str(tmp_path / "emb.npy")},
                          fingerprint=ds.fingerprint)
    ws.finish_run(run_id)
    ws.append_decision(101, "remove", reviewer="ana", run_id=run_id)
    res = export_version(ws, tmp_path / "v2")
    np.testing.assert_array_equal(np.load(tmp_path / "v2" / "emb.npy"), emb[[0, 2, 3, 4]])
    again = assay.load(res.data_path, label="label", id="id", embeddings=tmp_path / "v2" / "emb.npy")
    assert again.fingerprint == res.fingerprint


# ---------------------------------------------------------------------- image folders
def _image_folder(root: Path) -> None:
    from PIL import Image

    colours = {"cat": [(200, 0, 0), (190, 10, 0)], "dog": [(0, 200, 0), (0, 190, 10)],
               "owl": [(0, 0, 200)]}
    for cls, cols in colours.items():
        (root / cls).mkdir(parents=True)
        for i, c in enumerate(cols):
            Image.new("RGB", (8, 8), c).save(root / cls / f"img{i}.png")


def test_image_folder(tmp_path):
    pytest.importorskip("PIL")
    root = tmp_path / "images"
    _image_folder(root)
    ws, run_id, ds = _audited(tmp_path, root)
    paths = ds.table["path"].tolist()
    assert paths == ["cat/img0.png", "cat/img1.png", "dog/img0.png", "dog/img1.png",
                     "owl/img0.png"]
    # cat/img0 -> dog collides with the kept dog/img0; owl/img0 -> cat takes the freed name
    ws.append_decision(0, "relabel", new_label="dog", reviewer="ana", run_id=run_id)
    ws.append_decision(4, "relabel", new_label="cat", reviewer="ana", run_id=run_id)
    ws.append_decision(3, "remove", reviewer="ana", run_id=run_id)
    before = {p: (root / p).read_bytes() for p in paths}

    res = export_version(ws, tmp_path / "v2")

    out = tmp_path / "v2"
    got = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert got == ["cat/img0.png", "cat/img1.png", "dog/img0.png", "dog/img0__from_cat.png"]
    # the same bytes (hard links where the file system allows them)
    assert (out / "dog/img0__from_cat.png").read_bytes() == before["cat/img0.png"]
    assert (out / "cat/img0.png").read_bytes() == before["owl/img0.png"]
    assert os.stat(out / "cat/img1.png").st_ino == os.stat(root / "cat/img1.png").st_ino
    assert {p: (root / p).read_bytes() for p in paths} == before
    assert res.data_path == out.resolve()
    assert assay.load(out, label="label").fingerprint == res.fingerprint
    log = json.loads((out / "changelog.json").read_text())
    moved = {e["row_id"]: (e["old_path"], e["new_path"]) for e in log["rows"] if "new_path" in e}
    assert moved == {"0": ("cat/img0.png", "dog/img0__from_cat.png"),
                     "4": ("owl/img0.png", "cat/img0.png")}
    # the source folder is refused as (or around) the output
    with pytest.raises(ExportError, match="inside the source image folder"):
        export_version(ws, root / "v3", run=run_id)
    with pytest.raises(ExportError, match="is or contains the source"):
        export_version(ws, root, run=run_id, force=True)


def test_image_folder_new_class_name_checked(tmp_path):
    pytest.importorskip("PIL")
    root = tmp_path / "images"
    _image_folder(root)
    ws, run_id, _ = _audited(tmp_path, root)
    ws.append_decision(0, "relabel", new_label="../evil", reviewer="ana", run_id=run_id)
    with pytest.raises(InputValidationError, match="cannot be a class folder name"):
        export_version(ws, tmp_path / "v2", allow_new_classes=True)
    assert not (tmp_path / "evil").exists()


def test_table_with_image_column_links_images(tmp_path):
    pytest.importorskip("PIL")
    _image_folder(tmp_path / "imgs")
    table = pd.DataFrame({"file": ["imgs/cat/img0.png", "imgs/dog/img0.png", "imgs/owl/img0.png"],
                          "label": ["cat", "dog", "owl"]})
    data = tmp_path / "data.csv"
    table.to_csv(data, index=False)
    ws, run_id, _ = _audited(tmp_path, data, image="file")
    ws.append_decision(2, "remove", reviewer="ana", run_id=run_id)
    res = export_version(ws, tmp_path / "v2")
    assert (tmp_path / "v2/imgs/cat/img0.png").exists()
    assert not (tmp_path / "v2/imgs/owl").exists()
    assert pd.read_csv(res.data_path)["file"].tolist() == table["file"].tolist()[:2]


# ---------------------------------------------------------------------- rules through the export
def test_conflict_stage_superseded_and_filters(tmp_path, monkeypatch):
    data = tmp_path / "data.csv"
    _write(_table(["a", "b", "a", "b", "a", "b"]), data)
    ws, run_id, _ = _audited(tmp_path, data, id="id")
    with ws.hold():
        ws.append_decision(100, "relabel", new_label="b", reviewer="ana", run_id=run_id)
        ws.append_decision(100, "relabel", new_label="a", reviewer="bo", run_id=run_id)  # conflict
        ws.append_decision(101, "remove", reviewer="ana", run_id=run_id)
        ws.append_decision(101, "keep", reviewer="ana", run_id=run_id)  # supersedes her remove
        ws.append_decision(102, "remove", reviewer="ana")  # no run: not tied to this version
        ws.append_decision(103, "remove", reviewer="cy", run_id=run_id)
    res = export_version(ws, tmp_path / "v2")
    assert res.counts["conflicts"] == 1 and res.counts["kept"] == 1 and res.counts["removed"] == 1
    assert res.changelog["conflicts"] == ["100"]
    out = pd.read_csv(res.data_path)
    assert out["id"].tolist() == [100, 101, 102, 104, 105]
    assert out["label"].tolist() == ["a", "b", "a", "a", "b"]  # the conflicted row unchanged
    # only bo's decisions: row 100 -> 'a' (unchanged), nothing removed
    only_bo = export_version(ws, tmp_path / "v3", reviewer="bo")
    assert only_bo.counts["relabel_same_label"] == 1 and only_bo.counts["rows_after"] == 6
    # latest wins: bo's relabel to 'a' is the latest on row 100
    latest = export_version(ws, tmp_path / "v4", policy="latest")
    assert latest.counts["conflicts"] == 0
    # a stage column (workspace schema 4): an expert decision overrides the conflict
    real = Workspace.decisions

    def with_stage(self, **kw):
        frame = real(self, **kw)
        frame["stage"] = [None] * (len(frame) - 1) + ["expert"]
        return frame

    ws.append_decision(100, "relabel", new_label="b", reviewer="eve", run_id=run_id)
    monkeypatch.setattr(Workspace, "decisions", with_stage)
    res = export_version(ws, tmp_path / "v5")
    assert res.counts["conflicts"] == 0 and res.counts["relabelled"] == 1
    entry = next(e for e in res.changelog["rows"] if e["row_id"] == "100")
    assert entry["stage"] == "expert" and entry["reviewers"] == ["eve"]
    assert entry["n_superseded"] == 2


def test_duplicate_action_drops_rows(tmp_path, monkeypatch):
    data = tmp_path / "data.csv"
    _write(_table(["a", "b", "a", "b"]), data)
    ws, run_id, _ = _audited(tmp_path, data, id="id")
    ws.append_decision(102, "remove", reviewer="ana", run_id=run_id)
    real = Workspace.decisions

    def as_duplicate(self, **kw):  # the 'duplicate' action and duplicate_of column of schema 4
        frame = real(self, **kw)
        frame["action"] = "duplicate"
        frame["duplicate_of"] = "100"
        return frame

    monkeypatch.setattr(Workspace, "decisions", as_duplicate)
    res = export_version(ws, tmp_path / "v2")
    assert res.counts["duplicates_removed"] == 1 and res.counts["removed"] == 0
    assert res.changelog["rows"][0]["duplicate_of"] == "100"
    assert pd.read_csv(res.data_path)["id"].tolist() == [100, 101, 103]


def test_decisions_of_another_version_are_not_applied(tmp_path):
    data = tmp_path / "data.csv"
    _write(_table(["a", "b", "a", "b"]), data)
    ws, run_id, _ = _audited(tmp_path, data, id="id")
    ws.append_decision(100, "remove", reviewer="ana", run_id=run_id)
    first = export_version(ws, tmp_path / "v2")
    # audit the new version, then export it: the old decisions do not apply twice
    v2 = assay.load(first.data_path, label="label", id="id")
    run2 = ws.start_run("audit", fingerprint=v2.fingerprint)
    ws.finish_run(run2)
    second = export_version(ws, tmp_path / "v3")
    assert second.run_id == run2 and second.counts["removed"] == 0
    assert second.fingerprint == first.fingerprint


def test_idempotent(tmp_path):
    data = tmp_path / "data.jsonl"
    _write(_table(["a", "b", "a", "b"]), data)
    ws, run_id, _ = _audited(tmp_path, data, id="id")
    ws.append_decision(100, "relabel", new_label="b", reviewer="ana", run_id=run_id)
    a = export_version(ws, tmp_path / "v2")
    b = export_version(ws, tmp_path / "v3")
    assert a.fingerprint == b.fingerprint
    assert (tmp_path / "v2/data.jsonl").read_bytes() == (tmp_path / "v3/data.jsonl").read_bytes()
    assert len(ws.versions()) == 2


# ---------------------------------------------------------------------- refusals
@pytest.fixture
def csv_ws(tmp_path):
    data = tmp_path / "data.csv"
    _write(_table(["a", "b", "a", "b"]), data)
    ws, run_id, ds = _audited(tmp_path, data, id="id")
    return ws, run_id, data


def test_refuses_missing_source(tmp_path, csv_ws):
    ws, _, data = csv_ws
    moved = tmp_path / "elsewhere.csv"
    data.rename(moved)
    with pytest.raises(ExportError, match=r"no longer exists.*--source PATH"):
        export_version(ws, tmp_path / "v2")
    res = export_version(ws, tmp_path / "v2", source=moved)
    assert res.counts["rows_after"] == 4
    with pytest.raises(ExportError, match="given with --source does not exist"):
        export_version(ws, tmp_path / "v3", source=tmp_path / "nope.csv")


def test_refuses_changed_source(tmp_path, csv_ws):
    ws, _, data = csv_ws
    copy = tmp_path / "copy.csv"
    copy.write_bytes(data.read_bytes())
    data.write_text(data.read_text().replace(",a,", ",b,", 1))
    with pytest.raises(ExportError, match=r"changed since run .* fingerprint is now .*--source"):
        export_version(ws, tmp_path / "v2")
    assert not (tmp_path / "v2").exists()
    assert export_version(ws, tmp_path / "v2", source=copy).counts["rows_after"] == 4
    with pytest.raises(ExportError, match="changed since run"):
        export_version(ws, tmp_path / "v3", source=data)


def test_refuses_unsafe_or_busy_out(tmp_path, csv_ws):
    ws, run_id, data = csv_ws
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    with pytest.raises(ExportError, match=r"is not empty.*--force"):
        export_version(ws, busy)
    assert (busy / "keep.txt").read_text() == "mine"
    with pytest.raises(ExportError, match="is or contains the source"):
        export_version(ws, data)
    with pytest.raises(ExportError, match="is or contains the source"):
        export_version(ws, tmp_path, force=True)
    with pytest.raises(ExportError, match="is or contains the workspace"):
        export_version(ws, ws.path, force=True)
    with pytest.raises(ExportError, match="is a file"):
        export_version(ws, tmp_path / "ws" / "assay.duckdb")
    with pytest.raises(ExportError, match="parent folder .* does not exist"):
        export_version(ws, tmp_path / "no" / "such" / "v2")
    # --force replaces it; an empty folder is fine without
    res = export_version(ws, busy, force=True)
    assert sorted(p.name for p in busy.iterdir()) == ["changelog.json", "data.csv"]
    (tmp_path / "empty").mkdir()
    assert export_version(ws, tmp_path / "empty").path == (tmp_path / "empty").resolve()
    assert res.counts["rows_after"] == 4
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_refuses_bad_decisions(tmp_path, csv_ws):
    ws, run_id, _ = csv_ws
    ws.append_decision(999, "remove", reviewer="ana", run_id=run_id)
    with pytest.raises(InputValidationError, match=r"rows not in the dataset \(row ids \['999'\]\).*'id'"):
        export_version(ws, tmp_path / "v2")


def test_refuses_unknown_class(tmp_path, csv_ws):
    ws, run_id, _ = csv_ws
    ws.append_decision(101, "relabel", new_label="zebra", reviewer="ana", run_id=run_id)
    with pytest.raises(InputValidationError, match=r"Row '101' is relabelled to 'zebra', .*\(a, b\)"):
        export_version(ws, tmp_path / "v2")
    assert not (tmp_path / "v2").exists()
    res = export_version(ws, tmp_path / "v2", allow_new_classes=True)
    assert pd.read_csv(res.data_path)["label"].tolist() == ["a", "zebra", "a", "b"]


def test_refuses_empty_or_single_class_result(tmp_path, csv_ws):
    ws, run_id, _ = csv_ws
    for row in (101, 103):
        ws.append_decision(row, "remove", reviewer="ana", run_id=run_id)
    with pytest.raises(InputValidationError, match=r"would all have one class \('a'\)"):
        export_version(ws, tmp_path / "v2")
    for row in (100, 102):
        ws.append_decision(row, "remove", reviewer="ana", run_id=run_id)
    with pytest.raises(InputValidationError, match="remove every one of the 4 rows"):
        export_version(ws, tmp_path / "v2")


def test_refuses_bad_workspace_run_and_parameters(tmp_path, csv_ws):
    ws, _, _ = csv_ws
    with pytest.raises(ExportError, match="No assay workspace at"):
        export_version(tmp_path / "none", tmp_path / "v2")
    empty = Workspace.open(tmp_path / "ws2")
    with pytest.raises(ExportError, match="has no audit run yet"):
        export_version(empty, tmp_path / "v2")
    other = ws.start_run("curve")
    ws.finish_run(other)
    with pytest.raises(ExportError, match=r"has no dataset, so there is nothing to export"):
        export_version(ws, tmp_path / "v2", run=other)
    with pytest.raises(InvalidParameterError, match="'policy' parameter of export_version"):
        export_version(ws, tmp_path / "v2", policy="vote")
    with pytest.raises(InvalidParameterError, match="'reviewer' parameter"):
        export_version(ws, tmp_path / "v2", reviewer=[])
    with pytest.raises(InvalidParameterError, match="'force' parameter"):
        export_version(ws, tmp_path / "v2", force="yes")
    with pytest.raises(InvalidParameterError, match="'workspace' parameter"):
        export_version(3, tmp_path / "v2")
    with pytest.raises(ExportError, match="opened read-only"):
        export_version(Workspace.open(ws.path, read_only=True), tmp_path / "v2")


def test_refuses_dataframe_audits_without_source(tmp_path):
    ds = assay.load(_table(["a", "b", "a"]), label="label")
    ws = Workspace.open(tmp_path / "ws")
    ws.register_dataset(ds.fingerprint, n_rows=3, roles=ds.roles.to_dict())
    ws.finish_run(ws.start_run("audit", fingerprint=ds.fingerprint))
    with pytest.raises(ExportError, match=r"in-memory table\). Pass --source PATH"):
        export_version(ws, tmp_path / "v2")


# ---------------------------------------------------------------------- crash safety
def test_crash_while_writing_leaves_nothing(tmp_path, csv_ws, monkeypatch):
    ws, run_id, data = csv_ws
    ws.append_decision(101, "relabel", new_label="a", reviewer="ana", run_id=run_id)
    import assay.export as ex

    real = ex._write_table

    def crash(table, path, kind):
        real(table.iloc[:1], path, kind)  # half the data is on disk...
        raise OSError("disk full")  # ...when the writer dies

    monkeypatch.setattr(ex, "_write_table", crash)
    with pytest.raises(OSError, match="disk full"):
        export_version(ws, tmp_path / "v2")
    assert not (tmp_path / "v2").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".v2")]
    assert ws.versions().empty
    assert ws.runs(command="export")["status"].tolist() == ["error"]


def test_crash_while_recording_removes_the_version(tmp_path, csv_ws, monkeypatch):
    ws, _, _ = csv_ws

    def fail(self, *a, **kw):
        raise OSError("store gone")

    monkeypatch.setattr(Workspace, "record_version", fail)
    with pytest.raises(OSError, match="store gone"):
        export_version(ws, tmp_path / "v2")
    assert not (tmp_path / "v2").exists()


# ---------------------------------------------------------------------- documentation
def test_docs_example_runs(capsys):
    import re

    doc = Path(__file__).resolve().parents[1] / "docs" / "export.md"
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(), flags=re.S)
    assert blocks
    for code in blocks:
        exec(compile(code, str(doc), "exec"), {})  # noqa: S102 - our own documentation
    assert capsys.readouterr().out.split("\n")[:2] == ["1 1 1", "['a', 'a', 'b']"]


def test_relative_source_found_beside_the_workspace(tmp_path, monkeypatch):
    """`assay audit data.csv` records a relative path; export finds it from another folder."""
    data = tmp_path / "data.csv"
    _write(_table(["a", "b", "a"]), data)
    monkeypatch.chdir(tmp_path)
    ws, run_id, _ = _audited(tmp_path, Path("data.csv"))
    assert ws.dataset(ws.run(run_id)["fingerprint"])["source"] == "data.csv"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    res = export_version(tmp_path / "ws", "v2")
    assert res.data_path == elsewhere / "v2" / "data.csv"
    assert res.changelog["source"] == str(data)
