"""BEIR-format datasets: `corpus.jsonl` (or `.jsonl.gz`), `queries.jsonl`, `qrels/SPLIT.tsv`.

Usage::

    data = load_beir(Path("../shared/datasets/scifact"), split="test")
    data.doc_ids, data.doc_texts, data.queries, data.qrels

Conventions follow issue 6 so figures compare with published ones: a document is
``title + " " + text`` stripped; documents whose text is then empty are skipped and counted
(``skipped_docs``); a split's queries are exactly those its qrels name. A directory without
``queries.jsonl``/qrels (WordNet glosses) loads as a corpus with no queries.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO

#: The team's datasets: ``SEMSEARCH_DATASETS`` if set, else ``../shared/datasets`` beside the
#: repository (a worktree or a clone elsewhere sets the variable).
SHARED_DATASETS = Path(
    os.environ.get(
        "SEMSEARCH_DATASETS", Path(__file__).resolve().parents[3] / "shared" / "datasets"
    )
)

Qrels = dict[str, dict[str, int]]
"""``{query_id: {doc_id: relevance}}``; relevance > 0 means relevant."""


class DatasetError(ValueError):
    """The directory is not a usable BEIR-format dataset."""


@dataclass
class Dataset:
    """One split of a BEIR dataset, in file order (ids are strings, as in BEIR)."""

    name: str
    path: Path
    split: str
    doc_ids: list[str]
    doc_texts: list[str]
    queries: dict[str, str] = field(default_factory=dict)
    qrels: Qrels = field(default_factory=dict)
    skipped_docs: list[str] = field(default_factory=list)
    """Ids of documents with empty text: not ingested, still counted in qrels."""
    doc_titles: list[str] = field(default_factory=list)
    """Titles alone: query material for unlabeled corpora (WordNet lemmas)."""
    self_hits: set[str] = field(default_factory=set)
    """Queries that are themselves a document of the corpus, under the same id (ArguAna): that
    document is left out of their rankings, as BEIR's evaluator does (``ignore_identical_ids``).
    Only where the document holds the query's text: Cranfield's query "1" is not document "1"."""

    @property
    def has_labels(self) -> bool:
        return bool(self.qrels)

    def without_self_hits(self, run: dict[str, list[str]]) -> dict[str, list[str]]:
        """``run`` with each query's own document (see ``self_hits``) taken out."""
        return {
            qid: [d for d in ranking if d != qid] if qid in self.self_hits else ranking
            for qid, ranking in run.items()
        }

    def with_queries(self, queries: dict[str, str]) -> Dataset:
        """The same split with other query texts (misspelt ones: ``typos.py``)."""
        return replace(self, queries=queries)


def _open(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open(encoding="utf-8")


def _jsonl(path: Path) -> Iterator[dict]:
    with _open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}:{number}: not JSON: {exc}") from None


def corpus_path(directory: Path) -> Path:
    for name in ("corpus.jsonl", "corpus.jsonl.gz"):
        if (directory / name).is_file():
            return directory / name
    raise DatasetError(f"{directory}: no corpus.jsonl or corpus.jsonl.gz")


def doc_text(row: dict) -> str:
    """The text a document is embedded and indexed as: ``title + " " + text``, stripped."""
    title = row.get("title") or ""
    text = row.get("text") or ""
    return f"{title} {text}".strip()


def read_qrels(path: Path) -> Qrels:
    """A BEIR qrels TSV (header ``query-id corpus-id score``) as ``{qid: {did: score}}``."""
    qrels: Qrels = {}
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            parts = line.rstrip("\r\n").split("\t")
            if number == 1 and parts[0] == "query-id":
                continue
            if len(parts) != 3:
                if not line.strip():
                    continue
                raise DatasetError(f"{path}:{number}: expected 3 tab-separated fields")
            qid, did, score = parts
            try:
                qrels.setdefault(qid, {})[did] = int(score)
            except ValueError:
                raise DatasetError(f"{path}:{number}: score {score!r} is not an integer") from None
    return qrels


def load_beir(directory: Path, split: str = "test", limit_docs: int | None = None) -> Dataset:
    """Load one split; ``limit_docs`` keeps the first N documents (for quick runs only)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DatasetError(f"{directory}: not a directory")
    doc_ids: list[str] = []
    texts: list[str] = []
    titles: list[str] = []
    skipped: list[str] = []
    for row in _jsonl(corpus_path(directory)):
        if limit_docs is not None and len(doc_ids) + len(skipped) >= limit_docs:
            break
        did = str(row["_id"])
        text = doc_text(row)
        if text:
            doc_ids.append(did)
            texts.append(text)
            titles.append(str(row.get("title") or "").strip())
        else:
            skipped.append(did)
    data = Dataset(
        directory.name, directory, split, doc_ids, texts, skipped_docs=skipped, doc_titles=titles
    )
    qrels_file = directory / "qrels" / f"{split}.tsv"
    queries_file = directory / "queries.jsonl"
    if not qrels_file.is_file() or not queries_file.is_file():
        return data
    qrels = read_qrels(qrels_file)
    all_queries = {str(r["_id"]): str(r.get("text") or "") for r in _jsonl(queries_file)}
    missing = sorted(set(qrels) - set(all_queries))
    if missing:
        raise DatasetError(f"{qrels_file}: {len(missing)} query ids not in queries.jsonl")
    data.queries = {qid: all_queries[qid] for qid in all_queries if qid in qrels}
    data.qrels = qrels
    texts_by_id = dict(zip(doc_ids, texts, strict=True))
    data.self_hits = {
        qid
        for qid, text in data.queries.items()
        if text.strip() and text.strip()[:200] in texts_by_id.get(qid, "")
    }
    return data
