"""Consensus labels from several annotators: majority vote and Dawid-Skene.

Both functions take a long table, one row per rating: ``(item, annotator, label)``. Rows with a
missing label are dropped (a missing rating is never a class).

**Majority vote tie rule.** When several classes share the top vote count for an item, ``tie``
decides: ``"prior"`` (default) picks the tied class that is most frequent over the whole table,
then the first in sorted class order; ``"first"`` picks the first in sorted class order;
``"random"`` picks uniformly at random (seeded by ``random_state``); ``"none"`` leaves the item
without a consensus label (missing). ``confidence`` is the winning class's share of the item's
votes either way, and ``n_tied`` says how many classes tied.

**Dawid-Skene** (Dawid & Skene 1979) fits, by expectation-maximisation, a class prior ``pi`` and one
confusion matrix per annotator ``theta[g, k, l] = P(annotator g says l | true class k)``:

* initialisation: the posteriors are the majority-vote shares of each item (as crowd-kit);
* M-step: ``pi_k`` and ``theta[g, k, :]`` are posterior-weighted counts plus ``smoothing``
  pseudo-counts per cell (a symmetric Dirichlet(1 + smoothing) prior, i.e. MAP estimation).
  With ``smoothing=0`` it is maximum likelihood exactly as crowd-kit's ``DawidSkene``: counts are
  clipped at 1e-10 and each row ``theta[g, k, :]`` is normalised over the labels annotator ``g``
  actually used (labels they never gave get probability 0), so a true class on which ``g``'s items
  carry no posterior mass gets the uniform distribution over ``g``'s used labels;
* E-step: ``P(true class of item i = k) ∝ pi_k prod_g theta[g, k, label_gi]`` (in log space);
* one iteration is one E-step followed by one M-step; ``n_iter`` iterations run ``n_iter``
  E-steps, and the posteriors returned are those of the last E-step (the confusion matrices and
  prior those of the M-step after it), as crowd-kit's ``probas_`` / ``errors_`` after
  ``DawidSkene(n_iter=n_iter)``;
* convergence: stops when the log-likelihood improves by less than ``tol`` relative to its size, or
  after ``max_iter`` iterations (``converged`` says which; reaching the cap without converging
  also emits a :class:`sklearn.exceptions.ConvergenceWarning`). crowd-kit instead stops when its
  evidence lower bound per rating improves by less than its ``tol``, so the two stop at the same
  iteration only when told to run a fixed number (``tol=0`` here, ``tol=-inf`` there).

The consensus label is the class with the largest posterior (ties: first in class order), its
``confidence`` that posterior. An annotator's ``accuracy`` is the posterior-expected share of their
labels that are correct: the mean over their ratings of ``P(true class = their label)``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.exceptions import ConvergenceWarning

from assay._annotations import encode_values, long_frame
from assay._validation import check_choice, check_int, check_random_state
from assay.exceptions import InputValidationError, InvalidParameterError

__all__ = [
    "DawidSkeneResult",
    "EncodedRatings",
    "TIE_RULES",
    "consensus_from_encoded",
    "consensus_labels",
    "dawid_skene",
    "encode_ratings",
    "encoded_from_codes",
    "majority_vote",
]

TIE_RULES = ("prior", "first", "random", "none")


@dataclass(frozen=True)
class EncodedRatings:
    """Ratings as parallel index arrays, one entry per rating.

    Build one with :func:`encoded_from_codes`; :func:`consensus_from_encoded` reads it.

    Parameters
    ----------
    item, annotator, label : numpy.ndarray of shape (n_ratings,)
        int64 index of each rating's item (into ``items``), annotator (into ``annotators``) and
        given label (into ``classes``).
    items, annotators, classes : list
        The item ids, annotator ids and class labels the indices refer to.
    """

    item: np.ndarray  # (N,) int64 item index per rating
    annotator: np.ndarray  # (N,) int64
    label: np.ndarray  # (N,) int64
    items: list[Any]
    annotators: list[Any]
    classes: list[Any]

    @cached_property
    def item_matrix(self) -> sparse.csr_matrix:
        """(U, N) sparse incidence of ratings to items (sums per item as one product)."""
        n = self.item.shape[0]
        return sparse.csr_matrix(
            (np.ones(n), (self.item, np.arange(n))), shape=(len(self.items), n)
        )

    @cached_property
    def key_matrix(self) -> sparse.csr_matrix:
        """(G * K, N) sparse incidence of ratings to (annotator, given label) cells."""
        n, k = self.item.shape[0], len(self.classes)
        return sparse.csr_matrix(
            (np.ones(n), (self.annotator * k + self.label, np.arange(n))),
            shape=(len(self.annotators) * k, n),
        )

    @cached_property
    def used(self) -> np.ndarray:
        """(G, K) bool: whether annotator ``g`` gave label ``l`` at least once."""
        n_ann, k = len(self.annotators), len(self.classes)
        hits = np.bincount(self.annotator * k + self.label, minlength=n_ann * k)
        return hits.reshape(n_ann, k) > 0

    @cached_property
    def counts(self) -> np.ndarray:
        n_items, k = len(self.items), len(self.classes)
        return np.bincount(self.item * k + self.label, minlength=n_items * k).reshape(
            n_items, k
        ).astype(np.float64)


def _py(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def encode_ratings(annotations: Any, *, item: str, annotator: str, label: str) -> EncodedRatings:
    """Encode a long table of ratings (one row per item and annotator) for the consensus fits."""
    frame = long_frame(annotations, item=item, annotator=annotator, label=label)
    if frame.shape[0] == 0:
        raise InputValidationError(
            f"The label column {label!r} has no ratings (every value missing). Pass a table with "
            "labelled rows."
        )
    dup = frame.duplicated([item, annotator])
    if dup.any():
        first = frame.loc[dup, [item, annotator]].iloc[0].tolist()
        raise InputValidationError(
            f"{int(dup.sum())} (item, annotator) pair(s) have more than one label, e.g. item "
            f"{first[0]!r} by annotator {first[1]!r}. Keep one label per annotator per item "
            "(e.g. the latest round) before computing a consensus."
        )
    lab, classes, _ = encode_values(frame[label], name=f"label column {label!r}")
    it, items = pd.factorize(frame[item], sort=False)
    an, annotators = pd.factorize(frame[annotator], sort=True)
    return EncodedRatings(
        it.astype(np.int64), an.astype(np.int64), lab, list(items), list(annotators),
        [_py(c) for c in classes],
    )


def _vote(counts: np.ndarray, tie: str, rng: np.random.Generator) -> np.ndarray:
    """Winning class per row of ``counts`` under a tie rule; -1 where ``tie='none'`` and tied."""
    tied = counts == counts.max(axis=1, keepdims=True)
    if tie == "first":
        return np.argmax(tied, axis=1)
    if tie == "prior":
        freq = counts.sum(axis=0)
        return np.argmax(np.where(tied, freq[None, :], -1.0), axis=1)
    if tie == "random":
        return np.argmax(np.where(tied, rng.random(counts.shape), -1.0), axis=1)
    win = np.argmax(tied, axis=1)
    return np.where(tied.sum(axis=1) == 1, win, -1)


def majority_vote(
    annotations: pd.DataFrame,
    *,
    item: str,
    annotator: str,
    label: str,
    tie: str = "prior",
    random_state: Any = 0,
) -> pd.DataFrame:
    """Majority-vote consensus label per item, with a documented tie rule.

    Parameters
    ----------
    annotations : pandas.DataFrame
        Long table, one row per rating.
    item, annotator, label : str
        Column names.
    tie : {"prior", "first", "random", "none"}, default "prior"
        Tie rule (see the module docstring): most frequent class overall, first class, random,
        or no label.
    random_state : None, int or numpy.random.Generator, default 0
        Used only by ``tie="random"``.

    Returns
    -------
    pandas.DataFrame
        One row per item in order of first appearance: ``item``, ``label`` (missing when tied
        under ``tie="none"``), ``confidence`` (the winning share of votes), ``n_ratings`` and
        ``n_tied`` (classes sharing the top count).

    Examples
    --------
    >>> import pandas as pd
    >>> long = pd.DataFrame({"id": [1, 1, 1, 2, 2], "who": list("abcab"),
    ...                      "y": ["x", "x", "z", "z", "x"]})
    >>> majority_vote(long, item="id", annotator="who", label="y")["label"].tolist()
    ['x', 'x']
    """
    tie = check_choice("tie", tie, TIE_RULES, owner="majority_vote")
    rng = check_random_state(random_state)
    enc = encode_ratings(annotations, item=item, annotator=annotator, label=label)
    counts = enc.counts
    win = _vote(counts, tie, rng)
    m = counts.sum(axis=1)
    top = counts.max(axis=1)
    return pd.DataFrame(
        {
            "item": enc.items,
            "label": [enc.classes[k] if k >= 0 else None for k in win],
            "confidence": top / m,
            "n_ratings": m.astype(np.int64),
            "n_tied": (counts == top[:, None]).sum(axis=1),
        }
    )


@dataclass(frozen=True)
class DawidSkeneResult:
    """Fitted Dawid-Skene model.

    Attributes
    ----------
    labels : pandas.DataFrame
        One row per item: ``item``, ``label`` (largest posterior), ``confidence`` (that posterior),
        ``n_ratings``.
    posteriors : numpy.ndarray of shape (items, classes)
        ``P(true class | ratings)`` per item, rows in the order of ``labels``.
    classes : list
        Class values, the column order of ``posteriors`` and of each confusion matrix.
    priors : numpy.ndarray of shape (classes,)
        Estimated class prior.
    annotators : pandas.DataFrame
        One row per annotator: ``annotator``, ``n_ratings``, ``accuracy`` (posterior-expected
        share of their labels that are correct) and ``prior_weighted_accuracy``
        (``sum_k prior_k theta[k, k]``).
    confusion : numpy.ndarray of shape (annotators, classes, classes)
        ``confusion[g, k, l] = P(annotator g says class l | true class k)``; rows sum to 1.
    n_iter : int
        EM iterations run (E-steps; ``posteriors`` come from the last one).
    converged : bool
        Whether the relative log-likelihood change fell below ``tol`` before ``max_iter``.
    log_likelihood : float
        Log-likelihood of the ratings (penalised, with ``smoothing > 0``) under the returned
        ``priors`` and ``confusion``.
    """

    labels: pd.DataFrame
    posteriors: np.ndarray
    classes: list[Any]
    priors: np.ndarray
    annotators: pd.DataFrame
    confusion: np.ndarray
    n_iter: int
    converged: bool
    log_likelihood: float

    def confusion_frame(self, annotator: Any) -> pd.DataFrame:
        """One annotator's confusion matrix, rows = true class, columns = given label."""
        names = list(self.annotators["annotator"])
        if annotator not in names:
            raise InputValidationError(
                f"Unknown annotator {annotator!r}. Known annotators: {names[:10]}"
                f"{'...' if len(names) > 10 else ''}."
            )
        g = names.index(annotator)
        return pd.DataFrame(self.confusion[g], index=self.classes, columns=self.classes)


