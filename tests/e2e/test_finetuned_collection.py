"""A fine-tuned (query-side adapter) model as a collection's model: documents keep base vectors,
queries go through the adapter."""

from __future__ import annotations

import numpy as np
from openai import OpenAI

from tests.e2e.search_client import Search
from tests.e2e.test_fine_tuning import BASE, load_fixture, training_file, wait_for


def embed(api: Search, model: str, texts: list[str]) -> np.ndarray:
    body = api.ok("POST", "/v1/embeddings", {"model": model, "input": texts})
    return np.asarray([d["embedding"] for d in body["data"]], dtype=np.float32)


def fine_tuned_model(v1: str) -> str:
    """A local adapter trained on the SciFact fixture through the official SDK: its model id."""
    with OpenAI(base_url=v1, api_key="unused", max_retries=0) as sdk:
        train = sdk.files.create(file=("train.jsonl", training_file()), purpose="fine-tune")
        job = sdk.fine_tuning.jobs.create(
            model=BASE, training_file=train.id, seed=3, hyperparameters={"n_epochs": 3}
        )
        job = wait_for(sdk, job.id, {"succeeded", "failed", "cancelled"})
    assert job.status == "succeeded", job.error
    assert job.fine_tuned_model is not None
    return job.fine_tuned_model


def stored_vectors(api: Search, name: str, ids: list[str]) -> np.ndarray:
    return np.asarray(
        [
            api.ok("GET", f"/collections/{name}/documents/{i}", include="vector")["vector"]
            for i in ids
        ]
    )


def test_a_collection_on_a_fine_tuned_model(start_server) -> None:
    server = start_server()
    model = fine_tuned_model(server.v1)

    corpus, queries = load_fixture()
    ids = sorted(corpus)[:60]
    api = Search(server.url)
    # One vector per document here, to compare it with the base model's; passages below.
    assert api.create("tuned", model=model, passages=None)["model"] == model
    api.upsert("tuned", [{"id": i, "text": corpus[i]} for i in ids])

    # Documents are stored with the base model's vectors...
    stored = stored_vectors(api, "tuned", ids)
    np.testing.assert_allclose(stored, embed(api, BASE, [corpus[i] for i in ids]), atol=1e-5)

    # ...and queries with the adapter, which really changes them.
    question = next(iter(queries.values()))
    adapted, base = embed(api, model, [question])[0], embed(api, BASE, [question])[0]
    assert float(adapted @ base) < 0.999
    expected = [ids[j] for j in np.argsort(-(stored @ adapted))[:10]]
    hits = api.query("tuned", query=question, k=10, mode="vector")["data"]
    assert [h["id"] for h in hits] == expected

    # Passages (issue 12) on a fine-tuned model: split and embedded by the base model...
    long_text = "\n\n".join(corpus[i] for i in ids[:8])
    api.create("tuned-long", model=model)  # the default: passages on
    api.upsert("tuned-long", [{"id": "long", "text": long_text}, {"id": "one", "text": "a"}])
    found = api.query("tuned-long", query=question, k=2, mode="vector", include=["passages"])[
        "data"
    ]
    assert sorted(h["id"] for h in found) == ["long", "one"]
    passages = next(h for h in found if h["id"] == "long")["passages"]
    assert len(passages) == 3
    for p in passages:
        assert long_text[p["start"] : p["end"]] == p["text"]
    target = passages[-1]["text"]
    [vector] = embed(api, BASE, [target])
    [hit] = api.query("tuned-long", vector=vector.tolist(), k=1, include=["passages"])["data"]
    assert hit["id"] == "long" and hit["score"] > 0.9999
    assert hit["passages"][0]["text"] == target
    # ...and each passage scored against the adapted query.
    scores = [p["score"] for p in passages]
    texts = embed(api, BASE, [p["text"] for p in passages])
    np.testing.assert_allclose(scores, texts @ adapted, atol=1e-4)
    api.close()
