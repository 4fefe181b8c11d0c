"""``POST /v1/embeddings``: OpenAI's CreateEmbedding contract over ``EmbeddingService``."""

from __future__ import annotations

import base64

import numpy as np
from litestar import Response, post

from service.embeddings import EmbeddingService
from service.embeddings.schemas import (
    CreateEmbeddingRequest,
    CreateEmbeddingResponse,
    Embedding,
    Usage,
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
) -> Response[CreateEmbeddingResponse]:
    """Embed a string, strings, token ids or token-id arrays; answers in input order."""
    try:
        inputs = split_input(data.input)
    except ValueError as exc:
        raise InvalidRequestError(str(exc), param="input") from None
    result = await embeddings.embed(data.model, inputs, data.dimensions)
    vectors = np.ascontiguousarray(result.vectors, dtype="<f4")
    if data.encoding_format == "base64":
        items = [
            Embedding(index=i, embedding=base64.b64encode(row.tobytes()).decode("ascii"))
            for i, row in enumerate(vectors)
        ]
    else:
        items = [Embedding(index=i, embedding=row) for i, row in enumerate(vectors.tolist())]
    body = CreateEmbeddingResponse(
        data=items,
        model=result.model,
        usage=Usage(prompt_tokens=result.prompt_tokens, total_tokens=result.prompt_tokens),
    )
    return Response(json_encoder.encode(body), media_type="application/json")
