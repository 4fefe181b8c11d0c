"""The graph rebuilds itself once tombstones outnumber live documents (``graph_rebuild.py``):
memory stays bounded under replacements, and no write made during a rebuild is lost."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from index import Collection, Store, graph_rebuild


@pytest.fixture(autouse=True)
def small_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graph_rebuild, "REBUILD_FROM", 200)


def settled(col: Collection, timeout: float = 30.0) -> None:
    """Wait (bounded) until no rebuild runs."""
    deadline = time.monotonic() + timeout
    while col._rebuilding:
        assert time.monotonic() < deadline, "the rebuild did not finish"
        time.sleep(0.01)


def each_finds_itself(col: Collection, vectors: dict[str, np.ndarray]) -> None:
    ids = list(vectors)
    hits = col.query(np.stack([vectors[i] for i in ids]), k=1, ef=400)
    assert [h[0].id for h in hits] == ids


def unit(rng: np.random.Generator, n: int, dim: int = 8) -> np.ndarray:
    v = rng.normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_replacements_leave_a_bounded_graph(store: Store) -> None:
    rng = np.random.default_rng(1)
    col = store.create_collection("r", dim=8)
    ids = [f"d{i}" for i in range(300)]
    latest: dict[str, np.ndarray] = {}
    for _ in range(12):  # 3,300 versions written, 300 live
        vectors = unit(rng, len(ids))
        col.upsert(ids, vectors)
        latest.update(zip(ids, vectors, strict=True))
        settled(col)
    graph = col._graph
    assert graph.live == 300
    # Without rebuilds the graph would hold all 3,300 versions.
    assert graph.deleted <= max(
        graph_rebuild.REBUILD_FROM, graph.live * graph_rebuild.REBUILD_SHARE
    )
    each_finds_itself(col, latest)


def test_writes_during_a_rebuild_are_kept(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    latest: dict[str, np.ndarray] = {}
    with Store(tmp_path) as store:
        col = store.create_collection("r", dim=8)
        base = [f"d{i}" for i in range(2_000)]
        col.upsert(base, unit(rng, len(base)))
        done = threading.Event()
        written: dict[str, np.ndarray] = {}

        def writer() -> None:
            local = np.random.default_rng(3)
            n = 0
            while not done.is_set() and n < 3_000:  # bounded
                # New documents, and a replacement of one of its own earlier ones.
                ids = [f"w{n + j}" for j in range(20)]
                if n:
                    ids.append(f"w{local.integers(n)}")
                vectors = unit(local, len(ids))
                col.upsert(ids, vectors)
                written.update(zip(ids, vectors, strict=True))
                if n % 100 == 0:
                    col.delete(ids=[f"w{n}"])
                    written.pop(f"w{n}", None)
                n += 20

        thread = threading.Thread(target=writer)
        thread.start()
        rebuilds = 0
        for _ in range(6):  # each round replaces every base document: a rebuild is due
            vectors = unit(rng, len(base))
            col.upsert(base, vectors)
            rebuilds += col._rebuilding
            latest.update(zip(base, vectors, strict=True))
            settled(col)
        done.set()
        thread.join(timeout=60)
        assert not thread.is_alive()
        settled(col)
        assert rebuilds, "no rebuild ran while the writer wrote"
        latest.update(written)
        assert col.count() == len(latest)
        each_finds_itself(col, latest)
    with Store(tmp_path) as store:  # the rebuilt graph's snapshot, plus what followed it
        col = store.get_collection("r")
        assert col.count() == len(latest)
        each_finds_itself(col, latest)


def test_closing_during_a_rebuild(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    store = Store(tmp_path)
    col = store.create_collection("r", dim=8)
    ids = [f"d{i}" for i in range(3_000)]
    for _ in range(3):
        col.upsert(ids, unit(rng, len(ids)))
    store.close()  # with a rebuild likely running: must neither hang nor fail
    with Store(tmp_path) as again:
        assert again.get_collection("r").count() == 3_000
