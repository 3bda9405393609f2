"""``assay value``: what each row, group and source is worth, per task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import typer

from assay.cli._common import console, print_json
from assay.exceptions import InputValidationError, InvalidParameterError

_METHODS = ("knn-shapley", "data-oob", "banzhaf", "tmc-shapley", "beta-shapley")
_OWNER = "assay value"


def run_value(
    data: Path | pd.DataFrame,
    *,
    label: str,
    method: str = "knn-shapley",
    group: str | None = None,
    tasks: list[str] | None = None,
    text: str | None = None,
    embeddings: str | None = None,
    k: int = 5,
    n_estimators: int = 200,
    max_samples: int = 100,
    max_time: float | None = 300.0,
    seed: int = 0,
    id_col: str | None = None,
    progress: Any = None,
) -> tuple[pd.DataFrame, pd.DataFrame | None, dict[str, Any]]:
    """Value every row of ``data``; return (per-row frame, per-group frame or None, summary).

    Per-row columns (stable names, to join the audit's per-row table): ``data_value`` (first
    task) and ``data_value_<task>`` for every task, ``data_value_stderr*`` for Monte Carlo
    methods, ``is_low_value`` (the k-means low cluster of the values, the Data-OOB authors'
    detection rule) and ``task_conflict`` with several tasks. ``progress(step, done, total)``
    is called as the work advances (the Monte Carlo methods once per utility evaluation).
    """
    from assay.data import featurize, load
    from assay.valuation import group_values, task_conflict

    if method not in _METHODS:
        from assay._validation import did_you_mean

        raise InvalidParameterError("--method", "one of " + ", ".join(_METHODS), method,
                                    owner=_OWNER, hint=did_you_mean(method, _METHODS).strip())
    task_cols = [label] + [t for t in (tasks or []) if t != label]
    ds = load(data, label=label, id=id_col, group=group, text=text, embeddings=embeddings,
              meta=task_cols[1:] or None)
    feats = featurize(ds, random_state=seed)
    x = feats.matrix.astype(np.float64)
    sd = x.std(axis=0)
    x = (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    y = np.stack([_codes(ds.table[c], c) for c in task_cols], axis=1)
    if progress is not None:
        progress(f"valuing {ds.n_rows:,} rows ({method})", 0, 1)
    values, stderr = _METHOD_RUNNERS[method](x, y, k=k, n_estimators=n_estimators,
                                              max_samples=max_samples, max_time=max_time, seed=seed,
                                              progress=progress)
    if progress is not None:
        progress(f"valuing {ds.n_rows:,} rows ({method})", 1, 1)
    frame = pd.DataFrame({"row": ds.ids, "label": ds.table[label].to_numpy()})
    frame["data_value"] = values[:, 0]
    for t, col in enumerate(task_cols):
        frame[f"data_value_{col}"] = values[:, t]
        if stderr is not None:
            frame[f"data_value_stderr_{col}"] = stderr[:, t]
    frame["is_low_value"] = _low_cluster(values[:, 0], seed)
    if len(task_cols) > 1:
        frame["task_conflict"] = task_conflict(values)
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
    }
    return frame, groups, summary


def _codes(col: pd.Series, name: str) -> np.ndarray:
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


def _low_cluster(v: np.ndarray, seed: int) -> np.ndarray:
    if v.size < 2 or np.ptp(v) == 0:
        return np.zeros(v.size, dtype=bool)
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=2, n_init=10, random_state=seed).fit(v[:, None])
    return km.labels_ == int(np.argmin(km.cluster_centers_[:, 0]))


def _run_knn(x: np.ndarray, y: np.ndarray, *, k: int, **_: Any) -> tuple[np.ndarray, None]:
    from assay.valuation import knn_shapley

    # every row is valued against all other rows as test points (leave-self-out)
    return np.stack([knn_shapley(x, y[:, t], k=k) for t in range(y.shape[1])], axis=1), None


def _run_oob(x: np.ndarray, y: np.ndarray, *, n_estimators: int, seed: int,
             **_: Any) -> tuple[np.ndarray, None]:
    from assay.valuation import data_oob

    return data_oob(x, y, n_estimators=n_estimators, random_state=seed).reshape(len(x), -1), None


class _Counting:
    """A utility that reports each evaluation to a progress callback (attributes pass through).

    The bar's total is the budget in evaluations (permutations x players); convergence or the
    time budget can end the work sooner, and the bar then jumps to its end.
    """

    def __init__(self, utility: Any, progress: Any, step: str, total: int) -> None:
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


def _run_mc(name: str):  # noqa: ANN202 - small factory
    def run(x: np.ndarray, y: np.ndarray, *, max_samples: int, max_time: float | None,
            seed: int, progress: Any = None, **_: Any) -> tuple[np.ndarray, np.ndarray]:
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
                util = _Counting(util, progress, f"{name}: half {half_no} of 2",
                                 max_samples * int(part.sum()))
            res = fn(util, max_samples=max_samples, max_time=max_time, random_state=seed)
            values[part] = res.values.reshape(part.sum(), -1)
            stderr[part] = res.stderr.reshape(part.sum(), -1)
        return values, stderr

    return run


_METHOD_RUNNERS = {
    "knn-shapley": _run_knn,
    "data-oob": _run_oob,
    "banzhaf": _run_mc("banzhaf"),
    "tmc-shapley": _run_mc("tmc-shapley"),
    "beta-shapley": _run_mc("beta-shapley"),
}


def register(app: typer.Typer) -> None:
    """Add ``assay value`` to ``app``."""

    @app.command("value")
    def value_cmd(
        data: Path = typer.Argument(..., help="Table (CSV, TSV, Parquet, JSONL)."),
        label: str = typer.Option(..., "--label", help="Label column."),
        method: str = typer.Option(
            "knn-shapley", "--method",
            help="knn-shapley, data-oob, banzhaf, tmc-shapley or beta-shapley.",
        ),
        group: str | None = typer.Option(
            None, "--group", help="Column whose groups (source, annotator, batch) get a value."
        ),
        task: str | None = typer.Option(
            None, "--task", help="More label columns, comma-separated: one value per task."
        ),
        text: str | None = typer.Option(None, "--text", help="Free-text column to featurize."),
        embeddings: str | None = typer.Option(
            None, "--embeddings", help="Aligned .npy embeddings (used instead of features)."
        ),
        k: int = typer.Option(5, "--k", help="Neighbours of KNN-Shapley."),
        n_estimators: int = typer.Option(200, "--n-estimators", help="Bootstrap learners of Data-OOB."),
        max_samples: int = typer.Option(
            100, "--max-samples", help="Permutations / coalitions of Monte Carlo methods."
        ),
        max_time: float = typer.Option(
            300.0, "--max-time", help="Seconds per half for Monte Carlo methods."
        ),
        seed: int = typer.Option(
            0, "--seed", min=0, max=2**32 - 1, help="Random seed."),
        id_col: str | None = typer.Option(
            None, "--id", help="Row id column (the 'row' of values.csv; match the audit's --id)."),
        top: int = typer.Option(10, "--top", help="Lowest-valued rows to show."),
        out: Path | None = typer.Option(
            None, "--out", help="Output folder (default: the run's folder, "
            "<workspace>/runs/<run id>/)."),
        workspace: Path | None = typer.Option(
            None, "--workspace", "-w", help="Workspace folder (default: the nearest .assay/ at "
            "or above the data's folder, else a new one beside the data; $ASSAY_WORKSPACE)."),
        no_workspace: bool = typer.Option(
            False, "--no-workspace", help="Do not record the run (then --out is needed)."),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        """Value every row (and group) of a table: which examples help, which harm."""
        from assay.cli._common import progress_bar, recorded_run
        from assay.data import atomic_path, check_output_dir

        names = ("values.csv", "group_values.csv")
        if no_workspace and out is None:
            raise InputValidationError(
                "--no-workspace needs --out: without a workspace there is no run folder to "
                "write values.csv into. Pass --out DIR, or leave --no-workspace out.")
        if out is not None:
            out = check_output_dir(out, inputs=[data, embeddings], names=names)
        tasks = [t.strip() for t in task.split(",") if t.strip()] if task else None
        params = {"data": str(data), "label": label, "method": method, "group": group,
                  "tasks": tasks, "k": k, "n_estimators": n_estimators,
                  "max_samples": max_samples, "max_time": max_time, "seed": seed}
        with recorded_run("value", params, data=data, workspace=workspace,
                          enabled=not no_workspace) as run, \
                progress_bar(not as_json) as progress:
            target = out if out is not None else run.folder
            assert target is not None  # noqa: S101 - checked above
            frame, groups, summary = run_value(
                data, label=label, method=method, group=group, tasks=tasks, text=text,
                embeddings=embeddings, k=k, n_estimators=n_estimators, max_samples=max_samples,
                max_time=max_time, seed=seed, id_col=id_col, progress=progress,
            )
            outputs = {"values": str(target / "values.csv")}
            with atomic_path(target / "values.csv") as tmp:
                frame.to_csv(tmp, index=False)
            if groups is not None:
                outputs["groups"] = str(target / "group_values.csv")
                with atomic_path(target / "group_values.csv") as tmp:
                    groups.to_csv(tmp)
            if run.rec is not None:
                run.rec.summary.update({k: v for k, v in summary.items() if k != "outputs"})
                run.rec.summary["outputs"] = outputs
        summary["run_id"] = run.run_id
        lowest = frame.nsmallest(top, "data_value")
        shown = lowest.drop(columns=[f"data_value_{label}"])  # same as data_value
        summary["outputs"] = outputs
        if as_json:
            payload = dict(summary)
            payload["lowest"] = lowest.astype(object).where(lowest.notna(), None).to_dict("records")
            if groups is not None:
                payload["groups"] = groups.reset_index().to_dict("records")
            print_json(payload)
            return
        _print_summary(summary, shown, groups)


def _print_summary(summary: dict[str, Any], lowest: pd.DataFrame, groups: pd.DataFrame | None) -> None:
    from rich.table import Table
    from rich.text import Text

    console.print(Text.assemble(
        ("assay value", "bold"), f"  method {summary['method']}, {summary['n_rows']} rows, ",
        f"tasks: {', '.join(map(str, summary['tasks']))}",
    ))
    for task, s in summary["per_task"].items():
        console.print(Text(
            f"  {task}: mean {s['mean']:.4g}, min {s['min']:.4g}, max {s['max']:.4g}, "
            f"{s['n_negative']} negative"
        ))
    console.print(Text(f"  {summary['n_low_value']} rows in the low-value cluster"))
    table = Table(title="Lowest-valued rows")
    for col in lowest.columns:
        table.add_column(str(col))
    for _, row in lowest.iterrows():
        table.add_row(*[f"{v:.4g}" if isinstance(v, float) else str(v) for v in row.tolist()])
    console.print(table)
    if groups is not None:
        gt = Table(title="Group values (sum of row values)")
        gt.add_column("group")
        for col in groups.columns:
            gt.add_column(str(col))
        for name, row in groups.iterrows():
            gt.add_row(str(name), *[f"{v:.4g}" for v in row.tolist()])
        console.print(gt)
    for name, path in summary["outputs"].items():
        console.print(Text(f"  {name}: {path}"))
