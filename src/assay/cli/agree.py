"""``assay agree``: annotator agreement, disagreement hot spots and consensus labels."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
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

if TYPE_CHECKING:
    from assay.detection import BoxAgreement, BoxSet


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
            ..., help="Long table of ratings, one row per (item, annotator) (CSV, TSV, Parquet, "
            "JSONL); with --boxes, annotator A's COCO annotation file."
        ),
        item: str | None = typer.Option(
            None, "--item", help="Column identifying the rated item (table mode)."),
        annotator: str | None = typer.Option(
            None, "--annotator", help="Column identifying the annotator (table mode)."),
        label: str | None = typer.Option(
            None, "--label", help="Column with the label (table mode)."),
        boxes: Path | None = typer.Option(
            None, "--boxes", help="Annotator B's COCO annotation file of the same images: "
            "compare the two annotators' boxes (box mode; --item/--annotator/--label unused)."),
        iou: float = typer.Option(
            0.5, "--iou", help="With --boxes: the least IoU of a matched pair, in (0, 1]."),
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
        top: int = typer.Option(
            10, "--top", help="Length of the revision list; with --boxes, the images shown."),
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
        """Measure annotator agreement, show where annotators disagree, build consensus labels.

        Table mode: DATA is a long table of ratings (--item, --annotator, --label).

        Box mode: DATA and --boxes are two annotators' COCO files of the same images.
        """
        from assay.agreement import agree
        from assay.data import check_output_dir, read_table
        from assay.pipelines import recorded_run

        if boxes is not None:
            _refuse_table_options(item=item, annotator=annotator, label=label, round=round_,
                                  categories=categories)
            run_boxes(data, boxes, iou=iou, top=top, out=out, workspace=workspace,
                      no_workspace=no_workspace, as_json=as_json)
            return
        item, annotator, label = _table_columns(item, annotator, label)
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


# --------------------------------------------------------------------------------------------
# Which mode: a table of ratings or two COCO files of boxes

#: The options of the table mode that name columns, in the order a user writes them.
_TABLE_COLUMNS = ("--item", "--annotator", "--label")


def _table_columns(item: str | None, annotator: str | None,
                   label: str | None) -> tuple[str, str, str]:
    """The table mode's three column names; refuse, naming the missing ones, without them.

    Parameters
    ----------
    item, annotator, label : str or None
        ``--item``, ``--annotator`` and ``--label`` as given (``None``: not given).

    Returns
    -------
    tuple of str
        ``(item, annotator, label)``.

    Raises
    ------
    InputValidationError
        When one of them is missing (and ``--boxes`` is not given either).
    """
    given = dict(zip(_TABLE_COLUMNS, (item, annotator, label), strict=True))
    missing = [name for name, value in given.items() if value is None]
    if item is None or annotator is None or label is None:
        from assay.exceptions import InputValidationError

        what = "option" if len(missing) == 1 else "options"
        named = _and([f"'{m}'" for m in missing])
        raise InputValidationError(
            f"Missing {what} {named}: assay agree needs --item, --annotator and --label to "
            "read a table of ratings (got "
            + (", ".join(n for n in _TABLE_COLUMNS if n not in missing) or "none of them")
            + "), or --boxes B.json to compare two annotators' COCO box files. Run "
            "'assay agree --help' to see the usage.")
    return item, annotator, label


def _refuse_table_options(**given: str | None) -> None:
    """Refuse table-mode options next to ``--boxes``: they would be silently ignored."""
    used = {f"--{name}": value for name, value in given.items() if value is not None}
    if used:
        from assay.exceptions import InputValidationError

        names = _and(list(used))
        verb = "does" if len(used) == 1 else "do"
        got = ", ".join(f"{k} {v!r}" for k, v in used.items())
        raise InputValidationError(
            f"--boxes compares two COCO box files, so {names} {verb} not apply: expected "
            f"--boxes alone or --item/--annotator/--label without it. Got --boxes and {got}. "
            f"Leave {names} out (or --boxes, to measure agreement on a table of ratings).")


def _and(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


# --------------------------------------------------------------------------------------------
# Box mode: two annotators' COCO files of the same images

#: The files the box mode writes into its output folder.
_BOX_OUTPUT_NAMES = ("summary.json", "images.csv", "pairs.csv")

#: Names listed in a note, at most.
_NAMED = 5


@dataclass(frozen=True)
class CocoFile:
    """One annotator's COCO file as read for the box mode.

    Attributes
    ----------
    path : Path
        The file.
    which : str
        ``"A"`` or ``"B"``, for messages.
    boxes : BoxSet
        As :func:`assay.detection.read_coco` reads it (``images`` are the COCO image ids,
        ``classes`` the category names).
    file_names : list of str or None
        Each image's ``file_name``, in ``boxes.images`` order (``None`` when absent).
    box_ids : ndarray of shape (n_boxes,), object
        Each box's COCO annotation ``id`` in ``boxes`` row order (its position in the
        ``annotations`` list when it has none).
    """

    path: Path
    which: str
    boxes: BoxSet
    file_names: list[str | None]
    box_ids: np.ndarray

    @property
    def label(self) -> str:
        """``"A (a.json)"``, for messages and headings."""
        return f"{self.which} ({self.path.name})"


@dataclass(frozen=True)
class AlignedBoxes:
    """The two annotators' boxes on the images they share, with the same classes.

    Attributes
    ----------
    a, b : BoxSet
        The boxes of the shared images (``images``: the matching keys, in A's order;
        ``classes``: A's category names, then B's that A lacks).
    a_ids, b_ids : ndarray, object
        The COCO annotation ids of the rows of ``a`` and ``b``.
    matched_by : str
        ``"file_name"`` or ``"id"``.
    file_names : list of str
        A's file name of each shared image (``""`` when it has none).
    image_ids_a, image_ids_b : list
        Each shared image's COCO id in A and in B.
    only_a, only_b : list
        The matching keys of the images in one file only.
    classes_only_a, classes_only_b : list of str
        Category names in one file only.
    notes : list of str
        What a user should know about the matching.
    """

    a: BoxSet
    b: BoxSet
    a_ids: np.ndarray
    b_ids: np.ndarray
    matched_by: str
    file_names: list[str]
    image_ids_a: list[Any]
    image_ids_b: list[Any]
    only_a: list[Any]
    only_b: list[Any]
    classes_only_a: list[str]
    classes_only_b: list[str]
    notes: list[str]


def _not_coco(path: Path, which: str, got: str) -> Exception:
    from assay.exceptions import InputValidationError

    return InputValidationError(
        f"Annotator {which}'s file '{path}' is not a COCO annotation file: expected a JSON "
        f"object with 'images', 'annotations' and 'categories' lists. Got {got}. Pass COCO "
        "annotation files of the same images (a results file of predictions, a bare list, is "
        "not one).")


def _load_json(path: Path, which: str) -> dict[str, Any]:
    """Parse ``path`` and check it has the three COCO lists; refuse it otherwise."""
    from assay.exceptions import InputValidationError

    if not path.is_file():
        raise InputValidationError(
            f"Annotator {which}'s COCO file not found: '{path}'. Check the path.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise _not_coco(path, which, f"text that is not JSON ({exc.msg} at line "
                                     f"{exc.lineno}, column {exc.colno})") from None
    except UnicodeDecodeError:
        raise _not_coco(path, which, "bytes that are not UTF-8 text") from None
    if not isinstance(data, dict):
        raise _not_coco(path, which, f"a JSON {type(data).__name__}")
    missing = [k for k in ("images", "annotations", "categories")
               if not isinstance(data.get(k), list)]
    if missing:
        raise _not_coco(path, which, f"no {' / '.join(repr(k) for k in missing)} list (keys: "
                                     f"{sorted(map(str, data))[:8]})")
    for key in ("images", "annotations", "categories"):
        bad = [i for i, r in enumerate(data[key]) if not isinstance(r, dict)]
        if bad:
            raise _not_coco(path, which, f"{len(bad)} entries of '{key}' that are not objects "
                                         f"(the first, entry {bad[0]}: {data[key][bad[0]]!r:.60})")
    return data


def read_coco_file(path: Path, which: str) -> CocoFile:
    """Read one annotator's COCO annotation file for the box mode.

    Parameters
    ----------
    path : Path
        The COCO annotation file.
    which : str
        ``"A"`` or ``"B"``, named in error messages.

    Returns
    -------
    CocoFile

    Raises
    ------
    InputValidationError
        A missing file, text that is not JSON, a missing COCO list, or a broken entry (the
        message of :func:`assay.detection.read_coco`, prefixed with the file).
    """
    from assay.detection import read_coco
    from assay.exceptions import InputValidationError

    data = _load_json(path, which)
    try:
        boxes = read_coco(data)
    except InputValidationError as exc:
        raise InputValidationError(f"Annotator {which}'s file '{path}': {exc}") from None
    except (TypeError, KeyError) as exc:  # e.g. an id that is a list (unhashable)
        raise _not_coco(path, which, f"a malformed entry ({type(exc).__name__}: {exc})"
                        ) from None
    names = [r.get("file_name") if isinstance(r, dict) else None for r in data["images"]]
    file_names = [n if isinstance(n, str) and n else None for n in names]
    anns = data["annotations"]
    index = {image: i for i, image in enumerate(boxes.images)}
    image_of = np.array([index[r["image_id"]] for r in anns], dtype=np.int64)
    ids = np.empty(len(anns), dtype=object)
    ids[:] = [r.get("id", k) for k, r in enumerate(anns)]
    # BoxSet sorts the boxes by image, stably (documented): the same order here
    order = np.argsort(image_of, kind="stable")
    return CocoFile(path=path, which=which, boxes=boxes, file_names=file_names,
                    box_ids=ids[order])


def _names(values: list[Any]) -> str:
    shown = ", ".join(str(v) for v in values[:_NAMED])
    return shown + (f" and {len(values) - _NAMED} more" if len(values) > _NAMED else "")


def _image_keys(a: CocoFile, b: CocoFile) -> tuple[str, list[Any], list[Any], list[str]]:
    """Match images by ``file_name`` when every image of both files has a unique one,
    else by COCO image id; return ``(matched_by, keys_a, keys_b, notes)``."""
    why = []
    for f in (a, b):
        names = f.file_names
        if any(n is None for n in names):
            why.append(f"{f.label} has images without a file_name")
        elif len(set(names)) < len(names):
            why.append(f"{f.label} has duplicate file names")
    if not why:
        return "file_name", list(a.file_names), list(b.file_names), []
    note = f"images matched by COCO image id, not by file_name: {'; '.join(why)}"
    return "id", list(a.boxes.images), list(b.boxes.images), [note]


def _subset(f: CocoFile, keys: list[Any], common: list[Any],
            classes: list[str]) -> tuple[BoxSet, np.ndarray, int]:
    """``f``'s boxes on the ``common`` images (in that order), labels indexed into ``classes``;
    also the annotation ids in row order and the number of boxes left out."""
    from assay.detection import BoxSet

    position = {k: i for i, k in enumerate(common)}
    new_image = np.array([position.get(k, -1) for k in keys], dtype=np.int64)
    class_index = {c: k for k, c in enumerate(classes)}
    class_map = np.array([class_index[c] for c in f.boxes.classes], dtype=np.int64)
    image = new_image[f.boxes.image] if f.boxes.n_boxes else np.zeros(0, np.int64)
    keep = image >= 0
    order = np.argsort(image[keep], kind="stable")  # BoxSet sorts by image, stably
    boxes = BoxSet(image=image[keep], xyxy=f.boxes.xyxy[keep],
                   label=class_map[f.boxes.label[keep]] if keep.any() else np.zeros(0, np.int64),
                   classes=classes, images=common)
    return boxes, f.box_ids[keep][order], int((~keep).sum())


def align_boxes(a: CocoFile, b: CocoFile) -> AlignedBoxes:
    """Put both annotators' boxes on the images they share, with one list of classes.

    Parameters
    ----------
    a, b : CocoFile
        The two annotators' files.

    Returns
    -------
    AlignedBoxes

    Raises
    ------
    InputValidationError
        When the files have no image in common.
    """
    from assay.exceptions import InputValidationError

    matched_by, keys_a, keys_b, notes = _image_keys(a, b)
    in_b, in_a = set(keys_b), set(keys_a)
    common = [k for k in keys_a if k in in_b]
    only_a = [k for k in keys_a if k not in in_b]
    only_b = [k for k in keys_b if k not in in_a]
    if not common:
        raise InputValidationError(
            f"{a.label} and {b.label} have no image in common (matched by {matched_by}): "
            f"expected annotation files of the same images. Got {len(keys_a)} image(s) in A "
            f"(e.g. {_names(keys_a)}) and {len(keys_b)} in B (e.g. {_names(keys_b)}). Pass "
            "two annotators' files of the same images (the same file_name, or the same image "
            "ids where file names are missing).")
    classes = list(a.boxes.classes) + [c for c in b.boxes.classes if c not in a.boxes.classes]
    boxes_a, ids_a, left_a = _subset(a, keys_a, common, classes)
    boxes_b, ids_b, left_b = _subset(b, keys_b, common, classes)
    for f, only, left in ((a, only_a, left_a), (b, only_b, left_b)):
        if only:
            notes.append(f"{len(only)} image(s) only in {f.label}, not compared ({left} "
                         f"box(es) left out): {_names(only)}")
    cls_a = [c for c in a.boxes.classes if c not in b.boxes.classes]
    cls_b = [c for c in b.boxes.classes if c not in a.boxes.classes]
    for f, only_cls in ((a, cls_a), (b, cls_b)):
        if only_cls:
            notes.append(f"categories only in {f.label}: {_names(only_cls)}")
    pos_a = {k: i for i, k in enumerate(keys_a)}
    pos_b = {k: i for i, k in enumerate(keys_b)}
    return AlignedBoxes(
        a=boxes_a, b=boxes_b, a_ids=ids_a, b_ids=ids_b, matched_by=matched_by,
        file_names=[a.file_names[pos_a[k]] or "" for k in common],
        image_ids_a=[a.boxes.images[pos_a[k]] for k in common],
        image_ids_b=[b.boxes.images[pos_b[k]] for k in common],
        only_a=only_a, only_b=only_b, classes_only_a=cls_a, classes_only_b=cls_b, notes=notes,
    )


@dataclass(frozen=True)
class BoxReport:
    """What the box mode prints and writes.

    Attributes
    ----------
    summary : dict
        The JSON summary (``summary.json``, and ``--json`` with ``outputs`` added).
    images : DataFrame
        One row per shared image (``images.csv``).
    pairs : DataFrame
        One row per matched pair (``pairs.csv``).
    """

    summary: dict[str, Any]
    images: pd.DataFrame
    pairs: pd.DataFrame


def _number(v: Any) -> Any:
    """A JSON-safe scalar: numpy scalars as Python ones, NaN as ``None``."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _number(v) for k, v in rec.items()} for rec in frame.to_dict(orient="records")]


