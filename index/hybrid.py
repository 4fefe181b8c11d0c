"""Lexical (BM25) and hybrid search over a collection.

A mixin of :class:`index.Collection`. The lexical side is ``textsearch.TextSearch`` (FTS5,
with an in-memory accelerator); fusion rules are in ``fusion.py``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InvalidArgumentError
from .filters import check_where
from .fusion import DEFAULT_ALPHA, DEFAULT_CANDIDATES, fuse, rank
from .graph import distances, score_function
from .leases import leased
from .lexical import query_terms
from .schemas import Hit
from .textsearch import TextSearch
from .validation import check_ef, check_k, check_query_texts, check_vectors
from .vector_search import VectorSearch


class HybridSearch(VectorSearch):
    _text: TextSearch

    def lexical_ready(self, timeout: float | None = None) -> bool:
        """Wait until the in-memory BM25 accelerator is built (searches work before it is,
        through FTS5, only slower); False on timeout."""
        return self._text.wait(timeout)

    @leased
    def search_text(
        self, texts: Sequence[str], k: int = 10, where: dict[str, Any] | None = None
    ) -> list[list[Hit]]:
        """BM25 top-k for each text among documents matching ``where`` (lexical search).

        Any text is safe: it is tokenised as documents are (``lexical.py``), never parsed as
        FTS5 syntax; a text with no indexed word finds nothing. ``score`` and ``lexical_score``
        are the BM25 score, ``distance`` is NaN.
        """
        texts = check_query_texts(texts)
        check_k(k)
        where = check_where(where)
        results = []
        for text in texts:
            scored = self._text.search(query_terms(text), k, where)
            labels, scores = scored.labels.tolist(), scored.scores.tolist()
            rows = self._docs.by_labels(labels)
            results.append(
                [
                    _hit(rows[label], score, math.nan, lexical=score)
                    for label, score in zip(labels, scores, strict=True)
                    if label in rows
                ]
            )
        return results

    @leased
    def hybrid(
        self,
        texts: Sequence[str],
        vectors: Any,
        k: int = 10,
        where: dict[str, Any] | None = None,
        *,
        alpha: float = DEFAULT_ALPHA,
        ef: int | None = None,
        candidates: int = DEFAULT_CANDIDATES,
    ) -> list[list[Hit]]:
        """Lexical and vector search fused (``fusion.py``): ``texts[i]`` is the query's text
        and ``vectors[i]`` its embedding. ``alpha`` weighs the vector side: 0 ranks by BM25
        only, 1 by the vector only. ``score`` is the fused score; ``lexical_score`` and
        ``vector_score`` are the raw parts."""
        texts = check_query_texts(texts)
        queries = check_vectors(vectors, self.dim, len(texts))
        check_k(k)
        check_ef(ef)
        if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 <= alpha <= 1:
            raise InvalidArgumentError("alpha must be a number from 0 to 1", param="alpha")
        if isinstance(candidates, bool) or not isinstance(candidates, int) or candidates < 1:
            raise InvalidArgumentError("candidates must be a positive integer", param="candidates")
        where = check_where(where)
        results = []
        for text, query in zip(texts, queries, strict=True):
            found = self._hybrid_candidates(text, query, max(candidates, k), where, ef)
            fused = fuse(found.vector, found.lexical, float(alpha))
            top = rank(found.labels, fused, k)
            rows = self._docs.by_labels(found.labels[top].tolist())
            results.append(
                [
                    _hit(
                        rows[label],
                        float(fused[i]),
                        float(found.distances[i]),
                        lexical=float(found.lexical[i]),
                        vector=float(found.vector[i]),
                    )
                    for i in top.tolist()
                    for label in [int(found.labels[i])]
                    if label in rows
                ]
            )
        return results

    @leased
    def hybrid_candidates(
        self,
        text: str,
        query: np.ndarray,
        n: int = DEFAULT_CANDIDATES,
        where: dict[str, Any] | None = None,
        ef: int | None = None,
    ) -> Candidates:
        """The union of both sides' top ``n``, each with its real score on both sides.

        Arguments are assumed valid (see :meth:`hybrid`); the benchmark calls this directly to
        compare fusion rules on the same candidates.
        """
        return self._hybrid_candidates(text, query, n, where, ef)

    def _hybrid_candidates(
        self,
        text: str,
        query: np.ndarray,
        n: int,
        where: dict[str, Any] | None,
        ef: int | None,
    ) -> Candidates:
        lexical = self._text.search(query_terms(text), n, where)
        with self._graph_search(ef):
            v_labels, v_distances = self._vector_top(query, n, where)
        only_lexical = np.setdiff1d(lexical.labels.astype(np.int64), v_labels.astype(np.int64))
        # Their stored vectors: SQLite answers 100 labels ~5x faster than hnswlib's get_items.
        m_labels, m_vectors = self._docs.vectors_of(only_lexical, self.dim)
        m_distances = distances(self.info.metric, query[None], m_vectors)[0]
        labels = np.concatenate([v_labels.astype(np.int64), m_labels])
        dists = np.concatenate([v_distances, m_distances]).astype(np.float64)
        to_score = score_function(self.info.metric)
        return Candidates(
            labels=labels,
            distances=dists,
            vector=np.asarray([to_score(d) for d in dists.tolist()], np.float64),
            lexical=lexical.score_of(labels),
            from_vector=np.arange(len(labels)) < len(v_labels),
            from_lexical=np.isin(labels, lexical.labels),
        )


@dataclass(frozen=True)
class Candidates:
    """Hybrid candidates, vector side's first: raw scores on both sides and where each came
    from (``from_vector``/``from_lexical``: in that side's top n)."""

    labels: np.ndarray
    distances: np.ndarray
    vector: np.ndarray
    lexical: np.ndarray
    from_vector: np.ndarray
    from_lexical: np.ndarray


def _hit(
    row: Hit, score: float, distance: float, lexical: float | None, vector: float | None = None
) -> Hit:
    return Hit(
        id=row.id,
        score=score,
        distance=distance,
        text=row.text,
        metadata=row.metadata,
        lexical_score=lexical,
        vector_score=vector,
    )
