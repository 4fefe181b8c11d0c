"""``FineTuningService``: what the ``/v1/fine_tuning`` routes call; routes each job by model.

Routing rule (issue 5), in order:

1. a local adapter (``ft:`` served here) cannot be fine-tuned again: 400 (train its base);
2. the local model -> a local adapter job;
3. a model the embedding layer sends upstream that is an *embedding* model -> a local adapter
   job over the upstream's vectors. An upstream model counts as an embedding model when it is
   listed in ``SEMSEARCH_UPSTREAM_MODELS`` or its id contains ``embed`` (``text-embedding-3-small``,
   ``nomic-embed-text``); anything else (``gpt-4o-mini``) is a chat model;
4. a chat model, or any id unknown here while an upstream is configured -> an upstream job
   proxied through semsearch; with no upstream, 400.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Any, Literal

import httpx
import msgspec

from service.embeddings import EmbeddingService, UpstreamClient
from service.errors import (
    InvalidRequestError,
    ModelNotFoundError,
    ServiceError,
)
from service.files import FileStore, OpenAIFile
from service.finetune.adapters import AdapterModels
from service.finetune.runner import JobRunner
from service.finetune.schemas import (
    TERMINAL,
    CreateFineTuningJobRequest,
    FineTuningJob,
    FineTuningJobCheckpoint,
    FineTuningJobEvent,
    Hyperparameters,
)
from service.finetune.store import JobStore, new_job_id
from service.finetune.upstream import UpstreamJobs
from service.jobs import UpstreamFiles
from service.jobs.refresh import refresh_in_flight
from service.metrics import Metrics
from service.settings import Settings

logger = logging.getLogger(__name__)
ORGANIZATION = "org-semsearch"
SUFFIX_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def is_embedding_model(model: str, upstream_models: tuple[str, ...]) -> bool:
    """Rule 3 above: configured upstream embedding ids, or ``embed`` in the id."""
    return model in upstream_models or "embed" in model.lower()


class FineTuningService:
    def __init__(
        self,
        store: JobStore,
        files: FileStore,
        embeddings: EmbeddingService,
        adapters: AdapterModels,
        runner: JobRunner,
        upstream: UpstreamJobs | None,
        upstream_models: tuple[str, ...] = (),
        remote_files: UpstreamFiles | None = None,
    ) -> None:
        self.store = store
        self.files = files
        self.embeddings = embeddings
        self.adapters = adapters
        self.runner = runner
        self.upstream = upstream
        self.upstream_models = upstream_models
        self.remote_files = remote_files or UpstreamFiles(
            None, store, files, result_purpose="fine-tune-results", result_extension=".csv"
        )

    @classmethod
    async def open(
        cls,
        settings: Settings,
        http: httpx.AsyncClient | None,
        metrics: Metrics,
        embeddings: EmbeddingService,
        files: FileStore,
    ) -> FineTuningService:
        """Open the job store and adapters, register ``ft:`` models, re-queue interrupted
        jobs and start the runner. Undo with ``aclose``."""
        data = settings.data_dir
        store = await asyncio.to_thread(JobStore.open, data / "fine_tuning.sqlite3")
        adapters = await asyncio.to_thread(AdapterModels.open, data / "adapters", embeddings)
        embeddings.register(adapters, "finetune", adapters)
        upstream = None
        client = None
        if settings.upstream_url is not None and http is not None:
            client = UpstreamClient(http, settings, metrics)
        remote = UpstreamFiles(
            client, store, files, result_purpose="fine-tune-results", result_extension=".csv"
        )
        if client is not None:
            upstream = UpstreamJobs(client, store, remote)
        runner = JobRunner(store, files, embeddings, adapters)
        runner.start(await asyncio.to_thread(store.recover))
        return cls(
            store,
            files,
            embeddings,
            adapters,
            runner,
            upstream,
            settings.upstream_models,
            remote,
        )

    async def aclose(self) -> None:
        await self.runner.aclose()
        await asyncio.to_thread(self.store.close)

    def route(self, model: str) -> Literal["local", "upstream"]:
        adapter = self.adapters.get(model)
        if adapter is not None:
            raise InvalidRequestError(
                f"{model} is a semsearch adapter; fine-tune its base model "
                f"{adapter.base!r} instead.",
                param="model",
                code="model_not_available",
            )
        try:
            info = self.embeddings.resolve(model)
        except ModelNotFoundError:
            info = None
        if info is not None and info.provider == "local":
            return "local"
        if info is not None and is_embedding_model(model, self.upstream_models):
            return "local"
        if self.upstream is not None:
            return "upstream"
        raise InvalidRequestError(
            f"Model {model!r} is not available for fine-tuning: it is not an embedding model "
            "semsearch serves, and no upstream is configured.",
            param="model",
            code="model_not_available",
        )

    async def _check_file(self, file_id: str | None, param: str) -> None:
        if file_id is None:
            return
        try:
            info = await self.files.run(self.files.get, file_id)
        except ServiceError:
            raise InvalidRequestError(
                f"invalid {param}: no such file {file_id!r}", param=param, code="invalid_file_id"
            ) from None
        if info.purpose != "fine-tune":
            raise InvalidRequestError(
                f"invalid {param}: file {file_id} has purpose {info.purpose!r}, "
                "expected 'fine-tune'",
                param=param,
                code="invalid_file_purpose",
            )

    async def create(self, request: CreateFineTuningJobRequest) -> FineTuningJob:
        kind = self.route(request.model)
        if request.suffix is not None and not set(request.suffix) <= SUFFIX_CHARS:
            raise InvalidRequestError(
                "suffix may only contain letters, digits, '-', '_' and '.'", param="suffix"
            )
        method = request.method
        if kind == "local" and method is not None and method.type != "supervised":
            raise InvalidRequestError(
                f"method {method.type!r} is not available for embedding adapters; use 'supervised'",
                param="method.type",
            )
        await self._check_file(request.training_file, "training_file")
        await self._check_file(request.validation_file, "validation_file")
        hyper = request.hyperparameters or Hyperparameters()
        if method is not None and method.supervised and method.supervised.hyperparameters:
            hyper = method.supervised.hyperparameters
        hyperparameters = msgspec.to_builtins(hyper)
        seed = request.seed if request.seed is not None else secrets.randbelow(2_147_483_648)
        job = FineTuningJob(
            id=new_job_id(),
            created_at=int(time.time()),
            error=None,
            fine_tuned_model=None,
            finished_at=None,
            hyperparameters=hyperparameters,
            model=request.model,
            organization_id=ORGANIZATION,
            result_files=[],
            status="validating_files",
            trained_tokens=None,
            training_file=request.training_file,
            validation_file=request.validation_file,
            seed=seed,
            integrations=msgspec.to_builtins(request.integrations or []),
            method=msgspec.to_builtins(method)
            if method is not None
            else {"type": "supervised", "supervised": {"hyperparameters": hyperparameters}},
            metadata=request.metadata,
        )
        if kind == "upstream":
            assert self.upstream is not None
            raw: dict[str, Any] = msgspec.to_builtins(request)
            body = {key: value for key, value in raw.items() if value is not None}
            upstream_id = await self.upstream.create(job, body)
            await self.store.run(
                lambda: self.store.insert(
                    job, kind="upstream", upstream_id=upstream_id, suffix=request.suffix
                )
            )
            await self._event(job.id, f"Created upstream fine-tuning job {upstream_id}.")
            return job
        await self.store.run(lambda: self.store.insert(job, kind="local", suffix=request.suffix))
        await self._event(
            job.id, f"Created fine-tuning job {job.id}: a query adapter for {request.model}."
        )
        self.runner.submit(job.id)
        return job

    async def get(self, job_id: str) -> FineTuningJob:
        record = await self.store.run(self.store.get, job_id)
        if record.kind == "upstream" and self.upstream is not None:
            return await self.upstream.refresh(record)
        return record.job

    async def list_page(
        self, *, limit: int, after: str | None, metadata: dict[str, str] | None = None
    ) -> tuple[list[FineTuningJob], bool]:
        """Local and proxied jobs, newest first; proxied jobs still in flight are refreshed
        from the upstream (best effort: an unreachable upstream leaves the stored record).
        ``metadata``: only jobs whose metadata has all these pairs (``{}``: jobs without)."""
        records, has_more = await self.store.run(
            lambda: self.store.list_page(limit=limit, after=after, metadata=metadata)
        )
        refresh = self.upstream.refresh if self.upstream is not None else None
        jobs = await refresh_in_flight(records, lambda r: r.job, refresh, TERMINAL)
        return jobs, has_more

    async def cancel(self, job_id: str) -> FineTuningJob:
        record = await self.store.run(self.store.get, job_id)
        if record.kind == "upstream":
            if self.upstream is None:
                raise InvalidRequestError("No upstream is configured for this job.")
            return await self.upstream.cancel(record)

        def cancelled(job: FineTuningJob) -> None:
            job.status, job.finished_at, job.estimated_finish = "cancelled", int(time.time()), None

        job = await self.store.run(
            self.store.transition, job_id, ("validating_files", "queued", "running"), cancelled
        )
        if job is None:
            raise InvalidRequestError(
                f"Job {job_id} has already {record.job.status}; it cannot be cancelled.",
                param="fine_tuning_job_id",
                code="job_not_cancellable",
            )
        self.runner.cancel(job_id)
        await self._event(job_id, "Fine-tuning job cancelled.")
        return job

    async def events(
        self, job_id: str, *, limit: int, after: str | None
    ) -> tuple[list[FineTuningJobEvent], bool]:
        record = await self.store.run(self.store.get, job_id)
        if record.kind == "upstream" and self.upstream is not None:
            return await self.upstream.events(record, limit=limit, after=after)
        return await self.store.run(lambda: self.store.events(job_id, limit=limit, after=after))

    async def checkpoints(
        self, job_id: str, *, limit: int, after: str | None
    ) -> tuple[list[FineTuningJobCheckpoint], bool]:
        record = await self.store.run(self.store.get, job_id)
        if record.kind == "upstream" and self.upstream is not None:
            return await self.upstream.checkpoints(record, limit=limit, after=after)
        return await self.store.run(
            lambda: self.store.checkpoints(job_id, limit=limit, after=after)
        )

    async def result_file(self, file_id: str) -> OpenAIFile | None:
        """A proxied job's result file under our id (metadata fetched upstream), or None when
        ``file_id`` is not one."""
        return await self.remote_files.info(file_id)

    async def result_file_content(self, file_id: str) -> tuple[OpenAIFile, bytes] | None:
        """Metadata and bytes of a proxied job's result file, fetched with the server's upstream
        key (never the client's); None when ``file_id`` is not one."""
        return await self.remote_files.content(file_id)

    async def _event(self, job_id: str, message: str) -> None:
        await self.store.run(lambda: self.store.add_event(job_id, message))
