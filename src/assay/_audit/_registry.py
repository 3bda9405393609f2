"""The check specification: the one place that says what a check needs and what it produces.

A check is a function ``check(ctx) -> CheckResult`` registered with :func:`register_check`. Its
specification (:class:`CheckSpec`) declares

- ``needs``: the context artifacts and data roles it reads (:data:`NEEDS`). A need the data cannot
  supply skips the check (the audit says why); a name not in :data:`NEEDS` is an error at
  registration; reading an artifact that was not declared is an error when the check runs
  (:class:`UndeclaredNeedError`). ``uses`` lists optional needs: read when available, ``None``
  otherwise.
- ``outputs``: its per-row columns (:class:`RowOutputs`): the flag, the score and which end of it
  is worse, a group, detail columns, the ``--fail-on`` metric. From these the audit's metrics,
  the stored findings (so ``assay diff`` sees every check) and the default review queue are
  generated.
- ``queue``: how its review queue is ordered (:class:`QueueSpec`), or a builder for special
  queues (the label spot check, the ambiguous pairs).
- ``section``: an optional report-section builder; without one the report shows a generic
  section (status, message, thresholds, summary).

Checks are discovered: every module of ``assay._audit.checks`` is imported, so a new check is one
module (and its test); see docs/architecture.md, "Adding a check".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from assay._audit._spec import RowOutputs
from assay.exceptions import AssayError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from assay._audit._context import AuditContext
    from assay._audit._result import CheckResult

__all__ = [
    "NEEDS",
    "CheckSpec",
    "QueueSpec",
    "RowOutputs",
    "UndeclaredNeedError",
    "queue_names",
    "register_check",
    "registered_checks",
    "review_queues",
]

CheckFunc = Callable[["AuditContext"], "CheckResult"]

#: What a check may declare in ``needs`` / ``uses``, with what the context hands it.
NEEDS: dict[str, str] = {
    "labels": "ctx.labels: the encoded class labels (a classification task)",
    "features": "ctx.features: the featurized rows (assay.data.Features)",
    "row_content": "ctx.row_content: the raw row content that exact copies are judged on",
    "pred_probs": "ctx.pred_probs (and ctx.crossfit, ctx.user_pred_probs): out-of-fold "
                  "probabilities",
    "label_flags": "ctx.label_flags and ctx.label_estimate: the shared label-issue flags and "
                   "their estimate (computes pred_probs)",
    "knn": "ctx.knn: the shared k-NN graph",
    "split": "a split column (--split)",
    "group": "a group column (--group)",
    "meta": "meta columns to slice by (--meta)",
    "annotations": "ctx.annotations: long-format annotations (--annotations)",
    "consensus": "ctx.consensus: Dawid-Skene consensus per row, computed once (needs annotations)",
    "values": "ctx.values: per-row data values (--values)",
    "target": "ctx.target: the label as numbers (a regression task)",
    "plain_table": "ctx.model_input: the raw table columns the model reads (a table without "
                   "text, image, embedding or pixel columns)",
    "target_predictions": "ctx.target_predictions (and ctx.target_crossfit): out-of-fold "
                          "predictions of the numeric target (a regression task)",
    "label_sets": "ctx.label_sets: the label sets as an indicator matrix, their classes and "
                  "written form (a multi-label task)",
    "label_set_probs": "ctx.label_set_probs (and ctx.label_set_crossfit): out-of-fold "
                       "probabilities of each class of a multi-label target, or the user's",
    "token_corpus": "ctx.token_corpus: the sentences, their tokens and tags "
                    "(assay.tokens.TokenCorpus; a tokens task)",
    "token_probs": "ctx.token_probs (and ctx.user_token_probs): out-of-fold tag probabilities "
                   "of every token (a tokens task), or the user's",
    "boxes": "ctx.boxes: the annotated boxes of every image (assay.detection.BoxSet; a "
             "detection task)",
    "box_predictions": "ctx.box_predictions: the user's predicted boxes with scores on the same "
                       "images (a detection task; predictions=, --predictions)",
}


#: Context attributes that are handed only to checks that declared the need.
GATED: dict[str, str] = {
    "features": "features", "row_content": "row_content", "pred_probs": "pred_probs",
    "crossfit": "pred_probs", "user_pred_probs": "pred_probs", "label_flags": "label_flags",
    "label_estimate": "label_flags", "knn": "knn", "annotations": "annotations",
    "consensus": "consensus", "values": "values", "target": "target",
    "target_predictions": "target_predictions", "target_crossfit": "target_predictions",
    "model_input": "plain_table", "label_sets": "label_sets", "label_set_probs": "label_set_probs",
    "label_set_crossfit": "label_set_probs", "user_label_set_probs": "label_set_probs",
    "label_set_inputs": "label_set_probs", "token_corpus": "token_corpus",
    "token_probs": "token_probs", "user_token_probs": "token_probs", "boxes": "boxes",
    "box_predictions": "box_predictions",
}
#: Context attributes every check may read.
OPEN: frozenset[str] = frozenset({"dataset", "config", "labels", "available", "task"})


class UndeclaredNeedError(AssayError):
    """A check read a context artifact it did not declare in ``needs`` or ``uses``."""


#: A queue builder: (issue table, check results) -> {queue name: (rows mask, order key)}; the
#: order key is ascending (worst first).
QueueBuilder = Callable[["pd.DataFrame", Mapping[str, Any]],
                        "dict[str, tuple[np.ndarray, np.ndarray]]"]


@dataclass(frozen=True)
class QueueSpec:
    """How the review app queues a check's rows.

    Attributes
    ----------
    name : str, optional
        The queue's name (default: the check's name).
    order : {"score", "row", "group"}
        Flagged rows worst score first (``RowOutputs.worse``), in row order, or set by set.
    build : callable, optional
        A builder for queues that are not "the flagged rows" (it returns one or more queues);
        replaces ``order``.
    names : tuple of str
        The queues a builder may return.
    position : int
        Where the queue goes among the app's tabs (lower first).
    positions : mapping of str to int
        A builder's queues' own positions (default ``position``).
    """

    name: str | None = None
    order: Literal["score", "row", "group"] = "score"
    build: QueueBuilder | None = None
    names: tuple[str, ...] = ()
    position: int = 100
    positions: Mapping[str, int] = field(default_factory=dict)

    def queue_names(self, check: str) -> tuple[str, ...]:
        """The queues this spec may produce (a builder's ``names``, else one)."""
        return self.names if self.build is not None else (self.name or check,)


@dataclass(frozen=True)
class CheckSpec:
    """A registered check: what it needs, what it writes, how it is reviewed and reported."""

    name: str
    needs: tuple[str, ...]
    func: CheckFunc
    description: str
    uses: tuple[str, ...] = ()
    outputs: RowOutputs | None = None
    queue: QueueSpec | None = None
    section: Callable[..., dict[str, Any] | None] | None = None


_REGISTRY: dict[str, CheckSpec] = {}


def register_check(
    name: str,
    *,
    needs: tuple[str, ...],
    uses: tuple[str, ...] = (),
    outputs: RowOutputs | None = None,
    queue: QueueSpec | None = None,
    section: Callable[..., dict[str, Any] | None] | None = None,
) -> Callable[[CheckFunc], CheckFunc]:
    """Decorator adding a check to the registry under ``name`` (see the module docstring).

    Raises
    ------
    ValueError
        When the name is taken, a need is not one of :data:`NEEDS`, or a queue is declared
        without per-row outputs to queue (and no builder).
    """

    def wrap(func: CheckFunc) -> CheckFunc:
        if name in _REGISTRY and _REGISTRY[name].func is not func:
            raise ValueError(f"check {name!r} is registered twice")
        unknown = [n for n in (*needs, *uses) if n not in NEEDS]
        if unknown:
            from assay._validation import did_you_mean

            raise ValueError(
                f"check {name!r} declares unknown need(s) {unknown}; known needs: "
                f"{', '.join(NEEDS)}.{did_you_mean(unknown[0], NEEDS)}")
        if queue is not None and queue.build is None and outputs is None:
            raise ValueError(f"check {name!r} declares a review queue but no per-row outputs")
        if queue is not None and queue.build is not None and not queue.names:
            raise ValueError(f"check {name!r} has a queue builder but names no queues")
        doc = (func.__doc__ or "").strip().splitlines()
        _REGISTRY[name] = CheckSpec(name, tuple(needs), func, doc[0] if doc else "",
                                    tuple(uses), outputs, queue, section)
        return func

    return wrap


def unregister_check(name: str) -> None:
    """Remove a check (tests that register their own checks clean up with this)."""
    _REGISTRY.pop(name, None)


def registered_checks() -> dict[str, CheckSpec]:
    """Every registered check, in registration order (imports the built-in checks first)."""
    import assay._audit.checks  # noqa: F401  (discovers and registers the built-in checks)

    return dict(_REGISTRY)


def queue_names() -> tuple[str, ...]:
    """Every review queue the registered checks can produce, in tab order."""
    found = []
    for i, spec in enumerate(registered_checks().values()):
        q = spec.queue
        if q is None:
            continue
        for j, name in enumerate(q.queue_names(spec.name)):
            found.append((q.positions.get(name, q.position), i * 100 + j, name))
    return tuple(name for _, _, name in sorted(found))


def review_queues(issues: pd.DataFrame,
                  checks: Mapping[str, Any]) -> dict[str, tuple[np.ndarray, np.ndarray, Any]]:
    """The review queues the registered checks declare, in tab order.

    Returns ``{queue: (rows mask, ascending order key, group column or None)}`` for the checks
    whose outputs are in ``issues`` (a check that did not run has no queue).
    """

    found: list[tuple[int, int, str, tuple[np.ndarray, np.ndarray, Any]]] = []
    for i, spec in enumerate(registered_checks().values()):
        q = spec.queue
        if q is None:
            continue
        if q.build is not None:
            if spec.outputs is not None and not all(c in issues for c in spec.outputs.flags):
                continue
            if spec.outputs is None and spec.name not in checks:
                continue
            for j, (qname, (mask, order)) in enumerate(q.build(issues, checks).items()):
                found.append((q.positions.get(qname, q.position), i * 100 + j, qname,
                              (mask, order, None)))
            continue
        out = spec.outputs
        assert out is not None  # noqa: S101 - checked at registration
        if not all(c in issues for c in out.flags):
            continue
        mask = out.flagged(issues)
        group = None
        if q.order == "score" and out.score is not None and out.score in issues:
            score = issues[out.score].to_numpy(dtype=float)
            order = score if out.worse == "low" else -score
        elif q.order == "group" and out.group is not None:
            group = issues[out.group]
            mask = issues[out.group].to_numpy() >= 0
            order = issues["row"].to_numpy(dtype=float)
        else:
            order = issues["row"].to_numpy(dtype=float)
        found.append((q.position, i * 100, q.name or spec.name, (mask, order, group)))
    return {name: value for _, _, name, value in sorted(found, key=lambda t: (t[0], t[1]))}


class CheckContext:
    """What one check sees of the audit context: the artifacts it declared, nothing else.

    Reading ``ctx.features`` in a check that did not declare ``features`` raises
    :class:`UndeclaredNeedError` (a bug in the check, not in the data). An optional need
    (``uses``) reads as ``None`` when the data cannot supply it.
    """

    __slots__ = ("_ctx", "_spec")

    def __init__(self, ctx: AuditContext, spec: CheckSpec) -> None:
        self._ctx = ctx
        self._spec = spec

    def __getattr__(self, name: str) -> Any:
        if name in OPEN:
            return getattr(self._ctx, name)
        need = GATED.get(name)
        if need is None:
            raise AttributeError(
                f"check {self._spec.name!r} reads ctx.{name}, which is not part of the check "
                f"context; checks may read {', '.join(sorted(OPEN | set(GATED)))}.")
        if need in self._spec.needs:
            return getattr(self._ctx, name)
        if need in self._spec.uses:
            return getattr(self._ctx, name) if self._ctx.available(need) else None
        raise UndeclaredNeedError(
            f"check {self._spec.name!r} reads ctx.{name} without declaring {need!r}: add it to "
            f"needs= (or uses= when optional) in its register_check(...).")
