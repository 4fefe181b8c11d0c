"""One two-node Ray cluster and one server on it for every test here, all inside a network
namespace whose only interface is loopback (issue 17): no Ray port is reachable from anywhere
else. Skipped, saying why, without the ray extra or where namespaces are not permitted.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from benchmarks.harness.datasets import SHARED_DATASETS
from service.testing import ServerProcess, clean_env
from service.testing.cluster import LoopbackNamespace, NamespaceError, RayCluster

HAS_RAY = importlib.util.find_spec("ray") is not None
NEEDS_RAY = pytest.mark.skipif(
    not HAS_RAY, reason='the ray extra is not installed (pip install -e ".[test,ray]")'
)


@pytest.fixture(scope="session")
def loopback_only() -> Iterator[None]:
    if not HAS_RAY:
        pytest.skip('the ray extra is not installed (pip install -e ".[test,ray]")')
    try:
        namespace = LoopbackNamespace().__enter__()
    except (NamespaceError, subprocess.CalledProcessError, FileNotFoundError) as exc:
        pytest.skip(f"cannot make a loopback-only network namespace here: {exc}")
    try:
        yield
    finally:
        namespace.__exit__()


@pytest.fixture(scope="session")
def ray_cluster(
    loopback_only: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RayCluster]:
    """Two "nodes" (``ray start --head`` and ``ray start --address``) with token auth; two
    logical CPUs each, so Ray Data's one-CPU tasks fit beside half-CPU embedding actors."""
    with RayCluster(tmp_path_factory.mktemp("cluster") / "ray", nodes=2, cpus=2) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def cluster_server(
    ray_cluster: RayCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp("front") / "data"
    server = ServerProcess(data, env=clean_env(ray_cluster.env()))
    with server.start(timeout=180):
        yield server


@pytest.fixture
def client(cluster_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cluster_server.url, timeout=120) as c:
        yield c


def ray_script(cluster: RayCluster, code: str) -> str:
    """Run ``code`` in a Ray driver of its own (so this process never imports Ray) and
    return what it prints; ``ray`` is imported and connected in the namespace semsearch."""
    script = (
        "import ray, sys\n"
        "ray.init(address=sys.argv[1], namespace='semsearch', log_to_driver=False)\n" + code
    )
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": cluster.token}
    done = subprocess.run(
        [sys.executable, "-c", script, cluster.address],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def shard_pid(cluster: RayCluster, collection: str, number: int) -> int:
    out = ray_script(
        cluster,
        f"print(ray.get(ray.get_actor('shard:{collection}:{number}').ping.remote()))",
    )
    return int(out.strip().splitlines()[-1])


SCIFACT = SHARED_DATASETS / "scifact"
