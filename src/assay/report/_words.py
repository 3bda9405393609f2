"""The words of a text excerpt that point to the suggested label rather than the given one.

Each word ``w`` gets the naive-Bayes log-count ratio of Wang and Manning (2012, NBSVM) between
the suggested class ``s`` and the given class ``g``, with add-one smoothing::

    r(w) = log((n_s(w) + 1) / (N_s + V)) - log((n_g(w) + 1) / (N_g + V))

where ``n_c(w)`` counts the occurrences of ``w`` in the rows labelled ``c``, ``N_c`` all word
occurrences in those rows and ``V`` the vocabulary of the whole text column. ``r > 0``: the word
is more typical of the suggested class. The counts are made once, over the dataset's text
column (a sparse word-count matrix), and read only for the classes the gallery shows.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

__all__ = ["TOKEN_PATTERN", "WordRatios", "mark_excerpt", "tokenize"]

#: A word: two or more word characters (scikit-learn's default ``token_pattern``, the one the
#: tf-idf text featurizer uses), compared in lower case.
TOKEN_PATTERN = re.compile(r"(?u)\b\w\w+\b")
#: Most words of one excerpt marked as pointing to the suggested label.
MAX_SUGGESTED = 5
#: Most words of one excerpt marked as pointing to the given label.
MAX_GIVEN = 3
#: Rows whose words are counted at most (a seeded random sample beyond it): the ratios are
#: frequencies, and tokenizing a million texts in Python would hold the report up for minutes.
MAX_COUNTED_ROWS = 100_000


def tokenize(text: str) -> list[str]:
    """The words of ``text``, lower-cased, in order.

    Examples
    --------
    >>> tokenize("The cat sat, the CAT! a")
    ['the', 'cat', 'sat', 'the', 'cat']
    """
    return [m.group(0).lower() for m in TOKEN_PATTERN.finditer(str(text))]


class WordRatios:
    """Per-class word counts of a text column, for the log-count ratio of two classes.

    Parameters
    ----------
    texts : list of str
        The text column, one entry per row.
    labels : ndarray of shape (N,), int
        Encoded labels (``Dataset.labels``).
    max_rows : int, default ``MAX_COUNTED_ROWS``
        Above this many rows the words of a seeded random sample of ``max_rows`` are counted.
    """

    def __init__(self, texts: list[str], labels: np.ndarray, *,
                 max_rows: int = MAX_COUNTED_ROWS) -> None:
        from sklearn.feature_extraction.text import CountVectorizer

        self.labels = np.asarray(labels)
        if len(texts) > max_rows:
            keep = np.sort(np.random.default_rng(0).choice(len(texts), max_rows, replace=False))
            texts = [texts[i] for i in keep]
            self.labels = self.labels[keep]
        vec = CountVectorizer(tokenizer=tokenize, lowercase=False, token_pattern=None)
        try:
            self.matrix = vec.fit_transform(texts).tocsr()
        except ValueError:  # scikit-learn's "empty vocabulary": no row has a word
            self.vocab: dict[str, int] = {}
            self.matrix = None
        else:
            self.vocab = {str(w): int(i) for i, w in enumerate(vec.get_feature_names_out())}
        self._counts: dict[int, np.ndarray] = {}

    def counts(self, code: int) -> np.ndarray:
        """Occurrences of each vocabulary word in the rows of class ``code``."""
        if code not in self._counts:
            if self.matrix is None:
                self._counts[code] = np.zeros(0)
            else:
                rows = np.flatnonzero(self.labels == code)
                self._counts[code] = np.asarray(self.matrix[rows].sum(axis=0)).ravel()
        return self._counts[code]

    def ratios(self, words: list[str], given: int, suggested: int) -> dict[str, float]:
        """``r(w)`` (module docstring) of each word of ``words`` in the vocabulary."""
        known = [w for w in dict.fromkeys(words) if w in self.vocab]
        if not known:
            return {}
        ng, ns = self.counts(given), self.counts(suggested)
        v = len(self.vocab)
        idx = np.array([self.vocab[w] for w in known])
        r = (np.log((ns[idx] + 1.0) / (ns.sum() + v)) - np.log((ng[idx] + 1.0) / (ng.sum() + v)))
        return {w: float(x) for w, x in zip(known, r, strict=True)}


def mark_excerpt(text: str, ratios: dict[str, float], *, max_suggested: int = MAX_SUGGESTED,
                 max_given: int = MAX_GIVEN) -> list[dict[str, Any]]:
    """Split ``text`` into segments; the words that point most to either label are marked.

    The ``max_suggested`` words with the largest positive ratio become ``{"t": word, "to":
    "suggested", "r": ratio}``, the ``max_given`` with the most negative ``"to": "given"``
    (every occurrence, any case); the rest are plain ``{"t": text}`` segments. Joined, the
    segments' ``t`` give ``text`` back.

    Examples
    --------
    >>> [s.get("to") for s in mark_excerpt("good bad", {"good": 1.0, "bad": -0.5})]
    ['suggested', None, 'given']
    """
    pos = sorted((w for w, r in ratios.items() if r > 0), key=lambda w: (-ratios[w], w))
    neg = sorted((w for w, r in ratios.items() if r < 0), key=lambda w: (ratios[w], w))
    side = {w: "suggested" for w in pos[:max_suggested]}
    side.update({w: "given" for w in neg[:max_given]})
    out: list[dict[str, Any]] = []
    at = 0
    for m in TOKEN_PATTERN.finditer(text):
        word = m.group(0).lower()
        if word not in side:
            continue
        if m.start() > at:
            out.append({"t": text[at:m.start()]})
        r = ratios[word]
        out.append({"t": m.group(0), "to": side[word], "r": round(r, 2) if math.isfinite(r) else 0})
        at = m.end()
    if at < len(text):
        out.append({"t": text[at:]})
    return out
