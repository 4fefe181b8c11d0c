"""``ft:`` models: the adapter maps base vectors; saved adapters load again."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from service.finetune.adapters import Adapter, AdapterModels
from service.finetune.trainer import normalise


def test_apply_maps_then_truncates_and_renormalises() -> None:
    rng = np.random.default_rng(5)
    weights = rng.standard_normal((8, 8)).astype(np.float32)
    adapter = Adapter("ft:base:semsearch:abc", "base", weights, "ftjob-1")
    base = normalise(rng.standard_normal((3, 8)).astype(np.float32))
    full = adapter.apply(base, None)
    assert np.allclose(full, normalise(base @ weights), atol=1e-6)
    short = adapter.apply(base, 4)
    assert short.shape == (3, 4)
    assert np.allclose(short, normalise(full[:, :4]), atol=1e-6)


def test_saved_adapters_are_served_after_reopen(tmp_path: Path) -> None:
    models = AdapterModels(tmp_path, embeddings=None)  # type: ignore[arg-type]
    adapter = Adapter("ft:wordllama-l2-supercat:x:1234", "wordllama-l2-supercat", np.eye(4), "j1")
    models.save(adapter)
    reopened = AdapterModels.open(tmp_path, embeddings=None)  # type: ignore[arg-type]
    info = reopened.resolve(adapter.model)
    assert info is not None
    assert (info.provider, info.document_model, info.native_dimensions) == (
        "finetune",
        "wordllama-l2-supercat",
        4,
    )
    assert reopened.resolve("ft:other") is None
    assert [m.id for m in reopened.list_models()] == [adapter.model]
    assert not list(tmp_path.glob(".*tmp*"))
