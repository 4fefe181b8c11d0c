"""``JobQueue``: runs one kind of background job one at a time (fine-tuning jobs, batches).

Usage::

    queue = JobQueue(work, name="batch-runner")   # work: run / requeue / crashed, see ``Work``
    queue.start(store.recover())                   # jobs a restart interrupted go first
    queue.put(job_id)                              # a new job, behind the others
    queue.cancel(job_id)                           # sets the running job's cancel event
    await queue.aclose()                           # the running job is handed to ``requeue``

The job's own code (``Work.run``) checks its ``cancel`` event between steps; it may run parts on
threads, which is why the event is a ``threading.Event``. A job that raises is handed to
``Work.crashed`` and the queue goes on with the next: one bad job never stops the runner.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine, Iterable
from typing import Any, Protocol

logger = logging.getLogger(__name__)


class Work(Protocol):
    async def run(self, job_id: str, cancel: threading.Event) -> None:
        """Run the job to its end (or until ``cancel`` is set)."""

    async def requeue(self, job_id: str) -> None:
        """The server is shutting down mid-run: leave the job so the next start takes it up."""

    async def crashed(self, job_id: str) -> None:
        """``run`` raised: record the job as failed."""


class JobQueue:
    def __init__(self, work: Work, *, name: str) -> None:
        self._work = work
        self._name = name
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._current: str | None = None
        self.cancel_event = threading.Event()  # the running job's
        self.closing = False

    @property
    def current(self) -> str | None:
        """The id of the running job, if any."""
        return self._current

    def start(self, queued: Iterable[str]) -> None:
        for job_id in queued:
            self._queue.put_nowait(job_id)
        self._worker = asyncio.create_task(self._loop(), name=self._name)

    def put(self, job_id: str) -> None:
        self._queue.put_nowait(job_id)

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        """Run work that belongs to the queue (a new job's validation) as a task it tracks, so
        ``aclose`` cancels it too."""
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def cancel(self, job_id: str) -> None:
        """Ask the running job to stop; a queued one is skipped by its own status check."""
        if self._current == job_id:
            self.cancel_event.set()

    async def aclose(self) -> None:
        self.closing = True
        self.cancel_event.set()
        for task in [*self._tasks, *([self._worker] if self._worker else [])]:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._worker is not None:
            await asyncio.gather(self._worker, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            job_id = await self._queue.get()
            self._current, self.cancel_event = job_id, threading.Event()
            try:
                await self._work.run(job_id, self.cancel_event)
            except asyncio.CancelledError:
                await self._work.requeue(job_id)
                raise
            except Exception:  # never let one job stop the runner
                logger.exception("%s: job %s crashed", self._name, job_id)
                await self._work.crashed(job_id)
            finally:
                self._current = None
