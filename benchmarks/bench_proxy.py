"""Forwarding benchmark (issue 14): what semsearch adds in front of an upstream, on loopback.

    python benchmarks/bench_proxy.py             # a table
    python benchmarks/bench_proxy.py --json      # machine-readable

The scripted fake upstream (``service.testing.FaultUpstream``) runs in its own process; the
client calls it directly and through semsearch, in alternating turns so both see the same
machine load, over keep-alive connections, one request at a time:

- a non-streamed ``POST /v1/chat/completions``: latency p50/p99, each way; and (``wire``
  client only) the same after the client paused 2 ms before each request (``after_idle``),
  which shows what idling alone costs, streaming or not;
- a streamed one (``"stream": true``): time to the first event, each way, with the upstream's
  events 2 ms apart (``paced``: every process on the path idles between events, as with a real
  model, and pays a wake-up per hop on the next request) and back to back (``back_to_back``).

Two clients: ``wire``, a minimal HTTP/1.1 client on a socket that stamps the arrival of the
whole answer (non-streamed) or of the first body bytes (streamed), so the figures hold only what
the network path costs; and ``httpx``, the OpenAI SDK's transport, whose own parsing is in its
figures too (and differs between the two ways: the fake upstream writes headers and first event
back to back, uvicorn in two writes). The added overhead is the difference of the medians (and
of the 99th percentiles). Target: p50 overhead under 1 ms.
"""

from __future__ import annotations

import argparse
import functools
import json
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np

from service.testing import ServerProcess, clean_env

ROOT = Path(__file__).resolve().parents[1]
# The client's pause before each ``after_idle`` request (seconds): the paced stream's gap.
IDLE = 0.002
CHAT = {"model": "gpt-bench", "messages": [{"role": "user", "content": "say something short"}]}
UPSTREAM = """
import sys, time
from service.testing import FaultUpstream
with FaultUpstream() as upstream:
    print(upstream.port, flush=True)
    sys.stdin.read()   # until the benchmark closes our stdin
"""


def percentiles(samples: list[float]) -> dict[str, float]:
    ms = np.asarray(samples) * 1000
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}


