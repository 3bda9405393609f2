"""Wrong tags in token classification data: named entities (IOB), parts of speech, chunks.

Each token of a sentence carries one tag. A tag is wrong when an annotator gave a token the
wrong entity type, missed an entity, or mistook a noun for a verb. The pieces:

- :class:`TokenCorpus` holds a tagged corpus as flat arrays (tokens, tags encoded as integers,
  sentence offsets); :func:`read_conll`, :func:`read_jsonl`, :meth:`TokenCorpus.from_frame` and
  :meth:`TokenCorpus.from_sentences` build one, :func:`write_conll` writes it back (with
  corrected tags).
- :func:`cross_fit_token_probs` gives out-of-fold tag probabilities of every token from a
  multinomial logistic regression on hashed features of the token and its neighbours, with folds
  by sentence.
- :func:`token_label_scores` scores each token (the probability of its tag) and each sentence
  (its worst token).
- :func:`find_token_issues` flags the tags that look wrong, says how many there likely are and
  whether to trust that, suggests corrections, and reports a second signal separately:
  :func:`inconsistent_tags`, tokens tagged differently from the same word elsewhere.

The estimate is confident learning on the flattened tokens, as :func:`assay.labels.
estimate_label_issues` does it for rows: the probabilities are recalibrated by one temperature,
the calibrated confident joint gives the noise process, and Bayes' rule gives each token's
probability of a wrong tag. Their sum is the estimated number of wrong tags; that many tokens
with the lowest scores (among those whose tag is not the model's top prediction) are flagged.
On ``benchmarks/token_labels.py`` (generated corpora, ``docs/benchmarks/tokens.md``) this had a
higher token F1 than cleanlab's ``token_classification`` module on the same probabilities.
The probabilities are read in blocks of tokens: besides the (T, K) matrix passed in, only
per-token vectors (T,) and one block's temporaries are held. The matrix may live on disk
(``cross_fit_token_probs(..., out=assay.data.disk_array(...))`` writes it there, and a
memory-mapped ``.npy`` reads from there), as the audit keeps it: a corpus's probabilities are
then never in memory whole.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from assay._kernels import confident as cl
from assay._validation import check_int
from assay.data import parse_conll, source_lines
from assay.exceptions import InputValidationError, InvalidParameterError
from assay.labels import (
    DECIDED_POSTERIOR,
    OVERCONFIDENCE_GAP,
    PLAUSIBLE_NOISE_RATE,
    UNDECIDED_ERROR_SHARE,
)

__all__ = [
    "TokenCorpus",
    "TokenIssues",
    "cross_fit_token_probs",
    "find_token_issues",
    "inconsistent_tags",
    "read_conll",
    "read_jsonl",
    "token_label_scores",
    "write_conll",
]

#: Tokens of probabilities processed at a time.
BLOCK_TOKENS = 65_536
#: Hashed feature columns of :func:`cross_fit_token_probs`.
N_FEATURES = 2**20
#: Inverse regularisation strength and epochs of the logistic regression. Measured with
#: ``python benchmarks/token_labels.py --models`` (6,000 generated sentences, 2 seeds, token F1
#: of the flags on ner_news / pos / ner_social): C = 0.3 0.917 / 0.961 / 0.877, C = 1 0.914 /
#: 0.952 / 0.877, C = 0.1 0.895 / 0.954 / 0.849; 30 epochs instead of 10 within 0.002 at twice
#: the time; an SGD logistic regression (one-vs-rest, alpha 1e-5) 0.915 / 0.930 / 0.815.
LOGISTIC_C = 0.3
EPOCHS = 10
#: Rows used to fit the recalibration temperature (a seeded sample above it), as in
#: :func:`assay.labels.estimate_label_issues`.
TEMPERATURE_SAMPLE = 50_000
#: Below this many tokens the estimate is not reliable: the out-of-fold model has seen too few
#: sentences, and its own mistakes pass for wrong tags. On the corpora of
#: ``benchmarks/token_labels.py`` (3 corpora x 3 seeds per size, 300-2,500 sentences) the
#: estimated count ran 1.9-3.6x the true one at about 3,500 tokens and 1.2-1.6x at about 7,000
#: (where not already called unreliable), and 0.89-1.36x from 14,000 to 31,000 tokens.
MIN_TOKENS = 10_000
#: The model must remove at least this share of the errors of always predicting the most
#: frequent tag (``(accuracy - baseline) / (1 - baseline)``); below it the estimate is not
#: reliable. On ``benchmarks/token_labels.py`` the generated corpora scored 0.93-0.98, models
#: fitted on 300-500 sentences 0.56-0.94, and shuffled tags -0.07 to -0.01.
MIN_SKILL = 0.5
#: Defaults of :func:`inconsistent_tags`: a word form seen at least this often ...
MIN_FORM_COUNT = 5
#: ... whose most frequent tag holds at least this share of its occurrences.
MIN_MAJORITY_SHARE = 0.8


# --------------------------------------------------------------------------------------------
# The corpus


@dataclass(frozen=True, eq=False)
class TokenCorpus:
    """A tagged corpus as flat arrays: one entry per token, sentences as offsets.

    Attributes
    ----------
    tokens : ndarray of shape (T,), object
        The tokens (strings), sentence after sentence.
    tags : ndarray of shape (T,), int64
        Each token's tag, an index into ``classes``.
    classes : ndarray of shape (K,), str
        The tag names, sorted.
    offsets : ndarray of shape (S + 1,), int64
        Sentence ``i`` is ``tokens[offsets[i]:offsets[i + 1]]``; ``offsets[0] = 0``,
        ``offsets[-1] = T``. Every sentence has at least one token.
    columns : tuple of ndarray of shape (T,), object
        The other columns of a CoNLL file, in file order (empty when the corpus did not come
        from one, or when its lines have different numbers of columns);
        :func:`write_conll` writes them between the token and the tag.

    Examples
    --------
    >>> from assay.tokens import TokenCorpus
    >>> c = TokenCorpus.from_sentences([["EU", "rejects", "German", "call"], ["Peter", "Blackburn"]],
    ...                                [["B-ORG", "O", "B-MISC", "O"], ["B-PER", "I-PER"]])
    >>> c.n_tokens, c.n_sentences, c.classes.tolist()
    (6, 2, ['B-MISC', 'B-ORG', 'B-PER', 'I-PER', 'O'])
    >>> c.sentence(1)
    (['Peter', 'Blackburn'], ['B-PER', 'I-PER'])
    """

    tokens: np.ndarray
    tags: np.ndarray
    classes: np.ndarray
    offsets: np.ndarray
    columns: tuple[np.ndarray, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        t = len(self.tokens)
        off = self.offsets
        if len(self.tags) != t or off.ndim != 1 or off.size < 2 or off[0] != 0 or off[-1] != t:
            raise InputValidationError(
                f"A TokenCorpus needs one tag per token and offsets from 0 to the number of "
                f"tokens; got {t} tokens, {len(self.tags)} tags and offsets "
                f"{off[:3].tolist()}...{off[-2:].tolist()}. Build one with read_conll, "
                "TokenCorpus.from_frame or TokenCorpus.from_sentences.")
        if np.any(np.diff(off) <= 0):
            empty = int(np.flatnonzero(np.diff(off) <= 0)[0])
            raise InputValidationError(
                f"Sentence {empty} has no tokens; every sentence needs at least one. Drop empty "
                "sentences.")
        if t and (self.tags.min() < 0 or self.tags.max() >= len(self.classes)):
            raise InputValidationError(
                f"tags must be indices into classes (0..{len(self.classes) - 1}); got values "
                f"from {int(self.tags.min())} to {int(self.tags.max())}.")
        if any(len(c) != t for c in self.columns):
            raise InputValidationError("Every extra column needs one value per token.")

    @property
    def n_tokens(self) -> int:
        """Number of tokens, T."""
        return int(len(self.tokens))

    @property
    def n_sentences(self) -> int:
        """Number of sentences, S."""
        return int(len(self.offsets) - 1)

    @property
    def sentence_ids(self) -> np.ndarray:
        """The sentence of each token, shape (T,)."""
        return np.repeat(np.arange(self.n_sentences), np.diff(self.offsets))

    @property
    def tag_names(self) -> np.ndarray:
        """Each token's tag name, shape (T,)."""
        return self.classes[self.tags]

    def sentence(self, i: int) -> tuple[list[str], list[str]]:
        """The tokens and tag names of sentence ``i``."""
        if not -self.n_sentences <= i < self.n_sentences:
            raise InputValidationError(
                f"Sentence {i} does not exist; the corpus has {self.n_sentences} sentences "
                f"(0..{self.n_sentences - 1}).")
        i %= self.n_sentences
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        return self.tokens[a:b].tolist(), self.classes[self.tags[a:b]].tolist()

    def to_frame(self) -> pd.DataFrame:
        """One row per token: ``sentence``, ``position``, ``token``, ``tag``.

        Examples
        --------
        >>> from assay.tokens import TokenCorpus
        >>> TokenCorpus.from_sentences([["a", "b"], ["c"]], [["X", "Y"], ["X"]]).to_frame().values.tolist()
        [[0, 0, 'a', 'X'], [0, 1, 'b', 'Y'], [1, 0, 'c', 'X']]
        """
        sid = self.sentence_ids
        return pd.DataFrame({"sentence": sid, "position": np.arange(self.n_tokens)
                             - self.offsets[sid], "token": self.tokens, "tag": self.tag_names})

    @classmethod
    def from_sentences(cls, tokens: Sequence[Sequence[Any]],
                       tags: Sequence[Sequence[Any]]) -> TokenCorpus:
        """A corpus from a list of sentences: token lists and tag lists of the same lengths.

        Examples
        --------
        >>> from assay.tokens import TokenCorpus
        >>> TokenCorpus.from_sentences([["I", "run"]], [["PRON", "VERB"]]).tags.tolist()
        [0, 1]
        """
        if isinstance(tokens, str) or isinstance(tags, str):
            raise InputValidationError(
                "tokens and tags must be lists of sentences (lists of strings), e.g. "
                "[['EU', 'rejects'], ...] and [['B-ORG', 'O'], ...]; got a string.")
        if len(tokens) != len(tags):
            raise InputValidationError(
                f"tokens has {len(tokens)} sentences but tags {len(tags)}. Pass one tag list "
                "per sentence.")
        flat_tokens: list[str] = []
        flat_tags: list[str] = []
        lengths = []
        for i, (tok, tag) in enumerate(zip(tokens, tags, strict=True)):
            tok, tag = _sequence(tok, f"tokens[{i}]"), _sequence(tag, f"tags[{i}]")
            if len(tok) != len(tag):
                raise InputValidationError(
                    f"Sentence {i} has {len(tok)} tokens but {len(tag)} tags. Pass one tag per "
                    "token.")
            if not tok:
                continue
            flat_tokens.extend(map(str, tok))
            flat_tags.extend(_tag_name(t, f"sentence {i}") for t in tag)
            lengths.append(len(tok))
        return _build(flat_tokens, flat_tags, lengths, "the sentences")

    @classmethod
    def from_records(cls, rows: Iterable[dict[str, Any]], *, tokens: str = "tokens",
                     tags: str = "tags") -> TokenCorpus:
        """A corpus from records such as the lines of a JSONL file:
        ``{"tokens": [...], "tags": [...]}`` per sentence.

        Examples
        --------
        >>> from assay.tokens import TokenCorpus
        >>> TokenCorpus.from_records([{"tokens": ["Hi", "Bo"], "tags": ["O", "B-PER"]}]).n_tokens
        2
        """
        toks, tgs = [], []
        for i, row in enumerate(rows):
            toks.append(_field(row, tokens, f"Record {i}"))
            tgs.append(_field(row, tags, f"Record {i}"))
        if not toks:
            raise InputValidationError("No records: pass at least one sentence.")
        return cls.from_sentences(toks, tgs)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, *, sentence: str = "sentence", token: str = "token",
                   tag: str = "tag") -> TokenCorpus:
        """A corpus from a table with one row per token and a sentence-id column.

        The rows of a sentence must be contiguous and in token order (sort by sentence and
        position first); the corpus keeps the table's row order, so token ``i`` is row ``i``.

        Examples
        --------
        >>> import pandas as pd
        >>> from assay.tokens import TokenCorpus
        >>> frame = pd.DataFrame({"sentence": [7, 7, 9], "token": ["New", "York", "Hi"],
        ...                       "tag": ["B-LOC", "I-LOC", "O"]})
        >>> TokenCorpus.from_frame(frame).offsets.tolist()
        [0, 2, 3]
        """
        if not isinstance(frame, pd.DataFrame):
            raise InputValidationError(
                f"frame must be a pandas DataFrame with one row per token; got "
                f"{type(frame).__name__}.")
        for role, name in (("sentence", sentence), ("token", token), ("tag", tag)):
            if name not in frame.columns:
                from assay._validation import did_you_mean

                raise InputValidationError(
                    f"Column {name!r} ({role}) not found.{did_you_mean(name, map(str, frame.columns))}"
                    f" Columns: {', '.join(map(str, frame.columns[:12]))}. Pass {role}=... with "
                    "the column's name.")
        if len(frame) == 0:
            raise InputValidationError("frame has no rows; pass at least one token.")
        for name in (sentence, token, tag):
            missing = frame[name].isna().to_numpy()
            if missing.any():
                raise InputValidationError(
                    f"Column {name!r} has {int(missing.sum())} missing value(s), the first in row "
                    f"{int(np.flatnonzero(missing)[0])}. Fill or drop those rows.")
        sid = pd.factorize(frame[sentence], sort=False)[0]
        starts = np.r_[True, sid[1:] != sid[:-1]]
        run_ids = sid[starts]
        if len(np.unique(run_ids)) != len(run_ids):
            seen: dict[int, int] = {}
            rows = np.flatnonzero(starts)
            for r, s in zip(rows.tolist(), run_ids.tolist(), strict=True):
                if s in seen:
                    value = frame[sentence].iloc[r]
                    raise InputValidationError(
                        f"The rows of sentence {value!r} are not contiguous (rows {seen[s]} and "
                        f"{r} start two runs of it). Sort the table by sentence (and position) "
                        f"first: frame.sort_values([{sentence!r}, 'position'], kind='stable').")
                seen[s] = r
        lengths = np.diff(np.r_[np.flatnonzero(starts), len(frame)])
        return _build([str(t) for t in frame[token].tolist()],
                      [str(t) for t in frame[tag].tolist()], lengths.tolist(), "frame")


