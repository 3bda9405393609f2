"""Sanity checks before training: labels that line up, a model that can fit, a reachable target.

The checks the two-stage essay asks for before any long run (``shared/seeds-digest.md``, 001):

- **labels_align**: do out-of-fold predictions beat the majority-class rate? Labels misaligned
  with their features (a shifted join, a shuffled column) leave them at chance; a one-sided
  binomial test detects it.
- **tiny_subset**: can a small network drive its loss near zero on a few rows? If not, the
  features or the training step are broken (needs the ``torch`` extra; skipped without it).
- **identical_inputs**, **label_noise_ceiling**, **human_ceiling**: upper bounds of the metric.
  No function of the features beats the majority label of each group of identical inputs; a
  model that predicts the true class perfectly still scores only what the labels' noise allows
  (from the confident joint of the out-of-fold probabilities); annotators' agreement bounds
  what a model can be credited with (:func:`assay.agreement.annotator_ceiling`).
- **target**: is the target below the lowest of those bounds (the oracle upper bound)? If
  not, no model scored against these labels reaches it: clean the labels or change the target.
  The label-noise bound counts only when the label estimate is reliable
  (:class:`assay.labels.LabelIssueEstimate`); otherwise it is reported, not used.

:func:`assay.pipelines.sanity_run` runs them on a table (and adds the target-leakage screen);
``assay sanity`` is the command.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from assay._validation import check_features, check_labels, check_random_state, check_same_length
from assay.exceptions import InputValidationError, InvalidParameterError

__all__ = [
    "SANITY_METRICS",
    "STATUSES",
    "SanityCheck",
    "SanityReport",
    "metric_ceiling",
    "sanity_checks",
]

SANITY_METRICS = ("accuracy", "balanced_accuracy", "macro_f1")
#: Worst first; a report's status is its worst check's.
STATUSES = ("fail", "warn", "pass", "info", "skipped")
_OWNER = "sanity_checks"


@dataclass(frozen=True)
class SanityCheck:
    """One check: its status, a one-line message, and the figures behind it."""

    name: str
    status: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (non-finite floats become ``None``)."""
        return {"name": self.name, "status": self.status, "message": self.message,
                "evidence": {k: _json(v) for k, v in self.evidence.items()}}


@dataclass(frozen=True)
class SanityReport:
    """The checks of :func:`sanity_checks`, the metric, the target and the oracle upper bound.

    Attributes
    ----------
    checks : list of SanityCheck
    metric : str
    target : float or None
    upper_bound : float
        The lowest of the metric's upper bounds (identical inputs, label noise, annotators).
    bound_source : str
        Which check gives ``upper_bound``.
    """

    checks: list[SanityCheck]
    metric: str
    target: float | None
    upper_bound: float
    bound_source: str

    @property
    def status(self) -> str:
        """The worst status among the checks (``fail`` > ``warn`` > ``pass``)."""
        present = {c.status for c in self.checks}
        return next((s for s in STATUSES if s in present), "pass")

    def check(self, name: str) -> SanityCheck:
        """The check called ``name``."""
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"status": self.status, "metric": self.metric, "target": self.target,
                "upper_bound": _json(self.upper_bound), "bound_source": self.bound_source,
                "checks": [c.to_dict() for c in self.checks]}


def _json(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, np.ndarray):
        return [_json(x) for x in v.tolist()]
    if isinstance(v, list | tuple):
        return [_json(x) for x in v]
    return v


def _metric(y: np.ndarray, pred: np.ndarray, metric: str, n_classes: int) -> float:
    """``metric`` of predictions ``pred`` against labels ``y`` (classes present in ``y``)."""
    present = np.bincount(y, minlength=n_classes) > 0
    joint = np.zeros((n_classes, n_classes))
    np.add.at(joint, (y, pred), 1.0)
    return _from_confusion(joint / y.size, present, metric)


