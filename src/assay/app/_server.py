"""The review server: a FastAPI app over one audit run of a workspace.

Security model (``docs/review.md``): the server binds 127.0.0.1 unless told otherwise; every
request's Host header must name a local address (DNS rebinding); every request for data or a
change (every path but the page shell ``/`` and ``/static/...``, which hold no data) carries the
per-server token, as ``X-Assay-Token`` or ``Authorization: Bearer``, compared in constant time
on bytes; decisions in the ``expert`` stage need the separate expert token (``--expert``);
request bodies, notes, reviewer names and labels have size limits; images are served by row id,
never by path, and only from inside the dataset's root; a table's pixel rows are drawn as PNG
thumbnails by row position (``GET /api/thumbnails/{pos}.png``, an item's ``row``; anything but
a position in range is 404); the page renders every string from the
data as text (no ``innerHTML``) under a strict Content-Security-Policy, and moves the token out
of the address bar after loading. Every workspace call runs on one thread that keeps the
database open while requests come (:class:`assay.app._db.WorkspaceThread`); each decision is
committed in its own transaction before the response is sent, so an acknowledged decision
survives a crash. ``POST /api/decisions`` also takes a batch (``{"decisions": [...]}``, one
reviewer and stage): every decision of it is validated as a single one, and all are written in
one transaction (the keep-one action on a duplicate set: ``keep`` for one member, ``duplicate``
of it for the others), so a crash stores the whole batch or nothing. Undo (``POST /api/undo``)
appends an ``undo`` decision that cancels the reviewer's latest decision still in force, and
one per decision of its batch when that decision came in a batch; nothing stored is ever updated
or deleted.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import re
import secrets
import threading
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from assay._validation import finite_or_none
from assay.app._db import BATCH_PREFIX, WorkspaceThread, append_batch, batch_of
from assay.app._queues import (
    STAGES,
    ReviewSession,
    attach_annotations,
    duplicate_set_view,
    given_tags,
    image_path,
    load_session,
    parse_tags,
    row_view,
    stored_tags,
    thumbnail_png,
)
from assay.checks import queue_names
from assay.data import format_boxes
from assay.exceptions import AssayError, InvalidParameterError, MissingDependencyError, StoreError
from assay.workspace import UNDO_ACTION, undo_targets, without_undone

try:  # the 'app' extra; without it create_app raises MissingDependencyError
    from starlette.requests import Request  # module level: FastAPI resolves the annotations here
except ImportError:  # pragma: no cover
    Request = Any  # type: ignore[misc,assignment]

__all__ = ["ACTIONS", "LIMITS", "box_list_problem", "create_app", "reviewer_problem"]

#: The app's actions and the workspace action each records.
ACTIONS: dict[str, str] = {
    "keep": "keep", "relabel": "relabel", "drop": "remove", "duplicate": "duplicate",
    "skip": "defer",
}
#: Size limits of a request: body bytes, and characters of a note, a reviewer name, a label, an
#: idempotency key and a row id; decisions in one batch.
LIMITS: dict[str, int] = {"body_bytes": 64 * 1024, "note": 2000, "reviewer": 100, "label": 500,
                          "client_key": 200, "row_id": 1000, "batch": 1000}
_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
_SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", _CSP.encode()), (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"), (b"cache-control", b"no-store")]
_STATIC = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
_TOKEN_HELP = ("Every /api request needs the token printed by 'assay review', sent as the "
               "X-Assay-Token header or as 'Authorization: Bearer TOKEN'; open the URL it printed "
               "and the page sends it.")

_Scope = MutableMapping[str, Any]
_Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
_Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def is_public_path(path: str) -> bool:
    """Whether ``path`` is served without the token: the page shell only, which holds no data."""
    return path == "/" or path.startswith("/static/")


def _show(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters (errors never echo a huge input back)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(str(value))} characters)"


def reviewer_problem(name: Any, what: str = "reviewer") -> str | None:
    """A one-line message when ``name`` is not a usable reviewer name, or None.

    A reviewer name is a non-empty printable string of at most ``LIMITS["reviewer"]``
    characters (surrounding spaces ignored).

    Parameters
    ----------
    name : object
        The proposed reviewer name.
    what : str, default "reviewer"
        The field's name in the message.

    Returns
    -------
    str or None
        Why ``name`` is refused, or None when it is usable.

    Examples
    --------
    >>> reviewer_problem("ana") is None
    True
    >>> reviewer_problem("")
    "Field 'reviewer' is required (a non-empty string)."
    """
    if not isinstance(name, str) or not name.strip():
        return f"Field {what!r} is required (a non-empty string)."
    name = name.strip()
    if len(name) > LIMITS["reviewer"]:
        return (f"Field {what!r} is {len(name)} characters long; a reviewer name has at most "
                f"{LIMITS['reviewer']}. Use a shorter name.")
    if not name.isprintable():
        return (f"Field {what!r} has a control character (a newline, tab or similar): "
                f"{_show(name)}. Use printable characters only.")
    return None


async def _send_json(send: _Send, status: int, payload: dict[str, Any],
                     headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


class _Guard:
    """ASGI middleware in front of every route: Host, token, body size, security headers.

    Parameters
    ----------
    app : ASGI app
        The wrapped app.
    hosts : set of str
        Host names accepted in the Host header.
    tokens : list of (str, bytes)
        ``(role, token)`` pairs, the most powerful role first; a request's role is the first
        whose token it carries (stored in ``scope["assay.role"]``).
    max_body : int
        Largest request body, in bytes; larger ones get 413.
    """

    def __init__(self, app: Any, *, hosts: set[str], tokens: list[tuple[str, bytes]],
                 max_body: int) -> None:
        self.app = app
        self.hosts = frozenset(hosts)
        self.tokens = tokens
        self.max_body = max_body

    def role(self, headers: dict[bytes, bytes]) -> str | None:
        """The role whose token the request carries, or None (compared on bytes)."""
        sent = headers.get(b"x-assay-token")
        if sent is None:
            scheme, _, value = headers.get(b"authorization", b"").strip().partition(b" ")
            sent = value.strip() if scheme.lower() == b"bearer" else b""
        found = None
        for role, token in self.tokens:  # every token compared: the time does not say which
            if hmac.compare_digest(sent, token) and found is None:
                found = role
        return found if sent else None

    async def __call__(self, scope: _Scope, receive: _Receive, send: _Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: dict[bytes, bytes] = {}
        for key, value in scope.get("headers") or ():
            headers.setdefault(key.lower(), value)

        async def secured(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *_SECURITY_HEADERS]
            await send(message)

        raw = headers.get(b"host", b"").decode("latin-1")
        host = raw.split("]")[0] + "]" if raw.startswith("[") else raw.rsplit(":", 1)[0]
        if host not in self.hosts:
            await _send_json(secured, 400, {"error": (
                f"Host {_show(host)} refused: the review app answers only on "
                f"{', '.join(sorted(self.hosts))}.")})
            return
        if not is_public_path(scope.get("path", "")):
            role = self.role(headers)
            if role is None:
                sent = b"x-assay-token" in headers or b"authorization" in headers
                await _send_json(secured, 401, {"error": (
                    ("Wrong token (a restarted server has a new one). " if sent else
                     "Missing token. ") + _TOKEN_HELP)},
                    [(b"www-authenticate", b'Bearer realm="assay review"')])
                return
            scope["assay.role"] = role
        length = headers.get(b"content-length")
        if length is not None and not length.strip().isdigit():
            await _send_json(secured, 400, {"error": "Content-Length must be a number of bytes."})
            return
        if length is not None and int(length) > self.max_body:
            await _send_json(secured, 413, self._too_large(int(length)))
            return
        if scope.get("method") in ("POST", "PUT", "PATCH", "DELETE"):
            body = bytearray()
            more = True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                body += message.get("body", b"")
                if len(body) > self.max_body:
                    await _send_json(secured, 413, self._too_large(None))
                    return
                more = bool(message.get("more_body", False))
            replayed = False

            async def replay() -> MutableMapping[str, Any]:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": bytes(body), "more_body": False}
                return await receive()

            await self.app(scope, replay, secured)
            return
        await self.app(scope, receive, secured)

    def _too_large(self, size: int | None) -> dict[str, str]:
        got = f"{size} bytes" if size is not None else "more than that"
        return {"error": (f"Request body too large: at most {self.max_body} bytes, got {got}. "
                          "Send one decision (or one batch, sharing reviewer, queue and note) per "
                          f"request; a note has at most {LIMITS['note']} characters.")}


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
    expert: bool = False,
    expert_token: str | None = None,
    annotations: Any = None,
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
        The reviewers' token, which every request for data or a change must carry (as
        ``X-Assay-Token`` or ``Authorization: Bearer``); default a fresh random one
        (``app.state.token``).
    double : bool, default False
        Two-reviewer mode: each item goes to two different reviewers; their agreement is
        measured (``/api/agreement``).
    quota : int, optional
        Review stage: only the ``quota`` worst items of each queue.
    allowed_hosts : set of str, optional
        Host names accepted in the Host header besides the local ones (when bound elsewhere).
    expert : bool, default False
        Enable the expert stage: a second token (``app.state.expert_token``) lets its holders
        record decisions with ``stage: "expert"`` (and do all a reviewer can). Without it, or
        with the reviewers' token, an expert decision gets 403.
    expert_token : str, optional
        The expert token (implies ``expert=True``); default a fresh random one.
    annotations : pandas.DataFrame, optional
        The annotations the audit was given (long format: ``item``, ``annotator``, ``label``;
        ``item`` matches the id column): each item then shows every annotator's label and the
        Dawid-Skene posterior of its top classes.

    Returns
    -------
    fastapi.FastAPI

    Raises
    ------
    InvalidParameterError
        When a token is not a printable ASCII string of 1 to 512 characters without spaces, the
        two tokens are equal, or ``reviewer`` is not a usable name.
    """
    fastapi = _fastapi()
    from contextlib import asynccontextmanager

    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

    from assay.workspace import Workspace

    token = _check_token("token", token) or secrets.token_urlsafe(24)
    expert_token = _check_token("expert_token", expert_token)
    if expert and expert_token is None:
        expert_token = secrets.token_urlsafe(24)
    if expert_token is not None and hmac.compare_digest(expert_token.encode(), token.encode()):
        raise InvalidParameterError("expert_token", "different from token", "the same token",
                                    owner="create_app",
                                    hint="Reviewers must not hold the expert token.")
    if reviewer is not None and reviewer_problem(reviewer):
        raise InvalidParameterError(
            "reviewer", f"a name of 1 to {LIMITS['reviewer']} printable characters", reviewer,
            owner="create_app")
    ws = Workspace.open(workspace, create=False)
    session = load_session(ws, run)
    if annotations is not None:
        attach_annotations(session, annotations)
    store = WorkspaceThread(ws, session.run_id)

    @asynccontextmanager
    async def lifespan(_: Any) -> Any:
        try:
            yield
        finally:
            await asyncio.to_thread(store.close)

    app = fastapi.FastAPI(title="assay review", docs_url=None, redoc_url=None, openapi_url=None,
                          lifespan=lifespan)
    app.state.token = token
    app.state.expert_token = expert_token
    app.state.session = session
    app.state.store = store
    tokens = [("reviewer", token.encode())]
    if expert_token is not None:
        tokens.insert(0, ("expert", expert_token.encode()))
    app.add_middleware(_Guard, hosts=_LOCAL_HOSTS | set(allowed_hosts or ()), tokens=tokens,
                       max_body=LIMITS["body_bytes"])
    positions = pd.Series(np.arange(len(session.issues)), index=session.issues["row_id"])
    memo: dict[str, tuple[int, Any]] = {}
    # pandas is not thread-safe, even to read (lazily built index engines): the handlers' work
    # on the shared frames runs under this lock; waiting requests then share one computation
    frames = threading.RLock()

    def error(status: int, message: str) -> Any:
        return JSONResponse({"error": message}, status_code=status)

    def derived(name: str, compute: Callable[[pd.DataFrame], Any], *, live: bool = False) -> Any:
        # a value computed from the decisions, recomputed only when they changed (versions
        # only grow, so a value computed from newer decisions than ours is served as well);
        # live=True: without the undone decisions and their undos
        version, dec = store.live_decisions() if live else store.decisions()
        with frames:
            hit = memo.get(name)
            if hit is not None and hit[0] >= version:
                return hit[1]
            value = compute(dec)
            memo[name] = (version, value)
            return value

    def stage_rows(name: str, stage: str, hard: set[str] | None = None) -> pd.DataFrame:
        queue = session.queues[name]
        if stage == "review":
            return queue if quota is None else queue.head(quota)
        rows = queue[queue["row_id"].isin(hard or set())]
        cap = session.expert_caps.get(name)  # the curation funnel's expert stage size
        return rows if cap is None else rows.head(cap)

    review_in_force, spot_in_force = ActionsInForce(), ActionsInForce()

    def hard_rows(dec: pd.DataFrame) -> set[str]:
        return _hard_rows(dec, review_in_force)

    def progress(dec: pd.DataFrame) -> list[dict[str, Any]]:
        hard = hard_rows(dec)
        live = without_undone(dec)
        out = []
        for name in session.queues:
            rows = stage_rows(name, "review")
            done = set(live.loc[live["queue"] == name, "row_id"]) if not live.empty else set()
            out.append({"name": name, "total": int(len(rows)),
                        "decided": int(rows["row_id"].isin(done).sum()),
                        "expert": int(len(stage_rows(name, "expert", hard)))})
        return out

    @app.exception_handler(StoreError)
    async def store_error(request: Any, exc: StoreError) -> Any:
        return error(503, f"The workspace cannot be used right now: {exc}")

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Any, exc: Any) -> Any:
        first = (exc.errors() or [{}])[0]
        loc = [str(p) for p in first.get("loc", ())]
        where = ".".join(loc)
        hint = (" Send a JSON object with row_id, queue, action and reviewer."
                if loc[:1] == ["body"] else "")
        return error(422, f"Invalid request ({where}: {first.get('msg', 'invalid')}).{hint}")

    @app.get("/")
    def index() -> Any:
        # the page shell: no data and no token (the page reads the token from its own URL)
        return HTMLResponse(_static_text("index.html"))

    @app.get("/static/{name}")
    def static(name: str) -> Any:
        if name not in _STATIC:
            return error(404, "No such file.")
        return Response(_static_text(name), media_type=_STATIC[name])

    @app.get("/api/session")
    def session_info(request: Request) -> Any:
        return {"run_id": session.run_id, "classes": session.classes, "banner": session.banner,
                "task": session.task,
                "carried": len(session.carried),
                "queues": derived("progress", progress), "reviewer": reviewer, "double": double,
                "stages": list(STAGES), "actions": list(ACTIONS),
                "role": request.scope.get("assay.role"), "expert_enabled": expert_token is not None,
                "curation": session.curation,
                "limits": {k: LIMITS[k] for k in ("note", "reviewer", "label")}}

    @app.get("/api/queues/{name}")
    def queue_items(name: str, stage: str = "review", reviewer_name: str | None = None,
                    offset: int = 0, limit: int = 50) -> Any:
        if name not in session.queues:
            return error(404, f"No queue {_show(name)}; queues: {', '.join(session.queues)}.")
        if stage not in STAGES:
            return error(400, f"Unknown stage {_show(stage)}; stages: {', '.join(STAGES)}.")
        who = (reviewer_name or "").strip() or None
        if who is not None and (problem := reviewer_problem(who, "reviewer_name")):
            return error(422, problem)
        limit = max(1, min(int(limit), 500))
        offset = max(0, int(offset))
        dec = store.live_decisions()[1]  # an undone decision is shown as never made
        with frames:
            hard = derived("hard", hard_rows) if stage == "expert" else None
            rows = stage_rows(name, stage, hard)
            if double and who and stage == "review" and not dec.empty:
                # two-reviewer mode: hide rows two other reviewers have already decided
                by_row = dec[dec["queue"] == name].groupby("row_id")["reviewer"].agg(set)
                full = {r for r, names in by_row.items() if len(names - {who}) >= 2}
                rows = rows[~rows["row_id"].isin(full)]
            page = rows.iloc[offset: offset + limit]
            # a duplicate set is shown whole: every member of the sets on this page
            set_rows: dict[int, list[int]] = {}
            wanted = set(page["row_id"])
            if name == "duplicates" and "group" in page and len(page):
                everyone = session.queues[name]
                everyone = everyone[everyone["group"].isin(set(page["group"]))]
                set_rows = {int(g): [int(r) for r in part["row"]]
                            for g, part in everyone.groupby("group", sort=False)}
                wanted.update(everyone["row_id"])
            last: dict[str, dict[str, Any]] = {}
            if not dec.empty and wanted:
                mine = dec[dec["row_id"].isin(wanted)]
                if double and who:
                    mine = mine[mine["reviewer"] == who]
                last = {rec["row_id"]: rec for rec in mine.to_dict("records")}  # in decision order
            sets: dict[str, dict[str, Any]] = {}
            for group, members in set_rows.items():
                view = duplicate_set_view(session, members)
                for card in view["cards"]:
                    card["decision"] = _shown_decision(last.get(card["row_id"]),
                                                       session.carried.get(card["row_id"]))
                view["decided"] = all(c["decision"] is not None for c in view["cards"])
                view["kept"] = [c["row_id"] for c in view["cards"]
                                if c["decision"] is not None and c["decision"]["action"] == "keep"]
                sets[str(group)] = view
            items = []
            for rec in page.itertuples(index=False):
                item = row_view(session, int(rec.row))
                item["queue_score"] = None if not np.isfinite(rec.score) else float(rec.score)
                shown = _shown_decision(last.get(rec.row_id), session.carried.get(rec.row_id))
                if shown is not None:
                    item["decision"] = shown
                if set_rows:
                    item["evidence"] = {"duplicate_set": int(rec.group),
                                        "members": sets[str(int(rec.group))]["members"]}
                votes = session.annotator_votes.get(rec.row_id)
                if votes is not None:
                    item["annotators"] = votes
                items.append(item)
            return {"queue": name, "stage": stage, "total": int(len(rows)), "offset": offset,
                    "items": items, "sets": sets}

    @app.get("/api/thumbnails/{pos}.png")
    def thumbnail(pos: str) -> Any:
        # a pixel row drawn as a grey PNG (the page scales it up, pixelated); by position: the
        # item's "row", a neighbour's "row", a duplicate card's "row"
        n = len(session.issues)
        if not re.fullmatch(r"[0-9]{1,18}", pos) or int(pos) >= n:
            return error(404, f"No row at position {_show(pos)}: positions are whole numbers "
                              f"from 0 to {n - 1} (an item's 'row' field).")
        with frames:
            png = thumbnail_png(session, int(pos))
        if png is None:
            return error(404, (
                "No thumbnail: the audited data is not loaded (see the banner)."
                if session.dataset is None else
                f"No thumbnail: the rows of audit run {session.run_id} are not images stored as "
                "pixel columns (none were found; 'assay audit --image-shape HxW' names them)."))
        return Response(png, media_type="image/png")

    @app.get("/api/rows/{row_id}/image")
    def image(row_id: str) -> Any:
        with frames:
            pos = positions.get(row_id)
            path = None if pos is None else image_path(session, int(pos))
        if path is None:
            return error(404, "No image for this row.")
        return FileResponse(path)

    def expert_refused(request: Request, stage: str) -> Any:
        if stage != "expert" or request.scope.get("assay.role") == "expert":
            return None
        return error(403, (
            "Expert decisions need the expert token; this request carries the reviewers' "
            "token. Open the expert URL that 'assay review --expert' printed."
            if expert_token is not None else
            "The expert stage is not enabled on this server. Restart it with "
            "'assay review --expert' and open the expert URL it prints."))

    async def written(job: Any) -> tuple[Any, Any]:
        # (the workspace call's result, None), or (None, the error answer)
        try:
            return await asyncio.wrap_future(job), None  # committed before the answer
        except StoreError:
            raise  # the workspace cannot be opened: 503 (handler above), not the request's fault
        except AssayError as exc:
            return None, error(422, str(exc))

    @app.post("/api/decisions")
    async def decide(request: Request,
                     body: dict[str, Any] = fastapi.Body(...)) -> Any:  # noqa: B008
        if "decisions" in body:
            return await decide_batch(request, body)
        problem = _check_decision(body, session)
        if problem:
            return error(422, problem)
        stage = body.get("stage") or "review"
        if (refused := expert_refused(request, stage)) is not None:
            return refused
        record = _decision_record(body, session)
        row_id, action = record.pop("row_id"), record.pop("action")
        record["client_key"] = body.get("client_key") or None
        decision_id, failed = await written(store.submit(
            lambda w: w.append_decision(row_id, action, **record), write=True))
        return failed if failed is not None else {"decision_id": decision_id}

    async def decide_batch(request: Request, body: dict[str, Any]) -> Any:
        # several decisions of one reviewer and stage, all stored in one transaction or none
        problem, records = _check_batch(body, session)
        if problem:
            return error(422, problem)
        stage = body.get("stage") or "review"
        if (refused := expert_refused(request, stage)) is not None:
            return refused
        batch = body.get("client_key") or secrets.token_urlsafe(12)
        ids, failed = await written(store.submit(
            lambda w: append_batch(w, records, batch=batch), write=True))
        return failed if failed is not None else {"decision_ids": ids, "batch": batch}

    @app.post("/api/undo")
    async def undo(request: Request, body: dict[str, Any] = fastapi.Body(...)) -> Any:  # noqa: B008
        problem = reviewer_problem(body.get("reviewer"))
        key = body.get("client_key")
        if problem is None and key is not None and (
                not isinstance(key, str) or not key or len(key) > LIMITS["client_key"]):
            problem = (f"Field 'client_key' must be a non-empty string of at most "
                       f"{LIMITS['client_key']} characters.")
        if problem is None and isinstance(key, str) and key.startswith(BATCH_PREFIX):
            problem = (f"Field 'client_key' may not start with {BATCH_PREFIX!r}: the decisions "
                       "of a batch have those keys. Use another key.")
        stage = body.get("stage") or "review"
        if problem is None and stage not in STAGES:
            problem = f"Unknown stage {_show(stage)}; stages: {', '.join(STAGES)}."
        if problem:
            return error(422, problem)
        if stage == "expert" and request.scope.get("assay.role") != "expert":
            return error(403, "Undoing an expert decision needs the expert token (the expert URL "
                              "that 'assay review --expert' printed).")
        who = body["reviewer"].strip()
        done, failed = await written(store.submit(
            lambda w: _undo_last(w, session.run_id, who, stage, key), write=True))
        if failed is not None:
            return failed
        if done is None:
            return error(409, (
                f"Nothing to undo: reviewer {_show(who)} has no decision in force in the "
                f"{stage} stage of run {session.run_id} (each undo takes back one decision, or "
                "one batch, latest first; the earlier ones are already undone or were never "
                "made)."))
        return done

    @app.get("/api/decisions")
    def list_decisions() -> Any:
        dec = store.decisions()[1]
        with frames:
            targets = undo_targets(dec)
            dec = dec.copy()
            dec["created"] = dec["created"].astype(str)
            records = dec.replace({np.nan: None}).to_dict("records")
            undone_by = {t: u for u, t in targets.items() if t is not None}
            for rec in records:  # the history keeps both: a decision and the undo that took it back
                did = int(rec["decision_id"])
                rec["undoes"] = targets.get(did)
                rec["undone_by"] = undone_by.get(did)
                rec["batch"] = batch_of(rec.get("client_key"))
            return {"decisions": records}

    @app.get("/api/agreement")
    def agreement() -> Any:
        return derived("agreement", review_agreement, live=True)

    @app.get("/api/spot_check")
    def spot_check() -> Any:
        return derived("spot_check",
                       lambda dec: spot_check_summary(session, dec, in_force=spot_in_force))

    return app