def _sequence(value: Any, name: str) -> list[Any]:
    if isinstance(value, str) or not hasattr(value, "__len__"):
        raise InputValidationError(
            f"{name} must be a list of strings (one per token); got {type(value).__name__} "
            f"{str(value)[:40]!r}.")
    return list(value)


def _tag_name(value: Any, where: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise InputValidationError(f"{where} has a missing tag; give every token a tag.")
    return str(value)


def _field(row: Any, key: str, where: str) -> Any:
    if not isinstance(row, dict):
        raise InputValidationError(
            f"{where} is {type(row).__name__}, not an object; expected "
            '{"tokens": [...], "tags": [...]}.')
    if key not in row:
        raise InputValidationError(
            f"{where} has no {key!r} field (fields: {', '.join(map(str, row))}). Expected "
            f'{{"tokens": [...], "tags": [...]}}, or pass tokens=/tags= with the field names.')
    return row[key]


def _build(tokens: list[str], tags: list[str], lengths: list[int], what: str,
           columns: tuple[np.ndarray, ...] = ()) -> TokenCorpus:
    if not tokens:
        raise InputValidationError(f"{what} holds no tokens; pass at least one tagged token.")
    classes, encoded = np.unique(np.asarray(tags, dtype=str), return_inverse=True)
    return TokenCorpus(np.asarray(tokens, dtype=object), encoded.astype(np.int64).ravel(),
                       classes, np.r_[0, np.cumsum(lengths)].astype(np.int64), columns)


# --------------------------------------------------------------------------------------------
# CoNLL and JSONL files


def read_conll(path_or_text: Any, *, token_col: int = 0, tag_col: int = -1,
               sep: str | None = None, comment: str | None = "#") -> TokenCorpus:
    """Read a CoNLL / IOB file: one token per line, a blank line between sentences.

    Columns are split on whitespace (or ``sep``, e.g. ``"\\t"`` for CoNLL-U). Lines starting
    with ``-DOCSTART-`` end the sentence and are skipped, as are comment lines: lines starting
    with ``comment`` before a sentence's first token (CoNLL-U's ``# sent_id = ...``; inside a
    sentence such a line is a token, e.g. a hashtag; pass ``comment=None`` when a sentence may
    start with one). When the token is not in the first column (CoNLL-U: ``token_col=1,
    tag_col=3``), lines whose first column is a multiword range (``3-4``) or an empty node
    (``5.1``) are skipped. When every token line has the same number of columns, the other
    columns are kept (``TokenCorpus.columns``) for :func:`write_conll`.

    Parameters
    ----------
    path_or_text : str or Path
        A file's path, or its text (a string holding a newline).
    token_col, tag_col : int, default=0 and -1
        Which columns hold the token and its tag (negative counts from the end).
    sep : str, optional
        Column separator; default: any run of whitespace.
    comment : str or None, default="#"

    Returns
    -------
    TokenCorpus

    Examples
    --------
    >>> from assay.tokens import read_conll
    >>> text = "-DOCSTART- -X- O\\n\\nEU NNP B-ORG\\nrejects VBZ O\\n\\nPeter NNP B-PER\\n"
    >>> c = read_conll(text)
    >>> c.n_sentences, c.sentence(0), len(c.columns)
    (2, (['EU', 'rejects'], ['B-ORG', 'O']), 1)
    """
    for name, v in (("token_col", token_col), ("tag_col", tag_col)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer):
            raise InvalidParameterError(name, "an int (a column index, negative from the end)",
                                        v, owner="read_conll")
    if sep is not None and (not isinstance(sep, str) or sep == ""):
        raise InvalidParameterError("sep", "a non-empty string such as '\\t', or None for "
                                    "whitespace", sep, owner="read_conll")
    name = "the text" if isinstance(path_or_text, str) and "\n" in path_or_text else str(
        path_or_text)
    tokens, tags, lengths, columns = parse_conll(path_or_text, token_col=token_col,
                                                 tag_col=tag_col, sep=sep, comment=comment)
    return _build(tokens, tags, lengths, name, columns)


def read_jsonl(path_or_text: Any, *, tokens: str = "tokens", tags: str = "tags") -> TokenCorpus:
    """Read JSON lines, one sentence per line: ``{"tokens": [...], "tags": [...]}``.

    Examples
    --------
    >>> from assay.tokens import read_jsonl
    >>> text = '{"tokens": ["Hi", "Bo"], "tags": ["O", "B-PER"]}\\n{"tokens": ["Yo"], "tags": ["O"]}\\n'
    >>> read_jsonl(text).n_sentences
    2
    """
    lines, name = source_lines(path_or_text, "read_jsonl")
    toks, tgs = [], []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputValidationError(
                f"Line {n} of {name} is not valid JSON ({exc.msg} at column {exc.colno}): "
                f"{line[:60]!r}. Each line must be one object such as "
                '{"tokens": ["EU", "rejects"], "tags": ["B-ORG", "O"]}.') from exc
        tok, tag = _field(row, tokens, f"Line {n}"), _field(row, tags, f"Line {n}")
        tok, tag = _sequence(tok, f"Line {n}: {tokens!r}"), _sequence(tag, f"Line {n}: {tags!r}")
        if len(tok) != len(tag):
            raise InputValidationError(
                f"Line {n} of {name} has {len(tok)} tokens but {len(tag)} tags. Pass one tag "
                "per token.")
        toks.append(tok)
        tgs.append(tag)
    if not toks:
        raise InputValidationError(f"{name} holds no JSON lines; expected one sentence a line.")
    return TokenCorpus.from_sentences(toks, tgs)


def write_conll(corpus: TokenCorpus, path: Any, *, tags: Any = None, sep: str = " ") -> None:
    """Write a corpus as CoNLL: per token its token, the file's other columns and its tag, a
    blank line after each sentence.

    A file read by :func:`read_conll` whose columns are separated by single spaces (or ``sep``),
    with the token first and the tag last, one blank line after every sentence, and neither
    ``-DOCSTART-`` nor comment lines, is written back byte for byte.

    Parameters
    ----------
    corpus : TokenCorpus
    path : str or Path
    tags : array-like of shape (T,), optional
        Tags to write instead of the corpus's: indices into ``corpus.classes`` (e.g.
        ``TokenIssues.suggested``) or tag names.
    sep : str, default=" "

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from assay.tokens import read_conll, write_conll
    >>> c = read_conll("EU B-ORG\\nrejects O\\n")
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "fixed.conll"
    >>> write_conll(c, out, tags=["B-ORG", "B-MISC"])
    >>> out.read_text()
    'EU B-ORG\\nrejects B-MISC\\n\\n'
    """
    if not isinstance(corpus, TokenCorpus):
        raise InputValidationError(
            f"corpus must be a TokenCorpus; got {type(corpus).__name__}. Build one with "
            "read_conll or TokenCorpus.from_sentences.")
    if tags is None:
        names = corpus.tag_names
    else:
        arr = np.asarray(tags)
        if arr.shape != (corpus.n_tokens,):
            raise InputValidationError(
                f"tags must give one tag per token, shape ({corpus.n_tokens},); got "
                f"{arr.shape}.")
        if arr.dtype.kind in "iu":
            if arr.size and (arr.min() < 0 or arr.max() >= len(corpus.classes)):
                raise InputValidationError(
                    f"Integer tags must be indices into corpus.classes (0.."
                    f"{len(corpus.classes) - 1}); got values up to {int(arr.max())}. Pass tag "
                    "names to write new tags.")
            names = corpus.classes[arr]
        else:
            names = arr.astype(str)
    parts = [corpus.tokens.astype(str), *corpus.columns, names]
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for s in range(corpus.n_sentences):
            a, b = int(corpus.offsets[s]), int(corpus.offsets[s + 1])
            for i in range(a, b):
                fh.write(sep.join(str(col[i]) for col in parts))
                fh.write("\n")
            fh.write("\n")


# --------------------------------------------------------------------------------------------
# Out-of-fold probabilities


def _shape(word: str) -> str:
    """``Xxxx`` -> ``Xx``, ``A-12`` -> ``X-dd``: character classes, runs longer than 2 cut."""
    out: list[str] = []
    for ch in word:
        c = "X" if ch.isupper() else "x" if ch.islower() else "d" if ch.isdigit() else ch
        if len(out) < 2 or not (out[-1] == c and out[-2] == c):
            out.append(c)
    return "".join(out)


_MIX = np.uint64(0x9E3779B97F4A7C15)


def _mix(h: np.ndarray, salt: int) -> np.ndarray:
    """A 64-bit hash of ``h`` for template ``salt`` (templates land on different columns)."""
    with np.errstate(over="ignore"):
        x = (h ^ np.uint64((salt * 0x632BE59BD9B4E019) % 2**64)) * _MIX
        return x ^ (x >> np.uint64(29))


def _hash(strings: list[str]) -> np.ndarray:
    """Stable 64-bit hashes of strings (pandas' SipHash with its fixed key: the same in every
    process)."""
    return pd.util.hash_array(np.asarray(strings, dtype=object), categorize=False)


def _token_features(tokens: np.ndarray, offsets: np.ndarray, n_features: int) -> Any:
    """Sparse (T, n_features) binary features: 18 templates per token, hashed.

    The token (as written and lowercased), its 3-letter prefix, 2-, 3- and 4-letter suffixes
    and shape; the lowercased tokens at -2, -1, +1, +2 (sentence boundaries as ``<s>``/``</s>``),
    the shapes and 3-letter suffixes at -1 and +1, the bigrams (-1, 0) and (0, +1), and the
    shape with whether the token starts the sentence. Each word form is hashed once; tokens
    index the form's hashes, so no per-token string is built.
    """
    import scipy.sparse as sp

    codes, uniques = pd.factorize(pd.Series(tokens, dtype=object), sort=False)
    forms = [str(u) for u in uniques]
    v = len(forms)
    low = [f.lower() for f in forms]
    shapes = [_shape(f) for f in forms]
    bos, eos = ["<s>"], ["</s>"]
    h_low = _hash(low + bos + eos)
    h_shape = _hash(shapes + bos + eos)
    h_suf3 = _hash([w[-3:] for w in low] + bos + eos)
    own = [_hash(forms), h_low[:v], _hash([w[:3] for w in low]), _hash([w[-2:] for w in low]),
           h_suf3[:v], _hash([w[-4:] for w in low]), h_shape[:v]]
    t = len(codes)
    c = codes.astype(np.int64)
    lengths = np.diff(offsets)
    pos = np.arange(t) - np.repeat(offsets[:-1], lengths)
    left = np.repeat(offsets[1:], lengths) - 1 - np.arange(t)

    def shifted(k: int) -> np.ndarray:
        out = np.full(t, v if k > 0 else v + 1, dtype=np.int64)
        if k > 0:
            ok = pos >= k
            out[ok] = c[np.flatnonzero(ok) - k]
        else:
            ok = left >= -k
            out[ok] = c[np.flatnonzero(ok) - k]
        return out

    p1, p2, n1, n2 = shifted(1), shifted(2), shifted(-1), shifted(-2)
    with np.errstate(over="ignore"):
        hashes = [_mix(h[c], j) for j, h in enumerate(own)] + [
            _mix(h_low[p1], 10), _mix(h_low[n1], 11), _mix(h_low[p2], 12), _mix(h_low[n2], 13),
            _mix(h_shape[p1], 14), _mix(h_shape[n1], 15), _mix(h_suf3[p1], 16),
            _mix(h_suf3[n1], 17), _mix(h_low[p1] * _MIX + h_low[c], 18),
            _mix(h_low[c] * _MIX + h_low[n1], 19),
            _mix(h_shape[c] + (pos == 0).astype(np.uint64), 20)]
    m = len(hashes)
    index = np.empty((t, m), dtype=np.int32)
    for j, h in enumerate(hashes):
        index[:, j] = (h % np.uint64(n_features)).astype(np.int32)
    x = sp.csr_matrix((np.ones(t * m, dtype=np.float32), index.ravel(),
                       np.arange(0, t * m + 1, m, dtype=np.int64)), shape=(t, n_features))
    x.sum_duplicates()
    return x


def _sentence_folds(n_sentences: int, n_folds: int, random_state: int) -> np.ndarray:
    """The fold of each sentence: a seeded permutation dealt round-robin (the tags play no part,
    so changing a sentence's tags changes no fold)."""
    folds = np.empty(n_sentences, dtype=np.int64)
    folds[np.random.default_rng(random_state).permutation(n_sentences)] = (
        np.arange(n_sentences) % n_folds)
    return folds


def cross_fit_token_probs(
    corpus: TokenCorpus,
    *,
    n_folds: int = 5,
    random_state: int = 0,
    n_jobs: int | None = None,
    block_tokens: int = BLOCK_TOKENS,
    n_features: int = N_FEATURES,
    progress: Callable[[int, int], None] | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Out-of-fold tag probabilities of every token, from models that never saw its sentence.

    The model is a multinomial logistic regression (saga, ``C = LOGISTIC_C``, ``EPOCHS``
    epochs) on 18 hashed binary feature templates of each token: the token as written and
    lowercased, its prefix, suffixes and shape, the neighbouring tokens at -2..+2, the shapes
    and suffixes of the neighbours, the two bigrams through the token, and whether it starts
    the sentence; the neighbours' tags are not used (they would leak). Features live in a
    sparse matrix of ``n_features`` hashed columns (about 18 non-zeros per token; never a dense
    token x feature matrix). Sentences are dealt to ``n_folds`` folds by a seeded permutation,
    so no sentence is in both a model's training and test data, and changing a sentence's tags
    changes none of its own probabilities. A tag missing from a fold's training sentences gets
    probability 0 there.

    Parameters
    ----------
    corpus : TokenCorpus
    n_folds : int, default=5
    random_state : int, default=0
    n_jobs : int, optional
        Folds fitted in parallel through joblib (processes: each holds a copy of its training
        features).
    block_tokens : int, default=65536
        Tokens predicted at a time.
    n_features : int, default=2**20
        Hashed feature columns.
    progress : callable, optional
        ``progress(done, total)`` after each fold.
    out : ndarray of shape (T, K), optional
        A float array to write the probabilities into and return, block by block,
        such as :func:`assay.data.disk_array` ((T, K) float32 on disk: the audit's choice, so a
        corpus's probabilities are never held in memory whole). Default: a new float64 array.

    Returns
    -------
    ndarray of shape (T, K)
        Columns in the order of ``corpus.classes``; rows sum to 1 (``out`` when given).

    Notes
    -----
    On this project's 2-core VM a generated corpus of 1.12 million tokens (90,000 sentences, 9
    tags) took 76-80 seconds, with a peak resident memory of 0.96 GB
    (``docs/benchmarks/tokens.md``).

    Examples
    --------
    >>> from assay.tokens import TokenCorpus, cross_fit_token_probs
    >>> sents = [["the", "dog", "runs"], ["a", "cat", "sleeps"], ["the", "cat", "runs"]] * 10
    >>> tags = [["DET", "NOUN", "VERB"]] * 30
    >>> corpus = TokenCorpus.from_sentences(sents, tags)
    >>> p = cross_fit_token_probs(corpus)
    >>> p.shape, (p.argmax(axis=1) == corpus.tags).mean()
    ((90, 3), np.float64(1.0))
    """
    from joblib import delayed

    from assay.models import parallel_results

    if not isinstance(corpus, TokenCorpus):
        raise InputValidationError(
            f"corpus must be a TokenCorpus; got {type(corpus).__name__}. Build one with "
            "read_conll, TokenCorpus.from_frame or TokenCorpus.from_sentences.")
    owner = "cross_fit_token_probs"
    s = corpus.n_sentences
    if s < 2:
        raise InputValidationError(
            f"The corpus has {s} sentence; folds by sentence need at least 2.")
    n_folds = check_int("n_folds", n_folds, low=2, high=max(2, s), owner=owner)
    block_tokens = check_int("block_tokens", block_tokens, low=1, owner=owner)
    n_features = check_int("n_features", n_features, low=16, high=2**31 - 1, owner=owner)
    k = len(corpus.classes)
    if out is None:
        out = np.zeros((corpus.n_tokens, k), dtype=np.float64)
    elif (not isinstance(out, np.ndarray) or out.shape != (corpus.n_tokens, k)
          or out.dtype.kind != "f" or not out.flags.writeable):
        raise InputValidationError(
            f"out must be a writable float array of shape ({corpus.n_tokens}, {k}) (tokens x "
            f"tags); got {type(out).__name__} {getattr(out, 'shape', '')} "
            f"{getattr(out, 'dtype', '')}. Pass assay.data.disk_array(({corpus.n_tokens}, {k})) "
            "or leave it out.")
    x = _token_features(corpus.tokens, corpus.offsets, n_features)
    fold = np.repeat(_sentence_folds(s, n_folds, random_state), np.diff(corpus.offsets))
    y = corpus.tags

    def fit_one(f: int) -> tuple[int, Any]:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression

        train = fold != f
        present = np.unique(y[train])
        if present.size < 2:
            return f, int(present[0])
        model = LogisticRegression(solver="saga", C=LOGISTIC_C, max_iter=EPOCHS, tol=1e-3,
                                   random_state=random_state)
        with warnings.catch_warnings():  # EPOCHS is a measured budget, not a convergence test
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(x[train], y[train])
        return f, model

    done = 0
    for f, model in parallel_results(n_jobs, [delayed(fit_one)(f) for f in range(n_folds)]):
        test = np.flatnonzero(fold == f)
        for start in range(0, test.size, block_tokens):
            rows = test[start:start + block_tokens]
            block = np.zeros((rows.size, k))
            if isinstance(model, int):
                block[:, model] = 1.0
            else:  # float32 features: renormalise in float64
                proba = model.predict_proba(x[rows]).astype(np.float64)
                block[:, model.classes_] = proba / proba.sum(axis=1, keepdims=True)
            out[rows] = block
        done += 1
        if progress is not None:
            progress(done, n_folds)
    return out


# --------------------------------------------------------------------------------------------
# Inputs of the scores and issues


def _tags_offsets(corpus_or_tags: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
    """(tags (T,), offsets (S+1,), tokens or None, number of tag classes or 0 when unknown)."""
    if isinstance(corpus_or_tags, TokenCorpus):
        c = corpus_or_tags
        return c.tags, c.offsets, c.tokens, len(c.classes)
    if isinstance(corpus_or_tags, str | np.ndarray) or not hasattr(corpus_or_tags, "__len__"):
        raise InputValidationError(
            "corpus_or_tags must be a TokenCorpus or a list of sentences' tag indices "
            f"([[0, 3, 3], [1, 0], ...]); got {type(corpus_or_tags).__name__}. Wrap flat tags "
            "with TokenCorpus.from_sentences.")
    lengths, flat = [], []
    for i, sent in enumerate(corpus_or_tags):
        arr = np.asarray(sent)
        if arr.ndim != 1 or arr.size == 0:
            raise InputValidationError(
                f"Sentence {i} of the tags must be a non-empty list of tag indices; got shape "
                f"{arr.shape}. Drop empty sentences.")
        if arr.dtype.kind not in "iu" or arr.min() < 0:
            raise InputValidationError(
                f"Sentence {i} holds {arr.dtype} values {arr[:5].tolist()}; tags must be "
                "indices 0..K-1 (encode names with TokenCorpus.from_sentences).")
        lengths.append(arr.size)
        flat.append(arr.astype(np.int64))
    if not flat:
        raise InputValidationError("No sentences: pass at least one tagged sentence.")
    return np.concatenate(flat), np.r_[0, np.cumsum(lengths)].astype(np.int64), None, 0


def _probs_matrix(pred_probs: Any, n: int, k: int) -> np.ndarray:
    """The (T, K) matrix, not copied when it is one already (a list of per-sentence arrays is
    stacked)."""
    if isinstance(pred_probs, list | tuple):
        if len(pred_probs) == 0:
            raise InputValidationError("pred_probs is empty; pass one row per token.")
        pred_probs = np.concatenate([np.asarray(p, dtype=np.float64) for p in pred_probs])
    p = np.asarray(pred_probs)
    if p.ndim != 2 or p.shape[0] != n:
        raise InputValidationError(
            f"pred_probs must have one row per token, shape ({n}, K); got shape {p.shape}. Pass "
            "cross_fit_token_probs(corpus), or a list with one (tokens, K) array per sentence.")
    if p.dtype.kind != "f":
        raise InputValidationError(f"pred_probs must hold floats; got dtype {p.dtype}.")
    if k and p.shape[1] != k:
        raise InputValidationError(
            f"pred_probs has {p.shape[1]} columns but the corpus has {k} tags. Pass one column "
            "per tag, in the order of corpus.classes.")
    return p


def _blocks(n: int, block: int) -> Iterator[slice]:
    for start in range(0, n, block):
        yield slice(start, min(n, start + block))


def _check_block(p: np.ndarray, start: int, rows: np.ndarray | None = None) -> np.ndarray:
    """One block as validated float64 probabilities (clipped to [0, 1], as the labels module
    reads them). The block's tokens are ``start, start + 1, ...``, or ``rows``."""
    b = np.asarray(p, dtype=np.float64)

    def token(i: int) -> int:
        return int(rows[i]) if rows is not None else start + i

    if not np.all(np.isfinite(b)):
        row = token(int(np.flatnonzero(~np.isfinite(b).all(axis=1))[0]))
        raise InputValidationError(
            f"pred_probs has NaN or infinite values (first at token {row}). Pass finite "
            "probabilities.")
    if b.min() < -1e-9 or b.max() > 1 + 1e-9:
        row = token(int(np.flatnonzero((b < -1e-9).any(axis=1) | (b > 1 + 1e-9).any(axis=1))[0]))
        raise InputValidationError(
            f"pred_probs must lie in [0, 1]; got values from {b.min():.4g} to {b.max():.4g} "
            f"(first outside at token {row}). Pass probabilities, not logits (apply a softmax "
            "first).")
    sums = b.sum(axis=1)
    bad = np.abs(sums - 1.0) > 1e-3
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputValidationError(
            f"Rows of pred_probs must sum to 1 (within 0.001); token {token(row)} sums to "
            f"{sums[row]:.4g}. Pass normalised probabilities (a softmax of each token's "
            "logits).")
    return np.clip(b, 0.0, 1.0)


def _inputs(corpus_or_tags: Any, pred_probs: Any) -> tuple[np.ndarray, np.ndarray,
                                                           np.ndarray | None, np.ndarray]:
    tags, offsets, tokens, k = _tags_offsets(corpus_or_tags)
    p = _probs_matrix(pred_probs, len(tags), k)
    if tags.max() >= p.shape[1]:
        raise InputValidationError(
            f"The tags hold index {int(tags.max())} but pred_probs has only {p.shape[1]} "
            "columns. Pass one column per tag.")
    return tags, offsets, tokens, p


def _check_block_tokens(block_tokens: Any, owner: str) -> int:
    return check_int("block_tokens", block_tokens, low=1, owner=owner)


# --------------------------------------------------------------------------------------------
# Scores


def token_label_scores(
    corpus_or_tags: Any, pred_probs: Any, *, block_tokens: int = BLOCK_TOKENS
) -> tuple[np.ndarray, np.ndarray]:
    """Label quality of each token and of each sentence, in [0, 1]; low = tag likely wrong.

    A token's score is the probability of its tag (self-confidence); a sentence's is its lowest
    token score (cleanlab's default pooling too). Measured on ``benchmarks/token_labels.py``
    (AUPRC against the planted wrong tags, mean of 3 generated corpora x 3 seeds): for tokens,
    self-confidence 0.971, the normalised margin 0.957, the error probability of
    :func:`find_token_issues` 0.944; for sentences, the minimum 0.976, cleanlab's softmin
    (temperature 0.05) 0.977, the minimum normalised margin 0.962, and the probability that
    every tag of the sentence is right 0.940.

    Parameters
    ----------
    corpus_or_tags : TokenCorpus or list of int sequences
        A corpus, or each sentence's tag indices (cleanlab's format).
    pred_probs : ndarray of shape (T, K), or list of (tokens, K) arrays per sentence
        Out-of-fold tag probabilities (:func:`cross_fit_token_probs`).
    block_tokens : int, default=65536

    Returns
    -------
    token_scores : ndarray of shape (T,)
    sentence_scores : ndarray of shape (S,)

    Examples
    --------
    >>> import numpy as np
    >>> from assay.tokens import token_label_scores
    >>> p = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]])
    >>> tok, sent = token_label_scores([[0, 0], [0]], p)
    >>> tok.tolist(), sent.tolist()
    ([0.9, 0.2, 0.7], [0.2, 0.7])
    """
    block_tokens = _check_block_tokens(block_tokens, "token_label_scores")
    tags, offsets, _, p = _inputs(corpus_or_tags, pred_probs)
    scores = np.empty(len(tags), dtype=np.float64)
    for sl in _blocks(len(tags), block_tokens):
        b = _check_block(p[sl], sl.start)
        scores[sl] = b[np.arange(b.shape[0]), tags[sl]]
    return scores, np.minimum.reduceat(scores, offsets[:-1])


# --------------------------------------------------------------------------------------------
# Inconsistent tags


def inconsistent_tags(corpus: TokenCorpus, *, min_count: int = MIN_FORM_COUNT,
                      min_share: float = MIN_MAJORITY_SHARE) -> np.ndarray:
    """Tokens tagged differently from how the same word form is tagged elsewhere.

    A token is inconsistent when its form (exact string) occurs at least ``min_count`` times in
    the corpus, one tag holds at least ``min_share`` of those occurrences, and this token
    carries another tag. The probabilities play no part: this is a second signal, reported
    beside the model's flags (an ambiguous word whose tags split more evenly, such as
    ``Jordan`` as a person or a country, is not flagged).

    Parameters
    ----------
    corpus : TokenCorpus
    min_count : int, default=5
    min_share : float in (0.5, 1], default=0.8

    Returns
    -------
    ndarray of shape (T,), bool

    Examples
    --------
    >>> from assay.tokens import TokenCorpus, inconsistent_tags
    >>> c = TokenCorpus.from_sentences([["in", "Paris"]] * 5,
    ...                                [["O", "B-LOC"]] * 4 + [["O", "B-PER"]])
    >>> inconsistent_tags(c).nonzero()[0].tolist()
    [9]
    """
    if not isinstance(corpus, TokenCorpus):
        raise InputValidationError(
            f"corpus must be a TokenCorpus (the word forms are needed); got "
            f"{type(corpus).__name__}.")
    min_count = check_int("min_count", min_count, low=2, owner="inconsistent_tags")
    if isinstance(min_share, bool) or not isinstance(min_share, int | float) or not (
            0.5 < float(min_share) <= 1.0):
        raise InvalidParameterError("min_share", "a float in (0.5, 1] (a majority)", min_share,
                                    owner="inconsistent_tags")
    k = len(corpus.classes)
    codes = pd.factorize(pd.Series(corpus.tokens, dtype=object), sort=False)[0].astype(np.int64)
    pairs, inverse, counts = np.unique(codes * k + corpus.tags, return_inverse=True,
                                       return_counts=True)
    form, tag = pairs // k, pairs % k
    n_forms = int(codes.max()) + 1
    total = np.bincount(form, weights=counts, minlength=n_forms)
    best = np.lexsort((-counts, form))  # per form, its most frequent tag first
    first = best[np.r_[True, form[best][1:] != form[best][:-1]]]
    majority = np.full(n_forms, -1, dtype=np.int64)
    share = np.zeros(n_forms)
    majority[form[first]] = tag[first]
    share[form[first]] = counts[first] / total[form[first]]
    eligible = (total >= min_count) & (share >= min_share)
    return np.asarray(eligible[codes] & (corpus.tags != majority[codes]))


# --------------------------------------------------------------------------------------------
# Issues


@dataclass(frozen=True, eq=False)
class TokenIssues:
    """Which tags look wrong, the corrected tags, and how far to trust the estimate.

    Attributes
    ----------
    is_issue : ndarray of shape (T,), bool
        Flagged tokens: the ``n_estimated_errors`` tokens with the lowest scores among those
        whose tag is not the model's top prediction (all of those when they are fewer).
    suggested : ndarray of shape (T,), int64
        The tags with each flagged token's replaced by the model's top prediction (indices into
        the classes; pass to :func:`write_conll` as ``tags``).
    token_scores : ndarray of shape (T,)
        :func:`token_label_scores`: the probability of the given tag.
    sentence_is_issue : ndarray of shape (S,), bool
        Sentences with a flagged token.
    sentence_scores : ndarray of shape (S,)
        Each sentence's lowest token score.
    n_estimated_errors : int
        Estimated number of wrong tags: the sum of ``error_probability``, rounded.
    reliable : bool
        False when the estimate measures disagreement rather than errors (``reason``).
    reason : str
        ``""``, ``"few_tokens"`` (fewer than ``MIN_TOKENS``), ``"one_tag"``, ``"weak_model"``
        (the model removes less than ``MIN_SKILL`` of the errors of always predicting the most
        frequent tag), ``"overconfident"`` (mean top probability above accuracy by more than
        ``OVERCONFIDENCE_GAP``), ``"error_rate"`` (more than ``PLAUSIBLE_NOISE_RATE`` of the
        tags estimated wrong) or ``"undecided"`` (more than ``UNDECIDED_ERROR_SHARE`` of the
        estimated errors on tokens the model cannot decide).
    caveat : str
        Why the estimate is not reliable, in one sentence; empty when it is.
    inconsistent : ndarray of shape (T,), bool
        :func:`inconsistent_tags` (all False without the tokens, i.e. when tag lists were
        passed instead of a corpus). A separate signal: it is not part of ``is_issue``.
    error_probability : ndarray of shape (T,)
        Each token's probability of a wrong tag.
    model_accuracy : float
        Share of tokens whose tag is the model's top prediction.
    baseline_accuracy : float
        Share of the most frequent tag.
    noise_matrix : ndarray of shape (K, K)
        Estimated ``P(given tag i | true tag j)``.
    temperature : float
        The recalibration temperature (1.0: unchanged).
    undecided_share : float
        Share of the estimated errors on tokens whose recalibrated clean posterior has no tag
        above ``DECIDED_POSTERIOR``.
    given : ndarray of shape (T,), int64
        The given tags the flags refer to.
    offsets : ndarray of shape (S + 1,), int64
        Sentence offsets (sentence ``i`` is tokens ``offsets[i]:offsets[i + 1]``).
    """

    is_issue: np.ndarray
    suggested: np.ndarray
    token_scores: np.ndarray
    sentence_is_issue: np.ndarray
    sentence_scores: np.ndarray
    n_estimated_errors: int
    reliable: bool
    reason: str
    caveat: str = ""
    inconsistent: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool),
                                     repr=False)
    error_probability: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    model_accuracy: float = float("nan")
    baseline_accuracy: float = float("nan")
    noise_matrix: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)), repr=False)
    temperature: float = 1.0
    undecided_share: float = 0.0
    given: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)
    offsets: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64), repr=False)

    @property
    def n_issues(self) -> int:
        """Number of flagged tokens."""
        return int(self.is_issue.sum())

    def to_frame(self, corpus: TokenCorpus | None = None, *,
                 all_tokens: bool = False) -> pd.DataFrame:
        """One row per flagged or inconsistent token (every token with ``all_tokens``):
        ``token_index``, ``sentence``, ``position``, ``token`` (with a corpus), ``tag``,
        ``suggested``, ``token_score``, ``error_probability``, ``is_issue``, ``inconsistent``.
        Tags are names with a corpus, indices without.

        Examples
        --------
        >>> import numpy as np
        >>> from assay.tokens import TokenCorpus, find_token_issues
        >>> c = TokenCorpus.from_sentences([["a", "b"]] * 60, [["X", "Y"]] * 59 + [["Y", "Y"]])
        >>> p = np.tile([[0.97, 0.03], [0.03, 0.97]], (60, 1))
        >>> find_token_issues(c, p).to_frame(c)[["token", "tag", "suggested"]].values.tolist()
        [['a', 'Y', 'X']]
        """
        n = len(self.is_issue)
        if corpus is not None and (not isinstance(corpus, TokenCorpus) or corpus.n_tokens != n):
            raise InputValidationError(
                f"corpus must be the TokenCorpus the issues were found in ({n} tokens); got "
                + (f"one of {corpus.n_tokens} tokens." if isinstance(corpus, TokenCorpus)
                   else f"{type(corpus).__name__}."))
        rows = np.arange(n) if all_tokens else np.flatnonzero(self.is_issue | self.inconsistent)
        sid = np.repeat(np.arange(len(self.offsets) - 1), np.diff(self.offsets))[rows]
        frame = pd.DataFrame({"token_index": rows, "sentence": sid,
                              "position": rows - self.offsets[sid]})
        tag, sug = self.given[rows], self.suggested[rows]
        if corpus is not None:
            frame["token"] = corpus.tokens[rows]
            tag, sug = corpus.classes[tag], corpus.classes[sug]
        frame["tag"] = tag
        frame["suggested"] = sug
        frame["token_score"] = self.token_scores[rows]
        frame["error_probability"] = self.error_probability[rows]
        frame["is_issue"] = self.is_issue[rows]
        frame["inconsistent"] = self.inconsistent[rows]
        return frame


