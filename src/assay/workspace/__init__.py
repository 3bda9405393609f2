"""The workspace: a DuckDB store of datasets, runs, findings, decisions, versions and artifacts.

This package is the only importer of ``duckdb`` in assay. See ``docs/workspace.md``.
"""

from __future__ import annotations

from assay.workspace._decisions import (
    DECISION_POLICIES,
    DROP_ACTIONS,
    EXPORT_ACTIONS,
    STAGE_ORDER,
    UNDO_ACTION,
    applicable_decisions,
    carried_decisions,
    resolve_decisions,
    undo_targets,
    without_undone,
)
from assay.workspace._decisions_store import DECISION_ACTIONS
from assay.workspace._diff import RunDiff, diff_runs
from assay.workspace._runs import RUN_STATUSES, RunRecord
from assay.workspace._schema import SCHEMA_VERSION
from assay.workspace._store import (
    Workspace,
    default_workspace,
    find_workspace,
    open_workspace,
)

__all__ = [
    "DECISION_ACTIONS",
    "DECISION_POLICIES",
    "DROP_ACTIONS",
    "EXPORT_ACTIONS",
    "STAGE_ORDER",
    "UNDO_ACTION",
    "RUN_STATUSES",
    "RunDiff",
    "SCHEMA_VERSION",
    "RunRecord",
    "Workspace",
    "applicable_decisions",
    "carried_decisions",
    "default_workspace",
    "diff_runs",
    "find_workspace",
    "open_workspace",
    "resolve_decisions",
    "undo_targets",
    "without_undone",
]
