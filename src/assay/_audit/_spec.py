"""The per-row part of a check's specification: plain data, read by the result and the registry.

Kept apart from the registry so that :class:`~assay._audit._result.AuditResult` can carry (and
serialise) the outputs of the checks that produced it without importing the registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

#: Needs only a classification task supplies, only a regression task, only a multi-label task,
#: only a token-classification task, only an object-detection task.
CLASS_NEEDS = frozenset({"labels", "pred_probs", "label_flags", "consensus"})
TARGET_NEEDS = frozenset({"target", "target_predictions"})
LABEL_SET_NEEDS = frozenset({"label_sets", "label_set_probs"})
TOKEN_NEEDS = frozenset({"token_corpus", "token_probs"})
BOX_NEEDS = frozenset({"boxes", "box_predictions"})

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["RowOutputs"]


@dataclass(frozen=True)
class RowOutputs:
    """The per-row columns a check adds to the audit's issue table.

    Attributes
    ----------
    flag : str or tuple of str
        Boolean column(s): the row has this finding (several columns: any of them).
    score : str, optional
        A score column. ``worse`` says which end is worse.
    worse : {"low", "high"}
        Lower (default) or higher scores are worse; queues show the worst first.
    unit_score : bool
        The score lies in [0, 1] with lower worse, so it is stored with the findings (the
        workspace's contract); other scores stay in the issue table and the details.
    group : str, optional
        An integer group column (a duplicate set; -1 for none).
    detail : tuple of str
        Columns stored with each finding (a suggested label, a leak partner).
    metric : str, optional
        Name of the ``--fail-on`` metric: the share of rows flagged.
    sub_metrics : mapping of str to str
        More ``--fail-on`` metrics: name -> boolean column (a share of rows).
    """

    flag: str | tuple[str, ...]
    score: str | None = None
    worse: Literal["low", "high"] = "low"
    unit_score: bool = False
    group: str | None = None
    detail: tuple[str, ...] = ()
    metric: str | None = None
    sub_metrics: Mapping[str, str] = field(default_factory=dict)

    @property
    def flags(self) -> tuple[str, ...]:
        return (self.flag,) if isinstance(self.flag, str) else tuple(self.flag)

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column the check promises to write."""
        cols = [*self.flags, *(c for c in (self.score, self.group) if c), *self.detail,
                *self.sub_metrics.values()]
        return tuple(dict.fromkeys(cols))

    def flagged(self, issues: pd.DataFrame) -> np.ndarray:
        """The rows flagged by this check (any of its flag columns)."""
        import numpy as np

        out = np.zeros(len(issues), dtype=bool)
        for col in self.flags:
            out |= issues[col].to_numpy(dtype=bool)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (``from_dict`` reads it back)."""
        d = asdict(self)
        d["flag"] = list(self.flags)
        d["detail"] = list(self.detail)
        d["sub_metrics"] = dict(self.sub_metrics)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RowOutputs:
        """The outputs :meth:`to_dict` wrote."""
        flag = d.get("flag", ())
        return cls(flag=tuple(flag) if isinstance(flag, list | tuple) else str(flag),
                   score=d.get("score"), worse=d.get("worse", "low"),
                   unit_score=bool(d.get("unit_score", False)), group=d.get("group"),
                   detail=tuple(d.get("detail", ())), metric=d.get("metric"),
                   sub_metrics=dict(d.get("sub_metrics") or {}))
