"""Query maps: identity at the start, gradients equal finite differences, decay toward I."""

from __future__ import annotations

import numpy as np
import pytest

from service.finetune.maps import Adam, Capacity, make_map

SEED = 20240611
CAPACITIES = [
    pytest.param(Capacity("diagonal"), id="diagonal"),
    pytest.param(Capacity("low_rank", rank=3), id="low-rank"),
    pytest.param(Capacity("full"), id="full"),
]


@pytest.mark.parametrize("capacity", CAPACITIES)
def test_starts_at_the_identity_and_matrix_matches_forward(capacity: Capacity) -> None:
    rng = np.random.default_rng(SEED)
    query_map = make_map(capacity, 6, rng)
    queries = rng.standard_normal((4, 6))
    assert np.allclose(query_map.forward(queries), queries)
    for param in query_map.params:
        param += 0.1 * rng.standard_normal(param.shape)
    assert np.allclose(query_map.forward(queries), queries @ query_map.matrix())


@pytest.mark.parametrize("capacity", CAPACITIES)
def test_gradients_equal_finite_differences(capacity: Capacity) -> None:
    """For the scalar sum(forward(q) * g), d/dparam by the map vs by central differences."""
    rng = np.random.default_rng(SEED)
    query_map = make_map(capacity, 5, rng)
    for param in query_map.params:
        param += 0.2 * rng.standard_normal(param.shape)
    queries, upstream = rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    grads = query_map.gradients(queries, upstream)
    for param, grad in zip(query_map.params, grads, strict=True):
        numeric = np.zeros_like(param)
        for index in np.ndindex(param.shape):
            saved = param[index]
            param[index] = saved + 1e-6
            plus = float(np.sum(query_map.forward(queries) * upstream))
            param[index] = saved - 1e-6
            minus = float(np.sum(query_map.forward(queries) * upstream))
            param[index] = saved
            numeric[index] = (plus - minus) / 2e-6
        assert np.allclose(grad, numeric, atol=1e-6), (capacity, SEED)


def test_weight_decay_pulls_toward_the_identity() -> None:
    rng = np.random.default_rng(SEED)
    query_map = make_map(Capacity("full", weight_decay=50.0), 4, rng)
    query_map.params[0] += 1.0
    optimiser = Adam(query_map.params, lr=1e-2, weight_decay=50.0)
    for _ in range(20):
        optimiser.step([np.zeros((4, 4))])  # no data: only the decay acts
    assert np.abs(query_map.matrix() - np.eye(4)).max() < 1e-4
