"""Export a corrected dataset version from the review decisions recorded in a workspace.

The source data is never modified. :func:`export_version` reads the dataset an audit run looked
at, applies the review decisions in force (see :func:`resolve_decisions`) and writes a new version
in the same format into a fresh folder, with a ``changelog.json`` beside the data. The new
version is registered in the workspace, so ``assay audit`` on it and ``assay diff`` between the
two audits show what the fixes changed. See ``docs/export.md``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from assay._validation import check_choice
from assay.data import CONLL_SUFFIXES
from assay.exceptions import AssayError, InputValidationError, InvalidParameterError
from assay.workspace import (
    DECISION_POLICIES,
    EXPORT_ACTIONS,
    STAGE_ORDER,
    applicable_decisions,
    resolve_decisions,
)

__all__ = [
    "CHANGELOG_NAME",
    "DECISION_POLICIES",
    "EXPORT_ACTIONS",
    "STAGE_ORDER",
    "ExportResult",
    "export_version",
    "resolve_decisions",
]

CHANGELOG_NAME = "changelog.json"
CHANGELOG_VERSION = 1

_TABLE_FORMATS = {
    ".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".parquet": "parquet", ".pq": "parquet",
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json",
}
_DROP_ACTIONS = frozenset({"remove", "duplicate"})


class ExportError(AssayError):
    """An export cannot proceed (missing or changed source, unsafe output path, bad decision)."""


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_version` wrote and recorded.

    Attributes
    ----------
    path : Path
        The version folder (``out``).
    data_path : Path
        The data inside it: the table file (same name as the source) or the image root.
    fingerprint, parent_fingerprint : str
        Content fingerprints of the new version and of the audited source.
    run_id : str
        The audit run whose dataset and decisions were exported.
    version_id : int
        The id of the version in the workspace (``Workspace.versions()``).
    counts : dict of str to int
        ``relabelled``, ``removed``, ``duplicates_removed``, ``kept``, ``deferred``,
        ``conflicts``, ``undecided``, ``rows_before``, ``rows_after``.
    changelog : dict
        The content of ``changelog.json``.
    """

    path: Path
    data_path: Path
    fingerprint: str
    parent_fingerprint: str
    run_id: str
    version_id: int
    counts: dict[str, int] = field(default_factory=dict)
    changelog: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (without the per-row changelog entries)."""
        return {
            "path": str(self.path), "data_path": str(self.data_path),
            "fingerprint": self.fingerprint, "parent_fingerprint": self.parent_fingerprint,
            "run_id": self.run_id, "version_id": self.version_id, "counts": dict(self.counts),
            "changelog": str(self.path / CHANGELOG_NAME),
        }


# ---------------------------------------------------------------------- export
def export_version(
    workspace: Any,
    out: str | os.PathLike[str],
    *,
    run: str | None = None,
    source: str | os.PathLike[str] | None = None,
    policy: str = "consensus",
    reviewer: str | Sequence[str] | None = None,
    allow_new_classes: bool = False,
    force: bool = False,
    dedup: bool = False,
) -> ExportResult:
    """Write the reviewed, corrected version of an audited dataset into the folder ``out``.

    Which decisions apply: those recorded against any run on the same dataset version
    (fingerprint) as ``run`` (decisions without a run are not applied: their row ids cannot be
    tied to a dataset version). For each row, the decision in force follows
    :func:`resolve_decisions` (later stages override earlier ones; each reviewer's latest
    decision counts; under ``policy="consensus"`` reviewers who disagree leave the row unchanged
    and it is listed under ``conflicts``). Then ``relabel`` replaces the label by ``new_label``
    (a number when the audit's task was regression: a whole number stays an integer, else an
    integer target column becomes float; for a tokens task, a tag sequence with one known tag
    per token, written in the column's form: space-separated, a JSON list string or a list
    cell; for a detection task, the image's boxes, a JSON list of ``[class, x, y, width,
    height]`` with known classes, written as the column writes a box cell); ``remove`` and
    ``duplicate`` drop the row; ``keep`` and ``defer`` leave it unchanged.

    The new version has the source's format (CSV, TSV, Parquet, JSON Lines, JSON, or an image
    folder ``root/<class>/<file>`` whose files are hard-linked, or copied where linking fails,
    with relabelled images moved to their new class folder). A CoNLL / IOB source (a tokens
    task) is written as a CoNLL file of the same name by :func:`assay.tokens.write_conll`: the
    file's other columns kept, its separator (a tab or a space) kept, the corrected tags in the
    tag column, removed sentences left out; ``-DOCSTART-`` and comment lines are not kept.
    A COCO annotation file (a detection task) is written as a COCO file of the same name: its
    other keys and categories kept (a new class, with ``allow_new_classes``, appends one), the
    dropped images and their annotations left out, an untouched image's annotations exactly as
    they were, a relabelled image's replaced by new ones (fresh ids above the largest, ``area``
    = width * height, ``iscrowd`` 0). A detection version also holds the images (``file_name``,
    linked) and the audit's predictions file cut to the kept images, under its own name, so
    ``assay audit`` on the version takes them as they are (``changelog["predictions"]``).
    Every other column, the column order and the dtypes are kept. Everything is written to a temporary sibling folder and renamed into
    place, so a crash never leaves a half-written version. ``out/changelog.json`` records the
    parent and new fingerprints, the counts and one entry per decided row. The version is recorded
    with ``Workspace.record_version`` and the new dataset registered, with an ``export`` run.

    Parameters
    ----------
    workspace : Workspace or path-like
        An open :class:`assay.workspace.Workspace` or its folder (which must exist).
    out : path-like
        The new version's folder. It must not exist or be empty (unless ``force``), and must not
        be or contain the source or the workspace, nor lie inside an image-folder source.
    run : str, optional
        The run whose dataset is exported (an id, a unique prefix or ``'latest'``). Default: the
        latest ``audit`` run.
    source : path-like, optional
        Where the audited data is now, when it moved since the audit. Its content fingerprint
        must still equal the audited one.
    policy : {'consensus', 'latest'}, default 'consensus'
        How disagreeing reviewers in the deciding stage are treated (see above).
    reviewer : str or sequence of str, optional
        Only apply the decisions of these reviewers. Default: everyone's.
    allow_new_classes : bool, default False
        Allow ``relabel`` to a class the dataset does not have yet.
    force : bool, default False
        Replace a non-empty ``out`` (never the source or the workspace).
    dedup : bool, default False
        Also drop the audit's duplicates (exact and near), keeping the best by
        :func:`assay.curate.quality_rank` of the audit's signals (ties: the first row): a row
        is dropped only as a ``duplicate`` of a row that stays, which it is identical to or a
        direct near copy of (:func:`assay.curate.keep_one_per_copy`; a duplicate set can chain
        rows that are not copies of each other, and those are not dropped). The drops have
        stage ``"dedup"`` in the changelog and are counted in ``counts["dedup_removed"]``. A
        row with a review decision keeps its decision, and a row a reviewer dropped does not
        stay for its copies. The embeddings file beside the data, if any, is cut to the kept
        rows block by block, so a version of millions of rows is written without holding the
        embeddings in memory.

    Returns
    -------
    ExportResult

    Raises
    ------
    ExportError
        When the source is missing or changed since the audit, or ``out`` is unsafe or not empty.
    InputValidationError
        When a decision names an unknown row, an unknown class, or an unknown stage.

    Examples
    --------
    >>> import tempfile, pathlib, pandas as pd
    >>> import assay
    >>> from assay.workspace import Workspace
    >>> from assay.export import export_version
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> pd.DataFrame({"id": [1, 2, 3, 4], "x": [0.1, 0.2, 0.3, 0.4],
    ...               "y": ["a", "b", "b", "b"]}).to_csv(tmp / "data.csv", index=False)
    >>> ds = assay.load(tmp / "data.csv", label="y", id="id")
    >>> ws = Workspace.open(tmp / "ws")
    >>> ws.register_dataset(ds.fingerprint, n_rows=4, source=str(tmp / "data.csv"),
    ...                     roles=ds.roles.to_dict())
    >>> run_id = ws.start_run("audit", fingerprint=ds.fingerprint)
    >>> ws.finish_run(run_id)
    >>> _ = ws.append_decision(2, "relabel", new_label="a", reviewer="ana", run_id=run_id)
    >>> _ = ws.append_decision(3, "remove", reviewer="ana", run_id=run_id)
    >>> res = export_version(ws, tmp / "v2")
    >>> res.counts["relabelled"], res.counts["removed"], res.counts["rows_after"]
    (1, 1, 3)
    >>> pd.read_csv(tmp / "v2" / "data.csv")["y"].tolist()
    ['a', 'a', 'b']
    """
    from assay.workspace import Workspace

    if not isinstance(allow_new_classes, bool):
        raise InvalidParameterError("allow_new_classes", "a bool", allow_new_classes,
                                    owner="export_version")
    if not isinstance(force, bool):
        raise InvalidParameterError("force", "a bool", force, owner="export_version")
    if not isinstance(dedup, bool):
        raise InvalidParameterError("dedup", "a bool", dedup, owner="export_version")
    check_choice("policy", policy, DECISION_POLICIES, owner="export_version")
    reviewers = _check_reviewers(reviewer)
    ws = workspace if isinstance(workspace, Workspace) else _open_workspace(workspace)
    if ws.read_only:
        raise ExportError(
            f"The workspace {ws.path} was opened read-only, but an export records the new "
            "version in it. Open it with read_only=False."
        )
    recover_exports(ws)  # a version a killed export left complete but unrecorded
    with ws.hold():  # one connection for the reads; the decisions are a snapshot
        run_info = _resolve_run(ws, run)
        parent_fp = run_info["fingerprint"]
        record = ws.dataset(parent_fp)
        frame = applicable_decisions(ws, parent_fp, reviewers)
    if record is None:
        raise ExportError(
            f"Run {run_info['run_id']} refers to dataset {parent_fp}, which is not registered in "
            f"the workspace {ws.path}. Re-run 'assay audit' on the data with this workspace."
        )
    roles = dict(record.get("roles") or {})
    if not roles.get("label"):
        raise ExportError(
            f"The workspace has no label column recorded for dataset {parent_fp}, so the labels "
            "cannot be corrected. Re-run 'assay audit' on the data with this workspace."
        )
    src = _locate_source(ws, record, run_info, source)
    emb_src = _embeddings_file(ws, run_info, roles)
    pred_src = _predictions_file(ws, run_info)
    dataset = _load_version(src, roles, emb_src)
    if dataset.fingerprint != parent_fp:
        hint = ("Pass --source PATH (source=...) pointing at the data exactly as audited, or "
                "re-run 'assay audit' on the current file and review that run.")
        raise ExportError(
            f"The source '{src}' changed since run {run_info['run_id']} audited it: its content "
            f"fingerprint is now {dataset.fingerprint}, the audit saw {parent_fp}. The review "
            f"decisions refer to the audited rows, so they cannot be applied. {hint}"
        )
    is_folder = src.is_dir()
    out_path = _check_out(Path(out), src, is_folder=is_folder, ws_path=ws.path, force=force)

    resolved = resolve_decisions(frame, policy=policy)
    if dedup:
        resolved = pd.concat([resolved, _dedup_decisions(ws, run_info, dataset, resolved)],
                             ignore_index=True)
    task = str((run_info.get("summary") or {}).get("task") or "classification")
    plan = _plan(dataset, resolved, allow_new_classes=allow_new_classes, task=task)

    params = {"run": run_info["run_id"], "out": str(out_path), "source": str(src),
              "policy": policy, "reviewers": reviewers, "allow_new_classes": allow_new_classes,
              "dedup": dedup}
    with ws.record_run("export", params, fingerprint=parent_fp) as rec:
        from assay.data import remove_stale_temps, temp_name

        remove_stale_temps(out_path.parent)  # what killed exports left half-written
        tmp = temp_name(out_path)
        try:
            tmp.mkdir()
            data_rel, entries = _write_version(dataset, src, tmp, plan, emb_src)
            predictions = (_write_predictions(pred_src, dataset, plan, tmp)
                           if pred_src is not None and pred_src.name != CHANGELOG_NAME else None)
            new_ds = _load_version(tmp / data_rel, roles,
                                   tmp / emb_src.name if emb_src is not None else None)
            changelog = _changelog(run_info["run_id"], parent_fp, new_ds.fingerprint, src,
                                   out_path / data_rel, plan, entries, policy, reviewers)
            if plan.task == "detection":  # the predicted boxes on the kept images, if written
                changelog["predictions"] = None if predictions is None else {
                    k: v for k, v in predictions.items() if k != "file"} | {
                    "path": str(out_path / predictions["file"])}
            _write_json(tmp / CHANGELOG_NAME, changelog)
            _fsync_dir(tmp)
            old = _replace_dir(tmp, out_path, force=force)
            with _rollback_on_error(out_path, old), ws.hold():
                data_path = out_path / data_rel
                if new_ds.fingerprint != parent_fp:  # an unchanged copy keeps the parent's source
                    ws.register_dataset(
                        new_ds.fingerprint, n_rows=new_ds.n_rows, source=str(data_path),
                        schema={str(c): str(t) for c, t in new_ds.table.dtypes.items()},
                        roles=new_ds.roles.to_dict(),
                    )
                version_id = ws.record_version(
                    new_ds.fingerprint, data_path, parent_fingerprint=parent_fp,
                    changelog={k: v for k, v in changelog.items() if k != "rows"},
                )
            if old is not None:  # the replaced version goes only once the new one is recorded
                shutil.rmtree(old, ignore_errors=True)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        rec.summary.update({"counts": changelog["counts"], "fingerprint": new_ds.fingerprint,
                            "parent_fingerprint": parent_fp, "path": str(data_path),
                            "version_id": version_id})
    return ExportResult(out_path, data_path, new_ds.fingerprint, parent_fp, run_info["run_id"],
                        version_id, dict(changelog["counts"]), changelog)


# ---------------------------------------------------------------------- inputs
def recover_exports(workspace: Any) -> list[int]:
    """Record the versions that killed exports wrote completely but did not record.

    An export writes its folder under a temporary name, renames it into place, then records the
    version. A process killed between the rename and the record leaves a complete version (its
    ``changelog.json`` is written before the rename) and an ``export`` run that the workspace
    reports as ``interrupted``. This finds such runs, records their versions (and the new
    dataset) and finishes the runs as ``ok`` with ``summary["recovered"] = True``. Called at the
    start of every export; returns the version ids recorded.

    Parameters
    ----------
    workspace : Workspace
        An open, writable workspace.

    Returns
    -------
    list of int
    """
    if workspace.read_only:
        return []
    runs = workspace.runs(command="export")
    if runs.empty or not (runs["status"] == "interrupted").any():
        return []
    recorded = {str(Path(p).resolve()) for p in workspace.versions()["path"]}
    ids = []
    for run_id in runs.loc[runs["status"] == "interrupted", "run_id"]:
        info = workspace.run(str(run_id))
        out = Path(str((info.get("params") or {}).get("out", "")))
        log_path = out / CHANGELOG_NAME
        if not str(out) or not log_path.is_file():
            continue
        try:
            changelog = json.loads(log_path.read_text(encoding="utf-8"))
            data_path = Path(changelog["path"])
            fingerprint, parent_fp = changelog["fingerprint"], changelog["parent_fingerprint"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if str(data_path.resolve()) in recorded or not data_path.exists():
            continue
        parent = workspace.dataset(parent_fp) or {}
        roles = dict(parent.get("roles") or {})
        if fingerprint != parent_fp and roles.get("label"):
            try:
                audit_run = workspace.run(str((info.get("params") or {}).get("run")))
                emb = _embeddings_file(workspace, audit_run, roles)
                new_ds = _load_version(data_path, roles, (out / emb.name) if emb else None)
            except AssayError:  # cannot check it: leave the run interrupted
                continue
            if new_ds.fingerprint != fingerprint:  # not the version the changelog describes
                continue
            workspace.register_dataset(
                fingerprint, n_rows=new_ds.n_rows, source=str(data_path),
                schema={str(c): str(t) for c, t in new_ds.table.dtypes.items()},
                roles=new_ds.roles.to_dict(),
            )
        version_id = workspace.record_version(
            fingerprint, data_path, parent_fingerprint=parent_fp,
            changelog={k: v for k, v in changelog.items() if k != "rows"},
        )
        workspace.finish_run(str(run_id), status="ok", summary={
            "counts": changelog.get("counts"), "fingerprint": fingerprint,
            "parent_fingerprint": parent_fp, "path": str(data_path), "version_id": version_id,
            "recovered": True})
        ids.append(version_id)
    return ids


def _check_reviewers(reviewer: Any) -> list[str] | None:
    if reviewer is None:
        return None
    names = [reviewer] if isinstance(reviewer, str) else reviewer
    if not isinstance(names, Sequence) or not names or not all(
        isinstance(n, str) and n.strip() for n in names
    ):
        raise InvalidParameterError(
            "reviewer", "a reviewer name or a non-empty list of names", reviewer,
            owner="export_version",
        )
    return [str(n) for n in names]


def _open_workspace(path: Any) -> Any:
    from assay.workspace import Workspace

    if not isinstance(path, str | os.PathLike):
        raise InvalidParameterError(
            "workspace", "a Workspace or the path of a workspace folder", path,
            owner="export_version",
        )
    if not (Path(path) / "assay.duckdb").exists():
        raise ExportError(
            f"No assay workspace at '{path}'. Run 'assay audit' with --workspace first, or pass "
            "--workspace with the folder that holds assay.duckdb."
        )
    return Workspace.open(path, create=False)


def _resolve_run(ws: Any, run: str | None) -> dict[str, Any]:
    if run is None or run in ("latest", "last"):
        audits = ws.runs(command="audit")
        if audits.empty:
            raise ExportError(
                f"The workspace {ws.path} has no audit run yet. Run 'assay audit DATA --label COL "
                f"--workspace {ws.path}' and review its findings first."
            )
        run = ws.resolve_run("latest", command="audit")  # the latest completed audit
    info = ws.run(run)
    if not info.get("fingerprint"):
        raise ExportError(
            f"Run {info['run_id']} ('{info['command']}') has no dataset, so there is nothing to "
            "export. Pass --run with an audit run (see 'assay runs --command audit')."
        )
    return info


def _candidates(raw: str, ws: Any) -> list[Path]:
    p = Path(raw).expanduser()
    if p.is_absolute():
        return [p]
    return [Path.cwd() / p, ws.path.resolve().parent / p]


def _locate_source(ws: Any, record: Mapping[str, Any], run_info: Mapping[str, Any],
                   source: Any) -> Path:
    if source is not None:
        if not isinstance(source, str | os.PathLike):
            raise InvalidParameterError("source", "a path", source, owner="export_version")
        p = Path(source).expanduser()
        if not p.exists():
            raise ExportError(f"The source '{p}' given with --source does not exist. Check the path.")
        return p.resolve()
    raw = record.get("source") or (run_info.get("params") or {}).get("data")
    if not raw:
        raise ExportError(
            f"The workspace does not know where dataset {record['fingerprint']} was read from "
            "(it was audited from an in-memory table). Pass --source PATH (source=...) with the "
            "file or image folder exactly as audited."
        )
    for cand in _candidates(str(raw), ws):
        if cand.exists():
            return cand.resolve()
    raise ExportError(
        f"The audited source '{raw}' no longer exists (looked in {Path.cwd()} and beside the "
        f"workspace {ws.path}). If it moved, pass --source PATH (source=...) with its new "
        "location; its content must be unchanged."
    )


def _embeddings_file(ws: Any, run_info: Mapping[str, Any], roles: Mapping[str, Any]) -> Path | None:
    raw = (run_info.get("params") or {}).get("embeddings")
    if not raw or roles.get("embedding_column"):
        return None
    for cand in _candidates(str(raw), ws):
        if cand.exists():
            return cand.resolve()
    raise ExportError(
        f"Run {run_info['run_id']} used the embeddings file '{raw}', which no longer exists. "
        "The export must subset it to the kept rows; restore it next to the data."
    )


def _load_version(path: Path, roles: Mapping[str, Any], embeddings: Path | None) -> Any:
    from assay.data import load

    feats = list(roles.get("features") or []) or None
    return load(
        path, label=roles["label"], id=roles.get("id"), split=roles.get("split"),
        group=roles.get("group"), text=roles.get("text"), image=roles.get("image"),
        features=feats, meta=list(roles.get("meta") or []) or None,
        embeddings=roles.get("embedding_column") or (str(embeddings) if embeddings else None),
    )


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def _check_out(out: Path, src: Path, *, is_folder: bool, ws_path: Path, force: bool) -> Path:
    target = out.expanduser().resolve()
    src = src.resolve()
    wsr = Path(ws_path).resolve()
    if target == src or _inside(src, target):
        raise ExportError(
            f"The output folder '{out}' is or contains the source '{src}'; the source is never "
            "written over. Choose a new folder, e.g. -o data.v2"
        )
    if is_folder and _inside(target, src):
        raise ExportError(
            f"The output folder '{out}' is inside the source image folder '{src}'; it would "
            "become part of the data. Choose a folder outside it."
        )
    if _inside(wsr, target):
        raise ExportError(
            f"The output folder '{out}' is or contains the workspace '{wsr}'. Choose a folder "
            "outside it."
        )
    if target.exists():
        if not target.is_dir():
            raise ExportError(f"The output '{out}' is a file; pass a folder path for the version.")
        if any(target.iterdir()) and not force:
            raise ExportError(
                f"The output folder '{out}' is not empty. Pass a new folder, or --force "
                "(force=True) to replace it."
            )
    if not target.parent.exists():
        raise ExportError(
            f"The parent folder of '{out}' does not exist. Create it first or choose another path."
        )
    probe = target.parent / f".{target.name}.probe-{secrets.token_hex(4)}"
    try:  # the version is written beside its final place and renamed: can we write there?
        probe.mkdir()
        probe.rmdir()
    except OSError as exc:
        raise ExportError(
            f"Cannot write the new version into '{target.parent}' ({exc.strerror or exc}). "
            "Choose an output folder in a place you can write to."
        ) from None
    return target


# ---------------------------------------------------------------------- the plan
@dataclass
class _Plan:
    n_rows: int
    keep: np.ndarray                     # (N,) bool: row survives
    new_values: dict[int, Any]           # row position -> new label value (changed only)
    resolved: pd.DataFrame               # resolve_decisions output with "pos"
    old_values: np.ndarray               # (N,) label values as loaded
    counts: dict[str, int]
    task: str = "classification"         # the audit's task ("detection": box cells, COCO)


def _row_keys(dataset: Any, at: np.ndarray | None = None) -> np.ndarray:
    """The rows' ids as text (the id column, else the row number); of rows ``at`` only, if
    given (10M ids as Python strings are gigabytes)."""
    if dataset.roles.id is not None:
        col = dataset.table[dataset.roles.id]
        return (col if at is None else col.iloc[at]).astype(str).to_numpy(dtype=object)
    rows = np.arange(dataset.n_rows) if at is None else np.asarray(at, dtype=np.int64)
    return rows.astype(str).astype(object)


def _plan(dataset: Any, resolved: pd.DataFrame, *, allow_new_classes: bool,
          task: str = "classification") -> _Plan:
    n = dataset.n_rows
    # rows that come with their position (the dedup drops) are not looked up by id: with no
    # review decision, no index of N row ids is built (10M ids: gigabytes)
    pos = (pd.to_numeric(resolved["pos"], errors="coerce").to_numpy(np.float64, copy=True)
           if "pos" in resolved else np.full(len(resolved), np.nan))
    ask = np.flatnonzero(np.isnan(pos))
    if ask.size:
        pos_of = pd.Series(np.arange(n), index=pd.Index(_row_keys(dataset)))
        pos[ask] = pos_of.reindex(resolved["row_id"].to_numpy()[ask]).to_numpy(dtype=np.float64)
    unknown = resolved["row_id"].to_numpy()[np.isnan(pos)]
    if unknown.size:
        what = f"id column '{dataset.roles.id}'" if dataset.roles.id else "row numbers 0..N-1"
        raise InputValidationError(
            f"{unknown.size} decision(s) refer to rows not in the dataset (row ids "
            f"{sorted(unknown.tolist(), key=str)[:5]}); rows are identified by the {what}. "
            "Check that the decisions were made on this dataset version's audit."
        )
    resolved = resolved.assign(pos=pos.astype(np.int64))
    label_col = dataset.roles.label
    old_values = dataset.table[label_col].to_numpy(dtype=object)
    by_text = {str(c): c for c in dataset.classes}
    keep = np.ones(n, dtype=bool)
    new_values: dict[int, Any] = {}
    is_folder = dataset.source is not None and Path(dataset.source).is_dir()
    counts = dict.fromkeys(("relabelled", "relabel_same_label", "removed", "duplicates_removed",
                            "dedup_removed", "kept", "deferred", "conflicts"), 0)
    sets = _LabelSets(dataset) if task == "multilabel" else None
    sequences = _TagSequences(dataset) if task == "tokens" else None
    boxes = _BoxCells(dataset) if task == "detection" else None
    for r in resolved.itertuples(index=False):
        if r.action in _DROP_ACTIONS:
            keep[r.pos] = False
            counts["dedup_removed" if r.stage == DEDUP_STAGE else
                   "duplicates_removed" if r.action == "duplicate" else "removed"] += 1
        elif r.action == "relabel":
            if task == "regression":
                value = _number_value(r.new_label, dataset, row_id=r.row_id)
                same = _same_number(value, old_values[r.pos])
            elif sets is not None:
                value, same = sets.value(r.new_label, old_values[r.pos], row_id=r.row_id,
                                         allow_new=allow_new_classes)
            elif sequences is not None:
                value, same = sequences.value(r.new_label, int(r.pos), row_id=r.row_id,
                                              allow_new=allow_new_classes)
            elif boxes is not None:
                value, same = boxes.value(r.new_label, old_values[r.pos], row_id=r.row_id,
                                          allow_new=allow_new_classes)
            else:
                value = _class_value(r.new_label, by_text, dataset, row_id=r.row_id,
                                     allow_new=allow_new_classes, is_folder=is_folder)
                same = str(value) == str(old_values[r.pos])
            if same:
                counts["relabel_same_label"] += 1
            else:
                new_values[int(r.pos)] = value
                counts["relabelled"] += 1
        elif r.action == "keep":
            counts["kept"] += 1
        elif r.action == "defer":
            counts["deferred"] += 1
        else:
            counts["conflicts"] += 1
    counts["undecided"] = n - len(resolved)  # neither a review decision nor a dedup drop
    counts["rows_before"] = n
    counts["rows_after"] = int(keep.sum())
    if counts["rows_after"] == 0:
        raise InputValidationError(
            f"The decisions remove every one of the {n} rows, which would leave an empty "
            "dataset. Check the decisions (assay review) before exporting."
        )
    final = old_values[keep].copy()
    kept_pos = np.flatnonzero(keep)
    for p_, v in new_values.items():
        if keep[p_]:
            final[np.searchsorted(kept_pos, p_)] = v
    n_final = int(pd.Series(final).astype(str).nunique())
    if n_final < 2 and task == "classification":
        raise InputValidationError(
            f"After the decisions, the {counts['rows_after']} remaining row(s) would all have "
            f"one class ({str(final[0])!r}); assay needs at least two classes to load the new "
            "version. Check the decisions (assay review) before exporting."
        )
    return _Plan(n, keep, new_values, resolved, old_values, counts, task=task)


class _LabelSets:
    """A multi-label column's classes and written form: a relabel's new set, checked against
    the classes and written as the column writes its sets."""

    def __init__(self, dataset: Any) -> None:
        from assay.data import label_set_form, parse_label_sets

        column = dataset.table[dataset.roles.label]
        _, classes = parse_label_sets(column, missing="empty")
        self.classes = [str(c) for c in classes]
        self.form = label_set_form(column)
        self.label = dataset.roles.label

    def names(self, cell: Any, *, row_id: str) -> list[str]:
        from assay.data import parse_label_sets
        from assay.exceptions import AssayError

        if cell is None or (isinstance(cell, float) and np.isnan(cell)):
            return []
        try:  # the separator of the cell itself: a typed ", " or the column's own
            _, names = parse_label_sets([cell, ""])
        except AssayError as exc:
            raise InputValidationError(
                f"Row {row_id!r} is relabelled to {cell!r}, which is not a label set ({exc}). "
                "Fix the decision (assay review): classes separated by commas, or a JSON list."
            ) from None
        return [str(c) for c in names]

    def value(self, new: Any, old: Any, *, row_id: str, allow_new: bool) -> tuple[Any, bool]:
        from assay.data import format_label_set

        names = self.names(new, row_id=row_id)
        unknown = [c for c in names if c not in self.classes]
        if unknown and not allow_new:
            raise InputValidationError(
                f"Row {row_id!r} is relabelled to {new!r}, which names classes the column "
                f"'{self.label}' does not have ({', '.join(unknown[:5])}; classes: "
                f"{', '.join(self.classes[:20])}). Fix the decision, or pass "
                "--allow-new-classes (allow_new_classes=True) to add them."
            )
        order = {c: i for i, c in enumerate(self.classes)}
        names = sorted(set(names), key=lambda c: (order.get(c, len(order)), c))
        same = set(names) == set(self.names(old, row_id=row_id))
        return format_label_set(names, self.form), same


class _TagSequences:
    """A tokens task's label column: each sentence's tags, the known tags and the column's form;
    a relabel's new tags are checked (one known tag per token) and written as the column writes
    a sequence (space-separated string, JSON list string, or list cell)."""

    def __init__(self, dataset: Any) -> None:
        from assay.data import parse_sequences, sequence_form

        self.label = dataset.roles.label
        column = dataset.table[self.label]
        self.form = sequence_form(column)
        self.given = parse_sequences(column, name=f"the label column '{self.label}'")
        self.tags = sorted({t for seq in self.given for t in seq})

    def parse(self, text: Any, *, row_id: str) -> list[str]:
        """The tags of a decision's ``new_label`` (space-separated, or a JSON list)."""
        from assay.data import parse_sequences

        try:
            return parse_sequences(pd.Series([text], dtype=object))[0]
        except InputValidationError:
            raise InputValidationError(
                f"Row {row_id!r} is relabelled to {text!r}, which is not a tag sequence. Fix "
                "the decision (assay review): one tag per token, separated by spaces, or a "
                "JSON list."
            ) from None

    def value(self, new: Any, pos: int, *, row_id: str, allow_new: bool) -> tuple[Any, bool]:
        from assay.data import format_sequence

        tags = self.parse(new, row_id=row_id)
        given = self.given[pos]
        if len(tags) != len(given):
            raise InputValidationError(
                f"Row {row_id!r} is relabelled to {len(tags)} tag(s) ({str(new)[:60]!r}), but "
                f"its sentence has {len(given)} tokens. Fix the decision (assay review): one "
                "tag per token."
            )
        unknown = list(dict.fromkeys(t for t in tags if t not in self.tags))
        if unknown and not allow_new:
            raise InputValidationError(
                f"Row {row_id!r} is relabelled to tags the column '{self.label}' does not have "
                f"({', '.join(unknown[:5])}; tags: {', '.join(self.tags[:20])}). Fix the "
                "decision, or pass --allow-new-classes (allow_new_classes=True) to add them."
            )
        return format_sequence(tags, self.form), tags == given


