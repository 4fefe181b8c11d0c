"""Validation: held-out queries keep all their pairs; nDCG@10 and MRR@10 as trec_eval has them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from service.finetune.trainer import TrainingData, normalise
from service.finetune.validation import Scores, Validator, holdout, improves

SEED = 20240611


def grouped(n_queries: int = 40, dims: int = 8) -> TrainingData:
    """Query i has i % 3 + 1 pairs, so splitting pairs instead of queries would show."""
    rng = np.random.default_rng(SEED)
    pair_query = np.repeat(np.arange(n_queries), np.arange(n_queries) % 3 + 1)
    return TrainingData(
        queries=normalise(rng.standard_normal((n_queries, dims))),
        passages=normalise(rng.standard_normal((len(pair_query), dims))),
        pair_query=pair_query,
        pair_positive=np.arange(len(pair_query)),
    )


@pytest.mark.parametrize("seed", [pytest.param(s, id=f"seed-{s}") for s in (1, 2, 3)])
def test_holdout_splits_whole_queries_seeded(seed: int) -> None:
    data = grouped()
    train, valid = holdout(data, share=0.25, seed=seed, minimum=5)
    assert (train.n_queries, valid.n_queries) == (30, 10)
    assert len(train) + len(valid) == len(data)  # every pair on exactly one side
    # Each side's queries are whole: every pair of a query went with it.
    for side in (train, valid):
        rows = [np.flatnonzero((data.queries == q).all(axis=1))[0] for q in side.queries]
        expected = sorted(p for r in rows for p in np.flatnonzero(data.pair_query == r))
        assert sorted(side.pair_positive.tolist()) == expected
    again = holdout(data, share=0.25, seed=seed, minimum=5)[1]
    assert np.array_equal(again.queries, valid.queries)
    other = holdout(data, share=0.25, seed=seed + 10, minimum=5)[1]
    assert not np.array_equal(other.queries, valid.queries)


def test_holdout_minimum_and_never_everything() -> None:
    data = grouped(n_queries=12)
    assert holdout(data, share=0.1, seed=1, minimum=5)[1].n_queries == 5
    assert holdout(data, share=1.0, seed=1, minimum=5)[0].n_queries == 1


def test_scores_match_hand_computed_ndcg_and_mrr() -> None:
    """Two queries over four passages; the ranking follows passage order by construction."""
    passages = np.eye(4)
    ranking = normalise(np.array([[4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0]]))
    data = TrainingData(
        queries=ranking,
        passages=passages,
        pair_query=np.array([0, 0, 1]),
        pair_positive=np.array([1, 3, 0]),  # query 0: ranks 2 and 4; query 1: rank 4
    )
    scores = Validator(data).score(None)
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    ideal = 1 + 1 / math.log2(3)
    assert scores.ndcg.tolist() == pytest.approx([dcg / ideal, 1 / math.log2(5)])
    assert scores.mrr.tolist() == pytest.approx([1 / 2, 1 / 4])
    swapped = Validator(data).score(np.eye(4)[::-1])  # reverses both rankings
    assert swapped.mrr.tolist() == pytest.approx([1.0, 1.0])
    assert swapped.ndcg.tolist() == pytest.approx([(1 + 1 / 2) / ideal, 1.0])


def test_improves_needs_a_gain_beyond_noise() -> None:
    base = Scores(ndcg=np.zeros(4), mrr=np.zeros(4))
    steady = Scores(ndcg=np.full(4, 0.1), mrr=np.zeros(4))
    noisy = Scores(ndcg=np.array([0.9, -0.5, -0.2, 0.1]), mrr=np.zeros(4))
    assert improves(base, steady, z=2.0) == (True, pytest.approx(0.1))
    assert improves(base, noisy, z=0.5)[0] is False  # mean 0.075, standard error 0.3
    assert improves(base, noisy, z=0.0)[0] is True
    assert improves(base, base, z=0.0)[0] is False  # equal is not better
    assert improves(base, steady, z=0.0, min_gain=0.2)[0] is False