def _m_step(
    enc: EncodedRatings, post: np.ndarray, smoothing: float
) -> tuple[np.ndarray, np.ndarray]:
    """Class prior (K,) and confusion matrices (G, K_true, K_given) from posteriors (U, K).

    With ``smoothing > 0`` every cell gets the pseudo-count; with ``smoothing == 0`` only the
    labels an annotator used are kept (crowd-kit's maximum-likelihood M-step), the others are 0.
    """
    n_classes, n_ann = post.shape[1], len(enc.annotators)
    prior = post.sum(axis=0) + smoothing
    prior = np.clip(prior / prior.sum(), 1e-10, None)
    # (G * K_given, K_true) posterior-weighted counts -> (G, K_true, K_given)
    counts = np.asarray(enc.key_matrix @ post[enc.item])
    conf = counts.reshape(n_ann, n_classes, n_classes).transpose(0, 2, 1) + smoothing
    conf = np.clip(conf, 1e-10, None)
    if smoothing <= 0:
        conf = np.where(enc.used[:, None, :], conf, 0.0)
    conf /= conf.sum(axis=2, keepdims=True)
    return prior, conf


def _e_step(
    enc: EncodedRatings, prior: np.ndarray, conf: np.ndarray
) -> tuple[np.ndarray, float]:
    """Posteriors (U, K) and the log-likelihood of the ratings."""
    # only the (annotator, given label) cells that occur: with smoothing=0 the others are 0
    log_conf = np.log(conf[enc.annotator, :, enc.label])  # (N, K_true)
    log_post = np.asarray(enc.item_matrix @ log_conf) + np.log(prior)[None, :]
    top = log_post.max(axis=1, keepdims=True)
    post = np.exp(log_post - top)
    total = post.sum(axis=1, keepdims=True)
    post /= total
    return post, float(np.sum(np.log(total[:, 0]) + top[:, 0]))


