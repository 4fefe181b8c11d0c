"""An ``ft:`` model on a sharded collection: the front door embeds documents with the base
model and queries through the adapter, exactly as on one node."""

from __future__ import annotations

import numpy as np
import pytest
from openai import OpenAI

from service.testing import ServerProcess
from tests.cluster.conftest import NEEDS_RAY
from tests.e2e.search_client import Search
from tests.e2e.test_fine_tuning import BASE, load_fixture, training_file, wait_for
from tests.e2e.test_finetuned_collection import embed

pytestmark = [NEEDS_RAY, pytest.mark.slow]


def test_a_sharded_collection_on_a_fine_tuned_model(cluster_server: ServerProcess) -> None:
    with OpenAI(base_url=cluster_server.v1, api_key="unused", max_retries=0) as sdk:
        train = sdk.files.create(file=("train.jsonl", training_file()), purpose="fine-tune")
        job = sdk.fine_tuning.jobs.create(
            model=BASE, training_file=train.id, seed=3, hyperparameters={"n_epochs": 3}
        )
        job = wait_for(sdk, job.id, {"succeeded", "failed", "cancelled"})
    assert job.status == "succeeded", job.error
    model = job.fine_tuned_model
    assert model is not None

    corpus, queries = load_fixture()
    ids = sorted(corpus)[:60]
    api = Search(cluster_server.url)
    created = api.ok("POST", "/collections", {"name": "tuned_sharded", "model": model, "shards": 3})
    assert created["model"] == model and created["shards"] == 3
    api.upsert("tuned_sharded", [{"id": i, "text": corpus[i]} for i in ids])
    stored = np.asarray(
        [
            api.ok("GET", f"/collections/tuned_sharded/documents/{i}", include="vector")["vector"]
            for i in ids
        ]
    )
    np.testing.assert_allclose(stored, embed(api, BASE, [corpus[i] for i in ids]), atol=1e-5)
    question = next(iter(queries.values()))
    adapted = embed(api, model, [question])[0]
    expected = [ids[j] for j in np.argsort(-(stored @ adapted))[:10]]
    hits = api.query("tuned_sharded", query=question, k=10, mode="vector", ef=400)["data"]
    assert [h["id"] for h in hits] == expected
    api.close()
