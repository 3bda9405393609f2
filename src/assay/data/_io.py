"""Reading tables from files, with errors that say what to do."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from assay.data._boxes import read_json_table
from assay.data._sequences import CONLL_SUFFIXES, conll_table
from assay.exceptions import InputValidationError

_READERS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    **dict.fromkeys(CONLL_SUFFIXES, "conll"),
}


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV, TSV, Parquet, JSON Lines or CoNLL file into a DataFrame.

    Parameters
    ----------
    path : str or Path
        The file. The format comes from the extension (``.csv``, ``.tsv``, ``.parquet``,
        ``.jsonl``, ``.json``; ``.conll``, ``.conllu``, ``.iob``, ``.iob2``, ``.bio``,
        ``.bioes``: one token per line with its tag last, a blank line between sentences, read
        as one row per sentence with the columns ``tokens`` and ``tags``, space-separated; a
        COCO annotation file ``.json`` reads as one row per image with the columns
        ``image_id``, ``file_name``, ``width``, ``height`` and ``boxes``).

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    InputValidationError
        When the file is missing, empty, not UTF-8, of an unknown format or unparsable, or when
        two columns share a name (pandas would rename the second ``x.1``; for CSV / TSV the
        header row is read as written to detect that).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = p.write_text("x,y\\n1,a\\n2,b\\n")
    >>> read_table(p).shape
    (2, 2)
    """
    p = Path(path)
    if not p.exists():
        raise InputValidationError(f"File not found: '{p}'. Check the path and try again.")
    if p.is_dir():
        raise InputValidationError(
            f"'{p}' is a folder, not a table file. Pass a .csv/.tsv/.parquet/.jsonl file "
            "(an image folder laid out root/<class>/<file> loads with assay.load(root, label=...))."
        )
    kind = _READERS.get(p.suffix.lower())
    if kind is None:
        raise InputValidationError(
            f"Unknown file type '{p.suffix}' for '{p.name}'. Expected one of "
            f"{', '.join(sorted(_READERS))}. Convert the file or rename it with the right extension."
        )
    if p.stat().st_size == 0:
        raise InputValidationError(f"'{p}' is empty (0 bytes). Pass a file with a header and rows.")
    try:
        frame = _read(p, kind)
    except InputValidationError:
        raise  # already says which line is wrong (CoNLL)
    except UnicodeDecodeError as exc:
        raise InputValidationError(
            f"'{p}' is not valid UTF-8 (byte {exc.start}: {exc.object[exc.start:exc.start + 1]!r}). "
            "Re-save it as UTF-8 (e.g. iconv -f latin1 -t utf-8)."
        ) from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, OSError) as exc:
        raise InputValidationError(
            f"Could not read '{p}' as {kind.upper()}: {exc}. Check that the file is a valid "
            f"{kind.upper()} file."
        ) from exc
    if frame.shape[0] == 0:
        raise InputValidationError(f"'{p}' has a header but no rows. Pass a file with data rows.")
    if kind in ("csv", "tsv"):
        check_unique_columns(_csv_header(p, "," if kind == "csv" else "\t"), source=f"'{p}'")
    check_unique_columns(frame.columns, source=f"'{p}'")
    return frame


def _csv_header(p: Path, delimiter: str) -> list[str]:
    """The header row as written (pandas renames a repeated name ``x`` to ``x.1``)."""
    with p.open(newline="", encoding="utf-8-sig") as fh:
        return next(csv.reader(fh, delimiter=delimiter), [])


def check_unique_columns(names: Iterable[Any], *, source: str = "The table") -> None:
    """Refuse a table in which two or more columns share a name.

    assay looks columns up by name, so it would silently read only one of them (and an export
    would rename the others).

    Parameters
    ----------
    names : iterable
        Column names in table order (compared as strings, as :func:`assay.load` uses them).
    source : str
        What the table is, for the message (a quoted path, or "The DataFrame").

    Raises
    ------
    InputValidationError
        Naming each repeated name and its column positions (counting from 1).

    Examples
    --------
    >>> check_unique_columns(["x1", "y", "x1"])
    Traceback (most recent call last):
    ...
    assay.exceptions.InputValidationError: The table has duplicate column names: 'x1' at columns 1 and 3 (counting from 1). Each column needs a unique name: assay looks columns up by name and would read only one of them. Rename the repeated columns (e.g. 'x1_a', 'x1_b') and try again.
    """
    positions: dict[str, list[int]] = {}
    for pos, name in enumerate(names, start=1):
        positions.setdefault(str(name), []).append(pos)
    dups = [(name, pos) for name, pos in positions.items() if len(pos) > 1]
    if not dups:
        return
    listed = "; ".join(
        f"{name!r} at columns {', '.join(map(str, pos[:-1]))} and {pos[-1]}"
        for name, pos in dups[:5]
    )
    more = f" (and {len(dups) - 5} more names)" if len(dups) > 5 else ""
    first = dups[0][0]
    raise InputValidationError(
        f"{source} has duplicate column names: {listed}{more} (counting from 1). Each column "
        "needs a unique name: assay looks columns up by name and would read only one of them. "
        f"Rename the repeated columns (e.g. '{first}_a', '{first}_b') and try again."
    )


def _read(p: Path, kind: str) -> pd.DataFrame:
    # exact floats: pandas 3's default parser can be off by one unit in the last place, so a
    # value would not survive a round trip (assay export writes the data back)
    opts: dict[str, Any] = {"encoding": "utf-8", "encoding_errors": "strict",
                            "float_precision": "round_trip"}
    if kind in ("csv", "tsv"):
        import warnings

        with warnings.catch_warnings():  # deprecated in pandas 3, still the exact parser there
            warnings.filterwarnings("ignore", message=".*float_precision.*")
            return pd.read_csv(p, sep="\t" if kind == "tsv" else ",", **opts)
    if kind == "parquet":
        return pd.read_parquet(p)
    if kind == "conll":  # one row per sentence: tokens and tags, space-separated
        return conll_table(p)
    if kind == "jsonl":
        return pd.read_json(p, lines=True, encoding="utf-8")
    coco = read_json_table(p)  # a COCO annotation file: one row per image, its boxes
    return coco if coco is not None else pd.read_json(p, encoding="utf-8")