def _from_confusion(conf: np.ndarray, present: np.ndarray, metric: str) -> float:
    """``conf[i, j]`` = share of rows labelled ``i`` and predicted ``j``."""
    if metric == "accuracy":
        return float(np.trace(conf))
    rows, cols, diag = conf.sum(axis=1), conf.sum(axis=0), np.diag(conf)
    with np.errstate(invalid="ignore", divide="ignore"):
        if metric == "balanced_accuracy":
            return float(np.mean(diag[present] / rows[present]))
        f1 = np.where(rows + cols > 0, 2 * diag / (rows + cols), 0.0)
        return float(np.mean(f1[present]))


def metric_ceiling(joint: Any, metric: str = "accuracy") -> float:
    """The metric a perfect model of the true classes reaches against noisy labels.

    Parameters
    ----------
    joint : array-like of shape (K, K)
        ``joint[i, j]`` = P(given label ``i``, true class ``j``) (any positive scale; it is
        normalised), e.g. a confident joint.
    metric : {"accuracy", "balanced_accuracy", "macro_f1"}

    Returns
    -------
    float
        For accuracy the best any predictor of the given labels can reach when the noise
        depends only on the true class: ``sum_j max_i joint[i, j]`` (predict, for each true
        class, its most frequent given label; the diagonal when the noise leaves each class's
        own label the most frequent). For the others, the score of predicting the true class.

    Examples
    --------
    >>> from assay.sanity import metric_ceiling
    >>> joint = [[45, 5], [5, 45]]  # 10 % of each class carries the other label
    >>> round(metric_ceiling(joint), 3), round(metric_ceiling(joint, "macro_f1"), 3)
    (0.9, 0.9)
    """
    q = np.asarray(joint, dtype=float)
    if q.ndim != 2 or q.shape[0] != q.shape[1] or q.shape[0] < 1 or np.any(q < 0) \
            or not np.isfinite(q).all() or q.sum() <= 0:
        raise InputValidationError(
            "joint must be a square (K, K) array of non-negative counts or probabilities with a "
            f"positive sum; got shape {q.shape}."
        )
    if metric not in SANITY_METRICS:
        raise InvalidParameterError("metric", "one of " + ", ".join(SANITY_METRICS), metric,
                                    owner="metric_ceiling")
    q = q / q.sum()
    if metric == "accuracy":
        return float(np.sum(q.max(axis=0)))
    return _from_confusion(q, q.sum(axis=1) > 0, metric)


def _identical_input_bound(inputs: np.ndarray, y: np.ndarray, metric: str, n_classes: int
                           ) -> tuple[float, int]:
    """Metric of the majority label of each identical-input group, and rows in mixed groups."""
    _, group = np.unique(inputs, axis=0, return_inverse=True)
    group = group.reshape(-1)
    counts = np.zeros((int(group.max()) + 1, n_classes))
    np.add.at(counts, (group, y), 1.0)
    best = counts.argmax(axis=1)[group]
    mixed = (counts > 0).sum(axis=1)[group] > 1
    return _metric(y, best, metric, n_classes), int(mixed.sum())


def _alignment(y: np.ndarray, probs: np.ndarray, alpha: float) -> SanityCheck:
    from scipy.stats import binomtest

    hits = int((probs.argmax(axis=1) == y).sum())
    chance = float(np.bincount(y).max() / y.size)
    p = float(binomtest(hits, int(y.size), chance, alternative="greater").pvalue)
    acc = hits / y.size
    ev = {"accuracy": acc, "majority_rate": chance, "p_value": p, "alpha": alpha,
          "n_rows": int(y.size)}
    if chance ** y.size >= alpha:  # even all-correct predictions would not reach alpha
        return SanityCheck("labels_align", "warn",
                           f"Too few rows ({y.size}) to tell: even predictions that were all "
                           f"right would not beat the majority-class rate {chance:.3f} at "
                           f"alpha = {alpha:g}.", ev)
    if p < alpha:
        return SanityCheck("labels_align", "pass",
                           f"Out-of-fold accuracy {acc:.3f} beats the majority-class rate "
                           f"{chance:.3f} (one-sided binomial p = {p:.2g}).", ev)
    return SanityCheck("labels_align", "fail",
                       f"Out-of-fold accuracy {acc:.3f} does not beat the majority-class rate "
                       f"{chance:.3f} (p = {p:.2g}): the labels do not line up with the features. "
                       "Check the join that attached them (a shifted or shuffled column) and that "
                       "the label column is the one meant.", ev)


