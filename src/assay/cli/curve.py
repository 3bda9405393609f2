"""``assay curve``: learning curve, data plan, per-class budget, and clean-or-collect."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import typer
from rich.table import Table
from rich.text import Text

from assay.cli._common import (
    N_JOBS_HELP,
    NO_WORKSPACE_HELP,
    RAY_HELP,
    RUN_OUT_HELP,
    WORKSPACE_HELP,
    console,
    err_console,
    print_json,
    ray_backend_args,
    require_out,
)
from assay.exceptions import InputValidationError, InvalidParameterError
from assay.pipelines import LEARNING_METRICS, learning_plan

_PLOT_FORMATS = ("png", "svg")


_CLI_TERMS = (
    ("min_per_class=", "--min-per-class "),
    ("lower min_per_class", "lower --min-per-class"),
    ("Raise the budget", "Raise --budget"),
)


def _cli_terms(message: str) -> str:
    """The library's message in the command's terms (options instead of parameters)."""
    for api, cli in _CLI_TERMS:
        message = message.replace(api, cli)
    return message


def _split_cols(value: str | None) -> list[str] | None:
    return [c.strip() for c in value.split(",") if c.strip()] if value else None


def _parse_sizes(text: str | None) -> list[float] | None:
    if not text:
        return None
    try:
        vals = [float(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise InvalidParameterError(
            "--sizes", "comma-separated fractions in (0, 1] or row counts", text
        ) from exc
    return vals if all(v <= 1 for v in vals) else [int(v) for v in vals]


def _finite(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _points(fit: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct sizes, mean and standard deviation of the score at each."""
    df = pd.DataFrame({"n": fit.sizes, "s": fit.scores}).groupby("n")["s"]
    agg = df.agg(["mean", "std"]).fillna(0.0)
    return agg.index.to_numpy(float), agg["mean"].to_numpy(), agg["std"].to_numpy()


