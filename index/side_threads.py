"""Running one part of a query beside another, on a core that would otherwise sit idle.

A hybrid query has two independent sides: the HNSW search (C++, which gives up the GIL) and
the lexical side (query analysis, BM25, and reading the candidates' stored vectors from SQLite,
which also gives it up). Run one after the other, a hybrid query cost twice a vector query at
100k documents (``benchmarks/README.md``, "Relevance"); run side by side, about the HNSW
search alone.

Side by side only when a core is free: a side thread is taken only if one is idle, otherwise
the caller runs the part itself, after its own. So a loaded server (every core busy with
queries of its own) queues nothing behind side work and spends no more CPU than before; an
idle one answers a single query sooner.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

T = TypeVar("T")


class Pending(Generic[T]):
    """A part started on a side thread; :meth:`result` waits for it (and re-raises)."""

    def __init__(self, future: Future[T]) -> None:
        self._future = future

    def result(self) -> T:
        return self._future.result()

    def wait(self) -> None:
        """Wait for the part to end, whether it failed or not."""
        futures.wait([self._future])


class SideThreads:
    """A few threads for parts of queries, used only while idle (see the module's docstring)."""

    def __init__(self, threads: int) -> None:
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="semsearch-side")
        self._idle = threading.BoundedSemaphore(threads)

    def start(self, part: Callable[[], T]) -> Pending[T] | None:
        """``part`` started on an idle side thread, or ``None`` when none is idle (the caller
        then runs it itself). The caller must wait for a started part before it lets go of
        anything the part uses (a collection's lease)."""
        if not self._idle.acquire(blocking=False):
            return None
        try:
            return Pending(self._pool.submit(self._run, part))
        except RuntimeError:  # interpreter shutting down
            self._idle.release()
            return None

    def _run(self, part: Callable[[], T]) -> T:
        try:
            return part()
        finally:
            self._idle.release()


#: One core is the caller's own; the others may take side work.
SIDE_THREADS = SideThreads(max(1, (os.cpu_count() or 2) - 1))
