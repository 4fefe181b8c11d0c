"""``FileStore``: uploaded files in the data dir, metadata in SQLite, content as plain files.

Usage::

    store = FileStore.open(settings.data_dir / "files")
    info = store.commit(tmp_path, filename="train.jsonl", purpose="fine-tune", size=n)
    page, has_more = store.list_page(purpose=None, limit=20, after=None, order="desc")
    store.delete(info.id)

A file becomes visible atomically: its content is written to ``tmp/``, fsynced, renamed into
``content/``, and only then is its row inserted. Opening the store removes leftovers of uploads
cut short by a crash (temporary files, content without a row). Methods are thread-safe and
blocking; async callers use ``await store.run(fn, ...)`` (``SqliteWorker.run``): a listing reads
on its own connection while another request's upload is fsynced and committed.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from service.errors import NotFoundError
from service.files.schemas import OpenAIFile
from service.sqlite_worker import Page, Row, SqliteWorker

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    bytes INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    filename TEXT NOT NULL,
    purpose TEXT NOT NULL,
    expires_at INTEGER
);
CREATE INDEX IF NOT EXISTS files_purpose ON files (purpose, seq);
"""
_COLUMNS = "id, bytes, created_at, filename, purpose, expires_at"


def new_file_id() -> str:
    return "file-" + secrets.token_hex(12)


def _row(row: Row) -> OpenAIFile:
    return OpenAIFile(
        id=row[0],
        bytes=row[1],
        created_at=row[2],
        filename=row[3],
        purpose=row[4],
        expires_at=row[5],
    )


class FileStore:
    """Files of the Files API, their rows in one ``SqliteWorker``."""

    def __init__(self, root: Path, db: SqliteWorker) -> None:
        self.root = root
        self.content_dir = root / "content"
        self.tmp_dir = root / "tmp"
        self._db = db

    @classmethod
    def open(cls, root: Path) -> FileStore:
        for folder in (root, root / "content", root / "tmp"):
            folder.mkdir(parents=True, exist_ok=True)
        db = SqliteWorker.open(root / "files.sqlite3", schema=_SCHEMA, name="file-store")
        store = cls(root, db)
        store._sweep()
        return store

    def _sweep(self) -> None:
        """Drop what a crash left behind: partial uploads and content nobody references."""
        for leftover in self.tmp_dir.iterdir():
            leftover.unlink(missing_ok=True)
        known = {row[0] for row in self._db.fetchall("SELECT id FROM files")}
        for path in self.content_dir.iterdir():
            if path.name not in known:
                path.unlink(missing_ok=True)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._db.run(fn, *args)

    def temp_path(self) -> Path:
        return self.tmp_dir / f"upload-{secrets.token_hex(8)}.part"

    def path(self, file_id: str) -> Path:
        return self.content_dir / file_id

    def commit(
        self,
        tmp: Path,
        *,
        filename: str,
        purpose: str,
        size: int,
        expires_after: int | None = None,
    ) -> OpenAIFile:
        """Move a finished upload (already fsynced) into place and record it."""
        file_id = new_file_id()
        created = int(time.time())
        expires_at = created + expires_after if expires_after is not None else None
        os.replace(tmp, self.path(file_id))
        _fsync_dir(self.content_dir)  # on the caller's thread: the writer only inserts the row
        self._db.execute(
            f"INSERT INTO files ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
            (file_id, size, created, filename, purpose, expires_at),
        )
        return OpenAIFile(
            id=file_id,
            bytes=size,
            created_at=created,
            filename=filename,
            purpose=purpose,
            expires_at=expires_at,
        )

    def write(self, content: bytes, *, filename: str, purpose: str) -> OpenAIFile:
        """Store bytes semsearch produced itself (a job's result CSV)."""
        tmp = self.temp_path()
        with tmp.open("wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        return self.commit(tmp, filename=filename, purpose=purpose, size=len(content))

    def adopt(
        self,
        source: Path,
        *,
        file_id: str,
        filename: str,
        purpose: str,
        expires_after: int | None = None,
    ) -> OpenAIFile:
        """Make ``source`` (a finished, fsynced file semsearch wrote: a batch's output) the file
        ``file_id``, then remove ``source``. Idempotent, for a caller that crashed half-way: the
        content is hard-linked (copied where links are not possible) before the row goes in, so
        a crash leaves either ``source`` to adopt again (the next start sweeps the unreferenced
        link) or the file already there."""
        row = self._db.fetchone(f"SELECT {_COLUMNS} FROM files WHERE id = ?", (file_id,))
        if row is None:
            target = self.path(file_id)
            target.unlink(missing_ok=True)
            try:
                os.link(source, target)
            except OSError:  # a filesystem without hard links
                shutil.copyfile(source, target)
                with target.open("rb") as copied:
                    os.fsync(copied.fileno())
            _fsync_dir(self.content_dir)
            created = int(time.time())
            expires_at = created + expires_after if expires_after is not None else None
            row = (file_id, target.stat().st_size, created, filename, purpose, expires_at)
            self._db.execute(f"INSERT INTO files ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)", row)
        source.unlink(missing_ok=True)
        return _row(row)

    def get(self, file_id: str) -> OpenAIFile:
        """The file's metadata; ``NotFoundError`` (404) when unknown, deleted or expired."""
        self._expire()
        row = self._db.fetchone(f"SELECT {_COLUMNS} FROM files WHERE id = ?", (file_id,))
        if row is None:
            raise NotFoundError(f"No such File object: {file_id}", param="file_id")
        return _row(row)

    def list_page(
        self, *, purpose: str | None, limit: int, after: str | None, order: str
    ) -> Page[OpenAIFile]:
        """A page in ``created_at`` order (ties by upload order) and whether more follow."""
        self._expire()
        return self._db.page(
            "files",
            columns=_COLUMNS,
            after=after,
            limit=limit,
            unknown="No such File object: {after}",
            decode=_row,
            order="desc" if order == "desc" else "asc",
            where={"purpose": purpose} if purpose is not None else None,
        )

    def delete(self, file_id: str) -> None:
        """Forget the row first, then the bytes: a crash in between leaves an orphan the next
        start sweeps, never a row without content."""
        if self._db.execute("DELETE FROM files WHERE id = ?", (file_id,)) == 0:
            raise NotFoundError(f"No such File object: {file_id}", param="file_id")
        self.path(file_id).unlink(missing_ok=True)

    def _expire(self) -> None:
        """Files whose ``expires_after`` passed are deleted lazily, when next looked at; the
        check is a read, so only an actual expiry queues for the writer."""
        now = int(time.time())
        expired = "SELECT id FROM files WHERE expires_at IS NOT NULL AND expires_at <= ?"
        if not self._db.fetchall(expired, (now,)):
            return

        def delete_expired(conn: sqlite3.Connection) -> list[str]:
            gone = [row[0] for row in conn.execute(expired, (now,))]
            conn.executemany("DELETE FROM files WHERE id = ?", [(g,) for g in gone])
            return gone

        for file_id in self._db.write(delete_expired):
            self.path(file_id).unlink(missing_ok=True)

    def close(self) -> None:
        self._db.close()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
