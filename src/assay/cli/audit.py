"""``assay audit`` and ``assay demo``."""

from __future__ import annotations

import operator
import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import typer
from rich.table import Table

from assay._validation import finite_or_none
from assay.cli._common import (
    N_JOBS_HELP,
    RAY_HELP,
    console,
    err_console,
    print_json,
    ray_backend_args,
)
from assay.exceptions import InputValidationError, InvalidParameterError
from assay.pipelines import AUDIT_OUTPUT_NAMES, record_audit, write_audit_outputs

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt,
}
_RULE = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(>=|<=|>|<)\s*([-+0-9.eE]+)\s*$")
_STATUS_STYLE = {"pass": "green", "warn": "yellow", "fail": "red", "error": "bold red"}


def parse_fail_on(text: str) -> list[tuple[str, str, float]]:
    """Parse ``"label>0.05,duplicate>0"`` into ``[(metric, op, value), ...]``."""
    rules = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        m = _RULE.match(part)
        if not m:
            raise InvalidParameterError(
                "--fail-on", "rules like 'label>0.05' (metric, one of > >= < <=, a number), "
                "comma-separated", part,
            )
        rules.append((m.group(1), m.group(2), float(m.group(3))))
    return rules


def evaluate_fail_on(
    rules: list[tuple[str, str, float]], metrics: dict[str, float]
) -> list[str]:
    """Return a description of each rule that is exceeded (raises on unknown metrics)."""
    broken = []
    for name, op, value in rules:
        if name not in metrics:
            from assay._validation import did_you_mean

            known = ", ".join(sorted(k for k in metrics if "." not in k))
            raise InvalidParameterError(
                "--fail-on", f"a rule on a known metric ({known}, or check.figure)", name,
                hint=did_you_mean(name, metrics).strip(),
            )
        if _OPS[op](metrics[name], value):
            broken.append(f"{name} = {metrics[name]:.4g} {op} {value:g}")
    return broken


def unevaluated_fail_on(
    rules: list[tuple[str, str, float]], metrics: dict[str, float]
) -> list[str]:
    """The rules whose metric this run could not measure (NaN): they neither pass nor fail, and
    the CLI says so rather than passing them in silence (e.g. the precision interval of an
    estimate the audit did not call reliable)."""
    return [f"{name} {op} {value:g}: {name} is not measured in this run (NaN)"
            for name, op, value in rules
            if name in metrics and finite_or_none(metrics[name]) is None]


def _progress(enabled: bool) -> Any:
    from assay.cli._common import progress_bar

    return progress_bar(enabled)


def _split_cols(value: str | None) -> list[str] | None:
    """``"a, b"`` -> ``["a", "b"]``; an option given empty (``--checks ""``) -> ``[]``."""
    return None if value is None else [c.strip() for c in value.split(",") if c.strip()]


def _load_npy(path: Path | None, what: str) -> np.ndarray | None:
    if path is None:
        return None
    if not path.exists():
        raise InputValidationError(f"{what} file not found: '{path}'. Check the path.")
    from assay.data import load_npy

    try:  # a large file is memory-mapped copy-on-write: read in blocks as the checks use it
        return load_npy(path)
    except (ValueError, EOFError, OSError) as exc:  # EOFError: an empty or truncated file
        raise InputValidationError(
            f"Could not read '{path}' as a numeric .npy array without pickle "
            f"({exc or type(exc).__name__}). Save a plain float array with numpy.save."
        ) from exc


