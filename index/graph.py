"""The in-memory HNSW graph of one collection: a derived, rebuildable view of its documents.

Labels are allocated by the document table, one fresh label per written version of a document,
in increasing order. Deleted or replaced versions are marked deleted and stay in the graph as
tombstones until the graph is rebuilt, by itself once they pass half the live documents
(``graph_rebuild.py``) or on request (``compaction.py``): their slots are not reused, see
:attr:`Graph.reusable`.

Callers hold ``lock.reading()`` around searches and ``lock.writing()`` around mutations.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

import hnswlib
import numpy as np

from .schemas import HnswParams, Metric

log = logging.getLogger(__name__)

_MIN_CAPACITY = 1024


class LabelSet(Protocol):
    """What a search may be restricted to: a ``set`` or a roaring ``BitMap`` of labels."""

    def __contains__(self, label: int, /) -> bool: ...

    def __len__(self) -> int: ...


class Graph:
    def __init__(self, index: hnswlib.Index, metric: Metric, params: HnswParams) -> None:
        self._index = index
        self.metric = metric
        self.params = params
        self.deleted = 0  # slots marked deleted and not yet reused
        #: Every label <= this one has been applied; labels are applied in increasing order, so
        #: a reader can tell which of the labels it read from SQLite the graph already holds.
        self.applied_max_label = -1
        #: Labels from this one up are being committed (``add_hidden``): searches skip them.
        self.hidden_from: int | None = None
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
        return int(self._index.get_current_count()) - self.deleted

    @property
    def dim(self) -> int:
        return int(self._index.dim)

    # -- mutations: hold lock.writing() -------------------------------------------------------

    @property
    def reusable(self) -> int:
        """Deleted slots an insert may take: none. hnswlib's slot reuse (``replace_deleted``)
        is unsafe across its insert threads (nmslib/hnswlib#418), and our kill -9 loop showed
        it unsafe on one thread too: 4 of 36 verifications after replacements found a stored
        document HNSW could not reach from its own vector (0 of 48 with reuse off). So a
        replace-heavy collection grows its graph until it is rebuilt (``graph_rebuild.py``,
        or ``POST /collections/{name}/compact``); the stored vectors and results are right
        either way."""
        return 0

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        """Insert new labels (never ones already present), into deleted slots where
        :attr:`reusable` allows.

        Reusing a deleted slot is not safe across hnswlib's insert threads (its maintainers
        say so in nmslib/hnswlib#418; in our kill -9 tests parallel replacements left a few
        nodes unreachable), so those inserts run on one thread and only inserts into fresh
        slots run in parallel.
        """
        if not len(labels):
            return
        needed = self._index.get_current_count() + len(labels)  # even if no slot is reused
        capacity = self._index.get_max_elements()
        if needed > capacity:
            self._index.resize_index(max(needed, capacity + capacity // 2))
        reuse = min(self.reusable, len(labels))
        if reuse:
            self._index.add_items(
                vectors[:reuse], labels[:reuse], num_threads=1, replace_deleted=True
            )
        if reuse < len(labels):
            self._index.add_items(vectors[reuse:], labels[reuse:], replace_deleted=False)
        self.deleted -= reuse
        self.applied_max_label = max(self.applied_max_label, int(labels.max()))

    def add_hidden(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        """Insert new labels into fresh slots (in parallel), left out of searches until
        :meth:`reveal`: a batch is built into the graph while SQLite commits it, and shown only
        once it is durable. Hidden labels stay ordinary nodes that later inserts link to (marking
        them deleted would keep them out of their neighbours' lists and cost recall); searches
        skip them with a filter on the label instead, labels being allocated in increasing
        order. Never reuses a deleted slot: that is :meth:`add`'s, after the commit."""
        if not len(labels):
            return
        needed = self._index.get_current_count() + len(labels)
        capacity = self._index.get_max_elements()
        if needed > capacity:
            self._index.resize_index(max(needed, capacity + capacity // 2))
        self._index.add_items(vectors, labels, replace_deleted=False)
        if self.hidden_from is None:
            self.hidden_from = int(labels.min())

    def reveal(self, labels: np.ndarray) -> None:
        """Make the labels inserted by :meth:`add_hidden` searchable."""
        self.hidden_from = None
        if len(labels):
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

    def knn(
        self, queries: np.ndarray, k: int, allowed: LabelSet | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """HNSW top-k ``(labels, distances)``, best first, ``k <= live``.

        Raises ``RuntimeError`` when the graph yields fewer than k (possible after many
        deletions, or with a selective ``allowed``); the caller then searches exactly.
        """
        filter_fn: Callable[[int], bool] | None = None
        if allowed is not None:
            filter_fn = allowed.__contains__
        hidden = self.hidden_from
        if hidden is not None:
            inside = filter_fn
            filter_fn = (
                (lambda label: label < hidden)
                if inside is None
                else (lambda label: label < hidden and inside(label))
            )
        labels, distances = self._index.knn_query(queries, k=k, num_threads=1, filter=filter_fn)
        return labels, distances

    def set_ef(self, ef: int) -> None:
        self._index.set_ef(ef)


def exact_top_k(
    metric: Metric, queries: np.ndarray, labels: np.ndarray, vectors: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force top-k over ``vectors`` with hnswlib's own distance definitions."""
    k = min(k, len(labels))
    if k == 0:
        return np.empty((len(queries), 0), np.uint64), np.empty((len(queries), 0), np.float32)
    distances = _distances(metric, queries, vectors)
    top = np.argpartition(distances, k - 1, axis=1)[:, :k]
    top_distances = np.take_along_axis(distances, top, axis=1)
    order = np.argsort(top_distances, axis=1, kind="stable")
    top = np.take_along_axis(top, order, axis=1)
    return labels[top], np.take_along_axis(top_distances, order, axis=1)


def merge_top_k(
    labels: tuple[np.ndarray, np.ndarray], distances: tuple[np.ndarray, np.ndarray], k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The best k per row of two top-k results ``[queries, <= k]`` (of disjoint labels)."""
    all_labels = np.concatenate(labels, axis=1)
    all_distances = np.concatenate(distances, axis=1)
    order = np.argsort(all_distances, axis=1, kind="stable")[:, :k]
    return (
        np.take_along_axis(all_labels, order, axis=1),
        np.take_along_axis(all_distances, order, axis=1),
    )


def distances(metric: Metric, queries: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """hnswlib's distance from each query to each vector, computed with numpy."""
    return _distances(metric, queries, vectors)


def _distances(metric: Metric, queries: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    if metric == "l2":
        squared: np.ndarray = (
            (queries**2).sum(axis=1)[:, None]
            - 2.0 * queries @ vectors.T
            + (vectors**2).sum(axis=1)[None, :]
        ).clip(min=0.0)
        return squared
    if metric == "cosine":
        queries = _normalised(queries)
        vectors = _normalised(vectors)
    dissimilarity: np.ndarray = 1.0 - queries @ vectors.T
    return dissimilarity


def _normalised(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit: np.ndarray = vectors / np.where(norms == 0, 1.0, norms)
    return unit


def scores_of(metric: Metric, distances: np.ndarray) -> np.ndarray:
    """:func:`score_function` over an array at once."""
    return -distances if metric == "l2" else 1.0 - distances


def score_function(metric: Metric) -> Callable[[float], float]:
    """hnswlib distance -> our higher-is-better score: cosine similarity, inner product, or
    negative squared L2 distance."""
    return _l2_score if metric == "l2" else _similarity_score


def _similarity_score(distance: float) -> float:
    return 1.0 - distance


def _l2_score(distance: float) -> float:
    return -distance
