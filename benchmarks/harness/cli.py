"""``semsearch bench quality|ann|load``: the benchmark harness (issue 6) from the command line.

    semsearch bench quality --dataset DIR [--split test] [--model M ...] [--dimensions D ...]
    semsearch bench ann --dataset DIR | --vectors FILE.npy [--ef 16,32,64,128,256]
    semsearch bench load [--url URL] --collection NAME [--dataset DIR] [--concurrency 1,4,16]

A command of the ``semsearch`` CLI that this package provides through the entry-point group
``semsearch.commands`` (``pyproject.toml``); the service never imports it. Only argparse is
imported here: the measurement code (numpy, hnswlib, matplotlib) is imported in ``run`` alone.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from service.commands import Subparsers

DEFAULT_OUTPUT = Path("benchmarks/.runs")


def _ints(raw: str) -> list[int]:
    try:
        values = [int(v) for v in raw.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {raw!r}"
        ) from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {raw!r}")
    return values


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url", help="benchmark this running server (default: start one in a temp data dir)"
    )
    parser.add_argument("--api-key", help="bearer key for --url [env SEMSEARCH_API_KEY]")
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help=f"directory for the JSON record and plots (default {DEFAULT_OUTPUT})",
    )


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "bench",
        help="benchmark retrieval quality, index speed/recall and service load",
        description="Measure retrieval quality (BEIR datasets), the index's recall/speed curve "
        "and the service under load. Each run prints Markdown tables, writes a JSON record and, "
        "with matplotlib (the 'bench' extra), PNG plots.",
    )
    kinds = parser.add_subparsers(dest="bench_command", required=True, metavar="KIND")

    q = kinds.add_parser("quality", help="nDCG@10, recall@10/100, MRR@10 on a BEIR dataset")
    q.add_argument("--dataset", type=Path, required=True, help="BEIR-format directory")
    q.add_argument("--split", default="test", help="qrels/SPLIT.tsv (default test)")
    q.add_argument("--model", action="append", help="model id (repeatable; default: server's)")
    q.add_argument("--dimensions", type=int, action="append", help="dimensions (repeatable)")
    q.add_argument(
        "--passages",
        action="append",
        metavar="SIZE/OVERLAP|off",
        type=_passages,
        help="passage settings of the collection (repeatable: one row per setting; "
        "default: the server's)",
    )
    q.add_argument(
        "--mode",
        action="append",
        choices=["vector", "lexical", "hybrid"],
        help="/query mode (repeatable); default: all three when the server has modes "
        "(issue 7), else plain vector search",
    )
    q.add_argument(
        "--upstream",
        metavar="self|URL",
        help="own server embeds through this upstream (self: a second semsearch); "
        "also measures the embedding cache, hit vs miss",
    )
    q.add_argument(
        "--typos",
        type=int,
        action="append",
        metavar="SEED",
        help="also run every mode on misspelt queries: one random edit in one word of 4+ "
        "letters per query, seeded (repeatable)",
    )
    q.add_argument("--cache-model", help="measure the cache with this model (e.g. with --url)")
    q.add_argument("--keep", action="store_true", help="keep the benchmark collections")
    _common(q)

    a = kinds.add_parser("ann", help="recall@10 vs QPS over an ef_search sweep, vs raw hnswlib")
    source = a.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", type=Path, help="BEIR-format directory (embedded first)")
    source.add_argument("--vectors", type=Path, help=".npy float32 [n, d]; last rows = queries")
    a.add_argument("--split", default="test")
    a.add_argument(
        "--ef",
        type=_ints,
        default=[16, 32, 64, 128, 256],
        metavar="N,N,...",
        help="ef_search values",
    )
    a.add_argument("--m", type=_ints, default=[16], metavar="N,N,...", help="HNSW M values")
    a.add_argument("--ef-construction", type=int, default=200)
    a.add_argument("--queries", type=int, default=1000, help="queries (held out when unlabeled)")
    a.add_argument("--limit", type=int, help="use the first N documents only")
    a.add_argument("--model", help="embedding model for --dataset (default: the local one)")
    a.add_argument("--dimensions", type=int)
    a.add_argument("--no-plots", action="store_true")
    _common(a)

    ld = kinds.add_parser("load", help="ingest docs/s, query latency and QPS by concurrency")
    ld.add_argument(
        "--collection", required=True, help="collection to query (created if --dataset)"
    )
    ld.add_argument("--dataset", type=Path, help="ingest this corpus into a new --collection first")
    ld.add_argument("--split", default="test")
    ld.add_argument("--limit", type=int, help="ingest the first N documents only")
    ld.add_argument("--model", help="model of the created collection (default: server's)")
    ld.add_argument("--batch", type=int, default=256, help="documents per ingest request")
    ld.add_argument(
        "--concurrency", type=_ints, default=[1, 4, 16], metavar="N,N,...", help="levels"
    )
    ld.add_argument("--duration", type=float, default=30.0, help="seconds per level (bound)")
    ld.add_argument("--max-requests", type=int, default=50_000, help="requests per level (bound)")
    ld.add_argument(
        "--mode",
        action="append",
        choices=["vector", "lexical", "hybrid"],
        help="/query mode (repeatable: all levels per mode); default: not sent",
    )
    ld.add_argument("--no-plots", action="store_true")
    _common(ld)
    return parser


def _passages(text: str) -> str:
    """``256/32``, ``256`` (no overlap) or ``off``: checked here, sent by ``quality``."""
    size, _, overlap = text.partition("/")
    if text != "off" and not (size.isdigit() and (overlap.isdigit() or not overlap)):
        raise argparse.ArgumentTypeError(f"expected SIZE/OVERLAP or off, got {text!r}")
    return text


def run(args: argparse.Namespace) -> int:
    from benchmarks.harness import commands  # lazy: see the module docstring

    runners = {"quality": commands.run_quality, "ann": commands.run_ann, "load": commands.run_load}
    return runners[args.bench_command](args)
