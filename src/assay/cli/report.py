"""``assay report``: re-render the HTML report from a saved audit."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from assay.cli._common import console, err_console, print_json
from assay.exceptions import InputValidationError


def register(app: typer.Typer) -> None:
    """Add ``report`` to the CLI."""
    app.command("report")(report_command)


def report_command(
    source: str = typer.Argument(
        ..., help="Audit folder (as written by 'assay audit --out'), its audit.json, or a run id "
        "of the workspace ('latest', or a unique prefix; see 'assay runs')."),
    out: Path | None = typer.Option(
        None, "-o", "--out", help="HTML file to write. Default: report.html beside audit.json "
        "(for a run id: in the run's folder, <workspace>/runs/<run id>/)."),
    workspace: Path | None = typer.Option(
        None, "--workspace", "-w", help="Workspace to look a run id up in (default: the "
        "nearest .assay/ here or above, or $ASSAY_WORKSPACE)."),
    data: Path | None = typer.Option(
        None, "--data", help="The audited data, to show the samples themselves. Default: the "
        "file recorded in audit.json, when it still exists."),
    label: str | None = typer.Option(None, "--label", help="Label column of --data (default: "
                                     "the roles recorded in audit.json)."),
    text: str | None = typer.Option(None, "--text", help="Free-text column of --data."),
    image: str | None = typer.Option(None, "--image", help="Image path column of --data."),
    id_col: str | None = typer.Option(None, "--id", help="Row id column of --data."),
    no_data: bool = typer.Option(False, "--no-data", help="Render without samples."),
    image_shape: str | None = typer.Option(
        None, "--image-shape", help="The table's rows are grey images of HEIGHTxWIDTH pixels "
        "(e.g. 28x28), stored in the feature columns: show them as thumbnails. 'none' shows "
        "table cells. Default: what the audit recorded, else pixel columns found by name "
        "(pixel_0 ... pixel_63)."),
    max_rows: int = typer.Option(200, "--max-rows", help="Most rows per gallery."),
    as_json: bool = typer.Option(False, "--json", help="Print what was written as JSON."),
) -> None:
    """Write the self-contained HTML report of a saved audit (offline, printable)."""
    from assay.report import write_report

    result, base, run_id = _load_result(source, workspace)
    default = base / "report.html"  # beside audit.json: an --out folder, or the run's folder
    target = out if out is not None else default
    if target.is_dir():
        target = target / "report.html"
    from assay.data import check_output_file

    summary = result.summary if isinstance(result.summary, dict) else {}
    recorded = summary.get("source")
    target = check_output_file(target, option="--out", inputs=[
        data, Path(str(recorded)) if recorded else None, base / "audit.json",
        base / str(summary.get("issues_file") or "issues.parquet")])
    dataset, note = _dataset(result, data=data, label=label, text=text, image=image,
                             id_col=id_col, skip=no_data)
    href = _issues_href(result, base, target)
    path = write_report(result, target, dataset=dataset, issues_href=href, max_rows=max_rows,
                        image_shape=image_shape)
    payload = {"report": str(path), "bytes": path.stat().st_size, "status": result.status,
               "samples": dataset is not None, "issues_href": href}
    if as_json:
        if note:
            payload["note"] = note
        print_json(payload)
        return
    if note:
        err_console.print(f"[yellow]note:[/] {note}")
    console.print(f"Wrote {path} ({payload['bytes'] / 1e3:,.0f} kB"
                  f"{', with samples' if dataset is not None else ''}).")


def _load_result(source: str, workspace: Path | None) -> tuple[Any, Path, str | None]:
    """The audit a SOURCE names, the folder its files live in, and its run id (None for a path).

    A SOURCE that is an existing path is an audit folder or audit.json; anything else is looked
    up as a run id in the workspace, which keeps every audit's audit.json and issues.parquet.
    """
    from assay import AuditResult

    path = Path(source)
    if path.is_dir():
        path = path / "audit.json"
        if not path.exists():
            raise InputValidationError(
                f"No audit.json in '{source}'. Pass the folder that 'assay audit --out' wrote, "
                "or the audit.json file itself."
            )
        return AuditResult.from_json(path), path.parent, None
    if path.exists():
        return AuditResult.from_json(path), path.parent, None
    if "/" in source or os.sep in source or source.endswith(".json"):
        raise InputValidationError(
            f"No audit found at '{source}'. Pass an audit folder (written by 'assay audit "
            "--out'), its audit.json, or a workspace run id."
        )
    from assay.app import stored_audit
    from assay.workspace import Workspace, default_workspace

    ws_path = workspace or default_workspace()
    if not (ws_path / "assay.duckdb").exists():
        raise InputValidationError(
            f"'{source}' is neither an audit folder nor an audit.json, and there is no workspace "
            f"at {ws_path} to look it up as a run id. Pass an audit folder, or the workspace "
            "with --workspace."
        )
    ws = Workspace.open(ws_path, create=False, read_only=True)
    run_id, _, result = stored_audit(ws, source, command="report")
    return result, ws.results_dir(run_id), run_id


def _dataset(
    result: Any, *, data: Path | None, label: str | None, text: str | None,
    image: str | None, id_col: str | None, skip: bool,
) -> tuple[Any, str | None]:
    """The audited data to show samples from (or None), and a note for the user when left out."""
    from assay.report import check_alignment, load_dataset_for

    if skip:
        return None, None
    if data is not None and label is not None:
        from assay.data import load

        ds = load(data, label=label, text=text, image=image, id=id_col)
        check_alignment(result, ds)
        return ds, None
    if data is not None:
        if not (result.summary.get("roles") or {}).get("label"):
            raise InputValidationError(
                "audit.json records no column roles, so --data needs --label (and --text, "
                "--image, --id as in the audit)."
            )
        return load_dataset_for(result, data), None
    try:
        ds = load_dataset_for(result)
    except InputValidationError as exc:
        return None, f"samples left out: {exc}"
    if ds is None:
        return None, ("samples left out: the audited data file was not found; pass it with "
                      "--data to show the rows themselves.")
    return ds, None


def _issues_href(result: Any, base: Path, target: Path) -> str | None:
    """Relative link from the report to the full per-row Parquet table, when it exists."""
    name = result.summary.get("issues_file")
    if not name or not (base / str(name)).exists():
        return None
    rel = os.path.relpath((base / str(name)).resolve(), target.resolve().parent)
    return Path(rel).as_posix()
