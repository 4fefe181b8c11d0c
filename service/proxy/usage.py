"""What the metrics read of forwarded traffic: the request's ``model``, the answer's ``usage``.

Chat and completions answers carry ``usage.prompt_tokens``/``completion_tokens``; the Responses
API ``usage.input_tokens``/``output_tokens`` (streamed: inside the ``response`` of its last
event). A stream carries usage only when the upstream sends it (OpenAI does when asked with
``stream_options: {"include_usage": true}``, in the last chunk); it is never asked for on the
client's behalf, since that would change the stream the client reads.

Only the few fields needed are decoded (msgspec skips the rest without building it), and a body
that is not JSON, or not the shape expected, is simply not counted.
"""

from __future__ import annotations

from typing import Any

import msgspec

from service.metrics import Metrics

# An SSE event longer than this is not inspected (no answer's usage event is anywhere near it).
_MAX_EVENT = 1 << 20


class _Usage(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


class _Nested(msgspec.Struct):
    usage: _Usage | None = None


class _Answer(msgspec.Struct):
    usage: _Usage | None = None
    response: _Nested | None = None


class _Peek(msgspec.Struct):
    model: Any = None
    stream: Any = None


_answer = msgspec.json.Decoder(_Answer)
_peek = msgspec.json.Decoder(_Peek)


def peek_request(body: bytes, content_type: str) -> tuple[str, bool]:
    """``(model, stream)`` of a JSON request body; ``("", False)`` for anything else."""
    if not body or "json" not in content_type:
        return "", False
    try:
        found = _peek.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return "", False
    model = found.model if isinstance(found.model, str) else ""
    return model, found.stream is True


def usage_of(body: bytes) -> tuple[int, int] | None:
    """``(prompt, completion)`` tokens of one JSON answer or SSE event's data, or None."""
    try:
        answer = _answer.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    usage = answer.usage or (answer.response.usage if answer.response else None)
    if usage is None:
        return None
    return usage.prompt_tokens + usage.input_tokens, usage.completion_tokens + usage.output_tokens


def count_usage(metrics: Metrics, model: str, usage: tuple[int, int] | None) -> None:
    if usage is not None:
        metrics.forwarded_tokens.inc(usage[0], model=model, kind="prompt")
        metrics.forwarded_tokens.inc(usage[1], model=model, kind="completion")


class EventUsage:
    """Finds the usage in a server-sent event stream as it passes: ``feed`` it every chunk
    (events are found across chunk boundaries); ``usage`` is the last one seen."""

    def __init__(self) -> None:
        self._pending = b""
        self.usage: tuple[int, int] | None = None

    def feed(self, chunk: bytes) -> None:
        events = (self._pending + chunk).replace(b"\r\n", b"\n").split(b"\n\n")
        self._pending = events.pop()
        if len(self._pending) > _MAX_EVENT:
            self._pending = b""
        for event in events:
            if b'"usage"' in event:
                lines = event.split(b"\n")
                data = b"\n".join(x[5:].lstrip(b" ") for x in lines if x.startswith(b"data:"))
                self.usage = usage_of(data) or self.usage
