"""Side threads (``index/side_threads.py``): a part runs beside its caller only while a side
thread is idle, errors reach the caller, and a hybrid query answers the same either way."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest

from index import Store
from index.side_threads import SIDE_THREADS, SideThreads
from tests.index.test_lexical import CORPUS, fill


@contextmanager
def every_side_thread_busy(pool: SideThreads) -> Iterator[None]:
    """Occupy each side thread with a part that waits, so that callers run parts themselves."""
    release = threading.Event()
    started = []
    for _ in range(64):  # bounded: far more than any pool here has threads
        pending = pool.start(release.wait)
        if pending is None:
            break
        started.append(pending)
    else:
        raise AssertionError("the pool never reported itself busy")
    try:
        yield
    finally:
        release.set()
        for pending in started:
            pending.result()


def test_a_part_runs_on_another_thread_while_one_is_idle() -> None:
    pool = SideThreads(1)
    pending = pool.start(threading.get_ident)
    assert pending is not None
    assert pending.result() != threading.get_ident()


def test_no_idle_thread_means_the_caller_runs_the_part() -> None:
    pool = SideThreads(1)
    with every_side_thread_busy(pool):
        assert pool.start(threading.get_ident) is None
    # Free again once the busy part is done.
    pending = pool.start(lambda: 42)
    assert pending is not None and pending.result() == 42


def test_a_part_that_fails_raises_in_the_caller_and_frees_its_thread() -> None:
    pool = SideThreads(1)

    def fail() -> None:
        raise ValueError("side part failed")

    pending = pool.start(fail)
    assert pending is not None
    with pytest.raises(ValueError, match="side part failed"):
        pending.result()
    again = pool.start(lambda: "free")
    assert again is not None and again.result() == "free"


@pytest.mark.parametrize("where", [None, {"i": {"$gte": 2}}], ids=["all", "filter"])
def test_hybrid_answers_the_same_side_by_side_or_in_turn(
    store: Store, where: dict[str, object] | None
) -> None:
    col = store.create_collection("side", dim=4)
    fill(col, CORPUS)
    assert col.lexical_ready(timeout=10)
    queries = np.random.default_rng(3).normal(size=(3, 4)).astype(np.float32)
    texts = ["the cats sat by the sea", "dogs and cats", "a sea of kittens"]
    side_by_side = col.hybrid(texts, queries, k=6, where=where, alpha=0.3)
    with every_side_thread_busy(SIDE_THREADS):
        in_turn = col.hybrid(texts, queries, k=6, where=where, alpha=0.3)
    assert side_by_side == in_turn
    assert all(side_by_side)
