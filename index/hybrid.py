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
from .fusion import DEFAULT_CANDIDATES, fuse, rank
from .graph import distances, scores_of
from .leases import leased
from .lexical import CorpusStats, LexicalQuery
from .passage_search import per_document_min
from .schemas import Hit
from .textsearch import TextSearch
from .validation import check_alpha, check_ef, check_k, check_query_texts, check_vectors
from .vector_search import VectorSearch


class HybridSearch(VectorSearch):
    _text: TextSearch

    def lexical_ready(self, timeout: float | None = None) -> bool:
        """Wait until the in-memory BM25 accelerator is built (searches work before it is,
        through FTS5, only slower); False on timeout."""
        return self._text.wait(timeout)

    @leased
    def search_text(
        self,
        texts: Sequence[str],
        k: int = 10,
        where: dict[str, Any] | None = None,
        *,
        typo_tolerance: bool = True,
    ) -> list[list[Hit]]:
        """BM25 top-k for each text among documents matching ``where`` (lexical search).

        Any text is safe: it is analysed as documents are (``analysis/``), never parsed as
        FTS5 syntax; a text with no indexed word finds nothing, unless ``typo_tolerance``
        finds known words a typo away (``typos.py``). ``score`` and ``lexical_score`` are the
        BM25 score, ``distance`` is NaN.
        """
        texts = check_query_texts(texts)
        check_k(k)
        where = check_where(where)
        results = []
        for text in texts:
            scored = self._text.search(self._text.query(text, typo_tolerance), k, where)
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
        alpha: float | None = None,
        ef: int | None = None,
        candidates: int = DEFAULT_CANDIDATES,
        typo_tolerance: bool = True,
    ) -> list[list[Hit]]:
        """Lexical and vector search fused (``fusion.py``): ``texts[i]`` is the query's text
        and ``vectors[i]`` its embedding. ``alpha`` weighs the vector side: 0 ranks by BM25
        only, 1 by the vector only; ``None`` takes the collection's default. ``score`` is the
        fused score; ``lexical_score`` and ``vector_score`` are the raw parts."""
        texts = check_query_texts(texts)
        queries = check_vectors(vectors, self.dim, len(texts))
        check_k(k)
        check_ef(ef)
        if alpha is None:
            alpha = self.info.search_defaults.alpha
        check_alpha(alpha)
        if isinstance(candidates, bool) or not isinstance(candidates, int) or candidates < 1:
            raise InvalidArgumentError("candidates must be a positive integer", param="candidates")
        where = check_where(where)
        results = []
        for text, query in zip(texts, queries, strict=True):
            found = self._hybrid_candidates(
                text, query, max(candidates, k), where, ef, typo_tolerance
            )
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
        *,
        typo_tolerance: bool = True,
    ) -> Candidates:
        """The union of both sides' top ``n``, each with its real score on both sides.

        Arguments are assumed valid (see :meth:`hybrid`); the benchmark calls this directly to
        compare fusion rules on the same candidates.
        """
        return self._hybrid_candidates(text, query, n, where, ef, typo_tolerance)

    def _hybrid_candidates(
        self,
        text: str,
        query: np.ndarray,
        n: int,
        where: dict[str, Any] | None,
        ef: int | None,
        typo_tolerance: bool,
    ) -> Candidates:
        return self._candidates_of(self._text.query(text, typo_tolerance), query, n, where, ef)

    def _candidates_of(
        self,
        terms: LexicalQuery,
        query: np.ndarray,
        n: int,
        where: dict[str, Any] | None,
        ef: int | None,
        corpus: CorpusStats | None = None,
    ) -> Candidates:
        """:meth:`hybrid_candidates` of analysed ``terms``, BM25 scored with ``corpus``
        statistics when given (a shard of a sharded collection: ``distributed.py``)."""
        lexical = self._text.search(terms, n, where, corpus)
        with self._graph_search(ef):
            v_labels, v_distances = self._vector_top(query, n, where)
        # ~100 labels a side: Python sets beat numpy's sorting set operations at this size.
        in_vector = set(v_labels.tolist())
        lexical_labels = lexical.labels.tolist()
        only_lexical = [label for label in lexical_labels if label not in in_vector]
        # Their stored vectors: SQLite answers 100 labels ~5x faster than hnswlib's get_items.
        # A document split into passages is as near as its nearest passage.
        owners, m_vectors = self._docs.passage_vectors(np.asarray(only_lexical, np.int64), self.dim)
        m_labels, m_matrix = per_document_min(
            owners, distances(self.info.metric, query[None], m_vectors)
        )
        m_distances = m_matrix[0]
        labels = np.concatenate([v_labels.astype(np.int64), m_labels])
        dists = np.concatenate([v_distances, m_distances]).astype(np.float64)
        in_lexical = set(lexical_labels)
        return Candidates(
            labels=labels,
            distances=dists,
            vector=scores_of(self.info.metric, dists),
            lexical=lexical.score_of(labels),
            from_vector=np.arange(len(labels)) < len(v_labels),
            from_lexical=np.fromiter((x in in_lexical for x in labels.tolist()), bool, len(labels)),
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
