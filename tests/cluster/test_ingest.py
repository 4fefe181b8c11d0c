"""``semsearch ingest --ray``: Ray Data reads, an actor pool embeds, shards take the batches.

SciFact goes into a sharded collection through Ray Data and into a single-node collection
through the usual HTTP ingest; hybrid nDCG@10 over the test queries must agree within 0.005:
the repository's SciFact fixture always, the whole of SciFact where ``../shared/datasets`` is.
100k WordNet glosses (gzipped JSONL, from ``../shared/datasets``) go through end to end; CSV and
Parquet are read too.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest

from benchmarks.harness.datasets import SHARED_DATASETS
from benchmarks.harness.metrics import ndcg_at
from service.testing import ServerProcess, clean_env
from service.testing.cluster import RayCluster
from tests.cluster.conftest import NEEDS_RAY, SCIFACT
from tests.e2e.test_fine_tuning import FIXTURE as SCIFACT_FIXTURE

pytestmark = [NEEDS_RAY, pytest.mark.slow]

SOURCE_ROOT = Path(__file__).resolve().parents[2]
GLOSSES = SHARED_DATASETS / "wordnet_glosses" / "corpus.jsonl.gz"


def _ingest(
    server: ServerProcess, cluster: RayCluster | None, path: Path, name: str, *extra: str
) -> str:
    command = [sys.executable, "-m", "service.cli", "ingest", "--url", server.url, "-c", name]
    if cluster is not None:
        command += ["--ray", cluster.address, "--embedders", "2", *extra]
    env = clean_env(cluster.env() if cluster else None)
    done = subprocess.run(
        [*command, str(path)],
        cwd=SOURCE_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done.stdout


def _create(c: httpx.Client, name: str, **body: Any) -> None:
    r = c.post("/collections", json={"name": name, **body})
    assert r.status_code == 201, r.text


def _hybrid_ndcg(c: httpx.Client, name: str, dataset: Path = SCIFACT) -> float:
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    with (dataset / "qrels" / "test.tsv").open() as f:
        next(f)
        for line in f:
            qid, doc, score = line.split("\t")
            qrels[qid][doc] = int(score)
    queries = {}
    with (dataset / "queries.jsonl").open() as f:
        for line in f:
            row = json.loads(line)
            if row["_id"] in qrels:
                queries[row["_id"]] = row["text"]
    ids = sorted(queries)
    scores = []
    for start in range(0, len(ids), 50):
        chunk = ids[start : start + 50]
        body = {"queries": [queries[q] for q in chunk], "k": 10, "mode": "hybrid", "include": []}
        r = c.post(f"/collections/{name}/query", json=body)
        assert r.status_code == 200, r.text
        for qid, hits in zip(chunk, r.json()["data"], strict=True):
            scores.append(ndcg_at([h["id"] for h in hits], qrels[qid], 10))
    return sum(scores) / len(scores)


def test_scifact_through_ray_data_ranks_as_one_node(
    cluster_server: ServerProcess, ray_cluster: RayCluster, client: httpx.Client
) -> None:
    if not (SCIFACT / "corpus.jsonl").exists():
        pytest.skip(f"{SCIFACT} is not here")
    _create(client, "sf_sharded", shards=3)
    _create(client, "sf_single")
    out = _ingest(cluster_server, ray_cluster, SCIFACT / "corpus.jsonl", "sf_sharded")
    assert "ingested 5,183 documents into 'sf_sharded' on 3 shards" in out
    _ingest(cluster_server, None, SCIFACT / "corpus.jsonl", "sf_single")
    assert client.get("/collections/sf_sharded").json()["count"] == 5183
    one = client.get("/collections/sf_sharded/documents/4983").json()
    assert one["metadata"]["title"].startswith("Microstructural development")
    single, sharded = _hybrid_ndcg(client, "sf_single"), _hybrid_ndcg(client, "sf_sharded")
    assert single > 0.6, single  # the collection is really searchable
    assert abs(single - sharded) <= 0.005, (single, sharded)


def test_the_scifact_fixture_through_ray_data_ranks_as_one_node(
    cluster_server: ServerProcess, ray_cluster: RayCluster, client: httpx.Client
) -> None:
    """The test above on the repository's cut of SciFact (743 abstracts, 320 test claims), so
    that it runs wherever the tests run."""
    corpus = SCIFACT_FIXTURE / "corpus.jsonl"
    _create(client, "sfx_sharded", shards=3)
    _create(client, "sfx_single")
    out = _ingest(cluster_server, ray_cluster, corpus, "sfx_sharded")
    assert "ingested 743 documents into 'sfx_sharded' on 3 shards" in out
    _ingest(cluster_server, None, corpus, "sfx_single")
    assert client.get("/collections/sfx_sharded").json()["count"] == 743
    single = _hybrid_ndcg(client, "sfx_single", SCIFACT_FIXTURE)
    sharded = _hybrid_ndcg(client, "sfx_sharded", SCIFACT_FIXTURE)
    assert single > 0.6, single  # the collection is really searchable
    assert abs(single - sharded) <= 0.005, (single, sharded)


def test_100k_wordnet_glosses_end_to_end(
    cluster_server: ServerProcess,
    ray_cluster: RayCluster,
    client: httpx.Client,
    tmp_path: Path,
) -> None:
    if not GLOSSES.exists():
        pytest.skip(f"{GLOSSES} is not here")
    path = tmp_path / "glosses.jsonl.gz"
    with gzip.open(GLOSSES, "rt") as src, gzip.open(path, "wt") as dst:
        for i, line in enumerate(src):
            if i == 100_000:
                break
            dst.write(line)
    _create(client, "glosses", shards=2, dimensions=64)
    out = _ingest(cluster_server, ray_cluster, path, "glosses", "--batch", "2048")
    assert "ingested 100,000 documents into 'glosses' on 2 shards" in out
    assert client.get("/collections/glosses").json()["count"] == 100_000
    r = client.post("/collections/glosses/query", json={"query": "domesticated feline", "k": 5})
    assert r.status_code == 200 and len(r.json()["data"]) == 5
    r = client.post(
        "/collections/glosses/query",
        json={"query": "physical entity", "k": 3, "mode": "lexical", "include": ["text"]},
    )
    assert r.json()["data"][0]["id"] == "00001930-n"


def test_csv_and_parquet_through_ray_data(
    cluster_server: ServerProcess, ray_cluster: RayCluster, client: httpx.Client, tmp_path: Path
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [
        {"id": f"r{i}", "title": f"row {i}", "text": f"about {i % 3} things", "colour": "red"}
        for i in range(40)
    ] + [{"id": "empty", "title": "", "text": "", "colour": "blue"}]
    csv_path = tmp_path / "docs.csv"
    with csv_path.open("w") as f:
        f.write("id,title,text,colour\n")
        f.writelines(f"{r['id']},{r['title']},{r['text']},{r['colour']}\n" for r in rows)
    parquet_dir = tmp_path / "parquet"
    parquet_dir.mkdir()
    pq.write_table(pa.Table.from_pylist(rows[:20]), parquet_dir / "a.parquet")
    pq.write_table(pa.Table.from_pylist(rows[20:]), parquet_dir / "b.parquet")
    for name, path in (("from_csv", csv_path), ("from_parquet", parquet_dir)):
        _create(client, name, shards=2, dimensions=32)
        out = _ingest(cluster_server, ray_cluster, path, name)
        assert f"ingested 40 documents into '{name}'" in out and "1 empty skipped" in out
        doc = client.get(f"/collections/{name}/documents/r7").json()
        assert doc["text"] == "row 7 about 1 things"
        assert doc["metadata"] == {"title": "row 7", "colour": "red"}


def test_ingest_on_ray_needs_a_sharded_collection(
    cluster_server: ServerProcess, ray_cluster: RayCluster, client: httpx.Client, tmp_path: Path
) -> None:
    _create(client, "plain")
    path = tmp_path / "one.jsonl"
    path.write_text('{"id": "a", "text": "hello"}\n')
    command = [sys.executable, "-m", "service.cli", "ingest", "--url", cluster_server.url]
    command += ["-c", "plain", "--ray", ray_cluster.address, str(path)]
    done = subprocess.run(
        command, cwd=SOURCE_ROOT, env=clean_env(ray_cluster.env()), capture_output=True, text=True
    )
    assert done.returncode == 1
    assert "not a sharded collection" in done.stderr
