"""``/query`` modes over HTTP (issues 7 and 11): lexical BM25 with the collection's analyzer,
hybrid fusion, the collection's default mode and alpha, typo tolerance, score parts, filters in
every mode, restart, and a fine-tuned (``ft:``) collection model."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator

import numpy as np
import pytest
from openai import OpenAI

from index.analysis import Analyzer
from index.fusion import DEFAULT_ALPHA, zscore
from service.testing import ServerProcess
from tests.e2e.search_client import Search
from tests.e2e.test_query_api import TEXTS
from tests.index.test_lexical import reference_bm25 as reference_bm25_with

ENGLISH = Analyzer.for_language("english")  # a new collection's analyzer


def reference_bm25(texts: dict[str, str], query: str) -> dict[str, float]:
    return reference_bm25_with(texts, query, ENGLISH)


_names = itertools.count()
MODEL = "wordllama-l2-supercat"


@pytest.fixture(scope="module")
def api(local_server: ServerProcess) -> Iterator[Search]:
    client = Search(local_server.url)
    yield client
    client.close()


def make_collection(api: Search, model: str | None = None) -> str:
    name = f"hybrid-{next(_names)}"
    api.create(name, **({"model": model} if model else {}))
    api.upsert(
        name,
        [
            {"id": id_, "text": text, "metadata": {"i": i, "pet": id_ in ("cat", "kitten", "dog")}}
            for i, (id_, text) in enumerate(TEXTS.items())
        ],
    )
    return name


@pytest.fixture(scope="module")
def col(api: Search) -> str:
    return make_collection(api)


def embed(api: Search, texts: list[str], model: str = MODEL) -> np.ndarray:
    body = api.ok("POST", "/v1/embeddings", {"model": model, "input": texts})
    return np.array([d["embedding"] for d in body["data"]], dtype=np.float32)


def expected_hybrid(api: Search, text: str, alpha: float, model: str = MODEL) -> list:
    """Fusion by hand over the whole (tiny) collection: every document is a candidate."""
    cosine = embed(api, list(TEXTS.values())) @ embed(api, [text], model)[0]
    bm25 = reference_bm25(TEXTS, text)
    lexical = np.array([bm25.get(i, 0.0) for i in TEXTS])
    fused = alpha * zscore(cosine) + (1 - alpha) * zscore(lexical)
    return sorted(zip(fused, TEXTS, cosine, lexical, strict=True), key=lambda t: -t[0])


def test_lexical_mode_is_bm25_and_embeds_nothing(api: Search, col: str) -> None:
    body = api.query(
        col,
        query="the cat on a mat",
        k=10,
        mode="lexical",
        include=["scores"],
        typo_tolerance=False,
    )
    assert body["mode"] == "lexical" and body["usage"]["prompt_tokens"] == 0
    expected = reference_bm25(TEXTS, "the cat on a mat")
    assert {h["id"]: h["score"] for h in body["data"]} == pytest.approx(expected)
    assert body["data"][0]["id"] == "cat"
    for hit in body["data"]:
        assert hit["scores"] == {"lexical": hit["score"], "vector": None}


@pytest.mark.parametrize("alpha", [None, 0.0, 0.7, 1.0])
def test_hybrid_is_the_documented_fusion(api: Search, col: str, alpha: float | None) -> None:
    body = api.query(
        col,
        query="a cat on a rug",
        k=6,
        mode="hybrid",
        include=["scores"],
        typo_tolerance=False,
        **({} if alpha is None else {"alpha": alpha}),
    )
    assert body["mode"] == "hybrid" and body["usage"]["prompt_tokens"] > 0
    expected = expected_hybrid(api, "a cat on a rug", DEFAULT_ALPHA if alpha is None else alpha)
    assert [h["score"] for h in body["data"]] == pytest.approx([e[0] for e in expected], abs=1e-5)
    parts = {e[1]: e for e in expected}
    for hit in body["data"]:
        assert hit["scores"]["vector"] == pytest.approx(parts[hit["id"]][2], abs=1e-5)
        assert hit["scores"]["lexical"] == pytest.approx(parts[hit["id"]][3])
    if alpha == 1.0:
        vector = api.query(col, query="a cat on a rug", k=6, mode="vector")["data"]
        assert [h["id"] for h in body["data"]] == [h["id"] for h in vector]


def test_hybrid_is_a_new_collections_default(api: Search, col: str) -> None:
    body = api.query(col, query="a cat on a rug", k=6, include=["scores"], typo_tolerance=False)
    assert body["mode"] == "hybrid"
    expected = expected_hybrid(api, "a cat on a rug", DEFAULT_ALPHA)
    assert [h["score"] for h in body["data"]] == pytest.approx([e[0] for e in expected], abs=1e-5)
    body = api.query(col, vector=embed(api, ["boat"])[0].tolist(), k=1, include=["scores"])
    assert body["mode"] == "vector"  # a vector query is a vector search
    [hit] = body["data"]
    assert hit["scores"] == {"lexical": None, "vector": hit["score"]}
    error = api.error(
        400, "POST", f"/collections/{col}/query", {"query": "x", "mode": "lexical", "alpha": 0.5}
    )
    assert error["param"] == "alpha"


def test_collection_alpha_is_the_default_alpha(api: Search) -> None:
    name = make_collection(api)
    api.ok("PATCH", f"/collections/{name}", {"alpha": 0.8})
    body = api.query(name, query="a cat on a rug", k=6, typo_tolerance=False)
    expected = expected_hybrid(api, "a cat on a rug", 0.8)
    assert [h["score"] for h in body["data"]] == pytest.approx([e[0] for e in expected], abs=1e-5)


def test_typo_tolerance_over_http(api: Search, col: str) -> None:
    [hit] = api.query(col, query="quantm mechanicz", k=1, mode="lexical")["data"]
    assert hit["id"] == "physics"
    assert (
        api.query(col, query="quantm mechanicz", mode="lexical", typo_tolerance=False)["data"] == []
    )
    hybrid = api.query(col, query="sailnig", k=1)["data"]  # a swap; hybrid by default
    assert hybrid[0]["id"] == "boat"


@pytest.mark.parametrize("mode", ["vector", "lexical", "hybrid"])
def test_filters_apply_in_every_mode(api: Search, col: str, mode: str) -> None:
    where = {"pet": True}
    hits = api.query(col, query="the cat and the car on the sea", k=10, where=where, mode=mode)
    assert {h["id"] for h in hits["data"]} <= {"cat", "kitten", "dog"}
    assert "cat" in {h["id"] for h in hits["data"]}
    assert "car" in {
        h["id"] for h in api.query(col, query="car", k=1, where={"i": 3}, mode=mode)["data"]
    }
    assert api.query(col, query="cat", where={"i": {"$gt": 100}}, mode=mode)["data"] == []


def test_batch_queries_in_each_mode(api: Search, col: str) -> None:
    for mode in ("lexical", "hybrid"):
        body = api.query(col, queries=["sailing boat", "quantum waves"], k=1, mode=mode)
        assert [hits[0]["id"] for hits in body["data"]] == ["boat", "physics"]


def test_writes_and_restart_keep_the_lexical_index(start_server) -> None:
    server = start_server()
    api = Search(server.url)
    name = make_collection(api)
    api.upsert(name, [{"id": "cat", "text": "a parrot on a perch"}])
    api.ok("DELETE", f"/collections/{name}/documents/boat")
    texts = {**TEXTS, "cat": "a parrot on a perch"}
    del texts["boat"]

    def check() -> None:
        for query in ("cat mat parrot", "sailing sea", "the a"):
            body = api.query(name, query=query, k=10, mode="lexical", typo_tolerance=False)
            got = {h["id"]: h["score"] for h in body["data"]}
            assert got == pytest.approx(reference_bm25(texts, query))

    check()
    api.close()
    server.stop()
    server.start()
    api = Search(server.url)
    check()
    api.close()


def test_fine_tuned_collection_model(start_server) -> None:
    """Lexical goes to BM25 over the texts; the vector side embeds with the ``ft:`` model.

    On a server of its own: a fine-tuned model would show in the shared server's /v1/models.
    """
    server = start_server()
    api = Search(server.url)
    pairs = [  # a job needs at least 10 distinct queries (issue 13)
        {"query": f"{query} {n}", "positive": TEXTS[key]}
        for key, query in [
            ("cat", "feline resting"),
            ("kitten", "young cat asleep"),
            ("car", "vehicle maintenance"),
            ("boat", "ship on the ocean"),
        ]
        for n in range(3)
    ]
    with OpenAI(base_url=server.v1, api_key="unused", max_retries=0) as sdk:
        data = "\n".join(json.dumps(p) for p in pairs).encode()
        upload = sdk.files.create(file=("pairs.jsonl", data), purpose="fine-tune")
        job = sdk.fine_tuning.jobs.create(
            model=MODEL, training_file=upload.id, hyperparameters={"n_epochs": 2}
        )
        deadline = time.monotonic() + 60
        while job.status not in ("succeeded", "failed", "cancelled"):
            assert time.monotonic() < deadline, job.status
            time.sleep(0.1)
            job = sdk.fine_tuning.jobs.retrieve(job.id)
    assert job.status == "succeeded" and job.fine_tuned_model, job.error
    name = make_collection(api, model=job.fine_tuned_model)
    body = api.query(
        name, query="a cat on a rug", k=6, mode="hybrid", include=["scores"], typo_tolerance=False
    )
    assert body["model"] == job.fine_tuned_model and body["mode"] == "hybrid"
    expected = expected_hybrid(api, "a cat on a rug", DEFAULT_ALPHA, job.fine_tuned_model)
    assert [h["id"] for h in body["data"]] == [e[1] for e in expected]
    for hit, e in zip(body["data"], expected, strict=True):
        assert hit["scores"]["vector"] == pytest.approx(e[2], abs=1e-5)
    lexical = api.query(name, query="a cat on a rug", k=6, mode="lexical", typo_tolerance=False)[
        "data"
    ]
    expected_bm25 = reference_bm25(TEXTS, "a cat on a rug")
    assert {h["id"]: h["score"] for h in lexical} == pytest.approx(expected_bm25)
    api.close()
