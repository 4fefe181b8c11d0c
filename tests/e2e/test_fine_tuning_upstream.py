"""Upstream fine-tuning through semsearch, against the test's own fake OpenAI on loopback.

The fake scripts a job's lifecycle (each retrieve moves it one status on), can fail the next
requests on cue, and also serves ``/v1/embeddings`` so an upstream *embedding* model can be the
base of a local adapter job.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import openai
import pytest
from openai import OpenAI

from service.testing import ServerProcess, fake_vector

UPSTREAM_KEY = "sk-upstream-secret"
LIFECYCLE = ["validating_files", "queued", "running", "succeeded"]
RESULTS_CSV = b"step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy\n1,1.5,0.4,,\n"


class FakeOpenAI:
    """Files, fine-tuning jobs (scripted) and embeddings, like api.openai.com/v1."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.failures: list[int] = []  # statuses to answer the next requests with
        self.jobs: dict[str, dict[str, Any]] = {}
        self.files: dict[str, bytes] = {}  # uploads
        self.results: dict[str, bytes] = {}  # result files of finished jobs
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake.handle(self, "GET")

            def do_POST(self) -> None:
                fake.handle(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def v1(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def calls(self, method: str, pattern: str) -> list[bytes]:
        return [
            body
            for m, path, _, body in self.requests
            if m == method and re.fullmatch(pattern, path)
        ]

    def handle(self, http: BaseHTTPRequestHandler, method: str) -> None:
        body = http.rfile.read(int(http.headers.get("content-length") or 0))
        path, _, query = http.path.partition("?")
        with self.lock:
            self.requests.append(
                (method, path, {k.lower(): v for k, v in http.headers.items()}, body)
            )
            if self.failures:
                status = self.failures.pop(0)
                return self.send(http, status, error(f"injected {status}", None))
            status, answer = self.route(method, path, body, query)
        self.send(http, status, answer)

    def route(
        self, method: str, path: str, body: bytes, query: str = ""
    ) -> tuple[int, dict[str, Any] | bytes]:
        if (method, path) == ("POST", "/v1/files"):
            file_id = f"file-up{len(self.files)}"
            self.files[file_id] = body
            return 200, {
                "id": file_id,
                "object": "file",
                "bytes": len(body),
                "created_at": 1,
                "filename": "x.jsonl",
                "purpose": "fine-tune",
                "status": "processed",
            }
        if method == "GET" and (found := re.fullmatch(r"/v1/files/([^/]+)(/content)?", path)):
            file_id, content = found.groups()
            if file_id not in self.results:
                return 404, error(f"No such File object: {file_id}", "id")
            if content:
                return 200, self.results[file_id]
            return 200, {
                "id": file_id,
                "object": "file",
                "bytes": len(self.results[file_id]),
                "created_at": 7,
                "filename": "step_metrics.csv",
                "purpose": "fine-tune-results",
                "status": "processed",
            }
        if (method, path) == ("POST", "/v1/embeddings"):
            request = json.loads(body)
            data = [
                {
                    "object": "embedding",
                    "index": i,
                    "embedding": fake_vector(request["model"], text, None).tolist(),
                }
                for i, text in enumerate(request["input"])
            ]
            return 200, {
                "object": "list",
                "data": data,
                "model": request["model"],
                "usage": {"prompt_tokens": len(data), "total_tokens": len(data)},
            }
        if (method, path) == ("POST", "/v1/fine_tuning/jobs"):
            request = json.loads(body)
            if request["model"] == "bad-model":
                return 400, error("Model bad-model is not available for fine-tuning.", "model")
            job_id = f"ftjob-up{len(self.jobs)}"
            self.jobs[job_id] = job = {
                "id": job_id,
                "object": "fine_tuning.job",
                "model": request["model"],
                "created_at": 1,
                "finished_at": None,
                "fine_tuned_model": None,
                "organization_id": "org-up",
                "result_files": [],
                "status": LIFECYCLE[0],
                "validation_file": request.get("validation_file"),
                "training_file": request["training_file"],
                "seed": request.get("seed", 0),
                "hyperparameters": {
                    "n_epochs": 3,
                    "batch_size": 1,
                    "learning_rate_multiplier": 1.8,
                },
                "trained_tokens": None,
                "error": None,
                "integrations": [],
                "events": [],
            }
            self.add_event(job, "Created fine-tuning job")
            return 200, public(job)
        match = re.fullmatch(r"/v1/fine_tuning/jobs/([^/]+)(/cancel|/events|/checkpoints)?", path)
        if match is None or match.group(1) not in self.jobs:
            return 404, error("No such job", "fine_tuning_job_id")
        job, action = self.jobs[match.group(1)], match.group(2)
        if action == "/cancel":
            job["status"] = "cancelled"
            self.add_event(job, "Job cancelled")
        elif action == "/events":
            return 200, {"object": "list", "data": job["events"][::-1], "has_more": False}
        elif action == "/checkpoints":
            return 200, checkpoints(job["id"], query)
        elif job["status"] in LIFECYCLE[:-1]:  # each retrieve moves the job along
            job["status"] = LIFECYCLE[LIFECYCLE.index(job["status"]) + 1]
            self.add_event(job, f"Status: {job['status']}")
            if job["status"] == "succeeded":
                job.update(
                    fine_tuned_model="ft:gpt-4o-mini:org-up::abc123",
                    finished_at=2,
                    trained_tokens=999,
                    result_files=["file-upresults"],
                )
                self.results["file-upresults"] = RESULTS_CSV
        return 200, public(job)

    def add_event(self, job: dict[str, Any], message: str) -> None:
        job["events"].append(
            {
                "object": "fine_tuning.job.event",
                "id": f"ftevent-up{time.monotonic_ns()}",
                "created_at": 1,
                "level": "info",
                "message": message,
                "type": "message",
                "data": {},
            }
        )

    def send(
        self, http: BaseHTTPRequestHandler, status: int, answer: dict[str, Any] | bytes
    ) -> None:
        raw = isinstance(answer, bytes)
        data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
        http.send_response(status)
        http.send_header("content-type", "application/octet-stream" if raw else "application/json")
        http.send_header("content-length", str(len(data)))
        http.end_headers()
        http.wfile.write(data)


def checkpoints(job_id: str, query: str) -> dict[str, Any]:
    """Three checkpoints, newest first, paged by ``after`` and ``limit`` as OpenAI does."""
    params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
    every = [
        {
            "object": "fine_tuning.job.checkpoint",
            "id": f"ftckpt_up{step}",
            "created_at": step,
            "fine_tuned_model_checkpoint": f"ft:gpt-4o-mini:org-up::abc123:ckpt-step-{step}",
            "fine_tuning_job_id": job_id,
            "metrics": {"step": float(step), "train_loss": 1.0 / step, "full_valid_loss": 0.5},
            "step_number": step,
        }
        for step in (30, 20, 10)
    ]
    start = (
        next(i + 1 for i, c in enumerate(every) if c["id"] == params["after"])
        if ("after" in params)
        else 0
    )
    limit = int(params.get("limit", 10))
    page = every[start : start + limit]
    return {
        "object": "list",
        "data": page,
        "has_more": start + limit < len(every),
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
    }


def public(job: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in job.items() if k != "events"}


def error(message: str, param: str | None) -> dict[str, Any]:
    return {
        "error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}
    }


@pytest.fixture
def upstream() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI()
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@pytest.fixture
def client(start_server, upstream: FakeOpenAI) -> Iterator[OpenAI]:
    server: ServerProcess = start_server(
        env={
            "SEMSEARCH_UPSTREAM_URL": upstream.v1,
            "SEMSEARCH_UPSTREAM_API_KEY": UPSTREAM_KEY,
            "SEMSEARCH_UPSTREAM_BACKOFF": "0",
            "SEMSEARCH_UPSTREAM_MAX_RETRIES": "2",
        }
    )
    with OpenAI(base_url=server.v1, api_key="client-key", max_retries=0) as sdk:
        yield sdk


CHAT = "\n".join(
    json.dumps(
        {
            "messages": [
                {"role": "user", "content": f"hi {i}"},
                {"role": "assistant", "content": f"hello {i}"},
            ]
        }
    )
    for i in range(12)
).encode()


def test_proxied_job_lifecycle(client: OpenAI, upstream: FakeOpenAI) -> None:
    train = client.files.create(file=("chat.jsonl", CHAT), purpose="fine-tune")
    valid = client.files.create(file=("valid.jsonl", CHAT), purpose="fine-tune")
    upstream.failures = [503]  # the first upload is retried, like an embeddings call
    job = client.fine_tuning.jobs.create(
        model="gpt-4o-mini", training_file=train.id, validation_file=valid.id, suffix="chat", seed=3
    )
    assert job.id.startswith("ftjob-") and job.id not in upstream.jobs  # our own id
    assert (job.training_file, job.validation_file) == (train.id, valid.id)  # our file ids
    assert job.status == "validating_files" and job.seed == 3
    assert len(upstream.calls("POST", "/v1/files")) == 3  # 503, then two uploads
    uploads = list(upstream.files.values())
    assert len(uploads) == 2 and CHAT in uploads[0] and b"fine-tune" in uploads[0]
    (created,) = [json.loads(b) for b in upstream.calls("POST", "/v1/fine_tuning/jobs")[-1:]]
    assert created["training_file"] == "file-up0" and created["suffix"] == "chat"
    assert all(
        h.get("authorization") == f"Bearer {UPSTREAM_KEY}" for _, _, h, _ in upstream.requests
    )

    statuses = [client.fine_tuning.jobs.retrieve(job.id).status for _ in range(3)]
    assert statuses == ["queued", "running", "succeeded"]  # polled upstream each time
    done = client.fine_tuning.jobs.retrieve(job.id)
    assert done.fine_tuned_model == "ft:gpt-4o-mini:org-up::abc123" and done.trained_tokens == 999
    events = client.fine_tuning.jobs.list_events(job.id)
    assert [e.message for e in events.data][:2] == ["Status: succeeded", "Status: running"]

    # A second job on the same file does not upload it again; list merges with local jobs.
    second = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=train.id)
    assert len(upstream.files) == 2
    cancelled = client.fine_tuning.jobs.cancel(second.id)
    assert cancelled.status == "cancelled"
    assert upstream.calls("POST", r"/v1/fine_tuning/jobs/ftjob-up\d+/cancel")
    listed = [j.id for j in client.fine_tuning.jobs.list()]
    assert listed[:2] == [second.id, job.id]


def test_upstream_errors_are_mapped(client: OpenAI, upstream: FakeOpenAI) -> None:
    train = client.files.create(file=("chat.jsonl", CHAT), purpose="fine-tune")
    with pytest.raises(openai.BadRequestError) as info:
        client.fine_tuning.jobs.create(model="bad-model", training_file=train.id)
    body = info.value.body
    assert isinstance(body, dict) and body["param"] == "model" and "bad-model" in body["message"]
    upstream.failures = [500]  # creating a job is never retried after a 5xx (test below)
    with pytest.raises(openai.APIStatusError) as failed:
        client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=train.id)
    assert failed.value.status_code == 502
    assert UPSTREAM_KEY not in failed.value.response.text
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=train.id)
    upstream.failures = [429, 429, 429]
    with pytest.raises(openai.RateLimitError):
        client.fine_tuning.jobs.retrieve(job.id)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "queued"


