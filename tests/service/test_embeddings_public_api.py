"""Pins the public surface of ``service.embeddings``: changing it must be deliberate."""

import inspect

import service.embeddings as embeddings
from service.embeddings import EmbeddingService


def test_all() -> None:
    assert sorted(embeddings.__all__) == [
        "EmbedResult",
        "EmbeddingCache",
        "EmbeddingService",
        "Inputs",
        "LocalModel",
        "ModelInfo",
        "ModelRouter",
        "ModelSource",
        "Provider",
        "SingleFlight",
        "UpstreamClient",
    ]


def test_facade_signatures() -> None:
    assert str(inspect.signature(EmbeddingService.resolve)) == "(self, model: 'str') -> 'ModelInfo'"
    assert str(inspect.signature(EmbeddingService.embed)) == (
        "(self, model: 'str', inputs: 'Inputs', dimensions: 'int | None' = None) -> 'EmbedResult'"
    )
    assert inspect.iscoroutinefunction(EmbeddingService.embed)
    assert str(inspect.signature(EmbeddingService.count_tokens)) == (
        "(self, model: 'str', texts: 'list[str]') -> 'list[int] | None'"
    )
    assert list(embeddings.ModelInfo.__struct_fields__) == [
        "id",
        "native_dimensions",
        "max_input_tokens",
        "owned_by",
        "provider",
        "document_model",
    ]