class _BoxCells:
    """A detection task's label column: the known box classes (and a COCO source's category
    names) and the column's form; a relabel's new boxes are checked (a JSON list of
    ``[class, x, y, width, height]``, finite numbers, sizes of at least 0, known classes) and
    written as the column writes a cell (JSON text, or a list cell)."""

    def __init__(self, dataset: Any) -> None:
        from assay.data import box_cells

        self.label = dataset.roles.label
        column = dataset.table[self.label]
        _, _, names = box_cells(column, name=self.label)
        coco = _coco_source(Path(dataset.source)) if dataset.source is not None else None
        categories = [str(c.get("name")) for c in coco["categories"]] if coco else []
        self.classes = sorted(set(names) | set(categories))
        self.lists = any(isinstance(v, list | np.ndarray) for v in column.dropna().head(20))

    def parse(self, text: Any, *, row_id: str) -> list[list[Any]]:
        """The boxes of a decision's ``new_label`` (JSON text)."""
        from assay.data import box_cells

        how = ("Fix the decision (assay review): a JSON list of [class, x, y, width, height] "
               'boxes such as [["dog", 10, 20, 30, 40]], with finite numbers and a width and '
               "height of at least 0; [] for an image without boxes.")
        try:
            raw = json.loads(text) if isinstance(text, str) else None
            box_cells(pd.Series([text], dtype=object), name="new_label")
        except (json.JSONDecodeError, InputValidationError):
            raw = None
        if not isinstance(raw, list) or not all(isinstance(b[0], str) for b in raw):
            raise InputValidationError(
                f"Row {row_id!r} is relabelled to {str(text)[:60]!r}, which is not a list of "
                f"boxes. {how}")
        return [list(b) for b in raw]

    def value(self, new: Any, old: Any, *, row_id: str, allow_new: bool) -> tuple[Any, bool]:
        """The new cell (as the column writes it) and whether it equals the old one."""
        from assay.data import format_boxes

        boxes = self.parse(new, row_id=row_id)
        unknown = list(dict.fromkeys(str(b[0]) for b in boxes if str(b[0]) not in self.classes))
        if unknown and not allow_new:
            raise InputValidationError(
                f"Row {row_id!r} is relabelled to boxes of classes the data does not have "
                f"({', '.join(unknown[:5])}; classes: {', '.join(self.classes[:20])}). Fix the "
                "decision, or pass --allow-new-classes (allow_new_classes=True) to add them (a "
                "COCO file gets a new category for each).")
        cell = format_boxes(boxes)
        same = cell == format_boxes(_cell_boxes(old))
        return (json.loads(cell) if self.lists else cell), same


