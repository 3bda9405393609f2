"""Find the audited data again, so a report re-rendered from ``audit.json`` can show samples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from assay.exceptions import InputValidationError

__all__ = ["check_alignment", "load_dataset_for"]


def load_dataset_for(result: Any, source: str | Path | None = None) -> Any:
    """Reload the data an audit ran on, with the column roles it recorded.

    Parameters
    ----------
    result : AuditResult
        Its ``summary["roles"]`` give the column roles and ``summary["source"]`` the file.
    source : str or Path, optional
        Where the data is now (default: the recorded source).

    Returns
    -------
    Dataset or None
        ``None`` when no source is recorded or the file no longer exists.

    Raises
    ------
    InputValidationError
        When the data found does not line up with the audit (another row count, or labels that
        differ from the audit's ``given_label`` column).

    Examples
    --------
    >>> import pandas as pd
    >>> from assay import AuditResult
    >>> load_dataset_for(AuditResult({}, pd.DataFrame(), {"n_rows": 0})) is None
    True
    """
    from assay.data import load

    summary = result.summary if isinstance(result.summary, dict) else {}
    where = source if source is not None else summary.get("source")
    roles = summary.get("roles") or {}
    if where is None or not roles.get("label"):
        return None
    path = Path(str(where))
    if not path.exists():
        if source is not None:
            raise InputValidationError(
                f"Data file not found: '{path}'. Pass the file the audit ran on."
            )
        return None
    ds = load(
        path, label=roles["label"], id=roles.get("id"), split=roles.get("split"),
        group=roles.get("group"), text=roles.get("text"), image=roles.get("image"),
        features=roles.get("features") or None, meta=roles.get("meta") or None,
    )
    check_alignment(result, ds)
    return ds


def check_alignment(result: Any, dataset: Any) -> None:
    """Raise unless ``dataset`` has the audit's rows in the audit's order (same labels).

    Parameters
    ----------
    result : AuditResult
        The audit; its ``issues`` table has one row per audited row and, when labelled, the
        ``given_label`` column.
    dataset : Dataset
        The data to show samples from.

    Returns
    -------
    None

    Raises
    ------
    InputValidationError
        When the row counts differ, or the labels differ from the audit's ``given_label`` on
        some row (another file, or the rows reordered).
    """
    issues = result.issues
    n = len(issues)
    if n and dataset.n_rows != n:
        raise InputValidationError(
            f"The data has {dataset.n_rows:,} rows but the audit has {n:,}: it is not the data "
            "that was audited. Pass the same file (or leave the data out to render without "
            "samples)."
        )
    if n and "given_label" in issues.columns:
        given = issues["given_label"].astype(str).to_numpy()
        labels = np.asarray(dataset.class_names(), dtype=object)[dataset.labels].astype(str)
        bad = np.flatnonzero(given != labels)
        if bad.size:
            raise InputValidationError(
                f"The data's labels differ from the audit's on {bad.size:,} rows (first: row "
                f"{int(bad[0])}, audit {given[bad[0]]!r}, data {labels[bad[0]]!r}): it is not "
                "the data that was audited, or its rows were reordered. Pass the audited file."
            )
