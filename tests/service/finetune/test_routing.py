"""Which jobs run here (adapters) and which are proxied upstream (chat models)."""

from __future__ import annotations

import pytest

from service.embeddings import ModelInfo, ModelRouter
from service.embeddings.local import INFO
from service.errors import InvalidRequestError
from service.finetune.service import FineTuningService, is_embedding_model


class FakeEmbeddings:
    def __init__(self, router: ModelRouter) -> None:
        self.router = router

    def resolve(self, model: str) -> ModelInfo:
        return self.router.resolve(model)


class NoAdapters:
    def get(self, model: str) -> None:
        return None


def service(*, upstream: bool, upstream_models: tuple[str, ...] = ()) -> FineTuningService:
    router = ModelRouter([INFO], upstream=upstream, upstream_models=upstream_models)
    return FineTuningService(
        store=None,  # type: ignore[arg-type]
        files=None,  # type: ignore[arg-type]
        embeddings=FakeEmbeddings(router),  # type: ignore[arg-type]
        adapters=NoAdapters(),  # type: ignore[arg-type]
        runner=None,  # type: ignore[arg-type]
        upstream=object() if upstream else None,  # type: ignore[arg-type]
        upstream_models=upstream_models,
    )


@pytest.mark.parametrize(
    ("model", "upstream_models", "expected"),
    [
        pytest.param("wordllama-l2-supercat", (), "local", id="local-model"),
        pytest.param("text-embedding-3-small", (), "local", id="embed-in-name"),
        pytest.param("nomic-embed-text", (), "local", id="embed-anywhere"),
        pytest.param("BAAI/bge-small-en", ("BAAI/bge-small-en",), "local", id="listed"),
        pytest.param("gpt-4o-mini", (), "upstream", id="chat-model"),
        pytest.param("gpt-4o-mini", ("text-embedding-3-small",), "upstream", id="not-listed"),
    ],
)
def test_route(model: str, upstream_models: tuple[str, ...], expected: str) -> None:
    assert service(upstream=True, upstream_models=upstream_models).route(model) == expected


def test_is_embedding_model() -> None:
    assert is_embedding_model("text-embedding-ada-002", ())
    assert not is_embedding_model("gpt-4o-mini", ())


def test_chat_model_without_upstream_is_a_bad_request() -> None:
    with pytest.raises(InvalidRequestError) as info:
        service(upstream=False).route("gpt-4o-mini")
    assert info.value.param == "model"
