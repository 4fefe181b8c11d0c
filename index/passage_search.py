"""Documents from passages (issue 12): the graph holds one label per passage, results are per
document.

A document's vector score is its best passage's (``benchmarks/README.md``, "Passages"). So a
ranked list of passages becomes a ranked list of documents by keeping each document's first
(best) passage, and an exact search takes each document's minimum distance over its passages.

:class:`PassageSearch` is a mixin of :class:`index.Collection`: it returns a hit's best matching
passages, with their offsets into its text, for applications that show a snippet.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .analysis import Analyzer
from .documents import Documents
from .graph import distances, scores_of
from .leases import Leases, leased
from .lexical import K1
from .schemas import MAX_PASSAGES, CollectionInfo, Metric, PassageHit
from .validation import check_ids, check_vectors

#: Passages returned per hit when a search asks for them, best first.
PASSAGES_PER_HIT = 3

__all__ = ["MAX_PASSAGES", "PASSAGES_PER_HIT", "PassageSearch", "best_per_document"]


def best_per_document(owners: np.ndarray, dists: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A best-first list of passages as a best-first list of their documents, each at its
    best passage's distance (1-D arrays)."""
    _, first = np.unique(owners, return_index=True)
    if len(first) == len(owners):
        return owners, dists
    first.sort()
    return owners[first], dists[first]


def per_document_min(owners: np.ndarray, dists: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(documents, distances[queries, documents])``: each document's nearest passage, from
    the distances ``[queries, passages]`` of passages owned by ``owners``."""
    if not len(owners):
        return owners, dists
    order = np.argsort(owners, kind="stable")
    ordered = owners[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    if len(starts) == len(owners):
        return owners, dists
    return ordered[starts], np.minimum.reduceat(dists[:, order], starts, axis=1)


def exact_document_top_k(
    metric: Metric, queries: np.ndarray, owners: np.ndarray, vectors: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force top-k documents ``[queries, <= k]`` over their passages' ``vectors``."""
    docs, dists = per_document_min(owners, distances(metric, queries, vectors))
    k = min(k, len(docs))
    if k == 0:
        return np.empty((len(queries), 0), np.uint64), np.empty((len(queries), 0), np.float32)
    top = np.argpartition(dists, k - 1, axis=1)[:, :k]
    top_distances = np.take_along_axis(dists, top, axis=1)
    order = np.argsort(top_distances, axis=1, kind="stable")
    top = np.take_along_axis(top, order, axis=1)
    return docs[top], np.take_along_axis(top_distances, order, axis=1)


class PassageSearch:
    """What :class:`index.Collection` sets, and the hits' passages."""

    info: CollectionInfo
    _docs: Documents
    _text_analyzer: Analyzer
    _leases: Leases

    @leased
    def passages(
        self,
        ids: Sequence[str],
        vector: np.ndarray | None = None,
        text: str | None = None,
        n: int = PASSAGES_PER_HIT,
    ) -> dict[str, list[PassageHit]]:
        """The best ``n`` passages of each of these documents (those that exist), best first.

        With a query ``vector`` (vector and hybrid search) a passage's score is its vector
        score; with the query's ``text`` only (lexical search), it is BM25's saturated term
        frequency of the query's terms (analysed as the collection's texts are) in the
        passage, summed (no idf, which would not reorder much within one document). A
        document that was not split is one passage, its whole text.
        """
        terms = self._text_analyzer.terms(text) if text is not None else []
        ids = check_ids(ids)
        rows = self._docs.texts_of(ids)
        labels = [label for label, _ in rows.values()]
        spans = self._docs.spans_of(labels)
        found: dict[str, list[tuple[int, int, int]]] = {}
        for id_, (label, body) in rows.items():
            if body is not None:
                found[id_] = spans.get(label) or [(label, 0, len(body))]
        if vector is not None:
            query = check_vectors(vector, self.info.dim)[:1]
            every = np.asarray([p[0] for ps in found.values() for p in ps], np.uint64)
            got, vectors = self._docs.vectors_of(every, self.info.dim)
            sims = scores_of(self.info.metric, distances(self.info.metric, query, vectors)[0])
            score = dict(zip(got.tolist(), sims.tolist(), strict=True))
        result: dict[str, list[PassageHit]] = {}
        for id_, passages in found.items():
            body = rows[id_][1]
            assert body is not None
            hits = []
            for label, start, end in passages:
                if vector is not None:
                    value = score.get(label)
                    if value is None:  # replaced since its text was read
                        continue
                else:
                    value = self._term_score(body[start:end], terms)
                hits.append(PassageHit(start=start, end=end, score=value, text=body[start:end]))
            hits.sort(key=lambda h: -h.score)
            result[id_] = hits[:n]
        return result

    def _term_score(self, text: str, terms: Sequence[str]) -> float:
        if not terms:
            return 0.0
        counts: dict[str, int] = {}
        for term in self._text_analyzer.terms(text):
            counts[term] = counts.get(term, 0) + 1
        return sum(counts[t] / (counts[t] + K1) for t in set(terms) if t in counts)
