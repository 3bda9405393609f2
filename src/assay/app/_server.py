"""The review server: a FastAPI app over one audit run of a workspace.

Security model (``docs/review.md``): the server binds 127.0.0.1 unless told otherwise; every
request's Host header must name a local address (DNS rebinding); every state-changing request
carries the per-server token (``X-Assay-Token``), which only the page the server renders
contains; images are served by row id, never by path, and only from inside the dataset's root;
the page renders every string from the data as text (no ``innerHTML``) under a strict
Content-Security-Policy. Every decision is appended to the workspace in its own transaction
before the response is sent, so an acknowledged decision survives a crash.
"""

from __future__ import annotations

import html
import secrets
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from assay.app._queues import QUEUES, STAGES, ReviewSession, image_path, load_session, row_view
from assay.exceptions import AssayError, MissingDependencyError

__all__ = ["ACTIONS", "create_app"]

#: The app's actions and the workspace action each records.
ACTIONS: dict[str, str] = {
    "keep": "keep", "relabel": "relabel", "drop": "remove", "duplicate": "duplicate",
    "skip": "defer",
}
_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
_STATIC = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


def _fastapi() -> Any:
    try:
        import fastapi
    except ImportError as exc:
        raise MissingDependencyError("fastapi", "app", "The review app (assay review)") from exc
    return fastapi


def _static_text(name: str) -> str:
    return resources.files("assay.app").joinpath("static", name).read_text(encoding="utf-8")


