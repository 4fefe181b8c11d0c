"""A shard killed with SIGKILL mid-ingest: Ray restarts it on its node, it reopens its data,
no acknowledged document is lost, and requests meanwhile get 503 with Retry-After or a right
answer, never a wrong or partial one. A restarted front door finds its sharded collections."""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

import httpx
import pytest

from service.testing import ServerProcess, clean_env
from service.testing.cluster import RayCluster
from tests.cluster.conftest import NEEDS_RAY, shard_pid

pytestmark = [NEEDS_RAY, pytest.mark.slow]

TOPICS = ["cats purr", "dogs bark", "birds sing", "fish swim", "cows moo", "bees buzz"]


def _all_ids(c: httpx.Client, name: str) -> list[str]:
    ids: list[str] = []
    after = None
    for _ in range(1000):
        params: dict[str, Any] = {"limit": 500} | ({"after": after} if after else {})
        page = c.get(f"/collections/{name}/documents", params=params).json()
        ids += [d["id"] for d in page["data"]]
        if not page["has_more"]:
            return ids
        after = page["last_id"]
    raise AssertionError("scroll did not end")


def test_kill_a_shard_mid_ingest(
    client: httpx.Client, ray_cluster: RayCluster, cluster_server: ServerProcess
) -> None:
    name = "killed"
    r = client.post("/collections", json={"name": name, "shards": 3, "dimensions": 64})
    assert r.status_code == 201, r.text
    base = [
        {"id": f"base-{i}", "text": f"{TOPICS[i % 6]} number {i}", "metadata": {"set": "base"}}
        for i in range(120)
    ]
    assert (
        client.post(f"/collections/{name}/documents", json={"documents": base}).status_code == 200
    )
    probe = {"query": "dogs bark", "k": 15, "where": {"set": "base"}, "mode": "hybrid"}
    expected = client.post(f"/collections/{name}/query", json=probe).json()["data"]
    assert len(expected) == 15

    acknowledged: list[str] = []
    statuses: dict[str, list[int]] = {"write": [], "read": []}
    retry_after: list[str | None] = []
    wrong: list[Any] = []
    stop = threading.Event()

    def writer() -> None:
        with httpx.Client(base_url=cluster_server.url, timeout=60) as c:
            for batch in range(40):
                docs = [
                    {
                        "id": f"new-{batch}-{j}",
                        "text": f"{TOPICS[j % 6]} late {batch}",
                        "metadata": {"set": "new"},
                    }
                    for j in range(15)
                ]
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    r = c.post(f"/collections/{name}/documents", json={"documents": docs})
                    statuses["write"].append(r.status_code)
                    if r.status_code == 200:
                        acknowledged.extend(r.json()["ids"])
                        break
                    retry_after.append(r.headers.get("retry-after"))
                    time.sleep(0.2)
                else:
                    return

    def reader() -> None:
        with httpx.Client(base_url=cluster_server.url, timeout=60) as c:
            while not stop.is_set():
                r = c.post(f"/collections/{name}/query", json=probe)
                statuses["read"].append(r.status_code)
                if r.status_code == 200:
                    if [h["id"] for h in r.json()["data"]] != [h["id"] for h in expected]:
                        wrong.append(r.json())
                else:
                    retry_after.append(r.headers.get("retry-after"))
                time.sleep(0.05)

    before = shard_pid(ray_cluster, name, 1)
    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for _ in range(200):  # until a few batches are in
        if len(acknowledged) >= 60:
            break
        time.sleep(0.05)
    os.kill(before, signal.SIGKILL)  # the shard actor's worker process, started by our cluster
    threads[0].join(timeout=300)
    stop.set()
    threads[1].join(timeout=60)

    assert len(acknowledged) == 40 * 15, "every batch was acknowledged in the end"
    assert set(statuses["write"]) | set(statuses["read"]) <= {200, 503}
    assert 503 in statuses["write"] + statuses["read"], "the gap was seen"
    assert retry_after and all(value == "2" for value in retry_after)
    assert wrong == [], "a query during the gap answered wrongly"
    after = shard_pid(ray_cluster, name, 1)
    assert after != before, "Ray restarted the shard in a new process"
    ids = set(_all_ids(client, name))
    assert set(acknowledged) <= ids and {d["id"] for d in base} <= ids
    assert client.get(f"/collections/{name}").json()["count"] == len(ids) == 120 + 600


def test_a_restarted_front_door_finds_its_sharded_collections(
    ray_cluster: RayCluster, tmp_path: Any
) -> None:
    """Shard actors belong to the server: they stop with it, and the next server brings them
    back from its registry, on the same nodes, with their data."""
    server = ServerProcess(tmp_path / "data", env=clean_env(ray_cluster.env()))
    with server.start(timeout=180):
        with httpx.Client(base_url=server.url, timeout=120) as c:
            assert c.post("/collections", json={"name": "kept", "shards": 2}).status_code == 201
            docs = [{"id": f"k{i}", "text": f"{TOPICS[i % 6]} {i}"} for i in range(50)]
            assert (
                c.post("/collections/kept/documents", json={"documents": docs}).status_code == 200
            )
    server.start(timeout=180)
    try:
        with httpx.Client(base_url=server.url, timeout=120) as c:
            described = c.get("/collections/kept").json()
            assert described["count"] == 50 and described["shards"] == 2
            hits = c.post("/collections/kept/query", json={"query": "bees buzz", "k": 3}).json()
            assert len(hits["data"]) == 3
    finally:
        server.stop()
