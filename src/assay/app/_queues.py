"""Review queues built from a recorded audit: what to look at, in which order, with what evidence.

A queue is one finding type of one audit run (label issues, duplicates, outliers, leakage,
ambiguous class pairs), flagged rows only, worst first. The audit's stored result (the
``audit.json`` and ``issues.parquet`` the workspace keeps per run) is the source; the rows
themselves are read from the dataset the run registered, when it is still there unchanged. A
table whose rows are images (pixel columns, found as the report finds them:
:func:`assay.report.sample_layout` with the audit's ``image_shape``) shows each row as a
thumbnail (:func:`thumbnail_png`) instead of its pixel columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from assay.checks import queue_names
from assay.exceptions import InputValidationError

__all__ = ["CURATION_QUEUE", "QUEUES", "STAGES", "THUMB_SIDE", "ReviewSession",
           "attach_annotations", "box_summary", "display_number", "given_tags", "load_session",
           "parse_boxes", "parse_tags", "stored_tags", "thumbnail_png", "typed_label_set",
           "typed_tags"]

#: The review queues the built-in checks declare, in tab order (``assay.checks.queue_names``;
#: the server accepts those of checks registered later too).
QUEUES: tuple[str, ...] = queue_names()
#: Curation stages: ``review`` sees the queue (cut to a quota), ``expert`` sees only the rows the
#: reviewers disagreed on or deferred.
STAGES: tuple[str, ...] = ("review", "expert")
#: The queue of the amateur stage of the latest ``assay curate`` run of the audit, best first.
CURATION_QUEUE = "curation"
_MAX_TEXT = 2000
#: Characters of a row's text on a duplicate set's card.
_CARD_TEXT = 300
#: Classes of the Dawid-Skene posterior shown on an item (the most probable first).
TOP_POSTERIOR = 3
#: Longest side of a pixel row's thumbnail PNG; larger images are shrunk by block means (the
#: page scales smaller ones up, pixelated).
THUMB_SIDE = 256


@dataclass
class ReviewSession:
    """Everything the server needs about one audit run, loaded once at start."""

    workspace: Path
    run_id: str
    fingerprint: str | None
    classes: list[str]
    issues: pd.DataFrame
    queues: dict[str, pd.DataFrame]
    dataset: Any = None
    banner: str | None = None
    roles: dict[str, Any] = field(default_factory=dict)
    neighbours: Any = None  # the audit's k-NN graph (indices, distances), when cached
    label_summary: dict[str, Any] = field(default_factory=dict)  # the label check's summary
    # row id -> a keep decided on an earlier version of the data, on this unchanged row
    carried: dict[str, dict[str, Any]] = field(default_factory=dict)
    # the curate run whose amateur stage is the ``curation`` queue: run id and stage sizes
    curation: dict[str, Any] | None = None
    # queue -> most rows its expert stage shows (the curation funnel's last stage size)
    expert_caps: dict[str, int] = field(default_factory=dict)
    # row id -> the annotators' labels and the Dawid-Skene posterior (rows with annotations)
    annotator_votes: dict[str, dict[str, Any]] = field(default_factory=dict)
    # the dataset's pixel columns when its rows are images (assay.data.PixelLayout), and the
    # values drawn black and white (one scale for every thumbnail, as in the report)
    pixels: Any = None
    pixel_scale: tuple[float, float] = (0.0, 1.0)
    # the audit's task: "classification" (relabel to a class) or "regression" (to a number)
    task: str = "classification"
    # regression: every target value is a whole number (suggestions are rounded to one)
    integral_target: bool = False
    # tokens: the column of the tokens, and how the label column writes a tag sequence
    # ("space", "json" or "list", assay.data.sequence_form)
    token_column: str | None = None
    tag_form: str = "space"

    _row_id_set: frozenset[str] | None = field(default=None, init=False, repr=False,
                                                compare=False)
    _row_pos: dict[str, int] | None = field(default=None, init=False, repr=False,
                                            compare=False)

    def row_ids(self) -> frozenset[str]:
        """The run's row ids (computed once: the server checks every decision against them)."""
        if self._row_id_set is None:
            self._row_id_set = frozenset(self.issues["row_id"])
        return self._row_id_set

    def position(self, row_id: str) -> int | None:
        """The position of row ``row_id`` in ``issues`` (None when it is not a row of the run)."""
        if self._row_pos is None:
            self._row_pos = {str(r): i for i, r in enumerate(self.issues["row_id"])}
        return self._row_pos.get(row_id)


def _row_ids(issues: pd.DataFrame) -> pd.Series:
    col = issues["id"] if "id" in issues else issues["row"]
    return col.astype(str)


