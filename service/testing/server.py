"""A real ``semsearch serve`` process on a free loopback port, for tests and benchmarks.

Usage::

    with ServerProcess(tmp_path / "data", env=clean_env()) as server:
        httpx.get(server.url + "/healthz")
        server.restart()          # same data dir and env, new port
    # stopped (SIGTERM, then waited for) on exit

Like Litestar's ``subprocess_client`` and httpx's ``TestServer``: bind port 0, read the port the
server prints, wait for ``/healthz``. No fixed ports, so tests can run side by side. The one
launcher of the test suite and of the benchmark harness.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

# The directory holding the ``service`` package this process imported: the server runs from
# there, so it is the same code whether semsearch is installed, editable or a clone.
SOURCE_ROOT = Path(__file__).resolve().parents[2]
LISTENING = re.compile(r"^semsearch listening on (?P<url>http://\S+)$")
_STRIPPED_PREFIXES = ("SEMSEARCH_", "OPENAI_")


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without ``SEMSEARCH_*``/``OPENAI_*``, offline for HF."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_STRIPPED_PREFIXES)}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1")
    env.update(extra or {})
    return env


class ServerError(RuntimeError):
    """The server exited, or did not listen or answer ``/healthz``, within the timeout."""


class ServerProcess:
    """One ``semsearch serve`` subprocess; ``start``/``stop``/``kill``/``restart``."""

    def __init__(
        self,
        data_dir: Path,
        *,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
        log_path: Path | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.env = dict(env) if env is not None else clean_env()
        self.args = list(args)
        self.log_path = log_path or self.data_dir.parent / f"{self.data_dir.name}-server.log"
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._drainer: threading.Thread | None = None
        self.stdout: list[str] = []

    @property
    def v1(self) -> str:
        return self.url + "/v1"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def alive(self) -> bool:
        """Started and not exited (a soak checks the process outlived the load)."""
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 30.0) -> ServerProcess:
        command = [sys.executable, "-m", "service.cli", "serve", "--port", "0"]
        command += ["--data-dir", str(self.data_dir), *self.args]
        log = self.log_path.open("a")
        self._proc = subprocess.Popen(
            command,
            cwd=SOURCE_ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        log.close()
        self._lines = queue.Queue()
        self._drainer = threading.Thread(
            target=self._drain, args=(self._proc, self._lines), daemon=True
        )
        self._drainer.start()
        deadline = time.monotonic() + timeout
        while not self.url:
            try:
                line = self._lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                self.kill()
                message = f"server did not announce its port in {timeout}s{self._tail()}"
                raise ServerError(message) from None
            if line is None:
                code = self._proc.wait()
                raise ServerError(f"server exited with {code} before listening{self._tail()}")
            match = LISTENING.match(line)
            if match:
                self.url = match.group("url")
        self._wait_healthy(deadline)
        return self

    def _drain(self, proc: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
        assert proc.stdout is not None
        with proc.stdout:  # closed here, at EOF: no unclosed-pipe ResourceWarning
            for line in proc.stdout:
                self.stdout.append(line.rstrip("\n"))
                lines.put(line.rstrip("\n"))
        lines.put(None)

    def _wait_healthy(self, deadline: float) -> None:
        while True:
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise ServerError(f"{self.url}/healthz never answered 200{self._tail()}")
            time.sleep(0.05)

    def _tail(self) -> str:
        try:
            text = self.log_path.read_text()[-4000:]
        except OSError:
            text = ""
        return f"\n--- server log {self.log_path} ---\n{text}"

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then wait (uvicorn shuts down gracefully); SIGKILL if it hangs."""
        proc, self._proc = self._proc, None
        self.url = ""
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
        return self._reap(proc)

    def _reap(self, proc: subprocess.Popen[str]) -> int:
        code = proc.wait()
        if self._drainer is not None:
            self._drainer.join(timeout=5)
        return code

    def kill(self) -> None:
        """SIGKILL: a crash, with no shutdown code run."""
        proc, self._proc = self._proc, None
        self.url = ""
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            self._reap(proc)

    def restart(self, timeout: float = 30.0) -> ServerProcess:
        self.stop()
        return self.start(timeout)

    def metrics(self, headers: Mapping[str, str] | None = None) -> dict[str, float]:
        """``/metrics`` parsed to ``{'name{labels}': value}``."""
        text = httpx.get(self.url + "/metrics", headers=headers, timeout=5).raise_for_status().text
        samples = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                samples[name] = float(value)
        return samples

    def __enter__(self) -> ServerProcess:
        return self.start() if not self.url else self

    def __exit__(self, *exc: object) -> None:
        self.stop()
