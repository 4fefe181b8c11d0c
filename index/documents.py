"""A collection's source of truth: ids, texts, metadata and float32 vectors in one SQLite file.

Connections (one writer, pooled readers, bounded caches) are ``connections.py``'s. Every write
batch gets the next sequence number; each written version of a document gets a fresh, increasing
graph label, and the labels it replaces are recorded as tombstones with the batch's sequence
number, so the HNSW graph can be brought up to date from any snapshot by replaying what came
after it (see ``collection.py``).

Vectors live in their own table keyed by label, so that the rows a query fetches for its hits
(id, text, metadata) stay small and dense.

Passages (issue 12): a document split into P > 1 passages gets P consecutive labels, the first
being the document's own; each has its vector in ``vectors`` and its span in ``passages``. A
document of one passage (a short text, or a collection without passages) has no ``passages``
row at all, so short documents cost exactly what they did before. All of a document's labels
are written, replaced and tombstoned together, in the document's transaction.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import msgspec
import numpy as np

from .analysis import Analyzer
from .connections import CACHEABLE_SQL_LENGTH, Connections, id_chunks, json_list
from .filters import compile_where, field_rows
from .lexical import match_expression
from .schemas import CollectionInfo, Hit, Metadata, Record

_SCHEMA = """
CREATE TABLE IF NOT EXISTS info (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 0),
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS state (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 0),
    seq INTEGER NOT NULL,
    next_label INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    label INTEGER PRIMARY KEY,  -- the rowid: a hit's row is one B-tree seek away
    id TEXT NOT NULL UNIQUE,
    seq INTEGER NOT NULL,
    text TEXT,
    metadata BLOB
);
CREATE INDEX IF NOT EXISTS documents_seq ON documents (seq);
CREATE TABLE IF NOT EXISTS vectors (
    label INTEGER PRIMARY KEY,
    vector BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS tombstones (
    label INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS fields (
    key TEXT NOT NULL,
    kind TEXT NOT NULL,
    value NOT NULL,  -- no type, so no affinity: the text "007" stays text, never the number 7
    label INTEGER NOT NULL,
    PRIMARY KEY (key, kind, value, label)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS fields_label ON fields (label);
"""
#: Files written before the fix above declared ``value ANY``, which in a table that is not
#: STRICT means NUMERIC affinity: a string that looks like a number was stored as that number,
#: so ``{"zip": "07030"}`` also matched ``"7030"``. ``ensure_fields`` rebuilds such a table.
_NUMERIC_FIELDS = "ANY"

#: Only in collections created with passages: files from before have none, and are not changed.
_PASSAGES_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS passages ("
    " label INTEGER PRIMARY KEY,"  # the passage's graph label (its vector's)
    " doc INTEGER NOT NULL,"  # its document's label, which is its first passage's
    " start INTEGER NOT NULL,"
    " end INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS passages_doc ON passages (doc)",
)

#: The lexical index: one row per document with at least one token, rowid = label, holding
#: the analyzer's terms joined by spaces (see ``lexical.py`` for why FTS5 gets pre-analysed
#: text). The name carries the table's version: a new format means a new table, built on open.
LEXICAL_TABLE = "lexical_v1"
_LEXICAL_SCHEMA = f"CREATE VIRTUAL TABLE {LEXICAL_TABLE} USING fts5(terms, tokenize='ascii')"
#: Every distinct word (analysed, before stemming) the collection has indexed: what typo
#: tolerance corrects query words against (``typos.py``). Only grows; collections created before
#: typo tolerance have none and do without it.
_LEXICON_SCHEMA = "CREATE TABLE IF NOT EXISTS lexicon (word TEXT PRIMARY KEY) WITHOUT ROWID"

_encode = msgspec.json.Encoder().encode
_LABELS = "SELECT value FROM json_each(?)"
_NO_LABEL_ABOVE = 2**63 - 1  # SQLite's largest integer  # a JSON list of labels: ``json_list``
_decode_metadata = msgspec.json.Decoder(dict[str, Any]).decode
_info_decoder = msgspec.json.Decoder(CollectionInfo)


class Documents:
    FILENAME = "documents.sqlite3"

    def __init__(self, directory: Path) -> None:
        self.path = directory / self.FILENAME
        self._connections = Connections(self.path)
        self._transaction = self._connections.transaction
        self._reader = self._connections.reader
        with self._reader() as conn:
            found = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'passages'").fetchone()
            #: The file has a passages table (a collection created with passages).
            self.passaged = found is not None
            #: Some document has more than one passage: searches map labels to documents.
            #: Set inside the writing transaction, so before the graph holds any passage label.
            self.split = bool(
                self.passaged and conn.execute("SELECT 1 FROM passages LIMIT 1").fetchone()
            )

    @classmethod
    def create(cls, directory: Path, info: CollectionInfo) -> Documents:
        docs = cls(directory)
        with docs._transaction() as conn:  # executescript() would commit mid-way
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(_LEXICAL_SCHEMA)
            if not info.legacy:
                conn.execute(_LEXICON_SCHEMA)
            if info.passages is not None:
                for statement in _PASSAGES_SCHEMA:
                    conn.execute(statement)
                docs.passaged = True
            conn.execute("INSERT INTO info VALUES (0, ?)", (_encode(info),))
            conn.execute("INSERT INTO state VALUES (0, 0, 0)")
        return docs

    def info(self) -> CollectionInfo:
        with self._reader() as conn:
            (body,) = conn.execute("SELECT body FROM info").fetchone()
        return _info_decoder.decode(body)

    def set_info(self, info: CollectionInfo) -> None:
        """Replace the stored settings (the changeable ones: search defaults, ``ef_search``)."""
        with self._transaction() as conn:
            conn.execute("UPDATE info SET body = ?", (_encode(info),))

    def close(self) -> None:
        self._connections.close()

    # -- writes (one writer at a time) --------------------------------------------------------

    def upsert(
        self,
        ids: list[str],
        vectors: np.ndarray,
        texts: list[str | None],
        metadatas: list[Metadata | None],
        terms: list[str],
        words: Sequence[str] = (),
        spans: Sequence[Sequence[tuple[int, int]] | None] | None = None,
    ) -> Written:
        """Write a batch in one transaction.

        ``vectors`` holds every passage's vector, documents in order: one row for a document
        whose ``spans`` entry is ``None`` (one passage, the document), ``len(spans[i])`` rows
        for one split into passages. ``terms`` are the texts' analysed terms joined by spaces,
        indexed in the same transaction; ``words`` the batch's distinct words, added to the
        lexicon if it has one.
        """
        counts = [1 if s is None else len(s) for s in (spans or [None] * len(ids))]
        with self._transaction() as conn:
            seq, first = conn.execute("SELECT seq + 1, next_label FROM state").fetchone()
            starts = first + np.concatenate([[0], np.cumsum(counts[:-1], dtype=np.int64)])
            labels = starts.astype(np.uint64)
            graph_labels = np.arange(first, first + sum(counts), dtype=np.uint64)
            replaced = self._labels_of(conn, ids)
            replaced_all = self._forget(conn, replaced, seq)
            plain = labels.tolist()
            conn.executemany(
                "INSERT OR REPLACE INTO documents VALUES (?, ?, ?, ?, ?)",
                (
                    (label, id_, seq, text, None if meta is None else _encode(meta))
                    for id_, label, text, meta in zip(ids, plain, texts, metadatas, strict=True)
                ),
            )
            conn.executemany(
                "INSERT INTO vectors VALUES (?, ?)",
                zip(graph_labels.tolist(), (vector.tobytes() for vector in vectors), strict=True),
            )
            if spans is not None and any(s is not None for s in spans):
                conn.executemany(
                    "INSERT INTO passages VALUES (?, ?, ?, ?)",
                    (
                        (label + j, label, start, end)
                        for label, doc_spans in zip(plain, spans, strict=True)
                        if doc_spans is not None
                        for j, (start, end) in enumerate(doc_spans)
                    ),
                )
                self.split = True
            conn.executemany(
                "INSERT INTO fields VALUES (?, ?, ?, ?)",
                (
                    (key, kind, value, label)
                    for label, meta in zip(plain, metadatas, strict=True)
                    for key, kind, value in field_rows(meta)
                ),
            )
            conn.executemany(
                f"INSERT INTO {LEXICAL_TABLE} (rowid, terms) VALUES (?, ?)",
                ((label, t) for label, t in zip(plain, terms, strict=True) if t),
            )
            if words:
                conn.executemany(
                    "INSERT OR IGNORE INTO lexicon VALUES (?)", ((word,) for word in words)
                )
            next_label = first + len(graph_labels)
            conn.execute("UPDATE state SET seq = ?, next_label = ?", (seq, next_label))
        return Written(labels, graph_labels, replaced, replaced_all)

    def delete(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Delete documents by label in one transaction; return the labels of those that
        existed and every graph label they had (their passages')."""
        none = np.empty(0, np.uint64)
        if not len(labels):
            return none, none
        with self._transaction() as conn:
            (seq,) = conn.execute("SELECT seq + 1 FROM state").fetchone()
            rows = conn.execute(
                f"SELECT label FROM documents WHERE label IN ({_LABELS})", (json_list(labels),)
            )
            existing = np.asarray([label for (label,) in rows], dtype=np.uint64)
            if not len(existing):
                return none, none
            removed = self._forget(conn, existing, seq)
            gone = (json_list(existing),)
            conn.execute(f"DELETE FROM documents WHERE label IN ({_LABELS})", gone)
            conn.execute("UPDATE state SET seq = ?", (seq,))
        return existing, removed

    def ensure_lexical(self, analyzer: Analyzer) -> bool:
        """Create and fill the lexical table if this file predates it; True if it did."""
        with self._reader() as conn:
            exists = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE name = ?", (LEXICAL_TABLE,)
            ).fetchone()
        if exists:
            return False
        with self._transaction() as conn:
            conn.execute(_LEXICAL_SCHEMA)
            rows = conn.execute("SELECT label, text FROM documents WHERE text IS NOT NULL")
            conn.executemany(
                f"INSERT INTO {LEXICAL_TABLE} (rowid, terms) VALUES (?, ?)",
                ((label, t) for label, text in rows for t in [analyzer.terms_text(text)] if t),
            )
        return True

    def ensure_fields(self) -> bool:
        """Rebuild the metadata index from the documents' metadata if this file stored it with
        numeric affinity (``_NUMERIC_FIELDS``); True if it did. One transaction: a crash leaves
        the old table, and the next open rebuilds again."""
        with self._reader() as conn:
            columns = {
                name: kind for _, name, kind, *_ in conn.execute("PRAGMA table_info(fields)")
            }
        if columns.get("value", "").upper() != _NUMERIC_FIELDS:
            return False
        with self._transaction() as conn:
            conn.execute("DROP TABLE fields")
            for statement in _SCHEMA.split(";"):
                if "fields" in statement:
                    conn.execute(statement)
            rows = conn.execute("SELECT label, metadata FROM documents WHERE metadata IS NOT NULL")
            conn.executemany(
                "INSERT INTO fields VALUES (?, ?, ?, ?)",
                (
                    (key, kind, value, label)
                    for label, body in rows
                    for key, kind, value in field_rows(_decode_metadata(body))
                ),
            )
        return True

    def compact(self) -> None:
        """Give free pages back to the file system (``compaction.py``): merge the lexical
        index's segments, rewrite the file without free pages, empty the write-ahead log.
        The caller holds writes; readers go on (WAL)."""
        conn = self._connections.writer
        conn.execute(f"INSERT INTO {LEXICAL_TABLE}({LEXICAL_TABLE}) VALUES ('optimize')")
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def prune_tombstones(self, upto_seq: int) -> None:
        """Tombstones a durable snapshot already covers are no longer needed for replay."""
        with self._transaction() as conn:
            conn.execute("DELETE FROM tombstones WHERE seq <= ?", (upto_seq,))

    @staticmethod
    def _labels_of(conn: sqlite3.Connection, ids: list[str]) -> np.ndarray:
        labels: list[int] = []
        for marks, chunk in id_chunks(ids):
            rows = conn.execute(f"SELECT label FROM documents WHERE id IN ({marks})", chunk)
            labels.extend(label for (label,) in rows)
        return np.asarray(labels, dtype=np.uint64)

    def _forget(self, conn: sqlite3.Connection, labels: np.ndarray, seq: int) -> np.ndarray:
        """Tombstone old documents' labels (all their passages') and drop their vectors,
        passages and metadata rows; return every graph label tombstoned.

        Their ``documents`` rows are replaced or deleted by the caller.
        """
        if not len(labels):
            return labels
        plain = labels.tolist()
        if self.split:
            listed_docs = (json_list(plain),)
            rows = conn.execute(
                f"SELECT label FROM passages WHERE doc IN ({_LABELS}) AND label != doc",
                listed_docs,
            )
            plain.extend(label for (label,) in rows)
            conn.execute(f"DELETE FROM passages WHERE doc IN ({_LABELS})", listed_docs)
        conn.executemany(
            "INSERT OR REPLACE INTO tombstones VALUES (?, ?)", ((label, seq) for label in plain)
        )
        listed = (json_list(plain),)
        conn.execute(f"DELETE FROM fields WHERE label IN ({_LABELS})", listed)
        conn.execute(f"DELETE FROM vectors WHERE label IN ({_LABELS})", listed)
        conn.execute(f"DELETE FROM {LEXICAL_TABLE} WHERE rowid IN ({_LABELS})", listed)
        return np.asarray(plain, dtype=np.uint64)

    # -- reads ---------------------------------------------------------------------------------

    def state(self) -> tuple[int, int]:
        """``(seq, next_label)``: the last committed batch and the next label to allocate."""
        with self._reader() as conn:
            seq, next_label = conn.execute("SELECT seq, next_label FROM state").fetchone()
            return int(seq), int(next_label)

    def count(self) -> int:
        with self._reader() as conn:
            return int(conn.execute("SELECT count(*) FROM documents").fetchone()[0])

    def live_labels(self) -> np.ndarray:
        with self._reader() as conn:
            rows = conn.execute("SELECT label FROM documents").fetchall()
        return np.fromiter((label for (label,) in rows), dtype=np.int64, count=len(rows))

    def field_rows(self) -> list[tuple[str, str, object, int]]:
        """Every ``(key, kind, value, label)`` of the ``fields`` table in primary-key order
        (``field_index.py``)."""
        with self._reader() as conn:
            return conn.execute(
                "SELECT key, kind, value, label FROM fields ORDER BY key, kind, value, label"
            ).fetchall()

    def labels_for_ids(self, ids: list[str]) -> np.ndarray:
        with self._reader() as conn:
            return self._labels_of(conn, ids)

    def matching_labels(
        self, where: dict[str, Any] | None, upto_label: int | None = None
    ) -> np.ndarray:
        """Labels of live documents matching ``where`` (all when ``None``), optionally capped."""
        sql, params = compile_where(where) if where else ("SELECT label FROM documents", [])
        cached = len(sql) <= CACHEABLE_SQL_LENGTH
        if upto_label is not None:
            sql = f"SELECT label FROM ({sql}) WHERE label <= ?"
            params = [*params, upto_label]
        with self._reader(cached=cached) as conn:
            rows = conn.execute(sql, params).fetchall()
        return np.fromiter((label for (label,) in rows), dtype=np.uint64, count=len(rows))

    def by_labels(self, labels: Sequence[int]) -> dict[int, Hit]:
        """``label -> Hit`` with id, text and metadata (no score yet) for labels that exist."""
        found: dict[int, Hit] = {}
        sql = f"SELECT label, id, text, metadata FROM documents WHERE label IN ({_LABELS})"
        with self._reader() as conn:
            for label, id_, text, meta in conn.execute(sql, (json_list(labels),)):
                metadata = None if meta is None else _decode_metadata(meta)
                found[label] = Hit(id=id_, score=0.0, distance=0.0, text=text, metadata=metadata)
        return found

    def vectors_of(self, labels: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """``(labels, vectors)`` of those ``labels`` still stored, in the order asked.

        A label names one written version of a document and is never reused, and each vector
        is read with its own label from the same row: so a document deleted or replaced since
        the caller read its label is simply left out, and every vector returned belongs to the
        label beside it (issue 10: assuming all still existed failed queries with ``KeyError``).
        """
        plain = labels.tolist()
        position = {label: i for i, label in enumerate(plain)}
        vectors = np.empty((len(plain), dim), np.float32)
        found = np.zeros(len(plain), bool)
        sql = f"SELECT label, vector FROM vectors WHERE label IN ({_LABELS})"
        with self._reader() as conn:
            for label, blob in conn.execute(sql, (json_list(plain),)):
                i = position[label]
                vectors[i] = np.frombuffer(blob, np.float32)
                found[i] = True
        if found.all():
            return labels, vectors
        return labels[found], vectors[found]

    def get(self, ids: list[str]) -> list[Record]:
        """Records for the ids that exist, in the order asked."""
        found: dict[str, Record] = {}
        with self._reader() as conn:
            for marks, chunk in id_chunks(ids):
                for row in conn.execute(f"{_RECORDS} WHERE d.id IN ({marks})", chunk):
                    found[row[0]] = _record(row)
        return [found[id_] for id_ in ids if id_ in found]

    def scroll(self, limit: int, after: str | None, where: dict[str, Any] | None) -> list[Record]:
        """Up to ``limit`` records ordered by id, strictly after ``after``."""
        sql = _RECORDS + " WHERE d.id > ?"
        params: list[object] = [after if after is not None else ""]
        cached = True
        if where:
            filter_sql, filter_params = compile_where(where)
            cached = len(filter_sql) <= CACHEABLE_SQL_LENGTH
            sql += f" AND d.label IN ({filter_sql})"
            params.extend(filter_params)
        sql += " ORDER BY d.id LIMIT ?"
        params.append(limit)
        with self._reader(cached=cached) as conn:
            return [_record(row) for row in conn.execute(sql, params)]

    def changes_after(
        self, seq: int, batch: int = 4096, *, before_label: int | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(labels, vectors)`` of the live graph labels (documents' and their passages')
        written after ``seq``, in label order; only labels below ``before_label`` if given.

        Labels only grow, batch after batch, and a document's passages follow its own label;
        so what was written after ``seq`` is every stored vector from the smallest label of a
        live document written after it.
        """
        with self._reader() as conn:
            (first,) = conn.execute(
                "SELECT min(label) FROM documents WHERE seq > ?", (seq,)
            ).fetchone()
            if first is None:
                return
            last = first - 1
            while True:
                rows = conn.execute(
                    "SELECT label, vector FROM vectors WHERE label > ? AND label < ?"
                    " ORDER BY label LIMIT ?",
                    (last, _NO_LABEL_ABOVE if before_label is None else before_label, batch),
                ).fetchall()
                if not rows:
                    return
                labels = np.fromiter((r[0] for r in rows), dtype=np.uint64, count=len(rows))
                vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
                yield labels, vectors.reshape(len(rows), -1)
                last = rows[-1][0]

    def vector_count(self) -> int:
        """Graph labels stored: documents, plus passages beyond each document's first."""
        with self._reader() as conn:
            return int(conn.execute("SELECT count(*) FROM vectors").fetchone()[0])

    def owners(self, labels: np.ndarray) -> np.ndarray:
        """The document label of each graph label (a label not a passage's is a document's)."""
        if not self.split or not len(labels):
            return labels
        plain = labels.tolist()
        sql = f"SELECT label, doc FROM passages WHERE label IN ({_LABELS}) AND label != doc"
        with self._reader() as conn:
            owner = dict(conn.execute(sql, (json_list(sorted(set(plain))),)).fetchall())
        if not owner:
            return labels
        return np.fromiter((owner.get(x, x) for x in plain), labels.dtype, len(plain))

    def passage_labels(self, labels: np.ndarray) -> np.ndarray:
        """Every graph label of these documents: their own and their passages'."""
        if not self.split or not len(labels):
            return labels
        sql = f"SELECT label FROM passages WHERE doc IN ({_LABELS}) AND label != doc"
        with self._reader() as conn:
            rows = conn.execute(sql, (json_list(labels),)).fetchall()
        extra = np.fromiter((label for (label,) in rows), labels.dtype, len(rows))
        return np.concatenate([labels, extra]) if len(extra) else labels

    def expand(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(graph labels, owners)``: every graph label of these documents (their own and
        their passages', those still stored) and each one's document label."""
        if not self.split or not len(labels):
            return labels, labels
        sql = f"SELECT label, doc FROM passages WHERE doc IN ({_LABELS}) AND label != doc"
        with self._reader() as conn:
            rows = conn.execute(sql, (json_list(labels),)).fetchall()
        if not rows:
            return labels, labels
        extra = np.asarray(rows, dtype=labels.dtype).reshape(len(rows), 2)
        return np.concatenate([labels, extra[:, 0]]), np.concatenate([labels, extra[:, 1]])

    def passage_vectors(self, labels: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """``(owners, vectors)``: the vectors of every passage of these documents (of those
        still stored), each with its document's label."""
        if not self.split:
            return self.vectors_of(labels, dim)
        every = self.passage_labels(labels)
        found, vectors = self.vectors_of(every, dim)
        return self.owners(found), vectors

    def texts_of(self, ids: list[str]) -> dict[str, tuple[int, str | None]]:
        """``id -> (label, text)`` for the ids that exist."""
        found: dict[str, tuple[int, str | None]] = {}
        with self._reader() as conn:
            for marks, chunk in id_chunks(ids):
                sql = f"SELECT id, label, text FROM documents WHERE id IN ({marks})"
                for id_, label, text in conn.execute(sql, chunk):
                    found[id_] = (label, text)
        return found

    def spans_of(self, labels: Sequence[int]) -> dict[int, list[tuple[int, int, int]]]:
        """``document label -> [(graph label, start, end)]`` for documents split into
        passages; a document missing from the answer is one passage, its whole text."""
        if not self.split or not labels:
            return {}
        found: dict[int, list[tuple[int, int, int]]] = {}
        sql = f"SELECT doc, label, start, end FROM passages WHERE doc IN ({_LABELS}) ORDER BY label"
        with self._reader() as conn:
            for doc, label, start, end in conn.execute(sql, (json_list(labels),)):
                found.setdefault(doc, []).append((label, start, end))
        return found

    @contextmanager
    def lexical_snapshot(self, batch: int = 8192) -> Iterator[Iterator[list[tuple[int, str]]]]:
        """Every ``(label, terms)`` of the lexical table as of entering, in label order, in
        batches: one read transaction, begun on entry, so writes committed later are not in it
        however long the caller takes to read."""
        with self._reader() as conn:
            conn.execute("BEGIN")
            try:
                conn.execute("SELECT seq FROM state").fetchall()  # the snapshot is taken here
                yield self._lexical_batches(conn, batch)
            finally:
                conn.execute("COMMIT")

    @staticmethod
    def _lexical_batches(conn: sqlite3.Connection, batch: int) -> Iterator[list[tuple[int, str]]]:
        last = -1
        while True:
            rows = conn.execute(
                f"SELECT rowid, terms FROM {LEXICAL_TABLE} WHERE rowid > ? ORDER BY rowid LIMIT ?",
                (last, batch),
            ).fetchall()
            if not rows:
                return
            yield rows
            last = rows[-1][0]

    def lexical_search(
        self,
        terms: Sequence[str],
        limit: int,
        where: dict[str, Any] | None = None,
        labels: Sequence[int] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """FTS5's own BM25 top ``limit`` ``(labels, scores)`` among documents matching
        ``where`` (and among ``labels`` when given): the path used before the in-memory
        accelerator is ready. Scores are ``-bm25()``, higher is better."""
        if not terms:
            return np.zeros(0, np.int64), np.zeros(0, np.float64)
        sql = (
            f"SELECT rowid, -bm25({LEXICAL_TABLE}) FROM {LEXICAL_TABLE} "
            f"WHERE {LEXICAL_TABLE} MATCH ?"
        )
        params: list[object] = [match_expression(terms)]
        cached = True
        if where:
            filter_sql, filter_params = compile_where(where)
            cached = len(filter_sql) <= CACHEABLE_SQL_LENGTH
            sql += f" AND rowid IN ({filter_sql})"
            params.extend(filter_params)
        if labels is not None:
            sql += f" AND rowid IN ({_LABELS})"
            params.append(json_list(labels))
        sql += f" ORDER BY bm25({LEXICAL_TABLE}), rowid LIMIT ?"
        params.append(limit)
        with self._reader(cached=cached) as conn:
            rows = conn.execute(sql, params).fetchall()
        return (
            np.fromiter((r[0] for r in rows), np.int64, len(rows)),
            np.fromiter((r[1] for r in rows), np.float64, len(rows)),
        )

    def lexicon(self) -> list[str] | None:
        """Every word of the lexicon; ``None`` for a collection without one (legacy)."""
        with self._reader() as conn:
            try:
                return [word for (word,) in conn.execute("SELECT word FROM lexicon")]
            except sqlite3.OperationalError:  # "no such table": created before typo tolerance
                return None

    def tombstones_after(self, seq: int) -> np.ndarray:
        with self._reader() as conn:
            rows = conn.execute("SELECT label FROM tombstones WHERE seq > ?", (seq,)).fetchall()
        return np.fromiter((label for (label,) in rows), dtype=np.uint64, count=len(rows))


class Written(NamedTuple):
    """What :meth:`Documents.upsert` wrote: the documents' labels, every graph label (in the
    order of the vectors given), and what it replaced, as documents and as graph labels."""

    labels: np.ndarray
    graph_labels: np.ndarray
    replaced: np.ndarray
    replaced_graph: np.ndarray


_RECORDS = "SELECT d.id, d.text, d.metadata, v.vector FROM documents d JOIN vectors v USING (label)"


def _record(row: tuple[str, str | None, bytes | None, bytes]) -> Record:
    id_, text, meta, vector = row
    return Record(
        id=id_,
        text=text,
        metadata=None if meta is None else _decode_metadata(meta),
        vector=np.frombuffer(vector, dtype=np.float32).copy(),
    )


def now() -> int:
    return int(time.time())