def print_result(result: Any) -> None:
    """Print the audit's summary table."""
    s = result.summary
    model = s.get("model")
    model_name = f" ({model['name']})" if isinstance(model, dict) and model.get("name") else ""
    if s.get("task") == "regression":
        target = s.get("target") or {}
        span = (f" {target['min']:.4g} .. {target['max']:.4g}," if "min" in target else "")
        console.print(
            f"[bold]{s['n_rows']:,}[/] rows, regression target '{s['roles']['label']}'{span}"
            f" {s.get('task_reason', '')}"
            f" · features: {s.get('featurizer', '-')} ({s.get('feature_dims', '-')} dims)"
            f" · predictions: {s.get('predictions', '-')}{model_name}"
            f" · k-NN: {s.get('knn', {}).get('method', '-')}", highlight=False)
    elif s.get("task") == "multilabel":
        ml = result.checks.get("multilabel_labels")
        fitted = ml.summary.get("model") if ml is not None and ml.summary else None
        console.print(
            f"[bold]{s['n_rows']:,}[/] rows, multi-label target '{s['roles']['label']}' with "
            f"[bold]{s['n_classes']}[/] classes"
            f" · features: {s.get('featurizer', '-')} ({s.get('feature_dims', '-')} dims)"
            f" · probabilities: out-of-fold per class{f' ({fitted})' if fitted else ''}"
            f" · k-NN: {s.get('knn', {}).get('method', '-')}", highlight=False)
    elif s.get("task") == "detection":
        dl = result.checks.get("detection_labels")
        ds_ = dl.summary if dl is not None and dl.summary else {}
        console.print(
            f"[bold]{s['n_rows']:,}[/] images, [bold]{ds_.get('n_boxes', '-')}[/] boxes in "
            f"'{s['roles']['label']}' of [bold]{s['n_classes']}[/] classes"
            f" · predicted boxes: {ds_.get('n_predictions', 'none given')}"
            f" · features: {s.get('featurizer', '-')} ({s.get('feature_dims', '-')} dims)",
            highlight=False)
    elif s.get("task") == "tokens":
        tl = result.checks.get("token_labels")
        ts = tl.summary if tl is not None and tl.summary else {}
        console.print(
            f"[bold]{s['n_rows']:,}[/] sentences, [bold]{ts.get('n_tokens', 0):,}[/] tokens "
            f"tagged in '{s['roles']['label']}' with [bold]{s['n_classes']}[/] tags"
            f" · probabilities: out-of-fold per token ({ts.get('model', '-')})"
            f" · features: {s.get('featurizer', '-')} ({s.get('feature_dims', '-')} dims)"
            f" · k-NN: {s.get('knn', {}).get('method', '-')}", highlight=False)
    else:
        console.print(
            f"[bold]{s['n_rows']:,}[/] rows, [bold]{s['n_classes']}[/] classes"
            f" · features: {s.get('featurizer', '-')} ({s.get('feature_dims', '-')} dims)"
            f" · probabilities: {s.get('pred_probs', '-')}{model_name}"
            f" · k-NN: {s.get('knn', {}).get('method', '-')}"
        )
    table = Table(show_header=True, header_style="bold")
    table.add_column("check")
    table.add_column("status")
    table.add_column("finding", overflow="fold")
    for name, check in result.checks.items():
        style = _STATUS_STYLE.get(check.status, "")
        table.add_row(name, f"[{style}]{check.status.upper()}[/]", check.message)
    for name, why in s.get("skipped", {}).items():
        table.add_row(name, "[dim]SKIP[/]", f"[dim]{why}[/]")
    console.print(table)
    reg = result.checks.get("regression_labels")
    if reg is not None and reg.status != "error" and reg.evidence.get("flagged"):
        print_regression_rows(reg.evidence["flagged"])
    ml = result.checks.get("multilabel_labels")
    if ml is not None and ml.status != "error" and ml.evidence.get("flagged"):
        print_label_set_rows(ml.evidence["flagged"])
    tl = result.checks.get("token_labels")
    if tl is not None and tl.status != "error" and tl.evidence.get("flagged"):
        print_token_rows(tl.evidence["flagged"])
    dl = result.checks.get("detection_labels")
    if dl is not None and dl.status != "error" and dl.evidence.get("flagged"):
        print_box_rows(dl.evidence["flagged"])
    sl = result.checks.get("slices")
    if sl is not None and sl.status != "error" and sl.evidence.get("descriptions"):
        print_weak_slices(sl.evidence["descriptions"], sl.summary)


#: Flagged values of a regression target printed by ``assay audit`` (all are in issues.csv).
SHOWN_VALUES = 10


