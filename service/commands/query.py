"""``semsearch query NAME "text"``: search a collection and print a readable table."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from typing import Any

from service.client import ClientError, add_connection_options, connect
from service.commands import Subparsers


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("query", help="search a collection", description=__doc__)
    parser.add_argument("collection", help="collection name")
    parser.add_argument("text", help="what to search for")
    parser.add_argument("-k", type=int, default=10, help="how many results (10)")
    parser.add_argument(
        "--mode",
        choices=["vector", "lexical", "hybrid"],
        help="search mode (default: the collection's default_mode)",
    )
    parser.add_argument(
        "--alpha",
        type=float,
        help="hybrid only: weight of the vector side, 0..1 (default: the collection's alpha)",
    )
    parser.add_argument(
        "--where", help='metadata filter as JSON, e.g. \'{"year": {"$gte": 2020}}\''
    )
    parser.add_argument("--json", action="store_true", help="print the raw JSON answer")
    add_connection_options(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"query": args.text, "k": args.k}
    if args.mode is not None:
        body["mode"] = args.mode
    if args.alpha is not None:
        body["alpha"] = args.alpha
    if args.where:
        try:
            body["where"] = json.loads(args.where)
        except json.JSONDecodeError as exc:
            print(f"semsearch query: --where is not valid JSON: {exc.msg}", file=sys.stderr)
            return 2
    with connect(args) as client:
        try:
            answer = client.request("POST", f"/collections/{args.collection}/query", body)
        except ClientError as exc:
            print(f"semsearch query: {exc}", file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps(answer, indent=2, ensure_ascii=False))
    else:
        print(format_table(answer["data"], shutil.get_terminal_size((120, 20)).columns))
    return 0


def format_table(hits: list[dict[str, Any]], width: int) -> str:
    if not hits:
        return "no results"
    id_width = min(max(len(h["id"]) for h in hits), 32)
    text_width = max(width - id_width - 17, 20)
    lines = [f"{'#':>3}  {'score':>7}  {'id':<{id_width}}  text", "-" * min(width, 120)]
    for rank, hit in enumerate(hits, start=1):
        text = " ".join((hit.get("text") or "").split())
        if len(text) > text_width:
            text = text[: text_width - 1] + "…"
        lines.append(f"{rank:>3}  {hit['score']:>7.4f}  {hit['id'][:id_width]:<{id_width}}  {text}")
    return "\n".join(lines)
