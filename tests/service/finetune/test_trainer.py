"""The optimisation loop: determinism, learning, masking, cancellation, splits by query."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from service.finetune.maps import Adam, Capacity, make_map
from service.finetune.trainer import (
    TrainingCancelled,
    TrainingData,
    candidates,
    mean_loss,
    normalise,
    train_epochs,
)

SEED = 20240611


def synthetic(seed: int = SEED, n: int = 96, dims: int = 16) -> TrainingData:
    """Queries are a fixed rotation of their positives plus noise: a linear map can undo it."""
    rng = np.random.default_rng(seed)
    passages = normalise(rng.standard_normal((n, dims)).astype(np.float32))
    rotation, _ = np.linalg.qr(rng.standard_normal((dims, dims)))
    queries = normalise((passages @ rotation + 0.3 * rng.standard_normal((n, dims))).astype("f4"))
    return TrainingData(queries, passages, np.arange(n), np.arange(n))


def train(data: TrainingData, epochs: int, seed: int, lr: float = 1e-2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    query_map = make_map(Capacity("full"), data.queries.shape[1], rng)
    optimiser = Adam(query_map.params, lr, 0.0)
    for epoch, _ in enumerate(train_epochs(data, query_map, optimiser, 16, rng), 1):
        if epoch == epochs:
            break
    return query_map.matrix()


def test_same_seed_same_weights_and_different_seed_differs() -> None:
    data = synthetic()
    first, again, other = train(data, 3, seed=7), train(data, 3, seed=7), train(data, 3, seed=8)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_training_lowers_the_loss_from_the_identity() -> None:
    data = synthetic()
    weights = train(data, 30, seed=1)
    assert mean_loss(weights, data, 32) < 0.5 * mean_loss(np.eye(16), data, 32), SEED


def test_other_positives_of_the_same_query_are_not_negatives() -> None:
    """Pairs 0 and 1 share query 0 (two relevant passages); pair 2 repeats passage 0."""
    data = synthetic(n=4)
    data.pair_query = np.array([0, 0, 1, 2])
    data.pair_positive = np.array([0, 1, 0, 3])
    pool, mask = candidates(data, np.arange(4), data.relevant_keys())
    assert np.array_equal(pool, data.passages[[0, 1, 0, 3]])
    assert mask is not None
    assert mask.tolist() == [
        [False, True, True, False],  # query 0: passage 1 and the copy of passage 0 are its own
        [True, False, True, False],
        [True, False, False, False],  # query 1's positive is passage 0: so is column 0
        [False, False, False, False],
    ]


def test_cancel_stops_before_the_next_step() -> None:
    data = synthetic()
    cancel = threading.Event()
    rng = np.random.default_rng(0)
    query_map = make_map(Capacity("full"), 16, rng)
    epochs = train_epochs(data, query_map, Adam(query_map.params, 1e-3, 0.0), 16, rng, cancel)
    assert len(next(epochs)) == 6  # one epoch: 96 pairs / 16
    cancel.set()
    with pytest.raises(TrainingCancelled):
        next(epochs)


def test_subset_keeps_whole_queries_and_shares_the_passages() -> None:
    data = synthetic(n=6)
    data.pair_query = np.array([0, 0, 1, 2, 2, 2])
    data.queries = data.queries[:3]
    part = data.subset(np.array([2, 0]))
    assert part.n_queries == 2 and part.passages is data.passages
    assert part.pair_query.tolist() == [1, 1, 0, 0, 0]  # query 2 is row 0 now
    assert part.pair_positive.tolist() == [0, 1, 3, 4, 5]