def test_upstream_refusing_our_key_is_502(client: OpenAI, upstream: FakeOpenAI) -> None:
    """A 401/403 from the upstream is about the server's key, not the client's (issue 10)."""
    train = client.files.create(file=("chat.jsonl", CHAT), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=train.id)
    for status in (401, 403):
        upstream.failures = [status]
        with pytest.raises(openai.APIStatusError) as info:
            client.fine_tuning.jobs.retrieve(job.id)
        assert info.value.status_code == 502
        body = info.value.body
        assert isinstance(body, dict) and body["code"] == "upstream_authentication_failed"
        assert "upstream" in body["message"] and UPSTREAM_KEY not in info.value.response.text


def test_job_creation_is_not_retried_after_a_5xx(client: OpenAI, upstream: FakeOpenAI) -> None:
    """The upstream may have created the job before failing: retrying could train it twice."""
    train = client.files.create(file=("chat.jsonl", CHAT), purpose="fine-tune")
    client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=train.id)  # uploads it
    before = len(upstream.calls("POST", "/v1/fine_tuning/jobs"))
    upstream.failures = [500]
    with pytest.raises(openai.APIStatusError) as failed:
        client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=train.id)
    assert failed.value.status_code == 502
    assert len(upstream.calls("POST", "/v1/fine_tuning/jobs")) == before + 1
    upstream.failures = [429]  # refused outright: safe to retry
    client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=train.id)
    assert len(upstream.calls("POST", "/v1/fine_tuning/jobs")) == before + 3


