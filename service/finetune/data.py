"""Training examples for a local adapter, read from an uploaded fine-tune JSONL file.

Two formats are usable (issue 5): retrieval pairs ``{"query", "positive", "negative"?}``, and
OpenAI chat, where the last ``user`` message before the last ``assistant`` message is the query
and that ``assistant`` message is the relevant passage. Completion and preference data are
valid uploads (for upstream jobs) but give an adapter nothing to learn from, so they fail here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.files.validation import LineError, iter_examples


@dataclass(slots=True, frozen=True)
class Example:
    query: str
    positive: str
    negative: str | None = None


def _content(message: dict[str, Any]) -> str:
    """A message's text: a string, or the text parts of a content array."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text", "") for p in content if isinstance(p, dict)]
        return " ".join(part for part in parts if isinstance(part, str))
    return ""


def _from_chat(messages: list[dict[str, Any]]) -> tuple[str, str]:
    answer = next(
        (i for i in range(len(messages) - 1, -1, -1) if messages[i].get("role") == "assistant"),
        None,
    )
    if answer is None:
        raise ValueError("a chat example needs an assistant message (the relevant passage)")
    question = next(
        (i for i in range(answer - 1, -1, -1) if messages[i].get("role") == "user"), None
    )
    if question is None:
        raise ValueError("a chat example needs a user message (the query) before the assistant")
    query, positive = _content(messages[question]).strip(), _content(messages[answer]).strip()
    if not query or not positive:
        raise ValueError("the user and assistant messages must have text")
    return query, positive


def load_examples(path: Path) -> list[Example]:
    """All examples of a file; ``LineError`` names the first line an adapter cannot use."""
    examples = []
    for number, obj, kind in iter_examples(path):
        try:
            if kind == "pairs":
                examples.append(Example(obj["query"], obj["positive"], obj.get("negative")))
            elif kind == "chat":
                examples.append(Example(*_from_chat(obj["messages"])))
            else:
                raise ValueError(
                    f"{kind} examples cannot train an embedding adapter; "
                    'use {"query", "positive"} pairs or chat messages'
                )
        except ValueError as exc:
            raise LineError(number, str(exc)) from None
    if not examples:
        raise LineError(0, "the file has no examples")
    if any(e.negative is not None for e in examples) and any(e.negative is None for e in examples):
        raise LineError(0, 'give "negative" on every line or on none')
    return examples


@dataclass(slots=True, frozen=True)
class PairSplit:
    """One file's examples as indexes: its distinct query texts and its pairs."""

    queries: list[str]
    pair_query: list[int]
    pair_positive: list[int]  # rows of ``IndexedExamples.passages``
    pair_negative: list[int] | None


@dataclass(slots=True, frozen=True)
class IndexedExamples:
    """The training (and validation) file as one passage table and per-file query tables.

    Queries are grouped by their exact text: all pairs of one query stay together, so a held-out
    share of queries never shares a query with the training side. Equal passage texts are one
    passage (one row, one candidate)."""

    passages: list[str]
    training: PairSplit
    validation: PairSplit | None


def index_examples(
    training: list[Example], validation: list[Example] | None = None
) -> IndexedExamples:
    rows: dict[str, int] = {}

    def passage(text: str) -> int:
        return rows.setdefault(text, len(rows))

    def split(examples: list[Example]) -> PairSplit:
        queries: dict[str, int] = {}
        pair_query = [queries.setdefault(e.query, len(queries)) for e in examples]
        pair_positive = [passage(e.positive) for e in examples]
        negatives = [passage(e.negative) for e in examples if e.negative is not None]
        return PairSplit(
            queries=list(queries),
            pair_query=pair_query,
            pair_positive=pair_positive,
            pair_negative=negatives if len(negatives) == len(examples) else None,
        )

    train = split(training)
    valid = split(validation) if validation else None
    return IndexedExamples(passages=list(rows), training=train, validation=valid)
