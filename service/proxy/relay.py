"""Relays an upstream body to the client chunk by chunk, as each arrives (no buffering).

A stream of server-sent events (``"stream": true``) reaches the client event by event: uvicorn
sends each ``http.response.body`` at once. When the client goes away, ``RelayResponse`` cancels
the relay; the body iterator's ``finally`` closes the upstream response, which closes that
upstream connection (an unfinished HTTP/1.1 response cannot be reused), so the upstream stops
generating for nobody. If the upstream fails mid-stream, the status is long sent: an event
stream gets a last ``data: {"error": ...}`` event (the OpenAI SDK raises it as ``APIError``);
any other body is cut short (the client sees a truncated transfer, never a silent end).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

import httpx
import msgspec
from litestar.response.base import ASGIResponse
from litestar.types import Receive, Scope, Send

from service.errors import UpstreamError, UpstreamTimeoutError
from service.proxy.usage import EventUsage

logger = logging.getLogger(__name__)
Done = Callable[[tuple[int, int] | None], None]
UNTYPED = "application/octet-stream"


def error_event(exc: BaseException) -> bytes:
    """The SSE event that ends a stream the upstream broke off."""
    if isinstance(exc, httpx.TimeoutException):
        error: UpstreamError = UpstreamTimeoutError(
            "the upstream stopped sending for SEMSEARCH_FORWARD_TIMEOUT seconds"
        )
    else:
        error = UpstreamError(f"the upstream connection broke mid-stream ({type(exc).__name__})")
    return b"data: " + msgspec.json.encode(error.body()) + b"\n\n"


class RelayResponse(ASGIResponse):
    """A streaming response that relays ``chunks`` and, when the client hangs up, cancels the
    relay (so its ``finally`` closes the upstream): what Litestar's ``Stream`` does, with one
    plain asyncio task watching for the disconnect instead of an anyio task group per response
    (a tenth of a millisecond less before the first chunk, measured)."""

    __slots__ = ("chunks",)
    _should_set_content_length = False

    def __init__(
        self, chunks: AsyncIterator[bytes], status: int, headers: list[tuple[str, str]]
    ) -> None:
        # The upstream's content type is in ``headers``; this one only fills in when it sent none.
        super().__init__(status_code=status, headers=headers, media_type=UNTYPED)
        self.chunks = chunks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        relaying = asyncio.current_task()
        assert relaying is not None
        hung_up = False

        async def watch() -> None:
            nonlocal hung_up
            while (await receive())["type"] != "http.disconnect":
                pass
            hung_up = True
            relaying.cancel()

        watcher = asyncio.ensure_future(watch())
        try:
            # The headers wait for the first chunk, then both leave back to back: a client can
            # do nothing with the headers of a stream alone, and it gets its first event with
            # one wake-up instead of two.
            chunks = aiter(self.chunks)
            first = await anext(chunks, None)
            await self.start_response(send)
            if first is not None:
                await send({"type": "http.response.body", "body": first, "more_body": True})
            async for chunk in chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            # Our own cancel (the client is gone) ends the response quietly; any other (the
            # server shutting down) goes on.
            if not hung_up or relaying.uncancel() > 0:
                raise
        finally:
            watcher.cancel()


def relay(
    response: httpx.Response,
    status: int,
    headers: list[tuple[str, str]],
    head: list[bytes],
    chunks: AsyncIterator[bytes],
    scrub: Callable[[bytes], bytes],
    done: Done,
    events: EventUsage | None,
) -> RelayResponse:
    """The client's response: ``head`` (chunks already read), then the rest of ``chunks``.
    ``done`` gets the usage found (or None) when the body ends, however it ends."""

    async def body() -> AsyncIterator[bytes]:
        try:
            for chunk in head:
                yield chunk
            async for chunk in chunks:
                if events is not None:
                    events.feed(chunk)
                yield scrub(chunk)
        except httpx.TransportError as exc:
            logger.warning("upstream %s broke off mid-answer: %r", response.url.path, exc)
            if events is None:
                raise
            yield error_event(exc)
        finally:
            # Counted first: closing awaits, and the client may already have its last event.
            done(events.usage if events is not None else None)
            # A finished answer frees its connection for reuse, anything else closes it (an
            # unfinished HTTP/1.1 answer cannot be reused). Shielded: this also runs when the
            # client hung up and the relay was cancelled, and the close must still happen.
            await asyncio.shield(response.aclose())

    return RelayResponse(body(), status, headers)
