"""The BEIR loader's conventions on the tiny fixture (issue 6, "Conventions")."""

from __future__ import annotations

import gzip
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
