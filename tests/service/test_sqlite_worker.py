"""The shared SQLite building block: cursor pages, one writer thread, readers that never wait."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from service.errors import InvalidRequestError
from service.sqlite_worker import Page, Row, SqliteWorker

SCHEMA = """
CREATE TABLE items (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL
);
CREATE TABLE counter (n INTEGER NOT NULL);
INSERT INTO counter VALUES (0);
"""
WAIT = 10.0  # seconds: a bound on every wait, far above what the operations take


@pytest.fixture
def db(tmp_path: Path) -> Iterator[SqliteWorker]:
    worker = SqliteWorker.open(tmp_path / "test.sqlite3", schema=SCHEMA, name="test")
    yield worker
    worker.close()


def fill(db: SqliteWorker, n: int) -> list[str]:
    ids = [f"item-{i}" for i in range(n)]
    for i, id_ in enumerate(ids):
        db.execute("INSERT INTO items (id, kind) VALUES (?, ?)", (id_, "odd" if i % 2 else "even"))
    return ids


def page(db: SqliteWorker, after: str | None, limit: int, **options: Any) -> Page[str]:
    def first(row: Row) -> str:
        return str(row[0])

    return db.page(
        "items", columns="id", after=after, limit=limit, unknown="No such item: {after}",
        decode=first, **options,
    )  # fmt: skip


def test_pages_follow_the_after_cursor_both_ways(db: SqliteWorker) -> None:
    ids = fill(db, 7)
    first = page(db, None, 3)
    assert first.items == ids[:-4:-1] and first.has_more
    second = page(db, first.items[-1], 3)
    assert second.items == ids[3:0:-1] and second.has_more
    assert page(db, second.items[-1], 3) == ([ids[0]], False)
    assert page(db, ids[4], 10, order="asc") == (ids[5:], False)
    assert page(db, ids[-1], 10, order="asc") == ([], False)


def test_where_filters_and_scoped_cursors(db: SqliteWorker) -> None:
    ids = fill(db, 6)
    odd = {"kind": "odd"}
    assert page(db, None, 10, where=odd).items == [ids[5], ids[3], ids[1]]
    # Unscoped, any row places the cursor; scoped, it must match the filter too.
    assert page(db, ids[4], 10, where=odd).items == [ids[3], ids[1]]
    with pytest.raises(InvalidRequestError) as info:
        page(db, ids[4], 10, where=odd, scoped=True)
    assert info.value.param == "after"


def test_an_unknown_cursor_is_a_400_naming_after(db: SqliteWorker) -> None:
    fill(db, 2)
    with pytest.raises(InvalidRequestError) as info:
        page(db, "nope", 5)
    assert (info.value.status, info.value.param) == (400, "after")
    assert info.value.message == "No such item: nope"


def test_writes_from_many_threads_run_on_one_thread_and_none_is_lost(db: SqliteWorker) -> None:
    writers: set[int] = set()

    def increment(conn: sqlite3.Connection) -> None:
        writers.add(threading.get_ident())
        (n,) = conn.execute("SELECT n FROM counter").fetchone()
        conn.execute("UPDATE counter SET n = ?", (n + 1,))  # read-modify-write: no lost update

    def work(_: int) -> None:
        for _ in range(50):
            db.write(increment)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(8)))
    assert db.fetchone("SELECT n FROM counter") == (400,)
    assert len(writers) == 1 and threading.get_ident() not in writers


def test_a_failed_write_rolls_back_whole(db: SqliteWorker) -> None:
    def half(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO items (id, kind) VALUES ('a', 'x')")
        conn.execute("INSERT INTO items (id, kind) VALUES ('a', 'x')")  # UNIQUE fails

    with pytest.raises(sqlite3.IntegrityError):
        db.write(half)
    assert db.fetchall("SELECT id FROM items") == []
    db.write(lambda conn: db.execute("INSERT INTO items (id, kind) VALUES ('b', 'y')"))  # nested
    assert db.fetchall("SELECT id FROM items") == [("b",)]


def test_readers_run_while_a_write_is_in_progress(db: SqliteWorker) -> None:
    """A write transaction held open (as an upload's commit would be) blocks no reader: each
    sees the last commit, and several readers are inside a read at the same moment."""
    fill(db, 3)
    inside, release = threading.Event(), threading.Event()

    def slow_write(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO items (id, kind) VALUES ('late', 'x')")
        inside.set()
        assert release.wait(WAIT)

    with ThreadPoolExecutor(4) as pool:
        pending = pool.submit(db.write, slow_write)
        assert inside.wait(WAIT)
        together = threading.Barrier(3, timeout=WAIT)

        def count(conn: sqlite3.Connection) -> int:
            together.wait()  # passes only if three reads are open at once
            return int(conn.execute("SELECT COUNT(*) FROM items").fetchone()[0])

        readers = [pool.submit(db.read, count) for _ in range(3)]
        assert [r.result(WAIT) for r in readers] == [3, 3, 3]  # the uncommitted row is unseen
        assert not pending.done()
        release.set()
        pending.result(WAIT)
    assert db.fetchone("SELECT COUNT(*) FROM items") == (4,)


def test_run_from_the_event_loop_reads_while_the_writer_is_busy(db: SqliteWorker) -> None:
    fill(db, 2)
    busy, release = threading.Event(), threading.Event()

    def hold(conn: sqlite3.Connection) -> None:
        busy.set()
        assert release.wait(WAIT)

    async def scenario() -> list[tuple[object, ...]]:
        writing = asyncio.ensure_future(db.run_writer(db.write, hold))
        assert await asyncio.to_thread(busy.wait, WAIT)
        rows = await asyncio.wait_for(db.run(db.fetchall, "SELECT id FROM items"), WAIT)
        assert not writing.done()
        release.set()
        await asyncio.wait_for(writing, WAIT)
        return rows

    assert asyncio.run(scenario()) == [("item-0",), ("item-1",)]


def test_reopen_discards_the_file(tmp_path: Path) -> None:
    db = SqliteWorker.open(tmp_path / "c.sqlite3", schema=SCHEMA, name="test")
    fill(db, 3)
    assert db.fetchone("SELECT COUNT(*) FROM items") == (3,)  # opens this thread's reader
    db.reopen(discard=True)
    assert db.fetchone("SELECT COUNT(*) FROM items") == (0,)
    db.close()


def test_a_file_that_is_not_a_database_fails_to_open(tmp_path: Path) -> None:
    path = tmp_path / "junk.sqlite3"
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(sqlite3.DatabaseError):
        SqliteWorker.open(path, schema=SCHEMA, name="test")
