"""`assay review` refuses bad input with one line and exit code 2 (the server itself is tested in
test_app_api.py and, as a subprocess, in test_app_browser.py)."""

from __future__ import annotations

import pytest

from assay.cli.main import main
from assay.workspace import Workspace

pytest.importorskip("fastapi")


def test_no_workspace(tmp_path, capsys):
    assert main(["review", "-w", str(tmp_path / "none"), "--no-browser"]) == 2
    err = capsys.readouterr().err
    assert "a workspace folder with an audit in it" in err and "Traceback" not in err


def test_no_audit_and_wrong_run(tmp_path, capsys):
    with Workspace.open(tmp_path / "ws") as ws:
        other = ws.start_run("value")
        ws.finish_run(other, status="ok")
    assert main(["review", "-w", str(tmp_path / "ws"), "--no-browser"]) == 2
    assert "has no audit runs" in capsys.readouterr().err
    assert main(["review", "-w", str(tmp_path / "ws"), "--run", other, "--no-browser"]) == 2
    assert "'assay value' run; 'assay review' works on audits" in capsys.readouterr().err


@pytest.mark.parametrize(("args", "message"), [
    (["--port", "70000"], "--port"), (["--quota", "0"], "--quota"),
    (["--reviewer", "x" * 101], "a name of 1 to 100 printable characters"),
    (["--reviewer", "ana\tbo"], "a name of 1 to 100 printable characters")])
def test_bad_options(tmp_path, capsys, args, message):
    assert main(["review", "-w", str(tmp_path), "--no-browser", *args]) == 2
    assert message in capsys.readouterr().err
