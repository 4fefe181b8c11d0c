"""Embeddings benchmark (issue 3): local throughput, /v1/embeddings latency, server overhead.

    python benchmarks/bench_embeddings.py            # a table
    python benchmarks/bench_embeddings.py --json     # machine-readable
    python benchmarks/bench_embeddings.py --asgi-server granian   # compare servers (see README)

Measures, in one run:
- local WordLlama throughput in process (texts/s) for batch sizes 1..2048;
- ``/v1/embeddings`` latency p50/p99 over HTTP (keep-alive, sequential) for a cached batch of
  1 and of 100 inputs vs a miss through an upstream that adds 50 ms;
- HTTP overhead: the local model over HTTP minus the same call in process, and ``/healthz``.
Targets: cached batch of 100 < 5 ms p50; the server's own overhead < 1 ms p50.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np

from service.embeddings.local import LocalModel
from service.testing import FaultUpstream, ServerProcess, clean_env

ROOT = Path(__file__).resolve().parents[1]

SEED = 20240611
LOCAL = "wordllama-l2-supercat"
UPSTREAM_MODEL = "text-embedding-slow"
WORDS = "semantic search vector index embedding cache query document token model".split()


def texts(n: int, rng: np.random.Generator, tag: str = "") -> list[str]:
    return [f"{tag}{' '.join(rng.choice(WORDS, size=12))} {i}" for i in range(n)]


def percentiles(samples: list[float]) -> dict[str, float]:
    ms = np.asarray(samples) * 1000
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}


def timed(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def local_throughput(rng: np.random.Generator) -> dict[str, float]:
    model = LocalModel.load()
    corpus = texts(2048, rng)
    result = {}
    for size in (1, 8, 64, 256, 1024, 2048):
        batch = corpus[:size]
        model.embed(batch)
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < 0.5:
            model.embed(batch)
            done += size
        result[str(size)] = done / (time.perf_counter() - start)
    return result


def http_latency(url: str, rng: np.random.Generator, rounds: int) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    with httpx.Client(base_url=url, timeout=30) as http:

        def post(model: str, inputs: list[str], fmt: str = "base64") -> None:
            body = {"model": model, "input": inputs, "encoding_format": fmt}
            http.post("/v1/embeddings", json=body).raise_for_status()

        for size in (1, 100):
            cached = texts(size, rng, "cached ")
            post(UPSTREAM_MODEL, cached)  # fill the cache
            for fmt in ("base64", "float"):
                samples = timed(functools.partial(post, UPSTREAM_MODEL, cached, fmt), rounds)
                out[f"cached_{size}_{fmt}"] = percentiles(samples)
            misses = iter([texts(size, rng, f"miss{i} ") for i in range(rounds // 5 + 1)])
            samples = timed(lambda: post(UPSTREAM_MODEL, next(misses)), rounds // 5)  # noqa: B023 - timed() runs it now
            out[f"miss_{size}_upstream_50ms"] = percentiles(samples)
        one = texts(1, rng, "local ")
        model = LocalModel.load()
        in_process = timed(lambda: model.embed(one), rounds)
        over_http = timed(lambda: post(LOCAL, one), rounds)
        health = timed(lambda: http.get("/healthz").raise_for_status(), rounds)
        out["local_1_in_process"] = percentiles(in_process)
        out["local_1_over_http"] = percentiles(over_http)
        out["healthz"] = percentiles(health)
        overhead = np.median(over_http) - np.median(in_process)
        out["server_overhead"] = {"p50_ms": float(overhead * 1000)}
    return out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_app():  # granian's --factory target
    from service.app import create_app
    from service.settings import Settings

    return create_app(Settings.load({}, os.environ))


def start(server: str, data: Path, env: dict[str, str]) -> tuple[str, Callable[[], object]]:
    if server == "uvicorn":
        proc = ServerProcess(data, env=env).start()
        return proc.url, proc.stop
    port = _free_port()  # granian cannot take a pre-bound socket: racy but fine for a benchmark
    command = [sys.executable, "-m", "granian", "--interface", "asgi", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    command += ["--log-level", "warning", "bench_embeddings:make_app"]
    env = {**env, "SEMSEARCH_DATA_DIR": str(data), "PYTHONPATH": f"{ROOT}:{ROOT / 'benchmarks'}"}
    child = subprocess.Popen(command, env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(url + "/healthz").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.05)

    def stop() -> None:
        child.terminate()
        child.wait(15)

    return url, stop


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--rounds", type=int, default=300, help="requests per latency figure")
    parser.add_argument("--asgi-server", choices=("uvicorn", "granian"), default="uvicorn")
    args = parser.parse_args()
    rng = np.random.default_rng(SEED)
    throughput = local_throughput(rng)
    report: dict[str, object] = {"seed": SEED, "asgi_server": args.asgi_server}
    report["local_texts_per_s"] = throughput
    with tempfile.TemporaryDirectory() as tmp, FaultUpstream(latency=0.05) as upstream:
        env = clean_env({"SEMSEARCH_UPSTREAM_URL": upstream.v1, "SEMSEARCH_LOG_LEVEL": "warning"})
        url, stop = start(args.asgi_server, Path(tmp) / "data", env)
        try:
            latency = http_latency(url, rng, args.rounds)
            report["http_latency"] = latency
        finally:
            stop()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"seed {SEED}, ASGI server {args.asgi_server}")
        for size, rate in throughput.items():
            print(f"local batch {size:>5}: {rate:>10,.0f} texts/s")
        for name, figures in latency.items():
            shown = "  ".join(f"{k} {v:7.3f}" for k, v in figures.items())
            print(f"{name:<28} {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
