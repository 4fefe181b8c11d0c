"""Lexical search: the tokeniser, the BM25 formula, and an in-memory BM25 accelerator.

Tokens: NFKC-normalise, lowercase, then maximal runs of Unicode letters and digits
(``[^\\W_]+``): ``"Foo-bar_BAZ 3.5"`` -> ``foo bar baz 3 5``. No stemming, no stopwords. A
document is stored in SQLite FTS5 as its tokens joined by spaces, under FTS5's ``ascii``
tokeniser, which splits only on ASCII non-alphanumerics: so FTS5 sees exactly these tokens, and
a query token, double-quoted, is always one plain FTS5 term (user text never reaches FTS5
syntax: quotes, ``NEAR``, ``*``, ``-`` or ``AND`` are separators or ordinary words here).

BM25, as FTS5's ``bm25()`` computes it (so the FTS5 path and the accelerator agree)::

    score(d, q) = sum over distinct query terms t in d of
                  idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * |d| / avgdl))
    idf(t) = max(ln((N - df + 0.5) / (df + 0.5)), 1e-6)

with k1 = 1.2, b = 0.75 (Robertson's standard values, not tuned here), N the number of
documents with at least one token, |d| a document's token count and avgdl their mean. A term in
more than half the documents is thus worth almost nothing, as in FTS5.

:class:`LexicalIndex` holds the same postings as numpy arrays, so a query scores every
document in a few vectorised passes instead of FTS5's per-row ``bm25()`` calls (~150 ms at
100k short texts with common words; see ``benchmarks/README.md``). Like the HNSW graph it is a
derived view: built from the FTS5 table at open, updated after each committed write.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from .rwlock import ReadWriteLock

K1 = 1.2
B = 0.75
MIN_IDF = 1e-6
_TOKEN = re.compile(r"[^\W_]+")


def tokenize(text: str) -> list[str]:
    """The tokens of ``text``, in order, repeats kept."""
    return _TOKEN.findall(unicodedata.normalize("NFKC", text).lower())


def terms_text(text: str | None) -> str:
    """What FTS5 stores for a document: its tokens joined by single spaces."""
    return " ".join(tokenize(text)) if text else ""


def query_terms(text: str) -> list[str]:
    """A query's distinct tokens, in first-seen order (a repeated word counts once)."""
    return list(dict.fromkeys(tokenize(text)))


def match_expression(terms: Sequence[str]) -> str:
    """An FTS5 ``MATCH`` string ORing the terms, each quoted (tokens hold no quotes)."""
    return " OR ".join(f'"{term}"' for term in terms)


def idf(n_docs: int, df: int) -> float:
    return max(math.log((n_docs - df + 0.5) / (df + 0.5)), MIN_IDF)


