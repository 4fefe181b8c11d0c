"""``EmbeddingService``: the one facade the HTTP routes and the search API call.

Usage::

    service = await EmbeddingService.open(settings, http_client, metrics)
    info = service.resolve("wordllama-l2-supercat")
    result = await service.embed(info.id, ["some text"], dimensions=64)
    await service.aclose()

It routes by model id, answers cacheable providers (upstream) from the persistent cache first,
sends only the misses on, and lets concurrent identical misses share one computation.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import cast

import httpx
import numpy as np

from service.embeddings.cache import EmbeddingCache, make_key
from service.embeddings.lazy import LazyLocalModel
from service.embeddings.local import INFO as LOCAL_INFO
from service.embeddings.router import (
    LocalProvider,
    ModelRouter,
    ModelSource,
    Provider,
    UpstreamProvider,
)
from service.embeddings.singleflight import SingleFlight
from service.embeddings.types import EmbedResult, Inputs, ModelInfo
from service.embeddings.upstream import UpstreamClient
from service.errors import ServiceUnavailableError
from service.metrics import Metrics
from service.settings import Settings

logger = logging.getLogger(__name__)

Entry = tuple[np.ndarray, int]  # (vector, token count)


class EmbeddingService:
    """Routes, caches and single-flights embedding requests. Event-loop only."""

    def __init__(
        self,
        router: ModelRouter,
        providers: dict[str, Provider],
        *,
        cache: EmbeddingCache | None = None,
        metrics: Metrics | None = None,
        local_model: LazyLocalModel | None = None,
    ) -> None:
        self.router = router
        self.providers = providers
        self.metrics = metrics or Metrics()
        self._cache = cache
        self._local_model = local_model
        self._flight: SingleFlight[bytes, Entry] = SingleFlight()
        self._fills: set[asyncio.Task[None]] = set()
        self._executors: list[ThreadPoolExecutor] = []

    @classmethod
    async def open(
        cls, settings: Settings, http: httpx.AsyncClient | None, metrics: Metrics
    ) -> EmbeddingService:
        """Open the cache (off the loop) and wire the upstream. The local model is loaded on
        first use (``lazy.py``): a server fed vectors never holds it."""
        loop = asyncio.get_running_loop()
        model_threads = ThreadPoolExecutor(2, thread_name_prefix="wordllama")
        model = LazyLocalModel()
        providers: dict[str, Provider] = {"local": LocalProvider(model, model_threads)}
        if settings.upstream_url is not None:
            if http is None:
                raise ValueError("an upstream is configured but no HTTP client was given")
            providers["upstream"] = UpstreamProvider(UpstreamClient(http, settings, metrics))
        router = ModelRouter(
            [LOCAL_INFO],
            upstream=settings.upstream_url is not None,
            upstream_models=settings.upstream_models,
        )
        cache = None
        if settings.cache_max_mb > 0:
            max_bytes = int(settings.cache_max_mb * 1024 * 1024)
            cache = await loop.run_in_executor(
                None, EmbeddingCache.open, settings.data_dir, max_bytes, metrics
            )
        service = cls(router, providers, cache=cache, metrics=metrics, local_model=model)
        service._executors.append(model_threads)
        return service

    def register(self, source: ModelSource, provider_name: str, provider: Provider) -> None:
        """Plug in another model source and its provider (the fine-tuned ``ft:`` seam)."""
        self.providers[provider_name] = provider
        self.router.register(source)

    def resolve(self, model: str) -> ModelInfo:
        """The model's info; raises ``ModelNotFoundError`` (404 model_not_found)."""
        return self.router.resolve(model)

    def list_models(self) -> list[ModelInfo]:
        return self.router.list_models()

    def count_tokens(self, model: str, texts: list[str]) -> list[int] | None:
        """Token counts by the local tokenizer; ``None`` when the model is not local. Loads
        the model on first use: call it off the event loop."""
        info = self.resolve(model)
        if info.provider != "local" or self._local_model is None:
            return None
        return self._local_model.get().count_tokens(texts)

    async def embed(self, model: str, inputs: Inputs, dimensions: int | None = None) -> EmbedResult:
        """Embed ``inputs`` (texts or token arrays) in order. Never blocks the event loop."""
        info = self.resolve(model)
        provider = self.providers[info.provider]
        if not inputs:
            width = dimensions or info.native_dimensions or 0
            return EmbedResult(np.zeros((0, width), np.float32), 0, info.id)
        if self._cache is not None and provider.cacheable:
            vectors, tokens = await self._embed_cached(info, provider, inputs, dimensions)
        else:
            vectors, tokens = await provider.embed(info, inputs, dimensions)
        prompt_tokens = sum(tokens)
        self.metrics.embedding_tokens.inc(prompt_tokens, model=info.id, provider=info.provider)
        self.metrics.embedding_inputs.inc(len(inputs), model=info.id, provider=info.provider)
        return EmbedResult(vectors, prompt_tokens, info.id, list(tokens))

    async def _embed_cached(
        self, info: ModelInfo, provider: Provider, inputs: Inputs, dimensions: int | None
    ) -> tuple[np.ndarray, list[int]]:
        keys = [make_key(info.id, dimensions, item) for item in inputs]
        assert self._cache is not None
        found: dict[bytes, Entry] = await self._cache.run(self._cache.get_many, keys)
        hits = sum(key in found for key in keys)
        self.metrics.cache_hits.inc(hits)
        self.metrics.cache_misses.inc(len(keys) - hits)
        items: Sequence[str | list[int]] = inputs
        missing = {key: item for key, item in zip(keys, items, strict=True) if key not in found}
        if missing:
            owned, futures = self._flight.claim(missing)
            if owned:
                todo = [missing[key] for key in owned]
                task = asyncio.create_task(self._fill(info, provider, owned, todo, dimensions))
                self._fills.add(task)
                task.add_done_callback(self._fills.discard)
            for key, future in futures.items():
                # shield: a client hanging up must not cancel what other waiters share.
                found[key] = await asyncio.shield(future)
        first = found[keys[0]][0]
        vectors = np.empty((len(keys), first.shape[0]), dtype=np.float32)
        tokens = []
        for row, key in enumerate(keys):
            vector, count = found[key]
            vectors[row] = vector
            tokens.append(count)
        return vectors, tokens

    async def _fill(
        self,
        info: ModelInfo,
        provider: Provider,
        keys: list[bytes],
        items: list[str | list[int]],
        dimensions: int | None,
    ) -> None:
        """Compute owned misses once, store them, then wake every waiter."""
        assert self._cache is not None
        try:
            # Re-check: another fill may have stored these between our lookup and our claim.
            found = await self._cache.run(self._cache.get_many, keys)
            todo = [i for i, key in enumerate(keys) if key not in found]
            if todo:
                batch = cast(Inputs, [items[i] for i in todo])  # the caller's inputs: one kind
                vectors, tokens = await provider.embed(info, batch, dimensions)
                fresh = [(keys[i], vectors[j], tokens[j]) for j, i in enumerate(todo)]
                await self._cache.run(self._cache.put_many, fresh)
                found.update((key, (vector, count)) for key, vector, count in fresh)
        except asyncio.CancelledError:
            self._flight.fail(keys, ServiceUnavailableError("the service is shutting down"))
            raise
        except Exception as exc:  # waiters re-raise it; nothing is cached from a failure
            self._flight.fail(keys, exc)
            return
        for key in keys:
            self._flight.resolve(key, found[key])

    async def aclose(self) -> None:
        for task in list(self._fills):
            task.cancel()
        await asyncio.gather(*self._fills, return_exceptions=True)
        if self._cache is not None:
            await asyncio.to_thread(self._cache.close)
        for executor in self._executors:
            executor.shutdown(wait=False, cancel_futures=True)