def dawid_skene(
    annotations: pd.DataFrame,
    *,
    item: str,
    annotator: str,
    label: str,
    max_iter: int = 100,
    tol: float = 1e-7,
    smoothing: float = 0.01,
) -> DawidSkeneResult:
    """Dawid-Skene consensus: EM with one confusion matrix per annotator.

    See the module docstring for the model, initialisation, prior and convergence rule.

    Parameters
    ----------
    annotations : pandas.DataFrame
        Long table, one row per rating.
    item, annotator, label : str
        Column names.
    max_iter : int, default 100
        Maximum EM iterations (E-step + M-step each); crowd-kit's ``n_iter``.
    tol : float, default 1e-7
        Stop when the log-likelihood improves by less than ``tol * |log-likelihood|``; 0 runs
        ``max_iter`` iterations unless the log-likelihood stops changing exactly.
    smoothing : float, default 0.01
        Dirichlet pseudo-count added to every confusion-matrix cell and class-prior entry; 0 for
        plain maximum likelihood, which gives crowd-kit's ``DawidSkene(n_iter=max_iter)``
        posteriors, labels and confusion matrices (up to rounding; see the module docstring).

    Returns
    -------
    DawidSkeneResult

    Warns
    -----
    sklearn.exceptions.ConvergenceWarning
        When ``max_iter`` iterations ran without the log-likelihood converging (the result has
        ``converged=False``).

    Examples
    --------
    >>> import pandas as pd
    >>> long = pd.DataFrame({"id": [1, 1, 1, 2, 2, 2], "who": list("abcabc"),
    ...                      "y": ["x", "x", "z", "z", "z", "x"]})
    >>> res = dawid_skene(long, item="id", annotator="who", label="y")
    >>> res.labels["label"].tolist()
    ['x', 'z']
    """
    max_iter = check_int("max_iter", max_iter, low=1, owner="dawid_skene")
    for name, value in (("tol", tol), ("smoothing", smoothing)):
        ok = isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
        if not ok or not np.isfinite(value):
            raise InvalidParameterError(name, "a finite float >= 0", value, owner="dawid_skene")
    enc = encode_ratings(annotations, item=item, annotator=annotator, label=label)
    return _fit_dawid_skene(enc, max_iter=max_iter, tol=tol, smoothing=smoothing)


