"""The shard actor: one collection's share of documents in an ordinary ``index.Store``.

Ray runs it (``runtime.py``) pinned to one node, with restarts: a restarted shard opens the
same data directory on the same node and so finds every write it acknowledged (SQLite commits
before a write returns). This module does not import Ray; the actor is this plain class.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import index

#: The collection methods the front door may call through :meth:`Shard.call`.
METHODS = frozenset(
    {
        "upsert",
        "delete",
        "get",
        "scroll",
        "count",
        "query",
        "query_words",
        "lexical_prepare",
        "corpus_stats",
        "search_terms",
        "hybrid_parts",
        "configure",
        "compact",
        "lexical_ready",
        "passages",
    }
)


class Shard:
    """Shard ``number`` of collection ``collection``, stored under ``root`` on this node."""

    def __init__(self, root: str, collection: str, number: int) -> None:
        self.root = Path(root)
        self.collection = collection
        self.number = number
        self._store = index.Store(self.root)
        # Open now, replaying any crash's tail, rather than on the first request.
        self._store.list_collections()

    def ping(self) -> int:
        """The actor's process id (tests kill it); answering at all means it is up."""
        return os.getpid()

    def create(self, options: dict[str, Any]) -> index.CollectionInfo:
        """Create this shard's collection, or return it if a retried create already did."""
        try:
            return self._store.create_collection(self.collection, **options).info
        except index.CollectionExistsError:
            return self._store.get_collection(self.collection).info

    def info(self) -> index.CollectionInfo:
        return self._store.get_collection(self.collection).info

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Run one of :data:`METHODS` of the shard's collection."""
        if method not in METHODS:
            raise index.InvalidArgumentError(f"a shard has no method {method!r}")
        return getattr(self._store.get_collection(self.collection), method)(*args, **kwargs)

    def drop(self) -> None:
        """Delete the collection's data on this node, then release the directory."""
        try:
            self._store.drop_collection(self.collection)
        except index.CollectionNotFoundError:
            pass
        self._store.close()
