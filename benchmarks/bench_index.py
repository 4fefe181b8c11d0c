"""Index benchmark: our Collection against raw hnswlib with the same parameters, in one run.

    python benchmarks/bench_index.py                      # 100k WordNet gloss embeddings, d=256
    python benchmarks/bench_index.py --source random --n 1000000
    python benchmarks/bench_index.py --json results.json

Measures build throughput, recall@10 against exact search at the default ef_search, single-thread
query latency (p50/p99) and QPS for ``Collection.query`` and for ``hnswlib.Index.knn_query``,
filtered query latency at 1%, 10% and 50% selectivity, bytes on disk, and time to reopen.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import hnswlib
import numpy as np

from index import HnswParams, Store

HERE = Path(__file__).resolve().parent
SCRATCH = HERE / ".runs"
WORDNET = HERE.parent.parent / "shared" / "datasets" / "wordnet_glosses" / "corpus.jsonl.gz"


def wordnet_vectors(
    n_docs: int, n_queries: int, corpus: Path = WORDNET
) -> tuple[np.ndarray, np.ndarray]:
    """Embed WordNet glosses with the local model (cached in benchmarks/.runs, not in git)."""
    cache = SCRATCH / "wordnet-wordllama-256.npy"
    if cache.exists():
        vectors = np.load(cache)
    else:
        from service.embeddings.local import LocalModel

        with gzip.open(corpus, "rt") as f:
            rows = [json.loads(line) for line in f]
        texts = [f"{r['title']} {r['text']}".strip() for r in rows]
        model = LocalModel.load()
        vectors = np.concatenate(
            [model.embed(texts[i : i + 4096])[0] for i in range(0, len(texts), 4096)]
        )
        SCRATCH.mkdir(exist_ok=True)
        np.save(cache, vectors)
    if n_docs + n_queries > len(vectors):
        sys.exit(f"WordNet has {len(vectors)} glosses; use --source random for --n {n_docs}")
    # Queries are glosses held out of the index.
    return vectors[:n_docs], vectors[-n_queries:]


def random_vectors(n_docs: int, n_queries: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(n_docs + n_queries, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors[:n_docs], vectors[n_docs:]


def exact_top10(
    docs: np.ndarray, queries: np.ndarray, mask: np.ndarray | None = None
) -> np.ndarray:
    out = []
    for start in range(0, len(queries), 256):
        scores = queries[start : start + 256] @ docs.T
        if mask is not None:
            scores[:, ~mask] = -np.inf
        out.append(np.argsort(-scores, axis=1)[:, :10])
    return np.concatenate(out)


def recall(found: list[list[int]], truth: np.ndarray) -> float:
    hits = sum(len(set(f) & set(t.tolist())) for f, t in zip(found, truth, strict=True))
    return hits / truth.size


def percentiles(samples: list[float]) -> dict[str, float]:
    ms = np.asarray(samples) * 1000
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "qps": float(len(ms) / (ms.sum() / 1000)),
    }


def timed(fn, queries: np.ndarray) -> tuple[list[float], list]:
    latencies, results = [], []
    for q in queries:
        started = time.perf_counter()
        results.append(fn(q))
        latencies.append(time.perf_counter() - started)
    return latencies, results


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=100_000, help="documents (default 100k)")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--dim", type=int, default=256, help="only for --source random")
    parser.add_argument("--source", choices=["wordnet", "random"], default="wordnet")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--wordnet", type=Path, default=WORDNET, help="corpus.jsonl.gz to use")
    parser.add_argument(
        "--ef-construction", type=int, help="build parameter (default: the collections' own)"
    )
    parser.add_argument("--batch", type=int, default=1000, help="documents per upsert")
    parser.add_argument(
        "--raw-from-snapshot",
        action="store_true",
        help="raw hnswlib loads our graph snapshot instead of building its own (half the time"
        " of a 1M run; the two then search the very same graph; no build ratio)",
    )
    args = parser.parse_args()

    if args.source == "wordnet":
        docs, queries = wordnet_vectors(args.n, args.queries, args.wordnet)
    else:
        docs, queries = random_vectors(args.n, args.queries, args.dim)
    n, dim = docs.shape
    params = HnswParams()
    if args.ef_construction:
        params = HnswParams(ef_construction=args.ef_construction)
    truth = exact_top10(docs, queries)
    buckets = np.arange(n) % 100  # metadata for 1% / 10% / 50% filters
    results: dict = {
        "n": n,
        "dim": dim,
        "source": args.source,
        "hnsw": {
            "m": params.m,
            "ef_construction": params.ef_construction,
            "ef_search": params.ef_search,
        },
    }

    # Raw hnswlib, same parameters, same threads.
    raw = hnswlib.Index(space="cosine", dim=dim)
    raw_build = float("nan")
    if not args.raw_from_snapshot:
        raw.init_index(max_elements=n, ef_construction=params.ef_construction, M=params.m)
        started = time.perf_counter()
        for start in range(0, n, 1000):
            raw.add_items(docs[start : start + 1000], np.arange(start, min(start + 1000, n)))
        raw_build = time.perf_counter() - started
        raw.set_ef(params.ef_search)

    workdir = Path(tempfile.mkdtemp(prefix="bench-index-"))
    try:
        store = Store(workdir)
        col = store.create_collection("bench", dim=dim, hnsw=params)
        ids = [f"doc-{i}" for i in range(n)]
        started = time.perf_counter()
        for start in range(0, n, args.batch):
            end = min(start + args.batch, n)
            col.upsert(
                ids[start:end],
                docs[start:end],
                texts=[f"text of document {i}" for i in range(start, end)],
                metadatas=[{"bucket": int(b)} for b in buckets[start:end]],
            )
        our_build = time.perf_counter() - started
        results["build"] = {
            "raw_vectors_per_s": n / raw_build,
            "ours_vectors_per_s": n / our_build,
            "ratio_ours_over_raw": raw_build / our_build,
        }
        print(f"built in {our_build:.0f} s", file=sys.stderr, flush=True)
        if args.raw_from_snapshot:  # the graph as saved on close, with our labels
            store.close()
            [snapshot] = sorted(workdir.glob("collections/bench/snapshots/*/graph.hnsw"))[-1:]
            raw.load_index(str(snapshot))
            raw.set_ef(params.ef_search)
            assert raw.get_current_count() == n  # labels 0..n-1: our ids' numbers
            store = Store(workdir)
            col = store.get_collection("bench")
            started = time.perf_counter()
            col.views_built.wait(600)
            results["filters_ready_s"] = time.perf_counter() - started

        # Single-thread query latency, raw and ours interleaved in blocks to share the noise.
        raw_lat: list[float] = []
        our_lat: list[float] = []
        raw_found: list[list[int]] = []
        our_found: list[list[int]] = []
        for block in np.array_split(np.arange(len(queries)), 5):
            lat, res = timed(lambda q: raw.knn_query(q, k=10, num_threads=1)[0][0], queries[block])
            raw_lat += lat
            raw_found += [r.tolist() for r in res]
            lat, res = timed(lambda q: col.query(q, k=10)[0], queries[block])
            our_lat += lat
            our_found += [[int(h.id[4:]) for h in hits] for hits in res]
        results["query"] = {
            "raw": {**percentiles(raw_lat), "recall_at_10": recall(raw_found, truth)},
            "ours": {**percentiles(our_lat), "recall_at_10": recall(our_found, truth)},
        }
        results["query"]["p50_ratio_ours_over_raw"] = (
            results["query"]["ours"]["p50_ms"] / results["query"]["raw"]["p50_ms"]
        )

        filtered = {}
        for pct in (1, 10, 50):
            mask = buckets < pct
            sub_truth = exact_top10(docs, queries[:300], mask)
            lat, res = timed(
                lambda q, p=pct: col.query(q, k=10, where={"bucket": {"$lt": p}})[0], queries[:300]
            )
            found = [[int(h.id[4:]) for h in hits] for hits in res]
            filtered[f"{pct}%"] = {**percentiles(lat), "recall_at_10": recall(found, sub_truth)}
        results["filtered"] = filtered

        store.close()
        results["disk_bytes"] = dir_bytes(workdir)
        started = time.perf_counter()
        store = Store(workdir)
        reopened = store.get_collection("bench")
        results["reopen_s"] = time.perf_counter() - started
        reopened.views_built.wait(600)
        results["reopen_filters_ready_s"] = time.perf_counter() - started
        store.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def report(r: dict) -> None:
    q = r["query"]
    print(f"## index benchmark: {r['n']:,} x {r['dim']} ({r['source']}), HNSW {r['hnsw']}\n")
    print("| what | raw hnswlib | semsearch Collection | ratio |")
    print("| --- | ---: | ---: | ---: |")
    b = r["build"]
    print(
        f"| build (vectors/s) | {b['raw_vectors_per_s']:,.0f} | {b['ours_vectors_per_s']:,.0f} "
        f"| {b['ratio_ours_over_raw']:.2f} |"
    )
    print(
        f"| recall@10 (ef_search={r['hnsw']['ef_search']}) | {q['raw']['recall_at_10']:.4f} "
        f"| {q['ours']['recall_at_10']:.4f} | |"
    )
    for key, label in (
        ("p50_ms", "query p50 (ms)"),
        ("p99_ms", "query p99 (ms)"),
        ("qps", "QPS, 1 thread"),
    ):
        print(
            f"| {label} | {q['raw'][key]:.3f} | {q['ours'][key]:.3f} "
            f"| {q['ours'][key] / q['raw'][key]:.2f} |"
        )
    print("\n| filter selectivity | p50 (ms) | p99 (ms) | recall@10 |")
    print("| --- | ---: | ---: | ---: |")
    for pct, f in r["filtered"].items():
        print(f"| {pct} | {f['p50_ms']:.3f} | {f['p99_ms']:.3f} | {f['recall_at_10']:.4f} |")
    print(f"\ndisk: {r['disk_bytes'] / 2**20:,.1f} MiB; reopen: {r['reopen_s']:.3f} s", end="")
    print(f" (filter index ready after {r['reopen_filters_ready_s']:.3f} s)")


if __name__ == "__main__":
    main()