def per_class_frame(al: AlignedBoxes, ag: BoxAgreement) -> pd.DataFrame:
    """Per class: boxes in A, in B, A's boxes matched, and class agreement of those.

    Parameters
    ----------
    al : AlignedBoxes
    ag : BoxAgreement
        :func:`assay.detection.box_agreement` of ``al.a`` and ``al.b``.

    Returns
    -------
    DataFrame
        ``class``, ``in_a``, ``in_b``, ``matched`` (matched pairs whose A box has the class)
        and ``class_agreement`` (share of those whose B box has it too; NaN without any).
    """
    k = al.a.n_classes
    la, lb = al.a.label[ag.a_index], al.b.label[ag.b_index]
    matched = np.bincount(la, minlength=k)
    same = np.bincount(la[la == lb], minlength=k)
    share = np.divide(same, matched, out=np.full(k, np.nan), where=matched > 0)
    return pd.DataFrame({
        "class": al.a.classes, "in_a": np.bincount(al.a.label, minlength=k),
        "in_b": np.bincount(al.b.label, minlength=k), "matched": matched,
        "class_agreement": share,
    })


def images_frame(al: AlignedBoxes, ag: BoxAgreement) -> pd.DataFrame:
    """One row per shared image: ids, boxes in each file, pairs and the disagreements.

    Returns
    -------
    DataFrame
        ``image`` (the matching key), ``file_name``, ``image_id_a``, ``image_id_b``,
        ``boxes_a``, ``boxes_b``, ``matched``, ``a_only``, ``b_only``, ``class_differs``
        and ``disagreements`` (the sum of the last three), in A's image order.
    """
    frame = ag.images_frame()
    frame.insert(1, "file_name", al.file_names)
    frame.insert(2, "image_id_a", al.image_ids_a)
    frame.insert(3, "image_id_b", al.image_ids_b)
    frame.insert(4, "boxes_a", al.a.counts())
    frame.insert(5, "boxes_b", al.b.counts())
    frame.insert(6, "matched", np.bincount(al.a.image[ag.a_index], minlength=al.a.n_images))
    return frame


