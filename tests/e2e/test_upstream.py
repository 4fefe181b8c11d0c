"""Upstream path end to end: semsearch B embeds through semsearch A, caching what A returns."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import numpy as np
import openai
import pytest

from service.testing import ServerProcess, clean_env

MODEL = "wordllama-l2-supercat"
UPSTREAM_KEY = "sk-upstream-secret-4242"


def _embed(server: ServerProcess, inputs, key: str | None = None, **extra) -> dict:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    body = {"model": MODEL, "input": inputs, **extra}
    response = httpx.post(server.v1 + "/embeddings", json=body, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def _vectors(answer: dict) -> np.ndarray:
    return np.array([item["embedding"] for item in answer["data"]], dtype=np.float32)


def _upstream_calls(server: ServerProcess) -> float:
    return server.metrics().get("semsearch_upstream_requests_total", 0.0)


def _inputs_served(server: ServerProcess) -> float:
    key = f'semsearch_embedding_inputs_total{{model="{MODEL}",provider="local"}}'
    headers = {"authorization": f"Bearer {UPSTREAM_KEY}"}
    return server.metrics(headers).get(key, 0.0)


def test_semsearch_as_upstream_of_semsearch(start_server: Callable[..., ServerProcess]) -> None:
    upstream = start_server(env={"SEMSEARCH_API_KEYS": UPSTREAM_KEY})
    sidecar = start_server(
        env={
            "SEMSEARCH_UPSTREAM_URL": upstream.v1,
            "SEMSEARCH_UPSTREAM_MODELS": MODEL,  # the local id, sent upstream: the list wins
            "OPENAI_API_KEY": UPSTREAM_KEY,  # the fallback for SEMSEARCH_UPSTREAM_API_KEY
        }
    )
    texts = ["alpha centauri", "beta decay", "gamma rays"]

    # Vectors through the sidecar equal the upstream's own local ones, usage included.
    direct = _embed(upstream, texts, key=UPSTREAM_KEY)
    first = _embed(sidecar, texts)
    np.testing.assert_allclose(_vectors(first), _vectors(direct), atol=1e-7)
    assert first["usage"] == direct["usage"]
    assert _upstream_calls(sidecar) == 1

    # The second identical request is answered from the cache: zero upstream calls.
    second = _embed(sidecar, texts)
    assert _vectors(second).tolist() == _vectors(first).tolist()
    assert second["usage"] == first["usage"]
    metrics = sidecar.metrics()
    assert metrics["semsearch_upstream_requests_total"] == 1
    assert metrics["semsearch_embedding_cache_hits_total"] == 3
    assert metrics["semsearch_embedding_cache_misses_total"] == 3

    # Some hits, some misses: only the misses go upstream, answers stay in input order.
    served = _inputs_served(upstream)
    mixed = _embed(sidecar, ["delta wing", "beta decay", "alpha centauri", "epsilon"])
    assert _inputs_served(upstream) == served + 2
    assert _upstream_calls(sidecar) == 2
    np.testing.assert_allclose(_vectors(mixed)[1:3], _vectors(first)[[1, 0]], atol=0)
    expected = _vectors(_embed(upstream, ["delta wing", "epsilon"], key=UPSTREAM_KEY))
    np.testing.assert_allclose(_vectors(mixed)[[0, 3]], expected, atol=1e-7)

    # dimensions pass through (and are part of the cache key).
    short = _embed(sidecar, texts, dimensions=32)
    assert _vectors(short).shape == (3, 32)
    np.testing.assert_allclose(
        _vectors(short), _vectors(_embed(upstream, texts, key=UPSTREAM_KEY, dimensions=32))
    )

    # The cache survives a restart (SIGTERM runs the lifespan's shutdown, which closes it).
    sidecar.restart()
    assert "Application shutdown complete" in sidecar.log()
    again = _embed(sidecar, texts)
    assert _vectors(again).tolist() == _vectors(first).tolist()
    assert again["usage"] == first["usage"]
    assert _upstream_calls(sidecar) == 0

    # The models list shows the routed id as upstream's; the key never appears in logs.
    with openai.OpenAI(base_url=sidecar.v1, api_key="x", max_retries=0) as client:
        assert [(m.id, m.owned_by) for m in client.models.list()] == [(MODEL, "upstream")]
    assert UPSTREAM_KEY not in sidecar.log()


def test_auth(start_server: Callable[..., ServerProcess]) -> None:
    server = start_server(env={"SEMSEARCH_API_KEYS": "key-one,key-two"})
    assert httpx.get(server.url + "/healthz").status_code == 200
    for headers in ({}, {"authorization": "Bearer nope"}, {"authorization": "Basic key-one"}):
        response = httpx.get(server.v1 + "/models", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_api_key"
        assert httpx.get(server.url + "/metrics", headers=headers).status_code == 401
    for key in ("key-one", "key-two"):
        with openai.OpenAI(base_url=server.v1, api_key=key, max_retries=0) as client:
            assert client.embeddings.create(model=MODEL, input="hi").data
    with openai.OpenAI(base_url=server.v1, api_key="wrong", max_retries=0) as client:
        with pytest.raises(openai.AuthenticationError) as info:
            client.embeddings.create(model=MODEL, input="hi")
        assert "wrong" not in info.value.message


def test_body_too_large_is_413(start_server: Callable[..., ServerProcess]) -> None:
    server = start_server(args=["--max-body-mb", "0.01"])
    response = httpx.post(
        server.v1 + "/embeddings", json={"model": MODEL, "input": ["many words here"] * 1000}
    )
    assert response.status_code == 413
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_bad_configuration_fails_at_start(tmp_path) -> None:
    server = ServerProcess(
        tmp_path / "data", env=clean_env({"SEMSEARCH_UPSTREAM_URL": "ftp://nowhere"})
    )
    with pytest.raises(RuntimeError, match="exited with 2"):
        server.start(timeout=20)
    assert "SEMSEARCH_UPSTREAM_URL" in server.log()
