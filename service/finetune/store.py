"""``JobStore``: fine-tuning jobs, their events and checkpoints in SQLite, so all survive a restart.

Usage::

    store = JobStore.open(settings.data_dir / "fine_tuning.sqlite3")
    requeued = store.recover()          # at start-up, before the runner starts
    store.insert(job, kind="local")
    store.add_event(job.id, "Fine-tuning job started")

The design every kind of background job shares (a JSON body per job, status changes as
compare-and-set, restart recovery, events as rows, upstream file ids) is ``service.jobs``'s
``JobTable``; this adds what is fine-tuning's own: the ``suffix`` column, checkpoints, the
metadata filter of the listing, and what a restart does to a local job (it runs again from the
start: training is deterministic per seed). Storage is a ``SqliteWorker``: writes on its writer
thread, pages read concurrently.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from service.errors import InvalidRequestError
from service.finetune.schemas import (
    FineTuningJob,
    FineTuningJobCheckpoint,
    FineTuningJobEvent,
    JobError,
    checkpoint_decoder,
    event_decoder,
    job_decoder,
    json_encoder,
)
from service.jobs import MAX_ATTEMPTS, JobTable, Kind, Level, schema
from service.sqlite_worker import Page, Row, SqliteWorker

__all__ = ["MAX_ATTEMPTS", "JobRecord", "JobStore", "Kind", "new_job_id"]

_SCHEMA = (
    schema("\n    suffix TEXT,")
    + """
CREATE TABLE IF NOT EXISTS checkpoints (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    job_id TEXT NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS checkpoints_job ON checkpoints (job_id, seq);
"""
)


def _matches(metadata: dict[str, str] | None, wanted: dict[str, str]) -> bool:
    if not wanted:
        return not metadata
    return metadata is not None and all(metadata.get(k) == v for k, v in wanted.items())


def new_job_id() -> str:
    return "ftjob-" + secrets.token_hex(12)


_RECORD = "body, kind, upstream_id, suffix, attempts"


@dataclass(slots=True)
class JobRecord:
    job: FineTuningJob
    kind: Kind
    upstream_id: str | None
    suffix: str | None
    attempts: int

    @classmethod
    def from_row(cls, row: Row) -> JobRecord:
        """A row of ``SELECT {_RECORD}``."""
        return cls(job_decoder.decode(row[0]), row[1], row[2], row[3], row[4])


class JobStore(JobTable[FineTuningJob]):
    noun = "Fine-tuning job"
    param = "fine_tuning_job_id"
    interrupted = frozenset({"running", "validating_files"})
    runnable = frozenset({"queued"})

    @classmethod
    def open(cls, path: Path) -> JobStore:
        return cls(SqliteWorker.open(path, schema=_SCHEMA, name="job-store"), job_decoder)

    # -- jobs -------------------------------------------------------------------------------

    def get(self, job_id: str) -> JobRecord:
        return JobRecord.from_row(self.row(job_id, _RECORD))

    def list_page(
        self, *, limit: int, after: str | None, metadata: dict[str, str] | None = None
    ) -> Page[JobRecord]:
        """Newest first; ``after`` is the id of the last job of the previous page. With
        ``metadata``, only jobs whose metadata holds every pair (``{}``: jobs without any)."""
        if metadata is None:
            return self.page(columns=_RECORD, limit=limit, after=after, decode=JobRecord.from_row)
        wanted = metadata

        def select(conn: sqlite3.Connection) -> list[JobRecord]:
            clause: str = ""
            args: tuple[object, ...] = ()
            if after is not None:
                found = conn.execute("SELECT seq FROM jobs WHERE id = ?", (after,)).fetchone()
                if found is None:
                    raise InvalidRequestError(f"Fine-tuning job {after} not found.", param="after")
                clause, args = "WHERE seq < ?", (found[0],)
            records: list[JobRecord] = []
            # Filtered here, newest first, until a page and one more: metadata is in the body.
            for row in conn.execute(f"SELECT {_RECORD} FROM jobs {clause} ORDER BY seq DESC", args):
                record = JobRecord.from_row(row)
                if _matches(record.job.metadata, wanted):
                    records.append(record)
                    if len(records) > limit:
                        break
            return records

        records = self._db.read(select)
        return Page(records[:limit], len(records) > limit)

    # -- restarts: a local job runs again from the start ------------------------------------

    def resume(self, job: FineTuningJob, attempts: int) -> tuple[str, Level]:
        job.status = "queued"
        job.estimated_finish = None
        return (
            "The server restarted while the job was in progress; it was re-queued "
            f"(attempt {attempts + 1} of {MAX_ATTEMPTS}) and will run from the start.",
            "warn",
        )

    def give_up(self, job: FineTuningJob, attempts: int) -> tuple[str, Level]:
        job.status = "failed"
        job.finished_at = int(time.time())
        job.estimated_finish = None
        job.error = JobError(
            code="interrupted",
            message=f"The job was interrupted by {attempts} server restarts "
            "and was not retried again.",
            param=None,
        )
        return job.error.message, "error"

    # -- events -----------------------------------------------------------------------------

    def make_event(
        self, message: str, level: Level, type: Literal["message", "metrics"], data: Any
    ) -> FineTuningJobEvent:
        return FineTuningJobEvent(
            id="ftevent-" + secrets.token_hex(12),
            created_at=int(time.time()),
            level=level,
            message=message,
            type=type,
            data=data,
        )

    def events(self, job_id: str, *, limit: int, after: str | None) -> Page[FineTuningJobEvent]:
        """Newest first, like OpenAI; ``after`` is the id of the last event already seen."""
        return self.event_page(
            job_id, limit=limit, after=after, decode=lambda row: event_decoder.decode(row[0])
        )

    # -- checkpoints ------------------------------------------------------------------------

    def put_checkpoints(self, job_id: str, checkpoints: list[FineTuningJobCheckpoint]) -> None:
        """Insert checkpoints (oldest first); ones already stored (by id) are left as they are."""
        rows = [(c.id, job_id, json_encoder.encode(c)) for c in checkpoints]
        self._db.write(
            lambda conn: conn.executemany(
                "INSERT OR IGNORE INTO checkpoints (id, job_id, body) VALUES (?, ?, ?)", rows
            )
        )

    def checkpoints(
        self, job_id: str, *, limit: int, after: str | None
    ) -> Page[FineTuningJobCheckpoint]:
        """Newest first, like OpenAI; ``after`` is the id of the last checkpoint already seen."""
        return self._db.page(
            "checkpoints",
            columns="body",
            after=after,
            limit=limit,
            unknown="Checkpoint {after} not found.",
            decode=lambda row: checkpoint_decoder.decode(row[0]),
            where={"job_id": job_id},
            scoped=True,
        )
