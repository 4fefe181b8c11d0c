"""The passage splitter (``service/passages.py``): boundaries, offsets, overlap, unicode."""

from __future__ import annotations

import random

import pytest

from service.embeddings.local import LocalModel
from service.embeddings.upstream import estimate_tokens
from service.passages import Counter, split


@pytest.fixture(scope="module")
def model() -> LocalModel:
    return LocalModel.load()


def words(texts: list[str]) -> list[int]:
    """One token per whitespace-separated word: easy to reason about in assertions."""
    return [len(text.split()) for text in texts]


def upstream(texts: list[str]) -> list[int]:
    return [estimate_tokens(text) for text in texts]


def check_spans(text: str, spans: list[tuple[int, int]], size: int, count: Counter) -> None:
    """Spans are ordered, inside the text, cover every non-space character, and fit."""
    assert spans
    covered: set[int] = set()
    previous_start = -1
    for start, end in spans:
        assert 0 <= start < end <= len(text)
        assert start > previous_start
        previous_start = start
        assert count([text[start:end]])[0] <= size + 2  # units' sum, within a token or two
        covered.update(range(start, end))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())


def test_a_short_text_is_one_passage_without_counting() -> None:
    def never(texts: list[str]) -> list[int]:
        raise AssertionError("a text of fewer bytes than the size needs no count")

    assert split("A short text.", size=64, overlap=8, count=never) == [(0, 13)]


def test_sentences_are_kept_whole() -> None:
    sentences = [f"Sentence number {i} has exactly seven words." for i in range(10)]
    text = " ".join(sentences)
    spans = split(text, size=16, overlap=0, count=words)
    passages = [text[a:b] for a, b in spans]
    # Two seven-word sentences fit in 16 words, three do not.
    assert passages == [" ".join(sentences[i : i + 2]) for i in range(0, 10, 2)]


def test_overlap_repeats_the_last_sentences_that_fit() -> None:
    sentences = [f"Sentence {i} is five words." for i in range(8)]
    text = " ".join(sentences)
    spans = split(text, size=15, overlap=5, count=words)
    passages = [text[a:b] for a, b in spans]
    assert passages[0] == " ".join(sentences[0:3])
    assert passages[1] == " ".join(sentences[2:5])  # begins with the previous one's last
    assert passages[-1].endswith(sentences[-1])
    check_spans(text, spans, 15, words)


def test_no_punctuation_splits_between_words_never_inside() -> None:
    rng = random.Random(12)
    vocabulary = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
    text = " ".join(rng.choice(vocabulary) for _ in range(500))
    spans = split(text, size=40, overlap=10, count=words)
    assert len(spans) > 12
    for start, end in spans:
        assert start == 0 or text[start - 1] == " "
        assert end == len(text) or text[end] == " "
        assert len(text[start:end].split()) <= 40
    check_spans(text, spans, 40, words)


def test_a_giant_word_is_cut_at_the_token_limit(model: LocalModel) -> None:
    blob = "".join(
        random.Random(3).choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(3000)
    )
    text = f"Before the blob. {blob} After the blob."
    spans = split(text, size=64, overlap=8, count=model.count_tokens)
    check_spans(text, spans, 64, model.count_tokens)
    assert text[spans[-1][0] : spans[-1][1]].endswith("After the blob.")
    assert len(spans) > 3000 // (64 * 8)  # the blob was cut, not refused
    assert max(model.count_tokens([text[a:b] for a, b in spans])) <= 64


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(
            "Ünïcödé wörds ärë fïnë. 日本語の文章です。次の文です\uff01" * 40, id="unicode"
        ),
        pytest.param("line one\r\nline two\r\n\r\nparagraph two.\r\n" * 60, id="crlf"),
        pytest.param("emoji 🙂 in 🚀 text, " * 200, id="emoji"),
        pytest.param("漢字" * 2000, id="cjk-no-spaces"),
    ],
)
def test_offsets_map_back_to_the_text(model: LocalModel, text: str) -> None:
    for count in (model.count_tokens, upstream):
        spans = split(text, size=50, overlap=10, count=count)
        assert len(spans) > 1
        check_spans(text, spans, 50, count)
        for start, end in spans:
            passage = text[start:end]
            assert passage == passage.strip()
            assert text.find(passage, start) == start


def test_real_tokens_bound_every_passage(model: LocalModel) -> None:
    paragraph = (
        "The mitochondrion is the powerhouse of the cell. It produces ATP through oxidative "
        "phosphorylation; this process requires oxygen. Some cells rely on glycolysis instead!\n\n"
    )
    text = paragraph * 50
    spans = split(text, size=128, overlap=16, count=model.count_tokens)
    counts = model.count_tokens([text[a:b] for a, b in spans])
    assert max(counts) <= 128
    assert min(counts[:-1]) > 64  # packed, not one sentence per passage
    check_spans(text, spans, 128, model.count_tokens)


def test_overlap_must_be_below_size() -> None:
    with pytest.raises(ValueError, match="overlap"):
        split("text", size=16, overlap=16, count=words)
