"""What a server not on Ray says about shards (no Ray needed)."""

from __future__ import annotations

import httpx


def test_shards_need_a_server_on_ray(start_server) -> None:
    server = start_server()
    r = httpx.post(server.url + "/collections", json={"name": "x", "shards": 2}, timeout=30)
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "shards"
    assert "--ray" in r.json()["error"]["message"]
    assert httpx.get(server.url + "/collections/x", timeout=30).status_code == 404
    r = httpx.post(server.url + "/collections", json={"name": "x", "shards": 0}, timeout=30)
    assert r.status_code == 400
