"""docs/architecture.md, "Adding a check": its two files, run exactly as written there.

The check module and its test are read from the document's code blocks (``# file: NAME``),
written to a fresh folder, and the test runs in a subprocess with that folder on the path: a new
check with its metric, findings, review queue and report section really is two files.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _files() -> dict[str, str]:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## Adding a check", 1)[1].split("\n## ", 1)[0]
    files = {}
    for block in re.findall(r"```python\n(.*?)```", section, flags=re.S):
        first, _, body = block.partition("\n")
        found = re.match(r"# file: (\S+)", first)
        if found:
            files[found.group(1)] = body
    return files


def test_the_documented_check_is_two_files_and_works(tmp_path):
    files = _files()
    assert sorted(files) == ["rare_values.py", "test_rare_values.py"]
    for name, body in files.items():
        (tmp_path / name).write_text(body, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(tmp_path), str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
         str(tmp_path / "test_rare_values.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert "1 passed" in res.stdout


def test_the_documented_check_keeps_the_common_invariants(tmp_path, monkeypatch):
    """The example check flags what it should, leaves its input alone, ignores row order."""
    files = _files()
    (tmp_path / "rare_values.py").write_text(files["rare_values.py"], encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    import numpy as np

    from assay.checks import registered_checks, unregister_check

    sys.modules.pop("rare_values", None)
    importlib.import_module("rare_values")
    try:
        assert "rare_values" in registered_checks()
        import pandas as pd

        import assay

        rng = np.random.default_rng(0)
        n = 120
        table = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "x": rng.normal(size=n),
                              "site": rng.choice(["north", "south"], n), "y": ["a", "b"] * 60})
        table.loc[[3, 50], "site"] = ["nowhere", "souht"]
        before = table.copy()
        res = assay.audit(table, label="y", id="id", features=["x", "site"],
                          checks=["rare_values"])
        pd.testing.assert_frame_equal(table, before)  # inputs untouched
        check = res.checks["rare_values"]
        assert check.status == "warn" and res.metrics()["rare_value"] == 2 / n
        flagged = set(res.issues.loc[res.issues["has_rare_value"], "id"])
        assert flagged == {"r3", "r50"}
        order = rng.permutation(n)  # row-order invariant
        again = assay.audit(table.iloc[order].reset_index(drop=True), label="y", id="id",
                            features=["x", "site"], checks=["rare_values"])
        assert set(again.issues.loc[again.issues["has_rare_value"], "id"]) == flagged
    finally:
        unregister_check("rare_values")
        sys.modules.pop("rare_values", None)
