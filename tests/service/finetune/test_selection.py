"""Model selection: the best epoch is kept, training stops after ``patience`` epochs without a
better one, and data that teaches nothing gives the base model back, saying so."""

from __future__ import annotations

import numpy as np
import pytest

from service.finetune.auto import Plan
from service.finetune.maps import Capacity
from service.finetune.selection import fit
from service.finetune.trainer import TrainingData, normalise
from service.finetune.validation import holdout

SEED = 20240611


def rotated(seed: int, n: int = 200, dims: int = 16, noise: float = 0.5) -> TrainingData:
    """Queries are a fixed rotation of their passage plus noise: a map can undo the rotation,
    and with few queries and much noise it also memorises the noise."""
    rng = np.random.default_rng(seed)
    passages = normalise(rng.standard_normal((n, dims)))
    rotation, _ = np.linalg.qr(rng.standard_normal((dims, dims)))
    queries = normalise(passages @ rotation + noise * rng.standard_normal((n, dims)))
    return TrainingData(queries, passages, np.arange(n), np.arange(n))


def random_pairs(seed: int, n: int = 200, dims: int = 16) -> TrainingData:
    """Queries and passages drawn independently: nothing to learn that generalises."""
    rng = np.random.default_rng(seed)
    return TrainingData(
        normalise(rng.standard_normal((n, dims))),
        normalise(rng.standard_normal((n, dims))),
        np.arange(n),
        np.arange(n),
    )


def plan(
    patience: int | None = 3,
    epochs: int = 60,
    lr: float = 20.0,
    plateau: float = 0.0,
    refit: bool = False,
) -> Plan:
    return Plan(
        capacity=Capacity("full"),
        max_epochs=epochs,
        batch_size=32,
        learning_rate_multiplier=lr,
        patience=patience,
        z=2.0,
        plateau=plateau,
        refit=refit,
    )


def test_keeps_the_best_epoch_and_stops_after_patience() -> None:
    train, valid = holdout(rotated(SEED), share=0.3, seed=SEED)
    result = fit(train, valid, plan(patience=3), seed=SEED)
    scores = [e.valid_ndcg for e in result.epochs]
    best = int(np.argmax(scores))  # first epoch with the highest validation nDCG@10
    assert result.accepted and result.best is not None, result.message
    assert result.best.epoch == best + 1 and result.best.valid_ndcg == max(scores)
    assert result.stopped_early and len(result.epochs) == best + 1 + 3, scores
    assert np.array_equal(result.weights, result.checkpoints[-1].weights)
    assert result.checkpoints[-1].report is result.best
    assert [c.report.best for c in result.checkpoints] == [True] * len(result.checkpoints)
    assert 1 <= len(result.checkpoints) <= 3
    assert f"uses epoch {best + 1}" in result.message
    assert result.best.valid_ndcg > result.base.mean_ndcg + 0.1


def test_without_patience_every_epoch_runs() -> None:
    train, valid = holdout(rotated(SEED), share=0.3, seed=SEED)
    result = fit(train, valid, plan(patience=None, epochs=12), seed=SEED)
    assert len(result.epochs) == 12 and not result.stopped_early
    assert len(result.step_losses) == 12 * -(-len(train) // 32)


@pytest.mark.parametrize("seed", [pytest.param(s, id=f"seed-{s}") for s in (1, 2, 3, 4)])
def test_random_pairs_give_the_identity_and_say_so(seed: int) -> None:
    train, valid = holdout(random_pairs(seed), share=0.3, seed=seed)
    result = fit(train, valid, plan(patience=5), seed=seed)
    assert not result.accepted, (seed, result.message)
    assert np.array_equal(result.weights, np.eye(16, dtype=np.float32))
    assert result.message.endswith("the model returns base embeddings"), result.message
    assert result.message.startswith(f"validation nDCG@10 {result.base.mean_ndcg:.3f} -> ")


def test_same_seed_same_model() -> None:
    train, valid = holdout(rotated(SEED), share=0.3, seed=SEED)
    first = fit(train, valid, plan(), seed=5)
    again = fit(train, valid, plan(), seed=5)
    assert np.array_equal(first.weights, again.weights)
    assert [e.valid_ndcg for e in first.epochs] == [e.valid_ndcg for e in again.epochs]


def test_plateau_takes_the_latest_epoch_the_validation_cannot_tell_from_the_best() -> None:
    train, valid = holdout(rotated(SEED), share=0.3, seed=SEED)
    strict = fit(train, valid, plan(patience=None, epochs=15), seed=SEED)
    loose = fit(train, valid, plan(patience=None, epochs=15, plateau=1000.0), seed=SEED)
    assert strict.chosen is strict.best and strict.best is not None
    assert loose.chosen is not None and loose.chosen.epoch == 15  # everything is "within noise"
    assert strict.best.epoch < 15, [e.valid_ndcg for e in strict.epochs]
    # The chosen epoch's weights are rebuilt by replaying the run: the newest checkpoint.
    assert loose.checkpoints[-1].report is loose.chosen
    assert np.array_equal(loose.weights, loose.checkpoints[-1].weights)
    replayed = fit(train, valid, plan(patience=None, epochs=15), seed=SEED)  # ends at epoch 15
    assert strict.epochs[-1].valid_ndcg == replayed.epochs[-1].valid_ndcg
    assert "uses epoch 15 " in loose.message


def test_refit_retrains_on_every_query_for_the_chosen_epochs() -> None:
    data = rotated(SEED)
    train, valid = holdout(data, share=0.3, seed=SEED)
    kept = fit(train, valid, plan(patience=3), seed=SEED, everything=data)  # plan: no refit
    refit = fit(train, valid, plan(patience=3, refit=True), seed=SEED, everything=data)
    assert kept.refit_queries is None and refit.refit_queries == 200
    assert refit.chosen is not None and kept.chosen is not None
    assert refit.chosen.epoch == kept.chosen.epoch
    assert np.array_equal(kept.weights, kept.checkpoints[-1].weights)
    assert not np.array_equal(refit.weights, refit.checkpoints[-1].weights)
    assert refit.message.endswith(f"retrained on all 200 queries for {refit.chosen.epoch} epochs")
    again = fit(train, valid, plan(patience=3, refit=True), seed=SEED, everything=data)
    assert np.array_equal(refit.weights, again.weights)
