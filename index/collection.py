"""A named collection: documents in SQLite (the truth) plus an HNSW graph (a derived view).

Writes: validate the whole batch, commit it to SQLite (durable from then on), then apply it to
the graph. Opening: load the newest intact graph snapshot and replay the batches committed after
it; with no usable snapshot, rebuild the graph from SQLite. A crash between commit and snapshot
therefore loses nothing.

Locking: one writer at a time per collection (``_write_lock``); searches share the graph's
``ReadWriteLock`` and run alongside each other and alongside SQLite commits. Applying a batch to
the graph takes the lock exclusively, in slices, so queries wait at most one slice.
"""

from __future__ import annotations

import logging
import math
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .documents import Documents
from .errors import InvalidArgumentError, StoreClosedError
from .filters import check_where, compile_predicate
from .fusion import DEFAULT_ALPHA, DEFAULT_CANDIDATES, fuse, rank
from .graph import Graph, distances, exact_top_k
from .lexical import query_terms, terms_text
from .rwlock import ReadWriteLock
from .schemas import CollectionInfo, Hit, Metadata, Page, Record
from .snapshots import SnapshotDir
from .textsearch import TextSearch
from .validation import check_ids, check_metadatas, check_texts, check_vectors

log = logging.getLogger(__name__)

_APPLY_SLICE = 128  # vectors inserted per exclusive hold of the graph lock
#: A filter matching at most this many documents is answered exactly, by brute force over
#: their stored vectors; HNSW restricted to a small set is slower and misses neighbours.
BRUTE_FORCE_MAX = 5_000
MAX_K = 10_000
MAX_SCROLL = 10_000


