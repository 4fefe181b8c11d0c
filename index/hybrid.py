"""Lexical (BM25) and hybrid search over a collection.

A mixin of :class:`index.Collection`. The lexical side is ``textsearch.TextSearch`` (FTS5,
with an in-memory accelerator); fusion rules are in ``fusion.py``.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InvalidArgumentError
from .filters import check_where
from .fusion import DEFAULT_CANDIDATES, fuse, rank
from .graph import distances, scores_of
from .leases import leased
from .passage_search import per_document_min
from .schemas import Hit
from .side_threads import SIDE_THREADS, Pending
from .textsearch import Scored, TextSearch
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
        text_search = self._text
        return self._candidates_of(
            lambda: text_search.search(text_search.query(text, typo_tolerance), n, where),
            query,
            n,
            where,
            ef,
        )

    def _candidates_of(
        self,
        lexical_side: Callable[[], Scored],
        query: np.ndarray,
        n: int,
        where: dict[str, Any] | None,
        ef: int | None,
    ) -> Candidates:
        """:meth:`hybrid_candidates`, the lexical side's top ``n`` being ``lexical_side()``
        (a shard of a sharded collection scores with the whole collection's statistics:
        ``distributed.py``).

        The lexical side runs on a side thread while this one searches the graph, when a core
        is idle (``side_threads.py``); otherwise after it. Then the stored vectors of the lexical
        candidates the graph search did not find are read, the side thread reading those of the
        better half while this one reads the rest."""
        side = _LexicalSide(lexical_side, self._stored_vectors)
        pending = SIDE_THREADS.start(side)
        try:
            with self._graph_search(ef):
                v_labels, v_distances = self._vector_top(query, n, where)
            in_vector = set(v_labels.tolist())
            if pending is None:
                lexical = lexical_side()
                wanted = [x for x in lexical.labels.tolist() if x not in in_vector]
                owners, m_vectors = self._stored_vectors(wanted)
            else:
                lexical = side.lexical(pending)
                tail = lexical.labels[side.half :].tolist()
                rest = self._stored_vectors([x for x in tail if x not in in_vector])
                head = pending.result()  # may hold some the graph search found: dropped here
                owners = np.concatenate([head[0], rest[0]])
                m_vectors = np.concatenate([head[1], rest[1]])
                keep = np.fromiter((x not in in_vector for x in owners.tolist()), bool, len(owners))
                owners, m_vectors = owners[keep], m_vectors[keep]
        finally:
            if pending is not None:
                # The side part reads this collection: it ends before the caller's lease does.
                pending.wait()
        # A document split into passages is as near as its nearest passage.
        m_labels, m_matrix = per_document_min(
            owners, distances(self.info.metric, query[None], m_vectors)
        )
        m_distances = m_matrix[0]
        labels = np.concatenate([v_labels.astype(np.int64), m_labels])
        dists = np.concatenate([v_distances, m_distances]).astype(np.float64)
        in_lexical = set(lexical.labels.tolist())
        return Candidates(
            labels=labels,
            distances=dists,
            vector=scores_of(self.info.metric, dists),
            lexical=lexical.score_of(labels),
            from_vector=np.arange(len(labels)) < len(v_labels),
            from_lexical=np.fromiter((x in in_lexical for x in labels.tolist()), bool, len(labels)),
        )

    def _stored_vectors(self, labels: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """``(owners, vectors)`` of these documents' passages (of those still stored). SQLite
        answers 100 labels ~5x faster than hnswlib's ``get_items``."""
        return self._docs.passage_vectors(np.asarray(labels, np.int64), self.dim)


class _LexicalSide:
    """The lexical side of one hybrid query, run on a side thread (``side_threads.py``): its
    result, published as soon as it is known, then the stored vectors of the better half of its
    candidates, while the caller, once its graph search is done, reads those of the other half
    that the graph search did not find. (Reading them all on the side thread made it the longer
    of the two at 100k documents.)"""

    def __init__(
        self,
        search: Callable[[], Scored],
        read: Callable[[list[int]], tuple[np.ndarray, np.ndarray]],
    ) -> None:
        self._search = search
        self._read = read
        self._scored: Scored | None = None
        self._known = threading.Event()
        self.half = 0

    def __call__(self) -> tuple[np.ndarray, np.ndarray]:
        try:
            self._scored = self._search()
            self.half = (len(self._scored.labels) + 1) // 2
        finally:
            self._known.set()
        return self._read(self._scored.labels[: self.half].tolist())

    def lexical(self, pending: Pending[tuple[np.ndarray, np.ndarray]]) -> Scored:
        """The result, as soon as the side thread has it (its error if it failed)."""
        self._known.wait()
        if self._scored is None:
            pending.result()  # raises the side thread's error
            raise AssertionError("the lexical side ended without a result")
        return self._scored


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
