"""``/v1/files``: OpenAI's Files API, stored by semsearch in its data dir."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from litestar import Request, Response, delete, get, post
from litestar.openapi.spec import OpenAPIFormat, OpenAPIType, Schema
from litestar.params import Parameter
from litestar.response import File

from service.batches import BatchService
from service.errors import InvalidRequestError, NotFoundError
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
from service.finetune import FineTuningService
from service.openapi import COMMON, UPSTREAM, answers, operation_class
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
async def create_file(request: Request[Any, Any, Any], files: FileStore) -> Response[bytes]:
    """Upload one file (multipart ``file`` + ``purpose``); fine-tune JSONL is checked."""
    settings: Settings = request.app.state.settings
    max_bytes = int(settings.max_file_mb * 1024 * 1024)
    upload = await receive_upload(request, files.temp_path(), max_bytes)
    try:
        purpose = upload.fields.get("purpose")
        tmp = upload.tmp
        if tmp is None:
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
            # Not on the store's threads: reading a big file must not hold up its listings.
            await asyncio.to_thread(validate_fine_tune_file, tmp)
        info = await files.run(
            lambda: files.commit(
                tmp,
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
        lambda: files.list_page(purpose=purpose, limit=limit, after=after, order=order)
    )
    body = ListFilesResponse(
        data=page,
        first_id=page[0].id if page else None,
        last_id=page[-1].id if page else None,
        has_more=has_more,
    )
    return _json(body)


@get("/v1/files/{file_id:str}", responses=answers(OpenAIFile, *COMMON, *UPSTREAM, 404))
async def retrieve_file(
    file_id: str, files: FileStore, fine_tuning: FineTuningService, batches: BatchService
) -> Response[bytes]:
    """A stored file, or a proxied fine-tuning job's or batch's result file (looked up
    upstream)."""
    try:
        info: OpenAIFile = await files.run(files.get, file_id)
    except NotFoundError:
        remote = await fine_tuning.result_file(file_id) or await batches.result_file(file_id)
        if remote is None:
            raise
        info = remote
    return _json(info)


@get(
    "/v1/files/{file_id:str}/content",
    responses=answers(bytes, *COMMON, *UPSTREAM, 404, media_type="application/octet-stream"),
)
async def download_file(
    file_id: str, files: FileStore, fine_tuning: FineTuningService, batches: BatchService
) -> File | Response[bytes]:
    """The raw bytes, streamed from disk; a proxied job's or batch's result file is fetched
    from the upstream on demand, with the server's upstream key."""
    try:
        info: OpenAIFile = await files.run(files.get, file_id)
    except NotFoundError:
        remote = await fine_tuning.result_file_content(
            file_id
        ) or await batches.result_file_content(file_id)
        if remote is None:
            raise
        info, content = remote
        return Response(
            content,
            media_type="application/octet-stream",
            headers={
                "content-disposition": f'attachment; filename="{_header_safe(info.filename)}"'
            },
        )
    return File(
        path=files.path(info.id),
        filename=info.filename,
        media_type="application/octet-stream",
        content_disposition_type="attachment",
    )


def _header_safe(filename: str) -> str:
    """An upstream's filename inside a quoted header value: printable ASCII, no quotes."""
    return "".join(c for c in filename if " " <= c <= "~" and c not in '"\\') or "file"


@delete(
    "/v1/files/{file_id:str}",
    status_code=200,
    responses=answers(DeleteFileResponse, *COMMON, 404),
)
async def delete_file(file_id: str, files: FileStore) -> Response[bytes]:
    await files.run(files.delete, file_id)
    return _json(DeleteFileResponse(id=file_id, deleted=True))
