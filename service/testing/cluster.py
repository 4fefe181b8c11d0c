"""A Ray cluster of several "nodes" on this machine, for tests and benchmarks (issue 17).

Usage::

    with LoopbackNamespace(), RayCluster(tmp / "ray", nodes=2) as cluster:
        server = ServerProcess(data, env=clean_env(cluster.env())).start(timeout=120)

Each node is a ``ray start --block`` process of its own (the head, then ``--address`` joins),
with token authentication and a custom resource ``semsearch_node_<letter>`` that shards are
pinned by; stopping terminates exactly those processes (``ray start --block`` takes its
node's processes down with it), never anything found by name. :class:`LoopbackNamespace` moves
the calling thread (and the processes it starts from then on) into a new network namespace
whose only interface is loopback, so no Ray port is reachable from anywhere else.
"""

from __future__ import annotations

import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

CLONE_NEWNET = 0x40000000


class NamespaceError(OSError):
    """This process may not create a network namespace (not root, or a sandbox forbids it)."""


class LoopbackNamespace:
    """Enter a fresh network namespace with only ``lo`` up; leave it on exit."""

    def __init__(self) -> None:
        self._previous: int | None = None

    def __enter__(self) -> LoopbackNamespace:
        libc = ctypes.CDLL(None, use_errno=True)
        self._previous = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        if libc.unshare(CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            os.close(self._previous)
            raise NamespaceError(errno, f"unshare(CLONE_NEWNET): {os.strerror(errno)}")
        ip = shutil.which("ip") or "/usr/sbin/ip"
        subprocess.run([ip, "link", "set", "lo", "up"], check=True)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._previous is not None
        libc = ctypes.CDLL(None, use_errno=True)
        libc.setns(self._previous, CLONE_NEWNET)
        os.close(self._previous)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RayCluster:
    """``nodes`` Ray nodes on 127.0.0.1 under ``directory``, sharing one fresh token."""

    def __init__(self, directory: Path, nodes: int = 2, cpus: int = 1) -> None:
        self.directory = Path(directory)
        self.nodes = nodes
        self.cpus = cpus
        self.token = secrets.token_hex(32)
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self._procs: list[subprocess.Popen[bytes]] = []

    def env(self) -> dict[str, str]:
        """What a driver (the server, ``ingest --ray``) needs to join: address and token."""
        return {
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": self.token,
            "SEMSEARCH_RAY_ADDRESS": self.address,
        }

    def start(self, timeout: float = 120.0) -> RayCluster:
        self.directory.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token}
        ray = [sys.executable, "-m", "ray.scripts.scripts", "start", "--block"]
        common = ["--node-ip-address", "127.0.0.1", "--num-cpus", str(self.cpus)]
        for i in range(self.nodes):
            letter = chr(ord("a") + i)
            resources = f'{{"semsearch_node_{letter}": 1}}'
            if i == 0:
                args = ["--head", "--port", str(self.port), "--include-dashboard", "false"]
                args += ["--temp-dir", str(self.directory)]
            else:
                args = ["--address", self.address]
            log = (self.directory.parent / f"ray-node-{letter}.log").open("ab")
            self._procs.append(
                subprocess.Popen(
                    [*ray, *common, *args, "--resources", resources],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
            log.close()
            self._wait_for_nodes(i + 1, time.monotonic() + timeout)
        return self

    def _wait_for_nodes(self, count: int, deadline: float) -> None:
        """Until ``count`` nodes are alive (asked through ``ray`` in a subprocess, so this
        process need not import Ray)."""
        script = (
            "import ray, sys; ray.init(address=sys.argv[1], log_to_driver=False); "
            "print(sum(1 for n in ray.nodes() if n['Alive']))"
        )
        env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token}
        while time.monotonic() < deadline:
            for proc in self._procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"a ray node exited with {proc.returncode}")
            done = subprocess.run(
                [sys.executable, "-c", script, self.address],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            lines = done.stdout.strip().splitlines()
            if done.returncode == 0 and lines and int(lines[-1]) >= count:
                return
            time.sleep(0.5)
        raise RuntimeError(f"the Ray cluster did not reach {count} nodes in time")

    def stop(self) -> None:
        for proc in reversed(self._procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self._procs):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # the group this cluster started
                proc.wait()
        self._procs.clear()

    def __enter__(self) -> RayCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
