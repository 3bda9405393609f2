"""The audit: shared artifacts, registered checks, and the combined result.

Besides the classes, :mod:`assay.report` uses ``SCHEMA_VERSION`` (the version of the JSON form
of :class:`AuditResult`) and ``jsonable`` (numpy scalars and arrays, frames and non-finite floats
to plain JSON values: the conversion ``AuditResult.to_dict`` applies).
"""

from assay._audit import _result
from assay._audit._context import AuditConfig, AuditContext
from assay._audit._next_steps import NextStep, next_steps
from assay._audit._registry import (
    NEEDS,
    CheckContext,
    CheckSpec,
    QueueSpec,
    RowOutputs,
    UndeclaredNeedError,
    queue_names,
    register_check,
    registered_checks,
    review_queues,
    unregister_check,
)
from assay._audit._result import SCHEMA_VERSION, AuditResult, CheckResult, Threshold, jsonable
from assay._audit._run import audit

__all__ = [
    "NEEDS",
    "SCHEMA_VERSION",
    "AuditConfig",
    "AuditContext",
    "AuditResult",
    "CheckContext",
    "CheckResult",
    "CheckSpec",
    "NextStep",
    "QueueSpec",
    "RowOutputs",
    "Threshold",
    "UndeclaredNeedError",
    "audit",
    "jsonable",
    "next_steps",
    "queue_names",
    "register_check",
    "registered_checks",
    "review_queues",
    "unregister_check",
]


def _legacy_outputs() -> dict[str, RowOutputs]:
    return {n: s.outputs for n, s in registered_checks().items() if s.outputs is not None}


_result.LEGACY_OUTPUTS = _legacy_outputs  # results saved before outputs were part of them
