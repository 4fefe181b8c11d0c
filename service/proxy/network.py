"""``AsyncioBackend``: httpcore's network layer on plain asyncio protocols, for the forwarder.

Usage::

    transport = ForwardingTransport(limits=..., proxy=...)   # an httpx transport on this backend

httpcore reaches the network through a pluggable backend (``httpcore.AsyncNetworkBackend``, its
documented extension point); the default one goes through anyio, which on every read and write
opens a cancel scope with a deadline, yields to the loop once more, and stops and restarts
reading on the socket (two more system calls). Each is small, but a forwarded request does
several of each, and after the process idled (a stream whose events come as a model generates
them) every step of that path runs two to three times slower than when it is warm: the first
event of a forwarded stream was 1.4 ms behind calling the upstream directly, of which the upstream
leg was the largest part (``benchmarks/README.md``, "Forwarding"). Here a read waits on one future
with one timer, a write hands the bytes to the transport, and the bytes of one request (httpcore
writes its headers and its body separately) leave in one segment: the upstream wakes once for
the request, not once for its headers and again for its body.

Same contract as httpcore's backends: its exceptions (``ReadTimeout``, ``WriteError``...), which
httpx's transport maps to httpx's; TLS through ``loop.start_tls``; ``is_readable`` (the pool's
test for a keep-alive connection the server closed) from what the protocol already saw.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Coroutine, Iterable
from typing import Any, cast

import httpcore
import httpx

# As httpcore types a socket option (``setsockopt``'s arguments).
SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)
# Reading stops while this much is received and not yet read (a client slower than its upstream).
_READ_HIGH_WATER = 256 * 1024


class _Stream(asyncio.Protocol, httpcore.AsyncNetworkStream):
    """The protocol and httpcore's stream in one: received bytes wait here until ``read`` takes
    them."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()
        self._received = bytearray()
        self._eof = False
        self._lost: BaseException | None = None
        self._closed = False
        self._reader: asyncio.Future[None] | None = None
        self._drained: asyncio.Future[None] | None = None
        self._paused_writing = False
        self._paused_reading = False
        self._unsent: list[bytes] = []

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not ``asyncio.Transport`` subclasses; they have its methods.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._received += data
        if len(self._received) > _READ_HIGH_WATER and self.transport is not None:
            self._paused_reading = True
            self.transport.pause_reading()
        self._wake_reader()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake_reader()
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        self._lost = exc
        self._closed = True
        self._wake_reader()
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def pause_writing(self) -> None:
        self._paused_writing = True

    def resume_writing(self) -> None:
        self._paused_writing = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def _wake_reader(self) -> None:
        if self._reader is not None and not self._reader.done():
            self._reader.set_result(None)

    # -- what httpcore calls ----------------------------------------------------------------

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if not self._received and not self._eof:
            await self._wait("_reader", timeout, httpcore.ReadTimeout)
        if self._received:
            data = bytes(self._received[:max_bytes])
            del self._received[:max_bytes]
            if self._paused_reading and len(self._received) < _READ_HIGH_WATER // 2:
                self._paused_reading = False
                if self.transport is not None:
                    self.transport.resume_reading()
            return data
        if self._lost is not None:
            raise httpcore.ReadError(str(self._lost) or type(self._lost).__name__)
        return b""  # the server closed the connection

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        if self._closed or self.transport is None or self.transport.is_closing():
            raise httpcore.WriteError("the connection is closed")
        # Sent on the loop's next turn, so the headers and the body httpcore writes one after
        # the other (with no wait in between) leave together.
        if not self._unsent:
            self._loop.call_soon(self._flush)
        self._unsent.append(buffer)
        if self._paused_writing:
            self._flush()
            await self._wait("_drained", timeout, httpcore.WriteTimeout)
            if self._closed:
                raise httpcore.WriteError("the connection closed while writing")

    def _flush(self) -> None:
        if self._unsent and self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(self._unsent))
        self._unsent.clear()

    async def _wait(
        self, slot: str, timeout: float | None, expired: type[httpcore.TimeoutException]
    ) -> None:
        waiter = self._loop.create_future()
        setattr(self, slot, waiter)
        timer = None
        if timeout is not None:
            timer = self._loop.call_later(timeout, _expire, waiter, expired)
        try:
            await waiter
        finally:
            setattr(self, slot, None)
            if timer is not None:
                timer.cancel()

    async def aclose(self) -> None:
        self._closed = True
        if self.transport is not None:
            self._unsent.clear()
            self.transport.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        assert self.transport is not None
        self._flush()
        try:
            transport = await asyncio.wait_for(
                self._loop.start_tls(
                    self.transport, self, ssl_context, server_hostname=server_hostname
                ),
                timeout,
            )
        except TimeoutError as exc:
            self.transport.abort()
            raise httpcore.ConnectTimeout(str(exc)) from exc
        except (OSError, ssl.SSLError) as exc:
            self.transport.abort()
            raise httpcore.ConnectError(str(exc)) from exc
        self.transport = cast(asyncio.Transport, transport)
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            # Anything received on an idle keep-alive connection, or its end, means the server
            # is done with it; reading never stops on an idle connection, so the protocol knows.
            return bool(self._received) or self._eof
        if self.transport is None or self._closed:
            return None  # (asyncio's TLS transport fails on the question once it is closed)
        if info == "ssl_object":
            return self.transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self.transport.get_extra_info("sockname")
        if info == "server_addr":
            return self.transport.get_extra_info("peername")
        if info == "socket":
            return self.transport.get_extra_info("socket")
        return None


