"""Rebuilding a collection's graph once its tombstones pass half its live documents.

Deleted and replaced versions stay in the graph as tombstones: their slots are not reused
(``Graph.reusable`` says why). So a collection whose documents are replaced again and again
would grow its graph, and the server's memory, without end until someone asked for
``POST /collections/{name}/compact``. Here the graph is rebuilt by itself, in the background,
when its tombstones exceed both half its live documents (``REBUILD_SHARE``) and
``REBUILD_FROM``: a rebuild (inserting every live vector once) then costs at most about twice
the writes that made it necessary.

Writes and searches go on meanwhile:

1. with writes held for a moment, note the last committed batch ``S`` and the next label;
2. with nothing held, build a new graph from the vectors stored with smaller labels (SQLite
   serves them; a version deleted meanwhile may be read or not);
3. with writes held again, replay onto it what was committed after ``S``: tombstones (deletes
   and replacements of anything it may hold) and the vectors of newer labels, as opening a
   collection replays its write-ahead part; then swap it in and snapshot it.

Replaying needs every tombstone after ``S``, and a snapshot prunes the tombstones it covers:
so the usual snapshots after writes wait until the swap, and a rebuild overtaken by one that
could not wait (compaction, a reload after a failed write) is dropped: the next write starts
another.
"""

from __future__ import annotations

import logging
import threading
import time

from .errors import IndexStoreError
from .graph import Graph
from .vector_search import CollectionState

log = logging.getLogger(__name__)

#: Tombstones below this never start a rebuild, whatever the live count: small collections.
REBUILD_FROM = 1_000
#: A rebuild starts when tombstones pass this share of the live documents: the graph stays
#: within 1.5x its live size (plus a second graph while one builds). At 1.0 the soak's memory
#: grew 27% after its first minute (target 20%, ``benchmarks/README.md``, "Soak").
REBUILD_SHARE = 0.5


class GraphRebuild(CollectionState):
    """A mixin of :class:`index.Collection`."""

    _write_lock: threading.Lock
    #: A rebuild is running (set and cleared under the write lock).
    _rebuilding: bool = False
    #: Tombstones up to this batch have been pruned by a snapshot.
    _pruned_through: int = -1

    def _replay(self, graph: Graph, after_seq: int) -> int:
        raise NotImplementedError

    def _snapshot(self) -> None:
        raise NotImplementedError

    def _rebuild_due(self) -> bool:
        """After a write (write lock held): start a rebuild if one is due; True if started."""
        graph = self._graph
        if self._rebuilding or graph.deleted <= max(REBUILD_FROM, graph.live * REBUILD_SHARE):
            return False
        self._rebuilding = True
        threading.Thread(
            target=self._rebuild_graph, name=f"graph-rebuild-{self.name}", daemon=True
        ).start()
        return True

    def _rebuild_graph(self) -> None:
        started = time.perf_counter()
        try:
            with self._leases.hold():
                graph, since = self._build_outside_writes()
                if graph is None:
                    return
                with self._write_lock:
                    if self._pruned_through > since:
                        log.info("collection %s: graph rebuild overtaken; dropped", self.name)
                        return
                    self._replay(graph, since)
                    _, next_label = self._docs.state()
                    graph.applied_max_label = max(graph.applied_max_label, next_label - 1)
                    graph.set_ef(self.info.hnsw.ef_search)  # as configured meanwhile, if it was
                    tombstones = self._graph.deleted
                    with self._graph_lock.writing():
                        self._graph = graph
                    self._rebuilding = False
                    self._snapshot()
            log.info(
                "collection %s: graph rebuilt without its %d tombstones in %.3f s",
                self.name,
                tombstones,
                time.perf_counter() - started,
            )
        except IndexStoreError:  # closed or dropped meanwhile
            return
        except Exception:
            log.exception("collection %s: graph rebuild failed; the old graph stays", self.name)
        finally:
            with self._write_lock:
                self._rebuilding = False

    def _build_outside_writes(self) -> tuple[Graph | None, int]:
        """A graph of the vectors stored with labels below the next one as of batch ``since``
        (``(None, since)`` if the collection closes meanwhile)."""
        with self._write_lock:
            since, next_label = self._docs.state()
        info = self.info
        # Room for the tombstones the next rebuild waits for: the graph is not resized (a copy
        # of it, beside it, while the copy is made) between two rebuilds. Untouched room costs
        # address space, not memory.
        room = int(self._docs.vector_count() * (1 + REBUILD_SHARE)) + REBUILD_FROM
        graph = Graph.empty(info.dim, info.metric, info.hnsw, room)
        for labels, vectors in self._docs.changes_after(-1, before_label=next_label):
            if self._leases.retiring:
                return None, since
            graph.add(labels, vectors)
        graph.applied_max_label = max(graph.applied_max_label, next_label - 1)
        return graph, since
