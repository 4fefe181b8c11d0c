"""Search API benchmark (issue 4): the service over HTTP beside the same pipeline in process.

    python benchmarks/bench_search.py                 # 100k WordNet glosses, local model
    python benchmarks/bench_search.py --n 20000 --duration 5 --json out.json

In process: the local model embeds a batch and ``Collection.upsert`` stores it; a query is the
model's embedding of one text plus ``Collection.query``. Over HTTP: ``semsearch serve`` on a
loopback port, ingest in sequential batches, then text queries at several concurrency levels
(``benchmarks.harness.load``). Ratios compare the two within one run.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import msgspec
import numpy as np

from benchmarks.harness.client import SearchClient
from benchmarks.harness.datasets import SHARED_DATASETS
from benchmarks.harness.load import LoadPlan, run_levels
from benchmarks.harness.server import service
from index import Store
from service.embeddings.local import LocalModel

WORDNET = SHARED_DATASETS / "wordnet_glosses/corpus.jsonl.gz"


def texts(path: Path, n: int, n_queries: int) -> tuple[list[str], list[str]]:
    with gzip.open(path, "rt") as f:
        rows = [json.loads(line) for line in f]
    all_texts = [f"{r['title']} {r['text']}".strip() for r in rows]
    return all_texts[:n], all_texts[-n_queries:]  # queries are glosses held out of the index


def in_process(docs: list[str], queries: list[str], batch: int) -> dict[str, float]:
    model = LocalModel.load()
    with tempfile.TemporaryDirectory() as tmp, Store(tmp) as store:
        col = store.create_collection("bench", dim=256)
        started = time.perf_counter()
        for start in range(0, len(docs), batch):
            chunk = docs[start : start + batch]
            vectors, _ = model.embed(chunk)
            col.upsert([f"d{start + i}" for i in range(len(chunk))], vectors, chunk)
        ingest = len(docs) / (time.perf_counter() - started)
        latencies = []
        for text in queries:
            t0 = time.perf_counter()
            vector, _ = model.embed([text])
            col.query(vector, k=10)
            latencies.append(time.perf_counter() - t0)
    ms = np.asarray(latencies) * 1000
    return {
        "ingest_docs_per_s": ingest,
        "query_p50_ms": float(np.percentile(ms, 50)),
        "query_p99_ms": float(np.percentile(ms, 99)),
    }


def over_http(
    docs: list[str], queries: list[str], batch: int, levels: list[int], duration: float
) -> dict:
    with service() as url, SearchClient(url) as client:
        client.create_collection("bench")
        started = time.perf_counter()
        for start in range(0, len(docs), batch):
            chunk = docs[start : start + batch]
            client.upsert(
                "bench", [{"id": f"d{start + i}", "text": t} for i, t in enumerate(chunk)]
            )
        ingest = len(docs) / (time.perf_counter() - started)
        minimal = minimal_client(url, queries)
        plan = LoadPlan(url, None, "bench", queries, duration, max_requests=50_000)
        loads = run_levels(plan, levels)
    return {
        "ingest_docs_per_s": ingest,
        "minimal_client": minimal,
        "levels": [msgspec.to_builtins(level) for level in loads],
    }


def minimal_client(url: str, queries: list[str]) -> dict[str, float]:
    """Sequential text queries on one keep-alive ``http.client`` connection.

    The asyncio httpx client of ``run_levels`` spends about as much CPU per request as the
    server does, on the same two cores; this client's cost is small, so its latency is
    close to what the server itself takes.
    """
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port)
    headers = {"Content-Type": "application/json"}
    latencies = []
    for text in queries * 2:
        body = json.dumps({"query": text, "k": 10})
        started = time.perf_counter()
        conn.request("POST", "/collections/bench/query", body, headers)
        response = conn.getresponse()
        response.read()
        latencies.append(time.perf_counter() - started)
        assert response.status == 200, response.status
    conn.close()
    ms = np.asarray(latencies[len(queries) // 2 :]) * 1000  # the first half warms up
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--concurrency", default="1,4,16")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per level")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--wordnet", type=Path, default=WORDNET, help="corpus.jsonl.gz to use")
    args = parser.parse_args()
    docs, queries = texts(args.wordnet, args.n, args.queries)
    levels = [int(c) for c in args.concurrency.split(",")]
    local = in_process(docs, queries, args.batch)
    http = over_http(docs, queries, args.batch, levels, args.duration)
    result = {"n": args.n, "batch": args.batch, "in_process": local, "http": http}
    for level in http["levels"]:
        level.pop("latency_quantiles_ms", None)
    print(f"## search benchmark: {args.n:,} WordNet glosses, local model, batch {args.batch}\n")
    print("| what | in process | over HTTP | ratio |\n| --- | ---: | ---: | ---: |")
    ratio = http["ingest_docs_per_s"] / local["ingest_docs_per_s"]
    print(
        f"| ingest (docs/s) | {local['ingest_docs_per_s']:,.0f} | {http['ingest_docs_per_s']:,.0f} "
        f"| {ratio:.2f} |"
    )
    lean = http["minimal_client"]
    print(
        f"| text query p50 (ms), minimal client | {local['query_p50_ms']:.3f} "
        f"| {lean['p50_ms']:.3f} | {lean['p50_ms'] / local['query_p50_ms']:.2f} |"
    )
    print(
        f"| text query p99 (ms), minimal client | {local['query_p99_ms']:.3f} "
        f"| {lean['p99_ms']:.3f} | {lean['p99_ms'] / local['query_p99_ms']:.2f} |"
    )
    one = http["levels"][0]
    print(
        f"| text query p50 (ms), httpx asyncio client | {local['query_p50_ms']:.3f} "
        f"| {one['p50_ms']:.3f} "
        f"| {one['p50_ms'] / local['query_p50_ms']:.2f} |"
    )
    print(
        f"| text query p99 (ms), httpx asyncio client | {local['query_p99_ms']:.3f} "
        f"| {one['p99_ms']:.3f} "
        f"| {one['p99_ms'] / local['query_p99_ms']:.2f} |"
    )
    print("\n| clients | QPS | p50 (ms) | p95 (ms) | p99 (ms) | errors |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for level in http["levels"]:
        print(
            f"| {level['concurrency']} | {level['qps']:,.0f} | {level['p50_ms']:.2f} "
            f"| {level['p95_ms']:.2f} | {level['p99_ms']:.2f} | {level['errors']} |"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
