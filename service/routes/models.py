"""``GET /v1/models`` and ``GET /v1/models/{id}`` in OpenAI's ``Model`` shape."""

from __future__ import annotations

from litestar import Response, get

from service.embeddings import EmbeddingService, ModelInfo
from service.embeddings.schemas import ListModelsResponse, Model, json_encoder
from service.openapi import COMMON, answers

# OpenAI's Model.created is required; ours are not created at a meaningful time, so use a fixed
# one (WordLlama 0.4's release) rather than the start time, which would change every restart.
CREATED = 1_726_000_000


def _model(info: ModelInfo) -> Model:
    return Model(id=info.id, created=CREATED, owned_by=info.owned_by)


@get("/v1/models", sync_to_thread=False, responses=answers(ListModelsResponse, *COMMON))
def list_models(embeddings: EmbeddingService) -> Response[bytes]:
    body = ListModelsResponse(data=[_model(info) for info in embeddings.list_models()])
    return Response(json_encoder.encode(body), media_type="application/json")


# ``:path`` because ids may contain slashes (``BAAI/bge-small-en``) and colons (``ft:...``).
@get(
    "/v1/models/{model_id:path}",
    sync_to_thread=False,
    responses=answers(Model, *COMMON, 404),
)
def retrieve_model(model_id: str, embeddings: EmbeddingService) -> Response[bytes]:
    info = embeddings.resolve(model_id.lstrip("/"))
    return Response(json_encoder.encode(_model(info)), media_type="application/json")