def _shown_decision(shown: dict[str, Any] | None,
                    carried: dict[str, Any] | None) -> dict[str, Any] | None:
    """What an item (or a duplicate set's card) shows as decided: the latest decision on the
    row (``shown``, a stored decision), else a keep carried from an earlier version."""
    if shown is not None:
        return {"action": _app_action(shown["action"]), "new_label": _opt(shown["new_label"]),
                "duplicate_of": _opt(shown.get("duplicate_of")),
                "reviewer": shown["reviewer"], "note": _opt(shown["note"]),
                "stage": _opt(shown["stage"]), "decision_id": int(shown["decision_id"]),
                "batch": batch_of(_opt(shown.get("client_key")))}
    if carried is not None:  # kept on an earlier version
        return {"action": "keep", "new_label": None, "duplicate_of": None,
                "reviewer": ", ".join(carried["reviewers"]), "note": None, "stage": None,
                "decision_id": None, "batch": None, "carried_from": carried["from_run"]}
    return None


def _undo_last(ws: Any, run_id: str, reviewer: str, stage: str,
               client_key: str | None) -> dict[str, Any] | None:
    """Append an ``undo`` of ``reviewer``'s latest decision still in force in ``stage`` of the
    run, or, when that decision came in a batch, one ``undo`` per decision of the batch still in
    force (in one transaction). Runs on the workspace thread, so nothing comes between the read
    and the write; None when there is nothing to undo. A retry with the same ``client_key``
    answers the recorded undo again."""
    dec = ws.decisions(run_id=run_id)
    targets = undo_targets(dec)
    if client_key is not None and not dec.empty:
        hit = dec[dec["client_key"] == client_key]
        if hit.empty:  # the undo of a batch: its keys are the batch's
            hit = dec[_in_batch(dec["client_key"], client_key) & (dec["action"] == UNDO_ACTION)]
        if not hit.empty:
            ids = [int(i) for i in hit["decision_id"]]
            return _undo_answer(dec, ids, [targets.get(i) for i in ids])
    live = without_undone(dec)
    mine = live[(live["reviewer"] == reviewer)
                & (live["stage"].fillna("review") == stage)] if not live.empty else live
    if mine.empty:
        return None
    mine = mine.sort_values("decision_id")
    target = mine.iloc[-1]
    batch = batch_of(_opt(target["client_key"]))
    if batch is None:
        undo_id = ws.append_decision(
            str(target["row_id"]), UNDO_ACTION, reviewer=reviewer, run_id=run_id,
            queue=_opt(target["queue"]), stage=_opt(target["stage"]),
            note=f"undo of decision {int(target['decision_id'])}", client_key=client_key)
        return _undo_answer(ws.decisions(run_id=run_id), [undo_id], [int(target["decision_id"])])
    # every decision of the batch still in force: each undo pops its own row's stack, and the
    # batch's decisions are the tops of theirs (nothing of this reviewer's came after it)
    group = mine[_in_batch(mine["client_key"], batch)]
    undone = [int(i) for i in group["decision_id"]]
    undos = [{"row_id": str(r.row_id), "action": UNDO_ACTION, "reviewer": reviewer,
              "run_id": run_id, "queue": _opt(r.queue), "stage": _opt(r.stage),
              "note": f"undo of decision {int(r.decision_id)} (batch {batch})"}
             for r in group.itertuples(index=False)]
    ids = append_batch(ws, undos, batch=client_key or secrets.token_urlsafe(12))
    return _undo_answer(ws.decisions(run_id=run_id), ids, undone)


