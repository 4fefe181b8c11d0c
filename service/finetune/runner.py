"""``JobRunner``: validates and runs local adapter jobs, one at a time, off the event loop.

Usage::

    runner = JobRunner(store, files, embeddings, adapters)
    runner.start(store.recover())      # re-queued jobs first
    runner.submit(job_id)              # a new job: validate its files, then queue it
    runner.cancel(job_id)              # the training thread stops before its next step
    await runner.aclose()              # a running job goes back to "queued"

The queue, its worker and the cancel event are ``service.jobs.JobQueue``'s, shared with batches.
Embedding runs through ``EmbeddingService`` (its own threads or the upstream); training runs on
one dedicated thread, so the loop keeps serving requests. Events are written as the job goes.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import numpy as np

from service.embeddings import EmbeddingService
from service.errors import ServiceError
from service.files import FileStore, LineError
from service.finetune import auto
from service.finetune.adapters import Adapter, AdapterModels
from service.finetune.data import (
    Example,
    IndexedExamples,
    PairSplit,
    index_examples,
    load_examples,
)
from service.finetune.reports import (
    capacity_data,
    checkpoint_metrics,
    epoch_message,
    epoch_metrics,
    results_csv,
)
from service.finetune.schemas import FineTuningJob, FineTuningJobCheckpoint, JobError
from service.finetune.selection import EpochReport, FitResult, fit
from service.finetune.store import JobStore
from service.finetune.trainer import TrainingCancelled, TrainingData, normalise
from service.finetune.validation import holdout
from service.jobs import JobQueue

logger = logging.getLogger(__name__)
EMBED_BATCH = 512
Level = Literal["info", "warn", "error"]
_HYPERPARAMETERS = ("n_epochs", "batch_size", "learning_rate_multiplier")


class JobFailed(Exception):
    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.error = JobError(code=code, message=message, param=param)


class JobRunner:
    def __init__(
        self,
        store: JobStore,
        files: FileStore,
        embeddings: EmbeddingService,
        adapters: AdapterModels,
    ) -> None:
        self.store = store
        self.files = files
        self.embeddings = embeddings
        self.adapters = adapters
        self.jobs = JobQueue(self, name="fine-tuning-runner")
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="adapter-training")

    @property
    def _cancel(self) -> threading.Event:
        """The running job's cancel event (``JobQueue`` makes one per job)."""
        return self.jobs.cancel_event

    def start(self, queued: list[str]) -> None:
        self.jobs.start(queued)

    def submit(self, job_id: str) -> None:
        self.jobs.spawn(self._validate(job_id))

    def cancel(self, job_id: str) -> None:
        """Ask the running job to stop; a queued one is skipped when its turn comes."""
        self.jobs.cancel(job_id)

    async def aclose(self) -> None:
        await self.jobs.aclose()
        self._thread.shutdown(wait=True)

    # -- validating_files -> queued ---------------------------------------------------------

    async def _load(self, job: FineTuningJob) -> IndexedExamples:
        """Parse the job's files off the loop and index them by query; JobFailed names the file
        and line, or the count of distinct queries when there are too few to learn from."""
        out: list[list[Example] | None] = []
        for param, file_id in (
            ("training_file", job.training_file),
            ("validation_file", job.validation_file),
        ):
            if file_id is None:
                out.append(None)
                continue
            path = self.files.path(file_id)
            try:
                out.append(await self.files.run(load_examples, path))
            except FileNotFoundError:
                raise JobFailed(
                    f"invalid_{param}", f"{param} {file_id} was deleted", param
                ) from None
            except LineError as exc:
                where = f" line {exc.line}:" if exc.line else ""
                raise JobFailed(
                    f"invalid_{param}", f"{param} {file_id}:{where} {exc.reason}", param
                ) from None
        training, validation = out
        assert training is not None
        indexed = index_examples(training, validation)
        _check_counts(job, indexed)
        return indexed

    async def _validate(self, job_id: str) -> None:
        record = await self.store.run(self.store.get, job_id)
        try:
            indexed = await self._load(record.job)
        except JobFailed as exc:
            await self._finish(job_id, ("validating_files",), failed=exc.error)
            return

        def queued(job: FineTuningJob) -> None:
            job.status = "queued"

        if await self.store.run(self.store.transition, job_id, ("validating_files",), queued):
            train = indexed.training
            await self._event(
                job_id,
                f"Files validated ({len(train.pair_query)} training examples, "
                f"{len(train.queries)} distinct queries); job queued.",
            )
            self.jobs.put(job_id)

    # -- queued -> running -> succeeded | failed --------------------------------------------

    async def crashed(self, job_id: str) -> None:
        error = JobError(code="server_error", message="Internal error.", param=None)
        await self._finish(job_id, ("running",), failed=error)

    async def run(self, job_id: str, cancel: threading.Event) -> None:
        """``JobQueue``'s turn for a queued job (``cancel`` is ``self._cancel``)."""

        def running(job: FineTuningJob) -> None:
            job.status = "running"

        job = await self.store.run(self.store.transition, job_id, ("queued",), running)
        if job is None:  # cancelled while it waited
            return
        await self._event(job_id, "Fine-tuning job started.")
        try:
            indexed = await self._load(job)
            data, valid, tokens = await self._embed(job, indexed)
            if self._cancel.is_set():
                return
            everything = None
            if valid is None:
                everything = data
                share = auto.validation_share(data.n_queries)
                data, valid = holdout(data, share, job.seed, minimum=auto.MIN_VALIDATION_QUERIES)
                where = (
                    f"{valid.n_queries} of the training file's {data.n_queries + valid.n_queries} "
                    f"queries are held out (seed {job.seed})"
                )
            else:
                where = f"{valid.n_queries} queries of validation_file {job.validation_file}"
            requested = {k: v for k, v in job.hyperparameters.items() if k in _HYPERPARAMETERS}
            plan = auto.resolve(data.n_queries, len(data), **requested)
            await self._record_hyperparameters(job_id, plan, n_epochs=requested.get("n_epochs"))
            await self._event(
                job_id,
                f"Validation: {where}; each epoch is scored by nDCG@10 and MRR@10 over all "
                f"{len(data.passages)} passages of the job.",
            )
            result = await self._train(job, data, valid, plan, everything)
        except TrainingCancelled:
            if not self.jobs.closing:
                await self._event(job_id, "Training stopped: the job was cancelled.")
            return
        except JobFailed as exc:
            await self._finish(job_id, ("running",), failed=exc.error)
            return
        except ServiceError as exc:
            error = JobError(code=exc.code or "embedding_failed", message=exc.message, param=None)
            await self._finish(job_id, ("running",), failed=error)
            return
        await self._succeed(job, result, plan, tokens * len(result.epochs))

    async def _record_hyperparameters(self, job_id: str, plan: auto.Plan, *, n_epochs: Any) -> None:
        """Batch size and learning rate are resolved now; ``n_epochs`` stays as requested until
        the job ends (then it is the number of epochs run), so a re-run after a restart resolves
        the same plan."""
        resolved = {
            "batch_size": plan.batch_size,
            "learning_rate_multiplier": plan.learning_rate_multiplier,
            "n_epochs": "auto" if n_epochs is None else n_epochs,
        }
        await self.store.run(
            self.store.transition, job_id, ("running",), _set_hyperparameters(resolved)
        )

    async def _embed(
        self, job: FineTuningJob, indexed: IndexedExamples
    ) -> tuple[TrainingData, TrainingData | None, int]:
        """Embed queries and passages with the base model, each distinct text once."""
        train, valid = indexed.training, indexed.validation
        n_queries = len(train.queries) + (len(valid.queries) if valid else 0)
        await self._event(
            job.id,
            f"Embedding {n_queries} queries and {len(indexed.passages)} passages with {job.model}.",
        )
        passages, tokens = await self._embed_texts(job.model, indexed.passages)
        data, more = await self._split_data(job.model, train, passages)
        tokens += more
        validation = None
        if valid is not None:
            validation, more = await self._split_data(job.model, valid, passages)
            tokens += more
        return data, validation, tokens

    async def _split_data(
        self, model: str, split: PairSplit, passages: np.ndarray
    ) -> tuple[TrainingData, int]:
        queries, tokens = await self._embed_texts(model, split.queries)
        data = TrainingData(
            queries=queries,
            passages=passages,
            pair_query=np.asarray(split.pair_query),
            pair_positive=np.asarray(split.pair_positive),
            pair_negative=None if split.pair_negative is None else np.asarray(split.pair_negative),
        )
        return data, tokens

    async def _embed_texts(self, model: str, texts: list[str]) -> tuple[np.ndarray, int]:
        parts, tokens = [], 0
        for start in range(0, len(texts), EMBED_BATCH):
            if self._cancel.is_set():
                raise TrainingCancelled
            result = await self.embeddings.embed(model, texts[start : start + EMBED_BATCH])
            parts.append(normalise(result.vectors.astype(np.float32)))
            tokens += result.prompt_tokens
        return np.concatenate(parts), tokens

    async def _train(
        self,
        job: FineTuningJob,
        data: TrainingData,
        valid: TrainingData,
        plan: auto.Plan,
        everything: TrainingData | None,
    ) -> FitResult:
        loop = asyncio.get_running_loop()
        started = time.time()
        store, job_id = self.store, job.id
        steps_per_epoch = math.ceil(len(data) / plan.batch_size)

        def progress(report: EpochReport) -> None:
            # Runs on the training thread; the store is thread-safe.
            store.add_event(
                job_id,
                epoch_message(report, plan.max_epochs),
                type="metrics",
                data=epoch_metrics(report),
            )
            rate = (time.time() - started) / report.step
            remaining = steps_per_epoch * plan.max_epochs - report.step
            store.transition(
                job_id, ("running",), _set_estimate(int(time.time() + rate * remaining) + 1)
            )

        dims = data.queries.shape[1]
        stop = (
            f"stops after {plan.patience} epochs without a better validation score"
            if plan.patience is not None
            else "runs every epoch"
        )
        await self.store.run(
            lambda: self.store.add_event(
                job_id,
                f"Training a {plan.capacity.describe()} {dims}x{dims} query adapter on "
                f"{data.n_queries} queries ({len(data)} pairs): at most {plan.max_epochs} epochs "
                f"of {steps_per_epoch} steps, batch {plan.batch_size}, seed {job.seed}; it {stop}.",
                data=capacity_data(plan, data, valid),
            )
        )
        return await loop.run_in_executor(
            self._thread,
            lambda: fit(
                data,
                valid,
                plan,
                job.seed,
                everything=everything,
                cancel=self._cancel,
                progress=progress,
            ),
        )

    async def _succeed(
        self, job: FineTuningJob, result: FitResult, plan: auto.Plan, tokens: int
    ) -> None:
        record = await self.store.run(self.store.get, job.id)
        # Derived from the job id, so a re-run after a crash rewrites the same files.
        tag = hashlib.sha256(job.id.encode()).hexdigest()[:8]
        model = f"ft:{job.model}:{record.suffix or 'semsearch'}:{tag}"
        csv = results_csv(result)
        results = await self.files.run(
            lambda: self.files.write(csv, filename="step_metrics.csv", purpose="fine-tune-results")
        )
        epochs_run = len(result.epochs)

        def succeeded(j: FineTuningJob) -> None:
            j.status, j.fine_tuned_model = "succeeded", model
            j.finished_at, j.estimated_finish = int(time.time()), None
            j.trained_tokens, j.result_files = tokens, [results.id]
            j.hyperparameters = {**j.hyperparameters, "n_epochs": epochs_run}
            _set_hyperparameters(j.hyperparameters)(j)

        dims = result.base_dimensions
        final = Adapter(
            model, job.model, result.weights if result.accepted else None, job.id, dimensions=dims
        )
        kept = [
            Adapter(
                f"{model}:ckpt-step-{c.report.step}",
                job.model,
                c.weights,
                job.id,
                step=c.report.step,
            )
            for c in result.checkpoints
        ]
        # Saved before the status flips, so a "succeeded" job's models always exist.
        for adapter in [*kept, final]:
            await self.store.run(self.adapters.save, adapter)
        if not await self.store.run(self.store.transition, job.id, ("running",), succeeded):
            for adapter in [*kept, final]:  # cancelled at the last moment
                await self.store.run(self.adapters.remove, adapter)
            return
        created = int(time.time())
        checkpoints = [
            FineTuningJobCheckpoint(
                id="ftckpt_" + secrets.token_hex(12),
                created_at=created,
                fine_tuned_model_checkpoint=adapter.model,
                fine_tuning_job_id=job.id,
                metrics=checkpoint_metrics(c.report),
                step_number=c.report.step,
            )
            for adapter, c in zip(kept, result.checkpoints, strict=True)
        ]
        await self.store.run(self.store.put_checkpoints, job.id, checkpoints)
        if result.stopped_early:
            await self._event(
                job.id,
                f"Stopped after epoch {epochs_run}: validation nDCG@10 did not improve for "
                f"{plan.patience} epochs.",
            )
        level: Level = "info" if result.accepted else "warn"
        await self._event(job.id, result.message[0].upper() + result.message[1:] + ".", level)
        await self._event(job.id, f"Training took {result.seconds:.1f} s.")
        await self._event(job.id, f"New fine-tuned model created: {model}")
        await self._event(job.id, "The job has successfully completed.")

    async def _finish(self, job_id: str, allowed: tuple[str, ...], *, failed: JobError) -> None:
        def fail(job: FineTuningJob) -> None:
            job.status, job.error = "failed", failed
            job.finished_at, job.estimated_finish = int(time.time()), None

        if await self.store.run(self.store.transition, job_id, allowed, fail):
            await self._event(job_id, f"Fine-tuning job failed: {failed.message}", level="error")

    async def requeue(self, job_id: str) -> None:
        """Graceful shutdown mid-run: back to queued, so the next start runs it again."""

        def queued(job: FineTuningJob) -> None:
            job.status, job.estimated_finish = "queued", None

        try:
            if self.store.transition(job_id, ("running",), queued):
                self.store.add_event(
                    job_id, "The server is shutting down; the job was re-queued.", level="warn"
                )
        except Exception:  # the store may be closing too; recover() handles it at start-up
            logger.exception("could not re-queue job %s", job_id)

    async def _event(self, job_id: str, message: str, level: Level = "info") -> None:
        await self.store.run(lambda: self.store.add_event(job_id, message, level=level))


