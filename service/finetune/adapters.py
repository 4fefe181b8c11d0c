"""Fine-tuned ``ft:`` models: a ``ModelSource`` that names them and a ``Provider`` that embeds.

Usage (in the app's lifespan)::

    adapters = AdapterModels.open(settings.data_dir / "adapters", embeddings)
    embeddings.register(adapters, "finetune", adapters)

An adapter is query-side (issue 5): ``ft:{base}:{suffix}:{id}`` embeds its input with the base
model at the base's full native width (through ``EmbeddingService.embed``, so upstream bases hit
the cache), multiplies by the learned ``W`` and L2-normalises. ``dimensions`` then truncates
that vector and re-normalises, Matryoshka-style, as WordLlama and text-embedding-3 do. Document
vectors stay the base model's (``ModelInfo.document_model``), so existing indexes stay valid.

A job that found no adapter better than its base model saves the identity (no weights): its
model answers exactly as the base model does. A job's kept epochs are saved too, as
``{model}:ckpt-step-{step}``: usable by id, listed per job (``/checkpoints``), not in
``/v1/models``. One ``.npz`` per model: ``{job}.npz``, ``{job}.step-{step}.npz``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from service.embeddings import EmbeddingService, Inputs, ModelInfo
from service.embeddings.upstream import share_tokens
from service.errors import InvalidRequestError
from service.finetune.trainer import normalise


class Adapter:
    """One ``ft:`` model: a job's final model, or one of its checkpoints (``step`` set).

    ``weights=None`` is the identity map: the job found no adapter that beat the base model on
    validation, so the model returns the base model's embeddings, exactly (issue 13)."""

    def __init__(
        self,
        model: str,
        base: str,
        weights: np.ndarray | None,
        job_id: str,
        *,
        dimensions: int | None = None,
        step: int | None = None,
    ) -> None:
        self.model = model
        self.base = base
        self.weights = None if weights is None else np.ascontiguousarray(weights, dtype=np.float32)
        self.job_id = job_id
        self.step = step
        if self.weights is not None:
            dimensions = int(self.weights.shape[1])
        if dimensions is None:
            raise ValueError("an identity adapter needs its dimensions")
        self._dimensions = dimensions

    @property
    def dimensions(self) -> int:
        return self._dimensions

    @property
    def is_identity(self) -> bool:
        return self.weights is None

    @property
    def filename(self) -> str:
        return f"{self.job_id}.npz" if self.step is None else f"{self.job_id}.step-{self.step}.npz"

    def apply(self, vectors: np.ndarray, dimensions: int | None) -> np.ndarray:
        """Map base vectors, normalise, then truncate to ``dimensions`` and re-normalise."""
        if vectors.shape[1] != self.dimensions:
            raise InvalidRequestError(
                f"{self.base} returned {vectors.shape[1]}-d vectors but {self.model} was "
                f"trained on {self.dimensions}-d ones",
                param="model",
            )
        mapped = vectors.astype(np.float32)
        if self.weights is not None:
            mapped = normalise(mapped @ self.weights)
        if dimensions is not None and dimensions < mapped.shape[1]:
            mapped = normalise(np.ascontiguousarray(mapped[:, :dimensions]))
        return mapped


class AdapterModels:
    """The ``ModelSource`` and ``Provider`` of local adapters; weights live in the data dir."""

    cacheable = False  # the base model's vectors are cached; the matmul is cheaper than SQLite

    def __init__(self, root: Path, embeddings: EmbeddingService) -> None:
        self.root = root
        self._embeddings = embeddings
        self._adapters: dict[str, Adapter] = {}

    @classmethod
    def open(cls, root: Path, embeddings: EmbeddingService) -> AdapterModels:
        """Load every saved adapter (``*.npz``: weights plus a JSON header); blocking."""
        root.mkdir(parents=True, exist_ok=True)
        models = cls(root, embeddings)
        for path in sorted(root.glob("*.npz")):
            with np.load(path, allow_pickle=False) as saved:
                meta = json.loads(str(saved["meta"]))
                weights = None if meta.get("identity") else saved["weights"]
                models._add(
                    Adapter(
                        meta["model"],
                        meta["base"],
                        weights,
                        meta["job"],
                        dimensions=meta.get("dimensions"),
                        step=meta.get("step"),
                    )
                )
        return models

    def save(self, adapter: Adapter) -> None:
        """Write atomically (temporary file, fsync, rename), then serve it; blocking."""
        meta = json.dumps(
            {
                "model": adapter.model,
                "base": adapter.base,
                "job": adapter.job_id,
                "dimensions": adapter.dimensions,
                "step": adapter.step,
                "identity": adapter.is_identity,
            }
        )
        final = self.root / adapter.filename
        tmp = self.root / f".{adapter.filename}.tmp"
        weights = np.zeros((0, 0), np.float32) if adapter.weights is None else adapter.weights
        with tmp.open("wb") as out:
            np.savez(out, weights=weights, meta=np.array(meta))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, final)
        self._add(adapter)

    def remove(self, adapter: Adapter) -> None:
        self._adapters = {k: v for k, v in self._adapters.items() if k != adapter.model}
        (self.root / adapter.filename).unlink(missing_ok=True)

    def _add(self, adapter: Adapter) -> None:
        # Rebinding the dict keeps readers on the event loop lock-free.
        self._adapters = {**self._adapters, adapter.model: adapter}

    def get(self, model: str) -> Adapter | None:
        return self._adapters.get(model)

    # -- ModelSource ------------------------------------------------------------------------

    def resolve(self, model: str) -> ModelInfo | None:
        adapter = self._adapters.get(model)
        if adapter is None:
            return None
        return ModelInfo(
            id=adapter.model,
            native_dimensions=adapter.dimensions,
            max_input_tokens=None,
            owned_by="semsearch",
            provider="finetune",
            document_model=adapter.base,
        )

    def list_models(self) -> list[ModelInfo]:
        """Final models only: checkpoints are listed per job (``/checkpoints``), usable by id."""
        return [
            info
            for model, adapter in self._adapters.items()
            if adapter.step is None and (info := self.resolve(model)) is not None
        ]

    # -- Provider ---------------------------------------------------------------------------

    async def embed(
        self, model: ModelInfo, inputs: Inputs, dimensions: int | None
    ) -> tuple[np.ndarray, list[int]]:
        adapter = self._adapters[model.id]
        if dimensions is not None and not 1 <= dimensions <= adapter.dimensions:
            raise InvalidRequestError(
                f"dimensions must be between 1 and {adapter.dimensions} for {adapter.model}, "
                f"got {dimensions}",
                param="dimensions",
            )
        if adapter.is_identity:  # exactly the base model's answer, ``dimensions`` included
            same = await self._embeddings.embed(adapter.base, inputs, dimensions)
            return same.vectors, share_tokens(inputs, same.prompt_tokens)
        base = await self._embeddings.embed(adapter.base, inputs, None)
        return adapter.apply(base.vectors, dimensions), share_tokens(inputs, base.prompt_tokens)
