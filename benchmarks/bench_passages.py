"""Passages benchmark (issue 12): quality with passages on vs off, on real and long documents,
and what passages cost in ingest and query time.

    python benchmarks/bench_passages.py quality [--datasets scifact,...] [--settings off,256/32]
    python benchmarks/bench_passages.py long    [--group 16] [--settings off,256/32]
    python benchmarks/bench_passages.py speed   [--n 100000] [--repeats 2] [--settings off,256/32]
                                                [--corpora scifact,wordnet]
    (each with [--json FILE])

All in process, exactly as the service does it: texts split by ``service/passages.py`` with the
local model's own token counts (``service/collections/passages.py``), every passage embedded by
the local model, the collection an ``index.Collection`` created with those passage settings.
``off`` is ``passages: null`` (one vector per document; a text over the model's 8192-token limit
is embedded whole here, where the service would refuse it). nDCG@10 is the harness's.

``quality``: each labeled dataset's test split, vector / lexical / hybrid (the collection's
default alpha), one row per setting. ``long``: a long-document check built from SciFact, none
of whose documents is long: its abstracts, shuffled with a fixed seed, concatenated ``--group``
at a time into long documents (~6,000 tokens at 16); a long document is relevant to a claim
when it contains an abstract relevant to it (graded by the best). ``speed``: ingest docs/s (split,
embed, write; also as CPU seconds of the process, steadier than wall time on a shared machine)
and query p50 (embed + search, one query at a time, vector and hybrid) on SciFact
and on the first ``--n`` WordNet glosses, settings measured in the same run, alternating,
best of ``--repeats``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness.datasets import SHARED_DATASETS, Dataset, load_beir
from benchmarks.harness.metrics import evaluate
from index import Collection, Passages, PassageSettings, Store
from service.collections.passages import split_documents
from service.embeddings.local import NATIVE_DIMENSIONS, LocalModel

DATASETS = SHARED_DATASETS
LABELED = ("scifact", "cranfield", "cacm", "npl", "lisa", "arguana")
BATCH = 512


@dataclass
class Embedder:
    model: LocalModel

    def embed(self, texts: list[str]) -> np.ndarray:
        """The local model's vectors, without its input limit (``off`` embeds long texts)."""
        out = np.zeros((len(texts), NATIVE_DIMENSIONS), np.float32)
        for row, ids in zip(out, self.model.tokenize(texts), strict=True):
            if ids:
                row[:] = self.model.embedding[ids].mean(axis=0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.divide(out, norms, out=out, where=norms > 0)


def parse_setting(text: str) -> PassageSettings | None:
    if text == "off":
        return None
    size, _, overlap = text.partition("/")
    return PassageSettings(size=int(size), overlap=int(overlap or 0))


def label(setting: PassageSettings | None) -> str:
    return "off" if setting is None else f"{setting.size}/{setting.overlap}"


def ingest(
    col: Collection,
    embedder: Embedder,
    ids: Sequence[str],
    texts: Sequence[str],
    setting: PassageSettings | None,
) -> int:
    """Split, embed and upsert in batches; return the number of passages written."""
    written = 0
    for s in range(0, len(ids), BATCH):
        batch_ids, batch_texts = list(ids[s : s + BATCH]), list(texts[s : s + BATCH])
        if setting is None:
            col.upsert(batch_ids, embedder.embed(batch_texts), batch_texts)
            written += len(batch_ids)
            continue
        names = [f"documents[{i}].text" for i in range(len(batch_ids))]
        spans = split_documents(batch_texts, names, setting, embedder.model.count_tokens)
        flat = [t[a:b] for t, doc in zip(batch_texts, spans, strict=True) for a, b in doc]
        vectors = embedder.embed(flat)
        firsts = np.empty((len(batch_ids), NATIVE_DIMENSIONS), np.float32)
        passages: list[Passages | None] = []
        start = 0
        for i, doc in enumerate(spans):
            own = vectors[start : start + len(doc)]
            firsts[i] = own[0]
            passages.append(Passages(spans=doc, vectors=own) if len(doc) > 1 else None)
            start += len(doc)
        col.upsert(batch_ids, firsts, batch_texts, passages=passages)
        written += len(flat)
    return written


def rankings(
    col: Collection, embedder: Embedder, queries: dict[str, str], k: int = 10
) -> dict[str, dict[str, list[str]]]:
    qids = list(queries)
    texts = [queries[q] for q in qids]
    vectors = embedder.embed(texts)
    col.lexical_ready(timeout=600)
    out: dict[str, dict[str, list[str]]] = {"vector": {}, "lexical": {}, "hybrid": {}}
    for s in range(0, len(qids), 256):
        chunk, text, vec = qids[s : s + 256], texts[s : s + 256], vectors[s : s + 256]
        found = {
            "vector": col.query(vec, k=k + 1),
            "lexical": col.search_text(text, k=k + 1),
            "hybrid": col.hybrid(text, vec, k=k + 1),
        }
        for mode, results in found.items():
            for qid, hits in zip(chunk, results, strict=True):
                out[mode][qid] = [h.id for h in hits]
    return out


def quality_rows(
    name: str, data: Dataset, embedder: Embedder, settings: Sequence[PassageSettings | None]
) -> list[dict[str, Any]]:
    rows = []
    for setting in settings:
        with tempfile.TemporaryDirectory() as tmp:
            store = Store(Path(tmp))
            col = store.create_collection("c", dim=NATIVE_DIMENSIONS, passages=setting)
            passages = ingest(col, embedder, data.doc_ids, data.doc_texts, setting)
            runs = rankings(col, embedder, data.queries)
            store.close()
        row: dict[str, Any] = {
            "dataset": name,
            "passages": label(setting),
            "documents": len(data.doc_ids),
            "passage_count": passages,
        }
        for mode, run in runs.items():
            row[mode] = round(evaluate(data.without_self_hits(run), data.qrels)["ndcg@10"], 4)
        if setting is not None:
            run = passage_bm25(data, embedder, setting)
            row["lexical_by_passage"] = round(
                evaluate(data.without_self_hits(run), data.qrels)["ndcg@10"], 4
            )
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def passage_bm25(
    data: Dataset, embedder: Embedder, setting: PassageSettings, k: int = 10
) -> dict[str, list[str]]:
    """The alternative the lexical side did not take: BM25 (the index's own) over passages,
    each passage a document of its own, a document ranked by its best passage."""
    names = [f"documents[{i}].text" for i in range(len(data.doc_ids))]
    spans = split_documents(data.doc_texts, names, setting, embedder.model.count_tokens)
    owners, texts = [], []
    for doc_id, text, doc in zip(data.doc_ids, data.doc_texts, spans, strict=True):
        owners += [doc_id] * len(doc)
        texts += [text[a:b] for a, b in doc]
    ids = [str(i) for i in range(len(texts))]
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp))
        col = store.create_collection("bm25", dim=2)  # vectors unused: a tiny graph
        for s in range(0, len(ids), 4096):
            chunk = ids[s : s + 4096]
            col.upsert(chunk, rng.normal(size=(len(chunk), 2)) + 3, texts[s : s + 4096])
        col.lexical_ready(timeout=600)
        qids = list(data.queries)
        found = col.search_text([data.queries[q] for q in qids], k=200)
        run = {}
        for qid, hits in zip(qids, found, strict=True):
            ranked = list(dict.fromkeys(owners[int(h.id)] for h in hits))
            run[qid] = ranked[: k + 1]
        store.close()
    return run


