"""Hybrid retrieval benchmark (issue 7): fusion rules by quality, and latency at 100k documents.

    python benchmarks/bench_hybrid.py fusion  [--datasets scifact,cranfield] [--json FILE]
    python benchmarks/bench_hybrid.py latency [--n 100000] [--queries 1000] [--json FILE]

``fusion`` (in process, local model): ingest each BEIR test split into a ``Collection``, take
each query's hybrid candidates once (``Collection.hybrid_candidates``: both sides' top 100 with
their real scores on both sides) and score every fusion rule on the same candidates, plus the
alpha sweep of the default rule. nDCG@10 is the harness's (``benchmarks/harness/metrics.py``).

``latency``: the first ``--n`` WordNet glosses, queries = ``--queries`` held-out glosses.
In process: ``Collection.query`` (vector), ``search_text`` (lexical), ``hybrid``, each with the
local model's embedding where it needs one; then over HTTP (``semsearch serve``, one client,
sequential requests) ``/query`` in each mode.

Quality of each mode *through the service* is ``semsearch bench quality --mode ...``; see
``benchmarks/README.md`` ("Hybrid retrieval") for the commands and figures.
"""

from __future__ import annotations

import argparse
import gzip
import json
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness.client import SearchClient, ingest_documents
from benchmarks.harness.datasets import SHARED_DATASETS, load_beir
from benchmarks.harness.metrics import evaluate
from benchmarks.harness.server import service
from index import Collection, Store
from index.fusion import DEFAULT_ALPHA as ALPHA
from index.fusion import RRF_K, fuse, minmax
from index.hybrid import Candidates
from service.embeddings.local import LocalModel

DATASETS = SHARED_DATASETS
DEPTH = 100
ALPHAS = [round(0.1 * i, 1) for i in range(11)]
Rule = Callable[[Candidates], np.ndarray]


def _assume_zero(c: Candidates, alpha: float) -> np.ndarray:
    """z-scores where a side's missing candidates score 0 raw (no fill-in)."""
    vector = np.where(c.from_vector, c.vector, 0.0)
    lexical = np.where(c.from_lexical, c.lexical, 0.0)
    return fuse(vector, lexical, alpha)


def _rrf(c: Candidates) -> np.ndarray:
    """Classic reciprocal-rank fusion over each side's own list; absent = no contribution."""
    fused = np.zeros(len(c.labels))
    for scores, present in ((c.vector, c.from_vector), (c.lexical, c.from_lexical)):
        idx = np.flatnonzero(present)
        order = idx[np.argsort(-scores[idx], kind="stable")]
        fused[order] += 1.0 / (RRF_K + np.arange(1, len(order) + 1))
    return fused


def _minmax(c: Candidates, alpha: float) -> np.ndarray:
    return alpha * minmax(c.vector) + (1 - alpha) * minmax(c.lexical)


RULES: dict[str, Rule] = {
    "z-score, real scores filled in (default)": lambda c: fuse(c.vector, c.lexical, ALPHA),
    "z-score, missing side = 0": lambda c: _assume_zero(c, ALPHA),
    "min-max, filled in": lambda c: _minmax(c, ALPHA),
    "RRF (k=60)": _rrf,
}


def _ranking(c: Candidates, fused: np.ndarray, ids: dict[int, str]) -> list[str]:
    order = np.lexsort((c.labels, -fused))[:DEPTH]
    return [ids[int(c.labels[i])] for i in order]


def fusion(datasets: list[str]) -> dict:
    model = LocalModel.load()
    out: dict = {}
    for name in datasets:
        data = load_beir(DATASETS / name, "test")
        qids = list(data.queries)
        texts = [data.queries[q] for q in qids]
        with tempfile.TemporaryDirectory() as tmp, Store(tmp) as store:
            col = store.create_collection(name, dim=256)
            for s in range(0, len(data.doc_ids), 512):
                chunk = data.doc_texts[s : s + 512]
                col.upsert(data.doc_ids[s : s + 512], model.embed(chunk)[0], chunk)
            assert col.lexical_ready(timeout=60)
            rows = col._docs.by_labels(col._docs.matching_labels(None).tolist())
            ids = {label: row.id for label, row in rows.items()}
            vectors = model.embed(texts)[0]
            cands = [
                col.hybrid_candidates(t, v, DEPTH) for t, v in zip(texts, vectors, strict=True)
            ]
            runs: dict[str, dict[str, list[str]]] = {
                "vector only": {
                    q: [h.id for h in hits]
                    for q, hits in zip(qids, col.query(vectors, k=DEPTH), strict=True)
                },
                "lexical only (BM25)": {
                    q: [h.id for h in hits]
                    for q, hits in zip(qids, col.search_text(texts, k=DEPTH), strict=True)
                },
            }
            for rule, fn in RULES.items():
                runs[rule] = {q: _ranking(c, fn(c), ids) for q, c in zip(qids, cands, strict=True)}
            sweep = {}
            for alpha in ALPHAS:
                run = {
                    q: _ranking(c, fuse(c.vector, c.lexical, alpha), ids)
                    for q, c in zip(qids, cands, strict=True)
                }
                sweep[alpha] = evaluate(run, data.qrels)["ndcg@10"]
            out[name] = {
                "rules": {rule: evaluate(run, data.qrels)["ndcg@10"] for rule, run in runs.items()},
                "alpha_sweep": sweep,
                "queries": len(qids),
                "documents": len(data.doc_ids),
            }
    return out


