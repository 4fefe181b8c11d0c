"""``UpstreamBatches``: batches of every endpoint but ``/v1/embeddings`` run on the upstream.

Usage::

    proxy = UpstreamBatches(client, store, UpstreamFiles(client, store, files, ...))
    upstream_id = await proxy.create(batch, request)   # uploads the input file once, creates
    batch = await proxy.refresh(record)                # retrieve; cancel likewise

The client sees our batch id, our input file id, and our ids for the output and error files
(``GET /v1/files/{id}/content`` fetches them upstream with the server's key); the upstream's
ids stay inside semsearch, as for proxied fine-tuning jobs. Creating is not retried once the
request may have reached the upstream (a duplicate batch would be run and billed twice).
"""

from __future__ import annotations

from typing import Any, cast

from service.batches.schemas import (
    Batch,
    CreateBatchRequest,
    Status,
    UpstreamBatch,
    json_encoder,
    upstream_batch_decoder,
)
from service.batches.store import BatchRecord, BatchStore
from service.embeddings import UpstreamClient
from service.jobs import UpstreamFiles
from service.jobs.upstream_files import decode

_COPIED = (
    "expires_at",
    "errors",
    "in_progress_at",
    "finalizing_at",
    "completed_at",
    "failed_at",
    "expired_at",
    "cancelling_at",
    "cancelled_at",
    "usage",
)


class UpstreamBatches:
    def __init__(self, client: UpstreamClient, store: BatchStore, files: UpstreamFiles) -> None:
        self._client = client
        self._store = store
        self.files = files

    async def create(self, batch: Batch, request: CreateBatchRequest) -> str:
        """Create the upstream batch; fills ``batch`` from the answer, returns the upstream id."""
        body: dict[str, Any] = {
            "input_file_id": await self.files.upload(request.input_file_id, "batch"),
            "endpoint": request.endpoint,
            "completion_window": request.completion_window,
        }
        if request.metadata is not None:
            body["metadata"] = request.metadata
        if request.output_expires_after is not None:
            body["output_expires_after"] = {
                "anchor": request.output_expires_after.anchor,
                "seconds": request.output_expires_after.seconds,
            }
        response = await self._client.request(
            "POST",
            "/batches",
            content=json_encoder.encode(body),
            headers={"content-type": "application/json"},
            idempotent=False,
        )
        upstream = decode(upstream_batch_decoder, response.content, "batch")
        await self._merge(batch, upstream)
        return upstream.id

    async def refresh(self, record: BatchRecord) -> Batch:
        response = await self._client.request("GET", f"/batches/{record.upstream_id}")
        return await self._save(record, response.content)

    async def cancel(self, record: BatchRecord) -> Batch:
        response = await self._client.request("POST", f"/batches/{record.upstream_id}/cancel")
        return await self._save(record, response.content)

    async def _save(self, record: BatchRecord, content: bytes) -> Batch:
        upstream = decode(upstream_batch_decoder, content, "batch")
        await self._merge(record.batch, upstream)
        await self._store.run(self._store.save, record.batch)
        return record.batch

    async def _merge(self, batch: Batch, upstream: UpstreamBatch) -> None:
        """Copy what the upstream owns into our record, its file ids swapped for ours."""
        batch.status = cast(Status, upstream.status)  # passed through as the upstream says
        for name in _COPIED:
            setattr(batch, name, getattr(upstream, name))
        if upstream.request_counts is not None:
            batch.request_counts = upstream.request_counts
        if upstream.model is not None:
            batch.model = upstream.model
        for ours, theirs in (
            ("output_file_id", upstream.output_file_id),
            ("error_file_id", upstream.error_file_id),
        ):
            setattr(batch, ours, await self.files.localise(theirs, batch.id) if theirs else None)
