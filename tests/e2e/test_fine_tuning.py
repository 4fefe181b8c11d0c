"""Local adapter jobs through the official ``openai`` SDK against a real server.

The headline test trains on one half of a small SciFact split (``tests/fixtures``) and checks the
fine-tuned model ranks the held-out half better than the base model, via ``/v1/embeddings``.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import openai
import pytest
from openai import OpenAI
from openai.types.fine_tuning import FineTuningJob

from service.testing import ServerProcess, clean_env

FIXTURE = Path(__file__).parents[1] / "fixtures" / "scifact_small"
BASE = "wordllama-l2-supercat"


def read_split(split: str) -> dict[str, set[str]]:
    qrels: dict[str, set[str]] = {}
    with (FIXTURE / "qrels" / f"{split}.tsv").open() as f:
        for row in csv.DictReader(f, delimiter="\t"):
            qrels.setdefault(row["query-id"], set()).add(row["corpus-id"])
    return qrels


def load_fixture() -> tuple[dict[str, str], dict[str, str]]:
    corpus = {}
    for line in (FIXTURE / "corpus.jsonl").read_text().splitlines():
        doc = json.loads(line)
        corpus[doc["_id"]] = f"{doc['title']} {doc['text']}".strip()
    queries = {}
    for line in (FIXTURE / "queries.jsonl").read_text().splitlines():
        query = json.loads(line)
        queries[query["_id"]] = query["text"]
    return corpus, queries


def training_file(split: str = "train") -> bytes:
    corpus, queries = load_fixture()
    lines = [
        json.dumps({"query": queries[q], "positive": corpus[d]})
        for q, docs in sorted(read_split(split).items())
        for d in sorted(docs)
    ]
    return "\n".join(lines).encode()


def embed(client: OpenAI, model: str, texts: list[str]) -> np.ndarray:
    vectors: list[list[float]] = []
    for start in range(0, len(texts), 512):
        answer = client.embeddings.create(model=model, input=texts[start : start + 512])
        vectors.extend(item.embedding for item in answer.data)
    return np.asarray(vectors, dtype=np.float32)


def ndcg_and_mrr(client: OpenAI, query_model: str, document_model: str) -> tuple[float, float]:
    """Exact (brute-force) ranking of the held-out queries over the whole fixture corpus."""
    corpus, queries = load_fixture()
    qrels = read_split("test")
    doc_ids = list(corpus)
    docs = embed(client, document_model, [corpus[d] for d in doc_ids])
    query_ids = sorted(qrels)
    scores = embed(client, query_model, [queries[q] for q in query_ids]) @ docs.T
    order = np.argsort(-scores, axis=1)
    ndcg = mrr = 0.0
    for row, q in enumerate(query_ids):
        relevant = [doc_ids[j] in qrels[q] for j in order[row]]
        dcg = sum(1 / np.log2(r + 2) for r, rel in enumerate(relevant[:10]) if rel)
        ideal = sum(1 / np.log2(r + 2) for r in range(min(len(qrels[q]), 10)))
        ndcg += dcg / ideal
        mrr += 1 / (1 + relevant.index(True))
    return ndcg / len(query_ids), mrr / len(query_ids)


def wait_for(client: OpenAI, job_id: str, statuses: set[str], timeout: float = 30) -> FineTuningJob:
    deadline = time.monotonic() + timeout
    while True:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if job.status in statuses:
            return job
        assert time.monotonic() < deadline, f"{job_id} stuck in {job.status}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("ft") / "data", env=clean_env()) as running:
        yield running


@pytest.fixture
def client(server: ServerProcess) -> Iterator[OpenAI]:
    with OpenAI(base_url=server.v1, api_key="unused", max_retries=0) as sdk:
        yield sdk


def test_adapter_job_improves_held_out_retrieval(client: OpenAI) -> None:
    train = client.files.create(file=("train.jsonl", training_file()), purpose="fine-tune")
    valid = client.files.create(file=("valid.jsonl", training_file("test")), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(
        model=BASE,
        training_file=train.id,
        validation_file=valid.id,
        suffix="scifact",
        seed=42,
        hyperparameters={"n_epochs": 10},
    )
    assert job.status == "validating_files" and job.seed == 42
    job = wait_for(client, job.id, {"succeeded", "failed", "cancelled"})
    assert job.status == "succeeded", job.error
    assert job.fine_tuned_model is not None
    assert job.fine_tuned_model.startswith(f"ft:{BASE}:scifact:")
    assert job.hyperparameters.n_epochs == 10 and job.hyperparameters.batch_size == 64
    assert job.trained_tokens and job.finished_at and job.estimated_finish is None

    base = ndcg_and_mrr(client, BASE, BASE)
    tuned = ndcg_and_mrr(client, job.fine_tuned_model, BASE)  # query-side: docs keep base vectors
    assert tuned[0] > base[0] + 0.02 and tuned[1] > base[1], (base, tuned)

    assert job.fine_tuned_model in {m.id for m in client.models.list()}
    short = client.embeddings.create(model=job.fine_tuned_model, input="claim", dimensions=32)
    vector = np.asarray(short.data[0].embedding)
    assert vector.shape == (32,) and abs(np.linalg.norm(vector) - 1) < 1e-4

    (result_id,) = job.result_files
    rows = list(csv.DictReader(client.files.content(result_id).text.splitlines()))
    assert list(rows[0]) == ["step", "train_loss", "valid_loss", "valid_mrr"]
    pairs = training_file().count(b"\n") + 1
    assert len(rows) == 10 * math.ceil(pairs / 64)  # a row per step
    assert rows[-1]["valid_mrr"] and not rows[0]["valid_mrr"]  # measured at each epoch's end
    metrics = [
        e for e in client.fine_tuning.jobs.list_events(job.id, limit=100) if e.type == "metrics"
    ]
    assert len(metrics) == 10 and metrics[0].data["valid_mrr"] > 0


def test_same_seed_gives_the_same_model(client: OpenAI) -> None:
    data = training_file()[:20_000].rsplit(b"\n", 1)[0]
    train = client.files.create(file=("small.jsonl", data), purpose="fine-tune")
    models = []
    for _ in range(2):
        job = client.fine_tuning.jobs.create(
            model=BASE, training_file=train.id, seed=7, hyperparameters={"n_epochs": 2}
        )
        model = wait_for(client, job.id, {"succeeded"}).fine_tuned_model
        assert model is not None
        models.append(model)
    first, second = [
        np.asarray(client.embeddings.create(model=m, input="a claim").data[0].embedding)
        for m in models
    ]
    assert models[0] != models[1] and np.array_equal(first, second)


def test_chat_format_and_list_pagination(client: OpenAI) -> None:
    chat = "\n".join(
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": f"q{i}"},
                    {"role": "assistant", "content": f"passage {i}"},
                ]
            }
        )
        for i in range(20)
    ).encode()
    train = client.files.create(file=("chat.jsonl", chat), purpose="fine-tune")
    ids = [
        client.fine_tuning.jobs.create(
            model=BASE,
            training_file=train.id,
            hyperparameters={"n_epochs": 1},
            metadata={"n": str(i)},
            integrations=[{"type": "wandb", "wandb": {"project": "p"}}],
        ).id
        for i in range(3)
    ]
    page = client.fine_tuning.jobs.list(limit=2)
    assert [j.id for j in page.data] == [ids[2], ids[1]] and page.has_more
    rest = client.fine_tuning.jobs.list(limit=2, after=ids[1])
    assert rest.data[0].id == ids[0]
    listed = [j.id for j in client.fine_tuning.jobs.list(limit=1)]  # auto-pagination
    assert listed[:3] == ids[::-1] and len(listed) == len(set(listed))
    for job_id in ids:
        job = wait_for(client, job_id, {"succeeded"})
        assert job.integrations and job.integrations[0].wandb.project == "p"
        assert job.metadata is not None and job.seed is not None
    events = client.fine_tuning.jobs.list_events(ids[0], limit=2)
    assert len(events.data) == 2 and events.has_more
    assert events.data[0].message == "The job has successfully completed."
    older = client.fine_tuning.jobs.list_events(ids[0], limit=100, after=events.data[-1].id)
    assert older.data[-1].message.startswith("Created fine-tuning job")


def long_job_file() -> bytes:
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(500)]
    lines = [
        json.dumps(
            {"query": " ".join(rng.choice(words, 5)), "positive": " ".join(rng.choice(words, 8))}
        )
        for _ in range(4000)
    ]
    return "\n".join(lines).encode()


def start_long_job(client: OpenAI) -> str:
    """batch 1 x 50 epochs x 4000 examples: minutes of training, for cancel and restart tests."""
    train = client.files.create(file=("long.jsonl", long_job_file()), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(
        model=BASE, training_file=train.id, hyperparameters={"n_epochs": 50, "batch_size": 1}
    )
    return job.id


def test_cancel_stops_a_running_job_promptly(client: OpenAI) -> None:
    job_id = start_long_job(client)
    wait_for(client, job_id, {"running"})
    time.sleep(0.3)
    cancelled = client.fine_tuning.jobs.cancel(job_id)
    assert cancelled.status == "cancelled" and cancelled.fine_tuned_model is None
    deadline = time.monotonic() + 5
    while not any(
        "Training stopped" in e.message for e in client.fine_tuning.jobs.list_events(job_id)
    ):
        assert time.monotonic() < deadline, "the training thread did not stop"
        time.sleep(0.05)
    assert client.fine_tuning.jobs.retrieve(job_id).status == "cancelled"
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.cancel(job_id)


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        pytest.param({"model": "gpt-4o-mini"}, "model", id="chat-model-without-upstream"),
        pytest.param({"training_file": "file-nope"}, "training_file", id="unknown-file"),
        pytest.param({"validation_file": "file-nope"}, "validation_file", id="unknown-valid"),
        pytest.param({"hyperparameters": {"n_epochs": 0}}, "hyperparameters.n_epochs", id="epochs"),
        pytest.param(
            {"hyperparameters": {"batch_size": 257}}, "hyperparameters.batch_size", id="batch"
        ),
        pytest.param(
            {"hyperparameters": {"learning_rate_multiplier": 0}},
            "hyperparameters.learning_rate_multiplier",
            id="lr",
        ),
        pytest.param({"suffix": "x" * 65}, "suffix", id="suffix-too-long"),
        pytest.param({"suffix": "a:b"}, "suffix", id="suffix-colon"),
        pytest.param({"seed": -1}, "seed", id="seed"),
        pytest.param({"method": {"type": "dpo"}}, "method.type", id="dpo-local"),
        pytest.param({"extra_body": {"colour": "red"}}, "colour", id="unknown-field"),
    ],
)
def test_bad_requests(client: OpenAI, kwargs: dict, param: str) -> None:
    train = client.files.create(
        file=("t.jsonl", training_file()[:2000].rsplit(b"\n", 1)[0]), purpose="fine-tune"
    )
    request = {"model": BASE, "training_file": train.id, **kwargs}
    with pytest.raises(openai.BadRequestError) as info:
        client.fine_tuning.jobs.create(**request)
    assert info.value.body["param"] == param, info.value.body


def test_file_of_the_wrong_purpose_and_unknown_jobs(client: OpenAI) -> None:
    notes = client.files.create(file=("n.txt", b"notes"), purpose="user_data")
    with pytest.raises(openai.BadRequestError) as info:
        client.fine_tuning.jobs.create(model=BASE, training_file=notes.id)
    assert info.value.body["code"] == "invalid_file_purpose"
    for call in (
        client.fine_tuning.jobs.retrieve,
        client.fine_tuning.jobs.cancel,
        client.fine_tuning.jobs.list_events,
    ):
        with pytest.raises(openai.NotFoundError):
            call("ftjob-doesnotexist")


def test_unusable_training_data_fails_the_job_naming_the_line(client: OpenAI) -> None:
    data = b'{"query": "q", "positive": "p"}\n{"prompt": "a", "completion": "b"}\n'
    train = client.files.create(file=("mixed.jsonl", data), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model=BASE, training_file=train.id)
    job = wait_for(client, job.id, {"failed"})
    assert job.error is not None and job.error.param == "training_file"
    assert "line 2" in job.error.message and job.error.code == "invalid_training_file"


def test_jobs_survive_a_kill_and_come_back_requeued(start_server) -> None:
    server = start_server()
    with OpenAI(base_url=server.v1, api_key="unused", max_retries=0) as client:
        done = client.fine_tuning.jobs.create(
            model=BASE,
            training_file=client.files.create(
                file=("s.jsonl", training_file()[:3000].rsplit(b"\n", 1)[0]), purpose="fine-tune"
            ).id,
            hyperparameters={"n_epochs": 1},
        )
        done = wait_for(client, done.id, {"succeeded"})
        job_id = start_long_job(client)
        wait_for(client, job_id, {"running"})
    server.kill()  # SIGKILL: no shutdown code runs
    server.start()
    with OpenAI(base_url=server.v1, api_key="unused", max_retries=0) as client:
        job = client.fine_tuning.jobs.retrieve(job_id)
        assert job.status in ("queued", "running")
        messages = [e.message for e in client.fine_tuning.jobs.list_events(job_id, limit=100)]
        assert any("re-queued" in m for m in messages) and messages[-1].startswith("Created")
        wait_for(client, job_id, {"running"})
        assert client.fine_tuning.jobs.retrieve(done.id).status == "succeeded"
        assert done.fine_tuned_model in {m.id for m in client.models.list()}
        client.embeddings.create(model=done.fine_tuned_model, input="still served")
        assert client.fine_tuning.jobs.cancel(job_id).status == "cancelled"
