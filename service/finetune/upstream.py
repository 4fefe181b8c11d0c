"""``UpstreamJobs``: semsearch as the gateway to an upstream's Files and Fine-tuning APIs.

Usage::

    proxy = UpstreamJobs(client, store, UpstreamFiles(client, store, files, ...))
    job = await proxy.create(local_job, request_body)    # uploads files once, creates upstream
    job = await proxy.refresh(record)                    # retrieve / cancel / events likewise

Every call goes through ``UpstreamClient.request``, so retries, backoff, ``Retry-After`` and the
error mapping are those of the embeddings (issue 3); clients never see the upstream key. The
local record keeps our job id and our file ids; the upstream's ids stay inside semsearch
(``service.jobs.UpstreamFiles``, shared with proxied batches).
"""

from __future__ import annotations

import logging
from typing import Any, cast

from service.embeddings import UpstreamClient
from service.finetune.schemas import (
    FineTuningJob,
    FineTuningJobCheckpoint,
    FineTuningJobEvent,
    Status,
    UpstreamJob,
    json_encoder,
    upstream_checkpoints_decoder,
    upstream_events_decoder,
    upstream_job_decoder,
)
from service.finetune.store import JobRecord, JobStore
from service.jobs import UpstreamFiles
from service.jobs.upstream_files import decode as _decode

logger = logging.getLogger(__name__)


def merge(job: FineTuningJob, upstream: UpstreamJob) -> None:
    """Copy what the upstream owns (status, model, results...) into our record."""
    job.status = cast(Status, upstream.status)  # passed through as the upstream says
    job.fine_tuned_model = upstream.fine_tuned_model
    job.finished_at = upstream.finished_at
    job.trained_tokens = upstream.trained_tokens
    job.result_files = list(upstream.result_files)
    job.error = upstream.error
    job.estimated_finish = upstream.estimated_finish
    if upstream.hyperparameters is not None:
        job.hyperparameters = upstream.hyperparameters
    if upstream.method is not None:
        job.method = upstream.method
    if upstream.seed is not None:
        job.seed = upstream.seed


class UpstreamJobs:
    def __init__(self, client: UpstreamClient, store: JobStore, files: UpstreamFiles) -> None:
        self._client = client
        self._store = store
        self.files = files

    async def create(self, job: FineTuningJob, request: dict[str, Any]) -> str:
        """Create the upstream job from the client's request; fills ``job`` from the answer
        and returns the upstream's job id."""
        body = dict(request)
        body["training_file"] = await self.files.upload(job.training_file, "fine-tune")
        if job.validation_file is not None:
            body["validation_file"] = await self.files.upload(job.validation_file, "fine-tune")
        body["seed"] = job.seed
        response = await self._client.request(
            "POST",
            "/fine_tuning/jobs",
            content=json_encoder.encode(body),
            headers={"content-type": "application/json"},
            idempotent=False,
        )
        upstream: UpstreamJob = _decode(upstream_job_decoder, response.content, "fine-tuning job")
        merge(job, upstream)
        await self._localise_results(job)
        return upstream.id

    async def refresh(self, record: JobRecord) -> FineTuningJob:
        """Retrieve the job upstream and store what changed."""
        response = await self._client.request("GET", f"/fine_tuning/jobs/{record.upstream_id}")
        return await self._save(record, response.content)

    async def cancel(self, record: JobRecord) -> FineTuningJob:
        path = f"/fine_tuning/jobs/{record.upstream_id}/cancel"
        response = await self._client.request("POST", path)
        return await self._save(record, response.content)

    async def events(
        self, record: JobRecord, *, limit: int, after: str | None
    ) -> tuple[list[FineTuningJobEvent], bool]:
        """The upstream's events page, also kept locally (so they outlive the upstream)."""
        params = {"limit": str(limit)}
        if after is not None:
            params["after"] = after
        path = f"/fine_tuning/jobs/{record.upstream_id}/events"
        response = await self._client.request("GET", path, params=params)
        page = _decode(upstream_events_decoder, response.content, "event list")
        # Pages come newest first; store oldest first so local order matches.
        await self._store.run(self._store.put_events, record.job.id, page.data[::-1])
        return page.data, page.has_more

    async def checkpoints(
        self, record: JobRecord, *, limit: int, after: str | None
    ) -> tuple[list[FineTuningJobCheckpoint], bool]:
        """The upstream's checkpoints page, under our job id, also kept locally."""
        params = {"limit": str(limit)}
        if after is not None:
            params["after"] = after
        path = f"/fine_tuning/jobs/{record.upstream_id}/checkpoints"
        response = await self._client.request("GET", path, params=params)
        page = _decode(upstream_checkpoints_decoder, response.content, "checkpoint list")
        for checkpoint in page.data:
            checkpoint.fine_tuning_job_id = record.job.id
        await self._store.run(self._store.put_checkpoints, record.job.id, page.data[::-1])
        return page.data, page.has_more

    async def _save(self, record: JobRecord, content: bytes) -> FineTuningJob:
        upstream = _decode(upstream_job_decoder, content, "fine-tuning job")
        job = record.job
        merge(job, upstream)
        await self._localise_results(job)
        await self._store.run(self._store.save, job)
        return job

    async def _localise_results(self, job: FineTuningJob) -> None:
        """Result files get ids of ours (``GET /v1/files/{id}/content`` fetches them upstream):
        the upstream's ids stay inside semsearch, as the training files' do."""
        job.result_files = [
            await self.files.localise(upstream_id, job.id) for upstream_id in job.result_files
        ]
