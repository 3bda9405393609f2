"""Model choice for the audit: named candidates and a nested, leak-free automatic selection.

``make_model(name, model_input)`` builds one named candidate for the data's kind;
:class:`AutoClassifier` is a scikit-learn classifier that, inside ``fit``, scores its candidates by
cross-validated log-loss on a sample of the rows it is given and then fits the best on all of
them. Cross-fitted (:func:`assay.models.cross_fit`), every outer fold chooses on its own training
rows, so no preprocessing or model selection sees the fold it predicts.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin

from assay.exceptions import InvalidParameterError
from assay.models._input import ModelInput

__all__ = ["MODEL_NAMES", "AutoClassifier", "BlendClassifier", "KNNProbaClassifier",
           "auto_candidates", "make_model"]

#: Names accepted by ``assay.audit(model=...)`` and ``assay audit --model``.
MODEL_NAMES = ("auto", "logistic", "hgb", "knn", "blend")

#: Rows of the training part used to score the candidates (a stratified sample).
SELECTION_ROWS = 3000
#: Seconds after which no further candidate is scored (the ones scored so far compete).
SELECTION_BUDGET_S = 30.0
#: Weights of the blend's second part (HistGradientBoosting on tables, k-NN on vectors) that
#: ``auto`` scores; each is scored from its parts' predictions at no extra fit.
BLEND_WEIGHTS = (0.25, 0.5, 0.75)


def auto_candidates(kind: str) -> tuple[str, ...]:
    """Candidates of ``model="auto"`` for a kind of input.

    Tables: standardised logistic regression, HistGradientBoosting (native categorical and
    missing-value support) and their blend (a weighted mean of the two models' probabilities).
    Vectors (text, images, embeddings): logistic regression, a distance-weighted k-NN head on the
    same vectors, and their blend. The blend is scored at each weight of ``BLEND_WEIGHTS`` from
    its parts' predictions at no extra cost; the best weight competes.

    Examples
    --------
    >>> auto_candidates("table")
    ('logistic', 'hgb', 'blend')
    """
    return ("logistic", "hgb", "blend") if kind == "table" else ("logistic", "knn", "blend")


def make_model(name: str, mi: ModelInput, *, metric: str = "euclidean",
               random_state: int = 0, blend_weight: float = 0.5) -> Any:
    """A fresh, unfitted scikit-learn classifier ``name`` for input ``mi``.

    Parameters
    ----------
    name : {"auto", "logistic", "hgb", "knn", "blend"}
        ``blend`` averages logistic regression with HistGradientBoosting (tables) or with the
        k-NN head (vectors).
    mi : ModelInput
        What the model will read (its kind and categorical columns).
    metric : {"euclidean", "cosine"}, default="euclidean"
        Distance of the k-NN head on vectors.
    random_state : int, default=0
    blend_weight : float, default=0.5
        For ``blend``: the weight of its second part (HistGradientBoosting or the k-NN head);
        logistic regression gets ``1 - blend_weight``.

    Returns
    -------
    estimator
        Every preprocessing step (imputation, one-hot encoding, scaling) sits inside the
        returned pipeline, so it is fitted on training rows only.

    Examples
    --------
    >>> import numpy as np
    >>> from assay.models import ModelInput, make_model
    >>> mi = ModelInput(np.zeros((4, 2)), np.array([False, True]), "table", ["a", "c"])
    >>> type(make_model("hgb", mi)).__name__
    'HGBClassifier'
    """
    if name not in MODEL_NAMES:
        from assay._validation import did_you_mean

        raise InvalidParameterError("model", "one of " + ", ".join(MODEL_NAMES), name,
                                    owner="audit", hint=did_you_mean(name, MODEL_NAMES).strip())
    if name == "auto":
        return AutoClassifier(candidates=auto_candidates(mi.kind), categorical=mi.categorical,
                              kind=mi.kind, metric=metric, random_state=random_state)
    if name == "blend":
        if not 0.0 <= blend_weight <= 1.0:
            raise InvalidParameterError("blend_weight", "a number in [0, 1]", blend_weight,
                                        owner="make_model")
        parts = ("logistic", "hgb") if mi.kind == "table" else ("logistic", "knn")
        return BlendClassifier([make_model(p, mi, metric=metric, random_state=random_state)
                                for p in parts], weights=[1.0 - blend_weight, blend_weight])
    if name == "hgb":
        cat = mi.categorical if mi.categorical.any() else None
        from assay.models._hgb import HGBClassifier

        return HGBClassifier(categorical_features=cat, random_state=random_state)
    if name == "logistic":
        from sklearn.linear_model import LogisticRegression

        return _dense_pipeline(mi, LogisticRegression(max_iter=1000, C=1.0,
                                                      random_state=random_state),
                               mass_points=True)
    if mi.kind == "vectors":  # the featurizer's vectors, in the distance that fits them
        return KNNProbaClassifier(metric=metric)
    return _dense_pipeline(mi, KNNProbaClassifier(metric="euclidean"))


#: A numeric table column whose most frequent value holds at least this share of the training
#: rows gets an indicator of that value for the linear model (:class:`MassPoints`).
MASS_POINT_SHARE = 0.1


class MassPoints(TransformerMixin, BaseEstimator):
    """Append, for each numeric column with a point mass, the indicator ``x == v``.

    A column whose most frequent value ``v`` holds at least ``min_share`` of the training rows,
    at least twice as many as any other value, and that has more than two distinct values
    (hours worked, earnings, counts: zero for many rows) gets the column ``x == v`` appended.
    A linear model on the raw value cannot put a step at the mass point; with the indicator it
    can (a boosted tree finds it by itself).
    Which columns and values is learnt in ``fit`` (on training rows only); missing values are
    never equal to ``v``.

    Parameters
    ----------
    min_share : float, default=MASS_POINT_SHARE

    Examples
    --------
    >>> import numpy as np
    >>> from assay.models import MassPoints
    >>> x = np.array([[0.0, 1.0], [0.0, 2.0], [3.5, 3.0], [7.0, 4.0], [0.0, 5.0]])
    >>> MassPoints().fit(x).transform(x).tolist()[:3]  # column 0 has a mass at 0, column 1 none
    [[0.0, 1.0, 1.0], [0.0, 2.0, 1.0], [3.5, 3.0, 0.0]]
    """

    def __init__(self, min_share: float = MASS_POINT_SHARE):
        self.min_share = min_share

    def fit(self, x: Any, y: Any = None) -> MassPoints:
        """Find the columns with a point mass and their values."""
        x = np.asarray(x, dtype=np.float64)
        cols, vals = [], []
        for j in range(x.shape[1]):
            v = x[:, j][np.isfinite(x[:, j])]
            if not v.size:
                continue
            values, counts = np.unique(v, return_counts=True)
            if values.size <= 2:
                continue
            top = int(np.argmax(counts))
            second = np.partition(counts, -2)[-2]
            if counts[top] >= self.min_share * x.shape[0] and counts[top] >= 2 * second:
                cols.append(j)
                vals.append(values[top])
        self.columns_ = np.asarray(cols, dtype=np.int64)
        self.values_ = np.asarray(vals, dtype=np.float64)
        return self

    def transform(self, x: Any) -> np.ndarray:
        """``x`` with one indicator column per point mass appended."""
        x = np.asarray(x, dtype=np.float64)
        if not self.columns_.size:
            return x
        return np.hstack([x, (x[:, self.columns_] == self.values_).astype(np.float64)])


def _dense_pipeline(mi: ModelInput, final: Any, *, mass_points: bool = False) -> Any:
    """Impute (median, with missing indicators), one-hot the categories, standardise; then
    ``final``. With ``mass_points`` the numeric table columns first get :class:`MassPoints`
    indicators. All fitted on the training rows only."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    points = [MassPoints()] if mass_points and mi.kind == "table" else []
    if mi.kind == "vectors" or not mi.categorical.any():
        if mi.kind == "table":
            return make_pipeline(*points, SimpleImputer(strategy="median", add_indicator=True,
                                                        keep_empty_features=True),
                                 StandardScaler(), final)
        return make_pipeline(StandardScaler(), final)
    num = np.flatnonzero(~mi.categorical)
    cat = np.flatnonzero(mi.categorical)
    parts: list[tuple[str, Any, Any]] = []
    if num.size:
        parts.append(("num", make_pipeline(
            *points,
            SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            StandardScaler()), num))
    parts.append(("cat", make_pipeline(
        SimpleImputer(strategy="constant", fill_value=-1.0),
        OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=20,
                      sparse_output=False)), cat))
    return make_pipeline(ColumnTransformer(parts), StandardScaler(), final)


