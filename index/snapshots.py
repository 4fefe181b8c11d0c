"""Durable snapshots of a collection's HNSW graph.

A snapshot is a directory ``snapshots/<seq>/`` holding ``graph.hnsw`` and ``meta.json``
(the sequence number it covers, a CRC32 and size of the graph file, and counters the graph
file does not carry). It is written under a temporary name, fsynced, then renamed into place,
so a crash leaves either the old snapshot or the new one, never half of one. Only the newest
valid snapshot is kept.
"""

from __future__ import annotations

import logging
import os
import shutil
import zlib
from collections.abc import Callable
from pathlib import Path

import msgspec

log = logging.getLogger(__name__)

_GRAPH = "graph.hnsw"
_META = "meta.json"
_CHUNK = 8 << 20


class SnapshotMeta(msgspec.Struct, kw_only=True, frozen=True):
    seq: int  # every batch up to and including this one is in the graph
    max_label: int
    deleted: int
    size: int
    crc32: int
    format: int = 1


class Snapshot(msgspec.Struct, frozen=True):
    graph_path: Path
    meta: SnapshotMeta


def _crc32(path: Path) -> int:
    crc = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            crc = zlib.crc32(chunk, crc)
    return crc


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SnapshotDir:
    def __init__(self, root: Path) -> None:
        self.root = root

    def latest(self) -> Snapshot | None:
        """The newest snapshot whose files are intact, or ``None`` (the caller rebuilds)."""
        if not self.root.is_dir():
            return None
        for entry in sorted(self.root.iterdir(), reverse=True):
            if entry.name.startswith("."):
                continue
            snapshot = self._verify(entry)
            if snapshot is not None:
                return snapshot
        return None

    def _verify(self, directory: Path) -> Snapshot | None:
        graph_path = directory / _GRAPH
        try:
            meta = msgspec.json.decode((directory / _META).read_bytes(), type=SnapshotMeta)
            size = graph_path.stat().st_size
        except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.warning("ignoring unreadable snapshot %s: %s", directory, exc)
            return None
        if size != meta.size or _crc32(graph_path) != meta.crc32:
            log.warning("ignoring corrupt snapshot %s (size or checksum mismatch)", directory)
            return None
        return Snapshot(graph_path, meta)

    def write(
        self, seq: int, max_label: int, deleted: int, save_graph: Callable[[str], None]
    ) -> None:
        """Write a snapshot via ``save_graph(path)``, make it durable, then drop older ones."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".tmp-{seq:020d}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        graph_path = tmp / _GRAPH
        save_graph(str(graph_path))
        fsync_path(graph_path)
        meta = SnapshotMeta(
            seq=seq,
            max_label=max_label,
            deleted=deleted,
            size=graph_path.stat().st_size,
            crc32=_crc32(graph_path),
        )
        with open(tmp / _META, "wb") as f:
            f.write(msgspec.json.encode(meta))
            f.flush()
            os.fsync(f.fileno())
        fsync_path(tmp)
        final = self.root / f"{seq:020d}"
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        fsync_path(self.root)
        for entry in self.root.iterdir():
            if entry != final:
                shutil.rmtree(entry, ignore_errors=True)
