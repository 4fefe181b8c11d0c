"""Ranking metrics with trec_eval's definitions (as BEIR reports them through pytrec_eval).

Usage::

    scores = evaluate({"q1": ["d3", "d1", ...]}, {"q1": {"d1": 1}})
    scores["ndcg@10"], scores["recall@100"], scores["mrr@10"]

- nDCG@k: gain = the qrel's relevance (linear, trec_eval's ``ndcg_cut``), discount
  ``1/log2(rank + 1)``; the ideal ranking sorts all judged relevances, cut at k.
- recall@k: relevant documents in the top k over all relevant documents (``recall_k``).
- MRR@k: 1/rank of the first relevant document within the top k, else 0 (BEIR's ``mrr@k``).

A ranking is a list of document ids, best first; the harness never passes ties to be broken,
so, unlike trec_eval, the given order is used as is (trec_eval re-sorts by score, breaking ties
by descending docno). Every query of the qrels is scored, an absent ranking as empty, which is
``trec_eval -c``; queries with no relevant document are left out, as they have no ideal DCG.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

Ranking = Sequence[str]
Run = Mapping[str, Ranking]
Judgements = Mapping[str, int]

DEFAULT_METRICS: tuple[str, ...] = ("ndcg@10", "recall@10", "recall@100", "mrr@10")


def dcg(gains: Sequence[float]) -> float:
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains) if g > 0)


def ndcg_at(ranking: Ranking, judged: Judgements, k: int) -> float:
    ideal = dcg(sorted((r for r in judged.values() if r > 0), reverse=True)[:k])
    if ideal == 0:
        return 0.0
    return dcg([max(judged.get(doc, 0), 0) for doc in ranking[:k]]) / ideal


def recall_at(ranking: Ranking, judged: Judgements, k: int) -> float:
    relevant = {doc for doc, r in judged.items() if r > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranking[:k])) / len(relevant)


def mrr_at(ranking: Ranking, judged: Judgements, k: int) -> float:
    for rank, doc in enumerate(ranking[:k], 1):
        if judged.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


_FUNCTIONS = {"ndcg": ndcg_at, "recall": recall_at, "mrr": mrr_at}


def parse_metric(name: str) -> tuple[str, int]:
    """``"ndcg@10"`` -> ``("ndcg", 10)``."""
    kind, _, cut = name.partition("@")
    if kind not in _FUNCTIONS or not cut.isdigit() or int(cut) < 1:
        raise ValueError(f"unknown metric {name!r}; expected ndcg@K, recall@K or mrr@K")
    return kind, int(cut)


def per_query(
    run: Run, qrels: Mapping[str, Judgements], metrics: Sequence[str] = DEFAULT_METRICS
) -> dict[str, dict[str, float]]:
    """``{query_id: {metric: value}}`` over the qrels' queries that have a relevant document."""
    parsed = [(name, *parse_metric(name)) for name in metrics]
    out: dict[str, dict[str, float]] = {}
    for qid, judged in qrels.items():
        if not any(r > 0 for r in judged.values()):
            continue
        ranking = list(run.get(qid, ()))
        out[qid] = {name: _FUNCTIONS[kind](ranking, judged, k) for name, kind, k in parsed}
    return out


def evaluate(
    run: Run, qrels: Mapping[str, Judgements], metrics: Sequence[str] = DEFAULT_METRICS
) -> dict[str, float]:
    """Mean of each metric over the scored queries (see the module docstring)."""
    scores = per_query(run, qrels, metrics)
    if not scores:
        return {name: 0.0 for name in metrics}
    return {name: sum(q[name] for q in scores.values()) / len(scores) for name in metrics}