class LexicalIndex:
    """Postings per term, scored with numpy. Callers serialise writes; reads run in parallel.

    Documents occupy *slots* in write order; a deleted document's slot is only marked dead
    (its postings stay, masked out) until dead slots outnumber live ones, then everything is
    compacted.
    """

    def __init__(self) -> None:
        self._lock = ReadWriteLock()
        self._vocab: dict[str, int] = {}
        self._post_slots: list[np.ndarray] = []  # per term: slots, capacity-padded
        self._post_tfs: list[np.ndarray] = []
        self._post_len: list[int] = []
        self._df: list[int] = []
        self._slot_label = np.zeros(0, np.int64)
        self._slot_len = np.zeros(0, np.float64)
        self._alive = np.zeros(0, bool)
        self._slot_terms: list[tuple[np.ndarray, np.ndarray] | None] = []
        self._label_slot: dict[int, int] = {}
        self._total_len = 0.0
        self._norm: np.ndarray | None = None  # k1 * (1 - b + b |d| / avgdl) per slot, cached
        self._saturations: dict[int, np.ndarray] = {}

    @property
    def size(self) -> int:
        """Documents with at least one token."""
        return len(self._label_slot)

    # -- writes -------------------------------------------------------------------------------

    def add(self, labels: Iterable[int], terms: Iterable[str]) -> None:
        """Index new documents (labels never seen before) by their stored terms text."""
        with self._lock.writing():
            self._add(labels, terms)

    def remove(self, labels: Iterable[int]) -> None:
        """Forget documents; labels never indexed are ignored."""
        with self._lock.writing():
            for label in labels:
                slot = self._label_slot.pop(int(label), None)
                if slot is None:
                    continue
                tids, _ = self._slot_terms[slot]  # type: ignore[misc]
                for tid in tids.tolist():
                    self._df[tid] -= 1
                self._alive[slot] = False
                self._total_len -= self._slot_len[slot]
                self._slot_terms[slot] = None
            self._norm = None
            self._saturations = {}
            dead = len(self._slot_terms) - len(self._label_slot)
            if dead > max(1024, len(self._label_slot)):
                self._compact()

    def _add(self, labels: Iterable[int], terms: Iterable[str]) -> None:
        new_slots: dict[int, list[int]] = {}
        new_tfs: dict[int, list[int]] = {}
        first = len(self._slot_terms)
        rows: list[tuple[int, int]] = []
        for label, text in zip(labels, terms, strict=True):
            counts = Counter(text.split())
            if not counts:
                continue
            slot = first + len(rows)
            tids = np.fromiter((self._tid(t) for t in counts), np.int32, len(counts))
            tfs = np.fromiter(counts.values(), np.float64, len(counts))
            for tid, tf in zip(tids.tolist(), counts.values(), strict=True):
                new_slots.setdefault(tid, []).append(slot)
                new_tfs.setdefault(tid, []).append(tf)
                self._df[tid] += 1
            self._slot_terms.append((tids, tfs))
            self._label_slot[int(label)] = slot
            rows.append((int(label), int(tfs.sum())))
        if not rows:
            return
        added = np.asarray(rows, dtype=np.int64)
        self._slot_label = np.concatenate([self._slot_label, added[:, 0]])
        self._slot_len = np.concatenate([self._slot_len, added[:, 1].astype(np.float64)])
        self._alive = np.concatenate([self._alive, np.ones(len(rows), bool)])
        self._total_len += float(added[:, 1].sum())
        for tid, slots in new_slots.items():
            self._append(tid, slots, new_tfs[tid])
        self._norm = None
        self._saturations = {}

    def _tid(self, term: str) -> int:
        tid = self._vocab.get(term)
        if tid is None:
            tid = self._vocab[term] = len(self._df)
            self._post_slots.append(np.zeros(4, np.int32))
            self._post_tfs.append(np.zeros(4, np.float64))
            self._post_len.append(0)
            self._df.append(0)
        return tid

    def _append(self, tid: int, slots: list[int], tfs: list[int]) -> None:
        length, extra = self._post_len[tid], len(slots)
        if length + extra > len(self._post_slots[tid]):  # grow by half: amortised O(1) appends
            capacity = max(length + extra, len(self._post_slots[tid]) * 3 // 2)
            for arrays in (self._post_slots, self._post_tfs):
                grown = np.zeros(capacity, arrays[tid].dtype)
                grown[:length] = arrays[tid][:length]
                arrays[tid] = grown
        self._post_slots[tid][length : length + extra] = slots
        self._post_tfs[tid][length : length + extra] = tfs
        self._post_len[tid] = length + extra

    def _compact(self) -> None:
        """Rebuild from the live documents only: slots renumbered, dead postings dropped."""
        live = [
            (int(self._slot_label[slot]), tids, tfs)
            for slot, entry in enumerate(self._slot_terms)
            if entry is not None
            for tids, tfs in [entry]
        ]
        words = {tid: term for term, tid in self._vocab.items()}
        self.__init__()  # type: ignore[misc]
        texts = (
            " ".join(
                " ".join([words[t]] * int(tf)) for t, tf in zip(tids.tolist(), tfs, strict=True)
            )
            for _, tids, tfs in live
        )
        self._add([label for label, _, _ in live], texts)

    # -- reads --------------------------------------------------------------------------------

    def scores(self, terms: Sequence[str]) -> Scores:
        """BM25 of every document for the (distinct) ``terms``, as a dense array by slot."""
        with self._lock.reading():
            n_slots = len(self._slot_terms)
            n_docs = len(self._label_slot)
            found = [self._vocab[t] for t in dict.fromkeys(terms) if t in self._vocab]
            found = [tid for tid in found if self._df[tid] > 0]
            if not found or not n_docs:
                return Scores(np.zeros(n_slots), self._slot_label)
            slot_parts, weight_parts = [], []
            for tid in found:
                slot_parts.append(self._post_slots[tid][: self._post_len[tid]])
                weight_parts.append(idf(n_docs, self._df[tid]) * self._saturation(tid))
            all_slots = np.concatenate(slot_parts) if len(slot_parts) > 1 else slot_parts[0]
            weights = np.concatenate(weight_parts) if len(weight_parts) > 1 else weight_parts[0]
            dense = np.bincount(all_slots, weights=weights, minlength=n_slots)
            if n_docs < n_slots:
                dense[~self._alive] = 0.0
            return Scores(dense, self._slot_label)

    def _saturation(self, tid: int) -> np.ndarray:
        """``tf (k1 + 1) / (tf + k1 (1 - b + b |d| / avgdl))`` of a term's postings, cached
        until the next write changes avgdl (reads may race to fill it: same value)."""
        cached = self._saturations.get(tid)
        if cached is None:
            norm = self._norm
            if norm is None:
                avgdl = self._total_len / len(self._label_slot)
                norm = self._norm = K1 * (1 - B + B * self._slot_len / avgdl)
            length = self._post_len[tid]
            tf = self._post_tfs[tid][:length]
            cached = self._saturations[tid] = (
                tf * (K1 + 1) / (tf + norm[self._post_slots[tid][:length]])
            )
        return cached


class Scores:
    """One query's BM25 over every slot (0 = no query term, or deleted)."""

    def __init__(self, dense: np.ndarray, slot_label: np.ndarray) -> None:
        self.dense = dense
        self._slot_label = slot_label[: len(dense)]  # ascending: labels only grow

    def top(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` best matching ``(labels, scores)``, best first, ties to the smaller label."""
        dense = self.dense
        threshold = 0.0
        if len(dense) > n:
            threshold = float(dense[np.argpartition(-dense, n - 1)[:n]].min())
        slots = np.flatnonzero(dense >= threshold) if threshold > 0 else np.flatnonzero(dense)
        return top_n(self._slot_label[slots], dense[slots], n)

    def matching(self) -> tuple[np.ndarray, np.ndarray]:
        """Every matching ``(labels, scores)``, in label order."""
        slots = np.flatnonzero(self.dense)
        return self._slot_label[slots], self.dense[slots]

    def of(self, labels: np.ndarray) -> np.ndarray:
        """Scores of these labels (0 for those not indexed)."""
        known = self._slot_label
        if not len(known):
            return np.zeros(len(labels), np.float64)
        labels = labels.astype(np.int64)
        slots = np.minimum(np.searchsorted(known, labels), len(known) - 1)
        return np.where(known[slots] == labels, self.dense[slots], 0.0)


def top_n(labels: np.ndarray, scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` best ``(labels, scores)``, best first; ties go to the smaller label."""
    if len(scores) > n:
        cut = np.argpartition(-scores, n - 1)[:n]
        threshold = scores[cut].min()
        keep = np.flatnonzero(scores >= threshold)
        labels, scores = labels[keep], scores[keep]
    order = np.lexsort((labels, -scores))[:n]
    return labels[order], scores[order]
