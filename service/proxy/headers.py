"""Which headers cross the proxy, each way.

Hop-by-hop headers (RFC 9110 section 7.6.1, and any a ``Connection`` header names) describe one
connection, not the message, so they stop here. The client's ``Authorization`` is its semsearch
key: it never goes upstream, the server's upstream key does. Everything else the client sent
(``OpenAI-Organization``, ``OpenAI-Project``, ``OpenAI-Beta``, ``Idempotency-Key``, content type,
accept, the SDK's ``X-Stainless-*``...) reaches the upstream as it came.
"""

from __future__ import annotations

from collections.abc import Iterable

RawHeaders = list[tuple[bytes, bytes]]

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
# Our own credentials and cookies, and the framing httpx redoes (length, host, compression: the
# body is decoded on its way back, so httpx negotiates the encoding it can decode).
_NOT_FORWARDED = HOP_BY_HOP | {
    b"authorization",
    b"cookie",
    b"host",
    b"content-length",
    b"accept-encoding",
    b"expect",
}
# Redone by uvicorn (framing, date, server) or undone by httpx (content-encoding); an upstream's
# cookies (a CDN's) are not the client's business.
_NOT_RETURNED = HOP_BY_HOP | {
    b"content-length",
    b"content-encoding",
    b"date",
    b"server",
    b"set-cookie",
}


def _connection_names(headers: Iterable[tuple[bytes, bytes]]) -> set[bytes]:
    return {
        name.strip().lower()
        for key, value in headers
        if key.lower() == b"connection"
        for name in value.split(b",")
    }


def upstream_request_headers(client: Iterable[tuple[bytes, bytes]], key: str | None) -> RawHeaders:
    """The client's headers (ASGI: lower-case names) as the upstream gets them, with the server's
    upstream key as ``Authorization`` when one is configured."""
    client = list(client)
    named = _connection_names(client)
    out = [(k, v) for k, v in client if k not in _NOT_FORWARDED and k not in named]
    if key:
        out.append((b"authorization", b"Bearer " + key.encode("latin-1")))
    return out


def client_response_headers(upstream: Iterable[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    """The upstream's response headers as the client gets them (``x-request-id``, rate-limit
    headers, ``Retry-After``, content type...)."""
    upstream = [(k.lower(), v) for k, v in upstream]
    named = _connection_names(upstream)
    return [
        (k.decode("latin-1"), v.decode("latin-1"))
        for k, v in upstream
        if k not in _NOT_RETURNED and k not in named
    ]
