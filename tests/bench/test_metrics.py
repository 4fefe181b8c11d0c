"""Metrics against hand computation and against trec_eval's figures on a toy run."""

from __future__ import annotations

import math

import pytest

from benchmarks.harness.metrics import evaluate, mrr_at, ndcg_at, parse_metric, per_query, recall_at

# A 3-query toy run. The expected figures were computed once with pytrec_eval 0.5
# (trec_eval 9.0.8: ndcg_cut.10, recall.10, recall.100, recip_rank), scores given as
# 100, 99, ... in list order so there are no ties; the test does not import pytrec_eval.
TOY_QRELS = {
    "q1": {"d1": 1, "d3": 1, "d9": 1},
    "q2": {"d2": 2, "d5": 1, "d12": 1},
    "q3": {"d4": 1, "d8": 0},
}
TOY_RUN = {
    "q1": ["d3", "d2", "d1", "d4", "d5"],
    "q2": ["d1", "d5", "d3", "d2", "d6", "d7", "d8", "d9", "d10", "d11", "d12"],
    "q3": ["d8", "d7", "d6", "d4"],
}
TREC_EVAL = {
    "q1": {"ndcg@10": 0.7039180890341347, "recall@10": 2 / 3, "recall@100": 2 / 3, "mrr@10": 1.0},
    "q2": {"ndcg@10": 0.47662611018851303, "recall@10": 2 / 3, "recall@100": 1.0, "mrr@10": 0.5},
    "q3": {"ndcg@10": 0.43067655807339306, "recall@10": 1.0, "recall@100": 1.0, "mrr@10": 0.25},
}


def test_per_query_figures_equal_trec_eval() -> None:
    got = per_query(TOY_RUN, TOY_QRELS)
    assert got.keys() == TREC_EVAL.keys()
    for qid, expected in TREC_EVAL.items():
        assert got[qid] == pytest.approx(expected, abs=1e-12), qid


def test_means_equal_trec_eval() -> None:
    means = evaluate(TOY_RUN, TOY_QRELS)
    for name in ("ndcg@10", "recall@10", "recall@100", "mrr@10"):
        assert means[name] == pytest.approx(sum(q[name] for q in TREC_EVAL.values()) / 3)


def test_ndcg_by_hand_binary() -> None:
    # Relevant d1 and d3 found at ranks 3 and 1: DCG = 1/log2(2) + 1/log2(4) = 1.5;
    # ideal = 1/log2(2) + 1/log2(3).
    ideal = 1 + 1 / math.log2(3)
    assert ndcg_at(["d3", "d2", "d1"], {"d1": 1, "d3": 1}, 10) == pytest.approx(1.5 / ideal)


def test_ndcg_by_hand_graded_and_cut() -> None:
    judged = {"a": 2, "b": 1, "c": 1}
    # Gains are linear in the grade (trec_eval), and only the top k count, ideal included.
    dcg = 1 / math.log2(2) + 2 / math.log2(3)
    ideal = 2 / math.log2(2) + 1 / math.log2(3)
    assert ndcg_at(["b", "a", "c"], judged, 2) == pytest.approx(dcg / ideal)
    assert ndcg_at(["a", "b", "c", "x"], judged, 10) == pytest.approx(1.0)
    assert ndcg_at(["x", "y"], judged, 10) == 0.0


def test_recall_and_mrr_by_hand() -> None:
    judged = {"a": 1, "b": 1, "c": 1, "z": 0}
    ranking = ["x", "z", "b", "y", "a"]
    assert recall_at(ranking, judged, 3) == pytest.approx(1 / 3)
    assert recall_at(ranking, judged, 100) == pytest.approx(2 / 3)
    assert mrr_at(ranking, judged, 10) == pytest.approx(1 / 3)  # "z" is judged, not relevant
    assert mrr_at(ranking, judged, 2) == 0.0


def test_missing_ranking_scores_zero_and_unjudged_queries_are_left_out() -> None:
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}, "q3": {"c": 0}}
    scores = per_query({"q1": ["a"]}, qrels)
    assert set(scores) == {"q1", "q2"}  # q3 has no relevant document
    assert scores["q2"] == {"ndcg@10": 0.0, "recall@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0}
    assert evaluate({"q1": ["a"]}, qrels)["ndcg@10"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    "name", ["ndcg", "ndcg@", "map@10", "recall@0", "mrr@x"], ids=lambda n: f"bad-{n}"
)
def test_parse_metric_rejects(name: str) -> None:
    with pytest.raises(ValueError):
        parse_metric(name)


def test_parse_metric() -> None:
    assert parse_metric("recall@100") == ("recall", 100)
