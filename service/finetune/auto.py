"""``"auto"`` hyperparameters: what a local adapter learns, for how long, and when to trust it.

Usage::

    share = validation_share(n_queries)          # when no validation_file is given
    plan = resolve(n_train_queries, n_train_pairs, n_epochs="auto", batch_size=32)

Every figure here was chosen by measurement, not fitted to one collection
(``benchmarks/finetune_study.py``; results and the reasoning in ``benchmarks/README.md``): on the
six labeled collections of ``shared/datasets``, leave-one-collection-out, with training sets built
to be useless (each query paired with another's passages) as the null case. In short:

- **Acceptance** (``ACCEPT_Z``): an adapter replaces the base model only if its mean per-query
  validation gain exceeds 2.5 standard errors. The chosen epoch is the best of many noisy
  scores, so a bare "better" is often luck: at z = 1, adapters trained on useless pairs were
  accepted in 30-60% of the runs (and then cost 0.05-0.4 nDCG@10 on the test queries); at 2.5,
  in none of 144.
- **Epochs**: at least 60 epochs or 600 steps, at most 2,000 steps; training stops after
  ``PATIENCE`` epochs without a better validation score. ``PLATEAU``: the job keeps the latest
  epoch within 2 standard errors of the best (``selection._choose`` says why), then ``REFIT``:
  it retrains on all the queries, held-out ones included, for that many epochs.
- **Capacity** follows the number of training queries (``CAPACITY``): a rank-16 map below 16,
  a full map pulled toward the identity (weight decay 10) below 64, a free full map above. The
  leave-one-collection-out choice was this schedule in three folds of six, a fourth moving only
  the last threshold (and no fold lost more than 0.001 nDCG@10 on the collection left out);
  gains come from the full map once there are a few hundred queries (SciFact: +0.06 at 205,
  +0.23 at 647).

Explicit ``n_epochs`` is the number of epochs run (no early stop); explicit ``batch_size`` and
``learning_rate_multiplier`` are used as given. Acceptance, plateau and refit always apply.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from service.finetune.maps import Capacity

MIN_TRAINING_QUERIES = 10  # fewer distinct queries fail the job: nothing to validate on
MIN_VALIDATION_QUERIES = 5
VALIDATION_SHARE = 0.2
AUTO_BATCH_SIZE = 64
MIN_EPOCHS = 60
MIN_STEPS = 600
MAX_STEPS = 2000
PATIENCE = 20
ACCEPT_Z = 2.5
PLATEAU = 2.0
REFIT = True
# (fewer than this many training queries, capacity); the last one applies above.
CAPACITY: tuple[tuple[int, Capacity], ...] = (
    (16, Capacity("low_rank", rank=16)),
    (64, Capacity("full", weight_decay=10.0)),
    (2**62, Capacity("full")),
)


@dataclass(frozen=True, slots=True)
class Plan:
    capacity: Capacity
    max_epochs: int
    batch_size: int
    learning_rate_multiplier: float
    patience: int | None  # epochs without a new best before stopping; None: run max_epochs
    z: float = ACCEPT_Z  # acceptance: standard errors the validation gain must clear
    min_gain: float = 0.0
    plateau: float = 0.0  # > 0: the latest epoch within that many standard errors of the best
    refit: bool = False  # retrain on training + held-out queries for the chosen epochs


def validation_share(n_queries: int) -> float:
    """The share of a training file's queries held out when no validation file is given."""
    del n_queries  # the same share at every size (MIN_VALIDATION_QUERIES bounds it below)
    return VALIDATION_SHARE


def capacity_for(n_queries: int) -> Capacity:
    return next(capacity for limit, capacity in CAPACITY if n_queries < limit)


def epochs_for(n_pairs: int, batch_size: int) -> int:
    """At least MIN_EPOCHS epochs and MIN_STEPS steps, at most MAX_STEPS steps."""
    steps = math.ceil(n_pairs / batch_size)
    if steps * MIN_EPOCHS > MAX_STEPS:
        return max(1, MAX_STEPS // steps)
    return max(MIN_EPOCHS, math.ceil(MIN_STEPS / steps))


def resolve(
    n_queries: int,
    n_pairs: int,
    n_epochs: int | str = "auto",
    batch_size: int | str = "auto",
    learning_rate_multiplier: float | str = "auto",
) -> Plan:
    """The plan for ``n_queries`` training queries with ``n_pairs`` pairs."""
    batch = AUTO_BATCH_SIZE if batch_size == "auto" else int(batch_size)
    batch = max(1, min(batch, n_pairs))
    explicit = n_epochs != "auto"
    return Plan(
        capacity=capacity_for(n_queries),
        max_epochs=int(n_epochs) if explicit else epochs_for(n_pairs, batch),
        batch_size=batch,
        learning_rate_multiplier=(
            1.0 if learning_rate_multiplier == "auto" else float(learning_rate_multiplier)
        ),
        patience=None if explicit else PATIENCE,
        plateau=PLATEAU,
        refit=REFIT,
    )
