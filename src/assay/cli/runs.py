"""``assay runs`` and ``assay show``: list the runs recorded in a workspace, print one."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
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
    html: str | None = typer.Option(
        None, "--html", help="Write the run history as one offline HTML page: the trend "
        "of each audit metric across the audits, and the run table (a folder: runs.html in "
        "it)."),
) -> None:
    """List the runs recorded in a workspace, newest first (``--compare``: a leaderboard)."""
    if compare:
        if html is not None:
            from assay.exceptions import InputValidationError

            raise InputValidationError(
                "--html writes the history of the workspace's runs; it does not combine with "
                "--compare (the leaderboard of training runs). Leave one of them out.")
        from assay.workspace import default_workspace

        _compare(records or (workspace or default_workspace()) / "runs", as_json)
        return
    with _open(workspace) as ws:
        if command is not None:
            _check_command(command, ws)
        target = _history_target(ws, html) if html is not None else None
        frame = ws.runs(command=command, limit=limit)
        location = ws.path
        rows = [_plain(r) for r in frame.to_dict(orient="records")]
        written = _write_history(ws, rows, target) if target is not None else None
    if written is not None:
        n_audits = sum(r["command"] == "audit" for r in rows)
        if as_json:
            print_json({"html": str(written), "bytes": written.stat().st_size,
                        "runs": len(rows), "audits": n_audits})
        else:
            console.print(f"Wrote {written} ({len(rows):,} runs, {n_audits:,} audits, "
                          f"{written.stat().st_size / 1e3:,.0f} kB).", markup=False,
                          highlight=False)
        return
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


def _history_target(ws: Any, html: str) -> Path:
    """The history page's path, checked before any work: never the store, a run's files or data."""
    from assay.cli.diff import html_path
    from assay.data import check_output_file

    target = html_path(html, "runs.html")
    inputs: list[Path | None] = [ws.path / "assay.duckdb", ws.path / "runs", ws.path / "artifacts"]
    sources = ws.datasets()["source"].dropna()
    inputs += [Path(str(s)) for s in sources if str(s)]
    return check_output_file(target, option="--html", inputs=inputs)


def _write_history(ws: Any, rows: list[dict[str, Any]], target: Path) -> Path:
    """Add each audit's summary (its metrics) to ``rows`` and write the history page."""
    from assay.report import write_history

    with ws.hold():
        for r in rows:
            if r["command"] == "audit" and r["status"] == "ok":
                r["summary"] = _plain(ws.run(r["run_id"]).get("summary") or {})
    return write_history(rows, target, workspace=str(ws.path))


#: The fields of the leaderboard, one row each: (label, how to show a board row).
_COMPARE_FIELDS: tuple[tuple[str, Callable[[dict[str, Any]], str]], ...] = (
    ("recipe", lambda r: _text(r.get("recipe"))),
    ("backbone", lambda r: _text(r.get("backbone"))),
    ("balanced", lambda r: _score(r.get("balanced"))),
    ("few", lambda r: _score(r.get("few"))),
    ("overall", lambda r: _score(r.get("overall"))),
    ("params", lambda r: f"{r.get('params_trained') or 0:,}"),
    ("train s", lambda r: _score(r.get("train_seconds"))),
    ("like for like", lambda r: "yes" if r.get("like_for_like") else "NO"),
    ("flags", lambda r: _text(r.get("flags"))),
)
#: Widest a run's column grows before its text wraps (at spaces; numbers never break).
_COMPARE_COL_MAX = 30


def _compare(records: Path, as_json: bool) -> None:
    """Print the leaderboard of training runs: accuracy next to cost, unfair comparisons flagged.

    Runs are columns and fields rows, so a run's figures read down one column; the runs are
    numbered by rank (their ids listed above), and as many run columns go in one table as the
    terminal is wide: more runs continue in the next table.
    """
    from rich.text import Text

    from assay.compare import compare_runs, load_run_records

    board = compare_runs(load_run_records(records))
    rows = [_plain(r) for r in board.to_dict(orient="records")]
    if as_json:
        print_json(rows)
        return
    console.print(Text(f"Training runs in {records}, best first (by balanced accuracy):"))
    for rank, r in enumerate(rows, start=1):
        console.print(Text.assemble(
            (f"#{rank:<3}", "bold"), f" {r.get('run_id')}",
            (" (reference)" if r.get("is_reference") else "", "dim")))
    cells = [[fmt(r) for _, fmt in _COMPARE_FIELDS] for r in rows]
    label_w = max(len(label) for label, _ in _COMPARE_FIELDS)
    room = console.width - label_w
    widths = [min(_column_width([f"#{rank}", *c]), max(room - 2, 8))
              for rank, c in enumerate(cells, start=1)]
    for chunk in _chunks(widths, room):
        console.print()
        _print_compare_table(chunk, cells, widths)
    from assay.cli.train import print_choices

    print_choices(rows)  # sampler, head size, post-hoc taus and target prior, with notes


