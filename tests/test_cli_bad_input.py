"""A corpus of bad inputs over every command: 0 tracebacks, 0 hangs, 0 changed inputs.

The corpus (``tests/_cli_corpus.py``) runs in a subprocess against the dependency versions this
environment resolved, one interpreter for all cases. Every case must end with the exit code a
user expects (2 and one ``error:`` line for a user error), no traceback, within its time limit,
and leave every input file (and a damaged workspace) byte for byte as it was.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from assay.cli.main import app

HERE = Path(__file__).parent

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    out = root / "results.json"
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120", "TERM": "dumb"}
    proc = subprocess.run([sys.executable, str(HERE / "_cli_corpus.py"), str(root / "work"),
                           str(out)], capture_output=True, text=True, timeout=1800, env=env)
    assert out.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text())


def test_corpus_is_large_and_covers_every_command(results):
    assert len(results) >= 120
    commands = {c.name for c in app.registered_commands}
    covered = {r["argv"][0] for r in results}
    assert commands <= covered, commands - covered


def test_no_case_ends_in_a_traceback_a_hang_a_wrong_exit_or_a_changed_input(results):
    bad = {r["name"]: r["problems"] for r in results if r["problems"]}
    assert not bad, json.dumps(bad, indent=1)


def test_a_mistyped_path_leaves_no_workspace_behind(results, tmp_path_factory):
    # "value missing file" ran against ROOT/nodir/x.csv: nothing may be created for it
    assert any(r["name"] == "value missing file" and r["rc"] == 2 for r in results)
    roots = {Path(r["argv"][1]).parent for r in results if r["name"] == "value missing file"}
    assert all(not root.exists() for root in roots)


def test_user_errors_are_one_line_that_says_what_to_do(results):
    errors = [r for r in results if r["rc"] == 2]
    assert len(errors) >= 100
    for r in errors:
        lines = [x for x in r["stderr"].strip().splitlines() if x.startswith("error:")]
        assert len(lines) == 1, r
        assert len(lines[0]) > 30, r  # more than "error: invalid input"
