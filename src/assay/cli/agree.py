"""``assay agree``: annotator agreement, disagreement hot spots and consensus labels."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import typer
from rich.table import Table
from rich.text import Text

from assay.cli._common import (
    NO_WORKSPACE_HELP,
    RUN_OUT_HELP,
    WORKSPACE_HELP,
    console,
    print_json,
    require_out,
)


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "undefined"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _count(v: Any) -> str:
    """A count: whole numbers as integers (190, not 190.0); a fractional one (disagreements
    weighted by 1 / (ratings of the item - 1), Krippendorff's coincidences) to one decimal."""
    if v is None or isinstance(v, bool):
        return "-" if v is None else str(v)
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    if math.isnan(f):
        return "-"
    if abs(f - round(f)) < 1e-9:
        return f"{round(f):,}"
    return f"{f:,.1f}"


#: Columns of the annotators table that are counts (the others are shares and coefficients).
_COUNT_COLUMNS = frozenset({"n_ratings"})


def _parquet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns holding dicts or lists become JSON text so that every Parquet reader copes."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object and out[col].map(lambda v: isinstance(v, dict | list)).any():
            out[col] = out[col].map(lambda v: json.dumps(v, default=str))
        elif out[col].dtype == object:
            out[col] = out[col].map(lambda v: v if v is None else str(v))
    return out


#: The files ``assay agree`` may write into its output folder.
_OUTPUT_NAMES = ("agreement.json", *(f"{name}.parquet" for name in (
    "coefficients", "per_class", "revision_list", "items_to_discuss", "pairwise", "annotators",
    "consensus", "rounds", "round_pairs")))


def write_outputs(report: Any, out: Path) -> dict[str, str]:
    """Write ``agreement.json`` and one Parquet file per table; return name -> path."""
    from assay.data import atomic_path, remove_stale_temps

    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)
    paths = {"json": out / "agreement.json"}
    with atomic_path(paths["json"]) as tmp:
        tmp.write_text(json.dumps(report.to_dict(), indent=2, allow_nan=False))
    frames = {
        "coefficients": report.coefficients,
        "per_class": report.per_class,
        "revision_list": report.revision_list,
        "items_to_discuss": report.items_to_discuss,
        "pairwise": report.pairwise,
        "annotators": report.annotators,
        "consensus": report.consensus,
    }
    if report.rounds is not None:
        frames["rounds"] = report.rounds.per_round
        frames["round_pairs"] = report.rounds.pairs
    for name, frame in frames.items():
        paths[name] = out / f"{name}.parquet"
        with atomic_path(paths[name]) as tmp:
            _parquet_safe(frame).to_parquet(tmp, index=False)
    return {k: str(v) for k, v in paths.items()}


def _row(table: Table, *cells: Any) -> None:
    """Add a row of plain text: labels, ids and names from the data are never read as markup."""
    table.add_row(*[Text(str(c)) for c in cells])


def _line(*parts: Any) -> None:
    console.print(Text.assemble(*parts))


def _print_summary(report: Any, outputs: dict[str, str]) -> None:
    _line(("Annotator agreement", "bold"),
          f": {_count(report.n_items)} items ({_count(report.n_pairable_items)} with 2+ "
          f"ratings), {_count(report.n_annotators)} annotators, {_count(report.n_ratings)} "
          f"ratings, level {report.level}")
    coef = Table(title="Coefficients (95% bootstrap interval over items)")
    for col in ("coefficient", "value", "interval"):
        coef.add_column(col, justify="right" if col == "value" else "left")
    for row in report.coefficients.itertuples():
        interval = (
            f"[{_fmt(row.ci_low)}, {_fmt(row.ci_high)}]"
            if not (math.isnan(row.ci_low) or math.isnan(row.ci_high)) else ""
        )
        _row(coef, row.coefficient, _fmt(row.value), interval)
    console.print(coef)
    per = Table(title="Per-class agreement (worst first)")
    for col in ("class", "pairable", "alpha", "fleiss kappa", "specific agreement"):
        per.add_column(col, justify="left" if col == "class" else "right")
    for row in report.per_class.head(10).itertuples():
        _row(per, row[1], _count(row.n_pairable), _fmt(row.alpha), _fmt(row.fleiss_kappa),
             _fmt(row.specific_agreement))
    console.print(per)
    if len(report.revision_list):
        rev = Table(title="Guideline revision list: class pairs to clarify")
        for col in ("rank", "classes", "disagreements", "share", "obs/exp", "example items"):
            rev.add_column(col, justify="left" if col in ("classes", "example items")
                           else "right")
        for row in report.revision_list.head(5).itertuples():
            _row(rev, _count(row.rank), f"{row.class_a} / {row.class_b}",
                 _count(row.disagreements), _fmt(row.share_of_disagreement),
                 _fmt(row.observed_over_expected, 2), ", ".join(map(str, row.example_items)))
        console.print(rev)
    ann = Table(title="Annotators")
    cols = [c for c in ("annotator", "n_ratings", "accuracy_vs_others", "accuracy_vs_consensus",
                        "kappa_vs_consensus", "dawid_skene_accuracy") if c in report.annotators]
    for col in cols:
        ann.add_column(col.replace("_", " "), justify="left" if col == "annotator" else "right")
    # by column, not by value: a row of ints and floats comes out of pandas as floats
    for rec in report.annotators[cols].to_dict(orient="records"):
        _row(ann, *[_count(rec[c]) if c in _COUNT_COLUMNS
                    else _fmt(rec[c]) if isinstance(rec[c], float) else rec[c] for c in cols])
    console.print(ann)
    if report.rounds is not None:
        rd = Table(title=Text(f"Rounds ({report.rounds.coefficient})"))
        for col in ("round", "items", "value", "interval"):
            rd.add_column(col, justify="right" if col in ("items", "value") else "left")
        for row in report.rounds.per_round.itertuples():
            _row(rd, row.round, _count(row.n_items), _fmt(row.value),
                 f"[{_fmt(row.ci_low)}, {_fmt(row.ci_high)}]")
        console.print(rd)
        for row in report.rounds.changes.itertuples():
            _line(f"round {row.from_round} -> {row.to_round}: change {row.change:+.3f} "
                  f"[{_fmt(row.ci_low)}, {_fmt(row.ci_high)}]"
                  + (" (significant)" if row.significant else " (not significant)"))
        moved = report.rounds.pairs[report.rounds.pairs["status"] != "no clear change"]
        for row in moved.itertuples():
            _line(f"  {row.class_a} / {row.class_b}: {row.status} "
                  f"({row.rate_from:.3f} -> {row.rate_to:.3f} of pairable values)")
    c = report.ceiling
    _line(f"Ceiling: a single annotator matches the others' majority "
          f"{_fmt(c.single_annotator_accuracy)} of the time; Bayes-error estimate "
          f"{_fmt(c.bayes_error)} (ceiling {_fmt(c.ceiling)}). Model gains beyond this level "
          "are not credible.")
    for note in report.notes:
        _line(("note", "yellow"), f": {note}")
    _line(f"Wrote {outputs['json']} and Parquet tables to {Path(outputs['json']).parent}")


