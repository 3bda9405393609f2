"""``assay train``: a long-tail light head on frozen embeddings, evaluated and recorded.

Input (keep it simple):

* a Parquet / CSV / TSV / JSONL table with the label column and either one column whose cells
  are vectors (``--embedding COL``; detected automatically when there is exactly one such
  column) or numeric feature columns (every column that is not the label or the split); or
* a ``.npy`` matrix of embeddings plus ``--labels FILE``, a table aligned row by row with the
  label (and split) column.

Rows are split by ``--split COL`` (values ``train``, ``valid``/``validation``/``val``/``dev``,
``test``) or, without it, at random per class (60 / 20 / 20, seeded). Tau and checkpoints are
chosen on the validation rows only; the test rows are used once, for the reported metrics.
The run record (JSON, schema ``assay.run/1``, see :mod:`assay.compare`) goes to ``--out DIR``.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import secrets
import time
from pathlib import Path
from typing import Any

import numpy as np
import typer

from assay.cli._common import console, print_json
from assay.exceptions import InputValidationError, InvalidParameterError

_RECIPES = ("ce", "cb", "focal", "ldam-drw", "logit-adjusted", "balanced-softmax", "crt")
_SPLIT_NAMES = {
    "train": "train", "training": "train",
    "valid": "valid", "validation": "valid", "val": "valid", "dev": "valid",
    "test": "test",
}


def register(app: typer.Typer) -> None:
    """Add ``train`` to the ``assay`` app."""
    app.command("train")(train_command)


def train_command(
    embeddings: Path = typer.Argument(..., help="Table (Parquet/CSV/TSV/JSONL) or .npy file."),
    label: str = typer.Option(..., "--label", help="Label column."),
    recipe: str = typer.Option("ce", "--recipe", help="One of: " + ", ".join(_RECIPES) + "."),
    posthoc_tau: str | None = typer.Option(
        None, "--posthoc-tau",
        help="Post-hoc logit adjustment f - tau log(prior): a float, or 'auto' to choose tau on "
        "the validation rows.",
    ),
    split: str | None = typer.Option(None, "--split", help="Split column (train/valid/test)."),
    embedding: str | None = typer.Option(None, "--embedding", help="Column holding vectors."),
    labels_file: Path | None = typer.Option(
        None, "--labels", help="Table with the label (and split) column, for a .npy input."
    ),
    backbone: str | None = typer.Option(None, "--backbone", help="Model that made the embeddings."),
    pretraining_data: str | None = typer.Option(
        None, "--pretraining-data", help="What the backbone was pretrained on, if known."
    ),
    extra_data: list[str] = typer.Option(  # noqa: B006 - typer needs a list default
        [], "--extra-data", help="Data used beyond the training split (repeatable)."
    ),
    epochs: int = typer.Option(30, "--epochs", min=1, help="Training epochs."),
    hidden: int | None = typer.Option(None, "--hidden", min=1, help="Hidden layer width."),
    classifier: str | None = typer.Option(None, "--classifier", help="linear or cosine."),
    lr: float = typer.Option(5e-2, "--lr", help="Adam learning rate."),
    smoothing: float = typer.Option(
        0.0, "--prior-smoothing",
        help="Pseudo-count per class for the log prior (needed if a class has no training row).",
    ),
    seed: int = typer.Option(
        0, "--seed", min=0, max=2**32 - 1, help="Random seed (split, initialisation, sampling)."),
    out: Path | None = typer.Option(
        None, "--out", help="Folder for the run record (default: <workspace>/runs/, the "
        "workspace found as for 'assay audit'; 'assay runs --compare' reads it)."),
    as_json: bool = typer.Option(False, "--json", help="Print the run record as JSON."),
) -> None:
    """Train a long-tail head on frozen embeddings, evaluate it, and record the run."""
    from assay.compare import RUN_SCHEMA
    from assay.longtail import (
        adjust_logits,
        group_accuracy,
        prior_from_counts,
        prior_shift_curve,
        select_posthoc_tau,
    )

    if recipe not in _RECIPES:
        from assay._validation import did_you_mean

        raise InvalidParameterError(
            "recipe", "one of " + ", ".join(_RECIPES), recipe, owner="assay train",
            hint=did_you_mean(recipe, _RECIPES).strip(),
        )
    tau_value = _parse_tau(posthoc_tau)
    import assay.torch as at  # MissingDependencyError (exit 2) when torch is absent
    from assay.data import check_output_dir
    from assay.workspace import default_workspace

    for given in (embeddings, labels_file):  # before a workspace folder is made for them
        if given is not None and not given.exists():
            raise InputValidationError(
                f"File not found: '{given}'. Check the path and try again.")
    ws_root = default_workspace(labels_file or embeddings) if out is None else None
    out = check_output_dir(out if out is not None else ws_root / "runs",  # type: ignore[operator]
                           inputs=[embeddings, labels_file])

    started = time.perf_counter()
    ds, x, featurizer = _load(embeddings, label=label, split=split, embedding=embedding,
                              labels_file=labels_file)
    y = ds.labels
    n_classes = ds.n_classes
    part, split_info = _split(ds, split, seed)
    tr, va, te = (np.flatnonzero(part == k) for k in ("train", "valid", "test"))
    if tr.size == 0 or te.size == 0:
        raise InputValidationError(
            f"The split has {tr.size} train and {te.size} test rows; both are needed. Check the "
            f"values of the split column (train / valid / test)."
        )
    if tau_value == "auto" and va.size == 0:
        raise InputValidationError(
            "--posthoc-tau auto chooses tau on validation rows, but the split has none. Add "
            "'valid' rows to the split column, or pass a fixed tau (e.g. --posthoc-tau 1)."
        )
    counts = np.bincount(y[tr], minlength=n_classes)
    from assay.cli._common import progress_bar

    with progress_bar(not as_json) as progress:
        fit = at.fit_head(
            x[tr], y[tr], recipe=recipe, n_classes=n_classes, classifier=classifier,
            hidden=hidden, epochs=epochs, lr=lr, smoothing=smoothing, random_state=seed,
            validation=(x[va], y[va]) if va.size else None, progress=progress,
        )
    t0 = time.perf_counter()
    test_logits = fit.logits(x[te])
    inference_seconds = time.perf_counter() - t0
    tau_selection, tau_used = "none", None
    if tau_value is not None:
        prior = prior_from_counts(counts, smoothing=smoothing)
        if tau_value == "auto":
            tau_used, _ = select_posthoc_tau(fit.logits(x[va]), y[va], prior)
            tau_selection = "validation"
        else:
            tau_used, tau_selection = float(tau_value), "fixed"
        test_logits = adjust_logits(test_logits, prior, tau=tau_used)
    pred = test_logits.argmax(axis=1)
    acc = group_accuracy(y[te], pred, counts)
    curve = prior_shift_curve(y[te], pred, counts)
    metrics: dict[str, Any] = {k: _finite(v) for k, v in acc.as_dict().items()}
    metrics["prior_shift"] = {p: float(a) for p, a in zip(curve["profile"], curve["accuracy"],
                                                          strict=True)}
    metrics["n_test"] = int(te.size)
    record = _record(
        RUN_SCHEMA, recipe=recipe, ds=ds, fit=fit, counts=counts, metrics=metrics,
        provenance={
            "embedding_source": str(embeddings),
            "featurizer": featurizer,
            "backbone": backbone,
            "pretraining_data": pretraining_data,
            "extra_data": list(extra_data),
            "data_fingerprint": _fingerprint(x, ds, part),
            "params_trained": fit.params_trained,
            "train_seconds": round(fit.train_seconds, 4),
            "inference_seconds": round(inference_seconds, 4),
            "total_seconds": round(time.perf_counter() - started, 4),
            "selection": {"tau": tau_selection, "checkpoint": fit.checkpoint},
            "split": split_info,
            "versions": _versions(),
        },
        params={
            "recipe": recipe, "posthoc_tau": tau_used, "epochs": epochs, "hidden": hidden,
            "classifier": fit.classifier, "sampler": fit.sampler, "loss": fit.loss, "lr": lr,
            "prior_smoothing": smoothing, "seed": seed, "best_epoch": fit.best_epoch,
        },
    )
    from assay.data import atomic_path, remove_stale_temps

    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)
    path = out / f"{record['run_id']}.json"
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record, indent=2, allow_nan=False), encoding="utf-8")
    if ws_root is not None:  # listed by 'assay runs' beside the audits
        from assay.workspace import Workspace

        with Workspace.open(ws_root).record_run("train", {
                "data": str(embeddings), "label": label, "recipe": recipe, "epochs": epochs,
                "seed": seed}) as rec:
            rec.summary.update({"record": str(path), "metrics": {
                k: v for k, v in metrics.items() if isinstance(v, int | float)}})
    if as_json:
        print_json(record)
        return
    _print(record, curve, path)


def _parse_tau(value: str | None) -> float | str | None:
    if value is None or value == "auto":
        return value
    try:
        tau = float(value)
    except ValueError:
        tau = float("nan")
    if not np.isfinite(tau) or tau < 0:
        raise InvalidParameterError(
            "--posthoc-tau", "a float >= 0 or 'auto'", value, owner="assay train",
            hint="1.0 is the Fisher-consistent choice for balanced error; 'auto' picks it on "
            "the validation rows.",
        )
    return tau


def _load(
    path: Path, *, label: str, split: str | None, embedding: str | None,
    labels_file: Path | None,
) -> tuple[Any, np.ndarray, str]:
    import pandas as pd

    from assay.data import featurize, load, read_table

    if not path.exists():
        raise InputValidationError(f"File not found: '{path}'. Check the path and try again.")
    if path.suffix.lower() == ".npy":
        if labels_file is None:
            raise InputValidationError(
                f"'{path}' is a .npy matrix, which has no labels. Pass --labels FILE: a table "
                "aligned row by row with the label (and split) column."
            )
        ds = load(labels_file, label=label, split=split, embeddings=path)
    else:
        if embedding is None:
            table = read_table(path)
            vector_cols = [
                c for c in table.columns if table[c].dtype == object and table.shape[0]
                and isinstance(table[c].iloc[0], list | tuple | np.ndarray)
            ]
            if len(vector_cols) == 1:
                embedding = str(vector_cols[0])
            found = load(table, label=label, split=split,
                         embeddings=embedding) if embedding else None
            if found is not None:
                ds = found
            else:
                features = [c for c in table.columns if c not in (label, split)
                            and pd.api.types.is_numeric_dtype(table[c].dtype)
                            and not pd.api.types.is_bool_dtype(table[c].dtype)]
                if not features:
                    raise InputValidationError(
                        f"'{path}' has no vector column and no numeric feature column besides "
                        "the label. Pass --embedding COL, or a table of numeric columns."
                    )
                ds = load(table, label=label, split=split, features=features)
            ds = _with_source(ds, path)
        else:
            ds = load(path, label=label, split=split, embeddings=embedding)
    feats = featurize(ds)
    return ds, feats.matrix, feats.featurizer


def _with_source(ds: Any, path: Path) -> Any:
    import dataclasses

    return dataclasses.replace(ds, source=str(path))


def _fingerprint(x: np.ndarray, ds: Any, part: np.ndarray) -> str:
    """sha256 of what the run saw: features, labels, class names and the split of each row."""
    import hashlib

    h = hashlib.sha256(np.ascontiguousarray(x, dtype=np.float32).tobytes())
    h.update(np.ascontiguousarray(ds.labels, dtype=np.int64).tobytes())
    h.update(json.dumps([str(c) for c in ds.classes]).encode())
    h.update("\n".join(part.astype(str).tolist()).encode())
    return h.hexdigest()[:16]


def _split(ds: Any, split: str | None, seed: int) -> tuple[np.ndarray, dict[str, Any]]:
    if split is not None:
        raw = ds.table[split].astype(str).str.strip().str.lower()
        unknown = sorted(set(raw) - set(_SPLIT_NAMES))
        if unknown:
            raise InputValidationError(
                f"Split column '{split}' has values {unknown[:5]} that are not train / valid / "
                "test. Rename them (valid also accepts validation, val, dev)."
            )
        part = raw.map(_SPLIT_NAMES).to_numpy()
        info: dict[str, Any] = {"source": f"column:{split}"}
    else:
        rng = np.random.default_rng(seed)
        part = np.empty(ds.n_rows, dtype=object)
        for j in range(ds.n_classes):
            rows = rng.permutation(np.flatnonzero(ds.labels == j))
            n_te = int(round(0.2 * rows.size))
            n_va = int(round(0.2 * rows.size))
            part[rows[:n_te]] = "test"
            part[rows[n_te:n_te + n_va]] = "valid"
            part[rows[n_te + n_va:]] = "train"
        info = {"source": f"random per class 60/20/20 (seed {seed})"}
    info.update({k: int(np.sum(part == k)) for k in ("train", "valid", "test")})
    return part, info


def _finite(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    import assay

    return {"assay": assay.__version__, "torch": version("torch"), "numpy": np.__version__,
            "python": platform.python_version()}


def _record(schema: str, *, recipe: str, ds: Any, fit: Any, counts: np.ndarray,
            metrics: dict[str, Any], provenance: dict[str, Any],
            params: dict[str, Any]) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    return {
        "schema": schema,
        "run_id": f"{now:%Y%m%dT%H%M%S}-{recipe}-{secrets.token_hex(3)}",
        "command": "train",
        "created": now.isoformat(timespec="seconds"),
        "recipe": recipe,
        "params": params,
        "classes": [c if isinstance(c, int | float | str) else str(c) for c in ds.classes],
        "train_counts": [int(c) for c in counts],
        "provenance": provenance,
        "metrics": metrics,
    }


def _print(record: dict[str, Any], curve: Any, path: Path) -> None:
    from rich.table import Table
    from rich.text import Text

    m, p = record["metrics"], record["provenance"]

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{100 * v:.1f}"

    table = Table(title=Text(f"assay train: {record['recipe']}"), title_justify="left")
    for col in ("many", "medium", "few", "balanced", "natural", "worst class"):
        table.add_column(col, justify="right")
    table.add_row(*(pct(m[k]) for k in ("many", "medium", "few", "balanced", "overall",
                                        "worst_class")))
    console.print(table)
    shift = Table(title=Text("Accuracy under shifted test priors"), title_justify="left")
    shift.add_column("test prior")
    shift.add_column("accuracy %", justify="right")
    for prof, a in zip(curve["profile"], curve["accuracy"], strict=True):
        shift.add_row(Text(str(prof)), f"{100 * a:.1f}")
    console.print(shift)
    sel = p["selection"]
    console.print(Text(
        f"{p['params_trained']:,} parameters trained in {p['train_seconds']:.2f}s "
        f"(inference {p['inference_seconds']:.3f}s); tau: {sel['tau']}, checkpoint: "
        f"{sel['checkpoint']}; data {p['data_fingerprint']}. Run record: {path}"
    ))
