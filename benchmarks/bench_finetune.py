"""Fine-tuning benchmark: local adapter jobs with the default ("auto") hyperparameters.

Usage::

    python benchmarks/bench_finetune.py [--json] [--datasets scifact,cranfield,wordnet_glosses]

For each dataset in ``shared/datasets`` it starts a real ``semsearch serve``, uploads training
pairs through the ``openai`` SDK, runs a job on the local model, and ranks held-out queries by
exact (brute-force numpy) search over the whole corpus, once with the base model and once with
the ``ft:`` model on the query side (documents keep base vectors). Splits:

- scifact: train on ``qrels/train.tsv`` (919 pairs), evaluate on ``qrels/test.tsv`` (300 claims);
- cranfield: only ``test.tsv`` exists, so its queries are halved (seeded): train / held out;
- wordnet_glosses: no labels; the self-supervised task of its README (a synset's lemmas are the
  query, its gloss the passage): 20,000 synsets train, 2,000 others are held out, ranked over all
  117,659 glosses.

Reports nDCG@10 and MRR@10 before/after, the job's wall time (create to succeeded, embedding
included) and the training time alone.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from openai import OpenAI

from service.testing import ServerProcess, clean_env

ROOT = Path(__file__).resolve().parents[1]

DATASETS = ROOT.parent / "shared" / "datasets"
BASE = "wordllama-l2-supercat"
SEED = 20240611


def _jsonl(path: Path) -> list[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as f:
        return [json.loads(line) for line in f if line.strip()]


def _qrels(path: Path) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    with path.open() as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if int(row["score"]) > 0:
                out.setdefault(row["query-id"], set()).add(row["corpus-id"])
    return out


Split = tuple[dict[str, str], dict[str, str], dict[str, set[str]], dict[str, set[str]]]


def load(name: str) -> Split:
    """(corpus texts, query texts, train qrels, held-out qrels)."""
    folder = DATASETS / name
    rng = np.random.default_rng(SEED)
    if name == "wordnet_glosses":
        docs = _jsonl(folder / "corpus.jsonl.gz")
        corpus = {d["_id"]: d["text"] for d in docs}
        queries = {d["_id"]: d["title"] for d in docs}
        picked = rng.permutation(len(docs))[:22_000]
        qrels = {docs[i]["_id"]: {docs[i]["_id"]} for i in picked}
        ids = list(qrels)
        return (
            corpus,
            queries,
            {q: qrels[q] for q in ids[:20_000]},
            {q: qrels[q] for q in ids[20_000:]},
        )
    corpus = {
        d["_id"]: f"{d.get('title', '')} {d['text']}".strip()
        for d in _jsonl(folder / "corpus.jsonl")
    }
    queries = {q["_id"]: q["text"] for q in _jsonl(folder / "queries.jsonl")}
    test = _qrels(folder / "qrels" / "test.tsv")
    if (folder / "qrels" / "train.tsv").exists():
        return corpus, queries, _qrels(folder / "qrels" / "train.tsv"), test
    ids = sorted(test)
    order = rng.permutation(len(ids))
    half = len(ids) // 2
    return (
        corpus,
        queries,
        {ids[i]: test[ids[i]] for i in order[:half]},
        {ids[i]: test[ids[i]] for i in order[half:]},
    )


def embed(client: OpenAI, model: str, texts: list[str]) -> np.ndarray:
    rows: list[list[float]] = []
    for start in range(0, len(texts), 2048):
        answer = client.embeddings.create(model=model, input=texts[start : start + 2048])
        rows.extend(item.embedding for item in answer.data)
    return np.asarray(rows, dtype=np.float32)


def evaluate(
    client: OpenAI,
    model: str,
    docs: np.ndarray,
    doc_ids: list[str],
    queries: dict[str, str],
    qrels: dict[str, set[str]],
) -> dict[str, float]:
    """nDCG@10 and MRR@10 of exact search (all scores, top 10 by argpartition)."""
    ids = sorted(qrels)
    vectors = embed(client, model, [queries[q] for q in ids])
    ndcg = mrr = 0.0
    for start in range(0, len(ids), 256):
        scores = vectors[start : start + 256] @ docs.T
        top = np.argpartition(-scores, 10, axis=1)[:, :10]
        order = np.take_along_axis(top, np.argsort(-np.take_along_axis(scores, top, 1), 1), 1)
        for row, q in enumerate(ids[start : start + 256]):
            hits = [doc_ids[j] in qrels[q] for j in order[row]]
            ideal = sum(1 / np.log2(r + 2) for r in range(min(len(qrels[q]), 10)))
            ndcg += sum(1 / np.log2(r + 2) for r, hit in enumerate(hits) if hit) / ideal
            mrr += next((1 / (r + 1) for r, hit in enumerate(hits) if hit), 0.0)
    return {"ndcg@10": ndcg / len(ids), "mrr@10": mrr / len(ids)}


def run(client: OpenAI, name: str) -> dict[str, Any]:
    corpus, queries, train, held_out = load(name)
    lines = [
        json.dumps({"query": queries[q], "positive": corpus[d]})
        for q in sorted(train)
        for d in sorted(train[q])
        if corpus[d] and queries[q]
    ]
    upload = client.files.create(
        file=(f"{name}.jsonl", "\n".join(lines).encode()), purpose="fine-tune"
    )
    started = time.perf_counter()
    job = client.fine_tuning.jobs.create(model=BASE, training_file=upload.id, seed=SEED)
    while job.status not in ("succeeded", "failed", "cancelled"):
        time.sleep(0.2)
        job = client.fine_tuning.jobs.retrieve(job.id)
    wall = time.perf_counter() - started
    if job.status != "succeeded" or job.fine_tuned_model is None:
        raise RuntimeError(f"{name}: job {job.status}: {job.error}")
    events = [e.message for e in client.fine_tuning.jobs.list_events(job.id, limit=1000)]
    training = next(float(m.split()[2]) for m in events if m.startswith("Training took"))
    doc_ids = [d for d in corpus]
    docs = embed(client, BASE, [corpus[d] or " " for d in doc_ids])
    before = evaluate(client, BASE, docs, doc_ids, queries, held_out)
    after = evaluate(client, job.fine_tuned_model, docs, doc_ids, queries, held_out)
    return {
        "dataset": name,
        "train_pairs": len(lines),
        "held_out_queries": len(held_out),
        "documents": len(doc_ids),
        "hyperparameters": job.hyperparameters.model_dump(),
        "job_seconds": round(wall, 2),
        "training_seconds": training,
        "before": before,
        "after": after,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--datasets", default="scifact,cranfield,wordnet_glosses")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        with ServerProcess(Path(tmp) / "data", env=clean_env()) as server:
            with OpenAI(base_url=server.v1, api_key="unused", max_retries=0, timeout=600) as client:
                for name in args.datasets.split(","):
                    results.append(run(client, name))
    if args.json:
        print(json.dumps({"seed": SEED, "base_model": BASE, "results": results}, indent=2))
        return
    print(f"seed {SEED}, base {BASE}, auto hyperparameters, exact search")
    print(
        "| dataset | train pairs | held-out queries | nDCG@10 before | after "
        "| MRR@10 before | after | training | job (embedding included) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        b, a = r["before"], r["after"]
        print(
            f"| {r['dataset']} | {r['train_pairs']} | {r['held_out_queries']} | {b['ndcg@10']:.3f} "
            f"| **{a['ndcg@10']:.3f}** | {b['mrr@10']:.3f} | {a['mrr@10']:.3f} "
            f"| {r['training_seconds']:.1f} s | {r['job_seconds']:.1f} s |"
        )


if __name__ == "__main__":
    main()
