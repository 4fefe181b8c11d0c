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


def test_identity_and_checkpoint_adapters_round_trip(tmp_path: Path) -> None:
    models = AdapterModels(tmp_path, embeddings=None)  # type: ignore[arg-type]
    identity = Adapter("ft:base:x:1", "base", None, "j1", dimensions=8)
    checkpoint = Adapter("ft:base:x:1:ckpt-step-5", "base", 2 * np.eye(8), "j1", step=5)
    models.save(identity)
    models.save(checkpoint)
    reopened = AdapterModels.open(tmp_path, embeddings=None)  # type: ignore[arg-type]
    again = reopened.get(identity.model)
    assert again is not None and again.is_identity and again.dimensions == 8
    vectors = normalise(np.random.default_rng(1).standard_normal((2, 8)).astype(np.float32))
    assert np.array_equal(again.apply(vectors, None), vectors)  # base embeddings, unchanged
    kept = reopened.get(checkpoint.model)
    assert kept is not None and kept.step == 5 and not kept.is_identity
    assert [m.id for m in reopened.list_models()] == [identity.model]  # checkpoints: not listed
    assert reopened.resolve(checkpoint.model) is not None  # but usable
    reopened.remove(kept)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["j1.npz"]