def register(app: typer.Typer) -> None:
    """Add ``assay agree`` to the app."""

    @app.command("agree")
    def agree_cmd(
        data: Path = typer.Argument(
            ..., help="Long table of ratings, one row per (item, annotator) (CSV, TSV, Parquet, JSONL)."
        ),
        item: str = typer.Option(..., "--item", help="Column identifying the rated item."),
        annotator: str = typer.Option(..., "--annotator", help="Column identifying the annotator."),
        label: str = typer.Option(..., "--label", help="Column with the label."),
        round_: str | None = typer.Option(
            None, "--round", help="Column with the guideline round (v1, v2, ...)."
        ),
        level: str = typer.Option(
            "nominal", "--level", help="nominal, ordinal, interval or ratio."
        ),
        categories: str | None = typer.Option(
            None, "--categories",
            help="Comma-separated scale in order (needed for ordinal text labels).",
        ),
        consensus: str = typer.Option(
            "dawid_skene", "--consensus", help="dawid_skene or majority."
        ),
        n_boot: int = typer.Option(200, "--n-boot", help="Bootstrap resamples (0 to skip)."),
        seed: int = typer.Option(
            0, "--seed", min=0, max=2**32 - 1, help="Random seed of the bootstrap."),
        top: int = typer.Option(10, "--top", help="Length of the revision list."),
        out: Path | None = typer.Option(
            None, "--out",
            help=RUN_OUT_HELP,
        ),
        workspace: Path | None = typer.Option(
            None, "--workspace", "-w", help=WORKSPACE_HELP),
        no_workspace: bool = typer.Option(
            False, "--no-workspace", help=NO_WORKSPACE_HELP),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        """Measure annotator agreement, show where annotators disagree, build consensus labels."""
        from assay.agreement import agree
        from assay.data import check_output_dir, read_table
        from assay.pipelines import recorded_run

        require_out(no_workspace, out, "the agreement files", workspace)
        table = read_table(data)
        if out is not None:
            out = check_output_dir(out, inputs=[data], names=_OUTPUT_NAMES)
        cats = _parse_categories(categories, table, label) if categories else None
        params = {"data": str(data), "item": item, "annotator": annotator, "label": label,
                  "round": round_, "level": level, "consensus": consensus, "n_boot": n_boot,
                  "seed": seed}
        with recorded_run("agree", params, data=data, workspace=workspace,
                          enabled=not no_workspace) as run:
            report = agree(
                table, item=item, annotator=annotator, label=label, round=round_, level=level,
                categories=cats, consensus=consensus, n_boot=n_boot, random_state=seed, top=top,
            )
            target = out if out is not None else run.folder
            assert target is not None  # noqa: S101 - checked above
            outputs = write_outputs(report, target)
            if run.rec is not None:
                run.rec.summary["outputs"] = outputs
        if as_json:
            payload = report.to_dict()
            payload["outputs"] = outputs
            print_json(payload)
        else:
            _print_summary(report, outputs)


def _parse_categories(text: str, table: pd.DataFrame, label: str) -> list[Any]:
    """Split ``--categories``; cast to the label column's numeric type when it is numeric."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if label in table.columns and pd.api.types.is_numeric_dtype(table[label]):
        from assay.exceptions import InvalidParameterError

        try:
            return [float(p) for p in parts]
        except ValueError as exc:
            raise InvalidParameterError(
                "--categories", "comma-separated numbers for a numeric label column", text,
                owner="assay agree",
            ) from exc
    return parts
