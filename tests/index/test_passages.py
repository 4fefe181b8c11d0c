"""Documents split into passages (issue 12): one graph label per passage, results per document."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

import index.vector_search
from index import (
    MAX_PASSAGES,
    Collection,
    InvalidArgumentError,
    Passages,
    PassageSettings,
    Store,
)

DIM = 16
SETTINGS = PassageSettings(size=64, overlap=8)


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def near(rng: np.random.Generator, target: np.ndarray, n: int, noise: float) -> np.ndarray:
    v = target[None] + noise * rng.normal(size=(n, DIM)).astype(np.float32)
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def long_text(parts: int) -> tuple[str, list[tuple[int, int]]]:
    """A text of ``parts`` sentences, one passage each, and their spans."""
    sentences = [f"Sentence {i} about topic {chr(97 + i % 26)}{i}." for i in range(parts)]
    spans, start = [], 0
    for sentence in sentences:
        spans.append((start, start + len(sentence)))
        start += len(sentence) + 1
    return " ".join(sentences), spans


@pytest.fixture
def col(store: Store) -> Collection:
    return store.create_collection("p", dim=DIM, passages=SETTINGS)


def add_long(
    col: Collection, id_: str, vectors: np.ndarray, metadata: dict[str, object] | None = None
) -> tuple[str, list[tuple[int, int]]]:
    text, spans = long_text(len(vectors))
    col.upsert(
        [id_],
        vectors[:1],
        [text],
        [metadata],
        passages=[Passages(spans=spans, vectors=vectors)],
    )
    return text, spans


def graph_labels(col: Collection) -> int:
    return col._graph.live


def test_a_passage_finds_its_document_once(col: Collection, rng: np.random.Generator) -> None:
    passages = unit(rng, 6)
    text, spans = add_long(col, "long", passages)
    col.upsert([f"s{i}" for i in range(20)], unit(rng, 20), [f"short {i}" for i in range(20)])
    assert col.count() == 21
    assert graph_labels(col) == 26
    for i in range(6):
        hits = col.query(passages[i], k=5)[0]
        assert hits[0].id == "long"
        assert hits[0].score == pytest.approx(1.0, abs=1e-5)
        assert len({h.id for h in hits}) == len(hits) == 5
    best = col.passages(["long"], vector=passages[4])["long"]
    assert (best[0].start, best[0].end) == spans[4]
    assert best[0].text == text[spans[4][0] : spans[4][1]]
    assert best[0].score == pytest.approx(1.0, abs=1e-5)
    assert [p.score for p in best] == sorted((p.score for p in best), reverse=True)
    assert len(best) == 3
    record = col.get(["long"])[0]
    assert record.text == text
    assert record.vector is not None
    assert np.allclose(record.vector, passages[0])  # a split document's vector: its first passage's


def test_k_counts_documents_when_one_document_fills_the_neighbourhood(
    col: Collection, rng: np.random.Generator
) -> None:
    target = unit(rng, 1)[0]
    add_long(col, "crowd", near(rng, target, 200, 0.01))  # 200 passages nearer than anything
    others = near(rng, target, 30, 0.3)
    col.upsert([f"o{i}" for i in range(30)], others, [f"other {i}" for i in range(30)])
    for k in (1, 5, 20, 31, 50):
        hits = col.query(target, k=k)[0]
        ids = [h.id for h in hits]
        assert len(ids) == len(set(ids)) == min(k, 31)
        assert ids[0] == "crowd"
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True)
    # The nearest 9 others, in order, after the crowd, as an exact search ranks them.
    order = np.argsort(-(others @ target))
    assert [h.id for h in col.query(target, k=10)[0]][1:] == [f"o{i}" for i in order[:9]]


@pytest.mark.parametrize("path", ["post-filter", "exact", "filtered-hnsw"])
def test_filters_apply_to_the_document_in_every_path(
    col: Collection, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    target = unit(rng, 1)[0]
    for i in range(6):
        add_long(col, f"long{i}", near(rng, target, 30, 0.05), {"tag": "odd" if i % 2 else "even"})
    n = 300
    col.upsert(
        [f"s{i}" for i in range(n)],
        near(rng, target, n, 0.6),
        [f"short {i}" for i in range(n)],
        [{"tag": "even" if i % 3 else "odd"} for i in range(n)],
    )
    if path == "exact":
        where = {"tag": "odd"}  # 3 long + 100 short: few enough to search exactly
    else:
        where = {"tag": "odd"}
        monkeypatch.setattr(index.vector_search, "BRUTE_FORCE_MAX", 0)
    k = 10 if path != "filtered-hnsw" else 60
    if path == "post-filter":
        k = 2  # the nearest 4k candidates hold 2 odd documents: answered from them
    hits = col.query(target, k=k, where=where)[0]
    ids = [h.id for h in hits]
    assert len(ids) == len(set(ids)) == k
    assert all(h.metadata == {"tag": "odd"} for h in hits)
    assert set(ids[:3]) == ({"long1", "long3", "long5"} if k >= 3 else set(ids[:3]))
    assert ids[0] in {"long1", "long3", "long5"}


def test_lexical_and_hybrid_give_each_document_once(
    col: Collection, rng: np.random.Generator
) -> None:
    target = unit(rng, 1)[0]
    add_long(col, "long", near(rng, target, 12, 0.05), {"kind": "long"})
    col.upsert(
        ["a", "b", "c"],
        near(rng, target, 3, 0.5),
        ["topic a1 here", "nothing", "sentence topic"],
        [{"kind": "short"}] * 3,
    )
    assert col.lexical_ready(timeout=10)
    lexical = col.search_text(["sentence topic"], k=5)[0]
    assert [h.id for h in lexical][:1] == ["long"]
    assert len({h.id for h in lexical}) == len(lexical)
    hybrid = col.hybrid(["sentence topic"], target[None], k=3)[0]
    assert hybrid[0].id == "long"
    assert len({h.id for h in hybrid}) == len(hybrid) == 3
    filtered = col.hybrid(["sentence topic"], target[None], k=3, where={"kind": "short"})[0]
    assert {h.id for h in filtered} == {"a", "b", "c"}
    best = col.passages(["long"], text="topic b1")["long"][0]
    assert "b1" in best.text


def test_replace_and_delete_take_every_passage(col: Collection, rng: np.random.Generator) -> None:
    first = unit(rng, 40)
    add_long(col, "doc", first)
    col.upsert(["x"], unit(rng, 1), ["x"])
    assert graph_labels(col) == 41
    second = unit(rng, 3)
    add_long(col, "doc", second)  # replaced: 3 passages now
    assert graph_labels(col) == 4
    assert col._docs.vector_count() == 4
    assert col.query(first[7], k=2)[0][0].score < 0.99  # the old passages are gone
    assert col.query(second[2], k=1)[0][0].score == pytest.approx(1.0, abs=1e-5)
    col.upsert(["doc"], unit(rng, 1), ["now a short text"])  # one passage again
    assert graph_labels(col) == 2
    assert col.passages(["doc"], vector=unit(rng, 1)[0])["doc"][0].text == "now a short text"
    add_long(col, "doc", first)
    assert col.delete(ids=["doc"]) == 1
    assert graph_labels(col) == 1
    assert col._docs.vector_count() == 1
    with col._docs._reader() as conn:
        assert conn.execute("SELECT count(*) FROM passages").fetchone()[0] == 0
    assert col.count() == 1


@pytest.mark.parametrize("rebuild", [False, True], ids=["snapshot-and-replay", "rebuild"])
def test_reopen_and_rebuild_keep_passages(tmp_path: Path, rebuild: bool) -> None:
    rng = np.random.default_rng(7)
    store = Store(tmp_path / "data", snapshot_every=50)
    col = store.create_collection("p", dim=DIM, passages=SETTINGS)
    vectors = {f"d{i}": unit(rng, 1 + i % 7) for i in range(40)}
    for id_, v in vectors.items():
        if len(v) == 1:
            col.upsert([id_], v, [f"text {id_}"])
        else:
            add_long(col, id_, v)
    add_long(col, "d3", unit(rng, 5))  # replaced after the first snapshot
    col.delete(ids=["d5"])
    queries = unit(rng, 8)
    before = [[(h.id, round(h.score, 5)) for h in hits] for hits in col.query(queries, k=10)]
    live = col._graph.live
    store.close()
    if rebuild:
        shutil.rmtree(tmp_path / "data" / "p" / "snapshots", ignore_errors=True)
    store = Store(tmp_path / "data")
    col = store.get_collection("p")
    assert col._graph.live == live
    assert col.count() == 39
    after = [[(h.id, round(h.score, 5)) for h in hits] for hits in col.query(queries, k=10)]
    assert after == before
    store.close()


def test_bad_passages_are_refused_and_nothing_is_written(
    col: Collection, store: Store, rng: np.random.Generator
) -> None:
    text, spans = long_text(3)
    good = Passages(spans=spans, vectors=unit(rng, 3))
    cases = [
        (Passages(spans=spans, vectors=unit(rng, 2)), "passages[1].vectors"),
        (Passages(spans=[(0, len(text) + 1)], vectors=unit(rng, 1)), "passages[1]"),
        (Passages(spans=[(5, 5)], vectors=unit(rng, 1)), "passages[1]"),
        (
            Passages(spans=[(0, 1)] * (MAX_PASSAGES + 1), vectors=unit(rng, MAX_PASSAGES + 1)),
            "passages[1]",
        ),
        (Passages(spans=spans, vectors=np.zeros((3, DIM), np.float32)), "passages[1].vectors"),
    ]
    for bad, param in cases:
        with pytest.raises(InvalidArgumentError) as info:
            col.upsert(["a", "b"], unit(rng, 2), [text, text], passages=[good, bad])
        assert info.value.param == param
    assert col.count() == 0
    plain = store.create_collection("plain", dim=DIM)
    with pytest.raises(InvalidArgumentError, match="without passages") as info:
        plain.upsert(["a"], unit(rng, 1), [text], passages=[good])
    assert plain.count() == 0


@pytest.mark.parametrize(
    ("settings", "param"),
    [
        pytest.param(PassageSettings(size=15, overlap=0), "passages", id="size-too-small"),
        pytest.param(PassageSettings(size=8193, overlap=0), "passages", id="size-too-large"),
        pytest.param(PassageSettings(size=64, overlap=64), "passages.overlap", id="overlap"),
        pytest.param(PassageSettings(size=64, overlap=-1), "passages", id="negative-overlap"),
    ],
)
def test_passage_settings_are_checked(store: Store, settings: PassageSettings, param: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        store.create_collection("bad", dim=DIM, passages=settings)
    assert info.value.param == param
    assert not store.list_collections()


def test_settings_are_kept(tmp_path: Path) -> None:
    store = Store(tmp_path / "data")
    store.create_collection("p", dim=DIM, passages=SETTINGS)
    store.create_collection("plain", dim=DIM)
    store.close()
    store = Store(tmp_path / "data")
    assert store.get_collection("p").info.passages == SETTINGS
    assert store.get_collection("plain").info.passages is None
    store.close()


def test_compaction_keeps_every_passage(col: Collection, rng: np.random.Generator) -> None:
    passages = unit(rng, 30)
    add_long(col, "doc", passages)
    add_long(col, "gone", unit(rng, 30))
    col.upsert(["x"], unit(rng, 1), ["x"])
    col.delete(ids=["gone"])
    assert col._graph.deleted == 30
    col.compact()
    assert col._graph.deleted == 0 and col._graph.live == 31
    for i in (0, 17, 29):
        hits = col.query(passages[i], k=2)[0]
        assert hits[0].id == "doc" and hits[0].score == pytest.approx(1.0, abs=1e-5)


def test_queries_while_long_documents_are_replaced(col: Collection) -> None:
    """Readers racing a writer that keeps replacing many-passage documents: no error, no
    document twice, every hit a live document."""
    rng = np.random.default_rng(5)
    target = unit(rng, 1)[0]
    for i in range(10):
        add_long(col, f"d{i}", near(rng, target, 20, 0.2))
    stop = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        writer_rng = np.random.default_rng(6)
        try:
            for round_ in range(40):
                i = round_ % 10
                add_long(col, f"d{i}", near(writer_rng, target, 1 + round_ % 30, 0.2))
        except BaseException as exc:
            errors.append(exc)
        finally:
            stop.set()

    def read() -> None:
        try:
            while not stop.is_set():
                for hits in (
                    col.query(target, k=5)[0],
                    col.query(target, k=5, where={"missing": {"$ne": 1}})[0],
                    col.hybrid(["Sentence topic"], target[None], k=5)[0],
                ):
                    ids = [h.id for h in hits]
                    assert len(ids) == len(set(ids)), ids
                    assert all(i.startswith("d") for i in ids)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write)] + [threading.Thread(target=read) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert col.count() == 10
    assert len(col.query(target, k=10)[0]) == 10
