"""The registry of audit checks: each declares what it needs and returns a CheckResult."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from assay._audit._context import AuditContext
from assay._audit._result import CheckResult

__all__ = ["CheckSpec", "register_check", "registered_checks"]

CheckFunc = Callable[[AuditContext], CheckResult]


@dataclass(frozen=True)
class CheckSpec:
    """A registered check: its name, what it needs, and the function that runs it."""

    name: str
    needs: tuple[str, ...]
    func: CheckFunc
    description: str


_REGISTRY: dict[str, CheckSpec] = {}


def register_check(name: str, *, needs: tuple[str, ...]) -> Callable[[CheckFunc], CheckFunc]:
    """Decorator adding a check to the registry under ``name``.

    ``needs`` lists what the check reads from the context: ``labels``, ``features``,
    ``pred_probs``, ``knn``, ``split``, ``group``, ``meta``, ``annotations``. A check whose needs
    the data cannot supply is skipped (and the audit says why).
    """

    def wrap(func: CheckFunc) -> CheckFunc:
        if name in _REGISTRY:
            raise ValueError(f"check {name!r} is registered twice")
        doc = (func.__doc__ or "").strip().splitlines()
        _REGISTRY[name] = CheckSpec(name, needs, func, doc[0] if doc else "")
        return func

    return wrap


def registered_checks() -> dict[str, CheckSpec]:
    """Every registered check, in registration order (imports the built-in checks first)."""
    import assay._audit.checks  # noqa: F401  (registers the built-in checks)

    return dict(_REGISTRY)
