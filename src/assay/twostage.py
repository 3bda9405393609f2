"""Two-stage pipelines: what stage 1's errors cost stage 2, and what training on them recovers.

When stage 2 reads stage 1's output (a detector's class, a tagger's tag), training stage 2 on
the human-made intermediate labels hides stage 1's errors until deployment
(``shared/seeds-digest.md``, 001). :func:`two_stage` measures it on held-out rows, with stage 2
trained and tested three ways:

- **oracle**: trained and tested on the gold intermediate labels: stage 2's upper bound if
  stage 1 were perfect;
- **naive**: trained on gold, tested on stage 1's predictions: what deploying the usual recipe
  gives;
- **robust**: trained on stage 1's out-of-fold predictions, tested on its predictions: stage 2
  trained to expect stage 1's errors.

The gaps (oracle - naive, oracle - robust) come with paired bootstrap intervals, and are split by
where they come from: the rows stage 1 gets right or wrong, and each gold intermediate class.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from assay._validation import check_features, check_int, check_labels, check_same_length
from assay.exceptions import InputValidationError, InvalidParameterError

__all__ = ["TWO_STAGE_METRICS", "TwoStageResult", "pipeline", "two_stage"]

TWO_STAGE_METRICS = ("accuracy", "balanced_accuracy", "macro_f1")
VARIANTS = ("oracle", "naive", "robust")
_OWNER = "two_stage"


@dataclass(frozen=True)
class TwoStageResult:
    """What :func:`two_stage` measured on the held-out rows.

    Attributes
    ----------
    metric : str
    scores : dict of str to float
        Stage 2's score per variant (``oracle``, ``naive``, ``robust``).
    intervals : dict of str to (float, float)
        Paired bootstrap intervals (``level``) of ``oracle - naive``, ``oracle - robust`` and
        ``robust - naive`` (keys ``gap_naive``, ``gap_robust``, ``recovery``).
    stage1_accuracy : float
        Stage 1's accuracy on the held-out rows.
    by_stage1 : pandas.DataFrame
        Per held-out group (``stage 1 right`` / ``stage 1 wrong``): rows and each variant's
        accuracy on them.
    by_class : pandas.DataFrame
        Per gold intermediate class: rows, stage 1's recall, and its share of the naive gap
        (``gap_naive_share``: the class's rows' accuracy lost, over all held-out rows; the
        shares sum to the accuracy gap).
    n_train, n_test : int
    level : float
    """

    metric: str
    scores: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    stage1_accuracy: float
    by_stage1: pd.DataFrame
    by_class: pd.DataFrame
    n_train: int
    n_test: int
    level: float = 0.95
    notes: list[str] = field(default_factory=list)

    @property
    def gap_naive(self) -> float:
        """``oracle - naive``: what stage 1's errors cost a stage 2 trained on gold inputs."""
        return self.scores["oracle"] - self.scores["naive"]

    @property
    def gap_robust(self) -> float:
        """``oracle - robust``: what they still cost when stage 2 is trained on stage 1's
        out-of-fold outputs."""
        return self.scores["oracle"] - self.scores["robust"]

    def message(self) -> str:
        """The finding in two sentences."""
        lo, hi = self.intervals["gap_naive"]
        rlo, rhi = self.intervals["recovery"]
        m = self.metric.replace("_", " ")
        errs = f"Stage 1's errors ({1 - self.stage1_accuracy:.1%} of held-out rows)"
        detail = (f"({self.scores['oracle']:.3f} with gold inputs -> {self.scores['naive']:.3f} "
                  f"with stage 1's; {self.level:.0%} interval of the gap {lo:+.3f} to {hi:+.3f})")
        if lo > 0:
            text = f"{errs} cost stage 2, trained on gold inputs, {self.gap_naive:.3f} {m} {detail}. "
        else:
            text = f"{errs} cost stage 2 no measurable {m} {detail}. "
        rec = self.scores["robust"] - self.scores["naive"]
        if rlo > 0:
            text += (f"Training stage 2 on stage 1's out-of-fold outputs recovers {rec:+.3f} "
                     f"({rlo:+.3f} to {rhi:+.3f}): train it that way.")
        elif rhi < 0:
            text += (f"Training stage 2 on stage 1's out-of-fold outputs does worse ({rec:+.3f}, "
                     f"{rlo:+.3f} to {rhi:+.3f}): keep gold inputs.")
        else:
            text += (f"Training stage 2 on stage 1's out-of-fold outputs changes it by "
                     f"{rec:+.3f} ({rlo:+.3f} to {rhi:+.3f}): no clear difference.")
        return text

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "metric": self.metric, "scores": dict(self.scores),
            "gap_naive": self.gap_naive, "gap_robust": self.gap_robust,
            "intervals": {k: list(v) for k, v in self.intervals.items()},
            "stage1_accuracy": self.stage1_accuracy, "n_train": self.n_train,
            "n_test": self.n_test, "level": self.level, "message": self.message(),
            "by_stage1": self.by_stage1.to_dict(orient="records"),
            "by_class": self.by_class.to_dict(orient="records"), "notes": list(self.notes),
        }


