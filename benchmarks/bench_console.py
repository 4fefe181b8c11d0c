"""Does the web console, or the access log, slow the search API? (issue 15)

    python benchmarks/bench_console.py                # 6 rounds of 200 queries per side
    python benchmarks/bench_console.py --rounds 4 --queries 100 --json out.json

One server with the SciFact fixture (743 documents) answers sequential hybrid queries over one
keep-alive connection, in alternating rounds: with no browser, then with the console open in
Chromium (its dashboard polling ``/metrics`` every 2 s, a second tab on the search page), and
so on; p50/p90 are over all rounds of a side, and the ratio compares them. The same run then
compares the access log on (``--log-level info``, the default) with off (``warning``), on two
servers side by side, for a query and for ``/healthz`` (where a log line weighs most).
Without Chromium or Playwright the console half is left out, saying so.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from service.testing import ServerProcess, clean_env

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "scifact_small"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def corpus() -> tuple[list[dict[str, str]], list[str]]:
    docs = []
    for line in (FIXTURE / "corpus.jsonl").read_text().splitlines():
        row = json.loads(line)
        docs.append({"id": row["_id"], "text": f"{row['title']} {row['text']}".strip()})
    queries = [
        json.loads(line)["text"] for line in (FIXTURE / "queries.jsonl").read_text().splitlines()
    ]
    return docs, queries


def ingest(url: str, docs: list[dict[str, str]]) -> None:
    with httpx.Client(base_url=url, timeout=120) as http:
        http.post("/collections", json={"name": "bench"}).raise_for_status()
        for start in range(0, len(docs), 256):
            batch = {"documents": docs[start : start + 256]}
            http.post("/collections/bench/documents", json=batch).raise_for_status()


def timed(
    http: httpx.Client, n: int, request: Callable[[httpx.Client, int], httpx.Response]
) -> list[float]:
    out = []
    for i in range(n):
        started = time.perf_counter()
        request(http, i).raise_for_status()
        out.append((time.perf_counter() - started) * 1000)
    return out


def summary(ms: list[float]) -> dict[str, float]:
    values = np.asarray(ms)
    return {
        "p50_ms": float(np.percentile(values, 50)),
        "p90_ms": float(np.percentile(values, 90)),
        "n": len(ms),
    }


@contextmanager
def console_open(url: str) -> Iterator[Any]:
    """Chromium with the console's dashboard and search page open, for the block's duration."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=FLAGS)
        try:
            dashboard = browser.new_page()
            dashboard.goto(url + "/#/dashboard")
            dashboard.locator("#tile-rps").wait_for()
            search = browser.new_page()
            search.goto(url + "/#/search/bench")
            search.locator("#query").wait_for()
            yield browser
        finally:
            browser.close()


def console_rounds(url: str, queries: list[str], rounds: int, n: int) -> dict[str, Any]:
    def query(http: httpx.Client, i: int) -> httpx.Response:
        return http.post(
            "/collections/bench/query", json={"query": queries[i % len(queries)], "k": 10}
        )

    sides: dict[str, list[float]] = {"closed": [], "open": []}
    with httpx.Client(base_url=url, timeout=30) as http:
        timed(http, 50, query)  # warm-up
        for round_ in range(rounds):
            sides["closed"] += timed(http, n, query)
            with console_open(url):
                time.sleep(2.5)  # the dashboard's first polls, the pages' assets
                sides["open"] += timed(http, n, query)
            print(f"round {round_ + 1}/{rounds}", file=sys.stderr, flush=True)
    closed, opened = summary(sides["closed"]), summary(sides["open"])
    return {"closed": closed, "open": opened, "p50_ratio": opened["p50_ms"] / closed["p50_ms"]}


def access_log_rounds(
    urls: dict[str, str], queries: list[str], rounds: int, n: int
) -> dict[str, Any]:
    requests: dict[str, Callable[[httpx.Client, int], httpx.Response]] = {
        "query": lambda http, i: http.post(
            "/collections/bench/query", json={"query": queries[i % len(queries)], "k": 10}
        ),
        "healthz": lambda http, i: http.get("/healthz"),
    }
    out: dict[str, Any] = {}
    for name, request in requests.items():
        ms: dict[str, list[float]] = {side: [] for side in urls}
        clients = {side: httpx.Client(base_url=url, timeout=30) for side, url in urls.items()}
        try:
            for http in clients.values():
                timed(http, 50, request)
            for _ in range(rounds):
                for side, http in clients.items():
                    ms[side] += timed(http, n, request)
        finally:
            for http in clients.values():
                http.close()
        on, off = summary(ms["log on"]), summary(ms["log off"])
        out[name] = {"log on": on, "log off": off, "p50_ratio": on["p50_ms"] / off["p50_ms"]}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--queries", type=int, default=200, help="queries per round and side")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    docs, queries = corpus()
    result: dict[str, Any] = {"documents": len(docs)}
    with tempfile.TemporaryDirectory() as tmp:
        on = ServerProcess(Path(tmp) / "on", env=clean_env()).start(timeout=60)
        off = ServerProcess(Path(tmp) / "off", env=clean_env(), args=["--log-level", "warning"])
        off.start(timeout=60)
        try:
            ingest(on.url, docs)
            ingest(off.url, docs)
            try:
                import playwright  # noqa: F401

                have_browser = shutil.which("chromium") is not None
            except ImportError:
                have_browser = False
            if have_browser:
                result["console"] = console_rounds(on.url, queries, args.rounds, args.queries)
            else:
                print("no Chromium/Playwright: the console half is left out", file=sys.stderr)
            urls = {"log on": on.url, "log off": off.url}
            result["access_log"] = access_log_rounds(urls, queries, args.rounds, args.queries)
        finally:
            on.stop()
            off.stop()
    report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


def report(result: dict[str, Any]) -> None:
    print(f"\nquery p50/p90 (ms), hybrid, k=10, {result['documents']} documents")
    if "console" in result:
        c = result["console"]
        for side in ("closed", "open"):
            f = c[side]
            print(f"  console {side:<7} {f['p50_ms']:6.2f} {f['p90_ms']:6.2f}  (n={f['n']})")
        print(f"  ratio open/closed p50: {c['p50_ratio']:.3f}")
    for name, figures in result["access_log"].items():
        for side in ("log on", "log off"):
            f = figures[side]
            print(f"  {name:<8} {side:<8} {f['p50_ms']:6.2f} {f['p90_ms']:6.2f}  (n={f['n']})")
        print(f"  {name} ratio on/off p50: {figures['p50_ratio']:.3f}")


if __name__ == "__main__":
    sys.exit(main())
