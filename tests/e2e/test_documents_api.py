"""Ingest, read, page, replace and delete documents over HTTP; all-or-nothing batches."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from service.testing import ServerProcess
from tests.e2e.search_client import Search

_names = itertools.count()
DOCS = [
    {"id": "cat", "text": "the cat sat on the mat", "metadata": {"kind": "animal", "legs": 4}},
    {"id": "dog", "text": "a dog chased the postman", "metadata": {"kind": "animal", "legs": 4}},
    {"id": "bird", "text": "birds sing at dawn", "metadata": {"kind": "animal", "legs": 2}},
    {
        "id": "car",
        "text": "the car needs new tyres",
        "metadata": {"kind": "machine", "tags": ["road"]},
    },
    {"id": "boat", "text": "a sailing boat on the sea", "metadata": {"kind": "machine"}},
]


@pytest.fixture(scope="module")
def api(local_server: ServerProcess) -> Iterator[Search]:
    client = Search(local_server.url)
    yield client
    client.close()


@pytest.fixture
def col(api: Search) -> str:
    name = f"docs-{next(_names)}"
    api.create(name)
    api.upsert(name, DOCS)
    return name


def count(api: Search, name: str) -> int:
    return api.ok("GET", f"/collections/{name}")["count"]


def test_upsert_reports_ids_and_usage(api: Search) -> None:
    api.create(name := f"docs-{next(_names)}")
    body = api.upsert(name, [{"text": "no id given"}, {"id": "x", "text": "two words"}])
    assert body["upserted"] == 2 and body["ids"][1] == "x" and len(body["ids"][0]) == 32
    assert body["usage"]["prompt_tokens"] == body["usage"]["total_tokens"] > 0


def test_get_document_with_and_without_vector(api: Search, col: str) -> None:
    doc = api.ok("GET", f"/collections/{col}/documents/cat")
    assert doc == {
        "object": "document",
        "id": "cat",
        "text": DOCS[0]["text"],
        "metadata": DOCS[0]["metadata"],
    }
    with_vector = api.ok("GET", f"/collections/{col}/documents/cat", include="vector")
    assert len(with_vector["vector"]) == 256
    api.error(404, "GET", f"/collections/{col}/documents/nope")
    assert (
        api.error(400, "GET", f"/collections/{col}/documents/cat", include="bogus")["param"]
        == "include"
    )


def test_vector_documents_keep_their_vector(api: Search) -> None:
    api.create(name := f"docs-{next(_names)}", dimensions=4, metric="l2")
    api.upsert(
        name,
        [
            {"id": "v", "vector": [0.5, -1, 2, 0]},
            {"id": "w", "vector": [0, 0, 0, 1], "text": "kept"},
        ],
    )
    assert api.ok("GET", f"/collections/{name}/documents/v", include="vector")["vector"] == [
        0.5,
        -1,
        2,
        0,
    ]
    hits = api.query(name, vector=[0, 0, 0, 1], k=1)["data"]
    assert [(h["id"], h["score"], h["text"]) for h in hits] == [("w", 0.0, "kept")]


def test_upsert_replaces(api: Search, col: str) -> None:
    api.upsert(col, [{"id": "cat", "text": "an entirely different text", "metadata": {"v": 2}}])
    doc = api.ok("GET", f"/collections/{col}/documents/cat")
    assert (doc["text"], doc["metadata"]) == ("an entirely different text", {"v": 2})
    assert count(api, col) == len(DOCS)
    assert api.query(col, query="cat", where={"kind": "animal"}, k=10)["data"][0]["id"] != "cat"


def test_delete_hides_everywhere(api: Search, col: str) -> None:
    assert api.ok("DELETE", f"/collections/{col}/documents/cat") == {
        "id": "cat",
        "object": "document",
        "deleted": True,
    }
    api.error(404, "DELETE", f"/collections/{col}/documents/cat")
    api.error(404, "GET", f"/collections/{col}/documents/cat")
    assert "cat" not in api.ids(col)
    assert "cat" not in [
        h["id"] for h in api.query(col, query="the cat sat on the mat", k=10)["data"]
    ]
    assert count(api, col) == len(DOCS) - 1


def test_delete_by_ids_and_where(api: Search, col: str) -> None:
    path = f"/collections/{col}/documents/delete"
    assert api.ok("POST", path, {"where": {"kind": "machine"}}) == {"deleted": 2}
    assert api.ok("POST", path, {"ids": ["dog", "bird", "nope"], "where": {"legs": 2}}) == {
        "deleted": 1
    }
    assert sorted(api.ids(col)) == ["cat", "dog"]
    assert api.error(400, "POST", path, {})["param"] == "ids"
    assert (
        api.error(400, "POST", path, {"where": {"legs": {"$gt": "x"}}})["param"] == "where.legs.$gt"
    )


def test_pagination_is_stable_under_inserts(api: Search) -> None:
    api.create(name := f"docs-{next(_names)}")
    api.upsert(name, [{"id": f"d{i:03}", "text": f"document number {i}"} for i in range(0, 50, 2)])
    seen, after = [], None
    while True:
        params = {"limit": 7} | ({"after": after} if after else {})
        page = api.ok("GET", f"/collections/{name}/documents", **params)
        seen += [d["id"] for d in page["data"]]
        assert "vector" not in page["data"][0]
        if not page["has_more"]:
            break
        after = page["last_id"]
        # A write behind the cursor must not shift what comes next.
        api.upsert(name, [{"id": f"a{len(seen):03}", "text": "sorts before every d"}])
    assert seen == [f"d{i:03}" for i in range(0, 50, 2)]


def test_filtered_listing(api: Search, col: str) -> None:
    assert api.ids(col, where='{"legs": {"$gte": 4}}') == ["cat", "dog"]
    assert api.ids(col, where='{"tags": "road"}') == ["car"]
    assert api.error(400, "GET", f"/collections/{col}/documents", where="{oops")["param"] == "where"
    assert api.error(400, "GET", f"/collections/{col}/documents", where="[1]")["param"] == "where"
    assert (
        api.error(400, "GET", f"/collections/{col}/documents", where='{"$nope": 1}')["param"]
        == "where.$nope"
    )
    assert api.error(400, "GET", f"/collections/{col}/documents", limit=0)["param"] == "limit"


@pytest.mark.parametrize(
    ("bad", "param"),
    [
        pytest.param({"id": "new", "text": ""}, "documents[2].text", id="empty-text"),
        pytest.param({"id": "new", "text": "   "}, "documents[2].text", id="blank-text"),
        pytest.param({"id": "new"}, "documents[2].text", id="no-text-no-vector"),
        pytest.param(
            {"id": "new", "vector": [1.0, 2.0]}, "documents[2].vector", id="wrong-dimension"
        ),
        # JSON cannot carry infinity: the parser rejects the body (no param to name).
        pytest.param({"id": "new", "vector": ["INF"] * 256}, None, id="infinity"),
        pytest.param(
            {"id": "new", "text": "x", "metadata": {"a": {"b": 1}}},
            "documents[2].metadata.a",
            id="nested-metadata",
        ),
        pytest.param(
            {"id": "new", "text": "x", "metadata": {"$a": 1}},
            "documents[2].metadata.$a",
            id="dollar-key",
        ),
        pytest.param({"id": "first", "text": "again"}, "documents[2].id", id="duplicate-id"),
        pytest.param({"id": "", "text": "x"}, "documents[2].id", id="empty-id"),
        pytest.param({"id": "x" * 257, "text": "x"}, "documents[2].id", id="long-id"),
        pytest.param(
            {"id": "new", "text": "x", "extra": 1}, "documents[2].extra", id="unknown-field"
        ),
    ],
)
def test_a_bad_document_rejects_the_whole_request(
    api: Search, col: str, bad: dict, param: str | None
) -> None:
    batch = [{"id": "first", "text": "fine"}, {"id": "cat", "text": "would replace the cat"}, bad]
    body = json.dumps({"documents": batch}).replace('"INF"', "1e999")  # JSON has no infinity
    error = api.error(400, "POST", f"/collections/{col}/documents", body)
    assert error["param"] == param, error
    assert count(api, col) == len(DOCS)
    api.error(404, "GET", f"/collections/{col}/documents/first")
    assert api.ok("GET", f"/collections/{col}/documents/cat")["text"] == DOCS[0]["text"]


def test_empty_batch_is_400(api: Search, col: str) -> None:
    assert (
        api.error(400, "POST", f"/collections/{col}/documents", {"documents": []})["param"]
        == "documents"
    )


def test_request_limits(start_server) -> None:
    server = start_server(args=["--max-documents-per-request", "3", "--max-body-mb", "0.01"])
    api = Search(server.url)
    api.create("limits")
    docs = [{"text": f"doc {i}"} for i in range(4)]
    error = api.error(413, "POST", "/collections/limits/documents", {"documents": docs})
    assert error["param"] == "documents"
    big = [{"text": "x" * 20_000}]
    api.error(413, "POST", "/collections/limits/documents", {"documents": big})
    assert api.ok("GET", "/collections/limits")["count"] == 0
    api.close()


ODD_IDS = [
    pytest.param("a/b", id="slash"),
    pytest.param("/leading", id="leading-slash"),
    pytest.param("trailing/", id="trailing-slash"),
    pytest.param("a//b", id="double-slash"),
    pytest.param("a/../b", id="dot-dot-inside"),
    pytest.param("delete", id="delete"),
    pytest.param("delete/x", id="under-delete"),
    pytest.param("..", id="dot-dot"),
    pytest.param("%2F", id="percent"),
    pytest.param("a?b#c d", id="query-fragment-space"),
    pytest.param("ü/ß", id="non-ascii"),
]


def path_segment(id_: str) -> str:
    """As the README says: percent-encode the id; ``.``/``..`` as ``%2E``/``%2E%2E``."""
    return "%2E" * len(id_) if id_ in (".", "..") else quote(id_, safe="")


@pytest.mark.parametrize("id_", ODD_IDS)
def test_ids_with_slashes_and_more_work_by_url(api: Search, id_: str) -> None:
    """Issue 10: an id with ``/`` could be written but not read or deleted by URL."""
    api.create(name := f"docs-{next(_names)}")
    api.upsert(name, [{"id": id_, "text": "odd id"}, {"id": "other", "text": "neighbour"}])
    url = f"/collections/{name}/documents/{path_segment(id_)}"
    assert api.ok("GET", url)["id"] == id_
    if "/" in id_ and "/." not in id_ and "?" not in id_:  # a raw slash works too
        assert api.ok("GET", f"/collections/{name}/documents/{id_}")["id"] == id_
    assert api.ok("DELETE", url) == {"id": id_, "object": "document", "deleted": True}
    api.error(404, "GET", url)
    assert api.ids(name) == ["other"]


def test_a_document_id_that_is_not_utf8_is_400(api: Search, col: str) -> None:
    assert api.error(400, "GET", f"/collections/{col}/documents/%FF")["param"] == "id"


def test_a_text_over_the_model_limit_rejects_the_request_without_passages(api: Search) -> None:
    """With ``"passages": null`` a text longer than the model takes is refused, as before
    passages (issue 12); with passages it is split (``test_passages_api.py``)."""
    name = f"docs-{next(_names)}"
    api.create(name, passages=None)
    batch = [{"id": "first", "text": "fine"}, {"id": "new", "text": "word " * 9000}]
    error = api.error(400, "POST", f"/collections/{name}/documents", {"documents": batch})
    assert error["param"] == "documents[1].text" and error["code"] == "context_length_exceeded"
    assert count(api, name) == 0
