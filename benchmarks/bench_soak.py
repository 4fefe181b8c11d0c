"""Soak (issue 10): a long mixed load on one collection, watching errors, latency and memory.

    python benchmarks/bench_soak.py                        # 20k docs, 32 clients, 10 minutes
    python benchmarks/bench_soak.py --docs 5000 --clients 8 --minutes 1 --json out.json
    python benchmarks/bench_soak.py --bad-share 0.3        # a third of requests malformed

A fresh ``semsearch serve`` on a loopback port gets ``--docs`` WordNet glosses (embedded by the
local model), then ``--clients`` threads, each with its own keep-alive client, send a mix until
``--minutes`` have passed: text queries in every mode (a third of them filtered), upserts that
replace documents with new text and metadata, deletes, reads by id and filtered pages; with
``--bad-share``, also malformed requests (expected to be 4xx). Each client writes only the ids
it owns, so it knows what every acknowledged write left behind; at the end the whole
collection is read back and compared (the *lost acknowledged writes* count). Every 10 s the
server's RSS is sampled from ``/proc``.

Printed: errors by status, latency per minute, RSS every 10 s, the final check, and the targets
(zero 5xx, zero lost acknowledged writes, RSS growth under 20% after the first minute).
"""

from __future__ import annotations

import argparse
import gzip
import json
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from benchmarks.harness.datasets import SHARED_DATASETS
from benchmarks.harness.server import START_TIMEOUT, own_server

WORDNET = SHARED_DATASETS / "wordnet_glosses/corpus.jsonl.gz"
COLLECTION = "soak"
GROUPS = 10
SAMPLE_EVERY = 10.0  # seconds between RSS samples


def corpus(n: int, seed: int) -> list[str]:
    """``n`` WordNet glosses (or, without the dataset, random words), as document texts."""
    if WORDNET.exists():
        with gzip.open(WORDNET, "rt") as f:
            rows = [json.loads(line) for _, line in zip(range(n + 5_000), f, strict=False)]
        return [f"{r['title']} {r['text']}".strip() for r in rows]
    rng = np.random.default_rng(seed)
    words = [f"word{i}" for i in range(5_000)]
    return [" ".join(rng.choice(words, size=12)) for _ in range(n + 5_000)]


def memory_kib(pid: int) -> dict[str, int]:
    """``VmRSS`` and its parts ``RssAnon`` (heap) and ``RssFile`` (mapped files) in KiB."""
    wanted = {"VmRSS:": "rss", "RssAnon:": "anon", "RssFile:": "file"}
    found = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key = line.split(maxsplit=1)[0]
            if key in wanted:
                found[wanted[key]] = int(line.split()[1])
    return found


# -- what the clients send ----------------------------------------------------------------------


def bad_requests(name: str) -> list[tuple[str, str, bytes]]:
    """Malformed requests of the kinds issue 10's outside test sent: each must be a 4xx."""
    base = f"/collections/{name}"
    deep = b"[" * 5_000 + b"]" * 5_000
    big_in = json.dumps({"where": {"group": {"$in": list(range(10_001))}}}).encode()  # limit+1
    nested: dict[str, Any] = {"group": 1}
    for _ in range(400):
        nested = {"$and": [nested]}
    vector = [0.5] * 256
    too_many = {"documents": [{"vector": vector} for _ in range(3_000)]}  # 413, after ~5 MB
    return [
        ("POST", f"{base}/documents", json.dumps(too_many).encode()),
        ("POST", f"{base}/query", b'{"query": "\xff\xfe"}'),
        ("POST", f"{base}/documents", b'{"documents": [{"text": "\xc3\x28"}]}'),
        ("POST", f"{base}/documents", deep),
        ("POST", f"{base}/query", deep),
        ("POST", f"{base}/documents/delete", big_in),
        ("POST", f"{base}/query", json.dumps({"query": "x", "where": nested}).encode()),
        ("POST", f"{base}/documents", b'{"documents": [{"text": "x", "metadata": {"y": 1e999}}]}'),
        (
            "POST",
            f"{base}/documents",
            b'{"documents": [{"text": "x", "metadata": {"year": 9223372036854775808}}]}',
        ),
        ("POST", f"{base}/query", b'{"query": "x", "k": 0}'),
        ("POST", f"{base}/query", b'{"vector": [1, 2]}'),
        ("POST", "/v1/embeddings", b'{"model": "wordllama-l2-supercat", "input": []}'),
        ("POST", "/collections", b'{"name": "../etc"}'),
        ("GET", f"{base}/documents?where=%7B%22%24or%22%3A%5B%5D%7D", b""),
        ("POST", f"{base}/query", b"{" + b'"a":' * 2_000),
    ]


