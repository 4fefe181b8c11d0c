"""Filters on collections of long documents: metadata is per document, the graph and the vector
matrix hold one label per passage, results are per document at its best passage.

Every path of a filtered query (``vector_search.py``: post-filtering HNSW, exact search from the
in-memory matrix, HNSW restricted to the matches' passages, and SQLite's paths while the
in-memory views are not ready) against a brute-force reference over the passages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index import Collection, Passages, PassageSettings, Store, vector_search

from .test_filters import make_metadata, matches, wheres

DIM = 16
N_DOCS = 160
MAX_PARTS = 12


class Corpus:
    """What the collection should hold: each id's passage vectors and metadata."""

    def __init__(self) -> None:
        self.passages: dict[str, np.ndarray] = {}
        self.metas: dict[str, dict[str, Any]] = {}

    def top_k(self, query: np.ndarray, where: dict[str, Any] | None, k: int) -> list[str]:
        """Documents matching ``where`` by their best passage's cosine similarity."""
        q = query / np.linalg.norm(query)
        best = {
            id_: float(np.max(v @ q / np.linalg.norm(v, axis=1)))
            for id_, v in self.passages.items()
            if where is None or matches(self.metas[id_], where)
        }
        return sorted(best, key=lambda id_: -best[id_])[:k]


def _text(parts: int) -> tuple[str, list[tuple[int, int]]]:
    sentences = [f"Sentence {i} of a long document." for i in range(parts)]
    spans, start = [], 0
    for sentence in sentences:
        spans.append((start, start + len(sentence)))
        start += len(sentence) + 1
    return " ".join(sentences), spans


def write(
    col: Collection, corpus: Corpus, rng: np.random.Generator, ids: list[str], **meta: Any
) -> None:
    """Upsert ``ids`` as documents of 1 to ``MAX_PARTS`` passages, clustered so that one
    document's passages are near each other (and crowd a neighbourhood)."""
    texts, metas, passages = [], [], []
    for i, id_ in enumerate(ids):
        parts = int(rng.integers(1, MAX_PARTS + 1))
        centre = rng.normal(size=DIM)
        vectors = (centre + 0.3 * rng.normal(size=(parts, DIM))).astype(np.float32)
        text, spans = _text(parts)
        metadata = {**make_metadata(rng, i), **meta}
        texts.append(text)
        metas.append(metadata)
        passages.append(Passages(spans=spans, vectors=vectors) if parts > 1 else None)
        corpus.passages[id_], corpus.metas[id_] = vectors, metadata
    firsts = np.stack([corpus.passages[id_][0] for id_ in ids])
    col.upsert(ids, firsts, texts, metas, passages=passages)


@pytest.fixture(params=["memory", "reopened", "sqlite"])
def populated(request: pytest.FixtureRequest, tmp_path: Path, rng: np.random.Generator) -> Any:
    """Long documents written in batches, some replaced (by more or fewer passages) and some
    deleted, so that new labels also refill deleted graph slots. Filters answered by the
    in-memory index kept up to date write by write, by one built from SQLite on reopening,
    or by SQLite."""
    store = Store(tmp_path / "data")
    request.addfinalizer(lambda: store.close())
    col = store.create_collection("pf", dim=DIM, passages=PassageSettings(size=64, overlap=8))
    corpus = Corpus()
    for start in range(0, N_DOCS, 40):
        write(col, corpus, rng, [f"d{i}" for i in range(start, start + 40)])
    write(col, corpus, rng, [f"d{i}" for i in range(0, N_DOCS, 7)])  # replaced
    gone = [f"d{i}" for i in range(3, N_DOCS, 11)]
    col.delete(gone)
    for id_ in gone:
        del corpus.passages[id_], corpus.metas[id_]
    assert col._graph.deleted > 0
    write(col, corpus, rng, [f"e{i}" for i in range(20)])  # into the deleted slots
    if request.param == "reopened":
        store.close()
        store = Store(tmp_path / "data")
        col = store.get_collection("pf")
    assert col.views_built.wait(30)
    if request.param == "sqlite":
        col.views_built.clear()
    return col, corpus


