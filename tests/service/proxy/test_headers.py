"""What crosses the proxy: hop-by-hop headers and the client's key stay, the rest goes on."""

from __future__ import annotations

from service.proxy.headers import client_response_headers, upstream_request_headers


def test_the_request_loses_hop_by_hop_headers_and_the_clients_key() -> None:
    client = [
        (b"host", b"semsearch:8000"),
        (b"authorization", b"Bearer client-key"),
        (b"connection", b"keep-alive, x-trace"),
        (b"x-trace", b"hop"),
        (b"keep-alive", b"timeout=5"),
        (b"transfer-encoding", b"chunked"),
        (b"content-length", b"12"),
        (b"cookie", b"a=b"),
        (b"openai-organization", b"org-1"),
        (b"openai-project", b"proj-1"),
        (b"idempotency-key", b"k1"),
        (b"content-type", b"application/json"),
        (b"accept", b"text/event-stream"),
    ]
    sent = upstream_request_headers(client, "sk-upstream")
    assert sent == [
        (b"openai-organization", b"org-1"),
        (b"openai-project", b"proj-1"),
        (b"idempotency-key", b"k1"),
        (b"content-type", b"application/json"),
        (b"accept", b"text/event-stream"),
        (b"authorization", b"Bearer sk-upstream"),
    ]


def test_without_an_upstream_key_no_authorization_goes_out() -> None:
    sent = upstream_request_headers([(b"authorization", b"Bearer client-key")], None)
    assert sent == []


def test_the_answer_keeps_its_own_headers_but_not_the_framing() -> None:
    upstream = [
        (b"Content-Type", b"text/event-stream"),
        (b"Transfer-Encoding", b"chunked"),
        (b"Content-Encoding", b"gzip"),
        (b"Content-Length", b"10"),
        (b"Date", b"Mon, 01 Jan 2024 00:00:00 GMT"),
        (b"Server", b"cloudflare"),
        (b"Set-Cookie", b"__cf_bm=x"),
        (b"Connection", b"keep-alive, X-Private"),
        (b"X-Private", b"1"),
        (b"x-request-id", b"req_1"),
        (b"Retry-After", b"3"),
        (b"x-ratelimit-remaining-requests", b"99"),
    ]
    assert client_response_headers(upstream) == [
        ("content-type", "text/event-stream"),
        ("x-request-id", "req_1"),
        ("retry-after", "3"),
        ("x-ratelimit-remaining-requests", "99"),
    ]
