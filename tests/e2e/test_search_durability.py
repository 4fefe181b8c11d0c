"""The search API's promises that need whole processes: restart, kill -9, one owner, auth."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time

import httpx
import pytest

from service.testing import clean_env
from tests.e2e.search_client import Search


def test_restart_keeps_collections_documents_and_answers(start_server) -> None:
    server = start_server()
    api = Search(server.url)
    api.create("keep", metric="ip", hnsw={"m": 8, "ef_construction": 100, "ef_search": 50})
    api.upsert(
        "keep",
        [
            {"id": f"d{i}", "text": f"note {i} about topic {i % 7}", "metadata": {"i": i}}
            for i in range(300)
        ],
    )
    api.ok("DELETE", "/collections/keep/documents/d5")
    before_col = api.ok("GET", "/collections/keep")
    before = api.query("keep", query="topic 3", k=10, where={"i": {"$lt": 200}})
    api.close()
    server.restart()
    api = Search(server.url)
    assert api.ok("GET", "/collections/keep") == before_col
    assert api.query("keep", query="topic 3", k=10, where={"i": {"$lt": 200}}) == before
    api.error(404, "GET", "/collections/keep/documents/d5")
    api.close()


def test_a_second_server_on_the_same_data_dir_fails_fast(start_server) -> None:
    server = start_server()
    started = time.monotonic()
    second = subprocess.run(
        [
            sys.executable,
            "-m",
            "service.cli",
            "serve",
            "--port",
            "0",
            "--data-dir",
            str(server.data_dir),
        ],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode != 0
    assert "in use by another process" in second.stderr + second.stdout
    assert time.monotonic() - started < 30
    assert httpx.get(server.url + "/healthz").status_code == 200  # the first one is unharmed


@pytest.mark.slow
def test_kill_9_during_ingest_loses_nothing_acknowledged(start_server, tmp_path) -> None:
    data = tmp_path / "crash-data"
    # id -> the texts it may have now: its last acknowledged one, plus those of batches in
    # flight when the server died (None: it may not exist at all).
    allowed: dict[str, set[str | None]] = {}
    rng = random.Random(7)
    for round_ in range(3):
        server = start_server(data_dir=data)
        api = Search(server.url)
        if round_ == 0:
            api.create("crash")
        stop = threading.Event()
        acked_batches = [0]

        def ingest(
            round_: int = round_,
            api: Search = api,
            stop: threading.Event = stop,
            batches: list[int] = acked_batches,
        ) -> None:
            n = 0
            while not stop.is_set():
                docs = [
                    {"id": f"r{round_}-b{n}-{i}", "text": f"round {round_} batch {n} item {i}"}
                    for i in range(20)
                ]
                # Every batch also rewrites the same ids: replacements must survive too.
                docs += [
                    {"id": f"shared-{i}", "text": f"shared {i} from round {round_} batch {n}"}
                    for i in range(5)
                ]
                try:
                    status, _ = api.call(
                        "POST", "/collections/crash/documents", {"documents": docs}
                    )
                except httpx.HTTPError:
                    status = 0
                if status != 200:  # in flight when the server died: it may or may not be there
                    for d in docs:
                        allowed.setdefault(d["id"], {None}).add(d["text"])
                    return
                allowed.update({d["id"]: {d["text"]} for d in docs})
                n += 1
                batches[0] = n

        writer = threading.Thread(target=ingest)
        writer.start()
        time.sleep(rng.uniform(0.8, 2.0))
        server.kill()
        stop.set()
        writer.join()
        api.close()
        assert acked_batches[0] > 0, "the server acknowledged nothing before it was killed"

    server = start_server(data_dir=data)
    api = Search(server.url)
    stored: dict[str, str] = {}
    after = None
    while True:
        page = api.ok(
            "GET", "/collections/crash/documents", limit=1000, **({"after": after} if after else {})
        )
        stored.update({d["id"]: d["text"] for d in page["data"]})
        if not page["has_more"]:
            break
        after = page["last_id"]
    for id_, texts in allowed.items():
        assert stored.get(id_) in texts, id_
    assert set(stored) <= set(allowed)
    acked = [id_ for id_, texts in allowed.items() if None not in texts]
    # The index answers for what was written: a document's own text finds it first.
    for id_ in random.Random(1).sample(sorted(acked), 20):
        hits = api.query("crash", query=stored[id_], k=1, mode="vector")["data"]
        assert hits[0]["id"] == id_ or hits[0]["score"] == pytest.approx(1.0, abs=1e-5)
    api.close()


def test_queries_run_while_another_client_ingests(start_server) -> None:
    server = start_server()
    api = Search(server.url)
    api.create("busy")
    api.upsert("busy", [{"id": f"seed{i}", "text": f"seed text {i}"} for i in range(50)])
    failures: list[object] = []
    done = threading.Event()

    def query_loop() -> None:
        client = Search(server.url)
        while not done.is_set():
            status, body = client.call("POST", "/collections/busy/query", {"query": "text", "k": 5})
            if status != 200 or len(body["data"]) != 5:
                failures.append(body)
        client.close()

    readers = [threading.Thread(target=query_loop) for _ in range(3)]
    for t in readers:
        t.start()
    for n in range(20):
        api.upsert("busy", [{"id": f"d{n}-{i}", "text": f"batch {n} text {i}"} for i in range(100)])
    done.set()
    for t in readers:
        t.join()
    assert not failures
    assert api.ok("GET", "/collections/busy")["count"] == 2050
    api.close()


def test_auth_protects_the_search_api(start_server) -> None:
    server = start_server(env={"SEMSEARCH_API_KEYS": "k1,k2"})
    anonymous, wrong, right = (
        Search(server.url),
        Search(server.url, "nope"),
        Search(server.url, "k2"),
    )
    for client in (anonymous, wrong):
        error = client.error(401, "POST", "/collections", {"name": "secret"})
        assert error["code"] == "invalid_api_key"
        client.error(401, "GET", "/collections")
    right.create("secret")
    assert right.ids("secret") == []
    assert httpx.get(server.url + "/healthz").status_code == 200
    for client in (anonymous, wrong, right):
        client.close()
