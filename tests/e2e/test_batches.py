"""The Batch API through the official SDK (issue 14): embeddings batches run in semsearch,
others are proxied to the scripted fake upstream; bad input files are rejected naming the line."""

from __future__ import annotations

import base64
import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import openai
import pytest
from openai.types import Batch

from service.testing import FaultUpstream, ServerProcess, clean_env, fake_vector

LOCAL = "wordllama-l2-supercat"
REMOTE = "text-embedding-fake"  # unknown here, so the embedding layer sends it upstream
_files = itertools.count()


@pytest.fixture(scope="module")
def upstream() -> Iterator[FaultUpstream]:
    with FaultUpstream() as server:
        yield server


@pytest.fixture(scope="module")
def sidecar(
    upstream: FaultUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    env = {
        "SEMSEARCH_UPSTREAM_URL": upstream.v1,
        "SEMSEARCH_UPSTREAM_API_KEY": "sk-batch-upstream",
        "SEMSEARCH_UPSTREAM_BACKOFF": "0.01",
    }
    server = ServerProcess(tmp_path_factory.mktemp("batches") / "data", env=clean_env(env))
    with server.start():
        yield server


@pytest.fixture
def client(sidecar: ServerProcess, upstream: FaultUpstream) -> Iterator[openai.OpenAI]:
    upstream.script.clear()
    upstream.log.clear()
    upstream.requests.clear()
    upstream.latency = 0.0
    with openai.OpenAI(base_url=sidecar.v1, api_key="x", max_retries=0) as client:
        yield client


def request(custom_id: str, body: dict[str, Any], url: str = "/v1/embeddings") -> dict[str, Any]:
    return {"custom_id": custom_id, "method": "POST", "url": url, "body": body}


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def upload(client: openai.OpenAI, lines: list[Any], purpose: str = "batch") -> str:
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    name = f"input-{next(_files)}.jsonl"
    return client.files.create(file=(name, text.encode()), purpose=purpose).id  # type: ignore[arg-type]


def wait(client: openai.OpenAI, batch_id: str, until: set[str], timeout: float = 60) -> Batch:
    deadline = time.monotonic() + timeout
    while True:
        batch = client.batches.retrieve(batch_id)
        if batch.status in until or time.monotonic() > deadline:
            return batch
        time.sleep(0.05)


def jsonl(client: openai.OpenAI, file_id: str | None) -> list[dict[str, Any]]:
    assert file_id is not None
    return [json.loads(line) for line in client.files.content(file_id).text.splitlines()]


def vectors(lines: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """custom_id -> the (first) vector of that request's answer."""
    out = {}
    for line in lines:
        embedding = line["response"]["body"]["data"][0]["embedding"]
        if isinstance(embedding, str):
            embedding = np.frombuffer(base64.b64decode(embedding), dtype="<f4")
        out[line["custom_id"]] = np.asarray(embedding, dtype=np.float32)
    return out


def test_an_embeddings_batch_answers_each_request_as_the_embeddings_route_would(
    client: openai.OpenAI, sidecar: ServerProcess
) -> None:
    lines = [
        request("plain", {"model": LOCAL, "input": "a cat on a mat"}),
        request("several", {"model": LOCAL, "input": ["one", "two", "three"], "dimensions": 64}),
        request("b64", {"model": LOCAL, "input": "stock markets", "encoding_format": "base64"}),
        request("upstream", {"model": REMOTE, "input": ["far away"]}),
        request("no-such-model", {"model": "", "input": "x"}),
        request("empty-input", {"model": LOCAL, "input": ""}),
        request("unknown-field", {"model": LOCAL, "input": "x", "colour": "red"}),
    ]
    batch = client.batches.create(
        input_file_id=upload(client, lines),
        endpoint="/v1/embeddings",
        completion_window="24h",
        metadata={"job": "nightly"},
    )
    assert batch.status == "validating" and batch.request_counts.total == 7
    assert batch.metadata == {"job": "nightly"} and batch.model == LOCAL
    batch = wait(client, batch.id, {"completed", "failed"})
    assert batch.status == "completed"
    assert (batch.request_counts.completed, batch.request_counts.failed) == (4, 3)
    assert batch.in_progress_at and batch.finalizing_at and batch.completed_at
    output, errors = jsonl(client, batch.output_file_id), jsonl(client, batch.error_file_id)
    assert [line["custom_id"] for line in output] == ["plain", "several", "b64", "upstream"]
    assert all(line["response"]["status_code"] == 200 and line["error"] is None for line in output)
    assert len({line["id"] for line in output + errors}) == 7
    # Each line's body is what POST /v1/embeddings answers for the same body (posted as is:
    # the SDK would ask for base64 where the line did not).
    for line in output:
        body = next(x["body"] for x in lines if x["custom_id"] == line["custom_id"])
        direct = httpx.post(sidecar.v1 + "/embeddings", json=body).json()
        assert line["response"]["body"] == direct
    assert vectors(output)["upstream"] == pytest.approx(fake_vector(REMOTE, "far away", None))
    failures = {line["custom_id"]: line["response"] for line in errors}
    assert failures["no-such-model"]["status_code"] == 404
    assert failures["no-such-model"]["body"]["error"]["code"] == "model_not_found"
    assert failures["empty-input"]["status_code"] == 400
    assert failures["empty-input"]["body"]["error"]["param"] == "input"
    assert failures["unknown-field"]["body"]["error"]["param"] == "colour"
    usage = batch.usage
    assert usage is not None and usage.input_tokens == sum(
        line["response"]["body"]["usage"]["prompt_tokens"] for line in output
    )
    info = client.files.retrieve(batch.output_file_id or "")
    assert info.purpose == "batch_output" and info.filename == f"{batch.id}_output.jsonl"


def test_a_request_the_upstream_rejects_fails_alone(
    client: openai.OpenAI, upstream: FaultUpstream
) -> None:
    """Two requests of one model are embedded in one call; when the upstream rejects that call
    (a 400), each is tried alone, so only the one it rejects again fails."""
    upstream.push(("status", 400, {}), ("status", 400, {}))
    lines = [request(f"r{i}", {"model": REMOTE, "input": f"alone {i}"}) for i in range(2)]
    batch = client.batches.create(
        input_file_id=upload(client, lines), endpoint="/v1/embeddings", completion_window="24h"
    )
    batch = wait(client, batch.id, {"completed", "failed"})
    assert (batch.request_counts.completed, batch.request_counts.failed) == (1, 1)
    failed = jsonl(client, batch.error_file_id)[0]
    assert failed["custom_id"] == "r0" and failed["response"]["status_code"] == 400
    assert failed["response"]["body"]["error"]["message"] == "injected 400"
    assert jsonl(client, batch.output_file_id)[0]["custom_id"] == "r1"
    assert len([s for s in upstream.log if s.path.endswith("/embeddings")]) == 3


def test_the_upstreams_rate_limits_are_respected(
    client: openai.OpenAI, upstream: FaultUpstream
) -> None:
    upstream.push(("status", 429, {"Retry-After": "0.2"}))
    lines = [request(f"r{i}", {"model": REMOTE, "input": f"limited {i}"}) for i in range(20)]
    batch = client.batches.create(
        input_file_id=upload(client, lines), endpoint="/v1/embeddings", completion_window="24h"
    )
    batch = wait(client, batch.id, {"completed", "failed"})
    assert batch.request_counts.completed == 20 and batch.request_counts.failed == 0
    embeddings = [seen for seen in upstream.log if seen.path.endswith("/embeddings")]
    assert len(embeddings) == 2  # the 429, then the same request once waited


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        pytest.param(
            request("x", {"model": LOCAL, "input": "a"}, url="/v1/chat/completions"),
            "\"url\" '/v1/chat/completions' is not the batch's endpoint '/v1/embeddings'",
            id="wrong-url",
        ),
        pytest.param(
            {**request("x", {"model": LOCAL, "input": "a"}), "method": "GET"},
            '"method" must be "POST", got \'GET\'',
            id="wrong-method",
        ),
        pytest.param(request("first", {}), "duplicate \"custom_id\" 'first'", id="duplicate"),
        pytest.param('{"custom_id": "x", "method": ', "invalid JSON", id="bad-json"),
        pytest.param("[1, 2]", "expected a JSON object", id="not-an-object"),
        pytest.param({"custom_id": "x", "method": "POST", "url": "/v1/embeddings"}, '"body"'),
        pytest.param(request("", {}), '"custom_id" must be a non-empty string', id="no-id"),
    ],
)
def test_a_bad_input_file_is_rejected_naming_its_line(
    client: openai.OpenAI, line: Any, reason: str
) -> None:
    good = [request("first", {"model": LOCAL, "input": "a"}), ""]  # a blank line counts too
    file_id = upload(client, [*good, line])
    with pytest.raises(openai.BadRequestError) as raised:
        client.batches.create(
            input_file_id=file_id, endpoint="/v1/embeddings", completion_window="24h"
        )
    assert raised.value.body["param"] == "input_file_id"
    assert raised.value.body["code"] == "invalid_batch_input"
    assert f"{file_id}: line 3: " in raised.value.message
    assert reason in raised.value.message
    assert all(b.input_file_id != file_id for b in client.batches.list(limit=100).data)


