"""Reads a ``multipart/form-data`` upload from the request stream into a temporary file.

The size limit is enforced while the body streams in: nothing is buffered whole in memory (a
1 MiB buffer at most), and the upload stops with 413 as soon as the file part passes
``SEMSEARCH_MAX_FILE_MB``. Litestar's own ``request.form()`` spools to memory first, so the
route reads ``request.stream()`` and feeds it to the ``multipart`` push parser Litestar uses.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from litestar import Request
from multipart import MultipartError, MultipartSegment, PushMultipartParser

from service.errors import InvalidRequestError, PayloadTooLargeError

FIELD_MAX_BYTES = 64 * 1024  # purpose, expires_after[...]: tiny text fields
FORM_OVERHEAD = 1024 * 1024  # headers and text fields allowed on top of the file itself
FLUSH_BYTES = 1024 * 1024


@dataclass(slots=True)
class Upload:
    """A parsed upload: the file part on disk (fsynced) and the text fields."""

    tmp: Path | None = None
    filename: str = ""
    size: int = 0
    fields: dict[str, str] = field(default_factory=dict)

    def discard(self) -> None:
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)
            self.tmp = None


def _boundary(request: Request[Any, Any, Any]) -> str:
    content_type, options = request.content_type
    if content_type != "multipart/form-data" or not options.get("boundary"):
        raise InvalidRequestError(
            "Expected a multipart/form-data body with 'file' and 'purpose' parts.", param="file"
        )
    return options["boundary"]


def _too_large(max_bytes: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"The file exceeds the maximum upload size of {max_bytes} bytes.", param="file"
    )


async def receive_upload(request: Request[Any, Any, Any], tmp: Path, max_bytes: int) -> Upload:
    """Stream the body into ``tmp``; on any error the partial file is removed."""
    boundary = _boundary(request)
    announced = request.headers.get("content-length")
    if announced and announced.isdigit() and int(announced) > max_bytes + FORM_OVERHEAD:
        raise _too_large(max_bytes)
    upload = Upload()
    try:
        await _parse(request, boundary, tmp, max_bytes, upload)
    except MultipartError as exc:
        upload.discard()
        raise InvalidRequestError(f"Malformed multipart body: {exc}", param="file") from None
    except BaseException:
        upload.discard()
        raise
    return upload


async def _parse(
    request: Request[Any, Any, Any], boundary: str, tmp: Path, max_bytes: int, upload: Upload
) -> None:
    out: BinaryIO | None = None
    buffer = bytearray()
    segment: MultipartSegment | None = None
    text = bytearray()
    try:
        with PushMultipartParser(boundary, max_segment_count=16) as parser:
            async for chunk in request.stream():
                for event in parser.parse(chunk):
                    if isinstance(event, MultipartSegment):
                        segment, text = event, bytearray()
                        if event.name == "file":
                            if out is not None:
                                raise InvalidRequestError("Send exactly one file.", param="file")
                            upload.tmp, upload.filename = tmp, event.filename or "upload"
                            out = await asyncio.to_thread(tmp.open, "wb")
                    elif event is None:
                        if segment is not None and segment.name != "file":
                            upload.fields[segment.name or ""] = text.decode(
                                segment.charset or "utf-8", "replace"
                            )
                        segment = None
                    elif segment is not None and segment.name == "file":
                        upload.size += len(event)
                        if upload.size > max_bytes:
                            raise _too_large(max_bytes)
                        buffer += event
                        if len(buffer) >= FLUSH_BYTES:
                            assert out is not None
                            await asyncio.to_thread(out.write, bytes(buffer))
                            buffer.clear()
                    else:
                        text += event
                        if len(text) > FIELD_MAX_BYTES:
                            name = segment.name if segment is not None else None
                            raise InvalidRequestError(f"Form field {name!r} is too long.")
                if parser.closed:
                    break
        if out is not None:
            await asyncio.to_thread(_finish, out, bytes(buffer))
            out = None
    finally:
        if out is not None:
            out.close()


def _finish(out: BinaryIO, rest: bytes) -> None:
    out.write(rest)
    out.flush()
    os.fsync(out.fileno())
    out.close()
