"""``Forwarder``: a ``/v1`` request semsearch does not serve itself, sent on to the upstream.

Usage::

    forwarder = Forwarder(open_client(settings), settings, metrics)   # in the lifespan
    response = await forwarder.forward(request, body)   # from the catch-all route

The request goes out as it came (method, path under the upstream's base URL, raw query string,
body, headers but the hop-by-hop ones and the client's key, see ``headers.py``) with the
server's upstream key. The answer comes back as the upstream sent it, status and body, errors
included: a JSON answer is read whole (it is small, and its ``usage`` is counted), anything else
(server-sent events, audio) is relayed chunk by chunk as it arrives (``relay.py``).

Retries only where nothing can be duplicated: a connection that never opened, or a 429 that asks
to wait (``Retry-After``) no longer than ``SEMSEARCH_UPSTREAM_BACKOFF_MAX``, both before anything
was sent back. A request that may have reached the model (a read error, a timeout, a 5xx) is
never sent twice: generations are not idempotent, and they are billed.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import httpx
from litestar import Request
from litestar.response.base import ASGIResponse

from service.embeddings.upstream import retry_after_seconds
from service.errors import ServiceError, UpstreamError, UpstreamTimeoutError
from service.metrics import Metrics
from service.proxy.headers import client_response_headers, upstream_request_headers
from service.proxy.network import ForwardingTransport
from service.proxy.relay import UNTYPED, relay
from service.proxy.usage import EventUsage, count_usage, peek_request, usage_of
from service.settings import Settings

logger = logging.getLogger(__name__)

# A JSON answer up to this size is read whole before it is returned (so its usage is counted);
# a larger one, or one of unknown size that grows past it, is relayed as it arrives.
BUFFER_LIMIT = 8 * 1024 * 1024
# Distinct ``route`` label values at most; the rest are counted as "<other>".
MAX_ROUTES = 200
# Parsed upstream URLs kept (a few routes, and some ids, query strings: forgotten all at once).
MAX_URLS = 1024
_ID_SEGMENT = re.compile(r"[0-9]")


def route_label(path: str, known: set[str]) -> str:
    """``/v1/responses/resp_68af...`` -> ``/v1/responses/{id}``: a path segment with a digit in
    it is an id (OpenAI's are random), so the label set stays small whatever ids clients send."""
    parts = path.removeprefix("/v1/").split("/")
    label = "/v1/" + "/".join("{id}" if _ID_SEGMENT.search(part) else part for part in parts)
    if label in known:
        return label
    if len(known) >= MAX_ROUTES:
        return "<other>"
    known.add(label)
    return label


def open_client(settings: Settings) -> httpx.AsyncHTTPTransport:
    """The forwarding connection pool (in the lifespan; ``await pool.aclose()`` at the end).

    httpx's transport rather than its client: a proxy forwards one request as it came, so the
    client's layers (redirects, cookies, auth, event hooks) have nothing to do, and skipping them
    takes about a third of a millisecond off each forwarded request (``benchmarks/README.md``).
    Its own pool, unbounded: a long chat stream must not hold one of the embedding client's few
    slots. The environment's proxy is looked up once here rather than per request."""
    base = (settings.upstream_url or "").rstrip("/")
    proxy = environment_proxy(base)
    return ForwardingTransport(
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
        proxy=httpx.Proxy(proxy) if proxy else None,
    )


def environment_proxy(url: str) -> str | None:
    """The proxy ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` name for ``url``, as the embeddings'
    httpx client honours them (``trust_env``), looked up once for the one upstream."""
    parts = urlsplit(url)
    if not parts.hostname or urllib.request.proxy_bypass(parts.hostname):
        return None
    return urllib.request.getproxies().get(parts.scheme)


class Forwarder:
    """Forwards requests to ``SEMSEARCH_UPSTREAM_URL``; one per app."""

    def __init__(
        self, pool: httpx.AsyncHTTPTransport, settings: Settings, metrics: Metrics
    ) -> None:
        if settings.upstream_url is None:
            raise ValueError("no upstream configured")
        self._pool = pool
        # Per request: the read timeout is the time allowed between two reads, not for the
        # whole answer (a long generation streams for minutes).
        self._timeouts = httpx.Timeout(settings.forward_timeout, connect=10.0, pool=None).as_dict()
        self._base = settings.upstream_url.rstrip("/")
        self._host = urlsplit(self._base).hostname
        self._key = settings.upstream_api_key
        self._key_bytes = self._key.encode() if self._key else b""
        self._settings = settings
        self._metrics = metrics
        self._routes: set[str] = set()
        self._urls: dict[tuple[str, bytes], httpx.URL] = {}

    def upstream_url(self, path: str, query: bytes) -> str:
        """``/v1/chat/completions?x=1`` -> ``{base}/chat/completions?x=1`` (the base ends in
        ``/v1``, like the SDK's ``base_url``)."""
        url = self._base + path.removeprefix("/v1")
        return url + "?" + query.decode("latin-1") if query else url

    def _url(self, raw_path: str, query: bytes) -> httpx.URL:
        """The parsed upstream URL, remembered: parsing one costs as much again as building the
        request from it (about 10 µs warm, three times that after the process idled)."""
        key = (raw_path, query)
        url = self._urls.get(key)
        if url is None:
            if len(self._urls) >= MAX_URLS:
                self._urls.clear()
            url = self._urls[key] = httpx.URL(self.upstream_url(raw_path, query))
        return url

    async def forward(self, request: Request[Any, Any, Any], body: bytes) -> ASGIResponse:
        scope = request.scope
        content_type = request.headers.get("content-type", "")
        model, _ = peek_request(body, content_type)
        route = route_label(scope["path"], self._routes)
        # The path as the client sent it, percent-encoding and all (``path`` is decoded).
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        url = self._url(raw_path, scope["query_string"])
        headers = upstream_request_headers(scope["headers"], self._key)
        started = time.perf_counter()
        try:
            response = await self._send(scope["method"], url, headers, body)
        except ServiceError as exc:
            self._metrics.forwarded_requests.inc(route=route, status=str(exc.status), model=model)
            raise
        waited = time.perf_counter() - started  # the upstream's latency: until its headers
        status = response.status_code
        headers_out = client_response_headers(response.headers.raw)
        answer_type = response.headers.get("content-type", "")
        length = response.headers.get("content-length", "")
        small = length.isdigit() and int(length) <= BUFFER_LIMIT

        # The metrics are written once the answer is over, not before the first byte goes back.
        def counted(usage: tuple[int, int] | None) -> None:
            self._metrics.forwarded_latency.observe(waited, route=route)
            self._metrics.forwarded_requests.inc(route=route, status=str(status), model=model)
            if 200 <= status < 300:
                count_usage(self._metrics, model, usage)

        # As they came when they need no decoding (httpx's decoder and chunker are two more
        # layers per chunk); httpx never asks for an encoding, but an upstream may send one.
        encoded = "content-encoding" in response.headers
        chunks = response.aiter_bytes() if encoded else response.aiter_raw()
        if "text/event-stream" not in answer_type and ("json" in answer_type or small):
            head: list[bytes] = []
            read = 0
            try:
                async for chunk in chunks:
                    head.append(self._scrub(chunk))
                    read += len(chunk)
                    if read > BUFFER_LIMIT:
                        break
                else:
                    await response.aclose()
                    content = b"".join(head)
                    counted(usage_of(content) if "json" in answer_type else None)
                    return ASGIResponse(
                        body=content, status_code=status, headers=headers_out, media_type=UNTYPED
                    )
            except httpx.TransportError as exc:
                await response.aclose()
                error = _broken(exc)
                self._metrics.forwarded_latency.observe(waited, route=route)
                self._metrics.forwarded_requests.inc(
                    route=route, status=str(error.status), model=model
                )
                raise error from None
            except BaseException:
                await response.aclose()
                raise
            return relay(response, status, headers_out, head, chunks, self._scrub, counted, None)
        events = EventUsage() if "text/event-stream" in answer_type else None
        return relay(response, status, headers_out, [], chunks, self._scrub, counted, events)

    async def _send(
        self, method: str, url: httpx.URL, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> httpx.Response:
        """The upstream's answer, headers read and body not yet; retried only as the module
        docstring says. Raises 502/504 in the error envelope."""
        settings = self._settings
        for attempt in range(settings.upstream_max_retries + 1):
            last = attempt == settings.upstream_max_retries
            request = httpx.Request(
                method, url, headers=headers, content=body, extensions={"timeout": self._timeouts}
            )
            try:
                response = await self._pool.handle_async_request(request)
                response.request = request
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # Nothing was sent: the connection never opened.
                if last:
                    raise self._unreachable(exc) from None
                await self._backoff(attempt, None, "connection")
                continue
            except httpx.TransportError as exc:
                raise _broken(exc) from None
            retry = response.headers.get("retry-after") if response.status_code == 429 else None
            wait = retry_after_seconds(retry)
            if wait is None or wait > settings.upstream_backoff_max or last:
                return response
            await response.aclose()
            await self._backoff(attempt, wait, "429")
        raise AssertionError("unreachable")  # pragma: no cover

    async def _backoff(self, attempt: int, wait: float | None, reason: str) -> None:
        settings = self._settings
        self._metrics.upstream_retries.inc(reason=reason)
        ceiling = min(settings.upstream_backoff_max, settings.upstream_backoff * 2**attempt)
        delay = random.uniform(0, ceiling) if wait is None else wait
        logger.info("forwarded request: upstream %s; retry %d in %.2fs", reason, attempt + 1, delay)
        await asyncio.sleep(delay)

    def _unreachable(self, exc: Exception) -> UpstreamError:
        return UpstreamError(f"the upstream at {self._host} is unreachable ({type(exc).__name__})")

    def _scrub(self, chunk: bytes) -> bytes:
        """An upstream that echoes our key back (in an error message) does not leak it."""
        if self._key_bytes and self._key_bytes in chunk:
            return chunk.replace(self._key_bytes, b"***")
        return chunk


def _broken(exc: BaseException) -> UpstreamError:
    """A failure once the request may have reached the upstream: never retried."""
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeoutError(
            "the upstream sent nothing for SEMSEARCH_FORWARD_TIMEOUT seconds"
        )
    return UpstreamError(f"the upstream broke the connection ({type(exc).__name__})")
