"""``assay diff RUN_A RUN_B``: what changed between two audits."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from assay.cli._common import console, print_json


def register(app: typer.Typer) -> None:
    """Add ``diff`` to the CLI."""

    @app.command("diff")
    def diff_cmd(
        run_a: str = typer.Argument(..., help="The earlier audit run (id, prefix)."),
        run_b: str = typer.Argument("latest", help="The later audit run (default: latest)."),
        workspace: Path = typer.Option(Path(".assay"), "--workspace", "-w", help="Workspace folder."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Issues fixed, issues new, and metric deltas between two audit runs."""
        from assay.exceptions import InputValidationError
        from assay.workspace import Workspace, diff_runs

        if not (workspace / "assay.duckdb").exists():
            raise InputValidationError(
                f"No workspace at '{workspace}'. Run assay audit first, or pass --workspace DIR."
            )
        d = diff_runs(Workspace.open(workspace, create=False), run_a, run_b)
        if as_json:
            print_json(d.to_dict())
            return
        console.print(f"[bold]{d.run_a}[/] → [bold]{d.run_b}[/]"
                      + ("" if d.same_dataset else "  (different dataset versions)"))
        t = Table("check", "flagged before", "flagged after", "fixed", "removed", "new", "persisting")
        for r in d.checks.itertuples(index=False):
            t.add_row(r.check, str(r.flagged_a), str(r.flagged_b), f"[green]{r.fixed}[/]",
                      str(r.removed), f"[red]{r.new}[/]" if r.new else "0", str(r.persisting))
        console.print(t)
        m = Table("metric", "before", "after", "delta")
        for r in d.metrics.itertuples(index=False):
            fmt = (lambda v: "-" if v is None else f"{v:.4g}")  # noqa: E731
            m.add_row(r.metric, fmt(r.a), fmt(r.b), fmt(r.delta))
        console.print(m)
