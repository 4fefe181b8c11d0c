"""A BEIR dataset through the service: /query must rank like exact search on the same vectors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from tests.e2e.search_client import Search

FIXTURE = Path(__file__).parents[1] / "fixtures" / "scifact_small"


def test_query_ranking_matches_exact_search(start_server) -> None:
    corpus = [json.loads(line) for line in (FIXTURE / "corpus.jsonl").read_text().splitlines()]
    queries = {
        q["_id"]: q["text"]
        for q in map(json.loads, (FIXTURE / "queries.jsonl").read_text().splitlines())
    }
    with (FIXTURE / "qrels" / "test.tsv").open() as f:
        split = sorted({row["query-id"] for row in csv.DictReader(f, delimiter="\t")})
    server = start_server()
    api = Search(server.url)
    api.create("beir")
    docs = [{"id": d["_id"], "text": f"{d['title']} {d['text']}".strip()} for d in corpus]
    for start in range(0, len(docs), 256):
        api.upsert("beir", docs[start : start + 256])

    ids, vectors, after = [], [], None
    while True:
        page = api.ok(
            "GET",
            "/collections/beir/documents",
            limit=1000,
            include="vector",
            **({"after": after} if after else {}),
        )
        ids += [d["id"] for d in page["data"]]
        vectors += [d["vector"] for d in page["data"]]
        if not page["has_more"]:
            break
        after = page["last_id"]
    matrix = np.asarray(vectors, dtype=np.float32)
    texts = [queries[q] for q in split]
    embedded = api.ok("POST", "/v1/embeddings", {"model": "wordllama-l2-supercat", "input": texts})
    query_vectors = np.asarray([d["embedding"] for d in embedded["data"]], dtype=np.float32)
    exact = np.argsort(-(query_vectors @ matrix.T), axis=1)[:, :10]

    answers = api.query("beir", queries=texts, k=10, mode="vector")["data"]
    found = sum(
        len({h["id"] for h in hits} & {ids[j] for j in row})
        for hits, row in zip(answers, exact, strict=True)
    )
    assert found / exact.size >= 0.98
    api.close()
