"""Token sequences in tables and CoNLL files: one row per sentence, its tokens and their tags.

The data layer owns the file formats: :func:`parse_conll` reads the lines of a CoNLL / IOB file
(used by :func:`assay.tokens.read_conll` and by :func:`assay.data.read_table`, which turns such
a file into a table of sentences with the columns ``tokens`` and ``tags``, each a
space-separated string), :func:`parse_sequences` reads a column of sequences (lists, JSON list
strings or space-separated strings), and :func:`token_task_columns` tells whether a label column
holds one tag per token of another column (the ``tokens`` task).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from assay.exceptions import InputValidationError

__all__ = ["CONLL_SUFFIXES", "format_sequence", "parse_conll", "parse_sequences",
           "sequence_form", "source_lines", "token_task_columns"]

#: File extensions read as CoNLL / IOB (one token per line, a blank line between sentences).
CONLL_SUFFIXES = (".conll", ".conllu", ".iob", ".iob2", ".bio", ".bioes")
#: CoNLL-U multiword-token ranges (``3-4``) and empty nodes (``5.1``) in the ID column.
_CONLLU_SKIPPED_ID = re.compile(r"^\d+[-.]\d+$")
#: Rows inspected to decide whether a column holds token sequences (evenly spaced).
SEQUENCE_SAMPLE = 20_000
#: Aligned sequences without a repeated tag are tags from this mean length on.
MIN_MEAN_TOKENS = 3


def source_lines(path_or_text: Any, what: str) -> tuple[list[str], str]:
    """The lines of a file (a Path, or a string naming an existing file) or of a text (a string
    holding a newline), and a name for messages."""
    if isinstance(path_or_text, Path):
        path = path_or_text
    elif isinstance(path_or_text, str):
        if "\n" in path_or_text:
            return path_or_text.splitlines(), "the text"
        path = Path(path_or_text)
    else:
        raise InputValidationError(
            f"{what} needs a path or the file's text; got {type(path_or_text).__name__}.")
    if not path.is_file():
        raise InputValidationError(
            f"File {str(path)!r} not found. Pass an existing file, or the file's contents as a "
            "string holding at least one newline.")
    return path.read_text(encoding="utf-8-sig").splitlines(), str(path)


def parse_conll(path_or_text: Any, *, token_col: int = 0, tag_col: int = -1,
                sep: str | None = None, comment: str | None = "#",
                fix: str = "Pass token_col/tag_col/sep to match the file."
                ) -> tuple[list[str], list[str], list[int], tuple[np.ndarray, ...]]:
    """The tokens, tags, sentence lengths and other columns of a CoNLL / IOB file.

    The rules are :func:`assay.tokens.read_conll`'s (which documents them); this is its parser,
    returning plain lists: ``(tokens, tags, lengths, columns)``, ``columns`` the other columns
    when every token line has the same number of them (else empty). ``fix`` ends the message
    about a line with too few columns.

    Examples
    --------
    >>> from assay.data._sequences import parse_conll
    >>> parse_conll("EU NNP B-ORG\\nrejects VBZ O\\n\\nHi UH O\\n")[:3]
    (['EU', 'rejects', 'Hi'], ['B-ORG', 'O', 'O'], [2, 1])
    """
    lines, name = source_lines(path_or_text, "read_conll")
    need = max(2, token_col + 1 if token_col >= 0 else -token_col,
               tag_col + 1 if tag_col >= 0 else -tag_col)
    rows: list[list[str]] = []
    lengths: list[int] = []
    current = 0
    for n, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if not line.strip() or line.startswith("-DOCSTART-"):
            if current:
                lengths.append(current)
                current = 0
            continue
        if comment is not None and current == 0 and line.startswith(comment):
            continue
        fields = line.split(sep) if sep is not None else line.split()
        if token_col != 0 and _CONLLU_SKIPPED_ID.match(fields[0].strip()):
            continue
        if len(fields) < need:
            raise InputValidationError(
                f"Line {n} of {name} has {len(fields)} column(s) ({line[:60]!r}), but "
                f"token_col={token_col} and tag_col={tag_col} need at least {need}. Each token "
                "line needs its token and tag"
                + (f" separated by {sep!r}" if sep is not None else " separated by whitespace")
                + f"; sentences are separated by blank lines. {fix}")
        if token_col % len(fields) == tag_col % len(fields):
            raise InputValidationError(
                f"Line {n} of {name}: token_col={token_col} and tag_col={tag_col} are the same "
                f"column of its {len(fields)} columns ({line[:60]!r}). Pass distinct columns.")
        if not fields[token_col].strip() or not fields[tag_col].strip():
            raise InputValidationError(
                f"Line {n} of {name} has an empty token or tag ({line[:60]!r}). Give every "
                "token line a token and a tag.")
        rows.append(fields)
        current += 1
    if current:
        lengths.append(current)
    if not rows:
        raise InputValidationError(
            f"{name} holds no token lines ({len(lines)} line(s) read, all blank, comments or "
            "-DOCSTART-). Expected one token per line with its tag, e.g. 'EU B-ORG'.")
    tokens = [r[token_col].strip() for r in rows]
    tags = [r[tag_col].strip() for r in rows]
    width = {len(r) for r in rows}
    columns: tuple[np.ndarray, ...] = ()
    if len(width) == 1:
        w = width.pop()
        keep = [j for j in range(w) if j not in (token_col % w, tag_col % w)]
        columns = tuple(np.asarray([r[j] for r in rows], dtype=object) for j in keep)
    return tokens, tags, lengths, columns


def conll_table(path: Path) -> pd.DataFrame:
    """A CoNLL / IOB file as a table of sentences: ``tokens`` and ``tags``, space-separated
    (a token never holds whitespace in such a file), one row per sentence in file order."""
    tokens, tags, lengths, _ = parse_conll(
        path, fix="Fix that line (the token first, the tag last), or convert the file with "
                  "assay.tokens.read_conll(path, token_col=..., tag_col=..., sep=...) and "
                  "audit the table.")
    ends = np.cumsum(lengths)
    starts = ends - np.asarray(lengths)
    return pd.DataFrame({
        "tokens": [" ".join(tokens[a:b]) for a, b in zip(starts, ends, strict=True)],
        "tags": [" ".join(tags[a:b]) for a, b in zip(starts, ends, strict=True)],
    })


def sequence_form(column: pd.Series) -> str:
    """How a column writes a sequence: ``"list"`` (list cells), ``"json"`` (JSON list strings)
    or ``"space"`` (space-separated strings), judged on its first non-missing cell."""
    present = column.dropna()
    if not len(present):
        return "space"
    first = present.iloc[0]
    if isinstance(first, list | tuple | np.ndarray):
        return "list"
    return "json" if isinstance(first, str) and first.lstrip().startswith("[") else "space"


def format_sequence(parts: list[str], form: str) -> Any:
    """A sequence in a column's form (:func:`sequence_form`): a list, JSON text or a string."""
    if form == "list":
        return list(parts)
    if form == "json":
        return json.dumps(list(parts), ensure_ascii=False)
    return " ".join(parts)


