"""What ``semsearch bench quality|ann|load`` run: server, measurement, table, JSON, plots.

``benchmarks/harness/cli.py`` parses the arguments and imports this module only when a bench
subcommand actually runs, so building the CLI's parser never loads numpy-heavy harness code or
matplotlib.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from benchmarks.harness import ann, cache, load, quality, report
from benchmarks.harness.client import ApiError, SearchClient, ingest_documents
from benchmarks.harness.datasets import DatasetError, load_beir
from benchmarks.harness.schemas import AnnRun, LoadRun, QualityRow, QualityRun
from benchmarks.harness.server import service
from service.client import ClientSettings
from service.testing import ServerError

QUIET_SERVER = {"SEMSEARCH_LOG_LEVEL": "warning"}


def reported(runner: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Service and server failures end the run with their message and exit status 1."""

    @functools.wraps(runner)
    def run(args: argparse.Namespace) -> int:
        try:
            return runner(args)
        except (ApiError, ServerError, httpx.HTTPError) as exc:
            print(f"semsearch bench {args.bench_command}: {exc}", file=sys.stderr)
            return 1

    return run


def _params(args: argparse.Namespace) -> dict[str, Any]:
    skip = {"run", "command", "bench_command", "api_key"}  # never record secrets
    return {
        k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k not in skip
    }


def _api_key(args: argparse.Namespace) -> str | None:
    """``--api-key``, else ``SEMSEARCH_API_KEY``: the CLI client's setting."""
    return ClientSettings.load({"api_key": args.api_key}, os.environ).api_key


def _finish(run: Any, args: argparse.Namespace, stem: str, table: str) -> Path:
    print(table)
    path = report.write_record(run, args.output, stem)
    print(f"\nrecord: {path}", file=sys.stderr)
    return path


# -- quality ----------------------------------------------------------------------------------


def _quality_table(rows: list[QualityRow]) -> str:
    body = [
        [
            r.system,
            r.model or "–",
            r.dimensions,
            r.passages or "–",
            (r.mode or "–") + (" (default)" if r.default else ""),
            "as written" if r.typos is None else f"typos {r.typos}",
            r.metrics["ndcg@10"],
            r.metrics["recall@10"],
            r.metrics["recall@100"],
            r.metrics["mrr@10"],
            r.overlap_at_10,
        ]
        for r in rows
    ]
    headers = ["system", "model", "dims", "passages", "mode", "queries", "nDCG@10", "R@10"]
    headers += ["R@100", "MRR@10"]
    return report.markdown_table([*headers, "top-10 = exact"], body)


@reported
def run_quality(args: argparse.Namespace) -> int:
    started, began = report.now_iso(), time.perf_counter()
    try:
        data = load_beir(args.dataset, args.split)
    except DatasetError as exc:
        print(f"semsearch bench quality: {exc}", file=sys.stderr)
        return 2
    if not data.has_labels:
        print(
            f"semsearch bench quality: {args.dataset} has no qrels/{args.split}.tsv",
            file=sys.stderr,
        )
        return 2
    variants = [
        quality.Variant(m, d, p)
        for m in (args.model or [None])
        for d in (args.dimensions or [None])
        for p in (args.passages or [None])
    ]
    modes = list(args.mode) if args.mode else None  # None: all the server has
    upstream = args.upstream or (None if args.url else os.environ.get("SEMSEARCH_UPSTREAM_URL"))
    cache_model = args.cache_model or (args.model[0] if args.model else None)
    rows: list[QualityRow] = []
    ingests = []
    figures = None
    upstream_models = [m for m in (args.model or []) if m] or ["wordllama-l2-supercat"]
    with service(
        args.url, QUIET_SERVER, upstream=args.upstream, upstream_models=upstream_models
    ) as url:
        with SearchClient(url, _api_key(args)) as api:
            for i, variant in enumerate(variants):
                got, ingest = quality.evaluate_variant(
                    api, data, variant, i, modes, args.keep, args.typos or ()
                )
                rows += got
                ingests.append(ingest)
            if upstream or args.cache_model:
                model = cache_model or ingests[0].model
                figures = cache.measure_cache(
                    api, model, list(data.queries.values()), upstream or "(server's own)"
                )
    rows.append(quality.bm25_row(data))  # the reference last: the service's default row leads
    run = QualityRun(
        started_at=started,
        seconds=time.perf_counter() - began,
        command=sys.argv,
        params=_params(args),
        machine=report.machine_info(),
        dataset=data.name,
        split=args.split,
        documents=len(data.doc_ids),
        skipped_documents=data.skipped_docs,
        queries=len(data.queries),
        rows=rows,
        ingest=ingests,
        cache=figures,
    )
    table = _quality_table(rows)
    table += "\n\n" + report.markdown_table(
        ["ingest model", "dims", "docs", "seconds", "docs/s"],
        [[g.model, g.dimensions, g.documents, g.seconds, g.docs_per_s] for g in ingests],
    )
    if figures is not None:
        table += "\n\n" + report.markdown_table(
            ["embedding cache", "p50 ms", "p95 ms", f"batch of {figures.batch} ms"],
            [
                [
                    "miss (upstream)",
                    figures.miss_p50_ms,
                    figures.miss_p95_ms,
                    figures.batch_miss_ms,
                ],
                ["hit", figures.hit_p50_ms, figures.hit_p95_ms, figures.batch_hit_ms],
            ],
        )
    note = f"{data.name}/{args.split}: {len(data.doc_ids)} docs"
    note += f" ({len(data.skipped_docs)} empty, skipped), {len(data.queries)} queries\n\n"
    _finish(run, args, report.run_stem("quality", data.name), note + table)
    return 0


