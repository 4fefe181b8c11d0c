"""``SqliteWorker``: one SQLite file used from many threads: one writer thread, parallel readers.

Usage::

    db = SqliteWorker.open(path, schema=SCHEMA, name="file-store")
    db.write(lambda conn: conn.execute("INSERT INTO files ...", row))   # one transaction
    row = db.fetchone("SELECT ... FROM files WHERE id = ?", (file_id,))
    files, has_more = db.page("files", columns="id, bytes", after=None, limit=20,
                              unknown="No such File object: {after}", decode=to_file)
    info = await db.run(store.get, file_id)      # from the event loop: a blocking call, off it
    db.close()

Every write runs on the worker's one writer thread, so writes never contend for SQLite's lock
and a compare-and-set is simply a function passed to ``write``. Reads run on the calling
thread's own connection: in WAL mode they see the last commit and never wait for a write in
progress, so a listing is not held up by an upload's commit. Methods are blocking and
thread-safe; the event loop calls them through ``run`` (a pool of threads, where disk syncs
may also run) or ``run_writer`` (functions that only write, e.g. the embedding cache's).
Nothing here takes a lock on the event loop. The Datasette pattern (``database.py``: a write
thread, read connections per thread), shared by the files, fine-tuning and cache stores.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Generic, Literal, NamedTuple, TypeVar

from service.errors import InvalidRequestError

T = TypeVar("T")
Row = tuple[Any, ...]
Order = Literal["asc", "desc"]
Prepare = Callable[[sqlite3.Connection], None]


class Page(NamedTuple, Generic[T]):
    """One page of a cursor-paged listing and whether more rows follow it."""

    items: list[T]
    has_more: bool


class SqliteWorker:
    """A WAL database with a single writer thread and a connection per reading thread."""

    def __init__(
        self,
        path: Path,
        *,
        prepare: Prepare,
        name: str,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        readers: int = 4,
    ) -> None:
        self.path = path
        self._prepare = prepare
        self._synchronous = synchronous
        self._writer = ThreadPoolExecutor(1, thread_name_prefix=f"{name}-writer")
        self._pool = ThreadPoolExecutor(readers, thread_name_prefix=name)
        self._writer_ident = self._writer.submit(threading.get_ident).result()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()  # guards the list only, never held across I/O
        self._generation = 0
        try:
            self._conn = self._on_writer(self._connect)
        except BaseException:
            self._shutdown_threads()
            raise

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        name: str,
        schema: str = "",
        prepare: Prepare | None = None,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
    ) -> SqliteWorker:
        """Open (or create) the database; ``prepare`` (default: run ``schema``) sets it up on
        the writer's connection. Raises ``sqlite3.DatabaseError`` for a file that is not one."""
        path.parent.mkdir(parents=True, exist_ok=True)

        def run_schema(conn: sqlite3.Connection) -> None:
            conn.executescript(schema)

        return cls(path, prepare=prepare or run_schema, name=name, synchronous=synchronous)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            self._prepare(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    # -- writes: on the writer thread -----------------------------------------------------------

    def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` on the writer thread in one transaction and return its result.

        Called on the writer thread itself (from inside another ``write``, or a function given
        to ``run_writer``) it runs at once, joining the transaction already open."""
        return self._on_writer(lambda: self._transaction(fn))

    def execute(self, sql: str, args: tuple[Any, ...] = ()) -> int:
        """One write statement; returns the number of rows it changed."""
        return self.write(lambda conn: conn.execute(sql, args).rowcount)

    def _transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._conn
        if conn.in_transaction:
            return fn(conn)
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
        except BaseException:
            conn.rollback()  # a no-op when SQLite already rolled back (e.g. a full disk)
            raise
        conn.execute("COMMIT")
        return result

    def _on_writer(self, fn: Callable[[], T]) -> T:
        if threading.get_ident() == self._writer_ident:
            return fn()
        return self._writer.submit(fn).result()

    # -- reads: on this thread's own connection -------------------------------------------------

    def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` against one consistent snapshot, concurrently with writes."""
        if threading.get_ident() == self._writer_ident:
            return fn(self._conn)  # sees the writer's own uncommitted rows, as it should
        conn = self._reader()
        conn.execute("BEGIN")
        try:
            return fn(conn)
        finally:
            conn.commit()  # ends the read snapshot; a no-op if an error already ended it

    def fetchone(self, sql: str, args: tuple[Any, ...] = ()) -> Row | None:
        row: Row | None = self.read(lambda conn: conn.execute(sql, args).fetchone())
        return row

    def fetchall(self, sql: str, args: tuple[Any, ...] = ()) -> list[Row]:
        return self.read(lambda conn: conn.execute(sql, args).fetchall())

    def page(
        self,
        table: str,
        *,
        columns: str,
        after: str | None,
        limit: int,
        unknown: str,
        decode: Callable[[Row], T],
        order: Order = "desc",
        where: Mapping[str, object] | None = None,
        scoped: bool = False,
    ) -> Page[T]:
        """Rows of ``table`` in insertion order (its ``seq`` column), ``limit`` at a time.

        ``after`` is the ``id`` of the last row of the previous page; unknown, it is a 400 with
        ``unknown.format(after=after)``. ``where`` filters by equal columns; ``scoped`` asks the
        ``after`` row to match it too (a job's events), otherwise any row places the cursor.
        """
        filters = dict(where or {})
        clauses = [f"{column} = ?" for column in filters]
        args: list[object] = list(filters.values())

        def select(conn: sqlite3.Connection) -> list[Row]:
            if after is not None:
                lookup = ["id = ?", *(clauses if scoped else [])]
                found = conn.execute(
                    f"SELECT seq FROM {table} WHERE {' AND '.join(lookup)}",
                    (after, *(args if scoped else [])),
                ).fetchone()
                if found is None:
                    raise InvalidRequestError(unknown.format(after=after), param="after")
                clauses.append("seq < ?" if order == "desc" else "seq > ?")
                args.append(found[0])
            where_sql = f"WHERE {' AND '.join(clauses)}" if clauses else ""
            direction = "DESC" if order == "desc" else "ASC"
            return conn.execute(
                f"SELECT {columns} FROM {table} {where_sql} ORDER BY seq {direction} LIMIT ?",
                (*args, limit + 1),
            ).fetchall()

        rows = self.read(select)
        return Page([decode(row) for row in rows[:limit]], len(rows) > limit)

    def _reader(self) -> sqlite3.Connection:
        held: tuple[int, sqlite3.Connection] | None = getattr(self._local, "conn", None)
        if held is not None and held[0] == self._generation:
            return held[1]
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA query_only=ON")  # a read path that tries to write fails loudly
        with self._readers_lock:
            self._readers.append(conn)
        self._local.conn = (self._generation, conn)
        return conn

    # -- from the event loop --------------------------------------------------------------------

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking function on the worker's pool: its reads go in parallel, its writes
        hop to the writer thread, and its file syncs hold up neither."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def run_writer(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking function on the writer thread itself: for one that mostly writes
        (saves a thread hop per write), never for one that syncs files."""
        return await asyncio.get_running_loop().run_in_executor(self._writer, fn, *args)

    # -- lifetime -------------------------------------------------------------------------------

    def reopen(self, *, discard: bool) -> None:
        """Close every connection and open the file again; ``discard`` deletes it first (a
        corrupt cache is rebuilt, not repaired)."""

        def again() -> None:
            self._close_connections()
            if discard:
                remove_database(self.path)
            self._conn = self._connect()

        self._on_writer(again)

    def close(self) -> None:
        """Finish queued work, then close every connection. Not from the writer thread."""
        self._shutdown_threads()
        self._close_connections()

    def _shutdown_threads(self) -> None:
        self._pool.shutdown(wait=True)
        self._writer.shutdown(wait=True)

    def _close_connections(self) -> None:
        with self._readers_lock:
            readers, self._readers = self._readers, []
            self._generation += 1
        for conn in [*readers, getattr(self, "_conn", None)]:
            if conn is not None:
                try:
                    conn.close()
                except sqlite3.Error:  # pragma: no cover - closing a broken handle
                    pass


def remove_database(path: Path) -> None:
    """Delete a database file with its WAL and shared-memory companions."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
