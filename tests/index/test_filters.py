"""``where`` filters against a brute-force reference: a Python predicate plus numpy ranking."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index import Collection, FilterError, InvalidArgumentError, Store, filters, vector_search
from index.filters import compile_predicate

N_DOCS = 400
DIM = 16
COLORS = ["red", "green", "blue"]


def make_metadata(rng: np.random.Generator, i: int) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if rng.random() < 0.9:
        meta["color"] = COLORS[int(rng.integers(3))]
    if rng.random() < 0.9:
        meta["n"] = int(rng.integers(10))
    if rng.random() < 0.8:
        meta["x"] = float(rng.integers(-20, 20)) / 4  # floats that sometimes equal ints
    if rng.random() < 0.8:
        meta["flag"] = bool(rng.integers(2))
    if rng.random() < 0.5:
        meta["tags"] = sorted({COLORS[int(t)] for t in rng.integers(3, size=2)})
    if rng.random() < 0.1:
        meta["n"] = "7"  # a string where most documents have a number
    return meta


# -- the reference semantics, written independently of the SQL compiler ------------------------


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) or (
        isinstance(a, int | float)
        and isinstance(b, int | float)
        and not isinstance(a, bool)
        and not isinstance(b, bool)
    )


def _values(meta: dict[str, Any], key: str) -> list[Any]:
    if key not in meta:
        return []
    value = meta[key]
    return value if isinstance(value, list) else [value]


def _eq(meta: dict[str, Any], key: str, v: Any) -> bool:
    return any(_same(x, v) and x == v for x in _values(meta, key))


def matches(meta: dict[str, Any], where: dict[str, Any]) -> bool:
    for key, cond in where.items():
        if key == "$and":
            ok = all(matches(meta, c) for c in cond)
        elif key == "$or":
            ok = any(matches(meta, c) for c in cond)
        elif not isinstance(cond, dict):
            ok = _eq(meta, key, cond)
        else:
            ok = all(_op(meta, key, op, v) for op, v in cond.items())
        if not ok:
            return False
    return True


def _op(meta: dict[str, Any], key: str, op: str, v: Any) -> bool:
    numbers = [
        x for x in _values(meta, key) if isinstance(x, int | float) and not isinstance(x, bool)
    ]
    return {
        "$eq": lambda: _eq(meta, key, v),
        "$ne": lambda: not _eq(meta, key, v),
        "$in": lambda: any(_eq(meta, key, item) for item in v),
        "$nin": lambda: not any(_eq(meta, key, item) for item in v),
        "$gt": lambda: any(x > v for x in numbers),
        "$gte": lambda: any(x >= v for x in numbers),
        "$lt": lambda: any(x < v for x in numbers),
        "$lte": lambda: any(x <= v for x in numbers),
    }[op]()


# -- strategies ---------------------------------------------------------------------------------

scalars = st.one_of(
    st.sampled_from(COLORS + ["7", "purple"]),
    st.integers(-2, 11),
    st.sampled_from([0.0, 1.0, 2.5, -1.25, 7.0]),
    st.booleans(),
)
numbers = st.one_of(st.integers(-2, 11), st.sampled_from([0.5, 2.5, -1.25, 7.0]))
keys = st.sampled_from(["color", "n", "x", "flag", "tags", "absent"])


@st.composite
def conditions(draw: st.DrawFn) -> Any:
    op = draw(st.sampled_from(["plain", "$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte"]))
    if op == "plain":
        return draw(scalars)
    if op in ("$in", "$nin"):
        return {op: draw(st.lists(scalars, min_size=1, max_size=3))}
    if op in ("$eq", "$ne"):
        return {op: draw(scalars)}
    return {op: draw(numbers)}


leaf = st.dictionaries(keys, conditions(), min_size=1, max_size=2)
wheres = st.recursive(
    leaf,
    lambda children: st.one_of(
        st.builds(lambda cs: {"$and": cs}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda cs: {"$or": cs}, st.lists(children, min_size=1, max_size=3)),
    ),
    max_leaves=6,
)


@pytest.fixture(params=["memory", "sqlite"])
def populated(
    request: pytest.FixtureRequest, store: Store, rng: np.random.Generator
) -> tuple[Collection, np.ndarray, list[dict]]:
    """A collection whose filters are answered by the in-memory index (``field_index.py``),
    or by SQLite (as while that index is being built after opening)."""
    col = store.create_collection("f", dim=DIM)
    vectors = rng.normal(size=(N_DOCS, DIM)).astype(np.float32)
    metas = [make_metadata(rng, i) for i in range(N_DOCS)]
    col.upsert([f"d{i}" for i in range(N_DOCS)], vectors, metadatas=metas)
    assert col.views_built.wait(30)
    if request.param == "sqlite":
        col.views_built.clear()
    return col, vectors, metas


def exact_top_k(vectors: np.ndarray, query: np.ndarray, keep: list[int], k: int) -> list[str]:
    normed = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    scores = normed[keep] @ (query / np.linalg.norm(query))
    order = np.argsort(-scores, kind="stable")[:k]
    return [f"d{keep[i]}" for i in order]


def test_filtered_queries_equal_brute_force(populated, rng: np.random.Generator) -> None:
    col, vectors, metas = populated
    query = rng.normal(size=DIM).astype(np.float32)

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(where=wheres, k=st.sampled_from([1, 5, 50, 1000]))
    def check(where: dict[str, Any], k: int) -> None:
        keep = [i for i, m in enumerate(metas) if matches(m, where)]
        [hits] = col.query(query, k=k, where=where)
        assert [h.id for h in hits] == exact_top_k(vectors, query, keep, k), where
        scrolled = col.scroll(limit=N_DOCS, where=where).records
        assert sorted(r.id for r in scrolled) == sorted(f"d{i}" for i in keep), where

    check()


def test_python_predicate_agrees_with_sql(populated) -> None:
    """Post-filtering (Python) and the matching-set path (SQL) must mean the same thing."""
    col, _, metas = populated

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(where=wheres)
    def check(where: dict[str, Any]) -> None:
        predicate = compile_predicate(where)
        by_python = {f"d{i}" for i, meta in enumerate(metas) if predicate(meta)}
        by_sql = {r.id for r in col.scroll(limit=N_DOCS, where=where).records}
        assert by_python == by_sql, where

    check()


def test_filtered_hnsw_path_has_high_recall(populated, rng, monkeypatch) -> None:
    """With exact search and post-filtering switched off, HNSW restricted to the filter's
    matches still finds the right neighbours."""
    col, vectors, metas = populated
    monkeypatch.setattr(vector_search, "BRUTE_FORCE_MAX", 0)
    monkeypatch.setattr(vector_search, "RESTRICTED_US", 0.0)
    monkeypatch.setattr(vector_search, "POST_FILTER_MIN", 2.0)
    where = {"$or": [{"flag": True}, {"color": "red"}]}
    keep = [i for i, m in enumerate(metas) if matches(m, where)]
    found = total = 0
    for query in rng.normal(size=(20, DIM)).astype(np.float32):
        [hits] = col.query(query, k=10, where=where)
        assert {h.id for h in hits} <= {f"d{i}" for i in keep}
        found += len({h.id for h in hits} & set(exact_top_k(vectors, query, keep, 10)))
        total += 10
    assert found / total >= 0.95


def test_exact_search_in_chunks_equals_brute_force(populated, rng, monkeypatch) -> None:
    """Exact search reads and scores vectors a chunk at a time (bounded memory); the merged
    result is the same top-k."""
    col, vectors, metas = populated
    monkeypatch.setattr(vector_search, "EXACT_CHUNK", 7)
    monkeypatch.setattr(vector_search, "MATRIX_CHUNK", 7)
    where = {"n": "7"}  # about 40 documents: too few among HNSW's candidates, so exact
    keep = [i for i, m in enumerate(metas) if matches(m, where)]
    assert 20 < len(keep) < 80
    for query in rng.normal(size=(5, DIM)).astype(np.float32):
        for k in (25, 30):
            [hits] = col.query(query, k=k, where=where)
            assert [h.id for h in hits] == exact_top_k(vectors, query, keep, k)


def test_an_empty_filter_matches_everything(populated) -> None:
    col, vectors, _ = populated
    assert len(col.query(vectors[:1], k=N_DOCS, where={})[0]) == N_DOCS
    assert len(col.scroll(limit=N_DOCS, where={}).records) == N_DOCS


def test_delete_where_removes_exactly_the_matching_documents(store: Store, rng) -> None:
    metas = [make_metadata(rng, i) for i in range(100)]
    where = {"$and": [{"n": {"$gte": 3}}, {"tags": {"$nin": ["red"]}}]}
    col = store.create_collection("del", dim=4)
    col.upsert([f"d{i}" for i in range(100)], rng.normal(size=(100, 4)), metadatas=metas)
    expected = {f"d{i}" for i, m in enumerate(metas) if not matches(m, where)}
    assert col.delete(where=where) == 100 - len(expected)
    assert {r.id for r in col.scroll(limit=1000).records} == expected


@pytest.mark.parametrize(
    ("where", "param"),
    [
        pytest.param([], "where", id="not-an-object"),
        pytest.param({"$and": []}, "where.$and", id="empty-and"),
        pytest.param({"$or": {"a": 1}}, "where.$or", id="or-not-list"),
        pytest.param({"$not": {"a": 1}}, "where.$not", id="unknown-logical"),
        pytest.param({"a": {"$regex": "x"}}, "where.a.$regex", id="unknown-operator"),
        pytest.param({"a": {}}, "where.a", id="empty-condition"),
        pytest.param({"a": {"$gt": "b"}}, "where.a.$gt", id="gt-string"),
        pytest.param({"a": {"$lt": True}}, "where.a.$lt", id="lt-bool"),
        pytest.param({"a": {"$in": []}}, "where.a.$in", id="in-empty"),
        pytest.param({"a": {"$in": "abc"}}, "where.a.$in", id="in-not-list"),
        pytest.param({"a": {"$eq": [1]}}, "where.a.$eq", id="eq-list"),
        pytest.param({"a": None}, "where.a", id="null"),
        pytest.param({"a": {"$eq": float("nan")}}, "where.a.$eq", id="nan"),
        pytest.param(
            {"$and": [{"a": 1}, {"b": {"$in": [1, {}]}}]}, "where.$and[1].b.$in[1]", id="deep"
        ),
    ],
)
def test_malformed_filters_name_the_offending_part(populated, where: Any, param: str) -> None:
    col, vectors, _ = populated
    with pytest.raises(FilterError) as excinfo:
        col.query(vectors[:1], where=where)
    assert excinfo.value.param == param
    with pytest.raises(FilterError):
        col.scroll(where=where)


# -- limits (issue 10): refused with a clear error, and SQLite's own limits never reached --------


def _nested(depth: int) -> dict[str, Any]:
    """``depth`` levels of alternating ``$and``/``$or``, two clauses each (so none collapses)."""
    where: dict[str, Any] = {"n": {"$gte": 0}}
    for level in range(depth):
        where = {"$or" if level % 2 else "$and": [where, {"absent": {"$ne": level}}]}
    return where


@pytest.mark.parametrize(
    "where",
    [
        pytest.param({"n": {"$in": list(range(filters.MAX_VALUES))}}, id="in-at-the-limit"),
        pytest.param({"n": {"$nin": [*range(9_000), *COLORS, True]}}, id="nin-mixed-kinds"),
        pytest.param({"$or": [{"n": i} for i in range(filters.MAX_CLAUSES - 1)]}, id="or-999"),
        pytest.param({"$and": [{"n": {"$ne": i}} for i in range(600)]}, id="and-600-negations"),
        pytest.param(_nested(filters.MAX_DEPTH), id="depth-at-the-limit"),
    ],
)
def test_filters_within_the_limits_work_everywhere(populated, where: dict[str, Any]) -> None:
    """These failed inside SQLite (issue 10): ``$in`` with 500+ values ("Expression tree is
    too large"), 501+ ``$or`` clauses ("too many terms in compound SELECT"), deep nesting
    ("parser stack overflow"), or Python's own recursion limit."""
    col, vectors, metas = populated
    keep = {f"d{i}" for i, meta in enumerate(metas) if matches(meta, where)}
    [hits] = col.query(vectors[:1], k=N_DOCS, where=where)
    assert {h.id for h in hits} == keep
    assert {r.id for r in col.scroll(limit=N_DOCS, where=where).records} == keep
    assert {h.id for h in col.search_text(["x"], k=N_DOCS, where=where)[0]} <= keep
    assert col.delete(where=where) == len(keep)
    assert col.scroll(limit=N_DOCS, where=where).records == []


@pytest.mark.parametrize(
    ("where", "param", "message"),
    [
        pytest.param(
            {"n": {"$in": list(range(filters.MAX_VALUES + 1))}},
            "where.n.$in",
            "the limit is 10000",
            id="in-too-long",
        ),
        pytest.param(
            {"$or": [{"n": i} for i in range(filters.MAX_CLAUSES + 1)]},
            "where",
            "more than 1000 conditions",
            id="too-many-clauses",
        ),
        pytest.param(_nested(filters.MAX_DEPTH + 1), "where", "more than 32 levels", id="deep"),
        pytest.param(_nested(400), "where", "more than 32 levels", id="400-levels"),
        pytest.param({"n": 2**63}, "where.n", "64-bit", id="int-too-big"),
        pytest.param({"n": {"$in": [1, -(2**63) - 1]}}, "where.n.$in[1]", "64-bit", id="in-int"),
        pytest.param({"n": {"$gt": 2**64}}, "where.n.$gt", "64-bit", id="gt-int"),
    ],
)
def test_filters_beyond_the_limits_are_refused(
    populated, where: dict[str, Any], param: str, message: str
) -> None:
    col, vectors, _ = populated
    for call in (
        lambda: col.query(vectors[:1], where=where),
        lambda: col.scroll(where=where),
        lambda: col.delete(where=where),
    ):
        with pytest.raises(FilterError, match=message) as excinfo:
            call()
        assert excinfo.value.param == param


def test_metadata_integers_must_fit_in_64_bits(store: Store) -> None:
    col = store.create_collection("ints", dim=4)
    ok = [{"year": 2**63 - 1, "low": -(2**63)}]
    col.upsert(["a"], np.ones((1, 4)), metadatas=ok)
    assert col.get(["a"])[0].metadata == ok[0]
    for bad, param in (
        ({"year": 2**63}, "metadatas[0].year"),
        ({"tags": [1, -(2**63) - 1]}, "metadatas[0].tags[]"),
    ):
        with pytest.raises(InvalidArgumentError, match="64-bit") as excinfo:
            col.upsert(["b"], np.ones((1, 4)), metadatas=[bad])
        assert excinfo.value.param == param
    assert col.count() == 1
