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

Post-hoc steps, in this order: tau-normalisation of the classifier (``--tau-norm``), then logit
adjustment ``f - tau log pi + tau log q`` (``--posthoc-tau``) towards the target prior ``q``
(``--target-prior``, uniform by default). Each ``auto`` value is the best of a grid on the
validation rows by accuracy under ``q`` (balanced accuracy for a uniform ``q``); the record
says, for each choice, whether it was given or chosen, and how.
"""

from __future__ import annotations

import dataclasses
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
_SAMPLERS = ("instance", "class-balanced", "square-root", "progressive")
_PRIOR_KEYWORDS = ("uniform", "train")
#: how far from 1 the shares of a --target-prior file may sum (they are then normalised)
_PRIOR_SUM_TOL = 1e-3
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
    tau_norm: str | None = typer.Option(
        None, "--tau-norm",
        help="tau-normalisation of the trained linear classifier, w_j / ||w_j||^tau (bias "
        "dropped): a float >= 0, or 'auto' to choose tau on the validation rows (grid 0, 0.1, "
        "..., 2). Applied before --posthoc-tau.",
    ),
    target_prior: str | None = typer.Option(
        None, "--target-prior", "--prior",
        help="Test class prior q to evaluate under and adjust to: 'uniform' (default), 'train' "
        "(the training prior) or a .csv/.tsv file with a header and two columns (class, share) "
        "or a .json object {class: share}; every class, shares >= 0 summing to 1. Sets the "
        "metric of 'auto' choices and what --posthoc-tau adjusts to (f - tau log pi + tau log q).",
    ),
    sampler: str | None = typer.Option(
        None, "--sampler",
        help="Training sampler: " + ", ".join(_SAMPLERS) + " (default: the recipe's; for crt "
        "it samples the classifier re-training stage).",
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
    lr: str = typer.Option(
        "0.05", "--lr",
        help="Adam learning rate: a float > 0 (cosine decay per epoch), or 'auto' (learning-rate "
        "range test, then one-cycle; the finder's curve goes into the run record)."),
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
        prior_shift_accuracy,
        prior_shift_curve,
        select_posthoc_tau,
    )

    if recipe not in _RECIPES:
        from assay._validation import did_you_mean

        raise InvalidParameterError(
            "recipe", "one of " + ", ".join(_RECIPES), recipe, owner="assay train",
            hint=did_you_mean(recipe, _RECIPES).strip(),
        )
    tau_value = _parse_tau(posthoc_tau, "--posthoc-tau")
    lr_value = _parse_lr(lr)
    tau_norm_value = _parse_tau(tau_norm, "--tau-norm")
    if sampler is not None and sampler not in _SAMPLERS:
        from assay._validation import did_you_mean

        raise InvalidParameterError(
            "--sampler", "one of " + ", ".join(_SAMPLERS), sampler, owner="assay train",
            hint=did_you_mean(sampler, _SAMPLERS).strip(),
        )
    prior_file = _prior_path(target_prior)
    import assay.torch as at  # MissingDependencyError (exit 2) when torch is absent

    if tau_norm_value is not None and (classifier or at.RECIPES[recipe][2]) == "cosine":
        raise InputValidationError(
            "--tau-norm rescales the class vectors of a linear classifier, but this run's "
            f"classifier is cosine ({'--classifier cosine' if classifier else 'recipe ' + recipe})"
            ", whose class vectors are already normalised. Drop --tau-norm, or pass "
            "--classifier linear."
        )
    from assay.data import check_output_dir
    from assay.workspace import default_workspace

    for given in (embeddings, labels_file, prior_file):  # before a workspace folder is made
        if given is not None and not given.exists():
            raise InputValidationError(
                f"File not found: '{given}'. Check the path and try again.")
    ws_root = default_workspace(labels_file or embeddings) if out is None else None
    out = check_output_dir(out if out is not None else ws_root / "runs",  # type: ignore[operator]
                           inputs=[embeddings, labels_file, prior_file])

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
    for opt, value in (("--posthoc-tau", tau_value), ("--tau-norm", tau_norm_value)):
        if value == "auto" and va.size == 0:
            raise InputValidationError(
                f"{opt} auto chooses tau on validation rows, but the split has none. Add "
                f"'valid' rows to the split column, or pass a fixed tau (e.g. {opt} 1)."
            )
    counts = np.bincount(y[tr], minlength=n_classes)
    q, prior_choice = _target_prior(target_prior, prior_file, ds.classes, counts, smoothing)
    if q is not None and "auto" in (tau_value, tau_norm_value):
        unseen = [str(ds.classes[j]) for j in np.flatnonzero(
            (q > 0) & (np.bincount(y[va], minlength=n_classes) == 0))]
        if unseen:
            raise InputValidationError(
                f"'auto' scores each tau by accuracy under the target prior, but the validation "
                f"rows have no row of class(es) {unseen[:10]}, which the prior gives a positive "
                "share. Add validation rows of them, or pass fixed taus."
            )
    from assay.cli._common import progress_bar

    with progress_bar(not as_json) as progress:
        fit = at.fit_head(
            x[tr], y[tr], recipe=recipe, n_classes=n_classes, classifier=classifier,
            hidden=hidden, sampler=sampler, epochs=epochs, lr=lr_value, smoothing=smoothing,
            random_state=seed, validation=(x[va], y[va]) if va.size else None,
            progress=progress,
        )
    head_params = at.parameter_counts(fit.model)
    n_valid = int(va.size)
    tau_norm_used, tau_norm_choice = None, None
    if tau_norm_value is not None:
        if tau_norm_value == "auto":
            tau_norm_used, table = at.select_tau_norm(fit.model, x[va], y[va], target_prior=q)
            tau_norm_choice = _auto_choice(tau_norm_used, table, n_valid)
        else:
            tau_norm_used = float(tau_norm_value)
            tau_norm_choice = _given_choice(tau_norm_used)
        fit = dataclasses.replace(fit, model=at.tau_normalize(fit.model, tau_norm_used))
    t0 = time.perf_counter()
    test_logits = fit.logits(x[te])
    inference_seconds = time.perf_counter() - t0
    tau_selection, tau_used, tau_choice = "none", None, None
    if tau_value is not None:
        prior = prior_from_counts(counts, smoothing=smoothing)
        if tau_value == "auto":
            val_logits = fit.logits(x[va])
            if q is None:
                tau_used, table = select_posthoc_tau(val_logits, y[va], prior,
                                                     taus=at.TAU_GRID)
            else:
                tau_used, table = _select_posthoc_tau_under(val_logits, y[va], prior, q,
                                                            at.TAU_GRID)
            tau_selection, tau_choice = "validation", _auto_choice(tau_used, table, n_valid)
        else:
            tau_used, tau_selection = float(tau_value), "fixed"
            tau_choice = _given_choice(tau_used)
        test_logits = adjust_logits(test_logits, prior, target_prior=q, tau=tau_used)
    pred = test_logits.argmax(axis=1)
    acc = group_accuracy(y[te], pred, counts)
    curve = prior_shift_curve(y[te], pred, counts)
    metrics: dict[str, Any] = {k: _finite(v) for k, v in acc.as_dict().items()}
    metrics["target_prior_accuracy"] = prior_shift_accuracy(
        y[te], pred, np.full(n_classes, 1.0 / n_classes) if q is None else q, method="weight")
    metrics["prior_shift"] = {p: float(a) for p, a in zip(curve["profile"], curve["accuracy"],
                                                          strict=True)}
    metrics["n_test"] = int(te.size)
    sampler_choice = {"name": fit.sampler,
                      "how": "given" if sampler else f"recipe default ({recipe})"}
    record = _record(
        RUN_SCHEMA, recipe=recipe, ds=ds, fit=fit, counts=counts, metrics=metrics,
        provenance={
            "embedding_source": str(embeddings),
            "featurizer": featurizer,
            "backbone": backbone,
            "pretraining_data": pretraining_data,
            "extra_data": list(extra_data),
            "data_fingerprint": _fingerprint(x, ds, part),
            "params_trained": head_params["trainable"],
            "head_parameters": head_params,
            "train_seconds": round(fit.train_seconds, 4),
            "inference_seconds": round(inference_seconds, 4),
            "total_seconds": round(time.perf_counter() - started, 4),
            "selection": {"tau": tau_selection, "checkpoint": fit.checkpoint,
                          "tau_norm": "none" if tau_norm_choice is None
                          else "validation" if tau_norm_value == "auto" else "fixed"},
            "choices": {"sampler": sampler_choice, "tau_norm": tau_norm_choice,
                        "posthoc_tau": tau_choice, "target_prior": prior_choice},
            "split": split_info,
            "lr_finder": [r.as_dict() for r in fit.lr_finder],
            "versions": _versions(),
        },
        params={
            "recipe": recipe, "posthoc_tau": tau_used, "tau_norm": tau_norm_used,
            "target_prior": prior_choice["source"], "epochs": epochs, "hidden": hidden,
            "classifier": fit.classifier, "sampler": fit.sampler, "loss": fit.loss, "lr": fit.lr,
            "lr_schedule": fit.lr_schedule,
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
                "seed": seed, "sampler": fit.sampler, "tau_norm": tau_norm_used,
                "posthoc_tau": tau_used, "target_prior": prior_choice["source"]}) as rec:
            rec.summary.update({"record": str(path), "metrics": {
                k: v for k, v in metrics.items() if isinstance(v, int | float)}})
    if as_json:
        print_json(record)
        return
    _print(record, curve, path)


_TAU_HINTS = {
    "--posthoc-tau": "1.0 is the Fisher-consistent choice for balanced error; 'auto' picks it "
    "on the validation rows.",
    "--tau-norm": "0 keeps the class weights (bias dropped), 1 gives unit class vectors; "
    "'auto' picks tau on the validation rows.",
}


def _parse_lr(value: str) -> float | str:
    if value == "auto":
        return value
    try:
        lr = float(value)
    except ValueError:
        lr = float("nan")
    if not np.isfinite(lr) or lr <= 0:
        raise InvalidParameterError("--lr", "a float > 0 or 'auto'", value, owner="assay train",
                                    hint="'auto' runs a learning-rate range test and trains "
                                    "with one-cycle; 0.05 is the fixed rate of earlier versions.")
    return lr


def _parse_tau(value: str | None, option: str) -> float | str | None:
    if value is None or value == "auto":
        return value
    try:
        tau = float(value)
    except ValueError:
        tau = float("nan")
    if not np.isfinite(tau) or tau < 0:
        raise InvalidParameterError(option, "a float >= 0 or 'auto'", value, owner="assay train",
                                    hint=_TAU_HINTS[option])
    return tau


def _grid_text(grid: Any) -> str:
    """``[0, 0.1, ..., 2]`` for an even grid of 4 or more values, else every value."""
    g = [float(v) for v in grid]
    steps = np.diff(g)
    if len(g) >= 4 and np.allclose(steps, steps[0]):
        return f"[{g[0]:g}, {g[1]:g}, ..., {g[-1]:g}] ({len(g)} values)"
    return "[" + ", ".join(f"{v:g}" for v in g) + "]"


def _auto_choice(tau: float, table: Any, n_valid: int) -> dict[str, Any]:
    """How an 'auto' tau was chosen: split, metric, grid and the score of every grid value."""
    metric = str(table.columns[1])
    grid = [float(v) for v in table["tau"]]
    return {
        "value": float(tau), "chosen": "auto", "split": "valid", "n_rows": n_valid,
        "metric": metric, "grid": grid, "scores": [round(float(v), 6) for v in table[metric]],
        "how": f"auto on valid split ({n_valid} rows), metric {metric}, grid {_grid_text(grid)}",
    }


def _given_choice(value: float) -> dict[str, Any]:
    return {"value": float(value), "chosen": "given", "how": "given"}


def _select_posthoc_tau_under(
    logits: np.ndarray, y: np.ndarray, train_prior: np.ndarray, q: np.ndarray, grid: Any,
) -> tuple[float, Any]:
    """:func:`assay.longtail.select_posthoc_tau` for a non-uniform target prior ``q``.

    Each tau adjusts ``f - tau log pi + tau log q`` and is scored by the accuracy under ``q``
    (for a uniform ``q`` both the adjustment and the score are select_posthoc_tau's); ties go
    to the smallest tau.
    """
    import pandas as pd

    from assay.longtail import adjust_logits, prior_shift_accuracy

    scores = [prior_shift_accuracy(
        y, adjust_logits(logits, train_prior, target_prior=q, tau=float(t)).argmax(axis=1), q,
        method="weight") for t in grid]
    return float(grid[int(np.argmax(scores))]), pd.DataFrame(
        {"tau": list(grid), "target_prior_accuracy": scores})


def _prior_path(value: str | None) -> Path | None:
    """The --target-prior file, or None for a keyword; a missing file is a one-line error."""
    if value is None or value in _PRIOR_KEYWORDS:
        return None
    path = Path(value)
    if not path.is_file():
        from assay._validation import did_you_mean

        raise InvalidParameterError(
            "--target-prior", "'uniform', 'train' or an existing .csv/.tsv/.json file of class "
            "-> share", value, owner="assay train",
            hint=(did_you_mean(value, _PRIOR_KEYWORDS).strip()
                  or f"No file '{path}' (or it is a folder): check the path."),
        )
    return path


def _target_prior(
    value: str | None, path: Path | None, classes: list[Any], counts: np.ndarray,
    smoothing: float,
) -> tuple[np.ndarray | None, dict[str, Any]]:
    """The target prior ``q`` (None: uniform) and how it was chosen, for the run record."""
    names = [str(c) for c in classes]
    if value is None or value == "uniform":
        q = None
        shares = np.full(len(names), 1.0 / len(names))
        source = "uniform"
    elif value == "train":
        from assay.longtail import prior_from_counts

        q = shares = prior_from_counts(counts, smoothing=smoothing)
        source = "train"  # the train split's class shares (with --prior-smoothing)
    else:
        q = shares = _read_prior_file(path or Path(value), names)
        source = f"file:{path or value}"
    how = "default" if value is None else "given"
    return q, {"source": source, "chosen": how, "how": how,
               "shares": {n: round(float(v), 8) for n, v in zip(names, shares, strict=True)}}


def _read_prior_file(path: Path, names: list[str]) -> np.ndarray:
    """Shares per class (in ``names`` order) from a .json object or a two-column table."""
    where = f"Target prior file '{path}'"
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputValidationError(
                f"{where} is not valid UTF-8 JSON ({exc}). Write an object such as "
                '{"cat": 0.5, "dog": 0.5}.') from exc
        if not isinstance(data, dict):
            raise InputValidationError(
                f"{where} holds a JSON {type(data).__name__}, not an object. Write an object of "
                'class -> share, such as {"cat": 0.5, "dog": 0.5}.')
        pairs = [(str(k), v) for k, v in data.items()]
    else:
        from assay.data import read_table

        table = read_table(path)
        if table.shape[1] != 2:
            raise InputValidationError(
                f"{where} has {table.shape[1]} columns ({', '.join(map(str, table.columns[:5]))});"
                " expected 2: the class and its share, under a header row (e.g. class,share)."
            )
        pairs = [(str(k), v) for k, v in zip(table.iloc[:, 0], table.iloc[:, 1], strict=True)]
    seen: dict[str, float] = {}
    for name, raw in pairs:
        if name in seen:
            raise InputValidationError(f"{where} lists class '{name}' twice. Give each class "
                                       "one share.")
        ok = isinstance(raw, int | float | np.integer | np.floating) and not isinstance(raw, bool)
        share = float(raw) if ok else float("nan")
        if not np.isfinite(share) or share < 0:
            raise InputValidationError(
                f"{where} gives class '{name}' the share {raw!r}; each share must be a finite "
                "number >= 0.")
        seen[name] = share
    unknown = [n for n in seen if n not in names]
    if unknown:
        from assay._validation import did_you_mean

        raise InputValidationError(
            f"{where} names class(es) {unknown[:10]} that are not in the data (classes: "
            f"{', '.join(names[:20])}).{did_you_mean(unknown[0], names)}")
    missing = [n for n in names if n not in seen]
    if missing:
        raise InputValidationError(
            f"{where} has no share for class(es) {missing[:10]}. Give every class of the data a "
            "share (0 is allowed); a table's first row is its header.")
    q = np.array([seen[n] for n in names], dtype=np.float64)
    total = float(q.sum())
    if abs(total - 1.0) > _PRIOR_SUM_TOL:
        raise InputValidationError(
            f"{where} has shares summing to {total:.6g}, not 1 (tolerance {_PRIOR_SUM_TOL:g}). "
            "Make them sum to 1, e.g. divide each by their total.")
    return q / total


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
    ch, n = p["choices"], p["head_parameters"]
    for what, choice in (("tau-norm", ch["tau_norm"]), ("logit adjustment tau", ch["posthoc_tau"])):
        console.print(Text(f"{what}: " + ("none" if choice is None
                                          else f"{choice['value']:g}, {choice['how']}")))
    q = ch["target_prior"]
    shares = ", ".join(f"{k} {v:.3g}" for k, v in list(q["shares"].items())[:8])
    more = ", ..." if len(q["shares"]) > 8 else ""
    console.print(Text(f"target prior: {q['source']} ({q['how']}; {shares}{more}); test "
                       f"accuracy under it {pct(m['target_prior_accuracy'])} %"))
    console.print(Text(
        f"head: {n['trainable']:,} trainable of {n['total']:,} parameters, trained in "
        f"{p['train_seconds']:.2f}s (inference {p['inference_seconds']:.3f}s) with the "
        f"{ch['sampler']['name']} sampler ({ch['sampler']['how']}); checkpoint: "
        f"{p['selection']['checkpoint']}; data {p['data_fingerprint']}. Run record: {path}"
    ))


def print_choices(rows: list[dict[str, Any]]) -> None:
    """``assay runs --compare``'s second table: sampler, head size and the post-hoc choices.

    ``rows`` are :func:`assay.compare.compare_runs` rows, best first; runs are numbered by
    that rank (``#1``...), as in the leaderboard above. How each tau and each prior file was
    chosen goes to numbered notes under the table, so that the table fits 80 columns.
    """
    from rich import box
    from rich.table import Table
    from rich.text import Text

    notes: dict[str, int] = {}

    def note(text: Any) -> str:
        if not text:
            return ""
        return f" [{notes.setdefault(str(text), len(notes) + 1)}]"

    def tau(value: Any, how: Any) -> str:
        if value is None:
            return "-"
        if str(how).startswith("given"):
            return f"{value:g}"
        return f"{value:g}{note(how)}"

    names = [f"#{rank}" for rank in range(1, len(rows) + 1)]
    table = Table(title=Text("Training and post-hoc choices"), title_justify="left",
                  box=box.SIMPLE_HEAD)
    for col in ("run", "sampler", "params", "tau-norm", "LA tau", "target q", "acc@q"):
        table.add_column(col, justify="left" if col in ("run", "sampler") else "right",
                         overflow="fold")
    for name, r in zip(names, rows, strict=True):
        trained, total = r.get("params_trained"), r.get("params_total")
        params = "-" if trained is None else f"{trained:,}" + (
            "" if total in (None, trained) else f"/{total:,}")
        tau_norm = tau(r.get("tau_norm"), r.get("tau_norm_how"))
        posthoc = tau(r.get("posthoc_tau"), r.get("posthoc_tau_how"))
        source = r.get("target_prior")
        if source is None or source in ("uniform", "train"):
            prior = str(source or "-")
        else:  # "file:<path>", in a note
            prior = "file" + note(source)
        acc = r.get("target_prior_accuracy")
        table.add_row(Text(name), Text(str(r.get("sampler") or "-")), Text(params),
                      Text(tau_norm), Text(posthoc), Text(prior),
                      Text("-" if acc is None else f"{acc:.3f}"))
    console.print()
    console.print(table)
    console.print(Text(
        "params: trainable parameters of the head (/total when they differ); LA tau: post-hoc "
        "logit adjustment f - tau log pi + tau log q (after tau-norm); acc@q: test accuracy "
        "under the target prior q; a bare tau was given.", style="dim"))
    for text, k in notes.items():
        console.print(Text(f"[{k}] {text}"))
