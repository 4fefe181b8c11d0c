"""Ray's ports refuse a driver without the cluster's token (token authentication is on)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

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
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(auth, HOME=str(tmp_path))  # no ~/.ray/auth_token to fall back on
    done = subprocess.run(
        [sys.executable, "-c", JOIN, ray_cluster.address],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "joined" not in done.stdout
    assert done.returncode != 0
    assert "auth" in done.stderr.lower(), done.stderr[-2000:]


def test_the_token_lets_a_driver_in(ray_cluster: RayCluster, tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=ray_cluster.token, HOME=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-c", JOIN, ray_cluster.address],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "joined" in done.stdout, done.stderr[-2000:]