def _check_counts(job: FineTuningJob, indexed: IndexedExamples) -> None:
    """Too few distinct queries cannot train or validate an adapter: fail, naming the count."""
    count = len(indexed.training.queries)
    if count < auto.MIN_TRAINING_QUERIES:
        raise JobFailed(
            "too_few_training_queries",
            f"training_file {job.training_file} has {count} distinct "
            f"{'query' if count == 1 else 'queries'}; a local adapter needs at least "
            f"{auto.MIN_TRAINING_QUERIES} (the pairs of one query count once)",
            "training_file",
        )
    if indexed.validation is not None:
        count = len(indexed.validation.queries)
        if count < auto.MIN_VALIDATION_QUERIES:
            raise JobFailed(
                "too_few_validation_queries",
                f"validation_file {job.validation_file} has {count} distinct "
                f"{'query' if count == 1 else 'queries'}; validation needs at least "
                f"{auto.MIN_VALIDATION_QUERIES}",
                "validation_file",
            )


def _set_hyperparameters(values: dict[str, Any]) -> Callable[[FineTuningJob], None]:
    def change(job: FineTuningJob) -> None:
        job.hyperparameters = values
        job.method = {"type": "supervised", "supervised": {"hyperparameters": values}}

    return change


def _set_estimate(finish: int) -> Callable[[FineTuningJob], None]:
    def change(job: FineTuningJob) -> None:
        job.estimated_finish = finish

    return change
