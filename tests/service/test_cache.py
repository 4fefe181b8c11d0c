"""The persistent embedding cache: round trip, LRU bound, restart, corruption."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from service.embeddings.cache import FILENAME, ROW_OVERHEAD, EmbeddingCache, make_key
from service.metrics import Metrics

SEED = 1234


def vector(i: int, dims: int = 16) -> np.ndarray:
    return np.random.default_rng(SEED + i).standard_normal(dims).astype(np.float32)


def test_round_trip_and_reopen(tmp_path: Path) -> None:
    cache = EmbeddingCache.open(tmp_path, max_bytes=1 << 20)
    keys = [make_key("m", None, f"text {i}") for i in range(3)]
    cache.put_many([(key, vector(i), i + 1) for i, key in enumerate(keys)])
    cache.close()
    reopened = EmbeddingCache.open(tmp_path, max_bytes=1 << 20)
    found = reopened.get_many([*keys, make_key("m", None, "absent")])
    assert set(found) == set(keys)
    for i, key in enumerate(keys):
        np.testing.assert_array_equal(found[key][0], vector(i))
        assert found[key][1] == i + 1
    reopened.close()


def test_keys_separate_model_dimensions_and_input_kind() -> None:
    keys = {
        make_key("m", None, "1"),
        make_key("m", 8, "1"),
        make_key("n", None, "1"),
        make_key("m", None, [1]),
        make_key("m", None, [49]),  # ord("1"): text and token ids never collide
    }
    assert len(keys) == 5


def test_lru_eviction_keeps_recently_used(tmp_path: Path) -> None:
    entry = 32 + 16 * 4 + ROW_OVERHEAD
    metrics = Metrics()
    cache = EmbeddingCache.open(tmp_path, max_bytes=entry * 10, metrics=metrics)
    keys = [make_key("m", None, str(i)) for i in range(10)]
    for i, key in enumerate(keys):
        cache.put_many([(key, vector(i), 1)])
    assert cache.get_many([keys[0]])  # touch the oldest: now the most recently used
    cache.put_many([(make_key("m", None, "new"), vector(99), 1)])
    assert cache.total_bytes <= cache.max_bytes
    assert metrics.cache_evictions.value() == 2  # evicted down to 90%
    assert keys[0] in cache.get_many([keys[0]])
    assert not cache.get_many(keys[1:3])
    cache.close()


def test_zero_size_disables_writes(tmp_path: Path) -> None:
    cache = EmbeddingCache.open(tmp_path, max_bytes=0)
    cache.put_many([(b"k", vector(0), 1)])
    assert cache.count() == 0
    cache.close()


@pytest.mark.parametrize(
    "garbage",
    [
        pytest.param(b"this is not a database" * 100, id="text"),
        pytest.param(b"SQLite format 3\x00" + b"\xff" * 4000, id="bad-header"),
    ],
)
def test_corrupt_file_is_discarded_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, garbage: bytes
) -> None:
    (tmp_path / FILENAME).write_bytes(garbage)
    with caplog.at_level(logging.WARNING, logger="service.embeddings.cache"):
        cache = EmbeddingCache.open(tmp_path, max_bytes=1 << 20)
    assert "unreadable" in caplog.text
    cache.put_many([(b"k", vector(0), 3)])
    assert cache.get_many([b"k"])[b"k"][1] == 3
    cache.close()
