"""Run assay's parallel work on Ray: the only module that imports :mod:`ray` (extra ``dist``).

Everything in assay that runs in parallel goes through :mod:`joblib`: the audit's cross-fitting
folds (classification and regression), the learning curves' fits and bootstrap, the Monte Carlo
semivalues' utility evaluations and Data-OOB's learners. :func:`ray_backend` connects to a Ray
cluster (or starts a local one), registers Ray's joblib backend and makes it the default inside
a ``with`` block, so the same code runs its tasks on the cluster's workers. The random draws
happen in the caller, so a run on Ray computes the same numbers as a local run with the same
seed (the tests compare them).

What stays on the driver: loading and featurising the data, the k-NN graph and the checks that
read it (duplicates, outliers, leakage), the report. ``docs/distributed.md`` says what moves
over the network and what each worker needs in memory.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

from assay.exceptions import InputValidationError, InvalidParameterError, MissingDependencyError

__all__ = ["BACKENDS", "backend_context", "ray_backend"]

#: Where ``assay.audit(..., backend=...)`` runs its parallel work.
BACKENDS = ("local", "ray")


@contextlib.contextmanager
def ray_backend(address: str | None = None, *, num_cpus: int | None = None,
                n_jobs: int = -1) -> Iterator[dict[str, Any]]:
    """Make Ray joblib's default backend inside the block, connecting first when needed.

    Parameters
    ----------
    address : str, optional
        The cluster: ``"auto"`` (a cluster started on this machine with ``ray start``), a Ray
        Client address ``"ray://HOST:10001"``, or ``None``/``"local"`` for a Ray runtime started
        here for the block (``RAY_ADDRESS`` in the environment is honoured, as by ``ray.init``).
        When Ray is already initialised in this process it is used as it is.
        Inside the block, standard output goes to standard error: Ray prints its notices on
        standard output from a background thread, and a command's output (``--json``) must
        stay parseable.
    num_cpus : int, optional
        CPUs of a local runtime started here (default: all of this machine's).
    n_jobs : int, default=-1
        Parallel tasks when a caller leaves ``n_jobs`` unset (-1: one per CPU of the cluster).

    Yields
    ------
    dict
        ``{"address", "started", "cpus"}``: the cluster connected to, whether this block
        started Ray (and shuts it down at the end), and the cluster's CPU count.

    Raises
    ------
    MissingDependencyError
        When Ray is not installed (``pip install 'assay[dist]'``).
    InputValidationError
        When Ray cannot be started or the cluster at ``address`` cannot be joined.

    Examples
    --------
    >>> import assay
    >>> from assay.distributed import ray_backend
    >>> with ray_backend(num_cpus=2) as info:  # doctest: +SKIP
    ...     result = assay.audit("data.csv", label="y")
    """
    try:
        import ray
        from ray.util.joblib import register_ray
    except ImportError as exc:
        raise MissingDependencyError("ray", "dist", "to run on a Ray cluster") from exc
    import joblib

    # Ray prints its notices on stdout, from a thread, at any time (the raylet reports the
    # exit of joblib's pool actors at the end of each parallel call as workers that died):
    # inside the block they go to stderr, so a command's stdout stays its own (--json).
    with contextlib.redirect_stdout(sys.stderr):
        started = False
        if not ray.is_initialized():
            local = address in (None, "", "local")
            try:
                ray.init(address=None if local else address,
                         num_cpus=num_cpus if local else None, include_dashboard=False,
                         log_to_driver=False, configure_logging=False)
            except (ConnectionError, ValueError, RuntimeError, TimeoutError) as exc:
                why = (str(exc).strip().splitlines() or [type(exc).__name__])[0].rstrip(".")
                raise InputValidationError(
                    f"Could not start or join Ray at {address or 'a local runtime'!r}: {why}. "
                    "Pass 'auto' for a cluster started on this machine with 'ray start', "
                    "ray://HOST:10001 for Ray Client (needs pip install 'ray[client]'), or no "
                    "address for a local Ray.") from exc
            started = True
        try:
            register_ray()
            info = {"address": ray.get_runtime_context().gcs_address, "started": started,
                    "cpus": int(ray.cluster_resources().get("CPU", 0))}
            with joblib.parallel_config(backend="ray", n_jobs=n_jobs):
                yield info
        finally:
            if started:
                ray.shutdown()


def backend_context(backend: str, address: str | None = None, *, owner: str = "audit"
                    ) -> contextlib.AbstractContextManager[Any]:
    """The context a public function runs its parallel work in: nothing for ``"local"``,
    :func:`ray_backend` for ``"ray"``.

    Examples
    --------
    >>> with backend_context("local"):
    ...     pass
    """
    if backend not in BACKENDS:
        raise InvalidParameterError("backend", f"one of {', '.join(BACKENDS)}", backend,
                                    owner=owner)
    if backend == "local":
        if address is not None:
            raise InvalidParameterError(
                "ray_address", "None unless backend='ray'", address, owner=owner)
        return contextlib.nullcontext()
    return ray_backend(address)
