"""Passages through the HTTP API (issue 12): settings, long documents, results per document."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from index import MAX_PASSAGES
from service.collections.schemas import DEFAULT_PASSAGES
from service.testing import FaultUpstream, ServerProcess, fake_vector
from tests.e2e.search_client import Search

_names = itertools.count()
TOPICS = [
    "Rivers carry water from the mountains down to the sea through deep valleys.",
    "Trains leave the station every morning and run on time across the plain.",
    "The weather turned cold and windy, with rain falling for days on end.",
    "Volcanoes erupt molten rock and ash high into the sky above the island.",
    "Chess players study openings and endgames for years to master the game.",
]


def essay(i: int, repeats: int = 6) -> str:
    """A long text: each topic's sentence ``repeats`` times, one paragraph per topic, rotated."""
    order = TOPICS[i % 5 :] + TOPICS[: i % 5]
    return "\n\n".join(" ".join([sentence] * repeats) for sentence in order)


@pytest.fixture(scope="module")
def api(local_server: ServerProcess) -> Iterator[Search]:
    client = Search(local_server.url)
    yield client
    client.close()


def new_name() -> str:
    return f"passages-{next(_names)}"


@pytest.fixture(scope="module")
def col(api: Search) -> str:
    name = new_name()
    created = api.create(name, passages={"size": 32, "overlap": 4})
    assert created["passages"] == {"size": 32, "overlap": 4}
    docs = [
        {"id": f"essay{i}", "text": essay(i), "metadata": {"n": i, "even": i % 2 == 0}}
        for i in range(6)
    ]
    docs += [{"id": "short", "text": "a chess club meets on tuesdays", "metadata": {"n": 99}}]
    assert api.upsert(name, docs)["upserted"] == 7
    return name


def test_settings_are_shown_and_defaulted(api: Search) -> None:
    name = new_name()
    assert api.create(name)["passages"] == {
        "size": DEFAULT_PASSAGES.size,
        "overlap": DEFAULT_PASSAGES.overlap,
    }
    off = new_name()
    assert api.create(off, passages=None)["passages"] is None
    assert api.ok("GET", f"/collections/{off}")["passages"] is None
    listed = {c["name"]: c["passages"] for c in api.ok("GET", "/collections")["data"]}
    assert listed[off] is None and listed[name] is not None


@pytest.mark.parametrize(
    ("passages", "param"),
    [
        pytest.param({"size": 15}, "passages.size", id="size-too-small"),
        pytest.param({"size": 8193}, "passages.size", id="size-too-large"),
        pytest.param({"size": 64, "overlap": 64}, "passages.overlap", id="overlap-not-below"),
        pytest.param({"size": 64, "overlap": -1}, "passages.overlap", id="negative-overlap"),
        pytest.param({"size": 64, "extra": 1}, "passages.extra", id="unknown-field"),
        pytest.param({"size": "big"}, "passages.size", id="not-a-number"),
    ],
)
def test_bad_settings_get_a_400_naming_the_field(
    api: Search, passages: dict[str, object], param: str
) -> None:
    name = new_name()
    error = api.error(400, "POST", "/collections", {"name": name, "passages": passages})
    assert error["param"] == param
    assert api.call("GET", f"/collections/{name}")[0] == 404


def test_k_counts_documents_and_each_comes_once(api: Search, col: str) -> None:
    for mode in ("vector", "lexical", "hybrid"):
        hits = api.query(col, query="volcanoes erupt ash", k=4, mode=mode)["data"]
        ids = [h["id"] for h in hits]
        assert len(ids) == len(set(ids)) == 4, mode
        assert all(i.startswith("essay") for i in ids), mode
    everything = api.query(col, query="chess openings", k=50, mode="vector")["data"]
    assert sorted(h["id"] for h in everything) == sorted(
        [f"essay{i}" for i in range(6)] + ["short"]
    )


def test_passages_come_with_offsets_into_the_text(api: Search, col: str) -> None:
    texts = {f"essay{i}": essay(i) for i in range(6)}
    for mode in ("vector", "lexical", "hybrid"):
        body = api.query(
            col, query="trains leave the station", k=3, mode=mode, include=["text", "passages"]
        )
        for hit in body["data"]:
            assert hit["text"] == texts[hit["id"]]
            passages = hit["passages"]
            assert 1 <= len(passages) <= 3
            assert [p["score"] for p in passages] == sorted(
                (p["score"] for p in passages), reverse=True
            )
            for p in passages:
                assert hit["text"][p["start"] : p["end"]] == p["text"]
            assert "Trains leave the station" in passages[0]["text"], (mode, passages[0])
    short = api.query(col, query="chess club", k=1, mode="lexical", include=["passages"])["data"]
    assert short[0]["id"] == "short"
    assert short[0]["passages"] == [
        {
            "start": 0,
            "end": 30,
            "score": pytest.approx(short[0]["passages"][0]["score"]),
            "text": "a chess club meets on tuesdays",
        }
    ]
    assert "passages" not in api.query(col, query="chess", k=1)["data"][0]


