"""Wire types of ``/v1/embeddings`` and ``/v1/models``, exactly as ``openai-reference`` has them.

Encoders and decoders are built once here and reused (msgspec ``examples/asyncio-kv``).
"""

from __future__ import annotations

import base64
from typing import Annotated, Literal, cast

import msgspec
import numpy as np
from msgspec import Meta

MAX_INPUTS = 2048

NonEmptyText = Annotated[str, Meta(min_length=1)]
TokenId = Annotated[int, Meta(ge=0)]
TokenArray = Annotated[list[TokenId], Meta(min_length=1)]

# msgspec allows one array type per union, so the four shapes of ``input`` (string, strings,
# token ids, token-id arrays) are one list of a union here; ``split_input`` checks it is uniform.
EmbeddingInput = (
    NonEmptyText
    | Annotated[
        list[NonEmptyText | TokenId | TokenArray], Meta(min_length=1, max_length=MAX_INPUTS)
    ]
)


class CreateEmbeddingRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    input: EmbeddingInput
    model: str
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: Annotated[int, Meta(ge=1)] | None = None
    user: str | None = None


class Embedding(msgspec.Struct, kw_only=True):
    index: int
    embedding: list[float] | str
    object: Literal["embedding"] = "embedding"


class Usage(msgspec.Struct, kw_only=True):
    prompt_tokens: int
    total_tokens: int


class CreateEmbeddingResponse(msgspec.Struct, kw_only=True):
    data: list[Embedding]
    model: str
    usage: Usage
    object: Literal["list"] = "list"


class Model(msgspec.Struct, kw_only=True):
    id: str
    created: int
    owned_by: str
    object: Literal["model"] = "model"


class ListModelsResponse(msgspec.Struct, kw_only=True):
    data: list[Model]
    object: Literal["list"] = "list"


class UpstreamEmbedding(msgspec.Struct):
    """One item of an upstream answer: base64 when it honoured our ask, floats otherwise."""

    index: int
    embedding: str | list[float]


class UpstreamUsage(msgspec.Struct):
    prompt_tokens: int = 0


class UpstreamResponse(msgspec.Struct):
    data: list[UpstreamEmbedding]
    usage: UpstreamUsage | None = None


class UpstreamErrorDetail(msgspec.Struct):
    message: str = ""
    type: str | None = None
    param: str | None = None
    code: str | int | None = None


class UpstreamErrorBody(msgspec.Struct):
    error: UpstreamErrorDetail | str


def embedding_response(
    vectors: np.ndarray, model: str, prompt_tokens: int, encoding_format: str
) -> CreateEmbeddingResponse:
    """The ``/v1/embeddings`` answer (also each line of an embeddings batch's output)."""
    rows = np.ascontiguousarray(vectors, dtype="<f4")
    if encoding_format == "base64":
        items = [
            Embedding(index=i, embedding=base64.b64encode(row.tobytes()).decode("ascii"))
            for i, row in enumerate(rows)
        ]
    else:
        items = [Embedding(index=i, embedding=row) for i, row in enumerate(rows.tolist())]
    usage = Usage(prompt_tokens=prompt_tokens, total_tokens=prompt_tokens)
    return CreateEmbeddingResponse(data=items, model=model, usage=usage)


json_encoder = msgspec.json.Encoder()
upstream_response_decoder = msgspec.json.Decoder(UpstreamResponse)
upstream_error_decoder = msgspec.json.Decoder(UpstreamErrorBody)


def split_input(value: str | list[str | int | list[int]]) -> list[str] | list[list[int]]:
    """Normalise ``input`` to a list of texts or a list of token arrays, or raise ValueError."""
    if isinstance(value, str):
        return [value]
    if all(isinstance(item, int) for item in value):
        return [cast("list[int]", value)]  # one token array
    if all(isinstance(item, str) for item in value):
        return cast("list[str]", value)
    if all(isinstance(item, list) for item in value):
        return cast("list[list[int]]", value)
    raise ValueError(
        "input must be a string, an array of strings, an array of token ids "
        "or an array of token-id arrays, not a mix"
    )
