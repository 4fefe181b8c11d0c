"""The in-memory filter index (``index/field_index.py``) against the brute-force reference of
``test_filters.py``, through writes, replacements, deletes and reopening; and the filters it
leaves to SQLite."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings

from index import Store, vector_search
from index.field_index import FieldIndex
from index.filters import field_rows

from .test_filters import N_DOCS, exact_top_k, make_metadata, matches, wheres


def _index_of(metas: dict[int, dict[str, Any]], dead: set[int]) -> FieldIndex:
    index = FieldIndex()
    labels = sorted(metas)
    index.add(labels, [metas[label] for label in labels])
    index.remove(sorted(dead))
    return index


def test_the_evaluator_equals_the_reference_through_updates(rng: np.random.Generator) -> None:
    """Labels written, then some replaced by new labels with other metadata, some deleted:
    the live set and every operator agree with the reference on the live documents."""
    metas = {label: make_metadata(rng, label) for label in range(N_DOCS)}
    replaced = [int(x) for x in rng.choice(N_DOCS, 80, replace=False)]
    deleted = {int(x) for x in rng.choice(N_DOCS, 40, replace=False)} - set(replaced)
    index = _index_of(metas, deleted)
    new_labels = list(range(N_DOCS, N_DOCS + len(replaced)))
    new_metas = [make_metadata(rng, label) for label in new_labels]
    index.add(new_labels, new_metas)
    index.remove(replaced)
    live = {label: meta for label, meta in metas.items() if label not in deleted | set(replaced)}
    live.update(zip(new_labels, new_metas, strict=True))

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
    @given(where=wheres)
    def check(where: dict[str, Any]) -> None:
        found = index.matching(where)
        assert found is not None
        assert set(found) == {label for label, meta in live.items() if matches(meta, where)}, where

    check()


def test_rebuilt_from_rows_equals_built_by_writes(rng: np.random.Generator) -> None:
    metas = {label: make_metadata(rng, label) for label in range(200)}
    by_writes = _index_of(metas, set())
    rows = [(k, kind, v, label) for label, m in metas.items() for k, kind, v in field_rows(m)]
    rebuilt = FieldIndex.build(sorted(metas), rows)

    @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
    @given(where=wheres)
    def check(where: dict[str, Any]) -> None:
        assert by_writes.matching(where) == rebuilt.matching(where), where

    check()


def test_numbers_beyond_float_precision_are_left_to_sqlite(store: Store, rng) -> None:
    """2**53 + 1 and 2**53 are one float64: a range over such integers goes to SQLite, which
    compares them exactly, and the answer is still right."""
    col = store.create_collection("big", dim=4)
    big = 2**53
    col.upsert(["a", "b"], rng.normal(size=(2, 4)), metadatas=[{"n": big}, {"n": big + 1}])
    assert col.views_built.wait(30)
    assert col._fields.matching({"n": {"$gt": big}}) is None
    [hits] = col.query(rng.normal(size=4), k=5, where={"n": {"$gt": big}})
    assert [h.id for h in hits] == ["b"]
    [hits] = col.query(rng.normal(size=4), k=5, where={"n": big + 1})  # equality stays exact
    assert [h.id for h in hits] == ["b"]


def test_filtered_queries_after_updates_deletes_and_reopen(tmp_path, rng, monkeypatch) -> None:
    """Through the collection: the filter index and the vector matrix follow replacements and
    deletes, and are rebuilt on reopening; exact and restricted-HNSW answers stay right."""
    vectors = rng.normal(size=(N_DOCS, 16)).astype(np.float32)
    metas = [make_metadata(rng, i) for i in range(N_DOCS)]
    ids = [f"d{i}" for i in range(N_DOCS)]
    where = {"$or": [{"flag": True}, {"n": {"$lt": 3}}]}
    with Store(tmp_path / "data") as store:
        col = store.create_collection("f", dim=16)
        col.upsert(ids, rng.normal(size=(N_DOCS, 16)), metadatas=metas)  # replaced below
        col.upsert(ids[:300], vectors[:300], metadatas=metas[:300])
        col.upsert(ids[300:], vectors[300:], metadatas=metas[300:])
        col.delete(ids[:50])
    keep = [i for i in range(50, N_DOCS) if matches(metas[i], where)]
    with Store(tmp_path / "data") as store:
        col = store.get_collection("f")
        assert col.views_built.wait(30)  # until then SQLite answers filters
        for exact in (True, False):
            monkeypatch.setattr(vector_search, "RESTRICTED_US", 1e9 if exact else 0.0)
            monkeypatch.setattr(vector_search, "POST_FILTER_MIN", 2.0)
            found = 0
            for query in rng.normal(size=(10, 16)).astype(np.float32):
                [hits] = col.query(query, k=10, where=where)
                truth = exact_top_k(vectors, query, keep, 10)
                if exact:
                    assert [h.id for h in hits] == truth
                found += len({h.id for h in hits} & set(truth))
            assert found >= 95


def test_a_key_with_too_many_values_is_left_to_sqlite(store: Store, rng, monkeypatch) -> None:
    """A value per document (an id, a URL) would cost a bitmap each: beyond MAX_DISTINCT the
    key's equality filters go to SQLite, its ranges and the other keys stay in memory."""
    monkeypatch.setattr("index.field_index.MAX_DISTINCT", 10)
    col = store.create_collection("many", dim=4)
    metas = [{"url": f"u{i}", "n": i, "even": i % 2 == 0} for i in range(40)]
    col.upsert([f"d{i}" for i in range(40)], rng.normal(size=(40, 4)), metadatas=metas)
    assert col.views_built.wait(30)
    assert col._fields.matching({"url": "u7"}) is None
    assert set(col._fields.matching({"n": {"$lt": 5}}) or []) == set(range(5))
    assert len(col._fields.matching({"even": True}) or []) == 20
    [hits] = col.query(rng.normal(size=4), k=5, where={"$or": [{"url": "u7"}, {"url": "u9"}]})
    assert sorted(h.id for h in hits) == ["d7", "d9"]
