"""An OpenAI-compatible upstream on loopback that fails on cue.

Usage::

    with FaultUpstream() as upstream:
        upstream.push(("status", 429, {"Retry-After": "0"}), "ok")   # next two requests
        ... point semsearch at upstream.v1 ...
        assert len(upstream.requests) == 2

Actions, consumed one per request (then ``default``): ``"ok"``; ``("status", code, headers)``;
``("slow", seconds)`` (then ok); ``"drop"`` (close the connection without answering);
``"malformed"`` (200 with a body that is not JSON). ``latency`` delays every answer.

Routes when the action is ``"ok"``: ``POST .../embeddings``; ``POST .../chat/completions`` and
``.../completions`` (``generation.py``). With ``"stream": true``, one server-sent event per
word, ``chunk_delay`` seconds apart (a request's ``x-fake-chunk-delay`` header overrides it),
each one's send time in ``sent``; a client that hangs up mid-stream is counted in
``disconnects``. The Files and Batch APIs (``batches.py``). Any other route echoes the request
back as JSON (method, path, query, headers, body). Every request is in ``log``. A tiny
hand-written HTTP/1.1 server (keep-alive aware) so a connection drop is a real one, and so is a
chunked stream.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import hashlib
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from service.testing import generation
from service.testing.batches import FakeBatches

Action = str | tuple[Any, ...]


def fake_vector(model: str, item: str | list[int], dimensions: int | None) -> np.ndarray:
    """Deterministic unit vector for ``item`` (so tests can predict what upstream returns)."""
    seed = hashlib.sha256(json.dumps([model, item]).encode()).digest()
    rng = np.random.default_rng(int.from_bytes(seed[:8], "little"))
    vector = rng.standard_normal(dimensions or 16).astype(np.float32)
    return vector / np.linalg.norm(vector)


def fake_tokens(item: str | list[int]) -> int:
    return len(item) if isinstance(item, list) else max(len(item.split()), 1)


@dataclass(slots=True)
class Seen:
    """One request as the upstream received it (header names lower-cased)."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


class FaultUpstream:
    def __init__(
        self, *, latency: float = 0.0, default: Action = "ok", chunk_delay: float = 0.0
    ) -> None:
        self.latency = latency
        self.default = default
        self.chunk_delay = chunk_delay
        self.script: collections.deque[Action] = collections.deque()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.log: list[Seen] = []
        self.sent: list[float] = []  # time.monotonic() of each streamed event, in order
        self.disconnects = 0  # streams whose client hung up before the last event
        self.batches = FakeBatches()
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def v1(self) -> str:
        return self.url + "/v1"

    def push(self, *actions: Action) -> None:
        self.script.extend(actions)

    def start(self) -> FaultUpstream:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        future.result(timeout=5)
        return self

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        async def _close() -> None:
            assert self._server is not None
            self._server.close()
            for writer in list(self._writers):
                writer.close()

        asyncio.run_coroutine_threadsafe(_close(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def __enter__(self) -> FaultUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        key, _, value = line.partition(":")
                        headers[key.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                if not await self._answer(lines[0], headers, body, reader, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _answer(
        self,
        request_line: str,
        headers: dict[str, str],
        body: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        """Answer one request; False closes the connection."""
        method, target = request_line.split(" ")[:2]
        path, _, query = target.partition("?")
        try:
            payload = json.loads(body) if body and "json" in headers.get("content-type", "") else {}
        except ValueError:
            payload = {}
        self.requests.append(payload if isinstance(payload, dict) else {})
        self.headers.append(headers)
        self.log.append(Seen(method, path, query, headers, body))
        action = self.script.popleft() if self.script else self.default
        kind, args = (action, ()) if isinstance(action, str) else (action[0], action[1:])
        await asyncio.sleep(self.latency)
        if kind == "drop":
            return False
        if kind == "slow":
            await asyncio.sleep(args[0])
        if kind == "malformed":
            self._write(writer, 200, b'{"data": [{"index": 0, "embedding": ', {})
        elif kind == "status":
            code, extra = args[0], args[1] if len(args) > 1 else {}
            error = {"message": f"injected {code}", "type": "test_error", "param": None}
            self._write(
                writer, code, json.dumps({"error": {**error, "code": None}}).encode(), extra
            )
        elif method == "POST" and path.endswith("/embeddings"):
            self._write(writer, 200, self._embeddings(payload), {})
        elif method == "POST" and path.endswith("/completions"):
            chat = path.endswith("/chat/completions")
            if payload.get("stream"):
                events = generation.stream_events(payload, chat)
                delay = float(headers.get("x-fake-chunk-delay", self.chunk_delay))
                return await self._stream(reader, writer, events, delay)
            self._write(writer, 200, json.dumps(generation.completion(payload, chat)).encode(), {})
        elif (answer := self.batches.handle(method, path, headers, body)) is not None:
            status, content, content_type = answer
            self._write(writer, status, content, {}, content_type)
        else:
            echo: dict[str, Any] = {"object": "echo", "method": method, "path": path}
            echo.update(query=query, headers=headers, body=body.decode("utf-8", "replace"))
            self._write(writer, 200, json.dumps(echo).encode(), {"x-request-id": "req_echo"})
        try:
            await writer.drain()
        except ConnectionError:
            return False
        return True

    async def _stream(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        events: list[bytes],
        delay: float,
    ) -> bool:
        """Send ``events`` as a chunked ``text/event-stream``, ``delay`` seconds apart, watching
        for the client to hang up (its end of the connection reads EOF)."""
        head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked"
        writer.write(head.encode() + b"\r\nx-request-id: req_stream\r\n\r\n")
        gone = asyncio.ensure_future(reader.read(1))
        try:
            for i, event in enumerate(events):
                if i and delay:
                    await asyncio.wait({gone}, timeout=delay)
                if gone.done():
                    self.disconnects += 1
                    return False
                writer.write(b"%x\r\n%s\r\n" % (len(event), event))
                await writer.drain()
                self.sent.append(time.monotonic())
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        except ConnectionError:
            self.disconnects += 1
            return False
        finally:
            gone.cancel()  # and wait for it: the next request's read must not race it
            await asyncio.gather(gone, return_exceptions=True)
        return True

    def _embeddings(self, payload: dict[str, Any]) -> bytes:
        raw = payload["input"]
        if isinstance(raw, str) or (raw and isinstance(raw[0], int)):
            raw = [raw]
        data = []
        for i, item in enumerate(raw):
            vector = fake_vector(payload["model"], item, payload.get("dimensions"))
            if payload.get("encoding_format") == "base64":
                encoded: Any = base64.b64encode(vector.astype("<f4").tobytes()).decode()
            else:
                encoded = vector.tolist()
            data.append({"object": "embedding", "index": i, "embedding": encoded})
        tokens = sum(fake_tokens(item) for item in raw)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        answer = {"object": "list", "data": data, "model": payload["model"], "usage": usage}
        return json.dumps(answer).encode()

    @staticmethod
    def _write(
        writer: asyncio.StreamWriter,
        status: int,
        body: bytes,
        headers: dict[str, str],
        content_type: str = "application/json",
    ) -> None:
        head = [f"HTTP/1.1 {status} X", f"content-length: {len(body)}"]
        head += [f"content-type: {content_type}", *(f"{k}: {v}" for k, v in headers.items())]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
