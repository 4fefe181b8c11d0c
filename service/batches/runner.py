"""``BatchRunner``: runs local ``/v1/embeddings`` batches, one at a time, chunk by chunk.

Usage::

    runner = BatchRunner(store, files, embeddings, settings.data_dir / "batches")
    runner.start(store.recover())       # interrupted batches resume first
    runner.submit(batch_id)             # a new batch, behind the others
    runner.cancel(batch_id)             # the running batch stops after its current chunk

Each chunk (at most 256 requests and 2048 inputs) goes through ``EmbeddingService`` exactly as
``POST /v1/embeddings`` would (``answers.py``: the cache, the local model, or the upstream with
its concurrency limit, retries and ``Retry-After``; one call per model). Its answers
are appended to the output and error files, fsynced, and only then committed with the counts
(``output.py``, ``store.py``): a restart resumes after the last committed chunk, and no line is
written twice or lost. The queue and restart recovery are ``service.jobs``', as fine-tuning's.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path
from typing import Literal

from service.batches.answers import Answers, EmbeddingAnswers
from service.batches.input import InputReader
from service.batches.output import PartFile
from service.batches.schemas import (
    Batch,
    BatchError,
    BatchErrors,
)
from service.batches.store import BatchStore, Progress
from service.embeddings import EmbeddingService
from service.files import FileStore
from service.jobs import JobQueue

logger = logging.getLogger(__name__)
CHUNK_REQUESTS = 256
CHUNK_INPUTS = 2048
Level = Literal["info", "warn", "error"]
PartKind = Literal["output", "error"]


class BatchRunner:
    def __init__(
        self, store: BatchStore, files: FileStore, embeddings: EmbeddingService, work_dir: Path
    ) -> None:
        self.store = store
        self.files = files
        self.embeddings = embeddings
        self.work_dir = work_dir
        self.answers = EmbeddingAnswers(embeddings)
        self.jobs = JobQueue(self, name="batch-runner")

    def start(self, queued: list[str]) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.jobs.start(queued)

    def submit(self, batch_id: str) -> None:
        self.jobs.put(batch_id)

    def cancel(self, batch_id: str) -> None:
        self.jobs.cancel(batch_id)

    async def aclose(self) -> None:
        await self.jobs.aclose()

    def part(self, batch_id: str, kind: PartKind) -> Path:
        return self.work_dir / f"{batch_id}.{kind}.jsonl"

    # -- JobQueue's work --------------------------------------------------------------------

    async def run(self, batch_id: str, cancel: threading.Event) -> None:
        store = self.store
        batch: Batch | None = await store.run(store.body, batch_id)
        assert batch is not None
        if batch.status == "validating":
            batch = await store.run(store.transition, batch_id, ("validating",), _in_progress)
            if batch is None:  # cancelled before its turn
                return
            await self._event(
                batch_id, f"Started: {batch.request_counts.total} requests to /v1/embeddings."
            )
        if batch.status == "in_progress":
            try:
                await self._process(batch, cancel)
            except FileNotFoundError:
                await self._fail(batch_id, "input_file_missing", "The input file was deleted.")
                return
        if self.jobs.closing:
            return
        status = (await store.run(store.body, batch_id)).status
        if status in ("in_progress", "finalizing"):
            await self._finish(batch_id, "completed")
        elif status == "cancelling":
            await self._finish(batch_id, "cancelled")

    async def requeue(self, batch_id: str) -> None:
        """Shutdown mid-batch: nothing to undo, the next start resumes after the last chunk."""
        try:
            self.store.add_event(
                batch_id, "The server is shutting down; the batch resumes at the next start."
            )
        except Exception:  # the store may be closing too
            logger.exception("could not record the shutdown of batch %s", batch_id)

    async def crashed(self, batch_id: str) -> None:
        await self._fail(batch_id, "server_error", "Internal error while running the batch.")

    # -- in_progress: chunk after chunk -----------------------------------------------------

    async def _process(self, batch: Batch, cancel: threading.Event) -> None:
        store, batch_id = self.store, batch.id
        progress = await store.run(store.progress, batch_id)
        input_path = self.files.path(batch.input_file_id)
        reader = await asyncio.to_thread(
            InputReader, input_path, progress.input_offset, progress.line
        )
        output, errors = await asyncio.to_thread(
            lambda: (
                PartFile(self.part(batch_id, "output"), progress.output_bytes),
                PartFile(self.part(batch_id, "error"), progress.error_bytes),
            )
        )
        if progress.line:
            await self._event(batch_id, f"Resuming after line {progress.line} of the input file.")
        try:
            while not cancel.is_set():
                requests = await asyncio.to_thread(reader.chunk, CHUNK_REQUESTS, CHUNK_INPUTS)
                if not requests:
                    return
                answers = await self.answers.answer(batch_id, requests)
                await asyncio.to_thread(output.append, answers.output)
                await asyncio.to_thread(errors.append, answers.errors)
                progress.input_offset, progress.line = reader.offset, reader.line
                progress.output_bytes, progress.error_bytes = output.size, errors.size
                status = await store.run(self._commit, batch_id, progress, answers)
                if status != "in_progress":  # cancelling
                    return
        finally:
            for handle in (reader, output, errors):
                handle.close()

    def _commit(self, batch_id: str, progress: Progress, answers: Answers) -> str:
        return self.store.commit_chunk(
            batch_id,
            progress,
            completed=len(answers.output),
            failed=len(answers.errors),
            tokens=answers.tokens,
        )

    # -- the end: finalizing -> completed | cancelled, or failed ----------------------------

    async def _finish(self, batch_id: str, final: Literal["completed", "cancelled"]) -> None:
        store = self.store
        if final == "completed":
            await store.run(store.transition, batch_id, ("in_progress",), _finalizing)
        progress = await store.run(store.progress, batch_id)
        batch = await store.run(store.body, batch_id)
        counts = batch.request_counts
        kept: dict[str, str | None] = {}
        parts: list[tuple[PartKind, int, str, int]] = [
            ("output", counts.completed, progress.output_file_id, progress.output_bytes),
            ("error", counts.failed, progress.error_file_id, progress.error_bytes),
        ]
        for kind, count, file_id, size in parts:
            kept[kind] = None
            path = self.part(batch_id, kind)
            if count == 0:
                path.unlink(missing_ok=True)
                continue
            await self.files.run(
                self._adopt, path, size, file_id, f"{batch_id}_{kind}.jsonl", progress
            )
            kept[kind] = file_id
        now = int(time.time())

        def done(b: Batch) -> None:
            b.status = final
            b.output_file_id, b.error_file_id = kept["output"], kept["error"]
            if final == "completed":
                b.completed_at = now
            else:
                b.cancelled_at = now

        allowed = ("finalizing",) if final == "completed" else ("cancelling",)
        if await store.run(store.transition, batch_id, allowed, done):
            await self._event(
                batch_id,
                f"Batch {final}: {counts.completed} requests succeeded, {counts.failed} failed"
                + (
                    f", {counts.total - counts.completed - counts.failed} not run."
                    if final == "cancelled"
                    else "."
                ),
            )

    def _adopt(self, path: Path, size: int, file_id: str, name: str, progress: Progress) -> None:
        """Cut the file back to what was committed (a crash may have left more), then hand it
        to the Files API."""
        if path.exists():
            PartFile(path, size).close()
        self.files.adopt(
            path,
            file_id=file_id,
            filename=name,
            purpose="batch_output",
            expires_after=progress.expires_after,
        )

    async def _fail(self, batch_id: str, code: str, message: str) -> None:
        def failed(b: Batch) -> None:
            b.status, b.failed_at = "failed", int(time.time())
            b.errors = BatchErrors(data=[BatchError(code=code, message=message)])

        active = ("validating", "in_progress", "finalizing", "cancelling")
        if await self.store.run(self.store.transition, batch_id, active, failed):
            await self._event(batch_id, f"Batch failed: {message}", "error")

    async def _event(self, batch_id: str, message: str, level: Level = "info") -> None:
        logger.info("batch %s: %s", batch_id, message)
        await self.store.run(lambda: self.store.add_event(batch_id, message, level=level))


def _in_progress(batch: Batch) -> None:
    batch.status, batch.in_progress_at = "in_progress", int(time.time())


def _finalizing(batch: Batch) -> None:
    batch.status, batch.finalizing_at = "finalizing", int(time.time())
