"""``EmbeddingService`` in process, against a real loopback upstream (no mocks of our code)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import numpy as np
import pytest

from service.embeddings import EmbeddingService
from service.errors import ModelNotFoundError
from service.metrics import Metrics
from service.settings import LOCAL_MODEL_ID, Settings
from service.testing import FaultUpstream, fake_vector

MODEL = "text-embedding-fake"


async def _service(
    tmp_path: Path, upstream: FaultUpstream
) -> tuple[EmbeddingService, httpx.AsyncClient]:
    settings = Settings.load(
        {"data_dir": str(tmp_path), "upstream_url": upstream.v1, "upstream_backoff": 0.01}, {}
    )
    http = httpx.AsyncClient()
    return await EmbeddingService.open(settings, http, Metrics()), http


def test_facade(tmp_path: Path, fault_upstream: FaultUpstream) -> None:
    async def run() -> None:
        service, http = await _service(tmp_path, fault_upstream)
        try:
            local = service.resolve(LOCAL_MODEL_ID)
            assert (local.provider, local.native_dimensions) == ("local", 256)
            assert service.resolve(MODEL).provider == "upstream"
            assert service.count_tokens(LOCAL_MODEL_ID, ["hello world"]) == [2]
            assert service.count_tokens(MODEL, ["hello world"]) is None

            result = await service.embed(LOCAL_MODEL_ID, ["a b", "c"], dimensions=8)
            assert result.vectors.shape == (2, 8) and result.vectors.dtype == np.float32

            # 100 concurrent identical misses: one upstream request; partial hits send misses only.
            fault_upstream.push(("slow", 0.2))
            results = await asyncio.gather(*(service.embed(MODEL, ["x", "y"]) for _ in range(100)))
            assert len(fault_upstream.requests) == 1
            assert all(np.array_equal(r.vectors, results[0].vectors) for r in results)
            np.testing.assert_array_equal(results[0].vectors[1], fake_vector(MODEL, "y", None))
            # Mixed kinds on purpose: each input is cached on its own.
            mixed = await service.embed(MODEL, ["z", "x", [5, 6]])  # type: ignore[arg-type]
            assert fault_upstream.requests[-1]["input"] == ["z", [5, 6]]
            np.testing.assert_array_equal(mixed.vectors[1], results[0].vectors[0])
            assert mixed.prompt_tokens == 1 + 1 + 2

            with pytest.raises(ModelNotFoundError):
                service.resolve("")
        finally:
            await service.aclose()
            await http.aclose()

    asyncio.run(run())


def test_local_model_is_loaded_on_first_use_only(tmp_path: Path) -> None:
    """A server fed vectors never embeds locally: opening the service must not load the model
    (45 MiB resident); the first local embedding (a short one, which would otherwise run on the
    event loop) loads it off the loop, once, for every concurrent caller."""

    async def run() -> None:
        settings = Settings.load({"data_dir": str(tmp_path)}, {})
        service = await EmbeddingService.open(settings, None, Metrics())
        try:
            lazy = service._local_model
            assert lazy is not None

            def loaded() -> bool:
                assert lazy is not None
                return lazy.loaded

            assert not loaded()
            assert service.resolve(LOCAL_MODEL_ID).native_dimensions == 256
            assert not loaded()  # listing and resolving models does not need it
            results = await asyncio.gather(
                *(service.embed(LOCAL_MODEL_ID, ["hello world"]) for _ in range(8))
            )
            assert loaded()
            first = lazy.get()
            assert all(np.array_equal(r.vectors, results[0].vectors) for r in results)
            direct, _ = first.embed(["hello world"])
            np.testing.assert_array_equal(results[0].vectors, direct)
            assert lazy.get() is first
        finally:
            await service.aclose()

    asyncio.run(run())
