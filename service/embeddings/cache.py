"""Persistent embedding cache: SQLite in the data dir, bounded in size, least-recently-used out.

Usage (blocking, thread-safe; from the event loop ``await cache.run(cache.get_many, keys)``)::

    cache = EmbeddingCache.open(data_dir, max_bytes=512 << 20)
    found = cache.get_many([key])          # {key: (vector, tokens)}
    cache.put_many([(key, vector, tokens)])

An entry is keyed by a hash of (model, dimensions, exact input) and keeps the float32 vector and
the input's token count, so ``usage`` stays right on a hit. Recency is a counter, not the clock,
so a clock jump cannot reorder it. A file SQLite cannot read is a cache, not data: it is logged,
discarded and rebuilt, never a crash.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from service.metrics import Metrics
from service.sqlite_worker import SqliteWorker, remove_database

logger = logging.getLogger(__name__)
T = TypeVar("T")

FILENAME = "embedding-cache.sqlite3"
SCHEMA_VERSION = 1
# Bytes charged per row on top of key and vector: SQLite's row and index overhead, roughly.
ROW_OVERHEAD = 48
# Evict down to this share of the bound, so a full cache does not evict on every write.
LOW_WATER = 0.9
_CHUNK = 500  # keys per SQL statement, well under SQLite's variable limit

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key BLOB PRIMARY KEY,
    vector BLOB NOT NULL,
    tokens INTEGER NOT NULL,
    size INTEGER NOT NULL,
    last_used INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_lru ON entries (last_used, size);
"""


def make_key(model: str, dimensions: int | None, item: str | list[int]) -> bytes:
    """The cache key of one input: texts and token arrays never collide (distinct tags)."""
    digest = hashlib.blake2b(digest_size=32)
    digest.update(f"{model}\x00{dimensions or 0}\x00".encode())
    if isinstance(item, str):
        digest.update(b"s")
        digest.update(item.encode("utf-8", "surrogatepass"))
    else:
        digest.update(b"t")
        digest.update(np.asarray(item, dtype=np.int64).tobytes())
    return digest.digest()


def _chunks(items: list[T], size: int = _CHUNK) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class EmbeddingCache:
    """The SQLite-backed LRU. Every call writes (a hit refreshes its recency), so all of them
    run on its ``SqliteWorker``'s writer thread, one after another."""

    def __init__(self, path: Path, max_bytes: int, metrics: Metrics | None = None) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.metrics = metrics or Metrics()
        # synchronous=NORMAL (the default): a write lost to a power cut only costs a recompute.
        self._db = SqliteWorker(path, prepare=_prepare, name="embedding-cache")
        try:
            self.total_bytes, self._clock = self._db.write(_totals)
        except BaseException:
            self._db.close()
            raise

    @classmethod
    def open(cls, data_dir: Path, max_bytes: int, metrics: Metrics | None = None) -> EmbeddingCache:
        """Open or create the cache file; an unreadable one is discarded with a warning."""
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / FILENAME
        try:
            return cls(path, max_bytes, metrics)
        except sqlite3.DatabaseError as exc:
            logger.warning("embedding cache %s is unreadable (%s); starting a new one", path, exc)
            remove_database(path)
            return cls(path, max_bytes, metrics)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking method on the cache's writer thread (no extra thread hop)."""
        return await self._db.run_writer(fn, *args)

    def get_many(self, keys: list[bytes]) -> dict[bytes, tuple[np.ndarray, int]]:
        """Look keys up and mark the hits as just used; a read error counts as all misses."""
        try:
            return self._db.write(lambda conn: self._get_many(conn, keys))
        except sqlite3.DatabaseError as exc:
            self._reset(exc)
            return {}

    def _get_many(
        self, conn: sqlite3.Connection, keys: list[bytes]
    ) -> dict[bytes, tuple[np.ndarray, int]]:
        found: dict[bytes, tuple[np.ndarray, int]] = {}
        unique = list(dict.fromkeys(keys))
        for chunk in _chunks(unique):
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(
                f"SELECT key, vector, tokens FROM entries WHERE key IN ({marks})", chunk
            )
            for key, vector, tokens in rows:
                found[key] = (np.frombuffer(vector, dtype="<f4"), tokens)
        if found:
            self._clock += 1
            hits = list(found)
            for chunk in _chunks(hits):
                marks = ",".join("?" * len(chunk))
                conn.execute(
                    f"UPDATE entries SET last_used = ? WHERE key IN ({marks})",
                    [self._clock, *chunk],
                )
        return found

    def put_many(self, items: Iterable[tuple[bytes, np.ndarray, int]]) -> None:
        """Store entries (replacing equal keys), then evict the least recently used to fit."""
        if self.max_bytes <= 0:
            return
        try:
            self._db.write(lambda conn: self._put_many(conn, items))
        except sqlite3.DatabaseError as exc:
            self._reset(exc)

    def _put_many(
        self, conn: sqlite3.Connection, items: Iterable[tuple[bytes, np.ndarray, int]]
    ) -> None:
        # One transaction (``write``): the batch lands whole or not at all.
        self._clock += 1
        rows = []
        for key, vector, tokens in items:
            blob = np.asarray(vector, dtype="<f4").tobytes()
            rows.append((key, blob, tokens, len(key) + len(blob) + ROW_OVERHEAD, self._clock))
        if not rows:
            return
        replaced = 0
        for chunk in _chunks([row[0] for row in rows]):
            marks = ",".join("?" * len(chunk))
            replaced += conn.execute(
                f"SELECT COALESCE(SUM(size), 0) FROM entries WHERE key IN ({marks})", chunk
            ).fetchone()[0]
        conn.executemany("INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?)", rows)
        self.total_bytes += sum(row[3] for row in rows) - replaced
        if self.total_bytes > self.max_bytes:
            self._evict(conn, int(self.max_bytes * LOW_WATER))

    def _evict(self, conn: sqlite3.Connection, target: int) -> None:
        victims: list[bytes] = []
        freed = 0
        cursor = conn.execute("SELECT key, size FROM entries ORDER BY last_used")
        for key, size in cursor:
            if self.total_bytes - freed <= target:
                break
            victims.append(key)
            freed += size
        cursor.close()
        for chunk in _chunks(victims):
            marks = ",".join("?" * len(chunk))
            conn.execute(f"DELETE FROM entries WHERE key IN ({marks})", chunk)
        self.total_bytes -= freed
        self.metrics.cache_evictions.inc(len(victims))

    def count(self) -> int:
        row = self._db.fetchone("SELECT COUNT(*) FROM entries")
        return int(row[0]) if row else 0

    def _reset(self, exc: Exception) -> None:
        logger.warning("embedding cache %s failed (%s); discarding it", self.path, exc)
        self._db.reopen(discard=True)
        self.total_bytes, self._clock = 0, 0

    def close(self) -> None:
        """Finish queued calls and close the file (from any thread but the cache's own)."""
        self._db.close()


def _prepare(conn: sqlite3.Connection) -> None:
    """Create the table, or drop one of another schema version: a cache, not data."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version not in (0, SCHEMA_VERSION):
        conn.executescript("DROP TABLE IF EXISTS entries;")
    conn.executescript(_SCHEMA)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    conn.execute("SELECT COUNT(*) FROM entries").fetchone()


def _totals(conn: sqlite3.Connection) -> tuple[int, int]:
    """Bytes charged so far and the recency clock, read when the cache opens."""
    size, clock = conn.execute(
        "SELECT COALESCE(SUM(size), 0), COALESCE(MAX(last_used), 0) FROM entries"
    ).fetchone()
    return int(size), int(clock)