def pairs_frame(al: AlignedBoxes, ag: BoxAgreement) -> pd.DataFrame:
    """One row per matched pair: image, A's and B's annotation ids, IoU and both classes."""
    classes = np.array(al.a.classes, dtype=object)
    images = np.empty(al.a.n_images, dtype=object)
    images[:] = al.a.images
    return pd.DataFrame({
        "image": images[al.a.image[ag.a_index]], "box_a": al.a_ids[ag.a_index],
        "box_b": al.b_ids[ag.b_index], "iou": ag.iou,
        "class_a": classes[al.a.label[ag.a_index]], "class_b": classes[al.b.label[ag.b_index]],
    })


def _kappa_note(ag: BoxAgreement) -> list[str]:
    if ag.iou.size == 0:
        return ["no pair of boxes overlaps at the IoU threshold: the shares matched are 0 and "
                "IoU, class agreement and kappa are undefined"]
    if math.isnan(ag.kappa):
        return ["kappa is undefined: every matched pair has one and the same class in both "
                "files (chance agreement 1)"]
    return []


def box_report(a: CocoFile, b: CocoFile, al: AlignedBoxes, ag: BoxAgreement, *,
               iou: float, top: int) -> BoxReport:
    """Assemble the summary and the two tables of the box mode.

    Parameters
    ----------
    a, b : CocoFile
    al : AlignedBoxes
    ag : BoxAgreement
    iou : float
        The IoU threshold used.
    top : int
        How many images with the most disagreement the summary lists.

    Returns
    -------
    BoxReport
    """
    images = images_frame(al, ag)
    worst = images[images["disagreements"] > 0].sort_values(
        "disagreements", ascending=False, kind="stable").head(top)
    summary: dict[str, Any] = {
        "mode": "boxes", "file_a": str(a.path), "file_b": str(b.path), "iou_threshold": iou,
        "images_matched_by": al.matched_by, "n_images": al.a.n_images,
        "n_images_only_a": len(al.only_a), "n_images_only_b": len(al.only_b),
        "n_boxes_a": al.a.n_boxes, "n_boxes_b": al.b.n_boxes, "n_pairs": int(ag.iou.size),
        "matched_share_a": ag.matched_share_a, "matched_share_b": ag.matched_share_b,
        "mean_iou": ag.mean_iou, "class_agreement": ag.class_agreement, "kappa": ag.kappa,
        "a_only": int(ag.a_only.sum()), "b_only": int(ag.b_only.sum()),
        "class_differs": int(ag.class_differs.sum()),
        "classes_only_a": al.classes_only_a, "classes_only_b": al.classes_only_b,
        "per_class": _records(per_class_frame(al, ag)),
        "top_images": _records(worst[["image", "file_name", "a_only", "b_only",
                                      "class_differs", "disagreements"]]),
        "notes": [*al.notes, *_kappa_note(ag)],
    }
    summary = {k: _number(v) if not isinstance(v, list) else v for k, v in summary.items()}
    return BoxReport(summary=summary, images=images, pairs=pairs_frame(al, ag))