class Wire:
    """One keep-alive HTTP/1.1 connection, read by hand: no client library in the figures."""

    def __init__(self, url: str) -> None:
        self.url = url
        parts = urlsplit(url)
        self.path = parts.path
        self.sock = socket.create_connection((parts.hostname, parts.port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self) -> None:
        self.sock.close()

    def post(self, body: bytes, first: bool, delay: str = "0") -> float:
        """Seconds to the whole answer, or (``first``) to the first body bytes."""
        request = (
            f"POST {self.path} HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\n"
            f"x-fake-chunk-delay: {delay}\r\ncontent-length: {len(body)}\r\n\r\n"
        ).encode() + body
        start = time.perf_counter()
        self.sock.sendall(request)
        data, elapsed, body_at = b"", 0.0, -1
        while True:
            data += self.sock.recv(65536)
            if body_at < 0 and b"\r\n\r\n" in data:
                body_at = data.index(b"\r\n\r\n") + 4
                head = data[:body_at].lower()
                length = (
                    int(head.split(b"content-length:")[1].split(b"\r\n")[0])
                    if b"content-length:" in head
                    else None
                )
            if body_at >= 0 and not elapsed and len(data) > body_at and first:
                elapsed = time.perf_counter() - start
            if body_at >= 0 and length is not None and len(data) - body_at >= length:
                return elapsed or time.perf_counter() - start
            if body_at >= 0 and length is None and data.endswith(b"0\r\n\r\n"):
                return elapsed or time.perf_counter() - start


def wire_plain(connection: Wire, _: httpx.Client) -> float:
    return connection.post(json.dumps(CHAT).encode(), first=False)


def wire_plain_after_idle(connection: Wire, http: httpx.Client) -> float:
    time.sleep(IDLE)  # not timed: every process on the path goes idle, as between paced events
    return wire_plain(connection, http)


def wire_first(connection: Wire, _: httpx.Client, delay: str) -> float:
    return connection.post(json.dumps({**CHAT, "stream": True}).encode(), first=True, delay=delay)


def httpx_plain(connection: Wire, http: httpx.Client) -> float:
    start = time.perf_counter()
    http.post(connection.url, json=CHAT).raise_for_status()
    return time.perf_counter() - start


def httpx_first(connection: Wire, http: httpx.Client, delay: str) -> float:
    start = time.perf_counter()
    body, headers = {**CHAT, "stream": True}, {"x-fake-chunk-delay": delay}
    with http.stream("POST", connection.url, json=body, headers=headers) as response:
        response.raise_for_status()
        chunks = response.iter_raw()
        next(chunks)
        elapsed = time.perf_counter() - start
        for _ in chunks:  # read the rest, so the connection is reused
            pass
    return elapsed


Measure = Callable[[Wire, httpx.Client], float]


def turns(measure: Measure, direct: str, proxied: str, rounds: int) -> dict[str, dict[str, float]]:
    """``rounds`` of (direct, proxied) pairs after a warm-up; the order flips every pair."""
    ways = {"direct": Wire(direct), "proxied": Wire(proxied)}
    samples: dict[str, list[float]] = {"direct": [], "proxied": []}
    with httpx.Client(timeout=30) as http:
        for i in range(rounds + 20):
            order = ["direct", "proxied"] if i % 2 else ["proxied", "direct"]
            for name in order:
                took = measure(ways[name], http)
                if i >= 20:
                    samples[name].append(took)
    for connection in ways.values():
        connection.close()
    out = {name: percentiles(values) for name, values in samples.items()}
    out["overhead"] = {
        key: out["proxied"][key] - out["direct"][key] for key in ("p50_ms", "p99_ms")
    }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--rounds", type=int, default=2000, help="pairs per non-streamed figure")
    parser.add_argument("--stream-rounds", type=int, default=500, help="pairs per stream figure")
    args = parser.parse_args()
    upstream = subprocess.Popen(
        [sys.executable, "-c", UPSTREAM],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert upstream.stdout is not None
        base = f"http://127.0.0.1:{int(upstream.stdout.readline())}/v1"
        with tempfile.TemporaryDirectory() as tmp:
            env = clean_env({"SEMSEARCH_UPSTREAM_URL": base, "SEMSEARCH_LOG_LEVEL": "warning"})
            with ServerProcess(Path(tmp) / "data", env=env) as server:
                direct, proxied = base + "/chat/completions", server.v1 + "/chat/completions"
                report: dict[str, object] = {}
                for client, plain, first in (
                    ("wire", wire_plain, wire_first),
                    ("httpx", httpx_plain, httpx_first),
                ):
                    report[f"{client}_chat_completion"] = turns(plain, direct, proxied, args.rounds)
                    if client == "wire":
                        report["wire_chat_completion_after_idle"] = turns(
                            wire_plain_after_idle, direct, proxied, args.stream_rounds
                        )
                    for pace, delay in (("paced", "0.002"), ("back_to_back", "0")):
                        report[f"{client}_stream_first_event_{pace}"] = turns(
                            functools.partial(first, delay=delay),
                            direct,
                            proxied,
                            args.stream_rounds,
                        )
                report["rounds"] = {"chat_completion": args.rounds, "stream": args.stream_rounds}
    finally:
        if upstream.stdin is not None:
            upstream.stdin.close()
        upstream.wait(10)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for name, figures in report.items():
        if name == "rounds":
            continue
        assert isinstance(figures, dict)
        for way in ("direct", "proxied", "overhead"):
            shown = "  ".join(f"{k} {v:7.3f}" for k, v in figures[way].items())
            print(f"{name:<38} {way:<9} {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
