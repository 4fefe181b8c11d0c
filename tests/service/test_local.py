"""The local WordLlama provider: parity with WordLlama's own inference, offline loading."""

from __future__ import annotations

import socket

import numpy as np
import pytest
from safetensors import safe_open
from tokenizers import Tokenizer

from service.embeddings.local import MAX_INPUT_TOKENS, LocalModel, _package_dir, fold_capitals
from service.errors import InvalidRequestError

TEXTS = ["hello world", "The quick brown fox " * 30, "a", "ünïcödé 中文 text", "  spaced  out "]


@pytest.fixture(scope="module")
def model() -> LocalModel:
    return LocalModel.load()


def test_load_never_touches_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access during model load")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    vectors, _ = LocalModel.load().embed(["offline"])
    assert vectors.shape == (1, 256)


def test_matches_wordllama_inference(model: LocalModel) -> None:
    from wordllama.inference import WordLlamaInference

    root = _package_dir()
    with safe_open(str(root / "weights/l2_supercat_256.safetensors"), framework="np") as f:
        embedding = f.get_tensor("embedding.weight")
    tokenizer = Tokenizer.from_file(str(root / "tokenizers/l2_supercat_tokenizer_config.json"))
    reference = WordLlamaInference(embedding, tokenizer).embed(TEXTS, norm=True)
    vectors, counts = model.embed(TEXTS)
    np.testing.assert_allclose(vectors, reference, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert counts == model.count_tokens(TEXTS)


def test_dimensions_truncate_then_normalise(model: LocalModel) -> None:
    full, _ = model.embed(TEXTS)
    short, _ = model.embed(TEXTS, dimensions=32)
    expected = full[:, :32] / np.linalg.norm(full[:, :32], axis=1, keepdims=True)
    np.testing.assert_allclose(short, expected, atol=1e-6)


def test_token_arrays_decode_to_the_same_text(model: LocalModel) -> None:
    ids = model.tokenize(["semantic search engine"])
    assert model.decode(ids) == ["semantic search engine"]
    with pytest.raises(InvalidRequestError, match="outside the vocabulary"):
        model.decode([[model.vocab_size]])


def test_input_longer_than_the_limit_is_rejected(model: LocalModel) -> None:
    with pytest.raises(InvalidRequestError) as info:
        model.embed(["word " * (MAX_INPUT_TOKENS + 1)])
    assert info.value.code == "context_length_exceeded"


def test_words_in_capitals_embed_as_in_lower_case(model: LocalModel) -> None:
    shouted, _ = model.embed(["PROTEIN FOLDING IN YEAST", "Protein folding of NASA's DNA"])
    plain, _ = model.embed(["protein folding in yeast", "Protein folding of nasa's dna"])
    np.testing.assert_allclose(shouted, plain, atol=1e-6)
    titled, _ = model.embed(["Protein Folding"])  # mixed case is left to the model
    assert not np.allclose(titled, model.embed(["protein folding"])[0], atol=1e-3)


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("NASA's DNA, I said", "nasa's dna, I said"),
        ("ÉTÉ À PARIS", "été À paris"),  # one letter alone is left, like "I"
        ("COVID-19 in the USA", "covid-19 in the usa"),
        ("McDONALD and Protein", "McDONALD and Protein"),
        ("BRCA1 binds CD4", "BRCA1 binds CD4"),  # codes with digits are names, kept
        ("A B C", "A B C"),
        ("plain text", "plain text"),
    ],
)
def test_fold_capitals(text: str, folded: str) -> None:
    assert fold_capitals(text) == folded
