"""``assay sanity``: checks to run before training (labels line up, a model can fit, the target
is reachable). Exit 1 when a check fails, 0 otherwise, 2 for a user error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from assay.cli._common import (
    NO_WORKSPACE_HELP,
    RUN_OUT_HELP,
    WORKSPACE_HELP,
    console,
    print_json,
    require_files,
    require_out,
    write_run_json,
)
from assay.exceptions import InvalidParameterError

_OWNER = "assay sanity"
_STYLE = {"fail": "bold red", "warn": "yellow", "pass": "green", "info": "cyan",
          "skipped": "dim"}


def _payload(report: Any, facts: dict[str, Any]) -> dict[str, Any]:
    return {**report.to_dict(), "n_rows": facts["n_rows"], "classes": facts["classes"],
            "model": facts["model"]}


def print_report(report: Any, facts: dict[str, Any]) -> None:
    """One row per check: status and its one-line message; then the oracle upper bound."""
    table = Table(title=f"Sanity checks ({facts['n_rows']:,} rows, "
                        f"{len(facts['classes'])} classes)", show_header=True,
                  header_style="bold")
    table.add_column("check")
    table.add_column("status")
    table.add_column("finding", overflow="fold")
    for c in report.checks:
        table.add_row(c.name.replace("_", " "), Text(c.status, style=_STYLE[c.status]),
                      Text(c.message))
    console.print(table)
    if report.bound_source:
        console.print(Text(
            f"Oracle upper bound of {report.metric}: {report.upper_bound:.3f} "
            f"({report.bound_source.replace('_', ' ')})."))


def register(app: typer.Typer) -> None:
    """Add ``assay sanity`` to ``app``."""

    @app.command("sanity")
    def sanity_cmd(
        data: Path = typer.Argument(..., help="Table (CSV, TSV, Parquet, JSONL)."),
        label: str = typer.Option(..., "--label", help="Label column."),
        metric: str = typer.Option(
            "accuracy", "--metric", help="accuracy, balanced_accuracy or macro_f1."),
        target: float | None = typer.Option(
            None, "--target", help="Score the project needs; checked against the upper bound."),
        text: str | None = typer.Option(None, "--text", help="Free-text column to featurize."),
        features: str | None = typer.Option(
            None, "--features", help="Comma-separated feature columns."),
        embeddings: Path | None = typer.Option(
            None, "--embeddings", help="Aligned .npy embeddings (used instead of features)."),
        annotations: Path | None = typer.Option(
            None, "--annotations",
            help="Long table of ratings (one row per item and annotator): adds the annotators' "
                 "agreement ceiling."),
        item: str | None = typer.Option(None, "--item", help="Item column of --annotations."),
        annotator: str | None = typer.Option(
            None, "--annotator", help="Annotator column of --annotations."),
        annotation_label: str | None = typer.Option(
            None, "--annotation-label", help="Label column of --annotations."),
        model: str = typer.Option(
            "auto", "--model", help="auto, logistic, hgb, knn or blend (as assay audit)."),
        seed: int = typer.Option(0, "--seed", min=0, max=2**32 - 1, help="Random seed."),
        n_jobs: int | None = typer.Option(None, "--n-jobs", help="Parallel fold fits."),
        out: Path | None = typer.Option(None, "--out", help=RUN_OUT_HELP),
        workspace: Path | None = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
        no_workspace: bool = typer.Option(False, "--no-workspace", help=NO_WORKSPACE_HELP),
        as_json: bool = typer.Option(False, "--json", help="Print the checks as JSON."),
    ) -> None:
        """Before training: do labels line up, can a model fit, is the target reachable?"""
        from assay.cli.audit import _split_cols
        from assay.data import check_output_dir
        from assay.models import MODEL_NAMES
        from assay.pipelines import recorded_run, sanity_run
        from assay.sanity import SANITY_METRICS

        if metric not in SANITY_METRICS:
            raise InvalidParameterError("--metric", "one of " + ", ".join(SANITY_METRICS),
                                        metric, owner=_OWNER)
        if model not in MODEL_NAMES:
            from assay._validation import did_you_mean

            raise InvalidParameterError("--model", "one of " + ", ".join(MODEL_NAMES), model,
                                        owner=_OWNER, hint=did_you_mean(model, MODEL_NAMES).strip())
        if target is not None and not 0 < target <= 1:
            raise InvalidParameterError("--target", f"a score in (0, 1] ({metric})", target,
                                        owner=_OWNER)
        require_files(data=data, annotations=annotations, embeddings=embeddings)
        require_out(no_workspace, out, "sanity.json", workspace)
        if out is not None:
            out = check_output_dir(out, inputs=[data, annotations, embeddings],
                                   names=("sanity.json",))
        cols = _split_cols(features)
        params = {"data": str(data), "label": label, "metric": metric, "target": target,
                  "annotations": str(annotations) if annotations else None, "model": model,
                  "seed": seed}
        with recorded_run("sanity", params, data=data, workspace=workspace,
                          enabled=not no_workspace) as run:
            folder = out if out is not None else run.folder
            assert folder is not None  # noqa: S101 - require_out checked it
            report, facts = sanity_run(
                data, label=label, metric=metric, target=target, text=text, features=cols,
                embeddings=embeddings, annotations=annotations, item=item,
                annotator=annotator, annotation_label=annotation_label, model=model,
                seed=seed, n_jobs=n_jobs)
            payload = _payload(report, facts)
            path = write_run_json(folder, "sanity.json", payload)
            if run.rec is not None:
                run.rec.summary.update({"status": report.status, "outputs": {"json": str(path)},
                                        "upper_bound": payload["upper_bound"]})
        if as_json:
            print_json({**payload, "outputs": {"json": str(path)}})
        else:
            print_report(report, facts)
            console.print(f"Wrote {path}")
        if report.status == "fail":
            raise typer.Exit(1)
