"""Wire types of the Batch API, as the official SDK's ``openai.types.Batch`` has them.

Input lines are ``{"custom_id", "method", "url", "body"}``; output and error lines are
``{"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error"}``, the format
OpenAI writes (``BatchRequestOutput``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

Metadata = Annotated[
    dict[Annotated[str, Meta(max_length=64)], Annotated[str, Meta(max_length=512)]],
    Meta(max_length=16),
]
Endpoint = Literal[
    "/v1/responses",
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/completions",
    "/v1/moderations",
    "/v1/images/generations",
    "/v1/images/edits",
    "/v1/videos",
]
Status = Literal[
    "validating",
    "failed",
    "in_progress",
    "finalizing",
    "completed",
    "expired",
    "cancelling",
    "cancelled",
]
TERMINAL: frozenset[str] = frozenset({"failed", "completed", "expired", "cancelled"})
LOCAL_ENDPOINT = "/v1/embeddings"  # run here; every other endpoint's batches go upstream
MAX_REQUESTS = 50_000  # OpenAI's limits: requests per batch, and embedding inputs per batch
MAX_EMBEDDING_INPUTS = 50_000
MAX_INPUT_BYTES = 200 * 1024 * 1024


class OutputExpiresAfter(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    anchor: Literal["created_at"]
    seconds: Annotated[int, Meta(ge=3600, le=2_592_000)]


class CreateBatchRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    input_file_id: Annotated[str, Meta(min_length=1)]
    endpoint: Endpoint
    completion_window: Literal["24h"]
    metadata: Metadata | None = None
    output_expires_after: OutputExpiresAfter | None = None


class BatchError(msgspec.Struct, kw_only=True):
    code: str | None = None
    line: int | None = None
    message: str | None = None
    param: str | None = None


class BatchErrors(msgspec.Struct, kw_only=True):
    data: list[BatchError] = []
    object: Literal["list"] = "list"


class BatchRequestCounts(msgspec.Struct, kw_only=True):
    total: int = 0
    completed: int = 0
    failed: int = 0


class InputTokensDetails(msgspec.Struct, kw_only=True):
    cached_tokens: int = 0


class OutputTokensDetails(msgspec.Struct, kw_only=True):
    reasoning_tokens: int = 0


class BatchUsage(msgspec.Struct, kw_only=True):
    input_tokens: int = 0
    input_tokens_details: InputTokensDetails = msgspec.field(default_factory=InputTokensDetails)
    output_tokens: int = 0
    output_tokens_details: OutputTokensDetails = msgspec.field(default_factory=OutputTokensDetails)
    total_tokens: int = 0


class Batch(msgspec.Struct, kw_only=True):
    id: str
    endpoint: str
    input_file_id: str
    completion_window: str
    status: Status
    created_at: int
    expires_at: int | None
    request_counts: BatchRequestCounts
    errors: BatchErrors | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    in_progress_at: int | None = None
    finalizing_at: int | None = None
    completed_at: int | None = None
    failed_at: int | None = None
    expired_at: int | None = None
    cancelling_at: int | None = None
    cancelled_at: int | None = None
    metadata: dict[str, str] | None = None
    model: str | None = None
    usage: BatchUsage | None = None
    object: Literal["batch"] = "batch"


class ListBatchesResponse(msgspec.Struct, kw_only=True):
    data: list[Batch]
    first_id: str | None
    last_id: str | None
    has_more: bool
    object: Literal["list"] = "list"


class BatchEvent(msgspec.Struct, kw_only=True):
    """What happened to a batch, as a row (the API has no events route; the rows are for
    whoever reads the data dir, and the log says the same)."""

    id: str
    created_at: int
    level: Literal["info", "warn", "error"]
    message: str
    type: Literal["message", "metrics"] = "message"
    data: dict[str, Any] | None = None
    object: Literal["batch.event"] = "batch.event"


class RequestLine(msgspec.Struct):
    """One line of an input file (its fields checked one by one in ``input.py``)."""

    custom_id: Any = None
    method: Any = None
    url: Any = None
    body: Any = None


class ResponsePart(msgspec.Struct, kw_only=True):
    status_code: int
    request_id: str
    body: Any


class LineError(msgspec.Struct, kw_only=True):
    code: str
    message: str


class OutputLine(msgspec.Struct, kw_only=True):
    id: str
    custom_id: str
    response: ResponsePart | None
    error: LineError | None = None


class UpstreamBatch(msgspec.Struct, kw_only=True):
    """What we read of an upstream's batch: lenient, unknown fields ignored."""

    id: str
    status: str
    endpoint: str | None = None
    completion_window: str | None = None
    created_at: int | None = None
    expires_at: int | None = None
    request_counts: BatchRequestCounts | None = None
    errors: BatchErrors | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    in_progress_at: int | None = None
    finalizing_at: int | None = None
    completed_at: int | None = None
    failed_at: int | None = None
    expired_at: int | None = None
    cancelling_at: int | None = None
    cancelled_at: int | None = None
    model: str | None = None
    usage: BatchUsage | None = None


json_encoder = msgspec.json.Encoder()
batch_decoder = msgspec.json.Decoder(Batch)
event_decoder = msgspec.json.Decoder(BatchEvent)
line_decoder = msgspec.json.Decoder(RequestLine)
upstream_batch_decoder = msgspec.json.Decoder(UpstreamBatch)
