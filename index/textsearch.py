"""A collection's lexical side: FTS5 in SQLite (durable) plus the in-memory accelerator.

The accelerator (:class:`lexical.LexicalIndex`) is built from the FTS5 table in a background
thread when the collection opens. Writes go on meanwhile (issue 10: they used to wait seconds
behind the build, which held the write lock): under the write lock, so between two writes, the
builder pins a read snapshot of the FTS5 table and starts recording every write committed after
it; it then reads the snapshot without any lock, and finally, under the write lock again,
replays what was recorded and takes over. No write is missed (it is either in the snapshot or
recorded) nor applied twice. Until it is ready, lexical top-N comes from FTS5's ``bm25()``,
which ranks identically (same tokens, same formula), only slower. After that, each committed
write is applied to it under the write lock, as to the graph.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .analysis import Analyzer
from .documents import Documents
from .errors import IndexStoreError
from .filters import compile_predicate
from .leases import Leases
from .lexical import CorpusStats, LexicalIndex, LexicalQuery, Scores, top_n
from .typos import TYPO_WEIGHT, Lexicon

log = logging.getLogger(__name__)


class Scored:
    """One query's lexical result: its top ``labels``/``scores`` and a way to score others."""

    def __init__(
        self,
        labels: np.ndarray,
        scores: np.ndarray,
        score_of: Callable[[np.ndarray], np.ndarray],
    ) -> None:
        self.labels = labels
        self.scores = scores
        self.score_of = score_of


@dataclass(frozen=True)
class QueryWords:
    """One shard's analysis of a query text (:meth:`TextSearch.query_words`): ``base`` its
    exact terms; per distinct word, whether the shard ``known``s it and the ``near`` stems it
    would correct it to."""

    base: LexicalQuery
    words: tuple[str, ...]
    known: tuple[bool, ...]
    near: tuple[tuple[str, ...], ...]

    @staticmethod
    def merged(parts: Sequence[QueryWords]) -> LexicalQuery:
        """The query a single node holding every shard's documents would make: the exact
        terms, plus corrections (weight ``TYPO_WEIGHT``) of the words no shard knows."""
        first = parts[0]
        weights = dict(zip(first.base.terms, first.base.weights, strict=True))
        for i, _ in enumerate(first.words):
            if any(part.known[i] for part in parts):
                continue
            for part in parts:
                for stem in part.near[i]:
                    weights.setdefault(stem, TYPO_WEIGHT)
        return LexicalQuery(tuple(weights), tuple(weights.values()))


