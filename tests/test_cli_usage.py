"""Usage errors of the ``assay`` CLI: one line on stderr, exit 2, never a traceback.

Run as a user runs it (a subprocess of ``python -m assay.cli.main`` and, when it is on PATH, the
``assay`` console script), so that what typer / click print themselves is checked too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from assay import __version__
from assay.cli import main as cli_main

_ENV = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "CLICOLOR_FORCE")}
_ENV.update({"NO_COLOR": "1", "COLUMNS": "80", "TERM": "dumb"})


def _run(args: list[str], cwd, script: str | None = None) -> subprocess.CompletedProcess:
    cmd = [script] if script else [sys.executable, "-m", "assay.cli.main"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=120, cwd=cwd,
                          env=_ENV)


def _assert_one_line_usage_error(res: subprocess.CompletedProcess, needle: str) -> None:
    err = res.stderr.strip()
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert "Traceback" not in res.stderr
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: ")
    assert needle in err, err


# (arguments, text the one line must contain)
USAGE_ERRORS = [
    (["audti"], "No such command 'audti'. Did you mean 'audit'?"),
    (["sptil", "data.csv"], "Did you mean 'split'?"),
    (["--debug", "audti"], "Did you mean 'audit'?"),
    (["--bogus"], "No such option: --bogus"),
    (["audit"], "Missing argument"),
    (["audit", "data.csv"], "Missing option '--label'"),
    (["audit", "data.csv", "--label", "y", "--bogus"], "No such option: --bogus"),
    (["audit", "data.csv", "--label", "y", "--k", "ten"], "'ten'"),
    (["audit", "data.csv", "--label"], "Option '--label' requires an argument"),
    (["split", "data.csv", "--label", "y"], "'--out'"),
    (["split", "data.csv", "--label", "y", "--out", "o.csv", "--seed", "x"], "'--seed'"),
    (["agree", "data.csv", "--item", "i", "--annotator", "a"], "Missing option '--label'"),
    (["value", "data.csv", "--label", "y", "--k", "many"], "'many'"),
    (["value", "data.csv", "--label", "y", "--nope"], "No such option: --nope"),
    (["curve", "data.csv", "--label", "y", "--target", "high"], "'high'"),
    (["train", "emb.npy", "--label", "y", "--epochs", "0"], "'--epochs'"),
    (["train"], "Missing argument"),
    (["review", "--port", "eighty"], "'eighty'"),
    (["export"], "'--out'"),
    (["report"], "Missing argument"),
    (["runs", "--limit", "0"], "'--limit'"),
    (["show"], "Missing argument"),
    (["show", "a", "b", "c"], "unexpected extra argument"),
    (["diff"], "Missing argument"),
    (["demo", "--noise", "lots"], "'lots'"),
    (["demo", "--json=yes"], "does not take a value"),
]


@pytest.mark.parametrize(("args", "needle"), USAGE_ERRORS, ids=lambda a: " ".join(a)
                         if isinstance(a, list) else None)
def test_usage_error_is_one_line_exit_2(args, needle, tmp_path):
    res = _run(args, tmp_path)
    _assert_one_line_usage_error(res, needle)
    assert "--help' to see the usage." in res.stderr


def test_usage_error_names_the_command_to_ask_for_help(tmp_path):
    res = _run(["split", "data.csv", "--label"], tmp_path)
    assert "Run 'assay split --help'" in res.stderr
    res = _run(["audti"], tmp_path)
    assert "Run 'assay --help'" in res.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["audit", "nope.csv", "--label", "y"],
        ["split", "nope.csv", "--label", "y", "--out", "o.csv"],
        ["value", "nope.csv", "--label", "y"],
        ["agree", "nope.csv", "--item", "i", "--annotator", "a", "--label", "l"],
        ["curve", "nope.csv", "--label", "y"],
    ],
    ids=lambda a: a[0],
)
def test_bad_path_is_one_line_exit_2(args, tmp_path):
    res = _run(args, tmp_path)
    _assert_one_line_usage_error(res, "not found")
    assert "nope.csv" in res.stderr


def test_version(tmp_path):
    res = _run(["--version"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"assay {__version__}"
    assert res.stderr == ""


def test_bare_assay_prints_help_and_exits_2(tmp_path):
    """No command ran: the help goes to stdout, exit 2 (click >= 8.2's code for it)."""
    res = _run([], tmp_path)
    assert res.returncode == 2
    assert "Usage" in res.stdout and "audit" in res.stdout
    assert "Traceback" not in res.stderr and res.stderr.strip() == ""


def test_help_exits_0(tmp_path):
    res = _run(["--help"], tmp_path)
    assert res.returncode == 0 and "Usage" in res.stdout and res.stderr == ""


def test_debug_shows_the_traceback_of_a_user_error(tmp_path):
    res = _run(["--debug", "audit", "nope.csv", "--label", "y"], tmp_path)
    assert res.returncode != 0
    assert "Traceback" in res.stderr and "File not found" in res.stderr


@pytest.mark.skipif(shutil.which("assay") is None, reason="the assay console script is not on PATH")
@pytest.mark.parametrize(
    ("args", "rc", "needle"),
    [
        (["--version"], 0, ""),
        (["audti"], 2, "Did you mean 'audit'?"),
        (["audit", "data.csv", "--bogus"], 2, "No such option: --bogus"),
        (["runs", "--limit", "x"], 2, "'x'"),
    ],
)
def test_console_script(args, rc, needle, tmp_path):
    res = _run(args, tmp_path, script=shutil.which("assay"))
    if rc == 0:
        assert res.returncode == 0 and __version__ in res.stdout, res.stderr
    else:
        _assert_one_line_usage_error(res, needle)


def test_in_process_return_codes(capsys):
    assert cli_main.main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out
    assert cli_main.main([]) == 2
    assert "Usage" in capsys.readouterr().out
    assert cli_main.main(["--debug", "audti"]) == 2  # a usage error: no traceback, even so
    err = capsys.readouterr().err
    assert "Did you mean 'audit'?" in err and len(err.strip().splitlines()) == 1


def test_errors_of_click_itself_are_usage_errors(monkeypatch, capsys):
    """typer < 0.29 raises click's own exception classes, not typer._click's: same handling."""
    click = pytest.importorskip("click")

    def raise_click(args):
        raise click.exceptions.NoSuchOption("--bogus")

    monkeypatch.setattr(cli_main, "_run", raise_click)
    assert cli_main.main(["audit", "data.csv", "--bogus"]) == 2
    err = capsys.readouterr().err
    assert "No such option" in err and "--bogus" in err and len(err.strip().splitlines()) == 1

    def abort(args):
        raise click.exceptions.Abort()

    monkeypatch.setattr(cli_main, "_run", abort)
    assert cli_main.main(["review"]) == 130
