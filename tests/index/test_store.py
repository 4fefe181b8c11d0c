from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from index import (
    CollectionExistsError,
    CollectionNotFoundError,
    HnswParams,
    InvalidArgumentError,
    Store,
    StoreClosedError,
    StoreLockedError,
)


def test_create_get_list_drop(store: Store) -> None:
    created = store.create_collection(
        "docs",
        dim=8,
        metric="ip",
        hnsw=HnswParams(m=8, ef_construction=50, ef_search=20),
        metadata={"model": "m"},
    )
    assert store.get_collection("docs") is created
    [info] = store.list_collections()
    assert (info.name, info.dim, info.metric, info.metadata) == ("docs", 8, "ip", {"model": "m"})
    assert info.hnsw == HnswParams(m=8, ef_construction=50, ef_search=20)
    assert info.created_at > 0
    store.drop_collection("docs")
    assert store.list_collections() == []
    with pytest.raises(CollectionNotFoundError):
        store.get_collection("docs")
    with pytest.raises(CollectionNotFoundError):  # a dropped collection's handle, too
        created.count()


def test_defaults(store: Store) -> None:
    info = store.create_collection("docs", dim=4).info
    assert info.metric == "cosine"
    assert info.hnsw == HnswParams(m=16, ef_construction=200, ef_search=160)


def test_existing_name_is_an_error(store: Store) -> None:
    store.create_collection("docs", dim=4)
    with pytest.raises(CollectionExistsError):
        store.create_collection("docs", dim=8)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("", id="empty"),
        pytest.param("a" * 65, id="too-long"),
        pytest.param("../etc", id="path-traversal"),
        pytest.param("a/b", id="slash"),
        pytest.param(".hidden", id="dot"),
        pytest.param("spa ce", id="space"),
        pytest.param("é", id="non-ascii"),
    ],
)
def test_bad_collection_names_are_rejected(store: Store, name: str) -> None:
    with pytest.raises(InvalidArgumentError) as excinfo:
        store.create_collection(name, dim=4)
    assert excinfo.value.param == "name"
    with pytest.raises(InvalidArgumentError):
        store.get_collection(name)


def _nested(levels: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


def test_collection_metadata_nests_up_to_the_limit(store: Store) -> None:
    assert store.create_collection("deep", dim=4, metadata=_nested(32)).info.metadata


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        pytest.param({"dim": 0}, "dim", id="dim-zero"),
        pytest.param({"dim": True}, "dim", id="dim-bool"),
        pytest.param({"dim": 4, "metric": "hamming"}, "metric", id="metric"),
        pytest.param({"dim": 4, "hnsw": HnswParams(m=1)}, "hnsw", id="hnsw-m"),
        pytest.param({"dim": 4, "hnsw": HnswParams(ef_search=0)}, "hnsw", id="hnsw-ef"),
        pytest.param({"dim": 4, "metadata": {"a": object()}}, "metadata", id="metadata-json"),
        pytest.param({"dim": 4, "metadata": [1]}, "metadata", id="metadata-list"),
        pytest.param({"dim": 4, "metadata": _nested(33)}, "metadata", id="metadata-too-deep"),
    ],
)
def test_bad_parameters_are_rejected(store: Store, kwargs: dict, param: str) -> None:
    with pytest.raises(InvalidArgumentError) as excinfo:
        store.create_collection("docs", **kwargs)
    assert excinfo.value.param == param
    assert store.list_collections() == []


def test_collections_persist_across_reopen(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        store.create_collection("a", dim=4)
        store.create_collection("b", dim=8, metric="l2")
    with Store(tmp_path) as store:
        assert [(c.name, c.dim, c.metric) for c in store.list_collections()] == [
            ("a", 4, "cosine"),
            ("b", 8, "l2"),
        ]


def test_second_store_on_the_same_directory_fails_fast(tmp_path: Path) -> None:
    with Store(tmp_path):
        with pytest.raises(StoreLockedError, match="in use by another process"):
            Store(tmp_path)
        code = f"from index import Store\nStore({str(tmp_path)!r})"
        child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert child.returncode != 0
        assert "StoreLockedError" in child.stderr
    Store(tmp_path).close()  # released on close


def test_leftovers_of_an_interrupted_create_are_swept(tmp_path: Path) -> None:
    (tmp_path / "collections" / ".new-docs-123").mkdir(parents=True)
    with Store(tmp_path) as store:
        assert store.list_collections() == []
        assert not (tmp_path / "collections" / ".new-docs-123").exists()


def test_closed_store_refuses_work(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.close()
    with pytest.raises(StoreClosedError):
        store.create_collection("docs", dim=4)