def _cell_parts(value: Any) -> list[str] | None:
    """A cell as a list of strings, or None when it is no sequence."""
    if isinstance(value, list | tuple | np.ndarray):
        return [str(v) for v in value]
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            return None
        return [str(v) for v in parsed] if isinstance(parsed, list) else None
    return text.split()


def parse_sequences(column: pd.Series, *, name: str = "column") -> list[list[str]]:
    """Each cell of a column as a list of strings: list cells, JSON list strings, or strings
    split on whitespace.

    Raises
    ------
    InputValidationError
        A missing cell, a cell that is none of these, or an empty sequence.

    Examples
    --------
    >>> import pandas as pd
    >>> from assay.data._sequences import parse_sequences
    >>> parse_sequences(pd.Series(["B-PER I-PER O", '["O", "B-LOC"]']))
    [['B-PER', 'I-PER', 'O'], ['O', 'B-LOC']]
    """
    out: list[list[str]] = []
    for i, value in enumerate(column.tolist()):
        parts = None if _missing(value) else _cell_parts(value)
        if not parts:
            raise InputValidationError(
                f"Row {i} of {name} holds no sequence ({str(value)[:40]!r}). Each row needs its "
                "tokens (or tags) as a list, a JSON list such as [\"EU\", \"rejects\"], or a "
                "space-separated string such as 'EU rejects'; drop empty sentences.")
        out.append(parts)
    return out


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def token_task_columns(table: pd.DataFrame, label: str, text: str | None = None
                       ) -> str | None:
    """The column whose tokens the label tags, when the label holds one tag per token; else
    None.

    The candidate is the text column, else a column named ``tokens``. The label holds tags
    for it when, on up to :data:`SEQUENCE_SAMPLE` evenly spaced rows, every label cell and
    candidate cell are sequences of the same length, and either some label sequence repeats a
    tag (sentences repeat ``O`` or ``NOUN``; a set of labels never repeats one) or the
    sequences hold at least :data:`MIN_MEAN_TOKENS` parts on average (a set of labels as long
    as its row's text, word for word on every row, is not a coincidence at that length).

    Examples
    --------
    >>> import pandas as pd
    >>> from assay.data._sequences import token_task_columns
    >>> t = pd.DataFrame({"tokens": ["EU rejects call", "Hi Bo"], "tags": ["B-ORG O O", "O B-PER"]})
    >>> token_task_columns(t, "tags")
    'tokens'
    """
    candidate = text if text is not None else ("tokens" if "tokens" in table.columns else None)
    if candidate is None or candidate == label or candidate not in table.columns:
        return None
    tags, toks = table[label], table[candidate]
    if pd.api.types.is_numeric_dtype(tags) or pd.api.types.is_numeric_dtype(toks):
        return None
    n = len(table)
    rows = (np.arange(n) if n <= SEQUENCE_SAMPLE
            else np.linspace(0, n - 1, SEQUENCE_SAMPLE).astype(np.int64))
    repeated, total = False, 0
    for tag, tok in zip(tags.iloc[rows].tolist(), toks.iloc[rows].tolist(), strict=True):
        a = None if _missing(tag) else _cell_parts(tag)
        b = None if _missing(tok) else _cell_parts(tok)
        if not a or not b or len(a) != len(b):
            return None
        repeated = repeated or len(set(a)) < len(a)
        total += len(a)
    return candidate if repeated or total >= MIN_MEAN_TOKENS * len(rows) else None
