"""Collections on an upstream model: vectors come from the upstream, failures write nothing."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from service.testing import FaultUpstream, fake_vector
from tests.e2e.search_client import Search

MODEL = "text-embedding-fake"
ENV = {
    "SEMSEARCH_UPSTREAM_MAX_RETRIES": "1",
    "SEMSEARCH_UPSTREAM_BACKOFF": "0.01",
    "SEMSEARCH_UPSTREAM_TIMEOUT": "0.5",
}


@pytest.fixture
def api(start_server, fault_upstream: FaultUpstream) -> Iterator[Search]:
    server = start_server(env={"SEMSEARCH_UPSTREAM_URL": fault_upstream.v1, **ENV})
    client = Search(server.url)
    yield client
    client.close()


def test_upstream_vectors_are_stored_and_searched(api: Search) -> None:
    created = api.create("up", model=MODEL)
    assert (created["model"], created["dimensions"]) == (MODEL, 16)  # probed from the upstream
    api.upsert("up", [{"id": "a", "text": "alpha"}, {"id": "b", "text": "beta"}])
    stored = api.ok("GET", "/collections/up/documents/a", include="vector")["vector"]
    np.testing.assert_allclose(stored, fake_vector(MODEL, "alpha", None), atol=1e-6)
    [hit] = api.query("up", query="beta", k=1)["data"]
    assert hit["id"] == "b" and hit["score"] == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize(
    ("failures", "status"),
    [
        pytest.param([("status", 500, {})] * 2, 502, id="5xx-after-retries"),
        pytest.param([("slow", 2.0)] * 2, 504, id="timeout"),
        pytest.param(["drop"] * 2, 502, id="connection-dropped"),
        pytest.param([("status", 400, {})], 400, id="upstream-4xx"),
    ],
)
def test_an_upstream_failure_writes_nothing(
    api: Search, fault_upstream: FaultUpstream, failures: list, status: int
) -> None:
    api.create("up", model=MODEL)
    api.upsert("up", [{"id": "old", "text": "kept as it was"}])
    fault_upstream.push(*failures)
    batch = [{"id": "old", "text": "a replacement"}, {"id": "new", "text": "a new one"}]
    api.error(status, "POST", "/collections/up/documents", {"documents": batch})
    assert api.ids("up") == ["old"]
    assert api.ok("GET", "/collections/up/documents/old")["text"] == "kept as it was"


def test_a_collection_passes_its_dimensions_upstream(api: Search, fault_upstream) -> None:
    assert api.create("wide", model=MODEL, dimensions=32)["dimensions"] == 32
    assert fault_upstream.requests[-1]["dimensions"] == 32
    api.upsert("wide", [{"id": "x", "text": "fits"}])
    assert len(api.ok("GET", "/collections/wide/documents/x", include="vector")["vector"]) == 32
