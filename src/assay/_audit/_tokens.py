"""The token-classification task of an audit: which column holds the tokens, the corpus, and
the user's per-token probabilities.

A row of the data is a sentence: its tokens in one column and its tags in the label column (lists,
JSON lists or space-separated strings; a CoNLL file loads that way, :func:`assay.data.read_table`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import numpy as np

from assay.data import CONLL_SUFFIXES, Dataset, parse_sequences, token_task_columns
from assay.exceptions import InputValidationError

__all__ = ["from_conll", "token_column", "token_corpus", "token_probs", "with_token_roles"]


def from_conll(dataset: Dataset) -> bool:
    """Whether the data was read from a CoNLL / IOB file."""
    return dataset.source is not None and Path(dataset.source).suffix.lower() in CONLL_SUFFIXES


def token_column(dataset: Dataset, *, required: bool = False) -> str | None:
    """The column whose tokens the label tags (:func:`assay.data.token_task_columns`),
    or None; with ``required``, a clear error instead of None."""
    roles = dataset.roles
    col = token_task_columns(dataset.table, roles.label, roles.text)
    if col is None and required:
        candidate = roles.text or ("tokens" if "tokens" in dataset.table.columns else None)
        if candidate is None:
            raise InputValidationError(
                f"task='tokens' needs a column of tokens beside the tags in '{roles.label}'; "
                f"found neither a text column nor one named 'tokens' (columns: "
                f"{', '.join(map(str, dataset.table.columns[:12]))}). Pass text=... (--text) "
                "naming the tokens column.")
        _check_lengths(dataset, candidate)
        return candidate
    return col


def _check_lengths(dataset: Dataset, column: str) -> None:
    """Raise naming the first sentence whose tags and tokens differ in number."""
    label = dataset.roles.label
    tokens = parse_sequences(dataset.table[column], name=f"the tokens column '{column}'")
    tags = parse_sequences(dataset.table[label], name=f"the label column '{label}'")
    for i, (tok, tag) in enumerate(zip(tokens, tags, strict=True)):
        if len(tok) != len(tag):
            raise InputValidationError(
                f"Row {i} has {len(tok)} tokens in '{column}' but {len(tag)} tags in '{label}' "
                f"({' '.join(tok[:6])!r}...). A tokens task needs one tag per token: fix the "
                "row, or pass another task (--task) if the label is not a tag sequence.")


def with_token_roles(dataset: Dataset, column: str) -> Dataset:
    """The dataset with the tokens column as its text (so duplicates and outliers read the
    sentence) and not among the table features."""
    roles = dataset.roles
    if roles.text == column:
        return dataset
    features = tuple(c for c in roles.features if c != column)
    return replace(dataset, roles=replace(roles, text=column, features=features))


def token_corpus(dataset: Dataset, column: str | None = None) -> Any:
    """The sentences as a :class:`assay.tokens.TokenCorpus`, sentence ``i`` = row ``i``; the
    tokens in ``column`` (default: :func:`token_column`)."""
    from assay.tokens import TokenCorpus

    if column is None:
        column = cast(str, token_column(dataset, required=True))  # required: never None
    label = dataset.roles.label
    tokens = parse_sequences(dataset.table[column], name=f"the tokens column '{column}'")
    tags = parse_sequences(dataset.table[label], name=f"the label column '{label}'")
    return TokenCorpus.from_sentences(tokens, tags)


def token_probs(pred_probs: Any, corpus: Any) -> np.ndarray:
    """The user's out-of-fold tag probabilities: (T, K), one row per token in sentence order, one
    column per tag in sorted order, rows summing to 1. Checked in blocks and not copied (a
    memory-mapped ``.npy`` stays on disk)."""
    from assay.tokens import BLOCK_TOKENS as BLOCK

    p = np.asarray(pred_probs)
    k = len(corpus.classes)
    shown = ", ".join(map(str, corpus.classes[:10])) + (" ..." if k > 10 else "")
    if p.shape != (corpus.n_tokens, k):
        raise InputValidationError(
            f"pred_probs for a tokens task must have shape ({corpus.n_tokens}, {k}): one row "
            f"per token, sentence after sentence, and one column per tag in the order {shown}; "
            f"got shape {p.shape}.")
    if p.dtype.kind not in "fiub":
        raise InputValidationError(
            f"pred_probs for a tokens task must hold numbers; got dtype {p.dtype}. Save a "
            "float array with numpy.save.")
    if p.dtype.kind != "f":
        p = p.astype(np.float64)
    for start in range(0, p.shape[0], BLOCK):
        b = np.asarray(p[start:start + BLOCK], dtype=np.float64)
        sums = b.sum(axis=1)
        if not np.all(np.isfinite(b)) or b.min() < 0 or np.abs(sums - 1).max() > 1e-3:
            raise InputValidationError(
                "pred_probs for a tokens task must hold probabilities: finite, non-negative, "
                f"each row summing to 1; tokens {start}..{start + len(b) - 1} hold values from "
                f"{np.nanmin(b):.3g} to {np.nanmax(b):.3g} and row sums from "
                f"{np.nanmin(sums):.3g} to {np.nanmax(sums):.3g}. Pass a softmax of each "
                "token's logits.")
    return p
