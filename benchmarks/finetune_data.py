"""The labeled collections of ``shared/datasets`` as fine-tuning tasks: train half, scored half.

Usage::

    task = load_task("cranfield", seed=1)
    task.train    # {query id: {relevant doc ids}}: the queries a job trains on
    task.test     # the queries it is scored on, over the whole corpus
    ndcg = ndcg_at_10(query_vectors, doc_vectors, task, task.test)

SciFact keeps its own split (train on ``qrels/train.tsv``, score ``qrels/test.tsv``); every
other collection has test qrels only, so its judged queries are halved with the seed. ArguAna's
queries are corpus documents: a hit whose id is the query's own id is dropped before scoring, as
BEIR's evaluator does (``ignore_identical_ids``).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# ``../shared/datasets`` from the repository root; from a worktree (``wt/<name>``), one up more.
DATASETS = next(
    (
        p
        for p in (ROOT.parent / "shared" / "datasets", ROOT.parents[1] / "shared" / "datasets")
        if p.exists()
    ),
    ROOT.parent / "shared" / "datasets",
)
LABELED = ("scifact", "cranfield", "cacm", "npl", "lisa", "arguana")


@dataclass(slots=True)
class Task:
    name: str
    doc_ids: list[str]
    docs: list[str]
    queries: dict[str, str]
    train: dict[str, set[str]]
    test: dict[str, set[str]]
    drop_own_id: bool

    def pairs(self) -> list[tuple[str, str]]:
        """(query id, doc id) of every training pair, in a fixed order, empty texts skipped."""
        texts = dict(zip(self.doc_ids, self.docs, strict=True))
        return [
            (q, d)
            for q in sorted(self.train)
            for d in sorted(self.train[q])
            if texts[d].strip() and self.queries[q].strip()
        ]

    def jsonl(self) -> bytes:
        """The training pairs as a fine-tune upload."""
        texts = dict(zip(self.doc_ids, self.docs, strict=True))
        lines = [
            json.dumps({"query": self.queries[q], "positive": texts[d]}) for q, d in self.pairs()
        ]
        return "\n".join(lines).encode()


def _jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open() as f:
        return [json.loads(line) for line in f if line.strip()]


def _qrels(path: Path) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    with path.open() as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if int(row["score"]) > 0:
                out.setdefault(row["query-id"], set()).add(row["corpus-id"])
    return out


def load_task(name: str, seed: int) -> Task:
    folder = DATASETS / name
    corpus = _jsonl(folder / "corpus.jsonl")
    doc_ids = [d["_id"] for d in corpus]
    docs = [f"{d.get('title', '')} {d['text']}".strip() for d in corpus]
    queries = {q["_id"]: q["text"] for q in _jsonl(folder / "queries.jsonl")}
    test = _qrels(folder / "qrels" / "test.tsv")
    if (folder / "qrels" / "train.tsv").exists():
        train = _qrels(folder / "qrels" / "train.tsv")
    else:
        ids = sorted(test)
        order = np.random.default_rng(seed).permutation(len(ids))
        half = len(ids) // 2
        train = {ids[i]: test[ids[i]] for i in order[:half]}
        test = {ids[i]: test[ids[i]] for i in order[half:]}
    return Task(name, doc_ids, docs, queries, train, test, drop_own_id=name == "arguana")


class Scorer:
    """Per-query nDCG@10 of exact (brute-force) search over the whole corpus, for one qrels set;
    rows of the query vectors follow ``sorted(qrels)``. Relevance is precomputed once, so scoring
    many models (every epoch of a study) costs one float32 matrix product each."""

    def __init__(self, task: Task, qrels: dict[str, set[str]]) -> None:
        ids = sorted(qrels)
        position = {d: i for i, d in enumerate(task.doc_ids)}
        self.relevant = np.zeros((len(ids), len(task.doc_ids)), dtype=bool)
        self.own = np.full(len(ids), -1)
        for row, q in enumerate(ids):
            self.relevant[row, [position[d] for d in qrels[q]]] = True
            if task.drop_own_id and q in position:
                self.own[row] = position[q]
        discounts = 1.0 / np.log2(np.arange(2, 12))
        self.discounts = discounts
        self.ideal = np.cumsum(discounts)[np.minimum(self.relevant.sum(axis=1), 10) - 1]

    def __call__(self, query_vectors: np.ndarray, doc_vectors: np.ndarray) -> np.ndarray:
        out = np.zeros(len(self.own))
        docs = doc_vectors.astype(np.float32, copy=False)
        for start in range(0, len(out), 256):
            rows = np.arange(start, min(start + 256, len(out)))
            scores = query_vectors[rows].astype(np.float32) @ docs.T
            own = self.own[rows]
            scores[np.flatnonzero(own >= 0), own[own >= 0]] = -np.inf
            top = np.argpartition(-scores, 10, axis=1)[:, :10]
            order = np.argsort(-np.take_along_axis(scores, top, 1), axis=1, kind="stable")
            ranked = np.take_along_axis(top, order, 1)
            hits = np.take_along_axis(self.relevant[rows], ranked, 1)
            out[rows] = (hits * self.discounts).sum(axis=1) / self.ideal[rows]
        return out


def ndcg_at_10(
    query_vectors: np.ndarray,
    doc_vectors: np.ndarray,
    task: Task,
    qrels: dict[str, set[str]],
) -> np.ndarray:
    """Per-query nDCG@10 over the whole corpus; rows follow ``sorted(qrels)``."""
    return Scorer(task, qrels)(query_vectors, doc_vectors)