def _wordnet(n: int, n_queries: int) -> tuple[list[str], list[str]]:
    with gzip.open(DATASETS / "wordnet_glosses/corpus.jsonl.gz", "rt") as f:
        rows = [json.loads(line) for line in f]
    texts = [f"{r['title']} {r['text']}".strip() for r in rows]
    return texts[:n], texts[-n_queries:]


def _quantiles(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}


def latency(n: int, n_queries: int) -> dict:
    docs, queries = _wordnet(n, n_queries)
    model = LocalModel.load()
    result: dict = {"n": n, "queries": n_queries}
    with tempfile.TemporaryDirectory() as tmp, Store(tmp) as store:
        col = store.create_collection("bench", dim=256)
        for s in range(0, len(docs), 1000):
            chunk = docs[s : s + 1000]
            col.upsert([f"d{s + i}" for i in range(len(chunk))], model.embed(chunk)[0], chunk)
        assert col.lexical_ready(timeout=120)
        calls: dict[str, Callable[[str], object]] = {
            "vector": lambda t: col.query(model.embed([t])[0], k=10),
            "lexical": lambda t: col.search_text([t], k=10),
            "lexical, no typo tolerance": lambda t: col.search_text(
                [t], k=10, typo_tolerance=False
            ),
            "hybrid": lambda t: col.hybrid([t], model.embed([t])[0], k=10),
            "hybrid, no typo tolerance": lambda t: col.hybrid(
                [t], model.embed([t])[0], k=10, typo_tolerance=False
            ),
        }
        result["in_process"] = _interleaved(calls, queries)
        result["lexical_fts5_fallback"] = _fts5_fallback(col, queries[:100])
    with service() as url, SearchClient(url) as api:
        api.create_collection("bench")
        ingest_documents(api, "bench", [f"d{i}" for i in range(n)], docs, "local", batch=512)
        api.query("bench", queries[0], k=10, mode="lexical")
        time.sleep(2.0)  # the accelerator builds in the background at start: ready by now
        options: dict[str, dict[str, Any]] = {
            "vector": {"mode": "vector"},
            "lexical": {"mode": "lexical"},
            "lexical, no typo tolerance": {"mode": "lexical", "typo_tolerance": False},
            "hybrid": {"mode": "hybrid"},
            "hybrid, no typo tolerance": {"mode": "hybrid", "typo_tolerance": False},
        }
        http = {
            name: (lambda t, o=o: api.query("bench", t, k=10, **o)) for name, o in options.items()
        }
        for call in http.values():  # warm up
            for text in queries[:50]:
                call(text)
        result["http"] = _interleaved(http, queries)
    for where in ("in_process", "http"):
        figures = result[where]
        vector, lexical = figures["vector"]["p50_ms"], figures["lexical"]["p50_ms"]
        result[f"{where}_ratios"] = {
            "hybrid / vector p50": figures["hybrid"]["p50_ms"] / vector,
            "lexical with / without typo tolerance p50": lexical
            / figures["lexical, no typo tolerance"]["p50_ms"],
        }
    return result


def _interleaved(calls: Mapping[str, Callable[..., object]], queries: list[str]) -> dict:
    """p50/p99 of each call over every query, the calls taking turns query by query (so that
    the machine's noise falls on all of them alike: the ratios are what to read)."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for i, text in enumerate(queries):
        names = list(calls)
        for name in names[i % len(names) :] + names[: i % len(names)]:
            t0 = time.perf_counter()
            calls[name](text)
            times[name].append(time.perf_counter() - t0)
    return {name: _quantiles(spent) for name, spent in times.items()}


def _fts5_fallback(col: Collection, queries: list[str]) -> dict[str, float]:
    """Lexical top 10 through FTS5's bm25(), as before the accelerator is ready."""
    col._text._ready.clear()
    try:
        times = []
        for text in queries:
            t0 = time.perf_counter()
            col.search_text([text], k=10)
            times.append(time.perf_counter() - t0)
    finally:
        col._text._ready.set()
    return _quantiles(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=["fusion", "latency"])
    parser.add_argument("--datasets", default="scifact,cranfield")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.what == "fusion":
        result = fusion(args.datasets.split(","))
        names = list(result)
        print("| rule | " + " | ".join(names) + " | mean |")
        print("| --- |" + " ---: |" * (len(names) + 1))
        for rule in next(iter(result.values()))["rules"]:
            vals = [result[d]["rules"][rule] for d in names]
            print(
                f"| {rule} | " + " | ".join(f"{v:.4f}" for v in vals) + f" | {np.mean(vals):.4f} |"
            )
        print("\n| alpha | " + " | ".join(names) + " | mean |")
        print("| ---: |" + " ---: |" * (len(names) + 1))
        for alpha in ALPHAS:
            vals = [result[d]["alpha_sweep"][alpha] for d in names]
            print(
                f"| {alpha} | " + " | ".join(f"{v:.4f}" for v in vals) + f" | {np.mean(vals):.4f} |"
            )
    else:
        result = latency(args.n, args.queries)
        print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
