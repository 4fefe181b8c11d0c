"""The JSON record of one ``semsearch bench`` run: what ran, where, with what, and the figures.

One file per run (``report.write_record``). Each kind is a tagged Struct so a reader can load any
record with ``msgspec.json.decode(data, type=AnyRun)``.
"""

from __future__ import annotations

from typing import Any

import msgspec


class Machine(msgspec.Struct, kw_only=True):
    """Where the figures come from; they only compare on like machines."""

    cpu_count: int | None
    platform: str
    python: str
    packages: dict[str, str]
    git_commit: str | None
    git_dirty: bool | None


class Run(msgspec.Struct, kw_only=True, tag_field="kind"):
    started_at: str
    seconds: float
    command: list[str]
    params: dict[str, Any]
    machine: Machine


class QualityRow(msgspec.Struct, kw_only=True):
    """One ranking system over one split: the service, exact search on its vectors, or BM25."""

    system: str  # "service", "exact" or "bm25"
    model: str | None
    dimensions: int | None
    mode: str | None  # the /query "mode" (issue 7); None = the service's default
    metrics: dict[str, float]
    queries: int
    seconds: float
    """Wall time of the ranking step (queries only)."""
    overlap_at_10: float | None = None
    """Service top-10 shared with exact top-10: the index's own recall, model error aside."""
    default: bool = False
    """The row of a ``/query`` that named no mode: the collection's default."""
    typos: int | None = None
    """The seed of the misspelt query set (``bench quality --typos``), or None: as written."""
    passages: str | None = None
    """The collection's passages (``256/32``, ``off``), or None: as the server creates them."""


class IngestFigures(msgspec.Struct, kw_only=True):
    model: str
    dimensions: int | None
    documents: int
    seconds: float
    docs_per_s: float
    tokens: int


class CacheFigures(msgspec.Struct, kw_only=True):
    """``/v1/embeddings`` latency for texts never seen (miss, upstream call) then seen (hit)."""

    model: str
    upstream: str
    texts: int
    miss_p50_ms: float
    miss_p95_ms: float
    hit_p50_ms: float
    hit_p95_ms: float
    batch: int
    batch_miss_ms: float
    """Median over a few fresh batches of ``batch`` texts (all misses)."""
    batch_hit_ms: float
    cache_hits: float | None
    cache_misses: float | None


class QualityRun(Run, tag="quality"):
    dataset: str
    split: str
    documents: int
    skipped_documents: list[str]
    queries: int
    rows: list[QualityRow]
    ingest: list[IngestFigures]
    cache: CacheFigures | None = None


class AnnPoint(msgspec.Struct, kw_only=True):
    index: str  # "semsearch" (index.Collection) or "hnswlib"
    m: int
    ef_construction: int
    ef: int
    recall_at_10: float
    qps: float
    p50_ms: float
    p99_ms: float
    build_seconds: float


class AnnRun(Run, tag="ann"):
    source: str
    documents: int
    queries: int
    dimensions: int
    points: list[AnnPoint]


class LoadLevel(msgspec.Struct, kw_only=True):
    concurrency: int
    mode: str | None  # /query "mode" sent; None = the server's default
    requests: int
    errors: int
    seconds: float
    qps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    latency_quantiles_ms: list[float]
    """Latency at 0%, 0.1%, ..., 100%: the distribution in bounded size (a histogram of these
    points has the shape of the full one)."""


class LoadRun(Run, tag="load"):
    url: str
    collection: str
    ingest: IngestFigures | None
    levels: list[LoadLevel]


AnyRun = QualityRun | AnnRun | LoadRun
