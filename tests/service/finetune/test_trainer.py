"""The numpy adapter trainer: determinism, learning, cancellation, "auto" hyperparameters."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from service.finetune.trainer import (
    Hyperparameters,
    TrainingCancelled,
    TrainingData,
    evaluate,
    normalise,
    train_adapter,
)

SEED = 20240611


def synthetic(seed: int = SEED, n: int = 96, dims: int = 16) -> TrainingData:
    """Queries are a fixed rotation of their positives plus noise: a linear map can undo it."""
    rng = np.random.default_rng(seed)
    passages = normalise(rng.standard_normal((n, dims)).astype(np.float32))
    rotation, _ = np.linalg.qr(rng.standard_normal((dims, dims)))
    queries = normalise((passages @ rotation + 0.3 * rng.standard_normal((n, dims))).astype("f4"))
    return TrainingData(queries, passages, np.arange(n))


def test_same_seed_same_weights_and_different_seed_differs() -> None:
    data = synthetic()
    params = Hyperparameters(n_epochs=3, batch_size=16, learning_rate_multiplier=5.0)
    first = train_adapter(data, params, seed=7).weights
    again = train_adapter(data, params, seed=7).weights
    other = train_adapter(data, params, seed=8).weights
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_training_improves_retrieval_from_the_identity() -> None:
    data = synthetic()
    params = Hyperparameters(n_epochs=40, batch_size=32, learning_rate_multiplier=10.0)
    base_loss, base_mrr = evaluate(np.eye(16), data, 32)
    result = train_adapter(data, params, seed=1, validation=data)
    loss, mrr = evaluate(result.weights, data, 32)
    assert loss < base_loss and mrr > base_mrr + 0.1, (SEED, base_mrr, mrr)
    assert result.steps[-1].valid_mrr == pytest.approx(mrr, abs=1e-5)
    assert result.steps[0].step == 1 and len(result.steps) == 40 * 3


def test_zero_learning_rate_keeps_the_identity() -> None:
    """Identity init: an adapter that has not moved is the base model."""
    params = Hyperparameters(n_epochs=1, batch_size=8, learning_rate_multiplier=1e-30)
    weights = train_adapter(synthetic(), params, seed=0).weights
    assert np.allclose(weights, np.eye(16), atol=1e-6)


def test_explicit_negatives_and_duplicate_positives_are_handled() -> None:
    data = synthetic(n=32)
    data.positive_ids = np.arange(32) // 2  # pairs of queries share a passage id
    data.negatives = np.roll(data.positives, 5, axis=0)
    params = Hyperparameters(n_epochs=2, batch_size=8, learning_rate_multiplier=1.0)
    result = train_adapter(data, params, seed=3)
    assert np.isfinite(result.weights).all()


def test_cancel_stops_before_the_next_step() -> None:
    cancel = threading.Event()
    seen: list[int] = []

    def progress(metrics, total) -> None:
        seen.append(metrics.step)
        cancel.set()

    params = Hyperparameters(n_epochs=50, batch_size=16, learning_rate_multiplier=1.0)
    with pytest.raises(TrainingCancelled):
        train_adapter(synthetic(), params, seed=0, cancel=cancel, progress=progress)
    assert seen == [6]  # one epoch of 96 / 16 steps, then it stopped


@pytest.mark.parametrize(
    ("n", "given", "expected"),
    [
        pytest.param(919, {}, (30, 64, 1.0), id="scifact-auto"),
        pytest.param(10, {}, (30, 10, 1.0), id="tiny-batch-clamped"),
        pytest.param(1_000_000, {}, (1, 64, 1.0), id="huge-capped-epochs"),
        pytest.param(
            100,
            {"n_epochs": 3, "batch_size": 8, "learning_rate_multiplier": 0.5},
            (3, 8, 0.5),
            id="explicit",
        ),
    ],
)
def test_hyperparameters_resolve(n: int, given: dict, expected: tuple) -> None:
    params = Hyperparameters.resolve(n, **given)
    assert (params.n_epochs, params.batch_size, params.learning_rate_multiplier) == expected
