"""Peer benchmark (issue 16): a Chroma server and semsearch side by side on the same vectors.

    python benchmarks/bench_peer.py                       # 100k WordNet embeddings, 256-d
    python benchmarks/bench_peer.py --n 20000 --json out.json
    python benchmarks/bench_peer.py --only semsearch      # skip Chroma (quick iterations)

Both servers run on 127.0.0.1 with the same HNSW parameters (M=16, ef_construction=100,
ef_search=100, cosine), are sent the same vectors, texts and metadata (``bucket = i % 100``)
over HTTP by the same client code, and are asked the same queries (glosses held out of the
index). Chroma is a benchmark-only peer: it is installed from PyPI into its own virtual
environment under the git-ignored ``benchmarks/.peer/`` (created here on first use), never into
semsearch's, and run as ``chroma run`` with telemetry off.

What is timed is the server: request bodies are encoded before the clock starts and answers
decoded after it stops. Ingest is batches of ``--batch`` documents from one client, then (for
Chroma, which indexes in the background) until the collection answers with every document.
RSS is the server process tree's resident memory after the queries; disk is the data
directory's bytes after a clean shutdown.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec
import numpy as np

from benchmarks.bench_index import WORDNET, wordnet_vectors
from benchmarks.harness.server import own_server

HERE = Path(__file__).resolve().parent
PEER_DIR = HERE / ".peer"
CHROMA_VERSION = "1.5.9"
PARAMS = {"m": 16, "ef_construction": 100, "ef_search": 100}
CHROMA_API = "/api/v2/tenants/default_tenant/databases/default_database/collections"
FILTER = {"bucket": {"$lt": 50}}  # 50% of the documents
encode = msgspec.json.Encoder().encode


def chroma_python() -> Path:
    """The peer's own interpreter, with chromadb installed: created on first use."""
    venv = PEER_DIR / "chroma-venv"
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import chromadb; print(chromadb.__version__)"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    PEER_DIR.mkdir(exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, f"chromadb=={CHROMA_VERSION}"], check=True)
    return python


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tree_rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` and its descendants."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total += next(int(line.split()[1]) for line in status.splitlines() if line[:6] == "VmRSS:")
        pending.extend(int(child) for child in children)
    return total / 1024


def dir_mib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


class Peer:
    """One server under test: how to create its collection, ingest, query."""

    name: str
    pid: int
    data: Path

    def __init__(self, base: str) -> None:
        self.base = base
        self.client = httpx.Client(base_url=base, timeout=600.0)

    def post(self, path: str, body: bytes, client: httpx.Client | None = None) -> Any:
        response = (client or self.client).post(
            path, content=body, headers={"content-type": "application/json"}
        )
        if response.status_code >= 300:
            raise RuntimeError(f"{self.name} {path}: {response.status_code} {response.text[:300]}")
        return response.json()

    def add_body(self, ids: list[str], vectors: np.ndarray, texts: list[str], meta: list) -> bytes:
        raise NotImplementedError

    def add_path(self) -> str:
        raise NotImplementedError

    def query_body(self, vector: np.ndarray, where: dict[str, Any] | None) -> bytes:
        raise NotImplementedError

    def query_path(self) -> str:
        raise NotImplementedError

    def ids_of(self, answer: Any) -> list[str]:
        raise NotImplementedError

    def settle(self, n: int) -> None:
        """Return once every document written is searchable."""


class Chroma(Peer):
    name = "Chroma"

    def __init__(self, base: str, pid: int, data: Path) -> None:
        super().__init__(base)
        self.pid, self.data = pid, data
        hnsw = {
            "space": "cosine",
            "max_neighbors": PARAMS["m"],
            "ef_construction": PARAMS["ef_construction"],
            "ef_search": PARAMS["ef_search"],
        }
        body = {"name": "bench", "configuration": {"hnsw": hnsw}}
        self.id = self.post(CHROMA_API, encode(body))["id"]

    def add_path(self) -> str:
        return f"{CHROMA_API}/{self.id}/add"

    def add_body(self, ids: list[str], vectors: np.ndarray, texts: list[str], meta: list) -> bytes:
        body = {"ids": ids, "embeddings": vectors.tolist(), "documents": texts, "metadatas": meta}
        return encode(body)

    def query_path(self) -> str:
        return f"{CHROMA_API}/{self.id}/query"

    def query_body(self, vector: np.ndarray, where: dict[str, Any] | None) -> bytes:
        body: dict[str, Any] = {
            "query_embeddings": [vector.tolist()],
            "n_results": 10,
            "include": ["documents", "metadatas", "distances"],
        }
        if where is not None:
            body["where"] = where
        return encode(body)

    def ids_of(self, answer: Any) -> list[str]:
        return list(answer["ids"][0])

    def settle(self, n: int) -> None:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            status = self.client.get(f"{CHROMA_API}/{self.id}/indexing_status")
            if status.status_code == 200:
                body = status.json()
                if body.get("num_unindexed_ops", 0) == 0:
                    return
            else:
                return  # no status: writes are applied before the add returns
            time.sleep(0.05)


class Semsearch(Peer):
    name = "semsearch"

    def __init__(self, base: str, pid: int, data: Path) -> None:
        super().__init__(base)
        self.pid, self.data = pid, data
        body = {"name": "bench", "metric": "cosine", "hnsw": PARAMS, "default_mode": "vector"}
        self.post("/collections", encode(body))

    def add_path(self) -> str:
        return "/collections/bench/documents"

    def add_body(self, ids: list[str], vectors: np.ndarray, texts: list[str], meta: list) -> bytes:
        documents = [
            {"id": i, "vector": v, "text": t, "metadata": m}
            for i, v, t, m in zip(ids, vectors.tolist(), texts, meta, strict=True)
        ]
        return encode({"documents": documents})

    def query_path(self) -> str:
        return "/collections/bench/query"

    def query_body(self, vector: np.ndarray, where: dict[str, Any] | None) -> bytes:
        body: dict[str, Any] = {"vector": vector.tolist(), "k": 10}
        if where is not None:
            body["where"] = where
        return encode(body)

    def ids_of(self, answer: Any) -> list[str]:
        return [hit["id"] for hit in answer["data"]]


@contextmanager
def chroma_server(scratch: Path) -> Iterator[Chroma]:
    python = chroma_python()
    port, data = free_port(), scratch / "chroma"
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False", "CHROMA_TELEMETRY": "False"}
    chroma = [str(python.parent / "chroma"), "run", "--host", "127.0.0.1", "--port", str(port)]
    log = open(scratch / "chroma.log", "w")  # closed below
    proc = subprocess.Popen([*chroma, "--path", str(data)], env=env, stdout=log, stderr=log)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if httpx.get(f"{base}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield Chroma(base, proc.pid, data)
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


@contextmanager
def semsearch_server(scratch: Path) -> Iterator[Semsearch]:
    data = scratch / "semsearch"
    server = own_server(data, {"SEMSEARCH_LOG_LEVEL": "warning"})
    try:
        server.start(120)
        assert server.pid is not None
        yield Semsearch(server.url, server.pid, data)
    finally:
        server.stop(120)


def ingest(peer: Peer, vectors: np.ndarray, texts: list[str], batch: int) -> float:
    elapsed = 0.0
    for start in range(0, len(vectors), batch):
        stop = min(start + batch, len(vectors))
        ids = [f"d{i}" for i in range(start, stop)]
        meta = [{"bucket": i % 100} for i in range(start, stop)]
        body = peer.add_body(ids, vectors[start:stop], texts[start:stop], meta)
        started = time.perf_counter()
        peer.post(peer.add_path(), body)
        elapsed += time.perf_counter() - started
    started = time.perf_counter()
    peer.settle(len(vectors))
    return len(vectors) / (elapsed + time.perf_counter() - started)


def latencies(peer: Peer, bodies: list[bytes]) -> tuple[np.ndarray, list[list[str]]]:
    times, answers = [], []
    for body in bodies:
        started = time.perf_counter()
        response = peer.client.post(
            peer.query_path(), content=body, headers={"content-type": "application/json"}
        )
        times.append(time.perf_counter() - started)
        response.raise_for_status()
        answers.append(peer.ids_of(response.json()))
    return np.asarray(times) * 1000, answers


def qps(peer: Peer, bodies: list[bytes], clients: int, seconds: float) -> float:
    done = [0] * clients
    stop_at = time.perf_counter() + seconds

    def worker(slot: int) -> None:
        with httpx.Client(base_url=peer.base, timeout=60) as client:
            i = slot
            while time.perf_counter() < stop_at:
                body = bodies[i % len(bodies)]
                peer.post(peer.query_path(), body, client)
                done[slot] += 1
                i += clients

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / (time.perf_counter() - started)


def recall(answers: list[list[str]], truth: np.ndarray) -> float:
    pairs = zip(truth, answers, strict=True)
    hits = sum(len({f"d{j}" for j in row} & set(got)) for row, got in pairs)
    return hits / truth.size


def exact_top10(docs: np.ndarray, queries: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    unit = docs / np.linalg.norm(docs, axis=1, keepdims=True)
    scores = (queries / np.linalg.norm(queries, axis=1, keepdims=True)) @ unit.T
    if mask is not None:
        scores[:, ~mask] = -np.inf
    return np.argsort(-scores, axis=1)[:, :10]


def measure(
    start: Callable[[Path], Any], args: argparse.Namespace, data: tuple, scratch: Path
) -> dict[str, float]:
    docs, queries, texts, truth, filtered_truth = data
    with start(scratch) as peer:
        ingest_rate = ingest(peer, docs, texts, args.batch)
        plain = [peer.query_body(q, None) for q in queries]
        filtered = [peer.query_body(q, FILTER) for q in queries]
        latencies(peer, plain[:50])  # warm up
        ms, answers = latencies(peer, plain)
        fms, fanswers = latencies(peer, filtered)
        rate = qps(peer, plain, 4, args.seconds)
        rss = tree_rss_mib(peer.pid)
        data_dir = peer.data
    return {
        "ingest_vectors_per_s": ingest_rate,
        "query_p50_ms": float(np.percentile(ms, 50)),
        "query_p99_ms": float(np.percentile(ms, 99)),
        "qps_4_clients": rate,
        "recall_at_10": recall(answers, truth),
        "filter50_p50_ms": float(np.percentile(fms, 50)),
        "filter50_recall_at_10": recall(fanswers, filtered_truth),
        "rss_mib": rss,
        "disk_mib": dir_mib(data_dir),
    }


ROWS = [
    ("ingest vectors/s", "ingest_vectors_per_s", "{:,.0f}"),
    ("query p50 (ms)", "query_p50_ms", "{:.2f}"),
    ("query p99 (ms)", "query_p99_ms", "{:.2f}"),
    ("QPS, 4 clients", "qps_4_clients", "{:,.0f}"),
    ("recall@10", "recall_at_10", "{:.3f}"),
    ("50% filter p50 (ms)", "filter50_p50_ms", "{:.2f}"),
    ("50% filter recall@10", "filter50_recall_at_10", "{:.3f}"),
    ("RSS (MiB)", "rss_mib", "{:,.0f}"),
    ("disk (MiB)", "disk_mib", "{:,.1f}"),
]


def table(results: dict[str, dict[str, float]]) -> str:
    names = list(results)
    lines = ["| | " + " | ".join(names) + (" | ratio |" if len(names) == 2 else " |")]
    lines.append("| --- |" + " ---: |" * (len(names) + (len(names) == 2)))
    for label, key, fmt in ROWS:
        cells = [fmt.format(results[name][key]) for name in names]
        if len(names) == 2:
            a, b = (results[name][key] for name in names)
            cells.append(f"{b / a:.2f}x" if a else "-")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--seconds", type=float, default=15.0, help="QPS measurement per peer")
    parser.add_argument("--only", choices=["chroma", "semsearch"])
    parser.add_argument("--wordnet", type=Path, default=WORDNET)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    docs, queries = wordnet_vectors(args.n, args.queries, args.wordnet)
    with gzip.open(args.wordnet, "rt") as f:
        texts = [f"{r['title']} {r['text']}".strip() for r in map(json.loads, f)][: args.n]
    mask = np.arange(args.n) % 100 < 50
    truth = exact_top10(docs, queries, None), exact_top10(docs, queries, mask)
    data = (docs, queries, texts, *truth)
    peers = {"chroma": chroma_server, "semsearch": semsearch_server}
    results: dict[str, dict[str, float]] = {}
    for key, start in peers.items():
        if args.only not in (None, key):
            continue
        scratch = Path(tempfile.mkdtemp(prefix=f"bench-peer-{key}-"))
        try:
            label = f"Chroma {CHROMA_VERSION}" if key == "chroma" else "semsearch"
            results[label] = measure(start, args, data, scratch)
            print(label, json.dumps(results[label]), file=sys.stderr, flush=True)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    load = os.getloadavg()
    print(f"{args.n:,} WordNet vectors x {docs.shape[1]}, {args.queries:,} queries; ", end="")
    print(f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps({"n": args.n, "load": load, "results": results}, indent=2))


if __name__ == "__main__":
    main()
