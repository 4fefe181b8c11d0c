from __future__ import annotations

import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from index import Collection, Record, Store
from index.documents import LEXICAL_TABLE
from tests.index.crash_writer import PASSAGES, batch, expected_state

WRITER = Path(__file__).with_name("crash_writer.py")
REPO = Path(__file__).resolve().parents[2]
_TEXTS = "SELECT label, text FROM documents"


def fill(store: Store, n: int = 300, seed: int = 0) -> np.ndarray:
    col = store.create_collection("docs", dim=8, metric="l2")
    vectors = np.random.default_rng(seed).normal(size=(n, 8)).astype(np.float32)
    col.upsert(
        [f"d{i}" for i in range(n)],
        vectors,
        [f"t{i}" for i in range(n)],
        [{"i": i} for i in range(n)],
    )
    col.delete(ids=[f"d{i}" for i in range(0, n, 3)])
    return vectors


def answers(store: Store, vectors: np.ndarray) -> list[list[tuple[str, float]]]:
    col = store.get_collection("docs")
    return [[(h.id, round(h.score, 4)) for h in hits] for hits in col.query(vectors[:20], k=5)]


def test_reopen_after_close_gives_the_same_answers(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        vectors = fill(store)
        before = answers(store, vectors)
    assert list((tmp_path / "collections" / "docs" / "snapshots").iterdir())
    with Store(tmp_path) as store:
        col = store.get_collection("docs")
        assert col._unsnapshotted == 0  # nothing to replay: the close snapshotted
        assert col.count() == 200
        assert answers(store, vectors) == before


def _write_and_exit_without_closing(tmp_path: Path) -> None:
    code = (
        f"import os, sys; sys.path.insert(0, {str(REPO)!r})\n"
        "from tests.index.test_durability import fill\nfrom index import Store\n"
        f"fill(Store({str(tmp_path)!r})); os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_writes_after_the_last_snapshot_are_replayed(tmp_path: Path) -> None:
    _write_and_exit_without_closing(tmp_path)  # no close, so no snapshot: only SQLite has it
    with Store(tmp_path) as store:
        col = store.get_collection("docs")
        assert col._unsnapshotted == 200
        vectors = np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32)
        [[hit]] = col.query(vectors[1:2], k=1)
        assert (hit.id, hit.score) == ("d1", pytest.approx(0.0, abs=1e-4))
        assert col.query(vectors[0:1], k=1)[0][0].id != "d0"  # deleted


@pytest.mark.parametrize("damage", ["corrupt", "truncate", "missing", "bad-meta"])
def test_a_damaged_or_missing_snapshot_is_rebuilt(tmp_path: Path, damage: str, caplog) -> None:
    with Store(tmp_path) as store:
        vectors = fill(store)
        before = answers(store, vectors)
    [snapshot] = (tmp_path / "collections" / "docs" / "snapshots").iterdir()
    graph = snapshot / "graph.hnsw"
    if damage == "corrupt":
        data = bytearray(graph.read_bytes())
        data[len(data) // 2] ^= 0xFF
        graph.write_bytes(bytes(data))
    elif damage == "truncate":
        graph.write_bytes(graph.read_bytes()[:1000])
    elif damage == "missing":
        graph.unlink()
    else:
        (snapshot / "meta.json").write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="index"), Store(tmp_path) as store:
        assert answers(store, vectors) == before
    assert "rebuilding from SQLite" in caplog.text


def test_queries_run_while_a_writer_writes(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        col = store.create_collection("live", dim=8)
        rng = np.random.default_rng(1)
        col.upsert([f"seed{i}" for i in range(50)], rng.normal(size=(50, 8)))
        errors: list[BaseException] = []
        done = threading.Event()

        def query_loop() -> None:
            q = np.random.default_rng(2).normal(size=(1, 8))
            try:
                while not done.is_set():
                    [hits] = col.query(q, k=10, where={"$or": [{"w": 1}, {"w": 2}]})
                    assert len({h.id for h in hits}) == len(hits)
                    col.query(q, k=10)
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        readers = [threading.Thread(target=query_loop) for _ in range(3)]
        for t in readers:
            t.start()
        for n in range(30):
            ids = [f"d{i}" for i in rng.integers(300, size=40)]
            ids = sorted(set(ids))
            col.upsert(ids, rng.normal(size=(len(ids), 8)), metadatas=[{"w": n % 3}] * len(ids))
            col.delete(ids=ids[:5])
        done.set()
        for t in readers:
            t.join()
        assert not errors, errors


def _verify(data_dir: Path, acked: int, passages: bool = False) -> None:
    """Every acknowledged batch is there exactly; the batch in flight may or may not be."""
    must = expected_state(acked, passages)
    may = expected_state(acked + 1, passages)
    with Store(data_dir) as store:
        col = store.get_collection("crash")
        stored = {r.id: r for r in col.scroll(limit=10_000).records}
        for id_ in set(must) | set(may) | set(stored):
            candidates = {must.get(id_), may.get(id_)}  # equal unless batch acked+1 touched id_
            record = stored.get(id_)
            if record is None:
                assert None in candidates, f"{id_} was acknowledged but is missing"
                continue
            [version] = [v for v in candidates if v and v[0] == record.metadata["batch"]]
            written = batch(version[0], passages)
            np.testing.assert_array_equal(record.vector, written["vectors"][version[1]])
            assert record.text == written["texts"][version[1]]
            assert record.metadata == written["metadatas"][version[1]]
        # The graph holds exactly the live documents, each with its stored vector...
        records = list(stored.values())
        if records:
            labels = col._docs.labels_for_ids([r.id for r in records])
            in_graph = col._graph._index.get_items(labels, return_type="numpy")
            unit = np.stack(
                [r.vector / np.linalg.norm(r.vector) for r in records if r.vector is not None]
            )
            np.testing.assert_allclose(in_graph, unit, atol=1e-5)
            if passages:
                _verify_passages(col, records)
            else:
                assert col._graph.live == len(records)
        # ...and finds each one: a document is its own nearest neighbour.
        sample = list(stored.values())[:50]
        if sample:
            results = col.query(np.stack([r.vector for r in sample if r.vector is not None]), k=1)
            assert [hits[0].id for hits in results] == [r.id for r in sample]
        assert col.count() == len(stored)
        check_lexical(col, sample[:10])


def _verify_passages(col: Collection, records: list[Record]) -> None:
    """Each live document has exactly the passages of the version written, each passage's
    vector is in the graph and finds its document; no passage or vector is left of any
    other version (no orphan, no half document)."""
    expected_labels = 0
    spans_of = col._docs.spans_of(col._docs.labels_for_ids([r.id for r in records]).tolist())
    labels = dict(
        zip(
            [r.id for r in records],
            col._docs.labels_for_ids([r.id for r in records]).tolist(),
            strict=True,
        )
    )
    for record in records:
        assert record.metadata is not None
        written = batch(int(record.metadata["batch"]), passages=True)  # type: ignore[arg-type]
        row = written["ids"].index(record.id)
        want = written["spans"][row]
        got = spans_of.get(labels[record.id], [(labels[record.id], 0, len(record.text or ""))])
        if len(want) == 1:
            assert labels[record.id] not in spans_of
        else:
            assert [(a, b) for _, a, b in got] == want
            own = np.asarray([label for label, _, _ in got], np.uint64)
            in_graph = col._graph._index.get_items(own, return_type="numpy")
            vectors = written["passage_vectors"][row]
            unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
            np.testing.assert_allclose(in_graph, unit, atol=1e-5)
        expected_labels += len(want)
    assert col._graph.live == expected_labels
    assert col._docs.vector_count() == expected_labels
    with sqlite3.connect(col._docs.path) as conn:
        orphans = conn.execute(
            "SELECT count(*) FROM passages WHERE doc NOT IN (SELECT label FROM documents)"
        ).fetchone()[0]
        assert orphans == 0
    # A passage's own vector finds its document first, once.
    for record in records[:20]:
        assert record.metadata is not None
        written = batch(int(record.metadata["batch"]), passages=True)  # type: ignore[arg-type]
        last = written["passage_vectors"][written["ids"].index(record.id)][-1]
        [hits] = col.query(last, k=3)
        assert hits[0].id == record.id
        assert len({h.id for h in hits}) == len(hits)


def check_lexical(col: Collection, sample: list[Record]) -> None:
    """The FTS5 table holds exactly the live documents' terms, and a document's own text finds
    it first (or tied first) through FTS5 and through the accelerator."""
    with sqlite3.connect(col._docs.path) as conn:
        fts = dict(conn.execute(f"SELECT rowid, terms FROM {LEXICAL_TABLE}"))
        terms_text = col._text.analyzer.terms_text
        docs = {label: terms_text(text) for label, text in conn.execute(_TEXTS)}
    assert fts == {label: terms for label, terms in docs.items() if terms}
    assert col.lexical_ready(timeout=30)
    for fts5_path in (False, True):
        if fts5_path:
            col._text._ready.clear()
        for record in sample:
            [hits] = col.search_text([record.text], k=50)  # type: ignore[list-item]
            assert record.id in {h.id for h in hits if h.score >= hits[0].score - 1e-9}
    col._text._ready.set()


@pytest.mark.slow
@pytest.mark.parametrize("passages", [False, True], ids=["documents", "long-documents"])
def test_acknowledged_writes_survive_kill_9(tmp_path: Path, passages: bool) -> None:
    rounds = random.Random(os.environ.get("PYTEST_XDIST_WORKER", "crash"))
    acked = -1
    extra = [PASSAGES] if passages else []
    for _ in range(6):
        child = subprocess.Popen(
            [sys.executable, str(WRITER), str(tmp_path), str(acked + 1), *extra],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + rounds.uniform(0.2, 1.5)
        lines: list[str] = []
        reader = threading.Thread(target=lines.extend, args=(child.stdout,))
        reader.start()
        time.sleep(max(0.0, deadline - time.monotonic()))
        child.send_signal(signal.SIGKILL)
        child.wait()
        reader.join()
        child.stdout.close()
        numbers = [int(line) for line in lines if line.strip()]
        if numbers:
            assert numbers == list(range(acked + 1, numbers[-1] + 1))
            acked = numbers[-1]
        _verify(tmp_path, acked, passages)
    # Batches of long documents write ~20x the vectors: fewer of them fit in the rounds.
    assert acked > (8 if passages else 20), "the writer should have acknowledged a fair number"
