"""Fusing a lexical and a vector ranking into one (hybrid search).

Candidates are the union of both sides' top N. Every candidate gets its *real* score on both
sides (BM25 of its text, similarity of its stored vector; 0 BM25 means no query term occurs in
it), then each side is normalised over the candidate set and mixed::

    fused = alpha * z(vector) + (1 - alpha) * z(lexical)        z(x) = (x - mean) / std

``alpha = 0`` ranks by BM25 alone, ``1`` by vector similarity alone. z-scores put the two
sides, whose raw scales are unrelated (BM25 is unbounded, cosine lies in [-1, 1]), on one
scale without letting a single outlier squash the rest as min-max scaling does. The default
alpha and the alternatives measured against it (min-max, reciprocal-rank fusion, no fill-in)
are in ``benchmarks/README.md`` ("Hybrid retrieval").
"""

from __future__ import annotations

from typing import Literal

import numpy as np

#: The default of new collections (``schemas.SearchDefaults``): chosen by leave-one-dataset-out
#: over six labeled collections, where it is the choice of every fold and ranks at or above both
#: single modes on each (``benchmarks/README.md``, "Relevance"). Collections created before it
#: keep 0.4, the best mean of SciFact and Cranfield alone.
DEFAULT_ALPHA = 0.3
LEGACY_ALPHA = 0.4
#: Candidates taken from each side before fusing.
DEFAULT_CANDIDATES = 100
#: The constant of reciprocal-rank fusion (Cormack et al., 2009), for the comparison only.
RRF_K = 60

Method = Literal["zscore", "minmax", "rrf"]


def zscore(scores: np.ndarray) -> np.ndarray:
    """Standardise; a side that cannot tell the candidates apart contributes zeros."""
    if len(scores) == 0:
        return scores.astype(np.float64)
    std = float(scores.std())
    if not std > 0.0:
        return np.zeros(len(scores), np.float64)
    standardised: np.ndarray = (scores - scores.mean()) / std
    return standardised


def minmax(scores: np.ndarray) -> np.ndarray:
    if len(scores) == 0:
        return scores.astype(np.float64)
    low, high = float(scores.min()), float(scores.max())
    if not high > low:
        return np.zeros(len(scores), np.float64)
    return (scores - low) / (high - low)


def reciprocal_ranks(scores: np.ndarray) -> np.ndarray:
    """``1 / (RRF_K + rank)``, rank 1 = best score; equal scores share the better rank."""
    ranks = np.empty(len(scores), np.float64)
    order = np.argsort(-scores, kind="stable")
    ranks[order] = np.arange(1, len(scores) + 1)
    return 1.0 / (RRF_K + ranks)


_NORMALISE = {"zscore": zscore, "minmax": minmax, "rrf": reciprocal_ranks}


def fuse(
    vector: np.ndarray, lexical: np.ndarray, alpha: float, method: Method = "zscore"
) -> np.ndarray:
    """Fused scores of candidates whose two raw scores are ``vector`` and ``lexical``."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError("alpha must lie in [0, 1]")
    normalise = _NORMALISE[method]
    return alpha * normalise(vector) + (1.0 - alpha) * normalise(lexical)


def rank(labels: np.ndarray, fused: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` best candidates, best first; ties go to the smaller label."""
    return np.lexsort((labels, -fused))[:k]