def _temperature(y: np.ndarray, p: np.ndarray) -> float:
    """The temperature that makes the mean top-class probability equal the accuracy on ``y``
    (as :func:`assay.labels.estimate_label_issues` fits it); 1.0 when none in [e^-3, e^5]
    does, or the gap is already 0."""
    from scipy.optimize import brentq

    logp = np.log(np.clip(p, 1e-12, None))
    acc = np.mean(p.argmax(axis=1) == y)
    shifted = logp - logp.max(axis=1, keepdims=True)

    def gap(log_t: float) -> float:
        return float((1.0 / np.exp(shifted / np.exp(log_t)).sum(axis=1)).mean() - acc)

    lo, hi = -3.0, 5.0
    g0 = gap(0.0)
    if g0 == 0.0 or gap(lo) * gap(hi) > 0:
        return 1.0
    log_t = brentq(gap, 0.0, hi) if g0 > 0 else brentq(gap, lo, 0.0)
    return float(np.exp(log_t))


def _recalibrated(b: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log b / temperature)`` row-wise (``b`` itself at temperature 1)."""
    if temperature == 1.0:
        return b
    z = np.log(np.clip(b, 1e-12, None)) / temperature
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def find_token_issues(
    corpus_or_tags: Any,
    pred_probs: Any,
    *,
    min_count: int = MIN_FORM_COUNT,
    min_share: float = MIN_MAJORITY_SHARE,
    block_tokens: int = BLOCK_TOKENS,
) -> TokenIssues:
    """Flag the token tags that look wrong, estimate how many there are, and say whether to
    trust the estimate.

    The tokens are treated as rows of a single-label problem, as
    :func:`assay.labels.estimate_label_issues` treats rows: the probabilities are recalibrated
    by one temperature (mean top probability = accuracy against the given tags), the calibrated
    confident joint gives the noise process ``P(given | true)``, inverting it gives each token's
    clean posterior, and Bayes' rule its probability of a wrong tag (``error_probability``).
    Their sum is ``n_estimated_errors``; that many tokens with the lowest
    :func:`token_label_scores` are flagged, among those whose given tag is not the model's top
    prediction (ranking by the score rather than by the error probability: on
    ``benchmarks/token_labels.py`` the score's token AUPRC was higher on every corpus). A
    sentence is flagged when one of its tokens is.

    One difference from :func:`assay.labels.estimate_label_issues` (otherwise the error
    probabilities are the same, bit for bit): a tag counts as a token's confident true tag only
    when its probability also exceeds chance, ``1 / K``. A tag the model never predicts (one
    given only by mistake, such as an ``I-PER`` inside an organisation's name) has a tiny mean
    probability, so without the floor every doubtful token counts as confidently of it, the
    noise matrix is nearly singular and the count runs away (``tests/test_tokens.py`` has the
    case: 93 estimated for 66 wrong tags on one seed, 729 for 116 on another; 61 and 100 with
    the floor).

    The probabilities are read in blocks of ``block_tokens`` tokens, in three passes; nothing of
    size (T, K) is allocated (a list of per-sentence arrays is stacked into one matrix first).

    Parameters
    ----------
    corpus_or_tags : TokenCorpus or list of int sequences
        A corpus, or each sentence's tag indices (cleanlab's format; then ``inconsistent`` is
        all False).
    pred_probs : ndarray of shape (T, K), or list of (tokens, K) arrays per sentence
        Out-of-fold tag probabilities (:func:`cross_fit_token_probs`).
    min_count, min_share
        Of :func:`inconsistent_tags`.
    block_tokens : int, default=65536

    Returns
    -------
    TokenIssues

    Examples
    --------
    >>> import numpy as np
    >>> from assay.tokens import TokenCorpus, find_token_issues
    >>> rng = np.random.default_rng(0)
    >>> tags = [list(rng.integers(0, 3, 6)) for _ in range(2000)]   # 12,000 tokens
    >>> p = np.full((12000, 3), 0.02)
    >>> p[np.arange(12000), np.concatenate(tags)] = 0.96
    >>> p[[5, 50, 500]] = [0.34, 0.33, 0.33]             # three tokens the model cannot decide
    >>> tags[3][2] = (tags[3][2] + 1) % 3                # a wrong tag: token 20
    >>> res = find_token_issues(tags, p)
    >>> res.is_issue.nonzero()[0].tolist(), res.n_estimated_errors, res.reliable
    ([20], 1, True)
    >>> res.sentence_is_issue.nonzero()[0].tolist()
    [3]
    """
    owner = "find_token_issues"
    block_tokens = _check_block_tokens(block_tokens, owner)
    y, offsets, tokens, p = _inputs(corpus_or_tags, pred_probs)
    n, k = p.shape
    # temperature: on a seeded sample of rows, as assay.labels fits it
    sample = np.arange(n)
    if n > TEMPERATURE_SAMPLE:
        sample = np.sort(np.random.default_rng(0).choice(n, TEMPERATURE_SAMPLE, replace=False))
    temperature = _temperature(y[sample], _check_block(p[sample], 0, sample))

    # pass 1: validation, scores, top predictions, recalibrated own probabilities
    score = np.empty(n)
    top = np.empty(n, dtype=np.int64)
    predicted = np.empty(n, dtype=bool)
    own_recal = np.empty(n)
    confidence = 0.0
    for sl in _blocks(n, block_tokens):
        b = _check_block(p[sl], sl.start)
        yb, idx = y[sl], np.arange(sl.stop - sl.start)
        score[sl] = b[idx, yb]
        top[sl] = b.argmax(axis=1)
        predicted[sl] = cl.given_is_predicted(yb, b)
        confidence += float(b.max(axis=1).sum())
        own_recal[sl] = _recalibrated(b, temperature)[idx, yb]
    # a tag is a token's likely true tag only above chance: a tag the model never predicts (one
    # given only by mistake) has a tiny mean probability, and every doubtful token would count
    # as confidently of it, which makes the noise matrix singular
    thresholds = np.maximum(cl.class_means(y, own_recal, k), 1.0 / k)
    del own_recal

    # pass 2: the calibrated confident joint
    counts = np.zeros(k * k, dtype=np.int64)
    for sl in _blocks(n, block_tokens):
        r = _recalibrated(np.clip(np.asarray(p[sl], dtype=np.float64), 0.0, 1.0), temperature)
        guess, conf = cl.true_label_guess(r, thresholds)
        counts += np.bincount(y[sl][conf] * k + guess[conf], minlength=k * k)
    cj = counts.reshape(k, k)
    np.fill_diagonal(cj, np.maximum(cj.diagonal(), 1))
    cj = cl.calibrate_joint(cj, np.bincount(y, minlength=k)).astype(np.float64)
    col = cj.sum(axis=0, keepdims=True)
    noise = np.divide(cj, col, out=np.eye(k), where=col > 0)  # P(given = i | true = j)
    try:
        inverse: np.ndarray | None = np.linalg.inv(noise)
    except np.linalg.LinAlgError:
        inverse = None

    # pass 3: each token's probability of a wrong tag, and whether the model decides it
    err = np.empty(n)
    decided = np.empty(n, dtype=bool)
    for sl in _blocks(n, block_tokens):
        r = _recalibrated(np.clip(np.asarray(p[sl], dtype=np.float64), 0.0, 1.0), temperature)
        clean = r
        if inverse is not None:
            q = np.clip(r @ inverse.T, 0.0, None)
            sums = q.sum(axis=1, keepdims=True)
            clean = np.where(sums > 0, q / np.maximum(sums, 1e-300), r)
        yb = y[sl]
        lik = clean * noise[yb, :]
        post = lik[np.arange(yb.size), yb] / np.maximum(lik.sum(axis=1), 1e-300)
        err[sl] = np.clip(1.0 - post, 0.0, 1.0)
        decided[sl] = clean.max(axis=1) >= DECIDED_POSTERIOR

    total = float(err.sum())
    n_est = int(round(total))
    eligible = np.flatnonzero(~predicted)
    chosen = eligible[np.argsort(score[eligible], kind="stable")[:n_est]]
    is_issue = np.zeros(n, dtype=bool)
    is_issue[chosen] = True
    suggested = np.where(is_issue, top, y)
    accuracy = float(np.mean(top == y))
    baseline = float(np.bincount(y, minlength=k).max() / n)
    undecided_share = float(err[~decided].sum() / total) if total > 0 else 0.0
    reason, caveat = _reliability(n, int(np.count_nonzero(np.bincount(y))), accuracy, baseline,
                                  confidence / n - accuracy, n_est, undecided_share)
    inconsistent = (inconsistent_tags(corpus_or_tags, min_count=min_count, min_share=min_share)
                    if tokens is not None else np.zeros(n, dtype=bool))
    return TokenIssues(
        is_issue=is_issue, suggested=suggested, token_scores=score,
        sentence_is_issue=np.logical_or.reduceat(is_issue, offsets[:-1]),
        sentence_scores=np.minimum.reduceat(score, offsets[:-1]), n_estimated_errors=n_est,
        reliable=not reason, reason=reason, caveat=caveat, inconsistent=inconsistent,
        error_probability=err, model_accuracy=accuracy, baseline_accuracy=baseline,
        noise_matrix=noise, temperature=temperature, undecided_share=undecided_share,
        given=y, offsets=offsets)


def _reliability(n: int, n_tags: int, accuracy: float, baseline: float, gap: float, n_est: int,
                 undecided_share: float) -> tuple[str, str]:
    """The first test the estimate fails, as (reason, caveat); ("", "") when it passes all."""
    if n < MIN_TOKENS:
        return "few_tokens", (
            f"Only {n:,} tokens: a model fitted on so few sentences makes mistakes that pass for "
            f"wrong tags (below {MIN_TOKENS:,} tokens the benchmark's estimates ran up to 3.6x "
            "the true count).")
    if n_tags < 2:
        return "one_tag", "Every token carries the same tag: there is nothing to tell apart."
    skill = (accuracy - baseline) / (1.0 - baseline)
    if skill < MIN_SKILL:
        return "weak_model", (
            f"The model is weak: its top tag matches {accuracy:.1%} of the given tags, against "
            f"{baseline:.1%} for always predicting the most frequent tag (it removes "
            f"{max(skill, 0.0):.0%} of that baseline's errors, less than {MIN_SKILL:.0%}); it "
            "cannot tell its own mistakes from wrong tags.")
    if gap > OVERCONFIDENCE_GAP:
        return "overconfident", (
            f"The model is overconfident (mean top probability {accuracy + gap:.0%} against "
            f"{accuracy:.0%} accuracy): it has fitted some of the wrong tags, so its own "
            "mistakes pass for errors.")
    if n_est / n > PLAUSIBLE_NOISE_RATE:
        return "error_rate", (
            f"The estimate says {n_est / n:.0%} of the tags are wrong, more than annotated data "
            f"usually holds (at most about {PLAUSIBLE_NOISE_RATE:.0%}); the model more likely "
            "misses structure than the tags are wrong.")
    if undecided_share > UNDECIDED_ERROR_SHARE:
        return "undecided", (
            f"{undecided_share:.0%} of the estimated errors sit on tokens the model cannot "
            f"decide (no tag reaches {DECIDED_POSTERIOR:.0%}): those tags disagree with the "
            "model without evidence that they are wrong.")
    return "", ""
