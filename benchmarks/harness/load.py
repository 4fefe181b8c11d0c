"""``bench load``: ingest docs/s, then query latency and QPS at several concurrency levels.

Each level runs ``concurrency`` asyncio workers sharing one ``httpx.AsyncClient`` (as many
connections as workers), each sending single text queries back to back, until ``duration``
seconds pass or ``max_requests`` are done, whichever is first, so a run is bounded both ways.
The client is one Python process: on a small machine it shares the CPU with the server, which
the figures include (the record says how many CPUs there were).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence

import httpx
import msgspec
import numpy as np

from benchmarks.harness.client import auth_headers, query_body
from benchmarks.harness.progress import Progress
from benchmarks.harness.schemas import LoadLevel

_encoder = msgspec.json.Encoder()
QUANTILES = np.linspace(0, 100, 1001)  # what the record keeps of the latency distribution


async def _level(
    url: str,
    api_key: str | None,
    collection: str,
    texts: Sequence[str],
    concurrency: int,
    duration: float,
    max_requests: int,
    k: int,
) -> LoadLevel:
    bodies = itertools.cycle(
        [_encoder.encode(query_body(k, query=t)) for t in texts] or [b'{"query":"x"}']
    )
    latencies: list[float] = []
    errors = 0
    sent = 0
    path = f"/collections/{collection}/query"
    headers = {"content-type": "application/json", **auth_headers(api_key)}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:
        # One warm-up request per connection so connection set-up is not timed.
        await asyncio.gather(
            *(http.post(path, content=next(bodies), headers=headers) for _ in range(concurrency))
        )
        started = time.perf_counter()
        deadline = started + duration

        async def worker() -> None:
            nonlocal errors, sent
            while time.perf_counter() < deadline and sent < max_requests:
                sent += 1
                t0 = time.perf_counter()
                try:
                    response = await http.post(path, content=next(bodies), headers=headers)
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - t0)
                else:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    ms = np.asarray(latencies) * 1000 if latencies else np.zeros(1)
    return LoadLevel(
        concurrency=concurrency,
        requests=len(latencies),
        errors=errors,
        seconds=wall,
        qps=len(latencies) / wall if wall > 0 else 0.0,
        p50_ms=float(np.percentile(ms, 50)),
        p95_ms=float(np.percentile(ms, 95)),
        p99_ms=float(np.percentile(ms, 99)),
        latency_quantiles_ms=[round(float(v), 4) for v in np.percentile(ms, QUANTILES)]
        if latencies
        else [],
    )


def run_levels(
    url: str,
    api_key: str | None,
    collection: str,
    texts: Sequence[str],
    levels: Sequence[int],
    duration: float,
    max_requests: int,
    k: int = 10,
) -> list[LoadLevel]:
    out = []
    for concurrency in levels:
        with Progress(f"queries c={concurrency}") as bar:
            level = asyncio.run(
                _level(url, api_key, collection, texts, concurrency, duration, max_requests, k)
            )
            bar.update(level.requests)
        out.append(level)
    return out
