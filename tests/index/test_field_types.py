"""Metadata strings that look like numbers stay strings: ``{"zip": "07030"}`` is not 7030.

The ``fields`` table once declared ``value ANY``, which SQLite reads as NUMERIC affinity, so
"007" was stored as the integer 7 and matched "7" (and "7.0"). Files written that way are
rebuilt when they are opened; the test writes one exactly as the old schema did.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import numpy as np

from index import Store

METADATA: list[dict[str, Any]] = [
    {"zip": "007"},
    {"zip": "7"},
    {"zip": 7},
    {"zip": "7.0"},
    {"zip": 7.5},
    {"zip": ["007", "x"]},
]
IDS = ["a", "b", "c", "d", "e", "f"]

CASES: list[tuple[dict[str, Any], list[str]]] = [
    ({"zip": "7"}, ["b"]),
    ({"zip": "007"}, ["a", "f"]),
    ({"zip": 7}, ["c"]),
    ({"zip": "7.0"}, ["d"]),
    ({"zip": {"$in": ["007", "7.0"]}}, ["a", "d", "f"]),
    ({"zip": {"$ne": "007"}}, ["b", "c", "d", "e"]),
    ({"zip": {"$gte": 7}}, ["c", "e"]),
]


def _fill(path: Path) -> None:
    store = Store(path)
    try:
        collection = store.create_collection("c", 4)
        vectors = np.random.default_rng(0).normal(size=(len(IDS), 4)).astype(np.float32)
        collection.upsert(IDS, vectors, None, METADATA)
    finally:
        store.close()


def _matches(path: Path) -> dict[str, list[str]]:
    store = Store(path)
    try:
        collection = store.get_collection("c")
        return {
            repr(where): [record.id for record in collection.scroll(where=where).records]
            for where, _ in CASES
        }
    finally:
        store.close()


def _expected() -> dict[str, list[str]]:
    return {repr(where): ids for where, ids in CASES}


def test_strings_that_look_like_numbers_stay_strings(tmp_path: Path) -> None:
    _fill(tmp_path / "data")
    assert _matches(tmp_path / "data") == _expected()


def test_a_file_written_with_numeric_affinity_is_rebuilt_on_open(tmp_path: Path) -> None:
    _fill(tmp_path / "data")
    (database,) = (tmp_path / "data").rglob("documents.sqlite3")
    with sqlite3.connect(database) as conn:  # the table as the old schema declared and filled it
        rows = conn.execute("SELECT key, kind, value, label FROM fields").fetchall()
        conn.execute("DROP TABLE fields")
        conn.execute(
            "CREATE TABLE fields (key TEXT NOT NULL, kind TEXT NOT NULL, value ANY NOT NULL,"
            " label INTEGER NOT NULL, PRIMARY KEY (key, kind, value, label)) WITHOUT ROWID"
        )
        conn.execute("CREATE INDEX fields_label ON fields (label)")
        conn.executemany("INSERT OR IGNORE INTO fields VALUES (?, ?, ?, ?)", rows)
        stored = {value for (value,) in conn.execute("SELECT value FROM fields")}
    conn.close()
    assert "007" not in stored  # the old affinity at work: "007" became 7

    assert _matches(tmp_path / "data") == _expected()
    with sqlite3.connect(database) as conn:
        (declared,) = [
            kind
            for _, name, kind, *_ in conn.execute("PRAGMA table_info(fields)")
            if name == "value"
        ]
    conn.close()
    assert declared == ""