def print_regression_rows(records: list[dict[str, Any]]) -> None:
    """The values of a regression target that look wrong, worst first: the given value, the
    suggested one with its interval, and the neighbours' median."""
    table = Table(title=f"Values that look wrong (worst {min(len(records), SHOWN_VALUES)} of "
                        f"{len(records)}{'+' if len(records) >= 200 else ''})",
                  show_header=True, header_style="bold")
    for col in ("id", "given", "suggested", "95 % interval", "neighbours' median", "P(wrong)"):
        table.add_column(col, justify="left" if col == "id" else "right")
    for r in records[:SHOWN_VALUES]:
        median = r["neighbours' median"]
        table.add_row(str(r["id"]), f"{r['given']:g}", f"{r['suggested']:g}", r["interval"],
                      f"{median:g}", f"{r['P(wrong)']:.2f}")
    console.print(table)


def print_token_rows(records: list[dict[str, Any]]) -> None:
    """The sentences with a tag that looks wrong, worst first: each change (position, token,
    given tag -> suggested tag) and the sentence."""
    table = Table(title=f"Sentences with a tag that looks wrong (worst "
                        f"{min(len(records), SHOWN_VALUES)} of {len(records)}"
                        f"{'+' if len(records) >= 200 else ''})",
                  show_header=True, header_style="bold")
    for col in ("id", "changes", "sentence"):
        table.add_column(col, overflow="fold")
    for r in records[:SHOWN_VALUES]:
        table.add_row(str(r["id"]), str(r["changes"]), str(r["tokens"])[:120])
    console.print(table)


def print_box_rows(records: list[dict[str, Any]]) -> None:
    """The images with a box that looks wrong, worst first, with each change in words."""
    table = Table(title=f"Images with a box that looks wrong (worst "
                        f"{min(len(records), SHOWN_VALUES)} of {len(records)}"
                        f"{'+' if len(records) >= 200 else ''})",
                  show_header=True, header_style="bold")
    for col in ("id", "image", "changes"):
        table.add_column(col, overflow="fold")
    for r in records[:SHOWN_VALUES]:
        table.add_row(str(r["id"]), str(r.get("file_name", "")), str(r["changes"]))
    console.print(table)


def print_label_set_rows(records: list[dict[str, Any]]) -> None:
    """The label sets that look wrong, worst first: the given set, the classes to add and to
    remove, and the suggested set."""
    table = Table(title=f"Label sets that look wrong (worst {min(len(records), SHOWN_VALUES)} "
                        f"of {len(records)}{'+' if len(records) >= 200 else ''})",
                  show_header=True, header_style="bold")
    for col in ("id", "given", "add", "remove", "suggested", "score"):
        table.add_column(col, justify="right" if col == "score" else "left", overflow="fold")
    for r in records[:SHOWN_VALUES]:
        table.add_row(str(r["id"]), str(r["given"]), str(r["add"]), str(r["remove"]),
                      str(r["suggested"]), f"{r['score']:.3f}")
    console.print(table)


#: Weak slices printed by ``assay audit`` (all are in the report and audit.json).
SHOWN_SLICES = 5


