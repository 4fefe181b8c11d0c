"""A data directory holding many collections, owned by one process at a time.

Layout::

    <root>/LOCK                         flock()ed while a Store is open; holds the owner's pid
    <root>/collections/<name>/          one directory per collection
        documents.sqlite3 (+ -wal, -shm)
        snapshots/<seq>/graph.hnsw, meta.json

A collection is created under a temporary name and renamed into place, and dropped by renaming
it away before deleting it, so a crash never leaves half a collection visible.

Concurrency: lookups (``get_collection``, which the service calls on its event loop) take only
``_mutex``, which guards the in-memory registry and is never held across disk I/O: creating,
opening or dropping a collection marks its *name* busy, works on disk without the mutex, then
registers the result. A dropped collection is unreachable at once (lookups raise
``CollectionNotFoundError``) and closed once the calls in flight on it return (``leases.py``);
creating the same name again waits for that.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, TypeVar

import msgspec

from .analysis import Analyzer
from .collection import Collection
from .documents import Documents, now
from .errors import (
    CollectionExistsError,
    CollectionNotFoundError,
    InvalidArgumentError,
    StoreClosedError,
    StoreLockedError,
)
from .schemas import (
    METRICS,
    CollectionInfo,
    HnswParams,
    LexicalSettings,
    Metric,
    PassageSettings,
    SearchDefaults,
)
from .snapshots import fsync_path
from .validation import MAX_COLLECTION_METADATA_DEPTH, check_collection_name, check_nesting

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Snapshot a collection's graph once this many documents changed since the last snapshot (or a
#: fifth of the collection, if more): bounds the replay a crash costs on the next open.
DEFAULT_SNAPSHOT_EVERY = 5_000


@dataclass
class _Busy:
    """A name being created, opened or dropped; ``done`` is set when that finishes."""

    kind: Literal["create", "open", "drop"]
    done: threading.Event = field(default_factory=threading.Event)


class Store:
    """Open (creating if needed) the data directory ``path`` and lock it for this process.

    >>> store = Store("data/")
    >>> docs = store.create_collection("docs", dim=256)
    """

    def __init__(
        self, path: str | os.PathLike[str], *, snapshot_every: int = DEFAULT_SNAPSHOT_EVERY
    ) -> None:
        self.path = Path(path)
        self._snapshot_every = snapshot_every
        self._collections_dir = self.path / "collections"
        self._collections_dir.mkdir(parents=True, exist_ok=True)
        self._lock_file = self._acquire_lock()
        self._sweep_leftovers()
        self._mutex = threading.Lock()  # guards the four fields below; never held across I/O
        self._open: dict[str, Collection] = {}
        self._unopened: set[str] = set(self._names_on_disk())  # opened on first lookup
        self._busy: dict[str, _Busy] = {}
        self._closed = False

    def _acquire_lock(self) -> IO[str]:
        lock_file = open(self.path / "LOCK", "a+")  # held for the Store's lifetime
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.seek(0)
            owner = lock_file.read().strip() or "unknown"
            lock_file.close()
            raise StoreLockedError(
                f"data directory {str(self.path)!r} is in use by another process (pid {owner}); "
                "stop it or choose another directory"
            ) from None
        lock_file.seek(0)
        lock_file.truncate()
        lock_file.write(f"{os.getpid()}\n")
        lock_file.flush()
        return lock_file

    def _sweep_leftovers(self) -> None:
        """Remove half-created or half-dropped collections left by a crash."""
        for entry in self._collections_dir.iterdir():
            if entry.name.startswith("."):
                shutil.rmtree(entry, ignore_errors=True)

    def _names_on_disk(self) -> list[str]:
        return [
            entry.name
            for entry in self._collections_dir.iterdir()
            if not entry.name.startswith(".") and (entry / Documents.FILENAME).is_file()
        ]

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("the store is closed")

    # -- creating -----------------------------------------------------------------------------

    def create_collection(
        self,
        name: str,
        dim: int,
        metric: Metric = "cosine",
        hnsw: HnswParams | None = None,
        metadata: dict[str, Any] | None = None,
        *,
        lexical: LexicalSettings | None = None,
        search: SearchDefaults | None = None,
        passages: PassageSettings | None = None,
    ) -> Collection:
        """Create an empty collection; :class:`CollectionExistsError` if the name is taken.

        ``lexical`` (the analyzer) is fixed for the collection's life; ``search`` (default
        mode and alpha) can change later (:meth:`Collection.configure`). ``passages`` (how
        its caller splits long texts; ``None``, one vector per document) is fixed too. If the
        name is being dropped, this waits for the drop to finish, then creates.
        """
        info = _collection_info(name, dim, metric, hnsw, metadata, lexical, search)
        if passages is not None:
            passages = _convert(passages, PassageSettings, "passages")
            if passages.overlap >= passages.size:
                raise InvalidArgumentError(
                    f"passages.overlap must be less than passages.size ({passages.size})",
                    param="passages.overlap",
                )
            info = msgspec.structs.replace(info, passages=passages)
        busy = self._claim(name, "create")
        try:
            collection = self._create(info)
        except BaseException:
            self._release(name, busy, None)
            raise
        self._release(name, busy, collection)
        return collection

    def _claim(self, name: str, kind: Literal["create", "open"]) -> _Busy:
        """Mark a name that does not exist yet (create) or is not open yet (open) busy."""
        while True:
            with self._mutex:
                self._check_open()
                other = self._busy.get(name)
                if other is None:
                    exists = name in self._open or name in self._unopened
                    if kind == "create" and exists:
                        raise CollectionExistsError(
                            f"collection {name!r} already exists", param="name"
                        )
                    busy = self._busy[name] = _Busy(kind)
                    return busy
            other.done.wait()  # a create, open or drop of this name: see how it ends

    def _release(self, name: str, busy: _Busy, collection: Collection | None) -> None:
        """Register what a create or open produced (nothing if it failed); free the name."""
        with self._mutex:
            del self._busy[name]
            closed = self._closed
            if collection is not None and not closed:
                self._open[name] = collection
        try:
            if collection is not None and closed:  # the store's close() waits for ``done``
                collection.close()
                raise StoreClosedError("the store is closed")
        finally:
            busy.done.set()

    def _create(self, info: CollectionInfo) -> Collection:
        final = self._collections_dir / info.name
        if final.exists():  # not a collection: a stray directory someone made
            raise CollectionExistsError(f"collection {info.name!r} already exists", param="name")
        tmp = self._collections_dir / f".new-{info.name}-{uuid.uuid4().hex}"
        tmp.mkdir()
        try:
            Documents.create(tmp, info).close()
            fsync_path(tmp)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        fsync_path(self._collections_dir)
        return self._load(info.name)

    def _load(self, name: str) -> Collection:
        directory = self._collections_dir / name
        return Collection(directory, Documents(directory), snapshot_every=self._snapshot_every)

    # -- looking up ---------------------------------------------------------------------------

    def get_collection(self, name: str) -> Collection:
        """The open collection ``name``; raises :class:`CollectionNotFoundError`.

        A dictionary lookup once the collection is open; the first lookup of a collection
        that is on disk but not open yet opens it (``list_collections`` opens them all).
        """
        check_collection_name(name)
        while True:
            with self._mutex:
                self._check_open()
                collection = self._open.get(name)
                if collection is not None:
                    return collection
                other = self._busy.get(name)
                if other is None and name in self._unopened:
                    busy = self._busy[name] = _Busy("open")
                    self._unopened.discard(name)
                    break
            if other is None or other.kind != "open":  # unknown, being created or dropped
                raise CollectionNotFoundError(f"collection {name!r} does not exist", param="name")
            other.done.wait()
        try:
            collection = self._load(name)
        except BaseException:
            with self._mutex:
                self._unopened.add(name)
            self._release(name, busy, None)
            raise
        self._release(name, busy, collection)
        return collection

    def list_collections(self) -> list[CollectionInfo]:
        """Every collection's creation parameters, by name (opening those not open yet)."""
        with self._mutex:
            self._check_open()
            names = sorted({*self._open, *self._unopened})
        infos = []
        for name in names:
            try:
                infos.append(self.get_collection(name).info)
            except CollectionNotFoundError:  # dropped meanwhile
                continue
        return infos

    # -- dropping and closing -----------------------------------------------------------------

    def drop_collection(self, name: str) -> None:
        """Delete a collection and its files; raises :class:`CollectionNotFoundError`.

        The collection is unreachable as soon as this starts; it is closed (and its files
        removed) once the calls in flight on it have returned.
        """
        check_collection_name(name)
        while True:
            with self._mutex:
                self._check_open()
                other = self._busy.get(name)
                if other is None:
                    collection = self._open.pop(name, None)
                    if collection is None and name not in self._unopened:
                        raise CollectionNotFoundError(
                            f"collection {name!r} does not exist", param="name"
                        )
                    self._unopened.discard(name)
                    busy = self._busy[name] = _Busy("drop")
                    break
                if other.kind != "open":  # being created or dropped: not there (yet, any more)
                    raise CollectionNotFoundError(
                        f"collection {name!r} does not exist", param="name"
                    )
            other.done.wait()
        graveyard = None
        try:
            graveyard = self._bury(name, collection)
        finally:
            kept = graveyard is None and (self._collections_dir / name).is_dir()
            with self._mutex:
                if kept:  # not dropped after all: reopened on the next lookup
                    self._unopened.add(name)
                del self._busy[name]
                busy.done.set()
        # Gone from view once renamed; deleting gigabytes need not hold anything up. A crash
        # here leaves a dot-directory that the next start sweeps away.
        shutil.rmtree(graveyard, ignore_errors=True)

    def _bury(self, name: str, collection: Collection | None) -> Path:
        """Close (after the calls in flight) and rename the collection's directory away."""
        if collection is not None:
            collection.close(snapshot=False, dropped=True)
        graveyard = self._collections_dir / f".drop-{name}-{uuid.uuid4().hex}"
        os.rename(self._collections_dir / name, graveyard)
        fsync_path(self._collections_dir)
        return graveyard

    def close(self) -> None:
        """Snapshot and close every collection (each after the calls in flight on it), wait
        for creates and drops under way, then release the directory lock."""
        with self._mutex:
            if self._closed:
                return
            self._closed = True
            collections = list(self._open.values())
            self._open.clear()
            pending = list(self._busy.values())
        for collection in collections:
            try:
                collection.close()
            except Exception:
                log.exception("closing collection %s failed", collection.name)
        for busy in pending:
            busy.done.wait()
        fcntl.flock(self._lock_file, fcntl.LOCK_UN)
        self._lock_file.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _collection_info(
    name: str,
    dim: int,
    metric: Metric,
    hnsw: HnswParams | None,
    metadata: dict[str, Any] | None,
    lexical: LexicalSettings | None,
    search: SearchDefaults | None,
) -> CollectionInfo:
    """Check a new collection's parameters whole, before anything touches the disk."""
    check_collection_name(name)
    if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= 65_536:
        raise InvalidArgumentError("dim must be an integer from 1 to 65536", param="dim")
    if metric not in METRICS:
        raise InvalidArgumentError(f"metric must be one of {', '.join(METRICS)}", param="metric")
    hnsw = _convert(hnsw or HnswParams(), HnswParams, "hnsw")
    check_nesting(metadata, MAX_COLLECTION_METADATA_DEPTH, "metadata")
    try:
        metadata = msgspec.json.decode(msgspec.json.encode(metadata or {}), type=dict)
    except (msgspec.ValidationError, msgspec.EncodeError, TypeError) as exc:
        raise InvalidArgumentError(
            f"metadata must be a JSON object: {exc}", param="metadata"
        ) from None
    lexical = _convert(lexical or LexicalSettings(), LexicalSettings, "lexical")
    Analyzer.for_language(lexical.language)  # raises, naming lexical.language, if unknown
    search = _convert(search or SearchDefaults(), SearchDefaults, "search")
    return CollectionInfo(
        name=name,
        dim=dim,
        metric=metric,
        hnsw=hnsw,
        metadata=metadata,
        created_at=now(),
        lexical=lexical,
        search=search,
    )


def _convert(value: T, type_: type[T], param: str) -> T:
    """Struct constructors do not check bounds; a round trip through msgspec does."""
    try:
        return msgspec.convert(msgspec.to_builtins(value), type_)
    except (msgspec.ValidationError, TypeError) as exc:
        raise InvalidArgumentError(f"invalid {param} parameters: {exc}", param=param) from None