def create_app(
    workspace: str | Path,
    *,
    run: str | None = None,
    reviewer: str | None = None,
    token: str | None = None,
    double: bool = False,
    quota: int | None = None,
    allowed_hosts: set[str] | None = None,
) -> Any:
    """Build the review app for an audit run of ``workspace``.

    Parameters
    ----------
    workspace : path-like
        The workspace folder.
    run : str, optional
        Audit run id, prefix or ``'latest'``; default the latest audit.
    reviewer : str, optional
        Default reviewer name shown in the page (each decision still names its reviewer).
    token : str, optional
        The token state-changing requests must carry; default a fresh random one
        (``app.state.token``).
    double : bool, default False
        Two-reviewer mode: each item goes to two different reviewers; their agreement is
        measured (``/api/agreement``).
    quota : int, optional
        Review stage: only the ``quota`` worst items of each queue.
    allowed_hosts : set of str, optional
        Host names accepted in the Host header besides the local ones (when bound elsewhere).

    Returns
    -------
    fastapi.FastAPI
    """
    fastapi = _fastapi()
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

    from assay.workspace import Workspace

    ws = Workspace.open(workspace, create=False)
    session = load_session(ws, run)
    app = fastapi.FastAPI(title="assay review", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.token = token or secrets.token_urlsafe(24)
    app.state.session = session
    hosts = _LOCAL_HOSTS | set(allowed_hosts or ())
    positions = pd.Series(np.arange(len(session.issues)), index=session.issues["row_id"])

    def error(status: int, message: str) -> Any:
        return JSONResponse({"error": message}, status_code=status)

    @app.middleware("http")
    async def guard(request: Any, call_next: Any) -> Any:
        raw = request.headers.get("host") or ""
        host = raw.split("]")[0] + "]" if raw.startswith("[") else raw.rsplit(":", 1)[0]
        if host not in hosts:
            return error(400, f"Host {host!r} refused: the review app answers only on "
                              f"{', '.join(sorted(hosts))}.")
        if request.method not in ("GET", "HEAD"):
            sent = request.headers.get("x-assay-token") or ""
            if not secrets.compare_digest(sent, app.state.token):
                return error(403, "Missing or wrong X-Assay-Token: state-changing requests need "
                                  "the token printed by 'assay review' (the page sends it).")
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = _CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/")
    def index(token: str = "") -> Any:
        if not secrets.compare_digest(token, app.state.token):
            return error(403, "Open the URL that 'assay review' printed (it carries the token).")
        page = _static_text("index.html").replace(
            "{{TOKEN}}", html.escape(app.state.token, quote=True))
        return HTMLResponse(page)

    @app.get("/static/{name}")
    def static(name: str) -> Any:
        if name not in _STATIC:
            return error(404, "No such file.")
        return Response(_static_text(name), media_type=_STATIC[name])

    def decisions() -> pd.DataFrame:
        return ws.decisions(run_id=session.run_id)

    def stage_rows(name: str, stage: str, dec: pd.DataFrame) -> pd.DataFrame:
        queue = session.queues[name]
        if stage == "review":
            return queue if quota is None else queue.head(quota)
        # expert: rows of this queue whose review-stage decisions disagree or were deferred
        from assay.export import resolve_decisions

        review = dec[dec["stage"].isna() | (dec["stage"] == "review")]
        if review.empty:
            return queue.iloc[:0]
        resolved = resolve_decisions(review)
        hard = set(resolved.loc[resolved["action"].isin(["conflict", "defer"]), "row_id"])
        return queue[queue["row_id"].isin(hard)]

    @app.get("/api/session")
    def session_info() -> Any:
        dec = decisions()
        queues = []
        for name in session.queues:
            rows = stage_rows(name, "review", dec)
            done = set(dec.loc[dec["queue"] == name, "row_id"]) if not dec.empty else set()
            queues.append({"name": name, "total": int(len(rows)),
                           "decided": int(rows["row_id"].isin(done).sum()),
                           "expert": int(len(stage_rows(name, "expert", dec)))})
        return {"run_id": session.run_id, "classes": session.classes, "banner": session.banner,
                "queues": queues, "reviewer": reviewer, "double": double, "stages": list(STAGES),
                "actions": list(ACTIONS)}

    @app.get("/api/queues/{name}")
    def queue_items(name: str, stage: str = "review", reviewer_name: str | None = None,
                    offset: int = 0, limit: int = 50) -> Any:
        if name not in session.queues:
            return error(404, f"No queue {name!r}; queues: {', '.join(session.queues)}.")
        if stage not in STAGES:
            return error(400, f"Unknown stage {stage!r}; stages: {', '.join(STAGES)}.")
        limit = max(1, min(int(limit), 500))
        dec = decisions()
        rows = stage_rows(name, stage, dec)
        if double and reviewer_name and stage == "review" and not dec.empty:
            # two-reviewer mode: hide rows two other reviewers have already decided
            by_row = dec[dec["queue"] == name].groupby("row_id")["reviewer"].agg(set)
            full = {r for r, who in by_row.items() if len(who - {reviewer_name}) >= 2}
            rows = rows[~rows["row_id"].isin(full)]
        page = rows.iloc[max(0, int(offset)): max(0, int(offset)) + limit]
        items = []
        for rec in page.itertuples(index=False):
            item = row_view(session, int(rec.row))
            item["queue_score"] = None if not np.isfinite(rec.score) else float(rec.score)
            mine = dec[(dec["row_id"] == rec.row_id)] if not dec.empty else dec
            if double and reviewer_name and not mine.empty:
                mine = mine[mine["reviewer"] == reviewer_name]
            if not mine.empty:
                last = mine.iloc[-1]
                item["decision"] = {
                    "action": _app_action(last["action"]), "new_label": _opt(last["new_label"]),
                    "reviewer": last["reviewer"], "note": _opt(last["note"]),
                    "stage": _opt(last["stage"]), "decision_id": int(last["decision_id"])}
            if name == "duplicates" and "group" in page:
                members = session.queues[name]
                members = members[members["group"] == rec.group]["row_id"].tolist()
                item["evidence"] = {"duplicate_set": int(rec.group), "members": members}
            items.append(item)
        return {"queue": name, "stage": stage, "total": int(len(rows)), "offset": int(offset),
                "items": items}

    @app.get("/api/rows/{row_id}/image")
    def image(row_id: str) -> Any:
        pos = positions.get(row_id)
        path = None if pos is None else image_path(session, int(pos))
        if path is None:
            return error(404, "No image for this row.")
        return FileResponse(path)

    from fastapi.exceptions import RequestValidationError

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Any, exc: Any) -> Any:
        first = (exc.errors() or [{}])[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error(422, f"Invalid request ({where}: {first.get('msg', 'invalid')}). Send a "
                          "JSON object with row_id, queue, action and reviewer.")

    @app.post("/api/decisions")
    def decide(body: dict[str, Any] = fastapi.Body(...)) -> Any:  # noqa: B008
        problem = _check_decision(body, session)
        if problem:
            return error(422, problem)
        action = ACTIONS[body["action"]]
        try:
            decision_id = ws.append_decision(
                body["row_id"], action, reviewer=body["reviewer"].strip(),
                run_id=session.run_id,
                new_label=body.get("new_label") if action == "relabel" else None,
                note=body.get("note") or None, queue=body["queue"],
                stage=body.get("stage") or "review",
                duplicate_of=body.get("duplicate_of") if action == "duplicate" else None,
                client_key=body.get("client_key") or None,
            )
        except AssayError as exc:
            return error(422, str(exc))
        return {"decision_id": decision_id}

    @app.get("/api/decisions")
    def list_decisions() -> Any:
        dec = decisions()
        dec["created"] = dec["created"].astype(str)
        return {"decisions": dec.replace({np.nan: None}).to_dict("records")}

    @app.get("/api/agreement")
    def agreement() -> Any:
        return review_agreement(decisions())

    @app.get("/api/spot_check")
    def spot_check() -> Any:
        return spot_check_summary(session, decisions())

    return app


def _opt(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else value


def _app_action(action: str) -> str:
    return {v: k for k, v in ACTIONS.items()}.get(action, action)


def _check_decision(body: dict[str, Any], session: ReviewSession) -> str | None:
    """A one-line message for an invalid decision, or None."""
    for key in ("row_id", "queue", "action", "reviewer"):
        if not isinstance(body.get(key), str) or not body[key].strip():
            return f"Field {key!r} is required (a non-empty string)."
    if body["row_id"] not in session.row_ids():
        return f"Row {body['row_id']!r} is not a row of audit run {session.run_id}."
    if body["queue"] not in QUEUES:
        return f"Unknown queue {body['queue']!r}; queues: {', '.join(QUEUES)}."
    if body["action"] not in ACTIONS:
        return f"Unknown action {body['action']!r}; actions: {', '.join(ACTIONS)}."
    if body.get("stage") not in (None, *STAGES):
        return f"Unknown stage {body['stage']!r}; stages: {', '.join(STAGES)}."
    if body["action"] == "relabel":
        label = body.get("new_label")
        if not isinstance(label, str) or label not in session.classes:
            return (f"Relabel needs new_label, one of the dataset's classes "
                    f"({', '.join(session.classes[:20])}); got {label!r}.")
    elif body.get("new_label") not in (None, ""):
        return "new_label is only allowed with action 'relabel'."
    if body.get("note") is not None and not isinstance(body["note"], str):
        return "note must be a string."
    if body.get("client_key") is not None and not isinstance(body["client_key"], str):
        return "client_key must be a string."
    if body.get("duplicate_of") is not None:
        if body["action"] != "duplicate" or body["duplicate_of"] not in session.row_ids():
            return "duplicate_of must be a row id of this run, with action 'duplicate'."
    return None


def spot_check_summary(session: ReviewSession, dec: pd.DataFrame) -> dict[str, Any]:
    """Precision of the flagged label issues, measured on the ``label_spot_check`` queue.

    Each sampled row counts once, by its decision in force among that queue's decisions
    (:func:`assay.export.resolve_decisions`: the highest stage wins; reviewers who disagree make
    a conflict): relabel or drop confirms the label error, keep refutes it; skipped (deferred),
    duplicate-marked and conflicting rows are left out and counted in ``n_deferred``. Decisions
    made in other queues are not used: those rows were reached worst first, not at random.
    """
    from assay.export import resolve_decisions
    from assay.labels import reviewed_precision

    queue = session.queues.get("label_spot_check")
    flagged = session.queues.get("label_issues")
    summary = session.label_summary
    out: dict[str, Any] = {"queue": "label_spot_check",
                           "sample_size": 0 if queue is None else int(len(queue)),
                           "n_flagged": 0 if flagged is None else int(len(flagged)),
                           "n_deferred": 0,
                           "estimated_precision": summary.get("estimated_precision"),
                           "estimates_reliable": summary.get("estimates_reliable")}
    actions = pd.Series([], dtype=object)
    if queue is not None and not dec.empty:
        mine = dec[(dec["queue"] == "label_spot_check") & dec["row_id"].isin(queue["row_id"])]
        if not mine.empty:
            actions = resolve_decisions(mine)["action"]
    counted = actions.isin(["relabel", "remove", "keep"])
    out["n_deferred"] = int((~counted).sum())
    measured = reviewed_precision(actions[counted].isin(["relabel", "remove"]).to_numpy(bool),
                                  n_flagged=out["n_flagged"] or None)
    out.update(measured.to_dict())
    return out


def review_agreement(dec: pd.DataFrame) -> dict[str, Any]:
    """Agreement of the reviewers on the rows two or more of them decided (review stage).

    A rating is the action, with the new label for a relabel. Reported: the number of rows,
    percent agreement and Krippendorff's alpha (nominal) over all reviewers, and Cohen's kappa
    for each pair of reviewers with at least two shared rows.
    """
    from assay.agreement import cohen_kappa, krippendorff_alpha, percent_agreement

    out: dict[str, Any] = {"n_items": 0, "reviewers": [], "percent_agreement": None,
                           "krippendorff_alpha": None, "pairs": []}
    if dec.empty:
        return out
    dec = dec[dec["stage"].isna() | (dec["stage"] == "review")]
    latest = dec.sort_values("decision_id").groupby(["row_id", "reviewer"]).tail(1)
    rating = latest["action"].where(latest["action"] != "relabel",
                                    "relabel:" + latest["new_label"].astype(str))
    wide = pd.DataFrame({"row_id": latest["row_id"], "reviewer": latest["reviewer"],
                         "rating": rating}).pivot(index="reviewer", columns="row_id",
                                                   values="rating")
    shared = wide.columns[wide.notna().sum(axis=0) >= 2]
    wide = wide[shared]
    out["n_items"] = int(len(shared))
    out["reviewers"] = [str(r) for r in wide.index]
    if len(shared) == 0:
        return out
    data = wide.to_numpy(dtype=object)
    data = np.where(pd.isna(data), None, data)
    out["percent_agreement"] = float(percent_agreement(data))
    if len({v for v in data.ravel() if v is not None}) > 1:
        out["krippendorff_alpha"] = float(krippendorff_alpha(data))
    names = list(wide.index)
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            a, b = wide.iloc[i], wide.iloc[j]
            both = a.notna() & b.notna()
            if both.sum() < 2:
                continue
            values = set(a[both]) | set(b[both])
            kappa = float(cohen_kappa(a[both].to_numpy(object), b[both].to_numpy(object))) if (
                len(values) > 1) else None
            out["pairs"].append({"a": str(names[i]), "b": str(names[j]), "n": int(both.sum()),
                                 "agreement": float((a[both] == b[both]).mean()),
                                 "cohen_kappa": kappa})
    return out
