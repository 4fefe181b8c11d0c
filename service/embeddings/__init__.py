"""The embedding layer: the local WordLlama model, an OpenAI-compatible upstream, the persistent
cache, and ``EmbeddingService``, the facade everything else calls."""

from service.embeddings.cache import EmbeddingCache
from service.embeddings.local import LocalModel
from service.embeddings.router import ModelRouter, ModelSource, Provider
from service.embeddings.service import EmbeddingService
from service.embeddings.singleflight import SingleFlight
from service.embeddings.types import EmbedResult, Inputs, ModelInfo
from service.embeddings.upstream import UpstreamClient

__all__ = [
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
