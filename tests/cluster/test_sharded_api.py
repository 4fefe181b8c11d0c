"""Sharded collections behind the same HTTP API answer as one node with the same documents.

A single-node collection and sharded ones (2 and 3 shards over two Ray nodes) get the same
SciFact abstracts, embedded by the server; every read is then compared. Exact search (a filter
small enough for brute force, ``k`` above the matches) must be equal; HNSW must reach the same
recall against exact neighbours.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from service.testing import ServerProcess
from tests.cluster.conftest import NEEDS_RAY

pytestmark = [NEEDS_RAY, pytest.mark.slow]

N_DOCS = 600
#: SciFact's first 743 abstracts, in the repository: sharded and single-node answers are
#: compared on the same documents, so any real text will do, and this one is always here.
CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "scifact_small" / "corpus.jsonl"
SHARDED = [pytest.param("s2", id="2-shards"), pytest.param("s3", id="3-shards")]


def _documents() -> list[dict[str, Any]]:
    docs = []
    with CORPUS.open() as f:
        for i, line in enumerate(f):
            if i == N_DOCS:
                break
            row = json.loads(line)
            docs.append(
                {
                    "id": row["_id"],
                    "text": f"{row['title']} {row['text']}"[:1500],
                    "metadata": {"group": i % 7, "even": i % 2 == 0},
                }
            )
    return docs


@pytest.fixture(scope="module")
def collections(cluster_server: ServerProcess) -> dict[str, Any]:
    """``single`` on the front door's own store; ``s2``/``s3`` on shard actors."""
    docs = _documents()
    with httpx.Client(base_url=cluster_server.url, timeout=300) as c:
        for name, shards in (("single", None), ("s2", 2), ("s3", 3)):
            # Passages of 64 tokens: the fixture's abstracts (up to 620 characters) are split.
            body: dict[str, Any] = {
                "name": name,
                "hnsw": {"ef_search": 400},
                "passages": {"size": 64, "overlap": 8},
            }
            if shards:
                body["shards"] = shards
            r = c.post("/collections", json=body)
            assert r.status_code == 201, r.text
            assert r.json().get("shards") == shards
            for start in range(0, len(docs), 200):
                r = c.post(
                    f"/collections/{name}/documents", json={"documents": docs[start : start + 200]}
                )
                assert r.status_code == 200, r.text
    return {"docs": docs}


def _query(c: httpx.Client, name: str, **body: Any) -> list[dict[str, Any]]:
    r = c.post(f"/collections/{name}/query", json={"include": ["scores"], **body})
    assert r.status_code == 200, r.text
    return r.json()["data"]


