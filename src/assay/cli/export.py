"""``assay export``: write the reviewed, corrected version of an audited dataset."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from assay.cli._common import console, print_json


def register(app: typer.Typer) -> None:
    """Add ``export`` to the CLI."""

    @app.command("export")
    def export_cmd(
        out: Path = typer.Option(..., "--out", "-o", help="Folder for the new version (new or empty)."),
        workspace: Path | None = typer.Option(
            None, "--workspace", "-w",
            help="Workspace folder (default: $ASSAY_WORKSPACE, else the nearest .assay/ here or "
                 "above)."),
        run: str | None = typer.Option(
            None, "--run", help="Audit run whose dataset is exported (default: the latest audit)."),
        source: Path | None = typer.Option(
            None, "--source", help="Where the audited data is now, if it moved (must be unchanged)."),
        policy: str = typer.Option(
            "consensus", "--policy", help="consensus: disagreeing reviewers leave a row unchanged; "
            "latest: the latest decision wins."),
        reviewer: list[str] | None = typer.Option(
            None, "--reviewer", help="Only apply this reviewer's decisions (repeatable)."),
        allow_new_classes: bool = typer.Option(
            False, "--allow-new-classes", help="Allow relabelling to a class the data lacks."),
        force: bool = typer.Option(False, "--force", help="Replace a non-empty --out folder."),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        """Write a corrected dataset version (same format) with a changelog; the source is untouched."""
        from assay.export import export_version
        from assay.workspace import default_workspace

        res = export_version(
            workspace or default_workspace(), out, run=run, source=source, policy=policy,
            reviewer=reviewer or None, allow_new_classes=allow_new_classes, force=force,
        )
        if as_json:
            print_json(res.to_dict())
            return
        c = res.counts
        console.print(
            f"Exported {c['rows_after']:,} of {c['rows_before']:,} rows: "
            f"{c['relabelled']} relabelled, {c['removed']} removed, "
            f"{c['duplicates_removed']} duplicates removed, {c['kept']} kept, "
            f"{c['deferred']} deferred, {c['conflicts']} conflicts "
            f"→ {escape(str(res.data_path))} (fingerprint {res.fingerprint}, "
            f"parent {res.parent_fingerprint})",
            soft_wrap=True,
        )
