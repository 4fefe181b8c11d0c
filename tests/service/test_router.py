"""Routing by model id (issue 3's rules) and the seam for fine-tuned models."""

from __future__ import annotations

import pytest

from service.embeddings.local import INFO as LOCAL
from service.embeddings.router import ModelRouter
from service.embeddings.types import ModelInfo
from service.errors import ModelNotFoundError


def test_local_only() -> None:
    router = ModelRouter([LOCAL], upstream=False)
    assert router.resolve(LOCAL.id).provider == "local"
    with pytest.raises(ModelNotFoundError) as info:
        router.resolve("text-embedding-3-small")
    assert info.value.status == 404 and info.value.code == "model_not_found"


def test_upstream_list_wins_even_over_local_ids() -> None:
    router = ModelRouter([LOCAL], upstream=True, upstream_models=[LOCAL.id, "m"])
    assert router.resolve(LOCAL.id).provider == "upstream"
    assert router.resolve("m").provider == "upstream"
    with pytest.raises(ModelNotFoundError):
        router.resolve("other")
    assert [(m.id, m.provider) for m in router.list_models()] == [
        (LOCAL.id, "upstream"),
        ("m", "upstream"),
    ]


def test_empty_list_sends_unknown_ids_upstream() -> None:
    router = ModelRouter([LOCAL], upstream=True)
    assert router.resolve(LOCAL.id).provider == "local"
    assert router.resolve("text-embedding-3-small").provider == "upstream"


class FineTunes:
    def __init__(self) -> None:
        self.info = ModelInfo(
            id="ft:wordllama:acme:1",
            native_dimensions=256,
            max_input_tokens=8192,
            owned_by="acme",
            provider="finetune",
        )

    def resolve(self, model: str) -> ModelInfo | None:
        return self.info if model == self.info.id else None

    def list_models(self) -> list[ModelInfo]:
        return [self.info]


def test_registered_source_is_consulted_before_local_and_fallback() -> None:
    router = ModelRouter([LOCAL], upstream=True)
    router.register(FineTunes())
    assert router.resolve("ft:wordllama:acme:1").provider == "finetune"
    assert router.resolve("ft:other").provider == "upstream"
    assert "ft:wordllama:acme:1" in [m.id for m in router.list_models()]
