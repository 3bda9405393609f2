"""Schema of the workspace database: one list of forward migrations.

A new workspace is built by applying every migration in order, so a fresh file and an upgraded one
go through the same statements. Each migration names the assay version that introduced it; the
``meta`` table records the schema version and the assay version that last wrote the schema, which
is what the refusal message of an older assay quotes.

To change the schema, append a :class:`Migration` (never edit a released one), bump nothing else:
``SCHEMA_VERSION`` is the length of ``MIGRATIONS``. Add the new version to the fixtures of
``tests/test_workspace_migrations.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Migration:
    """One forward step of the schema.

    Parameters
    ----------
    version : int
        The schema version this migration produces.
    assay_version : str
        The assay release that introduced it (quoted when an older assay refuses the file).
    description : str
        What it changes, in words.
    statements : tuple of str
        DDL/DML statements, run in one transaction with every other pending migration.
    """

    version: int
    assay_version: str
    description: str
    statements: tuple[str, ...]


# Version 1: the audit core (datasets, runs, per-row findings).
_V1 = (
    """
    CREATE TABLE meta (
        key VARCHAR PRIMARY KEY,
        value VARCHAR NOT NULL
    )
    """,
    """
    CREATE TABLE datasets (
        fingerprint VARCHAR PRIMARY KEY,
        source VARCHAR,
        n_rows BIGINT NOT NULL,
        schema JSON,
        roles JSON,
        created TIMESTAMP NOT NULL
    )
    """,
    """
    CREATE TABLE runs (
        run_id VARCHAR PRIMARY KEY,
        command VARCHAR NOT NULL,
        params JSON,
        versions JSON,
        fingerprint VARCHAR,
        status VARCHAR NOT NULL,
        started TIMESTAMP NOT NULL,
        finished TIMESTAMP,
        timings JSON,
        summary JSON,
        provenance JSON,
        n_findings BIGINT NOT NULL DEFAULT 0,
        pid INTEGER,
        host VARCHAR
    )
    """,
    """
    CREATE TABLE findings (
        run_id VARCHAR NOT NULL,
        row_id VARCHAR NOT NULL,
        "check" VARCHAR NOT NULL,
        score DOUBLE,
        flag BOOLEAN,
        details JSON
    )
    """,
)

# Version 2: the review loop (append-only decisions, exported dataset versions).
_V2 = (
    "CREATE SEQUENCE decision_ids START 1",
    """
    CREATE TABLE decisions (
        decision_id BIGINT PRIMARY KEY DEFAULT nextval('decision_ids'),
        run_id VARCHAR,
        row_id VARCHAR NOT NULL,
        reviewer VARCHAR NOT NULL,
        created TIMESTAMP NOT NULL,
        action VARCHAR NOT NULL,
        new_label VARCHAR,
        note VARCHAR
    )
    """,
    "CREATE SEQUENCE version_ids START 1",
    """
    CREATE TABLE versions (
        version_id BIGINT PRIMARY KEY DEFAULT nextval('version_ids'),
        parent_fingerprint VARCHAR,
        fingerprint VARCHAR NOT NULL,
        path VARCHAR NOT NULL,
        created TIMESTAMP NOT NULL,
        changelog JSON
    )
    """,
)

# Version 3: the artifact cache, and typed round trips of findings (row_id type, extra columns).
_V3 = (
    """
    CREATE TABLE artifacts (
        fingerprint VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,
        params_hash VARCHAR NOT NULL,
        params JSON,
        path VARCHAR NOT NULL,
        format VARCHAR NOT NULL,
        nbytes BIGINT NOT NULL,
        sha256 VARCHAR NOT NULL,
        assay_version VARCHAR NOT NULL,
        created TIMESTAMP NOT NULL,
        PRIMARY KEY (fingerprint, kind, params_hash)
    )
    """,
    "ALTER TABLE runs ADD COLUMN findings_schema JSON",
)

# Version 4: the review app (which queue and curation stage a decision came from, an
# idempotency key so a retried request never records a decision twice, duplicate_of).
_V4 = (
    "ALTER TABLE decisions ADD COLUMN queue VARCHAR",
    "ALTER TABLE decisions ADD COLUMN stage VARCHAR",
    "ALTER TABLE decisions ADD COLUMN client_key VARCHAR",
    "ALTER TABLE decisions ADD COLUMN duplicate_of VARCHAR",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "0.1.0", "datasets, runs and findings", _V1),
    Migration(2, "0.1.0", "review decisions and dataset versions", _V2),
    Migration(3, "0.1.0", "artifact cache; typed findings round trip", _V3),
    Migration(4, "0.1.0", "review queue, stage, idempotency key and duplicate_of on decisions", _V4),
)

SCHEMA_VERSION: int = len(MIGRATIONS)


def read_meta(con: Any) -> dict[str, str]:
    """Return the ``meta`` table as a dict, or ``{}`` when the file has no assay schema yet."""
    has_meta = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = 'main' AND table_name = 'meta'"
    ).fetchall()[0][0]
    if not has_meta:
        return {}
    return {k: v for k, v in con.execute("SELECT key, value FROM meta").fetchall()}


def apply_migrations(con: Any, *, from_version: int, to_version: int, assay_version: str) -> None:
    """Run migrations ``from_version + 1 .. to_version`` on ``con`` (inside the caller's transaction)."""
    for migration in MIGRATIONS[from_version:to_version]:
        for statement in migration.statements:
            con.execute(statement)
    if from_version == 0:
        con.execute("INSERT INTO meta VALUES ('created_by', ?)", [assay_version])
    con.execute(
        "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?), ('written_by', ?)",
        [str(to_version), assay_version],
    )
