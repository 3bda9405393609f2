"""``assay export``: write the reviewed, corrected version of an audited dataset."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

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
        dedup: bool = typer.Option(
            False, "--dedup", help="Also drop the audit's duplicates, each only as a copy of "
            "a row that stays (the best-scored stays); review decisions take precedence."),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        """Write a corrected dataset version (same format) with a changelog; the source is untouched."""
        from assay.export import export_version
        from assay.workspace import default_workspace

        ws_path = workspace or default_workspace()
        res = export_version(
            ws_path, out, run=run, source=source, policy=policy,
            reviewer=reviewer or None, allow_new_classes=allow_new_classes, force=force,
            dedup=dedup,
        )
        if as_json:
            print_json(res.to_dict())
            return
        c = res.counts
        console.print(
            f"Exported {c['rows_after']:,} of {c['rows_before']:,} rows: "
            f"{c['relabelled']} relabelled, {c['removed']} removed, "
            f"{c['duplicates_removed']} duplicates removed"
            + (f" (+{c['dedup_removed']:,} by --dedup)" if dedup else "")
            + f", {c['kept']} kept, "
            f"{c['deferred']} deferred, {c['conflicts']} conflicts "
            f"→ {escape(str(res.data_path))} (fingerprint {res.fingerprint}, "
            f"parent {res.parent_fingerprint})",
            soft_wrap=True,
        )
        console.print(_next_step(res, ws_path, workspace is not None), markup=False,
                      highlight=False, soft_wrap=True)


def _next_step(res: Any, ws_path: Path, explicit_ws: bool) -> str:
    """The re-audit and diff commands that close the loop on the exported version: the label
    column as audited, the predicted boxes written beside a detection version."""
    from assay.workspace import Workspace

    label = None
    try:
        with Workspace.open(ws_path, read_only=True) as store:
            record = store.dataset(res.parent_fingerprint) or {}
        label = (record.get("roles") or {}).get("label")
    except Exception:  # noqa: BLE001 - a hint only: the export itself succeeded
        label = None
    ws = f" -w {shlex.quote(str(ws_path))}" if explicit_ws else ""
    parts = [f"assay audit {shlex.quote(str(res.data_path))}{ws}"]
    if label:
        parts.append(f"--label {shlex.quote(str(label))}")
    predictions = res.changelog.get("predictions")
    if isinstance(predictions, dict) and predictions.get("path"):
        parts.append(f"--predictions {shlex.quote(str(predictions['path']))}")
    return (f"Next: re-audit the version (add the other options you audited with): "
            f"{' '.join(parts)}; then compare: assay diff{ws} {res.run_id}")