def _expire(waiter: asyncio.Future[None], expired: type[httpcore.TimeoutException]) -> None:
    if not waiter.done():
        waiter.set_exception(expired("timed out"))


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend on the running asyncio loop (uvloop under uvicorn)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        local = (local_address, 0) if local_address else None
        # asyncio sets TCP_NODELAY on the connections it opens.
        opening = asyncio.get_running_loop().create_connection(
            _Stream, host, port, local_addr=local
        )
        return await _connected(opening, timeout, socket_options)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        opening = asyncio.get_running_loop().create_unix_connection(_Stream, path)
        return await _connected(opening, timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def _connected(
    opening: Coroutine[Any, Any, tuple[asyncio.BaseTransport, _Stream]],
    timeout: float | None,
    options: Iterable[SocketOption] | None,
) -> _Stream:
    """The stream ``opening`` connects, with httpcore's errors for a timeout or a refusal."""
    try:
        _, stream = await asyncio.wait_for(opening, timeout)
    except TimeoutError as exc:
        raise httpcore.ConnectTimeout(str(exc)) from exc
    except OSError as exc:
        raise httpcore.ConnectError(str(exc)) from exc
    _set_options(stream, options)
    return stream


def _set_options(stream: _Stream, options: Iterable[SocketOption] | None) -> None:
    sock: socket.socket | None = stream.get_extra_info("socket")
    for option in options or ():
        if sock is not None:
            sock.setsockopt(*option)


class ForwardingTransport(httpx.AsyncHTTPTransport):
    """``httpx.AsyncHTTPTransport`` (its request and response mapping, its exceptions, its proxy
    and TLS configuration) with its connection pool on ``AsyncioBackend``."""

    def __init__(self, *, limits: httpx.Limits, proxy: httpx.Proxy | None) -> None:
        super().__init__(limits=limits, proxy=proxy)
        # httpx builds the pool (an ``httpcore.AsyncConnectionPool``, or its ``AsyncHTTPProxy``
        # subclass) with no way to pass a backend in; every connection it opens from now on
        # uses this one. tests/service/proxy/test_network.py checks that it does.
        pool = self._pool
        assert isinstance(pool, httpcore.AsyncConnectionPool)
        pool._network_backend = AsyncioBackend()
