"""``JobStore``: fine-tuning jobs and their events in SQLite, so both survive a restart.

Usage::

    store = JobStore.open(settings.data_dir / "fine_tuning.sqlite3")
    requeued = store.recover()          # at start-up, before the runner starts
    store.insert(job, kind="local")
    store.add_event(job.id, "Fine-tuning job started")

A job is a JSON body (the ``FineTuningJob`` clients see) plus columns the service needs:
``kind`` (local adapter or upstream proxy), the upstream's own job id, and how many times a run
was cut short by a restart. Status changes go through ``transition``, a compare-and-set, so a
cancel and a finishing run cannot overwrite each other. Thread-safe; blocking; async callers
use ``await store.run(fn, ...)``. Storage is a ``SqliteWorker``: writes on its writer thread,
pages read concurrently.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from service.errors import InvalidRequestError, NotFoundError
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
from service.sqlite_worker import Page, Row, SqliteWorker

T = TypeVar("T")
Kind = Literal["local", "upstream"]
# A run interrupted this many times (e.g. it crashes the process) is failed, not retried again.
MAX_ATTEMPTS = 3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    upstream_id TEXT,
    suffix TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    job_id TEXT NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_job ON events (job_id, seq);
CREATE TABLE IF NOT EXISTS checkpoints (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    job_id TEXT NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS checkpoints_job ON checkpoints (job_id, seq);
CREATE TABLE IF NOT EXISTS upstream_files (
    file_id TEXT PRIMARY KEY,
    upstream_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS upstream_results (
    file_id TEXT PRIMARY KEY,
    upstream_id TEXT NOT NULL UNIQUE,
    job_id TEXT NOT NULL
);
"""


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