def write_box_outputs(report: BoxReport, out: Path) -> dict[str, str]:
    """Write ``summary.json``, ``images.csv`` and ``pairs.csv``, each renamed into place
    when complete; return name -> path."""
    from assay.data import atomic_path, remove_stale_temps

    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)
    paths = {"json": out / "summary.json", "images": out / "images.csv",
             "pairs": out / "pairs.csv"}
    with atomic_path(paths["json"]) as tmp:
        tmp.write_text(json.dumps(report.summary, indent=2, allow_nan=False, default=str))
    for name in ("images", "pairs"):
        with atomic_path(paths[name]) as tmp:
            getattr(report, name).to_csv(tmp, index=False)
    return {k: str(v) for k, v in paths.items()}


def _print_boxes(report: BoxReport, outputs: dict[str, str], top: int) -> None:
    s = report.summary
    a, b = Path(s["file_a"]).name, Path(s["file_b"]).name
    _line(("Box agreement", "bold"),
          f": A = {a}, B = {b}, {_count(s['n_images'])} images in common (by "
          f"{s['images_matched_by']}), pairs at IoU >= {s['iou_threshold']:g}")
    summ = Table(title="Boxes (matched one-to-one per image)")
    summ.add_column("measure")
    summ.add_column("value", justify="right")
    for name, value in (
        ("boxes in A", _count(s["n_boxes_a"])), ("boxes in B", _count(s["n_boxes_b"])),
        ("matched pairs", _count(s["n_pairs"])),
        ("share of A matched", _fmt(s["matched_share_a"])),
        ("share of B matched", _fmt(s["matched_share_b"])),
        ("mean IoU of matched pairs", _fmt(s["mean_iou"])),
        ("class agreement (matched pairs)", _fmt(s["class_agreement"])),
        ("Cohen's kappa (matched pairs)", _fmt(s["kappa"])),
        ("only in A", _count(s["a_only"])), ("only in B", _count(s["b_only"])),
        ("class differs", _count(s["class_differs"])),
    ):
        _row(summ, name, value)
    console.print(summ)
    per = Table(title="Per class (matched: A's boxes of the class)")
    for col in ("class", "in A", "in B", "matched", "class agreement"):
        per.add_column(col, justify="left" if col == "class" else "right")
    for rec in s["per_class"]:
        _row(per, rec["class"], _count(rec["in_a"]), _count(rec["in_b"]),
             _count(rec["matched"]), _fmt(rec["class_agreement"]))
    console.print(per)
    if s["top_images"]:
        worst = Table(title=f"Images with the most disagreement (top {top})")
        for col in ("image", "only in A", "only in B", "class differs", "total"):
            worst.add_column(col, justify="left" if col == "image" else "right")
        for rec in s["top_images"]:
            _row(worst, rec["file_name"] or rec["image"], _count(rec["a_only"]),
                 _count(rec["b_only"]), _count(rec["class_differs"]),
                 _count(rec["disagreements"]))
        console.print(worst)
    else:
        _line("No disagreement: every box is matched, with the same class.")
    for note in s["notes"]:
        _line(("note", "yellow"), f": {note}")
    _line(f"Wrote {outputs['json']}, images.csv and pairs.csv to "
          f"{Path(outputs['json']).parent}")


