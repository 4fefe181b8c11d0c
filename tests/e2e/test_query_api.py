"""``POST /collections/{name}/query``: text, vector and batch queries, filters, include, errors."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np
import pytest

from service.testing import ServerProcess
from tests.e2e.search_client import Search

_names = itertools.count()
TEXTS = {
    "cat": "the cat sat on the mat",
    "kitten": "a small kitten sleeping on a rug",
    "dog": "a dog chased the postman down the street",
    "car": "the car needs new tyres and an oil change",
    "boat": "a sailing boat on a calm blue sea",
    "physics": "quantum mechanics describes particles and waves",
}


@pytest.fixture(scope="module")
def api(local_server: ServerProcess) -> Iterator[Search]:
    client = Search(local_server.url)
    yield client
    client.close()


@pytest.fixture(scope="module")
def col(api: Search) -> str:
    name = f"query-{next(_names)}"
    api.create(name, default_mode="vector")  # these tests are about vector search
    api.upsert(
        name,
        [
            {"id": id_, "text": text, "metadata": {"i": i, "pet": id_ in ("cat", "kitten", "dog")}}
            for i, (id_, text) in enumerate(TEXTS.items())
        ],
    )
    return name


def embed(api: Search, texts: list[str]) -> np.ndarray:
    body = api.ok("POST", "/v1/embeddings", {"model": "wordllama-l2-supercat", "input": texts})
    return np.array([d["embedding"] for d in body["data"]], dtype=np.float32)


def test_text_query_ranks_by_cosine_of_the_same_embeddings(api: Search, col: str) -> None:
    body = api.query(col, query="a cat on a rug", k=len(TEXTS), mode="vector")
    assert body["model"] == "wordllama-l2-supercat" and body["mode"] == "vector"
    assert body["usage"]["prompt_tokens"] > 0 and body["object"] == "list"
    docs = embed(api, list(TEXTS.values()))
    [q] = embed(api, ["a cat on a rug"])
    expected = sorted(zip(docs @ q, TEXTS, strict=True), reverse=True)
    assert [h["id"] for h in body["data"]] == [id_ for _, id_ in expected]
    assert [h["score"] for h in body["data"]] == pytest.approx([s for s, _ in expected], abs=1e-5)
    assert set(body["data"][0]) == {"id", "score", "text", "metadata"}


def test_vector_query_and_include(api: Search, col: str) -> None:
    [vector] = embed(api, [TEXTS["boat"]])
    body = api.query(col, vector=vector.tolist(), k=1, include=["vector"])
    assert body["mode"] == "vector"  # a vector query is a vector search
    assert body["usage"] == {"prompt_tokens": 0, "total_tokens": 0}
    [hit] = body["data"]
    assert set(hit) == {"id", "score", "vector"} and hit["id"] == "boat"
    np.testing.assert_allclose(hit["vector"], vector, atol=1e-6)
    assert set(api.query(col, query="boat", k=1, include=[])["data"][0]) == {"id", "score"}


def test_batch_queries_answer_in_order(api: Search, col: str) -> None:
    body = api.query(col, queries=[TEXTS["dog"], TEXTS["physics"]], k=2)
    assert [hits[0]["id"] for hits in body["data"]] == ["dog", "physics"]
    assert all(len(hits) == 2 for hits in body["data"])


def test_filters_k_min_score_and_ef(api: Search, col: str) -> None:
    pets = api.query(col, query="vehicle", where={"pet": True}, k=10)["data"]
    assert sorted(h["id"] for h in pets) == ["cat", "dog", "kitten"]
    assert [
        h["id"] for h in api.query(col, query="x", where={"i": {"$in": [3, 4]}}, k=1)["data"]
    ] in ([["car"], ["boat"]])
    assert api.query(col, query="x", where={"i": {"$gt": 100}})["data"] == []
    everything = api.query(col, query="cat", k=1000)["data"]
    assert len(everything) == len(TEXTS)
    assert [h["score"] for h in everything] == sorted(
        (h["score"] for h in everything), reverse=True
    )
    cut = everything[2]["score"]
    assert all(h["score"] >= cut for h in api.query(col, query="cat", k=10, min_score=cut)["data"])
    assert len(api.query(col, query="cat", k=10, min_score=cut)["data"]) == 3
    assert api.query(col, query="cat", k=3, ef=500)["data"] == everything[:3]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        pytest.param({}, "query", id="nothing"),
        pytest.param({"query": "a", "vector": [0.0] * 256}, "vector", id="two-kinds"),
        pytest.param({"query": ""}, "query", id="empty-query"),
        pytest.param({"queries": []}, "queries", id="no-queries"),
        pytest.param({"queries": ["ok", " "]}, "queries[1]", id="blank-in-batch"),
        pytest.param({"vector": [1.0, 2.0]}, "vector", id="vector-dimension"),
        pytest.param({"query": "a", "k": 0}, "k", id="k-zero"),
        pytest.param({"query": "a", "k": 1001}, "k", id="k-too-big"),
        pytest.param({"query": "a", "ef": 0}, "ef", id="ef"),
        pytest.param({"query": "a", "include": ["everything"]}, "include[0]", id="include"),
        pytest.param({"query": "a", "where": {"i": {"$regex": "x"}}}, "where.i.$regex", id="where"),
        pytest.param({"query": "a", "where": {"$or": []}}, "where.$or", id="where-empty-or"),
        pytest.param({"query": "a", "top_k": 3}, "top_k", id="unknown-field"),
        pytest.param({"query": "word " * 9000}, "query", id="too-long"),
        pytest.param({"query": "a", "mode": "fuzzy"}, "mode", id="mode"),
        pytest.param({"vector": [0.0] * 256, "mode": "lexical"}, "mode", id="lexical-vector"),
        pytest.param({"vector": [0.0] * 256, "mode": "hybrid"}, "mode", id="hybrid-vector"),
        pytest.param({"query": "a", "alpha": 1.5}, "alpha", id="alpha-range"),
        pytest.param({"query": "a", "mode": "vector", "alpha": 0.5}, "alpha", id="alpha-mode"),
        pytest.param({"query": "a", "include": ["score"]}, "include[0]", id="include-score"),
    ],
)
def test_bad_queries_are_400(api: Search, col: str, body: dict, param: str) -> None:
    error = api.error(400, "POST", f"/collections/{col}/query", body)
    assert error["param"] == param, error


@pytest.mark.parametrize("mode", ["vector", "lexical", "hybrid"])
@pytest.mark.parametrize(
    "text",
    [
        pytest.param('"unbalanced', id="quote"),
        pytest.param('cat" OR "dog', id="quotes"),
        pytest.param("NEAR(a b)", id="near"),
        pytest.param("a* OR -b AND NOT c", id="operators"),
        pytest.param("()", id="parentheses"),
        pytest.param("sea:boat ^cat {mat} +dog", id="columns"),
        pytest.param("\u202e\U0001f600 ünïcödé", id="unicode"),
        pytest.param("x" * 10_000, id="10k-one-word"),
        pytest.param("cat " * 2_500, id="10k-words"),
    ],
)
def test_hostile_query_text_is_just_text(api: Search, col: str, text: str, mode: str) -> None:
    hits = api.query(col, query=text, k=2, mode=mode)["data"]
    assert len(hits) <= 2 and {h["id"] for h in hits} <= set(TEXTS)
    if mode != "lexical":
        assert len(hits) == 2
    elif text in ("cat " * 2_500, '"unbalanced', "x" * 10_000):  # words: just "cat", or none
        assert [h["id"] for h in hits] == (["cat"] if "cat" in text else [])


@pytest.mark.parametrize(
    ("path", "body", "param", "choices"),
    [
        pytest.param(
            "query",
            {"query": "x", "mode": "semantic"},
            "mode",
            ("hybrid", "lexical", "vector"),
            id="query-mode",
        ),
        pytest.param(
            None,
            {"name": "m", "metric": "dot"},
            "metric",
            ("cosine", "ip", "l2"),
            id="create-metric",
        ),
        pytest.param(
            None,
            {"name": "m", "default_mode": "fuzzy"},
            "default_mode",
            ("hybrid", "lexical", "vector"),
            id="create-mode",
        ),
        pytest.param(
            "query",
            {"query": "x", "include": ["text", "txt"]},
            "include[1]",
            ("metadata", "scores", "text", "vector"),
            id="include",
        ),
    ],
)
def test_an_invalid_enum_value_lists_the_valid_ones(
    api: Search, col: str, path: str | None, body: dict, param: str, choices: tuple[str, ...]
) -> None:
    url = f"/collections/{col}/{path}" if path else "/collections"
    response = api.http.post(url, json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == param
    message = error["message"]
    assert "Invalid enum value" in message and "expected one of:" in message, error
    assert all(repr(choice) in message.split("expected one of:")[1] for choice in choices), error