def long_documents(group: int, seed: int = 12) -> Dataset:
    """SciFact's abstracts concatenated ``group`` at a time (see the module docstring)."""
    data = load_beir(DATASETS / "scifact", "test")
    order = list(range(len(data.doc_ids)))
    random.Random(seed).shuffle(order)
    ids, texts, home = [], [], {}
    for g, s in enumerate(range(0, len(order), group)):
        members = order[s : s + group]
        ids.append(f"long{g}")
        texts.append("\n\n".join(data.doc_texts[i] for i in members))
        for i in members:
            home[data.doc_ids[i]] = f"long{g}"
    qrels: dict[str, dict[str, int]] = {}
    for qid, judged in data.qrels.items():
        for doc, grade in judged.items():
            if doc in home:
                mine = qrels.setdefault(qid, {})
                mine[home[doc]] = max(mine.get(home[doc], 0), grade)
    return Dataset(
        name=f"scifact-long{group}",
        path=data.path,
        split="test",
        doc_ids=ids,
        doc_texts=texts,
        queries=data.queries,
        qrels=qrels,
    )


def speed_rows(
    name: str,
    ids: list[str],
    texts: list[str],
    queries: list[str],
    embedder: Embedder,
    settings: Sequence[PassageSettings | None],
    repeats: int,
) -> list[dict[str, Any]]:
    """Each setting ``repeats`` times, settings alternating (so that the machine's other load
    falls on all of them alike); the best of the repeats is reported."""
    best: dict[str, dict[str, Any]] = {}
    for _ in range(repeats):
        for setting in settings:
            row = speed_once(name, ids, texts, queries, embedder, setting)
            print(json.dumps(row), flush=True)
            kept = best.setdefault(row["passages"], row)
            kept["ingest_docs_per_s"] = max(kept["ingest_docs_per_s"], row["ingest_docs_per_s"])
            kept["ingest_cpu_s"] = min(kept["ingest_cpu_s"], row["ingest_cpu_s"])
            for key in ("vector_p50_ms", "hybrid_p50_ms"):
                kept[key] = min(kept[key], row[key])
    rows = list(best.values())
    base = rows[0]
    for row in rows[1:]:
        for key in ("ingest_docs_per_s", "ingest_cpu_s", "vector_p50_ms", "hybrid_p50_ms"):
            row[f"{key}_ratio"] = round(row[key] / base[key], 3)
    return rows