def _check_box_options(iou: float, top: int) -> None:
    from assay.exceptions import InvalidParameterError

    if not (isinstance(iou, int | float) and 0.0 < float(iou) <= 1.0):
        raise InvalidParameterError(
            "--iou", "a number in (0, 1]", iou, owner="assay agree --boxes",
            hint="Pass the least IoU of a matched pair, e.g. --iou 0.5 (COCO's AP50 rule).")
    if top < 1:
        raise InvalidParameterError("--top", "an int >= 1", top, owner="assay agree --boxes",
                                    hint="Pass how many images to list, e.g. --top 10.")


def run_boxes(data: Path, boxes: Path, *, iou: float, top: int, out: Path | None,
              workspace: Path | None, no_workspace: bool, as_json: bool) -> None:
    """The box mode of ``assay agree``: read, match, print and write.

    Parameters
    ----------
    data, boxes : Path
        Annotator A's and annotator B's COCO annotation files.
    iou : float
        The least IoU of a matched pair, in (0, 1].
    top : int
        How many images with the most disagreement to list.
    out : Path or None
        The output folder (default: the run's folder).
    workspace : Path or None
        The workspace folder (default: found from ``data``).
    no_workspace : bool
        Record nothing (then ``out`` is needed).
    as_json : bool
        Print the summary as JSON instead of tables.
    """
    from assay.data import check_output_dir
    from assay.detection import box_agreement
    from assay.pipelines import recorded_run

    _check_box_options(iou, top)
    require_out(no_workspace, out, "the agreement files", workspace)
    coco_a, coco_b = read_coco_file(data, "A"), read_coco_file(boxes, "B")
    if out is not None:
        out = check_output_dir(out, inputs=[data, boxes], names=_BOX_OUTPUT_NAMES)
    aligned = align_boxes(coco_a, coco_b)
    params = {"data": str(data), "boxes": str(boxes), "iou": iou, "top": top}
    with recorded_run("agree", params, data=data, workspace=workspace,
                      enabled=not no_workspace) as run:
        ag = box_agreement(aligned.a, aligned.b, iou_threshold=float(iou))
        report = box_report(coco_a, coco_b, aligned, ag, iou=float(iou), top=top)
        target = out if out is not None else run.folder
        assert target is not None  # noqa: S101 - checked by require_out
        outputs = write_box_outputs(report, target)
        if run.rec is not None:
            run.rec.summary["outputs"] = outputs
    if as_json:
        print_json({**report.summary, "outputs": outputs})
    else:
        _print_boxes(report, outputs, top)