def test_upstream_embedding_model_gets_a_local_adapter(
    client: OpenAI, upstream: FakeOpenAI
) -> None:
    pairs = "\n".join(
        json.dumps({"query": f"query {i}", "positive": f"passage {i}"}) for i in range(40)
    ).encode()
    train = client.files.create(file=("pairs.jsonl", pairs), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(
        model="text-embedding-3-small", training_file=train.id, hyperparameters={"n_epochs": 2}
    )
    deadline = time.monotonic() + 20
    while (job := client.fine_tuning.jobs.retrieve(job.id)).status not in ("succeeded", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert job.status == "succeeded", job.error
    assert not upstream.calls("POST", "/v1/fine_tuning/jobs")  # trained here, not upstream
    assert upstream.calls("POST", "/v1/embeddings")
    assert job.fine_tuned_model and job.fine_tuned_model.startswith("ft:text-embedding-3-small:")
    vectors = client.embeddings.create(model=job.fine_tuned_model, input=["query 1"])
    assert len(vectors.data[0].embedding) == 16  # the fake upstream's native width


def finished_job(client: OpenAI) -> str:
    train = client.files.create(file=("chat.jsonl", CHAT), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=train.id)
    for _ in range(3):  # each retrieve moves the fake's job one status on
        status = client.fine_tuning.jobs.retrieve(job.id).status
    assert status == "succeeded"
    return job.id


def test_result_files_download_through_semsearch_with_the_server_key(
    client: OpenAI, upstream: FakeOpenAI
) -> None:
    job = client.fine_tuning.jobs.retrieve(finished_job(client))
    (result_id,) = job.result_files
    assert result_id.startswith("file-") and result_id != "file-upresults"  # an id of ours
    assert client.fine_tuning.jobs.retrieve(job.id).result_files == [result_id]  # stable
    assert client.files.content(result_id).content == RESULTS_CSV
    info = client.files.retrieve(result_id)
    assert (info.id, info.filename, info.purpose) == (
        result_id,
        "step_metrics.csv",
        "fine-tune-results",
    )
    assert info.bytes == len(RESULTS_CSV)
    fetched = [
        h for m, path, h, _ in upstream.requests if m == "GET" and path.startswith("/v1/files/")
    ]
    assert len(fetched) == 3  # retrieve, then content (metadata + bytes), on demand
    assert all(h.get("authorization") == f"Bearer {UPSTREAM_KEY}" for h in fetched)
    assert not any("client-key" in json.dumps(h) for _, _, h, _ in upstream.requests)
    with pytest.raises(openai.NotFoundError):
        client.files.content("file-upresults")  # the upstream's own id is not ours


def test_upstream_result_file_errors_are_mapped(client: OpenAI, upstream: FakeOpenAI) -> None:
    (result_id,) = client.fine_tuning.jobs.retrieve(finished_job(client)).result_files
    del upstream.results["file-upresults"]  # the upstream no longer has it
    with pytest.raises(openai.NotFoundError) as info:
        client.files.content(result_id)
    assert result_id in info.value.message and "file-upresults" not in info.value.message
    upstream.failures = [503, 503, 503]
    with pytest.raises(openai.APIStatusError) as failed:
        client.files.retrieve(result_id)
    assert failed.value.status_code == 502


def test_checkpoints_are_proxied_and_paged(client: OpenAI, upstream: FakeOpenAI) -> None:
    job_id = finished_job(client)
    page = client.fine_tuning.jobs.checkpoints.list(job_id, limit=2)
    assert [c.step_number for c in page.data] == [30, 20] and page.has_more
    assert all(c.fine_tuning_job_id == job_id for c in page.data)  # our id, not the upstream's
    assert page.data[0].fine_tuned_model_checkpoint.endswith(":ckpt-step-30")
    assert page.data[0].metrics.train_loss == pytest.approx(1 / 30)
    rest = client.fine_tuning.jobs.checkpoints.list(job_id, limit=2, after=page.data[-1].id)
    assert [c.id for c in rest.data] == ["ftckpt_up10"] and not rest.has_more
    every = [c.id for c in client.fine_tuning.jobs.checkpoints.list(job_id, limit=1)]
    assert every == ["ftckpt_up30", "ftckpt_up20", "ftckpt_up10"]  # the SDK's auto-paging
    paths = {p for _, p, _, _ in upstream.requests if p.endswith("/checkpoints")}
    assert len(paths) == 1 and paths.pop().startswith("/v1/fine_tuning/jobs/ftjob-up")