def test_the_graph_and_the_matrix_hold_every_passage(populated) -> None:
    col, corpus = populated
    passages = sum(len(v) for v in corpus.passages.values())
    assert col.count() == len(corpus.passages)
    assert col._graph.live == passages
    matrix = col._matrix
    assert matrix._used - len(matrix._free) == passages
    assert len(col._fields.live) == len(corpus.passages)


def test_filtered_queries_equal_brute_force_over_passages(populated, rng) -> None:
    col, corpus = populated
    queries = rng.normal(size=(3, DIM)).astype(np.float32)

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
    @given(where=wheres, k=st.sampled_from([1, 5, 30, 1000]), q=st.integers(0, 2))
    def check(where: dict[str, Any], k: int, q: int) -> None:
        [hits] = col.query(queries[q], k=k, where=where)
        ids = [h.id for h in hits]
        assert len(ids) == len(set(ids)), where
        assert ids == corpus.top_k(queries[q], where, k), where

    check()


@pytest.fixture
def exact_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every filter is searched exactly, in chunks smaller than one document's passages."""
    monkeypatch.setattr(vector_search, "POST_FILTER_MIN", 2.0)
    monkeypatch.setattr(vector_search, "RESTRICTED_US", 1e12)
    monkeypatch.setattr(vector_search, "BRUTE_FORCE_MAX", 10**9)
    monkeypatch.setattr(vector_search, "MATRIX_CHUNK", 5)
    monkeypatch.setattr(vector_search, "EXACT_CHUNK", 3)


@pytest.mark.usefixtures("exact_only")
@pytest.mark.parametrize(
    "where",
    [
        {"color": "red"},
        {"flag": True},
        {"n": {"$gte": 3}},
        {"$or": [{"color": "blue"}, {"n": "7"}]},
        {"x": {"$lt": 0}},
    ],
)
def test_exact_path_ranks_documents_by_their_nearest_passage(populated, rng, where) -> None:
    """A query equal to one passage of a matching document finds that document first (exact
    search reaches every passage, not only a document's first), and the ranking is the
    reference's, with a document's passages split across the matrix's chunks."""
    col, corpus = populated
    keep = [id_ for id_, meta in corpus.metas.items() if matches(meta, where)]
    assert len(keep) > 10
    for id_ in rng.choice(keep, size=5, replace=False).tolist():
        vectors = corpus.passages[id_]
        query = vectors[int(rng.integers(len(vectors)))]
        for k in (1, 7, 40):
            [hits] = col.query(query, k=k, where=where)
            assert [h.id for h in hits] == corpus.top_k(query, where, k)
            assert hits[0].id == id_
            assert hits[0].score == pytest.approx(1.0, abs=1e-5)


def test_restricted_hnsw_path_finds_documents_once(populated, rng, monkeypatch) -> None:
    """HNSW restricted to the matching documents' passages (the path for large match sets):
    k distinct matching documents, nearly all of the reference's."""
    col, corpus = populated
    monkeypatch.setattr(vector_search, "POST_FILTER_MIN", 2.0)
    monkeypatch.setattr(vector_search, "RESTRICTED_US", 0.0)
    monkeypatch.setattr(vector_search, "BRUTE_FORCE_MAX", 0)
    where = {"$or": [{"flag": True}, {"color": "red"}]}
    keep = {id_ for id_, meta in corpus.metas.items() if matches(meta, where)}
    found = total = 0
    for query in rng.normal(size=(20, DIM)).astype(np.float32):
        [hits] = col.query(query, k=10, where=where)
        ids = [h.id for h in hits]
        assert len(ids) == len(set(ids)) == 10
        assert set(ids) <= keep
        found += len(set(ids) & set(corpus.top_k(query, where, 10)))
        total += 10
    assert found / total >= 0.95


def test_post_filter_path_answers_common_filters_per_document(populated, rng) -> None:
    """A filter matching most documents is answered from HNSW's nearest documents: each once,
    as the reference ranks them."""
    col, corpus = populated
    where = {"absent": {"$ne": 1}}  # every document
    for query in rng.normal(size=(10, DIM)).astype(np.float32):
        [hits] = col.query(query, k=10, where=where)
        assert [h.id for h in hits] == corpus.top_k(query, None, 10)
