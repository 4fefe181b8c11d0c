"""``bench quality``: nDCG@10, recall@10/100 and MRR@10 through the real service, beside exact
search over the same vectors and BM25.

For each model and ``dimensions`` value: create a collection, ingest the corpus over HTTP, run
the split's queries through ``/query`` (k=100; first with no ``mode``, which is the collection's
default, then once per mode when the service has modes; with ``--typos SEED`` each of those also
on the misspelt queries of ``typos.py``). Then fetch the stored document vectors back
(``?include=vector``), embed the queries through ``/v1/embeddings`` with the same model and
dimensions, and rank exactly: the gap between the ``service`` and ``exact`` rows is the index's
error, the gap between ``exact`` and BM25 is the model's. BM25 runs in process (``lexical``)
on the same texts.

``--passages`` (issue 12) creates the collection with those passage settings, one set of rows
per setting. A collection that splits documents has no one vector per document to rank
exactly: a collection with passages on (the server's default) has an ``exact`` row only when
every text is surely one passage (fewer UTF-8 bytes than the passage size); ask for
``--passages off`` beside it to get one in any case.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from benchmarks.harness.client import SearchClient, ingest_documents
from benchmarks.harness.datasets import Dataset
from benchmarks.harness.lexical import BM25
from benchmarks.harness.metrics import evaluate
from benchmarks.harness.schemas import IngestFigures, QualityRow
from benchmarks.harness.typos import typo_queries
from service.commands.progress import Progress
from service.passages import fits

DEPTH = 100  # ranking depth: recall@100 needs the top 100
QUERY_BATCH = 256


@dataclass
class Variant:
    """One (model, dimensions, passages) configuration to evaluate; ``None`` = the service's
    default. ``passages`` is ``"SIZE/OVERLAP"`` or ``"off"``."""

    model: str | None
    dimensions: int | None
    passages: str | None = None

    def passage_body(self) -> dict[str, int] | None:
        assert self.passages is not None
        if self.passages == "off":
            return None
        size, _, overlap = self.passages.partition("/")
        return {"size": int(size), "overlap": int(overlap or 0)}


def collection_name(dataset: str, i: int) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in dataset)[:32]
    return f"bench-{safe}-{i}-{uuid.uuid4().hex[:6]}"


def service_run(
    api: SearchClient,
    name: str,
    qids: Sequence[str],
    texts: Sequence[str],
    mode: str | None,
    depth: int = DEPTH,
) -> tuple[dict[str, list[str]], float, str | None]:
    """The service's ranking of every query, its wall time, and the mode the server used."""
    run: dict[str, list[str]] = {}
    used = mode
    started = time.perf_counter()
    with Progress(f"query {mode or 'default'}", total=len(qids)) as bar:
        for s in range(0, len(qids), QUERY_BATCH):
            hits, used = api.query_many(name, texts[s : s + QUERY_BATCH], k=depth, mode=mode)
            for qid, ranked in zip(qids[s : s + QUERY_BATCH], hits, strict=True):
                run[qid] = [h.id for h in ranked]
            bar.update(len(hits))
    return run, time.perf_counter() - started, used or mode


def exact_run(
    doc_ids: Sequence[str],
    doc_vectors: np.ndarray,
    qids: Sequence[str],
    queries: np.ndarray,
    depth: int = DEPTH,
) -> dict[str, list[str]]:
    """Brute-force cosine ranking (the collections' metric), ties to the smaller row."""
    d = doc_vectors / np.maximum(np.linalg.norm(doc_vectors, axis=1, keepdims=True), 1e-12)
    q = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
    k = min(depth, len(d))
    run = {}
    for s in range(0, len(q), 256):
        scores = q[s : s + 256] @ d.T
        for qid, row in zip(qids[s : s + 256], scores, strict=True):
            top = np.argpartition(-row, k - 1)[:k] if k < len(row) else np.arange(len(row))
            top = top[np.lexsort((top, -row[top]))]
            run[qid] = [doc_ids[i] for i in top]
    return run


def overlap_at_10(a: dict[str, list[str]], b: dict[str, list[str]]) -> float:
    shares = [len(set(a[q][:10]) & set(b[q][:10])) / max(min(10, len(b[q])), 1) for q in b]
    return float(np.mean(shares)) if shares else 0.0