def _in_batch(keys: pd.Series, batch: str) -> pd.Series:
    """Which of these idempotency keys are those of batch ``batch``'s decisions."""
    text = keys.where(keys.notna(), "").astype(str)
    out = text.str.startswith(f"{BATCH_PREFIX}{batch}:").to_numpy(dtype=bool, copy=True)
    at = np.flatnonzero(out)  # "batch:a:b:0" starts like batch "a" too: check those
    out[at] = [batch_of(k) == batch for k in text.to_numpy()[at]]
    return pd.Series(out, index=keys.index)


def _undo_answer(dec: pd.DataFrame, undo_ids: Sequence[int],
                 undone: Sequence[int | None]) -> dict[str, Any]:
    """What an undo did: its id, the decision it took back, and what is in force now (that
    reviewer's decision on the row in that queue and stage, or None). The undo of a batch
    answers for the batch's first decision, and lists every decision taken back in
    ``undone_batch`` (None for a single decision)."""
    out: dict[str, Any] = {"decision_id": int(undo_ids[0]), "undone": None, "in_force": None,
                           "undone_batch": None}
    wanted = dec[dec["decision_id"].isin([u for u in undone if u is not None])]
    records = {int(r["decision_id"]): r for r in wanted.to_dict("records")}
    taken = [records[u] for u in undone if u is not None and u in records]
    if not taken:
        return out

    def summary(rec: dict[str, Any]) -> dict[str, Any]:
        return {"decision_id": int(rec["decision_id"]), "row_id": str(rec["row_id"]),
                "queue": _opt(rec["queue"]), "action": _app_action(str(rec["action"])),
                "new_label": _opt(rec["new_label"]), "stage": _opt(rec["stage"])}

    rec = taken[0]
    out["undone"] = summary(rec)
    if len(undo_ids) > 1:
        out["undone_batch"] = [summary(r) for r in taken]
    live = without_undone(dec)
    same = live[(live["row_id"] == rec["row_id"]) & (live["reviewer"] == rec["reviewer"])
                & (live["queue"].fillna("") == (_opt(rec["queue"]) or ""))
                & (live["stage"].fillna("review") == (_opt(rec["stage"]) or "review"))]
    if not same.empty:
        prev = same.sort_values("decision_id").iloc[-1]
        out["in_force"] = {"decision_id": int(prev["decision_id"]),
                           "action": _app_action(str(prev["action"])),
                           "new_label": _opt(prev["new_label"]), "reviewer": str(prev["reviewer"]),
                           "note": _opt(prev["note"]), "stage": _opt(prev["stage"])}
    return out


