"""Typo tolerance (``index/typos.py`` and ``TextSearch.query``): the edit-distance rule, the
lexicon, and what a collection finds with and without it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from index import Collection, Store
from index.typos import TYPO_WEIGHT, Lexicon, max_edits

DOCS = {
    "protein": "Protein folding in yeast cells",
    "elephant": "The elephant walked slowly to the river",
    "plants": "Photosynthesis feeds green plants",
    "cat": "A cat on the mat",
}


def test_edit_budget_grows_with_the_word() -> None:
    assert [max_edits("x" * n) for n in (1, 4, 5, 8, 9, 20)] == [0, 0, 1, 1, 2, 2]


def test_lexicon_finds_words_within_the_budget_nearest_first() -> None:
    lexicon = Lexicon()
    lexicon.add(["protein", "proteins", "protean", "elephant", "photosynthesis", "cat", "cart"])
    lexicon.add(["protein"])  # adding again changes nothing
    assert len(lexicon) == 7
    assert lexicon.near("protien") == [("protein", 1)]  # a swap is one edit
    assert lexicon.near("proteinz") == [("protein", 1), ("proteins", 1)]
    assert lexicon.near("elephnat") == [("elephant", 1)]
    assert lexicon.near("fotosynthesis") == [("photosynthesis", 2)]  # 13 letters: 2 edits
    assert lexicon.near("cta") == [] and lexicon.near("caet") == []  # too short to correct
    assert lexicon.near("protein") == []  # known words are not corrected


def single_edits(word: str, letters: str = "az") -> set[str]:
    """Every word one insert, delete, substitution or swap of neighbours away (``letters``
    inserted or substituted)."""
    found = set()
    for i in range(len(word) + 1):
        for c in letters:
            found.add(word[:i] + c + word[i:])
    for i in range(len(word)):
        found.add(word[:i] + word[i + 1 :])
        for c in letters:
            found.add(word[:i] + c + word[i + 1 :])
        if i + 1 < len(word):
            found.add(word[:i] + word[i + 1] + word[i] + word[i + 2 :])
    found.discard(word)
    return found


def test_every_single_edit_of_a_word_finds_it() -> None:
    """The four anchors (first three letters, last three, and two mixes) lose no single typo,
    wherever it falls, in words of five to nine letters."""
    words = ["yeast", "plants", "kitchen", "mindedly", "raggedly", "elephants"]
    lexicon = Lexicon()
    lexicon.add(words)
    for word in words:
        for typo in single_edits(word):
            if max_edits(typo) and typo not in lexicon:
                assert word in dict(lexicon.near(typo)), (word, typo)


@pytest.fixture
def col(store: Store) -> Collection:
    col = store.create_collection("typos", dim=4)
    ids = list(DOCS)
    col.upsert(ids, np.eye(4, dtype=np.float32), list(DOCS.values()))
    assert col.lexical_ready(timeout=10)
    return col


def found(col: Collection, query: str, **kwargs: object) -> list[str]:
    [hits] = col.search_text([query], k=10, **kwargs)  # type: ignore[arg-type]
    return [hit.id for hit in hits]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("protien", ["protein"], id="swap"),
        pytest.param("elephnat walkd", ["elephant"], id="stems-differ-from-the-typo"),
        pytest.param("yeasy", ["protein"], id="five-letters-one-edit"),
        pytest.param("fotosynthesis", ["plants"], id="two-edits-in-a-long-word"),
        pytest.param("cta", [], id="short-words-are-not-corrected"),
        pytest.param("yaesy", [], id="two-edits-in-a-short-word"),
    ],
)
def test_typos_find_the_intended_word(col: Collection, query: str, expected: list[str]) -> None:
    assert found(col, query) == expected
    assert found(col, query, typo_tolerance=False) == []


def test_a_correction_weighs_less_than_an_exact_match(col: Collection) -> None:
    [[exact]] = col.search_text(["protein"], k=1)
    [[corrected]] = col.search_text(["protien"], k=1)
    assert corrected.score == pytest.approx(TYPO_WEIGHT * exact.score)
    [[both]] = col.search_text(["protien protein"], k=1)  # the exact term is not doubled
    assert both.score == pytest.approx(exact.score)


def test_the_lexicon_is_durable_and_reloaded(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        col = store.create_collection("typos", dim=4)
        col.upsert(list(DOCS), np.eye(4, dtype=np.float32), list(DOCS.values()))
        col.delete(ids=["cat"])
    with sqlite3.connect(tmp_path / "collections/typos/documents.sqlite3") as conn:
        words = {word for (word,) in conn.execute("SELECT word FROM lexicon")}
    assert {"protein", "folding", "elephant", "photosynthesis", "cat"} <= words
    assert "the" not in words  # a stopword is never a term, so never a correction
    with Store(tmp_path) as store:
        col = store.get_collection("typos")
        assert col.lexical_ready(timeout=10)
        assert found(col, "protien") == ["protein"]
        assert found(col, "catt") == []  # "cat"'s only document is gone
