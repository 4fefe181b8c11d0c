"""An ``ft:`` model on a sharded collection: the front door embeds documents with the base
model and queries through the adapter, exactly as on one node."""

from __future__ import annotations

import numpy as np
import pytest

from service.testing import ServerProcess
from tests.cluster.conftest import NEEDS_RAY
from tests.e2e.search_client import Search
from tests.e2e.test_fine_tuning import BASE, load_fixture
from tests.e2e.test_finetuned_collection import embed, fine_tuned_model, stored_vectors

pytestmark = [NEEDS_RAY, pytest.mark.slow]


def test_a_sharded_collection_on_a_fine_tuned_model(cluster_server: ServerProcess) -> None:
    model = fine_tuned_model(cluster_server.v1)

    corpus, queries = load_fixture()
    ids = sorted(corpus)[:60]
    api = Search(cluster_server.url)
    created = api.ok("POST", "/collections", {"name": "tuned_sharded", "model": model, "shards": 3})
    assert created["model"] == model and created["shards"] == 3
    api.upsert("tuned_sharded", [{"id": i, "text": corpus[i]} for i in ids])
    stored = stored_vectors(api, "tuned_sharded", ids)
    np.testing.assert_allclose(stored, embed(api, BASE, [corpus[i] for i in ids]), atol=1e-5)
    question = next(iter(queries.values()))
    adapted = embed(api, model, [question])[0]
    expected = [ids[j] for j in np.argsort(-(stored @ adapted))[:10]]
    hits = api.query("tuned_sharded", query=question, k=10, mode="vector", ef=400)["data"]
    assert [h["id"] for h in hits] == expected
    api.close()
