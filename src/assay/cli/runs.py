"""``assay runs`` and ``assay show``: list the runs recorded in a workspace, print one."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import typer

from assay.cli._common import console, print_json

_WORKSPACE_HELP = ("Workspace folder (default: $ASSAY_WORKSPACE, else the nearest .assay/ here or "
                   "above).")


def register(app: typer.Typer) -> None:
    """Add ``runs`` and ``show`` to the ``assay`` app."""
    app.command("runs")(runs_command)
    app.command("show")(show_command)


def _open(workspace: Path | None) -> Any:
    from assay.workspace import Workspace, default_workspace

    return Workspace.open(workspace or default_workspace(), create=False)


#: Commands that can record runs (a filter naming none of these, nor a recorded one, is a typo).
_RUN_COMMANDS = ("audit", "export", "split", "value", "curve", "train", "agree", "review")


def _check_command(command: str, ws: Any) -> None:
    from assay._validation import did_you_mean
    from assay.exceptions import InvalidParameterError

    known = sorted(set(_RUN_COMMANDS) | {str(c) for c in ws.runs()["command"].unique()})
    if command not in known:
        raise InvalidParameterError(
            "--command", "the name of a command that records runs (" + ", ".join(known) + ")",
            command, hint=did_you_mean(command, known).strip())


def runs_command(
    workspace: Path | None = typer.Option(None, "--workspace", "-w", help=_WORKSPACE_HELP),
    command: str | None = typer.Option(None, "--command", help="Only runs of this command."),
    limit: int | None = typer.Option(None, "--limit", "-n", min=1, help="Newest N runs only."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    compare: bool = typer.Option(
        False, "--compare", help="Leaderboard of training runs, with like-for-like flags."),
    records: Path | None = typer.Option(
        None, "--records", help="Folder of training run records (default: <workspace>/runs/, "
        "where 'assay train' writes them)."),
) -> None:
    """List the runs recorded in a workspace, newest first (``--compare``: a leaderboard)."""
    if compare:
        from assay.workspace import default_workspace

        _compare(records or (workspace or default_workspace()) / "runs", as_json)
        return
    with _open(workspace) as ws:
        if command is not None:
            _check_command(command, ws)
        frame = ws.runs(command=command, limit=limit)
        location = ws.path
    rows = [_plain(r) for r in frame.to_dict(orient="records")]
    if as_json:
        print_json(rows)
        return
    from rich.table import Table
    from rich.text import Text

    if not rows:
        console.print(Text(f"No runs in {location} yet."))
        return
    from rich import box

    # The run id starts with its UTC start time, so no separate "started" column.
    table = Table(title=Text(f"Runs in {location}"), title_justify="left", box=box.SIMPLE_HEAD)
    for col, justify in (("run (UTC start)", "left"), ("command", "left"), ("status", "left"),
                         ("duration", "right"), ("dataset", "left"), ("findings", "right")):
        table.add_column(col, justify=justify, no_wrap=col != "command")  # type: ignore[arg-type]
    for r in rows:
        table.add_row(
            Text(r["run_id"]), Text(r["command"]), _status_text(r["status"]),
            Text(_duration(r["duration_s"])), Text((r["fingerprint"] or "-")[:12]),
            Text(f"{r['n_findings']:,}"),
        )
    console.print(table)


def _compare(records: Path, as_json: bool) -> None:
    """Print the leaderboard of training runs: accuracy next to cost, unfair comparisons flagged."""
    from rich.table import Table
    from rich.text import Text

    from assay.compare import compare_runs, load_run_records

    board = compare_runs(load_run_records(records))
    rows = [_plain(r) for r in board.to_dict(orient="records")]
    if as_json:
        print_json(rows)
        return
    table = Table(title=Text(f"Training runs in {records}"), title_justify="left")
    for col in ("run", "recipe", "backbone", "balanced", "few", "overall", "params", "train s",
                "like for like", "flags"):
        table.add_column(col, overflow="fold")
    for r in rows:
        fmt = (lambda v: "-" if v is None else f"{v:.3f}")  # noqa: E731
        table.add_row(
            Text(str(r.get("run_id"))), Text(str(r.get("recipe"))), Text(str(r.get("backbone"))),
            fmt(r.get("balanced")), fmt(r.get("few")), fmt(r.get("overall")),
            Text(f"{r.get('params_trained') or 0:,}"), fmt(r.get("train_seconds")),
            Text("yes" if r.get("like_for_like") else "NO", style="green" if r.get("like_for_like") else "red"),
            Text(str(r.get("flags") or "")),
        )
    console.print(table)


def show_command(
    run: str = typer.Argument(..., help="Run id, a unique prefix of one, or 'latest'."),
    workspace: Path | None = typer.Option(None, "--workspace", "-w", help=_WORKSPACE_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """Print one run: command, parameters, versions, summary, timings and findings per check."""
    with _open(workspace) as ws, ws.hold():
        info = ws.run(run)
        counts = ws.finding_counts(info["run_id"])
        dataset = ws.dataset(info["fingerprint"]) if info["fingerprint"] else None
    payload = _plain(info)
    payload["dataset"] = _plain(dataset) if dataset else None
    payload["findings_by_check"] = [_plain(r) for r in counts.to_dict(orient="records")]
    if as_json:
        print_json(payload)
        return
    _print_run(payload)


def _print_run(p: dict[str, Any]) -> None:
    from rich.table import Table
    from rich.text import Text

    head = Text.assemble(
        ("run ", "bold"), (p["run_id"], "bold cyan"), "  ", (p["command"], "bold"), "  ",
        _status_text(p["status"]),
    )
    console.print(head)
    console.print(Text(
        f"started {_short_time(p['started'])} UTC, took {_duration(p['duration_s'])}, "
        f"{p['n_findings']:,} findings"
    ))
    ds = p.get("dataset")
    if ds:
        console.print(Text(
            f"dataset {ds['fingerprint']} ({ds['n_rows']:,} rows) from {ds['source'] or '?'}"
        ))
    elif p["fingerprint"]:
        console.print(Text(f"dataset {p['fingerprint']}"))
    versions = p.get("versions") or {}
    console.print(Text("versions " + ", ".join(f"{k} {v}" for k, v in versions.items()),
                       style="dim"))
    _print_mapping("parameters", p.get("params"))
    _print_mapping("summary", p.get("summary"))
    _print_mapping("provenance", p.get("provenance"))
    timings = p.get("timings") or {}
    if timings:
        table = Table(title=Text("timings"), title_justify="left")
        table.add_column("step")
        table.add_column("seconds", justify="right")
        for k, v in timings.items():
            table.add_row(Text(str(k)), Text(f"{v:.3f}" if isinstance(v, int | float) else str(v)))
        console.print(table)
    counts = p.get("findings_by_check") or []
    if counts:
        table = Table(title=Text("findings by check"), title_justify="left")
        for col in ("check", "rows", "flagged", "mean score"):
            table.add_column(col, justify="left" if col == "check" else "right")
        for r in counts:
            score = r["mean_score"]
            table.add_row(
                Text(str(r["check"])), Text(f"{r['n_rows']:,}"), Text(f"{r['n_flagged']:,}"),
                Text("-" if score is None else f"{score:.3f}"),
            )
        console.print(table)


def _print_mapping(title: str, value: Any) -> None:
    from rich.table import Table
    from rich.text import Text

    if not value:
        return
    if not isinstance(value, dict):
        console.print(Text(f"{title}: {json.dumps(value)}"))
        return
    table = Table(title=Text(title), title_justify="left", show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    for k, v in value.items():
        shown = v if isinstance(v, str) else json.dumps(v, sort_keys=True)
        table.add_row(Text(str(k)), Text(shown))
    console.print(table)


def _status_text(status: str) -> Any:
    from rich.text import Text

    style = {"ok": "green", "error": "red", "running": "yellow", "interrupted": "red"}
    return Text(status, style=style.get(status, ""))


def _plain(obj: Any) -> Any:
    """Make records JSON-ready: timestamps to ISO text, NaN/NaT to None."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if hasattr(obj, "isoformat") and not isinstance(obj, str):
        import pandas as pd

        if obj is pd.NaT:
            return None
        if isinstance(obj, dt.datetime) and obj.tzinfo is not None:
            obj = obj.astimezone(dt.UTC).replace(tzinfo=None)
        return obj.isoformat() + "Z" if isinstance(obj, dt.datetime) else obj.isoformat()
    if hasattr(obj, "item") and not isinstance(obj, str):  # numpy scalars
        obj = obj.item()
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return obj


def _short_time(iso: str | None) -> str:
    return "-" if not iso else iso.replace("T", " ")[:19]


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"
