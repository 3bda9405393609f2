"""Schema versions: migrations from every earlier version, refusal of a newer one, atomicity."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from assay.exceptions import StoreError
from assay.workspace import SCHEMA_VERSION, Workspace, _schema

# The schema as version 1 shipped it, frozen here (not imported) so that editing a released
# migration in place, instead of appending a new one, makes the upgrade test fail.
FROZEN_V1 = [
    "CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)",
    "CREATE TABLE datasets (fingerprint VARCHAR PRIMARY KEY, source VARCHAR, n_rows BIGINT NOT "
    "NULL, schema JSON, roles JSON, created TIMESTAMP NOT NULL)",
    "CREATE TABLE runs (run_id VARCHAR PRIMARY KEY, command VARCHAR NOT NULL, params JSON, "
    "versions JSON, fingerprint VARCHAR, status VARCHAR NOT NULL, started TIMESTAMP NOT NULL, "
    "finished TIMESTAMP, timings JSON, summary JSON, provenance JSON, n_findings BIGINT NOT NULL "
    "DEFAULT 0, pid INTEGER, host VARCHAR)",
    'CREATE TABLE findings (run_id VARCHAR NOT NULL, row_id VARCHAR NOT NULL, "check" VARCHAR '
    "NOT NULL, score DOUBLE, flag BOOLEAN, details JSON)",
    "INSERT INTO meta VALUES ('schema_version', '1'), ('written_by', '0.1.0'), "
    "('created_by', '0.1.0')",
]

# Data a workspace of each version can hold; inserted with plain SQL, as that version's code did.
_DATA_V1 = [
    "INSERT INTO datasets VALUES ('fp', 'd.csv', 3, '{\"y\":\"int64\"}', '{\"label\":\"y\"}', "
    "TIMESTAMP '2024-01-01 10:00:00')",
    "INSERT INTO runs (run_id, command, params, versions, fingerprint, status, started, finished, "
    "timings, summary, provenance, n_findings) VALUES ('20240101-100000-abcd', 'audit', "
    "'{\"k\":10}', '{\"assay\":\"0.1.0\"}', 'fp', 'ok', TIMESTAMP '2024-01-01 10:00:00', "
    "TIMESTAMP '2024-01-01 10:00:05', '{\"total\":5.0}', '{\"label\":3}', '{}', 2)",
    "INSERT INTO findings VALUES ('20240101-100000-abcd', '1', 'label', 0.1, true, "
    "'{\"suggested\":2}'), ('20240101-100000-abcd', '2', 'label', 0.9, false, '{\"suggested\":0}')",
]
_DATA_V2 = [
    "INSERT INTO decisions (run_id, row_id, reviewer, created, action, new_label, note) VALUES "
    "('20240101-100000-abcd', '1', 'ana', TIMESTAMP '2024-01-02 09:00:00', 'relabel', '2', NULL)",
    "INSERT INTO versions (parent_fingerprint, fingerprint, path, created, changelog) VALUES "
    "('fp', 'fp2', 'd.v2.csv', TIMESTAMP '2024-01-02 10:00:00', '{\"relabelled\":1}')",
]
_DATA = {1: _DATA_V1, 2: _DATA_V2}


def _build(path, version: int) -> None:
    """A workspace file exactly at ``version`` (frozen DDL for 1, then the migrations), with data."""
    path.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path / "assay.duckdb"))
    for stmt in FROZEN_V1:
        con.execute(stmt)
    for stmt in _DATA_V1:
        con.execute(stmt)
    if version > 1:
        _schema.apply_migrations(con, from_version=1, to_version=version, assay_version="0.1.0")
    for v in range(2, version + 1):
        for stmt in _DATA.get(v, []):
            con.execute(stmt)
    con.close()


def _columns(path) -> list[tuple]:
    con = duckdb.connect(str(path / "assay.duckdb"), read_only=True)
    try:
        return con.execute(
            "SELECT table_name, column_name, data_type, is_nullable, column_default "
            "FROM information_schema.columns WHERE table_schema = 'main' ORDER BY ALL"
        ).fetchall()
    finally:
        con.close()


def test_schema_version_is_number_of_migrations():
    assert SCHEMA_VERSION == len(_schema.MIGRATIONS)
    assert [m.version for m in _schema.MIGRATIONS] == list(range(1, SCHEMA_VERSION + 1))


@pytest.mark.parametrize("version", range(1, SCHEMA_VERSION))
def test_migrates_every_earlier_version(tmp_path, version):
    old = tmp_path / "old"
    _build(old, version)
    with Workspace.open(old) as ws, ws.hold():
        assert ws.schema_version == SCHEMA_VERSION
        info = ws.run("20240101-100000-abcd")
        assert info["params"] == {"k": 10} and info["summary"] == {"label": 3}
        assert info["n_findings"] == 2 and info["status"] == "ok"
        got = ws.findings(info["run_id"])
        assert got["row_id"].tolist() == ["1", "2"]  # v1 stored no row_id type: text
        assert got["flag"].tolist() == [True, False]
        assert ws.dataset("fp")["roles"] == {"label": "y"}
        if version >= 2:
            assert ws.decisions()["new_label"].tolist() == ["2"]
            assert ws.versions()["fingerprint"].tolist() == ["fp2"]
        # everything added later works on the upgraded file
        ws.append_decision(2, "keep", reviewer="bo")
        assert ws.decisions()["decision_id"].tolist()[-1] == (2 if version >= 2 else 1)
        run_id = ws.start_run("audit", fingerprint="fp")
        ws.record_findings(run_id, pd.DataFrame({"row_id": [1], "check": "x", "v": [1.5]}))
        assert ws.findings(run_id, expand_details=True)["v"].tolist() == [1.5]
        ws.get_or_compute("features", "fp", {}, lambda: pd.DataFrame({"a": [1]}))
    fresh = tmp_path / "fresh"
    Workspace.open(fresh).close()
    assert _columns(old) == _columns(fresh)  # an upgraded file has exactly the fresh schema


def test_fresh_schema_starts_from_frozen_v1(tmp_path):
    # migration 1 must still produce the frozen v1 tables
    a, b = tmp_path / "a", tmp_path / "b"
    _build(a, 1)
    b.mkdir()
    con = duckdb.connect(str(b / "assay.duckdb"))
    _schema.apply_migrations(con, from_version=0, to_version=1, assay_version="0.1.0")
    con.close()
    assert _columns(a) == _columns(b)


def _set_version(path, version: int, writer: str) -> None:
    con = duckdb.connect(str(path / "assay.duckdb"))
    con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(version)])
    con.execute("UPDATE meta SET value = ? WHERE key = 'written_by'", [writer])
    con.close()


def test_newer_schema_refused(tmp_path):
    Workspace.open(tmp_path).close()
    _set_version(tmp_path, SCHEMA_VERSION + 1, "9.9.0")
    msg = (rf"schema version {SCHEMA_VERSION + 1}, written by assay 9\.9\.0; this assay .* reads "
           rf"schema versions up to {SCHEMA_VERSION}\. Upgrade assay: pip install -U 'assay>=9\.9\.0'")
    with pytest.raises(StoreError, match=msg):
        Workspace.open(tmp_path)
    with pytest.raises(StoreError, match=msg):
        Workspace.open(tmp_path, read_only=True)
    # and nothing was changed by the refusal
    con = duckdb.connect(str(tmp_path / "assay.duckdb"), read_only=True)
    assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall() == [
        (str(SCHEMA_VERSION + 1),)
    ]
    con.close()


def test_read_only_open_of_old_schema_asks_for_migration(tmp_path):
    _build(tmp_path, 1)
    with pytest.raises(StoreError, match=rf"schema version 1; this assay .* needs version "
                                         rf"{SCHEMA_VERSION}\. Open it once without read_only"):
        Workspace.open(tmp_path, read_only=True)
    Workspace.open(tmp_path).close()  # migrate
    with Workspace.open(tmp_path, read_only=True) as ro:
        assert ro.schema_version == SCHEMA_VERSION


def test_failed_migration_rolls_back(tmp_path, monkeypatch):
    _build(tmp_path, 1)
    broken = _schema.Migration(
        SCHEMA_VERSION + 1, "9.9.0", "broken", ("CREATE TABLE later (x INTEGER)", "SELEC nonsense")
    )
    monkeypatch.setattr(_schema, "MIGRATIONS", (*_schema.MIGRATIONS, broken))
    monkeypatch.setattr("assay.workspace._store.SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with pytest.raises(StoreError, match=rf"from schema version 1 to {SCHEMA_VERSION + 1} failed "
                                         r"\(Parser Error.*left at schema version 1\."):
        Workspace.open(tmp_path)
    tables = {r[0] for r in duckdb.connect(str(tmp_path / "assay.duckdb"), read_only=True)
              .execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert "decisions" not in tables and "later" not in tables  # all-or-nothing
    monkeypatch.undo()
    with Workspace.open(tmp_path) as ws:
        assert ws.schema_version == SCHEMA_VERSION
        assert ws.run("20240101-100000-abcd")["n_findings"] == 2