def _tiny_subset(x: np.ndarray, y: np.ndarray, n_rows: int, rng: np.random.Generator
                 ) -> SanityCheck:
    try:
        from assay.torch import head_overfit_check
    except ImportError:
        return SanityCheck("tiny_subset", "skipped",
                           "Skipped: the tiny-subset fit needs PyTorch (pip install "
                           "'assay[torch]').")
    # Distinct inputs only: identical inputs with two labels cannot be fitted by any model.
    _, first = np.unique(x, axis=0, return_index=True)
    if first.size < 2:
        return SanityCheck("tiny_subset", "fail",
                           "Every row has the same input: no model can tell the classes apart. "
                           "Check that the feature columns were read (assay audit lists them).",
                           {"n_rows": 1})
    rows = rng.permutation(np.sort(first))[:n_rows]
    xs = x[rows].astype(np.float64)
    xs = (xs - xs.mean(axis=0)) / np.where(xs.std(axis=0) > 0, xs.std(axis=0), 1.0)
    res = head_overfit_check(xs.astype(np.float32), y[rows], n_samples=rows.size,
                             random_state=rng)
    ev = {"n_rows": int(rows.size), "initial_loss": res.initial_loss,
          "final_loss": res.final_loss, "threshold": res.threshold}
    if res.passed:
        return SanityCheck("tiny_subset", "pass",
                           f"A small network fits {rows.size} rows (loss {res.initial_loss:.3f} "
                           f"-> {res.final_loss:.4f}).", ev)
    return SanityCheck("tiny_subset", "fail",
                       f"A small network cannot fit {rows.size} distinct rows (loss "
                       f"{res.initial_loss:.3f} -> {res.final_loss:.3f}, needs <= "
                       f"{res.threshold:g}): the features carry too little (constant or "
                       "missing columns?) or are broken.", ev)


