"""``JobRunner``: validates and runs local adapter jobs, one at a time, off the event loop.

Usage::

    runner = JobRunner(store, files, embeddings, adapters)
    runner.start(store.recover())      # re-queued jobs first
    runner.submit(job_id)              # a new job: validate its files, then queue it
    runner.cancel(job_id)              # the training thread stops before its next step
    await runner.aclose()              # a running job goes back to "queued"

Embedding runs through ``EmbeddingService`` (its own threads or the upstream); training runs on
one dedicated thread, so the loop keeps serving requests. Events are written as the job goes.
"""

from __future__ import annotations

import asyncio
import io
import logging
import math
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import numpy as np

from service.embeddings import EmbeddingService
from service.errors import ServiceError
from service.files import FileStore, LineError
from service.finetune import trainer
from service.finetune.adapters import Adapter, AdapterModels
from service.finetune.data import Example, load_examples
from service.finetune.schemas import FineTuningJob, JobError
from service.finetune.store import JobStore

logger = logging.getLogger(__name__)
EMBED_BATCH = 512
Level = Literal["info", "warn", "error"]


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
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="adapter-training")
        self._current: str | None = None
        self._cancel = threading.Event()
        self._closing = False

    def start(self, queued: list[str]) -> None:
        for job_id in queued:
            self._queue.put_nowait(job_id)
        self._worker = asyncio.create_task(self._work(), name="fine-tuning-runner")

    def submit(self, job_id: str) -> None:
        task = asyncio.create_task(self._validate(job_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def cancel(self, job_id: str) -> None:
        """Ask the running job to stop; a queued one is skipped when its turn comes."""
        if self._current == job_id:
            self._cancel.set()

    async def aclose(self) -> None:
        self._closing = True
        self._cancel.set()
        for task in [*self._tasks, *([self._worker] if self._worker else [])]:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._worker is not None:
            await asyncio.gather(self._worker, return_exceptions=True)
        self._thread.shutdown(wait=True)

    # -- validating_files -> queued ---------------------------------------------------------

    async def _load(self, job: FineTuningJob) -> tuple[list[Example], list[Example] | None]:
        """Parse the job's files off the loop; JobFailed names the file and line."""
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
        return training, validation

    async def _validate(self, job_id: str) -> None:
        record = await self.store.run(self.store.get, job_id)
        try:
            training, validation = await self._load(record.job)
        except JobFailed as exc:
            await self._finish(job_id, ("validating_files",), failed=exc.error)
            return
        count = len(training) + (len(validation) if validation else 0)

        def queued(job: FineTuningJob) -> None:
            job.status = "queued"

        if await self.store.run(self.store.transition, job_id, ("validating_files",), queued):
            await self._event(job_id, f"Files validated ({count} examples); job queued.")
            self._queue.put_nowait(job_id)

    # -- queued -> running -> succeeded | failed --------------------------------------------

    async def _work(self) -> None:
        while True:
            job_id = await self._queue.get()
            self._current, self._cancel = job_id, threading.Event()
            try:
                await self._run(job_id)
            except asyncio.CancelledError:
                await self._requeue(job_id)
                raise
            except Exception:  # never let one job stop the runner
                logger.exception("fine-tuning job %s crashed", job_id)
                error = JobError(code="server_error", message="Internal error.", param=None)
                await self._finish(job_id, ("running",), failed=error)
            finally:
                self._current = None

    async def _run(self, job_id: str) -> None:
        def running(job: FineTuningJob) -> None:
            job.status = "running"

        job = await self.store.run(self.store.transition, job_id, ("queued",), running)
        if job is None:  # cancelled while it waited
            return
        await self._event(job_id, "Fine-tuning job started.")
        try:
            training, validation = await self._load(job)
            params = trainer.Hyperparameters.resolve(
                len(training),
                **(job.hyperparameters or {}),
            )
            await self._record_hyperparameters(job_id, params)
            data, tokens = await self._embed(job, training)
            valid = (await self._embed(job, validation))[0] if validation else None
            if self._cancel.is_set():
                return
            result = await self._train(job, data, valid, params)
        except trainer.TrainingCancelled:
            if not self._closing:
                await self._event(job_id, "Training stopped: the job was cancelled.")
            return
        except JobFailed as exc:
            await self._finish(job_id, ("running",), failed=exc.error)
            return
        except ServiceError as exc:
            error = JobError(code=exc.code or "embedding_failed", message=exc.message, param=None)
            await self._finish(job_id, ("running",), failed=error)
            return
        await self._succeed(job, result, tokens * params.n_epochs)

    async def _record_hyperparameters(self, job_id: str, params: trainer.Hyperparameters) -> None:
        resolved = {
            "batch_size": params.batch_size,
            "learning_rate_multiplier": params.learning_rate_multiplier,
            "n_epochs": params.n_epochs,
        }

        def resolve(job: FineTuningJob) -> None:
            job.hyperparameters = resolved
            job.method = {"type": "supervised", "supervised": {"hyperparameters": resolved}}

        await self.store.run(self.store.transition, job_id, ("running",), resolve)

    async def _embed(
        self, job: FineTuningJob, examples: list[Example]
    ) -> tuple[trainer.TrainingData, int]:
        """Embed queries and passages with the base model; equal passages share an id."""
        passages = sorted({e.positive for e in examples} | {e.negative or "" for e in examples})
        passages = [p for p in passages if p]
        queries = [e.query for e in examples]
        await self._event(
            job.id,
            f"Embedding {len(queries)} queries and {len(passages)} passages with {job.model}.",
        )
        query_vectors, q_tokens = await self._embed_texts(job.model, queries)
        passage_vectors, p_tokens = await self._embed_texts(job.model, passages)
        row = {text: i for i, text in enumerate(passages)}
        positive_ids = np.array([row[e.positive] for e in examples])
        negatives = None
        if examples[0].negative is not None:
            negatives = passage_vectors[[row[e.negative or ""] for e in examples]]
        data = trainer.TrainingData(
            queries=query_vectors,
            positives=passage_vectors[positive_ids],
            positive_ids=positive_ids,
            negatives=negatives,
        )
        return data, q_tokens + p_tokens

    async def _embed_texts(self, model: str, texts: list[str]) -> tuple[np.ndarray, int]:
        parts, tokens = [], 0
        for start in range(0, len(texts), EMBED_BATCH):
            if self._cancel.is_set():
                raise trainer.TrainingCancelled
            result = await self.embeddings.embed(model, texts[start : start + EMBED_BATCH])
            parts.append(trainer.normalise(result.vectors.astype(np.float32)))
            tokens += result.prompt_tokens
        return np.concatenate(parts), tokens

    async def _train(
        self,
        job: FineTuningJob,
        data: trainer.TrainingData,
        validation: trainer.TrainingData | None,
        params: trainer.Hyperparameters,
    ) -> trainer.TrainingResult:
        loop = asyncio.get_running_loop()
        started = time.time()
        store, job_id = self.store, job.id

        def progress(metrics: trainer.StepMetrics, total: int) -> None:
            # Runs on the training thread; the store is thread-safe.
            values: dict[str, Any] = {"step": metrics.step, "train_loss": metrics.train_loss}
            if metrics.valid_loss is not None:
                values.update(valid_loss=metrics.valid_loss, valid_mrr=metrics.valid_mrr)
            text = ", ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items()
            )
            store.add_event(
                job_id,
                f"Epoch {metrics.epoch}/{params.n_epochs}: {text}",
                type="metrics",
                data={**values, "epoch": metrics.epoch, "total_steps": total},
            )
            rate = (time.time() - started) / metrics.step
            finish = int(time.time() + rate * (total - metrics.step)) + 1

            def estimate(job: FineTuningJob) -> None:
                job.estimated_finish = finish

            store.transition(job_id, ("running",), estimate)

        steps = math.ceil(len(data) / params.batch_size) * params.n_epochs
        await self._event(
            job_id,
            f"Training a {data.queries.shape[1]}x{data.queries.shape[1]} query adapter: "
            f"{len(data)} examples, {steps} steps, seed {job.seed}.",
        )
        return await loop.run_in_executor(
            self._thread,
            lambda: trainer.train_adapter(
                data,
                params,
                job.seed,
                validation=validation,
                cancel=self._cancel,
                progress=progress,
            ),
        )

    async def _succeed(
        self, job: FineTuningJob, result: trainer.TrainingResult, tokens: int
    ) -> None:
        record = await self.store.run(self.store.get, job.id)
        model = f"ft:{job.model}:{record.suffix or 'semsearch'}:{secrets.token_hex(4)}"
        csv = _results_csv(result)
        results = await self.files.run(
            lambda: self.files.write(csv, filename="step_metrics.csv", purpose="fine-tune-results")
        )

        def succeeded(j: FineTuningJob) -> None:
            j.status, j.fine_tuned_model = "succeeded", model
            j.finished_at, j.estimated_finish = int(time.time()), None
            j.trained_tokens, j.result_files = tokens, [results.id]

        adapter = Adapter(model, job.model, result.weights, job.id)
        # Saved before the status flips, so a "succeeded" job's model always exists.
        await self.store.run(self.adapters.save, adapter)
        if not await self.store.run(self.store.transition, job.id, ("running",), succeeded):
            await self.store.run(self.adapters.remove, adapter)  # cancelled at the last moment
        else:
            await self._event(job.id, f"Training took {result.seconds:.1f} s.")
            await self._event(job.id, f"New fine-tuned model created: {model}")
            await self._event(job.id, "The job has successfully completed.")

    async def _finish(self, job_id: str, allowed: tuple[str, ...], *, failed: JobError) -> None:
        def fail(job: FineTuningJob) -> None:
            job.status, job.error = "failed", failed
            job.finished_at, job.estimated_finish = int(time.time()), None

        if await self.store.run(self.store.transition, job_id, allowed, fail):
            await self._event(job_id, f"Fine-tuning job failed: {failed.message}", level="error")

    async def _requeue(self, job_id: str) -> None:
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


def _results_csv(result: trainer.TrainingResult) -> bytes:
    """OpenAI-style result file: a row per step, validation columns where measured."""
    out = io.StringIO()
    out.write("step,train_loss,valid_loss,valid_mrr\n")
    for m in result.steps:
        valid_loss = "" if m.valid_loss is None else f"{m.valid_loss:.6f}"
        valid_mrr = "" if m.valid_mrr is None else f"{m.valid_mrr:.6f}"
        out.write(f"{m.step},{m.train_loss:.6f},{valid_loss},{valid_mrr}\n")
    return out.getvalue().encode()
