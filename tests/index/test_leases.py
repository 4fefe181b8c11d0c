"""A collection's lifetime: drops and closes wait for calls in flight, never pull the SQLite
connections from under them (issue 10, item 1), and lookups never wait on another collection's
disk work (issue 18).

A call is held in flight deterministically by taking SQLite's write lock from a connection of
the test's own: an upsert then waits inside SQLite (its busy timeout) until the test lets go.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

import index.store
from index import Collection, CollectionNotFoundError, Store, StoreClosedError
from index.errors import IndexStoreError
from index.leases import Leases

WAIT = 10.0  # seconds any step may take before the test calls it stuck


@contextmanager
def sqlite_write_lock(col: Collection) -> Iterator[None]:
    """Hold the collection's SQLite write lock, as another writer would."""
    conn = sqlite3.connect(col.directory / "documents.sqlite3", isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def background(fn: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    """Run ``fn`` on a thread; the list receives its result or the exception it raised."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(fn())
        except Exception as exc:  # the test inspects it
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def wait_until(condition: Callable[[], bool]) -> None:
    event = threading.Event()
    for _ in range(int(WAIT / 0.01)):
        if condition():
            return
        event.wait(0.01)
    raise AssertionError("condition not reached")


def in_flight_upsert(col: Collection) -> tuple[threading.Thread, list[object]]:
    assert col.lexical_ready(WAIT)  # its builder holds a lease too, until it is done
    assert col.views_built.wait(WAIT)  # and so does the filter index's
    vector = np.ones((1, col.dim), np.float32)
    thread, outcome = background(lambda: col.upsert(["late"], vector))
    wait_until(lambda: col._leases.held == 1)  # inside the call, waiting on SQLite
    return thread, outcome


def test_drop_waits_for_a_call_in_flight_and_is_unreachable_meanwhile(store: Store) -> None:
    col = store.create_collection("docs", dim=4)
    col.upsert(["a"], np.ones((1, 4), np.float32))
    with sqlite_write_lock(col):
        writer, written = in_flight_upsert(col)
        dropper, dropped = background(lambda: store.drop_collection("docs"))
        wait_until(lambda: col._leases.retiring)
        # Unreachable at once: new lookups and new calls get a clean "not found".
        with pytest.raises(CollectionNotFoundError):
            store.get_collection("docs")
        with pytest.raises(CollectionNotFoundError):
            col.count()
        assert store.list_collections() == []
        dropper.join(0.2)
        assert dropper.is_alive(), "the drop closed the collection under a call in flight"
    writer.join(WAIT)
    dropper.join(WAIT)
    assert written == [1]  # the call in flight finished normally, on open connections
    assert dropped == [None]
    assert not (store.path / "collections" / "docs").exists()
    with pytest.raises(CollectionNotFoundError):
        col.get(["a"])


def test_recreating_a_name_while_its_drop_drains(store: Store) -> None:
    old = store.create_collection("docs", dim=4)
    with sqlite_write_lock(old):
        writer, _ = in_flight_upsert(old)
        dropper, _ = background(lambda: store.drop_collection("docs"))
        wait_until(lambda: old._leases.retiring)
        creator, created = background(lambda: store.create_collection("docs", dim=8))
    for thread in (writer, dropper, creator):
        thread.join(WAIT)
    [new] = created
    assert isinstance(new, Collection) and new is not old
    assert store.get_collection("docs") is new and new.dim == 8 and new.count() == 0


def test_store_close_waits_for_calls_in_flight(tmp_path: Path) -> None:
    store = Store(tmp_path)
    try:
        col = store.create_collection("docs", dim=4)
        with sqlite_write_lock(col):
            writer, written = in_flight_upsert(col)
            closer, _ = background(store.close)
            wait_until(lambda: col._leases.retiring)
            with pytest.raises(StoreClosedError):
                col.count()
            with pytest.raises(StoreClosedError):
                store.get_collection("docs")
            closer.join(0.2)
            assert closer.is_alive()
        writer.join(WAIT)
        closer.join(WAIT)
        assert written == [1]
    finally:
        store.close()  # a no-op once closed; releases the lock if the test failed early
    with Store(tmp_path) as reopened:  # the lock was released, and the write kept
        assert reopened.get_collection("docs").get(["late"])[0].id == "late"


def test_create_does_not_block_lookups_of_other_collections(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No lock a lookup takes is held across a create's disk syncs (issue 18)."""
    other = store.create_collection("other", dim=4)
    syncing, resume = threading.Event(), threading.Event()
    real_fsync = index.snapshots.fsync_path

    def slow_fsync(path: Path) -> None:
        syncing.set()
        resume.wait(WAIT)
        real_fsync(path)

    monkeypatch.setattr(index.store, "fsync_path", slow_fsync)
    creator, created = background(lambda: store.create_collection("new", dim=4))
    try:
        assert syncing.wait(WAIT)
        lookup, found = background(lambda: store.get_collection("other"))
        lookup.join(2.0)
        assert found == [other], "a lookup waited for another collection's fsync"
        with pytest.raises(CollectionNotFoundError):  # not there until it is durable
            store.get_collection("new")
    finally:
        resume.set()
    creator.join(WAIT)
    assert isinstance(created[0], Collection) and store.get_collection("new") is created[0]


def test_drop_and_recreate_under_concurrent_calls(store: Store) -> None:
    """Many threads on a name that is dropped and recreated: every call either works or gets
    a clean not-found, and the process lives (it died here with SIGSEGV)."""
    vectors = np.ones((1, 4), np.float32)
    stop = threading.Event()
    unexpected: list[BaseException] = []

    def user() -> None:
        while not stop.is_set():
            try:
                col = store.get_collection("z")
                col.upsert(["a"], vectors, ["text"], [{"k": 1}])
                col.query(vectors, k=1, where={"k": 1})
                col.search_text(["text"], k=1)
                col.count()
            except CollectionNotFoundError:
                continue
            except BaseException as exc:  # anything else is the bug
                unexpected.append(exc)
                return

    threads = [threading.Thread(target=user, daemon=True) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(40):
            store.create_collection("z", dim=4)
            store.drop_collection("z")
    finally:
        stop.set()
        for thread in threads:
            thread.join(WAIT)
    assert unexpected == []


def test_leases_refuse_after_retire_and_retire_once() -> None:
    leases = Leases()
    with leases.hold():
        assert leases.held == 1
    assert leases.retire(StoreClosedError("closed"))
    assert not leases.retire(StoreClosedError("again"))
    with pytest.raises(StoreClosedError, match="closed"), leases.hold():
        pass  # pragma: no cover
    assert isinstance(StoreClosedError("x"), IndexStoreError)