def sanity_checks(
    features: Any,
    labels: Any,
    pred_probs: Any,
    *,
    metric: str = "accuracy",
    target: float | None = None,
    ceiling: Any = None,
    alpha: float = 0.01,
    tiny_rows: int = 32,
    random_state: Any = 0,
) -> SanityReport:
    """Run the sanity checks on features, labels and out-of-fold probabilities.

    Parameters
    ----------
    features : array-like of shape (N, d)
        The model's numeric input (identical rows are identical inputs).
    labels : array-like of shape (N,)
        Class indices ``0..K-1``.
    pred_probs : array-like of shape (N, K)
        Out-of-fold probabilities (each row predicted by a model that never saw it).
    metric : {"accuracy", "balanced_accuracy", "macro_f1"}, default="accuracy"
    target : float, optional
        The score the project needs; checked against the oracle upper bound.
    ceiling : assay.agreement.Ceiling, optional
        Annotators' agreement ceiling (:func:`assay.agreement.annotator_ceiling`).
    alpha : float, default=0.01
        Significance of the alignment test.
    tiny_rows : int, default=32
        Rows of the tiny-subset fit.
    random_state : None, int or numpy.random.Generator

    Returns
    -------
    SanityReport

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from assay.models import cross_val_pred_probs
    >>> from assay.sanity import sanity_checks
    >>> x, y = load_iris(return_X_y=True)
    >>> p = cross_val_pred_probs(x, y)
    >>> sanity_checks(x, y, p).check("labels_align").status
    'pass'
    >>> shuffled = np.random.default_rng(0).permutation(y)
    >>> sanity_checks(x, shuffled, cross_val_pred_probs(x, shuffled)).check("labels_align").status
    'fail'
    """
    x = check_features(features, name="features")
    y = check_labels(labels, name="labels")
    p = check_features(pred_probs, name="pred_probs")
    check_same_length(features=x, labels=y, pred_probs=p)
    n_classes = int(p.shape[1])
    if int(y.max()) >= n_classes:
        raise InputValidationError(
            f"pred_probs has {n_classes} columns but labels use class {int(y.max())}; give one "
            "column per class, in class-index order."
        )
    if metric not in SANITY_METRICS:
        raise InvalidParameterError("metric", "one of " + ", ".join(SANITY_METRICS), metric,
                                    owner=_OWNER)
    if target is not None and not (isinstance(target, int | float) and 0 < target <= 1):
        raise InvalidParameterError("target", f"a score in (0, 1] ({metric})", target,
                                    owner=_OWNER)
    if not (isinstance(alpha, float) and 0 < alpha < 1):
        raise InvalidParameterError("alpha", "a float in (0, 1)", alpha, owner=_OWNER)
    rng = check_random_state(random_state)

    checks = [_alignment(y, p, alpha), _tiny_subset(x, y, int(tiny_rows), rng)]
    bounds: dict[str, float] = {}

    bound, mixed = _identical_input_bound(x, y, metric, n_classes)
    bounds["identical_inputs"] = bound
    ev: dict[str, Any] = {"bound": bound, "rows_in_mixed_groups": mixed}
    checks.append(SanityCheck(
        "identical_inputs", "pass" if mixed == 0 else "warn",
        "No identical inputs carry different labels." if mixed == 0 else
        f"{mixed:,} rows share their input with a row of another label: no model of these "
        f"features scores above {bound:.3f} {metric}.", ev))

    from assay.labels import compute_confident_joint, estimate_label_issues

    joint = compute_confident_joint(y, p)
    noise_bound = metric_ceiling(joint, metric) if joint.sum() > 0 else math.nan
    est = estimate_label_issues(y, p, inputs=x)
    if est.reliable:  # an unreliable estimate measures disagreement, not noise: no bound
        bounds["label_noise_ceiling"] = noise_bound
    ev = {"bound": noise_bound, "estimated_noise_rate": est.noise_rate,
          "estimates_reliable": est.reliable, "caveat": est.caveat}
    msg = (f"A model that predicts the true class perfectly would score about "
           f"{noise_bound:.3f} {metric} against these labels (estimated "
           f"{est.noise_rate:.1%} label errors).")
    if not est.reliable:
        caveat = est.caveat.rstrip(".")
        msg += (" Not counted in the upper bound, the estimate is unreliable: "
                f"{caveat[:1].lower()}{caveat[1:]}.")
    checks.append(SanityCheck("label_noise_ceiling", "info", msg, ev))

    if ceiling is not None:
        human = float(ceiling.ceiling)
        bounds["human_ceiling"] = human
        checks.append(SanityCheck(
            "human_ceiling", "info",
            f"Annotators agree up to a ceiling of {human:.3f} (a single annotator matches the "
            f"others' majority {ceiling.single_annotator_accuracy:.3f}): scores above it are "
            "not credible.",
            {"bound": human, "single_annotator_accuracy": ceiling.single_annotator_accuracy,
             "bayes_error": ceiling.bayes_error}))

    finite = {k: v for k, v in bounds.items() if math.isfinite(v)}
    source = min(finite, key=lambda k: finite[k]) if finite else ""
    upper = finite[source] if finite else math.nan
    if target is not None:
        ev = {"target": float(target), "upper_bound": upper, "bound_source": source}
        if math.isfinite(upper) and target > upper:
            checks.append(SanityCheck(
                "target", "fail",
                f"The target {metric} {target:g} is above the oracle upper bound {upper:.3f} "
                f"({source.replace('_', ' ')}): no model scored against these labels reaches "
                "it. Clean the labels (assay audit, assay review) or change the target.", ev))
        else:
            checks.append(SanityCheck(
                "target", "pass",
                f"The target {metric} {target:g} is below the oracle upper bound {upper:.3f} "
                f"({source.replace('_', ' ')}).", ev))
    return SanityReport(checks=checks, metric=metric, target=target, upper_bound=upper,
                        bound_source=source)
