"""The service under test: our own ``semsearch serve --port 0`` on a temp data dir, or ``--url``.

Usage::

    with service(url=None, env={"SEMSEARCH_LOG_LEVEL": "warning"}) as url:
        ...  # a fresh server, stopped and its data dir removed on exit

Owning the server makes a run reproducible (empty data dir, known settings); ``--url`` measures
a server someone else runs, as it is configured. Servers are started by
``service.testing.ServerProcess``, the launcher the test suite uses too.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from service.testing import ServerProcess

START_TIMEOUT = 60.0  # seconds: a cold start loads the model, on a busy machine too


def own_server(
    data_dir: Path, env: Mapping[str, str] | None = None, args: Sequence[str] = ()
) -> ServerProcess:
    """A server in ``data_dir`` with this process's environment (plus ``env``): a benchmark
    measures the configuration it is run with. Not started yet."""
    return ServerProcess(
        data_dir,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        args=["--host", "127.0.0.1", *args],
    )


@contextlib.contextmanager
def service(
    url: str | None = None,
    env: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
    upstream: str | None = None,
    upstream_models: Sequence[str] = (),
) -> Iterator[str]:
    """Yield the base URL to benchmark: ``url`` as given, or a fresh server's.

    ``upstream="self"`` starts a second semsearch and routes ``upstream_models`` to it, so the
    embedding cache can be measured with no external API; any other value is used as the
    upstream base URL (``.../v1``) of our server.
    """
    if url is not None:
        yield url.rstrip("/")
        return
    with tempfile.TemporaryDirectory(prefix="semsearch-bench-") as tmp:
        servers: list[ServerProcess] = []
        try:
            extra = dict(env or {})
            if upstream == "self":
                first = own_server(Path(tmp) / "upstream", env)
                servers.append(first)
                upstream = first.start(START_TIMEOUT).v1
            if upstream is not None:
                extra["SEMSEARCH_UPSTREAM_URL"] = upstream
                if upstream_models:
                    extra["SEMSEARCH_UPSTREAM_MODELS"] = ",".join(upstream_models)
            main = own_server(Path(tmp) / "data", extra, args)
            servers.append(main)
            yield main.start(START_TIMEOUT).url
        finally:
            for server in reversed(servers):
                server.stop()
