"""Shared pieces of the command line: consoles, JSON output, user-error handling."""

from __future__ import annotations

import json
import math
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
