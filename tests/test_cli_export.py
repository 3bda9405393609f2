"""``assay export`` on the command line: summary line, --json, user errors as exit 2."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

import assay
from assay.cli.main import main
from assay.workspace import Workspace


def _setup(tmp_path):
    data = tmp_path / "data.tsv"
    pd.DataFrame({"id": np.arange(6), "x": np.arange(6) / 7, "y": [0, 1, 0, 1, 0, 1]}).to_csv(
        data, sep="\t", index=False)
    ds = assay.load(data, label="y", id="id")
    ws = Workspace.open(tmp_path / "ws")
    with ws.hold():
        ws.register_dataset(ds.fingerprint, n_rows=6, source=str(data), roles=ds.roles.to_dict())
        run_id = ws.start_run("audit", fingerprint=ds.fingerprint)
        ws.finish_run(run_id)
        ws.append_decision(1, "relabel", new_label=0, reviewer="ana", run_id=run_id)
        ws.append_decision(2, "remove", reviewer="ana", run_id=run_id)
        ws.append_decision(3, "relabel", new_label=0, reviewer="ana", run_id=run_id)
        ws.append_decision(3, "keep", reviewer="bo", run_id=run_id)
    return ws, run_id, ds


def test_export_summary_line(tmp_path, capsys):
    ws, run_id, ds = _setup(tmp_path)
    out = tmp_path / "v2"
    assert main(["export", "-w", str(ws.path), "--run", run_id[:12], "-o", str(out)]) == 0
    text = " ".join(capsys.readouterr().out.split())
    new_fp = ws.versions()["fingerprint"].iloc[0]
    assert "Exported 5 of 6 rows: 1 relabelled, 1 removed, 0 duplicates removed" in text
    assert "1 conflicts" in text and str(out / "data.tsv") in text
    assert f"fingerprint {new_fp}" in text and f"parent {ds.fingerprint}" in text
    # the loop's next step: re-audit the version (label as audited), then diff against the run
    assert (f"assay audit {out.resolve() / 'data.tsv'} -w {ws.path} --label y" in text
            or f"assay audit {out / 'data.tsv'} -w {ws.path} --label y" in text), text
    assert f"assay diff -w {ws.path} {run_id}" in text
    frame = pd.read_csv(out / "data.tsv", sep="\t")
    assert frame["y"].tolist() == [0, 0, 1, 0, 1] and frame["y"].dtype == np.int64


def test_export_json_and_options(tmp_path, capsys):
    ws, _, ds = _setup(tmp_path)
    out = tmp_path / "v2"
    args = ["export", "-w", str(ws.path), "-o", str(out), "--json", "--policy", "latest",
            "--reviewer", "ana", "--reviewer", "bo"]
    assert main(args) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["parent_fingerprint"] == ds.fingerprint
    assert payload["counts"]["conflicts"] == 0 and payload["counts"]["kept"] == 1
    assert payload["changelog"] == str(out.resolve() / "changelog.json")
    assert assay.load(payload["data_path"], label="y", id="id").fingerprint == payload["fingerprint"]
    # run again into the same folder: refused, then replaced with --force
    assert main(args) == 2
    assert "is not empty" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0


def test_export_user_errors_exit_2(tmp_path, capsys, monkeypatch):
    assert main(["export", "-w", str(tmp_path / "nowhere"), "-o", str(tmp_path / "v2")]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "No assay workspace at" in err and "Traceback" not in err
    ws, _, _ = _setup(tmp_path)
    assert main(["export", "-w", str(ws.path), "-o", str(tmp_path / "v2"), "--policy", "x"]) == 2
    assert "'policy' parameter" in capsys.readouterr().err
    (tmp_path / "data.tsv").write_text("id\tx\ty\n0\t0\t1\n1\t0\t0\n")
    assert main(["export", "-w", str(ws.path), "-o", str(tmp_path / "v2")]) == 2
    assert "changed since run" in capsys.readouterr().err
    # the default workspace comes from $ASSAY_WORKSPACE
    monkeypatch.setenv("ASSAY_WORKSPACE", str(tmp_path / "ws"))
    assert main(["export", "-o", str(tmp_path / "v2")]) == 2
    assert "changed since run" in capsys.readouterr().err


def test_next_step_names_the_exported_predictions(tmp_path):
    """A detection version carries its predicted boxes: the re-audit command passes them."""
    from types import SimpleNamespace

    from assay.cli.export import _next_step

    ws, run_id, ds = _setup(tmp_path)
    res = SimpleNamespace(
        data_path=tmp_path / "v 2" / "instances.json", parent_fingerprint=ds.fingerprint,
        run_id=run_id, changelog={"predictions": {"path": str(tmp_path / "v 2" / "preds.json")}})
    line = _next_step(res, ws.path, explicit_ws=False)
    assert f"assay audit '{tmp_path / 'v 2' / 'instances.json'}' --label y" in line
    assert f"--predictions '{tmp_path / 'v 2' / 'preds.json'}'" in line
    assert line.endswith(f"then compare: assay diff {run_id}")
    res.parent_fingerprint = "unknown"  # no record: the command without --label, no error
    assert "--label" not in _next_step(res, tmp_path / "nowhere", explicit_ws=True)
