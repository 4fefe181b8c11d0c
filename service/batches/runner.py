"""``BatchRunner``: runs local ``/v1/embeddings`` batches, one at a time, chunk by chunk.

Usage::

    runner = BatchRunner(store, files, embeddings, settings.data_dir / "batches")
    runner.start(store.recover())       # interrupted batches resume first
    runner.submit(batch_id)             # a new batch, behind the others
    runner.cancel(batch_id)             # the running batch stops after its current chunk

Each chunk (at most 256 requests and 2048 inputs) goes through ``EmbeddingService`` exactly as
``POST /v1/embeddings`` would (the cache, the local model, or the upstream with its concurrency
limit, retries and ``Retry-After``); requests of one model are embedded in one call. Its answers
are appended to the output and error files, fsynced, and only then committed with the counts
(``output.py``, ``store.py``): a restart resumes after the last committed chunk, and no line is
written twice or lost. The queue and restart recovery are ``service.jobs``', as fine-tuning's.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast

import msgspec

from service.batches.input import InputReader, Request
from service.batches.output import PartFile, line_ids
from service.batches.schemas import (
    Batch,
    BatchError,
    BatchErrors,
    OutputLine,
    ResponsePart,
)
from service.batches.store import BatchStore, Progress
from service.embeddings import EmbeddingService, Inputs
from service.embeddings.schemas import CreateEmbeddingRequest, embedding_response, split_input
from service.errors import InvalidRequestError, ServiceError
from service.files import FileStore
from service.handlers import invalid_request
from service.jobs import JobQueue

logger = logging.getLogger(__name__)
CHUNK_REQUESTS = 256
CHUNK_INPUTS = 2048
Level = Literal["info", "warn", "error"]
PartKind = Literal["output", "error"]


@dataclass(slots=True)
class Prepared:
    """A request whose body is a valid embeddings request."""

    request: Request
    body: CreateEmbeddingRequest
    inputs: list[str] | list[list[int]]


@dataclass(slots=True)
class Answers:
    """One chunk's lines, in input order."""

    output: list[OutputLine] = field(default_factory=list)
    errors: list[OutputLine] = field(default_factory=list)
    tokens: int = 0


class BatchRunner:
    def __init__(
        self, store: BatchStore, files: FileStore, embeddings: EmbeddingService, work_dir: Path
    ) -> None:
        self.store = store
        self.files = files
        self.embeddings = embeddings
        self.work_dir = work_dir
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
                answers = await self._answer(batch_id, requests)
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

    async def _answer(self, batch_id: str, requests: list[Request]) -> Answers:
        """Every request of a chunk answered as ``POST /v1/embeddings`` would answer it."""
        lines: dict[int, tuple[OutputLine, int | None]] = {}  # input line -> (line, tokens)
        groups: dict[tuple[str, int | None, bool], list[Prepared]] = {}
        for request in requests:
            try:
                body = msgspec.convert(request.body, CreateEmbeddingRequest)
                try:
                    inputs = split_input(body.input)
                except ValueError as exc:
                    raise InvalidRequestError(str(exc), param="input") from None
                self.embeddings.resolve(body.model)
            except msgspec.ValidationError as exc:
                lines[request.line] = (
                    self._failed(batch_id, request, invalid_request(str(exc))),
                    None,
                )
                continue
            except ServiceError as exc:
                lines[request.line] = (self._failed(batch_id, request, exc), None)
                continue
            key = (body.model, body.dimensions, isinstance(inputs[0], str))
            groups.setdefault(key, []).append(Prepared(request, body, inputs))
        for members in groups.values():
            for member, line, used in await self._embed_group(batch_id, members):
                lines[member.request.line] = (line, used)
        answers = Answers()
        for number in sorted(lines):
            line, used = lines[number]
            if used is None:
                answers.errors.append(line)
            else:
                answers.output.append(line)
                answers.tokens += used
        return answers

    async def _embed_group(
        self, batch_id: str, members: list[Prepared]
    ) -> list[tuple[Prepared, OutputLine, int | None]]:
        """One embedding call for requests of one model and input kind: each request's line and
        tokens (None: it failed). When the call fails for a reason of the requests' own (a
        4xx), each request is tried alone so only the bad ones fail."""
        first = members[0].body
        everything = cast(Inputs, [item for member in members for item in member.inputs])
        try:
            result = await self.embeddings.embed(first.model, everything, first.dimensions)
        except ServiceError as exc:
            if len(members) > 1 and exc.status < 500 and exc.status != 429:
                alone = []
                for member in members:
                    alone += await self._embed_group(batch_id, [member])
                return alone
            return [(m, self._failed(batch_id, m.request, exc), None) for m in members]
        out: list[tuple[Prepared, OutputLine, int | None]] = []
        start = 0
        for member in members:
            stop = start + len(member.inputs)
            used = sum(result.tokens[start:stop])
            body = embedding_response(
                result.vectors[start:stop], result.model, used, member.body.encoding_format
            )
            line_id, request_id = line_ids(batch_id, member.request.line)
            response = ResponsePart(status_code=200, request_id=request_id, body=body)
            line = OutputLine(id=line_id, custom_id=member.request.custom_id, response=response)
            out.append((member, line, used))
            start = stop
        return out

    def _failed(self, batch_id: str, request: Request, exc: ServiceError) -> OutputLine:
        line_id, request_id = line_ids(batch_id, request.line)
        response = ResponsePart(status_code=exc.status, request_id=request_id, body=exc.body())
        return OutputLine(id=line_id, custom_id=request.custom_id, response=response)

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


def _set(**values: object) -> Callable[[Batch], None]:
    def change(batch: Batch) -> None:
        for name, value in values.items():
            setattr(batch, name, value)

    return change


def _in_progress(batch: Batch) -> None:
    batch.status, batch.in_progress_at = "in_progress", int(time.time())


def _finalizing(batch: Batch) -> None:
    batch.status, batch.finalizing_at = "finalizing", int(time.time())