class KNNProbaClassifier(ClassifierMixin, BaseEstimator):
    """Distance-weighted k-NN probabilities with add-one smoothing (no zero probabilities).

    ``P(class j | x) = (sum of weights of neighbours in j + alpha / K) / (sum of weights + alpha)``
    with weights ``1 / (distance + eps)`` normalised to sum to ``k``, so one neighbour never
    decides alone and log-loss stays finite.

    Examples
    --------
    >>> import numpy as np
    >>> from assay.models import KNNProbaClassifier
    >>> x = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [5.2]])
    >>> m = KNNProbaClassifier(n_neighbors=3).fit(x, [0, 0, 0, 1, 1, 1])
    >>> m.predict([[0.05], [5.05]]).tolist()
    [0, 1]
    """

    def __init__(self, n_neighbors: int = 15, metric: str = "euclidean", alpha: float = 1.0):
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.alpha = alpha

    def fit(self, x: Any, y: Any) -> KNNProbaClassifier:
        """Store the training rows."""
        self.x_ = np.ascontiguousarray(x, dtype=np.float32)
        y = np.asarray(y)
        self.classes_, self.y_ = np.unique(y, return_inverse=True)
        return self

    def predict_proba(self, x: Any) -> np.ndarray:
        """Smoothed neighbour-vote probabilities, columns in the order of ``classes_``."""
        from assay.neighbors import knn_query

        q = np.ascontiguousarray(x, dtype=np.float32)
        k = int(min(self.n_neighbors, self.x_.shape[0]))
        idx, dist = knn_query(self.x_, q, k=k, metric=self.metric)
        w = 1.0 / (dist.astype(np.float64) + 1e-6)
        w *= k / np.maximum(w.sum(axis=1, keepdims=True), 1e-300)
        n_cls = len(self.classes_)
        votes = np.zeros((q.shape[0], n_cls))
        np.add.at(votes, (np.repeat(np.arange(q.shape[0]), k), self.y_[idx].ravel()), w.ravel())
        votes += self.alpha / n_cls
        return votes / votes.sum(axis=1, keepdims=True)

    def predict(self, x: Any) -> np.ndarray:
        """Most probable class."""
        return np.asarray(self.classes_[np.argmax(self.predict_proba(x), axis=1)])


