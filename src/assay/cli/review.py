"""``assay review``: the local review app over an audit run."""

from __future__ import annotations

import errno
import socket
from pathlib import Path

import typer

from assay.cli._common import console, err_console
from assay.exceptions import InvalidParameterError


def register(app: typer.Typer) -> None:
    """Add ``review`` to the CLI."""

    @app.command("review")
    def review_cmd(
        workspace: Path | None = typer.Option(
            None, "--workspace", "-w", help="Workspace (default: .assay/ here or $ASSAY_WORKSPACE)."),
        run: str | None = typer.Option(None, "--run", help="Audit run id or prefix (default: latest audit)."),
        port: int = typer.Option(0, "--port", help="Port (default: a free one)."),
        host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (default 127.0.0.1)."),
        reviewer: str | None = typer.Option(None, "--reviewer", help="Your name, recorded with each decision."),
        double: bool = typer.Option(False, "--double", help="Two-reviewer mode: each item to two reviewers, agreement measured."),
        quota: int | None = typer.Option(None, "--quota", help="Review stage: only the N worst items per queue."),
        expert: bool = typer.Option(False, "--expert", help="Enable the expert stage: also print an expert URL, whose token alone may record expert decisions."),
        no_browser: bool = typer.Option(False, "--no-browser", help="Do not open a browser."),
        annotations: Path | None = typer.Option(
            None, "--annotations",
            help="The audit's annotations file (item, annotator, label): each item shows the "
                 "annotators' labels and the Dawid-Skene posterior."),
        annotation_columns: str = typer.Option(
            "item,annotator,label", "--annotation-columns",
            help="Names of the item, annotator and label columns in --annotations."),
    ) -> None:
        """Review the findings of an audit in a local web app; decisions go to the workspace."""
        from assay.app import LIMITS, create_app, reviewer_problem
        from assay.workspace import default_workspace

        if not 0 <= port <= 65535:
            raise InvalidParameterError("--port", "an integer in 0..65535", port)
        if quota is not None and quota < 1:
            raise InvalidParameterError("--quota", "a positive integer", quota)
        if reviewer is not None and reviewer_problem(reviewer):
            raise InvalidParameterError(
                "--reviewer", f"a name of 1 to {LIMITS['reviewer']} printable characters",
                reviewer)
        ws_path = workspace or default_workspace()
        if not (ws_path / "assay.duckdb").exists():
            raise InvalidParameterError(
                "--workspace", "a workspace folder with an audit in it", str(ws_path),
                hint="Run 'assay audit DATA --label COL' first, or pass --workspace.")
        ann = None
        if annotations is not None:
            from assay.cli.audit import _read_annotations

            ann = _read_annotations(annotations, annotation_columns)
        sock = _bind(host, port)  # before loading: a busy port or unknown host fails fast
        extra = set() if host in ("127.0.0.1", "localhost", "::1") else {host}
        application = create_app(ws_path, run=run, reviewer=reviewer, double=double, quota=quota,
                                 allowed_hosts=extra, expert=expert, annotations=ann)
        if extra:
            err_console.print(f"[yellow]warning:[/] binding {host}: anyone who can reach it and "
                              "has the token can record decisions.")
        bound = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        url = f"http://{shown}:{bound}/?token={application.state.token}"
        session = application.state.session
        console.print(f"assay review: run {session.run_id}, "
                      f"{sum(len(q) for q in session.queues.values())} items in "
                      f"{len(session.queues)} queues")
        console.print(f"Open {url}", soft_wrap=True, highlight=False)
        if expert:
            expert_url = f"http://{shown}:{bound}/?token={application.state.expert_token}"
            console.print(f"Expert URL (expert decisions; give it to experts only): {expert_url}",
                          soft_wrap=True, highlight=False)
        if not no_browser:
            import webbrowser

            webbrowser.open(url)
        import uvicorn

        server = uvicorn.Server(uvicorn.Config(application, log_level="warning", access_log=False))
        server.run(sockets=[sock])


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, or one clear error (busy port, unknown host)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InvalidParameterError(
            "--host", "an address or name of this machine (default 127.0.0.1)", host,
            hint=f"It does not resolve ({exc.strerror}).") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise InvalidParameterError(
                "--port", "a free port (or 0 for any free one)", port,
                hint=f"Port {port} on {host} is in use, perhaps by another 'assay review'. "
                     "Stop it, or leave --port out.") from None
        raise InvalidParameterError(
            "--host", "an address this machine can listen on", host,
            hint=f"Binding {host}:{port} failed ({exc.strerror or exc}).") from None
    sock.listen(128)  # connections wait in the backlog until the server starts accepting
    return sock
