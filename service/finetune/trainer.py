"""The local adapter trainer: a query-side linear map learned with numpy and Adam.

Usage::

    data = TrainingData(queries, positives, positive_ids)      # base-model vectors
    result = train_adapter(data, Hyperparameters(n_epochs=30, batch_size=64, lr=1e-3), seed=7)
    adapted = normalise(query_vectors @ result.weights)

Queries are mapped by ``W`` (``d x d``, identity at the start, so step 0 is the base model);
documents keep their base vectors, so an index built with the base model stays valid. The loss
is in-batch-negatives softmax cross-entropy (InfoNCE) over cosine similarities at temperature
0.05, plus any explicit negatives; a passage that is the positive of another query in the batch
is masked, not counted as a negative. Same data, hyperparameters and seed -> same weights.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from service.finetune import blas

TEMPERATURE = 0.05
BASE_LEARNING_RATE = 1e-3
AUTO_BATCH_SIZE = 64
AUTO_EPOCHS = 30
# "auto" epochs keep a run within this many optimiser steps, so large files still finish in
# minutes on two cores (SciFact's 919 pairs: 15 steps an epoch, 30 epochs, well under it).
AUTO_MAX_STEPS = 6000


class TrainingCancelled(Exception):
    """Raised inside the training thread when the job's cancel flag is set."""


@dataclass(slots=True)
class TrainingData:
    """Base-model vectors, L2-normalised, float32. ``positive_ids`` names equal passages."""

    queries: np.ndarray
    positives: np.ndarray
    positive_ids: np.ndarray
    negatives: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.queries.shape[0])


