"""``semsearch serve``: run the HTTP service under uvicorn.

We bind the socket ourselves so ``--port 0`` works: the kernel picks a free port, and once the
app's lifespan has started we print ``semsearch listening on http://HOST:PORT`` (one line,
flushed) for scripts and tests to read. uvicorn was measured against granian
(``benchmarks/README.md``) and kept: it was as fast for this app and accepts a pre-bound socket.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys

import uvicorn

from service.commands import Subparsers
from service.commands.startup import Logs, data_dir_in_use, describe
from service.settings import SETTINGS, Settings, SettingsError


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    secrets = "\n".join(f"  {s.env:<28} {s.help}" for s in SETTINGS if s.flag is None)
    parser = subparsers.add_parser(
        "serve",
        help="run the HTTP service",
        description="Run the semsearch HTTP service and its web console (http://HOST:PORT/).\n"
        "Each flag can also be set by the environment variable shown; a flag wins over its\n"
        "variable.",
        epilog=f"environment only (secrets stay off the command line):\n{secrets}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for setting in SETTINGS:
        if setting.flag is None:
            continue
        parser.add_argument(
            f"--{setting.flag}",
            dest=setting.name,
            default=None,
            metavar=setting.name.upper(),
            help=f"{setting.help} [env {setting.env}; default {_show(setting.default)}]",
        )
    return parser


def _show(value: object) -> str:
    if value in (None, ()):
        return "unset"
    return str(value)


def run(args: argparse.Namespace) -> int:
    flags = {s.name: getattr(args, s.name, None) for s in SETTINGS}
    try:
        settings = Settings.load(flags, os.environ)
    except SettingsError as exc:
        print(f"semsearch serve: configuration error: {exc}", file=sys.stderr)
        return 2
    in_use = data_dir_in_use(settings)
    if in_use is not None:
        print(f"semsearch serve: {in_use}", file=sys.stderr)
        return 1
    logs = Logs(settings.log_level)
    try:
        return _serve(settings, describe(settings, flags, os.environ), logs)
    finally:
        logs.close()


def _serve(settings: Settings, table: str, logs: Logs) -> int:
    logging.getLogger(__name__).info("%s", table)
    try:
        sock = _bind(settings.host, settings.port)
    except OSError as exc:
        print(
            f"semsearch serve: cannot bind {settings.host}:{settings.port}: {exc}", file=sys.stderr
        )
        return 2

    from service.app import create_app  # imported late: --help stays fast

    config = uvicorn.Config(
        create_app(settings),
        lifespan="on",
        access_log=False,
        log_level=settings.log_level,
        log_config=None,
        timeout_graceful_shutdown=10,
    )
    server = _Server(config, logs)
    server.run(sockets=[sock])
    return 0 if server.started else 1


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


class _Server(uvicorn.Server):
    """Announces the bound address once the lifespan has finished (model loaded, cache open),
    and writes the queued access lines once it has shut down."""

    def __init__(self, config: uvicorn.Config, logs: Logs) -> None:
        super().__init__(config)
        self.logs = logs

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets)
        self.logs.close()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and sockets:
            host, port = sockets[0].getsockname()[:2]
            shown = f"[{host}]" if ":" in host else host
            print(f"semsearch listening on http://{shown}:{port}", flush=True)