def _fit_dawid_skene(
    enc: EncodedRatings, *, max_iter: int = 100, tol: float = 1e-7, smoothing: float = 0.01
) -> DawidSkeneResult:
    counts = enc.counts
    post = counts / counts.sum(axis=1, keepdims=True)
    prior, conf = _m_step(enc, post, smoothing)
    ll_old = -np.inf
    change = np.inf
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007
        # iteration n_iter: E-step (posteriors returned), then M-step (parameters returned)
        post, ll = _e_step(enc, prior, conf)
        ll += _log_prior_penalty(prior, conf, smoothing)
        prior, conf = _m_step(enc, post, smoothing)
        change = abs(ll - ll_old)
        if change <= tol * max(abs(ll), 1.0):
            converged = True
            break
        ll_old = ll
    if not converged:
        warnings.warn(
            ConvergenceWarning(
                f"Dawid-Skene did not converge in max_iter={max_iter} EM iterations: the last "
                f"log-likelihood change was {change:.3g}, expected at most tol * |log-likelihood|"
                f" = {tol * max(abs(ll), 1.0):.3g}. The posteriors are those of the last "
                "iteration (result.converged is False). Raise max_iter or tol to fix it."
            ),
            stacklevel=3,
        )
    ll = _e_step(enc, prior, conf)[1] + _log_prior_penalty(prior, conf, smoothing)
    return _result(enc, post, prior, conf, n_iter, converged, ll)


