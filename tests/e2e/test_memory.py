"""The server's memory stays bounded under inputs that used to grow it (issue 10, item 4).

The cause found: each SQLite connection caches its last prepared statements by SQL text, and
filters whose SQL varied with their size (``$in`` lists, ``$or`` clauses) filled those caches
with large compiled statements: RSS grew by hundreds of MiB and stayed. The long-running
figures (RSS over a 10-minute mixed load) are ``benchmarks/bench_soak.py``'s.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable

import httpx
import numpy as np

from service.testing import ServerProcess


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_filters_of_every_size_leave_no_memory_behind(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server()
    assert server.pid is not None
    rng = np.random.default_rng(11)
    with httpx.Client(base_url=server.url, timeout=60) as http:
        http.post("/collections", json={"name": "m", "dimensions": 4}).raise_for_status()
        docs = [
            {"id": f"d{i}", "vector": [1.0, 2.0, 3.0, float(i)], "metadata": {"g": i % 50}}
            for i in range(1_000)
        ]
        http.post("/collections/m/documents", json={"documents": docs}).raise_for_status()

        def where(size: int) -> dict[str, object]:
            """40 of the 1,000 documents match: too few for HNSW's candidates, so the filter
            runs in SQLite, as SQL whose text varies with ``size``."""
            if size % 2:
                return {"$or": [{"g": {"$in": [7, *range(100, 100 + size)]}}, {"g": {"$gt": 48}}]}
            return {"$or": [{"g": 7}, {"g": 49}, *({"g": 100 + i} for i in range(size))]}

        statuses: list[int] = []

        def send(sizes: list[int]) -> None:
            with httpx.Client(base_url=server.url, timeout=60) as client:
                for size in sizes:
                    body = {"vector": [1, 2, 3, 4], "k": 20, "where": where(size)}
                    statuses.append(client.post("/collections/m/query", json=body).status_code)
                    params: dict[str, str | int] = {"where": json.dumps(where(size)), "limit": 5}
                    response = client.get("/collections/m/documents", params=params)
                    statuses.append(response.status_code)

        def sizes(n: int) -> list[int]:  # within what the service accepted before issue 10
            return [int(s) for s in rng.integers(250, 499, size=n)]

        send(sizes(10))  # warm up
        before = rss_mib(server.pid)
        threads = [threading.Thread(target=send, args=(sizes(100),)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        grown = rss_mib(server.pid) - before
    assert set(statuses) == {200} and len(statuses) == 2 * 410
    assert grown < 64, f"RSS grew by {grown:.0f} MiB over 400 filters of varying sizes"
