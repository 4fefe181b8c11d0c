"""The optimisation loop of a local adapter: a query-side map learned with numpy and Adam.

Usage::

    data = TrainingData(queries, passages, pair_query, pair_positive)   # base-model vectors
    query_map = make_map(Capacity("full"), dims, rng)
    for steps in train_epochs(data, query_map, Adam(query_map.params, 1e-3, 0.0), 64, rng):
        ...   # after each epoch: validate, keep or stop (``selection.py``)

Queries are mapped by ``W`` (identity at the start, so step 0 is the base model); documents keep
their base vectors, so an index built with the base model stays valid. The loss is in-batch
negatives softmax cross-entropy (InfoNCE) over cosine similarities at temperature 0.05, plus any
explicit negatives. A candidate that is relevant to the row's query (another positive of the same
query, or the same passage) is masked, not counted as a negative. Same data, options and seed ->
same weights (``blas.single_threaded`` keeps the products' summation order fixed).
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from dataclasses import dataclass

import numpy as np

from service.finetune.maps import Adam, QueryMap

TEMPERATURE = 0.05
BASE_LEARNING_RATE = 1e-3


class TrainingCancelled(Exception):
    """Raised inside the training thread when the job's cancel flag is set."""


@dataclass(slots=True)
class TrainingData:
    """Base-model vectors (L2-normalised, float32) of one split of a training file.

    ``queries`` are the split's distinct query texts; ``passages`` is the table of every distinct
    passage of the job (shared by the training and validation splits, and the validation's pool of
    candidates); a pair ``k`` says passage ``pair_positive[k]`` answers query ``pair_query[k]``.
    """

    queries: np.ndarray
    passages: np.ndarray
    pair_query: np.ndarray
    pair_positive: np.ndarray
    pair_negative: np.ndarray | None = None

    @property
    def n_queries(self) -> int:
        return int(self.queries.shape[0])

    def __len__(self) -> int:
        return int(self.pair_query.shape[0])

    def subset(self, rows: np.ndarray) -> TrainingData:
        """The queries ``rows`` (renumbered in that order) with all their pairs."""
        renumber = np.full(self.n_queries, -1)
        renumber[rows] = np.arange(len(rows))
        keep = np.flatnonzero(renumber[self.pair_query] >= 0)
        negatives = None if self.pair_negative is None else self.pair_negative[keep]
        return TrainingData(
            queries=self.queries[rows],
            passages=self.passages,
            pair_query=renumber[self.pair_query[keep]],
            pair_positive=self.pair_positive[keep],
            pair_negative=negatives,
        )

    def relevant_keys(self) -> np.ndarray:
        """Sorted ``query * n_passages + passage`` of every (query, positive) pair."""
        return np.unique(self.pair_query.astype(np.int64) * len(self.passages) + self.pair_positive)


def normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit: np.ndarray = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    return unit


def batch_loss(
    mapped: np.ndarray, candidates: np.ndarray, mask: np.ndarray | None, want_grad: bool
) -> tuple[float, np.ndarray | None]:
    """InfoNCE where row i's target is candidate i; returns (loss, dL/d mapped or None)."""
    norms = np.maximum(np.linalg.norm(mapped, axis=1, keepdims=True), 1e-12)
    unit = mapped / norms
    logits = (unit @ candidates.T) / TEMPERATURE
    if mask is not None:
        logits = np.where(mask, -1e9, logits)
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    probs = exp / exp.sum(axis=1, keepdims=True)
    rows = np.arange(mapped.shape[0])
    loss = float(-np.log(np.maximum(probs[rows, rows], 1e-30)).mean())
    if not want_grad:
        return loss, None
    d_logits = probs
    d_logits[rows, rows] -= 1.0
    d_logits /= mapped.shape[0]
    d_unit = (d_logits @ candidates) / TEMPERATURE
    # Back through x / |x|: (I - u u^T) / |x|.
    return loss, (d_unit - unit * np.sum(d_unit * unit, axis=1, keepdims=True)) / norms


def candidates(
    data: TrainingData, index: np.ndarray, relevant: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """The batch's positives (then its negatives), and the mask of candidates relevant to each
    row's query other than its own target: they are not negatives."""
    ids = data.pair_positive[index]
    if data.pair_negative is not None:
        ids = np.concatenate([ids, data.pair_negative[index]])
    keys = data.pair_query[index].astype(np.int64)[:, None] * len(data.passages) + ids[None, :]
    mask = np.isin(keys, relevant)
    mask[np.arange(len(index)), np.arange(len(index))] = False
    return data.passages[ids], mask if mask.any() else None


def mean_loss(weights: np.ndarray, data: TrainingData, batch_size: int) -> float:
    """The training loss over ``data`` in fixed batches (the validation loss)."""
    relevant = data.relevant_keys()
    total = 0.0
    for start in range(0, len(data), batch_size):
        index = np.arange(start, min(start + batch_size, len(data)))
        pool, mask = candidates(data, index, relevant)
        mapped = data.queries[data.pair_query[index]] @ weights
        loss, _ = batch_loss(mapped, pool, mask, want_grad=False)
        total += loss * len(index)
    return total / max(len(data), 1)


def train_epochs(
    data: TrainingData,
    query_map: QueryMap,
    optimiser: Adam,
    batch_size: int,
    rng: np.random.Generator,
    cancel: threading.Event | None = None,
) -> Generator[list[float], None, None]:
    """Shuffled mini-batches, one epoch per iteration; yields that epoch's per-step losses.
    Runs until the caller stops iterating; checks ``cancel`` before every step."""
    relevant = data.relevant_keys()
    while True:
        order = rng.permutation(len(data))
        losses = []
        for start in range(0, len(data), batch_size):
            if cancel is not None and cancel.is_set():
                raise TrainingCancelled
            index = order[start : start + batch_size]
            pool, mask = candidates(data, index, relevant)
            queries = data.queries[data.pair_query[index]]
            loss, d_mapped = batch_loss(query_map.forward(queries), pool, mask, want_grad=True)
            assert d_mapped is not None
            optimiser.step(query_map.gradients(queries, d_mapped))
            losses.append(loss)
        yield losses
