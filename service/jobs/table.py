"""``JobTable``: what every kind of background job keeps in SQLite (fine-tuning jobs, batches).

Usage (a kind of job subclasses it, names its statuses and says what a restart does to one:
``resume``, ``give_up``, ``make_event``)::

    class BatchStore(JobTable[Batch]):
        noun, param = "Batch", "batch_id"
        interrupted = frozenset({"in_progress", "finalizing", "cancelling"})
        runnable = frozenset({"validating", "in_progress", "finalizing", "cancelling"})

    store = BatchStore(SqliteWorker.open(path, schema=schema(), name="batch-store"), decoder)
    queued = store.recover()                       # at start-up, before the runner starts
    store.transition(job_id, ("validating",), start)   # compare-and-set of the status

A job is its JSON body (the object clients see) plus the columns the service needs: ``kind``
(``local``: run here; ``upstream``: proxied), the upstream's id, and how many runs a restart cut
short. Status changes go through ``transition``, a compare-and-set on the writer thread, so a
cancel and a finishing run cannot overwrite each other. Events are rows of their own. Our files
uploaded to the upstream, and the upstream's result files under ids of ours, are mapped here too.
Thread-safe and blocking; async callers use ``await store.run(fn, ...)``.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar

import msgspec

from service.errors import NotFoundError
from service.sqlite_worker import Page, Row, SqliteWorker

T = TypeVar("T")
Level = Literal["info", "warn", "error"]
Kind = Literal["local", "upstream"]
# A run interrupted this many times in a row (e.g. it crashes the process) is failed, not retried.
MAX_ATTEMPTS = 3


class JobBody(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def status(self) -> str: ...


J = TypeVar("J", bound=JobBody)

#: The shared tables. ``{columns}`` is where a kind of job adds columns of its own to ``jobs``.
SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    upstream_id TEXT,{columns}
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
_encoder = msgspec.json.Encoder()


def schema(columns: str = "") -> str:
    """The shared tables, ``columns`` (``"\\n    suffix TEXT,"``) added to ``jobs``."""
    return SCHEMA.replace("{columns}", columns)


class Identified(Protocol):
    @property
    def id(self) -> str: ...


class JobTable(Generic[J]):
    """Jobs of one kind in one SQLite file; subclasses set the class attributes and events."""

    noun: ClassVar[str]  # "Fine-tuning job": in not-found messages
    param: ClassVar[str]  # "fine_tuning_job_id": the param of those errors
    interrupted: ClassVar[frozenset[str]]  # statuses a restart cuts short
    runnable: ClassVar[frozenset[str]]  # statuses the runner takes up at start-up

    def __init__(self, db: SqliteWorker, decoder: msgspec.json.Decoder[J]) -> None:
        self._db = db
        self._decoder = decoder

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._db.run(fn, *args)

    def close(self) -> None:
        self._db.close()

    # -- jobs -------------------------------------------------------------------------------

    def insert(
        self, job: J, *, kind: Kind, upstream_id: str | None = None, **columns: object
    ) -> None:
        names = ["id", "kind", "upstream_id", *columns, "body"]
        values = (job.id, kind, upstream_id, *columns.values(), _encoder.encode(job))
        self._db.execute(
            f"INSERT INTO jobs ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
            values,
        )

    def row(self, job_id: str, columns: str) -> Row:
        """``SELECT {columns}`` of one job; 404 when there is none."""
        row = self._db.fetchone(f"SELECT {columns} FROM jobs WHERE id = ?", (job_id,))
        if row is None:
            raise NotFoundError(f"{self.noun} {job_id} not found.", param=self.param)
        return row

    def body(self, job_id: str) -> J:
        return self._decoder.decode(self.row(job_id, "body")[0])

    def save(self, job: J) -> None:
        self._db.execute("UPDATE jobs SET body = ? WHERE id = ?", (_encoder.encode(job), job.id))

    def transition(
        self, job_id: str, allowed: Iterable[str], change: Callable[[J], None]
    ) -> J | None:
        """Apply ``change`` only if the job's status is in ``allowed``; None when it was not."""
        allowed = set(allowed)

        def compare_and_set(conn: sqlite3.Connection) -> J | None:
            row = conn.execute("SELECT body FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                return None
            job = self._decoder.decode(row[0])
            if job.status not in allowed:
                return None
            change(job)
            conn.execute("UPDATE jobs SET body = ? WHERE id = ?", (_encoder.encode(job), job_id))
            return job

        return self._db.write(compare_and_set)

    def page(
        self, *, columns: str, limit: int, after: str | None, decode: Callable[[Row], T]
    ) -> Page[T]:
        """Newest first; ``after`` is the id of the last job of the previous page."""
        return self._db.page(
            "jobs",
            columns=columns,
            after=after,
            limit=limit,
            unknown=f"{self.noun} {{after}} not found.",
            decode=decode,
        )

    # -- restarts ---------------------------------------------------------------------------

    def recover(self) -> list[str]:
        """At start-up, in one transaction: each local job a restart cut short (its status in
        ``interrupted``) counts one more attempt and is ``resume``-d, or handed to ``give_up``
        after ``MAX_ATTEMPTS``; each is told in an event. Returns the ids of local jobs the
        runner takes up (status in ``runnable``), oldest first."""
        return self._db.write(self._recover)

    def _recover(self, conn: sqlite3.Connection) -> list[str]:
        rows = conn.execute(
            "SELECT id, body, attempts FROM jobs WHERE kind = 'local' ORDER BY seq"
        ).fetchall()
        queue = []
        for job_id, body, attempts in rows:
            job = self._decoder.decode(body)
            if job.status in self.interrupted:
                attempts += 1
                conn.execute("UPDATE jobs SET attempts = ? WHERE id = ?", (attempts, job_id))
                if attempts >= MAX_ATTEMPTS:
                    message, level = self.give_up(job, attempts)
                else:
                    message, level = self.resume(job, attempts)
                self.save(job)
                self.add_event(job_id, message, level=level)
            if job.status in self.runnable:
                queue.append(job_id)
        return queue

    def resume(self, job: J, attempts: int) -> tuple[str, Level]:
        """Set ``job`` up to run again after a restart; returns the event that says so."""
        raise NotImplementedError

    def give_up(self, job: J, attempts: int) -> tuple[str, Level]:
        """Fail ``job``, interrupted ``attempts`` times; returns the event that says so."""
        raise NotImplementedError

    def reset_attempts(self, job_id: str) -> None:
        """The job made progress: restarts count from zero again."""
        self._db.execute("UPDATE jobs SET attempts = 0 WHERE id = ?", (job_id,))

    # -- events -----------------------------------------------------------------------------

    def make_event(
        self, message: str, level: Level, type: Literal["message", "metrics"], data: Any
    ) -> Identified:
        raise NotImplementedError

    def add_event(
        self,
        job_id: str,
        message: str,
        *,
        level: Level = "info",
        type: Literal["message", "metrics"] = "message",
        data: dict[str, Any] | None = None,
    ) -> Identified:
        event = self.make_event(message, level, type, data if data is not None else {})
        self.put_events(job_id, [event])
        return event

    def put_events(self, job_id: str, events: Sequence[Identified]) -> None:
        """Insert events (oldest first); ones already stored (by id) are left as they are."""
        rows = [(e.id, job_id, _encoder.encode(e)) for e in events]
        self._db.write(
            lambda conn: conn.executemany(
                "INSERT OR IGNORE INTO events (id, job_id, body) VALUES (?, ?, ?)", rows
            )
        )

    def event_page(
        self, job_id: str, *, limit: int, after: str | None, decode: Callable[[Row], T]
    ) -> Page[T]:
        """Newest first, like OpenAI; ``after`` is the id of the last event already seen."""
        return self._db.page(
            "events",
            columns="body",
            after=after,
            limit=limit,
            unknown="Event {after} not found.",
            decode=decode,
            where={"job_id": job_id},
            scoped=True,
        )

    # -- our files on the upstream, and the upstream's result files under our ids ------------

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
