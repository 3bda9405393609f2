"""The shared artifacts of one audit, computed once on first use and reused by every check."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from assay._audit._spec import (
    BOX_NEEDS,
    CLASS_NEEDS,
    LABEL_SET_NEEDS,
    TARGET_NEEDS,
    TOKEN_NEEDS,
)
from assay.data import Dataset, Features, featurize
from assay.neighbors import KnnGraph, knn_graph

if TYPE_CHECKING:
    from assay.labels import LabelIssueEstimate
    from assay.models import CrossFit, ModelInput, RegressionCrossFit

__all__ = ["AuditConfig", "AuditContext", "ArtifactCache", "PARALLEL_FOLD_ROWS"]

#: From this many rows the cross-fitting folds are fitted in parallel processes by default.
PARALLEL_FOLD_ROWS = 20_000


class ArtifactCache(Protocol):
    """Where computed artifacts may be stored and found again (a workspace)."""

    def get_or_compute(
        self, kind: str, fingerprint: str, params: dict[str, Any], compute: Callable[[], Any]
    ) -> Any: ...


@dataclass(frozen=True)
class AuditConfig:
    """Options shared by the checks (every threshold has a default with a stated source)."""

    k: int = 10
    metric: str = "auto"  # "auto": the distance the featurizer chose (Features.metric)
    knn_method: str = "auto"
    n_folds: int = 5
    text_model: str = "tfidf"
    label_method: str = "hybrid"
    model: str = "auto"
    many: int = 100
    few: int = 20
    random_state: int = 0
    n_jobs: int | None = None
    task: str = "auto"  # "auto": assay.data.infer_task on the label column


@dataclass
class AuditContext:
    """Typed, lazily computed artifacts of an audit.

    Checks read ``features``, ``pred_probs`` and ``knn`` from here; each is computed on first
    use, once, and (with a cache) reused across runs on the same dataset fingerprint.
    """

    dataset: Dataset
    config: AuditConfig = field(default_factory=AuditConfig)
    estimator: Any = None
    user_pred_probs: np.ndarray | None = None
    cache: ArtifactCache | None = None
    progress: Callable[[str, int, int], None] | None = None
    annotations: Any = None
    values: Any = None  # per-row data values (DataFrame aligned with the rows), when given
    task: str = "classification"  # the resolved task: classification, regression, multilabel
    # the user's image shape ((H, W), "none", or None for auto-detection; parse_image_shape)
    image_shape: Any = None
    _features: Features | None = None
    _pred_probs: np.ndarray | None = None
    _knn: KnnGraph | None = None
    _label_estimate: LabelIssueEstimate | None = None
    _model_input: ModelInput | None = None
    _crossfit: CrossFit | None = None
    _row_content: Any = field(default=None, repr=False)
    _consensus: Any = field(default=None, repr=False)
    _target: np.ndarray | None = None
    _target_crossfit: RegressionCrossFit | None = None
    _label_sets: Any = None
    _label_set_crossfit: Any = None
    user_label_set_probs: np.ndarray | None = None
    _token_corpus: Any = None  # TokenCorpus of a tokens task, built by the audit
    user_token_probs: np.ndarray | None = None
    _token_probs: np.ndarray | None = None
    _boxes: Any = None  # BoxSet of a detection task's annotations
    user_box_predictions: Any = None  # BoxSet of the user's predicted boxes
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def labels(self) -> np.ndarray:
        """Encoded labels (N,)."""
        return self.dataset.labels

    def available(self, need: str) -> bool:
        """Whether the data can supply ``need`` (a check's requirement)."""

        roles = self.dataset.roles
        if need in CLASS_NEEDS and self.task != "classification":
            return False
        if need in TARGET_NEEDS:
            return self.task == "regression"
        if need in LABEL_SET_NEEDS:
            return self.task == "multilabel"
        if need in TOKEN_NEEDS:
            return self.task == "tokens"
        if need in BOX_NEEDS:
            return self.task == "detection" and (
                need == "boxes" or self.user_box_predictions is not None)
        if need in ("features", "plain_table") and self.task == "detection":
            # the images, never the bookkeeping columns (ids, file names, sizes)
            return need == "features" and roles.image is not None
        return {
            "labels": True, "features": True, "row_content": True, "pred_probs": True,
            "label_flags": True, "knn": True,
            "split": roles.split is not None, "group": roles.group is not None,
            "meta": bool(roles.meta), "annotations": self.annotations is not None,
            "consensus": self.annotations is not None, "values": self.values is not None,
            "plain_table": need == "plain_table" and self._plain_table(),
        }.get(need, False)

    def _plain_table(self) -> bool:
        """The model reads the raw table columns (no text, image or embedding columns), and
        they are not the pixels of an image."""
        from assay.data import pixel_layout

        roles = self.dataset.roles
        if roles.text is not None or roles.image is not None or roles.embedding_column:
            return False
        if self.dataset.embeddings is not None:  # decided without the model's float64 copy of
            return False                         # them (1 GB at 1M rows x 128)
        if self.model_input.kind != "table" or len(self.model_input.columns) < 2:
            return False
        if self.image_shape == "none":  # the user says the columns are not pixels
            return True
        shape = self.image_shape if isinstance(self.image_shape, tuple) else None
        return pixel_layout(self.dataset.table, roles.features, image_shape=shape,
                            owner="audit") is None

    def why_unavailable(self, missing: list[str]) -> str:
        """Why a check whose needs ``missing`` the data cannot supply is skipped, in words: the
        roles the data lacks whatever the task, else the task it is not for."""

        label = self.dataset.roles.label
        if "plain_table" in missing:
            return ("plain tables only: the data has text, images, embeddings or pixel columns, "
                    "or fewer than 2 feature columns the model reads as they are")
        if self.task == "detection" and "features" in missing:
            return ("needs the images (the file_name column's files next to the data, or "
                    "image=...): without them the rows are bookkeeping columns, not images")
        if self.task == "detection" and missing == ["box_predictions"]:
            return ("needs your detector's predicted boxes with scores (predictions=, "
                    "--predictions: a COCO results file or a table)")
        other = [n for n in missing if n not in
                 CLASS_NEEDS | TARGET_NEEDS | LABEL_SET_NEEDS | TOKEN_NEEDS | BOX_NEEDS]
        if other:
            return "needs " + ", ".join(other)
        what = {"regression": "is a regression target", "multilabel": "holds label sets",
                "classification": "holds classes", "tokens": "holds one tag per token",
                "detection": "holds boxes"}[self.task]
        if CLASS_NEEDS & set(missing):
            return (f"classification only (needs {', '.join(missing)}); the label '{label}' "
                    f"{what}")
        if LABEL_SET_NEEDS & set(missing):
            return (f"multi-label only (needs {', '.join(missing)}); the label '{label}' {what}: "
                    "pass task='multilabel' (--task multilabel) if it holds sets of classes")
        if BOX_NEEDS & set(missing):
            return (f"object detection only (needs {', '.join(missing)}); the label '{label}' "
                    f"{what}: pass task='detection' (--task detection) if it holds boxes")
        if TOKEN_NEEDS & set(missing):
            return (f"token classification only (needs {', '.join(missing)}); the label "
                    f"'{label}' {what}: pass task='tokens' (--task tokens) if it holds one tag "
                    "per token")
        return (f"regression only (needs {', '.join(missing)}); the label '{label}' {what}: "
                "pass task='regression' (--task regression) if it is a number")

    @property
    def target(self) -> np.ndarray:
        """The label as finite float64 numbers (N,), for a regression task."""
        if self._target is None:
            from assay.data import numeric_target

            label = self.dataset.roles.label
            self._target = numeric_target(self.dataset.table[label], column=label)
        return self._target

    @property
    def target_predictions(self) -> np.ndarray:
        """Out-of-fold predictions of the numeric target (N,)."""
        return self.target_crossfit.predictions

    @property
    def target_crossfit(self) -> RegressionCrossFit:
        """The regression model's out-of-fold predictions (:func:`assay.regression.
        fit_target_predictions`: the model chosen by out-of-fold absolute error, refitted
        without the rows it finds far off). Folds come from a hash of each row's id (its group
        with a group column), so they do not depend on the order of the rows."""
        if self._target_crossfit is None:
            from assay.models import fold_ids
            from assay.regression import fit_target_predictions

            cfg = self.config
            ds = self.dataset
            keys = ds.table[ds.roles.group].to_numpy() if ds.roles.group is not None else ds.ids
            folds = fold_ids(keys, n_folds=cfg.n_folds, random_state=cfg.random_state)
            if self.estimator is not None:  # the user's regressor reads the dense features
                x, mi, model, kind = self.features.matrix, None, self.estimator, "vectors"
            else:
                mi = self.model_input
                x, model, kind = mi.matrix, cfg.model, mi.kind
            params = {"n_folds": cfg.n_folds, "random_state": cfg.random_state,
                      "model": repr(model), "grouped": ds.roles.group is not None,
                      "input": kind, "columns": (mi.columns if mi is not None else [])[:200],
                      "features": self.features.featurizer if kind == "vectors" else "",
                      "version": 1}

            def progress(done: int, total: int) -> None:
                if self.progress is not None:
                    self.progress("cross-fitting", done, total)

            self._target_crossfit = self._cached(
                "target_predictions", params,
                lambda: fit_target_predictions(
                    x, self.target, model=model, model_input=mi, folds=folds,
                    random_state=cfg.random_state, n_jobs=self._fold_jobs(),
                    progress=progress))
        return self._target_crossfit

    @property
    def label_sets(self) -> Any:
        """The multi-label target: ``(indicator (N, K) uint8, classes, form)``, ``form`` how the
        column writes a set (:func:`assay.data.label_set_form`), for the export."""
        if self._label_sets is None:
            from assay.data import label_set_form, parse_label_sets

            column = self.dataset.table[self.dataset.roles.label]
            indicator, classes = parse_label_sets(column, missing="empty")
            self._label_sets = (indicator, classes, label_set_form(column))
        return self._label_sets

    @property
    def label_set_probs(self) -> np.ndarray:
        """Out-of-fold probabilities (N, K) of each class of a multi-label target, or the
        user's."""
        if self.user_label_set_probs is not None:
            return self.user_label_set_probs
        return self.label_set_crossfit.pred_probs

    @property
    def label_set_inputs(self) -> np.ndarray | None:
        """The rows as the per-class models read them, for the identical-input test; None with
        the user's probabilities or classifier."""
        if self.user_label_set_probs is not None or self.estimator is not None:
            return None
        return self.model_input.matrix

    @property
    def label_set_crossfit(self) -> Any:
        """One binary model per class on one set of folds
        (:func:`assay.multilabel.cross_fit_multilabel_probs`); folds from a hash of each row's id
        (its group with a group column), as for a regression target."""
        if self._label_set_crossfit is None:
            from assay.models import fold_ids
            from assay.multilabel import cross_fit_multilabel_probs

            cfg = self.config
            ds = self.dataset
            keys = ds.table[ds.roles.group].to_numpy() if ds.roles.group is not None else ds.ids
            folds = fold_ids(keys, n_folds=cfg.n_folds, random_state=cfg.random_state)
            x: Any
            if self.estimator is not None:
                x, model, kind = self.features.matrix, self.estimator, "vectors"
            else:
                mi = self.model_input
                # "auto": logistic regression on vectors, HistGradientBoosting on a table, one
                # per class (a nested choice per class and fold costs K times a single one)
                x, model, kind = mi, None if cfg.model == "auto" else cfg.model, mi.kind
            params = {"n_folds": cfg.n_folds, "random_state": cfg.random_state,
                      "model": repr(model), "grouped": ds.roles.group is not None,
                      "input": kind, "features": self.features.featurizer
                      if kind == "vectors" else "", "version": 1}

            def progress(done: int, total: int) -> None:
                if self.progress is not None:
                    self.progress("cross-fitting", done, total)

            self._label_set_crossfit = self._cached(
                "label_set_probs", params,
                lambda: cross_fit_multilabel_probs(
                    x, self.label_sets[0], model=model, folds=folds,
                    random_state=cfg.random_state, n_jobs=self._fold_jobs(),
                    progress=progress))
        return self._label_set_crossfit

    @property
    def boxes(self) -> Any:
        """The annotated boxes of a detection task (:class:`assay.detection.BoxSet`, image
        ``i`` = row ``i``)."""
        if self._boxes is None:
            from assay._audit._detection import box_labels

            self._boxes = box_labels(self.dataset)
        return self._boxes

    @property
    def box_predictions(self) -> Any:
        """The user's predicted boxes on the same images and classes."""
        return self.user_box_predictions

    @property
    def token_corpus(self) -> Any:
        """The sentences of a tokens task as a :class:`assay.tokens.TokenCorpus` (row ``i`` of
        the data is sentence ``i``)."""
        if self._token_corpus is None:
            from assay._audit._tokens import token_corpus

            self._token_corpus = token_corpus(self.dataset)
        return self._token_corpus

    @property
    def token_probs(self) -> np.ndarray:
        """Out-of-fold tag probabilities (T, K) of every token
        (:func:`assay.tokens.cross_fit_token_probs`; folds by sentence), or the user's. Ours are
        float32 in an anonymous file on disk (:func:`assay.data.disk_array`), read in blocks:
        never in memory whole."""
        if self.user_token_probs is not None:
            return self.user_token_probs
        if self._token_probs is None:
            from assay.data import disk_array
            from assay.tokens import cross_fit_token_probs

            cfg = self.config
            corpus = self.token_corpus

            def progress(done: int, total: int) -> None:
                if self.progress is not None:
                    self.progress("cross-fitting", done, total)

            def compute() -> np.ndarray:  # written fold by fold to an anonymous file on disk
                out = disk_array((corpus.n_tokens, len(corpus.classes)), np.float32)
                return cross_fit_token_probs(corpus, n_folds=cfg.n_folds,
                                             random_state=cfg.random_state,
                                             n_jobs=self._fold_jobs(), progress=progress,
                                             out=out)

            params = {"n_folds": cfg.n_folds, "random_state": cfg.random_state,
                      "model": "hashed-feature logistic tagger", "version": 2}
            self._token_probs = self._cached("token_probs", params, compute)
        return self._token_probs

    @property
    def consensus(self) -> Any:
        """Dawid-Skene consensus per dataset row, computed once for every check that reads it
        (columns ``consensus_label``, ``confidence``, ``agreement``, ``annotators_disagree``;
        NaN where a row has no annotations)."""
        if self._consensus is None:
            from assay.consensus import consensus_labels

            ann = self.annotations
            cons = consensus_labels(ann, item="item", annotator="annotator", label="label",
                                    method="dawid_skene", random_state=self.config.random_state)
            ids = [str(i) for i in self.dataset.ids]
            cons = cons.assign(item=cons["item"].astype(str)).set_index("item")
            self._consensus = cons.reindex(ids).reset_index(drop=True)
        return self._consensus

    @property
    def features(self) -> Features:
        """Float32 features (user embeddings when given)."""
        if self._features is None:
            cfg = self.config
            self._features = self._cached(
                "features", {"text_model": cfg.text_model, "random_state": cfg.random_state,
                             "version": 2},
                lambda: featurize(self.dataset, text_model=cfg.text_model,
                                  random_state=cfg.random_state),
            )
        return self._features

    @property
    def row_content(self) -> Any:
        """Raw row content for exact copies (image files by the hash of their bytes), read once
        per audit (:func:`assay.data.row_content`); None with user embeddings."""
        if self._row_content is None:
            from assay.data import row_content

            self._row_content = (row_content(self.dataset),)
        return self._row_content[0]

    @property
    def model_input(self) -> ModelInput:
        """What the classifier reads: the raw table columns for a plain table, else the
        featurizer's vectors (:func:`assay.models.model_input`)."""
        if self._model_input is None:
            from assay.models import model_input

            self._model_input = model_input(self.dataset, vectors=lambda: self.features.matrix)
        return self._model_input

    @property
    def pred_probs(self) -> np.ndarray:
        """Out-of-fold predicted probabilities (N, K), or the user's."""
        if self._pred_probs is None:
            if self.user_pred_probs is not None:
                self._pred_probs = self.user_pred_probs
            else:
                self._pred_probs = self.crossfit.pred_probs
        return self._pred_probs

    @property
    def crossfit(self) -> CrossFit:
        """The cross-fitted model's out-of-fold probabilities and per-fold model choice."""
        if self._crossfit is None:
            from assay.models import cross_fit, make_model

            cfg = self.config
            group = None
            if self.dataset.roles.group is not None:
                group = self.dataset.table[self.dataset.roles.group].to_numpy()
            if self.estimator is not None:  # the user's classifier reads the dense features
                x, kind, columns = self.features.matrix, "vectors", []
                estimator = self.estimator
            else:
                mi = self.model_input
                x, kind, columns = mi.matrix, mi.kind, mi.columns
                metric = self.features.metric if mi.kind == "vectors" else "euclidean"
                estimator = make_model(cfg.model, mi, metric=metric,
                                       random_state=cfg.random_state)
            params = {"n_folds": cfg.n_folds, "random_state": cfg.random_state,
                      "estimator": repr(estimator), "grouped": group is not None,
                      "input": kind, "columns": columns[:200],
                      "features": self.features.featurizer if kind == "vectors" else "",
                      "version": 2}

            def compute() -> CrossFit:
                from dataclasses import replace

                res = cross_fit(x, self.labels, estimator=estimator,
                                n_folds=cfg.n_folds, group=group, random_state=cfg.random_state,
                                n_jobs=self._fold_jobs(), progress=self._fold_progress)
                k = self.dataset.n_classes
                probs = res.pred_probs
                if probs.shape[1] < k:  # classes after the largest present index
                    probs = np.hstack([probs, np.zeros((probs.shape[0], k - probs.shape[1]))])
                return replace(res, pred_probs=probs)

            self._crossfit = self._cached("pred_probs", params, compute)
        return self._crossfit

    def _fold_jobs(self) -> int | None:
        """Parallel fold fits: the user's ``n_jobs``, else one process per core (at most one per
        fold) from 20,000 rows on, where a fold's fit outweighs starting a worker."""
        import os

        if self.config.n_jobs is not None:
            return self.config.n_jobs
        if self.dataset.n_rows < PARALLEL_FOLD_ROWS or _distributed():
            return None  # in this process; or on a cluster, as wide as its backend says
        return max(1, min(self.config.n_folds, os.cpu_count() or 1))

    def model_summary(self) -> dict[str, object]:
        """What produced the probabilities: the user, a given estimator, or the automatic
        choice with every candidate's score (recorded in audit.json and the report)."""
        if self.user_pred_probs is not None:
            return {"source": "user"}
        if self._crossfit is None:
            return {}
        out: dict[str, object] = {"source": "out-of-fold", "n_folds": len(self._crossfit.folds),
                                  "seconds": round(self._crossfit.seconds, 3)}
        if self.estimator is None:
            mi = self.model_input
            out["input"] = mi.kind
            if mi.kind == "table":
                out["input_columns"] = {k: v for k, v in mi.info.items() if k != "source"}
        else:
            out["input"] = "vectors"
        sel = self._crossfit.selection()
        if sel is not None:
            out.update({"name": sel["chosen"], "selection": sel})
        elif self.estimator is not None:
            out["name"] = repr(self.estimator)
        else:
            out["name"] = self.config.model
        return out

    @property
    def knn(self) -> KnnGraph:
        """The one k-NN graph shared by every neighbourhood check."""
        if self._knn is None:
            cfg = self.config
            n = self.dataset.n_rows
            k = min(cfg.k, n - 1)
            metric = self.features.metric if cfg.metric == "auto" else cfg.metric
            params = {"k": k, "metric": metric, "method": cfg.knn_method,
                      "features": self.features.featurizer}
            self._knn = self._cached(
                "knn", params,
                lambda: knn_graph(self.features.matrix, k=k, metric=metric,
                                  method=cfg.knn_method, random_state=cfg.random_state),
            )
        return self._knn

    @property
    def label_estimate(self) -> LabelIssueEstimate:
        """The label-issue flags with their estimates (``assay.labels.LabelIssueEstimate``),
        computed once: the error probabilities serve both the ``hybrid`` flags and the
        estimates."""
        if self._label_estimate is None:
            from assay.labels import estimate_label_issues, find_label_issues

            method = self.config.label_method
            flagged = None if method == "hybrid" else find_label_issues(
                self.labels, self.pred_probs, method=method)
            self._label_estimate = estimate_label_issues(
                self.labels, self.pred_probs, flagged=flagged, inputs=self._conflict_inputs())
        return self._label_estimate

    def _conflict_inputs(self) -> np.ndarray:
        """The rows as the model read them (raw table columns or feature vectors), for the
        identical-input test of :func:`assay.labels.input_label_conflicts`."""
        if self.estimator is None and self.user_pred_probs is None:
            return self.model_input.matrix
        return self.features.matrix

    @property
    def label_flags(self) -> np.ndarray:
        """Rows flagged as label issues (computed once, shared by the checks that use them)."""
        return self.label_estimate.flagged

    def _fold_progress(self, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress("cross-fitting", done, total)

    def _cached(self, kind: str, params: dict[str, Any], compute: Callable[[], Any]) -> Any:
        import time

        start = time.perf_counter()
        if self.cache is None:
            value = compute()
        else:
            value = self.cache.get_or_compute(kind, self.dataset.fingerprint, params, compute)
        self.timings[kind] = time.perf_counter() - start
        return value


def _distributed() -> bool:
    """Whether joblib's active backend runs tasks off this machine (Ray, from
    :func:`assay.distributed.ray_backend`): this machine's core count does not bound them."""
    from joblib.parallel import get_active_backend

    backend, _ = get_active_backend()
    return type(backend).__name__ == "RayBackend"
