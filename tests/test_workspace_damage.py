"""A damaged workspace database is detected, refused with a way out, and never written to."""

from __future__ import annotations

import hashlib

import pytest

from assay.exceptions import StoreError
from assay.workspace import Workspace


def _digest(path):
    return hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()


@pytest.mark.parametrize("keep", [0.2, 0.5, 0.9])
def test_truncated_database_is_refused_and_left_alone(tmp_path, keep):
    ws = Workspace.open(tmp_path / "ws")
    with ws.hold():  # enough rows that the file spans several blocks
        for i in range(60):
            run_id = ws.start_run("audit", {"i": i, "pad": "x" * 8000})
            ws.finish_run(run_id, summary={"i": i, "pad": "y" * 8000})
    ws.close()
    db = tmp_path / "ws" / "assay.duckdb"
    data = db.read_bytes()
    db.write_bytes(data[: int(len(data) * keep)])
    before = _digest(db)
    with pytest.raises(StoreError) as err:
        w = Workspace.open(tmp_path / "ws")
        w.runs()
        w.start_run("audit")
    message = str(err.value)
    assert "damaged" in message or "not an assay workspace" in message or "Cannot open" in message
    assert _digest(db) == before  # nothing was written into the damaged file
    if "damaged" in message:
        assert "mv " in message and "runs" in message  # how to recover
