"""``bench ann``: recall@10 against QPS over an ``ef_search`` sweep, like ann-benchmarks.

Our index (``index.Collection``, in process, SQLite and snapshots included) and raw hnswlib are
built with the same M and ef_construction on the same vectors in the same run, then queried one
query at a time on one thread at each ef. Recall is against exact cosine top-10, so the curve
shows what the index layer costs over the library it wraps.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import hnswlib
import numpy as np

from benchmarks.harness.schemas import AnnPoint
from service.commands.progress import Progress

K = 10
UPSERT_BATCH = 10_000


@dataclass
class AnnInputs:
    docs: np.ndarray
    queries: np.ndarray
    source: str


def normalized(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


def holdout(vectors: np.ndarray, n_queries: int) -> tuple[np.ndarray, np.ndarray]:
    """Queries are the last rows, kept out of the index (WordNet and ``.npy`` inputs)."""
    n_queries = min(n_queries, max(len(vectors) // 10, 1))
    return vectors[:-n_queries], vectors[-n_queries:]


def exact_top_k(docs: np.ndarray, queries: np.ndarray, k: int = K) -> np.ndarray:
    """Exact cosine top-k row indices per query, best first (the ground truth)."""
    d, q = normalized(docs), normalized(queries)
    k = min(k, len(d))
    out = []
    for start in range(0, len(q), 256):
        scores = q[start : start + 256] @ d.T
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        order = np.take_along_axis(scores, top, axis=1).argsort(axis=1)[:, ::-1]
        out.append(np.take_along_axis(top, order, axis=1))
    return np.concatenate(out) if out else np.zeros((0, k), dtype=np.int64)


def recall(found: Sequence[Sequence[int]], truth: np.ndarray) -> float:
    if not len(truth):
        return 0.0
    hits = sum(len(set(f) & set(t.tolist())) for f, t in zip(found, truth, strict=True))
    return hits / truth.size


def _timed(search: Callable[[np.ndarray], list[int]], queries: np.ndarray) -> tuple:
    for q in queries[: min(len(queries), 20)]:  # warm caches before timing
        search(q)
    latencies, found = [], []
    for q in queries:
        started = time.perf_counter()
        found.append(search(q))
        latencies.append(time.perf_counter() - started)
    return np.asarray(latencies), found


def _point(
    index: str, m: int, efc: int, ef: int, build: float, lat: np.ndarray, found: list, truth
) -> AnnPoint:
    ms = lat * 1000
    return AnnPoint(
        index=index,
        m=m,
        ef_construction=efc,
        ef=ef,
        recall_at_10=recall(found, truth),
        qps=float(len(lat) / lat.sum()) if lat.sum() > 0 else 0.0,
        p50_ms=float(np.percentile(ms, 50)),
        p99_ms=float(np.percentile(ms, 99)),
        build_seconds=build,
    )


def sweep_hnswlib(
    docs: np.ndarray, queries: np.ndarray, truth: np.ndarray, m: int, efc: int, efs: Sequence[int]
) -> list[AnnPoint]:
    started = time.perf_counter()
    index = hnswlib.Index(space="cosine", dim=docs.shape[1])
    index.init_index(max_elements=len(docs), M=m, ef_construction=efc, random_seed=100)
    index.add_items(docs, np.arange(len(docs)))
    build = time.perf_counter() - started
    index.set_num_threads(1)
    k = truth.shape[1]
    points = []
    for ef in efs:
        index.set_ef(ef)
        lat, found = _timed(lambda q: index.knn_query(q, k=k)[0][0].tolist(), queries)
        points.append(_point("hnswlib", m, efc, ef, build, lat, found, truth))
    return points


def sweep_semsearch(
    docs: np.ndarray, queries: np.ndarray, truth: np.ndarray, m: int, efc: int, efs: Sequence[int]
) -> list[AnnPoint]:
    from index import HnswParams, Store

    k = truth.shape[1]
    with tempfile.TemporaryDirectory(prefix="semsearch-ann-") as tmp:
        store = Store(Path(tmp))
        try:
            params = HnswParams(m=m, ef_construction=efc, ef_search=max(efs))
            collection = store.create_collection("ann", docs.shape[1], "cosine", params)
            started = time.perf_counter()
            ids = [str(i) for i in range(len(docs))]
            with Progress(f"semsearch build M={m}", total=len(docs)) as bar:
                for s in range(0, len(docs), UPSERT_BATCH):
                    collection.upsert(ids[s : s + UPSERT_BATCH], docs[s : s + UPSERT_BATCH])
                    bar.update(len(ids[s : s + UPSERT_BATCH]))
            build = time.perf_counter() - started
            points = []
            for ef in efs:

                def search(q: np.ndarray, ef: int = ef) -> list[int]:
                    return [int(h.id) for h in collection.query(q[None], k=k, ef=ef)[0]]

                lat, found = _timed(search, queries)
                points.append(_point("semsearch", m, efc, ef, build, lat, found, truth))
        finally:
            store.close()
    return points


def run_sweep(inputs: AnnInputs, ms: Sequence[int], efc: int, efs: Sequence[int]) -> list[AnnPoint]:
    truth = exact_top_k(inputs.docs, inputs.queries)
    points: list[AnnPoint] = []
    for m in ms:
        points += sweep_semsearch(inputs.docs, inputs.queries, truth, m, efc, efs)
        points += sweep_hnswlib(inputs.docs, inputs.queries, truth, m, efc, efs)
    return points