def _check_token(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    if (not isinstance(value, str) or not value or len(value) > 512 or not value.isascii()
            or not value.isprintable() or " " in value):
        raise InvalidParameterError(
            name, "a string of 1 to 512 printable ASCII characters without spaces", value,
            owner="create_app", hint="Leave it out to get a random one.")
    return value


class ActionsInForce:
    """The action in force per row (:func:`assay.export.resolve_decisions`), cached per row.

    Pass the decisions as stored, undos included (``resolve_decisions`` applies them): the
    table is append-only and a row's answer depends on its own decisions only, so a call
    resolves again only the rows whose decisions changed (their count or newest id) since the
    last call; the server's reads stay fast however many rows were decided. Use one instance per
    kind of subset passed in (the rows' decisions must always be filtered the same way).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[tuple[int, int], str | None]] = {}

    def __call__(self, dec: pd.DataFrame) -> pd.Series:
        """The action in force (or ``"conflict"``) of each row of ``dec``, indexed by row id."""
        from assay.export import resolve_decisions

        if dec.empty:
            return pd.Series([], dtype=object)
        stats = dec.groupby("row_id", sort=True)["decision_id"].agg(["max", "size"])
        keys = {str(r): (int(m), int(n))
                for r, m, n in zip(stats.index, stats["max"], stats["size"], strict=True)}
        with self._lock:
            stale = [r for r, key in keys.items() if self._cache.get(r, ((-1, -1), ""))[0] != key]
            if stale:
                for r in stale:  # a row whose decisions were all undone has none in force
                    self._cache[r] = (keys[r], None)
                fresh = resolve_decisions(dec[dec["row_id"].astype(str).isin(stale)])
                for r, action in zip(fresh["row_id"], fresh["action"], strict=True):
                    self._cache[str(r)] = (keys[str(r)], action)
            kept = [r for r in keys if self._cache[r][1] is not None]
            return pd.Series([self._cache[r][1] for r in kept], index=kept, dtype=object)


def _hard_rows(dec: pd.DataFrame, in_force: ActionsInForce) -> set[str]:
    """Rows whose review-stage decisions disagree or were deferred (the expert stage's rows)."""
    if dec.empty:
        return set()
    actions = in_force(dec[dec["stage"].isna() | (dec["stage"] == "review")])
    return set(actions.index[actions.isin(["conflict", "defer"])])


def _opt(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else value


def _app_action(action: str) -> str:
    return {v: k for k, v in ACTIONS.items()}.get(action, action)


def _decision_record(body: dict[str, Any], session: ReviewSession) -> dict[str, Any]:
    """A validated decision of the API as the workspace stores it (``client_key`` left out); a
    tokens task's new tags normalised to the label column's form (:func:`stored_tags`), a
    detection task's new boxes to a box cell (:func:`assay.data.format_boxes`)."""
    action = ACTIONS[body["action"]]
    new_label = body.get("new_label") if action == "relabel" else None
    if new_label is not None and session.task == "tokens":
        new_label = stored_tags(parse_tags(new_label) or [], session.tag_form)
    if new_label is not None and session.task == "detection":
        new_label = format_boxes(json.loads(new_label))
    return {"row_id": body["row_id"], "action": action,
            "reviewer": body["reviewer"].strip(), "run_id": session.run_id,
            "new_label": new_label,
            "note": body.get("note") or None, "queue": body["queue"],
            "stage": body.get("stage") or "review",
            "duplicate_of": body.get("duplicate_of") if action == "duplicate" else None}


#: Fields a batch gives once for all its decisions (a batch is one reviewer's, in one stage).
_BATCH_FIELDS = ("reviewer", "stage", "client_key")


def _check_batch(body: dict[str, Any],
                 session: ReviewSession) -> tuple[str | None, list[dict[str, Any]]]:
    """``(problem, records)``: a one-line message for an invalid batch, or None and its
    decisions as the workspace stores them.

    A batch is ``{"decisions": [...], "reviewer", "stage", "queue", "note", "client_key"}``:
    ``reviewer``, ``stage`` and ``client_key`` are given once; ``queue`` and ``note`` are the
    defaults of its decisions. Each decision is checked as a single one (:func:`_check_decision`);
    a row may appear once.
    """
    items = body["decisions"]
    if not isinstance(items, list) or not items:
        return (f"Field 'decisions' must be a non-empty list of decisions (objects with row_id "
                f"and action); got {_show(items)}."), []
    if len(items) > LIMITS["batch"]:
        return (f"A batch has at most {LIMITS['batch']} decisions; got {len(items)}. Send "
                "a smaller batch."), []
    key = body.get("client_key")
    if key is not None and (not isinstance(key, str) or not key.strip()
                            or len(key) > LIMITS["client_key"]):
        return (f"Field 'client_key' must be a non-empty string of at most "
                f"{LIMITS['client_key']} characters, or null; got {_show(key)}."), []
    shared = {k: body.get(k) for k in ("reviewer", "stage", "queue", "note")}
    records: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, item in enumerate(items, start=1):
        where = f"Decision {i} of {len(items)} in the batch"
        if not isinstance(item, dict):
            return (f"{where} must be an object with row_id and action; got "
                    f"{type(item).__name__}. Nothing was stored."), []
        fixed = [k for k in _BATCH_FIELDS if k in item]
        if fixed:
            return (f"{where} sets {', '.join(fixed)}: a batch has one reviewer, stage and "
                    "client_key, given once beside 'decisions'. Move them out of the "
                    "decisions."), []
        merged = {**shared, **item}
        problem = _check_decision(merged, session)
        if problem:
            return f"{where}: {problem} Nothing was stored.", []
        if merged["row_id"] in seen:
            return (f"{where}: row {_show(merged['row_id'])} is decided twice; a batch decides "
                    "each row once. Nothing was stored."), []
        seen.add(merged["row_id"])
        records.append(_decision_record(merged, session))
    return None, records


def _check_decision(body: dict[str, Any], session: ReviewSession) -> str | None:
    """A one-line message for an invalid decision (wrong type, too long, unknown), or None."""
    for key in ("row_id", "queue", "action"):
        if not isinstance(body.get(key), str) or not body[key].strip():
            return f"Field {key!r} is required (a non-empty string)."
    problem = reviewer_problem(body.get("reviewer"))
    if problem:
        return problem
    for key, limit in (("note", "note"), ("new_label", "label"), ("client_key", "client_key"),
                       ("row_id", "row_id"), ("duplicate_of", "row_id")):
        value = body.get(key)
        if value is not None and not isinstance(value, str):
            return f"Field {key!r} must be a string or null; got {type(value).__name__}."
        most = LIMITS[limit] if key != "new_label" else _label_limit(session)
        if value is not None and len(value) > most:
            return (f"Field {key!r} is {len(value)} characters long; the limit is {most}. "
                    "Shorten it.")
    if body["row_id"] not in session.row_ids():
        return f"Row {_show(body['row_id'])} is not a row of audit run {session.run_id}."
    known = (*queue_names(), *(q for q in session.queues if q not in queue_names()))
    if body["queue"] not in known:
        return f"Unknown queue {_show(body['queue'])}; queues: {', '.join(known)}."
    if body["action"] not in ACTIONS:
        return f"Unknown action {_show(body['action'])}; actions: {', '.join(ACTIONS)}."
    if body.get("stage") not in (None, *STAGES):
        return f"Unknown stage {_show(body['stage'])}; stages: {', '.join(STAGES)}."
    if str(body.get("client_key") or "").startswith(BATCH_PREFIX):
        return (f"Field 'client_key' may not start with {BATCH_PREFIX!r}: the decisions of a "
                "batch have those keys. Use another key.")
    if body["action"] == "relabel" and session.task == "regression":
        return _number_problem(body.get("new_label"))
    if body["action"] == "relabel" and session.task == "multilabel":
        return _label_set_problem(body.get("new_label"), session.classes)
    if body["action"] == "relabel" and session.task == "tokens":
        return _tag_sequence_problem(body.get("new_label"), session, body["row_id"])
    if body["action"] == "relabel" and session.task == "detection":
        return box_list_problem(body.get("new_label"), session.classes)
    if body["action"] == "relabel":
        label = body.get("new_label")
        if not isinstance(label, str) or label not in session.classes:
            return (f"Relabel needs new_label, one of the dataset's classes "
                    f"({', '.join(session.classes[:20])}); got {_show(label)}.")
    elif body.get("new_label") not in (None, ""):
        return "new_label is only allowed with action 'relabel'."
    if body.get("duplicate_of") is not None:
        if body["action"] != "duplicate" or body["duplicate_of"] not in session.row_ids():
            return "duplicate_of must be a row id of this run, with action 'duplicate'."
    return None


def _label_limit(session: ReviewSession) -> int:
    """The longest ``new_label`` accepted: ``LIMITS["label"]``, never less than a real class; a
    tokens task's tag sequence is as long as its sentence, a detection task's box list as its
    image's boxes (the body limit bounds both)."""
    if session.task in ("tokens", "detection"):
        return LIMITS["body_bytes"]
    return max([LIMITS["label"], *(len(c) for c in session.classes)])  # never refuse a class


def _tag_sequence_problem(value: Any, session: ReviewSession, row_id: str) -> str | None:
    """A one-line message when a tokens relabel's ``new_label`` is not one known tag per token
    of the row's sentence (tags separated by spaces, or a JSON list), or None."""
    how = "Type one tag per token, separated by spaces (or a JSON list)."
    if not isinstance(value, str) or not value.strip():
        return ("Relabel needs new_label, the sentence's tags as text (one tag per token, "
                f"separated by spaces, or a JSON list); got {_show(value)}.")
    tags = parse_tags(value)
    if tags is None:
        return (f"new_label {_show(value)} is not a tag sequence: a text starting with '[' "
                f"must be a JSON list of tags such as [\"B-PER\", \"O\"]. {how}")
    given = given_tags(session, row_id)
    if given is not None and len(tags) != len(given):
        return (f"The sentence has {len(given)} tokens; got {len(tags)} "
                f"tag{'s' if len(tags) != 1 else ''} ({_show(value)}). {how}")
    unknown = list(dict.fromkeys(t for t in tags if t not in session.classes))
    if unknown:
        known = ", ".join(session.classes[:30]) + (" ..." if len(session.classes) > 30 else "")
        names = ", ".join(repr(t) for t in unknown[:5])
        return (f"Unknown tag{'s' if len(unknown) > 1 else ''} {names}; known tags: {known}. "
                "Use only the dataset's tags.")
    return None


#: How a detection relabel is written, for the messages.
_BOX_FORM = ('a JSON list of [class, x, y, width, height] boxes, such as '
             '[["dog", 10, 20, 30, 40]] ([] for an image without boxes)')
_BOX_FIX = "Press l to edit the image's boxes, or r to take the suggested ones."


def box_list_problem(value: Any, classes: Sequence[str]) -> str | None:
    """A one-line message when a detection relabel's ``new_label`` is not a list of boxes
    ``[class, x, y, width, height]`` with known classes, finite numbers and a width and height
    of at least 0, or None.

    Parameters
    ----------
    value : object
        The decision's ``new_label``: JSON text.
    classes : sequence of str
        The dataset's box classes (an empty sequence accepts any class name).

    Returns
    -------
    str or None

    Examples
    --------
    >>> box_list_problem('[["dog", 1, 2, 3, 4]]', ["cat", "dog"]) is None
    True
    >>> print(box_list_problem('[["dog", 1, 2, -3, 4]]', ["dog"]).split(";")[0])
    Box 1 (["dog", 1, 2, -3, 4]) has width -3
    >>> print(box_list_problem('[["dgo", 1, 2, 3, 4]]', ["cat", "dog"]).split(";")[0])
    Box 1 (["dgo", 1, 2, 3, 4]) has the class 'dgo', which the dataset does not have
    """
    if not isinstance(value, str) or not value.strip():
        return f"Relabel needs new_label, {_BOX_FORM}; got {_show(value)}. {_BOX_FIX}"
    try:
        boxes = json.loads(value)
    except json.JSONDecodeError as exc:
        return (f"new_label is not valid JSON ({exc.msg} at character {exc.pos}); expected "
                f"{_BOX_FORM}; got {_show(value)}. Fix the JSON. {_BOX_FIX}")
    if not isinstance(boxes, list):
        return (f"new_label is a JSON {type(boxes).__name__}; expected {_BOX_FORM}; got "
                f"{_show(value)}. {_BOX_FIX}")
    for i, box in enumerate(boxes, start=1):
        problem = _box_problem(box, classes)
        if problem:
            shown = json.dumps(box, ensure_ascii=False)
            shown = shown if len(shown) <= 60 else shown[:60] + "..."
            return f"Box {i} ({shown}) {problem} {_BOX_FIX}"
    return None


def _box_problem(box: Any, classes: Sequence[str]) -> str | None:
    """What is wrong with one box of a relabel (the rest of a sentence), or None."""
    if not isinstance(box, list) or len(box) != 5:
        size = f"a list of {len(box)}" if isinstance(box, list) else f"a {type(box).__name__}"
        return f"is {size}; expected [class, x, y, width, height], a class and four numbers."
    name = box[0]
    if not isinstance(name, str):
        return (f"has the class {json.dumps(name, ensure_ascii=False)[:40]}; a class is a "
                'string such as "dog".')
    if classes and name not in classes:
        known = ", ".join(classes[:30]) + (" ..." if len(classes) > 30 else "")
        return (f"has the class {name!r}, which the dataset does not have; classes: {known}. "
                "Use one of them.")
    for key, v in zip(("x", "y", "width", "height"), box[1:], strict=True):
        if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v):
            return (f"has {key} {json.dumps(v, ensure_ascii=False)[:40]}; x, y, width and "
                    "height are finite numbers.")
        if key in ("width", "height") and v < 0:
            return (f"has {key} {v!r}; a width and a height are at least 0 (a box is [class, "
                    "x, y, width, height], not two corners).")
    return None


def _number_problem(value: Any) -> str | None:
    """A one-line message when a regression relabel's ``new_label`` is not a finite number."""
    try:
        ok = isinstance(value, str) and np.isfinite(float(value.strip()))
    except ValueError:
        ok = False
    if ok:
        return None
    return ("The target is a number: relabel needs new_label, a finite number as a string "
            f"(such as '12.5'); got {_show(value)}.")


def _label_set_problem(value: Any, classes: list[str]) -> str | None:
    """A one-line message when a multi-label relabel's ``new_label`` is not a set of the
    dataset's classes (names separated by commas, or a JSON list; empty: no labels)."""
    from assay.data import parse_label_sets

    if not isinstance(value, str):
        return ("Relabel needs new_label, the new label set as text (classes separated by "
                f"commas, or a JSON list; '' for none); got {_show(value)}.")
    try:
        _, names = parse_label_sets([value, ""], sep=None if value.lstrip().startswith("[")
                                    else ",")
    except AssayError as exc:
        return f"new_label {_show(value)} is not a label set: {exc}"
    unknown = [str(c) for c in names if str(c) not in classes]
    if unknown:
        return (f"new_label names classes the dataset does not have ({', '.join(unknown[:5])}); "
                f"classes: {', '.join(classes[:20])}.")
    return None


def spot_check_summary(session: ReviewSession, dec: pd.DataFrame, *,
                       in_force: Callable[[pd.DataFrame], pd.Series] | None = None,
                       ) -> dict[str, Any]:
    """Precision of the flagged label issues, measured on the ``label_spot_check`` queue.

    Each sampled row counts once, by its decision in force among that queue's decisions
    (:func:`assay.export.resolve_decisions`: the highest stage wins; reviewers who disagree make
    a conflict): relabel or drop confirms the label error, keep refutes it; skipped (deferred),
    duplicate-marked and conflicting rows are left out and counted in ``n_deferred``. Decisions
    made in other queues are not used: those rows were reached worst first, not at random.
    ``in_force`` (default: ``resolve_decisions(...)["action"]``) gives the action in force per
    row of the decisions it is passed (the server passes a cached :class:`ActionsInForce`).
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
                           "estimated_precision_low": finite_or_none(
                               summary.get("estimated_precision_low")),
                           "estimated_precision_high": finite_or_none(
                               summary.get("estimated_precision_high")),
                           "estimates_reliable": summary.get("estimates_reliable")}
    actions = pd.Series([], dtype=object)
    if queue is not None and not dec.empty:
        mine = dec[(dec["queue"] == "label_spot_check") & dec["row_id"].isin(queue["row_id"])]
        if not mine.empty:
            actions = (in_force(mine) if in_force is not None
                       else resolve_decisions(mine)["action"])
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
    dec = without_undone(dec)
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
    raw = wide.to_numpy(dtype=object)
    rated: np.ndarray = ~pd.isna(raw)
    data = raw.copy()
    data[~rated] = None
    out["percent_agreement"] = float(percent_agreement(data))
    if len({v for v in data.ravel() if v is not None}) > 1:
        out["krippendorff_alpha"] = float(krippendorff_alpha(data))
    names = list(wide.index)
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            both = rated[i] & rated[j]
            n = int(both.sum())
            if n < 2:
                continue
            a, b = data[i, both], data[j, both]
            kappa = float(cohen_kappa(a, b)) if len(set(a) | set(b)) > 1 else None
            out["pairs"].append({"a": str(names[i]), "b": str(names[j]), "n": n,
                                 "agreement": float(np.mean(a == b)), "cohen_kappa": kappa})
    return out