def _log_prior_penalty(prior: np.ndarray, conf: np.ndarray, smoothing: float) -> float:
    if smoothing <= 0:
        return 0.0
    return float(smoothing * (np.log(conf).sum() + np.log(prior).sum()))


def _result(
    enc: EncodedRatings,
    post: np.ndarray,
    prior: np.ndarray,
    conf: np.ndarray,
    n_iter: int,
    converged: bool,
    ll: float,
) -> DawidSkeneResult:
    n_ann = len(enc.annotators)
    win = np.argmax(post, axis=1)
    labels = pd.DataFrame(
        {
            "item": enc.items,
            "label": [enc.classes[k] for k in win],
            "confidence": post[np.arange(post.shape[0]), win],
            "n_ratings": np.bincount(enc.item, minlength=len(enc.items)),
        }
    )
    n_rat = np.bincount(enc.annotator, minlength=n_ann)
    correct = np.bincount(enc.annotator, weights=post[enc.item, enc.label], minlength=n_ann)
    annotators = pd.DataFrame(
        {
            "annotator": [_py(a) for a in enc.annotators],
            "n_ratings": n_rat,
            "accuracy": correct / np.maximum(n_rat, 1),
            "prior_weighted_accuracy": np.einsum("k,gkk->g", prior, conf),
        }
    )
    return DawidSkeneResult(
        labels=labels,
        posteriors=post,
        classes=list(enc.classes),
        priors=prior,
        annotators=annotators,
        confusion=conf,
        n_iter=n_iter,
        converged=converged,
        log_likelihood=ll,
    )


def consensus_labels(
    annotations: pd.DataFrame,
    *,
    item: str,
    annotator: str,
    label: str,
    method: str = "dawid_skene",
    tie: str = "prior",
    random_state: Any = 0,
) -> pd.DataFrame:
    """Consensus label and disagreement per item: what a label audit needs from annotations.

    Parameters
    ----------
    annotations : pandas.DataFrame
        Long table, one row per rating.
    item, annotator, label : str
        Column names.
    method : {"dawid_skene", "majority"}, default "dawid_skene"
    tie : str, default "prior"
        Majority-vote tie rule (``method="majority"``).
    random_state : None, int or numpy.random.Generator, default 0

    Returns
    -------
    pandas.DataFrame
        One row per item (order of first appearance): ``item``, ``consensus_label``,
        ``confidence`` (posterior or vote share), ``n_ratings``, ``n_distinct_labels``,
        ``agreement`` (share of the item's ratings equal to the consensus label; 1 - this is the
        disagreement evidence) and ``annotators_disagree`` (more than one distinct label).

    Examples
    --------
    >>> import pandas as pd
    >>> long = pd.DataFrame({"id": [1, 1, 2, 2], "who": list("abab"), "y": ["x", "x", "x", "z"]})
    >>> consensus_labels(long, item="id", annotator="who", label="y",
    ...                  method="majority")["annotators_disagree"].tolist()
    [False, True]
    """
    method = check_choice("method", method, ("dawid_skene", "majority"), owner="consensus_labels")
    tie = check_choice("tie", tie, TIE_RULES, owner="consensus_labels")
    rng = check_random_state(random_state)
    enc = encode_ratings(annotations, item=item, annotator=annotator, label=label)
    return consensus_from_encoded(enc, method=method, tie=tie, rng=rng)[0]


