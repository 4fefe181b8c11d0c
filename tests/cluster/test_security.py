"""Ray's ports refuse a driver without the cluster's token (token authentication is on)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from service.testing import ServerProcess, clean_env
from service.testing.cluster import RayCluster
from tests.cluster.conftest import NEEDS_RAY

pytestmark = [NEEDS_RAY, pytest.mark.slow]

JOIN = "import ray, sys; ray.init(address=sys.argv[1], log_to_driver=False); print('joined')"


@pytest.mark.parametrize(
    "auth",
    [
        pytest.param({}, id="no-token"),
        pytest.param({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "0" * 64}, id="wrong-token"),
    ],
)
def test_a_driver_without_the_token_is_refused(
    ray_cluster: RayCluster, auth: dict[str, str], tmp_path
) -> None:
    done = _join(ray_cluster, auth, tmp_path)
    assert "joined" not in done.stdout
    assert done.returncode != 0
    assert "auth" in done.stderr.lower(), done.stderr[-2000:]


def test_the_token_lets_a_driver_in(ray_cluster: RayCluster, tmp_path) -> None:
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": ray_cluster.token}
    done = _join(ray_cluster, auth, tmp_path)
    assert "joined" in done.stdout, done.stderr[-2000:]


def _join(
    ray_cluster: RayCluster, auth: dict[str, str], home: Path
) -> subprocess.CompletedProcess[str]:
    """A driver process joining the cluster with only ``auth`` of Ray's settings, and a home
    with no ``~/.ray/auth_token`` to fall back on."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(auth, HOME=str(home))
    return subprocess.run(
        [sys.executable, "-c", JOIN, ray_cluster.address],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _listeners() -> list[str]:
    """``ADDRESS:PORT`` (as /proc prints them) of every listening TCP socket in this network
    namespace."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                if state == "0A":  # LISTEN
                    found.append(local)
    return found


def _loopback(address: str) -> bool:
    if len(address) == 8:  # IPv4, little-endian hex: 127.x.x.x ends in 7F
        return address.endswith("7F")
    # IPv6: ::1, or 127.x.x.x mapped (::ffff:7f..): /proc prints four little-endian words
    return address == "00000000000000000000000001000000" or (
        address.startswith("0000000000000000FFFF0000") and address.endswith("7F")
    )


def test_ray_auto_listens_on_loopback_only(loopback_only: None, tmp_path: Path) -> None:
    """``serve --ray auto`` starts a Ray of its own: every port it and its shards open is on
    127.0.0.1 (this namespace has only loopback, but a socket bound to every interface would
    still show as 0.0.0.0 / :: here)."""
    before = set(_listeners())
    server = ServerProcess(tmp_path / "data", env=clean_env({"SEMSEARCH_RAY_ADDRESS": "auto"}))
    with server.start(timeout=180), httpx.Client(base_url=server.url, timeout=120) as client:
        created = client.post("/collections", json={"name": "ports", "shards": 2})
        assert created.status_code == 201, created.text
        written = client.post(
            "/collections/ports/documents", json={"documents": [{"id": "a", "text": "hi"}]}
        )
        assert written.status_code == 200, written.text
        opened = [a.split(":")[0] for a in _listeners() if a not in before]
        assert len(opened) >= 3  # the server, Ray's GCS and raylet at least
        assert [a for a in opened if not _loopback(a)] == []
