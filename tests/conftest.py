"""Fixtures shared by the service and e2e tests: clean environment, real servers, upstreams."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from service.testing import FaultUpstream, ServerProcess, clean_env

# The pytest process itself must not read the developer's configuration either.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ServerFactory = Callable[..., ServerProcess]


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Strip ``SEMSEARCH_*``/``OPENAI_*`` from this process for every test, so a developer's
    own configuration never leaks in; returns the environment for subprocesses."""
    for key in list(os.environ):
        if key.startswith(("SEMSEARCH_", "OPENAI_")):
            monkeypatch.delenv(key)
    return clean_env()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[ServerFactory]:
    """``start_server(env={...}, args=[...], data_dir=...)``: started now, stopped at teardown."""
    servers: list[ServerProcess] = []

    def start(
        *, env: dict[str, str] | None = None, args: list[str] | None = None, data_dir=None
    ) -> ServerProcess:
        data = Path(data_dir) if data_dir else tmp_path / f"data{len(servers)}"
        server = ServerProcess(data, env=clean_env(env), args=args or [])
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def local_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One shared server with the defaults (local model, no auth) for read-mostly tests."""
    server = ServerProcess(tmp_path_factory.mktemp("local") / "data", env=clean_env())
    with server.start():
        yield server


@pytest.fixture
def fault_upstream() -> Iterator[FaultUpstream]:
    with FaultUpstream() as upstream:
        yield upstream
