"""Label issues by confident learning, label quality scores, and how far to trust the list.

The flags follow confident learning (Northcutt, Jiang and Chuang, JAIR 2021): per-class
thresholds, a confident joint of (given, true) labels calibrated to the label counts, and either
``prune_by_noise_rate`` (the default: for each off-diagonal cell of the joint, the rows with the
largest margin) or ``off_diagonal`` (every confidently counted row whose guessed class differs
from its label). In both, a row whose given label is the model's top prediction is never flagged.
On the same inputs the flags of ``method="prune_by_noise_rate"`` / ``"off_diagonal"`` equal
cleanlab's ``find_label_issues`` with ``filter_by="prune_by_noise_rate"`` /
``"confident_learning"`` (and :func:`compute_confident_joint` equals cleanlab's
``compute_confident_joint``), including exact rounding and margin ties on tiny inputs: sums are
taken in cleanlab's order and ties go through the same ``np.argsort`` calls (tested on random
and hand-found tied inputs, ``tests/test_confident_ties.py``). ``pred_probs`` is copied to C order
first, so no result depends on the caller's memory order. The ``"hybrid"`` and ``"posterior"``
methods have no cleanlab counterpart.

Beyond the flags, :func:`estimate_label_issues` says how many errors the data likely holds and
the expected precision of the flagged set, so a user knows how far to trust the list.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from assay._kernels import confident as cl
from assay._kernels.threads import map_in_threads
from assay._validation import argmax_rows, check_choice, check_labels, check_pred_probs
from assay.exceptions import InputValidationError, InvalidParameterError

__all__ = [
    "LabelIssueEstimate",
    "ReviewedPrecision",
    "ambiguous_class_pairs",
    "calibration_gap",
    "compute_confident_joint",
    "estimate_label_issues",
    "find_label_issues",
    "knn_label_agreement",
    "label_quality_scores",
    "precision_interval",
    "reviewed_precision",
    "spot_check_size",
    "suggest_labels",
]

_FIND_METHODS = ("hybrid", "prune_by_noise_rate", "off_diagonal", "posterior")
_SCORE_METHODS = ("self_confidence", "normalized_margin")
#: ``posterior`` flags rows more likely mislabelled than not.
POSTERIOR_THRESHOLD = 0.5
#: Out-of-fold accuracy against the given labels below which a model counts as weak (see
#: :func:`is_weak_model`).
WEAK_MODEL_ACCURACY = 0.6
#: Mean top-class probability minus out-of-fold accuracy against the given labels above which the
#: probabilities count as overconfident (see :func:`calibration_gap`).
OVERCONFIDENCE_GAP = 0.1
#: Rows used to fit the confidence-matching temperature (a seeded sample above it).
_TEMPERATURE_SAMPLE = 50_000
#: Rows per block where a row-wise N x K temporary is needed (the recalibrated probabilities).
_BLOCK = 65_536
#: A row's label is *decided* by its features when the estimated clean posterior's top class
#: reaches this probability; below it, the label disagrees with the features without evidence
#: that it is wrong (outcomes, inputs that carry both labels, a model that cannot tell).
DECIDED_POSTERIOR = 0.8
#: Above this estimated share of wrong labels the estimate is not called reliable: Northcutt et
#: al. (NeurIPS 2021 datasets track) measured 0.15 % to 10.1 % (QuickDraw) in ten benchmark test
#: sets; at higher rates the disagreements on real tables were mostly classes that overlap or
#: outcome-like labels (benchmarks/real_data.py, 10 % injected: every run estimated above 15 %
#: was 1.72x to 5x the truth; chosen after looking at 18 of its 24 tables).
PLAUSIBLE_NOISE_RATE = 0.15
#: Above this share of the estimated errors on undecided rows, the estimates are not reliable
#: (benchmarks/real_data.py, docs/benchmarks/real_data.md).
UNDECIDED_ERROR_SHARE = 0.3
#: How far the estimated precision of a flagged set can miss its expected value on real data,
#: beyond the binomial spread of the flagged rows. Where the estimates were called reliable on
#: the 40 real tables of benchmarks/real_data.py (10 % injected, 24 runs) the estimate missed by
#: -0.15 to +0.20: it runs high where part of the label is an outcome that passes every test
#: (a vote, a product option) and low where the model is unsure of real flips it still flags.
#: 0.12 is the smallest allowance that put all 24 runs inside ``precision_interval``; on 13
#: tables run only after it was fixed, 5 reliable runs, all inside (docs/benchmarks/real_data.md).
PRECISION_MISS = 0.12


def _inputs(labels: Any, pred_probs: Any) -> tuple[np.ndarray, np.ndarray]:
    y = check_labels(labels, min_classes=1)
    # C order: row sums and argsorts then run the same way whatever the caller's memory order.
    # Not copied when it is float64 in [0, 1] already: nothing in this module writes into it.
    p = np.ascontiguousarray(check_pred_probs(pred_probs, n_rows=len(y), copy=False))
    if y.max() >= p.shape[1]:
        raise InputValidationError(
            f"labels contain class index {int(y.max())} but pred_probs has only {p.shape[1]} "
            "columns. Pass one column per class, in the order of `classes`."
        )
    return y, p


def compute_confident_joint(labels: Any, pred_probs: Any, *, calibrate: bool = True) -> np.ndarray:
    """The confident joint: counts of (given label, likely true label) pairs.

    Parameters
    ----------
    labels : array-like of shape (N,)
        Class indices ``0..K-1``.
    pred_probs : array-like of shape (N, K)
        Out-of-fold predicted probabilities.
    calibrate : bool, default=True
        Rescale rows to the label counts and the total to N (integers, row totals kept).

    Returns
    -------
    ndarray of shape (K, K), int64
        ``C[i, j]``: rows labelled i that are confidently of class j.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    >>> compute_confident_joint([0, 0, 1, 1], p).tolist()
    [[2, 0], [0, 2]]
    """
    y, p = _inputs(labels, pred_probs)
    return _joint(y, p, calibrate=calibrate)


def _joint(y: np.ndarray, p: np.ndarray, *, calibrate: bool) -> np.ndarray:
    k = p.shape[1]
    guess, confident = cl.true_label_guess(p, cl.confident_thresholds(y, p))
    cj = cl.confident_joint(y, guess, confident, k)
    if calibrate:
        cj = cl.calibrate_joint(cj, np.bincount(y, minlength=k))
    return cj


def find_label_issues(
    labels: Any, pred_probs: Any, *, method: str = "hybrid"
) -> np.ndarray:
    """Flag rows whose given label is likely wrong.

    Parameters
    ----------
    labels : array-like of shape (N,)
        Class indices ``0..K-1``.
    pred_probs : array-like of shape (N, K)
        Out-of-fold predicted probabilities (each row predicted by a model that did not see it).
    method : {"hybrid", "prune_by_noise_rate", "off_diagonal", "posterior"}, default="hybrid"
        ``prune_by_noise_rate``: for each (given k, true j) cell of the calibrated confident
        joint, flag that many rows labelled k with the largest ``p_j - p_k`` (cleanlab's
        default; identical flags).
        ``off_diagonal``: flag rows confidently counted off the diagonal of the joint
        (cleanlab's ``"confident_learning"``).
        ``posterior``: flag rows whose estimated probability of a wrong label (see
        :func:`estimate_label_issues`) exceeds 0.5: more likely wrong than right.
        ``hybrid``: rows flagged by ``prune_by_noise_rate`` or ``posterior``, except that with a
        weak model (out-of-fold accuracy against the given labels below
        ``WEAK_MODEL_ACCURACY`` = 0.6) it is ``prune_by_noise_rate`` alone: the posterior then
        mistakes the model's own errors for label noise. On the label-noise benchmark its F1
        is at least prune_by_noise_rate's on every row and higher on average
        (``docs/benchmarks.md``).

    Returns
    -------
    ndarray of shape (N,), bool

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([[0.9, 0.1]] * 4 + [[0.1, 0.9]] * 4 + [[0.95, 0.05]])
    >>> find_label_issues([0, 0, 0, 0, 1, 1, 1, 1, 1], p).nonzero()[0].tolist()
    [8]
    """
    method = check_choice("method", method, _FIND_METHODS, owner="find_label_issues")
    y, p = _inputs(labels, pred_probs)
    return _find(y, p, method)


def _find(y: np.ndarray, p: np.ndarray, method: str, err: np.ndarray | None = None, *,
          accuracy: float | None = None) -> np.ndarray:
    """Flags by ``method``; ``err``: the rows' error probabilities, ``accuracy``: the top
    class's accuracy against ``y``, when already computed."""
    k = p.shape[1]
    guess, confident = cl.true_label_guess(p, cl.confident_thresholds(y, p))
    if method == "off_diagonal":
        mask = confident & (guess != y)
    elif method == "posterior":
        err = _error_probability(y, p)[0] if err is None else err
        mask = err > POSTERIOR_THRESHOLD
    else:
        cj = cl.calibrate_joint(cl.confident_joint(y, guess, confident, k), np.bincount(y, minlength=k))
        mask = cl.prune_by_noise_rate(y, p, cl.keep_at_least_one(cj.T))
        weak = is_weak_model(y, p) if accuracy is None else accuracy < WEAK_MODEL_ACCURACY
        if method == "hybrid" and not weak:
            err = _error_probability(y, p)[0] if err is None else err
            mask |= err > POSTERIOR_THRESHOLD
    mask[cl.given_is_predicted(y, p)] = False
    return mask


def is_weak_model(labels: Any, pred_probs: Any) -> bool:
    """Whether the out-of-fold accuracy against the given labels is below ``WEAK_MODEL_ACCURACY``.

    Below it, confident learning cannot separate the model's mistakes from label errors: the
    estimated error count and precision run high and the ``posterior`` flags add mostly correct
    rows (``benchmarks/label_noise.py``: every row below 0.6 missed the precision by > 0.19).

    Examples
    --------
    >>> import numpy as np
    >>> is_weak_model([0, 1, 1], np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]]))
    False
    """
    y = np.asarray(labels)
    p = np.asarray(pred_probs)
    return bool(np.mean(argmax_rows(p) == y) < WEAK_MODEL_ACCURACY)


def calibration_gap(labels: Any, pred_probs: Any) -> float:
    """Mean top-class probability minus the accuracy of the top class against the given labels.

    Positive means overconfident. Probabilities calibrated for the labels they were trained on
    (noisy or not) have a gap near 0; above ``OVERCONFIDENCE_GAP`` = 0.1 the error probabilities
    of :func:`estimate_label_issues` run high even after recalibration (on
    ``benchmarks/label_noise.py`` a 1-D CNN that memorises noisy labels has a gap of 0.12-0.24).

    Examples
    --------
    >>> import numpy as np
    >>> round(calibration_gap([0, 1], np.array([[0.9, 0.1], [0.8, 0.2]])), 2)
    0.35
    """
    y = np.asarray(labels)
    p = np.asarray(pred_probs)
    return float(p.max(axis=1).mean() - np.mean(argmax_rows(p) == y))


def _top_class(p: np.ndarray, block: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each row's top class and its probability, in one pass of row blocks."""
    block = _BLOCK if block is None else block
    top = np.empty(p.shape[0], dtype=np.intp)
    top_p = np.empty(p.shape[0], dtype=p.dtype)
    for start in range(0, p.shape[0], block):
        b = p[start:start + block]
        top[start:start + block] = b.argmax(axis=1)
        top_p[start:start + block] = b.max(axis=1)
    return top, top_p


def _softmax_at(p: np.ndarray, temperature: float, block: int = 65_536) -> np.ndarray:
    """``softmax(log p / temperature)`` row-wise, in blocks of rows (one N x K output)."""
    out = np.empty(p.shape, dtype=np.float64)
    for start in range(0, p.shape[0], block):
        z = np.log(np.clip(p[start:start + block], 1e-12, None)) / temperature
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        out[start:start + block] = z
    return out


def _match_confidence(y: np.ndarray, p: np.ndarray) -> float:
    """The temperature at which ``p``'s mean top-class probability equals its accuracy on ``y``.

    The top class, and so the accuracy, does not change with the temperature; confidence falls
    monotonically as the temperature rises. Returns 1.0 (``p`` to be used unchanged) when the gap
    is already 0 or no temperature in ``[e^-3, e^5]`` closes it (a model no better than chance).
    The recalibrated rows are computed block by block where they are read (:func:`_recalibrated`).
    """
    from scipy.optimize import brentq

    n = len(y)
    rows = np.arange(n)
    if n > _TEMPERATURE_SAMPLE:
        rows = np.sort(np.random.default_rng(0).choice(n, _TEMPERATURE_SAMPLE, replace=False))
    sample = p[rows]
    logp = np.log(np.clip(sample, 1e-12, None))
    acc = np.mean(sample.argmax(axis=1) == y[rows])
    shifted = logp - logp.max(axis=1, keepdims=True)  # <= 0; top-class probability = 1 / sum(exp)

    def gap(log_t: float) -> float:
        return float((1.0 / np.exp(shifted / np.exp(log_t)).sum(axis=1)).mean() - acc)

    lo, hi = -3.0, 5.0
    g0 = gap(0.0)
    if g0 == 0.0 or gap(lo) * gap(hi) > 0:
        return 1.0
    log_t = brentq(gap, 0.0, hi) if g0 > 0 else brentq(gap, lo, 0.0)
    return float(np.exp(log_t))


def _recalibrated(p: np.ndarray, temperature: float, start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` of ``p`` at ``temperature`` (float64; the rows as they are at 1.0)."""
    block = p[start:stop]
    if temperature == 1.0:
        return np.asarray(block, dtype=np.float64)
    return _softmax_at(block, temperature)


def label_quality_scores(
    labels: Any, pred_probs: Any, *, method: str = "self_confidence"
) -> np.ndarray:
    """Per-row label quality in [0, 1]; low means the label is likely wrong.

    Parameters
    ----------
    labels : array-like of shape (N,)
    pred_probs : array-like of shape (N, K)
    method : {"self_confidence", "normalized_margin"}, default="self_confidence"
        ``self_confidence`` is ``p[given]``; ``normalized_margin`` is
        ``(p[given] - max_{j != given} p[j] + 1) / 2``.

    Returns
    -------
    ndarray of shape (N,), float64

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([[0.7, 0.2, 0.1], [0.2, 0.3, 0.5]])
    >>> label_quality_scores([0, 1], p, method="normalized_margin").round(2).tolist()
    [0.75, 0.4]
    """
    method = check_choice("method", method, _SCORE_METHODS, owner="label_quality_scores")
    y, p = _inputs(labels, pred_probs)
    given = p[np.arange(len(y)), y]
    if method == "self_confidence":
        return given.copy()
    return np.clip((given - _best_other(y, p)[1] + 1.0) / 2.0, 0.0, 1.0)


def suggest_labels(labels: Any, pred_probs: Any) -> np.ndarray:
    """The most likely other class for each row: the top prediction, or the runner-up when the
    top prediction is the given label.

    Examples
    --------
    >>> import numpy as np
    >>> suggest_labels([0, 0], np.array([[0.2, 0.8], [0.6, 0.4]])).tolist()
    [1, 1]
    """
    y, p = _inputs(labels, pred_probs)
    return _best_other(y, p)[0]


def _best_other(y: np.ndarray, p: np.ndarray,
                block: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each row's most probable class other than its label, and that probability (in row
    blocks: one block is copied, not the N x K matrix)."""
    block = _BLOCK if block is None else block
    top = np.empty(len(y), dtype=np.int64)
    best = np.empty(len(y), dtype=np.float64)
    for start in range(0, len(y), block):
        masked = np.array(p[start:start + block], dtype=np.float64)
        rows = np.arange(masked.shape[0])
        masked[rows, y[start:start + block]] = -np.inf
        top[start:start + block] = masked.argmax(axis=1)
        best[start:start + block] = masked[rows, top[start:start + block]]
    return top, best


def knn_label_agreement(labels: Any, neighbor_indices: Any) -> np.ndarray:
    """Share of each row's k nearest neighbours that carry the same label, in [0, 1].

    A k-NN label-consensus signal that needs no model: low values mark rows whose label differs
    from their neighbourhood.

    Parameters
    ----------
    labels : array-like of shape (N,)
    neighbor_indices : array-like of shape (N, k)
        From :func:`assay.knn_graph` (self excluded).

    Examples
    --------
    >>> import numpy as np
    >>> knn_label_agreement([0, 0, 1], np.array([[1, 2], [0, 2], [0, 1]])).tolist()
    [0.5, 0.5, 0.0]
    """
    y = check_labels(labels, min_classes=1)
    idx = np.asarray(neighbor_indices, dtype=np.int64)
    if idx.ndim != 2 or idx.shape[0] != len(y):
        raise InputValidationError(
            f"neighbor_indices must have shape (N, k) with N = {len(y)}; got {idx.shape}. "
            "Pass knn_graph(features).indices."
        )
    return (y[idx] == y[:, None]).mean(axis=1)


@dataclass(frozen=True)
class LabelIssueEstimate:
    """How many label errors the data likely holds, and how far to trust a flagged set.

    Attributes
    ----------
    n_estimated : int
        Estimated number of mislabelled rows: the sum of the rows' error probabilities.
    noise_rate : float
        ``n_estimated / N``.
    n_flagged : int
    estimated_precision : float
        Expected share of flagged rows that are truly mislabelled (see Notes of
        :func:`estimate_label_issues`); NaN when nothing is flagged.
    precision_low, precision_high : float
        Where the flagged set's precision plausibly lies (:func:`precision_interval`) when the
        estimates are reliable; NaN when they are not (then ``estimated_precision`` is an upper
        bound in practice, and only a spot check measures the precision).
    error_probability : ndarray of shape (N,)
        Each row's estimated probability that its label is wrong.
    noise_matrix : ndarray of shape (K, K)
        ``P(given = i | true = j)`` estimated from the calibrated joint (columns sum to 1).
    temperature : float
        The temperature that matched the probabilities' mean confidence to their accuracy
        before the error probabilities were computed (1.0: unchanged).
    calibration_gap : float
        Mean top-class probability minus accuracy of the probabilities as given
        (:func:`calibration_gap`).
    model_accuracy : float
        Accuracy of the top class against the given labels.
    reliable : bool
        False when the estimates measure disagreement rather than errors: a weak model
        (``model_accuracy < WEAK_MODEL_ACCURACY``), overconfident probabilities
        (``calibration_gap > OVERCONFIDENCE_GAP``), identical inputs whose label rates differ
        (:func:`input_label_conflicts`, with ``inputs``), an estimated error rate above
        ``PLAUSIBLE_NOISE_RATE``, or more than ``UNDECIDED_ERROR_SHARE`` of the estimated errors
        on rows the features do not decide. On ``benchmarks/real_data.py`` every run called
        reliable estimated the error count within 0.82-1.50x of the injected count (53 tables).
    caveat : str
        Why the estimates are not reliable, in one sentence; empty when they are.
    flagged : ndarray of shape (N,), bool
        The flagged set ``n_flagged`` and ``estimated_precision`` describe.
    decided : ndarray of shape (N,), bool
        Rows whose features decide the label: the estimated clean posterior's top class
        reaches ``DECIDED_POSTERIOR``. On the others the label may disagree with what the
        features predict without being wrong.
    undecided_share : float
        Share of ``n_estimated`` that comes from undecided rows. Above
        ``UNDECIDED_ERROR_SHARE`` the features cannot decide the label for much of the data
        (outcome labels, identical inputs carrying both labels, a weak model) and ``reliable``
        is False.
    reason : str
        Which test made the estimates unreliable: ``"weak_model"``, ``"overconfident"``,
        ``"input_conflicts"``, ``"error_rate"`` or ``"undecided"``; empty when reliable.
    """

    n_estimated: int
    noise_rate: float
    n_flagged: int
    estimated_precision: float
    error_probability: np.ndarray
    noise_matrix: np.ndarray
    temperature: float = 1.0
    calibration_gap: float = 0.0
    model_accuracy: float = float("nan")
    reliable: bool = True
    caveat: str = ""
    flagged: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool), repr=False)
    decided: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool), repr=False)
    undecided_share: float = 0.0
    reason: str = ""
    precision_low: float = float("nan")
    precision_high: float = float("nan")

    def for_flagged(self, flagged: Any) -> LabelIssueEstimate:
        """The same estimate for another flagged set of the same rows (no recomputation)."""
        mask = np.asarray(flagged, dtype=bool)
        if mask.shape != self.error_probability.shape:
            raise InputValidationError(
                f"flagged must be a boolean array of length {self.error_probability.size}; got "
                f"shape {mask.shape}."
            )
        precision = float(self.error_probability[mask].mean()) if mask.any() else float("nan")
        low, high = (precision_interval(self.error_probability, mask) if self.reliable
                     else (float("nan"), float("nan")))
        return replace(self, n_flagged=int(mask.sum()), estimated_precision=precision,
                       flagged=mask, precision_low=low, precision_high=high)


def estimate_label_issues(
    labels: Any, pred_probs: Any, *, flagged: Any = None, inputs: Any = None
) -> LabelIssueEstimate:
    """Estimate the number of label errors and the precision of a flagged set.

    Parameters
    ----------
    labels : array-like of shape (N,)
    pred_probs : array-like of shape (N, K)
    flagged : array-like of shape (N,), bool, optional
        The flagged set to assess; default :func:`find_label_issues` (``hybrid``).
    inputs : array-like of shape (N, d) or DataFrame, optional
        What the model read. When given, identical inputs whose label rates differ beyond
        label noise (:func:`input_label_conflicts`) make the estimates unreliable.

    Returns
    -------
    LabelIssueEstimate

    Notes
    -----
    The probabilities are first recalibrated by one temperature, chosen so that their mean
    top-class probability equals their accuracy against the given labels (the labels the model
    was trained to predict, noise included); this undoes the overconfidence of flexible models
    and leaves calibrated ones nearly unchanged. The calibrated confident joint of the
    recalibrated probabilities gives the noise process ``T[i, j] = P(given = i | true = j)`` (its
    columns, normalised). A model trained on noisy labels predicts the noisy posterior
    ``p(x) = T q(x)``; inverting ``T`` (clipped at zero, renormalised) recovers an estimate of the
    clean posterior ``q(x)``. Bayes' rule then gives ``P(true = j | x, given = i) ∝ q_j(x) T[i, j]``;
    the row's error probability is ``1 - P(true = given | x, given)``. The estimated error count is
    the sum of the error probabilities, the estimated precision their mean over flagged rows.

    On ``benchmarks/label_noise.py`` (``docs/benchmarks/audit.md``) the estimated precision is
    within 0.1 of the actual on every row where ``reliable`` is True (mean of seeds), and the
    error count within 11 %. On real tables (``benchmarks/real_data.py``) the precision missed by
    up to 0.2 even where reliable, so a reliable estimate also carries ``precision_low`` and
    ``precision_high`` (:func:`precision_interval`). Where the model cannot tell its own mistakes
    from label errors (``reliable`` False) no estimate from the probabilities alone can: which
    rows are mislabelled is then not identifiable, and both figures are upper bounds in practice.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([[0.9, 0.1]] * 4 + [[0.1, 0.9]] * 4 + [[0.95, 0.05]])
    >>> est = estimate_label_issues([0, 0, 0, 0, 1, 1, 1, 1, 1], p)
    >>> est.n_estimated, est.n_flagged
    (1, 1)
    """
    y, p = _inputs(labels, pred_probs)
    n = len(y)
    err, noise, temperature, top_clean = _error_probability(y, p)
    # one pass for the top class and its probability (accuracy, calibration gap, weak model)
    top, top_p = _top_class(p)
    accuracy = float(np.mean(top == y))
    gap = float(top_p.mean() - accuracy)  # calibration_gap(y, p)
    mask = (_find(y, p, "hybrid", err, accuracy=accuracy) if flagged is None
            else np.asarray(flagged, bool))
    if mask.shape != (n,):
        raise InputValidationError(
            f"flagged must be a boolean array of length {n}; got shape {mask.shape}."
        )
    precision = float(err[mask].mean()) if mask.any() else float("nan")
    n_est = int(round(float(err.sum())))
    decided = top_clean >= DECIDED_POSTERIOR
    total = float(err.sum())
    undecided_share = float(err[~decided].sum() / total) if total > 0 else 0.0
    conflicts = None
    if accuracy >= WEAK_MODEL_ACCURACY and gap <= OVERCONFIDENCE_GAP and inputs is not None:
        conflicts = input_label_conflicts(inputs, y)
    reason, caveat = "", ""
    if accuracy < WEAK_MODEL_ACCURACY:
        reason = "weak_model"
        caveat = (f"The model is weak (out-of-fold accuracy {accuracy:.0%} against the given "
                  "labels): it cannot tell its own mistakes from label errors.")
    elif gap > OVERCONFIDENCE_GAP:
        reason = "overconfident"
        caveat = (f"The model is overconfident (mean confidence {accuracy + gap:.0%} against "
                  f"{accuracy:.0%} accuracy): it has fitted some of the noise, so its own mistakes "
                  "pass for label errors.")
    elif conflicts is not None and conflicts.heterogeneous:
        reason = "input_conflicts"
        caveat = (f"Identical inputs carry different labels at rates from "
                  f"{conflicts.min_rate:.0%} to {conflicts.max_rate:.0%} ({conflicts.n_groups} "
                  f"inputs, {conflicts.share_in_groups:.0%} of the rows; p = "
                  f"{conflicts.p_value:.1g}): label noise does not vary with the input, "
                  "outcomes do, so these labels are outcomes that the features cannot decide, "
                  "and a disagreement is not evidence of an error.")
    elif n_est / n > PLAUSIBLE_NOISE_RATE:
        reason = "error_rate"
        caveat = (f"The estimate says {n_est / n:.0%} of the labels are wrong, more than "
                  f"annotated data usually holds (at most about {PLAUSIBLE_NOISE_RATE:.0%}); at "
                  "such rates the disagreements are mostly classes that overlap or labels that "
                  "are outcomes, which the probabilities cannot tell from errors.")
    elif undecided_share > UNDECIDED_ERROR_SHARE:
        reason = "undecided"
        caveat = (f"The features do not decide the label for {np.mean(~decided):.0%} of the rows "
                  f"(no class reaches {DECIDED_POSTERIOR:.0%} once noise is accounted for), and "
                  f"{undecided_share:.0%} of the estimated errors sit there: those labels disagree "
                  "with what the features predict, which is not evidence that they are wrong "
                  "(outcomes, or identical inputs carrying different labels).")
    low, high = (float("nan"), float("nan")) if caveat else precision_interval(err, mask)
    return LabelIssueEstimate(n_est, n_est / n, int(mask.sum()), precision, err, noise,
                              temperature, gap, accuracy, not caveat, caveat, mask, decided,
                              undecided_share, reason, low, high)


def precision_interval(error_probability: Any, flagged: Any) -> tuple[float, float]:
    """Where the precision of a flagged set plausibly lies, from its rows' error probabilities.

    The flagged rows' mean error probability ``e`` is the expected precision if the
    probabilities were right. Two things move the precision a reviewer measures away from it:
    which of the flagged rows happen to be wrong (binomial: ``sd = sqrt(e (1 - e) / n)`` for
    ``n`` flagged rows, ``e (1 - e)`` at least 0.0025), and how far the probabilities
    themselves miss on real data (``PRECISION_MISS``). The interval is
    ``e -+ (PRECISION_MISS + 1.96 sd)``, clipped to [0, 1].

    Parameters
    ----------
    error_probability : array-like of shape (N,)
        Each row's probability that its label is wrong (``LabelIssueEstimate.error_probability``).
    flagged : array-like of shape (N,), bool

    Returns
    -------
    (low, high) : tuple of float
        NaN, NaN when nothing is flagged.

    Notes
    -----
    On ``benchmarks/real_data.py`` (53 real tables, 10 % injected flips, 2 seeds) it held the
    measured precision on every run whose estimates were called reliable (29 of 29; 5 of 5 on
    the 13 tables held out from choosing ``PRECISION_MISS``). The point estimate alone was
    within 0.1 on 16 of the 29. A spot check (:func:`spot_check_size`) measures the precision
    to 0.1.

    Examples
    --------
    >>> import numpy as np
    >>> err = np.r_[np.full(100, 0.9), np.full(900, 0.01)]
    >>> low, high = precision_interval(err, err > 0.5)
    >>> round(low, 3), round(high, 3)
    (0.721, 1.0)
    """
    err = np.asarray(error_probability, dtype=np.float64)
    mask = np.asarray(flagged, dtype=bool)
    if mask.shape != err.shape:
        raise InputValidationError(
            f"flagged must be a boolean array of the error probabilities' shape {err.shape}; "
            f"got shape {mask.shape}."
        )
    n = int(mask.sum())
    if n == 0:
        return float("nan"), float("nan")
    e = float(err[mask].mean())
    sd = float(np.sqrt(max(e * (1.0 - e), 0.0025) / n))
    half = PRECISION_MISS + 1.96 * sd
    return max(0.0, e - half), min(1.0, e + half)


def _error_probability(
    y: np.ndarray, p: np.ndarray, block: int | None = None
) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """Per-row P(label wrong), the noise matrix P(given | true), the recalibration temperature,
    and each row's top clean-posterior probability.

    Everything is computed in blocks of rows from ``p`` recalibrated on the fly (three passes:
    the per-class thresholds, the confident joint, the posterior), so no N x K matrix is made:
    a million rows x 100 classes held an 800 MB recalibrated copy before. Every step is
    row-wise, so the result is that of the whole recalibrated matrix, up to the rounding of the
    matrix product of the posterior (tested to 1e-12).
    """
    n, k = p.shape
    block = _BLOCK if block is None else block
    temperature = _match_confidence(y, p)
    spans = [(start, min(start + block, n)) for start in range(0, n, block)]
    own = np.empty(n, dtype=np.float64)  # the confident thresholds are means of these per class

    def own_prob(start: int, stop: int) -> None:
        own[start:stop] = _recalibrated(p, temperature, start, stop)[
            np.arange(stop - start), y[start:stop]]

    map_in_threads(lambda span: own_prob(*span), spans)
    thresholds = cl.class_means(y, own, k)
    guess = np.empty(n, dtype=np.int64)
    confident = np.empty(n, dtype=bool)

    def guess_label(start: int, stop: int) -> None:
        guess[start:stop], confident[start:stop] = cl.true_label_guess(
            _recalibrated(p, temperature, start, stop), thresholds)

    map_in_threads(lambda span: guess_label(*span), spans)
    cj = cl.calibrate_joint(cl.confident_joint(y, guess, confident, k),
                            np.bincount(y, minlength=k)).astype(np.float64)
    col = cj.sum(axis=0, keepdims=True)
    noise = np.divide(cj, col, out=np.eye(k), where=col > 0)  # P(given=i | true=j)
    err = np.empty(n, dtype=np.float64)
    top = np.empty(n, dtype=np.float64)

    def posterior(start: int, stop: int) -> None:
        yb = y[start:stop]
        clean = _clean_posterior(_recalibrated(p, temperature, start, stop), noise)
        top[start:stop] = clean.max(axis=1)
        lik = clean * noise[yb, :]  # q_j(x) * P(given = y | true = j)
        post_given = lik[np.arange(yb.size), yb] / np.maximum(lik.sum(axis=1), 1e-300)
        err[start:stop] = np.clip(1.0 - post_given, 0.0, 1.0)

    map_in_threads(lambda span: posterior(*span), spans)
    return err, noise, temperature, top


def _clean_posterior(p: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Solve ``p = T q`` row-wise for q, clipped at 0 and renormalised (p when T is singular)."""
    try:
        inv = np.linalg.inv(noise)
    except np.linalg.LinAlgError:
        return p
    q = p @ inv.T  # one matrix product for all rows (q_i = T^-1 p_i)
    q = np.clip(q, 0.0, None)
    sums = q.sum(axis=1, keepdims=True)
    return np.where(sums > 0, q / np.maximum(sums, 1e-300), p)


#: Identical-input groups of at least this many rows enter the heterogeneity test.
CONFLICT_MIN_GROUP = 5
#: Significance of the test that label rates differ between identical inputs beyond noise.
CONFLICT_P_VALUE = 1e-3


@dataclass(frozen=True)
class InputConflicts:
    """Rows whose identical inputs carry different labels, and whether the rates differ.

    Attributes
    ----------
    in_conflict : ndarray of shape (N,), bool
        Rows with an identical-input twin of another label.
    n_groups : int
        Identical-input groups of at least ``CONFLICT_MIN_GROUP`` rows.
    share_in_groups : float
        Share of rows in those groups.
    p_value : float
        Chi-square test that, among groups with the same majority label, the minority share is
        one rate (label noise that does not depend on the input, confident learning's
        assumption); small when it varies between inputs, as outcomes do. NaN without groups.
    min_rate, max_rate : float
        Smallest and largest minority share among the groups.
    heterogeneous : bool
        ``p_value < CONFLICT_P_VALUE`` with groups covering at least 20 % of the rows: the
        labels behave like outcomes of the inputs, not like annotations with errors.
    """

    in_conflict: np.ndarray
    n_groups: int
    share_in_groups: float
    p_value: float
    min_rate: float
    max_rate: float
    heterogeneous: bool


def input_label_conflicts(inputs: Any, labels: Any, *,
                          min_group: int = CONFLICT_MIN_GROUP) -> InputConflicts:
    """Identical inputs with different labels, and a test of whether their label rates differ.

    Under label noise that does not depend on the input (confident learning's assumption), rows
    with one input and one true class carry the other labels at one rate per class, whatever the
    input. Outcomes (survival, default, a vote) do not: the rate of the minority label differs
    from input to input. The test groups identical rows (``min_group`` or more), takes each
    group's majority label, and compares each group's minority count with the pooled rate of
    the groups with that majority by a chi-square test of homogeneity.

    Parameters
    ----------
    inputs : array-like of shape (N, d) or DataFrame
        What the model reads (raw table columns, or features).
    labels : array-like of shape (N,)
    min_group : int, default=5

    Returns
    -------
    InputConflicts

    Examples
    --------
    >>> import numpy as np
    >>> x = np.repeat([[0.0], [1.0], [2.0], [3.0]], 50, axis=0)
    >>> y = np.concatenate([np.r_[np.zeros(48), np.ones(2)], np.r_[np.zeros(30), np.ones(20)],
    ...                     np.r_[np.ones(45), np.zeros(5)], np.r_[np.ones(30), np.zeros(20)]])
    >>> c = input_label_conflicts(x, y.astype(int))
    >>> c.heterogeneous, round(c.max_rate, 2)
    (True, 0.4)
    """
    from scipy.stats import chi2

    from assay.duplicates import hash_rows

    y = check_labels(labels, min_classes=1)
    hashes = hash_rows(inputs if hasattr(inputs, "iloc") else np.asarray(inputs))
    if len(hashes) != len(y):
        raise InputValidationError(
            f"inputs have {len(hashes)} rows but labels {len(y)}. Pass aligned rows."
        )
    _, group, sizes = np.unique(hashes, return_inverse=True, return_counts=True)
    group = group.reshape(-1)
    k = int(y.max()) + 1
    # label counts only for the groups that can conflict or be tested (2 rows or more): with
    # unique inputs a (groups x classes) table would be N x K
    kept = np.flatnonzero(sizes[group] >= min(min_group, 2))
    kept_groups, local = np.unique(group[kept], return_inverse=True)
    local = local.reshape(-1)
    counts = np.zeros((kept_groups.size, k), dtype=np.int64)
    np.add.at(counts, (local, y[kept]), 1)
    in_conflict = np.zeros(y.size, dtype=bool)
    in_conflict[kept] = ((counts > 0).sum(axis=1) > 1)[local]
    big = sizes >= min_group
    if big.sum() < 2:
        return InputConflicts(in_conflict, int(big.sum()), float(big[group].mean()),
                              float("nan"), float("nan"), float("nan"), False)
    sub = counts[sizes[kept_groups] >= min_group]
    n_g = sub.sum(axis=1).astype(np.float64)
    major = sub.argmax(axis=1)
    minority = n_g - sub.max(axis=1)
    stat, dof = 0.0, 0
    for m in np.unique(major):
        sel = major == m
        rate = minority[sel].sum() / n_g[sel].sum()
        if sel.sum() < 2 or rate <= 0.0 or rate >= 1.0:
            continue
        expected = n_g[sel] * rate
        stat += float(np.sum((minority[sel] - expected) ** 2 / (expected * (1.0 - rate))))
        dof += int(sel.sum()) - 1
    p = float(chi2.sf(stat, dof)) if dof > 0 else float("nan")
    share = float(big[group].mean())
    rates = minority / n_g
    hetero = bool(dof > 0 and p < CONFLICT_P_VALUE and share >= 0.2)
    return InputConflicts(in_conflict, int(big.sum()), share, p, float(rates.min()),
                          float(rates.max()), hetero)


@dataclass(frozen=True)
class ReviewedPrecision:
    """The precision of a flagged set measured by reviewing a uniform random sample of it.

    Attributes
    ----------
    precision : float
        Share of the reviewed rows whose label the reviewers found wrong; NaN with no reviews.
    low, high : float
        Wilson score interval at ``level``, with the finite-population correction when the
        flagged set's size is known (reviewing all of it leaves no uncertainty).
    n_reviewed : int
    n_confirmed : int
    n_flagged : int or None
    level : float
    """

    precision: float
    low: float
    high: float
    n_reviewed: int
    n_confirmed: int
    n_flagged: int | None
    level: float

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python dictionary (NaN becomes ``None``)."""
        def f(v: float) -> float | None:
            return None if not np.isfinite(v) else float(v)

        return {"precision": f(self.precision), "low": f(self.low), "high": f(self.high),
                "n_reviewed": self.n_reviewed, "n_confirmed": self.n_confirmed,
                "n_flagged": self.n_flagged, "level": self.level}


def _z(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 2.0))


def _check_level(level: Any, owner: str) -> float:
    if not (isinstance(level, int | float) and 0.0 < float(level) < 1.0):
        raise InvalidParameterError("level", "a float in (0, 1)", level, owner=owner)
    return float(level)


def spot_check_size(n_flagged: int, *, half_width: float = 0.1, level: float = 0.95) -> int:
    """How many flagged rows to review, drawn at random, to know their precision to ``half_width``.

    The worst case (precision 0.5) of the normal approximation, ``z^2 / (4 h^2)``, with the
    finite-population correction for a flagged set of ``n_flagged`` rows.

    Examples
    --------
    >>> spot_check_size(10_000), spot_check_size(200), spot_check_size(30)
    (96, 66, 24)
    """
    n_flagged = int(n_flagged)
    if n_flagged < 0:
        raise InputValidationError(
            f"n_flagged must be the size of the flagged set (0 or more); got {n_flagged}.")
    if not (isinstance(half_width, int | float) and 0.0 < half_width < 0.5):
        raise InvalidParameterError("half_width", "a float in (0, 0.5)", half_width,
                                    owner="spot_check_size")
    z = _z(_check_level(level, "spot_check_size"))
    n0 = z * z / (4.0 * half_width * half_width)
    n = n0 / (1.0 + (n0 - 1.0) / n_flagged) if n_flagged > 0 else 0.0
    return int(min(n_flagged, np.ceil(n - 1e-9)))


def reviewed_precision(
    confirmed: Any, *, n_flagged: int | None = None, level: float = 0.95
) -> ReviewedPrecision:
    """Precision of a flagged set from reviews of a uniform random sample of it.

    This is the measurement behind "how far to trust the list" when
    :func:`estimate_label_issues` calls its estimate unreliable: review the rows of the review
    app's ``label_spot_check`` queue (a random order of the flagged rows, so any prefix is a
    random sample) and count how many labels were really wrong.

    Parameters
    ----------
    confirmed : array-like of bool
        One entry per reviewed row: True when the reviewer found the label wrong (relabelled or
        removed it), False when the label was right (kept).
    n_flagged : int, optional
        Size of the flagged set the sample was drawn from, for the finite-population correction.
    level : float, default=0.95
        Coverage of the interval.

    Returns
    -------
    ReviewedPrecision

    Examples
    --------
    >>> r = reviewed_precision([True] * 40 + [False] * 10)
    >>> round(r.precision, 2), round(r.low, 3), round(r.high, 3)
    (0.8, 0.67, 0.888)
    >>> reviewed_precision([True] * 40 + [False] * 10, n_flagged=50).low
    0.8
    """
    level = _check_level(level, "reviewed_precision")
    c = np.asarray(confirmed)
    if c.ndim != 1 or (c.size and c.dtype != bool and not np.isin(c, [0, 1]).all()):
        raise InputValidationError(
            "confirmed must be a 1-d array of booleans (True: the label was wrong); got "
            f"shape {c.shape}, dtype {c.dtype}."
        )
    c = c.astype(bool)
    n, k = int(c.size), int(c.sum())
    if n_flagged is not None and int(n_flagged) < n:
        raise InputValidationError(
            f"n_flagged ({n_flagged}) is smaller than the number of reviewed rows ({n}); pass "
            "the size of the flagged set the sample was drawn from."
        )
    if n == 0:
        return ReviewedPrecision(float("nan"), 0.0, 1.0, 0, 0, n_flagged, level)
    p = k / n
    if n_flagged is not None and int(n_flagged) == n:
        return ReviewedPrecision(p, p, p, n, k, int(n_flagged), level)
    n_eff = float(n)
    if n_flagged is not None and int(n_flagged) > 1:
        n_eff = n * (int(n_flagged) - 1) / (int(n_flagged) - n)  # finite-population correction
    z = _z(level)
    denom = 1.0 + z * z / n_eff
    centre = (p + z * z / (2.0 * n_eff)) / denom
    half = z * np.sqrt(p * (1.0 - p) / n_eff + z * z / (4.0 * n_eff * n_eff)) / denom
    return ReviewedPrecision(p, float(max(0.0, centre - half)), float(min(1.0, centre + half)),
                             n, k, None if n_flagged is None else int(n_flagged), level)


def ambiguous_class_pairs(
    labels: Any, pred_probs: Any, *, top: int = 10, n_examples: int = 5, min_count: int = 1
) -> pd.DataFrame:
    """Class pairs with the most mutual confusion in the confident joint.

    Candidates for a guideline fix or a merge: many rows labelled ``a`` look confidently like
    ``b`` and the other way round.

    Parameters
    ----------
    labels : array-like of shape (N,)
    pred_probs : array-like of shape (N, K)
    top : int, default=10
        Pairs returned, most confused first.
    n_examples : int, default=5
        Example rows per pair (the rows with the largest cross-class margin).
    min_count : int, default=1
        Pairs with fewer confused rows in total are left out.

    Returns
    -------
    pandas.DataFrame
        Columns ``class_a``, ``class_b`` (indices, a < b), ``a_as_b``, ``b_as_a`` (rows of
        the calibrated joint), ``n_confused``, ``rate`` (confused rows over the pair's rows),
        ``examples`` (row indices).

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([[0.9, 0.1, 0.0]] * 3 + [[0.4, 0.6, 0.0]] * 3 + [[0.0, 0.0, 1.0]] * 3)
    >>> pairs = ambiguous_class_pairs([0, 0, 0, 1, 1, 0, 2, 2, 2], p)
    >>> pairs[["class_a", "class_b", "n_confused"]].values.tolist()
    [[0, 1, 1]]
    """
    y, p = _inputs(labels, pred_probs)
    k = p.shape[1]
    cj = _joint(y, p, calibrate=True)
    counts = np.bincount(y, minlength=k)
    a, b = np.triu_indices(k, 1)
    conf = cj[a, b] + cj[b, a]
    keep = conf >= max(min_count, 1)
    order = np.argsort(-conf[keep], kind="stable")[:top]
    a, b = a[keep][order], b[keep][order]
    pairs = list(zip(a.tolist(), b.tolist(), strict=True))
    found: list[list[np.ndarray]] = [[] for _ in pairs]
    margins: list[list[np.ndarray]] = [[] for _ in pairs]
    for start in range(0, len(y), _BLOCK):  # one pass in row blocks for every pair
        yb, pb = y[start:start + _BLOCK], p[start:start + _BLOCK]
        for at, (i, j) in enumerate(pairs):
            in_pair = np.flatnonzero((yb == i) | (yb == j))
            other = np.where(yb[in_pair] == i, j, i)
            found[at].append(start + in_pair)
            margins[at].append(pb[in_pair, other] - pb[in_pair, yb[in_pair]])
    rows = []
    for at, (i, j) in enumerate(pairs):
        in_pair, margin = np.concatenate(found[at]), np.concatenate(margins[at])
        ex = in_pair[np.argsort(-margin, kind="stable")[:n_examples]]
        n_conf = int(cj[i, j] + cj[j, i])
        rows.append({
            "class_a": i, "class_b": j, "a_as_b": int(cj[i, j]), "b_as_a": int(cj[j, i]),
            "n_confused": n_conf, "rate": n_conf / max(int(counts[i] + counts[j]), 1),
            "examples": ex.tolist(),
        })
    cols = ["class_a", "class_b", "a_as_b", "b_as_a", "n_confused", "rate", "examples"]
    return pd.DataFrame(rows, columns=cols)
