"""semsearch query NAME "text": search a collection and print the hits as a readable table.

Each hit shows its rank, score and id, then its whole text wrapped to the terminal's width
(--json prints the server's answer as it is)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import textwrap
from typing import Any

from service.client import ClientError, add_connection_options, connect
from service.commands import Subparsers


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "query",
        help="search a collection",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
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
    """Rank, score, id, then the text wrapped in its own column; a blank line between hits
    whose text takes more than one line."""
    if not hits:
        return "no results"
    id_width = min(max(len(h["id"]) for h in hits), 32)
    indent = 3 + 2 + 7 + 2 + id_width + 2
    text_width = max(width - indent, 20)
    lines = [f"{'#':>3}  {'score':>7}  {'id':<{id_width}}  text", "-" * min(width, 120)]
    for rank, hit in enumerate(hits, start=1):
        text = " ".join((hit.get("text") or "").split())
        wrapped = textwrap.wrap(text, text_width, break_on_hyphens=False) or [""]
        head = f"{rank:>3}  {hit['score']:>7.4f}  {hit['id'][:id_width]:<{id_width}}  "
        lines.append(head + wrapped[0])
        lines.extend(" " * indent + line for line in wrapped[1:])
        if len(wrapped) > 1 and rank < len(hits):
            lines.append("")
    return "\n".join(lines)
