"""The audit: shared artifacts, registered checks, and the combined result."""

from assay._audit._context import AuditConfig, AuditContext
from assay._audit._registry import CheckSpec, register_check, registered_checks
from assay._audit._result import AuditResult, CheckResult, Threshold
from assay._audit._run import audit

__all__ = [
    "AuditConfig",
    "AuditContext",
    "AuditResult",
    "CheckResult",
    "CheckSpec",
    "Threshold",
    "audit",
    "register_check",
    "registered_checks",
]
