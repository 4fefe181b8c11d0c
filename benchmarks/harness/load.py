"""``bench load``: ingest docs/s, then query latency and QPS at several concurrency levels.

Each level runs ``concurrency`` threads, each with its own keep-alive ``httpx.Client``, sending
single text queries back to back until ``duration`` seconds pass or ``max_requests`` are done,
whichever is first, so a run is bounded both ways. Threads with the blocking client, not
asyncio: httpx's async client costs ~0.5 ms more per request, which would be measured as server
latency. The client is one Python process: on a small machine it shares the CPUs with the
server, and the figures include that (the record says how many CPUs there were).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
import msgspec
import numpy as np

from benchmarks.harness.client import auth_headers, query_body
from benchmarks.harness.schemas import LoadLevel
from service.commands.progress import Progress

_encoder = msgspec.json.Encoder()
QUANTILES = np.linspace(0, 100, 1001)  # what the record keeps of the latency distribution


@dataclass
class LoadPlan:
    """What each level sends, and its two bounds."""

    url: str
    api_key: str | None
    collection: str
    texts: Sequence[str]
    duration: float
    max_requests: int
    k: int = 10
    mode: str | None = None  # /query "mode" (issue 7); None: not sent, the server's default


def _level(plan: LoadPlan, concurrency: int) -> LoadLevel:
    texts = list(plan.texts) or ["query"]
    bodies = [_encoder.encode(query_body(plan.k, query=t, mode=plan.mode)) for t in texts]
    url, duration, max_requests = plan.url, plan.duration, plan.max_requests
    path = f"/collections/{plan.collection}/query"
    headers = {"content-type": "application/json", **auth_headers(plan.api_key)}
    lock = threading.Lock()
    counter = itertools.count()
    latencies: list[float] = []
    errors: list[int] = []
    clients = [httpx.Client(base_url=url, headers=headers, timeout=60) for _ in range(concurrency)]
    for i, http in enumerate(clients):  # connect before the clock starts
        http.post(path, content=bodies[i % len(bodies)])
    start = threading.Barrier(concurrency + 1)
    deadline = 0.0

    def worker(http: httpx.Client) -> None:
        mine: list[float] = []
        failed = 0
        start.wait()
        while time.perf_counter() < deadline:
            n = next(counter)  # itertools.count is atomic under the GIL
            if n >= max_requests:
                break
            t0 = time.perf_counter()
            try:
                ok = http.post(path, content=bodies[n % len(bodies)]).status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                mine.append(time.perf_counter() - t0)
            else:
                failed += 1
        with lock:
            latencies.extend(mine)
            errors.append(failed)

    threads = [threading.Thread(target=worker, args=(c,), daemon=True) for c in clients]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    deadline = started + duration
    start.wait()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    for http in clients:
        http.close()
    ms = np.asarray(latencies) * 1000 if latencies else np.zeros(1)
    return LoadLevel(
        concurrency=concurrency,
        mode=plan.mode,
        requests=len(latencies),
        errors=sum(errors),
        seconds=wall,
        qps=len(latencies) / wall if wall > 0 else 0.0,
        p50_ms=float(np.percentile(ms, 50)),
        p95_ms=float(np.percentile(ms, 95)),
        p99_ms=float(np.percentile(ms, 99)),
        latency_quantiles_ms=[round(float(v), 4) for v in np.percentile(ms, QUANTILES)]
        if latencies
        else [],
    )


def run_levels(plan: LoadPlan, levels: Sequence[int]) -> list[LoadLevel]:
    out = []
    for concurrency in levels:
        with Progress(f"queries {plan.mode or 'default'} c={concurrency}") as bar:
            level = _level(plan, concurrency)
            bar.update(level.requests)
        out.append(level)
    return out
