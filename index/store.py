"""A data directory holding many collections, owned by one process at a time.

Layout::

    <root>/LOCK                         flock()ed while a Store is open; holds the owner's pid
    <root>/collections/<name>/          one directory per collection
        documents.sqlite3 (+ -wal, -shm)
        snapshots/<seq>/graph.hnsw, meta.json

A collection is created under a temporary name and renamed into place, and dropped by renaming
it away before deleting it, so a crash never leaves half a collection visible.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import threading
import uuid
from pathlib import Path
from typing import Any, TypeVar

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
    SearchDefaults,
)
from .snapshots import fsync_path
from .validation import check_collection_name

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Snapshot a collection's graph once this many documents changed since the last snapshot (or a
#: fifth of the collection, if more): bounds the replay a crash costs on the next open.
DEFAULT_SNAPSHOT_EVERY = 5_000


def _convert(value: T, type_: type[T], param: str) -> T:
    """Struct constructors do not check bounds; a round trip through msgspec does."""
    try:
        return msgspec.convert(msgspec.to_builtins(value), type_)
    except (msgspec.ValidationError, TypeError) as exc:
        raise InvalidArgumentError(f"invalid {param} parameters: {exc}", param=param) from None


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
        self._mutex = threading.RLock()
        self._open: dict[str, Collection] = {}
        self._closed = False
        self._sweep_leftovers()

    def _acquire_lock(self) -> Any:
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

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("the store is closed")

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
    ) -> Collection:
        """Create an empty collection; :class:`CollectionExistsError` if the name is taken.

        ``lexical`` (the analyzer) is fixed for the collection's life; ``search`` (default
        mode and alpha) can change later (:meth:`Collection.configure`).
        """
        check_collection_name(name)
        if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= 65_536:
            raise InvalidArgumentError("dim must be an integer from 1 to 65536", param="dim")
        if metric not in METRICS:
            raise InvalidArgumentError(
                f"metric must be one of {', '.join(METRICS)}", param="metric"
            )
        hnsw = _convert(hnsw or HnswParams(), HnswParams, "hnsw")
        try:
            metadata = msgspec.json.decode(msgspec.json.encode(metadata or {}), type=dict)
        except (msgspec.ValidationError, msgspec.EncodeError, TypeError) as exc:
            raise InvalidArgumentError(
                f"metadata must be a JSON object: {exc}", param="metadata"
            ) from None
        lexical = _convert(lexical or LexicalSettings(), LexicalSettings, "lexical")
        Analyzer.for_language(lexical.language)  # raises, naming lexical.language, if unknown
        search = _convert(search or SearchDefaults(), SearchDefaults, "search")
        info = CollectionInfo(
            name=name,
            dim=dim,
            metric=metric,
            hnsw=hnsw,
            metadata=metadata,
            created_at=now(),
            lexical=lexical,
            search=search,
        )
        with self._mutex:
            self._check_open()
            final = self._collections_dir / name
            if final.exists():
                raise CollectionExistsError(f"collection {name!r} already exists", param="name")
            tmp = self._collections_dir / f".new-{name}-{uuid.uuid4().hex}"
            tmp.mkdir()
            Documents.create(tmp, info).close()
            fsync_path(tmp)
            os.rename(tmp, final)
            fsync_path(self._collections_dir)
            return self._load(name)

    def get_collection(self, name: str) -> Collection:
        """The open collection ``name``; raises :class:`CollectionNotFoundError`."""
        check_collection_name(name)
        with self._mutex:
            self._check_open()
            collection = self._open.get(name)
            if collection is None:
                if not (self._collections_dir / name / Documents.FILENAME).is_file():
                    raise CollectionNotFoundError(
                        f"collection {name!r} does not exist", param="name"
                    )
                collection = self._load(name)
            return collection

    def _load(self, name: str) -> Collection:
        directory = self._collections_dir / name
        collection = Collection(
            directory, Documents(directory), snapshot_every=self._snapshot_every
        )
        self._open[name] = collection
        return collection

    def list_collections(self) -> list[CollectionInfo]:
        """Every collection's creation parameters, by name."""
        with self._mutex:
            self._check_open()
            names = sorted(
                entry.name
                for entry in self._collections_dir.iterdir()
                if not entry.name.startswith(".") and (entry / Documents.FILENAME).is_file()
            )
            return [self.get_collection(name).info for name in names]

    def drop_collection(self, name: str) -> None:
        """Delete a collection and its files; raises :class:`CollectionNotFoundError`."""
        collection = self.get_collection(name)
        with self._mutex:
            self._open.pop(name, None)
            graveyard = self._collections_dir / f".drop-{name}-{uuid.uuid4().hex}"
            collection.close(snapshot=False)
            os.rename(collection.directory, graveyard)
            fsync_path(self._collections_dir)
        # Gone from view once renamed; deleting gigabytes need not hold up other lookups (the
        # service looks collections up on its event loop). A crash here leaves a dot-directory
        # that the next start sweeps away.
        shutil.rmtree(graveyard, ignore_errors=True)

    def close(self) -> None:
        """Snapshot and close every collection, then release the directory lock."""
        with self._mutex:
            if self._closed:
                return
            self._closed = True
            for collection in self._open.values():
                try:
                    collection.close()
                except Exception:
                    log.exception("closing collection %s failed", collection.name)
            self._open.clear()
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
