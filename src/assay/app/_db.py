"""The review server's access to the workspace: one thread, one connection kept open while busy.

Opening DuckDB costs tens of milliseconds and closing it checkpoints the file, so a server that
opened the database per request handled decisions one at a time at a few dozen a second. Here
every workspace call of the server runs on one thread, which opens the database on the first
call and keeps it open (``Workspace.hold``) until no call has come for ``idle_release_s``
seconds; then it closes it, so another assay command can use the workspace between bursts.
Each decision is still its own transaction, committed (written and synced to DuckDB's write-ahead
log) before its caller gets the id back, so an acknowledged decision survives a crash.

While the connection is held no other process can write the file, so the decisions read through
it can be cached until this server writes again: :attr:`WorkspaceThread.version` changes on each
write and each time the connection is closed or opened, and :meth:`WorkspaceThread.decisions`
reads the table once per version.

A batch of decisions (a keep-one on a duplicate set: ``keep`` for one member, ``duplicate`` for
the others) is written by :func:`append_batch` in one transaction, so a crash stores all of it or
none. Its members carry the idempotency keys ``batch:<key>:<i>`` (:func:`batch_keys`), which is
how an undo finds and takes back the whole batch (:func:`batch_of`).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import pandas as pd

__all__ = ["BATCH_PREFIX", "WorkspaceThread", "append_batch", "batch_keys", "batch_of"]

#: The idempotency keys of a batch's decisions start with this; a single decision may not use it.
BATCH_PREFIX = "batch:"

_Job = tuple[Callable[[Any], Any], "Future[Any]", bool]


class WorkspaceThread:
    """Run a workspace's calls one at a time on a dedicated thread that holds its connection.

    Parameters
    ----------
    workspace : assay.workspace.Workspace
        The open workspace. While the thread holds it, calls on it from any other thread of the
        process wait (the workspace's file lock); the server makes every call through this object.
    run_id : str
        The audit run whose decisions :meth:`decisions` reads.
    idle_release_s : float, default 0.25
        Close the connection after this many seconds without a call.
    """

    def __init__(self, workspace: Any, run_id: str, *, idle_release_s: float = 0.25) -> None:
        self._ws = workspace
        self._run_id = run_id
        self._idle = float(idle_release_s)
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._version = 0
        self._cached: tuple[int, pd.DataFrame] | None = None
        self._live: tuple[int, pd.DataFrame] | None = None

    @property
    def version(self) -> int:
        """A number that changes whenever the decisions may have changed."""
        return self._version

    def submit(self, fn: Callable[[Any], Any], *, write: bool = False) -> Future[Any]:
        """Queue ``fn(workspace)``; the future holds its result or exception.

        ``write=True`` marks a call that changes the decisions (the cache is dropped after it).
        """
        self._ensure_started()
        future: Future[Any] = Future()
        self._jobs.put((fn, future, write))
        return future

    def call(self, fn: Callable[[Any], Any], *, write: bool = False) -> Any:
        """Run ``fn(workspace)`` on the thread and wait for its result."""
        return self.submit(fn, write=write).result()

    def decisions(self) -> tuple[int, pd.DataFrame]:
        """``(version, decisions of the run)``; the frame is shared: never modify it."""
        cached = self._cached
        if cached is not None and cached[0] == self._version:
            return cached
        return self.call(self._read_decisions)

    def live_decisions(self) -> tuple[int, pd.DataFrame]:
        """``(version, decisions of the run less the undone ones and their undos)``: the history
        as if the undone decisions had never been made (shared: never modify it)."""
        from assay.workspace import without_undone

        version, dec = self.decisions()
        live = self._live
        if live is None or live[0] != version:
            live = (version, without_undone(dec))
            self._live = live
        return live

    def _read_decisions(self, ws: Any) -> tuple[int, pd.DataFrame]:
        # runs on the thread, so no write can come between the read and the version
        cached = self._cached
        if cached is None or cached[0] != self._version:
            cached = (self._version, ws.decisions(run_id=self._run_id))
            self._cached = cached
        return cached

    def close(self) -> None:
        """Finish the queued calls, close the connection and stop the thread (a later call
        starts a new one)."""
        with self._start_lock:
            thread, self._thread = self._thread, None
            if thread is not None and thread.is_alive():
                self._jobs.put(None)
                thread.join(timeout=30)

    def _ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                thread = threading.Thread(target=self._loop, name="assay-review-workspace",
                                          daemon=True)
                thread.start()
                self._thread = thread

    def _loop(self) -> None:
        held: contextlib.ExitStack | None = None
        try:
            while True:
                try:
                    job = self._jobs.get(timeout=self._idle if held is not None else None)
                except queue.Empty:  # idle: let other processes at the workspace
                    assert held is not None
                    held.close()
                    held = None
                    self._version += 1  # the cache is good only while the file is held
                    continue
                if job is None:
                    return
                fn, future, write = job
                if not future.set_running_or_notify_cancel():
                    continue
                if held is None:
                    try:
                        stack = contextlib.ExitStack()
                        stack.enter_context(self._ws.hold())
                    except BaseException as exc:  # noqa: BLE001 - handed to the caller
                        future.set_exception(exc)
                        continue
                    held = stack
                    self._version += 1  # another process may have written while it was closed
                try:
                    result = fn(self._ws)
                except BaseException as exc:  # noqa: BLE001 - handed to the caller
                    if write:
                        self._version += 1
                    future.set_exception(exc)
                else:
                    if write:
                        self._version += 1
                    future.set_result(result)
        finally:
            if held is not None:
                held.close()


def batch_keys(batch: str, n: int) -> list[str]:
    """The idempotency keys of the ``n`` decisions of batch ``batch``, in batch order.

    Examples
    --------
    >>> batch_keys("k1", 2)
    ['batch:k1:0', 'batch:k1:1']
    """
    return [f"{BATCH_PREFIX}{batch}:{i}" for i in range(n)]


def batch_of(client_key: Any) -> str | None:
    """The batch a decision belongs to, from its idempotency key; None for a single decision.

    Examples
    --------
    >>> batch_of("batch:k1:0"), batch_of("k1"), batch_of(None)
    ('k1', None, None)
    """
    if not isinstance(client_key, str) or not client_key.startswith(BATCH_PREFIX):
        return None
    return client_key[len(BATCH_PREFIX):].rpartition(":")[0] or None


def append_batch(ws: Any, decisions: list[dict[str, Any]], *, batch: str) -> list[int]:
    """Append several decisions in one transaction: all of them are stored, or none.

    The caller has validated every decision as ``POST /api/decisions`` validates one; the
    workspace (``Workspace.append_decisions``) checks each again as it stores it. A retry of a batch already
    stored (same ``batch``) writes nothing and returns the recorded ids, as a retried single
    decision does (``Workspace.append_decision``'s ``client_key``).

    Parameters
    ----------
    ws : assay.workspace.Workspace
        The open workspace (on the server's workspace thread, which holds its connection).
    decisions : list of dict
        ``row_id``, ``action`` (a workspace action: ``keep``, ``remove``, ``duplicate``, ...),
        ``reviewer``, ``run_id`` and optionally ``new_label``, ``note``, ``queue``, ``stage``,
        ``duplicate_of``.
    batch : str
        The batch's idempotency key; decision ``i`` is stored with ``batch_keys(batch, n)[i]``.

    Returns
    -------
    list of int
        The decision ids, in batch order (consecutive: nothing else is written in between).

    Raises
    ------
    InputValidationError
        When the batch is empty or a decision is incoherent (``new_label`` without ``relabel``,
        ``duplicate_of`` without ``duplicate``, an unknown action).
    """
    from assay.exceptions import InputValidationError

    if not decisions:
        raise InputValidationError("A batch needs at least one decision; got none.")
    return ws.append_decisions(list(decisions), client_keys=batch_keys(batch, len(decisions)))