@dataclass
class Ledger:
    """What one client's acknowledged writes left: id -> version (``None``: deleted)."""

    state: dict[str, int | None]
    uncertain: set[str] = field(default_factory=set)  # a write whose outcome is unknown


@dataclass
class Stats:
    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: Counter[tuple[str, str]] = field(default_factory=Counter)
    latencies: list[tuple[float, str, float]] = field(default_factory=list)  # (t, op, ms)
    samples: list[tuple[float, dict[str, int], int]] = field(default_factory=list)  # t, KiB, n

    def record(self, started: float, op: str, status: str, t0: float, t1: float) -> None:
        with self.lock:
            self.statuses[op, status] += 1
            self.latencies.append((t0 - started, op, (t1 - t0) * 1000))


class Client:
    def __init__(self, index: int, args: argparse.Namespace, texts: list[str], url: str) -> None:
        self.rng = np.random.default_rng(args.seed + index)
        self.args = args
        self.texts = texts
        self.http = httpx.Client(base_url=url, timeout=60)
        owned = range(index, args.docs, args.clients)
        self.ledger = Ledger({f"d{i}": 0 for i in owned})
        self.ids = sorted(self.ledger.state)
        self.bad = bad_requests(COLLECTION)
        self.ops: list[tuple[float, Callable[[], tuple[str, httpx.Response]]]] = [
            (0.55 * (1 - args.bad_share), self.query),
            (0.20 * (1 - args.bad_share), self.upsert),
            (0.10 * (1 - args.bad_share), self.delete),
            (0.10 * (1 - args.bad_share), self.read),
            (0.05 * (1 - args.bad_share), self.page),
            (args.bad_share, self.malformed),
        ]

    def run(self, stats: Stats, started: float, deadline: float) -> None:
        weights = np.asarray([w for w, _ in self.ops])
        weights /= weights.sum()
        while time.monotonic() < deadline:
            op = self.ops[int(self.rng.choice(len(self.ops), p=weights))][1]
            t0 = time.monotonic()
            try:
                name, response = op()
                status = str(response.status_code)
            except httpx.TransportError as exc:
                name, status = op.__name__, type(exc).__name__
            stats.record(started, name, status, t0, time.monotonic())
        self.http.close()

    def text(self) -> str:
        return self.texts[int(self.rng.integers(len(self.texts)))]

    def query(self) -> tuple[str, httpx.Response]:
        mode = str(self.rng.choice(["vector", "hybrid", "lexical"]))
        body: dict[str, Any] = {"query": self.text()[:200], "k": 10, "mode": mode}
        if self.rng.random() < 1 / 3:
            body["where"] = {"group": int(self.rng.integers(GROUPS))}
        name = f"query-{mode}" + ("-filtered" if "where" in body else "")
        return name, self.http.post(f"/collections/{COLLECTION}/query", json=body)

    def upsert(self) -> tuple[str, httpx.Response]:
        """Re-add this client's deleted documents first (so the collection keeps its size),
        then replace live ones: 1 to 8 documents."""
        n = int(self.rng.integers(1, 9))
        chosen = [id_ for id_, v in self.ledger.state.items() if v is None][:n]
        while len(chosen) < n:
            id_ = self.ids[int(self.rng.integers(len(self.ids)))]
            if id_ not in chosen:
                chosen.append(id_)
        versions = {id_: (self.ledger.state[id_] or 0) + 1 for id_ in chosen}
        docs = [
            {"id": id_, "text": self.text(), "metadata": {"group": v % GROUPS, "v": v}}
            for id_, v in versions.items()
        ]
        response = self.http.post(f"/collections/{COLLECTION}/documents", json={"documents": docs})
        self.settle(response, versions)
        return "upsert", response

    def delete(self) -> tuple[str, httpx.Response]:
        chosen = self.rng.choice(self.ids, size=int(self.rng.integers(1, 5)), replace=False)
        ids = chosen.tolist()
        path = f"/collections/{COLLECTION}/documents/delete"
        response = self.http.post(path, json={"ids": ids})
        self.settle(response, dict.fromkeys(ids))
        return "delete", response

    def settle(self, response: httpx.Response, outcome: Mapping[str, int | None]) -> None:
        if response.status_code == 200:
            self.ledger.state.update(outcome)
        elif response.status_code >= 500:  # it may or may not have been written
            self.ledger.uncertain.update(outcome)

    def read(self) -> tuple[str, httpx.Response]:
        id_ = self.ids[int(self.rng.integers(len(self.ids)))]
        response = self.http.get(f"/collections/{COLLECTION}/documents/{id_}")
        return "read", response

    def page(self) -> tuple[str, httpx.Response]:
        where = json.dumps({"group": int(self.rng.integers(GROUPS))})
        params: dict[str, str | int] = {"limit": 50, "where": where}
        return "page", self.http.get(f"/collections/{COLLECTION}/documents", params=params)

    def malformed(self) -> tuple[str, httpx.Response]:
        method, path, body = self.bad[int(self.rng.integers(len(self.bad)))]
        headers = {"content-type": "application/json"}
        return "malformed", self.http.request(method, path, content=body, headers=headers)


