"""Documents to ingest, read from JSONL (BEIR ``corpus.jsonl`` included), CSV, one text file
or a directory of text files.

Every reader yields ``{"id", "text", "metadata"}`` dicts. BEIR's convention is kept: a
document's text is ``title + " " + text``, and its title is also kept in its metadata.
Documents whose text is empty are yielded with ``text == ""`` for the caller to skip and count.
Files are UTF-8, with or without the byte-order mark spreadsheets write.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

TEXT_SUFFIXES = (".txt", ".md")


class SourceError(ValueError):
    """The input file cannot be read as documents; the message names the line or row."""


def read_documents(path: Path) -> Iterator[dict[str, Any]]:
    if path.is_dir():
        return _directory(path)
    if path.suffix.lower() in TEXT_SUFFIXES:
        return _text_file(path, path.name)
    if path.suffix.lower() == ".csv":
        return _csv(path)
    return _jsonl(path)


def count_documents(path: Path) -> int | None:
    """How many documents ``read_documents(path)`` will yield (a quick scan, for a progress
    bar's total), or ``None`` when that cannot be told cheaply."""
    if path.is_dir():
        return sum(1 for p in path.rglob("*") if p.suffix.lower() in TEXT_SUFFIXES)
    if path.suffix.lower() in TEXT_SUFFIXES:
        return 1
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            if path.suffix.lower() == ".csv":
                return max(sum(1 for row in csv.reader(f) if row) - 1, 0)
            return sum(1 for line in f if line.strip())
    except (OSError, UnicodeDecodeError, csv.Error):
        return None  # reading the documents will say what is wrong


def _document(id_: Any, title: Any, text: Any, metadata: Any, where: str) -> dict[str, Any]:
    if id_ is None or str(id_) == "":
        raise SourceError(f"{where}: no id (expected an 'id' or '_id' field)")
    if metadata is not None and not isinstance(metadata, dict):
        raise SourceError(f"{where}: metadata must be an object")
    metadata = dict(metadata or {})
    title = str(title or "").strip()
    if title:
        metadata.setdefault("title", title)
    full = f"{title} {str(text or '').strip()}".strip()
    return {"id": str(id_), "text": full, "metadata": metadata or None}


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8-sig") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SourceError(f"{where}: not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise SourceError(f"{where}: expected a JSON object")
            id_ = row.get("id", row.get("_id"))
            yield _document(id_, row.get("title"), row.get("text"), row.get("metadata"), where)


def _csv(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "text" not in reader.fieldnames:
            raise SourceError(f"{path}: a CSV needs a header with a 'text' column")
        for number, row in enumerate(reader, start=2):
            id_ = row.pop("id", None) or row.pop("_id", None) or f"{path.stem}-{number - 1}"
            title, text = row.pop("title", None), row.pop("text")
            metadata = {key: value for key, value in row.items() if key and value not in (None, "")}
            yield _document(id_, title, text, metadata, f"{path}:{number}")


def _directory(root: Path) -> Iterator[dict[str, Any]]:
    for file in sorted(p for p in root.rglob("*") if p.suffix.lower() in TEXT_SUFFIXES):
        yield from _text_file(file, file.relative_to(root).as_posix())


def _text_file(file: Path, id_: str) -> Iterator[dict[str, Any]]:
    """The whole file as one document; its id (and ``path`` metadata) is ``id_``."""
    text = file.read_text(encoding="utf-8-sig", errors="replace")
    yield _document(id_, None, text, {"path": id_}, str(file))
