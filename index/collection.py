"""A named collection: documents in SQLite (the truth) plus an HNSW graph (a derived view).

Writes: validate the whole batch, commit it to SQLite (durable from then on), then apply it to
the graph. Opening: load the newest intact graph snapshot and replay the batches committed after
it; with no usable snapshot, rebuild the graph from SQLite. A crash between commit and snapshot
therefore loses nothing.

Locking: one writer at a time per collection (``_write_lock``); searches share the graph's
``ReadWriteLock`` and run alongside each other and alongside SQLite commits. Applying a batch to
the graph takes the lock exclusively, in slices, so queries wait at most one slice.

Lifetime: every public call holds a lease (``leases.py``); :meth:`Collection.close` refuses new
calls, waits for those in flight, and only then closes the SQLite connections they use.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from .analysis import Analyzer
from .compaction import Compaction
from .distributed import ShardSearch
from .documents import Documents, Written
from .errors import (
    CollectionNotFoundError,
    IndexStoreError,
    InvalidArgumentError,
    StoreClosedError,
)
from .field_index import FieldIndex
from .filters import check_where
from .graph import Graph
from .graph_rebuild import GraphRebuild
from .leases import Leases, leased
from .memory import release_free_memory
from .overlap import overlapped
from .passage_search import PassageSearch
from .rwlock import ReadWriteLock
from .schemas import (
    MAX_PASSAGES,
    MODES,
    CollectionInfo,
    Metadata,
    Mode,
    Page,
    Passages,
    Record,
    SearchDefaults,
)
from .snapshots import SnapshotDir
from .textsearch import TextSearch
from .validation import (
    check_alpha,
    check_ef,
    check_ids,
    check_metadatas,
    check_texts,
    check_vectors,
)
from .vector_matrix import VectorMatrix

log = logging.getLogger(__name__)

_APPLY_SLICE = 128  # vectors inserted per exclusive hold of the graph lock
_NONE = np.empty(0, np.uint64)
MAX_SCROLL = 10_000


class Collection(ShardSearch, PassageSearch, Compaction, GraphRebuild):
    """Handle on one collection; get it from :class:`index.Store`, do not construct it.

    Searching is inherited: vector search from ``vector_search.py``, lexical and hybrid
    search from ``hybrid.py``, a shard's searches from ``distributed.py``; so is
    :meth:`compact` (``compaction.py``), and a hit's best passages, :meth:`passages`
    (``passage_search.py``).
    """

    def __init__(self, directory: Path, docs: Documents, *, snapshot_every: int) -> None:
        self.directory = directory
        self._docs = docs
        self.info: CollectionInfo = docs.info()
        self._snapshots = SnapshotDir(directory / "snapshots")
        self._snapshot_every = snapshot_every
        self._write_lock = threading.Lock()
        self._graph_lock = ReadWriteLock()
        self._leases = Leases()
        self._graph, self._unsnapshotted = self._open_graph()
        analyzer = Analyzer.for_language(self.info.lexical_settings.language)
        if docs.ensure_fields():
            log.warning(
                "collection %s: rebuilt the metadata index (strings kept as text)", self.name
            )
        # Filled by a thread (``_build_views``) from the fields as fixed just above; until then
        # filters are answered by SQLite, so opening a large collection does not wait for them.
        self._fields, self._matrix = FieldIndex(), VectorMatrix(self.info.dim, self.info.metric)
        self.views_built = threading.Event()
        if docs.ensure_lexical(analyzer):
            log.warning("collection %s: built the lexical index this file lacked", self.name)
        self._text = TextSearch(docs, self.name, analyzer, weigh_repeats=not self.info.legacy)
        self._text_analyzer = analyzer
        self._text.start(self._write_lock, self._leases)
        threading.Thread(target=self._build_views, name=f"views-{self.name}", daemon=True).start()

    # -- opening ------------------------------------------------------------------------------

    def _open_graph(self) -> tuple[Graph, int]:
        """The graph as of the last commit, and how many documents were replayed into it."""
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
            capacity = self._docs.vector_count()
            graph, base = Graph.empty(info.dim, info.metric, info.hnsw, capacity), -1
        else:
            assert snapshot is not None  # the graph was loaded from it
            base = snapshot.meta.seq
        replayed = self._replay(graph, base)
        graph.applied_max_label = max(graph.applied_max_label, next_label - 1)
        log.info(
            "collection %s: opened %d documents (%d replayed) in %.3f s",
            info.name,
            graph.live,
            replayed,
            time.perf_counter() - started,
        )
        return graph, replayed

    def _build_views(self) -> None:
        """Build the filter index and vector matrix holding the write lock (writes wait, a few
        seconds at a million documents; searches go on) and a lease (closing waits)."""
        try:
            with self._leases.hold(), self._write_lock:
                if self._leases.retiring:
                    return
                fields, matrix = self._open_views()
                with self._graph_lock.writing():
                    self._fields, self._matrix = fields, matrix
                    self.views_built.set()
            release_free_memory()  # the vectors read back from SQLite (``memory.py``)
        except IndexStoreError:  # closed before the thread ran
            return
        except Exception:
            log.exception("collection %s: filters stay on SQLite", self.name)

    def _open_views(self) -> tuple[FieldIndex, VectorMatrix]:
        """The in-memory filter index and vector matrix, from SQLite (``field_index.py``,
        ``vector_matrix.py``); like the graph, derived and rebuilt on every open."""
        started = time.perf_counter()
        fields = FieldIndex.build(self._docs.live_labels(), self._docs.field_rows())
        # Sized for every stored vector at once: growing by half as rows arrive left up to a
        # third of the matrix unused (69 MiB for 49 at 100,000 vectors).
        matrix = VectorMatrix(self.info.dim, self.info.metric, self._docs.vector_count())
        for labels, vectors in self._docs.changes_after(-1):
            matrix.add(labels, vectors)
        log.info(
            "collection %s: filter index and vector matrix (%d MiB) in %.3f s",
            self.info.name,
            matrix.nbytes >> 20,
            time.perf_counter() - started,
        )
        return fields, matrix

    def _replay(self, graph: Graph, after_seq: int) -> int:
        if after_seq >= 0:
            graph.delete(self._docs.tombstones_after(after_seq))
        replayed = 0
        for labels, vectors in self._docs.changes_after(after_seq):
            graph.add(labels, vectors)
            replayed += len(labels)
        return replayed

    # -- writes -------------------------------------------------------------------------------

    @leased
    def upsert(
        self,
        ids: Sequence[str],
        vectors: Any,
        texts: Sequence[str | None] | None = None,
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
        passages: Sequence[Passages | None] | None = None,
    ) -> int:
        """Insert or replace documents, all or nothing; durable when this returns.

        ``passages[i]``, in a collection created with passages, gives document i's passages
        (spans into its text and their vectors); its row of ``vectors`` is then not used.
        Replacing a document replaces all its passages; ``None`` is one passage, the document.
        """
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
        spans, array = self._check_passages(passages, texts_, array)
        if not n:
            return 0
        with self._writing():
            _, first = self._docs.state()
            # One graph label per passage (``array`` has a row per passage, documents in
            # order), allocated as ``Documents.upsert`` will: consecutive from ``next_label``.
            graph_labels = np.arange(first, first + len(array), dtype=np.uint64)
            # Deleted slots (if ``Graph.reusable`` allows any) are refilled after the commit, one
            # thread; the rest is built into the graph, hidden, while the batch commits.
            reuse = min(self._graph.reusable, len(graph_labels))
            fresh = graph_labels[reuse:]
            try:
                (written, terms, words), failure = overlapped(
                    lambda: self._commit(ids, array, texts_, metadatas_, spans),
                    lambda: self._insert_hidden(fresh, array[reuse:]),
                )
            except BaseException:
                self._reload_graph("the batch did not commit")  # drop its hidden slots
                raise
            assert np.array_equal(written.graph_labels, graph_labels), (
                "labels are allocated under the write lock"
            )
            if failure is not None:
                log.error(
                    "collection %s: building a batch into the graph failed: %r", self.name, failure
                )
                self._reload_graph("building a batch into the graph failed")
            else:
                with self._graph_lock.writing():  # old versions out, new ones in, at once
                    self._graph.reveal(fresh)
                    self._graph.delete(written.replaced_graph)
                    self._forget_views(written.replaced_graph)
                    self._matrix.add(fresh, array[reuse:])
                    if not reuse:
                        self._fields.add(written.labels.tolist(), metadatas_)
                # Filters see the documents once every one of their passages is in the matrix.
                if reuse and self._apply(graph_labels[:reuse], array[:reuse], _NONE):
                    with self._graph_lock.writing():
                        self._matrix.add(graph_labels[:reuse], array[:reuse])
                        self._fields.add(written.labels.tolist(), metadatas_)
            self._text.apply(written.labels, terms, written.replaced, words)
            self._after_write(len(graph_labels))
        return n

    def _commit(
        self,
        ids: list[str],
        vectors: np.ndarray,
        texts: list[str | None],
        metadatas: list[Metadata | None],
        spans: list[list[tuple[int, int]] | None] | None,
    ) -> tuple[Written, list[str], list[str]]:
        """Analyse the texts and commit the batch: ``(written, terms, words)``."""
        analyzer = self._text.analyzer
        analysed = [analyzer.words(text) for text in texts]
        terms = [" ".join(analyzer.stems(words)) for words in analysed]
        # Words feed typo tolerance, which collections created before it do without.
        words = [] if self.info.legacy else self._text.new_words(w for ws in analysed for w in ws)
        written = self._docs.upsert(ids, vectors, texts, metadatas, terms, words, spans)
        return written, terms, words

    def _insert_hidden(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        for start in range(0, len(labels), _APPLY_SLICE):
            with self._graph_lock.writing():
                self._graph.add_hidden(
                    labels[start : start + _APPLY_SLICE], vectors[start : start + _APPLY_SLICE]
                )

    def _reload_graph(self, why: str) -> None:
        """Rebuild the graph (and the views beside it) from the snapshot and SQLite, the
        truth, after a failed write."""
        log.warning("collection %s: %s; reloading the graph", self.name, why)
        with self._graph_lock.writing():
            self._graph, self._unsnapshotted = self._open_graph()
            self._fields, self._matrix = self._open_views()
            self.views_built.set()

    def _forget_views(self, labels: np.ndarray) -> None:
        """Hide labels (graph labels: documents' and passages') from filters and exact search
        (graph lock held for writing); the filter index knows only the documents'."""
        self._matrix.remove(labels)
        self._fields.remove(labels.tolist())

    def _check_passages(
        self,
        passages: Sequence[Passages | None] | None,
        texts: list[str | None],
        vectors: np.ndarray,
    ) -> tuple[list[list[tuple[int, int]] | None] | None, np.ndarray]:
        """``(spans per document or None, every passage's vector in document order)``."""
        if passages is None or all(p is None for p in passages):
            return None, vectors
        if self.info.passages is None:
            raise InvalidArgumentError(
                f"collection {self.name!r} was created without passages", param="passages"
            )
        if len(passages) != len(texts):
            raise InvalidArgumentError(
                f"passages has {len(passages)} entries for {len(texts)} documents",
                param="passages",
            )
        spans: list[list[tuple[int, int]] | None] = []
        rows: list[np.ndarray] = []
        for i, (given, text) in enumerate(zip(passages, texts, strict=True)):
            if given is None:
                spans.append(None)
                rows.append(vectors[i : i + 1])
                continue
            param = f"passages[{i}]"
            if text is None:
                raise InvalidArgumentError(f"{param}: a document without text", param=param)
            if not 1 <= len(given.spans) <= MAX_PASSAGES:
                raise InvalidArgumentError(
                    f"{param}: {len(given.spans)} passages; a document has 1 to {MAX_PASSAGES}",
                    param=param,
                )
            for start, end in given.spans:
                if not 0 <= start < end <= len(text):
                    raise InvalidArgumentError(
                        f"{param}: span ({start}, {end}) is not within its text", param=param
                    )
            own = check_vectors(given.vectors, self.dim, len(given.spans), f"{param}.vectors")
            if self.info.metric == "cosine" and not np.linalg.norm(own, axis=1).all():
                raise InvalidArgumentError(
                    f"{param}.vectors has an all-zero vector, which has no cosine similarity",
                    param=f"{param}.vectors",
                )
            spans.append(list(given.spans) if len(given.spans) > 1 else None)
            rows.append(own)
        return spans, np.ascontiguousarray(np.concatenate(rows), dtype=np.float32)

    @leased
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
            existing, removed = self._docs.delete(labels)
            deleted = len(existing)
            if deleted:
                self._apply(np.empty(0, np.uint64), None, removed)
                self._text.apply(np.empty(0, np.uint64), [], existing)
                self._after_write(len(removed))
        return deleted

    @leased
    def configure(
        self,
        *,
        mode: Mode | None = None,
        alpha: float | None = None,
        ef_search: int | None = None,
    ) -> CollectionInfo:
        """Change what a query does when it does not say: its search ``mode``, hybrid's
        ``alpha``, HNSW's ``ef_search``. Durable when this returns; ``None`` keeps a setting."""
        if mode is not None and mode not in MODES:
            raise InvalidArgumentError(f"mode must be one of {', '.join(MODES)}", param="mode")
        if alpha is not None:
            check_alpha(alpha)
        check_ef(ef_search, param="ef_search")
        with self._writing():
            info = self.info
            search = info.search_defaults
            search = SearchDefaults(
                mode=search.mode if mode is None else mode,
                alpha=search.alpha if alpha is None else float(alpha),
            )
            hnsw = info.hnsw
            if ef_search is not None:
                hnsw = msgspec.structs.replace(hnsw, ef_search=ef_search)
            updated = msgspec.structs.replace(info, search=search, hnsw=hnsw)
            self._docs.set_info(updated)
            with self._graph_lock.writing():
                self._graph.set_ef(hnsw.ef_search)
                self.info = updated
        return updated

    @contextmanager
    def _writing(self) -> Iterator[None]:
        with self._write_lock:
            yield

    def _apply(self, labels: np.ndarray, vectors: np.ndarray | None, removed: np.ndarray) -> bool:
        """Bring the graph up to a batch SQLite has committed; False if it had to reload.

        Should that fail half-way (say, out of memory), the graph (and the views beside it) is
        reloaded from the snapshot and SQLite, which hold the batch already: the write stands
        either way.
        """
        try:
            with self._graph_lock.writing():
                self._graph.delete(removed)
                self._forget_views(removed)
            for start in range(0, len(labels), _APPLY_SLICE):
                assert vectors is not None  # labels come with their vectors
                with self._graph_lock.writing():
                    self._graph.add(
                        labels[start : start + _APPLY_SLICE],
                        vectors[start : start + _APPLY_SLICE],
                    )
        except Exception:
            log.exception("collection %s: applying a write to the graph failed", self.name)
            self._reload_graph("applying a write to the graph failed")
            return False
        return True

    def _after_write(self, changed: int) -> None:
        self._unsnapshotted += changed
        if self._rebuild_due() or self._rebuilding:
            return  # the rebuild snapshots its new graph; until then tombstones are kept
        if self._unsnapshotted >= max(self._snapshot_every, self._graph.live // 5):
            self._snapshot()

    def _snapshot(self) -> None:
        started = time.perf_counter()
        seq, _ = self._docs.state()
        with self._graph_lock.reading():  # searches may go on; writers are held by _write_lock
            self._snapshots.write(
                seq, self._graph.applied_max_label, self._graph.deleted, self._graph.save
            )
        self._docs.prune_tombstones(seq)
        self._pruned_through = seq
        self._unsnapshotted = 0
        release_free_memory()  # what the batches since the last snapshot left (``memory.py``)
        log.info(
            "collection %s: snapshot at seq %d in %.3f s",
            self.name,
            seq,
            time.perf_counter() - started,
        )

    # -- reads --------------------------------------------------------------------------------

    @leased
    def count(self) -> int:
        return self._docs.count()

    @leased
    def get(self, ids: Sequence[str]) -> list[Record]:
        """The records of those ids that exist, in the order asked."""
        return self._docs.get(check_ids(ids))

    @leased
    def scroll(
        self, limit: int = 100, after: str | None = None, where: dict[str, Any] | None = None
    ) -> Page:
        """A page of records in id order; follow ``next_after`` for the next page."""
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

    # -- lifecycle ----------------------------------------------------------------------------

    def close(self, *, snapshot: bool = True, dropped: bool = False) -> None:
        """Refuse new calls, wait for those in flight, snapshot pending changes (so reopening
        is fast) and release files. Later calls raise ``StoreClosedError``, or
        ``CollectionNotFoundError`` when ``dropped``."""
        if dropped:
            error: StoreClosedError | CollectionNotFoundError = CollectionNotFoundError(
                f"collection {self.name!r} does not exist (it was dropped)", param="name"
            )
        else:
            error = StoreClosedError(f"collection {self.name!r} is closed")
        if not self._leases.retire(error):
            return
        with self._write_lock:
            if snapshot and self._unsnapshotted:
                self._snapshot()
            self._docs.close()
