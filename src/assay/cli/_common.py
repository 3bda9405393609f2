"""Shared pieces of the command line: consoles, JSON output, user-error handling."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def _default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        v = float(obj)
        return None if math.isnan(v) else v
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.bool_):
        return bool(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def print_json(payload: Any) -> None:
    """Print ``payload`` as JSON on stdout (plain, no colour, so it can be piped)."""
    print(json.dumps(payload, default=_default, indent=2, allow_nan=False))  # noqa: T201


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[Any]:
    """A progress callback ``update(step, done, total)`` drawing bars on stderr, or ``None``.

    Quiet (``None``) when disabled or when stderr is not a terminal (piped, CI logs), so a
    script's output stays clean. A step's first word keys its bar.
    """
    if not enabled or not err_console.is_terminal:
        yield None
        return
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(
        TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
        console=err_console, transient=True,
    ) as prog:
        tasks: dict[str, Any] = {}

        def update(step: str, done: int, total: int) -> None:
            key = step.split(" ")[0]
            if key not in tasks:
                tasks[key] = prog.add_task(step, total=total)
            prog.update(tasks[key], completed=done, total=total, description=step)

        yield update


#: Help of the options every recorded command shares.
RUN_OUT_HELP = "Output folder (default: the run's folder, <workspace>/runs/<run id>/)."
WORKSPACE_HELP = ("Workspace folder (default: the nearest .assay/ at or above the data's folder, "
                  "else a new one beside the data; $ASSAY_WORKSPACE).")
NO_WORKSPACE_HELP = "Do not record the run (then --out is needed)."
RAY_HELP = ("Run the parallel work on Ray (pip install 'assay[dist]'): no ADDRESS or 'local' "
            "starts Ray here; 'auto' or ray://HOST:10001 joins a cluster.")
N_JOBS_HELP = "Parallel work (-1: every core; with --ray: every CPU of the cluster)."


def ray_backend_args(ray: str | None) -> tuple[str, str | None]:
    """``--ray [ADDRESS]`` as ``(backend, ray_address)`` for assay.distributed."""
    return ("local", None) if ray is None else ("ray", None if ray == "local" else ray)


def require_out(no_workspace: bool, out: Path | None, what: str,
                workspace: Path | None = None) -> None:
    """Refuse ``--no-workspace`` without ``--out`` (no folder to write into) or with
    ``--workspace`` (which would be ignored)."""
    if no_workspace and workspace is not None:
        from assay.exceptions import InputValidationError

        raise InputValidationError(
            "--no-workspace and --workspace contradict each other: pass one of them.")
    if no_workspace and out is None:
        from assay.exceptions import InputValidationError

        raise InputValidationError(
            f"--no-workspace needs --out: without a workspace there is no run folder to write "
            f"{what} into. Pass --out DIR, or leave --no-workspace out.")


def require_files(**paths: Path | None) -> None:
    """Refuse a missing input file before any work (``what=path``; ``None`` is not given)."""
    from assay.exceptions import InputValidationError

    for what, path in paths.items():
        if path is not None and not Path(path).is_file():
            raise InputValidationError(
                f"{what.capitalize()} file not found: '{path}'. Check the path.")


def write_run_json(folder: Path, name: str, payload: Any) -> Path:
    """Write ``payload`` as ``folder/name`` (indented JSON), renamed into place when complete."""
    import json

    from assay.data import atomic_path

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, default=str))
    return path
