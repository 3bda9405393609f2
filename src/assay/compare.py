"""Honest run comparison: a leaderboard with accuracy next to cost, and like-for-like flags.

Long-tail papers often compare unlike runs: a bigger backbone than claimed, extra training data,
the temperature ``tau`` picked on the test set, a different subsample of the data. Each run
record carries its provenance, and :func:`compare_runs` flags every run that differs from the
reference run in a way that makes the comparison unfair.

Run record schema (``"schema": "assay.run/1"``, written by ``assay train`` as JSON)::

    {
      "schema": "assay.run/1",
      "run_id": str,                       # unique, e.g. "20261122T050000-3f9a1c"
      "command": "train",
      "created": str,                      # ISO 8601, UTC
      "recipe": str,                       # ce, cb, focal, ldam-drw, logit-adjusted, ...
      "params": {...},                     # every option of the run: sampler, posthoc_tau,
                                           # tau_norm, target_prior ("uniform" | "train" |
                                           # "file:<path>"), ...
      "classes": [...], "train_counts": [int, ...],
      "provenance": {
        "embedding_source": str,           # the embeddings file
        "backbone": str | null,            # model that produced the embeddings
        "pretraining_data": str | null,    # what the backbone was pretrained on, if declared
        "extra_data": [str, ...],          # data used beyond the training split
        "data_fingerprint": str,           # sha256 of features, labels and split
        "params_trained": int,             # = head_parameters.trainable
        "head_parameters": {"trainable": int, "total": int},   # of the head, not the backbone
        "train_seconds": float, "inference_seconds": float,
        "selection": {"tau": "none" | "fixed" | "validation" | "test",
                      "tau_norm": "none" | "fixed" | "validation" | "test",
                      "checkpoint": "last" | "validation" | "test"},
        "choices": {                       # each training / post-hoc choice and how it was made
          "sampler": {"name": str, "how": str},
          "tau_norm": null | {"value": float, "chosen": "given" | "auto", "how": str, ...},
          "posthoc_tau": null | {"value": float, "chosen": "given" | "auto", "how": str, ...},
          "target_prior": {"source": str, "chosen": "default" | "given", "how": str,
                           "shares": {class: float}}
        },                                 # "auto" adds split, n_rows, metric, grid, scores;
                                           # its "how" reads "auto on valid split (N rows),
                                           # metric M, grid [0, 0.1, ..., 2] (21 values)"
        "split": {...}, "versions": {...}
      },
      "metrics": {"many", "medium", "few", "overall", "balanced", "worst_class",
                  "harmonic_mean", "target_prior_accuracy": float,
                  "prior_shift": {profile: accuracy}}
    }

Only ``run_id``, ``metrics.balanced`` and the provenance keys used for flags are required by
:func:`compare_runs`; the rest is shown when present.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from assay._validation import check_choice, check_int
from assay.exceptions import InputValidationError

__all__ = ["RUN_SCHEMA", "compare_runs", "load_run_records"]

RUN_SCHEMA = "assay.run/1"

_METRICS = ("balanced", "overall", "many", "medium", "few", "worst_class", "harmonic_mean",
            "target_prior_accuracy")
#: the words of a record without ``choices`` (written before they were recorded) for its tau
_TAU_SELECTION_WORDS = {"fixed": "given", "validation": "auto on the validation rows",
                        "test": "selected on test"}


def _get(record: dict[str, Any], *keys: str, default: Any = None) -> Any:
    cur: Any = record
    for k in keys:
        if not isinstance(cur, dict) or k not in cur:
            return default
        cur = cur[k]
    return cur


def _check_record(i: int, record: Any) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise InputValidationError(
            f"Run record {i} is a {type(record).__name__}, not a dict. Pass the parsed JSON run "
            "records (assay.compare.load_run_records(directory))."
        )
    missing = [k for k in ("run_id", "metrics", "provenance") if k not in record]
    if missing:
        raise InputValidationError(
            f"Run record {i} lacks {', '.join(missing)}; a run record needs run_id, metrics "
            f"and provenance (schema {RUN_SCHEMA!r}, as written by `assay train --out DIR`)."
        )
    if not isinstance(_get(record, "metrics", "balanced"), int | float):
        raise InputValidationError(
            f"Run record {record['run_id']!r} has no numeric metrics.balanced; every run must "
            "report balanced accuracy to be ranked."
        )
    return record


def _flags(record: dict[str, Any], ref: dict[str, Any], *, is_ref: bool) -> list[str]:
    flags: list[str] = []
    prov, rprov = record["provenance"], ref["provenance"]
    for what in ("tau", "tau_norm", "checkpoint"):
        if _get(prov, "selection", what) == "test":
            flags.append(f"{what.replace('_', '-')} selected on test")
    if is_ref:
        return flags
    if prov.get("data_fingerprint") != rprov.get("data_fingerprint"):
        flags.append("different data")
    if prov.get("backbone") != rprov.get("backbone"):
        flags.append(f"different backbone ({prov.get('backbone')} vs {rprov.get('backbone')})")
    if prov.get("pretraining_data") != rprov.get("pretraining_data"):
        flags.append("different pretraining data")
    extra, rextra = sorted(prov.get("extra_data") or []), sorted(rprov.get("extra_data") or [])
    if extra != rextra:
        flags.append("extra data: " + (", ".join(extra) if extra else "none (reference has some)"))
    return flags


def compare_runs(
    records: Sequence[dict[str, Any]],
    *,
    reference: int | str = 0,
    sort_by: str = "balanced",
) -> pd.DataFrame:
    """Leaderboard of runs with accuracy next to cost and not-like-for-like flags.

    A run is compared with the ``reference`` run: it is flagged when its data fingerprint,
    backbone, pretraining data or extra data differ, and any run (the reference included) is
    flagged when ``tau`` (post-hoc logit adjustment), the tau-norm ``tau`` or the checkpoint was
    selected on the test set.

    Parameters
    ----------
    records : sequence of dict
        Run records (schema in the module docstring).
    reference : int or str, default 0
        Position or ``run_id`` of the reference run.
    sort_by : str, default "balanced"
        Metric to rank by (descending): one of balanced, overall, many, medium, few,
        worst_class, harmonic_mean, target_prior_accuracy.

    Returns
    -------
    pandas.DataFrame
        One row per run: ``run_id``, ``recipe``, ``backbone``, the metrics, ``params_trained``,
        ``params_total``, ``train_seconds``, ``inference_seconds``, ``extra_data``,
        ``data_fingerprint``, ``sampler``, ``tau_norm``, ``tau_norm_how``, ``posthoc_tau``,
        ``posthoc_tau_how``, ``target_prior``, ``target_prior_how``, ``tau_selection``,
        ``tau_norm_selection``, ``checkpoint_selection``, ``is_reference``, ``like_for_like``
        and ``flags`` (``"; "``-joined). A record that lacks a field (an older one) has None.

    Examples
    --------
    >>> base = {"provenance": {"data_fingerprint": "a", "backbone": "b", "extra_data": [],
    ...                        "selection": {"tau": "validation"}}}
    >>> runs = [{"run_id": "r1", "metrics": {"balanced": 0.7}, **base},
    ...         {"run_id": "r2", "metrics": {"balanced": 0.8},
    ...          "provenance": {**base["provenance"], "selection": {"tau": "test"}}}]
    >>> compare_runs(runs)[["run_id", "like_for_like", "flags"]].values.tolist()
    [['r2', False, 'tau selected on test'], ['r1', True, '']]
    """
    if isinstance(records, dict) or not isinstance(records, Sequence) or len(records) == 0:
        raise InputValidationError(
            "records must be a non-empty list of run records (dicts). Load them with "
            "assay.compare.load_run_records(directory)."
        )
    recs = [_check_record(i, r) for i, r in enumerate(records)]
    sort_by = check_choice("sort_by", sort_by, _METRICS, owner="compare_runs")
    ids = [str(r["run_id"]) for r in recs]
    if isinstance(reference, str):
        if reference not in ids:
            raise InputValidationError(
                f"reference run {reference!r} is not among the records ({', '.join(ids[:10])})."
            )
        ref_pos = ids.index(reference)
    else:
        ref_pos = check_int("reference", reference, low=0, high=len(recs) - 1,
                            owner="compare_runs")
    ref = recs[ref_pos]
    rows = []
    for i, r in enumerate(recs):
        prov = r["provenance"]
        flags = _flags(r, ref, is_ref=i == ref_pos)
        row: dict[str, Any] = {"run_id": str(r["run_id"]), "recipe": r.get("recipe"),
                               "backbone": prov.get("backbone")}
        for m in _METRICS:
            v = _get(r, "metrics", m)
            row[m] = float(v) if isinstance(v, int | float) else float("nan")
        tau_how = _get(prov, "choices", "posthoc_tau", "how")
        if tau_how is None:
            tau_how = _TAU_SELECTION_WORDS.get(str(_get(prov, "selection", "tau")))
        row.update(
            params_trained=prov.get("params_trained"),
            params_total=_get(prov, "head_parameters", "total"),
            train_seconds=prov.get("train_seconds"),
            inference_seconds=prov.get("inference_seconds"),
            extra_data=", ".join(prov.get("extra_data") or []),
            data_fingerprint=str(prov.get("data_fingerprint") or "")[:16],
            sampler=_get(r, "params", "sampler"),
            tau_norm=_get(r, "params", "tau_norm"),
            tau_norm_how=_get(prov, "choices", "tau_norm", "how"),
            posthoc_tau=_get(r, "params", "posthoc_tau"),
            posthoc_tau_how=tau_how,
            target_prior=_get(prov, "choices", "target_prior", "source",
                              default=_get(r, "params", "target_prior")),
            target_prior_how=_get(prov, "choices", "target_prior", "how"),
            tau_selection=_get(prov, "selection", "tau"),
            tau_norm_selection=_get(prov, "selection", "tau_norm"),
            checkpoint_selection=_get(prov, "selection", "checkpoint"),
            is_reference=i == ref_pos,
            like_for_like=not flags,
            flags="; ".join(flags),
        )
        rows.append(row)
    frame = pd.DataFrame(rows)
    return frame.sort_values(sort_by, ascending=False, kind="stable").reset_index(drop=True)


def load_run_records(directory: str | Path) -> list[dict[str, Any]]:
    """Read every ``*.json`` run record (schema ``assay.run/1``) in ``directory``, by name.

    Parameters
    ----------
    directory : str or pathlib.Path

    Returns
    -------
    list of dict

    Examples
    --------
    >>> import tempfile
    >>> load_run_records(tempfile.mkdtemp())
    []
    """
    path = Path(directory)
    if not path.is_dir():
        raise InputValidationError(
            f"Run directory {str(path)!r} does not exist or is not a directory. Pass the --out "
            "directory given to `assay train`."
        )
    records = []
    for f in sorted(path.glob("*.json")):
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputValidationError(f"Run record {f} is not valid JSON ({exc}).") from exc
        if isinstance(data, dict) and data.get("schema") == RUN_SCHEMA:
            records.append(data)
    return records