def plot_curves(
    fits: dict[str, Any], path: Path, *, target: float | None = None, n_max: float | None = None
) -> Path:
    """Log-log plot of error (or loss) against n: points, fit, and its bootstrap band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (name, fit) in enumerate(fits.items()):
        c = colours[i % len(colours)]
        to_y = (lambda s: 1.0 - np.asarray(s)) if fit.kind == "accuracy" else np.asarray
        n, mean, sd = _points(fit)
        ax.errorbar(n, np.maximum(to_y(mean), 1e-6), yerr=sd, fmt="o", color=c, ms=4,
                    label=f"{name} (measured)")
        top = max(float(n.max()) * 10.0, n_max or 0.0)
        grid = np.geomspace(float(n.min()), top, 200)
        lo, hi = fit.predict_interval(grid, level=0.8)
        ax.plot(grid, to_y(fit.predict(grid)), color=c,
                label=f"{name}: {fit.family} fit")
        ax.fill_between(grid, to_y(lo), to_y(hi), color=c, alpha=0.2, lw=0)
        ax.axvline(float(n.max()), color=c, ls=":", lw=0.8)
    if target is not None:
        first = next(iter(fits.values()))
        ax.axhline(1.0 - target if first.kind == "accuracy" else target, color="k", ls="--",
                   lw=0.8, label="target")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training samples n")
    first = next(iter(fits.values()))
    ax.set_ylabel("error (1 - score)" if first.kind == "accuracy" else "loss")
    ax.set_title("Learning curve with 80 % extrapolation band")
    ax.legend(fontsize=8)
    fig.tight_layout()
    from assay.data import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=Path(path).suffix.lstrip(".").lower() or "png")
    plt.close(fig)
    return path


def write_outputs(result: dict[str, Any], out: Path, *, plot_format: str = "png",
                  target: float | None = None) -> dict[str, Path]:
    """Write the curve (CSV), the fits and plans (JSON), the plot and ``curve.html`` into ``out``."""
    from assay.data import atomic_path, remove_stale_temps

    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)
    paths = {"curve": out / "curve.csv", "fits": out / "fits.json",
             "plot": out / f"curve.{plot_format}"}
    with atomic_path(paths["curve"]) as tmp:
        result["curve"].to_csv(tmp, index=False)
    fits = {"as is": result["fit"]}
    if "clean" in result:
        with atomic_path(out / "curve_clean.csv") as tmp:
            result["clean"].curve_clean.to_csv(tmp, index=False)
        paths["curve_clean"] = out / "curve_clean.csv"
        fits = {"as is": result["clean"].fit_as_is, "cleaned": result["clean"].fit_clean}
    payload = to_payload(result)
    with atomic_path(paths["fits"]) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, allow_nan=False, default=_json_default))
    req = result.get("requirement")
    n_max = req.n if req is not None and req.reachable and math.isfinite(req.n) else None
    plot_curves(fits, paths["plot"], target=target,
                n_max=min(n_max, 1000 * result["n_pool"]) if n_max else None)
    from assay.report import write_curve_report

    paths["report"] = write_curve_report(payload, out / "curve.html",
                                         plot_path=paths["plot"])
    return paths


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return _finite(float(obj))
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _finite(v.item() if hasattr(v, "item") else v) for k, v in row.items()}
            for row in df.to_dict(orient="records")]


def to_payload(result: dict[str, Any]) -> dict[str, Any]:
    """JSON-ready summary of :func:`assay.pipelines.learning_plan`'s result."""
    payload: dict[str, Any] = {
        "metric": result["metric"],
        "n_rows": result["n_rows"],
        "n_train": result["n_pool"],
        "fit": result["fit"].to_dict(),
        "forecast": result["forecast"],
    }
    if "requirement" in result:
        payload["requirement"] = result["requirement"].to_dict()
    if "per_class" in result:
        payload["per_class"] = _records(result["per_class"])
        payload["per_class_fits"] = {k: f.to_dict() for k, f in result["per_class_fits"].items()}
        if "pooled_fit" in result:
            payload["pooled_fit"] = result["pooled_fit"].to_dict()
    if "eval_support" in result:
        payload["eval_support"] = result["eval_support"]
    payload["warnings"] = list(result.get("warnings", []))
    if "allocation" in result:
        alloc = result["allocation"]
        payload["allocation"] = {
            **{k: _finite(v) for k, v in alloc.attrs.items()},
            "classes": _records(alloc),
        }
    if "clean" in result:
        payload["clean"] = result["clean"].summary()
        payload["clean"]["fit_clean"] = result["clean"].fit_clean.to_dict()
    return payload


