"""Giving a collection's deleted space back to the operating system.

Deleting documents frees their space *for reuse*: SQLite keeps freed pages for later inserts,
and the graph, which keeps deleted versions as tombstones, rebuilds itself once they pass half
the live documents (``graph_rebuild.py``); so a collection that is deleted from and written to
again does not grow without end. The files do not shrink by themselves, though (issue 10:
deleting every document reclaimed nothing until the collection was dropped).
:meth:`Compaction.compact` does that, on request (``POST /collections/{name}/compact``), not on
a threshold: it rewrites everything, which is worth it only after large deletions, and the
operator knows when those happened.

Compacting holds the collection's write lock (writes wait; searches go on, on the old graph
until the new one replaces it):

1. the graph is rebuilt from the live documents, without deleted slots, and snapshotted (the
   old, larger snapshot is removed);
2. SQLite merges the lexical index's segments (FTS5 ``optimize``), rewrites the file without
   free pages (``VACUUM``) and truncates its write-ahead log.

For a while it needs the memory of a second graph, and the disk of a second database file.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from .graph import Graph
from .leases import leased
from .schemas import Compacted
from .vector_search import CollectionState

log = logging.getLogger(__name__)


class Compaction(CollectionState):
    """A mixin of :class:`index.Collection`."""

    directory: Path
    _write_lock: threading.Lock

    def _snapshot(self) -> None:
        raise NotImplementedError

    @leased
    def compact(self) -> Compacted:
        """Return deleted documents' space to the operating system; sizes before and after."""
        started = time.perf_counter()
        before = disk_bytes(self.directory)
        with self._write_lock:
            if self._graph.deleted:
                graph = self._fresh_graph()
                with self._graph_lock.writing():
                    self._graph = graph
            self._snapshot()
            self._docs.compact()
        after = disk_bytes(self.directory)
        log.info(
            "collection %s: compacted from %d to %d bytes in %.3f s",
            self.name,
            before,
            after,
            time.perf_counter() - started,
        )
        return Compacted(bytes_before=before, bytes_after=after)

    def _fresh_graph(self) -> Graph:
        """A graph of the live documents only, built from SQLite (the caller holds writes)."""
        info = self.info
        graph = Graph.empty(info.dim, info.metric, info.hnsw, self._docs.vector_count())
        for labels, vectors in self._docs.changes_after(-1):
            graph.add(labels, vectors)
        _, next_label = self._docs.state()
        graph.applied_max_label = max(graph.applied_max_label, next_label - 1)
        return graph


def disk_bytes(directory: Path) -> int:
    """Bytes of the files under ``directory`` (files removed meanwhile count as 0)."""
    total = 0
    for path in directory.rglob("*"):
        try:
            if path.is_file():
                total += path.stat().st_size
        except FileNotFoundError:
            continue
    return total
