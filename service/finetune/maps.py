"""The query maps an adapter can learn, from few parameters to many, all starting at the identity.

Usage::

    query_map = make_map(Capacity("low_rank", rank=16), dims=256, rng=rng)
    mapped = query_map.forward(queries)                  # queries @ W, W = I + delta
    grads = query_map.gradients(queries, d_mapped)       # one array per parameter
    weights = query_map.matrix()                         # the dense d x d W to save

Every parameterisation is ``W = I + delta`` with ``delta = 0`` at the start, so step 0 is the
base model and weight decay pulls ``W`` back toward the identity (issue 13: regularisation
toward the base model). Few training queries cannot pin down a full ``d x d`` map (65,536
numbers at d = 256), so ``auto`` gives them a diagonal or low-rank one (``auto.py``).

- ``diagonal``: ``W = diag(1 + s)``, d parameters: re-weights the base model's dimensions.
- ``low_rank``: ``W = I + A B^T`` (``A``, ``B``: d x r), LoRA-style: ``A = 0``, ``B`` random.
- ``full``: ``W = I + D``, d^2 parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

MapKind = Literal["diagonal", "low_rank", "full"]


@dataclass(frozen=True, slots=True)
class Capacity:
    """What the adapter may learn: its parameterisation and the pull back to the identity."""

    kind: MapKind
    rank: int | None = None  # low_rank only
    weight_decay: float = 0.0  # decoupled (AdamW-style) decay of ``delta`` toward 0

    def describe(self) -> str:
        if self.kind == "low_rank":
            return f"low-rank (rank {self.rank})"
        return self.kind


class QueryMap(Protocol):
    params: list[np.ndarray]

    def forward(self, queries: np.ndarray) -> np.ndarray: ...

    def gradients(self, queries: np.ndarray, d_mapped: np.ndarray) -> list[np.ndarray]: ...

    def matrix(self) -> np.ndarray: ...


class DiagonalMap:
    def __init__(self, dims: int) -> None:
        self.params: list[np.ndarray] = [np.zeros(dims)]

    def forward(self, queries: np.ndarray) -> np.ndarray:
        return queries * (1.0 + self.params[0])

    def gradients(self, queries: np.ndarray, d_mapped: np.ndarray) -> list[np.ndarray]:
        grad: np.ndarray = np.einsum("ij,ij->j", queries, d_mapped)
        return [grad]

    def matrix(self) -> np.ndarray:
        weights: np.ndarray = np.diag(1.0 + self.params[0])
        return weights


class LowRankMap:
    def __init__(self, dims: int, rank: int, rng: np.random.Generator) -> None:
        rank = max(1, min(rank, dims))
        self.params: list[np.ndarray] = [
            np.zeros((dims, rank)),
            rng.standard_normal((dims, rank)) / np.sqrt(dims),
        ]

    def forward(self, queries: np.ndarray) -> np.ndarray:
        a, b = self.params
        mapped: np.ndarray = queries + (queries @ a) @ b.T
        return mapped

    def gradients(self, queries: np.ndarray, d_mapped: np.ndarray) -> list[np.ndarray]:
        a, b = self.params
        return [queries.T @ (d_mapped @ b), d_mapped.T @ (queries @ a)]

    def matrix(self) -> np.ndarray:
        a, b = self.params
        weights: np.ndarray = np.eye(a.shape[0]) + a @ b.T
        return weights


class FullMap:
    def __init__(self, dims: int) -> None:
        self.params: list[np.ndarray] = [np.zeros((dims, dims))]

    def forward(self, queries: np.ndarray) -> np.ndarray:
        mapped: np.ndarray = queries + queries @ self.params[0]
        return mapped

    def gradients(self, queries: np.ndarray, d_mapped: np.ndarray) -> list[np.ndarray]:
        return [queries.T @ d_mapped]

    def matrix(self) -> np.ndarray:
        weights: np.ndarray = np.eye(self.params[0].shape[0]) + self.params[0]
        return weights


def make_map(capacity: Capacity, dims: int, rng: np.random.Generator) -> QueryMap:
    if capacity.kind == "diagonal":
        return DiagonalMap(dims)
    if capacity.kind == "low_rank":
        return LowRankMap(dims, capacity.rank or 1, rng)
    return FullMap(dims)


class Adam:
    """Adam with decoupled weight decay of every parameter toward 0 (so ``W`` toward ``I``)."""

    def __init__(self, params: list[np.ndarray], lr: float, weight_decay: float) -> None:
        self.params = params
        self.lr = lr
        self.weight_decay = weight_decay
        self.first = [np.zeros_like(p) for p in params]
        self.second = [np.zeros_like(p) for p in params]
        self.steps = 0

    def step(self, grads: list[np.ndarray]) -> None:
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        self.steps += 1
        for param, grad, m, v in zip(self.params, grads, self.first, self.second, strict=True):
            m *= beta1
            m += (1 - beta1) * grad
            v *= beta2
            v += (1 - beta2) * grad * grad
            m_hat = m / (1 - beta1**self.steps)
            v_hat = v / (1 - beta2**self.steps)
            if self.weight_decay:
                param *= 1.0 - self.lr * self.weight_decay
            param -= self.lr * m_hat / (np.sqrt(v_hat) + eps)