# -- the run ------------------------------------------------------------------------------------


def ingest(url: str, texts: list[str], n: int) -> float:
    started = time.monotonic()
    with httpx.Client(base_url=url, timeout=300) as http:
        http.post("/collections", json={"name": COLLECTION}).raise_for_status()
        for start in range(0, n, 256):
            docs = [
                {"id": f"d{i}", "text": texts[i], "metadata": {"group": 0, "v": 0}}
                for i in range(start, min(start + 256, n))
            ]
            path = f"/collections/{COLLECTION}/documents"
            http.post(path, json={"documents": docs}).raise_for_status()
    return time.monotonic() - started


def read_back(url: str) -> dict[str, int]:
    """Every document's ``v`` as the server has it now."""
    found: dict[str, int] = {}
    after = None
    with httpx.Client(base_url=url, timeout=300) as http:
        while True:
            params: dict[str, Any] = {"limit": 1000}
            if after is not None:
                params["after"] = after
            page = http.get(f"/collections/{COLLECTION}/documents", params=params).json()
            found.update({d["id"]: d["metadata"]["v"] for d in page["data"]})
            if not page["has_more"]:
                return found
            after = page["last_id"]


def check(clients: list[Client], found: dict[str, int]) -> dict[str, int]:
    lost = wrong = uncertain = expected = 0
    for client in clients:
        for id_, version in client.ledger.state.items():
            if id_ in client.ledger.uncertain:
                uncertain += 1
            elif version is None:
                wrong += id_ in found  # deleted and acknowledged, yet still there
            else:
                expected += 1
                lost += id_ not in found
                wrong += id_ in found and found[id_] != version
    return {
        "expected_documents": expected,
        "found_documents": len(found),
        "lost_acknowledged_writes": lost + wrong,
        "uncertain_ids": uncertain,
    }


def disk_kib(directory: Path) -> dict[str, int]:
    """The collection's database and write-ahead log sizes, KiB."""
    sizes = {}
    for key, name in (("db", "documents.sqlite3"), ("wal", "documents.sqlite3-wal")):
        try:
            sizes[key] = (directory / name).stat().st_size >> 10
        except FileNotFoundError:
            sizes[key] = 0
    return sizes


def monitor(pid: int, directory: Path, stats: Stats, started: float, stop: threading.Event) -> None:
    while True:
        with stats.lock:
            requests = len(stats.latencies)
        sample = memory_kib(pid) | disk_kib(directory)
        stats.samples.append((time.monotonic() - started, sample, requests))
        if stop.wait(SAMPLE_EVERY):
            return