def _same_ranking(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> None:
    """Equal scores rank for rank, and the same ids in each run of tied scores (a tie may
    order either way); the last run may be cut by ``k`` differently."""
    assert [h["score"] for h in a] == pytest.approx([h["score"] for h in b], rel=1e-5, abs=1e-6)
    runs_a, runs_b = _runs(a), _runs(b)
    assert len(runs_a) == len(runs_b)
    assert runs_a[:-1] == runs_b[:-1]


def _runs(hits: list[dict[str, Any]]) -> list[set[str]]:
    runs: list[set[str]] = []
    last = None
    for h in hits:
        if last is not None and abs(h["score"] - last) <= 1e-5 * max(1.0, abs(last)):
            runs[-1].add(h["id"])
        else:
            runs.append({h["id"]})
        last = h["score"]
    return runs


QUERIES = [
    "vitamin D deficiency and bone fractures",
    "gene expression in breast cancer cells",
    "randomized trial of antibiotics",
]


@pytest.mark.parametrize("name", SHARDED)
@pytest.mark.parametrize(
    ("where", "k"),
    [
        pytest.param({"group": 3}, 10, id="filter"),
        pytest.param({"group": {"$in": [1, 2]}, "even": True}, 1000, id="k-above-matches"),
    ],
)
def test_exact_vector_search_equals_one_node(
    client: httpx.Client, collections: dict[str, Any], name: str, where: Any, k: int
) -> None:
    for text in QUERIES:
        expected = _query(client, "single", query=text, mode="vector", where=where, k=k)
        got = _query(client, name, query=text, mode="vector", where=where, k=k)
        assert [h["id"] for h in got] == [h["id"] for h in expected]
        # float32 similarities, summed in another order on a shard: equal to float32's precision
        scores = [h["score"] for h in expected]
        assert [h["score"] for h in got] == pytest.approx(scores, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("name", SHARDED)
@pytest.mark.parametrize("mode", ["lexical", "hybrid"])
@pytest.mark.parametrize(
    ("where", "k"),
    [
        pytest.param(None, 10, id="all"),
        pytest.param({"group": 3}, 10, id="filter"),
        pytest.param({"group": {"$in": [1, 2]}, "even": True}, 1000, id="k-above-matches"),
    ],
)
def test_lexical_and_hybrid_equal_one_node(
    client: httpx.Client,
    collections: dict[str, Any],
    name: str,
    mode: str,
    where: Any,
    k: int,
) -> None:
    texts = [*QUERIES, "vitamn defciency"]  # typos: corrected as on one node
    for text in texts:
        # ef covers the whole collection: HNSW is exact here, so only a merge could differ.
        body = {"query": text, "mode": mode, "where": where, "k": k}
        if mode == "hybrid":
            body["ef"] = 4096
        expected = _query(client, "single", **body)
        got = _query(client, name, **body)
        assert expected
        _same_ranking(expected, got)


@pytest.mark.parametrize("name", SHARDED)
def test_hnsw_recall_matches_one_node(
    client: httpx.Client, collections: dict[str, Any], name: str
) -> None:
    """Unfiltered vector search is approximate on both: recall@10 against exact neighbours
    (the filter ``group >= 0`` matches everything, through brute force)."""
    texts = [d["text"][:80] for d in collections["docs"][::40]]
    recall: dict[str, list[float]] = {"single": [], name: []}
    for text in texts:
        exact = _query(
            client, "single", query=text, mode="vector", k=10, where={"group": {"$gte": 0}}
        )
        truth = {h["id"] for h in exact}
        for col in recall:
            got = _query(client, col, query=text, mode="vector", k=10, ef=16)
            recall[col].append(len(truth & {h["id"] for h in got}) / 10)
    single, sharded = np.mean(recall["single"]), np.mean(recall[name])
    assert sharded >= single - 0.02, (single, sharded)


@pytest.mark.parametrize("name", SHARDED)
def test_documents_read_and_scroll_as_one_collection(
    client: httpx.Client, collections: dict[str, Any], name: str
) -> None:
    docs = collections["docs"]
    assert client.get(f"/collections/{name}").json()["count"] == len(docs)
    one = docs[17]
    r = client.get(f"/collections/{name}/documents/{one['id']}", params={"include": "vector"})
    assert r.status_code == 200 and r.json()["text"] == one["text"]
    assert len(r.json()["vector"]) == 256
    assert client.get(f"/collections/{name}/documents/nope").status_code == 404
    for where in (None, {"group": 4}):
        pages: list[list[str]] = []
        for col in ("single", name):
            ids: list[str] = []
            after = None
            for _ in range(100):
                params: dict[str, Any] = {"limit": 37}
                if after:
                    params["after"] = after
                if where:
                    params["where"] = json.dumps(where)
                page = client.get(f"/collections/{col}/documents", params=params).json()
                ids += [d["id"] for d in page["data"]]
                if not page["has_more"]:
                    break
                after = page["last_id"]
            pages.append(ids)
        assert pages[0] == pages[1] and pages[0] == sorted(pages[0])


def test_writes_deletes_and_listing(client: httpx.Client, collections: dict[str, Any]) -> None:
    r = client.post("/collections", json={"name": "w3", "shards": 3, "dimensions": 32})
    assert r.status_code == 201, r.text
    docs = [
        {
            "id": f"w{i}",
            "text": f"note number {i} about {'cats' if i % 2 else 'dogs'}",
            "metadata": {"odd": i % 2 == 1},
        }
        for i in range(60)
    ]
    assert client.post("/collections/w3/documents", json={"documents": docs}).status_code == 200
    # An upsert of an existing id lands on its shard: replaced, not duplicated.
    r = client.post(
        "/collections/w3/documents",
        json={"documents": [{"id": "w3", "text": "new", "metadata": {"odd": True}}]},
    )
    assert r.status_code == 200
    assert client.get("/collections/w3").json()["count"] == 60
    assert client.get("/collections/w3/documents/w3").json()["text"] == "new"
    assert client.delete("/collections/w3/documents/w4").status_code == 200
    assert client.delete("/collections/w3/documents/w4").status_code == 404
    r = client.post("/collections/w3/documents/delete", json={"where": {"odd": True}})
    assert r.status_code == 200 and r.json()["deleted"] == 30
    r = client.post("/collections/w3/documents/delete", json={"ids": ["w0", "w2", "w1"]})
    assert r.json()["deleted"] == 2
    assert client.get("/collections/w3").json()["count"] == 27
    # Bad input is refused whole, before any shard is written.
    bad = [
        {"id": "ok", "text": "fine"},
        {"id": "bad", "text": "x", "metadata": {"a": {"b": {"c": {"d": {"e": {"f": {"g": 1}}}}}}}},
    ]
    r = client.post("/collections/w3/documents", json={"documents": bad})
    assert r.status_code == 400, r.text
    assert client.get("/collections/w3/documents/ok").status_code == 404
    # A zero vector (no cosine) among good documents: refused before any shard writes.
    many: list[dict[str, Any]] = [{"id": f"z{i}", "text": "fine"} for i in range(20)]
    many.append({"id": "zero", "vector": [0.0] * 32})
    r = client.post("/collections/w3/documents", json={"documents": many})
    assert r.status_code == 400 and r.json()["error"]["param"] == "documents[20].vector"
    assert client.get("/collections/w3").json()["count"] == 27
    names = [c["name"] for c in client.get("/collections").json()["data"]]
    assert {"single", "s2", "s3", "w3"} <= set(names)
    r = client.patch("/collections/w3", json={"default_mode": "lexical"})
    assert r.status_code == 200 and r.json()["default_mode"] == "lexical"
    assert client.post("/collections", json={"name": "w3", "shards": 2}).status_code == 409
    assert client.post("/collections", json={"name": "w3"}).status_code == 409
    assert client.post("/collections", json={"name": "single", "shards": 2}).status_code == 409
    assert client.delete("/collections/w3").status_code == 200
    assert client.get("/collections/w3").status_code == 404


@pytest.mark.parametrize("name", SHARDED)
@pytest.mark.parametrize("mode", ["vector", "lexical", "hybrid"])
def test_passages_as_on_one_node(
    client: httpx.Client, collections: dict[str, Any], name: str, mode: str
) -> None:
    """The abstracts are split into passages (64/8 tokens here) on every shard as
    on one node: the same documents rank the same, with the same best passages."""
    described = client.get(f"/collections/{name}").json()
    assert described["passages"] == client.get("/collections/single").json()["passages"]
    assert described["passages"] is not None
    # A query from the longest abstract: it ranks that abstract, which is split, among its hits.
    longest = max(_documents(), key=lambda d: len(d["text"]))["text"]
    query = longest[len(longest) // 2 :][:300]
    body = {"query": query, "mode": mode, "k": 5, "include": ["passages"], "ef": 4096}
    expected = _query(client, "single", **body)
    got = _query(client, name, **body)
    _same_ranking(expected, got)
    by_id = {h["id"]: h["passages"] for h in expected}
    assert any(len(h["passages"]) > 1 for h in got), "some abstracts were split"
    for hit in got:
        if hit["id"] in by_id:
            mine, theirs = hit["passages"], by_id[hit["id"]]
            assert [(p["start"], p["end"], p["text"]) for p in mine] == [
                (p["start"], p["end"], p["text"]) for p in theirs
            ]
            if mode != "lexical":
                # (A lexical query's passage score is term saturation with the shard's own
                # average length: the same passages in the same order, scores a little apart.)
                scores = [p["score"] for p in theirs]
                assert [p["score"] for p in mine] == pytest.approx(scores, rel=1e-5)
