"""Validation of an adapter: a held-out share of the training queries, and what it measures.

Usage::

    train, valid = holdout(data, share=0.2, seed=7)        # whole queries, never single pairs
    validator = Validator(valid)
    base = validator.score(None)                           # the base model (identity map)
    tuned = validator.score(weights)
    accepted, gain = improves(base, tuned, z=1.0)

A query goes to one side with all its pairs: the pairs of one query share its text, so splitting
pairs would score the adapter on queries it was trained on (issue 13: that is how it memorised).
The metric is nDCG@10 (binary relevance, as trec_eval's ``ndcg_cut.10``) and MRR@10 of each
validation query over the job's whole passage table (every distinct passage of the training and
validation files), not only the validation passages: the training passages are the ones an
adapter that memorises pulls queries toward, so they belong among the distractors, and a larger
pool is closer to searching a collection.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from service.finetune.trainer import TrainingData, normalise

CUTOFF = 10
# Rows of the score matrix computed at once: bounds memory for large pools.
_CHUNK_CELLS = 4_000_000


@dataclass(frozen=True, slots=True)
class Scores:
    """Per-query validation metrics of one model."""

    ndcg: np.ndarray
    mrr: np.ndarray

    @property
    def mean_ndcg(self) -> float:
        return float(self.ndcg.mean()) if len(self.ndcg) else 0.0

    @property
    def mean_mrr(self) -> float:
        return float(self.mrr.mean()) if len(self.mrr) else 0.0


def holdout(
    data: TrainingData, share: float, seed: int, minimum: int = 1
) -> tuple[TrainingData, TrainingData]:
    """Split by query, seeded: ``round(share * n)`` queries (at least ``minimum``, and never all
    of them) go to validation with all their pairs; the rest train."""
    n = data.n_queries
    count = min(max(minimum, round(share * n)), n - 1)
    # A stream of its own, so the split does not shift the training's shuffles.
    order = np.random.default_rng([seed, 0x5EED]).permutation(n)
    return data.subset(np.sort(order[count:])), data.subset(np.sort(order[:count]))


class Validator:
    """Scores a query map on a validation split; reusable across epochs."""

    def __init__(self, data: TrainingData) -> None:
        self.data = data
        self.relevant = data.relevant_keys()
        n_passages = len(data.passages)
        relevant_per_query = np.bincount(self.relevant // n_passages, minlength=data.n_queries)
        discounts = 1.0 / np.log2(np.arange(2, CUTOFF + 2))
        self._discounts = discounts
        self._ideal = np.cumsum(discounts)[np.minimum(relevant_per_query, CUTOFF) - 1]

    def score(self, weights: np.ndarray | None) -> Scores:
        """``weights=None`` scores the base model itself."""
        data = self.data
        queries = data.queries if weights is None else normalise(data.queries @ weights)
        n_passages = len(data.passages)
        cutoff = min(CUTOFF, n_passages)
        chunk = max(1, _CHUNK_CELLS // max(n_passages, 1))
        ndcg = np.zeros(data.n_queries)
        mrr = np.zeros(data.n_queries)
        for start in range(0, data.n_queries, chunk):
            rows = np.arange(start, min(start + chunk, data.n_queries))
            scores = queries[rows] @ data.passages.T
            top = np.argpartition(-scores, cutoff - 1, axis=1)[:, :cutoff]
            order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
            ranked = np.take_along_axis(top, order, axis=1)
            hits = np.isin(rows[:, None].astype(np.int64) * n_passages + ranked, self.relevant)
            ndcg[rows] = (hits * self._discounts[:cutoff]).sum(axis=1) / self._ideal[rows]
            first = np.where(hits.any(axis=1), hits.argmax(axis=1) + 1, np.inf)
            mrr[rows] = 1.0 / first
        return Scores(ndcg=ndcg, mrr=mrr)


def improves(base: Scores, tuned: Scores, z: float, min_gain: float = 0.0) -> tuple[bool, float]:
    """Whether ``tuned`` beats ``base`` on validation nDCG@10 beyond noise: the mean per-query
    gain must exceed ``min_gain`` and ``z`` standard errors of the paired gains (the validation
    score of the chosen epoch is the best of many, so a bare "greater" would often be luck)."""
    gains = tuned.ndcg - base.ndcg
    mean = float(gains.mean()) if len(gains) else 0.0
    if len(gains) < 2:
        return False, mean
    error = float(gains.std(ddof=1)) / math.sqrt(len(gains))
    return mean > min_gain and mean > z * error, mean