class TextSearch:
    """``analyzer`` analyses documents and queries alike; ``weigh_repeats`` counts a query's
    repeated terms (off only for collections created before it, which keep their ranking)."""

    def __init__(
        self, docs: Documents, name: str, analyzer: Analyzer, *, weigh_repeats: bool = True
    ) -> None:
        self._docs = docs
        self._name = name
        self.analyzer = analyzer
        self._weigh_repeats = weigh_repeats
        self._index = LexicalIndex()
        self._lexicon: Lexicon | None = None
        self._ready = threading.Event()
        #: Writes committed after the builder's snapshot, replayed when it finishes.
        self._pending: list[tuple[np.ndarray, list[str], np.ndarray, list[str]]] | None = None

    # -- building and writes (the caller holds the collection's write lock) -------------------

    def start(self, write_lock: threading.Lock, leases: Leases) -> None:
        """Build the accelerator on a thread, holding a lease (closing waits for it, and it
        stops early once closing begins)."""

        def build() -> None:
            try:
                with leases.hold():
                    self._build(write_lock, leases)
            except IndexStoreError:  # closed before the thread ran
                return
            except Exception:
                log.exception("collection %s: lexical accelerator not built", self._name)
            finally:
                with write_lock:
                    self._pending = None

        threading.Thread(target=build, name=f"lexical-{self._name}", daemon=True).start()

    def _build(self, write_lock: threading.Lock, leases: Leases) -> None:
        started = time.perf_counter()
        index = LexicalIndex()
        with contextlib.ExitStack() as reading:
            with write_lock:  # between two writes: each is in the snapshot or recorded
                batches = reading.enter_context(self._docs.lexical_snapshot())
                self._pending = []
            for rows in batches:
                if leases.retiring:
                    return
                index.add([label for label, _ in rows], [terms for _, terms in rows])
        # The lexicon only grows: read after the snapshot, plus the words of the writes
        # recorded since, it holds every word (collections from before it have none).
        words = self._docs.lexicon()
        lexicon = None
        if words is not None:
            lexicon = Lexicon()
            lexicon.add(words)
        with write_lock:
            for labels, terms, removed, new_words in self._pending or []:
                index.remove(removed.tolist())
                index.add(labels.tolist(), terms)
                if lexicon is not None:
                    lexicon.add(new_words)
            self._index = index
            self._lexicon = lexicon
            self._ready.set()
        log.info(
            "collection %s: lexical index of %d documents built in %.3f s",
            self._name,
            index.size,
            time.perf_counter() - started,
        )

    def wait(self, timeout: float | None = None) -> bool:
        return self._ready.wait(timeout)

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def apply(
        self,
        labels: np.ndarray,
        terms: Sequence[str],
        removed: np.ndarray,
        words: Sequence[str] = (),
    ) -> None:
        if self._ready.is_set():
            self._index.remove(removed.tolist())
            self._index.add(labels.tolist(), terms)
            if self._lexicon is not None:
                self._lexicon.add(words)
        elif self._pending is not None:  # committed after the builder's snapshot
            self._pending.append((labels, list(terms), removed, list(words)))
        # else the builder has not taken its snapshot yet, which will hold this write

    def new_words(self, words: Iterable[str]) -> list[str]:
        """The distinct ``words`` the lexicon may lack (all of them until it is loaded)."""
        lexicon = self._lexicon if self._ready.is_set() else None
        distinct = dict.fromkeys(words)
        return [w for w in distinct if lexicon is None or w not in lexicon]

    # -- queries ------------------------------------------------------------------------------

    def query(self, text: str, typo_tolerance: bool = True) -> LexicalQuery:
        """The weighted terms of a query text: its analysed terms (repeats counted), plus, for
        each word the collection has never indexed, the words within a typo of it
        (``typos.py``), weighted ``TYPO_WEIGHT``. Corrections need the in-memory index; until
        it is built a query matches exactly."""
        words = self.analyzer.words(text)
        terms = self.analyzer.stems(words)
        if not self._weigh_repeats:
            terms = list(dict.fromkeys(terms))
        query = LexicalQuery.counting(terms)
        lexicon = self._lexicon
        if not typo_tolerance or lexicon is None or not self._ready.is_set():
            return query
        weights = dict(zip(query.terms, query.weights, strict=True))
        for word in dict.fromkeys(words):
            near = [match for match, _ in lexicon.near(word)]
            for stem in self.analyzer.stems(near):
                weights.setdefault(stem, TYPO_WEIGHT)
        return LexicalQuery(tuple(weights), tuple(weights.values()))

    def query_words(self, text: str, typo_tolerance: bool = True) -> QueryWords:
        """A query text as a shard sees it: its exact terms, and for each word whether this
        shard knows it and, if not, the stems of its known words a typo away. A sharded
        collection merges these (:meth:`QueryWords.merged`) into the query one node would
        make: a word is corrected only if no shard knows it. Waits for the accelerator."""
        self._ready.wait()
        words = tuple(dict.fromkeys(self.analyzer.words(text)))
        base = self.query(text, typo_tolerance=False)
        lexicon = self._lexicon
        if not typo_tolerance or lexicon is None:
            return QueryWords(base, words, (True,) * len(words), ((),) * len(words))
        known = tuple(w in lexicon for w in words)
        near = tuple(
            () if k else tuple(self.analyzer.stems([m for m, _ in lexicon.near(w)]))
            for w, k in zip(words, known, strict=True)
        )
        return QueryWords(base, words, known, near)

    def corpus_stats(self, terms: Iterable[str]) -> CorpusStats:
        self._ready.wait()
        return self._index.corpus_stats(terms)

    # -- reads --------------------------------------------------------------------------------

    def search(
        self,
        query: LexicalQuery,
        n: int,
        where: dict[str, Any] | None,
        corpus: CorpusStats | None = None,
    ) -> Scored:
        """BM25 top ``n`` among documents matching ``where``; ``corpus``: score with these
        statistics (a sharded collection's) rather than this collection's own."""
        if corpus is not None:
            self._ready.wait()  # FTS5's bm25() knows only its own statistics
        if not self._ready.is_set():
            # FTS5 counts a repeated phrase as often as it is given: repeat integer weights.
            terms = [
                t for t, w in zip(query.terms, query.weights, strict=True) for _ in range(int(w))
            ]
            labels, scores = self._docs.lexical_search(terms, n, where)
            docs = self._docs

            def fts_score_of(wanted: np.ndarray) -> np.ndarray:
                found, values = docs.lexical_search(terms, len(wanted), labels=wanted.tolist())
                lookup = dict(zip(found.tolist(), values.tolist(), strict=True))
                return np.fromiter((lookup.get(x, 0.0) for x in wanted.tolist()), np.float64)

            return Scored(labels, scores, fts_score_of)
        all_scores = self._index.scores(query, corpus)
        if where is None:
            labels, values = all_scores.top(n)
        else:
            labels, values = self._filtered(all_scores, n, where)
        return Scored(labels, values, all_scores.of)

    def _filtered(
        self, scores: Scores, n: int, where: dict[str, Any]
    ) -> tuple[np.ndarray, np.ndarray]:
        """As the vector side: post-filter a few more than ``n`` candidates when enough of
        them match, else restrict to the whole matching set."""
        wanted = max(4 * n, 40)
        top_labels, top_scores = scores.top(wanted)
        rows = self._docs.by_labels(top_labels.tolist())
        matches = compile_predicate(where)
        keep = [
            i
            for i, label in enumerate(top_labels.tolist())
            if label in rows and matches(rows[label].metadata)
        ]
        if len(keep) >= n or len(top_labels) < wanted:  # enough, or every match was seen
            return top_labels[keep][:n], top_scores[keep][:n]
        labels, values = scores.matching()
        mask = np.isin(labels, self._docs.matching_labels(where).astype(np.int64))
        return top_n(labels[mask], values[mask], n)
