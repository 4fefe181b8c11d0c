"""The BEIR loader's conventions on the tiny fixture (issue 6, "Conventions")."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from benchmarks.harness.datasets import DatasetError, load_beir

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "tiny_beir"


def test_documents_are_title_space_text_and_empty_ones_are_skipped() -> None:
    data = load_beir(TINY)
    assert len(data.doc_ids) == 11
    assert data.skipped_docs == ["d8"]
    first = (
        "Photosynthesis Plants convert sunlight, water and carbon dioxide into glucose and oxygen."
    )
    assert data.doc_texts[0] == first
    assert data.qrels["q3"]["d8"] == 1  # a skipped document still counts as relevant


def test_a_splits_queries_are_those_its_qrels_name() -> None:
    assert list(load_beir(TINY, "test").queries) == ["q1", "q2", "q3"]
    train = load_beir(TINY, "train")
    assert train.queries == {"q4": "brewing hot drinks"}
    assert train.qrels == {"q4": {"d9": 1, "d10": 1}}


def test_gzipped_corpus_without_labels(tmp_path: Path) -> None:
    with (
        (TINY / "corpus.jsonl").open("rb") as src,
        gzip.open(tmp_path / "corpus.jsonl.gz", "wb") as f,
    ):
        shutil.copyfileobj(src, f)
    data = load_beir(tmp_path)
    assert len(data.doc_ids) == 11 and not data.has_labels
    assert data.doc_titles[0] == "Photosynthesis"


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no corpus"):
        load_beir(tmp_path)
    with pytest.raises(DatasetError, match="not a directory"):
        load_beir(tmp_path / "missing")


def test_a_query_that_is_its_own_document_is_left_out_of_its_ranking(tmp_path: Path) -> None:
    """ArguAna's queries are documents under the same id; Cranfield's ids merely collide."""
    (tmp_path / "qrels").mkdir()
    rows = [
        {"_id": "arg1", "title": "", "text": "Zoos protect species. They fund research."},
        {"_id": "arg2", "title": "", "text": "Zoos confine animals."},
        {"_id": "1", "title": "", "text": "Boundary layers in supersonic flow."},
    ]
    (tmp_path / "corpus.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    queries = [{"_id": "arg1", "text": "Zoos protect species."}, {"_id": "1", "text": "wings"}]
    (tmp_path / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries))
    (tmp_path / "qrels/test.tsv").write_text("query-id\tcorpus-id\tscore\narg1\targ2\t1\n1\t1\t1\n")
    data = load_beir(tmp_path)
    assert data.self_hits == {"arg1"}
    run = {"arg1": ["arg1", "arg2"], "1": ["1", "arg2"]}
    assert data.without_self_hits(run) == {"arg1": ["arg2"], "1": ["1", "arg2"]}
