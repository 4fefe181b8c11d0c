"""Hybrid search (``index/fusion.py``, ``Collection.hybrid``): the fusion math by hand, the
candidate fill-in, alpha's ends, filters, and fusion never worse than both of its parts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from index import Collection, InvalidArgumentError, Store
from index.fusion import fuse, minmax, rank, reciprocal_ranks, zscore
from tests.index.test_lexical import CORPUS, fill, reference_bm25


def test_normalisers_by_hand() -> None:
    x = np.array([1.0, 2.0, 3.0])
    assert zscore(x) == pytest.approx([-1.224744871, 0.0, 1.224744871])
    assert zscore(np.array([5.0, 5.0])).tolist() == [0.0, 0.0]
    assert minmax(x).tolist() == [0.0, 0.5, 1.0]
    assert reciprocal_ranks(x) == pytest.approx([1 / 63, 1 / 62, 1 / 61])
    # alpha 0.25: a quarter vector, three quarters lexical
    vector, lexical = np.array([0.9, 0.5, 0.1]), np.array([0.0, 4.0, 8.0])
    assert fuse(vector, lexical, 0.25) == pytest.approx(
        0.25 * np.array([1.224744871, 0.0, -1.224744871])
        + 0.75 * np.array([-1.224744871, 0.0, 1.224744871])
    )
    with pytest.raises(ValueError):
        fuse(vector, lexical, 1.5)


@pytest.fixture
def col(store: Store) -> Collection:
    col = store.create_collection("hyb", dim=4)
    fill(col, CORPUS)
    assert col.lexical_ready(timeout=10)
    return col


def expected_fusion(col: Collection, text: str, query: np.ndarray, alpha: float) -> list:
    records = col.get(list(CORPUS))
    ids = [r.id for r in records]
    vectors = np.stack([r.vector for r in records if r.vector is not None])
    cosine = vectors @ query / np.linalg.norm(vectors, axis=1) / np.linalg.norm(query)
    bm25 = reference_bm25(CORPUS, text, col._text.analyzer)  # type: ignore[arg-type]
    lexical = np.array([bm25.get(i, 0.0) for i in ids])
    fused = alpha * zscore(cosine) + (1 - alpha) * zscore(lexical)
    return sorted(zip(fused, ids, cosine, lexical, strict=True), key=lambda t: -t[0])


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.5, 1.0])
def test_hybrid_scores_by_hand(col: Collection, alpha: float) -> None:
    query = np.array([0.3, -1.0, 0.5, 0.2], np.float32)
    [hits] = col.hybrid(["the cats sat by the sea"], query[None], k=8, alpha=alpha)
    expected = expected_fusion(col, "the cats sat by the sea", query, alpha)
    assert [h.score for h in hits] == pytest.approx([e[0] for e in expected], abs=1e-6)
    by_id = {e[1]: e for e in expected}
    for hit in hits:
        assert hit.vector_score == pytest.approx(by_id[hit.id][2], abs=1e-6)
        assert hit.lexical_score == pytest.approx(by_id[hit.id][3])
    if alpha == 1.0:
        assert [h.id for h in hits] == [h.id for h in col.query(query[None], k=8)[0]]


def test_candidates_missing_on_one_side_get_their_real_score(col: Collection) -> None:
    query = np.array([0.3, -1.0, 0.5, 0.2], np.float32)
    found = col.hybrid_candidates("deep sea", query, n=1)
    assert len(found.labels) == 2 and found.from_vector.tolist() == [True, False]
    assert found.from_lexical.tolist() == [False, True]
    expected = expected_fusion(col, "deep sea", query, 0.5)
    by_id = {e[1]: e for e in expected}
    rows = col._docs.by_labels(found.labels.tolist())
    for i, label in enumerate(found.labels.tolist()):
        assert found.vector[i] == pytest.approx(by_id[rows[label].id][2], abs=1e-6)
        assert found.lexical[i] == pytest.approx(by_id[rows[label].id][3])


def test_hybrid_filters_and_checks(col: Collection) -> None:
    query = np.ones((1, 4), np.float32)
    [hits] = col.hybrid(["cats sea"], query, k=8, where={"i": {"$in": [2, 4, 5]}})
    assert sorted(h.id for h in hits) == ["cats", "fish", "sun"]
    assert col.hybrid(["cat"], query, where={"i": {"$gt": 99}}) == [[]]
    [hits] = col.hybrid(['NEAR("x*'], query, k=3)  # no word matches: ranked by vector
    assert [h.id for h in hits] == [h.id for h in col.query(query, k=3)[0]]
    for bad in (
        {"alpha": 1.5},
        {"alpha": "0.5"},
        {"k": 0},
        {"candidates": 0},
    ):
        with pytest.raises(InvalidArgumentError):
            col.hybrid(["cat"], query, **bad)
    with pytest.raises(InvalidArgumentError):
        col.hybrid(["cat", "dog"], query)  # one vector per text


# -- fusion never does worse than both of its parts (issue 11) --------------------------------

# Scores on a 0.01 grid: real score differences, not float rounding, decide the orders here.
scores = st.lists(st.integers(-500, 500).map(lambda x: x / 100), min_size=2, max_size=40)


@given(vector=scores, lexical=scores, alpha=st.floats(0.01, 0.99))
def test_the_fused_best_is_never_beaten_on_both_sides(
    vector: list[float], lexical: list[float], alpha: float
) -> None:
    """With both weights positive, the fused top candidate is Pareto-optimal: no candidate has
    a better vector score *and* a better lexical score. So fusion never ranks first what both
    parts would rank below another."""
    n = min(len(vector), len(lexical))
    v, lex = np.array(vector[:n]), np.array(lexical[:n])
    best = int(rank(np.arange(n), fuse(v, lex, alpha), 1)[0])
    assert not np.any((v > v[best]) & (lex > lex[best]))


@given(vector=scores, alpha=st.floats(0.01, 0.99))
def test_a_side_that_cannot_tell_candidates_apart_leaves_the_other_sides_order(
    vector: list[float], alpha: float
) -> None:
    """No query word matched (every BM25 is 0), or every vector is as near: hybrid then ranks
    exactly as the informative side does, rather than being pulled toward noise."""
    v = np.array(vector)
    flat = np.zeros(len(v))
    labels = np.arange(len(v))
    by_vector = rank(labels, v, len(v)).tolist()
    assert rank(labels, fuse(v, flat, alpha), len(v)).tolist() == by_vector
    assert rank(labels, fuse(flat, v, alpha), len(v)).tolist() == by_vector


def test_when_both_sides_agree_hybrid_agrees() -> None:
    v = np.array([0.9, 0.1, 0.5, 0.3])
    lexical = np.array([7.0, 0.5, 3.0, 1.0])  # the same order, another scale
    labels = np.arange(4)
    for alpha in (0.1, 0.3, 0.7):
        assert rank(labels, fuse(v, lexical, alpha), 4).tolist() == [0, 2, 3, 1]
