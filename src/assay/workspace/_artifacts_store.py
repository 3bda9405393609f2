"""Cached artifacts: :class:`ArtifactsMixin` of ``Workspace``.

The methods delegate to the workspace's :class:`~assay.workspace._artifacts.ArtifactCache`
(``_artifacts.py``), which keys, stores and loads the files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from assay.workspace._base import WorkspaceBase


class ArtifactsMixin(WorkspaceBase):
    """Compute-or-load, save, find and list cached artifacts."""

    def get_or_compute(
        self,
        kind: str,
        fingerprint: str,
        params: Mapping[str, Any] | None,
        compute_fn: Callable[[], Any],
    ) -> Any:
        """Return the cached artifact for (fingerprint, kind, params), computing it on a miss.

        ``compute_fn()`` must return a numpy array, a DataFrame or a dict of str -> array. The
        key includes the assay version, so artifacts are recomputed after an upgrade. In a
        read-only workspace a miss is computed and returned but not stored.

        Examples
        --------
        >>> import tempfile, numpy as np
        >>> from assay.workspace import Workspace
        >>> ws = Workspace.open(tempfile.mkdtemp())
        >>> calls = []
        >>> def compute():
        ...     calls.append(1)
        ...     return np.ones((3, 2), dtype=np.float32)
        >>> a = ws.get_or_compute("features", "fp1", {"featurizer": "tfidf"}, compute)
        >>> b = ws.get_or_compute("features", "fp1", {"featurizer": "tfidf"}, compute)
        >>> len(calls), bool((a == b).all())
        (1, True)
        """
        return self._artifacts.get_or_compute(kind, fingerprint, params, compute_fn)

    def load_artifact(
        self, kind: str, fingerprint: str, params: Mapping[str, Any] | None
    ) -> Any | None:
        """The cached artifact, or ``None`` when it is absent (or its file is missing/damaged)."""
        return self._artifacts.load(kind, fingerprint, params)

    def save_artifact(
        self, kind: str, fingerprint: str, params: Mapping[str, Any] | None, value: Any
    ) -> Path:
        """Store an artifact (replacing one under the same key); return its file path."""
        return self._artifacts.save(kind, fingerprint, params, value)

    def artifact_path(
        self, kind: str, fingerprint: str, params: Mapping[str, Any] | None
    ) -> Path | None:
        """File path of a cached artifact (e.g. to link a full Parquet from a report), or None."""
        return self._artifacts.lookup(kind, fingerprint, params)

    def artifacts(self) -> pd.DataFrame:
        """All cached artifacts, newest first."""
        return self._artifacts.listing()
