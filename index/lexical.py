"""Lexical search: the BM25 formula, a query's weighted terms, and an in-memory BM25 accelerator.

Terms come from the collection's analyzer (``analysis/``). A document is stored in SQLite FTS5 as
its terms joined by spaces, under FTS5's ``ascii`` tokeniser, which splits only on ASCII
non-alphanumerics: so FTS5 sees exactly these terms, and a query term, double-quoted, is always
one plain FTS5 term (user text never reaches FTS5 syntax: quotes, ``NEAR``, ``*``, ``-`` or
``AND`` are separators or ordinary words here).

BM25, as FTS5's ``bm25()`` computes it (so the FTS5 path and the accelerator agree)::

    score(d, q) = sum over distinct query terms t in d of
                  w(t) * idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * |d| / avgdl))
    idf(t) = max(ln((N - df + 0.5) / (df + 0.5)), 1e-6)

with k1 = 1.2, b = 0.75 (Robertson's standard values; measured against Anserini's 0.9 / 0.4 on
six collections, ``benchmarks/README.md``), N the number of documents with at least one term,
|d| a document's term count and avgdl their mean. A term in more than half the documents is
thus worth almost nothing, as in FTS5. ``w(t)`` is the term's weight in the query
(:class:`LexicalQuery`): how often the query repeats it (as Lucene and FTS5 count a repeated
clause: it matters for long, descriptive queries), or less than 1 for a typo correction.

:class:`LexicalIndex` holds the same postings as numpy arrays, so a query scores every
document in a few vectorised passes instead of FTS5's per-row ``bm25()`` calls (~150 ms at
100k short texts with common words; see ``benchmarks/README.md``). Like the HNSW graph it is a
derived view: built from the FTS5 table at open, updated after each committed write.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from .rwlock import ReadWriteLock

K1 = 1.2
B = 0.75
MIN_IDF = 1e-6
#: A query's scores are summed over its postings alone (sorted with ``np.unique``) unless they
#: reach a fifth of the slots; then into an array over every slot. A query's postings are
#: usually a percent or two of a collection (1,350 of 100k for the median WordNet gloss) and an
#: array over every slot cost 0.5 ms at 100k documents (2.3 ms at 1M) to allocate, fill and scan
#: with the server's allocator settings (``service/memory.py``: large blocks are fresh
#: mappings), against 0.02 ms; the two cross at about a fifth (benchmarks/README.md,
#: "Relevance").
DENSE_FROM = 5
#: Dead slots (deleted or replaced documents) kept before compacting, as a share of live ones.
DEAD_SHARE = 0.25
MIN_DEAD = 1024


@dataclass(frozen=True)
class LexicalQuery:
    """A query's distinct terms and their weights (repeats counted; corrections below 1)."""

    terms: tuple[str, ...]
    weights: tuple[float, ...]

    @classmethod
    def counting(cls, terms: Sequence[str]) -> LexicalQuery:
        """Each distinct term weighted by how often it occurs, in first-seen order."""
        counts = Counter(terms)
        return cls(tuple(counts), tuple(float(n) for n in counts.values()))

    def __bool__(self) -> bool:
        return bool(self.terms)


@dataclass(frozen=True)
class CorpusStats:
    """What BM25 needs of a corpus besides a document's own terms: the number of documents
    with a term, their total length, and each query term's document frequency.

    A sharded collection sums its shards' statistics (:meth:`merged`) and scores each shard
    with the sum, so its BM25 equals one node's over the same documents (issue 17).
    """

    n_docs: int
    total_len: float
    df: dict[str, int]

    @classmethod
    def merged(cls, parts: Iterable[CorpusStats]) -> CorpusStats:
        n_docs, total_len, df = 0, 0.0, Counter[str]()
        for part in parts:
            n_docs += part.n_docs
            total_len += part.total_len
            df.update(part.df)
        return cls(n_docs, total_len, dict(df))


def match_expression(terms: Sequence[str]) -> str:
    """An FTS5 ``MATCH`` string ORing the terms, each quoted (terms hold no quotes). A term given
    twice counts twice in FTS5's ``bm25()``, as in :class:`LexicalQuery`."""
    return " OR ".join(f'"{term}"' for term in terms)


