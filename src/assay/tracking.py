"""Optional experiment-tracker logging: an assay run's parameters, metrics and files in MLflow.

For teams that already track experiments in MLflow, ``assay audit --mlflow`` logs the audit
there as well as in the workspace. The tracking server is MLflow's own choice: the
``MLFLOW_TRACKING_URI`` environment variable, or ``tracking_uri=``. This module is the only one
that imports ``mlflow`` (installed by ``pip install 'assay[mlflow]'``; the lighter
``mlflow-skinny`` distribution is enough).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from assay.exceptions import InputValidationError, MissingDependencyError

__all__ = ["flatten_metrics", "log_mlflow"]

# MLflow refuses parameter values longer than this (6,000 characters since MLflow 2.x).
_MAX_PARAM_CHARS = 6000
# MLflow's allowed characters in metric and parameter names.
_BAD_NAME = re.compile(r"[^\w\-. /]")


def flatten_metrics(metrics: Mapping[str, Any], *, prefix: str = "") -> dict[str, float]:
    """Finite numbers of a nested mapping as ``{"a.b": value}`` (booleans as 0 / 1).

    Non-numeric values, NaN and infinities are left out: MLflow metrics are finite floats.

    Examples
    --------
    >>> flatten_metrics({"label": 0.1, "knn": {"recall": 0.98, "method": "exact"}, "x": None})
    {'label': 0.1, 'knn.recall': 0.98}
    """
    out: dict[str, float] = {}
    for key, value in metrics.items():
        name = _BAD_NAME.sub("_", f"{prefix}{key}")
        if isinstance(value, Mapping):
            out.update(flatten_metrics(value, prefix=f"{name}."))
        elif isinstance(value, bool):
            out[name] = float(value)
        elif isinstance(value, int | float) and math.isfinite(float(value)):
            out[name] = float(value)
    return out


def _param_value(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= _MAX_PARAM_CHARS else text[: _MAX_PARAM_CHARS - 3] + "..."


def log_mlflow(
    *,
    run_name: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, Any],
    artifacts: list[str | os.PathLike[str]] = (),  # type: ignore[assignment]
    tags: Mapping[str, str] | None = None,
    experiment: str = "assay",
    tracking_uri: str | None = None,
) -> str:
    """Log one assay run to MLflow and return the MLflow run id.

    Parameters
    ----------
    run_name : str
        The MLflow run name (assay uses its workspace run id, so the two can be matched).
    params : mapping
        Run parameters; values are logged as text, ``None`` as empty text.
    metrics : mapping
        Headline figures; nested mappings are flattened with dots, non-numbers left out.
    artifacts : list of path-like
        Files to attach (the HTML report, ``audit.json``). Each must exist.
    tags : mapping, optional
        Extra tags (assay adds ``assay.version``).
    experiment : str
        MLflow experiment name, created when missing.
    tracking_uri : str, optional
        Where to log; default: MLflow's own (``MLFLOW_TRACKING_URI``).

    Returns
    -------
    str
        The MLflow run id.

    Raises
    ------
    MissingDependencyError
        When mlflow is not installed.
    InputValidationError
        When an artifact file does not exist.

    Examples
    --------
    >>> import mlflow, os, tempfile
    >>> os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"  # a throw-away local file store
    >>> uri = "file://" + tempfile.mkdtemp()
    >>> run_id = log_mlflow(run_name="r1", params={"k": 10}, metrics={"label": 0.1},
    ...                     tracking_uri=uri)
    >>> mlflow.MlflowClient(uri).get_run(run_id).data.metrics
    {'label': 0.1}
    """
    missing = [str(p) for p in artifacts if not Path(p).is_file()]
    if missing:
        raise InputValidationError(
            f"Cannot log to MLflow: artifact file(s) not found: {', '.join(missing)}. "
            "Pass existing files (the report is written before logging)."
        )
    try:
        import mlflow
    except ImportError as exc:
        raise MissingDependencyError("mlflow", "mlflow", "MLflow logging (--mlflow)") from exc
    from assay import __version__

    if tracking_uri is not None:
        mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=run_name) as run:
        mlflow.set_tags({"assay.version": __version__, **dict(tags or {})})
        mlflow.log_params({_BAD_NAME.sub("_", str(k)): _param_value(v) for k, v in params.items()})
        flat = flatten_metrics(metrics)
        if flat:
            mlflow.log_metrics(flat)
        for path in artifacts:
            mlflow.log_artifact(str(path))
    return str(run.info.run_id)
