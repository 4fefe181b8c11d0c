"""``"auto"`` hyperparameters: what a local adapter learns, and for how long, from the data size.

Usage::

    share = validation_share(n_queries)                # when no validation_file is given
    plan = resolve(n_train_queries, n_train_pairs, n_epochs="auto", batch_size=32)

PLACEHOLDER rule, to be replaced by the measured one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from service.finetune.maps import Capacity

AUTO_BATCH_SIZE = 64
MIN_TRAINING_QUERIES = 10
MIN_VALIDATION_QUERIES = 5


@dataclass(frozen=True, slots=True)
class Plan:
    capacity: Capacity
    max_epochs: int
    batch_size: int
    learning_rate_multiplier: float
    patience: int | None  # epochs without a new best before stopping; None: run max_epochs
    z: float = 1.0  # acceptance: standard errors the validation gain must clear
    min_gain: float = 0.0
    plateau: float = 0.0  # > 0: the latest epoch within that many standard errors of the best
    refit: bool = False  # retrain on training + held-out queries for the chosen epochs


def validation_share(n_queries: int) -> float:
    return 0.2


def capacity_for(n_queries: int) -> Capacity:
    return Capacity("full")


def resolve(
    n_queries: int,
    n_pairs: int,
    n_epochs: int | str = "auto",
    batch_size: int | str = "auto",
    learning_rate_multiplier: float | str = "auto",
) -> Plan:
    batch = AUTO_BATCH_SIZE if batch_size == "auto" else int(batch_size)
    batch = max(1, min(batch, n_pairs))
    steps = math.ceil(n_pairs / batch)
    if n_epochs == "auto":
        epochs, patience = max(1, min(200, 3000 // steps)), 10
    else:
        epochs, patience = int(n_epochs), None
    lr = 1.0 if learning_rate_multiplier == "auto" else float(learning_rate_multiplier)
    return Plan(
        capacity=capacity_for(n_queries),
        max_epochs=epochs,
        batch_size=batch,
        learning_rate_multiplier=lr,
        patience=patience,
    )