def bm25_row(data: Dataset) -> QualityRow:
    started = time.perf_counter()
    bm25 = BM25(data.doc_ids, data.doc_texts)
    depth = _depth(data)
    run = {qid: [d for d, _ in bm25.search(text, depth)] for qid, text in data.queries.items()}
    run = data.without_self_hits(run)
    return QualityRow(
        system="bm25",
        model=None,
        dimensions=None,
        mode=None,
        metrics=evaluate(run, data.qrels),
        queries=len(run),
        seconds=time.perf_counter() - started,
    )


def _one_vector_each(info: dict[str, object], texts: Sequence[str]) -> bool:
    passages = info.get("passages")
    if not isinstance(passages, dict):
        return True
    return all(fits(text, int(passages["size"])) for text in texts)


ALL_MODES: tuple[str, ...] = ("vector", "lexical", "hybrid")


def _depth(data: Dataset) -> int:
    """Rank one more where a query's own document will be taken out (``Dataset.self_hits``)."""
    return DEPTH + 1 if data.self_hits else DEPTH


def evaluate_variant(
    api: SearchClient,
    data: Dataset,
    variant: Variant,
    index: int,
    modes: Sequence[str | None] | None = None,
    keep: bool = False,
    typos: Sequence[int] = (),
) -> tuple[list[QualityRow], IngestFigures]:
    """Rows for one model/dimensions: one per mode through the service, then exact.

    ``modes=None`` asks the server: the collection's default (no ``mode`` sent) first, then
    every mode side by side when ``/query`` takes ``"mode"`` (issue 7), else one row with the
    server's only behaviour (vector search). Each ``typos`` seed adds the same rows for the
    misspelt queries of that seed.
    """
    name = collection_name(data.name, index)
    passages = {} if variant.passages is None else {"passages": variant.passage_body()}
    info = api.create_collection(
        name, model=variant.model, dimensions=variant.dimensions, **passages
    )
    model, dims = info["model"], info["dimensions"]
    rows: list[QualityRow] = []
    try:
        figures = ingest_documents(
            api, name, data.doc_ids, data.doc_texts, model, variant.dimensions
        )
        qids = list(data.queries)
        texts = [data.queries[q] for q in qids]
        if modes is None:
            modes = (None, *ALL_MODES) if api.supports_modes(name, texts[0]) else (None,)
        query_sets: list[tuple[int | None, list[str]]] = [(None, texts)]
        query_sets += [(seed, typo_queries(texts, seed)) for seed in typos]
        runs: dict[str | None, dict[str, list[str]]] = {}
        for asked in modes:
            for seed, asked_texts in query_sets:
                run, seconds, mode = service_run(api, name, qids, asked_texts, asked, _depth(data))
                run = data.without_self_hits(run)
                if seed is None:
                    runs.setdefault(mode, run)
                rows.append(
                    QualityRow(
                        system="service",
                        model=model,
                        dimensions=dims,
                        mode=mode,
                        metrics=evaluate(run, data.qrels),
                        queries=len(qids),
                        seconds=seconds,
                        default=asked is None,
                        typos=seed,
                        passages=variant.passages,
                    )
                )
        if not _one_vector_each(info, data.doc_texts):
            return rows, figures  # documents may be split: no one vector each to rank exactly
        started = time.perf_counter()
        doc_ids, doc_vectors = api.document_vectors(name)
        query_vectors = api.embed(texts, model, variant.dimensions)
        exact = data.without_self_hits(
            exact_run(doc_ids, doc_vectors, qids, query_vectors, _depth(data))
        )
        rows.append(
            QualityRow(
                system="exact",
                model=model,
                dimensions=dims,
                mode="vector",
                passages=variant.passages,
                metrics=evaluate(exact, data.qrels),
                queries=len(qids),
                seconds=time.perf_counter() - started,
            )
        )
        for row in rows:  # only a vector ranking should equal the exact one
            if row.system == "service" and row.mode in (None, "vector") and row.typos is None:
                row.overlap_at_10 = overlap_at_10(runs[row.mode], exact)
    finally:
        if not keep:
            api.drop_collection(name)
    return rows, figures
