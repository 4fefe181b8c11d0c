"""Deleted space is reused, and ``compact`` gives it back to the operating system (issue 10:
deleting every document reclaimed no disk space until the collection was dropped)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from index import Collection, Store
from index.compaction import disk_bytes

N = 3_000
DIM = 32


def fill(col: Collection, rng: np.random.Generator, prefix: str, n: int = N) -> None:
    words = [f"w{i}" for i in range(1_000)]
    for start in range(0, n, 2_000):
        stop = min(start + 2_000, n)
        ids = [f"{prefix}{i}" for i in range(start, stop)]
        texts = [" ".join(rng.choice(words, size=20)) for _ in ids]
        metadatas = [{"k": i % 7} for i in range(start, stop)]
        col.upsert(ids, rng.normal(size=(len(ids), DIM)), texts, metadatas)


def settle(col: Collection) -> int:
    """The on-disk size once the graph is snapshotted (as a close would)."""
    col._snapshot()
    return disk_bytes(col.directory)


def sizes(col: Collection) -> dict[str, int]:
    """Bytes of the database file (all its pages checkpointed into it) and of the graph."""
    database = col.directory / "documents.sqlite3"
    with closing(sqlite3.connect(database)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    graph = sum(p.stat().st_size for p in col.directory.glob("snapshots/*/graph.hnsw"))
    return {"database": database.stat().st_size, "graph": graph}


@pytest.fixture
def col(store: Store) -> Collection:
    return store.create_collection("c", dim=DIM)


def test_deleted_space_is_reused(col: Collection, rng: np.random.Generator) -> None:
    """Delete everything and write as much again, six times: the database reaches a plateau
    and stays there (it grew with every cycle if deleted space were lost). The plateau is above
    the first fill: FTS5 merges its segments of deletions every few cycles, not at once. The
    graph keeps deleted versions as tombstones (``Graph.reusable``) until ``compact``."""
    n = 600
    fill(col, rng, "a", n)
    settle(col)
    first = sizes(col)
    cycles = []
    for cycle in range(6):
        col.delete(where={"k": {"$gte": 0}})
        fill(col, rng, f"b{cycle}", n)  # new ids: new rows, new graph labels
        assert col.count() == n
        settle(col)
        cycles.append(sizes(col))
    col.compact()
    assert sizes(col)["graph"] <= 1.05 * first["graph"]
    plateau = max(c["database"] for c in cycles[:3])
    assert plateau < 2.5 * first["database"], cycles
    assert all(c["database"] <= 1.05 * plateau for c in cycles[3:]), cycles


def test_compact_after_deleting_everything_returns_the_space(
    col: Collection, rng: np.random.Generator
) -> None:
    fill(col, rng, "a")
    col.delete(where={"k": {"$gte": 0}})
    full = settle(col)
    result = col.compact()
    after = disk_bytes(col.directory)
    assert result.bytes_before == full and result.bytes_after == after
    assert after < 0.1 * full, (full, after)
    assert col.count() == 0 and col.query(np.ones((1, DIM)), k=5) == [[]]
    fill(col, rng, "b")  # still a working collection
    assert col.count() == N


def test_compact_keeps_the_live_documents_and_survives_a_restart(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    with Store(tmp_path) as store:
        col = store.create_collection("c", dim=DIM)
        fill(col, rng, "a")
        vectors = {r.id: r.vector for r in col.get([f"a{i}" for i in range(N)])}
        col.delete(where={"k": {"$ne": 3}})
        kept = sorted(r.id for r in col.scroll(limit=N).records)
        before = settle(col)
        result = col.compact()
        assert result.bytes_after < 0.5 * before
        assert col._graph.deleted == 0 and col._graph.live == len(kept)
        for id_ in kept[:50]:  # each live document is still its own nearest neighbour
            [[hit]] = col.query([vectors[id_]], k=1)
            assert hit.id == id_
        [lexical] = col.search_text(["w1 w2 w3"], k=N)
        assert {h.id for h in lexical} <= set(kept)
    with Store(tmp_path) as store:
        col = store.get_collection("c")
        assert sorted(r.id for r in col.scroll(limit=N).records) == kept
        [[hit]] = col.query([vectors[kept[0]]], k=1)
        assert hit.id == kept[0]
