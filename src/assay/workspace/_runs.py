"""Runs of assay commands: :class:`RunsMixin` of ``Workspace`` and :class:`RunRecord`."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from assay.exceptions import InputValidationError, InvalidParameterError, StoreError
from assay.workspace._base import WorkspaceBase
from assay.workspace._common import (
    aware_utc,
    check_fingerprint,
    dumps,
    first,
    loads,
    package_versions,
    transaction,
    utc_now,
)

RUN_STATUSES = ("ok", "error")
_RUN_COLUMNS = (
    "run_id, command, status, started, finished, fingerprint, n_findings, pid, host"
)


@dataclass
class RunRecord:
    """A run being recorded by :meth:`Workspace.record_run`; fill ``summary`` and ``provenance``.

    Attributes
    ----------
    run_id : str
        The id of the run in the store.
    summary, timings, provenance : dict
        Stored by ``finish_run`` when the block exits. ``timings["total"]`` is added.
    """

    run_id: str
    summary: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time the block and add its seconds to ``timings[name]``."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t0


class RunsMixin(WorkspaceBase):
    """Start, finish and read runs; each run has a folder for its result files."""

    def start_run(
        self,
        command: str,
        params: Mapping[str, Any] | None = None,
        fingerprint: str | None = None,
    ) -> str:
        """Record the start of a run and return its id (``YYYYMMDD-HHMMSS-xxxx``, UTC).

        The run stores the package versions of assay and its key dependencies, the process id and
        the host; its status is ``running`` until :meth:`finish_run`.

        Examples
        --------
        >>> import tempfile
        >>> from assay.workspace import Workspace
        >>> ws = Workspace.open(tempfile.mkdtemp())
        >>> run_id = ws.start_run("curve", {"target": 0.95})
        >>> ws.run(run_id)["status"]
        'running'
        """
        if not isinstance(command, str) or not command.strip():
            raise InvalidParameterError("command", "a non-empty str", command, owner="start_run")
        if params is not None and not isinstance(params, Mapping):
            raise InvalidParameterError("params", "a dict or None", params, owner="start_run")
        if fingerprint is not None:
            check_fingerprint(fingerprint)
        params_json = dumps(dict(params or {}), "params")
        versions_json = dumps(package_versions(), "versions")
        with self._connect(True) as con, transaction(con):
            if fingerprint is not None and con.execute(
                "SELECT count(*) FROM datasets WHERE fingerprint = ?", [fingerprint]
            ).fetchall()[0][0] == 0:
                raise InputValidationError(
                    f"Dataset {fingerprint} is not registered in this workspace. Call "
                    "register_dataset(fingerprint, n_rows=...) before start_run, or pass "
                    "fingerprint=None for a run without a dataset."
                )
            now = utc_now()
            for _ in range(20):
                run_id = f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
                if con.execute(
                    "SELECT count(*) FROM runs WHERE run_id = ?", [run_id]
                ).fetchall()[0][0] == 0:
                    break
            con.execute(
                "INSERT INTO runs (run_id, command, params, versions, fingerprint, status, "
                "started, pid, host) VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?)",
                [run_id, command, params_json, versions_json, fingerprint, now, os.getpid(),
                 socket.gethostname()],
            )
        return run_id

    def finish_run(
        self,
        run_id: str,
        *,
        status: str = "ok",
        summary: Mapping[str, Any] | None = None,
        timings: Mapping[str, float] | None = None,
        provenance: Mapping[str, Any] | None = None,
    ) -> None:
        """Mark a running run as finished (``status`` ``'ok'`` or ``'error'``) with its results.

        Parameters
        ----------
        run_id : str
            The id returned by :meth:`start_run`.
        status : {'ok', 'error'}
            ``'error'`` when the command failed (put the message in ``summary``).
        summary : dict, optional
            Results (per-check status and counts, dataset-level metrics).
        timings : dict of str -> float, optional
            Seconds per step.
        provenance : dict, optional
            Thresholds used and where they came from, seeds, inputs.

        Examples
        --------
        >>> import tempfile
        >>> from assay.workspace import Workspace
        >>> ws = Workspace.open(tempfile.mkdtemp())
        >>> run_id = ws.start_run("audit")
        >>> ws.finish_run(run_id, status="ok", timings={"total": 1.5})
        >>> ws.run(run_id)["timings"]
        {'total': 1.5}
        """
        if status not in RUN_STATUSES:
            raise InvalidParameterError(
                "status", "one of 'ok', 'error'", status, owner="finish_run"
            )
        if timings is not None:
            if not isinstance(timings, Mapping) or not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in timings.values()
            ):
                raise InvalidParameterError(
                    "timings", "a dict of step name -> seconds (numbers)", timings,
                    owner="finish_run",
                )
        values = [
            status, utc_now(), dumps(summary, "summary"), dumps(timings, "timings"),
            dumps(provenance, "provenance"),
        ]
        with self._connect(True) as con, transaction(con):
            self._require_running(con, run_id)
            con.execute(
                "UPDATE runs SET status = ?, finished = ?, summary = ?, timings = ?, "
                "provenance = ? WHERE run_id = ?",
                [*values, run_id],
            )

    @contextlib.contextmanager
    def record_run(
        self,
        command: str,
        params: Mapping[str, Any] | None = None,
        *,
        fingerprint: str | None = None,
    ) -> Iterator[RunRecord]:
        """Record a run around a block: started on entry, finished ``ok`` or ``error`` on exit.

        An exception in the block finishes the run with status ``error`` (its message in
        ``summary["error"]``) and is re-raised.

        Examples
        --------
        >>> import tempfile
        >>> from assay.workspace import Workspace
        >>> ws = Workspace.open(tempfile.mkdtemp())
        >>> with ws.record_run("value", {"method": "knn"}) as rec:
        ...     with rec.step("compute"):
        ...         rec.summary["n"] = 3
        >>> ws.run(rec.run_id)["status"]
        'ok'
        """
        run_id = self.start_run(command, params, fingerprint)
        rec = RunRecord(run_id)
        t0 = time.perf_counter()
        try:
            yield rec
        except BaseException as exc:
            rec.timings.setdefault("total", time.perf_counter() - t0)
            rec.summary["error"] = f"{type(exc).__name__}: {exc}"
            try:
                self.finish_run(
                    run_id, status="error", summary=rec.summary, timings=rec.timings,
                    provenance=rec.provenance,
                )
            except Exception:  # noqa: BLE001 - the block's own error is the one to report;
                pass  # the run then reads as interrupted
            raise
        rec.timings.setdefault("total", time.perf_counter() - t0)
        self.finish_run(
            run_id, status="ok", summary=rec.summary, timings=rec.timings,
            provenance=rec.provenance,
        )

    def _require_running(self, con: Any, run_id: str) -> dict[str, Any]:
        row = first(con.execute(
            "SELECT status, findings_schema FROM runs WHERE run_id = ?", [run_id]
        ).fetchall())
        if row is None:
            raise InputValidationError(
                f"Run {run_id!r} does not exist in the workspace {self._path}. "
                "Use the id returned by start_run (see 'assay runs')."
            )
        if row[0] != "running":
            raise StoreError(
                f"Run {run_id} is already finished (status {row[0]!r}); a finished run is "
                "immutable. Start a new run to record more results."
            )
        return loads(row[1]) or {}

    def runs(self, *, command: str | None = None, limit: int | None = None) -> pd.DataFrame:
        """All runs, newest first: id, command, status, times, dataset, number of findings.

        A ``running`` run whose process has died on this host is reported as ``interrupted``.

        Examples
        --------
        >>> import tempfile
        >>> from assay.workspace import Workspace
        >>> ws = Workspace.open(tempfile.mkdtemp())
        >>> _ = ws.start_run("audit")
        >>> list(ws.runs()["command"])
        ['audit']
        """
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise InvalidParameterError("limit", "an int >= 1 or None", limit, owner="runs")
        sql = f"SELECT {_RUN_COLUMNS} FROM runs"
        args: list[Any] = []
        if command is not None:
            sql += " WHERE command = ?"
            args.append(command)
        sql += " ORDER BY started DESC, run_id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._connect(False) as con:
            frame = con.execute(sql, args).df()
        frame["status"] = [
            _live_status(s, p, h) for s, p, h in zip(
                frame["status"], frame["pid"], frame["host"], strict=True
            )
        ]
        frame["duration_s"] = (frame["finished"] - frame["started"]).dt.total_seconds()
        for col in ("started", "finished"):
            frame[col] = frame[col].dt.tz_localize("UTC")
        return frame.drop(columns=["pid", "host"])

    def resolve_run(self, ref: str, *, command: str | None = None) -> str:
        """Turn ``ref`` (a run id, a unique prefix of one, or ``'latest'``) into a run id.

        With ``command`` (e.g. ``"audit"`` for a command that needs an audit), ``'latest'`` means
        the latest run of that command that finished ``ok``: an export or an interrupted audit
        after it does not hide it.

        Examples
        --------
        >>> import tempfile
        >>> from assay.workspace import Workspace
        >>> ws = Workspace.open(tempfile.mkdtemp())
        >>> run_id = ws.start_run("audit")
        >>> ws.resolve_run("latest") == ws.resolve_run(run_id[:10]) == run_id
        True
        """
        if not isinstance(ref, str) or not ref:
            raise InvalidParameterError("run", "a run id, a prefix of one, or 'latest'", ref)
        with self._connect(False) as con:
            if ref in ("latest", "last") and command is not None:
                row = first(con.execute(
                    "SELECT run_id FROM runs WHERE command = ? AND status = 'ok' "
                    "ORDER BY started DESC, run_id DESC LIMIT 1", [command]
                ).fetchall())
                if row is None:
                    raise InputValidationError(
                        f"The workspace {self._path} has no completed '{command}' run yet. Run "
                        f"'assay {command}' first (interrupted or failed runs have no results)."
                    )
                return str(row[0])
            if ref in ("latest", "last"):
                row = first(con.execute(
                    "SELECT run_id FROM runs ORDER BY started DESC, run_id DESC LIMIT 1"
                ).fetchall())
                if row is None:
                    raise InputValidationError(
                        f"The workspace {self._path} has no runs yet. Run an assay command first."
                    )
                return str(row[0])
            hits = [r[0] for r in con.execute(
                "SELECT run_id FROM runs WHERE starts_with(run_id, ?) ORDER BY run_id LIMIT 6",
                [ref],
            ).fetchall()]
        if ref in hits:
            return ref
        if len(hits) == 1:
            return str(hits[0])
        if not hits:
            raise InputValidationError(
                f"No run {ref!r} in the workspace {self._path}. "
                "List the runs with 'assay runs' and pass an id (or a unique prefix, or 'latest')."
            )
        raise InputValidationError(
            f"Run prefix {ref!r} is ambiguous; it matches {', '.join(hits[:5])}"
            f"{', ...' if len(hits) > 5 else ''}. Pass more characters of the id."
        )

    def run(self, run_id: str) -> dict[str, Any]:
        """One run as a dict: command, params, versions, times, status, summary, timings, ...

        ``run_id`` may be a unique prefix or ``'latest'`` (see :meth:`resolve_run`).

        Examples
        --------
        >>> import tempfile
        >>> from assay.workspace import Workspace
        >>> ws = Workspace.open(tempfile.mkdtemp())
        >>> run_id = ws.start_run("audit", {"k": 10})
        >>> ws.run(run_id)["params"]
        {'k': 10}
        """
        run_id = self.resolve_run(run_id)
        with self._connect(False) as con:
            row = first(con.execute(
                "SELECT run_id, command, params, versions, fingerprint, status, started, finished, "
                "timings, summary, provenance, n_findings, pid, host FROM runs WHERE run_id = ?",
                [run_id],
            ).fetchall())
        if row is None:  # resolve_run found it; runs are never deleted
            raise StoreError(f"Run {run_id} vanished from {self._path} while being read.")
        started, finished = aware_utc(row[6]), aware_utc(row[7])
        return {
            "run_id": row[0],
            "command": row[1],
            "params": loads(row[2]),
            "versions": loads(row[3]),
            "fingerprint": row[4],
            "status": _live_status(row[5], row[12], row[13]),
            "started": started,
            "finished": finished,
            "duration_s": None if finished is None else (finished - started).total_seconds(),
            "timings": loads(row[8]),
            "summary": loads(row[9]),
            "provenance": loads(row[10]),
            "n_findings": int(row[11]),
            "pid": row[12],
            "host": row[13],
        }

    def results_dir(self, run_id: str) -> Path:
        """The folder where a run keeps its result files (an audit: audit.json, issues.parquet).

        Examples
        --------
        >>> import tempfile
        >>> from assay.workspace import Workspace
        >>> ws = Workspace.open(tempfile.mkdtemp())
        >>> ws.results_dir("20261122-120000-ab12").parts[-2:]
        ('runs', '20261122-120000-ab12')
        """
        if not isinstance(run_id, str) or not run_id or "/" in run_id or run_id in (".", ".."):
            raise InvalidParameterError("run_id", "a run id", run_id, owner="results_dir")
        return self._path / "runs" / run_id


def _live_status(status: str, pid: Any, host: Any) -> str:
    """``running`` runs whose process is gone (on this host) are reported as ``interrupted``."""
    if status != "running" or pid is None or pd.isna(pid) or host != socket.gethostname():
        return status
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return "interrupted"
    except PermissionError:
        return status
    return status
