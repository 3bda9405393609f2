"""The work behind ``assay audit``, ``assay value`` and ``assay curve``, as library functions.

Each command of the command line parses its options, calls one function here and prints what
it returns; the review app and any script call the same functions, so a run recorded from
Python is the run the command would have recorded.

- :func:`record_audit`: run the audit and, with a workspace, record it (the dataset, the run,
  its findings and its folder's files); the only code that records an audit.
- :func:`write_audit_outputs`, :func:`save_audit_result`, :func:`write_row_fingerprints`: the
  files of an audit (``issues.parquet``, ``issues.csv``, ``audit.json``, ``report.html``,
  ``rows.parquet``), each written whole or not at all.
- :func:`value_rows`: the value of every row (and group) of a table, per task.
- :func:`learning_plan`: the learning curve, its forecast and the collection plans.

Every function that takes ``progress`` calls ``progress(step, done, total)`` as the work
advances (a step's first word names the bar it belongs to).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from assay.exceptions import InputValidationError, InvalidParameterError

if TYPE_CHECKING:
    import pandas as pd

    from assay._audit import AuditResult

__all__ = [
    "AUDIT_OUTPUT_NAMES",
    "LEARNING_METRICS",
    "VALUE_METHODS",
    "data_file_hash",
    "learning_plan",
    "prior_relabel_or_collect",
    "RecordedRun",
    "record_audit",
    "recorded_run",
    "save_audit_result",
    "value_rows",
    "write_audit_outputs",
    "write_row_fingerprints",
]

_Progress = Callable[[str, int, int], None]

#: The files :func:`write_audit_outputs` writes into a folder.
AUDIT_OUTPUT_NAMES = ("issues.parquet", "issues.csv", "audit.json", "report.html")

#: The methods of :func:`value_rows`.
VALUE_METHODS = ("knn-shapley", "data-oob", "banzhaf", "tmc-shapley", "beta-shapley")

#: The metrics of :func:`learning_plan`.
LEARNING_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "log_loss")


# --------------------------------------------------------------------------------------------
# audit


class RecordedRun:
    """A run being recorded: its record (``RunRecord``) and its result folder."""

    def __init__(self, rec: Any, folder: Path | None, workspace: Path | None) -> None:
        self.rec = rec
        self.folder = folder
        self.workspace = workspace

    @property
    def run_id(self) -> str | None:
        return None if self.rec is None else str(self.rec.run_id)


@contextmanager
def recorded_run(
    command: str, params: dict[str, Any], *, data: Path | None = None,
    workspace: Path | None = None, enabled: bool = True, fingerprint: str | None = None,
) -> Iterator[RecordedRun]:
    """Record ``command`` as a run in the workspace; yield the run and its result folder.

    The workspace is ``workspace``, else found as ``assay.workspace.default_workspace`` finds it
    (the nearest ``.assay/`` at or above the data's folder). Each run's files go to its own
    folder, ``<workspace>/runs/<run id>/``: one documented place, never overwritten by the next
    run. When ``data`` is a file, the run's provenance records it as ``data_file`` (its absolute
    path and the hash of its bytes, :func:`data_file_hash`), so a later command finds the runs
    made on the same data (an audit finds the ``curve --compare-clean`` run that says what
    cleaning its labels is worth). An exception finishes the run as ``error`` and propagates.
    ``enabled=False`` records nothing and yields a run whose ``folder`` is ``None``.
    """
    if not enabled:
        yield RecordedRun(None, None, None)
        return
    from assay.workspace import Workspace, default_workspace

    ws_path = workspace or default_workspace(data)
    ws = Workspace.open(ws_path)
    content = data_file_hash(data) if data is not None else None
    data_file = None if data is None or content is None else {
        "path": str(Path(data).resolve()), "hash": content}
    with ws.record_run(command, params, fingerprint=fingerprint) as rec:
        if data_file is not None:
            rec.provenance["data_file"] = data_file
        folder = ws.results_dir(rec.run_id)
        folder.mkdir(parents=True, exist_ok=True)
        yield RecordedRun(rec, folder, ws_path)


def record_audit(
    dataset: Any,
    workspace: str | Path | None,
    params: dict[str, Any],
    *,
    on_result: Callable[[AuditResult], Any] | None = None,
    **audit_kwargs: Any,
) -> tuple[AuditResult, str | None]:
    """Run the audit; with a workspace, record the run, its findings and its folder's files.

    With a workspace, the dataset is registered (its source as an absolute path, so commands
    run from another folder find the data), the run is recorded as ``audit`` with ``params``,
    the audit reuses the workspace's cached artifacts, its findings are recorded, and the
    run's own folder (``Workspace.results_dir``) gets ``issues.parquet``, ``issues.csv``,
    ``audit.json``, ``report.html`` and ``rows.parquet``. An exception records the run as
    failed and propagates.

    Parameters
    ----------
    dataset : assay.data.Dataset
        The loaded dataset.
    workspace : str, Path or None
        The workspace folder; ``None`` runs the audit without recording anything.
    params : dict
        The run's parameters as recorded (the command line's options).
    on_result : callable, optional
        ``on_result(result)``, e.g. writing the files into another folder. It runs inside the
        recorded run, so a run whose files could not all be written is recorded as failed,
        not ok.
    **audit_kwargs
        Passed to :func:`assay.audit` (``checks``, ``k``, ``random_state``, ``progress``...).

    Returns
    -------
    result : AuditResult
        The audit; with a workspace, ``result.summary["run_id"]`` is the run's id and, when the
        workspace holds a ``curve --compare-clean`` run on the same data file and label,
        ``result.summary["relabel_or_collect"]`` its measurement
        (:func:`prior_relabel_or_collect`), which the relabel step of
        ``result.next_steps()`` turns into samples.
    run_id : str or None
        The recorded run's id, ``None`` without a workspace.

    Examples
    --------
    >>> import pandas as pd
    >>> from assay.data import load
    >>> from assay.pipelines import record_audit
    >>> frame = pd.DataFrame({"x": [0.0, 0.1, 0.2, 5.0, 5.1, 5.2] * 5,
    ...                       "y": ["a", "a", "a", "b", "b", "b"] * 5})
    >>> result, run_id = record_audit(load(frame, label="y"), None, {},
    ...                               checks=["duplicates"])
    >>> run_id is None, "duplicates" in result.checks
    (True, True)
    """
    from assay._audit import audit

    if workspace is None:
        result = audit(dataset, **audit_kwargs)
        if on_result is not None:
            on_result(result)
        return result, None
    from assay.workspace import Workspace

    ws = Workspace.open(workspace)
    # the absolute path, so commands run from another folder (export, review) find the data
    source = dataset.source
    if source is not None and Path(source).exists():
        source = str(Path(source).resolve())
    ws.register_dataset(
        dataset.fingerprint, n_rows=dataset.n_rows, source=source,
        schema={str(c): str(t) for c, t in dataset.table.dtypes.items()},
        roles=dataset.roles.to_dict(),
    )
    with ws.record_run("audit", params, fingerprint=dataset.fingerprint) as rec:
        result = audit(dataset, cache=ws, **audit_kwargs)
        result.summary["run_id"] = rec.run_id
        if "label_issues" in result.checks and source is not None:
            clean = prior_relabel_or_collect(ws, source, label=dataset.roles.label)
            if clean is not None:  # before the files are written: the report shows it
                result.summary["relabel_or_collect"] = clean
        ws.record_findings(rec.run_id, result.findings())
        write_audit_outputs(result, ws.results_dir(rec.run_id), dataset)  # the run's own folder
        write_row_fingerprints(dataset, ws.results_dir(rec.run_id))
        rec.summary.update({"status": result.status, "metrics": result.metrics(),
                            "checks": {n: c.status for n, c in result.checks.items()},
                            "n_rows": dataset.n_rows, "task": result.summary.get("task"),
                            "classes": _run_classes(result, dataset)})
        rec.timings.update(result.summary.get("timings_s", {}))
        if on_result is not None:
            on_result(result)
    return result, rec.run_id


def data_file_hash(path: str | Path) -> str | None:
    """The hash of a data file's bytes as 16 hex digits; ``None`` when ``path`` is not a file.

    Runs recorded on a data file store it (:func:`recorded_run`); two runs with the same hash
    read the same bytes, whatever the file's name or folder.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    str or None

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from assay.pipelines import data_file_hash
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "a.csv").write_text("x,y\\n1,a\\n"); _ = (d / "b.csv").write_text("x,y\\n1,a\\n")
    >>> data_file_hash(d / "a.csv") == data_file_hash(d / "b.csv"), data_file_hash(d)
    (True, None)
    """
    from assay.data import file_hashes

    if not Path(path).is_file():
        return None
    return f"{int(file_hashes([path])[0]):016x}"


def prior_relabel_or_collect(workspace: Any, data: str | Path, *, label: str | None,
                             max_runs: int = 50) -> dict[str, Any] | None:
    """The newest ``curve --compare-clean`` run of ``workspace`` on the same data and label.

    A run matches when it finished ``ok``, was made with ``--compare-clean`` on the label
    ``label``, and its provenance's ``data_file`` hash (:func:`recorded_run`) equals
    ``data``'s now (so the data has not changed since); its measurement is read from the
    ``fits.json`` it wrote (:class:`assay.curves.RelabelOrCollect` summary). Runs recorded
    before runs stored their data file's hash do not match.

    Parameters
    ----------
    workspace : assay.workspace.Workspace
    data : str or Path
        The data file.
    label : str or None
        The label column.
    max_runs : int, default 50
        How many of the newest ``curve`` runs to look at.

    Returns
    -------
    dict or None
        ``run_id``, ``multiplier`` (cleaned labels are worth this many times as much data as
        the labels as they are), ``n_train`` (training rows as they are), ``n_flagged``
        (training rows flagged), ``metric`` and ``extra_to_match``; ``None`` when no run
        matches or the data is not a file.
    """
    import json
    import math

    content = data_file_hash(data)
    if content is None or not label:
        return None
    runs = workspace.runs(command="curve", limit=max_runs)
    for run_id in runs.loc[runs["status"] == "ok", "run_id"]:
        run = workspace.run(str(run_id))
        params, prov = run.get("params") or {}, run.get("provenance") or {}
        if (not params.get("compare_clean") or params.get("label") != label
                or (prov.get("data_file") or {}).get("hash") != content):
            continue
        # the run's own folder, else the --out folder it wrote to (a later run may reuse it)
        outputs = (run.get("summary") or {}).get("outputs") or {}
        paths = [workspace.results_dir(str(run_id)) / "fits.json", outputs.get("fits")]
        for path in (Path(p) for p in paths if isinstance(p, str | Path)):
            try:
                clean = json.loads(path.read_text(encoding="utf-8")).get("clean") or {}
            except (OSError, TypeError, ValueError):
                continue
            multiplier = clean.get("multiplier")
            if isinstance(multiplier, int | float) and math.isfinite(multiplier):
                return {"run_id": str(run_id), "multiplier": float(multiplier),
                        "n_train": int(clean.get("n_as_is") or 0),
                        "n_flagged": int(clean.get("n_flagged") or 0),
                        "metric": clean.get("metric"),
                        "extra_to_match": clean.get("extra_to_match")}
    return None


def save_audit_result(result: AuditResult, folder: Path) -> dict[str, Path]:
    """Write ``issues.parquet`` and ``audit.json`` (which names it) into ``folder``.

    Each file is written to a temporary name and renamed, so a crash never leaves a torn file;
    the temporaries of an earlier, killed write are removed first.

    Parameters
    ----------
    result : AuditResult
    folder : Path
        Created when missing.

    Returns
    -------
    dict
        ``{"issues": path, "json": path}``.
    """
    from assay.data import atomic_path, remove_stale_temps

    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(folder)
    paths = {"issues": folder / "issues.parquet", "json": folder / "audit.json"}
    issues = result.issues.copy()
    for col in issues.columns:
        if issues[col].dtype == object:
            issues[col] = issues[col].astype(str)
    with atomic_path(paths["issues"]) as tmp:
        issues.to_parquet(tmp, index=False)
    result.summary["issues_file"] = "issues.parquet"
    with atomic_path(paths["json"]) as tmp:
        result.to_json(tmp, include_issues=False)
    return paths


def write_row_fingerprints(dataset: Any, folder: Path) -> Path:
    """Write ``rows.parquet``: each row's id and a hash of its whole content (label included).

    A later audit of a corrected version matches its rows against these by id and content, so a
    row a reviewer kept, and that nobody changed since, keeps its decision instead of coming
    back to the queue (``assay.workspace.carried_decisions``).

    Parameters
    ----------
    dataset : assay.data.Dataset
    folder : Path
        An existing folder.

    Returns
    -------
    Path
        The file written, with the columns ``row_id`` and ``content`` (16 hex digits).
    """
    import numpy as np
    import pandas as pd

    from assay.data import atomic_path

    def cell(v: Any) -> str:  # vectors by their bytes: str() would elide a long array
        if isinstance(v, np.ndarray | list | tuple):
            arr = np.asarray(v)
            return f"{arr.dtype}{arr.shape}:{arr.tobytes().hex()}"
        return str(v)

    table = dataset.table.copy()
    for col in table.columns:
        if table[col].dtype == object:
            table[col] = table[col].map(cell)
    hashes = pd.util.hash_pandas_object(table.astype(str), index=False).to_numpy()
    frame = pd.DataFrame({"row_id": [str(i) for i in dataset.ids],
                          "content": [f"{h:016x}" for h in hashes]})
    path = folder / "rows.parquet"
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)
    return path


def write_audit_outputs(
    result: AuditResult, folder: Path, dataset: Any = None
) -> dict[str, Path]:
    """Write ``issues.parquet``, ``issues.csv``, ``audit.json`` and ``report.html`` into ``folder``.

    Parameters
    ----------
    result : AuditResult
    folder : Path
        Created when missing.
    dataset : assay.data.Dataset, optional
        The audited data; the report then shows the flagged rows' content.

    Returns
    -------
    dict
        ``{"issues": ..., "json": ..., "issues_csv": ..., "report": ...}``: the paths written.
    """
    from assay.data import atomic_path

    paths = save_audit_result(result, folder)
    paths["issues_csv"] = folder / "issues.csv"
    with atomic_path(paths["issues_csv"]) as tmp:
        result.issues.to_csv(tmp, index=False)
    from assay.report import write_report

    paths["report"] = write_report(result, folder / "report.html", dataset=dataset)
    return paths


# --------------------------------------------------------------------------------------------
# value


def _run_classes(result: AuditResult, dataset: Any) -> list[str]:
    """The classes a recorded audit run lists: none for a regression target, the label sets'
    classes for a multi-label one, the tags for a tokens one, the box classes for a detection
    one."""
    task = result.summary.get("task")
    if task == "regression":
        return []
    if task in ("multilabel", "tokens", "detection"):
        return [str(c) for c in result.summary.get("classes", [])]
    return list(dataset.class_names())


def value_rows(
    data: str | Path | pd.DataFrame,
    *,
    label: str,
    method: str = "knn-shapley",
    group: str | None = None,
    tasks: Sequence[str] | None = None,
    text: str | None = None,
    embeddings: str | None = None,
    k: int = 5,
    n_estimators: int = 200,
    max_samples: int = 100,
    max_time: float | None = 300.0,
    seed: int = 0,
    id: str | None = None,  # noqa: A002 - the name assay.audit and assay.data.load use
    progress: _Progress | None = None,
    n_jobs: int | None = None,
    backend: str = "local",
    ray_address: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame | None, dict[str, Any]]:
    """Value every row of ``data`` (and every group), per task.

    Features come from :func:`assay.data.featurize`, standardised. The Monte Carlo methods use
    two folds: one half of the rows are the players while the other half is the validation
    set, then the halves swap. KNN-Shapley values every row against all other rows
    (leave-self-out).

    Parameters
    ----------
    data : str, Path or pandas.DataFrame
        A table (CSV, TSV, Parquet, JSON Lines) or a DataFrame.
    label : str
        The label column (the first task).
    method : {"knn-shapley", "data-oob", "banzhaf", "tmc-shapley", "beta-shapley"}
    group : str, optional
        A column whose groups (source, annotator, batch) get a value: the sum of their rows'.
    tasks : sequence of str, optional
        More label columns: one value per task.
    text, embeddings : str, optional
        A free-text column to featurize; an aligned ``.npy`` of embeddings instead.
    k : int, default 5
        Neighbours of KNN-Shapley.
    n_estimators : int, default 200
        Bootstrap learners of Data-OOB.
    max_samples : int, default 100
        Permutations / coalitions of the Monte Carlo methods.
    max_time : float or None, default 300
        Seconds per half for the Monte Carlo methods.
    seed : int, default 0
    id : str, optional
        Row id column (the ``row`` of the frame; match the audit's).
    progress : callable, optional
        ``progress(step, done, total)``; the Monte Carlo methods call it once per 20 utility
        evaluations.

    Returns
    -------
    frame : pandas.DataFrame
        One row per data row, in the data's order: ``row`` (the id), ``label``, ``data_value``
        (the first task's value), ``data_value_<task>`` for every task,
        ``data_value_stderr_<task>`` for the Monte Carlo methods, ``is_low_value``
        (:func:`assay.valuation.low_value_cluster`) and, with several tasks,
        ``task_conflict`` (:func:`assay.valuation.task_conflict`).
    groups : pandas.DataFrame or None
        With ``group``: one row per group (index), lowest value first.
    summary : dict
        ``method``, ``n_rows``, ``tasks``, ``featurizer``, ``k``, ``per_task`` (mean, min, max,
        n_negative) and ``n_low_value``.

    Examples
    --------
    >>> import pandas as pd
    >>> from assay.pipelines import value_rows
    >>> frame = pd.DataFrame({"x": [0.0, 0.1, 0.2, 1.0, 1.1, 1.2, 0.15, 1.05],
    ...                       "y": ["a", "a", "a", "b", "b", "b", "b", "a"]})
    >>> rows, groups, summary = value_rows(frame, label="y", k=3)
    >>> len(rows), groups is None, summary["method"]
    (8, True, 'knn-shapley')
    """
    import pandas as pd

    from assay.data import featurize, load
    from assay.valuation import group_values, low_value_cluster, task_conflict

    if method not in VALUE_METHODS:
        from assay._validation import did_you_mean

        raise InvalidParameterError("method", "one of " + ", ".join(VALUE_METHODS), method,
                                    owner="value_rows",
                                    hint=did_you_mean(method, VALUE_METHODS).strip())
    task_cols = [label] + [t for t in (tasks or []) if t != label]
    ds = load(data, label=label, id=id, group=group, text=text, embeddings=embeddings,
              meta=task_cols[1:] or None)
    feats = featurize(ds, random_state=seed)
    x = feats.matrix.astype(np.float64)
    sd = x.std(axis=0)
    x = (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    y = np.stack([_codes(ds.table[c], c) for c in task_cols], axis=1)
    if progress is not None:
        progress(f"valuing {ds.n_rows:,} rows ({method})", 0, 1)
    from assay.distributed import backend_context

    serial = backend == "local" and n_jobs in (None, 1)  # a progress bar cannot travel
    with backend_context(backend, ray_address, owner="value_rows") as ray_info:
        values, stderr = _METHOD_RUNNERS[method](
            x, y, k=k, n_estimators=n_estimators, max_samples=max_samples, max_time=max_time,
            seed=seed, progress=progress if serial else None, n_jobs=n_jobs)
    if progress is not None:
        progress(f"valuing {ds.n_rows:,} rows ({method})", 1, 1)
    frame = pd.DataFrame({"row": ds.ids, "label": ds.table[label].to_numpy()})
    frame["data_value"] = values[:, 0]
    for t, col in enumerate(task_cols):
        frame[f"data_value_{col}"] = values[:, t]
        if stderr is not None:
            frame[f"data_value_stderr_{col}"] = stderr[:, t]
    frame["is_low_value"] = low_value_cluster(values[:, 0], random_state=seed)
    if len(task_cols) > 1:
        # Data-OOB's values are out-of-bag accuracies (>= 0, no zero point): their spread
        frame["task_conflict"] = task_conflict(
            values, kind="accuracy" if method == "data-oob" else "contribution")
    groups = None
    if group is not None:
        groups = group_values(values if len(task_cols) > 1 else values[:, 0],
                              ds.table[group].astype(str).to_numpy())
        if len(task_cols) > 1:
            groups = groups.rename(columns={f"value_{t}": f"value_{c}"
                                            for t, c in enumerate(task_cols)})
        groups = groups.sort_values(groups.columns[0])
    summary = {
        "method": method,
        "n_rows": ds.n_rows,
        "tasks": task_cols,
        "featurizer": f"{feats.featurizer} (standardised)",
        "k": k if method == "knn-shapley" else None,
        "per_task": {c: {"mean": float(values[:, t].mean()), "min": float(values[:, t].min()),
                         "max": float(values[:, t].max()),
                         "n_negative": int(np.sum(values[:, t] < 0))}
                     for t, c in enumerate(task_cols)},
        "n_low_value": int(frame["is_low_value"].sum()),
        "backend": {"name": backend, **(ray_info or {})},
    }
    return frame, groups, summary


def _codes(col: pd.Series, name: str) -> np.ndarray:
    import pandas as pd

    if col.isna().any():
        raise InputValidationError(
            f"Column '{name}' has {int(col.isna().sum())} missing value(s). Valuation needs a "
            "label on every row: drop or label those rows."
        )
    codes, uniq = pd.factorize(col, sort=True)
    if len(uniq) < 2:
        raise InputValidationError(
            f"Column '{name}' holds one class only ({uniq[0]!r}); every row would have the same "
            "value. Pass a label column with at least two classes."
        )
    return codes.astype(np.int64)


def _run_knn(x: np.ndarray, y: np.ndarray, *, k: int, n_jobs: int | None = None,
             **_: Any) -> tuple[np.ndarray, None]:
    from assay.valuation import knn_shapley

    # every row is valued against all other rows as test points (leave-self-out)
    return np.stack([knn_shapley(x, y[:, t], k=k, n_jobs=n_jobs)
                     for t in range(y.shape[1])], axis=1), None


def _run_oob(x: np.ndarray, y: np.ndarray, *, n_estimators: int, seed: int,
             n_jobs: int | None = None, **_: Any) -> tuple[np.ndarray, None]:
    from assay.valuation import data_oob

    return data_oob(x, y, n_estimators=n_estimators, random_state=seed,
                    n_jobs=n_jobs).reshape(len(x), -1), None


class _Counting:
    """A utility that reports each evaluation to a progress callback (attributes pass through).

    The bar's total is the budget in evaluations (permutations x players); convergence or the
    time budget can end the work sooner, and the bar then jumps to its end.
    """

    def __init__(self, utility: Any, progress: _Progress, step: str, total: int) -> None:
        self._utility, self._progress, self._step = utility, progress, step
        self._total, self._done = max(int(total), 1), 0

    def __call__(self, indices: Any) -> Any:
        out = self._utility(indices)
        self._done += 1
        if self._done % 20 == 0:
            self._progress(self._step, min(self._done, self._total), self._total)
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._utility, name)


_Runner = Callable[..., tuple[np.ndarray, np.ndarray | None]]


def _run_mc(name: str) -> _Runner:
    def run(x: np.ndarray, y: np.ndarray, *, max_samples: int, max_time: float | None,
            seed: int, progress: _Progress | None = None, n_jobs: int | None = None,
            **_: Any) -> tuple[np.ndarray, np.ndarray]:
        """Two folds: rows of one half are the players, the other half the validation set."""
        from assay.models import default_estimator
        from assay.valuation import ModelUtility, banzhaf, beta_shapley, tmc_shapley

        fn = {"banzhaf": banzhaf, "tmc-shapley": tmc_shapley, "beta-shapley": beta_shapley}[name]
        rng = np.random.default_rng(seed)
        half = rng.permutation(len(x)) % 2 == 0
        values = np.zeros(y.shape)
        stderr = np.zeros(y.shape)
        for half_no, part in enumerate((half, ~half), start=1):
            yt = y[part] if y.shape[1] > 1 else y[part, 0]
            yv = y[~part] if y.shape[1] > 1 else y[~part, 0]
            util: Any = ModelUtility(default_estimator(random_state=seed), x[part], yt,
                                     x[~part], yv)
            if progress is not None:
                # a permutation costs one evaluation per player; a Banzhaf (MSR) sample one
                per_sample = 1 if name == "banzhaf" else int(part.sum())
                util = _Counting(util, progress, f"{name}: half {half_no} of 2",
                                 max_samples * per_sample)
            res = fn(util, max_samples=max_samples, max_time=max_time, random_state=seed,
                     n_jobs=n_jobs)
            values[part] = res.values.reshape(part.sum(), -1)
            stderr[part] = res.stderr.reshape(part.sum(), -1)
        return values, stderr

    return run


# a value method is a function ``values(x, y, **options) -> (values, stderr or None)``, both of
# shape (n_rows, n_tasks); add one here (and to VALUE_METHODS) with its test against pyDVL
_METHOD_RUNNERS: dict[str, _Runner] = {
    "knn-shapley": _run_knn,
    "data-oob": _run_oob,
    "banzhaf": _run_mc("banzhaf"),
    "tmc-shapley": _run_mc("tmc-shapley"),
    "beta-shapley": _run_mc("beta-shapley"),
}


# --------------------------------------------------------------------------------------------
# learning curve


def learning_plan(
    data: str | Path | pd.DataFrame,
    *,
    label: str,
    target: float | None = None,
    metric: str = "accuracy",
    per_class: bool = False,
    budget: int | None = None,
    objective: str = "balanced_accuracy",
    compare_clean: bool = False,
    text: str | None = None,
    features: Sequence[str] | None = None,
    embeddings: str | Path | None = None,
    sizes: Sequence[float] | None = None,
    seeds: int = 3,
    n_bootstrap: int = 200,
    seed: int = 0,
    n_jobs: int | None = None,
    progress: _Progress | None = None,
    min_per_class: int = 0,
    min_gain: float = 1e-5,
    min_eval_rows: int = 20,
) -> dict[str, Any]:
    """Fit a learning curve to ``data`` and plan collection: everything ``assay curve`` computes.

    Parameters
    ----------
    data : str, Path or pandas.DataFrame
        A table (CSV, TSV, Parquet, JSON Lines) or a DataFrame.
    label : str
        The label column.
    target : float, optional
        A score to reach: adds the ``requirement`` (samples needed).
    metric : {"accuracy", "balanced_accuracy", "macro_f1", "log_loss"}, default "accuracy"
    per_class : bool, default False
        Per-class recall curves.
    budget : int, optional
        New samples to allocate across classes (implies ``per_class``).
    objective : {"balanced_accuracy", "worst_class"}, default "balanced_accuracy"
        What the budget's allocation maximises.
    compare_clean : bool, default False
        Also the curve with suspected label errors removed
        (:func:`assay.curves.relabel_or_collect`).
    text : str, optional
        A free-text column.
    features : sequence of str, optional
        Feature columns (default: every other column).
    embeddings : str or Path, optional
        An aligned ``.npy`` of embeddings.
    sizes : sequence of float, optional
        Training-set sizes: fractions in (0, 1] or row counts.
    seeds : int, default 3
        Subsets per size.
    n_bootstrap : int, default 200
        Bootstrap resamples of the fit.
    seed : int, default 0
    n_jobs : int, optional
        Parallel fits.
    progress : callable, optional
        ``progress(step, done, total)``, passed to :func:`assay.curves.learning_curve`.
    min_per_class, min_gain, min_eval_rows
        As in :func:`assay.curves.allocate_budget` (``min_eval_rows`` also sets which classes
        the per-class table warns about).

    Returns
    -------
    dict
        ``curve`` (the measured frame of :func:`assay.curves.learning_curve`), ``fit`` (its
        :func:`assay.curves.fit_learning_curve`), ``n_pool``, ``metric``, ``n_rows``,
        ``classes``, ``eval_support`` (held-out evaluation rows per class), ``warnings``
        (sentences), ``forecast`` (predicted score with its 80 % interval at 1, 2, 5 and 10
        times the data); ``requirement`` with ``target``; ``per_class_fits``,
        ``pooled_fit`` (:func:`assay.curves.fit_pooled_class_curve`) and ``per_class`` with
        ``per_class`` or ``budget``; ``allocation`` with ``budget`` (its few-row warning is
        in ``warnings``, not raised again); ``clean`` with ``compare_clean``.
    """
    import warnings

    import pandas as pd

    from assay.curves import (
        allocate_budget,
        eval_support_warning,
        fit_learning_curve,
        fit_per_class_curves,
        fit_pooled_class_curve,
        learning_curve,
    )
    from assay.data import featurize, load
    from assay.exceptions import CurveWarning

    if metric not in LEARNING_METRICS:
        raise InvalidParameterError("metric", "one of " + ", ".join(LEARNING_METRICS), metric,
                                    owner="learning_plan")
    from assay._validation import check_int

    check_int("min_per_class", min_per_class, low=0, owner="learning_plan")
    check_int("min_eval_rows", min_eval_rows, low=1, owner="learning_plan")
    dataset = load(data, label=label, text=text, features=features,
                   embeddings=str(embeddings) if isinstance(embeddings, Path) else embeddings)
    X = featurize(dataset, random_state=seed).matrix
    y = dataset.labels
    names = [str(c) for c in dataset.classes]
    size_list = list(sizes) if sizes is not None else None
    # The evaluation split is made here (as learning_curve would make it, same random stream)
    # so that the rows each class's recall is measured on are known.
    rng = np.random.default_rng(seed)
    pool, held = _curve_split(y, test_size=0.2, rng=rng)
    support_all = np.bincount(y[held], minlength=len(names))
    curve = learning_curve(X[pool], y[pool], sizes=size_list, n_seeds=seeds,
                           eval_set=(X[held], y[held]), class_names=names, random_state=rng,
                           n_jobs=n_jobs, progress=progress)
    kind = "loss" if metric == "log_loss" else "accuracy"
    fit = fit_learning_curve(curve["n_train"], curve[metric], kind=kind,
                             n_bootstrap=n_bootstrap, score_se=curve[f"{metric}_se"],
                             random_state=seed)
    n_pool = int(curve["n_train"].max())
    out: dict[str, Any] = {"curve": curve, "fit": fit, "n_pool": n_pool, "metric": metric,
                           "n_rows": dataset.n_rows, "classes": names,
                           "eval_support": {k: int(v) for k, v in zip(names, support_all,
                                                                        strict=True)},
                           "warnings": []}
    grid = np.array([1, 2, 5, 10]) * n_pool
    low, high = fit.predict_interval(grid, level=0.8)
    out["forecast"] = [
        {"n": int(n), "predicted": float(fit.predict(n)), "low": float(lo), "high": float(hi)}
        for n, lo, hi in zip(grid, low, high, strict=True)
    ]
    if target is not None:
        out["requirement"] = fit.samples_for(target)
    if per_class or budget is not None:
        fits = fit_per_class_curves(curve, random_state=seed)
        counts = {k: int(curve.loc[curve["n_train"] == n_pool, f"n_train[{k}]"].iloc[0])
                  for k in fits}
        support = {k: out["eval_support"][k] for k in fits}
        pooled = fit_pooled_class_curve(curve, random_state=seed)
        out["per_class_fits"] = fits
        out["pooled_fit"] = pooled
        out["per_class"] = pd.DataFrame({
            "class": list(fits),
            "n_train": [counts[k] for k in fits],
            "recall_now": [float(f.predict(max(counts[k], 1))) for k, f in fits.items()],
            "recall_ceiling": [float(f.ceiling) for f in fits.values()],
            "family": [getattr(f, "family", "flat") for f in fits.values()],
            "eval_rows": [support[k] for k in fits],
        })
        if budget is not None:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", CurveWarning)
                out["allocation"] = allocate_budget(
                    fits, counts, budget, objective=objective, min_per_class=min_per_class,
                    min_gain=min_gain, eval_support=support, pooled=pooled,
                    min_eval_rows=min_eval_rows)
            for w in caught:  # reported in out["warnings"]; anything else raised again
                if not issubclass(w.category, CurveWarning):
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            out["warnings"].extend(out["allocation"].attrs["warnings"])
        else:
            message = eval_support_warning(support, min_eval_rows=min_eval_rows)
            if message is not None:
                out["warnings"].append(message)
    if compare_clean:
        from assay.curves import relabel_or_collect
        from assay.labels import find_label_issues
        from assay.models import cross_val_pred_probs

        probs = cross_val_pred_probs(X, y, random_state=seed, n_jobs=n_jobs)
        issues = find_label_issues(y, probs)
        out["clean"] = relabel_or_collect(
            X, y, issues, n_seeds=seeds, sizes=size_list,
            metric=metric if metric != "log_loss" else "accuracy", random_state=seed,
            n_jobs=n_jobs,
        )
    return out


def _curve_split(y: np.ndarray, *, test_size: float, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Training pool and evaluation rows of a learning curve: a stratified ``test_size`` share.

    The same split :func:`assay.curves.learning_curve` makes without ``eval_set`` (one draw
    from ``rng``), made here so that the evaluation rows of each class are known.
    """
    from sklearn.model_selection import train_test_split

    counts = np.bincount(y)
    n_present = int((counts > 0).sum())
    n_held = int(np.ceil(test_size * y.size))
    if y.size - n_held < 2 * n_present or n_held < 1:
        raise InputValidationError(
            f"A learning curve needs more rows: {y.size} rows of {n_present} classes leave "
            f"{y.size - n_held} for the curve after holding out {n_held} to evaluate "
            f"(test_size={test_size:g}); at least {2 * n_present} are needed (two per class). "
            "Collect more rows."
        )
    strat = y if counts[counts > 0].min() >= 2 and n_held >= n_present else None
    pool, held = train_test_split(np.arange(y.size), test_size=test_size, stratify=strat,
                                  random_state=int(rng.integers(2**31 - 1)))
    return pool, held


def sanity_run(
    data: Any,
    *,
    label: str,
    metric: str = "accuracy",
    target: float | None = None,
    text: str | None = None,
    features: Sequence[str] | None = None,
    embeddings: Any = None,
    annotations: Any = None,
    item: str | None = None,
    annotator: str | None = None,
    annotation_label: str | None = None,
    model: Any = "auto",
    seed: int = 0,
    n_jobs: int | None = None,
) -> tuple[Any, dict[str, Any]]:
    """The sanity checks of :mod:`assay.sanity` on a table, with the target-leakage screen.

    Loads and featurises ``data`` as the audit does, cross-fits the audit's model (``model``,
    ``"auto"`` by default) for out-of-fold probabilities, runs
    :func:`assay.sanity.sanity_checks`, and adds ``target_leakage``: the audit's screen for
    columns that give the label away (fail when one does). With ``annotations`` (a long table
    of ``item``, ``annotator`` and ``annotation_label``), the annotators' agreement ceiling
    joins the oracle upper bound.

    Returns
    -------
    (SanityReport, dict)
        The report (``target_leakage`` appended) and facts about the run (rows, classes, model).
    """
    from dataclasses import replace

    from assay._audit import audit
    from assay.data import featurize, load
    from assay.models import cross_fit, make_model, model_input
    from assay.sanity import SANITY_METRICS, SanityCheck, sanity_checks

    if metric not in SANITY_METRICS:
        raise InvalidParameterError("metric", "one of " + ", ".join(SANITY_METRICS), metric,
                                    owner="sanity_run")
    dataset = load(data, label=label, text=text, features=features,
                   embeddings=str(embeddings) if isinstance(embeddings, Path) else embeddings)
    if dataset.n_classes < 2:
        raise InputValidationError(
            f"The label column '{label}' has a single class; the sanity checks need two or more.")
    feats = featurize(dataset, random_state=seed)
    mi = model_input(dataset, vectors=lambda: feats.matrix)
    estimator = make_model(model, mi, metric=feats.metric if mi.kind == "vectors" else "euclidean",
                           random_state=seed) if isinstance(model, str) else model
    fit = cross_fit(mi.matrix, dataset.labels, estimator=estimator, random_state=seed,
                    n_jobs=n_jobs)
    probs = fit.pred_probs
    k = dataset.n_classes
    if probs.shape[1] < k:
        probs = np.hstack([probs, np.zeros((probs.shape[0], k - probs.shape[1]))])
    ceiling = None
    if annotations is not None:
        ceiling = _annotation_ceiling(annotations, item=item, annotator=annotator,
                                      label=annotation_label)
    report = sanity_checks(feats.matrix, dataset.labels, probs, metric=metric, target=target,
                           ceiling=ceiling, random_state=seed)
    leak = audit(dataset, checks=["target_leakage"], random_state=seed).checks["target_leakage"]
    cols = leak.summary.get("flagged_columns", [])
    leak_check = SanityCheck(
        "target_leakage", "fail" if cols else "pass",
        (f"{len(cols)} column(s) give the label away: {', '.join(map(str, cols))}. "
         f"{leak.message}" if cols else "No column gives the label away."),
        {"flagged_columns": cols, "n_columns": leak.summary.get("n_columns", 0)})
    report = replace(report, checks=[*report.checks, leak_check])
    facts = {"n_rows": dataset.n_rows, "classes": [str(c) for c in dataset.classes],
             "model": fit.selection() or {"name": repr(estimator)}}
    return report, facts


def _annotation_ceiling(annotations: Any, *, item: str | None, annotator: str | None,
                        label: str | None) -> Any:
    """The agreement ceiling of a long table of ratings (one row per item and annotator)."""
    import pandas as pd

    from assay.agreement import annotator_ceiling
    from assay.data import read_table

    if not (item and annotator and label):
        raise InputValidationError(
            "annotations need their columns: pass --item, --annotator and --annotation-label "
            "(the rated item, who rated it, and the label given).")
    frame = annotations if isinstance(annotations, pd.DataFrame) else read_table(annotations)
    missing = [c for c in (item, annotator, label) if c not in frame.columns]
    if missing:
        raise InputValidationError(
            f"The annotations have no column(s) {missing}; they have "
            f"{list(map(str, frame.columns))[:20]}. Pass the right --item, --annotator and "
            "--annotation-label.")
    if frame.duplicated([item, annotator]).any():
        raise InputValidationError(
            "An annotator rated the same item twice in the annotations; keep one rating per "
            "(item, annotator).")
    wide = frame.pivot(index=annotator, columns=item, values=label)
    return annotator_ceiling(wide.to_numpy(dtype=object))


def two_stage_run(
    data: Any,
    *,
    stage1: str,
    label: str,
    metric: str = "accuracy",
    model: str = "logistic",
    text: str | None = None,
    features: Sequence[str] | None = None,
    embeddings: Any = None,
    test_size: float = 0.25,
    seed: int = 0,
    n_jobs: int | None = None,
) -> tuple[Any, dict[str, Any]]:
    """:func:`assay.twostage.two_stage` on a table: ``stage1`` is the intermediate column stage
    1 predicts, ``label`` stage 2's; both read the other columns (featurised as the audit does).

    Returns
    -------
    (TwoStageResult, dict)
        The result and facts (rows, both stages' class names, the model).
    """
    from assay.data import featurize, load
    from assay.models import ModelInput, make_model
    from assay.twostage import TWO_STAGE_METRICS, two_stage

    if metric not in TWO_STAGE_METRICS:
        raise InvalidParameterError("metric", "one of " + ", ".join(TWO_STAGE_METRICS), metric,
                                    owner="assay pipeline")
    if model not in ("logistic", "hgb"):
        raise InvalidParameterError("model", "logistic or hgb", model, owner="assay pipeline")
    if stage1 == label:
        raise InputValidationError(
            f"--stage1 and --label are both '{label}'; stage 1 predicts an intermediate column "
            "that stage 2 reads, so pass two different columns.")
    if features is not None and stage1 in features:
        raise InputValidationError(
            f"--features includes the stage-1 column '{stage1}'; stage 2 gets it from stage 1, "
            "so leave it out of the features.")
    emb = str(embeddings) if isinstance(embeddings, Path) else embeddings
    try:
        final = load(data, label=label, text=text, features=features, embeddings=emb,
                     meta=[stage1])
    except InputValidationError as exc:  # the stage-1 column is read as a meta column
        raise InputValidationError(str(exc).replace("Meta column", "Stage-1 column")) from exc
    first = load(final.table, label=stage1, meta=[label])
    x = featurize(final, random_state=seed).matrix
    mi = ModelInput(np.asarray(x, dtype=float), np.zeros(x.shape[1], dtype=bool), "vectors",
                    [f"dim_{i}" for i in range(x.shape[1])])
    est = make_model(model, mi, random_state=seed)
    res = two_stage(x, first.labels, final.labels, stage1_estimator=est,
                    stage2_estimator=est, metric=metric, test_size=test_size,
                    random_state=seed, n_jobs=n_jobs)
    facts = {"n_rows": final.n_rows, "stage1": stage1, "label": label,
             "stage1_classes": [str(c) for c in first.classes],
             "classes": [str(c) for c in final.classes], "model": model}
    return res, facts
