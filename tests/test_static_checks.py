"""Static checks as tests: ``ruff check src tests benchmarks`` and ``mypy src/assay`` pass.

Both run as subprocesses from the repository root, so they read the ``[tool.ruff]`` and
``[tool.mypy]`` settings of its ``pyproject.toml``. A check is skipped only when its tool is not
installed (both are in the ``dev`` extra).
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _command(tool: str) -> list[str]:
    """How to run ``tool``: this interpreter's module if installed, else the one on PATH."""
    if importlib.util.find_spec(tool) is not None:
        return [sys.executable, "-m", tool]
    exe = shutil.which(tool)
    if exe is None:
        pytest.skip(f"{tool} is not installed (pip install -e '.[dev]')")
    return [exe]


def _run(args: list[str]) -> None:
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (
        f"`{' '.join(args)}` exited {proc.returncode} in {ROOT}:\n"
        f"{proc.stdout}\n{proc.stderr}"
    )


def test_ruff_check_passes() -> None:
    _run([*_command("ruff"), "check", "src", "tests", "benchmarks"])


@pytest.mark.slow  # about 45 s without a warm .mypy_cache
def test_mypy_passes() -> None:
    _run([*_command("mypy"), "src/assay"])
