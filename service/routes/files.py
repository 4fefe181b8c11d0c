"""``/v1/files``: OpenAI's Files API, stored by semsearch in its data dir."""

from __future__ import annotations

from typing import Annotated, Literal

from litestar import Request, Response, delete, get, post
from litestar.openapi.spec import OpenAPIFormat, OpenAPIType, Schema
from litestar.params import Parameter
from litestar.response import File

from service.errors import InvalidRequestError
from service.files import (
    DeleteFileResponse,
    FileStore,
    ListFilesResponse,
    OpenAIFile,
    receive_upload,
    validate_fine_tune_file,
)
from service.files.schemas import (
    MAX_EXPIRY_SECONDS,
    MIN_EXPIRY_SECONDS,
    UPLOAD_PURPOSES,
    json_encoder,
)
from service.openapi import COMMON, answers, operation_class
from service.settings import Settings

_UPLOAD = Schema(
    type=OpenAPIType.OBJECT,
    required=["file", "purpose"],
    properties={
        "file": Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY),
        "purpose": Schema(type=OpenAPIType.STRING, enum=list(UPLOAD_PURPOSES)),
        "expires_after[anchor]": Schema(type=OpenAPIType.STRING, enum=["created_at"]),
        "expires_after[seconds]": Schema(
            type=OpenAPIType.INTEGER, minimum=MIN_EXPIRY_SECONDS, maximum=MAX_EXPIRY_SECONDS
        ),
    },
)


def _json(body: object) -> Response[bytes]:
    return Response(json_encoder.encode(body), media_type="application/json")


def _expires_after(fields: dict[str, str]) -> int | None:
    """``expires_after[anchor]=created_at`` and ``expires_after[seconds]`` (3600..2592000)."""
    anchor = fields.get("expires_after[anchor]")
    seconds = fields.get("expires_after[seconds]")
    if anchor is None and seconds is None:
        return None
    if anchor != "created_at":
        raise InvalidRequestError(
            "expires_after[anchor] must be 'created_at'", param="expires_after.anchor"
        )
    if seconds is None or not seconds.isdigit():
        raise InvalidRequestError(
            "expires_after[seconds] must be an integer", param="expires_after.seconds"
        )
    value = int(seconds)
    if not MIN_EXPIRY_SECONDS <= value <= MAX_EXPIRY_SECONDS:
        raise InvalidRequestError(
            f"expires_after[seconds] must be between {MIN_EXPIRY_SECONDS} and {MAX_EXPIRY_SECONDS}",
            param="expires_after.seconds",
        )
    return value


# The body limit is this route's own (SEMSEARCH_MAX_FILE_MB, counted while streaming), so
# Litestar's app-wide SEMSEARCH_MAX_BODY_MB is lifted here.
@post(
    "/v1/files",
    status_code=200,
    request_max_body_size=None,
    operation_class=operation_class(multipart=_UPLOAD),
    responses=answers(OpenAIFile, *COMMON, 413),
)
async def create_file(request: Request, files: FileStore) -> Response[bytes]:
    """Upload one file (multipart ``file`` + ``purpose``); fine-tune JSONL is checked."""
    settings: Settings = request.app.state.settings
    max_bytes = int(settings.max_file_mb * 1024 * 1024)
    upload = await receive_upload(request, files.temp_path(), max_bytes)
    try:
        purpose = upload.fields.get("purpose")
        if upload.tmp is None:
            raise InvalidRequestError("Missing required parameter: 'file'.", param="file")
        if purpose is None:
            raise InvalidRequestError("Missing required parameter: 'purpose'.", param="purpose")
        if purpose not in UPLOAD_PURPOSES:
            raise InvalidRequestError(
                f"Invalid value for 'purpose': {purpose!r}; expected one of "
                + ", ".join(UPLOAD_PURPOSES),
                param="purpose",
            )
        expires_after = _expires_after(upload.fields)
        if purpose == "fine-tune":
            await files.run(validate_fine_tune_file, upload.tmp)
        info = await files.run(
            lambda: files.commit(
                upload.tmp,  # type: ignore[arg-type]
                filename=upload.filename,
                purpose=purpose,
                size=upload.size,
                expires_after=expires_after,
            )
        )
    finally:
        upload.discard()
    return _json(info)


@get("/v1/files", responses=answers(ListFilesResponse, *COMMON))
async def list_files(
    files: FileStore,
    purpose: str | None = None,
    limit: Annotated[int, Parameter(ge=1, le=10_000)] = 10_000,
    order: Literal["asc", "desc"] = "desc",
    after: str | None = None,
) -> Response[bytes]:
    page, has_more = await files.run(
        lambda: files.list(purpose=purpose, limit=limit, after=after, order=order)
    )
    body = ListFilesResponse(
        data=page,
        first_id=page[0].id if page else None,
        last_id=page[-1].id if page else None,
        has_more=has_more,
    )
    return _json(body)


@get("/v1/files/{file_id:str}", responses=answers(OpenAIFile, *COMMON, 404))
async def retrieve_file(file_id: str, files: FileStore) -> Response[bytes]:
    info: OpenAIFile = await files.run(files.get, file_id)
    return _json(info)


@get(
    "/v1/files/{file_id:str}/content",
    responses=answers(bytes, *COMMON, 404, media_type="application/octet-stream"),
)
async def download_file(file_id: str, files: FileStore) -> File:
    """The raw bytes, streamed from disk."""
    info: OpenAIFile = await files.run(files.get, file_id)
    return File(
        path=files.path(info.id),
        filename=info.filename,
        media_type="application/octet-stream",
        content_disposition_type="attachment",
    )


@delete(
    "/v1/files/{file_id:str}",
    status_code=200,
    responses=answers(DeleteFileResponse, *COMMON, 404),
)
async def delete_file(file_id: str, files: FileStore) -> Response[bytes]:
    await files.run(files.delete, file_id)
    return _json(DeleteFileResponse(id=file_id, deleted=True))
