"""``assay pipeline``: what a first stage's errors cost the second, gold vs predicted inputs."""

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

_LABELS = {"oracle": "oracle (gold / gold)", "naive": "naive (gold / predicted)",
           "robust": "robust (predicted / predicted)"}


def print_result(res: Any, facts: dict[str, Any]) -> None:
    """Scores of the three variants, the gaps with intervals, and where the gap comes from."""
    m = res.metric.replace("_", " ")
    t = Table(title=f"Stage 2 ({facts['label']}) given stage 1 ({facts['stage1']}): "
                    f"{res.n_test:,} held-out rows", header_style="bold")
    t.add_column("stage 2 trained / tested on")
    t.add_column(m, justify="right")
    for k in ("oracle", "naive", "robust"):
        t.add_row(_LABELS[k], f"{res.scores[k]:.3f}")
    console.print(t)
    g = Table(title="Where the naive gap comes from (stage 1's classes)", header_style="bold")
    for col in ("stage 1 class", "rows", "stage 1 recall", "share of gap"):
        g.add_column(col, justify="left" if col == "stage 1 class" else "right")
    names = facts["stage1_classes"]
    for r in res.by_class.head(10).itertuples(index=False):
        g.add_row(str(names[int(r.stage1_class)]), f"{r.n:,}", f"{r.stage1_recall:.3f}",
                  f"{r.gap_naive_share:+.3f}")
    console.print(g)
    console.print(Text(res.message()))
    for note in res.notes:
        console.print(Text(f"note: {note}"))


def register(app: typer.Typer) -> None:
    """Add ``assay pipeline`` to ``app``."""

    @app.command("pipeline")
    def pipeline_cmd(
        data: Path = typer.Argument(..., help="Table (CSV, TSV, Parquet, JSONL)."),
        stage1: str = typer.Option(
            ..., "--stage1", help="Intermediate column stage 1 predicts (its gold labels)."),
        label: str = typer.Option(..., "--label", help="Stage 2's label column."),
        metric: str = typer.Option(
            "accuracy", "--metric", help="accuracy, balanced_accuracy or macro_f1."),
        model: str = typer.Option("logistic", "--model", help="logistic or hgb (both stages)."),
        text: str | None = typer.Option(None, "--text", help="Free-text column to featurize."),
        features: str | None = typer.Option(
            None, "--features", help="Comma-separated feature columns (not the stage-1 one)."),
        embeddings: Path | None = typer.Option(
            None, "--embeddings", help="Aligned .npy embeddings (used instead of features)."),
        test_size: float = typer.Option(
            0.25, "--test-size", min=0.05, max=0.5, help="Share of rows held out."),
        seed: int = typer.Option(0, "--seed", min=0, max=2**32 - 1, help="Random seed."),
        n_jobs: int | None = typer.Option(None, "--n-jobs", help="Parallel fold fits."),
        out: Path | None = typer.Option(None, "--out", help=RUN_OUT_HELP),
        workspace: Path | None = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
        no_workspace: bool = typer.Option(False, "--no-workspace", help=NO_WORKSPACE_HELP),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        """Two-stage pipeline: stage 2 on gold vs stage 1's predicted inputs, and the gap."""
        from assay.cli.audit import _split_cols
        from assay.data import check_output_dir
        from assay.pipelines import recorded_run, two_stage_run
        from assay.twostage import TWO_STAGE_METRICS

        if metric not in TWO_STAGE_METRICS:
            raise InvalidParameterError("--metric", "one of " + ", ".join(TWO_STAGE_METRICS),
                                        metric, owner="assay pipeline")
        if model not in ("logistic", "hgb"):
            raise InvalidParameterError("--model", "logistic or hgb", model,
                                        owner="assay pipeline")
        require_files(data=data, embeddings=embeddings)
        require_out(no_workspace, out, "pipeline.json", workspace)
        if out is not None:
            out = check_output_dir(out, inputs=[data, embeddings], names=("pipeline.json",))
        cols = _split_cols(features)
        params = {"data": str(data), "stage1": stage1, "label": label, "metric": metric,
                  "model": model, "test_size": test_size, "seed": seed}
        with recorded_run("pipeline", params, data=data, workspace=workspace,
                          enabled=not no_workspace) as run:
            folder = out if out is not None else run.folder
            assert folder is not None  # noqa: S101 - require_out checked it
            res, facts = two_stage_run(
                data, stage1=stage1, label=label, metric=metric, model=model, text=text,
                features=cols, embeddings=embeddings, test_size=test_size, seed=seed,
                n_jobs=n_jobs)
            payload = {**res.to_dict(), **facts}
            path = write_run_json(folder, "pipeline.json", payload)
            if run.rec is not None:  # what `assay runs --compare` reads
                run.rec.summary.update({
                    "outputs": {"json": str(path)}, "metric": res.metric,
                    **{f"stage2_{k}": v for k, v in res.scores.items()},
                    "gap_naive": res.gap_naive, "gap_robust": res.gap_robust,
                    "stage1_accuracy": res.stage1_accuracy})
        if as_json:
            print_json({**payload, "outputs": {"json": str(path)}})
            return
        print_result(res, facts)
        console.print(f"Wrote {path}")