def _score(y: np.ndarray, pred: np.ndarray, metric: str, n_classes: int) -> float:
    if metric == "accuracy":
        return float(np.mean(pred == y))
    present = np.bincount(y, minlength=n_classes) > 0
    hits = np.bincount(y[pred == y], minlength=n_classes).astype(float)
    support = np.bincount(y, minlength=n_classes).astype(float)
    if metric == "balanced_accuracy":
        return float(np.mean(hits[present] / support[present]))
    predicted = np.bincount(pred, minlength=n_classes).astype(float)
    denom = support + predicted
    f1 = np.divide(2 * hits, denom, out=np.zeros_like(hits), where=denom > 0)
    return float(np.mean(f1[present]))


def _stage2_input(x: np.ndarray, stage1: np.ndarray) -> np.ndarray:
    return np.hstack([x, stage1])


def two_stage(
    features: Any,
    stage1_labels: Any,
    labels: Any,
    *,
    stage1_estimator: Any = None,
    stage2_estimator: Any = None,
    metric: str = "accuracy",
    test_size: float = 0.25,
    n_folds: int = 5,
    n_bootstrap: int = 1000,
    level: float = 0.95,
    random_state: int = 0,
    n_jobs: int | None = None,
) -> TwoStageResult:
    """Measure what stage 1's errors cost stage 2, and what training stage 2 on them recovers.

    Rows are split once (stratified by ``labels``) into training and held-out rows. Stage 1
    (``stage1_labels`` from ``features``) gives out-of-fold class probabilities on the training
    rows (:func:`assay.models.cross_val_pred_probs`) and, refitted on all training rows,
    probabilities on the held-out rows. Stage 2 (``labels`` from ``features`` plus the stage-1
    output: one-hot gold labels or stage 1's probabilities) is trained and scored three ways:
    ``oracle`` (gold / gold), ``naive`` (gold / predicted), ``robust`` (out-of-fold predicted /
    predicted). Differences get paired bootstrap intervals over the held-out rows.

    Parameters
    ----------
    features : array-like of shape (N, d)
        What both stages read (numeric).
    stage1_labels : array-like of shape (N,)
        The intermediate classes ``0..K1-1`` stage 1 predicts (gold, human-made).
    labels : array-like of shape (N,)
        Stage 2's classes ``0..K2-1``.
    stage1_estimator, stage2_estimator : scikit-learn classifier, optional
        Default: :func:`assay.models.default_estimator` (standardised logistic regression).
    metric : {"accuracy", "balanced_accuracy", "macro_f1"}, default="accuracy"
    test_size : float, default=0.25
    n_folds : int, default=5
        Folds of stage 1's out-of-fold predictions.
    n_bootstrap : int, default=1000
    level : float, default=0.95
    random_state : int, default=0
    n_jobs : int, optional

    Returns
    -------
    TwoStageResult

    Examples
    --------
    >>> import numpy as np
    >>> from assay.twostage import two_stage
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(1500, 2))
    >>> kind = (x[:, 0] + rng.normal(0, 0.7, 1500) > 0).astype(int)  # stage 1 errs ~24 %
    >>> final = (kind ^ (x[:, 1] > 0)).astype(int)                     # needs the right kind
    >>> res = two_stage(x, kind, final, n_bootstrap=200)
    >>> res.scores["oracle"] > res.scores["naive"]
    True
    """
    from sklearn.base import clone
    from sklearn.model_selection import train_test_split

    from assay.models import cross_val_pred_probs, default_estimator

    x = check_features(features, name="features")
    y1 = check_labels(stage1_labels, name="stage1_labels")
    y2 = check_labels(labels, name="labels")
    check_same_length(features=x, stage1_labels=y1, labels=y2)
    if metric not in TWO_STAGE_METRICS:
        raise InvalidParameterError("metric", "one of " + ", ".join(TWO_STAGE_METRICS), metric,
                                    owner=_OWNER)
    if not (isinstance(test_size, float) and 0.05 <= test_size <= 0.5):
        raise InvalidParameterError("test_size", "a float in [0.05, 0.5]", test_size,
                                    owner=_OWNER)
    if not (isinstance(level, float) and 0.5 < level < 1):
        raise InvalidParameterError("level", "a float in (0.5, 1)", level, owner=_OWNER)
    n_bootstrap = check_int("n_bootstrap", n_bootstrap, low=100, owner=_OWNER)
    n_folds = check_int("n_folds", n_folds, low=2, owner=_OWNER)
    k1, k2 = int(y1.max()) + 1, int(y2.max()) + 1
    counts = np.bincount(y2, minlength=k2)
    if counts[counts > 0].min() < 2:
        raise InputValidationError(
            "Every stage-2 class needs at least 2 rows (one to train on, one to hold out); "
            f"class(es) {np.flatnonzero(counts == 1).tolist()} have 1.")
    n_present = int((counts > 0).sum())
    n_test = math.ceil(test_size * y2.size)
    if n_test < n_present or y2.size - n_test < 2 * n_present:
        raise InputValidationError(
            f"Too few rows for a two-stage measurement: {y2.size} rows of {n_present} stage-2 "
            f"classes leave {n_test} held out (test_size={test_size:g}) and "
            f"{y2.size - n_test} to train on; at least one held-out row and two training rows "
            "per class are needed. Add rows.")
    est1 = default_estimator(random_state=random_state) if stage1_estimator is None \
        else stage1_estimator
    est2 = default_estimator(random_state=random_state) if stage2_estimator is None \
        else stage2_estimator
    train, test = train_test_split(np.arange(y2.size), test_size=test_size, stratify=y2,
                                   random_state=random_state)
    c1 = np.bincount(y1[train], minlength=k1)
    if c1[c1 > 0].min() < 2:
        raise InputValidationError(
            "Every stage-1 class present in the training rows needs at least 2 rows for "
            f"out-of-fold predictions; class(es) {np.flatnonzero(c1 == 1).tolist()} have 1.")

    # Stage 1: out-of-fold on the training rows, refitted on all of them for the held-out rows.
    p1_train = np.zeros((train.size, k1))
    oof = cross_val_pred_probs(x[train], y1[train], estimator=est1, n_folds=n_folds,
                               random_state=random_state, n_jobs=n_jobs)
    p1_train[:, : oof.shape[1]] = oof
    m1 = clone(est1).fit(x[train], y1[train])
    p1_test = np.zeros((test.size, k1))
    p1_test[:, np.asarray(m1.classes_, dtype=np.int64)] = m1.predict_proba(x[test])
    gold = np.eye(k1)

    def fit_predict(train_in: np.ndarray, test_in: np.ndarray) -> np.ndarray:
        m2 = clone(est2).fit(_stage2_input(x[train], train_in), y2[train])
        return np.asarray(m2.predict(_stage2_input(x[test], test_in)), dtype=np.int64)

    preds = {
        "oracle": fit_predict(gold[y1[train]], gold[y1[test]]),
        "naive": fit_predict(gold[y1[train]], p1_test),
        "robust": fit_predict(p1_train, p1_test),
    }
    yt = y2[test]
    scores = {k: _score(yt, p, metric, k2) for k, p in preds.items()}

    rng = np.random.default_rng(random_state)
    boot = {k: np.empty(n_bootstrap) for k in VARIANTS}
    for b in range(n_bootstrap):
        idx = rng.integers(0, yt.size, yt.size)
        for k, p in preds.items():
            boot[k][b] = _score(yt[idx], p[idx], metric, k2)
    q = ((1 - level) / 2, 1 - (1 - level) / 2)

    def interval(d: np.ndarray) -> tuple[float, float]:
        lo, hi = np.quantile(d, q)
        return float(lo), float(hi)

    intervals = {"gap_naive": interval(boot["oracle"] - boot["naive"]),
                 "gap_robust": interval(boot["oracle"] - boot["robust"]),
                 "recovery": interval(boot["robust"] - boot["naive"])}

    s1_right = p1_test.argmax(axis=1) == y1[test]
    rows = []
    for name, mask in (("stage 1 right", s1_right), ("stage 1 wrong", ~s1_right)):
        rec: dict[str, Any] = {"rows": name, "n": int(mask.sum())}
        for k, p in preds.items():
            rec[f"{k}_accuracy"] = float(np.mean(p[mask] == yt[mask])) if mask.any() \
                else math.nan
        rows.append(rec)
    by_stage1 = pd.DataFrame(rows)
    hit = {k: (p == yt).astype(float) for k, p in preds.items()}
    per_class = []
    for c in range(k1):
        mask = y1[test] == c
        if not mask.any():
            continue
        per_class.append({
            "stage1_class": c, "n": int(mask.sum()),
            "stage1_recall": float(np.mean(s1_right[mask])),
            "gap_naive_share": float((hit["oracle"][mask] - hit["naive"][mask]).sum() / yt.size),
            "gap_robust_share": float(
                (hit["oracle"][mask] - hit["robust"][mask]).sum() / yt.size),
        })
    by_class = pd.DataFrame(per_class).sort_values("gap_naive_share", ascending=False,
                                                   kind="stable").reset_index(drop=True)
    notes = []
    if s1_right.all():
        notes.append("Stage 1 made no mistake on the held-out rows: the variants differ only by "
                     "how stage 2 was trained.")
    return TwoStageResult(metric=metric, scores=scores, intervals=intervals,
                          stage1_accuracy=float(np.mean(s1_right)), by_stage1=by_stage1,
                          by_class=by_class, n_train=int(train.size), n_test=int(test.size),
                          level=level, notes=notes)


#: ``assay.pipeline``: the two-stage measurement under the name the essay uses.
pipeline = two_stage
