"""Hybrid search (``index/fusion.py``, ``Collection.hybrid``): the fusion math by hand, the
candidate fill-in, alpha's ends, filters."""

from __future__ import annotations

import numpy as np
import pytest

from index import Collection, InvalidArgumentError, Store
from index.fusion import fuse, minmax, reciprocal_ranks, zscore
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
