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
        workspace: Path | None = typer.Option(
            None, "--workspace", "-w",
            help="Workspace folder (default: the nearest .assay/ here or above, or "
                 "$ASSAY_WORKSPACE)."),
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
        d = diff_runs(Workspace.open(workspace, create=False), run_a, run_b)
        if as_json:
            print_json(d.to_dict())
            return
        console.print(f"[bold]{d.run_a}[/] → [bold]{d.run_b}[/]"
                      + ("" if d.same_dataset else "  (different dataset versions)"))
        t = Table("check", "flagged before", "flagged after", "fixed (reviewed)",
                  "kept (reviewed)", "cleared (not reviewed)", "removed", "new", "persisting")
        for r in d.checks.itertuples(index=False):
            t.add_row(r.check, str(r.flagged_a), str(r.flagged_b), f"[green]{r.fixed}[/]",
                      str(r.kept), str(r.cleared), str(r.removed),
                      f"[red]{r.new}[/]" if r.new else "0", str(r.persisting))
        console.print(t)
        console.print(f"{d.n_decisions} reviewed row(s) on the earlier run's data. Only rows a "
                      "reviewer relabelled, removed or marked as duplicates count as fixed; a "
                      "flag that disappeared without a decision is 'cleared' (the model or the "
                      "data changed).")
        m = Table("metric", "before", "after", "delta")
        for r in d.metrics.itertuples(index=False):
            fmt = (lambda v: "-" if v is None else f"{v:.4g}")  # noqa: E731
            m.add_row(r.metric, fmt(r.a), fmt(r.b), fmt(r.delta))
        console.print(m)
