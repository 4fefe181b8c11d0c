"""Which provider serves a model id, and the providers behind that answer.

Routing rules (issue 3), first match wins:

1. ids listed in ``SEMSEARCH_UPSTREAM_MODELS`` go upstream, even a local id;
2. registered model sources, in order: fine-tuned ``ft:`` adapters plug in here (issue 5);
3. local ids are served by the embedded model;
4. any other id goes upstream when one is configured with an empty list; else 404.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Protocol, cast

import numpy as np

from service.embeddings import local
from service.embeddings.lazy import LazyLocalModel
from service.embeddings.types import Inputs, ModelInfo
from service.errors import ModelNotFoundError


class Provider(Protocol):
    """Computes embeddings for the models routed to it."""

    cacheable: bool
    """Whether answers go through the persistent cache (worth it when a miss is slow/costly)."""

    async def embed(
        self, model: ModelInfo, inputs: Inputs, dimensions: int | None
    ) -> tuple[np.ndarray, list[int]]:
        """Vectors ``[n, d]`` float32 in input order, and the token count of each input."""
        ...


class ModelSource(Protocol):
    """A pluggable set of models (the fine-tuned adapters): claims ids and lists them."""

    def resolve(self, model: str) -> ModelInfo | None: ...

    def list_models(self) -> list[ModelInfo]: ...


#: Inputs this small (a search query, typically) are embedded on the event loop: the work,
#: ~20 us, costs less than the hop to a worker thread and back (benchmarks/README.md).
INLINE_MAX_CHARS = 1024


class LocalProvider:
    """The embedded WordLlama, run on a small thread pool so the event loop never blocks.

    It is not cached: computing a vector (~15 us) is cheaper than looking one up in SQLite.
    """

    cacheable = False

    def __init__(self, model: LazyLocalModel, executor: Executor) -> None:
        self.model = model
        self._executor = executor

    async def embed(
        self, model: ModelInfo, inputs: Inputs, dimensions: int | None
    ) -> tuple[np.ndarray, list[int]]:
        local.check_dimensions(dimensions)
        inline = len(inputs) == 1 and isinstance(inputs[0], str)
        if inline and len(inputs[0]) <= INLINE_MAX_CHARS and self.model.loaded:
            return self._embed_sync(inputs, dimensions)
        loop = asyncio.get_running_loop()  # the first use loads the model: never on the loop
        return await loop.run_in_executor(self._executor, self._embed_sync, inputs, dimensions)

    def _embed_sync(self, inputs: Inputs, dimensions: int | None) -> tuple[np.ndarray, list[int]]:
        model = self.model.get()
        if inputs and isinstance(inputs[0], list):
            arrays = inputs
            local.check_lengths([len(ids) for ids in arrays])
            vectors, _ = model.embed(model.decode(arrays), dimensions)
            return vectors, [len(ids) for ids in arrays]  # usage counts the tokens sent
        return model.embed(cast("list[str]", inputs), dimensions)


class UpstreamProvider:
    """Adapts ``UpstreamClient`` to the provider interface; its answers are cached."""

    cacheable = True

    def __init__(self, client: UpstreamClientLike) -> None:
        self._client = client

    async def embed(
        self, model: ModelInfo, inputs: Inputs, dimensions: int | None
    ) -> tuple[np.ndarray, list[int]]:
        return await self._client.embed(model.id, inputs, dimensions)


class UpstreamClientLike(Protocol):
    async def embed(
        self, model: str, inputs: Inputs, dimensions: int | None
    ) -> tuple[np.ndarray, list[int]]: ...


def upstream_info(model: str) -> ModelInfo:
    return ModelInfo(
        id=model,
        native_dimensions=None,
        max_input_tokens=None,
        owned_by="upstream",
        provider="upstream",
    )


class ModelRouter:
    """Resolves model ids to ``ModelInfo`` (whose ``provider`` names who serves it)."""

    def __init__(
        self,
        local_models: Sequence[ModelInfo],
        *,
        upstream: bool,
        upstream_models: Sequence[str] = (),
    ) -> None:
        self._local = {info.id: info for info in local_models}
        self._upstream = upstream
        self._upstream_models = {model: upstream_info(model) for model in upstream_models}
        self._sources: list[ModelSource] = []

    def register(self, source: ModelSource) -> None:
        """Add a model source (e.g. fine-tuned ``ft:`` models), consulted after the upstream
        list and before the local models."""
        self._sources.append(source)

    def resolve(self, model: str) -> ModelInfo:
        if not model:
            raise ModelNotFoundError("You must provide a model parameter.", param="model")
        info = self._upstream_models.get(model)
        if info is not None:
            return info
        for source in self._sources:
            info = source.resolve(model)
            if info is not None:
                return info
        info = self._local.get(model)
        if info is not None:
            return info
        if self._upstream and not self._upstream_models:
            return upstream_info(model)
        raise ModelNotFoundError(
            f"The model '{model}' does not exist or you do not have access to it.",
            param="model",
        )

    def list_models(self) -> list[ModelInfo]:
        """Local models, configured upstream models, then registered sources; ids unique."""
        seen: dict[str, ModelInfo] = {}
        candidates = [*self._upstream_models.values(), *self._local.values()]
        for source in self._sources:
            candidates.extend(source.list_models())
        for info in candidates:
            seen.setdefault(info.id, info)
        return list(seen.values())
