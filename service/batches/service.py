"""``BatchService``: what the ``/v1/batches`` routes call.

A batch whose ``endpoint`` is ``/v1/embeddings`` runs here (``runner.py``); any other is created
on the upstream and proxied (``upstream.py``); with no upstream configured, those are a 400
naming ``SEMSEARCH_UPSTREAM_URL``. Either way the input file is checked whole first, and a bad
line is a 400 that names it (``input.py``).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time

import httpx

from service.batches.input import validate_input
from service.batches.runner import BatchRunner
from service.batches.schemas import (
    LOCAL_ENDPOINT,
    TERMINAL,
    Batch,
    BatchRequestCounts,
    CreateBatchRequest,
)
from service.batches.store import BatchStore, Progress, new_batch_id
from service.batches.upstream import UpstreamBatches
from service.embeddings import EmbeddingService, UpstreamClient
from service.errors import InvalidRequestError, NotFoundError
from service.files import FileStore, OpenAIFile
from service.jobs import UpstreamFiles
from service.jobs.refresh import refresh_in_flight
from service.metrics import Metrics
from service.settings import Settings

logger = logging.getLogger(__name__)
COMPLETION_WINDOW = 24 * 3600


def _file_id() -> str:
    return "file-" + secrets.token_hex(12)


class BatchService:
    def __init__(
        self,
        store: BatchStore,
        files: FileStore,
        runner: BatchRunner,
        remote_files: UpstreamFiles,
        upstream: UpstreamBatches | None,
    ) -> None:
        self.store = store
        self.files = files
        self.runner = runner
        self.remote_files = remote_files
        self.upstream = upstream

    @classmethod
    async def open(
        cls,
        settings: Settings,
        http: httpx.AsyncClient | None,
        metrics: Metrics,
        embeddings: EmbeddingService,
        files: FileStore,
    ) -> BatchService:
        """Open the store, resume interrupted local batches, start the runner. Undo with
        ``aclose``."""
        store = await asyncio.to_thread(BatchStore.open, settings.data_dir / "batches.sqlite3")
        client = None
        if settings.upstream_url is not None and http is not None:
            client = UpstreamClient(http, settings, metrics)
        remote = UpstreamFiles(
            client, store, files, result_purpose="batch_output", result_extension=".jsonl"
        )
        upstream = UpstreamBatches(client, store, remote) if client is not None else None
        runner = BatchRunner(store, files, embeddings, settings.data_dir / "batches")
        runner.start(await asyncio.to_thread(store.recover))
        return cls(store, files, runner, remote, upstream)

    async def aclose(self) -> None:
        await self.runner.aclose()
        await asyncio.to_thread(self.store.close)

    async def create(self, request: CreateBatchRequest) -> Batch:
        local = request.endpoint == LOCAL_ENDPOINT
        if not local and self.upstream is None:
            raise InvalidRequestError(
                f"Batches for {request.endpoint} run on the upstream, and none is configured: "
                "set SEMSEARCH_UPSTREAM_URL. Only /v1/embeddings batches run in semsearch itself.",
                param="endpoint",
                code="upstream_not_configured",
            )
        info = await self._input_file(request.input_file_id)
        path = self.files.path(info.id)
        summary = await asyncio.to_thread(
            validate_input, path, request.input_file_id, request.endpoint
        )
        now = int(time.time())
        batch = Batch(
            id=new_batch_id(),
            endpoint=request.endpoint,
            input_file_id=request.input_file_id,
            completion_window=request.completion_window,
            status="validating",
            created_at=now,
            expires_at=now + COMPLETION_WINDOW,
            request_counts=BatchRequestCounts(total=summary.requests),
            metadata=request.metadata,
            model=summary.model,
        )
        if not local:
            assert self.upstream is not None
            upstream_id = await self.upstream.create(batch, request)
            await self.store.run(
                lambda: self.store.insert(batch, kind="upstream", upstream_id=upstream_id)
            )
            await self._event(batch.id, f"Created upstream batch {upstream_id}.")
            return batch
        expires = request.output_expires_after
        progress = Progress(
            output_file_id=_file_id(),
            error_file_id=_file_id(),
            expires_after=expires.seconds if expires is not None else None,
        )
        await self.store.run(self.store.insert_local, batch, progress)
        await self._event(batch.id, f"Created: {summary.requests} requests, run in semsearch.")
        self.runner.submit(batch.id)
        return batch

    async def _input_file(self, file_id: str) -> OpenAIFile:
        try:
            info = await self.files.run(self.files.get, file_id)
        except NotFoundError:
            raise InvalidRequestError(
                f"invalid input_file_id: no such file {file_id!r}",
                param="input_file_id",
                code="invalid_file_id",
            ) from None
        if info.purpose != "batch":
            raise InvalidRequestError(
                f"invalid input_file_id: file {file_id} has purpose {info.purpose!r}, "
                "expected 'batch'",
                param="input_file_id",
                code="invalid_file_purpose",
            )
        return info

    async def get(self, batch_id: str) -> Batch:
        record = await self.store.run(self.store.get, batch_id)
        if record.kind == "upstream" and self.upstream is not None:
            return await self.upstream.refresh(record)
        return record.batch

    async def list_page(self, *, limit: int, after: str | None) -> tuple[list[Batch], bool]:
        """Newest first; upstream batches still in flight are refreshed (best effort: an
        unreachable upstream leaves the stored record)."""
        records, has_more = await self.store.run(
            lambda: self.store.list_page(limit=limit, after=after)
        )
        refresh = self.upstream.refresh if self.upstream is not None else None
        batches = await refresh_in_flight(records, lambda r: r.batch, refresh, TERMINAL)
        return batches, has_more

    async def cancel(self, batch_id: str) -> Batch:
        """A batch not started yet is cancelled at once; a running one is ``cancelling`` until
        its current chunk is written, then ``cancelled`` with what it finished."""
        record = await self.store.run(self.store.get, batch_id)
        if record.kind == "upstream":
            if self.upstream is None:
                raise InvalidRequestError("No upstream is configured for this batch.")
            return await self.upstream.cancel(record)
        now = int(time.time())

        def cancelled(batch: Batch) -> None:
            batch.status, batch.cancelling_at, batch.cancelled_at = "cancelled", now, now

        def cancelling(batch: Batch) -> None:
            batch.status, batch.cancelling_at = "cancelling", now

        store = self.store
        batch = await store.run(store.transition, batch_id, ("validating",), cancelled)
        if batch is None:
            batch = await store.run(store.transition, batch_id, ("in_progress",), cancelling)
            if batch is not None:
                self.runner.cancel(batch_id)
        if batch is None:
            current = await store.run(store.body, batch_id)
            if current.status == "cancelling":
                return current
            raise InvalidRequestError(
                f"Batch {batch_id} is {current.status}; it cannot be cancelled.",
                param="batch_id",
                code="batch_not_cancellable",
            )
        await self._event(batch_id, f"Cancel requested; the batch is {batch.status}.")
        return batch

    async def result_file(self, file_id: str) -> OpenAIFile | None:
        """A proxied batch's output or error file under our id, or None when it is not one."""
        return await self.remote_files.info(file_id)

    async def result_file_content(self, file_id: str) -> tuple[OpenAIFile, bytes] | None:
        return await self.remote_files.content(file_id)

    async def _event(self, batch_id: str, message: str) -> None:
        logger.info("batch %s: %s", batch_id, message)
        await self.store.run(lambda: self.store.add_event(batch_id, message))
