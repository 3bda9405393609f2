"""``assay.audit``: load, compute the shared artifacts once, run every check, combine."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from assay._audit._context import ArtifactCache, AuditConfig, AuditContext
from assay._audit._map import data_map
from assay._audit._registry import (
    CheckContext,
    CheckSpec,
    UndeclaredNeedError,
    registered_checks,
)
from assay._audit._result import AuditResult, CheckResult
from assay._validation import (
    check_choice,
    check_class_order,
    check_int,
    check_pred_probs,
    mark_validated,
)
from assay.data import Dataset, TaskChoice, load, parse_image_shape, pixel_layout
from assay.distributed import BACKENDS, backend_context
from assay.exceptions import InputValidationError, InvalidParameterError

__all__ = ["audit"]

#: Shared artifacts computed before any check runs (in this order), when a check needs them:
#: a user error there (bad data) is raised once, not recorded as one check's failure.
_NEEDS_ARTIFACT = ("features", "row_content", "pred_probs", "label_flags", "knn", "consensus",
                   "target", "target_predictions", "token_corpus", "token_probs")


def audit(
    data: str | Path | pd.DataFrame | Dataset,
    *,
    label: str | None = None,
    task: str = "auto",
    id: str | None = None,  # noqa: A002
    split: str | None = None,
    group: str | None = None,
    text: str | None = None,
    image: str | None = None,
    features: Sequence[str] | None = None,
    embeddings: Any = None,
    meta: Sequence[str] | None = None,
    pred_probs: Any = None,
    predictions: Any = None,
    model: Any = "auto",
    estimator: Any = None,
    checks: Sequence[str] | None = None,
    k: int = 10,
    n_folds: int = 5,
    text_model: str = "tfidf",
    knn_method: str = "auto",
    label_method: str = "hybrid",
    annotations: Any = None,
    values: Any = None,
    random_state: int = 0,
    n_jobs: int | None = None,
    cache: ArtifactCache | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    config: AuditConfig | None = None,
    image_shape: Any = None,
    backend: str = "local",
    ray_address: str | None = None,
) -> AuditResult:
    """Audit a labelled dataset: label errors, duplicates, outliers, the class profile, and more.

    Parameters
    ----------
    data : path, DataFrame or Dataset
        A file (CSV, TSV, Parquet, JSON Lines), an image folder, a DataFrame, or a loaded
        :class:`assay.Dataset` (then the column-role arguments are ignored).
    label : str
        The label column (required unless ``data`` is a Dataset).
    task : {"auto", "classification", "regression", "multilabel", "tokens", "detection"}
        What the label is (default ``"auto"``). ``"auto"`` reads it from the data: a column of
        boxes (JSON lists of ``[class, x, y, width, height]``; a COCO annotation file loads as
        one row per image with the column ``boxes``) is ``"detection"``, judged by
        ``detection_labels`` against ``predictions``; one tag per token of the text column (or
        of a column named ``tokens``; a CoNLL / IOB file loads as the columns ``tokens`` and
        ``tags``) is ``"tokens"``, judged per token by ``token_labels`` (a row is a sentence);
        the class checks are skipped for both. Otherwise the column decides
        (:func:`assay.data.infer_task`): label sets (lists, JSON lists, or delimited names that
        recur) are ``"multilabel"``,
        judged by ``multilabel_labels`` with the class checks skipped; otherwise classes
        unless it is numeric with more than 20 distinct values, some with a fraction
        or on at least 5 % of the rows (and not exactly the codes 0..K-1 or 1..K). Under
        ``"regression"`` the class-based checks (label issues by confident learning, class
        profile, ambiguous pairs, slices, target leakage, annotators, evaluation size, data
        values) are skipped with the reason, and ``regression_labels`` judges each value against
        out-of-fold predictions; ``summary["task"]`` and ``summary["task_reason"]`` record it.
    id, split, group, text, image, features, embeddings, meta
        Column roles, as in :func:`assay.load`. ``embeddings`` may be an (N, d) array.
    pred_probs : array-like of shape (N, K), optional
        Out-of-fold predicted probabilities from your own model, one column per class in the
        order of the dataset's classes: the sorted distinct labels (``assay.load(...).classes``),
        as scikit-learn's ``classes_`` orders them. Columns that look permuted are refused.
        For a multi-label target: one probability in [0, 1] per class of the label sets, the
        classes sorted (``summary["classes"]``). For tokens: (T, K), one row per token,
        sentence after sentence, one column per tag, the tags sorted. Default: the
        cross-fitted ``model``.
    predictions : path, list, DataFrame or BoxSet, optional
        For an object-detection task (required by its ``detection_labels`` check): your
        detector's predicted boxes with scores, ideally on images it was not trained on. A
        COCO results file or list (``image_id``, ``category_id`` or ``category_name``,
        ``bbox`` ``[x, y, width, height]``, ``score``), a table with the columns ``image_id``
        (or ``file_name``, or ``row``), ``class``, ``x``, ``y``, ``width``, ``height`` and
        ``score``, or an :class:`assay.detection.BoxSet` with one image per row.
    model : {"auto", "logistic", "hgb", "knn", "blend"} or scikit-learn classifier, default="auto"
        Under regression: ``"auto"``, ``"linear"``, ``"hgb"``, ``"blend"`` or a scikit-learn
        regressor (:func:`assay.models.cross_fit_regression`). The classifier whose out-of-fold probabilities the label checks read. ``"auto"`` picks
        per dataset, inside every cross-fitting fold, the candidate with the lowest
        cross-validated log-loss on a sample of that fold's training rows: logistic regression
        or HistGradientBoosting (native categorical and missing-value support, on the raw
        table columns) or their blend for tables; logistic regression, a k-NN head on the
        feature vectors or their blend for text, images and embeddings. A classifier object is cross-fitted on the feature
        vectors. ``summary["model"]`` records the candidates, their scores and the choice.
    estimator : scikit-learn classifier, optional
        Same as passing it as ``model`` (kept for compatibility).
    checks : sequence of str, optional
        Checks to run (default: every registered check the data supports).
    k : int, default=10
        Neighbours in the shared k-NN graph.
    n_folds : int, default=5
    text_model : {"tfidf", "minilm"}, default="tfidf"
    knn_method : {"auto", "exact", "ivf", "faiss"}, default="auto"
    label_method : {"hybrid", "prune_by_noise_rate", "off_diagonal", "posterior"}, default="hybrid"
        See :func:`assay.find_label_issues`.
    values : DataFrame or array-like, optional
        Per-row data values (``assay value``'s ``values.csv``: ``row``, ``data_value``,
        ``is_low_value``; or one value per row). Adds the ``data_values`` check: the
        ``data_value`` and ``is_low_value`` columns join the per-row table, and the summary says
        how many low-value rows are also label issues.
    annotations : DataFrame, optional
        Long-format annotations with columns ``item`` (matching the id column, or the row
        number without one), ``annotator`` and ``label``. Adds the ``annotators`` check
        (Dawid-Skene consensus per row) and counts a confident consensus that contradicts the
        given label as a label issue.
    random_state : int, default=0
    n_jobs : int, optional
        Parallel cross-fitting folds (joblib).
    cache : ArtifactCache, optional
        A workspace that stores and reuses features, probabilities and the k-NN graph.
    progress : callable, optional
        ``progress(step, done, total)`` for long steps.
    config : AuditConfig, optional
        Every option of the checks in one object, including those without a keyword here
        (``metric``: the neighbour distance, ``many`` / ``few``: the long-tail class groups).
        The keywords ``k``, ``n_folds``, ``text_model``, ``knn_method``, ``label_method``,
        ``random_state`` and ``n_jobs`` override its fields when they differ from their defaults.
    image_shape : (int, int) or str, optional
        The rows of a table are grey images of this (height, width), stored pixel by pixel in
        the feature columns (``"28x28"`` works too; ``"none"``: they are not images). Recorded
        in ``summary["image_shape"]``, so the report draws each row as a picture. Default:
        the report detects pixel columns from their names (``pixel_0`` ... ``pixel_63``).

    backend : {"local", "ray"}, default="local"
        Where the parallel work runs (:mod:`assay.distributed`): ``"ray"`` runs the
        cross-fitting folds on a Ray cluster (extra ``dist``), with the same results as
        ``"local"``; the k-NN graph and the checks stay in this process.
        ``summary["backend"]`` records it, with the cluster's address and CPUs.
    ray_address : str, optional
        The Ray cluster under ``backend="ray"``: ``"auto"``, ``"ray://HOST:10001"``, or None
        for a local Ray runtime started for the audit (or the one already running).

    Returns
    -------
    AuditResult

    Examples
    --------
    >>> import assay
    >>> from sklearn.datasets import load_wine
    >>> frame = load_wine(as_frame=True).frame
    >>> result = assay.audit(frame, label="target", checks=["label_issues", "class_profile"])
    >>> sorted(result.checks)
    ['class_profile', 'label_issues']
    """
    t0 = time.perf_counter()
    if isinstance(data, Dataset):
        dataset = data
    else:
        if label is None:
            raise InvalidParameterError(
                "label", "the name of the label column", None, owner="audit",
                hint="Pass label='your_label_column'.",
            )
        dataset = load(data, label=label, id=id, split=split, group=group, text=text,
                       image=image, features=features, embeddings=embeddings, meta=meta)
    t_load = time.perf_counter() - t0
    check_int("k", k, low=1, owner="audit")
    check_choice("backend", backend, BACKENDS, owner="audit")
    if ray_address is not None and backend != "ray":
        raise InvalidParameterError("ray_address", "None unless backend='ray'", ray_address,
                                    owner="audit", hint="Pass backend='ray' as well.")
    choice = _resolve_task(task if task != "auto" else getattr(config, "task", "auto"), dataset)
    corpus = box_preds = labels_boxes = None
    if predictions is not None and choice.task != "detection":
        raise InvalidParameterError(
            "predictions", "None unless the task is detection (predicted boxes)", "given",
            owner="audit", hint="For class probabilities pass pred_probs instead.")
    if choice.task == "detection":  # the boxes are parsed once: a bad cell is raised here
        from assay._audit._detection import box_labels, box_predictions
        from assay.data import with_image_role

        dataset = with_image_role(dataset)
        labels_boxes = box_labels(dataset)
        if predictions is not None:
            box_preds = box_predictions(predictions, dataset, labels_boxes)
        choice = TaskChoice(choice.task, choice.reason, len(labels_boxes.classes))
    if choice.task == "tokens":  # parsed once: a row whose tags and tokens differ is raised here
        from assay._audit._tokens import token_column, token_corpus, with_token_roles

        column = str(token_column(dataset, required=True))
        dataset = with_token_roles(dataset, column)
        corpus = token_corpus(dataset, column)
        choice = TaskChoice(choice.task, choice.reason, len(corpus.classes))
    label_sets = None
    if choice.task == "multilabel":  # parsed once: a row that is no set is raised here
        from assay.data import label_set_form, parse_label_sets

        column = dataset.table[dataset.roles.label]
        indicator, set_classes = parse_label_sets(column, missing="empty")
        label_sets = (indicator, set_classes, label_set_form(column))
        choice = TaskChoice(choice.task, choice.reason, len(set_classes))
    check_choice("label_method", label_method, ("hybrid", "prune_by_noise_rate", "off_diagonal", "posterior"),
                 owner="audit")
    if annotations is not None:
        missing = [c for c in ("item", "annotator", "label") if c not in annotations.columns]
        if missing:
            raise InputValidationError(
                f"annotations need the columns item, annotator and label; missing {missing}. "
                f"Got columns {list(map(str, annotations.columns))}. Rename them first."
            )
    value_frame = None if values is None else align_values(values, dataset)
    user_probs = None
    if pred_probs is not None and choice.task in ("regression", "detection"):
        raise InputValidationError(
            f"pred_probs are class probabilities, but the task is {choice.task} "
            f"({choice.reason}). Leave out pred_probs / --pred-probs"
            + (" and pass your detector's boxes as predictions (--predictions)"
               if choice.task == "detection" else "")
            + ", or pass task='classification' (--task classification) if the label holds "
            "classes.")
    user_set_probs = user_token_probs = None
    if pred_probs is not None and corpus is not None:
        from assay._audit._tokens import token_probs

        user_token_probs = token_probs(pred_probs, corpus)
    elif pred_probs is not None and label_sets is not None:
        user_set_probs = _label_set_probs(pred_probs, dataset, label_sets[1])
    elif pred_probs is not None:
        # the user's matrix itself when it is float64 in [0, 1] (no 800 MB copy per million rows
        # x 100 classes), behind a read-only view: a check that wrote into it would raise
        # instead of changing the caller's data
        if isinstance(pred_probs, np.ndarray) and pred_probs.dtype.kind == "f":
            # float32 probabilities of many rows are widened on disk, not in memory (10M x 100:
            # an 8 GB float64 copy); float64 ones are used as they are
            from assay.data import widened

            pred_probs = widened(pred_probs)
        user_probs = check_pred_probs(pred_probs, n_rows=dataset.n_rows,
                                      n_classes=dataset.n_classes, classes=dataset.classes,
                                      copy=False).view()
        user_probs.flags.writeable = False
        mark_validated(user_probs, "pred_probs")  # the label functions need not scan it again
        check_class_order(dataset.labels, user_probs, dataset.classes)
    shape = parse_image_shape(image_shape, owner="audit")
    if isinstance(shape, tuple):  # the pixel columns must be there: say so before the audit
        pixel_layout(dataset.table, dataset.roles.features, image_shape=shape, owner="audit")
    if dataset.n_rows < 3:
        raise InputValidationError(
            f"The data has {dataset.n_rows} rows; an audit needs at least 3. Add rows."
        )
    model_name, estimator = _check_model(model, estimator, choice.task)
    config = _config(config, model=model_name, k=k, n_folds=n_folds, text_model=text_model,
                     knn_method=knn_method, label_method=label_method,
                     random_state=random_state, n_jobs=n_jobs, task=choice.task)
    ctx = AuditContext(dataset, config, estimator=estimator, user_pred_probs=user_probs,
                       cache=cache, progress=progress, annotations=annotations,
                       values=value_frame, task=choice.task, image_shape=shape,
                       user_label_set_probs=user_set_probs, _label_sets=label_sets,
                       _token_corpus=corpus, user_token_probs=user_token_probs,
                       _boxes=labels_boxes,
                       user_box_predictions=box_preds)
    specs = registered_checks()
    selected = list(specs) if checks is None else list(checks)
    if not selected:
        raise InvalidParameterError(
            "checks", "at least one check name (or None for all of them: " + ", ".join(specs)
            + ")", checks, owner="audit")
    unknown = [c for c in selected if c not in specs]
    if unknown:
        from assay._validation import did_you_mean

        raise InvalidParameterError(
            "checks", "names of registered checks: " + ", ".join(specs), unknown, owner="audit",
            hint=did_you_mean(unknown[0], specs).strip(),
        )
    skipped: dict[str, str] = {}
    runnable = []
    for name in selected:
        missing = [n for n in specs[name].needs if not ctx.available(n)]
        if missing:
            skipped[name] = ctx.why_unavailable(missing)
        else:
            runnable.append(specs[name])
    if user_probs is None and any({"pred_probs", "label_flags"} & set(s.needs) for s in runnable):
        _check_two_per_class(dataset)
    results: dict[str, CheckResult] = {}
    with backend_context(backend, ray_address, owner="audit") as ray_info:
        # Shared artifacts first: a user error here (bad data) is raised, not recorded per check.
        needed = {n for s in runnable for n in (*s.needs, *s.uses) if ctx.available(n)}
        for artifact in _NEEDS_ARTIFACT:
            if artifact in needed:
                if progress is not None:
                    progress(artifact, 0, 1)
                start = time.perf_counter()
                getattr(ctx, artifact)
                # "features" and "knn" time themselves (without a cache hit's lookup)
                ctx.timings.setdefault(artifact, time.perf_counter() - start)
                if progress is not None:
                    progress(artifact, 1, 1)
        for i, spec in enumerate(runnable):
            if progress is not None:
                progress(f"check {spec.name}", i, len(runnable))
            start = time.perf_counter()
            try:
                res = spec.func(cast(AuditContext, CheckContext(ctx, spec)))
                res = _with_duration(res, time.perf_counter() - start)
                _check_outputs(spec, res, dataset.n_rows)
            except UndeclaredNeedError:
                raise  # a bug in the check's specification, not a finding about the data
            except Exception as exc:  # a crashing check is recorded as an error and shown
                res = CheckResult(
                    name=spec.name, status="error", error=f"{type(exc).__name__}: {exc}",
                    message=f"The check crashed: {type(exc).__name__}: {exc}",
                    evidence={"traceback": traceback.format_exc(limit=8)},
                    duration_s=time.perf_counter() - start,
                )
            results[spec.name] = res
    issues = _combine(dataset, results)
    timings = {"load": t_load, **ctx.timings,
               **{f"check.{n}": r.duration_s for n, r in results.items()},
               "total": time.perf_counter() - t0}
    summary = _summary(ctx, results, skipped, timings)
    summary["task"], summary["task_reason"] = choice.task, choice.reason
    summary["backend"] = {"name": backend, **(ray_info or {})}
    outputs = {s.name: s.outputs for s in runnable if s.outputs is not None and s.name in results}
    if shape is not None:
        summary["image_shape"] = list(shape) if isinstance(shape, tuple) else shape
    if ctx._features is not None:  # the features were computed: a 2-D map for the report
        flagged = {n: o for n, o in outputs.items() if results[n].status != "error"}
        summary["map"] = data_map(ctx._features.matrix, issues, flagged,
                                  random_state=ctx.config.random_state)
    return AuditResult(results, issues, summary, outputs)


#: Columns of the issue table that the audit itself writes (a check may name them as details).
_BASE_COLUMNS = frozenset({"row", "id", "given_label"})


def _resolve_task(task: str, dataset: Dataset) -> TaskChoice:
    """The audit's task (:class:`assay.data.TaskChoice`): the one given, or inferred from the
    label column; a regression target must be numbers (raised here, before any work)."""
    from assay._audit._detection import holds_boxes
    from assay._audit._tokens import from_conll, token_column
    from assay.data import TASKS, infer_task, numeric_target

    check_choice("task", task, TASKS, owner="audit")
    column = dataset.table[dataset.roles.label]
    # given explicitly, a cell that holds no boxes is named when the boxes are parsed
    boxes = task == "detection" or task == "auto" and holds_boxes(dataset)
    tokens = token_column(dataset) if task == "auto" and not boxes else None
    if boxes:
        choice = TaskChoice("detection", "given as task='detection'" if task == "detection"
                            else "the label holds boxes ([class, x, y, width, height] per "
                            "image: object detection)", 0)
    elif tokens is not None or task == "auto" and from_conll(dataset):
        choice = TaskChoice("tokens", "the label holds one tag per token of the column "
                            f"'{tokens or 'tokens'}' (token classification)", 0)
    elif task == "auto":
        choice = infer_task(column)
    else:
        choice = TaskChoice(task, f"given as task='{task}'", dataset.n_classes)
    if choice.task == "regression":
        numeric_target(column, column=dataset.roles.label)
    return choice


def _label_set_probs(pred_probs: Any, dataset: Dataset, classes: Any) -> np.ndarray:
    """The user's per-class probabilities of a multi-label target: (N, K), one column per class
    in the order of the parsed ``classes`` (sorted), each in [0, 1]."""
    p = np.asarray(pred_probs, dtype=np.float64)
    shown = ", ".join(map(str, list(classes)[:10])) + (" ..." if len(classes) > 10 else "")
    if p.shape != (dataset.n_rows, len(classes)):
        raise InputValidationError(
            f"pred_probs for a multi-label target must have shape ({dataset.n_rows}, "
            f"{len(classes)}): one row per row and one column per class, in the order "
            f"{shown}; got shape {p.shape}.")
    if not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 1:
        raise InputValidationError(
            "pred_probs for a multi-label target must hold probabilities in [0, 1] (each class "
            f"on its own: rows need not sum to 1); got values from {np.nanmin(p):.3g} to "
            f"{np.nanmax(p):.3g}.")
    return p


def _check_two_per_class(dataset: Dataset) -> None:
    """Out-of-fold probabilities need two rows of every class; name the classes that lack them."""
    counts = np.bincount(dataset.labels, minlength=dataset.n_classes)
    lonely = [str(dataset.classes[i]) for i in np.flatnonzero(counts == 1)]
    if lonely:
        shown = ", ".join(repr(c) for c in lonely[:5]) + (" ..." if len(lonely) > 5 else "")
        raise InputValidationError(
            f"The label column '{dataset.roles.label}' has {len(lonely)} class(es) with a single "
            f"row ({shown}); out-of-fold probabilities need at least 2 rows of every class. "
            "Remove or merge those rows, or pass your own out-of-fold probabilities "
            "(pred_probs / --pred-probs)."
            + (" If the label is a number to predict, pass task='regression' (--task "
               "regression)." if pd.api.types.is_numeric_dtype(
                   dataset.table[dataset.roles.label]) else "")
            + (" If it holds one tag per token of a text column, pass task='tokens' (--task "
               "tokens) and name the tokens column with text= (--text): every row needs as "
               "many tags as tokens." if _looks_like_tags(dataset) else ""))


def _looks_like_tags(dataset: Dataset) -> bool:
    """Most label cells are several space-separated parts (tag sequences that did not line up
    with a tokens column, so the task was read as classes)."""
    column = dataset.table[dataset.roles.label]
    if pd.api.types.is_numeric_dtype(column):
        return False
    sample = column.dropna().astype(str).head(1000)
    return bool(len(sample)) and float((sample.str.split().str.len() > 1).mean()) > 0.5


def _config(config: AuditConfig | None, **given: Any) -> AuditConfig:
    """``config`` (or the defaults) with the keywords that differ from their defaults applied."""
    from dataclasses import fields, replace

    if config is None:
        return AuditConfig(**given)
    if not isinstance(config, AuditConfig):
        raise InvalidParameterError("config", "an assay.AuditConfig", type(config).__name__,
                                    owner="audit")
    defaults = {f.name: f.default for f in fields(AuditConfig)}
    changed = {k: v for k, v in given.items() if k == "model" and v != "auto"
               or k != "model" and v != defaults[k]}
    return replace(config, **changed)


def _check_outputs(spec: CheckSpec, res: CheckResult, n_rows: int) -> None:
    """Every per-row column a check declares in its RowOutputs is written (it may write more)."""
    declared = set(spec.outputs.columns) - _BASE_COLUMNS if spec.outputs is not None else set()
    written = set(res.rows.columns) if res.rows is not None else set()
    if spec.outputs is not None and res.status != "error" and not declared <= written:
        raise UndeclaredNeedError(
            f"check {spec.name!r} declares the per-row columns {sorted(declared - written)} in "
            f"its outputs but did not write them (it wrote {sorted(written)}).")
    if res.rows is not None and len(res.rows) != n_rows:
        raise UndeclaredNeedError(
            f"check {spec.name!r} returned {len(res.rows)} rows; the data has {n_rows}.")


def _check_model(model: Any, estimator: Any, task: str = "classification") -> tuple[str, Any]:
    """(name, estimator object or None) from ``model=`` and the older ``estimator=``."""
    from assay.models import MODEL_NAMES, REGRESSOR_NAMES

    if estimator is not None:
        model = estimator
    if task in ("tokens", "detection"):
        if model != "auto" and task == "detection":
            raise InvalidParameterError(
                "model", "'auto' for a detection task (the audit reads your detector's boxes, "
                "predictions=)", model if isinstance(model, str) else type(model).__name__,
                owner="audit", hint="Pass your detector's predicted boxes as predictions "
                                     "(--predictions) instead.")
        if model != "auto":
            raise InvalidParameterError(
                "model", "'auto' for a tokens task (assay.tokens' hashed-feature logistic "
                "tagger, cross-fitted by sentence)", model if isinstance(model, str)
                else type(model).__name__, owner="audit",
                hint="Pass your own model's out-of-fold per-token probabilities as pred_probs "
                     "(--pred-probs) instead.")
        return "auto", None
    if task == "regression":
        if isinstance(model, str):
            return check_choice("model", model, REGRESSOR_NAMES, owner="audit"), None
        if not (hasattr(model, "fit") and hasattr(model, "predict")):
            raise InvalidParameterError(
                "model", "one of " + ", ".join(REGRESSOR_NAMES) + " for a regression target, "
                "or a scikit-learn regressor with fit and predict", type(model).__name__,
                owner="audit")
        return "custom", model
    if isinstance(model, str):
        return check_choice("model", model, MODEL_NAMES, owner="audit"), None
    if not (hasattr(model, "fit") and hasattr(model, "predict_proba")):
        raise InvalidParameterError(
            "model", "one of " + ", ".join(MODEL_NAMES) + ", or a scikit-learn classifier with "
            "fit and predict_proba", type(model).__name__, owner="audit",
        )
    return "custom", model


def _with_duration(res: CheckResult, seconds: float) -> CheckResult:
    from dataclasses import replace

    return replace(res, duration_s=seconds)


def _combine(dataset: Dataset, results: dict[str, CheckResult]) -> pd.DataFrame:
    n = dataset.n_rows
    frame = pd.DataFrame({
        "row": np.arange(n),
        "id": dataset.ids,
        "given_label": pd.array([dataset.classes[i] for i in dataset.labels], dtype=object),
    })
    parts = [frame]
    for res in results.values():
        if res.rows is not None:
            if len(res.rows) != n:
                raise RuntimeError(f"check {res.name} returned {len(res.rows)} rows, expected {n}")
            parts.append(res.rows.reset_index(drop=True))
    out = pd.concat(parts, axis=1)
    if out.columns.duplicated().any():
        dup = out.columns[out.columns.duplicated()].tolist()
        raise UndeclaredNeedError(
            f"checks wrote the same per-row columns twice: {dup}. Each check's columns must be "
            "its own: rename them in the check (and in its RowOutputs).")
    return out


def _summary(ctx: AuditContext, results: dict[str, CheckResult], skipped: dict[str, str],
             timings: dict[str, float]) -> dict[str, Any]:
    ds = ctx.dataset
    regression = ctx.task == "regression"
    classes = [] if regression else ds.classes
    if ctx.task == "multilabel":
        classes = list(ctx.label_sets[1])
    if ctx.task == "tokens":
        classes = [str(c) for c in ctx.token_corpus.classes]
    if ctx.task == "detection":
        classes = [str(c) for c in ctx.boxes.classes]
    s: dict[str, Any] = {
        "n_rows": ds.n_rows,
        "n_classes": None if regression else len(classes),
        "classes": classes,
        "fingerprint": ds.fingerprint,
        "source": ds.source,
        "roles": ds.roles.to_dict(),
        "random_state": ctx.config.random_state,
        "statuses": {n: r.status for n, r in results.items()},
        "skipped": skipped,
        "timings_s": {k: round(v, 4) for k, v in timings.items()},
    }
    if ctx._features is not None:
        s["featurizer"] = ctx._features.featurizer
        s["feature_dims"] = int(ctx._features.matrix.shape[1])
        s["distance"] = {"metric": ctx._features.metric, "reason": ctx._features.metric_reason}
    if ctx._pred_probs is not None:
        s["pred_probs"] = "user" if ctx.user_pred_probs is not None else "out-of-fold"
        if ctx.user_pred_probs is None:
            s["model"] = ctx.model_summary()
            s["n_folds"] = ctx.config.n_folds
    if ctx._target is not None:
        y = ctx._target
        s["target"] = {"min": float(y.min()), "max": float(y.max()),
                       "median": float(np.median(y)), "n_distinct": int(np.unique(y).size)}
    if ctx._target_crossfit is not None:
        fit = ctx._target_crossfit
        s["predictions"] = "out-of-fold"
        s["model"] = {"source": "out-of-fold", "task": "regression", "name": fit.chosen,
                      "n_folds": fit.n_folds, "seconds": round(fit.seconds, 3),
                      "rows_left_out_of_refit": fit.n_left_out,
                      **({"selection": {"chosen": fit.chosen, "criterion": "out-of-fold mean "
                                        "absolute error", "candidates": fit.candidates}}
                         if fit.candidates else {})}
        s["n_folds"] = fit.n_folds
    if ctx._knn is not None:
        s["knn"] = {"k": ctx._knn.k, "metric": ctx._knn.metric, "method": ctx._knn.method,
                    **ctx._knn.info}
    return s


def align_values(values: Any, dataset: Dataset) -> pd.DataFrame:
    """Per-row data values aligned with the dataset's rows (``data_value``, ``is_low_value``).

    ``values`` is an array of N values, or a DataFrame with a ``data_value`` column (and
    optionally ``is_low_value``), either N rows in the data's order or with a ``row`` column of
    the data's ids (as ``assay value`` writes ``values.csv``).
    """
    if not isinstance(values, pd.DataFrame):
        arr = np.asarray(values, dtype=float).ravel() if np.ndim(values) else np.array([])
        values = pd.DataFrame({"data_value": arr})
    if "data_value" not in values.columns:
        raise InputValidationError(
            f"values need a 'data_value' column (as 'assay value' writes values.csv); got "
            f"columns {list(map(str, values.columns))}."
        )
    n = dataset.n_rows
    if "row" in values.columns:
        ids = pd.Index(pd.Series(dataset.ids).astype(str))
        keyed = values.assign(row=values["row"].astype(str)).drop_duplicates("row")
        pos = ids.get_indexer(keyed["row"])
        missing = int((pos < 0).sum())
        if missing or len(keyed) != n:
            raise InputValidationError(
                f"values cover {len(keyed) - missing} of the data's {n} rows ({missing} ids not "
                "in the data). Pass the values.csv that 'assay value' wrote for this same data."
            )
        values = keyed.iloc[np.argsort(pos)].reset_index(drop=True)
    elif len(values) != n:
        raise InputValidationError(
            f"values have {len(values)} rows but the data has {n}. Pass one value per row, in "
            "the data's order, or a 'row' column of ids."
        )
    out = pd.DataFrame({"data_value": pd.to_numeric(values["data_value"], errors="coerce")})
    if out["data_value"].isna().any():
        raise InputValidationError(
            f"values have {int(out['data_value'].isna().sum())} missing or non-numeric "
            "data_value(s). Value every row."
        )
    if "is_low_value" in values.columns:
        out["is_low_value"] = values["is_low_value"].astype(str).str.lower().isin(
            ["true", "1", "yes"]).to_numpy()
    return out