def print_plan(result: dict[str, Any]) -> None:
    """Print the plan as tables and sentences."""
    fit = result["fit"]
    metric = result["metric"]
    console.print(
        f"[bold]{result['n_rows']:,}[/] rows; learning curve of [bold]{metric}[/] on "
        f"{len(result['curve'])} fits up to n={result['n_pool']:,}; best extrapolating family: "
        f"[bold]{fit.family}[/] ({fit.to_dict()['formula']}); ceiling {fit.ceiling:.4f}"
    )
    if not fit.quality.well_behaved:
        for issue in fit.quality.issues:
            err_console.print(f"[yellow]ill-behaved curve:[/] {issue}")
    for warning in result.get("warnings", []):
        err_console.print(Text.assemble(("warning: ", "bold yellow"), " ".join(warning.split())),
                          soft_wrap=True)
    t = Table(title="Forecast", show_header=True, header_style="bold")
    for col in ("training samples", f"predicted {metric}", "80 % interval"):
        t.add_column(col, justify="right")
    for row in result["forecast"]:
        t.add_row(f"{row['n']:,}", f"{row['predicted']:.4f}",
                  f"{row['low']:.4f} - {row['high']:.4f}")
    console.print(t)
    if "requirement" in result:
        console.print(result["requirement"].message)
    if "per_class" in result:
        t = Table(title="Per class", show_header=True, header_style="bold")
        for col in ("class", "train rows", "eval rows", "recall now", "recall ceiling",
                    "family"):
            t.add_column(col, justify="right" if col != "class" else "left")
        for r in result["per_class"].to_dict(orient="records"):
            t.add_row(str(r["class"]), f"{r['n_train']:,}", f"{r['eval_rows']:,}",
                      f"{r['recall_now']:.3f}", f"{r['recall_ceiling']:.3f}", str(r["family"]))
        console.print(t)
    if "allocation" in result:
        a = result["allocation"]
        t = Table(title=f"Collection budget ({a.attrs['objective']}: "
                        f"{a.attrs['predicted_before']:.4f} -> {a.attrs['predicted_after']:.4f})",
                  show_header=True, header_style="bold")
        cols = ["class", "collect", "total", "recall now", "recall after"]
        cols += ["eval rows"] if "eval_rows" in a.columns else []
        for col in (*cols, "note"):
            t.add_column(col, justify="left" if col in ("class", "note") else "right")
        for r in a.to_dict(orient="records"):
            cells = [str(r["class"]), f"{r['collect']:,}", f"{r['total']:,}",
                     f"{r['recall_now']:.3f}", f"{r['recall_after']:.3f}"]
            cells += [f"{r['eval_rows']:,}"] if "eval_rows" in r else []
            t.add_row(*cells, str(r["note"]))
        console.print(t)
        console.print(
            f"Allocated {a.attrs['allocated']:,} of {a.attrs['budget']:,} rows"
            + (f" (at least {a.attrs['min_per_class']:,} per class first)"
               if a.attrs["min_per_class"] else "")
            + f"; a chunk is bought only if it gains at least {a.attrs['min_gain']:g} recall "
            "per row."
        )
        for note in a.attrs["notes"]:
            console.print(Text(note))
    if "clean" in result:
        s = result["clean"].summary()
        console.print(
            f"Clean or collect: {s['n_flagged']:,} training rows flagged; {metric} "
            f"{s['score_as_is']:.4f} as is vs {s['score_clean']:.4f} cleaned. {s['message']}"
        )


