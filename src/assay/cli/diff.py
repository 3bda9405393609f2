"""``assay diff RUN_A RUN_B``: what changed between two audits."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from assay.cli._common import console, print_json

#: Rows per category on the ``--html`` page.
HTML_TOP_ROWS = 25


def register(app: typer.Typer) -> None:
    """Add ``diff`` to the CLI."""

    @app.command("diff")
    def diff_cmd(
        run_a: str = typer.Argument(..., help="The earlier audit run (id, prefix)."),
        run_b: str = typer.Argument("latest", help="The later audit run (default: latest)."),
        workspace: Path | None = typer.Option(
            None, "--workspace", "-w",
            help="Workspace folder (default: the nearest .assay/ here or above, or "
                 "$ASSAY_WORKSPACE)."),
        html: str | None = typer.Option(
            None, "--html", help="Also write the diff as one offline HTML page: counts per "
            "check, metric changes and the top rows of each category (a folder: diff.html in "
            "it)."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Issues fixed, issues new, and metric deltas between two audit runs."""
        from assay.exceptions import InputValidationError
        from assay.workspace import Workspace, default_workspace, diff_runs

        workspace = workspace or default_workspace()
        if not (workspace / "assay.duckdb").exists():
            raise InputValidationError(
                f"No workspace at '{workspace}'. Run assay audit first, or pass --workspace DIR."
            )
        ws = Workspace.open(workspace, create=False)
        target = _html_target(ws, html, run_a, run_b) if html is not None else None
        d = diff_runs(ws, run_a, run_b)
        written = _write_html(ws, d, target) if target is not None else None
        if as_json:
            payload = d.to_dict()
            if written is not None:
                payload["html"] = str(written)
            print_json(payload)
            return
        _print_diff(d)
        if written is not None:
            console.print(f"Wrote {written} ({written.stat().st_size / 1e3:,.0f} kB).",
                          markup=False, highlight=False)


def html_path(html: str, default_name: str) -> Path:
    """``--html``'s file: ``default_name`` inside it when it is a folder (or ends in a slash)."""
    path = Path(html)
    if path.is_dir() or html.endswith(("/", os.sep)):
        return path / default_name
    return path


def _html_target(ws: Any, html: str, run_a: str, run_b: str) -> Path:
    """The page's path, checked before any work: never one of the runs' files or their data."""
    from assay.data import check_output_file

    target = html_path(html, "diff.html")
    inputs: list[Path | None] = [ws.path / "assay.duckdb"]
    for ref in (run_a, run_b):
        run_id = ws.resolve_run(ref, command="audit")
        folder = ws.results_dir(run_id)
        if folder.is_dir():
            inputs += [p for p in folder.iterdir() if p.is_file()]
        fingerprint = ws.run(run_id).get("fingerprint")
        dataset = ws.dataset(fingerprint) if fingerprint else None
        if dataset and dataset.get("source"):
            inputs.append(Path(str(dataset["source"])))
    return check_output_file(target, option="--html", inputs=inputs)


def _write_html(ws: Any, d: Any, target: Path) -> Path:
    """Write the diff page: the counts of ``d`` and the top rows of each category."""
    from assay.report import diff_rows, write_diff_report
    from assay.workspace import applicable_decisions, resolve_decisions

    with ws.hold():
        a, b = ws.run(d.run_a), ws.run(d.run_b)
        fa = ws.findings(d.run_a, expand_details=True)
        fb = ws.findings(d.run_b, expand_details=True)
        decisions = (resolve_decisions(applicable_decisions(ws, a["fingerprint"]))
                     if a.get("fingerprint") else None)
    payload = d.to_dict()
    rows = diff_rows(payload, fa, fb, decisions, top=HTML_TOP_ROWS)
    statuses = {"a": (a.get("summary") or {}).get("checks") or {},
                "b": (b.get("summary") or {}).get("checks") or {}}
    return write_diff_report(payload, target, rows, statuses=statuses)


def _print_diff(d: Any) -> None:
    from rich.table import Table
    from rich.text import Text

    console.print(Text.assemble((d.run_a, "bold"), " → ", (d.run_b, "bold"),
                                "" if d.same_dataset else "  (different dataset versions)"))
    # short headers, so the table fits 80 columns; the legend below says what each one counts
    t = Table(box=None, pad_edge=False, padding=(0, 1), header_style="bold underline")
    t.add_column("check", overflow="fold")
    for col in ("before", "after", "fixed", "kept", "cleared", "removed", "new", "persist"):
        t.add_column(col, justify="right", no_wrap=True)
    for r in d.checks.itertuples(index=False):
        t.add_row(Text(str(r.check)), f"{r.flagged_a:,}", f"{r.flagged_b:,}",
                  Text(f"{r.fixed:,}", style="green"), f"{r.kept:,}", f"{r.cleared:,}",
                  f"{r.removed:,}", Text(f"{r.new:,}", style="red" if r.new else ""),
                  f"{r.persisting:,}")
    console.print(t)
    console.print(Text(
        "before/after: rows flagged by each run. Of the rows flagged before: fixed = a reviewer "
        "relabelled, removed or marked it a duplicate; kept = a reviewer kept it; cleared = no "
        "decision, yet no longer flagged (the model or the data changed); removed = gone "
        "without a decision; persist = still flagged. new = flagged after only. "
        f"{d.n_decisions:,} reviewed row(s) on the earlier run's data."))
    if len(d.metrics):
        m = Table(box=None, pad_edge=False, padding=(0, 1), header_style="bold underline")
        for col in ("metric", "before", "after", "change"):
            m.add_column(col, justify="left" if col == "metric" else "right")
        for r in d.metrics.itertuples(index=False):
            m.add_row(Text(str(r.metric)), _num(r.a), _num(r.b), _num(r.delta, signed=True))
        console.print(m)


def _num(v: Any, *, signed: bool = False) -> str:
    """4 significant digits; integers as integers; '-' when missing."""
    import math
    from numbers import Real

    if isinstance(v, bool) or not isinstance(v, Real) or not math.isfinite(v):
        return "-"
    if signed and v == 0:
        return "0"
    return f"{v:+.4g}" if signed else f"{v:.4g}"
