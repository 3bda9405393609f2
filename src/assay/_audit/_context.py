"""The shared artifacts of one audit, computed once on first use and reused by every check."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from assay.data import Dataset, Features, featurize
from assay.neighbors import KnnGraph, knn_graph

if TYPE_CHECKING:
    from assay.labels import LabelIssueEstimate

__all__ = ["AuditConfig", "AuditContext", "ArtifactCache"]


class ArtifactCache(Protocol):
    """Where computed artifacts may be stored and found again (a workspace)."""

    def get_or_compute(
        self, kind: str, fingerprint: str, params: dict[str, Any], compute: Callable[[], Any]
    ) -> Any: ...


@dataclass(frozen=True)
class AuditConfig:
    """Options shared by the checks (every threshold has a default with a stated source)."""

    k: int = 10
    metric: str = "cosine"
    knn_method: str = "auto"
    n_folds: int = 5
    text_model: str = "tfidf"
    label_method: str = "hybrid"
    many: int = 100
    few: int = 20
    random_state: int = 0
    n_jobs: int | None = None


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
    _features: Features | None = None
    _pred_probs: np.ndarray | None = None
    _knn: KnnGraph | None = None
    _label_estimate: LabelIssueEstimate | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def labels(self) -> np.ndarray:
        """Encoded labels (N,)."""
        return self.dataset.labels

    def available(self, need: str) -> bool:
        """Whether the data can supply ``need`` (a check's requirement)."""
        roles = self.dataset.roles
        return {
            "labels": True, "features": True, "pred_probs": True, "knn": True,
            "split": roles.split is not None, "group": roles.group is not None,
            "meta": bool(roles.meta), "annotations": self.annotations is not None,
            "values": self.values is not None,
        }.get(need, False)

    @property
    def features(self) -> Features:
        """Float32 features (user embeddings when given)."""
        if self._features is None:
            cfg = self.config
            self._features = self._cached(
                "features", {"text_model": cfg.text_model, "random_state": cfg.random_state},
                lambda: featurize(self.dataset, text_model=cfg.text_model,
                                  random_state=cfg.random_state),
            )
        return self._features

    @property
    def pred_probs(self) -> np.ndarray:
        """Out-of-fold predicted probabilities (N, K), or the user's."""
        if self._pred_probs is None:
            if self.user_pred_probs is not None:
                self._pred_probs = self.user_pred_probs
            else:
                from assay.models import cross_val_pred_probs

                cfg = self.config
                group = None
                if self.dataset.roles.group is not None:
                    group = self.dataset.table[self.dataset.roles.group].to_numpy()
                params = {"n_folds": cfg.n_folds, "random_state": cfg.random_state,
                          "estimator": repr(self.estimator), "grouped": group is not None,
                          "features": self.features.featurizer}

                def compute() -> np.ndarray:
                    probs = cross_val_pred_probs(
                        self.features.matrix, self.labels, estimator=self.estimator,
                        n_folds=cfg.n_folds, group=group, random_state=cfg.random_state,
                        n_jobs=cfg.n_jobs, progress=self._fold_progress,
                    )
                    k = self.dataset.n_classes
                    if probs.shape[1] < k:  # classes after the largest present index
                        probs = np.hstack([probs, np.zeros((probs.shape[0], k - probs.shape[1]))])
                    return probs

                self._pred_probs = self._cached("pred_probs", params, compute)
        return self._pred_probs

    @property
    def knn(self) -> KnnGraph:
        """The one k-NN graph shared by every neighbourhood check."""
        if self._knn is None:
            cfg = self.config
            n = self.dataset.n_rows
            k = min(cfg.k, n - 1)
            params = {"k": k, "metric": cfg.metric, "method": cfg.knn_method,
                      "features": self.features.featurizer}
            self._knn = self._cached(
                "knn", params,
                lambda: knn_graph(self.features.matrix, k=k, metric=cfg.metric,
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
            self._label_estimate = estimate_label_issues(self.labels, self.pred_probs,
                                                         flagged=flagged)
        return self._label_estimate

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
