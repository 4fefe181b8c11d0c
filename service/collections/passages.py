"""A collection's texts split into passages before they are embedded (issue 12).

The index stores what it is given (spans and their vectors); the splitting itself is
``service/passages.py``; here it meets the collection's model: tokens are counted by the model
that embeds the documents (a fine-tuned model's ``document_model``), with the local tokenizer
when it is ours and, for an upstream model, with the estimate the upstream client splits
batches by (a deliberately high one: passages come out shorter, never too long).
"""

from __future__ import annotations

from collections.abc import Sequence

from index import MAX_PASSAGES, PassageSettings
from service.embeddings import EmbeddingService
from service.embeddings.upstream import estimate_tokens
from service.errors import InvalidRequestError
from service.passages import Counter, Span, split_many


def token_counter(embeddings: EmbeddingService, model_id: str) -> Counter:
    """Texts -> token counts, as ``model_id`` counts them (or as the upstream estimate does)."""

    def count(texts: list[str]) -> list[int]:
        counts = embeddings.count_tokens(model_id, texts)
        return counts if counts is not None else [estimate_tokens(t) for t in texts]

    return count


def split_documents(
    texts: Sequence[str], names: Sequence[str], settings: PassageSettings, count: Counter
) -> list[list[Span]]:
    """Each text's passage spans; a text of more than ``MAX_PASSAGES`` passages is a 400
    naming it (``names[i]``, e.g. ``documents[3].text``), before anything is embedded."""
    result = split_many(texts, size=settings.size, overlap=settings.overlap, count=count)
    for spans, name in zip(result, names, strict=True):
        if len(spans) > MAX_PASSAGES:
            raise InvalidRequestError(
                f"{name} makes {len(spans)} passages of {settings.size} tokens; a document "
                f"may have at most {MAX_PASSAGES}: split it into several documents",
                param=name,
                code="too_many_passages",
            )
    return result
