"""Subcommands of the ``semsearch`` CLI, one module each (see ``service.cli``).

A command is a module (or any object) with ``add_parser(subparsers) -> ArgumentParser`` and
``run(args) -> int``; other distributions add commands through the ``semsearch.commands``
entry-point group, as the benchmark harness adds ``bench``.
"""

from __future__ import annotations

import argparse
from typing import Protocol, TypeAlias

# A string: argparse's class is generic only in typeshed, not at run time.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


class Command(Protocol):
    def add_parser(self, subparsers: Subparsers) -> argparse.ArgumentParser: ...

    def run(self, args: argparse.Namespace) -> int: ...