def idf(n_docs: int, df: int) -> float:
    return max(math.log((n_docs - df + 0.5) / (df + 0.5)), MIN_IDF)


class _Segment:
    """Immutable postings of a run of documents, CSR by term id: ``ptr[t]:ptr[t + 1]`` slices
    ``slots``/``tfs`` for term ``t``."""

    __slots__ = ("ptr", "slots", "tfs")

    def __init__(self, tids: np.ndarray, slots: np.ndarray, tfs: np.ndarray, n_terms: int) -> None:
        order = np.argsort(tids, kind="stable")
        self.ptr = np.concatenate([[0], np.cumsum(np.bincount(tids, minlength=n_terms))])
        self.slots = slots[order]
        self.tfs = tfs[order]

    @property
    def size(self) -> int:
        return len(self.slots)

    def postings(self, tid: int) -> tuple[np.ndarray, np.ndarray] | None:
        if tid + 1 >= len(self.ptr):
            return None
        start, end = self.ptr[tid], self.ptr[tid + 1]
        return (self.slots[start:end], self.tfs[start:end]) if end > start else None

    def triples(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        tids = np.repeat(np.arange(len(self.ptr) - 1), np.diff(self.ptr))
        return tids, self.slots, self.tfs


class LexicalIndex:
    """Postings scored with numpy. Callers serialise writes; reads run in parallel.

    Each written batch becomes an immutable segment; a segment at least half the size of the
    one before it is merged into it (the logarithmic method), so there are O(log n) segments
    and ingest does no per-term Python work. Documents occupy *slots* in write order; a deleted
    document's slot is only marked dead (postings stay, masked out) until dead slots pass
    ``DEAD_SHARE`` of the live ones, then everything is compacted: so replacing documents grows
    the index by at most that share (issue 10, memory).
    """

    def __init__(self) -> None:
        self._lock = ReadWriteLock()
        self._vocab: dict[str, int] = {}
        self._df = np.zeros(0, np.int64)
        self._segments: list[_Segment] = []
        self._slot_label = np.zeros(0, np.int64)
        self._slot_len = np.zeros(0, np.float64)
        self._alive = np.zeros(0, bool)
        self._slot_terms: list[np.ndarray | None] = []  # term ids, to update df on delete
        self._label_slot: dict[int, int] = {}
        self._total_len = 0.0
        self._norm: np.ndarray | None = None  # k1 * (1 - b + b |d| / avgdl) per slot, cached
        self._saturations: dict[tuple[int, int], np.ndarray] = {}

    @property
    def size(self) -> int:
        """Documents with at least one term."""
        return len(self._label_slot)

    # -- writes -------------------------------------------------------------------------------

    def add(self, labels: Iterable[int], terms: Iterable[str]) -> None:
        """Index new documents (labels never seen before) by their stored terms text."""
        with self._lock.writing():
            self._add(list(labels), list(terms))

    def remove(self, labels: Iterable[int]) -> None:
        """Forget documents; labels never indexed are ignored."""
        with self._lock.writing():
            for label in labels:
                slot = self._label_slot.pop(int(label), None)
                if slot is None:
                    continue
                self._df[self._slot_terms[slot]] -= 1  # a document's term ids are distinct
                self._alive[slot] = False
                self._total_len -= self._slot_len[slot]
                self._slot_terms[slot] = None
            self._changed()
            dead = len(self._slot_terms) - len(self._label_slot)
            if dead > max(MIN_DEAD, int(DEAD_SHARE * len(self._label_slot))):
                self._compact()

    def _changed(self) -> None:
        self._norm = None
        self._saturations = {}

    def _add(self, labels: list[int], terms: list[str]) -> None:
        counted = [
            (label, Counter(text.split())) for label, text in zip(labels, terms, strict=True)
        ]
        counted = [(label, counts) for label, counts in counted if counts]
        if not counted:
            return
        vocab = self._vocab
        intern = vocab.setdefault
        tids = np.fromiter(
            (intern(t, len(vocab)) for _, counts in counted for t in counts), np.int64
        )
        tfs = np.fromiter((tf for _, c in counted for tf in c.values()), np.float64, len(tids))
        widths = np.fromiter((len(c) for _, c in counted), np.int64, len(counted))
        first = len(self._slot_terms)
        slots = np.repeat(np.arange(first, first + len(counted), dtype=np.int64), widths)
        if len(vocab) > len(self._df):
            self._df = np.concatenate([self._df, np.zeros(len(vocab) - len(self._df), np.int64)])
        self._df += np.bincount(tids, minlength=len(self._df))
        starts = np.concatenate([[0], np.cumsum(widths)[:-1]])
        lengths = np.add.reduceat(tfs, starts)
        self._slot_terms.extend(np.split(tids, starts[1:]))
        new_labels = np.fromiter((label for label, _ in counted), np.int64, len(counted))
        new_slots = range(first, first + len(counted))
        self._label_slot.update(zip(new_labels.tolist(), new_slots, strict=True))
        self._slot_label = np.concatenate([self._slot_label, new_labels])
        self._slot_len = np.concatenate([self._slot_len, lengths])
        self._alive = np.concatenate([self._alive, np.ones(len(counted), bool)])
        self._total_len += float(lengths.sum())
        self._segments.append(_Segment(tids, slots, tfs, len(vocab)))
        while len(self._segments) > 1 and 2 * self._segments[-1].size >= self._segments[-2].size:
            self._segments[-2:] = [self._merge(self._segments[-2:], keep=None)]
        self._changed()

    def _merge(self, segments: list[_Segment], keep: np.ndarray | None) -> _Segment:
        """One segment from several; ``keep`` maps old slots to new ones (-1 = drop)."""
        parts = [segment.triples() for segment in segments]
        tids, slots, tfs = (np.concatenate([p[i] for p in parts]) for i in range(3))
        if keep is not None:
            slots = keep[slots]
            live = slots >= 0
            tids, slots, tfs = tids[live], slots[live], tfs[live]
        return _Segment(tids, slots, tfs, len(self._vocab))

    def _compact(self) -> None:
        """Drop dead slots: renumber the live ones and rewrite the postings without the dead."""
        alive = self._alive
        keep = np.where(alive, np.cumsum(alive) - 1, -1)
        self._segments = [self._merge(self._segments, keep)] if self._segments else []
        self._slot_label = self._slot_label[alive]
        self._slot_len = self._slot_len[alive]
        self._slot_terms = [terms for terms in self._slot_terms if terms is not None]
        self._alive = np.ones(len(self._slot_label), bool)
        self._label_slot = {label: slot for slot, label in enumerate(self._slot_label.tolist())}
        self._changed()

    # -- reads --------------------------------------------------------------------------------

    def corpus_stats(self, terms: Iterable[str]) -> CorpusStats:
        """This index's share of the statistics of ``terms`` (see :class:`CorpusStats`)."""
        with self._lock.reading():
            vocab, df = self._vocab, self._df
            counts = {t: int(df[vocab[t]]) for t in dict.fromkeys(terms) if t in vocab}
            return CorpusStats(
                len(self._label_slot), self._total_len, {t: n for t, n in counts.items() if n}
            )

    def scores(self, query: LexicalQuery, corpus: CorpusStats | None = None) -> Scores:
        """BM25 of every document for ``query`` (those with none of its terms score 0);
        ``corpus`` gives the statistics to score with (a whole sharded collection's) instead of
        this index's."""
        with self._lock.reading():
            n_slots = len(self._slot_terms)
            n_docs = len(self._label_slot)
            vocab, df = self._vocab, self._df
            found = [
                (vocab[t], w)
                for t, w in zip(query.terms, query.weights, strict=True)
                if t in vocab and df[vocab[t]] > 0
            ]
            if not found or not n_docs:
                return Scores.none(self._slot_label)
            slot_parts, weight_parts = [], []
            terms = {vocab[t]: t for t in query.terms if t in vocab}
            norm = None
            if corpus is not None:
                avgdl = corpus.total_len / max(corpus.n_docs, 1)
                norm = K1 * (1 - B + B * self._slot_len / avgdl)
            for tid, term_weight in found:
                if corpus is None:
                    weight = term_weight * idf(n_docs, int(df[tid]))
                else:
                    weight = term_weight * idf(corpus.n_docs, corpus.df.get(terms[tid], 0))
                for i, segment in enumerate(self._segments):
                    postings = segment.postings(tid)
                    if postings is None:
                        continue
                    slot_parts.append(postings[0])
                    if norm is None:
                        weight_parts.append(weight * self._saturation(i, tid, *postings))
                    else:
                        slots, tf = postings
                        weight_parts.append(weight * tf * (K1 + 1) / (tf + norm[slots]))
            all_slots = np.concatenate(slot_parts) if len(slot_parts) > 1 else slot_parts[0]
            weights = np.concatenate(weight_parts) if len(weight_parts) > 1 else weight_parts[0]
            if len(all_slots) * DENSE_FROM > n_slots:
                dense = np.bincount(all_slots, weights=weights, minlength=n_slots)
                matched = np.flatnonzero(dense > 0)
                values = dense[matched]
            else:
                matched, where = np.unique(all_slots, return_inverse=True)
                values = np.bincount(where, weights=weights, minlength=len(matched))
            if n_docs < n_slots:
                alive = self._alive[matched]
                matched, values = matched[alive], values[alive]
            return Scores(matched, values, self._slot_label)

    def _saturation(self, segment: int, tid: int, slots: np.ndarray, tf: np.ndarray) -> np.ndarray:
        """``tf (k1 + 1) / (tf + k1 (1 - b + b |d| / avgdl))`` of a term's postings, cached
        until the next write changes avgdl (reads may race to fill it: same value)."""
        cached = self._saturations.get((segment, tid))
        if cached is None:
            norm = self._norm
            if norm is None:
                avgdl = self._total_len / len(self._label_slot)
                norm = self._norm = K1 * (1 - B + B * self._slot_len / avgdl)
            cached = self._saturations[segment, tid] = tf * (K1 + 1) / (tf + norm[slots])
        return cached


class Scores:
    """One query's BM25 scores: the slots of the documents with a query term (ascending) and
    their scores; every other document scores 0."""

    def __init__(self, slots: np.ndarray, values: np.ndarray, slot_label: np.ndarray) -> None:
        positive = values > 0
        if not positive.all():
            slots, values = slots[positive], values[positive]
        self._slots = slots
        self._values = values
        self._slot_label = slot_label

    @staticmethod
    def none(slot_label: np.ndarray) -> Scores:
        return Scores(np.empty(0, np.int64), np.empty(0, np.float64), slot_label)

    def top(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` best matching ``(labels, scores)``, best first, ties to the smaller label."""
        return top_n(self._slot_label[self._slots], self._values, n)

    def matching(self) -> tuple[np.ndarray, np.ndarray]:
        """Every matching ``(labels, scores)``, in label order."""
        return self._slot_label[self._slots], self._values

    def of(self, labels: np.ndarray) -> np.ndarray:
        """Scores of these labels (0 for those not indexed or without a query term)."""
        matched = self._slot_label[self._slots]  # ascending, as slots and labels both are
        if not len(matched):
            return np.zeros(len(labels), np.float64)
        labels = labels.astype(np.int64)
        at = np.minimum(np.searchsorted(matched, labels), len(matched) - 1)
        return np.where(matched[at] == labels, self._values[at], 0.0)


def top_n(labels: np.ndarray, scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` best ``(labels, scores)``, best first; ties go to the smaller label."""
    if len(scores) > n:
        cut = np.argpartition(-scores, n - 1)[:n]
        threshold = scores[cut].min()
        keep = np.flatnonzero(scores >= threshold)
        labels, scores = labels[keep], scores[keep]
    order = np.lexsort((labels, -scores))[:n]
    return labels[order], scores[order]
