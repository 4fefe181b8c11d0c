"""Sharded collections on Ray (issue 17): ingest rate, query latency, the fan-out hop, start-up.

    python benchmarks/bench_ray.py                  # SciFact, 2 "nodes" on this machine
    python benchmarks/bench_ray.py --docs 2000 --queries 200 --json

Everything runs inside a loopback-only network namespace (``service.testing.cluster``; needs
root): a two-node Ray cluster (``ray start --head`` + ``ray start --address``) with token auth,
and one ``semsearch serve --ray`` on it. Measured in one run, against a baseline on the same
machine:

- start-up: the cluster's two nodes up, then the server listening (it joins Ray);
- ingest docs/s: ``semsearch ingest --ray`` with 1, 2 and 4 embedding actors into 1, 2 and 3
  shards, beside single-node ``semsearch ingest`` over HTTP into a local collection;
- query p50/p99 (sequential, one client): single node vs 1, 2 and 3 shards, vector and hybrid;
- the hop: a bare Ray actor call's round trip (a shard's ``ping``) from a driver.

On two shared cores nothing gets faster by splitting; the point is the overhead of the design.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from service.testing import ServerProcess, clean_env
from service.testing.cluster import LoopbackNamespace, RayCluster

ROOT = Path(__file__).resolve().parents[1]
# The shared datasets sit beside the repository (../shared), or beside its worktrees' parent.
SCIFACT = next(
    (
        p
        for p in (
            ROOT.parent / "shared/datasets/scifact",
            ROOT.parents[1] / "shared/datasets/scifact",
        )
        if p.exists()
    ),
    ROOT.parent / "shared/datasets/scifact",
)


def _subset(path: Path, n: int, out: Path) -> Path:
    with path.open() as src, out.open("w") as dst:
        for i, line in enumerate(src):
            if i == n:
                break
            dst.write(line)
    return out


def _ingest(
    server: ServerProcess, cluster: RayCluster | None, path: Path, name: str, embedders: int
) -> float:
    command = [sys.executable, "-m", "service.cli", "ingest", "--url", server.url, "-c", name]
    if cluster is not None:
        command += ["--ray", cluster.address, "--embedders", str(embedders), "--batch", "512"]
    env = clean_env(cluster.env() if cluster is not None else None)
    started = time.perf_counter()
    done = subprocess.run([*command, str(path)], cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return seconds


def _latencies(c: httpx.Client, name: str, queries: list[str], mode: str) -> dict[str, float]:
    ms = []
    for text in queries:
        t0 = time.perf_counter()
        r = c.post(
            f"/collections/{name}/query", json={"query": text, "k": 10, "mode": mode, "include": []}
        )
        ms.append((time.perf_counter() - t0) * 1000)
        r.raise_for_status()
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}


def _hop(cluster: RayCluster, collection: str, n: int = 500) -> dict[str, float]:
    code = (
        "import ray, sys, time, numpy as np\n"
        "ray.init(address=sys.argv[1], namespace='semsearch', log_to_driver=False)\n"
        f"a = ray.get_actor('shard:{collection}:0')\n"
        "ray.get(a.ping.remote())\n"
        "ms = []\n"
        f"for _ in range({n}):\n"
        "    t = time.perf_counter()\n"
        "    ray.get(a.ping.remote())\n"
        "    ms.append((time.perf_counter() - t) * 1000)\n"
        "print(np.percentile(ms, 50), np.percentile(ms, 99))\n"
    )
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": cluster.token}
    out = subprocess.run(
        [sys.executable, "-c", code, cluster.address],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    p50, p99 = (float(x) for x in out.stdout.split()[-2:])
    return {"p50_ms": p50, "p99_ms": p99}


def run(n_docs: int, n_queries: int, embedders: list[int], shards: list[int]) -> dict[str, Any]:
    results: dict[str, Any] = {"docs": n_docs, "queries": n_queries}
    queries = [json.loads(line)["text"] for line in (SCIFACT / "queries.jsonl").open()][:n_queries]
    with tempfile.TemporaryDirectory() as tmp, LoopbackNamespace():
        base = Path(tmp)
        docs = _subset(SCIFACT / "corpus.jsonl", n_docs, base / "docs.jsonl")
        t0 = time.perf_counter()
        with RayCluster(base / "ray", nodes=2, cpus=2) as cluster:
            results["cluster_start_s"] = time.perf_counter() - t0
            t1 = time.perf_counter()
            server = ServerProcess(base / "data", env=clean_env(cluster.env()))
            with server.start(timeout=180), httpx.Client(base_url=server.url, timeout=300) as c:
                results["server_start_s"] = time.perf_counter() - t1
                c.post("/collections", json={"name": "single"}).raise_for_status()
                seconds = _ingest(server, None, docs, "single", 0)
                results["ingest_single_node_http"] = {"docs_per_s": n_docs / seconds}
                ingest: list[dict[str, Any]] = []
                for s in shards:
                    for e in embedders:
                        name = f"s{s}e{e}"
                        c.post("/collections", json={"name": name, "shards": s}).raise_for_status()
                        seconds = _ingest(server, cluster, docs, name, e)
                        assert c.get(f"/collections/{name}").json()["count"] == n_docs
                        ingest.append({"shards": s, "embedders": e, "docs_per_s": n_docs / seconds})
                        print(
                            f"ingest {s} shards, {e} embedders: {n_docs / seconds:,.0f} docs/s",
                            file=sys.stderr,
                        )
                results["ingest_ray"] = ingest
                # The fixed cost of one ``ingest --ray`` run (join Ray, start the Ray Data
                # pipeline, start and load the embedding actors): ten documents, 2 embedders.
                tiny = _subset(SCIFACT / "corpus.jsonl", 10, base / "tiny.jsonl")
                c.post("/collections", json={"name": "tiny", "shards": 2}).raise_for_status()
                results["ingest_ray_fixed_s"] = _ingest(server, cluster, tiny, "tiny", 2)
                latency: dict[str, Any] = {}
                for mode in ("vector", "hybrid"):
                    _latencies(c, "single", queries[:20], mode)  # warm-up
                    latency[f"single/{mode}"] = _latencies(c, "single", queries, mode)
                    for s in shards:
                        name = f"s{s}e{embedders[0]}"
                        _latencies(c, name, queries[:20], mode)
                        latency[f"{s}-shards/{mode}"] = _latencies(c, name, queries, mode)
                results["query"] = latency
                results["actor_call"] = _hop(cluster, f"s{shards[0]}e{embedders[0]}")
    return results


def _table(r: dict[str, Any]) -> str:
    lines = [
        f"cluster start (2 nodes): {r['cluster_start_s']:.1f} s; "
        f"server start on Ray: {r['server_start_s']:.1f} s",
        f"single-node HTTP ingest: {r['ingest_single_node_http']['docs_per_s']:,.0f} docs/s",
        "| shards | embedders | docs/s | vs single node |",
        "| ---: | ---: | ---: | ---: |",
    ]
    single = r["ingest_single_node_http"]["docs_per_s"]
    for row in r["ingest_ray"]:
        lines.append(
            f"| {row['shards']} | {row['embedders']} | {row['docs_per_s']:,.0f} "
            f"| {row['docs_per_s'] / single:.2f}x |"
        )
    lines += [
        "",
        "| collection/mode | p50 ms | p99 ms | p50 vs single |",
        "| --- | ---: | ---: | ---: |",
    ]
    for key, v in r["query"].items():
        base = r["query"][f"single/{key.split('/')[1]}"]["p50_ms"]
        lines.append(
            f"| {key} | {v['p50_ms']:.2f} | {v['p99_ms']:.2f} | {v['p50_ms'] / base:.2f}x |"
        )
    hop = r["actor_call"]
    fixed = r.get("ingest_ray_fixed_s")
    if fixed is not None:
        lines.insert(2, f"ingest --ray of 10 documents (the fixed cost of a run): {fixed:.1f} s")
    lines.append(
        f"\nbare Ray actor call (round trip): p50 {hop['p50_ms']:.2f} ms, "
        f"p99 {hop['p99_ms']:.2f} ms"
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=2000, help="SciFact documents (2000)")
    parser.add_argument("--queries", type=int, default=200, help="SciFact queries timed (200)")
    parser.add_argument("--embedders", default="1,2,4")
    parser.add_argument("--shards", default="1,2,3")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    results = run(
        args.docs,
        args.queries,
        [int(x) for x in args.embedders.split(",")],
        [int(x) for x in args.shards.split(",")],
    )
    print(json.dumps(results, indent=2) if args.json else _table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
