"""The in-memory HNSW graph of one collection: a derived, rebuildable view of its documents.

Labels are allocated by the document table, one fresh label per written version of a document,
in increasing order. Deleted or replaced versions are marked deleted and their slots reused by
later inserts (``allow_replace_deleted``), so a delete-heavy workload does not grow memory.

Callers hold ``lock.reading()`` around searches and ``lock.writing()`` around mutations.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import hnswlib
import numpy as np

from .schemas import HnswParams, Metric

log = logging.getLogger(__name__)

#: Filtered searches whose matching set is at most this large are answered exactly by brute
#: force; HNSW with a filter is slower and less accurate when few nodes match.
BRUTE_FORCE_MAX = 20_000
_MIN_CAPACITY = 1024


class Graph:
    def __init__(self, index: hnswlib.Index, metric: Metric, params: HnswParams) -> None:
        self._index = index
        self.metric = metric
        self.params = params
        self.deleted = 0  # slots marked deleted and not yet reused
        #: Every label <= this one has been applied; labels are applied in increasing order, so
        #: a reader can tell which of the labels it read from SQLite the graph already holds.
        self.applied_max_label = -1
        index.set_ef(params.ef_search)

    @classmethod
    def empty(cls, dim: int, metric: Metric, params: HnswParams, capacity: int = 0) -> Graph:
        index = hnswlib.Index(space=metric, dim=dim)
        index.init_index(
            max_elements=max(capacity, _MIN_CAPACITY),
            ef_construction=params.ef_construction,
            M=params.m,
            allow_replace_deleted=True,
        )
        return cls(index, metric, params)

    @classmethod
    def load(
        cls,
        path: str,
        dim: int,
        metric: Metric,
        params: HnswParams,
        *,
        deleted: int,
        max_label: int,
    ) -> Graph:
        index = hnswlib.Index(space=metric, dim=dim)
        index.load_index(path, allow_replace_deleted=True)
        graph = cls(index, metric, params)
        graph.deleted = deleted
        graph.applied_max_label = max_label
        return graph

    def save(self, path: str) -> None:
        self._index.save_index(path)

    @property
    def live(self) -> int:
        return self._index.get_current_count() - self.deleted

    @property
    def dim(self) -> int:
        return self._index.dim

    # -- mutations: hold lock.writing() -------------------------------------------------------

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        """Insert new labels (never ones already present), reusing deleted slots first."""
        if not len(labels):
            return
        needed = self._index.get_current_count() + max(0, len(labels) - self.deleted)
        capacity = self._index.get_max_elements()
        if needed > capacity:
            self._index.resize_index(max(needed, capacity + capacity // 2))
        self._index.add_items(vectors, labels, replace_deleted=True)
        self.deleted = max(0, self.deleted - len(labels))
        self.applied_max_label = max(self.applied_max_label, int(labels.max()))

    def delete(self, labels: np.ndarray) -> None:
        """Mark labels deleted; labels the graph never held are ignored (replay may repeat)."""
        for label in labels.tolist():
            try:
                self._index.mark_deleted(label)
            except RuntimeError:  # "Label not found" or "already deleted"
                continue
            self.deleted += 1

    # -- searches: hold lock.reading() (lock.writing() for a non-default ef) ------------------

    def search(
        self,
        queries: np.ndarray,
        k: int,
        allowed: np.ndarray | None,
        live_labels: Callable[[], np.ndarray],
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k ``(labels, distances)``, each ``[q, k']`` with ``k' <= k``, best first.

        ``allowed`` restricts results to those labels (all live in the graph). Small sets are
        searched exactly. When HNSW finds fewer than k' neighbours (possible after many
        deletions) the search is redone exactly over ``live_labels()``, so k' is always
        min(k, matching documents).
        """
        if allowed is not None:
            k = min(k, len(allowed))
            if k and len(allowed) <= BRUTE_FORCE_MAX:
                return self.exact(queries, k, allowed)
        k = min(k, self.live)
        if k == 0:
            return np.empty((len(queries), 0), np.uint64), np.empty((len(queries), 0), np.float32)
        filter_fn = None if allowed is None else set(allowed.tolist()).__contains__
        try:
            return self._index.knn_query(queries, k=k, num_threads=1, filter=filter_fn)
        except RuntimeError:
            log.info("HNSW found fewer than %d neighbours; answering exactly", k)
            return self.exact(queries, k, allowed if allowed is not None else live_labels())

    def set_ef(self, ef: int) -> None:
        self._index.set_ef(ef)

    def exact(
        self, queries: np.ndarray, k: int, labels: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Brute-force top-k over ``labels`` with hnswlib's own distance definitions."""
        labels = np.asarray(labels, dtype=np.uint64)
        vectors = np.asarray(self._index.get_items(labels, return_type="numpy"), dtype=np.float32)
        distances = self._distances(queries, vectors)
        k = min(k, len(labels))
        top = np.argpartition(distances, k - 1, axis=1)[:, :k]
        top_distances = np.take_along_axis(distances, top, axis=1)
        order = np.argsort(top_distances, axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        return labels[top], np.take_along_axis(top_distances, order, axis=1)

    def _distances(self, queries: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        if self.metric == "l2":
            return (
                (queries**2).sum(axis=1)[:, None]
                - 2.0 * queries @ vectors.T
                + (vectors**2).sum(axis=1)[None, :]
            ).clip(min=0.0)
        if self.metric == "cosine":  # hnswlib stores cosine vectors normalised
            norms = np.linalg.norm(queries, axis=1, keepdims=True)
            queries = queries / np.where(norms == 0, 1.0, norms)
        return 1.0 - queries @ vectors.T
