"""A collection file's connections: bounded caches and pool, few statement texts (issue 10)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from index import Store
from index.connections import (
    ID_CHUNKS,
    MAX_IDLE_READERS,
    READER_CACHE_KIB,
    Connections,
    id_chunks,
    json_list,
)


def test_readers_have_a_small_cache_and_no_memory_map(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        docs = store.create_collection("c", dim=4)._docs
        with docs._reader() as conn:
            assert conn.execute("PRAGMA cache_size").fetchone() == (-READER_CACHE_KIB,)
            assert conn.execute("PRAGMA mmap_size").fetchone() == (0,)


def test_a_burst_of_readers_leaves_a_bounded_pool(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        store.create_collection("c", dim=4)
    connections = Connections(tmp_path / "collections" / "c" / "documents.sqlite3")
    inside, release = threading.Barrier(3 * MAX_IDLE_READERS + 1), threading.Event()

    def read() -> None:
        with connections.reader() as conn:
            conn.execute("SELECT count(*) FROM documents").fetchone()
            inside.wait(10)
            release.wait(10)

    threads = [threading.Thread(target=read) for _ in range(3 * MAX_IDLE_READERS)]
    for thread in threads:
        thread.start()
    inside.wait(10)  # all of them hold a connection at once
    assert len(connections._all) == 1 + 3 * MAX_IDLE_READERS
    release.set()
    for thread in threads:
        thread.join(10)
    assert connections._pools[True].qsize() == MAX_IDLE_READERS
    assert len(connections._all) == 1 + MAX_IDLE_READERS  # the rest were closed
    connections.close()


def test_id_chunks_pad_to_a_few_sizes() -> None:
    texts = set()
    for n in (1, 2, 15, 16, 17, 300, 512, 513, 2_000):
        ids = [f"id{i}" for i in range(n)]
        covered = []
        for marks, params in id_chunks(ids):
            assert marks.count("?") == len(params) and len(params) in ID_CHUNKS
            covered += [p for p in params if p is not None]
            texts.add(marks)
        assert covered == ids
    assert len(texts) <= len(ID_CHUNKS)


def test_json_list_takes_numpy_labels() -> None:
    assert json_list(np.array([3, 1], np.uint64)) == b"[3,1]" == json_list([3, 1])