def _print_compare_table(chunk: list[int], cells: list[list[str]], widths: list[int]) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, padding=(0, 1), pad_edge=False, show_edge=False)
    table.add_column("", style="bold", no_wrap=True)
    for i in chunk:
        table.add_column(f"#{i + 1}", justify="left", overflow="fold", width=widths[i])
    for f, (label, _) in enumerate(_COMPARE_FIELDS):
        values = []
        for i in chunk:
            v = cells[i][f]
            style = {"yes": "green", "NO": "red"}.get(v, "") if label == "like for like" else ""
            values.append(Text(v, style=style))
        table.add_row(Text(label), *values)
    console.print(table)


def _column_width(values: list[str]) -> int:
    """A run column's width: its longest value, at most ``_COMPARE_COL_MAX`` (then the text
    wraps at spaces), never narrower than its longest word (so no number is cut)."""
    longest = max(len(v) for v in values)
    word = max(len(w) for v in values for w in (v.split() or [""]))
    return max(min(longest, _COMPARE_COL_MAX), word)


def _chunks(widths: list[int], room: int) -> list[list[int]]:
    """Split the run columns into tables that fit ``room`` characters (2 between columns)."""
    out: list[list[int]] = [[]]
    used = 0
    for i, w in enumerate(widths):
        if out[-1] and used + 2 + w > room:
            out.append([])
            used = 0
        out[-1].append(i)
        used += 2 + w
    return out


def _text(v: Any) -> str:
    return "-" if v is None or v == "" else str(v)


def _score(v: Any) -> str:
    return "-" if v is None else f"{v:.3f}"


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
    from rich import box
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
        table = Table(title=Text("timings", style="bold"), title_justify="left",
                      box=box.SIMPLE_HEAD)
        table.add_column("step")
        table.add_column("seconds", justify="right")
        for k, v in timings.items():
            table.add_row(Text(str(k)), Text(_human(v)))
        console.print(table)
    counts = p.get("findings_by_check") or []
    if counts:
        table = Table(title=Text("findings by check", style="bold"), title_justify="left",
                      box=box.SIMPLE_HEAD)
        for col in ("check", "rows", "flagged", "mean score"):
            table.add_column(col, justify="left" if col == "check" else "right")
        for r in counts:
            score = r["mean_score"]
            table.add_row(
                Text(str(r["check"])), Text(f"{r['n_rows']:,}"), Text(f"{r['n_flagged']:,}"),
                Text("-" if score is None else f"{score:.3f}"),
            )
        console.print(table)


#: A nested mapping of plain values is shown on one line up to this length; else as a block.
_INLINE_MAX = 60
#: Items of a list shown before "... (N more)".
_LIST_MAX = 20


def _print_mapping(title: str, value: Any) -> None:
    """``key  value`` lines, numbers rounded (``show --json`` keeps full precision); a nested
    mapping is one line when short, else a block of its own titled ``title > key``."""
    from rich.table import Table
    from rich.text import Text

    if value is None or value == {} or value == []:
        return
    if not isinstance(value, dict):
        console.print(Text(f"{title}: {_human(value)}"))
        return
    blocks: list[tuple[str, list[tuple[str, str]]]] = []
    _collect(title, value, blocks)
    for name, rows in blocks:
        table = Table(title=Text(name, style="bold"), title_justify="left", show_header=False,
                      box=None, padding=(0, 1, 0, 2))
        table.add_column("key", style="bold", overflow="fold")
        table.add_column("value", overflow="fold")
        for k, v in rows:
            table.add_row(Text(k), Text(v))
        console.print(table)


def _collect(title: str, mapping: dict[str, Any],
             blocks: list[tuple[str, list[tuple[str, str]]]]) -> None:
    rows, nested = [], []
    for k, v in mapping.items():
        inline = _inline(v) if isinstance(v, dict) else _human(v)
        if inline is None:
            nested.append((f"{title} > {k}", v))
        else:
            rows.append((str(k), inline))
    if rows:
        blocks.append((title, rows))
    for name, v in nested:
        _collect(name, v, blocks)


def _inline(d: dict[str, Any]) -> str | None:
    """``a: 1, b: x`` for a short mapping of plain values; None otherwise."""
    if not d:
        return "-"
    if any(isinstance(v, dict | list) for v in d.values()):
        return None
    text = ", ".join(f"{k}: {_human(v)}" for k, v in d.items())
    return text if len(text) <= _INLINE_MAX else None


def _human(v: Any) -> str:
    """A value for people: numbers to 4 significant digits, lists joined, '-' for none."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return _num(v)
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_human(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list | tuple):
        shown = ", ".join(_human(x) for x in v[:_LIST_MAX])
        return shown + (f" ... ({len(v) - _LIST_MAX:,} more)" if len(v) > _LIST_MAX else "")
    return str(v)


def _num(v: float) -> str:
    """4 significant digits; whole numbers as integers; no exponent below 100,000."""
    if not math.isfinite(v):
        return str(v)
    if v.is_integer() and abs(v) < 1e15:
        return f"{int(v):,}"
    if abs(v) >= 1e5:
        return f"{v:,.0f}" if abs(v) < 1e15 else f"{v:.4g}"
    return f"{v:.3g}" if abs(v) < 1e-3 else f"{v:.4g}"


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
