"""Package-level contracts: light import, curated public names, CLI help."""

from __future__ import annotations

import subprocess
import sys

import assay
from assay.cli.main import main


def test_import_is_light():
    code = ("import sys, assay; heavy = [m for m in ('pandas', 'sklearn', 'torch', 'duckdb', "
            "'faiss', 'sentence_transformers', 'scipy') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_all_is_sorted_and_resolves():
    assert assay.__all__ == sorted(assay.__all__)
    for name in assay.__all__:
        assert getattr(assay, name) is not None


def test_cli_help(capsys):
    assert main(["--help"]) == 0
    assert "audit" in capsys.readouterr().out
