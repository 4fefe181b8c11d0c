"""A collection written before analyzers, typo tolerance and per-collection defaults (issue 11)
opens and ranks exactly as it did: ``tests/fixtures/legacy_store`` was written, and its expected
results recorded, by the code of before (``build.py`` there says how)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from index import LexicalSettings, SearchDefaults, Store

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "legacy_store"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    shutil.copytree(FIXTURE / "store", tmp_path / "store")
    return Store(tmp_path / "store")


def test_old_collection_ranks_exactly_as_before(store: Store) -> None:
    expected = json.loads((FIXTURE / "expected.json").read_text())
    col = store.get_collection("legacy")
    assert col.info.legacy
    assert col.info.lexical_settings == LexicalSettings(language="none")
    assert col.info.search_defaults == SearchDefaults(mode="vector", alpha=0.4)
    assert col.info.passages is None  # one vector per document, as before passages (issue 12)
    assert not col._docs.passaged  # and its file gets no passages table
    assert col.lexical_ready(timeout=10)
    queries, vectors = expected["queries"], np.array(expected["query_vectors"], np.float32)
    got = {
        "vector": col.query(vectors, k=6),
        "lexical": col.search_text(queries, k=6),
        "hybrid": col.hybrid(queries, vectors, k=6),
    }
    for mode, results in got.items():
        for hits, wanted in zip(results, expected[mode], strict=True):
            assert [h.id for h in hits] == [i for i, _ in wanted], mode
            assert [h.score for h in hits] == pytest.approx([s for _, s in wanted]), mode
    [misspelt] = col.search_text(["protien"], k=6)
    assert misspelt == []  # no typo tolerance: it has no lexicon
    store.close()


def test_old_collection_takes_writes_and_new_defaults(store: Store) -> None:
    col = store.get_collection("legacy")
    col.upsert(["new"], np.ones((1, 4), np.float32), ["The runners ran"])
    [hits] = col.search_text(["runners"], k=6)
    assert {h.id for h in hits} == {"new", "runner"}  # still the unstemmed analyzer
    col.configure(mode="hybrid", alpha=0.5)
    store.close()
    with Store(store.path) as reopened:
        info = reopened.get_collection("legacy").info
        assert info.search_defaults == SearchDefaults(mode="hybrid", alpha=0.5)
        assert info.legacy  # its analyzer does not change
