"""The SQLite connections of one collection file: one writer, pooled readers.

WAL mode with ``synchronous=FULL``: a write is on disk when its transaction commits. Callers
serialise writes; readers take pooled connections, which WAL lets run alongside the writer.

Memory is bounded per collection (issue 10, where the server grew from 420 MiB to 1 GiB under
load, and to 800 MiB on filters of varying sizes):

- *Page caches*: each connection has its own. They were 64 MiB each, plus a 1 GiB memory map
  each; under writes every reader filled its cache with the write-ahead log's pages. Now the
  writer keeps ``WRITER_CACHE_KIB``, each reader ``READER_CACHE_KIB``, no memory map, and at
  most ``MAX_IDLE_READERS`` readers stay pooled; the operating system's file cache serves the
  rest, outside the process.
- *Statement caches*: Python's ``sqlite3`` keeps each connection's last prepared statements,
  keyed by their SQL text. Texts that vary with the size of an argument (``IN (?, ?, ...)``, a
  filter's clauses) filled them with large compiled statements. Lists of labels are now one JSON
  parameter (:func:`json_list`), lists of ids use a few padded sizes (:func:`id_chunks`), and a
  long filter runs on a reader that caches nothing (``reader(cached=False)``).
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import msgspec
import numpy as np

#: Page size of new collection files. A stored vector (1 KiB at 256-d) is a row of its own;
#: 4 KiB pages hold three of them and waste a quarter of each page (1,369 bytes per document
#: for 1,024 of vector), 16 KiB pages hold fifteen (1,092 bytes). Files created before keep
#: their page size (SQLite changes it only by rewriting the file).
PAGE_SIZE = 16_384
WRITER_CACHE_KIB = 32 * 1024
READER_CACHE_KIB = 8 * 1024
#: Idle readers kept per collection, cached or not (the service's index pool has 8 threads).
MAX_IDLE_READERS = 8
#: Prepared statements each connection keeps.
STATEMENT_CACHE = 64
#: Longer SQL (a filter of many clauses, ``filters.py``) is prepared afresh each time.
CACHEABLE_SQL_LENGTH = 2_000
#: Ids per statement, padded up to the next of these sizes (a few statement texts in all).
ID_CHUNKS = (1, 16, 128, 512)

_encode = msgspec.json.Encoder().encode


def connect(path: Path, *, cache_kib: int, statements: int) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path,
        isolation_level=None,
        check_same_thread=False,
        timeout=30.0,
        cached_statements=statements,
    )
    # Takes effect only in a new, empty file (before WAL mode fixes it); see PAGE_SIZE.
    conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(f"PRAGMA cache_size=-{cache_kib}")
    # Once a checkpoint has emptied the write-ahead log, cut it back to this size.
    conn.execute("PRAGMA journal_size_limit=67108864")
    return conn


class Connections:
    """``transaction()`` on the writer; ``reader()`` from the pool."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.writer = connect(path, cache_kib=WRITER_CACHE_KIB, statements=STATEMENT_CACHE)
        self._pools: dict[bool, queue.SimpleQueue[sqlite3.Connection]] = {
            True: queue.SimpleQueue(),
            False: queue.SimpleQueue(),
        }
        self._all: list[sqlite3.Connection] = [self.writer]
        self._all_lock = threading.Lock()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self.writer
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def reader(self, *, cached: bool = True) -> Iterator[sqlite3.Connection]:
        """A read-only connection; ``cached=False`` for SQL worth no place in a cache."""
        pool = self._pools[cached]
        try:
            conn = pool.get_nowait()
        except queue.Empty:
            statements = STATEMENT_CACHE if cached else 0
            conn = connect(self.path, cache_kib=READER_CACHE_KIB, statements=statements)
            conn.execute("PRAGMA query_only=ON")
            with self._all_lock:
                self._all.append(conn)
        try:
            yield conn
        finally:
            if pool.qsize() < MAX_IDLE_READERS:
                pool.put(conn)
            else:  # a burst beyond the pool: its caches are not kept
                with self._all_lock:
                    self._all.remove(conn)
                conn.close()

    def close(self) -> None:
        with self._all_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()


def json_list(values: np.ndarray | Iterable[int]) -> bytes:
    """Integers as one JSON parameter, for ``IN (SELECT value FROM json_each(?))``: one
    statement text whatever their number."""
    return _encode(values.tolist() if isinstance(values, np.ndarray) else list(values))


def id_chunks(ids: Sequence[str]) -> Iterator[tuple[str, list[str | None]]]:
    """``(marks, params)`` covering ``ids``: ``IN ({marks})`` takes the padded ``params``.

    Ids stay bound parameters (SQLite's JSON would cut a string at a NUL character); the
    padding (``NULL``, which matches nothing) keeps the statement texts to ``ID_CHUNKS``.
    """
    largest = ID_CHUNKS[-1]
    for start in range(0, len(ids), largest):
        chunk: list[str | None] = list(ids[start : start + largest])
        size = next(size for size in ID_CHUNKS if size >= len(chunk))
        chunk.extend([None] * (size - len(chunk)))
        yield ",".join("?" * size), chunk
