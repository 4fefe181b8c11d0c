"""Vector search over a collection: HNSW, exact search, and how a filter is answered.

A mixin of :class:`index.Collection`; it reads the collection's documents, graph and lock.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from pyroaring import BitMap

from .documents import Documents
from .field_index import FieldIndex
from .filters import check_where, compile_predicate
from .graph import Graph, LabelSet, merge_top_k, score_function
from .leases import Leases, leased
from .passage_search import MAX_PASSAGES, best_per_document, exact_document_top_k
from .rwlock import ReadWriteLock
from .schemas import CollectionInfo, Hit
from .validation import check_ef, check_k, check_vectors
from .vector_matrix import VectorMatrix

log = logging.getLogger(__name__)

#: A filter matching at most this many documents is answered exactly, by brute force over
#: their stored vectors; HNSW restricted to a small set is slower and misses neighbours.
BRUTE_FORCE_MAX = 5_000
#: Vectors an exact search reads and scores at a time.
EXACT_CHUNK = 4_096
#: Rows of the in-memory matrix an exact search gathers and scores at a time.
MATRIX_CHUNK = 16_384
#: A filter matching at least this fraction of the documents first tries HNSW unfiltered,
#: keeping the matching neighbours among ``3k / selectivity`` candidates.
POST_FILTER_MIN = 0.2
#: The cost model choosing exact search or HNSW restricted to a filter's matches (microseconds,
#: measured on 100k WordNet vectors, 256-d; ``benchmarks/README.md``, "Filtered search"): exact
#: search costs about ``EXACT_US_PER_MATCH`` per matching document (gathering its row is most of
#: it); restricted HNSW about ``RESTRICTED_US / selectivity`` (the sparser the matches, the more
#: non-matching nodes it walks through). Exact search wins below ``sqrt(ratio * live)``
#: matches: 14,000 of 100,000 documents, 45,000 of a million.
EXACT_US_PER_MATCH = 0.6
RESTRICTED_US = 1_200.0
#: How much wider than ``ef_search`` HNSW restricted to a filter's matches searches: such a
#: search walks through non-matching nodes and needs the margin to keep recall@10 >= 0.99.
RESTRICTED_WIDTH = 2.0


def exact_limit(live: int) -> int:
    """The largest match set searched exactly: ``n * EXACT_US_PER_MATCH`` against
    ``RESTRICTED_US * live / n``."""
    return int(math.sqrt(RESTRICTED_US / EXACT_US_PER_MATCH * live))


class CollectionState:
    """What the search mixins read from :class:`index.Collection` (which sets all of it)."""

    info: CollectionInfo
    _docs: Documents
    _graph: Graph
    _graph_lock: ReadWriteLock
    _leases: Leases
    _fields: FieldIndex
    _matrix: VectorMatrix
    views_built: threading.Event
    #: Passages HNSW returned per distinct document in recent searches (``_graph_top``).
    _fanout: float = 1.0

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def dim(self) -> int:
        return self.info.dim


class VectorSearch(CollectionState):
    @leased
    def query(
        self,
        vectors: Any,
        k: int = 10,
        where: dict[str, Any] | None = None,
        ef: int | None = None,
    ) -> list[list[Hit]]:
        """Nearest neighbours of each query vector among documents matching ``where``.

        Returns ``min(k, matching)`` hits per query, best first, one per document however many
        of its passages are near (``passage_search.py``). How a filter is answered:

        1. HNSW for ``4k`` unfiltered candidates, kept if at least k of them match (a
           common filter costs one small search);
        2. else, when at most ``BRUTE_FORCE_MAX`` documents match: exact search over them;
        3. else HNSW restricted to the matching set.
        """
        queries = check_vectors(vectors, self.dim)
        check_k(k)
        check_ef(ef)
        where = check_where(where)
        with self._graph_search(ef):
            if where is None:
                return self._search(queries, k)
            return [self._search_filtered(query[None], k, where)[0] for query in queries]

    @contextmanager
    def _graph_search(self, ef: int | None) -> Iterator[None]:
        custom_ef = ef is not None and ef != self.info.hnsw.ef_search
        # hnswlib's ef is one setting per index: a query with its own ef runs alone.
        lock = self._graph_lock.writing() if custom_ef else self._graph_lock.reading()
        with lock:
            if custom_ef and ef is not None:
                self._graph.set_ef(ef)
            try:
                yield
            finally:
                if custom_ef:
                    self._graph.set_ef(self.info.hnsw.ef_search)

    def _search(self, queries: np.ndarray, k: int) -> list[list[Hit]]:
        graph = self._graph
        k = min(k, graph.live)
        if k == 0:
            return [[] for _ in queries]
        try:
            labels, distances = self._graph_top(queries, k)
        except RuntimeError:
            log.info("collection %s: HNSW found fewer than %d; searching exactly", self.name, k)
            labels = self._docs.matching_labels(None, graph.applied_max_label)
            return self._exact(queries, k, labels)
        return self._hits(labels, distances)

    def _graph_top(
        self, queries: np.ndarray, k: int, only: LabelSet | None = None, wide: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """HNSW's top ``k`` documents ``(labels[q, <= k], distances)`` among the graph labels
        ``only`` (all when ``None``; a restriction to documents must name their passages too,
        :meth:`_graph_labels`), searching at least ``wide`` wide; raises ``RuntimeError`` as
        :meth:`Graph.knn` does.

        In a collection with documents split into passages, several of the nearest labels may
        be one document's: the search asks for ``k`` times as many passages as the last
        searches needed per document found (``_fanout``, so one HNSW search usually does),
        then for more (x2 at a time) until each query has k distinct documents, or it has seen
        every passage there is, or k times the most passages a document may have (enough for
        k documents in any case).
        """
        graph = self._graph
        docs = self._docs
        if not docs.split:
            labels, distances = graph.knn(queries, max(k, wide), only)
            return labels[:, :k], distances[:, :k]
        live = graph.live if only is None else len(only)
        limit = min(live, k * MAX_PASSAGES)
        n = min(limit, max(k, wide, math.ceil(k * self._fanout)))
        while True:
            labels, distances = graph.knn(queries, n, only)
            owners = docs.owners(labels.ravel()).reshape(labels.shape)
            rows = [best_per_document(o, d) for o, d in zip(owners, distances, strict=True)]
            found = min(len(r[0]) for r in rows)
            if found >= k or n >= limit:
                if not wide:
                    # Passages per document found, with a margin; a float store is atomic.
                    self._fanout = min(max(1.0, 1.25 * n / max(found, 1)), float(MAX_PASSAGES))
                return _stack(rows, k)
            n = min(limit, n * 2)

    def _graph_labels(self, documents: np.ndarray) -> set[int]:
        """The graph labels of these documents (their passages'), for :meth:`_graph_top`."""
        return set(self._docs.passage_labels(documents).tolist())

    def _search_filtered(self, query: np.ndarray, k: int, where: dict[str, Any]) -> list[list[Hit]]:
        labels, distances, rows = self._filtered_top(query, k, where)
        return self._hits(labels, distances, rows)

    def _filtered_top(
        self, query: np.ndarray, k: int, where: dict[str, Any]
    ) -> tuple[np.ndarray, np.ndarray, dict[int, Hit] | None]:
        """``(labels[1, k'], distances[1, k'], rows or None)``: see :meth:`query`."""
        allowed = self._fields.matching(where) if self.views_built.is_set() else None
        if allowed is None:  # beyond what the in-memory index answers exactly: ask SQLite
            return self._filtered_top_sql(query, k, where)
        graph = self._graph
        matches = len(allowed)
        k = min(k, matches)
        if k == 0:
            return np.empty((1, 0), np.uint64), np.empty((1, 0), np.float32), None
        documents = max(len(self._fields.live), 1)
        selectivity = matches / documents
        if selectivity >= POST_FILTER_MIN:
            # A common filter: the unfiltered neighbours hold k matches almost always.
            # Nearest passages, as documents (fewer than ``candidates`` when some are one
            # document's: then the matches among them may fall short, and the paths below run).
            candidates = min(graph.live, max(int(k / selectivity * 3) + 10, 40))
            found = self._nearest_documents(query, candidates)
            if found is not None:
                owners, nearest = found
                keep = [i for i, label in enumerate(owners.tolist()) if label in allowed][:k]
                if len(keep) == k:
                    return owners[None, keep], nearest[None, keep], None
        # The matching documents' graph labels (their passages') and each one's document.
        every = np.frombuffer(allowed.to_array(), np.uint32).astype(np.uint64)
        passages, owners = self._docs.expand(every)
        if len(passages) <= exact_limit(graph.live):
            return (*self._exact_in_memory(query, k, passages, owners), None)
        only: LabelSet = allowed
        if len(passages) > matches:
            only = BitMap(passages.tolist()) if int(passages.max()) < 2**32 else set(passages)
        # hnswlib searches max(ef, k) wide: asking for more neighbours widens this one search
        # (ef itself is shared by every search of the graph).
        wide = min(len(passages), max(k, int(self.info.hnsw.ef_search * RESTRICTED_WIDTH)))
        try:
            labels, distances = self._graph_top(query, k, only, wide)
        except RuntimeError:
            return (*self._exact_in_memory(query, k, passages, owners), None)
        return labels, distances, None

    def _nearest_documents(
        self, query: np.ndarray, candidates: int
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """The unfiltered HNSW neighbours ``(documents, distances)`` of one query, among its
        ``candidates`` nearest graph labels (a document as near as its nearest passage, so
        fewer when several are one document's), for a filter to keep those that match; ``None``
        when HNSW yields fewer than ``candidates``."""
        try:
            labels, distances = self._graph.knn(query, candidates)
        except RuntimeError:
            return None
        owners, nearest = labels[0], distances[0]
        if self._docs.split:
            owners, nearest = best_per_document(self._docs.owners(owners), nearest)
        return owners, nearest

    def _exact_in_memory(
        self, queries: np.ndarray, k: int, labels: np.ndarray, owners: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k documents among the graph ``labels`` (of documents ``owners``): the
        in-memory matrix shortlists, ``MATRIX_CHUNK`` rows at a time, the passages of the
        documents that can be in it (``vector_matrix.py``), and the float32 vectors of those
        documents from SQLite rank them."""
        [query] = queries
        split = labels is not owners
        kept = [
            self._matrix.keep(
                labels[start : start + MATRIX_CHUNK],
                query,
                k,
                owners[start : start + MATRIX_CHUNK] if split else None,
            )
            for start in range(0, len(labels), MATRIX_CHUNK)
        ]
        mask = np.concatenate(kept) if len(kept) > 1 else kept[0]
        labels, owners = labels[mask], owners[mask]
        if len(kept) > 1:  # the chunks' shortlists, shortlisted together
            mask = self._matrix.keep(labels, query, k, owners if split else None)
            labels, owners = labels[mask], owners[mask]
        return self._exact_top(queries, k, np.unique(owners) if split else labels)

    def _filtered_top_sql(
        self, query: np.ndarray, k: int, where: dict[str, Any]
    ) -> tuple[np.ndarray, np.ndarray, dict[int, Hit] | None]:
        """The path of filters ``field_index.py`` cannot answer exactly: SQLite's matches."""
        graph = self._graph
        candidates = min(graph.live, max(4 * k, 40))
        found = self._nearest_documents(query, candidates) if candidates else None
        if found is not None:
            owners, nearest = found
            matches = compile_predicate(where)
            rows = self._docs.by_labels(owners.tolist())
            keep = [
                i
                for i, label in enumerate(owners.tolist())
                if label in rows and matches(rows[label].metadata)
            ]
            if len(keep) >= k or candidates == graph.live:
                keep = keep[:k]
                return owners[None, keep], nearest[None, keep], rows
        allowed = self._docs.matching_labels(where, graph.applied_max_label)
        k = min(k, len(allowed))
        if len(allowed) <= BRUTE_FORCE_MAX:
            return (*self._exact_top(query, k, allowed), None)
        try:
            labels, distances = self._graph_top(query, k, self._graph_labels(allowed))
        except RuntimeError:
            return (*self._exact_top(query, k, allowed), None)
        return labels, distances, None

    def _exact(self, queries: np.ndarray, k: int, labels: np.ndarray) -> list[list[Hit]]:
        return self._hits(*self._exact_top(queries, k, labels))

    def _exact_top(
        self, queries: np.ndarray, k: int, labels: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k among the documents ``labels`` (by their best passage); documents gone by
        the time their vectors are read are left out. Vectors are read and scored
        ``EXACT_CHUNK`` documents at a time, so the transient arrays stay small whatever the
        number of labels (issue 10, memory)."""
        best_labels = np.empty((len(queries), 0), np.uint64)
        best_distances = np.empty((len(queries), 0), np.float32)
        for start in range(0, len(labels), EXACT_CHUNK):
            chunk = labels[start : start + EXACT_CHUNK]
            owners, vectors = self._docs.passage_vectors(chunk, self.dim)
            top_labels, top_distances = exact_document_top_k(
                self.info.metric, queries, owners, vectors, k
            )
            if best_labels.shape[1]:
                top_labels, top_distances = merge_top_k(
                    (best_labels, top_labels), (best_distances, top_distances), k
                )
            best_labels, best_distances = top_labels, top_distances
        return best_labels, best_distances

    def _vector_top(
        self, query: np.ndarray, k: int, where: dict[str, Any] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """One query's vector top-k as 1-D ``(labels, distances)`` (graph lock held)."""
        if where is not None:
            labels, distances, _ = self._filtered_top(query[None], k, where)
            return labels[0], distances[0]
        k = min(k, self._graph.live)
        if k == 0:
            return np.empty(0, np.uint64), np.empty(0, np.float32)
        try:
            labels, distances = self._graph_top(query[None], k)
        except RuntimeError:
            allowed = self._docs.matching_labels(None, self._graph.applied_max_label)
            labels, distances = self._exact_top(query[None], k, allowed)
        return labels[0], distances[0]

    def _hits(
        self, labels: np.ndarray, distances: np.ndarray, rows: dict[int, Hit] | None = None
    ) -> list[list[Hit]]:
        if rows is None:
            rows = self._docs.by_labels(sorted(set(labels.ravel().tolist())))
        to_score = score_function(self.info.metric)
        results = []
        for row_labels, row_distances in zip(labels, distances, strict=True):
            hits = []
            for label, distance in zip(row_labels.tolist(), row_distances.tolist(), strict=True):
                row = rows.get(label)
                if row is None:  # replaced or deleted by a write that raced this query
                    continue
                hits.append(
                    Hit(
                        id=row.id,
                        score=to_score(distance),
                        distance=distance,
                        text=row.text,
                        metadata=row.metadata,
                    )
                )
            results.append(hits)
        return results


def _stack(rows: list[tuple[np.ndarray, np.ndarray]], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-query ``(documents, distances)`` of possibly unequal lengths as ``[q, width]``
    arrays, ``width`` being the shortest row's (at most k): every query gets as many."""
    width = min(k, *(len(labels) for labels, _ in rows)) if rows else 0
    return (
        np.stack([labels[:width] for labels, _ in rows]),
        np.stack([dists[:width] for _, dists in rows]),
    )