def register(app: typer.Typer) -> None:
    """Add ``curve`` to the CLI."""

    @app.command("curve")
    def curve_cmd(
        data: Path = typer.Argument(..., help="CSV, TSV, Parquet or JSONL file."),
        label: str = typer.Option(..., "--label", help="Label column."),
        target: float | None = typer.Option(None, "--target", help="Score to reach, e.g. 0.95."),
        metric: str = typer.Option("accuracy", "--metric",
                                   help="accuracy, balanced_accuracy, macro_f1 or log_loss."),
        per_class: bool = typer.Option(False, "--per-class", help="Per-class recall curves."),
        budget: int | None = typer.Option(None, "--budget",
                                          help="New samples to allocate across classes."),
        objective: str = typer.Option("balanced_accuracy", "--objective",
                                      help="balanced_accuracy or worst_class (with --budget)."),
        min_per_class: int = typer.Option(
            0, "--min-per-class", min=0,
            help="Training rows every class ends with at least (with --budget)."),
        min_gain: float = typer.Option(
            1e-5, "--min-gain", min=0.0,
            help="Smallest predicted recall gain per collected row worth paying for; what no "
                 "class can use is left unallocated (with --budget)."),
        min_eval_rows: int = typer.Option(
            20, "--min-eval-rows", min=1,
            help="Held-out rows below which a class's curve is warned about and planned "
                 "mostly on the pooled curve's shape."),
        compare_clean: bool = typer.Option(False, "--compare-clean",
                                           help="Curve with suspected label errors removed."),
        text: str | None = typer.Option(None, "--text", help="Free-text column."),
        features: str | None = typer.Option(None, "--features",
                                            help="Comma-separated feature columns."),
        embeddings: Path | None = typer.Option(None, "--embeddings",
                                               help="Aligned .npy embeddings."),
        sizes: str | None = typer.Option(None, "--sizes",
                                         help="Comma-separated fractions or row counts."),
        seeds: int = typer.Option(3, "--seeds", help="Subsets per size."),
        n_bootstrap: int = typer.Option(200, "--bootstrap", help="Bootstrap resamples."),
        plot_format: str = typer.Option("png", "--plot-format", help="png or svg."),
        out: Path | None = typer.Option(
            None, "--out", help=RUN_OUT_HELP),
        workspace: Path | None = typer.Option(
            None, "--workspace", "-w", help=WORKSPACE_HELP),
        no_workspace: bool = typer.Option(
            False, "--no-workspace", help=NO_WORKSPACE_HELP),
        seed: int = typer.Option(
            0, "--seed", min=0, max=2**32 - 1, help="Random seed."),
        n_jobs: int | None = typer.Option(None, "--n-jobs", help=N_JOBS_HELP),
        ray: str | None = typer.Option(None, "--ray", metavar="[ADDRESS]", help=RAY_HELP),
        as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
    ) -> None:
        """How much more data, of which class? Fit a learning curve and plan collection."""
        if plot_format not in _PLOT_FORMATS:
            raise InvalidParameterError("--plot-format", "png or svg", plot_format)
        if metric not in LEARNING_METRICS:
            raise InvalidParameterError("--metric", "one of " + ", ".join(LEARNING_METRICS),
                                        metric)
        if not data.exists():
            raise InputValidationError(f"Data file not found: '{data}'. Check the path.")
        if min_per_class and budget is None:
            raise InputValidationError(
                f"--min-per-class {min_per_class} needs --budget: it is the least every class "
                "ends with after the budget is allocated. Add --budget N (new rows to collect)."
            )
        from assay.cli._common import progress_bar
        from assay.data import check_output_dir
        from assay.distributed import backend_context
        from assay.pipelines import recorded_run

        names = ("curve.csv", "curve_clean.csv", "fits.json", f"curve.{plot_format}", "curve.html")
        require_out(no_workspace, out, "the curve", workspace)
        if out is not None:
            out = check_output_dir(out, inputs=[data, embeddings], names=names)
        size_list = _parse_sizes(sizes)
        params = {"data": str(data), "label": label, "target": target, "metric": metric,
                  "per_class": per_class, "budget": budget, "objective": objective,
                  "min_per_class": min_per_class, "min_gain": min_gain,
                  "min_eval_rows": min_eval_rows,
                  "compare_clean": compare_clean, "sizes": sizes, "seeds": seeds, "seed": seed,
                  "n_jobs": n_jobs, "ray": ray}
        with recorded_run("curve", params, data=data, workspace=workspace,
                          enabled=not no_workspace) as run, \
                progress_bar(not as_json) as progress:
            folder = out if out is not None else run.folder
            assert folder is not None  # noqa: S101 - checked above
            try:
                with backend_context(*ray_backend_args(ray), owner="curve"):
                    result = learning_plan(
                        data, label=label, target=target, metric=metric, per_class=per_class,
                        budget=budget, objective=objective, compare_clean=compare_clean,
                        text=text, features=_split_cols(features), embeddings=embeddings,
                        sizes=size_list, seeds=seeds, n_bootstrap=n_bootstrap, seed=seed,
                        n_jobs=n_jobs, progress=progress, min_per_class=min_per_class,
                        min_gain=min_gain, min_eval_rows=min_eval_rows,
                    )
            except InputValidationError as exc:
                raise InputValidationError(_cli_terms(str(exc))) from exc
            paths = write_outputs(result, folder, plot_format=plot_format, target=target)
            if run.rec is not None:
                run.rec.summary["outputs"] = {k: str(v) for k, v in paths.items()}
        if as_json:
            payload = to_payload(result)
            payload["outputs"] = {k: str(v) for k, v in paths.items()}
            print_json(payload)
            return
        print_plan(result)
        console.print(f"Wrote {', '.join(str(p) for p in paths.values())}")
