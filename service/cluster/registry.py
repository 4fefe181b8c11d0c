"""Which collections are sharded and where their shards live, in ``<data_dir>/cluster.json``.

The front door writes it (atomically: a temporary file renamed into place) when a sharded
collection is created or dropped, and reads it at start-up to bring the shard actors back. A
shard's place is a custom resource of its node (``semsearch_node_*``, stable across cluster
restarts) or else the node's id (stable while the node runs).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import msgspec


class Placement(msgspec.Struct, frozen=True, kw_only=True):
    """Where a shard runs: a node's custom resource, else its node id."""

    resource: str | None = None
    node_id: str | None = None


class ShardedEntry(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    placements: list[Placement]

    @property
    def shards(self) -> int:
        return len(self.placements)


class Registry:
    FILENAME = "cluster.json"

    def __init__(self, data_dir: Path) -> None:
        self._path = data_dir / self.FILENAME
        self._lock = threading.Lock()
        self._entries: dict[str, ShardedEntry] = {}
        if self._path.exists():
            entries = msgspec.json.decode(self._path.read_bytes(), type=list[ShardedEntry])
            self._entries = {entry.name: entry for entry in entries}

    def entries(self) -> list[ShardedEntry]:
        with self._lock:
            return sorted(self._entries.values(), key=lambda e: e.name)

    def get(self, name: str) -> ShardedEntry | None:
        with self._lock:
            return self._entries.get(name)

    def add(self, entry: ShardedEntry) -> None:
        with self._lock:
            self._entries[entry.name] = entry
            self._save()

    def remove(self, name: str) -> None:
        with self._lock:
            self._entries.pop(name, None)
            self._save()

    def _save(self) -> None:
        tmp = self._path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(msgspec.json.encode(sorted(self._entries.values(), key=lambda e: e.name)))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self._path)