def test_a_batch_needs_a_batch_file_and_a_known_endpoint(client: openai.OpenAI) -> None:
    tuned = upload(client, [{"query": "q", "positive": "p"}], purpose="fine-tune")
    with pytest.raises(openai.BadRequestError, match="purpose 'fine-tune'"):
        client.batches.create(
            input_file_id=tuned, endpoint="/v1/embeddings", completion_window="24h"
        )
    with pytest.raises(openai.BadRequestError, match="no such file"):
        client.batches.create(
            input_file_id="file-missing", endpoint="/v1/embeddings", completion_window="24h"
        )
    file_id = upload(client, [request("a", {"model": LOCAL, "input": "a"})])
    with pytest.raises(openai.BadRequestError) as raised:
        client.batches.create(
            input_file_id=file_id,
            endpoint="/v1/nonsense",  # type: ignore[arg-type]
            completion_window="24h",
        )
    assert raised.value.body["param"] == "endpoint"
    with pytest.raises(openai.BadRequestError) as raised:
        client.batches.create(
            input_file_id=file_id,
            endpoint="/v1/embeddings",
            completion_window="1h",  # type: ignore[arg-type]
        )
    assert raised.value.body["param"] == "completion_window"


def test_a_chat_batch_runs_on_the_upstream_under_our_ids(
    client: openai.OpenAI, upstream: FaultUpstream
) -> None:
    chat = "/v1/chat/completions"
    lines = [
        request(f"chat-{i}", {"model": "gpt-fake", "messages": [user(f"hi {i}")]}, chat)
        for i in range(3)
    ]
    lines.append(request("gone", {"model": "missing-model", "messages": []}, chat))
    file_id = upload(client, lines)
    batch = client.batches.create(
        input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    again = client.batches.create(
        input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    uploads = [seen for seen in upstream.log if seen.path == "/v1/files"]
    assert len(uploads) == 1 and b'name="purpose"\r\n\r\nbatch' in uploads[0].body  # once
    created = [json.loads(s.body) for s in upstream.log if s.path == "/v1/batches"]
    assert created[0]["input_file_id"] == "file-up0" == created[1]["input_file_id"]
    assert upstream.log[0].headers["authorization"] == "Bearer sk-batch-upstream"
    assert batch.id.startswith("batch_") and batch.id != again.id
    assert batch.input_file_id == file_id  # ours, not the upstream's
    assert "batch_up" not in batch.id
    batch = wait(client, batch.id, {"completed"})  # the fake moves on at each retrieve
    assert batch.request_counts.completed == 3 and batch.request_counts.failed == 1
    assert batch.output_file_id and not batch.output_file_id.startswith("file-up")
    output = jsonl(client, batch.output_file_id)
    assert [line["response"]["body"]["choices"][0]["message"]["content"] for line in output] == [
        "echo: hi 0",
        "echo: hi 1",
        "echo: hi 2",
    ]
    errors = jsonl(client, batch.error_file_id)
    assert errors[0]["custom_id"] == "gone" and errors[0]["response"]["status_code"] == 404
    info = client.files.retrieve(batch.output_file_id)
    assert info.id == batch.output_file_id and info.purpose == "batch_output"
    listed = {b.id: b for b in client.batches.list(limit=100)}
    assert listed[batch.id].status == "completed"


def test_without_an_upstream_only_embeddings_batches_run(local_server: ServerProcess) -> None:
    with openai.OpenAI(base_url=local_server.v1, api_key="x", max_retries=0) as client:
        line = request("c", {"model": "gpt", "messages": []}, "/v1/chat/completions")
        file_id = upload(client, [line])
        with pytest.raises(openai.BadRequestError) as raised:
            client.batches.create(
                input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
            )
        assert "SEMSEARCH_UPSTREAM_URL" in raised.value.message
        lines = [request(f"l{i}", {"model": LOCAL, "input": f"text {i}"}) for i in range(5)]
        batch = client.batches.create(
            input_file_id=upload(client, lines), endpoint="/v1/embeddings", completion_window="24h"
        )
        assert wait(client, batch.id, {"completed"}).request_counts.completed == 5


def test_cancel_stops_a_running_batch_after_its_current_chunk(
    client: openai.OpenAI, upstream: FaultUpstream
) -> None:
    upstream.latency = 0.05
    lines = [request(f"c{i}", {"model": REMOTE, "input": f"cancel me {i}"}) for i in range(5000)]
    batch = client.batches.create(
        input_file_id=upload(client, lines), endpoint="/v1/embeddings", completion_window="24h"
    )
    running = wait(client, batch.id, {"in_progress"})
    while running.request_counts.completed == 0:
        running = client.batches.retrieve(batch.id)
    cancelling = client.batches.cancel(batch.id)
    assert cancelling.status in ("cancelling", "cancelled") and cancelling.cancelling_at
    done = wait(client, batch.id, {"cancelled"})
    assert done.status == "cancelled" and done.cancelled_at
    assert 0 < done.request_counts.completed < 5000
    output = jsonl(client, done.output_file_id)
    assert len(output) == done.request_counts.completed
    assert len({line["custom_id"] for line in output}) == len(output)
    with pytest.raises(openai.BadRequestError, match="cannot be cancelled"):
        client.batches.cancel(batch.id)


def test_a_queued_batch_is_cancelled_at_once_and_never_runs(
    client: openai.OpenAI, upstream: FaultUpstream
) -> None:
    upstream.latency = 0.05
    slow = [request(f"s{i}", {"model": REMOTE, "input": f"slow {i}"}) for i in range(3000)]
    first = client.batches.create(
        input_file_id=upload(client, slow), endpoint="/v1/embeddings", completion_window="24h"
    )
    waiting = client.batches.create(
        input_file_id=upload(client, [request("w", {"model": LOCAL, "input": "w"})]),
        endpoint="/v1/embeddings",
        completion_window="24h",
    )
    cancelled = client.batches.cancel(waiting.id)
    assert cancelled.status == "cancelled" and cancelled.output_file_id is None
    client.batches.cancel(first.id)
    assert wait(client, first.id, {"cancelled"}).status == "cancelled"
    assert client.batches.retrieve(waiting.id).request_counts.completed == 0


def test_a_proxied_batch_is_cancelled_upstream(client: openai.OpenAI) -> None:
    line = request("c", {"model": "gpt-fake", "messages": []}, "/v1/chat/completions")
    batch = client.batches.create(
        input_file_id=upload(client, [line]),
        endpoint="/v1/chat/completions",
        completion_window="24h",
    )
    assert client.batches.cancel(batch.id).status == "cancelling"
    assert client.batches.retrieve(batch.id).status == "cancelled"


def test_batches_page_newest_first(client: openai.OpenAI) -> None:
    file_id = upload(client, [request("p", {"model": LOCAL, "input": "page"})])
    made = [
        client.batches.create(
            input_file_id=file_id, endpoint="/v1/embeddings", completion_window="24h"
        ).id
        for _ in range(3)
    ]
    first = client.batches.list(limit=2)
    assert [b.id for b in first.data] == made[::-1][:2] and first.has_more
    second = client.batches.list(limit=2, after=first.data[-1].id)
    assert second.data[0].id == made[0]
    seen = [b.id for b in client.batches.list(limit=2)]  # auto-paging walks every page
    assert seen[:3] == made[::-1]
    with pytest.raises(openai.BadRequestError):
        client.batches.list(after="batch_unknown")
    with pytest.raises(openai.NotFoundError):
        client.batches.retrieve("batch_unknown")


def test_ten_thousand_inputs_survive_a_kill_mid_batch_each_line_exactly_once(
    start_server, tmp_path, upstream: FaultUpstream
) -> None:
    """10,000 requests through an upstream model, the last 1,000 already cached; the server is
    killed (SIGKILL) mid-batch and started again: the batch completes with every line exactly
    once, each one what /v1/embeddings answers, and the cached inputs never go upstream."""
    upstream.script.clear()
    upstream.latency = 0.03
    env = {"SEMSEARCH_UPSTREAM_URL": upstream.v1, "SEMSEARCH_UPSTREAM_BACKOFF": "0.01"}
    server = start_server(env=env, data_dir=tmp_path / "killed")
    texts = [f"batch text number {i}" for i in range(10_000)]
    client = openai.OpenAI(base_url=server.v1, api_key="x", max_retries=0)
    cached = texts[9000:]
    for start in range(0, 1000, 500):
        client.embeddings.create(model=REMOTE, input=cached[start : start + 500])
    upstream.log.clear()
    lines = [request(f"req-{i}", {"model": REMOTE, "input": text}) for i, text in enumerate(texts)]
    batch = client.batches.create(
        input_file_id=upload(client, lines), endpoint="/v1/embeddings", completion_window="24h"
    )
    deadline = time.monotonic() + 60
    while client.batches.retrieve(batch.id).request_counts.completed < 1500:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    server.kill()
    client.close()
    server.start()  # same data dir, a new port
    client = openai.OpenAI(base_url=server.v1, api_key="x", max_retries=0)
    done = wait(client, batch.id, {"completed", "failed"}, timeout=120)
    assert done.status == "completed", done
    assert (done.request_counts.total, done.request_counts.completed) == (10_000, 10_000)
    assert done.request_counts.failed == 0 and done.error_file_id is None
    output = jsonl(client, done.output_file_id)
    ids = [line["custom_id"] for line in output]
    assert len(ids) == 10_000 and set(ids) == {f"req-{i}" for i in range(10_000)}
    assert ids == sorted(ids, key=lambda x: int(x.split("-")[1]))  # in input order too
    got = vectors(output)
    for i in range(0, 10_000, 97):
        assert got[f"req-{i}"] == pytest.approx(fake_vector(REMOTE, texts[i], None), abs=1e-6)
    sample = [texts[i] for i in range(0, 10_000, 250)]
    direct = client.embeddings.create(model=REMOTE, input=sample, encoding_format="float")
    for text, item in zip(sample, direct.data, strict=True):
        line = output[texts.index(text)]
        assert line["response"]["body"]["data"][0]["embedding"] == item.embedding
    sent = [item for seen in upstream.log for item in json.loads(seen.body).get("input", [])]
    assert not set(sent) & set(cached)  # cached inputs never went upstream
    assert 9000 <= len(sent) <= 9000 + 256  # at most the chunk the kill cut short, again
    assert server.metrics()["semsearch_embedding_cache_hits_total"] >= 1000
    assert "Resuming after line" in server.log()
    client.close()
