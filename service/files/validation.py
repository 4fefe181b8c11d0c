"""Checks a ``purpose=fine-tune`` JSONL file line by line, naming the first bad line.

Known formats, one JSON object per line (blank lines are skipped):

- retrieval pairs (semsearch's adapters): ``{"query": str, "positive": str, "negative"?: str}``;
- chat: ``{"messages": [{"role": ..., "content": ...}, ...], ...}`` (also reinforcement data);
- completions: ``{"prompt": str, "completion": str}``;
- preference (DPO): ``{"input": {...}, "preferred_output": [...], "non_preferred_output": [...]}``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from service.errors import InvalidRequestError

_decoder = msgspec.json.Decoder()


class LineError(ValueError):
    """One line of a JSONL file is unusable; ``line`` is 1-based."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def detect_format(obj: Any) -> str:
    """The format name of one example, or ``ValueError`` saying what is wrong."""
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    if "query" in obj or "positive" in obj:
        if not (_text(obj.get("query")) and _text(obj.get("positive"))):
            raise ValueError('"query" and "positive" must both be non-empty strings')
        if "negative" in obj and not _text(obj["negative"]):
            raise ValueError('"negative" must be a non-empty string when present')
        return "pairs"
    if "messages" in obj:
        messages = obj["messages"]
        if not isinstance(messages, list) or not messages:
            raise ValueError('"messages" must be a non-empty array')
        for message in messages:
            if not isinstance(message, dict) or not isinstance(message.get("role"), str):
                raise ValueError('each message needs a "role"')
        return "chat"
    if "prompt" in obj and "completion" in obj:
        return "completions"
    if "preferred_output" in obj and "non_preferred_output" in obj:
        return "preference"
    raise ValueError(
        'unknown format: expected {"query", "positive"}, chat {"messages"}, '
        '{"prompt", "completion"} or preference data'
    )


def iter_examples(path: Path) -> Iterator[tuple[int, dict[str, Any], str]]:
    """``(line number, object, format)`` per non-blank line; raises ``LineError``."""
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            try:
                obj = _decoder.decode(raw)
            except msgspec.DecodeError as exc:
                raise LineError(number, f"invalid JSON ({exc})") from None
            try:
                kind = detect_format(obj)
            except ValueError as exc:
                raise LineError(number, str(exc)) from None
            yield number, obj, kind


def validate_fine_tune_file(path: Path) -> int:
    """Count the examples; 400 naming the first bad line (param ``file``) if any is bad."""
    count = 0
    try:
        for _ in iter_examples(path):
            count += 1
    except LineError as exc:
        raise InvalidRequestError(
            f"Invalid file format for purpose 'fine-tune': {exc}",
            param="file",
            code="invalid_file_format",
        ) from None
    except UnicodeDecodeError:
        raise InvalidRequestError(
            "Invalid file format for purpose 'fine-tune': not UTF-8 JSONL",
            param="file",
            code="invalid_file_format",
        ) from None
    if count == 0:
        raise InvalidRequestError(
            "Invalid file format for purpose 'fine-tune': the file has no examples",
            param="file",
            code="invalid_file_format",
        )
    return count