@dataclass(slots=True, frozen=True)
class Hyperparameters:
    n_epochs: int
    batch_size: int
    learning_rate_multiplier: float

    @classmethod
    def resolve(
        cls,
        n_examples: int,
        n_epochs: int | str = "auto",
        batch_size: int | str = "auto",
        learning_rate_multiplier: float | str = "auto",
    ) -> Hyperparameters:
        """Replace "auto" by the calibrated defaults (issue 5: SciFact 0.51 -> 0.73 nDCG@10)."""
        batch = AUTO_BATCH_SIZE if batch_size == "auto" else int(batch_size)
        batch = max(1, min(batch, n_examples))
        if n_epochs == "auto":
            steps = math.ceil(n_examples / batch)
            epochs = max(1, min(AUTO_EPOCHS, AUTO_MAX_STEPS // max(steps, 1)))
        else:
            epochs = int(n_epochs)
        lr = 1.0 if learning_rate_multiplier == "auto" else float(learning_rate_multiplier)
        return cls(n_epochs=epochs, batch_size=batch, learning_rate_multiplier=lr)


@dataclass(slots=True)
class StepMetrics:
    step: int
    epoch: int
    train_loss: float
    valid_loss: float | None = None
    valid_mrr: float | None = None


@dataclass(slots=True)
class TrainingResult:
    weights: np.ndarray
    steps: list[StepMetrics] = field(default_factory=list)
    seconds: float = 0.0


Progress = Callable[[StepMetrics, int], None]  # (metrics at an epoch end, total steps)


def normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit: np.ndarray = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    return unit


def _batch_loss(
    weights: np.ndarray,
    queries: np.ndarray,
    candidates: np.ndarray,
    mask: np.ndarray | None,
    want_grad: bool,
) -> tuple[float, np.ndarray | None]:
    """InfoNCE where row i's target is candidate i; returns (loss, dL/dW or None)."""
    mapped = queries @ weights
    norms = np.maximum(np.linalg.norm(mapped, axis=1, keepdims=True), 1e-12)
    unit = mapped / norms
    logits = (unit @ candidates.T) / TEMPERATURE
    if mask is not None:
        logits = np.where(mask, -1e9, logits)
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    probs = exp / exp.sum(axis=1, keepdims=True)
    rows = np.arange(queries.shape[0])
    loss = float(-np.log(np.maximum(probs[rows, rows], 1e-30)).mean())
    if not want_grad:
        return loss, None
    dlogits = probs
    dlogits[rows, rows] -= 1.0
    dlogits /= queries.shape[0]
    dunit = (dlogits @ candidates) / TEMPERATURE
    # Back through x / |x|: (I - u u^T) / |x|.
    dmapped = (dunit - unit * np.sum(dunit * unit, axis=1, keepdims=True)) / norms
    return loss, queries.T @ dmapped


def _candidates(data: TrainingData, index: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """The batch's positives (then its negatives), and a mask hiding other queries' copies of
    a row's own positive: equal passages are not negatives of each other."""
    positives = data.positives[index]
    ids = data.positive_ids[index]
    same = ids[:, None] == ids[None, :]
    np.fill_diagonal(same, False)
    if data.negatives is None:
        return positives, same if same.any() else None
    negatives = data.negatives[index]
    mask = np.concatenate([same, np.zeros((len(index), len(index)), dtype=bool)], axis=1)
    return np.concatenate([positives, negatives]), mask if mask.any() else None


def evaluate(weights: np.ndarray, data: TrainingData, batch_size: int) -> tuple[float, float]:
    """Validation loss (in-batch, as in training) and MRR of each query over all distinct
    validation passages."""
    losses = []
    for start in range(0, len(data), batch_size):
        index = np.arange(start, min(start + batch_size, len(data)))
        candidates, mask = _candidates(data, index)
        loss, _ = _batch_loss(weights, data.queries[index], candidates, mask, want_grad=False)
        losses.append(loss * len(index))
    unique_ids, first = np.unique(data.positive_ids, return_index=True)
    passages = data.positives[first]
    queries = normalise(data.queries @ weights)
    scores = queries @ passages.T
    target = np.searchsorted(unique_ids, data.positive_ids)
    own = scores[np.arange(len(data)), target]
    ranks = 1 + (scores > own[:, None]).sum(axis=1)
    return sum(losses) / len(data), float(np.mean(1.0 / ranks))


def train_adapter(
    data: TrainingData,
    params: Hyperparameters,
    seed: int,
    *,
    validation: TrainingData | None = None,
    cancel: threading.Event | None = None,
    progress: Progress | None = None,
) -> TrainingResult:
    """Run Adam over shuffled mini-batches; checks ``cancel`` before every step."""
    with blas.single_threaded():
        return _train(data, params, seed, validation, cancel, progress)


def _train(
    data: TrainingData,
    params: Hyperparameters,
    seed: int,
    validation: TrainingData | None,
    cancel: threading.Event | None,
    progress: Progress | None,
) -> TrainingResult:
    started = time.perf_counter()
    dims = data.queries.shape[1]
    weights = np.eye(dims, dtype=np.float64)
    first_moment = np.zeros_like(weights)
    second_moment = np.zeros_like(weights)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    lr = BASE_LEARNING_RATE * params.learning_rate_multiplier
    rng = np.random.default_rng(seed)
    batch = params.batch_size
    steps_per_epoch = math.ceil(len(data) / batch)
    total = steps_per_epoch * params.n_epochs
    result = TrainingResult(weights=weights)
    step = 0
    for epoch in range(1, params.n_epochs + 1):
        order = rng.permutation(len(data))
        for start in range(0, len(data), batch):
            if cancel is not None and cancel.is_set():
                raise TrainingCancelled
            index = order[start : start + batch]
            candidates, mask = _candidates(data, index)
            loss, grad = _batch_loss(weights, data.queries[index], candidates, mask, True)
            assert grad is not None
            step += 1
            first_moment = beta1 * first_moment + (1 - beta1) * grad
            second_moment = beta2 * second_moment + (1 - beta2) * grad * grad
            m_hat = first_moment / (1 - beta1**step)
            v_hat = second_moment / (1 - beta2**step)
            weights -= lr * m_hat / (np.sqrt(v_hat) + eps)
            result.steps.append(StepMetrics(step=step, epoch=epoch, train_loss=loss))
        metrics = result.steps[-1]
        if validation is not None and len(validation):
            metrics.valid_loss, metrics.valid_mrr = evaluate(weights, validation, batch)
        if progress is not None:
            progress(metrics, total)
    result.weights = weights.astype(np.float32)
    result.seconds = time.perf_counter() - started
    return result
