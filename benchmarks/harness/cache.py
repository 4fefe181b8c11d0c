"""Embedding cache, hit against miss, through a server that has an upstream configured.

Texts get a per-run nonce so the first pass is certainly a miss (it goes upstream); the second
pass of the same texts is answered from the persistent cache. ``/metrics`` counters, when the
server exposes them, confirm what happened.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence

import numpy as np

from benchmarks.harness.client import SearchClient
from benchmarks.harness.schemas import CacheFigures

HITS = "semsearch_embedding_cache_hits_total"
MISSES = "semsearch_embedding_cache_misses_total"


def _counter(samples: dict[str, float], name: str) -> float:
    return sum(v for k, v in samples.items() if k == name or k.startswith(name + "{"))


def _latencies(api: SearchClient, texts: Sequence[str], model: str) -> np.ndarray:
    out = []
    for text in texts:
        started = time.perf_counter()
        api.embed([text], model)
        out.append(time.perf_counter() - started)
    return np.asarray(out) * 1000


def _once(api: SearchClient, texts: Sequence[str], model: str) -> float:
    started = time.perf_counter()
    api.embed(list(texts), model)
    return (time.perf_counter() - started) * 1000


def _batches(api: SearchClient, batches: Sequence[Sequence[str]], model: str) -> tuple:
    """Median ms of each fresh batch (misses), then of the same batches again (hits)."""
    miss = [_once(api, b, model) for b in batches]
    hit = [_once(api, b, model) for b in batches]
    return float(np.median(miss)), float(np.median(hit))


def measure_cache(
    api: SearchClient,
    model: str,
    texts: Sequence[str],
    upstream: str,
    n: int = 50,
    batch: int = 100,
    rounds: int = 5,
) -> CacheFigures:
    """Batch-of-1 latency for ``n`` texts missed then hit; median of ``rounds`` batches each way."""
    nonce = uuid.uuid4().hex[:10]
    pool = [t for t in texts if t.strip()] or ["semsearch cache probe"]
    singles = [f"{pool[i % len(pool)]} [{nonce}-{i}]" for i in range(n)]
    batched = [
        [f"{pool[i % len(pool)]} [{nonce}-b{r}-{i}]" for i in range(batch)] for r in range(rounds)
    ]
    before = api.metrics()
    miss = _latencies(api, singles, model)
    hit = _latencies(api, singles, model)
    batch_miss, batch_hit = _batches(api, batched, model)
    after = api.metrics()
    counted = bool(before) and bool(after)
    return CacheFigures(
        model=model,
        upstream=upstream,
        texts=n,
        miss_p50_ms=float(np.percentile(miss, 50)),
        miss_p95_ms=float(np.percentile(miss, 95)),
        hit_p50_ms=float(np.percentile(hit, 50)),
        hit_p95_ms=float(np.percentile(hit, 95)),
        batch=batch,
        batch_miss_ms=batch_miss,
        batch_hit_ms=batch_hit,
        cache_hits=_counter(after, HITS) - _counter(before, HITS) if counted else None,
        cache_misses=_counter(after, MISSES) - _counter(before, MISSES) if counted else None,
    )