def _queue_frame(issues: pd.DataFrame, mask: np.ndarray, score: np.ndarray, *,
                 ascending: bool, group: Any = None) -> pd.DataFrame:
    q = pd.DataFrame({"row": issues["row"].to_numpy()[mask],
                      "row_id": issues["row_id"].to_numpy()[mask],
                      "score": np.asarray(score, dtype=float)[mask]})
    if group is not None:
        q["group"] = np.asarray(group)[mask]
        q = q.sort_values(["group", "score", "row"], ascending=[True, ascending, True],
                          kind="stable")
    else:
        q = q.sort_values(["score", "row"], ascending=[ascending, True], kind="stable")
    return q.reset_index(drop=True)


def build_queues(issues: pd.DataFrame, checks: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """Flagged rows per finding type, worst first (columns ``row``, ``row_id``, ``score``...).

    The queues, their rows and their order come from the registered checks' specifications
    (``assay.checks.QueueSpec``): nothing here names a check.
    """
    from assay.checks import review_queues

    return {name: _queue_frame(issues, mask, order, ascending=True, group=group)
            for name, (mask, order, group) in review_queues(issues, checks).items()}


def stored_audit(ws: Any, run: str | None, *, command: str) -> tuple[str, dict[str, Any], Any]:
    """The audit run ``run`` of ``ws`` and the result the workspace keeps for it.

    Parameters
    ----------
    ws : Workspace
        The workspace.
    run : str or None
        A run id, a unique prefix of one, or ``"latest"``; None or ``"latest"`` mean the latest
        audit that finished (an interrupted audit or an export after it does not hide it).
    command : str
        The asking command, for the error messages (``"review"``, ``"report"``).

    Returns
    -------
    tuple
        ``(run_id, run info, AuditResult)``.

    Raises
    ------
    InputValidationError
        When there is no audit, the run is not an audit, or its stored result is missing.
    """
    from assay import AuditResult

    if run is None or run in ("latest", "last"):
        audits = ws.runs(command="audit")
        if audits.empty:
            raise InputValidationError(
                f"The workspace {ws.path} has no audit runs. Run 'assay audit DATA --label COL' "
                f"first, then 'assay {command}'."
            )
        # the latest audit that finished: an interrupted one, or an export after it, does not
        # hide the completed audits
        run_id = ws.resolve_run("latest", command="audit")
    else:
        run_id = ws.resolve_run(run)
    info = ws.run(run_id)
    if info["command"] != "audit":
        raise InputValidationError(
            f"Run {run_id} is an 'assay {info['command']}' run; 'assay {command}' works on "
            "audits. Pick an audit run from 'assay runs'."
        )
    doc = ws.results_dir(run_id) / "audit.json"
    if not doc.exists():
        raise InputValidationError(
            f"The workspace has no stored result for audit run {run_id} (status "
            f"{info['status']!r}; interrupted runs, and runs recorded by an older assay, have "
            f"none). Re-run the audit, then 'assay {command}'."
        )
    return run_id, info, AuditResult.from_json(doc)


def load_session(ws: Any, run: str | None = None) -> ReviewSession:
    """Load an audit run of the workspace ``ws`` for review (``run``: id, prefix or latest).

    Raises
    ------
    InputValidationError
        When the run is not an audit or its stored result is missing.
    """
    run_id, info, result = stored_audit(ws, run, command="review")
    issues = result.issues.copy()
    issues["row_id"] = _row_ids(issues)
    summary = ws.run(run_id)["summary"] or {}
    task = str((result.summary or {}).get("task") or summary.get("task") or "classification")
    if task == "tokens":  # the tag names, as the audit's own result records them
        classes = _tag_names(result.summary or {}, issues)
    elif task == "detection":  # the box classes, not the cells (the run's summary lists those)
        classes = _box_classes(result.summary or {}, issues)
    else:
        classes = [] if task == "regression" else [str(c) for c in summary.get("classes", [])]
    if not classes and "given_label" in issues and task != "regression":
        classes = sorted(issues["given_label"].astype(str).unique())
    session = ReviewSession(
        workspace=Path(ws.path), run_id=run_id, fingerprint=info["fingerprint"], classes=classes,
        issues=issues, queues=build_queues(issues, result.checks), task=task,
    )
    if task == "regression" and "given_label" in issues:
        given = pd.to_numeric(issues["given_label"], errors="coerce").to_numpy(dtype=float)
        finite = given[np.isfinite(given)]
        session.integral_target = bool(finite.size) and bool(np.all(finite == np.round(finite)))
    label_check = result.checks.get({"tokens": "token_labels", "detection": "detection_labels"}
                                    .get(task, "label_issues"))
    if label_check is not None:
        session.label_summary = dict(label_check.summary or {})
    _attach_dataset(ws, session, (info.get("params") or {}).get("embeddings"))
    if task == "tokens":
        _attach_tokens(session, result.summary or {})
    if task == "detection":
        _attach_box_images(session)
    _attach_pixels(session, (result.summary or {}).get("image_shape"))
    session.neighbours = _cached_knn(ws, session.fingerprint, len(issues))
    _attach_curation(ws, session)
    from assay.workspace import carried_decisions

    session.carried = {str(r["row_id"]): r for r in
                       carried_decisions(ws, run_id).to_dict("records")}
    return session


def _tag_names(summary: dict[str, Any], issues: pd.DataFrame) -> list[str]:
    """A tokens audit's tag names, sorted: the audit's recorded ``classes``, else every tag of
    the given sequences."""
    recorded = [str(c) for c in summary.get("classes") or ()]
    if recorded:
        return sorted(recorded)
    if "given_label" not in issues:
        return []
    return sorted({t for cell in issues["given_label"] for t in parse_tags(cell) or ()})


def _box_classes(summary: dict[str, Any], issues: pd.DataFrame) -> list[str]:
    """A detection audit's box classes, sorted: the audit's recorded ``classes``, else every
    class of the given boxes."""
    recorded = [str(c) for c in summary.get("classes") or ()]
    if recorded:
        return sorted(recorded)
    if "given_label" not in issues:
        return []
    return sorted({str(b[0]) for cell in issues["given_label"] for b in parse_boxes(cell) or ()})


def _attach_box_images(session: ReviewSession) -> None:
    """Give a detection dataset its image role as the audit did: ``file_name`` when those files
    are found next to the data (``assay.data.with_image_role``)."""
    from assay.data import with_image_role

    if session.dataset is not None:
        session.dataset = with_image_role(session.dataset)


def _attach_tokens(session: ReviewSession, summary: dict[str, Any]) -> None:
    """Which column holds the tokens (the audit's recorded text role, else ``tokens``) and how
    the label column writes a sequence (the check's ``label_form``, else the column's own)."""
    from assay.data import sequence_form

    role = (summary.get("roles") or {}).get("text") or session.roles.get("text")
    session.token_column = str(role) if role else "tokens"
    form = session.label_summary.get("label_form")
    ds = session.dataset
    if form is None and ds is not None and ds.roles.label in ds.table.columns:
        form = sequence_form(ds.table[ds.roles.label])
    session.tag_form = str(form) if form in ("space", "json", "list") else "space"


def attach_annotations(session: ReviewSession, annotations: pd.DataFrame) -> None:
    """Each annotated row's votes and Dawid-Skene posterior, for the item card.

    The consensus is fitted as the audit's annotators check fits it
    (``assay.consensus.consensus_labels``, ``method="dawid_skene"``); an item that matches no
    row id of the run is ignored, and a row without annotations gets nothing.

    Parameters
    ----------
    session : ReviewSession
        Filled in place (``annotator_votes``).
    annotations : pandas.DataFrame
        Long format, one rating per row: ``item`` (the row id), ``annotator``, ``label``.
    """
    import warnings

    from assay.consensus import consensus_from_encoded, encode_ratings

    if not isinstance(annotations, pd.DataFrame):
        raise InputValidationError(
            f"annotations must be a pandas DataFrame with the columns item, annotator and label; "
            f"got {type(annotations).__name__}. Read the annotations file first.")
    missing = [c for c in ("item", "annotator", "label") if c not in annotations.columns]
    if missing:
        raise InputValidationError(
            f"annotations need the columns item, annotator and label; missing {missing}. Got "
            f"columns {list(map(str, annotations.columns))}. Rename them first.")
    ann = annotations.dropna(subset=["item", "annotator", "label"])
    ann = ann.assign(item=ann["item"].astype(str))
    ann = ann[ann["item"].isin(session.row_ids())]
    if ann.empty:
        return
    enc = encode_ratings(ann, item="item", annotator="annotator", label="label")
    with warnings.catch_warnings():  # a slow EM is still the audit's answer; the audit warned
        warnings.simplefilter("ignore")
        _, fit = consensus_from_encoded(enc, method="dawid_skene", tie="prior",
                                        rng=np.random.default_rng(0))
    if fit is None:  # pragma: no cover - dawid_skene always fits
        return
    classes = [str(c) for c in fit.classes]
    order = np.argsort(-fit.posteriors, axis=1, kind="stable")[:, :TOP_POSTERIOR]
    votes: dict[str, list[dict[str, str]]] = {}
    for item, who, label in zip(ann["item"], ann["annotator"], ann["label"], strict=True):
        votes.setdefault(item, []).append({"annotator": str(who), "label": str(label)})
    for i, item in enumerate(enc.items):
        session.annotator_votes[str(item)] = {
            "votes": votes[str(item)],
            "posterior": [{"label": classes[k], "p": round(float(fit.posteriors[i, k]), 4)}
                          for k in order[i] if fit.posteriors[i, k] > 0.0005 or k == order[i, 0]],
        }


def _attach_curation(ws: Any, session: ReviewSession) -> None:
    """Add the ``curation`` queue: the amateur stage of the audit's latest ``assay curate``.

    The queue is that stage's rows in rank order (best first, ``score`` the quality score);
    its expert stage is the existing one (rows the reviewers disagreed on or deferred), capped
    at the funnel's expert size.
    """
    runs = ws.runs(command="curate")
    runs = runs[(runs["status"] == "ok") & (runs["fingerprint"] == session.fingerprint)]
    for curate_id in runs["run_id"]:  # newest first
        info = ws.run(curate_id)
        params = info.get("params") or {}
        path = ws.results_dir(curate_id) / "funnel.parquet"
        if params.get("audit_run") != session.run_id or not path.exists():
            continue
        table = pd.read_parquet(path)
        stages = list(params.get("stages") or ())
        sizes = [int(x) for x in params.get("sizes") or ()]
        if len(stages) < 3 or len(sizes) != len(stages):
            continue
        known = session.row_ids()
        q = table[(table["stage"] == stages[1]) & table["row_id"].isin(known)]
        q = q.sort_values("rank", kind="stable")
        session.queues[CURATION_QUEUE] = pd.DataFrame({
            "row": q["row"].to_numpy(), "row_id": q["row_id"].astype(str).to_numpy(),
            "score": q["score"].to_numpy(dtype=float)})
        session.expert_caps[CURATION_QUEUE] = sizes[2]
        session.curation = {"run_id": curate_id, "stages": stages, "sizes": sizes}
        return


def _cached_knn(ws: Any, fingerprint: str | None, n_rows: int) -> Any:
    """The audit's k-NN graph from the workspace's artifact cache (newest), or None."""
    import json

    if fingerprint is None:
        return None
    listing = ws.artifacts()
    hits = listing[(listing["fingerprint"] == fingerprint) & (listing["kind"] == "knn")]
    for params in hits["params"]:
        graph = ws.load_artifact("knn", fingerprint, json.loads(params) if params else None)
        if graph is not None and getattr(graph, "indices", np.empty((0, 0))).shape[0] == n_rows:
            return graph
    return None


def _attach_dataset(ws: Any, session: ReviewSession, embeddings: str | None) -> None:
    """Load the audited rows for display; leave a banner (not an error) when they are gone."""
    from assay.data import load

    record = ws.dataset(session.fingerprint) if session.fingerprint else None
    if record is None or not record.get("source"):
        session.banner = "The audited data is not recorded; showing what the audit stored."
        return
    roles = {k: v for k, v in (record.get("roles") or {}).items() if v not in (None, [], ())}
    session.roles = roles
    src = Path(record["source"])
    if not src.exists():
        session.banner = (f"The audited data {src} is no longer there; showing what the audit "
                          "stored. Decisions are still recorded against the audit's row ids.")
        return
    kwargs = {k: roles.get(k) for k in ("label", "id", "split", "group", "text", "image")}
    kwargs["features"] = roles.get("features") or None
    kwargs["meta"] = roles.get("meta") or None
    kwargs["embeddings"] = roles.get("embedding_column") or (
        embeddings if embeddings and Path(embeddings).exists() else None)
    try:
        ds = load(src, **{k: v for k, v in kwargs.items() if v is not None})
    except InputValidationError as exc:
        session.banner = f"The audited data could not be read again ({exc}); showing the audit's own table."
        return
    if ds.fingerprint != session.fingerprint:
        session.banner = (f"{src} changed since the audit (its fingerprint differs); showing what "
                          "the audit stored. Re-run the audit to review the current data.")
        return
    session.dataset = ds


def _attach_pixels(session: ReviewSession, image_shape: Any) -> None:
    """Find the loaded table's pixel columns as the report does (the audit's ``image_shape``,
    else from the column names); leave a banner when the recorded shape no longer fits."""
    from assay.report import pixel_range, sample_layout

    ds = session.dataset
    if ds is None:
        return
    try:
        layout = sample_layout(ds, image_shape)
    except InputValidationError as exc:
        session.banner = f"The rows are shown as fields, not images: {exc}"
        return
    if layout.pixels is not None:
        session.pixels = layout.pixels
        session.pixel_scale = pixel_range(ds.table, layout.pixels)


def row_view(session: ReviewSession, pos: int, *, neighbours: bool = True) -> dict[str, Any]:
    """One row for display: given and suggested label, scores, and the sample's own fields.

    ``neighbours=False`` leaves out the audit's nearest rows (a duplicate set's cards). When the
    rows are images stored as pixel columns, ``pixels`` is ``{"height", "width"}`` (the image's
    shape; :func:`thumbnail_png` draws it, by ``row``) and ``fields`` leaves the pixel columns
    out; otherwise ``pixels`` is None. A sentence of a tokens task has ``token_tags``:
    ``{"tokens", "given", "suggested", "changed"}`` (its tokens, None when the data is not
    loaded; the given and suggested tag of each; the positions where they differ), its labels
    as typed tag text (:func:`typed_tags`) and its sentence as ``text``, the tokens column left
    out of ``fields``. An image of a detection task has ``boxes``: ``{"given", "suggested",
    "changed_given", "changed_suggested", "changes", "width", "height"}`` (each box
    ``[class, x, y, width, height]``; :func:`_box_view`), its labels as box cells, and its
    label column left out of ``fields``."""
    iss = session.issues.iloc[pos]
    out: dict[str, Any] = {
        "row": int(iss["row"]), "row_id": str(iss["row_id"]),
        "given_label": None if "given_label" not in iss else str(iss["given_label"]),
        "suggested_label": None if "suggested_label" not in iss else str(iss["suggested_label"]),
        "scores": {}, "text": None, "fields": {}, "image": False, "pixels": None,
    }
    if session.task == "regression":
        _regression_view(session, iss, out)
    elif session.task == "multilabel":
        _label_set_view(iss, out)
    elif session.task == "tokens":
        _token_view(session, iss, pos, out)
    elif session.task == "detection":
        _box_view(session, iss, pos, out)
    for col in ("label_score", "label_error_probability", "knn_label_agreement",
                "outlier_score", "data_value"):
        if col in iss and pd.notna(iss[col]):
            out["scores"][col] = round(float(iss[col]), 4)
    for col in ("duplicate_set", "leak_kind", "leak_partner", "weak_slice"):
        if col in iss and pd.notna(iss[col]) and str(iss[col]) not in ("", "-1"):
            out["scores"][col] = str(iss[col])
    graph = session.neighbours if neighbours else None
    if graph is not None:
        given: Any = None
        if "given_label" in session.issues and session.task == "regression":
            near = graph.indices[pos][:5]
            values = session.issues["given_label"].to_numpy()[near]
            given = {int(j): display_number(v, integral=session.integral_target)
                     if pd.notna(v) else "" for j, v in zip(near, values, strict=True)}
        elif "given_label" in session.issues and session.task == "tokens":
            near = graph.indices[pos][:5]
            cells = session.issues["given_label"].to_numpy()[near]
            given = {int(j): typed_tags(parse_tags(c) or []) for j, c in
                     zip(near, cells, strict=True)}
        elif "given_label" in session.issues and session.task == "detection":
            near = graph.indices[pos][:5]
            cells = session.issues["given_label"].to_numpy()[near]
            given = {int(j): box_summary(parse_boxes(c)) for j, c in
                     zip(near, cells, strict=True)}
        elif "given_label" in session.issues:
            given = session.issues["given_label"].astype(str).to_numpy()
        out["neighbours"] = [
            {"row": int(j), "row_id": str(session.issues["row_id"].iloc[int(j)]),
             "label": None if given is None else given[int(j)],
             "distance": round(float(d), 4)}
            for j, d in zip(graph.indices[pos][:5], graph.distances[pos][:5], strict=True)]
    ds = session.dataset
    if ds is not None:
        rec = ds.table.iloc[pos]
        roles = ds.roles
        if roles.text is not None:
            out["text"] = str(rec[roles.text])[:_MAX_TEXT]
        out["image"] = roles.image is not None
        skip = {roles.text, roles.image}
        if out.get("token_tags") and out["token_tags"]["tokens"] is not None:
            # the sentence is drawn token by token; a duplicate set's card shows it as text
            out["text"] = " ".join(out["token_tags"]["tokens"])[:_MAX_TEXT]
            skip.add(session.token_column)
        if out.get("boxes") is not None:  # the boxes are drawn; the cell is given_label
            skip.add(roles.label)
        if session.pixels is not None:
            skip.update(session.pixels.columns)
            h, w = session.pixels.shape
            out["pixels"] = {"height": int(h), "width": int(w)}
        shown = [c for c in ds.table.columns if c not in skip][:24]
        out["fields"] = {str(c): _cell(rec[c]) for c in shown}
    return out


def display_number(value: Any, *, integral: bool = False) -> str:
    """A target value as a reviewer reads and accepts it: a whole number when the target holds
    only whole numbers, else at least 4 significant digits, never in exponent notation.

    Examples
    --------
    >>> display_number(213.16780489), display_number(12345.678), display_number(7.6, integral=True)
    ('213.2', '12345.7', '8')
    """
    v = float(value)
    if not np.isfinite(v):
        return str(v)
    if integral:
        return str(int(round(v)))
    digits = max(4, len(str(int(abs(v)))) + 1)
    return np.format_float_positional(v, precision=digits, unique=True, fractional=False,
                                      trim="-")


def _regression_view(session: ReviewSession, iss: pd.Series, out: dict[str, Any]) -> None:
    """A numeric target's row: the given value as read, the suggestion rounded for a person,
    its interval and the neighbours' median."""
    show = lambda v: display_number(v, integral=session.integral_target)  # noqa: E731
    if out["given_label"] is not None and pd.notna(iss["given_label"]):
        out["given_label"] = display_number(iss["given_label"],
                                            integral=session.integral_target)
    if "suggested_label" in iss and pd.notna(iss["suggested_label"]):
        out["suggested_label"] = show(iss["suggested_label"])
    if {"suggested_low", "suggested_high"} <= set(iss.index) and pd.notna(iss["suggested_low"]):
        out["scores"]["95 % interval"] = (f"{show(iss['suggested_low'])} .. "
                                          f"{show(iss['suggested_high'])}")
    if "neighbour_target" in iss and pd.notna(iss["neighbour_target"]):
        out["scores"]["neighbours' median"] = show(iss["neighbour_target"])


def typed_label_set(names: list[str]) -> str:
    """A label set as a reviewer types it (and the server reads it): names joined by ", ", or a
    JSON list when a name holds a comma.

    Examples
    --------
    >>> typed_label_set(["even", "loop"]), typed_label_set(["Austin, TX"]), typed_label_set([])
    ('even, loop', '["Austin, TX"]', '')
    """
    import json

    if any("," in n or n.startswith("[") for n in names):
        return json.dumps(names)
    return ", ".join(names)


def _label_set_view(iss: pd.Series, out: dict[str, Any]) -> None:
    """A multi-label row: the given and suggested sets as lists, the classes to add and to
    remove, and the suggestion in the form the relabel box takes."""
    from assay.data import parse_label_sets

    def names(cell: Any) -> list[str]:
        if cell is None or (isinstance(cell, float) and np.isnan(cell)):
            return []
        _, classes = parse_label_sets([cell, ""])
        return [str(c) for c in classes]

    given = names(iss.get("given_label"))
    suggested = names(iss.get("suggested_label")) if "suggested_label" in iss else given
    out["label_set"] = {
        "given": given, "suggested": suggested,
        "add": [c for c in suggested if c not in given],
        "remove": [c for c in given if c not in suggested]}
    out["given_label"] = typed_label_set(given)
    out["suggested_label"] = typed_label_set(suggested)


def parse_tags(cell: Any) -> list[str] | None:
    """A tag sequence as a list of tags: a list cell, a JSON list string or a space-separated
    string; None when the cell is missing or holds no sequence.

    Examples
    --------
    >>> parse_tags("B-PER I-PER O"), parse_tags('["O", "B-LOC"]'), parse_tags(None)
    (['B-PER', 'I-PER', 'O'], ['O', 'B-LOC'], None)
    """
    from assay.data import parse_sequences

    if cell is None or (isinstance(cell, float) and np.isnan(cell)):
        return None
    try:
        return parse_sequences(pd.Series([cell], dtype=object))[0]
    except InputValidationError:
        return None


def typed_tags(tags: list[str]) -> str:
    """A tag sequence as a reviewer reads and types it: the tags separated by spaces, or a JSON
    list when a tag holds whitespace or the first one starts with ``[``.

    Examples
    --------
    >>> typed_tags(["B-PER", "I-PER", "O"]), typed_tags(["New York", "O"])
    ('B-PER I-PER O', '["New York", "O"]')
    """
    import json

    if any(not t or t != t.strip() or len(t.split()) != 1 for t in tags) or (
            tags and tags[0].startswith("[")):
        return json.dumps(list(tags), ensure_ascii=False)
    return " ".join(tags)


def stored_tags(tags: list[str], form: str) -> str:
    """A tag sequence as a decision stores it, in the label column's form: space-separated for
    a column of space-separated strings (``form="space"``), else a JSON list (``"json"``, or
    ``"list"`` for list cells, which the export writes back as lists).

    Examples
    --------
    >>> stored_tags(["B-LOC", "O"], "space"), stored_tags(["B-LOC", "O"], "list")
    ('B-LOC O', '["B-LOC", "O"]')
    """
    import json

    if form == "space":
        return " ".join(tags)
    return json.dumps(list(tags), ensure_ascii=False)


def given_tags(session: ReviewSession, row_id: str) -> list[str] | None:
    """The given tags of row ``row_id`` (one per token), as the audit recorded them; None when
    the row or its tags are unknown."""
    pos = session.position(row_id)
    if pos is None or "given_label" not in session.issues:
        return None
    return parse_tags(session.issues["given_label"].iloc[pos])


def _token_view(session: ReviewSession, iss: pd.Series, pos: int, out: dict[str, Any]) -> None:
    """A sentence of a tokens task: its tokens, the given and suggested tag of each, and the
    positions where they differ (``token_tags``); the labels as typed tag text."""
    given = parse_tags(iss.get("given_label")) or []
    suggested = (parse_tags(iss.get("suggested_label")) if "suggested_label" in iss
                 else None) or given
    tokens: list[str] | None = None
    ds = session.dataset
    if ds is not None and session.token_column in ds.table.columns:
        tokens = parse_tags(ds.table[session.token_column].iloc[pos])
    if tokens is not None and len(tokens) != len(given):
        tokens = None  # not this sentence's tokens: show the tags alone
    if len(suggested) != len(given):
        suggested = given
    out["token_tags"] = {
        "tokens": tokens, "given": given, "suggested": suggested,
        "changed": [i for i, (a, b) in enumerate(zip(given, suggested, strict=True)) if a != b]}
    out["given_label"] = typed_tags(given)
    out["suggested_label"] = typed_tags(suggested)
    if "tag_changes" in iss and isinstance(iss["tag_changes"], str) and iss["tag_changes"]:
        out["scores"]["tag_changes"] = iss["tag_changes"]


def parse_boxes(cell: Any) -> list[list[Any]] | None:
    """A box cell as a list of ``[class, x, y, width, height]`` (whole numbers as ints, as
    :func:`assay.data.format_boxes` writes them); None when the cell is missing or holds no
    valid boxes.

    Examples
    --------
    >>> parse_boxes('[["dog", 10.0, 20, 30, 40.5]]'), parse_boxes("[]"), parse_boxes("dog")
    ([['dog', 10, 20, 30, 40.5]], [], None)
    """
    import json

    from assay.data import box_cells, format_boxes

    if cell is None or (isinstance(cell, float) and np.isnan(cell)):
        return None
    try:
        box_cells(pd.Series([cell], dtype=object))  # the cell's shape, numbers and sizes
    except InputValidationError:
        return None
    raw = json.loads(cell) if isinstance(cell, str) else (
        cell.tolist() if isinstance(cell, np.ndarray) else cell)
    boxes: list[list[Any]] = json.loads(format_boxes([list(b) for b in raw]))
    return boxes


def box_summary(boxes: list[list[Any]] | None) -> str:
    """An image's boxes in a few words, for the nearest rows list: each class with its count.

    Examples
    --------
    >>> box_summary([["dog", 1, 2, 3, 4], ["cat", 0, 0, 5, 5], ["dog", 9, 9, 2, 2]])
    '3 boxes: 2 dog, 1 cat'
    >>> box_summary([]), box_summary(None)
    ('no boxes', '')
    """
    if boxes is None:
        return ""
    if not boxes:
        return "no boxes"
    counts: dict[str, int] = {}
    for b in boxes:
        counts[str(b[0])] = counts.get(str(b[0]), 0) + 1
    parts = ", ".join(f"{n} {c}" for c, n in counts.items())
    return f"{len(boxes)} box{'es' if len(boxes) != 1 else ''}: {parts}"


def _image_size(session: ReviewSession, pos: int,
                boxes: list[list[Any]]) -> tuple[float | int, float | int]:
    """An image's width and height: the table's ``width`` and ``height`` columns (a COCO file's
    image sizes), else the image file's own size, else the extent of its boxes (at least 1)."""
    ds = session.dataset
    if ds is not None and {"width", "height"} <= set(ds.table.columns):
        w, h = ds.table["width"].iloc[pos], ds.table["height"].iloc[pos]
        try:
            size = (float(w), float(h))
        except (TypeError, ValueError):
            size = (0.0, 0.0)
        if all(np.isfinite(v) and v > 0 for v in size):
            return _whole(size[0]), _whole(size[1])
    path = image_path(session, pos)
    if path is not None:
        try:
            from PIL import Image

            with Image.open(path) as img:
                return int(img.width), int(img.height)
        except (ImportError, OSError, ValueError):
            pass
    far_x = max((float(b[1]) + float(b[3]) for b in boxes), default=1.0)
    far_y = max((float(b[2]) + float(b[4]) for b in boxes), default=1.0)
    return _whole(max(far_x, 1.0)), _whole(max(far_y, 1.0))


def _whole(v: float) -> float | int:
    return int(v) if float(v).is_integer() else float(v)


def _box_view(session: ReviewSession, iss: pd.Series, pos: int, out: dict[str, Any]) -> None:
    """An image of a detection task: its given and suggested boxes, which of them the
    suggestion changes (``changed_given``: given boxes it drops or alters; ``changed_suggested``:
    suggested boxes that are new or altered), the changes in words and the image's size
    (``boxes``); the labels as normalised box cells."""
    from assay.data import format_boxes

    given = parse_boxes(iss.get("given_label")) or []
    suggested = parse_boxes(iss.get("suggested_label")) if "suggested_label" in iss else None
    if suggested is None:
        suggested = given
    changes = iss.get("box_changes") if "box_changes" in iss else None
    width, height = _image_size(session, pos, given + suggested)
    out["boxes"] = {
        "given": given, "suggested": suggested,
        "changed_given": [i for i, b in enumerate(given) if b not in suggested],
        "changed_suggested": [i for i, b in enumerate(suggested) if b not in given],
        "changes": changes if isinstance(changes, str) else "",
        "width": width, "height": height}
    out["given_label"] = format_boxes(given)
    out["suggested_label"] = format_boxes(suggested)


def duplicate_set_view(session: ReviewSession, rows: list[int]) -> dict[str, Any]:
    """The members of one duplicate set side by side, and what differs between them.

    Parameters
    ----------
    session : ReviewSession
        The loaded audit run.
    rows : list of int
        The members' positions in ``session.issues``, in queue order.

    Returns
    -------
    dict
        ``members`` (row ids), ``cards`` (one per member: ``row``, ``row_id``, ``label`` (the
        given label), ``image`` (whether the app can show its image), ``pixels`` (the image
        shape of a pixel row, else None), ``text`` (cut to ``_CARD_TEXT`` characters) and
        ``fields`` (the row's compact values, pixel columns left out)), ``differs`` (the
        fields whose values are not the same in every member, in column order),
        ``label_differs``, ``text_differs`` and ``pixels_differ`` (for pixel rows, how many
        pixels are not the same in every member, of ``n_pixels``; else both None).

    Examples
    --------
    >>> import pandas as pd
    >>> s = ReviewSession(workspace=Path("."), run_id="r", fingerprint=None, classes=["a", "b"],
    ...                   issues=pd.DataFrame({"row": [0, 1], "row_id": ["x", "y"],
    ...                                        "given_label": ["a", "b"]}), queues={})
    >>> view = duplicate_set_view(s, [0, 1])
    >>> view["members"], view["label_differs"], view["differs"]
    (['x', 'y'], True, [])
    """
    cards = []
    for pos in rows:
        view = row_view(session, int(pos), neighbours=False)
        text = view["text"]
        cards.append({"row": view["row"], "row_id": view["row_id"],
                      "label": view["given_label"], "image": view["image"],
                      "pixels": view["pixels"], "fields": view["fields"],
                      "text": None if text is None else text[:_CARD_TEXT]})
    columns = list(dict.fromkeys(k for card in cards for k in card["fields"]))

    def varies(values: list[Any]) -> bool:
        return len({(type(v).__name__, v) for v in values}) > 1

    differ: int | None = None
    n_pixels: int | None = None
    if session.pixels is not None and session.dataset is not None and rows:
        values = session.dataset.table.iloc[[int(r) for r in rows]][
            list(session.pixels.columns)].to_numpy(dtype=np.float64, na_value=np.nan)
        same = (values == values[0]) | (np.isnan(values) & np.isnan(values[0]))
        differ, n_pixels = int((~same.all(axis=0)).sum()), int(values.shape[1])
    return {
        "members": [card["row_id"] for card in cards], "cards": cards,
        "differs": [k for k in columns if varies([c["fields"].get(k) for c in cards])],
        "label_differs": varies([c["label"] for c in cards]),
        "text_differs": varies([c["text"] for c in cards]),
        "pixels_differ": differ, "n_pixels": n_pixels,
    }


def _cell(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, int | float | bool) or value is None:
        return value
    return str(value)[:200]


def image_path(session: ReviewSession, pos: int) -> Path | None:
    """The image file of row ``pos`` if it resolves to a file inside the dataset's root."""
    ds = session.dataset
    if ds is None or ds.roles.image is None:
        return None
    root = Path(ds.root).resolve()
    rel = str(ds.table.iloc[pos][ds.roles.image])
    candidate = Path(rel)
    if candidate.is_absolute() or ".." in candidate.parts:
        return None
    real = (root / candidate).resolve()
    if not real.is_file() or not real.is_relative_to(root):
        return None
    return real


def thumbnail_png(session: ReviewSession, pos: int) -> bytes | None:
    """Row ``pos``'s image as a grey PNG, when the rows are images stored as pixel columns.

    Drawn as the report draws it (:func:`assay.report.pixel_png`): the dataset's one intensity
    scale, at the image's own resolution up to ``THUMB_SIDE`` pixels a side (block means
    above). None when the rows are not pixel images or the data is not loaded.

    Parameters
    ----------
    session : ReviewSession
        The loaded audit run.
    pos : int
        The row's position in ``session.issues`` (an item's ``row``), already checked to be in
        range.

    Returns
    -------
    bytes or None
    """
    from assay.report import pixel_png

    ds, layout = session.dataset, session.pixels
    if ds is None or layout is None:
        return None
    image = layout.pixels(ds.table.iloc[[pos]])[0]
    lo, hi = session.pixel_scale
    return pixel_png(image, lo, hi, max_side=THUMB_SIDE)
