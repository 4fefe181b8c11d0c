"""``/collections`` over HTTP against the real server."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from service.testing import ServerProcess
from tests.e2e.search_client import Search

_names = itertools.count()


@pytest.fixture(scope="module")
def api(local_server: ServerProcess) -> Iterator[Search]:
    client = Search(local_server.url)
    yield client
    client.close()


def fresh() -> str:
    return f"col-{next(_names)}"


def test_create_describe_list_delete(api: Search) -> None:
    name = fresh()
    created = api.create(
        name,
        metric="l2",
        hnsw={"m": 8, "ef_construction": 64, "ef_search": 32},
        metadata={"team": "search"},
    )
    assert created == {
        "object": "collection",
        "name": name,
        "model": "wordllama-l2-supercat",
        "dimensions": 256,
        "metric": "l2",
        "hnsw": {"m": 8, "ef_construction": 64, "ef_search": 32},
        "lexical": {"language": "english"},
        "default_mode": "hybrid",
        "alpha": 0.3,
        "count": 0,
        "metadata": {"team": "search"},
        "created_at": created["created_at"],
        "passages": {"size": 256, "overlap": 32},
    }
    assert api.ok("GET", f"/collections/{name}") == created
    assert name in [c["name"] for c in api.ok("GET", "/collections")["data"]]
    assert api.ok("DELETE", f"/collections/{name}") == {
        "id": name,
        "object": "collection",
        "deleted": True,
    }
    api.error(404, "GET", f"/collections/{name}")
    assert name not in [c["name"] for c in api.ok("GET", "/collections")["data"]]


def test_defaults_and_dimensions(api: Search) -> None:
    created = api.create(fresh(), dimensions=64)
    assert (created["metric"], created["dimensions"]) == ("cosine", 64)
    assert created["hnsw"] == {"m": 16, "ef_construction": 200, "ef_search": 160}
    [hit] = api.upsert(created["name"], [{"id": "a", "text": "hello world"}])["ids"]
    assert hit == "a"
    doc = api.ok("GET", f"/collections/{created['name']}/documents/a", include="vector")
    assert len(doc["vector"]) == 64


def test_existing_name_is_409(api: Search) -> None:
    name = fresh()
    api.create(name)
    error = api.error(409, "POST", "/collections", {"name": name})
    assert error["param"] == "name"


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("", id="empty"),
        pytest.param("x" * 65, id="too-long"),
        pytest.param("../etc", id="traversal"),
        pytest.param("a b", id="space"),
        pytest.param("a.b", id="dot"),
        pytest.param("café", id="unicode"),
    ],
)
def test_bad_names_are_400(api: Search, name: str) -> None:
    assert api.error(400, "POST", "/collections", {"name": name})["param"] == "name"


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        pytest.param({"model": "no-such-model"}, 404, "model", id="unknown-model"),
        pytest.param({"dimensions": 257}, 400, "dimensions", id="dimensions-too-big"),
        pytest.param({"dimensions": 0}, 400, "dimensions", id="dimensions-zero"),
        pytest.param({"metric": "hamming"}, 400, "metric", id="metric"),
        pytest.param({"hnsw": {"m": 1}}, 400, "hnsw.m", id="hnsw-m"),
        pytest.param({"hnsw": {"ef": 5}}, 400, "hnsw.ef", id="hnsw-unknown-field"),
        pytest.param({"colour": "red"}, 400, "colour", id="unknown-field"),
        pytest.param({"metadata": [1]}, 400, "metadata", id="metadata-not-object"),
    ],
)
def test_bad_create_requests(api: Search, body: dict, status: int, param: str) -> None:
    name = fresh()
    error = api.error(status, "POST", "/collections", {"name": name, **body})
    assert error["param"] == param, error
    api.error(404, "GET", f"/collections/{name}")


def test_missing_collection_is_404_everywhere(api: Search) -> None:
    for method, path, body in [
        ("GET", "/collections/nope", None),
        ("DELETE", "/collections/nope", None),
        ("POST", "/collections/nope/documents", {"documents": [{"text": "x"}]}),
        ("GET", "/collections/nope/documents", None),
        ("GET", "/collections/nope/documents/a", None),
        ("DELETE", "/collections/nope/documents/a", None),
        ("POST", "/collections/nope/documents/delete", {"ids": ["a"]}),
        ("POST", "/collections/nope/query", {"query": "x"}),
    ]:
        assert api.error(404, method, path, body)["message"], (method, path)


def test_malformed_json_is_400(api: Search) -> None:
    response = api.http.post("/collections", content=b"{not json")
    assert response.status_code == 400
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_search_settings_at_creation_and_by_patch(api: Search) -> None:
    name = fresh()
    created = api.create(name, lexical={"language": "german"}, default_mode="lexical", alpha=0.6)
    assert (created["lexical"], created["default_mode"], created["alpha"]) == (
        {"language": "german"},
        "lexical",
        0.6,
    )
    api.upsert(name, [{"id": "h", "text": "Die Kinder spielten in den Häusern"}])
    body = api.query(name, query="Haus")  # German stemming: Häusern ~ Haus
    assert body["mode"] == "lexical" and [h["id"] for h in body["data"]] == ["h"]

    patched = api.ok("PATCH", f"/collections/{name}", {"default_mode": "hybrid", "ef_search": 40})
    assert (patched["default_mode"], patched["alpha"], patched["hnsw"]["ef_search"]) == (
        "hybrid",
        0.6,
        40,
    )
    assert api.query(name, query="Haus")["mode"] == "hybrid"
    assert api.ok("PATCH", f"/collections/{name}", {"alpha": 0.2})["alpha"] == 0.2
    assert api.ok("GET", f"/collections/{name}") == {**patched, "alpha": 0.2, "count": 1}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        pytest.param({"default_mode": "fuzzy"}, "default_mode", id="unknown-mode"),
        pytest.param({"alpha": 1.5}, "alpha", id="alpha-above-1"),
        pytest.param({"alpha": "high"}, "alpha", id="alpha-not-a-number"),
        pytest.param({"ef_search": 0}, "ef_search", id="ef-search-0"),
        pytest.param({"metric": "l2"}, "metric", id="fixed-setting"),
        pytest.param({}, "default_mode", id="nothing-to-change"),
    ],
)
def test_patch_refuses_bad_values_and_changes_nothing(
    api: Search, body: dict[str, object], param: str
) -> None:
    name = fresh()
    created = api.create(name)
    error = api.error(400, "PATCH", f"/collections/{name}", body)
    assert error["param"] == param
    assert api.ok("GET", f"/collections/{name}") == created
    api.error(404, "PATCH", "/collections/nope", {"alpha": 0.5})


def test_unknown_lexical_language_is_refused(api: Search) -> None:
    error = api.error(400, "POST", "/collections", {"name": fresh(), "lexical": {"language": "x"}})
    assert error["param"] == "lexical.language" and "english" in error["message"]


def disk_bytes(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())


def test_compact_returns_deleted_space(local_server: ServerProcess, api: Search) -> None:
    """Issue 10: deleting every document reclaimed no disk space until the collection was
    dropped. ``POST /collections/{name}/compact`` gives it back; the files say so."""
    name = fresh()
    api.create(name, dimensions=64)
    rng = np.random.default_rng(5)
    for start in range(0, 4_000, 1_000):
        docs = [
            {"id": f"d{i}", "vector": rng.normal(size=64).tolist(), "text": f"text {i} " * 20}
            for i in range(start, start + 1_000)
        ]
        api.upsert(name, docs)
    directory = local_server.data_dir / "collections" / name
    deleted = api.ok("POST", f"/collections/{name}/documents/delete", {"where": {"x": {"$ne": 1}}})
    assert deleted == {"deleted": 4_000}
    full = disk_bytes(directory)
    body = api.ok("POST", f"/collections/{name}/compact")
    assert body["object"] == "collection.compaction" and body["name"] == name
    assert body["bytes_after"] < 0.1 * body["bytes_before"]
    assert disk_bytes(directory) < 0.1 * full, (full, disk_bytes(directory))
    api.upsert(name, [{"id": "again", "text": "still a collection"}])
    assert api.ids(name) == ["again"]
    api.error(404, "POST", "/collections/no-such-collection/compact")
