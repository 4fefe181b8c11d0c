"""A batch's input file: checked whole at create (the first bad line named), then read in chunks.

Every non-blank line must be a JSON object ``{"custom_id", "method", "url", "body"}`` with a
``custom_id`` unique in the file, ``method`` ``POST``, ``url`` the batch's endpoint and ``body``
an object; at most 50,000 requests (and, for ``/v1/embeddings``, 50,000 inputs), at most
200 MB. What each body asks is checked when it runs: a bad body is one failed request in the
error file, as at OpenAI, not a rejected batch.

``InputReader`` reads on from a byte offset, so a batch that a restart interrupted resumes at
the first line it had not finished.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from service.batches.schemas import (
    LOCAL_ENDPOINT,
    MAX_EMBEDDING_INPUTS,
    MAX_INPUT_BYTES,
    MAX_REQUESTS,
    RequestLine,
    line_decoder,
)
from service.errors import InvalidRequestError


@dataclass(slots=True)
class InputSummary:
    requests: int
    model: str | None  # the first request's ``body.model``


def _bad(file_id: str, line: int | None, reason: str) -> InvalidRequestError:
    where = f" line {line}:" if line is not None else ""
    return InvalidRequestError(
        f"Invalid batch input file {file_id}:{where} {reason}",
        param="input_file_id",
        code="invalid_batch_input",
    )


def _check(request: Any, endpoint: str) -> str:
    """What is wrong with one decoded line, or ``""``."""
    if not isinstance(request, RequestLine):
        return "expected a JSON object"
    if not isinstance(request.custom_id, str) or not request.custom_id:
        return '"custom_id" must be a non-empty string'
    if request.method != "POST":
        return f'"method" must be "POST", got {request.method!r}'
    if request.url != endpoint:
        return f'"url" {request.url!r} is not the batch\'s endpoint {endpoint!r}'
    if not isinstance(request.body, dict):
        return '"body" must be a JSON object'
    return ""


def _inputs(body: dict[str, Any]) -> int:
    value = body.get("input")
    if isinstance(value, list) and value and not isinstance(value[0], int):
        return len(value)
    return 1


def validate_input(path: Path, file_id: str, endpoint: str) -> InputSummary:
    """Check the whole file; ``InvalidRequestError`` (400, param ``input_file_id``) names the
    first bad line. Blocking: call it off the event loop."""
    if path.stat().st_size > MAX_INPUT_BYTES:
        raise _bad(file_id, None, "a batch input file may be at most 200 MB")
    seen: dict[str, int] = {}
    inputs = 0
    model: str | None = None
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            try:
                request = line_decoder.decode(raw)
            except msgspec.ValidationError:
                raise _bad(file_id, number, "expected a JSON object") from None
            except msgspec.DecodeError as exc:
                raise _bad(file_id, number, f"invalid JSON ({exc})") from None
            problem = _check(request, endpoint)
            if problem:
                raise _bad(file_id, number, problem)
            first = seen.setdefault(request.custom_id, number)
            if first != number:
                raise _bad(
                    file_id,
                    number,
                    f'duplicate "custom_id" {request.custom_id!r} (first on line {first})',
                )
            if len(seen) > MAX_REQUESTS:
                raise _bad(file_id, number, f"a batch may hold at most {MAX_REQUESTS} requests")
            if model is None and isinstance(request.body.get("model"), str):
                model = request.body["model"]
            if endpoint == LOCAL_ENDPOINT:
                inputs += _inputs(request.body)
                if inputs > MAX_EMBEDDING_INPUTS:
                    raise _bad(
                        file_id,
                        number,
                        f"an embeddings batch may hold at most {MAX_EMBEDDING_INPUTS} inputs "
                        "across its requests",
                    )
    if not seen:
        raise _bad(file_id, None, "the file has no requests")
    return InputSummary(requests=len(seen), model=model)


@dataclass(slots=True)
class Request:
    line: int  # 1-based, in the input file
    custom_id: str
    body: dict[str, Any]


class InputReader:
    """Reads requests on from ``offset`` (bytes) in chunks; ``offset`` and ``line`` always
    point just past the last request returned."""

    def __init__(self, path: Path, offset: int, line: int) -> None:
        self._file = path.open("rb")
        self._file.seek(offset)
        self.offset = offset
        self.line = line

    def close(self) -> None:
        self._file.close()

    def chunk(self, max_requests: int, max_inputs: int) -> list[Request]:
        """The next requests (a partial chunk at the end; ``[]`` when none are left): at most
        ``max_requests`` lines and, past the first, ``max_inputs`` embedding inputs."""
        out: list[Request] = []
        inputs = 0
        while len(out) < max_requests:
            position = self._file.tell()
            raw = self._file.readline()
            if not raw:
                break
            if raw.strip():
                request = line_decoder.decode(raw)  # validated at create
                cost = _inputs(request.body)
                if out and inputs + cost > max_inputs:
                    self._file.seek(position)  # leave it for the next chunk
                    break
                inputs += cost
                out.append(Request(self.line + 1, request.custom_id, request.body))
            self.line += 1
            self.offset = self._file.tell()
        return out
