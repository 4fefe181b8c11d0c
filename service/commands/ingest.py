"""semsearch ingest FILE --collection NAME: send documents to a server in batches.

Reads JSONL (a BEIR corpus.jsonl as it is), CSV with a header, a single .txt or .md file (one
document), or a directory of .txt/.md files (one document each). Each batch is one
all-or-nothing request; transient errors are retried. Empty documents are skipped and counted.
A rejected document stops the run with its id and the reason. A collection created here splits
long texts into passages as the server does by default, or as --passages SIZE/OVERLAP says
(--passages off: one vector per document, texts over the model's limit rejected).

With --ray ADDRESS (the ray extra), a sharded collection is filled through Ray Data instead:
JSONL (.gz too), CSV or Parquet, a file, a directory or an s3:// URL, embedded by a pool of
--embedders actors and written straight to the shards (service/cluster/ingest.py).
"""

from __future__ import annotations

import argparse
import sys
import time
from itertools import islice
from pathlib import Path
from typing import Any

from service.client import Client, ClientError, add_connection_options, connect
from service.commands import Subparsers
from service.commands.progress import Progress
from service.sources import SourceError, count_documents, read_documents


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "ingest",
        help="send documents from a file or directory to a collection",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("path", metavar="FILE", help="JSONL, CSV, a .txt/.md file, or a directory")
    parser.add_argument("--collection", "-c", required=True, help="collection name")
    parser.add_argument("--create", action="store_true", help="create the collection if missing")
    parser.add_argument("--model", help="model of a collection created by --create")
    parser.add_argument(
        "--passages",
        type=passage_setting,
        default=_SERVER_DEFAULT,
        metavar="SIZE/OVERLAP|off",
        help="passages of a collection created by --create, in the model's tokens "
        "(default: the server's; off: one vector per document)",
    )
    parser.add_argument("--batch", type=int, default=256, help="documents per request (256)")
    ray = parser.add_argument_group("on Ray (the ray extra; a sharded collection)")
    ray.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="read, embed and write on the Ray cluster at ADDRESS (auto: the local one the "
        "server started); FILE may then also be Parquet or an s3:// URL",
    )
    ray.add_argument("--embedders", type=int, default=2, help="embedding actors in the pool (2)")
    ray.add_argument(
        "--embedder-cpus", type=float, default=0.5, help="CPUs each embedding actor reserves"
    )
    add_connection_options(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    if args.ray is not None:
        return _run_on_ray(args)
    args.path = Path(args.path)
    if not args.path.exists():
        print(f"semsearch ingest: {args.path} does not exist", file=sys.stderr)
        return 2
    if not 1 <= args.batch <= 2048:
        print("semsearch ingest: --batch must be from 1 to 2048", file=sys.stderr)
        return 2
    with connect(args) as client:
        try:
            if args.create:
                _create(client, args.collection, args.model, args.passages)
            elif not _exists(client, args.collection):
                print(
                    f"semsearch ingest: there is no collection {args.collection!r}; "
                    "add --create to create it",
                    file=sys.stderr,
                )
                return 1
            return _ingest(client, args)
        except ClientError as exc:
            print(f"semsearch ingest: {exc}", file=sys.stderr)
            return 1
        except SourceError as exc:
            print(f"semsearch ingest: {exc}", file=sys.stderr)
            return 1


def _run_on_ray(args: argparse.Namespace) -> int:
    if "://" not in args.path and not Path(args.path).exists():
        print(f"semsearch ingest: {args.path} does not exist", file=sys.stderr)
        return 2
    if args.embedders < 1 or args.batch < 1:
        print("semsearch ingest: --embedders and --batch must be positive", file=sys.stderr)
        return 2
    try:
        # Imported here: Ray is an optional extra (service/cluster/ is the one place using it).
        from service.cluster.ingest import run_on_ray
    except ImportError as exc:
        print(f"semsearch ingest: --ray needs the ray extra ({exc})", file=sys.stderr)
        return 2
    with connect(args) as client:
        return run_on_ray(args, client)


def passage_setting(text: str) -> dict[str, int] | None:
    """``256/32`` -> ``{"size": 256, "overlap": 32}``; ``256`` -> overlap 0; ``off`` -> None."""
    if text == "off":
        return None
    size, _, overlap = text.partition("/")
    try:
        return {"size": int(size), "overlap": int(overlap or 0)}
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected SIZE/OVERLAP or off, got {text!r}") from None


_SERVER_DEFAULT: Any = object()


def _create(client: Client, name: str, model: str | None, passages: Any = _SERVER_DEFAULT) -> None:
    body: dict[str, Any] = {"name": name} | ({"model": model} if model else {})
    if passages is not _SERVER_DEFAULT:
        body["passages"] = passages
    try:
        client.request("POST", "/collections", body)
    except ClientError as exc:
        if exc.status != 409:  # already there is fine
            raise


def _exists(client: Client, name: str) -> bool:
    try:
        client.request("GET", f"/collections/{name}")
    except ClientError as exc:
        if exc.status == 404:
            return False
        raise
    return True


def _ingest(client: Client, args: argparse.Namespace) -> int:
    path = f"/collections/{args.collection}/documents"
    documents = read_documents(args.path)
    sent = skipped = tokens = 0
    started = time.perf_counter()
    with Progress(f"ingest {args.collection}", total=count_documents(args.path)) as progress:
        while batch := list(islice(documents, args.batch)):
            kept = [doc for doc in batch if doc["text"]]
            skipped += len(batch) - len(kept)
            if kept:
                try:
                    answer = client.request("POST", path, {"documents": kept})
                except ClientError as exc:
                    raise ClientError(exc.status, _name_document(exc, kept), exc.param) from None
                sent += answer["upserted"]
                tokens += answer["usage"]["total_tokens"]
            progress.update(len(batch))
    seconds = time.perf_counter() - started
    print(
        f"ingested {sent:,} documents into {args.collection!r} "
        f"({skipped:,} empty skipped), {tokens:,} tokens, "
        f"{seconds:.1f} s, {sent / max(seconds, 1e-9):,.0f} docs/s"
    )
    return 0


def _name_document(exc: ClientError, batch: list[dict[str, Any]]) -> str:
    """Turn ``documents[7].text`` into the id of the document the server rejected."""
    if exc.param and exc.param.startswith("documents["):
        index = int(exc.param.split("[", 1)[1].split("]", 1)[0])
        if index < len(batch):
            return f"document {batch[index]['id']!r} rejected: {exc.message}"
    return exc.message
