"""Training files: both formats parse; unusable lines are named by number."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.files.validation import LineError
from service.finetune.data import Example, load_examples


def write(tmp_path: Path, *lines: object) -> Path:
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    return path


def test_pairs_and_chat_examples(tmp_path: Path) -> None:
    chat = {
        "messages": [
            {"role": "system", "content": "You answer questions."},
            {"role": "user", "content": "what do cats eat"},
            {"role": "assistant", "content": [{"type": "text", "text": "Cats eat mice."}]},
        ]
    }
    path = write(tmp_path, {"query": "q", "positive": "p"}, "", chat)
    assert load_examples(path) == [Example("q", "p"), Example("what do cats eat", "Cats eat mice.")]


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        pytest.param("{not json", "invalid JSON", id="bad-json"),
        pytest.param(json.dumps({"query": "q"}), '"positive"', id="missing-positive"),
        pytest.param(json.dumps({"prompt": "a", "completion": "b"}), "completions", id="prompt"),
        pytest.param(
            json.dumps({"messages": [{"role": "user", "content": "hi"}]}), "assistant", id="chat"
        ),
        pytest.param(json.dumps([1, 2]), "JSON object", id="not-object"),
    ],
)
def test_first_bad_line_is_named(tmp_path: Path, bad: str, reason: str) -> None:
    path = write(tmp_path, {"query": "q", "positive": "p"}, {"query": "q2", "positive": "p"}, bad)
    with pytest.raises(LineError) as info:
        load_examples(path)
    assert info.value.line == 3 and reason in info.value.reason
