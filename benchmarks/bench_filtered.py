"""Filtered vector search in process, with the server's allocator settings (issue 16).

    python benchmarks/bench_filtered.py                    # 100k random 256-d vectors, 200 queries
    python benchmarks/bench_filtered.py --n 20000 --json out.json

``Collection.query`` p50/p99 with ``{"bucket": {"$lt": p}}`` (``bucket = i % 100``) at 1, 5, 10
and 50% selectivity, after the filter index and vector matrix are built. The allocator is tuned
as ``semsearch serve`` tunes it (``service/memory.py``): large temporaries are fresh mappings
there, which is what made exact search over the float16 matrix slow. Random vectors: the paths
taken and their costs are what this measures, not recall (``bench_index.py`` measures recall on
real embeddings). Compare two versions of the code by running it on each.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from index import Store
from service.memory import tune_allocator

SELECTIVITY = (1, 5, 10, 50)


def run(n: int, queries: int, dim: int, seed: int = 0) -> dict[str, dict[str, float]]:
    rng = np.random.default_rng(seed)
    result: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp, Store(tmp) as store:
        col = store.create_collection("f", dim=dim)
        for start in range(0, n, 5000):
            size = min(5000, n - start)
            ids = [f"d{start + i}" for i in range(size)]
            metadata = [{"bucket": (start + i) % 100} for i in range(size)]
            col.upsert(ids, rng.normal(size=(size, dim)).astype(np.float32), None, metadata)
        if not col.views_built.wait(300):
            raise RuntimeError("the filter index was not built in 300 s")
        probes = rng.normal(size=(queries, dim)).astype(np.float32)
        for percent in SELECTIVITY:
            where = {"bucket": {"$lt": percent}}
            col.query(probes[:5], k=10, where=where)  # warm up
            seconds = []
            for probe in probes:
                started = time.perf_counter()
                col.query(probe[None], k=10, where=where)
                seconds.append(time.perf_counter() - started)
            ms = np.asarray(seconds) * 1000
            result[f"{percent}%"] = {
                "p50_ms": float(np.percentile(ms, 50)),
                "p99_ms": float(np.percentile(ms, 99)),
            }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    tuned = tune_allocator()
    result = run(args.n, args.queries, args.dim)
    print(f"allocator tuned as the server's: {tuned}")
    for name, figures in result.items():
        print(f"{name:>4} filter: p50 {figures['p50_ms']:.2f} ms, p99 {figures['p99_ms']:.2f} ms")
    if args.json:
        args.json.write_text(json.dumps({"n": args.n, "dim": args.dim, "filters": result}))


if __name__ == "__main__":
    main()
