"""``POST /v1/embeddings``: OpenAI's CreateEmbedding contract over ``EmbeddingService``."""

from __future__ import annotations

from litestar import Response, post

from service.embeddings import EmbeddingService
from service.embeddings.schemas import (
    CreateEmbeddingRequest,
    CreateEmbeddingResponse,
    embedding_response,
    json_encoder,
    split_input,
)
from service.errors import InvalidRequestError
from service.openapi import COMMON, UPSTREAM, answers


@post(
    "/v1/embeddings",
    status_code=200,
    responses=answers(CreateEmbeddingResponse, *COMMON, *UPSTREAM, 404, 413, 503),
)
async def create_embedding(
    data: CreateEmbeddingRequest, embeddings: EmbeddingService
) -> Response[bytes]:
    """Embed a string, strings, token ids or token-id arrays; answers in input order."""
    try:
        inputs = split_input(data.input)
    except ValueError as exc:
        raise InvalidRequestError(str(exc), param="input") from None
    result = await embeddings.embed(data.model, inputs, data.dimensions)
    body = embedding_response(
        result.vectors, result.model, result.prompt_tokens, data.encoding_format
    )
    return Response(json_encoder.encode(body), media_type="application/json")
