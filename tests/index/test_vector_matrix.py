"""The float16 matrix's shortlist always holds the exact top k (``index/vector_matrix.py``)."""

from __future__ import annotations

import platform
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from index.graph import exact_top_k
from index.memory import release_free_memory
from index.passage_search import exact_document_top_k
from index.vector_matrix import VectorMatrix


@pytest.mark.parametrize("dim", [32, 256], ids=["one-scratch-chunk", "several"])
@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
def test_the_shortlist_holds_the_exact_top_k(metric, dim: int, rng: np.random.Generator) -> None:
    """Near-duplicates (differences below float16's precision) make rounding matter; rows are
    also replaced and deleted, so reused rows are covered. At 256 dimensions a search goes
    through several of a thread's scratch buffers' worth of rows."""
    n = 3000
    base = rng.normal(size=(50, dim)).astype(np.float32)
    vectors = (base[rng.integers(50, size=n)] + rng.normal(size=(n, dim)) * 1e-4).astype(
        np.float32
    ) * rng.uniform(0.5, 3.0, size=(n, 1)).astype(np.float32)
    matrix = VectorMatrix(dim, metric)
    labels = np.arange(n, dtype=np.uint64)
    matrix.add(labels[:2000], rng.normal(size=(2000, dim)).astype(np.float32))
    matrix.remove(labels[:2000])  # their rows are reused below, under new labels
    labels = labels + 5000
    matrix.add(labels, vectors)
    for query in rng.normal(size=(20, dim)).astype(np.float32):
        subset = labels[rng.random(n) < 0.5]
        rows = (subset - 5000).astype(np.int64)
        for k in (1, 10, 100):
            shortlist = matrix.shortlist(subset, query, k)
            exact, _ = exact_top_k(metric, query[None], subset, vectors[rows], k)
            assert set(exact[0].tolist()) <= set(shortlist.tolist())
            assert len(shortlist) < len(subset)


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
def test_the_document_shortlist_holds_each_top_document_nearest_passage(
    metric, rng: np.random.Generator
) -> None:
    """With owners (passages, issue 12) the top k is of documents at their nearest passage: a
    document crowding the query with many near passages must not push the others out."""
    dim, docs = 16, 200
    counts = rng.integers(1, 12, size=docs)
    owners = np.repeat(np.arange(docs, dtype=np.uint64) * 100, counts)
    labels = owners + np.concatenate([np.arange(c) for c in counts]).astype(np.uint64)
    vectors = rng.normal(size=(len(labels), dim)).astype(np.float32)
    query = rng.normal(size=dim).astype(np.float32)
    crowd = owners == owners[0]
    vectors[crowd] = query + 1e-3 * rng.normal(size=(int(crowd.sum()), dim))
    matrix = VectorMatrix(dim, metric)
    matrix.add(labels, vectors)
    for k in (1, 5, 30):
        kept = matrix.keep(labels, query, k, owners)
        exact, _ = exact_document_top_k(metric, query[None], owners, vectors, k)
        assert len(exact[0]) == k
        for doc in exact[0].tolist():
            mine = owners == doc
            scores = exact_top_k(metric, query[None], labels[mine], vectors[mine], 1)[0][0]
            assert scores[0] in set(labels[kept].tolist()), (k, doc)
        assert kept.sum() < len(labels)


def test_threads_scoring_at_once_each_get_their_own_answer(rng: np.random.Generator) -> None:
    """Scratch buffers are per thread: concurrent shortlists equal the ones made alone."""
    dim, n = 256, 4000
    matrix = VectorMatrix(dim, "cosine")
    labels = np.arange(n, dtype=np.uint64)
    matrix.add(labels, rng.normal(size=(n, dim)).astype(np.float32))
    queries = rng.normal(size=(16, dim)).astype(np.float32)
    alone = [matrix.shortlist(labels, q, 10).tolist() for q in queries]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(5):
            together = list(pool.map(lambda q: matrix.shortlist(labels, q, 10).tolist(), queries))
            assert together == alone


def test_a_matrix_sized_up_front_holds_exactly_its_rows_and_still_grows(
    rng: np.random.Generator,
) -> None:
    """Opening a collection sizes the matrix for every stored vector (growing by half as rows
    arrived left up to a third of it unused); adding beyond that size still works."""
    dim, n = 16, 1000
    vectors = rng.normal(size=(n + 10, dim)).astype(np.float32)
    matrix = VectorMatrix(dim, "ip", n)
    labels = np.arange(n + 10, dtype=np.uint64)
    matrix.add(labels[:n], vectors[:n])
    assert matrix._rows.shape == (n, dim)  # not grown: no unused rows
    matrix.add(labels[n:], vectors[n:])
    query = rng.normal(size=dim).astype(np.float32)
    exact, _ = exact_top_k("ip", query[None], labels, vectors, 5)
    assert set(exact[0].tolist()) <= set(matrix.shortlist(labels, query, 5).tolist())


def test_free_memory_goes_back_to_the_system_on_glibc() -> None:
    released = release_free_memory()
    assert released == (platform.libc_ver()[0] == "glibc")