def summarise(stats: Stats, minutes: float) -> dict[str, Any]:
    per_minute = []
    for minute in range(int(np.ceil(minutes))):
        rows = [(op, ms) for t, op, ms in stats.latencies if minute * 60 <= t < (minute + 1) * 60]
        ms = np.asarray([m for _, m in rows]) if rows else np.zeros(1)
        writes = np.asarray([m for op, m in rows if op in ("upsert", "delete")] or [0.0])
        queries = np.asarray([m for op, m in rows if op.startswith("query")] or [0.0])
        per_minute.append(
            {
                "minute": minute + 1,
                "requests": len(rows),
                "p50_ms": float(np.percentile(ms, 50)),
                "p99_ms": float(np.percentile(ms, 99)),
                "query_p50_ms": float(np.percentile(queries, 50)),
                "query_p99_ms": float(np.percentile(queries, 99)),
                "write_p50_ms": float(np.percentile(writes, 50)),
                "write_p99_ms": float(np.percentile(writes, 99)),
            }
        )
    rss = [
        {
            "t_s": round(t),
            "rss_mib": kib["rss"] / 1024,
            "anon_mib": kib["anon"] / 1024,
            "file_mib": kib["file"] / 1024,
            "db_mib": kib["db"] / 1024,
            "wal_mib": kib["wal"] / 1024,
            "requests": n,
        }
        for t, kib, n in stats.samples
    ]
    after_first = [s["rss_mib"] for s in rss if s["t_s"] >= 60]
    growth = (max(after_first) / after_first[0] - 1) if len(after_first) > 1 else 0.0
    return {
        "statuses": {f"{op} {status}": n for (op, status), n in sorted(stats.statuses.items())},
        "per_minute": per_minute,
        "rss": rss,
        "rss_growth_after_first_minute": growth,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--bad-share", type=float, default=0.0, help="share of malformed requests")
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the server")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    texts = corpus(args.docs, args.seed)
    env = {"SEMSEARCH_LOG_LEVEL": "warning", **dict(kv.split("=", 1) for kv in args.env)}
    with tempfile.TemporaryDirectory(prefix="semsearch-soak-") as tmp:
        server = own_server(Path(tmp) / "data", env)
        url = server.start(START_TIMEOUT).url
        try:
            pid = server.pid
            assert pid is not None
            ingest_s = ingest(url, texts, args.docs)
            rss = memory_kib(pid)["rss"] >> 10
            print(f"ingested {args.docs} documents in {ingest_s:.1f} s; RSS {rss} MiB")
            stats, stop = Stats(), threading.Event()
            started = time.monotonic()
            deadline = started + args.minutes * 60
            clients = [Client(i, args, texts, url) for i in range(args.clients)]
            directory = Path(tmp) / "data" / "collections" / COLLECTION
            watcher = threading.Thread(target=monitor, args=(pid, directory, stats, started, stop))
            watcher.start()
            threads = [
                threading.Thread(target=c.run, args=(stats, started, deadline)) for c in clients
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            stop.set()
            watcher.join()
            final = check(clients, read_back(url))
            final["server_alive"] = server.alive
        finally:
            server.stop()
    report = {
        "config": {k: v for k, v in vars(args).items() if k != "json"} | {"json": None},
        "ingest_s": ingest_s,
        **summarise(stats, args.minutes),
        "final": final,
    }
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=str))


def print_report(report: dict[str, Any]) -> None:
    print("\nstatuses (op status: count)")
    for key, n in report["statuses"].items():
        print(f"  {key:32s} {n:8d}")
    print("\nminute  requests  p50 ms  p99 ms  query p50/p99 ms  write p50/p99 ms")
    for m in report["per_minute"]:
        print(
            f"{m['minute']:6d} {m['requests']:9d} {m['p50_ms']:7.1f} {m['p99_ms']:7.1f}"
            f"   {m['query_p50_ms']:7.1f} {m['query_p99_ms']:7.1f}"
            f"   {m['write_p50_ms']:7.1f} {m['write_p99_ms']:7.1f}"
        )
    print("\nevery 10 s, MiB: RSS = heap + mapped files; on disk: database, write-ahead log")
    for s in report["rss"]:
        print(
            f"  {s['t_s']:5d} s  {s['rss_mib']:6.0f} = {s['anon_mib']:6.0f} + {s['file_mib']:5.0f}"
            f"   disk {s['db_mib']:5.0f} + {s['wal_mib']:5.0f}   after {s['requests']} requests"
        )
    final = report["final"]
    print(f"\nfinal: {final}")
    server_errors = sum(n for key, n in report["statuses"].items() if key.split()[-1][0] == "5")
    transport = sum(n for key, n in report["statuses"].items() if not key.split()[-1].isdigit())
    growth = report["rss_growth_after_first_minute"]
    first, last = report["per_minute"][0], report["per_minute"][-1]
    print(
        f"last minute against the first: requests x{last['requests'] / first['requests']:.2f}, "
        f"p50 x{last['p50_ms'] / first['p50_ms']:.2f}, p99 x{last['p99_ms'] / first['p99_ms']:.2f}"
    )
    print(
        f"targets: 5xx {server_errors} (0), transport errors {transport} (0), lost acknowledged "
        f"writes {final['lost_acknowledged_writes']} (0), RSS growth after the first minute "
        f"{growth:.1%} (< 20%), server alive {final['server_alive']}"
    )


if __name__ == "__main__":
    main()
