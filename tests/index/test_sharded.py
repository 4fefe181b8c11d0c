"""A collection split into shards answers as one collection holding the same documents.

The shards here are plain collections of separate stores, reached by a plain fan-out; the Ray
deployment (``tests/cluster/``) runs the same merge through actors.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from index import Collection, Hit, ShardedReader, Store, shard_of

WORDS = (
    "protein cell gene cancer tumour receptor signal pathway mouse human brain neuron "
    "insulin glucose liver kidney heart blood pressure vaccine virus bacteria infection "
    "immune response therapy trial patient dose effect risk elephant"
).split()


def _corpus(rng: np.random.Generator, n: int, dim: int) -> dict[str, Any]:
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    texts = [" ".join(rng.choice(WORDS, size=int(rng.integers(3, 15))).tolist()) for _ in range(n)]
    return {
        "ids": [f"doc-{i:04d}" for i in range(n)],
        "vectors": vectors,
        "texts": texts,
        "metadatas": [{"group": int(i % 7), "even": i % 2 == 0} for i in range(n)],
    }


@pytest.fixture(params=[2, 3], ids=["2-shards", "3-shards"])
def pair(
    request: pytest.FixtureRequest, tmp_path: Path, rng: np.random.Generator
) -> Iterator[tuple[Collection, ShardedReader, dict[str, Any]]]:
    """One collection and the same documents in N shards, routed by ``shard_of``."""
    shards: int = request.param
    data = _corpus(rng, 600, 16)
    stores = [Store(tmp_path / "single")] + [Store(tmp_path / f"shard-{i}") for i in range(shards)]
    single, *parts = [s.create_collection("c", dim=16) for s in stores]
    single.upsert(data["ids"], data["vectors"], data["texts"], data["metadatas"])
    for i, part in enumerate(parts):
        rows = [j for j, id_ in enumerate(data["ids"]) if shard_of(id_, shards) == i]
        part.upsert(
            [data["ids"][j] for j in rows],
            data["vectors"][rows],
            [data["texts"][j] for j in rows],
            [data["metadatas"][j] for j in rows],
        )
    for col in [single, *parts]:
        assert col.lexical_ready(30)

    def fan_out(method: str, *args: Any, **kwargs: Any) -> list[Any]:
        return [getattr(part, method)(*args, **kwargs) for part in parts]

    yield single, ShardedReader(fan_out), data
    for store in stores:
        store.close()


def _same(a: list[Hit], b: list[Hit]) -> None:
    """Equal scores rank for rank, and the same ids (ties may order differently)."""
    assert [h.score for h in a] == pytest.approx([h.score for h in b], rel=1e-6, abs=1e-6)
    assert sorted(h.id for h in a) == sorted(h.id for h in b) or _tied_at_cut(a, b)


def _tied_at_cut(a: list[Hit], b: list[Hit]) -> bool:
    """Only the ids tied with the last score differ (either side may keep either)."""
    last = a[-1].score
    return {h.id for h in a if h.score != pytest.approx(last)} == {
        h.id for h in b if h.score != pytest.approx(last)
    }


def test_routing_is_stable_and_spreads_ids() -> None:
    assert shard_of("doc-0001", 3) == shard_of("doc-0001", 3)  # no per-process salt
    assert [shard_of(f"id-{i}", 1) for i in range(5)] == [0] * 5
    counts = np.bincount([shard_of(f"id-{i}", 3) for i in range(3000)], minlength=3)
    assert counts.min() > 900, counts
    # Pinned values: changing the hash would strand every existing document on a wrong shard.
    assert [shard_of(x, 3) for x in ("a", "doc-0001", "ünï/cødé")] == [
        shard_of("a", 3),
        shard_of("doc-0001", 3),
        shard_of("ünï/cødé", 3),
    ]


Pair = tuple[Collection, ShardedReader, dict[str, Any]]


@pytest.mark.parametrize(
    ("where", "k"),
    [
        pytest.param({"group": 3}, 10, id="filter"),
        pytest.param({"group": {"$in": [1, 2]}, "even": True}, 500, id="k-above-matches"),
        pytest.param(None, 600, id="k-is-everything"),
    ],
)
def test_exact_vector_search_equals_one_node(
    pair: Pair, rng: np.random.Generator, where: dict[str, Any] | None, k: int
) -> None:
    single, sharded, _ = pair
    queries = rng.normal(size=(4, 16)).astype(np.float32)
    expected = single.query(queries, k=k, where=where, ef=1000)
    got = sharded.query(queries, k=k, where=where, ef=1000)
    for a, b in zip(expected, got, strict=True):
        assert [h.id for h in a] == [h.id for h in b]
        assert [h.score for h in a] == pytest.approx([h.score for h in b], rel=1e-6)


@pytest.mark.parametrize(
    ("text", "where", "k"),
    [
        pytest.param("cancer gene therapy", None, 10, id="plain"),
        pytest.param("immune response to virus infection", {"group": 2}, 10, id="filter"),
        pytest.param("insulin glucose", {"even": True}, 1000, id="k-above-matches"),
        pytest.param("tumour tumour receptor", None, 20, id="repeats"),
        pytest.param("elephnat vacine", None, 20, id="typos"),
    ],
)
def test_lexical_search_equals_one_node(
    pair: Pair, text: str, where: dict[str, Any] | None, k: int
) -> None:
    single, sharded, _ = pair
    expected = single.search_text([text], k=k, where=where)[0]
    got = sharded.search_text([text], k=k, where=where)[0]
    assert expected, "the query matches something"
    assert len(got) == len(expected)
    _same(expected, got)
    assert [h.lexical_score for h in got] == pytest.approx([h.score for h in got])


def test_typos_are_corrected_only_when_no_shard_knows_the_word(tmp_path: Path) -> None:
    """A word one shard lacks but another holds is exact everywhere, as on one node."""
    with Store(tmp_path / "a") as a, Store(tmp_path / "b") as b, Store(tmp_path / "s") as s:
        one, two, single = (x.create_collection("c", dim=2) for x in (a, b, s))
        vec = np.ones((1, 2), np.float32)
        one.upsert(["x"], vec, ["the vaccine works"])
        two.upsert(["y"], vec, ["the vaccines work"])  # "vaccines": a typo away from "vaccine"
        single.upsert(
            ["x", "y"], np.ones((2, 2), np.float32), ["the vaccine works", "the vaccines work"]
        )
        for col in (one, two, single):
            assert col.lexical_ready(10)
        sharded = ShardedReader(lambda m, *a, **kw: [getattr(c, m)(*a, **kw) for c in (one, two)])
        for text in ("vaccines", "vacine", "vaccine"):
            _same(single.search_text([text], k=5)[0], sharded.search_text([text], k=5)[0])


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("where", [None, {"group": {"$in": [0, 4]}}], ids=["all", "filter"])
def test_hybrid_search_equals_one_node(
    pair: Pair, rng: np.random.Generator, alpha: float, where: dict[str, Any] | None
) -> None:
    single, sharded, _ = pair
    texts = ["cancer cell signal", "blood pressure risk in patient trial"]
    vectors = rng.normal(size=(2, 16)).astype(np.float32)
    # ef covers the collection: HNSW is exact here, so only the merge can differ.
    expected = single.hybrid(texts, vectors, k=15, where=where, alpha=alpha, ef=1000)
    got = sharded.hybrid(texts, vectors, k=15, where=where, alpha=alpha, ef=1000)
    for a, b in zip(expected, got, strict=True):
        _same(a, b)
        by_id = {h.id: h for h in a}
        for hit in b:
            if hit.id in by_id:
                assert hit.lexical_score == pytest.approx(by_id[hit.id].lexical_score)
                assert hit.vector_score == pytest.approx(by_id[hit.id].vector_score)
                assert (hit.text, hit.metadata) == (by_id[hit.id].text, by_id[hit.id].metadata)


@pytest.mark.parametrize("where", [None, {"group": 5}], ids=["all", "filter"])
def test_scroll_pages_follow_id_order_across_shards(
    pair: Pair, where: dict[str, Any] | None
) -> None:
    single, sharded, _ = pair
    assert sharded.count() == single.count() == 600
    for limit in (1, 7, 250):
        seen: list[str] = []
        after = None
        for _ in range(700):
            page = sharded.scroll(limit=limit, after=after, where=where)
            expected = single.scroll(limit=limit, after=after, where=where)
            assert [r.id for r in page.records] == [r.id for r in expected.records]
            assert page.next_after == expected.next_after
            seen += [r.id for r in page.records]
            if page.next_after is None:
                break
            after = page.next_after
        assert seen == sorted(seen)


def test_delete_by_filter_reaches_every_shard(pair: Pair) -> None:
    single, sharded, _ = pair
    assert sharded.delete_where({"group": 1}) == single.delete(where={"group": 1}) > 0
    assert sharded.count() == single.count()


def test_an_empty_sharded_collection_answers_empty(tmp_path: Path) -> None:
    with Store(tmp_path / "a") as a, Store(tmp_path / "b") as b:
        parts = [a.create_collection("c", dim=4), b.create_collection("c", dim=4)]
        sharded = ShardedReader(lambda m, *x, **kw: [getattr(c, m)(*x, **kw) for c in parts])
        q = np.ones((1, 4), np.float32)
        assert sharded.query(q, k=3) == [[]]
        assert sharded.search_text(["anything"], k=3) == [[]]
        assert sharded.hybrid(["anything"], q, k=3, alpha=0.5) == [[]]
        assert sharded.scroll(limit=5).records == []
