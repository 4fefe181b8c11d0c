"""``semsearch``: the command-line entry point.

Each subcommand is a module in ``service.commands`` with ``add_parser(subparsers)`` and
``run(args) -> int``; list it in ``COMMANDS`` to register it (``ingest``, ``query`` and ``bench``
arrive this way later).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

COMMANDS = (
    "service.commands.serve",
    "service.commands.ingest",
    "service.commands.query",
    "service.commands.bench",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="semsearch",
        description="Self-hosted semantic search and OpenAI-compatible embeddings.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(name)
        sub = module.add_parser(subparsers)
        sub.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
