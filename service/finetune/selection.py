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

import math
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
    best: EpochReport | None  # the epoch with the best validation nDCG@10, if above the base
    message: str
    step_losses: list[tuple[int, int, float]] = field(default_factory=list)  # step, epoch, loss
    epochs: list[EpochReport] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    base_valid_loss: float = 0.0
    seconds: float = 0.0
    stopped_early: bool = False
    chosen: EpochReport | None = None  # the epoch the model is (or was retrained to)
    refit_queries: int | None = None  # set when the model was retrained on every query

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
    everything: TrainingData | None = None,
    cancel: threading.Event | None = None,
    progress: Progress | None = None,
) -> FitResult:
    """Train up to ``plan.max_epochs`` with validation after each epoch, choose the epoch, and
    decide. ``everything`` (the training and the held-out queries together) is what a refit
    trains on, when ``plan.refit`` asks for one. Checks ``cancel`` before every step."""
    with blas.single_threaded():
        started = time.perf_counter()
        result, scores = _validation_run(train, valid, plan, seed, cancel, progress)
        _decide(result, scores, plan)
        if result.chosen is not None:
            if result.chosen is not result.checkpoints[-1].report:
                weights = _train_for(train, plan, seed, result.chosen.epoch, cancel)
                result.checkpoints.append(Checkpoint(result.chosen, weights))
                del result.checkpoints[:-KEPT_CHECKPOINTS]
            result.weights = result.checkpoints[-1].weights
            if plan.refit and everything is not None:
                result.weights = _train_for(everything, plan, seed, result.chosen.epoch, cancel)
                result.refit_queries = everything.n_queries
                result.message += (
                    f", retrained on all {everything.n_queries} queries for "
                    f"{result.chosen.epoch} epochs"
                )
        result.seconds = time.perf_counter() - started
        return result


def _validation_run(
    train: TrainingData,
    valid: TrainingData,
    plan: Plan,
    seed: int,
    cancel: threading.Event | None,
    progress: Progress | None,
) -> tuple[FitResult, list[Scores]]:
    """The training run scored on validation after every epoch; keeps the newest new-best
    epochs' weights and every epoch's per-query scores (for the choice)."""
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
    every: list[Scores] = []
    best_ndcg, since_best, step = base.mean_ndcg, 0, 0
    epochs = train_epochs(train, query_map, optimiser, plan.batch_size, rng, cancel)
    for epoch, losses in enumerate(epochs, start=1):
        result.step_losses.extend((step + i + 1, epoch, loss) for i, loss in enumerate(losses))
        step += len(losses)
        weights = query_map.matrix()
        scores = validator.score(weights)
        every.append(scores)
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
            best_ndcg, since_best = scores.mean_ndcg, 0
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
    return result, every


def _choose(result: FitResult, scores: list[Scores], plan: Plan) -> int:
    """The best epoch; with ``plan.plateau``, the latest epoch after it whose validation nDCG@10
    is within ``plateau`` paired standard errors of the best. The validation pool holds only
    the file's passages, so it cannot see what longer training gains against a collection's
    never-relevant documents (measured: ``benchmarks/README.md``); among epochs it cannot tell
    apart, the longer trained one is taken."""
    assert result.best is not None
    best = result.best.epoch - 1
    if plan.plateau <= 0:
        return best
    for e in range(len(scores) - 1, best, -1):
        gap = scores[best].ndcg - scores[e].ndcg
        error = float(gap.std(ddof=1)) / math.sqrt(len(gap)) if len(gap) > 1 else math.inf
        if float(gap.mean()) <= plan.plateau * error:
            return e
    return best


def _decide(result: FitResult, scores: list[Scores], plan: Plan) -> None:
    """Never worse than the base model: keep the chosen epoch only if it beats the base model
    beyond noise; otherwise the job's model is the identity map."""
    before = result.base.mean_ndcg
    if result.best is None:
        result.message = (
            f"validation nDCG@10 {before:.3f} -> {before:.3f}: no epoch improved on the base "
            "model, the model returns base embeddings"
        )
        return
    chosen = result.epochs[_choose(result, scores, plan)]
    gains = scores[chosen.epoch - 1].ndcg - result.base.ndcg
    accepted, gain = improves(
        result.base, scores[chosen.epoch - 1], z=plan.z, min_gain=plan.min_gain
    )
    error = float(gains.std(ddof=1)) / math.sqrt(len(gains)) if len(gains) > 1 else math.inf
    evidence = (
        f"{gain:+.3f}, {gain / error:.1f} standard errors over {len(gains)} validation queries"
        if error > 0
        else f"{gain:+.3f} over {len(gains)} validation queries"
    )
    if not accepted:
        best = result.best
        latest = (
            f", the latest within noise of the best ({best.valid_ndcg:.3f} at epoch {best.epoch})"
            if best is not chosen
            else ""
        )
        result.message = (
            f"validation nDCG@10 {before:.3f} -> {chosen.valid_ndcg:.3f} at epoch {chosen.epoch}"
            f"{latest} ({evidence}; {plan.z:g} needed): no reliable improvement, the model "
            "returns base embeddings"
        )
        return
    result.accepted, result.chosen = True, chosen
    result.message = (
        f"validation nDCG@10 {before:.3f} -> {chosen.valid_ndcg:.3f} ({evidence}; MRR@10 "
        f"{result.base.mean_mrr:.3f} -> {chosen.valid_mrr:.3f}): the model uses epoch "
        f"{chosen.epoch} (step {chosen.step})"
    )


def _train_for(
    data: TrainingData, plan: Plan, seed: int, epochs: int, cancel: threading.Event | None
) -> np.ndarray:
    """A fresh run of ``epochs`` epochs with the same seed: the validation run's weights again
    when ``data`` is its training split (training is deterministic), or a refit."""
    rng = np.random.default_rng(seed)
    query_map = make_map(plan.capacity, data.queries.shape[1], rng)
    optimiser = Adam(
        query_map.params,
        BASE_LEARNING_RATE * plan.learning_rate_multiplier,
        plan.capacity.weight_decay,
    )
    runs = train_epochs(data, query_map, optimiser, plan.batch_size, rng, cancel)
    for epoch, _ in enumerate(runs, start=1):
        if epoch == epochs:
            break
    runs.close()
    return query_map.matrix().astype(np.float32)
