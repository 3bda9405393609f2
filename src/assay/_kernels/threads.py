"""Row spans or lists in threads, each with a one-thread BLAS. Private.

numpy's products, reductions and partitions release the GIL, so independent blocks of rows run
in parallel in threads without copying the data into processes; each thread's BLAS is held to
one thread so the cores are not oversubscribed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: The most threads used, whatever the core count.
MAX_THREADS = 16


def map_in_threads(work: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``[work(item) for item in items]``, in threads when there are several items and cores.

    Each item must write only its own part of any shared output, so the result is that of the
    plain loop. One thread (one core, or one item): the plain loop, no pool.
    """
    n_threads = max(1, min(os.cpu_count() or 1, MAX_THREADS, len(items)))
    if n_threads == 1:
        return [work(item) for item in items]
    from threadpoolctl import threadpool_limits  # here: importing assay stays light

    with threadpool_limits(1), ThreadPoolExecutor(n_threads) as pool:
        return list(pool.map(work, items))
