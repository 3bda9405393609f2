"""What the store mixins need from :class:`~assay.workspace.Workspace`, declared for mypy.

:class:`~assay.workspace.Workspace` (in ``_store.py``) is composed of one mixin per concern:
datasets and versions (``_versions.py``), runs (``_runs.py``), findings (``_findings_store.py``),
decisions (``_decisions_store.py``) and artifacts (``_artifacts_store.py``). Each mixin derives
from :class:`WorkspaceBase`, which declares the state and the methods that ``Workspace`` (or a
sibling mixin) provides, so the mixins are type-checked on their own.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assay.workspace._artifacts import ArtifactCache


class WorkspaceBase:
    """The attributes and methods the mixins rely on; :class:`Workspace` provides them."""

    _path: Path
    _db: Path
    _read_only: bool
    _lock_timeout: float
    _closed: bool
    _held: Any
    _artifacts: ArtifactCache

    if TYPE_CHECKING:

        def _connect(self, write: bool) -> Any:
            """A context manager yielding a DuckDB connection (``Workspace``)."""
            ...

        def resolve_run(self, ref: str, *, command: str | None = None) -> str:
            """A run id from an id, a unique prefix or ``'latest'`` (``RunsMixin``)."""
            ...

        def _require_running(self, con: Any, run_id: str) -> dict[str, Any]:
            """The findings schema of a run that is still running (``RunsMixin``)."""
            ...
