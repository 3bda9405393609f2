"""``assay value``: what each row, group and source is worth, per task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import typer

from assay.cli._common import (
    N_JOBS_HELP,
    NO_WORKSPACE_HELP,
    RAY_HELP,
    RUN_OUT_HELP,
    WORKSPACE_HELP,
    console,
    print_json,
    ray_backend_args,
    require_out,
)
from assay.exceptions import InputValidationError, InvalidParameterError
from assay.pipelines import VALUE_METHODS, value_rows

_OWNER = "assay value"


def register(app: typer.Typer) -> None:
    """Add ``assay value`` to ``app``."""

    @app.command("value")
    def value_cmd(
        data: Path = typer.Argument(..., help="Table (CSV, TSV, Parquet, JSONL)."),
        label: str = typer.Option(..., "--label", help="Label column."),
        method: str = typer.Option(
            "knn-shapley", "--method",
            help="knn-shapley, data-oob, banzhaf, tmc-shapley or beta-shapley.",
        ),
        group: str | None = typer.Option(
            None, "--group", help="Column whose groups (source, annotator, batch) get a value."
        ),
        task: str | None = typer.Option(
            None, "--task", help="More label columns, comma-separated: one value per task."
        ),
        text: str | None = typer.Option(None, "--text", help="Free-text column to featurize."),
        embeddings: str | None = typer.Option(
            None, "--embeddings", help="Aligned .npy embeddings (used instead of features)."
        ),
        k: int = typer.Option(5, "--k", help="Neighbours of KNN-Shapley."),
        n_estimators: int = typer.Option(200, "--n-estimators", help="Bootstrap learners of Data-OOB."),
        max_samples: int = typer.Option(
            100, "--max-samples", help="Permutations / coalitions of Monte Carlo methods."
        ),
        max_time: float = typer.Option(
            300.0, "--max-time", help="Seconds per half for Monte Carlo methods."
        ),
        seed: int = typer.Option(
            0, "--seed", min=0, max=2**32 - 1, help="Random seed."),
        id_col: str | None = typer.Option(
            None, "--id", help="Row id column (the 'row' of values.csv; match the audit's --id)."),
        top: int = typer.Option(10, "--top", help="Lowest-valued rows to show."),
        out: Path | None = typer.Option(
            None, "--out", help=RUN_OUT_HELP),
        workspace: Path | None = typer.Option(
            None, "--workspace", "-w", help=WORKSPACE_HELP),
        no_workspace: bool = typer.Option(
            False, "--no-workspace", help=NO_WORKSPACE_HELP),
        n_jobs: int | None = typer.Option(None, "--n-jobs", help=N_JOBS_HELP),
        ray: str | None = typer.Option(None, "--ray", metavar="[ADDRESS]", help=RAY_HELP),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        """Value every row (and group) of a table: which examples help, which harm."""
        from assay.cli._common import progress_bar
        from assay.data import atomic_path, check_output_dir
        from assay.pipelines import recorded_run

        if method not in VALUE_METHODS:
            from assay._validation import did_you_mean

            raise InvalidParameterError(
                "--method", "one of " + ", ".join(VALUE_METHODS), method, owner=_OWNER,
                hint=did_you_mean(method, VALUE_METHODS).strip())
        names = ("values.csv", "group_values.csv")
        if not Path(data).exists():
            raise InputValidationError(f"File not found: '{data}'. Check the path and try again.")
        require_out(no_workspace, out, "values.csv", workspace)
        if out is not None:
            out = check_output_dir(out, inputs=[data, embeddings], names=names)
        tasks = [t.strip() for t in task.split(",") if t.strip()] if task else None
        backend, ray_address = ray_backend_args(ray)
        params = {"data": str(data), "label": label, "method": method, "group": group,
                  "tasks": tasks, "k": k, "n_estimators": n_estimators,
                  "max_samples": max_samples, "max_time": max_time, "seed": seed,
                  "n_jobs": n_jobs, "ray": ray}
        with recorded_run("value", params, data=data, workspace=workspace,
                          enabled=not no_workspace) as run, \
                progress_bar(not as_json) as progress:
            target = out if out is not None else run.folder
            assert target is not None  # noqa: S101 - checked above
            frame, groups, summary = value_rows(
                data, label=label, method=method, group=group, tasks=tasks, text=text,
                embeddings=embeddings, k=k, n_estimators=n_estimators, max_samples=max_samples,
                max_time=max_time, seed=seed, id=id_col, progress=progress, n_jobs=n_jobs,
                backend=backend, ray_address=ray_address,
            )
            outputs = {"values": str(target / "values.csv")}
            with atomic_path(target / "values.csv") as tmp:
                frame.to_csv(tmp, index=False)
            if groups is not None:
                outputs["groups"] = str(target / "group_values.csv")
                with atomic_path(target / "group_values.csv") as tmp:
                    groups.to_csv(tmp)
            if run.rec is not None:
                run.rec.summary.update({k: v for k, v in summary.items() if k != "outputs"})
                run.rec.summary["outputs"] = outputs
        summary["run_id"] = run.run_id
        lowest = frame.nsmallest(top, "data_value")
        shown = lowest.drop(columns=[f"data_value_{label}"])  # same as data_value
        summary["outputs"] = outputs
        if as_json:
            payload = dict(summary)
            payload["lowest"] = lowest.astype(object).where(lowest.notna(), None).to_dict("records")
            if groups is not None:
                payload["groups"] = groups.reset_index().to_dict("records")
            print_json(payload)
            return
        _print_summary(summary, shown, groups)


def _print_summary(summary: dict[str, Any], lowest: pd.DataFrame, groups: pd.DataFrame | None) -> None:
    from rich.table import Table
    from rich.text import Text

    console.print(Text.assemble(
        ("assay value", "bold"), f"  method {summary['method']}, {summary['n_rows']} rows, ",
        f"tasks: {', '.join(map(str, summary['tasks']))}",
    ))
    for task, s in summary["per_task"].items():
        console.print(Text(
            f"  {task}: mean {s['mean']:.4g}, min {s['min']:.4g}, max {s['max']:.4g}, "
            f"{s['n_negative']} negative"
        ))
    console.print(Text(f"  {summary['n_low_value']} rows in the low-value cluster"))
    table = Table(title="Lowest-valued rows")
    for col in lowest.columns:
        table.add_column(str(col))
    for _, row in lowest.iterrows():
        table.add_row(*[f"{v:.4g}" if isinstance(v, float) else str(v) for v in row.tolist()])
    console.print(table)
    if groups is not None:
        gt = Table(title="Group values (sum of row values)")
        gt.add_column("group")
        for col in groups.columns:
            gt.add_column(str(col))
        for name, row in groups.iterrows():
            gt.add_row(str(name), *[f"{v:.4g}" for v in row.tolist()])
        console.print(gt)
    for name, path in summary["outputs"].items():
        console.print(Text(f"  {name}: {path}"))
