"""The Files API through the official ``openai`` SDK against a real server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from openai import OpenAI

from service.testing import ServerProcess

PAIRS = "\n".join(
    json.dumps({"query": f"question {i}", "positive": f"answer {i}"}) for i in range(5)
).encode()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    """Its own server: these tests upload and delete files."""
    from service.testing import clean_env

    server = ServerProcess(tmp_path_factory.mktemp("files") / "data", env=clean_env())
    with server.start():
        with OpenAI(base_url=server.v1, api_key="unused", max_retries=0) as sdk:
            yield sdk


def test_create_retrieve_content_delete(client: OpenAI) -> None:
    created = client.files.create(file=("train.jsonl", PAIRS), purpose="fine-tune")
    assert created.id.startswith("file-")
    assert (created.bytes, created.filename, created.purpose, created.status) == (
        len(PAIRS),
        "train.jsonl",
        "fine-tune",
        "processed",
    )
    assert client.files.retrieve(created.id) == created
    assert client.files.content(created.id).content == PAIRS
    deleted = client.files.delete(created.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (created.id, True, "file")
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        client.files.content(created.id)
    with pytest.raises(openai.NotFoundError):
        client.files.delete(created.id)


def test_list_filters_orders_and_pages(client: OpenAI) -> None:
    ids = [
        client.files.create(file=(f"n{i}.txt", b"notes"), purpose="user_data").id for i in range(4)
    ]
    other = client.files.create(file=("b.jsonl", b"{}"), purpose="batch").id
    page = client.files.list(purpose="user_data", limit=2)
    assert [f.id for f in page.data] == [ids[3], ids[2]] and page.has_more
    # Fields of OpenAI's list object that the SDK's page type does not declare.
    assert (page.first_id, page.last_id) == (ids[3], ids[2])  # type: ignore[attr-defined]
    assert [f.id for f in client.files.list(purpose="user_data")] == ids[::-1]  # auto-pages
    ascending = client.files.list(purpose="user_data", order="asc", after=ids[0], limit=10)
    assert [f.id for f in ascending.data] == ids[1:] and not ascending.has_more
    everything = [f.id for f in client.files.list()]
    assert other in everything and set(ids) <= set(everything)
    empty = client.files.list(purpose="evals")
    assert empty.data == [] and empty.has_more is False


def test_expires_after_sets_expires_at(client: OpenAI) -> None:
    created = client.files.create(
        file=("e.txt", b"x"),
        purpose="user_data",
        expires_after={"anchor": "created_at", "seconds": 3600},
    )
    assert created.expires_at == created.created_at + 3600


@pytest.mark.parametrize(
    ("content", "line", "reason"),
    [
        pytest.param(PAIRS + b"\n{broken\n", 6, "invalid JSON", id="bad-json"),
        pytest.param(
            b'{"query": "q", "positive": "p"}\n{"text": "x"}\n',
            2,
            "unknown format",
            id="unknown-format",
        ),
    ],
)
def test_invalid_fine_tune_file_names_the_line(
    client: OpenAI, content: bytes, line: int, reason: str
) -> None:
    before = {f.id for f in client.files.list()}
    with pytest.raises(openai.BadRequestError) as info:
        client.files.create(file=("bad.jsonl", content), purpose="fine-tune")
    error = info.value.body
    assert isinstance(error, dict)
    assert f"line {line}:" in error["message"] and reason in error["message"]
    assert (error["param"], error["code"]) == ("file", "invalid_file_format")
    assert {f.id for f in client.files.list()} == before  # nothing stored


def test_bad_purpose_and_missing_parts(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.files.create(file=("a.txt", b"x"), purpose="nonsense")  # type: ignore[arg-type]
    assert info.value.body["param"] == "purpose"
    url = str(client.base_url) + "files"
    missing_file = httpx.post(url, files={"purpose": (None, "user_data")})
    assert missing_file.status_code == 400 and missing_file.json()["error"]["param"] == "file"
    not_multipart = httpx.post(url, json={"purpose": "user_data"})
    assert not_multipart.status_code == 400
    bad_limit = httpx.get(url, params={"limit": 0})
    assert bad_limit.status_code == 400


def test_size_limit_is_enforced_while_streaming(start_server) -> None:
    server = start_server(env={"SEMSEARCH_MAX_FILE_MB": "0.01"})  # 10,485 bytes
    with OpenAI(base_url=server.v1, api_key="unused", max_retries=0) as client:
        ok = client.files.create(file=("ok.txt", b"a" * 10_000), purpose="user_data")
        assert ok.bytes == 10_000
        with pytest.raises(openai.APIStatusError) as info:
            client.files.create(file=("big.txt", b"a" * 20_000), purpose="user_data")
        assert info.value.status_code == 413
        assert info.value.body["code"] == "payload_too_large"
        assert [f.id for f in client.files.list()] == [ok.id]

    # A chunked body (no Content-Length) is cut off by counting, not by the header.
    def chunks():
        head = (
            b'--b\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nuser_data\r\n'
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="x"\r\n\r\n'
        )
        yield head
        for _ in range(4):
            yield b"z" * 4096
        yield b"\r\n--b--\r\n"

    response = httpx.post(
        server.v1 + "/files",
        content=chunks(),
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert response.status_code == 413
    assert not list((server.data_dir / "files" / "tmp").iterdir())  # partial upload removed


@pytest.mark.slow
def test_a_big_upload_does_not_stall_listing(start_server) -> None:
    """While 150 MiB of fine-tune JSONL streams in, is fsynced, validated line by line and
    committed, ``GET /v1/files`` keeps answering: no listing waits for that upload's work.
    (When validation shared the store's one thread, a listing waited ~60% of the upload.)"""
    server = start_server()
    line = json.dumps({"query": "q " * 20, "positive": "p " * 40}).encode() + b"\n"
    chunk = line * ((1 << 20) // len(line))
    chunks = (150 << 20) // len(chunk) + 1

    def body() -> Iterator[bytes]:
        yield (
            b'--big\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nfine-tune\r\n'
            b'--big\r\nContent-Disposition: form-data; name="file"; filename="big.jsonl"\r\n\r\n'
        )
        for _ in range(chunks):
            yield chunk
        yield b"\r\n--big--\r\n"

    done: dict[str, float | httpx.Response] = {}

    def upload() -> None:
        started = time.perf_counter()
        done["response"] = httpx.post(
            server.v1 + "/files",
            content=body(),
            headers={"content-type": "multipart/form-data; boundary=big"},
            timeout=300,
        )
        done["seconds"] = time.perf_counter() - started

    uploader = threading.Thread(target=upload)
    latencies = []
    with httpx.Client(base_url=server.v1, timeout=60) as http:
        uploader.start()
        while uploader.is_alive():  # bounded: the upload itself times out after 300 s
            started = time.perf_counter()
            http.get("/files").raise_for_status()
            latencies.append(time.perf_counter() - started)
            time.sleep(0.02)
        uploader.join()
        response = done["response"]
        assert isinstance(response, httpx.Response) and response.status_code == 200, response
        assert response.json()["bytes"] == len(chunk) * chunks
        seconds = done["seconds"]
        assert isinstance(seconds, float)
        assert len(latencies) >= 5, (seconds, latencies)
        assert max(latencies) < seconds / 4, (seconds, sorted(latencies)[-3:])
        http.delete(f"/files/{response.json()['id']}").raise_for_status()
