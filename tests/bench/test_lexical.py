"""BM25 against a hand computation on a three-document corpus."""

from __future__ import annotations

import math

import pytest

from benchmarks.harness.lexical import BM25, tokenize

K1, B = 0.9, 0.4


def _term(tf: int, df: int, n: int, dl: int, avgdl: float) -> float:
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
    return idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * dl / avgdl))


def test_tokenize_lowercase_alphanumeric() -> None:
    assert tokenize("Hello, World-42! naïve x_y") == ["hello", "world", "42", "na", "ve", "x", "y"]


def test_scores_equal_hand_computation() -> None:
    # Lengths 3, 2, 4: avgdl 3. "a" is in one document, "c" in two.
    bm25 = BM25(["d1", "d2", "d3"], ["a b a", "b c", "c c c d"])
    expected = {
        "d1": _term(tf=2, df=1, n=3, dl=3, avgdl=3),  # ln(1 + 2.5/1.5) * 2*1.9 / (2 + 0.9)
        "d2": _term(tf=1, df=2, n=3, dl=2, avgdl=3),
        "d3": _term(tf=3, df=2, n=3, dl=4, avgdl=3),
    }
    assert expected["d1"] == pytest.approx(1.285225, abs=1e-6)
    assert expected["d2"] == pytest.approx(0.501689, abs=1e-6)
    assert expected["d3"] == pytest.approx(0.666423, abs=1e-6)
    got = bm25.search("A c", k=10)
    assert [doc for doc, _ in got] == ["d1", "d3", "d2"]
    assert dict(got) == pytest.approx(expected)


def test_repeated_query_terms_add_up_and_unmatched_documents_are_left_out() -> None:
    bm25 = BM25(["d1", "d2", "d3"], ["a b a", "b c", "c c c d"])
    once, twice = dict(bm25.search("a")), dict(bm25.search("a a"))
    assert list(once) == ["d1"]
    assert twice["d1"] == pytest.approx(2 * once["d1"])
    assert bm25.search("zebra") == []


def test_top_k_and_ties_go_to_the_earlier_document() -> None:
    bm25 = BM25([f"d{i}" for i in range(5)], ["x y"] * 5)
    assert [doc for doc, _ in bm25.search("x", k=3)] == ["d0", "d1", "d2"]
