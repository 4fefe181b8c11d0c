"""Model selection: train with validation after every epoch, keep the best epoch, stop when it
stops improving, and return the base model unless the best epoch beats it (issue 13).

Usage::

    result = fit(train, valid, plan, seed, progress=on_epoch)
    result.weights     # the best epoch's W, or the identity when nothing beat the base model
    result.message     # "validation nDCG@10 0.412 -> 0.398: no improvement, ..."

``plan`` (``auto.Plan``) says what to learn and for how long; ``fit`` is pure numpy, so the
benchmark's capacity study (``benchmarks/finetune_study.py``) runs exactly what a job runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from service.finetune import blas
from service.finetune.auto import Plan
from service.finetune.maps import Adam, make_map
from service.finetune.trainer import BASE_LEARNING_RATE, TrainingData, mean_loss, train_epochs
from service.finetune.validation import Scores, Validator, improves

# Checkpoints kept per job (the newest epochs that set a new best), as OpenAI keeps three.
KEPT_CHECKPOINTS = 3


@dataclass(slots=True)
class EpochReport:
    epoch: int
    step: int
    train_loss: float  # mean over the epoch's steps
    valid_loss: float
    valid_ndcg: float
    valid_mrr: float
    base_ndcg: float
    base_mrr: float
    best: bool  # a new best validation nDCG@10, above the base model's


@dataclass(slots=True)
class Checkpoint:
    report: EpochReport
    weights: np.ndarray


@dataclass(slots=True)
class FitResult:
    weights: np.ndarray
    accepted: bool
    base: Scores
    best: EpochReport | None
    message: str
    step_losses: list[tuple[int, int, float]] = field(default_factory=list)  # step, epoch, loss
    epochs: list[EpochReport] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    base_valid_loss: float = 0.0
    seconds: float = 0.0
    stopped_early: bool = False

    @property
    def base_dimensions(self) -> int:
        return int(self.weights.shape[0])


Progress = Callable[[EpochReport], None]


def fit(
    train: TrainingData,
    valid: TrainingData,
    plan: Plan,
    seed: int,
    *,
    cancel: threading.Event | None = None,
    progress: Progress | None = None,
) -> FitResult:
    """Train up to ``plan.max_epochs``; checks ``cancel`` before every step."""
    with blas.single_threaded():
        return _fit(train, valid, plan, seed, cancel, progress)


def _fit(
    train: TrainingData,
    valid: TrainingData,
    plan: Plan,
    seed: int,
    cancel: threading.Event | None,
    progress: Progress | None,
) -> FitResult:
    started = time.perf_counter()
    dims = train.queries.shape[1]
    rng = np.random.default_rng(seed)
    query_map = make_map(plan.capacity, dims, rng)
    optimiser = Adam(
        query_map.params,
        BASE_LEARNING_RATE * plan.learning_rate_multiplier,
        plan.capacity.weight_decay,
    )
    validator = Validator(valid)
    base = validator.score(None)
    identity = np.eye(dims)
    result = FitResult(
        weights=identity.astype(np.float32),
        accepted=False,
        base=base,
        best=None,
        message="",
        base_valid_loss=mean_loss(identity, valid, plan.batch_size),
    )
    best_ndcg, best_scores, since_best, step = base.mean_ndcg, base, 0, 0
    epochs = train_epochs(train, query_map, optimiser, plan.batch_size, rng, cancel)
    for epoch, losses in enumerate(epochs, start=1):
        result.step_losses.extend((step + i + 1, epoch, loss) for i, loss in enumerate(losses))
        step += len(losses)
        weights = query_map.matrix()
        scores = validator.score(weights)
        report = EpochReport(
            epoch=epoch,
            step=step,
            train_loss=float(np.mean(losses)),
            valid_loss=mean_loss(weights, valid, plan.batch_size),
            valid_ndcg=scores.mean_ndcg,
            valid_mrr=scores.mean_mrr,
            base_ndcg=base.mean_ndcg,
            base_mrr=base.mean_mrr,
            best=scores.mean_ndcg > best_ndcg,
        )
        result.epochs.append(report)
        if report.best:
            best_ndcg, best_scores, since_best = scores.mean_ndcg, scores, 0
            result.best = report
            result.checkpoints.append(Checkpoint(report, weights.astype(np.float32)))
            del result.checkpoints[:-KEPT_CHECKPOINTS]
        else:
            since_best += 1
        if progress is not None:
            progress(report)
        if plan.patience is not None and since_best >= plan.patience and epoch < plan.max_epochs:
            result.stopped_early = True
            break
        if epoch >= plan.max_epochs:
            break
    epochs.close()
    result.seconds = time.perf_counter() - started
    _decide(result, best_scores, plan)
    return result


def _decide(result: FitResult, best: Scores, plan: Plan) -> None:
    """Never worse than the base model: keep the best epoch only if it beats the base model
    beyond noise; otherwise the job's model is the identity map."""
    before = result.base.mean_ndcg
    if result.best is None:
        result.message = (
            f"validation nDCG@10 {before:.3f} -> {before:.3f}: no epoch improved on the base "
            "model, the model returns base embeddings"
        )
        return
    after = result.best.valid_ndcg
    accepted, _ = improves(result.base, best, z=plan.z, min_gain=plan.min_gain)
    if not accepted:
        result.message = (
            f"validation nDCG@10 {before:.3f} -> {after:.3f} (best epoch {result.best.epoch}): "
            f"no reliable improvement over {len(best.ndcg)} validation queries, the model "
            "returns base embeddings"
        )
        return
    result.accepted = True
    result.weights = result.checkpoints[-1].weights
    result.message = (
        f"validation nDCG@10 {before:.3f} -> {after:.3f} (MRR@10 {result.base.mean_mrr:.3f} -> "
        f"{result.best.valid_mrr:.3f}): the model uses epoch {result.best.epoch} "
        f"(step {result.best.step})"
    )
