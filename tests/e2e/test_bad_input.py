"""Bad input is the client's error: 400 with OpenAI's envelope, never a 500 (issue 10, item 3).

Every JSON route is taken from the served OpenAPI document, so a new route is covered too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from index import filters
from service.testing import ServerProcess
from tests.e2e.search_client import ERROR_KEYS

DIM = 4
COLLECTION = "bad-input"


@pytest.fixture(scope="module")
def http(local_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=local_server.url, timeout=60) as client:
        response = client.post("/collections", json={"name": COLLECTION, "dimensions": DIM})
        assert response.status_code in (201, 409)
        yield client


def json_routes(http: httpx.Client) -> list[tuple[str, str]]:
    """``(method, path)`` of every operation with a JSON body, path parameters filled in."""
    document = http.get("/schema/openapi.json").json()
    routes = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                filled = path.replace("{name}", COLLECTION).replace("{doc_id}", "x")
                routes.append((method.upper(), filled.replace("{fine_tuning_job_id}", "ftjob-x")))
    assert len(routes) >= 6  # embeddings, collections, documents, delete, query, fine-tuning
    return routes


def assert_400(response: httpx.Response, param: str | None = None) -> dict[str, Any]:
    assert response.status_code == 400, (response.request.url, response.text)
    error = response.json()["error"]
    assert set(error) == ERROR_KEYS and error["type"] == "invalid_request_error"
    if param is not None:
        assert error["param"] == param, error
    return error


def raw(http: httpx.Client, method: str, path: str, body: bytes) -> httpx.Response:
    return http.request(method, path, content=body, headers={"content-type": "application/json"})


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"name": "\xff\xfe"}', id="invalid-start-byte"),
        pytest.param(b'{"documents": [{"text": "\xc3\x28"}]}', id="bad-continuation"),
        pytest.param(b'{"input": "caf\xe9"}', id="latin-1"),
    ],
)
def test_invalid_utf8_is_400_on_every_json_route(http: httpx.Client, body: bytes) -> None:
    for method, path in json_routes(http):
        error = assert_400(raw(http, method, path, body))
        assert "UTF-8" in error["message"]


def test_a_body_nested_5000_levels_is_400_on_every_json_route(http: httpx.Client) -> None:
    deep = b"[" * 5000 + b"]" * 5000
    in_a_field = b'{"documents": [{"metadata": ' + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"}]}"
    for method, path in json_routes(http):
        for body in (deep, in_a_field):
            assert "nested too deeply" in assert_400(raw(http, method, path, body))["message"]


@pytest.mark.parametrize(
    ("metadata", "param"),
    [
        pytest.param(b'{"year": 9223372036854775808}', "documents[0].metadata.year", id="2**63"),
        pytest.param(b'{"n": -9223372036854775809}', "documents[0].metadata.n", id="-2**63-1"),
        pytest.param(b'{"t": [1, 1' + b"0" * 40 + b"]}", "documents[0].metadata.t[]", id="big"),
    ],
)
def test_integers_beyond_64_bits_name_the_field(
    http: httpx.Client, metadata: bytes, param: str
) -> None:
    doc = f'{{"id": "{param}", "vector": [1, 2, 3, 4], "metadata": '.encode()
    body = b'{"documents": [' + doc + metadata + b"}]}"
    error = assert_400(raw(http, "POST", f"/collections/{COLLECTION}/documents", body), param)
    assert "64-bit" in error["message"]
    assert http.get(f"/collections/{COLLECTION}/documents/{param}").status_code == 404  # no write
    largest = b'{"documents": [' + doc + b'{"year": 9223372036854775807}}]}'
    assert raw(http, "POST", f"/collections/{COLLECTION}/documents", largest).status_code == 200


def test_a_vector_beyond_float32_names_the_field(http: httpx.Client) -> None:
    body = {"documents": [{"id": "v", "vector": [1e39, 1, 1, 1]}]}
    assert_400(http.post(f"/collections/{COLLECTION}/documents", json=body), "documents[0].vector")


def _nested_where(depth: int) -> dict[str, Any]:
    where: dict[str, Any] = {"n": {"$gte": 0}}
    for level in range(depth):
        where = {"$or" if level % 2 else "$and": [where, {"absent": {"$ne": level}}]}
    return where


def _filter_calls(http: httpx.Client, where: dict[str, Any]) -> dict[str, httpx.Response]:
    """The same filter on query, scroll (a GET parameter, when it fits in a URL) and delete."""
    base = f"/collections/{COLLECTION}"
    calls = {
        "query": http.post(f"{base}/query", json={"vector": [1, 2, 3, 4], "where": where}),
        "delete": http.post(f"{base}/documents/delete", json={"where": where}),
    }
    encoded = json.dumps(where, separators=(",", ":"))
    if len(encoded) < 8_000:
        calls["scroll"] = http.get(f"{base}/documents", params={"where": encoded})
    return calls


@pytest.mark.parametrize(
    "where",
    [
        pytest.param({"n": {"$in": list(range(1_200))}}, id="in-1200"),
        pytest.param({"n": {"$nin": list(range(filters.MAX_VALUES))}}, id="nin-at-the-limit"),
        pytest.param({"$or": [{"n": i} for i in range(600)]}, id="or-600"),
        pytest.param(_nested_where(filters.MAX_DEPTH), id="depth-at-the-limit"),
    ],
)
def test_big_filters_within_the_limits_are_answered(
    http: httpx.Client, where: dict[str, Any]
) -> None:
    """500s in issue 10: SQLite's "Expression tree is too large" ($in 500+ on scroll, 1,000+
    on delete) and "too many terms in compound SELECT" ($or 501+)."""
    for name, response in _filter_calls(http, where).items():
        assert response.status_code == 200, (name, response.text)


@pytest.mark.parametrize(
    ("where", "param", "limit"),
    [
        pytest.param(_nested_where(400), "where", "32 levels", id="nested-400"),
        pytest.param(
            {"n": {"$in": list(range(filters.MAX_VALUES + 1))}},
            "where.n.$in",
            "limit is 10000",
            id="in-too-long",
        ),
        pytest.param(
            {"$or": [{"n": i} for i in range(filters.MAX_CLAUSES + 1)]},
            "where",
            "1000 conditions",
            id="or-too-long",
        ),
        pytest.param({"year": 2**63}, "where.year", "64-bit", id="int-too-big"),
    ],
)
def test_filters_beyond_the_limits_are_400_naming_the_limit(
    http: httpx.Client, where: dict[str, Any], param: str, limit: str
) -> None:
    for response in _filter_calls(http, where).values():
        error = assert_400(response, param)
        assert limit in error["message"]
