"""``semsearch``: the command-line entry point.

Each built-in subcommand is a module in ``service.commands`` with ``add_parser(subparsers)`` and
``run(args) -> int`` (``service.commands.Command``), listed in ``COMMANDS``. Other packages add
commands through the entry-point group ``semsearch.commands``: the benchmark harness provides
``bench`` that way (``pyproject.toml``), so the service never imports it. A plugin's module is
imported only when its command runs or help is asked for: ``semsearch serve`` loads none.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import EntryPoint, entry_points

from service.commands import Command, Subparsers

COMMANDS = (
    "service.commands.serve",
    "service.commands.ingest",
    "service.commands.query",
)
ENTRY_POINTS = "semsearch.commands"
#: Commands other packages provide, and how to get them when they are not installed.
OPTIONAL = {
    "bench": "the benchmark harness is not installed here (the Docker image leaves it out); "
    "from a clone of semsearch: pip install '.[bench]'",
}


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser for ``argv``: every built-in command, and the plugin commands, each loaded
    only if ``argv`` names it (or is a plain ``--help``); one that cannot load says how to get
    it. The others are listed by name only, so a command never pays for importing them."""
    parser = argparse.ArgumentParser(
        prog="semsearch",
        description="Self-hosted semantic search and OpenAI-compatible embeddings.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        _add(subparsers, importlib.import_module(name))
    wanted = next((arg for arg in argv if not arg.startswith("-")), None)
    listing = wanted is None and bool({"-h", "--help"} & set(argv))
    plugins = {ep.name: ep for ep in entry_points(group=ENTRY_POINTS)}
    for name in sorted({*plugins, *OPTIONAL}):
        if not (listing or wanted == name):
            subparsers.add_parser(name, help=f"see semsearch {name} --help")
            continue
        command = _load(plugins.get(name))
        if command is None:
            _add_missing(subparsers, name)
        else:
            _add(subparsers, command)
    return parser


def _add(subparsers: Subparsers, command: Command) -> None:
    sub = command.add_parser(subparsers)
    sub.set_defaults(run=command.run)


def _load(entry_point: EntryPoint | None) -> Command | None:
    if entry_point is None:
        return None
    try:
        command: Command = entry_point.load()
    except ImportError:  # declared by the installed metadata, but its package is absent
        return None
    return command


def _add_missing(subparsers: Subparsers, name: str) -> None:
    hint = OPTIONAL.get(name, f"the package providing {name!r} failed to load")
    # No option prefix: every argument (--help included) is taken and ignored, as the command
    # can only say how to install it.
    sub = subparsers.add_parser(name, help="(not installed)", add_help=False, prefix_chars="\0")
    sub.add_argument("args", nargs="*")

    def run(args: argparse.Namespace) -> int:
        print(f"semsearch {name}: {hint}", file=sys.stderr)
        return 2

    sub.set_defaults(run=run)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
