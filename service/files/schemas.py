"""Wire types of the Files API, exactly as ``openai-reference`` has them (``OpenAIFile``)."""

from __future__ import annotations

from typing import Literal, get_args

import msgspec

# What clients may upload (CreateFileRequest.purpose) ...
UploadPurpose = Literal["assistants", "batch", "fine-tune", "vision", "user_data", "evals"]
UPLOAD_PURPOSES: tuple[str, ...] = get_args(UploadPurpose)
# ... and what a stored file may carry: semsearch itself writes "fine-tune-results".
Purpose = Literal[
    "assistants",
    "assistants_output",
    "batch",
    "batch_output",
    "fine-tune",
    "fine-tune-results",
    "vision",
    "user_data",
    "evals",
]
MIN_EXPIRY_SECONDS = 3600
MAX_EXPIRY_SECONDS = 2_592_000


class OpenAIFile(msgspec.Struct, kw_only=True):
    id: str
    bytes: int
    created_at: int
    filename: str
    purpose: str
    object: Literal["file"] = "file"
    status: Literal["uploaded", "processed", "error"] = "processed"
    expires_at: int | None = None


class ListFilesResponse(msgspec.Struct, kw_only=True):
    data: list[OpenAIFile]
    first_id: str | None
    last_id: str | None
    has_more: bool
    object: Literal["list"] = "list"


class DeleteFileResponse(msgspec.Struct, kw_only=True):
    id: str
    deleted: bool
    object: Literal["file"] = "file"


json_encoder = msgspec.json.Encoder()
