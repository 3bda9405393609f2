"""Every Python example in docs/curves.md runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "curves.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S) if DOC.exists() else []


# Examples that train models are slow on a shared 2-core machine; the others run by default.
CASES = [pytest.param(b, marks=pytest.mark.slow) if "learning_curve(" in b else b for b in BLOCKS]


@pytest.mark.parametrize("code", CASES, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_doc_example_runs(code, capsys):
    exec(compile(code, str(DOC), "exec"), {})  # noqa: S102 - our own documentation
    assert capsys.readouterr().out


def test_docs_have_examples():
    assert len(BLOCKS) >= 2
