"""A misbehaving upstream: retries happen, errors map to statuses, and failures are not cached."""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from service.testing import FaultUpstream, ServerProcess, clean_env, fake_vector

MODEL = "text-embedding-fake"
_unique = itertools.count()


@pytest.fixture(scope="module")
def upstream() -> Iterator[FaultUpstream]:
    with FaultUpstream() as server:
        yield server


@pytest.fixture(scope="module")
def sidecar(
    upstream: FaultUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    env = {
        "SEMSEARCH_UPSTREAM_URL": upstream.v1,  # no model list: unknown ids go upstream
        "SEMSEARCH_UPSTREAM_API_KEY": "sk-fault-key",
        "SEMSEARCH_UPSTREAM_MAX_RETRIES": "2",
        "SEMSEARCH_UPSTREAM_BACKOFF": "0.01",
        "SEMSEARCH_UPSTREAM_BACKOFF_MAX": "0.5",
        "SEMSEARCH_UPSTREAM_TIMEOUT": "0.4",
    }
    server = ServerProcess(tmp_path_factory.mktemp("faults") / "data", env=clean_env(env))
    with server.start():
        yield server


@pytest.fixture
def client(sidecar: ServerProcess, upstream: FaultUpstream) -> Iterator[openai.OpenAI]:
    upstream.script.clear()
    upstream.requests.clear()
    with openai.OpenAI(base_url=sidecar.v1, api_key="x", max_retries=0) as client:
        yield client


def fresh(n: int = 1) -> list[str]:
    """Inputs never seen before, so the cache cannot answer them."""
    return [f"text number {next(_unique)}" for _ in range(n)]


def test_retry_after_is_honoured(client: openai.OpenAI, upstream: FaultUpstream) -> None:
    upstream.push(("status", 429, {"Retry-After": "0.3"}), ("status", 503, {}))
    texts = fresh(2)
    start = time.monotonic()
    response = client.embeddings.create(model=MODEL, input=texts, encoding_format="float")
    assert time.monotonic() - start >= 0.3
    assert len(upstream.requests) == 3
    assert upstream.requests[-1]["encoding_format"] == "base64"
    assert upstream.headers[-1]["authorization"] == "Bearer sk-fault-key"
    assert response.data[1].embedding == pytest.approx(fake_vector(MODEL, texts[1], None).tolist())


@pytest.mark.parametrize(
    ("actions", "error", "status"),
    [
        pytest.param(
            [("status", 429, {"Retry-After": "0"})] * 3, openai.RateLimitError, 429, id="429"
        ),
        pytest.param([("status", 500, {})] * 3, openai.InternalServerError, 502, id="500"),
        pytest.param([("slow", 1.0)] * 3, openai.InternalServerError, 504, id="timeout"),
        pytest.param(["drop"] * 3, openai.InternalServerError, 502, id="connection-drop"),
    ],
)
def test_retries_exhausted(
    client: openai.OpenAI, sidecar: ServerProcess, upstream: FaultUpstream, actions, error, status
) -> None:
    retries = sum(
        v for k, v in sidecar.metrics().items() if k.startswith("semsearch_upstream_retries")
    )
    upstream.push(*actions)
    texts = fresh()
    with pytest.raises(error) as info:
        client.embeddings.create(model=MODEL, input=texts)
    assert info.value.status_code == status
    assert set(info.value.body) == {"message", "type", "param", "code"}
    assert "sk-fault-key" not in info.value.message
    assert len(upstream.requests) == 3  # first try + 2 retries
    after = sum(
        v for k, v in sidecar.metrics().items() if k.startswith("semsearch_upstream_retries")
    )
    assert after - retries == 2
    # Nothing was cached from the failure: the same input goes upstream again, and succeeds.
    assert client.embeddings.create(model=MODEL, input=texts).data
    assert len(upstream.requests) == 4


def test_transient_failures_are_retried(client: openai.OpenAI, upstream: FaultUpstream) -> None:
    upstream.push("drop", ("slow", 1.0))
    assert client.embeddings.create(model=MODEL, input=fresh()).data
    assert len(upstream.requests) == 3


def test_malformed_json_is_502_without_retry(
    client: openai.OpenAI, upstream: FaultUpstream
) -> None:
    upstream.push("malformed")
    with pytest.raises(openai.InternalServerError) as info:
        client.embeddings.create(model=MODEL, input=fresh())
    assert info.value.status_code == 502
    assert "malformed" in info.value.message
    assert len(upstream.requests) == 1


def test_upstream_4xx_passes_through(client: openai.OpenAI, upstream: FaultUpstream) -> None:
    upstream.push(("status", 400, {}))
    with pytest.raises(openai.BadRequestError) as info:
        client.embeddings.create(model=MODEL, input=fresh())
    assert info.value.body["message"] == "injected 400"
    assert info.value.body["type"] == "test_error"
    assert len(upstream.requests) == 1


@pytest.mark.parametrize("status", [pytest.param(401, id="401"), pytest.param(403, id="403")])
def test_upstream_refusing_our_key_is_502(
    client: openai.OpenAI, upstream: FaultUpstream, status: int
) -> None:
    """The upstream refused *the server's* key: passing its 401 on would tell the client that
    its own semsearch key is wrong (issue 10)."""
    upstream.push(("status", status, {}))
    with pytest.raises(openai.APIStatusError) as info:
        client.embeddings.create(model=MODEL, input=fresh())
    assert info.value.status_code == 502
    body = info.value.body
    assert isinstance(body, dict) and body["code"] == "upstream_authentication_failed"
    assert body["type"] == "upstream_error"
    assert "upstream" in body["message"] and "server's" in body["message"]
    assert f"injected {status}" in body["message"]  # the upstream's own words, for the operator
    assert "sk-fault-key" not in info.value.response.text
    assert len(upstream.requests) == 1  # not retried: the key will not get better


def test_unreachable_upstream_is_502(tmp_path: Path) -> None:
    # A port bound but never listened on: connections are refused, and nobody else can take it.
    with socket.socket() as reserved:
        reserved.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{reserved.getsockname()[1]}/v1"
        env = clean_env({"SEMSEARCH_UPSTREAM_URL": url, "SEMSEARCH_UPSTREAM_MAX_RETRIES": "1"})
        with ServerProcess(tmp_path / "data", env=env) as server:
            body = {"model": MODEL, "input": "x"}
            response = httpx.post(server.v1 + "/embeddings", json=body, timeout=30)
    assert response.status_code == 502
    assert "unreachable" in response.json()["error"]["message"]


def test_concurrent_identical_misses_make_one_upstream_call(
    sidecar: ServerProcess, upstream: FaultUpstream, client: openai.OpenAI
) -> None:
    upstream.push(("slow", 0.3))
    texts = fresh(3)

    async def run() -> list[dict]:
        async with httpx.AsyncClient(timeout=30) as http:
            body = {"model": MODEL, "input": texts}
            responses = await asyncio.gather(
                *(http.post(sidecar.v1 + "/embeddings", json=body) for _ in range(100))
            )
        return [r.json() for r in responses]

    answers = asyncio.run(run())
    assert len(upstream.requests) == 1
    assert all(answer["data"] == answers[0]["data"] for answer in answers)
    assert all(answer["usage"] == answers[0]["usage"] for answer in answers)
