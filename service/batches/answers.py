"""``EmbeddingAnswers``: a chunk of an embeddings batch answered as ``POST /v1/embeddings`` would.

Usage::

    answers = await EmbeddingAnswers(embeddings).answer(batch_id, requests)
    answers.output, answers.errors, answers.tokens      # lines in input order, tokens used

Requests of one model (and dimensions, and kind of input) are embedded in one call to
``EmbeddingService``: the cache, the local model, or the upstream with its batching, concurrency
limit, retries and ``Retry-After``. A body that is not a valid embeddings request, or names a
model that does not exist, fails alone with the error ``/v1/embeddings`` would give; when the
call fails for a reason of the requests' own (a 4xx), each is tried alone so only the bad ones
fail; an upstream that is down (429, 5xx, after its retries) fails the requests of that call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import msgspec

from service.batches.input import Request
from service.batches.output import line_ids
from service.batches.schemas import OutputLine, ResponsePart
from service.embeddings import EmbeddingService, Inputs
from service.embeddings.schemas import CreateEmbeddingRequest, embedding_response, split_input
from service.errors import InvalidRequestError, ServiceError
from service.handlers import invalid_request


@dataclass(slots=True)
class Prepared:
    """A request whose body is a valid embeddings request."""

    request: Request
    body: CreateEmbeddingRequest
    inputs: list[str] | list[list[int]]


@dataclass(slots=True)
class Answers:
    """One chunk's lines, in input order."""

    output: list[OutputLine] = field(default_factory=list)
    errors: list[OutputLine] = field(default_factory=list)
    tokens: int = 0


class EmbeddingAnswers:
    def __init__(self, embeddings: EmbeddingService) -> None:
        self.embeddings = embeddings

    async def answer(self, batch_id: str, requests: list[Request]) -> Answers:
        """Every request of a chunk answered, its lines in input order."""
        lines: dict[int, tuple[OutputLine, int | None]] = {}  # input line -> (line, tokens)
        groups: dict[tuple[str, int | None, bool], list[Prepared]] = {}
        for request in requests:
            try:
                body = msgspec.convert(request.body, CreateEmbeddingRequest)
                try:
                    inputs = split_input(body.input)
                except ValueError as exc:
                    raise InvalidRequestError(str(exc), param="input") from None
                self.embeddings.resolve(body.model)
            except msgspec.ValidationError as exc:
                lines[request.line] = (
                    self._failed(batch_id, request, invalid_request(str(exc))),
                    None,
                )
                continue
            except ServiceError as exc:
                lines[request.line] = (self._failed(batch_id, request, exc), None)
                continue
            key = (body.model, body.dimensions, isinstance(inputs[0], str))
            groups.setdefault(key, []).append(Prepared(request, body, inputs))
        for members in groups.values():
            for member, line, used in await self._embed_group(batch_id, members):
                lines[member.request.line] = (line, used)
        answers = Answers()
        for number in sorted(lines):
            line, used = lines[number]
            if used is None:
                answers.errors.append(line)
            else:
                answers.output.append(line)
                answers.tokens += used
        return answers

    async def _embed_group(
        self, batch_id: str, members: list[Prepared]
    ) -> list[tuple[Prepared, OutputLine, int | None]]:
        """One embedding call for requests of one model and input kind: each request's line and
        tokens (None: it failed). When the call fails for a reason of the requests' own (a
        4xx), each request is tried alone so only the bad ones fail."""
        first = members[0].body
        everything = cast(Inputs, [item for member in members for item in member.inputs])
        try:
            result = await self.embeddings.embed(first.model, everything, first.dimensions)
        except ServiceError as exc:
            if len(members) > 1 and exc.status < 500 and exc.status != 429:
                alone = []
                for member in members:
                    alone += await self._embed_group(batch_id, [member])
                return alone
            return [(m, self._failed(batch_id, m.request, exc), None) for m in members]
        out: list[tuple[Prepared, OutputLine, int | None]] = []
        start = 0
        for member in members:
            stop = start + len(member.inputs)
            used = sum(result.tokens[start:stop])
            body = embedding_response(
                result.vectors[start:stop], result.model, used, member.body.encoding_format
            )
            line_id, request_id = line_ids(batch_id, member.request.line)
            response = ResponsePart(status_code=200, request_id=request_id, body=body)
            line = OutputLine(id=line_id, custom_id=member.request.custom_id, response=response)
            out.append((member, line, used))
            start = stop
        return out

    def _failed(self, batch_id: str, request: Request, exc: ServiceError) -> OutputLine:
        line_id, request_id = line_ids(batch_id, request.line)
        response = ResponsePart(status_code=exc.status, request_id=request_id, body=exc.body())
        return OutputLine(id=line_id, custom_id=request.custom_id, response=response)
