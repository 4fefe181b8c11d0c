"""The forwarder's network layer (``service/proxy/network.py``) against real loopback servers.

Each test runs on asyncio's own loop and on uvloop (what uvicorn runs the service on): the two
hand the protocol different transport classes.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpcore
import httpx
import pytest
import uvloop

from service.proxy.network import AsyncioBackend, ForwardingTransport

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
LOOPS = [pytest.param(asyncio.run, id="asyncio"), pytest.param(uvloop.run, id="uvloop")]


@asynccontextmanager
async def serving(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[str]:
    """A loopback server running ``handler`` per connection; yields its base URL."""

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went away
        finally:
            writer.close()

    server = await asyncio.start_server(run, "127.0.0.1", 0, ssl=tls)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        server.close()


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head, await reader.readexactly(length)


def answer(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)


def transport() -> ForwardingTransport:
    return ForwardingTransport(limits=httpx.Limits(max_keepalive_connections=4), proxy=None)


async def post(
    pool: httpx.AsyncBaseTransport, url: str, body: bytes = b"", timeout: float = 5.0
) -> tuple[httpx.Response, bytes]:
    request = httpx.Request(
        "POST", url, content=body, extensions={"timeout": httpx.Timeout(timeout).as_dict()}
    )
    response = await pool.handle_async_request(request)
    try:
        content = b"".join([chunk async for chunk in response.aiter_raw()])
    finally:
        await response.aclose()
    return response, content


@pytest.mark.parametrize("run", LOOPS)
def test_connections_go_through_the_asyncio_backend_and_are_reused(
    run: Callable[[Coroutine[Any, Any, None]], None],
) -> None:
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        for _ in range(2):
            _, body = await read_request(reader)
            writer.write(answer(b"got " + body))
            await writer.drain()
        writer.close()  # after two answers, without saying so: the pool must notice

    async def main() -> None:
        async with serving(handler) as url:
            pool = transport()
            first, content = await post(pool, url + "/a", b"one")
            assert content == b"got one"
            stream = first.extensions["network_stream"]
            assert type(stream).__module__ == "service.proxy.network"
            assert isinstance(stream, httpcore.AsyncNetworkStream)
            assert (await post(pool, url + "/b", b"two"))[1] == b"got two"
            assert connections == 1
            await asyncio.sleep(0.1)  # the server's close reaches us while the connection idles
            assert (await post(pool, url + "/c", b"three"))[1] == b"got three"
            assert connections == 2
            await pool.aclose()

    run(main())


@pytest.mark.parametrize("run", LOOPS)
def test_through_an_http_proxy(run: Callable[[Coroutine[Any, Any, None]], None]) -> None:
    """``HTTP_PROXY``'s pool (httpcore's proxy class) connects through this backend too."""
    seen: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head, body = await read_request(reader)
        seen.append(head.split(b"\r\n")[0])
        writer.write(answer(b"proxied " + body))
        await writer.drain()

    async def main() -> None:
        async with serving(proxy) as url:
            pool = ForwardingTransport(limits=httpx.Limits(), proxy=httpx.Proxy(url))
            response, content = await post(pool, "http://upstream.invalid/v1/x", b"hi")
            assert content == b"proxied hi"
            assert type(response.extensions["network_stream"]).__module__ == (
                "service.proxy.network"
            )
            await pool.aclose()

    run(main())
    assert seen == [b"POST http://upstream.invalid/v1/x HTTP/1.1"]


@pytest.mark.parametrize("run", LOOPS)
def test_a_request_leaves_in_one_segment(
    run: Callable[[Coroutine[Any, Any, None]], None],
) -> None:
    """httpcore writes the headers and the body separately; the upstream gets them together (it
    wakes once per request)."""
    first_reads: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first_reads.append(await reader.read(65536))
        writer.write(answer(b"ok"))
        await writer.drain()
        writer.close()

    async def main() -> None:
        async with serving(handler) as url:
            pool = transport()
            await post(pool, url + "/v1/chat/completions", b'{"model": "m"}')
            await pool.aclose()

    run(main())
    assert first_reads[0].startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    assert first_reads[0].endswith(b'\r\n\r\n{"model": "m"}')


@pytest.mark.parametrize("run", LOOPS)
def test_large_bodies_cross_both_ways_whole(
    run: Callable[[Coroutine[Any, Any, None]], None],
) -> None:
    """Flow control each way: a body larger than the socket buffers, to a server that reads it
    slowly, and an answer larger than the read buffer's high-water mark, read slowly."""
    sent = bytes(range(256)) * 12_000  # 3 MB
    received: list[int] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        got = bytearray()
        while len(got) < length:
            got += await reader.read(256 * 1024)
            await asyncio.sleep(0.005)
        received.append(len(got))
        writer.write(answer(bytes(got[::-1])))
        await writer.drain()
        writer.close()

    async def main() -> None:
        async with serving(handler) as url:
            pool = transport()
            request = httpx.Request("POST", url, content=sent)
            response = await pool.handle_async_request(request)
            content = bytearray()
            async for chunk in response.aiter_raw():
                content += chunk
                await asyncio.sleep(0.001)
            await response.aclose()
            assert bytes(content) == sent[::-1]
            await pool.aclose()

    run(main())
    assert received == [len(sent)]


@pytest.mark.parametrize("run", LOOPS)
def test_failures_are_httpx_errors(run: Callable[[Coroutine[Any, Any, None]], None]) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(2)
        writer.close()

    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly part")
        await writer.drain()
        writer.close()

    async def main() -> None:
        pool = transport()
        async with serving(silent) as url:
            with pytest.raises(httpx.ReadTimeout):
                await post(pool, url, b"x", timeout=0.2)
        async with serving(cut) as url:
            with pytest.raises(httpx.RemoteProtocolError):
                await post(pool, url, b"x")
        async with serving(cut) as url:
            closed = url  # nobody listens there any more
        with pytest.raises(httpx.ConnectError):
            await post(pool, closed, b"x")
        await pool.aclose()

    run(main())


def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
        + ["-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-keyout", str(key)]
        + ["-out", str(cert), "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


@pytest.mark.parametrize("run", LOOPS)
def test_tls(run: Callable[[Coroutine[Any, Any, None]], None], tmp_path: Path) -> None:
    """HTTPS upstreams (OpenAI's) go through ``start_tls``; the certificate is checked."""
    cert, key = certificate(tmp_path)
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _, body = await read_request(reader)  # (fails when the client refuses the certificate)
        writer.write(answer(b"secret " + body))
        await writer.drain()
        await reader.read()  # open until the client closes: its TLS session can be looked at

    async def main() -> None:
        async with serving(handler, tls=server_side) as url:
            trusting = httpcore.AsyncConnectionPool(
                ssl_context=ssl.create_default_context(cafile=cert),
                network_backend=AsyncioBackend(),
            )
            answered = await trusting.request("POST", url, content=b"hello")
            assert answered.content == b"secret hello"
            assert answered.extensions["network_stream"].get_extra_info("ssl_object") is not None
            await trusting.aclose()
            refusing = httpcore.AsyncConnectionPool(
                ssl_context=ssl.create_default_context(), network_backend=AsyncioBackend()
            )
            with pytest.raises(httpcore.ConnectError):
                await refusing.request("POST", url, content=b"hello")
            await refusing.aclose()

    run(main())
