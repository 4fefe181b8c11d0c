"""The service under test: our own ``semsearch serve --port 0`` on a temp data dir, or ``--url``.

Usage::

    with service(url=None, env={"SEMSEARCH_LOG_LEVEL": "warning"}) as url:
        ...  # a fresh server, stopped and its data dir removed on exit

Owning the server makes a run reproducible (empty data dir, known settings); ``--url`` measures
a server someone else runs, as it is configured.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import httpx

LISTENING = re.compile(r"^semsearch listening on (?P<url>http://\S+)$")


class ServerError(RuntimeError):
    pass


class OwnServer:
    """One ``semsearch serve`` subprocess; its stderr goes to ``log_path``."""

    def __init__(
        self, data_dir: Path, env: Mapping[str, str] | None = None, args: Sequence[str] = ()
    ) -> None:
        self.data_dir = data_dir
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.args = list(args)
        self.log_path = data_dir.parent / f"{data_dir.name}-server.log"
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None

    @property
    def pid(self) -> int:
        """The server process's id (``bench_soak.py`` reads its RSS from ``/proc``)."""
        if self._proc is None:
            raise ServerError("the server is not running")
        return self._proc.pid

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 60.0) -> str:
        command = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1"]
        command += ["--port", "0", "--data-dir", str(self.data_dir), *self.args]
        with self.log_path.open("a") as log:
            self._proc = subprocess.Popen(
                command, env=self.env, stdout=subprocess.PIPE, stderr=log, text=True
            )
        found: list[str] = []
        reader = threading.Thread(target=self._read_port, args=(found,), daemon=True)
        reader.start()
        reader.join(timeout)
        if not found:
            self.stop()
            raise ServerError(f"semsearch serve did not start{self._tail()}")
        self.url = found[0]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return self.url
            time.sleep(0.05)
        self.stop()
        raise ServerError(f"{self.url}/healthz never answered 200{self._tail()}")

    def _tail(self) -> str:
        """The end of the server's log: the temp dir holding it is gone once the run ends."""
        try:
            text = self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return ""
        return f"; its log ends:\n{text}"

    def _read_port(self, found: list[str]) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            match = LISTENING.match(line.strip())
            if match:
                found.append(match.group("url"))
                # Keep draining so the server never blocks on a full pipe.
                threading.Thread(target=self._drain, daemon=True).start()
                return

    def _drain(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        with self._proc.stdout:
            for _ in self._proc.stdout:
                pass

    def stop(self, timeout: float = 15.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


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
        servers: list[OwnServer] = []
        try:
            extra = dict(env or {})
            if upstream == "self":
                first = OwnServer(Path(tmp) / "upstream", env)
                servers.append(first)
                upstream = first.start() + "/v1"
            if upstream is not None:
                extra["SEMSEARCH_UPSTREAM_URL"] = upstream
                if upstream_models:
                    extra["SEMSEARCH_UPSTREAM_MODELS"] = ",".join(upstream_models)
            main = OwnServer(Path(tmp) / "data", extra, args)
            servers.append(main)
            yield main.start()
        finally:
            for server in reversed(servers):
                server.stop()
