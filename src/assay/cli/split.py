"""``assay split``: leak-free, stratified train / valid / test splits of a table.

A class that cannot get ``--min-per-class`` rows in a split (its rows sit in too few groups)
is printed as one ``warning:`` line on stderr, marked ``*`` in the count table and listed under
``shortfalls`` in ``--json``; the exit code stays 0 unless ``--strict`` is given (then 2).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import typer
from rich.table import Table
from rich.text import Text

from assay.cli._common import console, err_console, print_json
from assay.exceptions import InputValidationError, InvalidParameterError, SplitWarning

_WRITERS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet",
            ".jsonl": "jsonl", ".ndjson": "jsonl"}


def _parse_list(text: str, name: str) -> list[str]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise InvalidParameterError(name, "a comma-separated list", text, owner="assay split")
    return parts


def _parse_fractions(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(p) for p in _parse_list(text, "--fractions"))
    except ValueError as exc:
        raise InvalidParameterError(
            "--fractions", "comma-separated numbers such as 0.8,0.1,0.1", text,
            owner="assay split",
        ) from exc


def write_table(table: pd.DataFrame, path: Path) -> None:
    """Write ``table`` in the format given by the extension of ``path``."""
    kind = _WRITERS.get(path.suffix.lower())
    if kind is None:
        raise InputValidationError(
            f"Cannot write '{path}': unknown extension '{path.suffix}'. Use one of "
            + ", ".join(sorted(_WRITERS)) + "."
        )
    from assay.data import atomic_path

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        if kind == "csv":
            table.to_csv(tmp, index=False)
        elif kind == "tsv":
            table.to_csv(tmp, index=False, sep="\t")
        elif kind == "parquet":
            table.to_parquet(tmp, index=False)
        else:
            table.to_json(tmp, orient="records", lines=True)


def run_split(
    data: Path,
    *,
    label: str,
    group: str | None,
    fractions: tuple[float, ...],
    names: list[str],
    seed: int,
    dedup: bool,
    text: str | None,
    min_per_class: int,
    column: str,
    strict: bool = False,
    replace: bool = False,
) -> tuple[pd.DataFrame, dict[str, Any], list[str]]:
    """Split the table at ``data``; return the table with the split column, a summary, notes.

    With ``replace``, an existing ``column`` (an earlier split) is read as the split column, so
    it is not a feature (rows copied across the old split still look alike), and is replaced.

    The notes are the messages of the warnings :func:`assay.splits.make_splits` gave; the
    summary's ``shortfalls`` lists the (class, split) cells below ``min_per_class``.
    """
    from assay.data import featurize, load
    from assay.splits import make_splits, split_units

    ds = load(data, label=label, group=group, text=text)
    if replace and column in ds.table.columns and column not in (label, group, text):
        ds = load(data, label=label, group=group, text=text, split=column)
    table = ds.table
    if column in table.columns and not (replace and ds.roles.split == column):
        raise InputValidationError(
            f"The table already has a column named '{column}'. Pass --replace to split it "
            "again in place of that column (it is then not read as a feature), or --column "
            "with another name for the new split column."
        )
    feats = featurize(ds, random_state=seed) if dedup and ds.n_rows > 2 else None
    features = feats.matrix if feats is not None else None
    metric = feats.metric if feats is not None else "cosine"  # the distance fit for the modality
    groups = table[group].to_numpy() if group is not None else None
    class_of_row = np.asarray(ds.classes, dtype=object)[ds.labels]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        try:
            split = make_splits(  # class values, not codes, so that warnings name the classes
                class_of_row, features=features, group=groups, fractions=fractions, names=names,
                min_per_class=min_per_class, random_state=seed, strict=strict, metric=metric,
            )
        except InputValidationError as exc:
            raise InputValidationError(_cli_terms(str(exc))) from exc
    notes = [_cli_terms(str(w.message)) for w in caught if issubclass(w.category, UserWarning)]
    shortfalls: list[dict[str, Any]] = []
    for w in caught:
        if isinstance(w.message, SplitWarning) and w.message.shortfalls is not None:
            for rec in w.message.shortfalls.to_dict(orient="records"):
                shortfalls.append({**rec, "class": str(rec["class"])})
    units = split_units(ds.n_rows, features=features, group=groups, metric=metric)
    out = table.copy()
    out[column] = split
    counts = pd.crosstab(pd.Series(class_of_row, name="class"), pd.Series(split, name="split"))
    counts = counts.reindex(columns=names, fill_value=0)
    summary = {
        "n_rows": int(ds.n_rows),
        "n_units": int(units.max()) + 1,
        "n_rows_in_multi_row_units": int((np.bincount(units)[units] > 1).sum()),
        "deduplicated": features is not None,
        "metric": metric if feats is not None else None,
        "metric_reason": feats.metric_reason if feats is not None else None,
        "seed": seed,
        "fractions": dict(zip(names, fractions, strict=True)),
        "sizes": {s: int((split == s).sum()) for s in names},
        "per_class": {str(c): {s: int(counts.loc[c, s]) for s in names} for c in counts.index},
        "classes_missing_from_a_split": [
            str(c) for c in counts.index if (counts.loc[c] == 0).any()
        ],
        "min_per_class": min_per_class,
        "shortfalls": shortfalls,
        "notes": notes,
    }
    return out, summary, notes


def register(app: typer.Typer) -> None:
    """Add ``assay split`` to the app."""

    @app.command("split")
    def split_cmd(
        data: Path = typer.Argument(..., help="Table to split (CSV, TSV, Parquet, JSONL)."),
        label: str = typer.Option(..., "--label", help="Label column (stratified by it)."),
        group: str | None = typer.Option(
            None, "--group", help="Column of groups (patient, speaker) kept in one split."
        ),
        fractions: str = typer.Option(
            "0.8,0.1,0.1", "--fractions", help="Share of rows per split, comma-separated."
        ),
        names: str = typer.Option(
            "train,valid,test", "--names", help="Split names, comma-separated (train first)."
        ),
        seed: int = typer.Option(
            0, "--seed", min=0, max=2**32 - 1, help="Random seed (same seed, same split)."),
        dedup: bool = typer.Option(
            True, "--dedup/--no-dedup",
            help="Keep exact and near copies (from the featurized rows) in one split.",
        ),
        text: str | None = typer.Option(None, "--text", help="Free-text column to featurize."),
        min_per_class: int = typer.Option(
            1, "--min-per-class",
            help="Rows of every class in each split (classes with enough rows; warned if not).",
        ),
        column: str = typer.Option("split", "--column", help="Name of the new split column."),
        replace: bool = typer.Option(
            False, "--replace",
            help="Split again in place of an existing --column (not read as a feature).",
        ),
        strict: bool = typer.Option(
            False, "--strict",
            help="Fail (exit 2) instead of warning when a class misses --min-per-class.",
        ),
        out: Path = typer.Option(..., "-o", "--out", help="Output table (format by extension)."),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    ) -> None:
        """Leak-free train / valid / test split: stratified, groups and duplicates kept whole."""
        frac = _parse_fractions(fractions)
        split_names = _parse_list(names, "--names")
        if len(frac) != len(split_names):
            raise InvalidParameterError(
                "--fractions", f"one fraction per split name ({len(split_names)}: "
                f"{', '.join(split_names)})", fractions, owner="assay split",
            )
        if out.suffix.lower() not in _WRITERS:
            raise InputValidationError(
                f"Cannot write '{out}': unknown extension '{out.suffix}'. Use one of "
                + ", ".join(sorted(_WRITERS)) + "."
            )
        from assay.data import check_output_file

        out = check_output_file(out, inputs=[data], option="--out")
        table, summary, notes = run_split(
            data, label=label, group=group, fractions=frac, names=split_names, seed=seed,
            dedup=dedup, text=text, min_per_class=min_per_class, column=column, strict=strict,
            replace=replace,
        )
        write_table(table, out)
        summary["output"] = str(out)
        if as_json:
            print_json(summary)
            for note in notes:
                _print_warning(note)
            return
        console.print(_count_table(summary, split_names, out))
        console.print(
            f"{summary['n_units']} independent units; {summary['n_rows_in_multi_row_units']} "
            "rows share a unit with another row (same group or duplicate) and stay together."
        )
        for note in notes:
            _print_warning(note)


_MAX_TABLE_ROWS = 30


def _count_table(summary: dict[str, Any], names: list[str], out: Path) -> Table:
    """Rows per class and split; cells below the minimum marked ``*`` (short classes first)."""
    short = {(r["class"], r["split"]) for r in summary["shortfalls"]}
    short_classes = {c for c, _ in short}
    classes = list(summary["per_class"])
    if len(classes) > _MAX_TABLE_ROWS:  # never hide a class that fell short
        keep = set(sorted(classes, key=lambda c: c not in short_classes)[:_MAX_TABLE_ROWS])
        classes = [c for c in classes if c in keep]
    tab = Table(title=f"assay split: {summary['n_rows']} rows -> {out}")
    tab.add_column("class")
    for s in names:
        tab.add_column(s, justify="right")
    for cls in classes:
        row = summary["per_class"][cls]
        cells = [Text(f"{row[s]}*", style="bold red") if (cls, s) in short else Text(str(row[s]))
                 for s in names]
        tab.add_row(Text(cls), *cells)
    tab.add_row(Text("total", style="bold"), *(str(summary["sizes"][s]) for s in names))
    captions = []
    if len(summary["per_class"]) > len(classes):
        captions.append(f"{len(summary['per_class']) - len(classes)} more classes: --json")
    if short:
        captions.append(f"* below --min-per-class {summary['min_per_class']}")
    if captions:
        tab.caption = "; ".join(captions)
    return tab


_CLI_TERMS = (
    ("min_per_class=", "--min-per-class "),
    ("a lower min_per_class", "a lower --min-per-class"),
    ("strict=True raises instead; the warning's .shortfalls lists the cells",
     "--strict fails instead; --json lists the cells under shortfalls"),
    ("strict=True; pass strict=False to accept the split", "--strict; drop it to accept the split"),
    ("strict=True; pass strict=False to split anyway", "--strict; drop it to split anyway"),
)


def _cli_terms(message: str) -> str:
    """The library's message in the command's terms (options instead of parameters)."""
    for api, cli in _CLI_TERMS:
        message = message.replace(api, cli)
    return message


def _print_warning(message: str) -> None:
    """One line on stderr (no wrapping, no markup from class names)."""
    err_console.print(
        Text.assemble(("warning: ", "bold yellow"), " ".join(message.split())), soft_wrap=True
    )
