"""The embedding layer's public value types, shared by providers, router and facade."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import msgspec
import numpy as np

Inputs = list[str] | list[list[int]]
ProviderName = Literal["local", "upstream", "finetune"]


class ModelInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What the service knows about a model id; ``None`` where the upstream does not say."""

    id: str
    native_dimensions: int | None
    max_input_tokens: int | None
    owned_by: str
    provider: str  # "local" | "upstream" | "finetune"
    document_model: str | None = None
    """The model id to embed documents with; for query-side adapters, the base model."""


@dataclass(slots=True)
class EmbedResult:
    """Vectors in input order: float32 ``[n, d]``, L2-normalised when the model does it."""

    vectors: np.ndarray
    prompt_tokens: int
    model: str
    tokens: list[int] = field(default_factory=list)  # per input (batches bill each request)