def _cell_boxes(cell: Any) -> list[list[Any]]:
    """A box cell's boxes (JSON text, a list, or an array read from Parquet)."""
    if isinstance(cell, str):
        cell = json.loads(cell)
    if isinstance(cell, np.ndarray):
        cell = cell.tolist()
    return [list(b.tolist() if isinstance(b, np.ndarray) else b) for b in cell or ()]


def _coco_source(path: Path) -> dict[str, Any] | None:
    """The parsed COCO annotation file at ``path``, or None when it is something else."""
    from assay.data import is_coco

    if path.suffix.lower() != ".json" or not path.is_file():
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if is_coco(data) else None


def _next_id(ids: Iterator[Any] | Sequence[Any]) -> int:
    """One more than the largest whole-number id (1 when there is none)."""
    whole = [int(i) for i in ids if isinstance(i, int | np.integer) and not isinstance(i, bool)]
    return max(whole, default=0) + 1


def _coco_annotations(boxes: list[list[Any]], image_id: Any, categories: list[dict[str, Any]],
                      next_id: int) -> list[dict[str, Any]]:
    """New COCO annotations for an image's boxes: ids from ``next_id`` on, ``area`` = width *
    height, ``iscrowd`` 0, category ids by name (a new class gets a category, appended to
    ``categories``)."""
    by_name: dict[str, Any] = {}
    for c in categories:
        by_name.setdefault(str(c.get("name")), c.get("id"))
    out = []
    for k, (name, x, y, w, h) in enumerate(boxes):
        if str(name) not in by_name:
            by_name[str(name)] = _next_id([c.get("id") for c in categories])
            categories.append({"id": by_name[str(name)], "name": str(name)})
        out.append({"id": next_id + k, "image_id": image_id, "category_id": by_name[str(name)],
                    "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})
    return out


def _write_coco_version(coco: dict[str, Any], dataset: Any, path: Path, plan: _Plan) -> None:
    """Write a COCO annotation file: the source's other keys (``info``, ``licenses``, ...) and
    categories kept, the dropped images left out with their annotations; the annotations of an
    untouched image exactly as they were, those of a relabelled image replaced (in place of its
    first one) by new ones from its boxes (:func:`_coco_annotations`)."""
    images = coco["images"]
    if len(images) != dataset.n_rows:
        raise ExportError(
            f"The COCO file lists {len(images)} images, but the audited table has "
            f"{dataset.n_rows} rows; the corrections cannot be placed. Audit the file again and "
            "review that run.")
    ids = [img.get("id") for img in images]
    dropped = {ids[i] for i in np.flatnonzero(~plan.keep).tolist()}
    relabelled = {ids[p]: _cell_boxes(v) for p, v in sorted(plan.new_values.items())
                  if plan.keep[p]}
    categories = list(coco["categories"])
    next_id = _next_id([a.get("id") for a in coco["annotations"]])
    annotations: list[Any] = []
    placed: set[Any] = set()

    def place(image_id: Any) -> None:
        nonlocal next_id
        new = _coco_annotations(relabelled[image_id], image_id, categories, next_id)
        next_id += len(new)
        annotations.extend(new)
        placed.add(image_id)

    for ann in coco["annotations"]:
        image_id = ann.get("image_id")
        if image_id in dropped:
            continue
        if image_id in relabelled:
            if image_id not in placed:
                place(image_id)
            continue
        annotations.append(ann)
    for image_id in relabelled:  # images that had no annotation: theirs go last
        if image_id not in placed:
            place(image_id)
    out = {**coco, "images": [img for img, k in zip(images, plan.keep, strict=True) if k],
           "annotations": annotations, "categories": categories}
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        json.dump(out, fh, ensure_ascii=False)
        _flush(fh)


def _image_column(dataset: Any, plan: _Plan) -> str | None:
    """The column of image paths whose files a version holds: the image role, or for a
    detection task ``file_name`` when its files are next to the data (as the audit finds it)."""
    if dataset.roles.image is not None or plan.task != "detection":
        return dataset.roles.image
    from assay.data import with_image_role

    image: str | None = with_image_role(dataset).roles.image
    return image


def _predictions_file(ws: Any, run_info: Mapping[str, Any]) -> Path | None:
    """The predicted boxes file a detection audit was given, where it still is (else None)."""
    raw = (run_info.get("params") or {}).get("predictions")
    if not raw or (run_info.get("summary") or {}).get("task") != "detection":
        return None
    for cand in _candidates(str(raw), ws):
        if cand.is_file():
            return cand.resolve()
    return None


def _kept_predictions(values: dict[str, list[Any]], dataset: Any,
                      plan: _Plan) -> tuple[np.ndarray, np.ndarray | None] | None:
    """Which predictions are on kept images, by ``image_id`` or ``file_name`` (as the audit
    matches them) or ``row`` (then also the kept rows' new numbers); None when they name no
    image in a way the data has."""
    table = dataset.table
    for key in ("image_id", "file_name"):
        if key in values and key in table.columns:
            kept = set(table[key][plan.keep].tolist())
            return np.array([v in kept for v in values[key]], dtype=bool), None
    if "row" in values:
        rows = pd.to_numeric(pd.Series(values["row"]), errors="coerce").to_numpy()
        ok = np.isfinite(rows) & (rows >= 0) & (rows < plan.n_rows)
        mask = ok.copy()
        mask[ok] = plan.keep[rows[ok].astype(np.int64)]
        renumber = np.cumsum(plan.keep) - 1
        return mask, renumber[rows[mask].astype(np.int64)]
    return None


def _write_predictions(pred_src: Path, dataset: Any, plan: _Plan,
                       tmp: Path) -> dict[str, Any] | None:
    """Write the predictions on the kept images beside the new version, under the same name
    (so ``assay audit`` on the version takes them as they are); a summary for the changelog,
    or None when they cannot be matched to the images (nothing written)."""
    from assay.data import read_table

    target = tmp / pred_src.name
    if target.exists():
        return None
    kind = _TABLE_FORMATS.get(pred_src.suffix.lower())
    if kind == "json":
        with open(pred_src, encoding="utf-8") as fh:
            data = json.load(fh)
        entries = data.get("annotations") if isinstance(data, dict) else data
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            return None
        keys = {k: [e.get(k) for e in entries] for k in ("image_id", "file_name", "row")
                if entries and all(k in e for e in entries)}
        found = _kept_predictions(keys, dataset, plan)
        if found is None:
            return None
        mask, rows = found
        kept = [e for e, m in zip(entries, mask.tolist(), strict=True) if m]
        if rows is not None:
            kept = [dict(e, row=int(r)) for e, r in zip(kept, rows.tolist(), strict=True)]
        out = {**data, "annotations": kept} if isinstance(data, dict) else kept
        with open(target, "w", encoding="utf-8", newline="\n") as fh:
            json.dump(out, fh, ensure_ascii=False)
            _flush(fh)
    elif kind is not None:
        frame = read_table(pred_src)
        found = _kept_predictions({str(c): frame[c].tolist() for c in frame.columns
                                   if str(c) in ("image_id", "file_name", "row")}, dataset, plan)
        if found is None:
            return None
        mask, rows = found
        frame = frame[mask].reset_index(drop=True)
        if rows is not None:
            frame["row"] = rows
        _write_table(frame, target, kind)
    else:
        return None
    return {"source": str(pred_src), "file": pred_src.name, "n_before": int(len(mask)),
            "n_after": int(mask.sum())}


def _conll_tags(src: Path, dataset: Any, plan: _Plan) -> tuple[Any, np.ndarray]:
    """The CoNLL source's corpus, cut to the kept sentences, and each kept token's tag (the
    corrected ones where a sentence was relabelled)."""
    from assay.data import parse_sequences
    from assay.tokens import TokenCorpus, read_conll

    corpus = read_conll(src)
    if corpus.n_sentences != dataset.n_rows:
        raise ExportError(
            f"The CoNLL file '{src}' reads as {corpus.n_sentences} sentences with "
            f"assay.tokens.read_conll, but the audited table has {dataset.n_rows}; the "
            "corrections cannot be placed. Export to a table instead (convert the file to "
            "JSON Lines with tokens and tags) and audit that."
        )
    names = corpus.tag_names.astype(object)
    for pos, value in plan.new_values.items():
        a, b = int(corpus.offsets[pos]), int(corpus.offsets[pos + 1])
        names[a:b] = parse_sequences(pd.Series([value], dtype=object))[0]
    lengths = np.diff(corpus.offsets)
    token_keep = np.repeat(plan.keep, lengths)
    kept = TokenCorpus(corpus.tokens[token_keep], corpus.tags[token_keep], corpus.classes,
                       np.r_[0, np.cumsum(lengths[plan.keep])].astype(np.int64),
                       tuple(c[token_keep] for c in corpus.columns))
    return kept, names[token_keep]


def _conll_sep(src: Path) -> str:
    """The column separator to write: a tab when the source's first token line has one."""
    with open(src, encoding="utf-8-sig") as fh:
        for line in fh:
            if line.strip() and not line.startswith(("-DOCSTART-", "#")):
                return "\t" if "\t" in line.rstrip("\r\n") else " "
    return " "


def _write_conll_version(dataset: Any, src: Path, path: Path, plan: _Plan) -> None:
    """Write the kept sentences of a CoNLL source with :func:`assay.tokens.write_conll`: its
    other columns kept, the corrected tags in the tag column."""
    from assay.tokens import write_conll

    corpus, tags = _conll_tags(src, dataset, plan)
    write_conll(corpus, path, tags=tags, sep=_conll_sep(src))
    with open(path, "rb+") as fh:
        _flush(fh)


def _number_value(text: Any, dataset: Any, *, row_id: str) -> Any:
    """A regression relabel's new value: an int in an integer column when it is whole, else a
    float (the column then becomes float)."""
    try:
        value = float(str(text).strip())
    except ValueError:
        value = float("nan")
    if not np.isfinite(value):
        raise InputValidationError(
            f"Row {row_id!r} is relabelled to {text!r}, but the target column "
            f"'{dataset.roles.label}' holds numbers. Fix the decision with a finite number "
            "(assay review)."
        )
    if dataset.table[dataset.roles.label].dtype.kind in "iu" and value == round(value):
        return int(value)
    return value


def _same_number(value: Any, old: Any) -> bool:
    try:
        return bool(float(value) == float(old))
    except (TypeError, ValueError):
        return False


def _class_value(text: Any, by_text: Mapping[str, Any], dataset: Any, *, row_id: str,
                 allow_new: bool, is_folder: bool) -> Any:
    text = "" if text is None else str(text)
    if text in by_text:
        return by_text[text]
    shown = ", ".join(sorted(by_text)[:20])
    if not allow_new:
        raise InputValidationError(
            f"Row {row_id!r} is relabelled to {text!r}, which is not one of the dataset's classes "
            f"({shown}). Fix the decision, or pass --allow-new-classes (allow_new_classes=True) "
            "to add the class."
        )
    if is_folder:
        if not text or text in (".", "..") or any(ch in text for ch in "/\\\x00"):
            raise InputValidationError(
                f"Row {row_id!r} is relabelled to {text!r}, which cannot be a class folder name "
                "(it is empty, '.' or '..', or holds a path separator). Use a plain name."
            )
        return text
    dtype = dataset.table[dataset.roles.label].dtype
    if dtype.kind in "iu":
        try:
            return int(text)
        except ValueError:
            raise InputValidationError(
                f"Row {row_id!r} is relabelled to {text!r}, but the label column "
                f"'{dataset.roles.label}' holds integers. Use an integer class."
            ) from None
    if dtype.kind == "f":
        try:
            return float(text)
        except ValueError:
            raise InputValidationError(
                f"Row {row_id!r} is relabelled to {text!r}, but the label column "
                f"'{dataset.roles.label}' holds numbers. Use a numeric class."
            ) from None
    if dtype.kind == "b":
        raise InputValidationError(
            f"Row {row_id!r} is relabelled to {text!r}, but the label column "
            f"'{dataset.roles.label}' is boolean and has both classes already."
        )
    return text


# ---------------------------------------------------------------------- writing
def _write_version(dataset: Any, src: Path, tmp: Path, plan: _Plan,
                   emb_src: Path | None) -> tuple[str, list[dict[str, Any]]]:
    """Write the data into ``tmp``; return its path relative to ``tmp`` and the row entries."""
    entries = _entries(dataset, plan)
    if src.is_dir():
        paths = _write_image_folder(dataset, src, tmp, plan)
        by_pos = {e["_pos"]: e for e in entries}
        for pos, (old, new) in paths.items():
            if pos in by_pos:
                by_pos[pos]["old_path"], by_pos[pos]["new_path"] = old, new
        data_rel = "."
    elif src.suffix.lower() in CONLL_SUFFIXES:
        _write_conll_version(dataset, src, tmp / src.name, plan)
        data_rel = src.name
    else:
        coco = _coco_source(src) if plan.task == "detection" else None
        table = _corrected_table(dataset, plan)
        if coco is not None:
            _write_coco_version(coco, dataset, tmp / src.name, plan)
        else:
            _write_table(table, tmp / src.name, _TABLE_FORMATS[src.suffix.lower()])
        image = _image_column(dataset, plan)
        if image is not None:
            _link_table_images(table[image], src.parent, tmp)
        data_rel = src.name
    if emb_src is not None:
        _write_kept_rows(emb_src, tmp / emb_src.name, plan.keep)
    for e in entries:
        e.pop("_pos")
    return data_rel, entries


def _write_kept_rows(src: Path, dst: Path, keep: np.ndarray,
                     block_bytes: int = 256 * 2**20) -> None:
    """Copy the rows ``keep`` of the ``.npy`` file ``src`` to ``dst``, a block of rows at a time
    (the source memory-mapped, so a file larger than memory is copied in bounded memory)."""
    from numpy.lib.format import open_memmap

    arr = np.load(src, mmap_mode="r", allow_pickle=False)
    kept = np.flatnonzero(keep)
    out = open_memmap(dst, mode="w+", dtype=arr.dtype, shape=(kept.size, *arr.shape[1:]))
    row_bytes = max(1, int(arr.itemsize * int(np.prod(arr.shape[1:], dtype=np.int64))))
    step = max(1, block_bytes // row_bytes)
    for start in range(0, kept.size, step):
        rows = kept[start:start + step]
        out[start:start + rows.size] = arr[rows]  # ascending rows: one forward pass over src
    out.flush()
    del out
    with open(dst, "rb+") as fh:
        _flush(fh)


#: The changelog stage of the drops that ``dedup=True`` adds (not a review stage).
DEDUP_STAGE = "dedup"


def _dedup_decisions(ws: Any, run_info: Mapping[str, Any], dataset: Any,
                     resolved: pd.DataFrame) -> pd.DataFrame:
    """Drop decisions for the audit's duplicates that are copies of a row that stays
    (:func:`assay.curate.keep_one_per_copy`, best-scored rows first); rows with a review
    decision are left to it, and a row a reviewer dropped does not stay for its copies."""
    from assay import AuditResult
    from assay.curate import audit_scores, keep_one_per_copy, quality_rank

    run_id = run_info["run_id"]
    doc = ws.results_dir(run_id) / "audit.json"
    if run_info.get("command") != "audit" or not doc.exists():
        raise ExportError(
            f"--dedup drops the duplicates an audit found, but run {run_id} "
            f"('{run_info.get('command')}') has no stored audit result. Pass --run with a "
            "completed audit run (see 'assay runs --command audit')."
        )
    issues = AuditResult.from_json(doc).issues
    if "duplicate_set" not in issues:
        raise ExportError(
            f"Audit run {run_id} has no duplicate sets: it ran without the duplicates check. "
            "Re-run 'assay audit' with its default checks (or --checks duplicates), then export "
            "with --dedup."
        )
    n = dataset.n_rows
    if len(issues) != n:
        raise ExportError(
            f"Audit run {run_id} holds {len(issues)} rows but the dataset has {n}; the duplicate "
            "sets cannot be matched to rows. Re-run the audit on this dataset."
        )
    decided = np.zeros(n, dtype=bool)
    dropped = np.zeros(n, dtype=bool)
    if len(resolved):
        pos = pd.Series(np.arange(n), index=pd.Index(_row_keys(dataset))).reindex(
            resolved["row_id"].to_numpy())
        known = ~pd.isna(pos.to_numpy())  # unknown ids are reported by the plan
        at = pos.to_numpy()[known].astype(np.int64)
        decided[at] = True
        dropped[at] = resolved["action"].isin(list(_DROP_ACTIONS)).to_numpy()[known]
    if "copy_of_row" not in issues:
        raise ExportError(
            f"Audit run {run_id} was recorded by an older assay, which did not store which row "
            "each duplicate copies, so --dedup cannot tell which rows are safe to drop. Re-run "
            "'assay audit' on the data, then export with --dedup."
        )
    signals = audit_scores(issues)
    _, copy = keep_one_per_copy(
        pd.to_numeric(issues["copy_of_row"], errors="coerce").fillna(-1).to_numpy(np.int64),
        issues["is_exact_duplicate"].to_numpy(bool),
        quality_rank(**signals) if signals else None, eligible=~dropped)
    drop = np.flatnonzero((copy >= 0) & ~decided)
    rep = copy
    none = np.array([None] * drop.size + [0], dtype=object)[:-1]  # object column, no NaN
    return pd.DataFrame({
        "row_id": _row_keys(dataset, drop), "action": "duplicate", "new_label": none,
        "duplicate_of": _row_keys(dataset, rep[drop]), "stage": DEDUP_STAGE,
        "reviewers": [[] for _ in range(drop.size)],
        "decision_ids": [[] for _ in range(drop.size)],
        "n_superseded": np.zeros(drop.size, dtype=np.int64), "queues": none,
        "pos": drop,  # known: _plan does not look these rows up by id
    })


def _entries(dataset: Any, plan: _Plan) -> list[dict[str, Any]]:
    out = []
    for r in plan.resolved.sort_values("pos").itertuples(index=False):
        old = _jsonable(plan.old_values[r.pos])
        new = _jsonable(plan.new_values.get(r.pos, plan.old_values[r.pos]))
        entry: dict[str, Any] = {
            "_pos": int(r.pos), "row_id": r.row_id, "row": int(r.pos), "action": r.action,
            "old_label": old, "new_label": new if plan.keep[r.pos] else None,
            "reviewers": list(r.reviewers), "decision_ids": list(r.decision_ids),
            "stage": r.stage,
        }
        if r.action == "relabel" and r.new_label is not None and r.pos not in plan.new_values:
            entry["note"] = "relabelled to the label it already had"
        if r.action == "duplicate" and r.duplicate_of is not None:
            entry["duplicate_of"] = r.duplicate_of
        if r.n_superseded:
            entry["n_superseded"] = int(r.n_superseded)
        out.append(entry)
    return out


def _corrected_table(dataset: Any, plan: _Plan) -> pd.DataFrame:
    table = dataset.table.copy(deep=False)  # as read from the file (column names are str)
    col_name = dataset.roles.label
    if plan.new_values:
        col = table[col_name].copy()
        positions = np.fromiter(plan.new_values, dtype=np.int64)
        values = list(plan.new_values.values())
        if isinstance(col.dtype, pd.CategoricalDtype):
            extra = [v for v in dict.fromkeys(values) if v not in col.cat.categories]
            if extra:
                col = col.cat.add_categories(extra)
        if col.dtype.kind in "iu" and not all(isinstance(v, int | np.integer) for v in values):
            numbers = all(isinstance(v, int | float | np.number) and not isinstance(v, bool)
                          for v in values)  # a regression target's new values
            col = col.astype(float if numbers else object)
        if any(isinstance(v, list) for v in values):  # label sets held as lists
            col = col.astype(object)
            for at, v in zip(positions, values, strict=True):
                col.iat[at] = v
        else:
            col.iloc[positions] = values
        table[col_name] = col
    return table.iloc[np.flatnonzero(plan.keep)].reset_index(drop=True)


def _write_table(table: pd.DataFrame, path: Path, kind: str) -> None:
    if kind in ("csv", "tsv"):
        with open(path, "w", encoding="utf-8", newline="") as fh:
            table.to_csv(fh, index=False, sep="," if kind == "csv" else "\t")
            _flush(fh)
    elif kind == "parquet":
        with open(path, "wb") as fh:
            table.to_parquet(fh, index=False)
            _flush(fh)
    else:
        records = table.to_dict(orient="records")
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            if kind == "jsonl":
                for rec in records:
                    fh.write(json.dumps({k: _json_value(v) for k, v in rec.items()},
                                        default=_json_default, ensure_ascii=False,
                                        allow_nan=False) + "\n")
            else:
                json.dump([{k: _json_value(v) for k, v in rec.items()} for rec in records], fh,
                          default=_json_default, ensure_ascii=False, allow_nan=False)
            _flush(fh)


def _json_value(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return None if not np.isfinite(obj) else float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, pd.Timestamp):
        return obj.isoformat()
    if obj is pd.NA or obj is pd.NaT:
        return None
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def _jsonable(v: Any) -> Any:
    """A label as JSON holds it: numpy scalars as Python ones, arrays (label sets read from
    Parquet) as lists, a missing value (an empty label set read from CSV) as None."""
    if isinstance(v, np.ndarray):
        return [_jsonable(x) for x in v.tolist()]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _write_image_folder(dataset: Any, src: Path, tmp: Path,
                        plan: _Plan) -> dict[int, tuple[str, str]]:
    """Link each kept image to ``tmp/<class>/<rest>``; return moved rows' (old, new) paths."""
    rel_paths = dataset.table[dataset.roles.image].astype(str).tolist()
    kept = np.flatnonzero(plan.keep).tolist()
    used: set[str] = {rel_paths[i] for i in kept if i not in plan.new_values}
    moves: dict[int, tuple[str, str]] = {}
    for i in kept:
        rel = rel_paths[i]
        if i in plan.new_values:
            new_rel = _free_name(str(plan.new_values[i]), rel, used)
            used.add(new_rel)
            moves[int(i)] = (rel, new_rel)
        else:
            new_rel = rel
        _link(src / rel, tmp / new_rel)
    return moves


def _free_name(new_class: str, rel: str, used: set[str]) -> str:
    old_class, _, rest = rel.partition("/")
    cand = f"{new_class}/{rest}"
    if cand not in used:
        return cand
    stem, dot, suffix = rest.rpartition(".")
    stem, suffix = (stem, f".{suffix}") if dot else (rest, "")
    for k in range(1, 1_000_000):
        tag = f"__from_{old_class}" + (f"_{k}" if k > 1 else "")
        cand = f"{new_class}/{stem}{tag}{suffix}"
        if cand not in used:
            return cand
    raise ExportError(f"Could not find a free file name for '{rel}' in class '{new_class}'.")


def _link_table_images(paths: pd.Series, root: Path, tmp: Path) -> None:
    """Link the images a table refers to by relative path into the version (same layout)."""
    for value in dict.fromkeys(paths.dropna().astype(str)):
        p = Path(value)
        if p.is_absolute():
            continue
        if ".." in p.parts:
            raise ExportError(
                f"The image path '{value}' leaves the data folder ('..'), so the new version "
                "cannot hold it at the same relative path. Use absolute paths, or keep the images "
                "below the data file's folder."
            )
        source = root / p
        if not source.exists():
            raise ExportError(f"The image '{source}' referred to by the data is missing.")
        _link(source, tmp / p)


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:  # another file system, or links not allowed: copy instead
        shutil.copy2(source, target)


def _flush(fh: Any) -> None:
    fh.flush()
    os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a folder
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_json(path: Path, payload: Mapping[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, indent=2, ensure_ascii=False, default=_json_default,
                  allow_nan=False)
        fh.write("\n")
        _flush(fh)


def _replace_dir(tmp: Path, out: Path, *, force: bool) -> Path | None:
    """Rename ``tmp`` to ``out``; a non-empty ``out`` (``force``) is moved aside and returned, to
    be deleted once the new version is recorded (or put back if recording fails)."""
    old = None
    if out.exists():
        if any(out.iterdir()):
            if not force:  # re-checked: something may have appeared since the first check
                raise ExportError(f"The output folder '{out}' is not empty; pass --force.")
            old = out.parent / f".{out.name}.old-{secrets.token_hex(4)}"
            os.rename(out, old)
        else:
            out.rmdir()
    try:
        os.rename(tmp, out)
    except OSError:
        if old is not None:  # put the previous content back
            os.rename(old, out)
        raise
    _fsync_dir(out.parent)
    return old


@contextlib.contextmanager
def _rollback_on_error(out: Path, old: Path | None = None) -> Iterator[None]:
    """When recording in the workspace fails after the rename, take the new version away again
    and put back the version it replaced (``--force``)."""
    try:
        yield
    except BaseException:
        if out.exists():
            shutil.rmtree(out, ignore_errors=True)
        if old is not None and old.exists():
            os.rename(old, out)
        raise


def _changelog(run_id: str, parent_fp: str, new_fp: str, src: Path, data_path: Path,
               plan: _Plan, entries: list[dict[str, Any]], policy: str,
               reviewers: list[str] | None) -> dict[str, Any]:
    from assay import __version__

    conflicts = [e["row_id"] for e in entries if e["action"] == "conflict"]
    return {
        "changelog_version": CHANGELOG_VERSION,
        "assay_version": __version__,
        "run_id": run_id,
        "parent_fingerprint": parent_fp,
        "fingerprint": new_fp,
        "source": str(src),
        "path": str(data_path),
        "policy": policy,
        "reviewers": reviewers,
        "stage_order": list(STAGE_ORDER),
        "counts": dict(plan.counts),
        "conflicts": conflicts,
        "rows": entries,
    }
