"""Typo tolerance: a query word the collection has never seen also matches the collection's
words within a small edit distance.

The usual rule (Meilisearch's, and close to Elasticsearch's ``fuzziness: AUTO``): words of 5 to 8
characters tolerate 1 edit, words of 9 or more tolerate 2, shorter words none (a 4-letter word is
one edit away from too many others). Edits are optimal string alignment (insert, delete,
substitute, or swap two neighbours), computed by ``rapidfuzz``.

To stay fast at 100k documents, a word is only compared with known words of a length within
its edit budget that share one of four *anchors* with it: its first three letters, its last
three, its first two and last one, or its first one and last two. One edit (or one swap) in a
word of five or more letters leaves at least one anchor whole, wherever it falls, so nothing is
lost for single typos; two typos in a long word go uncorrected only when they break all four
(one at each end). That is about a thousandth of the comparisons of checking every known word
of those lengths (``benchmarks/README.md``, "Relevance").

Words are compared *before* stemming: a misspelt word stems unpredictably (``elephnat`` stays
``elephnat`` while ``elephant`` becomes ``eleph``), so the lexicon keeps every word the collection
has indexed and a correction is scored as that word's stem. Only words absent from the lexicon
are corrected: measured on six collections, also correcting rare words (df <= 2) changed nothing
(``benchmarks/README.md``, "Relevance"). Corrections weigh ``TYPO_WEIGHT`` of an exact match.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from rapidfuzz import process
from rapidfuzz.distance import OSA

#: A corrected term's weight relative to an exact one: below 1, so an exact match still wins; the
#: choice of every fold of leave-one-dataset-out over six labeled collections, among 0.5, 0.6,
#: 0.7 and 0.85 (``benchmarks/bench_relevance.py``; benchmarks/README.md, "Relevance").
TYPO_WEIGHT = 0.85
ONE_EDIT_FROM = 5
TWO_EDITS_FROM = 9


def max_edits(word: str) -> int:
    if len(word) >= TWO_EDITS_FROM:
        return 2
    return 1 if len(word) >= ONE_EDIT_FROM else 0


class Lexicon:
    """The distinct words of a collection's documents, bucketed by length.

    Words are only ever added (a word whose documents are all deleted stays; its stem then has
    no postings, and the caller skips it). Thread-safe: readers see a consistent bucket list.
    """

    def __init__(self) -> None:
        self._words: set[str] = set()
        # (anchor, length) -> the words of that length with that anchor (see ``_anchors``): a
        # query word is compared only with the lengths its edit budget reaches, which are a
        # fraction of an anchor's words (comparing all of them made typo tolerance cost ~0.07
        # ms per lexical query at 100k documents; now a few hundredths).
        self._buckets: dict[tuple[str, int], list[str]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._words)

    def __contains__(self, word: object) -> bool:
        return word in self._words

    def add(self, words: Iterable[str]) -> None:
        with self._lock:
            for word in words:
                if word not in self._words:
                    self._words.add(word)
                    if len(word) >= ONE_EDIT_FROM - 1:  # shorter ones are no correction
                        for anchor in _anchors(word):
                            self._buckets.setdefault((anchor, len(word)), []).append(word)

    def near(self, word: str) -> list[tuple[str, int]]:
        """Known words within the edit distance ``word``'s length allows, nearest first."""
        edits = max_edits(word)
        if not edits or word in self._words:
            return []
        lengths = range(len(word) - edits, len(word) + edits + 1)
        # Buckets only grow by appends: reading them without the lock is safe.
        buckets = self._buckets
        known: list[str] = []
        for anchor in _anchors(word):
            for length in lengths:
                known.extend(buckets.get((anchor, length), ()))
        if not known:
            return []
        matches = process.extract(word, known, scorer=OSA.distance, score_cutoff=edits, limit=None)
        found = {match: int(distance) for match, distance, _ in matches}
        return sorted(found.items(), key=lambda item: (item[1], item[0]))


def _anchors(word: str) -> tuple[str, str, str, str]:
    """Prefix of 3, suffix of 3, first 2 + last 1, first 1 + last 2 (tagged, so that a prefix
    and a suffix that happen to be equal do not share a bucket)."""
    return (
        "<" + word[:3],
        ">" + word[-3:],
        "<" + word[:2] + ">" + word[-1],
        word[0] + ">" + word[-2:],
    )
