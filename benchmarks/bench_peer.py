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

What is timed is the server: request bodies are encoded before the clock starts. Both servers
run at once and every phase alternates between them (a batch to one, the same batch to the
other; blocks of 100 queries; QPS windows of a third of ``--seconds``), so that both see the
same machine: on a shared two-core machine the load comes and goes, and measuring one server
after the other compared two different machines. Ingest is batches of ``--batch`` documents
from one client, then (for Chroma, which indexes in the background) until the collection has
indexed every document. RSS is the server process tree's resident memory after the queries;
disk is the data directory's bytes after a clean shutdown.
"""

from __future__ import annotations

import argparse
import contextlib
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
from collections.abc import Iterator
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


def dir_files(path: Path) -> dict[str, int]:
    """Bytes of each file in the data directory, largest first (where the disk goes)."""
    sizes = {str(f.relative_to(path)): f.stat().st_size for f in path.rglob("*") if f.is_file()}
    return dict(sorted(sizes.items(), key=lambda item: -item[1]))


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


def ingest_batch(peer: Peer, start: int, stop: int, docs: np.ndarray, texts: list[str]) -> float:
    """Seconds one batch's request took (its body encoded before the clock starts)."""
    ids = [f"d{i}" for i in range(start, stop)]
    meta = [{"bucket": i % 100} for i in range(start, stop)]
    body = peer.add_body(ids, docs[start:stop], texts[start:stop], meta)
    started = time.perf_counter()
    peer.post(peer.add_path(), body)
    return time.perf_counter() - started


def latencies(peer: Peer, bodies: list[bytes]) -> tuple[list[float], list[list[str]]]:
    times, answers = [], []
    for body in bodies:
        started = time.perf_counter()
        response = peer.client.post(
            peer.query_path(), content=body, headers={"content-type": "application/json"}
        )
        times.append(time.perf_counter() - started)
        response.raise_for_status()
        answers.append(peer.ids_of(response.json()))
    return times, answers


def qps(peer: Peer, bodies: list[bytes], clients: int, seconds: float) -> tuple[int, float]:
    """``(requests, seconds)`` of ``clients`` threads querying for ``seconds``."""
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
    return sum(done), time.perf_counter() - started


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


def measure(peers: dict[str, Peer], args: argparse.Namespace, data: tuple) -> dict[str, dict]:
    """Every phase interleaved between the peers, batch by batch and block by block, so that
    both see the same machine (shared and noisy: other work comes and goes)."""
    docs, queries, texts, truth, filtered_truth = data
    spent = dict.fromkeys(peers, 0.0)
    for start in range(0, len(docs), args.batch):
        stop = min(start + args.batch, len(docs))
        for name, peer in peers.items():
            spent[name] += ingest_batch(peer, start, stop, docs, texts)
    for name, peer in peers.items():  # Chroma indexes in the background: wait for it
        started = time.perf_counter()
        peer.settle(len(docs))
        spent[name] += time.perf_counter() - started
    plain = {name: [p.query_body(q, None) for q in queries] for name, p in peers.items()}
    filtered = {name: [p.query_body(q, FILTER) for q in queries] for name, p in peers.items()}
    times: dict[str, dict[str, list[float]]] = {n: {"plain": [], "filter": []} for n in peers}
    answers: dict[str, dict[str, list[list[str]]]] = {
        name: {"plain": [], "filter": []} for name in peers
    }
    for name, peer in peers.items():
        latencies(peer, plain[name][:50])  # warm up
    for block in np.array_split(np.arange(len(queries)), 10):
        for kind, bodies in (("plain", plain), ("filter", filtered)):
            for name, peer in peers.items():
                t, a = latencies(peer, [bodies[name][i] for i in block])
                times[name][kind] += t
                answers[name][kind] += a
    rates = {name: [0.0, 0.0] for name in peers}
    for _ in range(3):
        for name, peer in peers.items():
            requests, seconds = qps(peer, plain[name], 4, args.seconds / 3)
            rates[name][0] += requests
            rates[name][1] += seconds
    results = {}
    for name, peer in peers.items():
        ms = np.asarray(times[name]["plain"]) * 1000
        fms = np.asarray(times[name]["filter"]) * 1000
        results[name] = {
            "ingest_vectors_per_s": len(docs) / spent[name],
            "query_p50_ms": float(np.percentile(ms, 50)),
            "query_p99_ms": float(np.percentile(ms, 99)),
            "qps_4_clients": rates[name][0] / rates[name][1],
            "recall_at_10": recall(answers[name]["plain"], truth),
            "filter50_p50_ms": float(np.percentile(fms, 50)),
            "filter50_recall_at_10": recall(answers[name]["filter"], filtered_truth),
            "rss_mib": tree_rss_mib(peer.pid),
        }
    return results


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
    starters = {"chroma": chroma_server, "semsearch": semsearch_server}
    labels = {"chroma": f"Chroma {CHROMA_VERSION}", "semsearch": "semsearch"}
    scratch = Path(tempfile.mkdtemp(prefix="bench-peer-"))
    try:
        with contextlib.ExitStack() as running:
            peers = {
                labels[key]: running.enter_context(start(scratch))
                for key, start in starters.items()
                if args.only in (None, key)
            }
            data_dirs = {name: peer.data for name, peer in peers.items()}
            results = measure(peers, args, data)
        for name, data_dir in data_dirs.items():  # after a clean shutdown
            results[name]["disk_mib"] = dir_mib(data_dir)
            results[name]["files"] = dir_files(data_dir)
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