def test_filters_count_scroll_and_get_stay_per_document(api: Search, col: str) -> None:
    for mode in ("vector", "lexical", "hybrid"):
        hits = api.query(col, query="rain and wind", k=10, mode=mode, where={"even": True})["data"]
        assert sorted(h["id"] for h in hits) == ["essay0", "essay2", "essay4"], mode
    assert api.ok("GET", f"/collections/{col}")["count"] == 7
    page = api.ok("GET", f"/collections/{col}/documents", limit=100)
    assert len(page["data"]) == 7
    assert api.ok("GET", f"/collections/{col}/documents/essay3")["text"] == essay(3)


def test_a_text_over_the_model_limit_is_ingested_as_passages(api: Search) -> None:
    name, off = new_name(), new_name()
    api.create(name, passages={"size": 512, "overlap": 32})
    api.create(off, passages=None)
    long_text = essay(0, repeats=300)  # ~ 100,000 characters, well over 8192 tokens
    error = api.error(
        400,
        "POST",
        f"/collections/{off}/documents",
        {"documents": [{"id": "big", "text": long_text}]},
    )
    assert error["code"] == "context_length_exceeded"
    assert error["param"] == "documents[0].text"
    body = api.upsert(name, [{"id": "big", "text": long_text}, {"id": "small", "text": "hi"}])
    assert body["upserted"] == 2 and body["usage"]["prompt_tokens"] > 8192
    hits = api.query(name, query="volcano ash", k=5, include=["passages"])["data"]
    assert [h["id"] for h in hits][:1] == ["big"]
    assert "Volcanoes" in hits[0]["passages"][0]["text"]


def test_too_many_passages_is_a_400_and_nothing_is_written(api: Search) -> None:
    name = new_name()
    api.create(name, passages={"size": 16, "overlap": 0})
    words = " ".join(f"w{i}." for i in range(16 * (MAX_PASSAGES + 8)))
    error = api.error(
        400,
        "POST",
        f"/collections/{name}/documents",
        {"documents": [{"id": "fine", "text": "fine"}, {"id": "huge", "text": words}]},
    )
    assert error["param"] == "documents[1].text"
    assert str(MAX_PASSAGES) in error["message"]
    assert api.ok("GET", f"/collections/{name}")["count"] == 0


def test_replace_and_delete_a_long_document(api: Search) -> None:
    name = new_name()
    api.create(name, passages={"size": 32, "overlap": 0})
    api.upsert(
        name, [{"id": "doc", "text": essay(0)}, {"id": "other", "text": "an unrelated note"}]
    )
    api.upsert(name, [{"id": "doc", "text": "just one short sentence about cooking"}])
    hits = api.query(
        name, query="volcanoes erupt molten rock", k=2, mode="vector", include=["passages"]
    )["data"]
    doc = next(h for h in hits if h["id"] == "doc")
    assert doc["passages"][0]["text"] == "just one short sentence about cooking"
    assert api.ok("DELETE", f"/collections/{name}/documents/doc")["deleted"]
    assert [h["id"] for h in api.query(name, query="cooking", k=5)["data"]] == ["other"]


def test_an_upstream_collection_splits_by_the_estimate(
    start_server, fault_upstream: FaultUpstream
) -> None:
    server = start_server(env={"SEMSEARCH_UPSTREAM_URL": fault_upstream.v1})
    api = Search(server.url)
    model = "text-embedding-fake"
    api.create("up", model=model, passages={"size": 32, "overlap": 0})
    text = essay(2)
    api.upsert("up", [{"id": "long", "text": text}, {"id": "b", "text": "beta"}])
    hits = api.query("up", query="b", k=2, include=["passages"])["data"]
    best = {h["id"]: h["passages"] for h in hits}["long"]
    # The fake upstream's vector of a passage's own text finds that passage exactly.
    target = best[-1]["text"]
    [hit] = api.query(
        "up", vector=fake_vector(model, target, None).tolist(), k=1, include=["passages"]
    )["data"]
    assert hit["id"] == "long" and hit["score"] == pytest.approx(1.0, abs=1e-5)
    assert hit["passages"][0]["text"] == target
    spans = [(p["start"], p["end"]) for p in hit["passages"]]
    assert all(text[a:b] == p["text"] for (a, b), p in zip(spans, hit["passages"], strict=True))
    api.close()