def speed_once(
    name: str,
    ids: list[str],
    texts: list[str],
    queries: list[str],
    embedder: Embedder,
    setting: PassageSettings | None,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp))
        col = store.create_collection("c", dim=NATIVE_DIMENSIONS, passages=setting)
        started, cpu = time.perf_counter(), time.process_time()
        passages = ingest(col, embedder, ids, texts, setting)
        seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu
        col.lexical_ready(timeout=600)
        latencies: dict[str, list[float]] = {"vector": [], "hybrid": []}
        for text in queries:
            t0 = time.perf_counter()
            col.query(embedder.embed([text]), k=10)
            t1 = time.perf_counter()
            col.hybrid([text], embedder.embed([text]), k=10)
            t2 = time.perf_counter()
            latencies["vector"].append((t1 - t0) * 1000)
            latencies["hybrid"].append((t2 - t1) * 1000)
        store.close()
    return {
        "dataset": name,
        "passages": label(setting),
        "documents": len(ids),
        "passage_count": passages,
        "ingest_docs_per_s": round(len(ids) / seconds, 1),
        # CPU time of all the process's threads: less at the mercy of a shared machine's load.
        "ingest_cpu_s": round(cpu_seconds, 2),
        "vector_p50_ms": round(statistics.median(latencies["vector"]), 3),
        "hybrid_p50_ms": round(statistics.median(latencies["hybrid"]), 3),
    }


def glosses(n: int, queries: int) -> tuple[list[str], list[str], list[str]]:
    ids, texts = [], []
    with gzip.open(DATASETS / "wordnet_glosses" / "corpus.jsonl.gz", "rt") as f:
        for line in f:
            row = json.loads(line)
            ids.append(row["_id"])
            texts.append(f"{row.get('title', '')} {row['text']}".strip())
            if len(ids) == n + queries:
                break
    return ids[:n], texts[:n], texts[n:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=["quality", "long", "speed"])
    parser.add_argument("--datasets", default=",".join(LABELED))
    parser.add_argument("--settings", default="off,256/32")
    parser.add_argument("--group", type=int, default=16)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=2, help="speed: runs per setting")
    parser.add_argument("--corpora", default="scifact,wordnet", help="speed: which corpora")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    settings = [parse_setting(s) for s in args.settings.split(",")]
    embedder = Embedder(LocalModel.load())
    rows: list[dict[str, Any]] = []
    if args.kind == "quality":
        for name in args.datasets.split(","):
            rows += quality_rows(name, load_beir(DATASETS / name, "test"), embedder, settings)
    elif args.kind == "long":
        data = long_documents(args.group)
        rows += quality_rows(data.name, data, embedder, settings)
    else:
        if "scifact" in args.corpora:
            sci = load_beir(DATASETS / "scifact", "test")
            questions = list(sci.queries.values())[: args.queries]
            rows += speed_rows(
                "scifact", sci.doc_ids, sci.doc_texts, questions, embedder, settings, args.repeats
            )
        if "wordnet" in args.corpora:
            ids, texts, held_out = glosses(args.n, args.queries)
            rows += speed_rows(
                f"wordnet{args.n}", ids, texts, held_out, embedder, settings, args.repeats
            )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