def encoded_from_codes(
    codes: np.ndarray, *, items: list[Any], annotators: list[Any], classes: list[Any]
) -> EncodedRatings:
    """Build the rating index arrays from an ``(annotators, items)`` matrix of label codes.

    Parameters
    ----------
    codes : numpy.ndarray of shape (n_annotators, n_items)
        int64 class index of each annotator's label for each item, ``-1`` where missing.
    items, annotators, classes : list
        The item ids (columns), annotator ids (rows) and class labels (code values).

    Returns
    -------
    EncodedRatings
        One entry per non-missing code.

    Examples
    --------
    >>> import numpy as np
    >>> enc = encoded_from_codes(np.array([[0, 1], [0, -1]]), items=["i1", "i2"],
    ...                          annotators=["a", "b"], classes=["cat", "dog"])
    >>> enc.counts.tolist()
    [[2.0, 0.0], [0.0, 1.0]]
    """
    g, u = np.nonzero(codes >= 0)
    return EncodedRatings(u, g, codes[g, u], list(items), list(annotators), list(classes))


def consensus_from_encoded(
    enc: EncodedRatings, *, method: str, tie: str, rng: np.random.Generator
) -> tuple[pd.DataFrame, DawidSkeneResult | None]:
    """Consensus label per item of already encoded ratings, and the Dawid-Skene fit if used.

    Parameters
    ----------
    enc : EncodedRatings
        The ratings (see :func:`encoded_from_codes`).
    method : {"dawid_skene", "majority"}
        How to combine the ratings (not validated here).
    tie : str
        Majority-vote tie rule, one of :data:`TIE_RULES` (``method="majority"``).
    rng : numpy.random.Generator
        Randomness of the ``"random"`` tie rule.

    Returns
    -------
    consensus : pandas.DataFrame
        One row per item, the columns of :func:`consensus_labels`.
    fit : DawidSkeneResult or None
        The Dawid-Skene fit with ``method="dawid_skene"``, else None.

    Examples
    --------
    >>> import numpy as np
    >>> enc = encoded_from_codes(np.array([[0, 1], [0, 0]]), items=["i1", "i2"],
    ...                          annotators=["a", "b"], classes=["cat", "dog"])
    >>> frame, fit = consensus_from_encoded(enc, method="majority", tie="first",
    ...                                     rng=np.random.default_rng(0))
    >>> frame["consensus_label"].tolist(), fit is None
    (['cat', 'cat'], True)
    """
    counts = enc.counts
    m = counts.sum(axis=1)
    ds = None
    if method == "dawid_skene":
        ds = _fit_dawid_skene(enc)
        win = np.argmax(ds.posteriors, axis=1)
        conf = ds.posteriors[np.arange(win.size), win]
    else:
        win = _vote(counts, tie, rng)
        conf = counts.max(axis=1) / m
    classes = np.asarray(enc.classes, dtype=object)
    labels = np.where(win >= 0, classes[np.maximum(win, 0)], None)
    agree = np.where(win >= 0, counts[np.arange(win.size), np.maximum(win, 0)] / m, np.nan)
    distinct = (counts > 0).sum(axis=1)
    frame = pd.DataFrame(
        {
            "item": enc.items,
            "consensus_label": labels,
            "confidence": conf,
            "n_ratings": m.astype(np.int64),
            "n_distinct_labels": distinct,
            "agreement": agree,
            "annotators_disagree": distinct > 1,
        }
    )
    return frame, ds