class Collection:
    """Handle on one collection; get it from :class:`index.Store`, do not construct it."""

    def __init__(self, directory: Path, docs: Documents, *, snapshot_every: int) -> None:
        self.directory = directory
        self._docs = docs
        self.info: CollectionInfo = docs.info()
        self._snapshots = SnapshotDir(directory / "snapshots")
        self._snapshot_every = snapshot_every
        self._write_lock = threading.Lock()
        self._graph_lock = ReadWriteLock()
        self._closed = False
        self._graph, _, self._unsnapshotted = self._open_graph()
        if docs.ensure_lexical():
            log.warning("collection %s: built the lexical index this file lacked", self.name)
        self._text = TextSearch(docs, self.name)
        self._text.start(self._write_lock, lambda: self._closed)

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def dim(self) -> int:
        return self.info.dim

    # -- opening ------------------------------------------------------------------------------

    def _open_graph(self) -> tuple[Graph, int, int]:
        started = time.perf_counter()
        seq, next_label = self._docs.state()
        info = self.info
        snapshot = self._snapshots.latest()
        graph = None
        if snapshot is not None:
            try:
                graph = Graph.load(
                    str(snapshot.graph_path),
                    info.dim,
                    info.metric,
                    info.hnsw,
                    deleted=snapshot.meta.deleted,
                    max_label=snapshot.meta.max_label,
                )
            except RuntimeError as exc:
                log.warning("collection %s: cannot load snapshot (%s); rebuilding", info.name, exc)
        if graph is None:
            if seq:
                log.warning(
                    "collection %s: no usable graph snapshot; rebuilding from SQLite", info.name
                )
            graph, base = Graph.empty(info.dim, info.metric, info.hnsw, self._docs.count()), -1
        else:
            base = snapshot.meta.seq  # type: ignore[union-attr]
        replayed = self._replay(graph, base)
        graph.applied_max_label = max(graph.applied_max_label, next_label - 1)
        log.info(
            "collection %s: opened %d documents (%d replayed) in %.3f s",
            info.name,
            graph.live,
            replayed,
            time.perf_counter() - started,
        )
        return graph, seq, replayed

    def _replay(self, graph: Graph, after_seq: int) -> int:
        if after_seq >= 0:
            graph.delete(self._docs.tombstones_after(after_seq))
        replayed = 0
        for labels, vectors in self._docs.changes_after(after_seq):
            graph.add(labels, vectors)
            replayed += len(labels)
        return replayed

    # -- writes -------------------------------------------------------------------------------

    def upsert(
        self,
        ids: Sequence[str],
        vectors: Any,
        texts: Sequence[str | None] | None = None,
        metadatas: Sequence[Metadata | None] | None = None,
    ) -> int:
        """Insert or replace documents, all or nothing; durable when this returns."""
        ids = check_ids(ids)
        n = len(ids)
        array = check_vectors(vectors, self.dim, n)
        if self.info.metric == "cosine":
            norms = np.linalg.norm(array, axis=1)
            if n and not norms.all():
                row = int(np.argmin(norms))
                raise InvalidArgumentError(
                    f"vectors[{row}] is all zeros, which has no cosine similarity",
                    param=f"vectors[{row}]",
                )
        texts_ = check_texts(texts, n)
        metadatas_ = check_metadatas(metadatas, n)
        if not n:
            return 0
        terms = [terms_text(text) for text in texts_]
        with self._writing():
            labels, replaced = self._docs.upsert(ids, array, texts_, metadatas_, terms)
            self._apply(labels, array, replaced)
            self._text.apply(labels, terms, replaced)
            self._after_write(n)
        return n

    def delete(self, ids: Sequence[str] | None = None, where: dict[str, Any] | None = None) -> int:
        """Delete by ids, by filter, or both (ids that also match); return how many went."""
        if ids is None and where is None:
            raise InvalidArgumentError("delete needs ids, where, or both", param="ids")
        where = check_where(where)  # validate before touching anything
        if ids is None and where is None:
            raise InvalidArgumentError(
                "delete by an empty filter would delete everything; drop the collection instead",
                param="where",
            )
        with self._writing():
            if ids is not None:
                labels = self._docs.labels_for_ids(check_ids(ids))
                if where is not None:
                    labels = np.intersect1d(labels, self._docs.matching_labels(where))
            else:
                labels = self._docs.matching_labels(where)
            deleted = self._docs.delete(labels)
            if deleted:
                self._apply(np.empty(0, np.uint64), None, labels)
                self._text.apply(np.empty(0, np.uint64), [], labels)
                self._after_write(deleted)
        return deleted

    @contextmanager
    def _writing(self) -> Iterator[None]:
        with self._write_lock:
            self._check_open()
            yield

    def _apply(self, labels: np.ndarray, vectors: np.ndarray | None, removed: np.ndarray) -> None:
        """Bring the graph up to a batch SQLite has committed.

        Should that fail half-way (say, out of memory), the graph is reloaded from the snapshot
        and SQLite, which hold the batch already: the write stands either way.
        """
        try:
            with self._graph_lock.writing():
                self._graph.delete(removed)
            for start in range(0, len(labels), _APPLY_SLICE):
                with self._graph_lock.writing():
                    self._graph.add(
                        labels[start : start + _APPLY_SLICE],
                        vectors[start : start + _APPLY_SLICE],  # type: ignore[index]
                    )
        except Exception:
            log.exception(
                "collection %s: applying a write to the graph failed; reloading", self.name
            )
            with self._graph_lock.writing():
                self._graph, _, self._unsnapshotted = self._open_graph()

    def _after_write(self, changed: int) -> None:
        self._unsnapshotted += changed
        if self._unsnapshotted >= max(self._snapshot_every, self._graph.live // 5):
            self._snapshot()

    def checkpoint(self) -> None:
        """Snapshot the graph now, so the next open replays nothing."""
        with self._writing():
            if self._unsnapshotted:
                self._snapshot()

    def _snapshot(self) -> None:
        started = time.perf_counter()
        seq, _ = self._docs.state()
        with self._graph_lock.reading():  # searches may go on; writers are held by _write_lock
            self._snapshots.write(
                seq, self._graph.applied_max_label, self._graph.deleted, self._graph.save
            )
        self._docs.prune_tombstones(seq)
        self._unsnapshotted = 0
        log.info(
            "collection %s: snapshot at seq %d in %.3f s",
            self.name,
            seq,
            time.perf_counter() - started,
        )

    # -- reads --------------------------------------------------------------------------------

    def count(self) -> int:
        self._check_open()
        return self._docs.count()

    def get(self, ids: Sequence[str]) -> list[Record]:
        """The records of those ids that exist, in the order asked."""
        self._check_open()
        return self._docs.get(check_ids(ids))

    def scroll(
        self, limit: int = 100, after: str | None = None, where: dict[str, Any] | None = None
    ) -> Page:
        """A page of records in id order; follow ``next_after`` for the next page."""
        self._check_open()
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_SCROLL:
            raise InvalidArgumentError(
                f"limit must be an integer from 1 to {MAX_SCROLL}", param="limit"
            )
        if after is not None and not isinstance(after, str):
            raise InvalidArgumentError("after must be a document id", param="after")
        records = self._docs.scroll(limit + 1, after, check_where(where))
        has_more = len(records) > limit
        records = records[:limit]
        return Page(records=records, next_after=records[-1].id if has_more else None)

    def query(
        self,
        vectors: Any,
        k: int = 10,
        where: dict[str, Any] | None = None,
        ef: int | None = None,
    ) -> list[list[Hit]]:
        """Nearest neighbours of each query vector among documents matching ``where``.

        Returns ``min(k, matching)`` hits per query, best first. How a filter is answered:

        1. HNSW for ``4k`` unfiltered candidates, kept if at least k of them match (a
           common filter costs one small search);
        2. else, when at most ``BRUTE_FORCE_MAX`` documents match: exact search over them;
        3. else HNSW restricted to the matching set.
        """
        self._check_open()
        queries = check_vectors(vectors, self.dim)
        _check_k(k)
        _check_ef(ef)
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
            if custom_ef:
                self._graph.set_ef(ef)  # type: ignore[arg-type]
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
            labels, distances = graph.knn(queries, k)
        except RuntimeError:
            log.info("collection %s: HNSW found fewer than %d; searching exactly", self.name, k)
            labels = self._docs.matching_labels(None, graph.applied_max_label)
            return self._exact(queries, k, labels)
        return self._hits(labels, distances)

    def _search_filtered(self, query: np.ndarray, k: int, where: dict[str, Any]) -> list[list[Hit]]:
        labels, distances, rows = self._filtered_top(query, k, where)
        return self._hits(labels, distances, rows)

    def _filtered_top(
        self, query: np.ndarray, k: int, where: dict[str, Any]
    ) -> tuple[np.ndarray, np.ndarray, dict[int, Hit] | None]:
        """``(labels[1, k'], distances[1, k'], rows or None)``: see :meth:`query`."""
        graph = self._graph
        candidates = min(graph.live, max(4 * k, 40))
        if candidates:
            try:
                labels, distances = graph.knn(query, candidates)
            except RuntimeError:
                pass
            else:
                matches = compile_predicate(where)
                rows = self._docs.by_labels(labels[0].tolist())
                keep = [
                    i
                    for i, label in enumerate(labels[0].tolist())
                    if label in rows and matches(rows[label].metadata)
                ]
                if len(keep) >= k or candidates == graph.live:
                    keep = keep[:k]
                    return labels[:, keep], distances[:, keep], rows
        allowed = self._docs.matching_labels(where, graph.applied_max_label)
        k = min(k, len(allowed))
        if len(allowed) <= BRUTE_FORCE_MAX:
            return (*self._exact_top(query, k, allowed), None)
        try:
            labels, distances = graph.knn(query, k, set(allowed.tolist()))
        except RuntimeError:
            return (*self._exact_top(query, k, allowed), None)
        return labels, distances, None

    def _exact(self, queries: np.ndarray, k: int, labels: np.ndarray) -> list[list[Hit]]:
        return self._hits(*self._exact_top(queries, k, labels))

    def _exact_top(
        self, queries: np.ndarray, k: int, labels: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        if not len(labels):
            empty = np.empty((len(queries), 0))
            return empty.astype(np.uint64), empty.astype(np.float32)
        vectors = self._docs.vectors(labels)
        return exact_top_k(self.info.metric, queries, labels, vectors, k)

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
            labels, distances = self._graph.knn(query[None], k)
        except RuntimeError:
            allowed = self._docs.matching_labels(None, self._graph.applied_max_label)
            labels, distances = self._exact_top(query[None], k, allowed)
        return labels[0], distances[0]

    # -- lexical and hybrid search ------------------------------------------------------------

    def lexical_ready(self, timeout: float | None = None) -> bool:
        """Wait until the in-memory BM25 accelerator is built (searches work before it is,
        through FTS5, only slower); False on timeout."""
        return self._text.wait(timeout)

    def search_text(
        self, texts: Sequence[str], k: int = 10, where: dict[str, Any] | None = None
    ) -> list[list[Hit]]:
        """BM25 top-k for each text among documents matching ``where`` (lexical search).

        Any text is safe: it is tokenised as documents are (``lexical.py``), never parsed as
        FTS5 syntax; a text with no indexed word finds nothing. ``score`` and ``lexical_score``
        are the BM25 score, ``distance`` is NaN.
        """
        self._check_open()
        texts = _check_query_texts(texts)
        _check_k(k)
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
        self._check_open()
        texts = _check_query_texts(texts)
        queries = check_vectors(vectors, self.dim, len(texts))
        _check_k(k)
        _check_ef(ef)
        if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 <= alpha <= 1:
            raise InvalidArgumentError("alpha must be a number from 0 to 1", param="alpha")
        if isinstance(candidates, bool) or not isinstance(candidates, int) or candidates < 1:
            raise InvalidArgumentError("candidates must be a positive integer", param="candidates")
        where = check_where(where)
        results = []
        for text, query in zip(texts, queries, strict=True):
            found = self.hybrid_candidates(text, query, max(candidates, k), where, ef)
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
        lexical = self._text.search(query_terms(text), n, where)
        with self._graph_search(ef):
            v_labels, v_distances = self._vector_top(query, n, where)
        only_lexical = np.setdiff1d(lexical.labels.astype(np.int64), v_labels.astype(np.int64))
        # Their stored vectors: SQLite answers 100 labels ~5x faster than hnswlib's get_items.
        m_labels, m_vectors = self._docs.some_vectors(only_lexical.tolist(), self.dim)
        m_distances = distances(self.info.metric, query[None], m_vectors)[0]
        labels = np.concatenate([v_labels.astype(np.int64), m_labels])
        dists = np.concatenate([v_distances, m_distances]).astype(np.float64)
        to_score = _SCORES[self.info.metric]
        return Candidates(
            labels=labels,
            distances=dists,
            vector=np.asarray([to_score(d) for d in dists.tolist()], np.float64),
            lexical=lexical.score_of(labels),
            from_vector=np.arange(len(labels)) < len(v_labels),
            from_lexical=np.isin(labels, lexical.labels),
        )

    def _hits(
        self, labels: np.ndarray, distances: np.ndarray, rows: dict[int, Hit] | None = None
    ) -> list[list[Hit]]:
        if rows is None:
            rows = self._docs.by_labels(sorted(set(labels.ravel().tolist())))
        to_score = _SCORES[self.info.metric]
        results = []
        for row_labels, row_distances in zip(labels.tolist(), distances.tolist(), strict=True):
            hits = []
            for label, distance in zip(row_labels, row_distances, strict=True):
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

    # -- lifecycle ----------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError(f"collection {self.name!r} is closed or was dropped")

    def close(self, *, snapshot: bool = True) -> None:
        """Snapshot pending changes (so reopening is fast) and release files."""
        if self._closed:
            return
        with self._write_lock:
            if snapshot and self._unsnapshotted:
                self._snapshot()
            self._closed = True
            self._docs.close()

    def destroy(self) -> None:
        """Close without snapshotting and delete the collection's files."""
        self.close(snapshot=False)
        shutil.rmtree(self.directory, ignore_errors=True)


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


def _check_k(k: Any) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise InvalidArgumentError(f"k must be an integer from 1 to {MAX_K}", param="k")


def _check_ef(ef: Any) -> None:
    if ef is not None and (isinstance(ef, bool) or not isinstance(ef, int) or not 1 <= ef <= 4096):
        raise InvalidArgumentError("ef must be an integer from 1 to 4096", param="ef")


def _check_query_texts(texts: Any) -> list[str]:
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise InvalidArgumentError("texts must be a list of strings", param="texts")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InvalidArgumentError(f"texts[{i}] must be a string", param=f"texts[{i}]")
    return list(texts)


def _cosine_or_ip(distance: float) -> float:
    return 1.0 - distance


def _l2(distance: float) -> float:
    return -distance


_SCORES = {"cosine": _cosine_or_ip, "ip": _cosine_or_ip, "l2": _l2}
