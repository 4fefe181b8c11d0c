"""``/v1/embeddings`` and ``/v1/models`` through the official ``openai`` SDK on a real server."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import numpy as np
import openai
import pytest

from service.embeddings.local import LocalModel
from service.testing import ServerProcess

MODEL = "wordllama-l2-supercat"


@pytest.fixture(scope="module")
def model() -> LocalModel:
    return LocalModel.load()


@pytest.fixture(scope="module")
def client(local_server: ServerProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=local_server.v1, api_key="unused", max_retries=0) as client:
        yield client


def _vectors(response) -> np.ndarray:
    return np.array([item.embedding for item in response.data], dtype=np.float32)


def test_string_input(client: openai.OpenAI, model: LocalModel) -> None:
    response = client.embeddings.create(model=MODEL, input="hello world")
    assert response.object == "list" and response.model == MODEL
    assert [item.index for item in response.data] == [0]
    vector = _vectors(response)
    assert vector.shape == (1, 256)
    np.testing.assert_allclose(np.linalg.norm(vector), 1.0, rtol=1e-5)
    np.testing.assert_allclose(vector, model.embed(["hello world"])[0], atol=1e-6)
    assert response.usage.prompt_tokens == response.usage.total_tokens == 2


def test_list_input_keeps_order_and_counts_usage(client: openai.OpenAI, model: LocalModel) -> None:
    texts = ["the cat sat", "on the mat", "quantum chromodynamics", "the cat sat"]
    response = client.embeddings.create(model=MODEL, input=texts)
    assert [item.index for item in response.data] == [0, 1, 2, 3]
    expected, counts = model.embed(texts)
    np.testing.assert_allclose(_vectors(response), expected, atol=1e-6)
    assert response.usage.prompt_tokens == sum(counts)


@pytest.mark.parametrize("nested", [pytest.param(False, id="ids"), pytest.param(True, id="arrays")])
def test_token_input_is_decoded_by_local_tokenizer(
    client: openai.OpenAI, model: LocalModel, nested: bool
) -> None:
    ids = model.tokenize(["hello brave new world"])[0]
    response = client.embeddings.create(model=MODEL, input=[ids, ids] if nested else ids)
    vectors = _vectors(response)
    assert len(vectors) == (2 if nested else 1)
    np.testing.assert_allclose(vectors[0], model.embed(["hello brave new world"])[0][0], atol=1e-6)
    assert response.usage.prompt_tokens == len(ids) * len(vectors)


def test_base64_equals_float(local_server: ServerProcess) -> None:
    body = {"model": MODEL, "input": ["alpha", "beta"]}
    floats = httpx.post(local_server.v1 + "/embeddings", json=body).json()
    b64 = httpx.post(
        local_server.v1 + "/embeddings", json={**body, "encoding_format": "base64"}
    ).json()
    for f, b in zip(floats["data"], b64["data"], strict=True):
        decoded = np.frombuffer(base64.b64decode(b["embedding"]), dtype="<f4")
        np.testing.assert_array_equal(decoded, np.array(f["embedding"], dtype=np.float32))
    assert floats["usage"] == b64["usage"]


def test_dimensions_truncate_and_renormalise(client: openai.OpenAI) -> None:
    full = _vectors(client.embeddings.create(model=MODEL, input="matryoshka doll"))[0]
    short = _vectors(client.embeddings.create(model=MODEL, input="matryoshka doll", dimensions=64))
    assert short.shape == (1, 64)
    np.testing.assert_allclose(short[0], full[:64] / np.linalg.norm(full[:64]), atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        pytest.param({"input": ""}, "input", id="empty-string"),
        pytest.param({"input": ["ok", ""]}, "input[1]", id="empty-string-in-list"),
        pytest.param({"input": []}, "input", id="empty-list"),
        pytest.param({"input": ["x"] * 2049}, "input", id="too-many-inputs"),
        pytest.param({"input": [[]]}, "input[0]", id="empty-token-array"),
        pytest.param({"input": ["a", [1]]}, "input", id="mixed-input"),
        pytest.param({"input": [99_999]}, "input", id="token-outside-vocab"),
        pytest.param({"input": "x", "dimensions": 0}, "dimensions", id="dimensions-zero"),
        pytest.param({"input": "x", "dimensions": 257}, "dimensions", id="dimensions-too-big"),
        pytest.param({"input": "x", "encoding_format": "hex"}, "encoding_format", id="format"),
        pytest.param({"input": "x", "extra_body": {"foo": 1}}, "foo", id="unknown-field"),
        pytest.param({"input": "word " * 9000}, "input", id="input-too-long"),
    ],
)
def test_invalid_requests_are_400(client: openai.OpenAI, kwargs: dict, param: str) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.embeddings.create(model=MODEL, **kwargs)
    error = info.value.body
    assert info.value.status_code == 400
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param


def test_unknown_model_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.embeddings.create(model="no-such-model", input="x")
    assert info.value.body["code"] == "model_not_found"
    assert info.value.body["param"] == "model"


def test_models_list_and_retrieve(client: openai.OpenAI) -> None:
    ids = [model.id for model in client.models.list()]
    assert ids == [MODEL]
    model = client.models.retrieve(MODEL)
    assert (model.id, model.object, model.owned_by) == (MODEL, "model", "semsearch")
    assert isinstance(model.created, int)
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("text-embedding-3-small")


@pytest.mark.parametrize(
    ("method", "path", "content", "status"),
    [
        pytest.param("POST", "/v1/embeddings", b'{"model": ', 400, id="malformed-json"),
        pytest.param("POST", "/v1/embeddings", b'{"input": "x"}', 400, id="missing-model"),
        pytest.param("GET", "/v1/embeddings", None, 405, id="wrong-method"),
        pytest.param("GET", "/v1/nothing", None, 404, id="unknown-route"),
    ],
)
def test_every_error_has_the_envelope(
    local_server: ServerProcess, method: str, path: str, content: bytes | None, status: int
) -> None:
    response = httpx.request(method, local_server.url + path, content=content)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["error"]
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"]


def test_healthz_metrics_and_openapi(local_server: ServerProcess) -> None:
    assert httpx.get(local_server.url + "/healthz").json() == {"status": "ok"}
    httpx.post(local_server.v1 + "/embeddings", json={"model": MODEL, "input": "count me"})
    text = httpx.get(local_server.url + "/metrics").text
    assert "# TYPE semsearch_http_request_duration_seconds histogram" in text
    assert 'route="/v1/embeddings",status="200"' in text
    assert "semsearch_embedding_tokens_total{" in text
    for name in ("cache_hits", "cache_misses", "cache_evictions"):
        assert f"semsearch_embedding_{name}_total" in text
    for name in ("requests", "retries", "errors"):
        assert f"semsearch_upstream_{name}_total" in text
    schema = httpx.get(local_server.url + "/schema/openapi.json").json()
    assert "/v1/embeddings" in schema["paths"] and "/v1/models" in schema["paths"]
