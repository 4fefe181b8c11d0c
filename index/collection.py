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
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from .documents import Documents
from .errors import InvalidArgumentError, StoreClosedError
from .filters import check_where, compile_predicate
from .graph import Graph, exact_top_k
from .rwlock import ReadWriteLock
from .schemas import CollectionInfo, Hit, Metadata, Page, Record
from .snapshots import SnapshotDir
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
        with self._writing():
            labels, replaced = self._docs.upsert(ids, array, texts_, metadatas_)
            self._apply(labels, array, replaced)
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
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
            raise InvalidArgumentError(f"k must be an integer from 1 to {MAX_K}", param="k")
        if ef is not None and (
            isinstance(ef, bool) or not isinstance(ef, int) or not 1 <= ef <= 4096
        ):
            raise InvalidArgumentError("ef must be an integer from 1 to 4096", param="ef")
        where = check_where(where)
        custom_ef = ef is not None and ef != self.info.hnsw.ef_search
        # hnswlib's ef is one setting per index: a query with its own ef runs alone.
        lock = self._graph_lock.writing() if custom_ef else self._graph_lock.reading()
        with lock:
            if custom_ef:
                self._graph.set_ef(ef)  # type: ignore[arg-type]
            try:
                if where is None:
                    return self._search(queries, k)
                return [self._search_filtered(query[None], k, where)[0] for query in queries]
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
                    return self._hits(labels[:, keep], distances[:, keep], rows)
        allowed = self._docs.matching_labels(where, graph.applied_max_label)
        k = min(k, len(allowed))
        if len(allowed) <= BRUTE_FORCE_MAX:
            return self._exact(query, k, allowed)
        try:
            labels, distances = graph.knn(query, k, set(allowed.tolist()))
        except RuntimeError:
            return self._exact(query, k, allowed)
        return self._hits(labels, distances)

    def _exact(self, queries: np.ndarray, k: int, labels: np.ndarray) -> list[list[Hit]]:
        if not len(labels):
            return [[] for _ in queries]
        vectors = self._docs.vectors(labels)
        return self._hits(*exact_top_k(self.info.metric, queries, labels, vectors, k))

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


def _cosine_or_ip(distance: float) -> float:
    return 1.0 - distance


def _l2(distance: float) -> float:
    return -distance


_SCORES = {"cosine": _cosine_or_ip, "ip": _cosine_or_ip, "l2": _l2}