def print_weak_slices(records: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    """The weak slices, most significant first: size, error rate against the rest, q-value,
    and the columns that set each apart (with the rule that best selects it)."""
    from rich.text import Text

    from assay.report import format_p_value

    n = int(summary.get("n_slices_flagged", len(records)))
    table = Table(title=Text(f"Weak slices (the {min(len(records), SHOWN_SLICES)} most "
                             f"significant of {n}; described by "
                             f"{summary.get('described_by', 'the table')})"),
                  show_header=True, header_style="bold")
    table.add_column("slice")
    table.add_column("rows", justify="right")
    table.add_column("errors", justify="right")
    table.add_column("q", justify="right")
    table.add_column("what sets it apart", overflow="fold")
    for r in records[:SHOWN_SLICES]:
        rule = r.get("rule") or {}
        apart = str(r.get("short") or "—")
        if rule:
            apart += (f"; rule {rule['text']} (precision {rule['precision']:.2f}, "
                      f"recall {rule['recall']:.2f})")
        table.add_row(Text(str(r.get("name"))), f"{int(r.get('size', 0)):,}",
                      f"{r.get('error_rate', 0):.1%} vs {r.get('rest_error_rate', 0):.1%}",
                      format_p_value(r.get("q_value")), Text(apart))
    console.print(table)


def print_next_steps(steps: list[Any], *, workspace: str | None, run_id: str | None) -> None:
    """Print the ranked next actions (``AuditResult.next_steps``), the last thing an audit
    prints: each step's action, its rows and worth, its command on a line of its own and, below
    it, the command that measures its worth (the relabel step's ``assay curve``)."""
    if not steps:
        console.print("Next steps: nothing to fix; no check found rows or columns that need "
                      "action.", markup=False, highlight=False)
        return
    from rich.text import Text

    console.print("[bold]Next steps[/], most important first:")
    for s in steps:
        body = Text(s.action)
        meta = " · ".join(p for p in (f"{s.rows:,} {'row' if s.rows == 1 else 'rows'}"
                                      if s.rows is not None else "", s.worth) if p)
        if meta:
            body.append("\n" + meta, style="dim")
        grid = Table.grid(padding=(0, 1))
        grid.add_column(justify="right", width=3)
        grid.add_column()
        grid.add_row(f"{s.rank}.", body)  # a hanging indent under the number
        console.print(grid)
        for command in (s.command, s.worth_command):  # one unbroken line each, to copy whole
            if command:
                console.print(f"    $ {command}", style="bold", markup=False, highlight=False,
                              soft_wrap=True)
    ws = f" -w {shlex.quote(workspace)}" if workspace else ""
    if run_id:
        console.print(f"Then: assay export{ws} -o DIR writes the corrected version from the "
                      f"review decisions; re-audit it and compare with: assay diff{ws} {run_id}",
                      markup=False, highlight=False)
    else:
        console.print("To act on these rows in assay review, record the audit in a workspace "
                      "(leave out --no-workspace).", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``audit`` and ``demo`` to the CLI."""

    @app.command("audit")
    def audit_cmd(
        data: Path = typer.Argument(..., help="CSV, TSV, Parquet or JSONL file, or image folder."),
        label: str = typer.Option(..., "--label", help="Label column."),
        task: str = typer.Option(
            "auto", "--task",
            help="What the label is: auto (boxes are detection; one tag per token of the --text or 'tokens' column, "
                 "or a CoNLL/IOB file, is tokens; label sets - lists, or 'a,b' names that "
                 "recur - are multilabel; a numeric column with more than 20 distinct values, "
                 "some with a fraction or on at least 5 % of the rows, is a regression target; "
                 "otherwise classes), classification, regression, multilabel, tokens "
                 "(a CoNLL/IOB file loads as the columns tokens and tags, one row a sentence), "
                 "or detection (boxes: a COCO annotation .json loads as one row per image with "
                 "the label column boxes; give --predictions)."),
        text: str | None = typer.Option(None, "--text", help="Free-text column."),
        image: str | None = typer.Option(None, "--image", help="Image path column."),
        features: str | None = typer.Option(None, "--features", help="Comma-separated feature columns."),
        embeddings: Path | None = typer.Option(None, "--embeddings", help="Aligned .npy embeddings."),
        pred_probs: Path | None = typer.Option(
            None, "--pred-probs",
            help="Out-of-fold probabilities from your own model: a .npy (N, K), rows in the "
                 "data's order, one column per class in the sorted order of the class names "
                 "(as scikit-learn's classes_). Permuted columns are refused. Multi-label: "
                 "one probability per class in [0, 1], classes sorted. Tokens: (T, K), one "
                 "row per token, sentence after sentence, one column per tag, tags sorted."),
        predictions: Path | None = typer.Option(
            None, "--predictions",
            help="Object detection: your detector's predicted boxes with scores, ideally on "
                 "images it was not trained on - a COCO results .json (image_id, category_id, "
                 "bbox [x, y, width, height], score) or a .csv (image_id or file_name, class, "
                 "x, y, width, height, score)."),
        model: str = typer.Option(
            "auto", "--model",
            help="Classifier for the out-of-fold probabilities: auto (picks per dataset by "
                 "cross-validated log-loss inside each fold), logistic, hgb "
                 "(HistGradientBoosting on the raw table), knn, blend (mean of logistic and "
                 "hgb or knn). For a regression target: auto (linear, hgb or their blend, by "
                 "out-of-fold absolute error), linear, hgb, blend."),
        split: str | None = typer.Option(None, "--split", help="Split column."),
        group: str | None = typer.Option(None, "--group", help="Group column (rows kept together)."),
        id_col: str | None = typer.Option(None, "--id", help="Unique row id column."),
        meta: str | None = typer.Option(None, "--meta", help="Comma-separated columns to slice by."),
        checks: str | None = typer.Option(None, "--checks", help="Comma-separated checks to run."),
        annotations: Path | None = typer.Option(
            None, "--annotations", help="Long-format annotations file (item, annotator, label)."),
        annotation_columns: str = typer.Option(
            "item,annotator,label", "--annotation-columns",
            help="Names of the item, annotator and label columns in --annotations."),
        values: Path | None = typer.Option(
            None, "--values", help="values.csv from 'assay value': joins data values to the rows."),
        text_model: str = typer.Option("tfidf", "--text-model", help="tfidf or minilm."),
        image_shape: str | None = typer.Option(
            None, "--image-shape", help="The table's rows are grey images of HEIGHTxWIDTH "
            "pixels (e.g. 28x28), stored in the feature columns: the report shows them as "
            "thumbnails. 'none' shows table cells. Default: pixel columns found by name "
            "(pixel_0 ... pixel_63)."),
        k: int = typer.Option(10, "--k", help="Neighbours in the k-NN graph."),
        n_jobs: int | None = typer.Option(None, "--n-jobs", help=N_JOBS_HELP),
        ray: str | None = typer.Option(None, "--ray", metavar="[ADDRESS]", help=RAY_HELP),
        seed: int = typer.Option(
            0, "--seed", min=0, max=2**32 - 1, help="Random seed."),
        out: Path | None = typer.Option(
            None, "--out", help="Also write the results into this folder (default: only the "
            "run's folder, <workspace>/runs/<run id>/; with --no-workspace, assay-audit/)."),
        workspace: Path | None = typer.Option(
            None, "--workspace", "-w", help="Workspace folder (default: the nearest .assay/ at or above the data's "
                 "folder, else a new one beside the data; $ASSAY_WORKSPACE)."),
        no_workspace: bool = typer.Option(False, "--no-workspace", help="Do not record the run."),
        fail_on: str | None = typer.Option(None, "--fail-on", help="Exit 1 when e.g. 'label>0.05'."),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
        mlflow: bool = typer.Option(
            False, "--mlflow",
            help="Also log parameters, metrics, report and audit.json to MLflow "
                 "(server from MLFLOW_TRACKING_URI)."),
        mlflow_experiment: str = typer.Option(
            "assay", "--mlflow-experiment", help="MLflow experiment name (with --mlflow)."),
    ) -> None:
        """Audit a labelled dataset: label errors, duplicates, outliers, class profile."""
        from assay._validation import check_choice
        from assay.data import TASKS, check_output_dir, load

        check_choice("--task", task, TASKS)
        rules = parse_fail_on(fail_on) if fail_on else []
        dataset = load(data, label=label, id=id_col, split=split, group=group, text=text,
                       image=image, features=_split_cols(features),
                       embeddings=str(embeddings) if embeddings is not None else None,
                       meta=_split_cols(meta))
        params = {"data": str(data), "label": label, "task": task, "checks": checks, "k": k,
                  "text_model": text_model, "seed": seed, "model": model,
                  "pred_probs": str(pred_probs) if pred_probs else None,
                  "predictions": str(predictions) if predictions else None,
                  "embeddings": str(embeddings) if embeddings else None,
                  "values": str(values) if values else None, "image_shape": image_shape,
                  "n_jobs": n_jobs, "ray": ray}
        from assay.cli._common import require_out

        require_out(no_workspace, Path("assay-audit"), "", workspace)  # flags that contradict
        ws_path = None if no_workspace else (workspace or _default_ws(data))
        ann = _read_annotations(annotations, annotation_columns) if annotations else None
        # checked before the audit runs, never over an input; written inside the recorded run,
        # so a run recorded ok has all its files in --out
        if out is None and ws_path is None:
            out = Path("assay-audit")
        inputs = [data, embeddings, pred_probs, predictions, annotations, values]
        if out is not None:
            out = check_output_dir(out, inputs=inputs, names=AUDIT_OUTPUT_NAMES)
        paths: dict[str, Path] = {}
        backend, ray_address = ray_backend_args(ray)
        with _progress(not as_json) as progress:
            result, run_id = record_audit(
                dataset, ws_path, params, progress=progress,
                pred_probs=_load_npy(pred_probs, "pred_probs"), checks=_split_cols(checks), k=k,
                predictions=str(predictions) if predictions is not None else None,
                text_model=text_model, random_state=seed, annotations=ann, model=model,
                image_shape=image_shape, task=task, n_jobs=n_jobs,
                backend=backend, ray_address=ray_address,
                values=_read_values(values) if values else None,
                on_result=lambda res: paths.update(write_audit_outputs(res, out, dataset))
                if out is not None else None,
            )
        if out is None and ws_path is not None and run_id is not None:
            folder = Path(ws_path) / "runs" / run_id  # the run's folder (Workspace.results_dir)
            paths = {"issues": folder / "issues.parquet", "json": folder / "audit.json",
                     "issues_csv": folder / "issues.csv", "report": folder / "report.html"}
        metrics = result.metrics() if rules or mlflow else {}
        broken = evaluate_fail_on(rules, metrics) if rules else []
        unevaluated = unevaluated_fail_on(rules, metrics) if rules else []
        mlflow_run = None
        if mlflow:
            from assay.tracking import log_mlflow

            mlflow_run = log_mlflow(
                run_name=run_id or "assay-audit", params=params, metrics=metrics,
                artifacts=[paths["report"], paths["json"]], experiment=mlflow_experiment,
                tags={"assay.command": "audit", "assay.fingerprint": dataset.fingerprint,
                      "assay.status": result.status, **({"assay.run_id": run_id} if run_id else {})},
            )
        if as_json:
            payload = result.to_dict(include_issues=False)
            payload["summary"].pop("map", None)  # the report's 2-D map: in audit.json, not here
            payload["outputs"] = {k: str(v) for k, v in paths.items()}
            payload["fail_on"] = broken
            payload["fail_on_not_evaluated"] = unevaluated
            payload["run_id"] = run_id
            payload["mlflow_run_id"] = mlflow_run
            payload["next_steps"] = [s.to_dict() for s in result.next_steps(
                workspace=_ws_option(ws_path, run_id))]
            print_json(payload)
        else:
            print_result(result)
            console.print(f"Wrote {', '.join(str(p) for p in paths.values())}")
            if run_id and ws_path is not None:
                console.print(f"Recorded run [bold]{run_id}[/] in {ws_path}")
            if mlflow_run:
                console.print(f"Logged to MLflow run [bold]{mlflow_run}[/] "
                              f"(experiment {mlflow_experiment!r})")
            ws_opt = _ws_option(ws_path, run_id)
            print_next_steps(result.next_steps(workspace=ws_opt), workspace=ws_opt,
                             run_id=run_id)
            for rule in broken:
                err_console.print(f"[red]--fail-on exceeded:[/] {rule}")
            for rule in unevaluated:
                err_console.print(f"[yellow]--fail-on not evaluated:[/] {rule}")
        if broken:
            raise typer.Exit(1)

    @app.command("demo")
    def demo_cmd(
        out: Path = typer.Option(Path("assay-demo"), "--out", help="Output folder."),
        noise: float = typer.Option(0.1, "--noise", help="Share of labels flipped."),
        seed: int = typer.Option(
            0, "--seed", min=0, max=2**32 - 1, help="Random seed."),
        as_json: bool = typer.Option(False, "--json", help="Print the scores as JSON."),
    ) -> None:
        """Audit scikit-learn's digits with injected label noise and duplicates; score the audit."""
        from assay._audit import jsonable
        from assay.data import atomic_path, check_output_dir
        from assay.demo import make_demo_data, score_demo

        out = check_output_dir(out, names=("digits_noisy.csv", *AUDIT_OUTPUT_NAMES))
        demo = make_demo_data(noise=noise, random_state=seed)
        data_path = out / "digits_noisy.csv"
        with atomic_path(data_path) as tmp:
            demo.table.drop(columns=["true_label"]).to_csv(tmp, index=False)
        if not as_json:
            console.print(
                f"Demo data: scikit-learn digits, {len(demo.table):,} rows; injected "
                f"{int(demo.flipped.sum())} flipped labels ({noise:.0%} uniform), "
                f"{len(demo.near_copies)} near and {len(demo.exact_copies)} exact duplicates "
                f"→ {data_path}"
            )
        from assay.data import load

        dataset = load(data_path, label="label", id="id")
        paths: dict[str, Path] = {}
        with _progress(not as_json) as progress:
            result, run_id = record_audit(
                dataset, out / ".assay", {"data": str(data_path), "demo": True, "noise": noise},
                random_state=seed, progress=progress,
                on_result=lambda res: paths.update(write_audit_outputs(res, out, dataset)),
            )
        scores = score_demo(demo, result.issues)
        est = result.checks["label_issues"].summary
        scores["estimated_precision"] = est["estimated_precision"]
        scores["estimated_precision_low"] = est.get("estimated_precision_low")
        scores["estimated_precision_high"] = est.get("estimated_precision_high")
        scores["estimated_errors"] = est["n_estimated_errors"]
        if as_json:
            # NaN bounds (an unreliable estimate) become null: JSON has no NaN
            print_json({"scores": jsonable(scores),
                        "outputs": {k: str(v) for k, v in paths.items()}})
            return
        print_result(result)
        t = Table(title="Scored against the injected truth", show_header=True)
        t.add_column("measure")
        t.add_column("value", justify="right")
        t.add_row("label issues flagged / injected", f"{scores['n_flagged']} / {scores['n_flipped']}")
        t.add_row("precision (actual)", f"{scores['precision']:.3f}")
        low, high = (finite_or_none(scores[f"estimated_precision_{end}"])
                     for end in ("low", "high"))
        band = f" ({low:.2f}-{high:.2f})" if low is not None and high is not None else ""
        t.add_row("precision (assay's own estimate)",
                  f"{scores['estimated_precision']:.3f}{band}")
        t.add_row("recall", f"{scores['recall']:.3f}")
        t.add_row("F1", f"{scores['f1']:.3f}")
        t.add_row("errors estimated / injected", f"{scores['estimated_errors']} / {scores['n_flipped']}")
        t.add_row("suggested label = true label", f"{scores['suggested_label_accuracy']:.3f}")
        t.add_row("near-duplicate pairs found", f"{scores['near_duplicate_recall']:.0%}")
        t.add_row("exact-duplicate pairs found", f"{scores['exact_duplicate_recall']:.0%}")
        console.print(t)
        console.print(f"Wrote {', '.join(str(p) for p in paths.values())}")
        ws_demo = str(out / ".assay")
        print_next_steps(result.next_steps(workspace=ws_demo), workspace=ws_demo, run_id=run_id)


def _read_annotations(path: Path, columns: str) -> Any:
    from assay.data import read_table

    names = [c.strip() for c in columns.split(",")]
    if len(names) != 3:
        raise InvalidParameterError(
            "--annotation-columns", "three comma-separated names: item,annotator,label", columns
        )
    table = read_table(path)
    from assay._validation import did_you_mean

    for name in names:
        if name not in table.columns:
            raise InputValidationError(
                f"Column '{name}' not found in {path}.{did_you_mean(name, table.columns)} "
                f"Columns: {', '.join(map(str, table.columns))}. Set --annotation-columns."
            )
    return table[names].set_axis(["item", "annotator", "label"], axis=1)


def _read_values(path: Path) -> Any:
    from assay.data import read_table

    return read_table(path)


def _ws_option(ws_path: Path | None, run_id: str | None) -> str | None:
    """The ``-w`` value the printed commands need: none when the run was not recorded or when
    ``assay review`` and ``assay export`` find the workspace from the current folder."""
    if ws_path is None or run_id is None:
        return None
    return None if Path(ws_path).resolve() == _default_ws(None).resolve() else str(ws_path)


def _default_ws(data: Path | None) -> Path:
    from assay.workspace import default_workspace

    return default_workspace(data)
