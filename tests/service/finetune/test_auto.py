"""``"auto"``: the plan follows the data size; explicit hyperparameters are used as given."""

from __future__ import annotations

import pytest

from service.finetune import auto


@pytest.mark.parametrize(
    ("n_pairs", "batch", "epochs"),
    [
        pytest.param(919, 64, 60, id="scifact: 15 steps an epoch, 60 epochs"),
        pytest.param(100, 64, 300, id="tiny: 2 steps an epoch, 600 steps"),
        pytest.param(20_000, 64, 6, id="large: capped at 2000 steps"),
        pytest.param(10**7, 64, 1, id="huge: one epoch at least"),
    ],
)
def test_epochs_follow_the_step_budget(n_pairs: int, batch: int, epochs: int) -> None:
    assert auto.epochs_for(n_pairs, batch) == epochs


def test_capacity_grows_with_the_training_queries() -> None:
    sizes = [10, 40, 100, 500, 5000]
    kinds = [auto.capacity_for(n) for n in sizes]
    order = {"diagonal": 0, "low_rank": 1, "full": 2}
    ranks = [(order[c.kind], c.rank or 0, -c.weight_decay) for c in kinds]
    assert ranks == sorted(ranks)  # never more capacity for fewer queries
    assert kinds[-1].kind == "full" and kinds[-1].weight_decay == 0


def test_auto_plan_and_explicit_hyperparameters() -> None:
    plan = auto.resolve(647, 735)
    assert (plan.batch_size, plan.max_epochs, plan.patience) == (64, 60, auto.PATIENCE)
    assert (plan.z, plan.plateau, plan.refit) == (auto.ACCEPT_Z, auto.PLATEAU, auto.REFIT)
    given = auto.resolve(647, 735, n_epochs=4, batch_size=32, learning_rate_multiplier=0.5)
    assert (given.max_epochs, given.patience, given.batch_size) == (4, None, 32)
    assert given.learning_rate_multiplier == 0.5 and given.z == auto.ACCEPT_Z
    assert auto.resolve(12, 10).batch_size == 10  # a batch is never larger than the file
