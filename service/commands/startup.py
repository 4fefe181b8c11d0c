"""What ``semsearch serve`` checks and shows before uvicorn starts.

``data_dir_in_use`` lets a second server on a data directory stop with one line naming the
owner's pid, before uvicorn logs anything (the app's lifespan would otherwise fail after
"Started server process", with a traceback). ``describe`` renders the settings in force as a
short table: the other upstream rows only when an upstream is configured, secrets masked.
``Logs`` sends the access log's lines through a queue to a thread that writes them, so the event
loop never waits on a write to stderr (a file or a pipe) for one.
"""

from __future__ import annotations

import logging
import queue
import sys
from collections.abc import Mapping
from logging.handlers import QueueHandler, QueueListener
from typing import Any

from index import Store, StoreLockedError
from service.settings import SETTINGS, Settings
from service.telemetry import ACCESS_LOGGER


def data_dir_in_use(settings: Settings) -> str | None:
    """Why the data directory cannot be used (another process owns it), or ``None``.

    Takes the directory's lock and gives it back at once; the app takes it again in its
    lifespan (which still refuses, should another server slip in between)."""
    try:
        Store(settings.data_dir).close()
    except StoreLockedError as exc:
        return exc.message
    return None


def describe(settings: Settings, flags: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    """``settings`` as aligned rows of name, value and where the value came from."""
    values = settings.redacted()
    rows = []
    for setting in SETTINGS:
        upstream_only = setting.name.startswith("upstream_") and setting.name != "upstream_url"
        if upstream_only and settings.upstream_url is None:
            continue
        if flags.get(setting.name) is not None:
            source = f"--{setting.flag}"
        elif environ.get(setting.env):
            source = setting.env
        elif setting.fallback_env and environ.get(setting.fallback_env):
            source = setting.fallback_env
        else:
            source = "default"
        rows.append((setting.name, _show(values[setting.name]), source))
    name_width = max(len(name) for name, _, _ in rows)
    value_width = min(max(len(value) for _, value, _ in rows), 48)
    lines = [f"  {n:<{name_width}}  {v:<{value_width}}  {s}" for n, v, s in rows]
    return "settings:\n" + "\n".join(lines)


class Logs:
    """Logging to stderr at ``level``; the access log's lines go through a queue to a thread.

    Only the access lines take the queue: everything else (errors, tracebacks, start-up and
    shutdown) is written at once, so nothing of it is lost if the process then dies. ``close()``
    writes the lines still queued; it is called when the server has shut down (uvicorn may end
    the process with the signal it caught right after) and again, harmlessly, on exit.
    """

    def __init__(self, level: str) -> None:
        stderr = logging.StreamHandler(sys.stderr)
        stderr.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.setLevel(level.upper())
        root.addHandler(stderr)
        records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        access = logging.getLogger(ACCESS_LOGGER)
        access.addHandler(QueueHandler(records))
        access.propagate = False
        self._listener: QueueListener | None = QueueListener(records, stderr)
        self._listener.start()

    def close(self) -> None:
        if self._listener is not None:
            self._listener.stop()
            self._listener = None


def _show(value: Any) -> str:
    if value is None or value == () or value == []:
        return "-"
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value)
    return str(value)
