"""The embedded default model: WordLlama ``l2_supercat`` (256-d), loaded from the wheel's own files.

``WordLlama.load()`` would try to download the tokenizer; the wheel already ships both files, so we
read them directly and never touch the network. Inference is WordLlama's own algorithm (mean of
the tokens' embedding rows, then L2 normalisation) but pooled one text at a time instead of over
a padded batch: WordLlama pads every batch to its longest text, which for one long input among
2048 short ones would allocate gigabytes. ``tests/service/test_local.py`` checks the vectors equal
``WordLlamaInference.embed(norm=True)``.

One step comes before WordLlama's: words written entirely in capitals are lower-cased
(:func:`fold_capitals`). Its tokenizer is case-sensitive and breaks ``PROTEIN`` into sub-word
pieces, so legacy records, titles and headlines in capitals embedded as noise: vector search
scored nDCG@10 0.06 on NPL (queries in capitals) and 0.19 on LISA (documents in capitals); with
the fold, 0.36 and 0.32. Folding only such words, not all text, measured best over six
collections (lower-casing everything cost CACM and ArguAna; ``benchmarks/README.md``,
"Relevance"). The text stored and returned by the search API is never changed.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
from safetensors import safe_open
from tokenizers import Tokenizer

from service.embeddings.types import ModelInfo
from service.errors import InvalidRequestError
from service.settings import LOCAL_MODEL_ID

NATIVE_DIMENSIONS = 256
# WordLlama has no positional limit (it averages token rows) and its tokenizer does not truncate
# at inference (training used 256). We cap one input at OpenAI's 8192 so a request's work and
# memory stay bounded; longer inputs get 400 context_length_exceeded.
MAX_INPUT_TOKENS = 8192

INFO = ModelInfo(
    id=LOCAL_MODEL_ID,
    native_dimensions=NATIVE_DIMENSIONS,
    max_input_tokens=MAX_INPUT_TOKENS,
    owned_by="semsearch",
    provider="local",
)


_WORD = re.compile(r"\b[^\W\d_]{2,}\b")  # a whole word of two or more letters, no digits
_CAPITALS = re.compile(r"[^\W\d_a-z]{2}")  # a cheap test: two letters, neither a-z


def fold_capitals(text: str) -> str:
    """Lower-case the words written entirely in capitals: ``NASA's DNA, I said`` -> ``nasa's
    dna, I said``; ``McDONALD``, ``Protein`` and codes such as ``BRCA1`` stay as they are
    (folding codes measurably hurt SciFact, whose claims are full of gene names)."""
    if not _CAPITALS.search(text):
        return text
    return _WORD.sub(lambda m: m[0].lower() if m[0].isupper() else m[0], text)


def _package_dir() -> Path:
    spec = importlib.util.find_spec("wordllama")
    if spec is None or spec.origin is None:
        raise RuntimeError("the wordllama package is not installed")
    return Path(spec.origin).parent


def model_files() -> tuple[Path, Path]:
    """``(tokenizer, weights)``: the files inside the ``wordllama`` wheel the model is read from."""
    root = _package_dir()
    return (
        root / "tokenizers/l2_supercat_tokenizer_config.json",
        root / f"weights/l2_supercat_{NATIVE_DIMENSIONS}.safetensors",
    )


class LocalModel:
    """WordLlama inference. Thread-safe (read-only arrays); call it off the event loop."""

    info = INFO

    def __init__(self, embedding: np.ndarray, tokenizer: Tokenizer) -> None:
        self.embedding = np.ascontiguousarray(embedding, dtype=np.float32)
        self.tokenizer = tokenizer
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self.vocab_size = self.embedding.shape[0]

    @classmethod
    def load(cls) -> LocalModel:
        """Read the weights and tokenizer shipped inside the ``wordllama`` wheel (~0.2 s)."""
        tokenizer_file, weights = model_files()
        tokenizer = Tokenizer.from_file(str(tokenizer_file))
        with safe_open(str(weights), framework="np") as f:
            embedding = f.get_tensor("embedding.weight")
        return cls(embedding, tokenizer)

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        """Token ids of what the model sees: each text after :func:`fold_capitals`."""
        folded = [fold_capitals(text) for text in texts]
        encodings = self.tokenizer.encode_batch(folded, add_special_tokens=False)
        return [enc.ids for enc in encodings]

    def count_tokens(self, texts: list[str]) -> list[int]:
        return [len(ids) for ids in self.tokenize(texts)]

    def decode(self, token_arrays: list[list[int]]) -> list[str]:
        """Token-array input is read as this model's (Llama-2) token ids and decoded to text."""
        for i, ids in enumerate(token_arrays):
            bad = next((t for t in ids if t >= self.vocab_size), None)
            if bad is not None:
                raise InvalidRequestError(
                    f"token id {bad} in input[{i}] is outside the vocabulary of "
                    f"{LOCAL_MODEL_ID} (0..{self.vocab_size - 1})",
                    param="input",
                    code="invalid_token_id",
                )
        return self.tokenizer.decode_batch(token_arrays, skip_special_tokens=False)

    def embed(
        self, texts: list[str], dimensions: int | None = None
    ) -> tuple[np.ndarray, list[int]]:
        """Return ``(vectors [n, d] float32, L2-normalised; token count per text)``."""
        token_ids = self.tokenize(texts)
        counts = [len(ids) for ids in token_ids]
        check_lengths(counts)
        dims = dimensions or NATIVE_DIMENSIONS
        out = np.zeros((len(texts), NATIVE_DIMENSIONS), dtype=np.float32)
        # One small gather per text beats a padded or reduceat batch here (measured: 4 us/text).
        for row, ids in zip(out, token_ids, strict=True):
            if ids:  # a text with no tokens embeds as the zero vector
                np.divide(self.embedding[ids].sum(axis=0), len(ids), out=row)
        # Matryoshka: truncate the pooled vector first, then normalise what remains.
        out = np.ascontiguousarray(out[:, :dims])
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out, counts


def check_lengths(counts: list[int]) -> None:
    for i, count in enumerate(counts):
        if count > MAX_INPUT_TOKENS:
            raise InvalidRequestError(
                f"This model's maximum context length is {MAX_INPUT_TOKENS} tokens, however "
                f"input[{i}] has {count} tokens. Please reduce the length of the input.",
                param="input",
                code="context_length_exceeded",
            )


def check_dimensions(dimensions: int | None) -> None:
    if dimensions is not None and not 1 <= dimensions <= NATIVE_DIMENSIONS:
        raise InvalidRequestError(
            f"dimensions must be between 1 and {NATIVE_DIMENSIONS} for {LOCAL_MODEL_ID}, "
            f"got {dimensions}",
            param="dimensions",
        )