class BlendClassifier(ClassifierMixin, BaseEstimator):
    """The (weighted) mean of several classifiers' probabilities, each fitted on the same rows.

    ``weights`` (default equal) are normalised to sum to one.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from assay.models import BlendClassifier
    >>> x, y = load_iris(return_X_y=True)
    >>> m = BlendClassifier([LogisticRegression(max_iter=500), DecisionTreeClassifier()])
    >>> m.fit(x, y).predict_proba(x[:1]).sum().round(6)
    np.float64(1.0)
    """

    def __init__(self, estimators: list[Any], weights: list[float] | None = None):
        self.estimators = estimators
        self.weights = weights

    def __repr__(self) -> str:
        parts = ", ".join(type(e).__name__ for e in self.estimators)
        w = self._weights()
        if np.allclose(w, w[0]):
            return f"BlendClassifier({parts})"
        return f"BlendClassifier({parts}; weights " + ", ".join(f"{v:g}" for v in w) + ")"

    def _weights(self) -> np.ndarray:
        n = len(self.estimators)
        w = np.ones(n) if self.weights is None else np.asarray(self.weights, dtype=np.float64)
        if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise InvalidParameterError(
                "weights", f"{n} non-negative numbers, not all zero (one per estimator)",
                self.weights, owner="BlendClassifier")
        return w / w.sum()

    def fit(self, x: Any, y: Any) -> BlendClassifier:
        """Fit every part on ``(x, y)``."""
        from sklearn.base import clone

        self.weights_ = self._weights()
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        self.estimators_ = [clone(e).fit(x, y) for e in self.estimators]
        return self

    def predict_proba(self, x: Any) -> np.ndarray:
        """Weighted mean of the parts' probabilities, columns in the order of ``classes_``."""
        out = np.zeros((np.shape(x)[0], len(self.classes_)))
        for w, e in zip(self.weights_, self.estimators_, strict=True):
            out[:, np.searchsorted(self.classes_, e.classes_)] += w * e.predict_proba(x)
        return out

    def predict(self, x: Any) -> np.ndarray:
        """Most probable class."""
        return np.asarray(self.classes_[np.argmax(self.predict_proba(x), axis=1)])