class JobStore:
    def __init__(self, db: SqliteWorker) -> None:
        self._db = db

    @classmethod
    def open(cls, path: Path) -> JobStore:
        return cls(SqliteWorker.open(path, schema=_SCHEMA, name="job-store"))

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._db.run(fn, *args)

    def close(self) -> None:
        self._db.close()

    # -- jobs -------------------------------------------------------------------------------

    def insert(
        self,
        job: FineTuningJob,
        *,
        kind: Kind,
        upstream_id: str | None = None,
        suffix: str | None = None,
    ) -> None:
        self._db.execute(
            "INSERT INTO jobs (id, kind, upstream_id, suffix, body) VALUES (?, ?, ?, ?, ?)",
            (job.id, kind, upstream_id, suffix, json_encoder.encode(job)),
        )

    def get(self, job_id: str) -> JobRecord:
        row = self._db.fetchone(f"SELECT {_RECORD} FROM jobs WHERE id = ?", (job_id,))
        if row is None:
            raise NotFoundError(f"Fine-tuning job {job_id} not found.", param="fine_tuning_job_id")
        return JobRecord.from_row(row)

    def save(self, job: FineTuningJob) -> None:
        self._db.execute(
            "UPDATE jobs SET body = ? WHERE id = ?", (json_encoder.encode(job), job.id)
        )

    def transition(
        self, job_id: str, allowed: Iterable[str], change: Callable[[FineTuningJob], None]
    ) -> FineTuningJob | None:
        """Apply ``change`` only if the job's status is in ``allowed``; None when it was not."""
        allowed = set(allowed)

        def compare_and_set(conn: sqlite3.Connection) -> FineTuningJob | None:
            row = conn.execute("SELECT body FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                return None
            job = job_decoder.decode(row[0])
            if job.status not in allowed:
                return None
            change(job)
            conn.execute(
                "UPDATE jobs SET body = ? WHERE id = ?", (json_encoder.encode(job), job_id)
            )
            return job

        return self._db.write(compare_and_set)

    def list_page(
        self, *, limit: int, after: str | None, metadata: dict[str, str] | None = None
    ) -> Page[JobRecord]:
        """Newest first; ``after`` is the id of the last job of the previous page. With
        ``metadata``, only jobs whose metadata holds every pair (``{}``: jobs without any)."""
        if metadata is None:
            return self._db.page(
                "jobs",
                columns=_RECORD,
                after=after,
                limit=limit,
                unknown="Fine-tuning job {after} not found.",
                decode=JobRecord.from_row,
            )
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

    def recover(self) -> list[str]:
        """At start-up: local jobs a restart cut short go back to ``queued`` (training is
        deterministic per seed, so a rerun gives the same adapter), or fail after
        ``MAX_ATTEMPTS``. Returns the ids of local jobs to run, oldest first. One transaction."""
        return self._db.write(self._recover)

    def _recover(self, conn: sqlite3.Connection) -> list[str]:
        now = int(time.time())
        rows = conn.execute(
            "SELECT id, body, attempts FROM jobs WHERE kind = 'local' ORDER BY seq"
        ).fetchall()
        queue = []
        for job_id, body, attempts in rows:
            job = job_decoder.decode(body)
            if job.status in ("running", "validating_files"):
                attempts += 1
                conn.execute("UPDATE jobs SET attempts = ? WHERE id = ?", (attempts, job_id))
                if attempts >= MAX_ATTEMPTS:
                    job.status = "failed"
                    job.finished_at = now
                    job.estimated_finish = None
                    job.error = JobError(
                        code="interrupted",
                        message=f"The job was interrupted by {attempts} server restarts "
                        "and was not retried again.",
                        param=None,
                    )
                    self.save(job)
                    self.add_event(job_id, job.error.message, level="error")
                    continue
                job.status = "queued"
                job.estimated_finish = None
                self.save(job)
                self.add_event(
                    job_id,
                    "The server restarted while the job was in progress; it was re-queued "
                    f"(attempt {attempts + 1} of {MAX_ATTEMPTS}) and will run from the start.",
                    level="warn",
                )
            if job.status == "queued":
                queue.append(job_id)
        return queue

    # -- events -----------------------------------------------------------------------------

    def add_event(
        self,
        job_id: str,
        message: str,
        *,
        level: Literal["info", "warn", "error"] = "info",
        type: Literal["message", "metrics"] = "message",
        data: dict[str, Any] | None = None,
    ) -> FineTuningJobEvent:
        event = FineTuningJobEvent(
            id="ftevent-" + secrets.token_hex(12),
            created_at=int(time.time()),
            level=level,
            message=message,
            type=type,
            data=data if data is not None else {},
        )
        self.put_events(job_id, [event])
        return event

    def put_events(self, job_id: str, events: list[FineTuningJobEvent]) -> None:
        """Insert events (oldest first); ones already stored (by id) are left as they are."""
        rows = [(e.id, job_id, json_encoder.encode(e)) for e in events]
        self._db.write(
            lambda conn: conn.executemany(
                "INSERT OR IGNORE INTO events (id, job_id, body) VALUES (?, ?, ?)", rows
            )
        )

    def events(self, job_id: str, *, limit: int, after: str | None) -> Page[FineTuningJobEvent]:
        """Newest first, like OpenAI; ``after`` is the id of the last event already seen."""
        return self._db.page(
            "events",
            columns="body",
            after=after,
            limit=limit,
            unknown="Event {after} not found.",
            decode=lambda row: event_decoder.decode(row[0]),
            where={"job_id": job_id},
            scoped=True,
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

    # -- upstream file ids ------------------------------------------------------------------

    def upstream_file(self, file_id: str) -> str | None:
        row = self._db.fetchone(
            "SELECT upstream_id FROM upstream_files WHERE file_id = ?", (file_id,)
        )
        return row[0] if row else None

    def set_upstream_file(self, file_id: str, upstream_id: str) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO upstream_files (file_id, upstream_id) VALUES (?, ?)",
            (file_id, upstream_id),
        )

    # -- upstream result files: our id for each, fetched on demand ---------------------------

    def result_file_id(self, upstream_id: str, job_id: str) -> str:
        """Our file id for an upstream job's result file; the same id every time."""

        def get_or_insert(conn: sqlite3.Connection) -> str:
            row = conn.execute(
                "SELECT file_id FROM upstream_results WHERE upstream_id = ?", (upstream_id,)
            ).fetchone()
            if row is not None:
                return str(row[0])
            file_id = "file-" + secrets.token_hex(12)
            conn.execute(
                "INSERT INTO upstream_results (file_id, upstream_id, job_id) VALUES (?, ?, ?)",
                (file_id, upstream_id, job_id),
            )
            return file_id

        return self._db.write(get_or_insert)

    def upstream_result(self, file_id: str) -> tuple[str, str] | None:
        """(upstream file id, our job id) of a proxied job's result file, or None."""
        row = self._db.fetchone(
            "SELECT upstream_id, job_id FROM upstream_results WHERE file_id = ?", (file_id,)
        )
        return (str(row[0]), str(row[1])) if row else None
