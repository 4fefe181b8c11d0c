"""A small in-house BM25, the lexical reference point of ``bench quality``.

Usage::

    bm25 = BM25(doc_ids, texts)            # k1=0.9, b=0.4 (Anserini's defaults)
    bm25.search("query text", k=100)       # [(doc_id, score), ...] best first

Plain BM25 as ``../shared/datasets/README.md`` states its sanity figures: lowercase alphanumeric
tokens, no stemming or stopwords, Lucene's idf ``ln(1 + (N - df + 0.5) / (df + 0.5))``. A query
term repeated in the query counts each time (Lucene's clauses add up). In-house rather than
SQLite FTS5 so the formula is fixed here and can be checked by hand (``tests/bench``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

TOKEN = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> list[str]:
    return TOKEN.findall(text.lower())


class BM25:
    """An inverted index over ``texts`` held as numpy postings; scoring is one pass per term."""

    def __init__(
        self, doc_ids: Sequence[str], texts: Sequence[str], k1: float = 0.9, b: float = 0.4
    ) -> None:
        if len(doc_ids) != len(texts):
            raise ValueError("doc_ids and texts differ in length")
        self.doc_ids = list(doc_ids)
        self.k1, self.b = k1, b
        postings: dict[str, tuple[list[int], list[int]]] = {}
        lengths = np.zeros(len(texts), dtype=np.float64)
        for i, text in enumerate(texts):
            counts = Counter(tokenize(text))
            lengths[i] = sum(counts.values())
            for term, count in counts.items():
                docs, tfs = postings.setdefault(term, ([], []))
                docs.append(i)
                tfs.append(count)
        n = len(texts)
        avgdl = float(lengths.mean()) if n else 0.0
        norm = k1 * (1 - b + b * lengths / avgdl) if avgdl else np.full(n, k1)
        # Each term's per-document contribution is fixed: precompute it once.
        self._postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for term, (docs, tfs) in postings.items():
            d = np.asarray(docs, dtype=np.int64)
            tf = np.asarray(tfs, dtype=np.float64)
            idf = np.log(1 + (n - len(d) + 0.5) / (len(d) + 0.5))
            self._postings[term] = (d, idf * tf * (k1 + 1) / (tf + norm[d]))

    def __len__(self) -> int:
        return len(self.doc_ids)

    def scores(self, query: str) -> np.ndarray:
        """The BM25 score of every document for ``query`` (0 where no term matches)."""
        total = np.zeros(len(self.doc_ids), dtype=np.float64)
        for term in tokenize(query):
            posting = self._postings.get(term)
            if posting is not None:
                total[posting[0]] += posting[1]
        return total

    def search(self, query: str, k: int = 100) -> list[tuple[str, float]]:
        """Top ``k`` matching documents, best first; ties go to the earlier document."""
        scores = self.scores(query)
        matched = np.flatnonzero(scores > 0)
        if len(matched) > k:
            cut = np.argpartition(-scores[matched], k - 1)[:k]
            threshold = scores[matched[cut]].min()
            matched = matched[scores[matched] >= threshold]
        order = matched[np.lexsort((matched, -scores[matched]))][:k]
        return [(self.doc_ids[i], float(scores[i])) for i in order]
