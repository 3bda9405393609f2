r"""The check specification: everything needed to add an audit check, in one public place.

A check is a function ``check(ctx) -> CheckResult`` registered with :func:`register_check`, which
declares what it reads (``needs``, ``uses``: see :data:`NEEDS`), the per-row columns it writes
(:class:`RowOutputs`: from these the metrics, the stored findings and ``assay diff`` follow), its
review queue (:class:`QueueSpec`) and, optionally, a report-section builder. A module placed in
``assay/_audit/checks/`` is discovered and registered; a check defined elsewhere is registered
when its module is imported. See docs/architecture.md, "Adding a check".

Examples
--------
>>> import numpy as np, pandas as pd
>>> from assay.checks import CheckResult, RowOutputs, register_check, unregister_check
>>> @register_check("tiny_rows", needs=("labels",),
...                 outputs=RowOutputs(flag="is_first", metric="first"))
... def tiny_rows(ctx):
...     "Flags the first row (an example)."
...     flag = np.arange(ctx.dataset.n_rows) == 0
...     return CheckResult("tiny_rows", "warn", rows=pd.DataFrame({"is_first": flag}))
>>> import assay
>>> df = pd.DataFrame({"x": [0.1, 0.2, 0.3, 1.1, 1.2, 1.3], "y": list("aaabbb")})
>>> res = assay.audit(df, label="y", checks=["tiny_rows"])
>>> res.metrics()["first"], res.findings()["flag"].sum()
(0.16666666666666666, np.int64(1))
>>> unregister_check("tiny_rows")
"""

from assay._audit import (
    NEEDS,
    CheckContext,
    CheckResult,
    CheckSpec,
    QueueSpec,
    RowOutputs,
    Threshold,
    UndeclaredNeedError,
    queue_names,
    register_check,
    registered_checks,
    review_queues,
    unregister_check,
)

__all__ = [
    "NEEDS",
    "CheckContext",
    "CheckResult",
    "CheckSpec",
    "QueueSpec",
    "RowOutputs",
    "Threshold",
    "UndeclaredNeedError",
    "queue_names",
    "register_check",
    "registered_checks",
    "review_queues",
    "unregister_check",
]