# -- ann --------------------------------------------------------------------------------------


def _ann_inputs(args: argparse.Namespace) -> ann.AnnInputs:
    if args.vectors is not None:
        vectors = np.load(args.vectors).astype(np.float32)
        if args.limit:
            vectors = vectors[: args.limit + args.queries]
        docs, queries = ann.holdout(vectors, args.queries)
        return ann.AnnInputs(docs, queries, str(args.vectors))
    data = load_beir(args.dataset, args.split, args.limit)
    model = args.model or "wordllama-l2-supercat"
    with service(args.url, QUIET_SERVER) as url, SearchClient(url, _api_key(args)) as api:
        docs = api.embed(data.doc_texts, model, args.dimensions)
        if data.queries:
            queries = api.embed(list(data.queries.values())[: args.queries], model, args.dimensions)
        else:
            docs, queries = ann.holdout(docs, args.queries)
    return ann.AnnInputs(docs, queries, f"{args.dataset} ({model})")


@reported
def run_ann(args: argparse.Namespace) -> int:
    started, began = report.now_iso(), time.perf_counter()
    try:
        inputs = _ann_inputs(args)
    except (DatasetError, OSError, ValueError) as exc:
        print(f"semsearch bench ann: {exc}", file=sys.stderr)
        return 2
    points = ann.run_sweep(inputs, args.m, args.ef_construction, args.ef)
    run = AnnRun(
        started_at=started,
        seconds=time.perf_counter() - began,
        command=sys.argv,
        params=_params(args),
        machine=report.machine_info(),
        source=inputs.source,
        documents=len(inputs.docs),
        queries=len(inputs.queries),
        dimensions=int(inputs.docs.shape[1]),
        points=points,
    )
    name = Path(args.vectors or args.dataset).name.removesuffix(".npy")
    stem = report.run_stem("ann", name)
    table = report.markdown_table(
        ["index", "M", "ef", "recall@10", "QPS", "p50 ms", "p99 ms", "build s"],
        [
            [p.index, p.m, p.ef, p.recall_at_10, p.qps, p.p50_ms, p.p99_ms, p.build_seconds]
            for p in points
        ],
    )
    head = f"{run.documents} docs, {run.queries} queries, d={run.dimensions}\n\n"
    _finish(run, args, stem, head + table)
    if not args.no_plots:
        report.plot_recall_qps(
            points, args.output / f"{stem}-recall-qps.png", f"{name}: {head.strip()}"
        )
    return 0


# -- load -------------------------------------------------------------------------------------


def _query_texts(data: Any, n: int = 10_000) -> list[str]:
    texts = list(data.queries.values()) or [t for t in data.doc_titles if t] or data.doc_texts
    if len(texts) > n:
        pick = np.random.default_rng(0).choice(len(texts), n, replace=False)
        texts = [texts[i] for i in sorted(pick)]
    return texts


@reported
def run_load(args: argparse.Namespace) -> int:
    started, began = report.now_iso(), time.perf_counter()
    if args.url is None and args.dataset is None:
        print("semsearch bench load: give --url, --dataset, or both", file=sys.stderr)
        return 2
    data = None
    if args.dataset is not None:
        try:
            data = load_beir(args.dataset, args.split, args.limit)
        except DatasetError as exc:
            print(f"semsearch bench load: {exc}", file=sys.stderr)
            return 2
    key = _api_key(args)
    with service(args.url, QUIET_SERVER) as url, SearchClient(url, key) as api:
        ingest = None
        if data is not None:
            info = api.create_collection(args.collection, model=args.model)
            ingest = ingest_documents(
                api, args.collection, data.doc_ids, data.doc_texts, info["model"], batch=args.batch
            )
            texts = _query_texts(data)
        else:
            texts = api.document_texts(args.collection)
        levels = []
        for mode in args.mode or [None]:
            plan = load.LoadPlan(
                url, key, args.collection, texts, args.duration, args.max_requests, mode=mode
            )
            levels += load.run_levels(plan, args.concurrency)
    run = LoadRun(
        started_at=started,
        seconds=time.perf_counter() - began,
        command=sys.argv,
        params=_params(args),
        machine=report.machine_info(),
        url=args.url or "(own server)",
        collection=args.collection,
        ingest=ingest,
        levels=levels,
    )
    table = ""
    if ingest is not None:
        table = (
            report.markdown_table(
                ["ingest", "docs", "seconds", "docs/s"],
                [[ingest.model, ingest.documents, ingest.seconds, ingest.docs_per_s]],
            )
            + "\n\n"
        )
    table += report.markdown_table(
        ["mode", "concurrency", "requests", "errors", "QPS", "p50 ms", "p95 ms", "p99 ms"],
        [
            [
                v.mode or "–",
                v.concurrency,
                v.requests,
                v.errors,
                v.qps,
                v.p50_ms,
                v.p95_ms,
                v.p99_ms,
            ]
            for v in levels
        ],
    )
    stem = report.run_stem("load", args.collection)
    _finish(run, args, stem, table)
    if not args.no_plots:
        report.plot_latency_histogram(levels, args.output / f"{stem}-latency.png", args.collection)
    return 0