class AutoClassifier(ClassifierMixin, BaseEstimator):
    """Choose among named candidates by cross-validated log-loss, then fit the best.

    ``fit(x, y)`` scores each candidate on a stratified sample of at most ``max_rows`` of the
    rows it is given (``inner_folds``-fold cross-validation, log-loss against every class), stops
    scoring further candidates once ``budget_s`` seconds have passed, and fits the candidate with
    the lowest log-loss on all rows. The blend is scored at each weight of ``blend_weights``
    from its parts' predictions and competes with its best weight. ``selection_`` records every
    candidate's log-loss, accuracy and seconds (the blend's with its ``weight``), and the choice.
    Used inside cross-fitting, each outer fold chooses on its own training rows only.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from assay.models import AutoClassifier
    >>> x, y = load_iris(return_X_y=True)
    >>> m = AutoClassifier(candidates=("logistic", "knn"), kind="vectors").fit(x, y)
    >>> m.selection_["chosen"] in ("logistic", "knn")
    True
    """

    def __init__(self, candidates: tuple[str, ...] = ("logistic", "hgb"),
                 categorical: Any = None, kind: str = "table", metric: str = "euclidean",
                 max_rows: int = SELECTION_ROWS, inner_folds: int = 3,
                 budget_s: float = SELECTION_BUDGET_S, random_state: int = 0,
                 blend_weights: tuple[float, ...] = BLEND_WEIGHTS):
        self.candidates = candidates
        self.categorical = categorical
        self.kind = kind
        self.metric = metric
        self.max_rows = max_rows
        self.inner_folds = inner_folds
        self.budget_s = budget_s
        self.random_state = random_state
        self.blend_weights = blend_weights

    def __repr__(self) -> str:
        return f"AutoClassifier(candidates={tuple(self.candidates)!r})"

    def _input(self, x: np.ndarray) -> ModelInput:
        cat = (np.zeros(x.shape[1], dtype=bool) if self.categorical is None
               else np.asarray(self.categorical, dtype=bool))
        return ModelInput(x, cat, self.kind, [])

    def fit(self, x: Any, y: Any) -> AutoClassifier:
        """Score the candidates on a sample of ``(x, y)``, fit the best on all of it."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        mi = self._input(x)
        sample = _stratified_sample(y, self.max_rows, self.random_state)
        xs, ys = x[sample], y[sample]
        scores: dict[str, dict[str, Any]] = {}
        oof: dict[str, np.ndarray] = {}
        start = time.perf_counter()
        for name in self.candidates:
            if name == "blend":
                parts = [n for n in self.candidates if n != "blend"]
                if not all(n in oof for n in parts):
                    scores[name] = {"skipped": "its parts were not all scored"}
                    continue
                # the second part's weight; the first (logistic regression) gets the rest
                tried = [(w, *_scores((1.0 - w) * oof[parts[0]] + w * np.mean(
                    [oof[n] for n in parts[1:]], axis=0), ys, self.classes_))
                    for w in self.blend_weights]
                w, ll, acc = min(tried, key=lambda t: (t[1], abs(t[0] - 0.5)))
                scores[name] = {"log_loss": ll, "accuracy": acc, "weight": w,
                                "seconds": round(sum(scores[n]["seconds"] for n in parts), 3)}
                continue
            if ys.size < 2 * self.inner_folds:  # no honest inner score on a handful of rows
                scores[name] = {"skipped": f"{ys.size} rows: too few to score "
                                           f"{self.inner_folds}-fold"}
                continue
            if scores and time.perf_counter() - start > self.budget_s:
                scores[name] = {"skipped": f"time budget of {self.budget_s:g} s spent"}
                continue
            t0 = time.perf_counter()
            oof[name] = _cv_proba(
                lambda n=name: make_model(n, mi, metric=self.metric,
                                          random_state=self.random_state),
                xs, ys, self.classes_, self.inner_folds, self.random_state)
            ll, acc = _scores(oof[name], ys, self.classes_)
            scores[name] = {"log_loss": ll, "accuracy": acc,
                            "seconds": round(time.perf_counter() - t0, 3)}
        scored = [n for n in self.candidates if "log_loss" in scores[n]]
        # nothing scored (a few rows): the first, simplest candidate
        chosen = min(scored, key=lambda n: (scores[n]["log_loss"], scored.index(n))) \
            if scored else self.candidates[0]
        t0 = time.perf_counter()
        weight = scores.get(chosen, {}).get("weight", 0.5)
        self.model_ = make_model(chosen, mi, metric=self.metric, random_state=self.random_state,
                                 blend_weight=weight).fit(x, y)
        self.selection_ = {"candidates": scores, "chosen": chosen, "n_rows_scored": int(xs.shape[0]),
                           "selection_seconds": round(t0 - start, 3),
                           "fit_seconds": round(time.perf_counter() - t0, 3)}
        return self

    def predict_proba(self, x: Any) -> np.ndarray:
        """Probabilities of the chosen model, columns in the order of ``classes_``."""
        proba = self.model_.predict_proba(np.asarray(x, dtype=np.float64))
        out = np.zeros((proba.shape[0], len(self.classes_)))
        out[:, np.searchsorted(self.classes_, self.model_.classes_)] = proba
        return out

    def predict(self, x: Any) -> np.ndarray:
        """Most probable class."""
        return np.asarray(self.classes_[np.argmax(self.predict_proba(x), axis=1)])


def _stratified_sample(y: np.ndarray, max_rows: int, random_state: int) -> np.ndarray:
    """Row indices: all rows when few, else a stratified sample of ``max_rows`` (every class
    keeps at least min(its count, 3) rows)."""
    n = y.size
    if n <= max_rows:
        return np.arange(n)
    rng = np.random.default_rng(random_state)
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    take = np.maximum(np.minimum(counts, 3), np.round(counts * max_rows / n).astype(np.int64))
    out = [rng.choice(np.flatnonzero(inverse == c), size=int(t), replace=False)
           for c, t in enumerate(take)]
    return np.sort(np.concatenate(out))


def _cv_proba(build: Any, x: np.ndarray, y: np.ndarray, classes: np.ndarray, folds: int,
              random_state: int) -> np.ndarray:
    """Out-of-fold probabilities of ``build()`` on ``(x, y)``, columns in ``classes`` order."""
    from sklearn.model_selection import KFold, StratifiedKFold

    _, counts = np.unique(y, return_counts=True)
    if counts.min() >= folds:
        splitter: Any = StratifiedKFold(folds, shuffle=True, random_state=random_state)
    else:
        splitter = KFold(folds, shuffle=True, random_state=random_state)
    proba = np.zeros((y.size, classes.size))
    for train, test in splitter.split(x, y):
        model = build().fit(x[train], y[train])
        p = model.predict_proba(x[test])
        proba[np.ix_(test, np.searchsorted(classes, model.classes_))] = p
    return proba


def _scores(proba: np.ndarray, y: np.ndarray, classes: np.ndarray) -> tuple[float, float]:
    """Log-loss (probabilities clipped at 1e-6) and accuracy."""
    proba = np.clip(proba, 1e-6, 1.0)
    proba /= proba.sum(axis=1, keepdims=True)
    pos = np.searchsorted(classes, y)
    ll = float(-np.mean(np.log(proba[np.arange(y.size), pos])))
    acc = float(np.mean(proba.argmax(axis=1) == pos))
    return round(ll, 5), round(acc, 5)
