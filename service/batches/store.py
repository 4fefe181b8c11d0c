"""``BatchStore``: batches in SQLite (``service.jobs.JobTable``) and where each local one is.

Usage::

    store = BatchStore.open(settings.data_dir / "batches.sqlite3")
    queued = store.recover()                        # local batches to take up, oldest first
    store.insert_local(batch, Progress(output_file_id=..., error_file_id=...))
    status = store.commit_chunk(batch.id, progress, completed=250, failed=6, tokens=4100)

A local batch's progress (how far into the input file, how much of each output file is written,
the ids its output files will have) is a row of its own, updated in the same transaction as the
batch's ``request_counts``: after a restart the batch resumes exactly where the last commit left
it. A restart does not start a batch over, so a batch fails only when restarts interrupt it
``MAX_ATTEMPTS`` times without it committing a chunk in between.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from service.batches.schemas import (
    Batch,
    BatchError,
    BatchErrors,
    BatchEvent,
    BatchUsage,
    batch_decoder,
    event_decoder,
    json_encoder,
)
from service.jobs import MAX_ATTEMPTS, JobTable, Level, schema
from service.sqlite_worker import Page, Row, SqliteWorker

_SCHEMA = (
    schema()
    + """
CREATE TABLE IF NOT EXISTS progress (
    batch_id TEXT PRIMARY KEY,
    input_offset INTEGER NOT NULL DEFAULT 0,
    line INTEGER NOT NULL DEFAULT 0,
    output_bytes INTEGER NOT NULL DEFAULT 0,
    error_bytes INTEGER NOT NULL DEFAULT 0,
    output_file_id TEXT NOT NULL,
    error_file_id TEXT NOT NULL,
    expires_after INTEGER
);
"""
)


def new_batch_id() -> str:
    return "batch_" + secrets.token_hex(12)


@dataclass(slots=True)
class Progress:
    input_offset: int = 0  # bytes of the input file done
    line: int = 0  # lines of the input file done
    output_bytes: int = 0
    error_bytes: int = 0
    output_file_id: str = ""  # the ids the finished files get (chosen up front: idempotent)
    error_file_id: str = ""
    expires_after: int | None = None  # output_expires_after.seconds of the request


@dataclass(slots=True)
class BatchRecord:
    batch: Batch
    kind: Literal["local", "upstream"]
    upstream_id: str | None

    @classmethod
    def from_row(cls, row: Row) -> BatchRecord:
        return cls(batch_decoder.decode(row[0]), row[1], row[2])


_RECORD = "body, kind, upstream_id"


class BatchStore(JobTable[Batch]):
    noun = "Batch"
    param = "batch_id"
    interrupted = frozenset({"in_progress", "finalizing", "cancelling"})
    runnable = frozenset({"validating", "in_progress", "finalizing", "cancelling"})

    @classmethod
    def open(cls, path: Path) -> BatchStore:
        return cls(SqliteWorker.open(path, schema=_SCHEMA, name="batch-store"), batch_decoder)

    def get(self, batch_id: str) -> BatchRecord:
        return BatchRecord.from_row(self.row(batch_id, _RECORD))

    def list_page(self, *, limit: int, after: str | None) -> Page[BatchRecord]:
        return self.page(columns=_RECORD, limit=limit, after=after, decode=BatchRecord.from_row)

    # -- progress ---------------------------------------------------------------------------

    def insert_local(self, batch: Batch, progress: Progress) -> None:
        """A new local batch and its progress row, in one transaction."""

        def insert(conn: sqlite3.Connection) -> None:
            self.insert(batch, kind="local")
            conn.execute(
                "INSERT INTO progress (batch_id, output_file_id, error_file_id, expires_after) "
                "VALUES (?, ?, ?, ?)",
                (batch.id, progress.output_file_id, progress.error_file_id, progress.expires_after),
            )

        self._db.write(insert)

    def progress(self, batch_id: str) -> Progress:
        row = self._db.fetchone(
            "SELECT input_offset, line, output_bytes, error_bytes, output_file_id, "
            "error_file_id, expires_after FROM progress WHERE batch_id = ?",
            (batch_id,),
        )
        if row is None:
            raise KeyError(batch_id)
        return Progress(*row)

    def commit_chunk(
        self, batch_id: str, progress: Progress, *, completed: int, failed: int, tokens: int
    ) -> str:
        """Record a chunk written (its files fsynced): the new progress, the counts and usage,
        and attempts back to zero, in one transaction. Returns the batch's status (a cancel may
        have come meanwhile)."""

        def commit(conn: sqlite3.Connection) -> str:
            conn.execute(
                "UPDATE progress SET input_offset = ?, line = ?, output_bytes = ?, "
                "error_bytes = ? WHERE batch_id = ?",
                (
                    progress.input_offset,
                    progress.line,
                    progress.output_bytes,
                    progress.error_bytes,
                    batch_id,
                ),
            )
            row = conn.execute("SELECT body FROM jobs WHERE id = ?", (batch_id,)).fetchone()
            batch = batch_decoder.decode(row[0])
            batch.request_counts.completed += completed
            batch.request_counts.failed += failed
            usage = batch.usage or BatchUsage()
            usage.input_tokens += tokens
            usage.total_tokens += tokens
            batch.usage = usage
            conn.execute(
                "UPDATE jobs SET body = ?, attempts = 0 WHERE id = ?",
                (json_encoder.encode(batch), batch_id),
            )
            return batch.status

        return self._db.write(commit)

    # -- restarts: a local batch resumes where its last chunk left it -----------------------

    def resume(self, job: Batch, attempts: int) -> tuple[str, Level]:
        return (
            f"The server restarted while the batch was {job.status}; it resumes where its last "
            f"written chunk ended (attempt {attempts + 1} of {MAX_ATTEMPTS}).",
            "warn",
        )

    def give_up(self, job: Batch, attempts: int) -> tuple[str, Level]:
        message = (
            f"The batch was interrupted by {attempts} server restarts without progress "
            "and was not resumed again."
        )
        job.status = "failed"
        job.failed_at = int(time.time())
        job.errors = BatchErrors(data=[BatchError(code="interrupted", message=message)])
        return message, "error"

    def make_event(
        self, message: str, level: Level, type: Literal["message", "metrics"], data: Any
    ) -> BatchEvent:
        return BatchEvent(
            id="batchevent_" + secrets.token_hex(12),
            created_at=int(time.time()),
            level=level,
            message=message,
            type=type,
            data=data,
        )

    def events(self, batch_id: str, *, limit: int, after: str | None) -> Page[BatchEvent]:
        """Newest first (for tests and operators; the API has no events route)."""
        return self.event_page(
            batch_id, limit=limit, after=after, decode=lambda row: event_decoder.decode(row[0])
        )
