"""The workspace: a DuckDB store of datasets, runs, findings, decisions, versions and artifacts.

This package is the only importer of ``duckdb`` in assay. See ``docs/workspace.md``.
"""

from __future__ import annotations

from assay.workspace._diff import RunDiff, diff_runs
from assay.workspace._schema import SCHEMA_VERSION
from assay.workspace._store import (
    DECISION_ACTIONS,
    RUN_STATUSES,
    RunRecord,
    Workspace,
    default_workspace,
    open_workspace,
)

__all__ = [
    "DECISION_ACTIONS",
    "RUN_STATUSES",
    "RunDiff",
    "SCHEMA_VERSION",
    "RunRecord",
    "Workspace",
    "default_workspace",
    "diff_runs",
    "open_workspace",
]
