"""Input files: checked whole, the first bad line named; read on in chunks from an offset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from service.batches.input import InputReader, validate_input
from service.errors import InvalidRequestError


def line(custom_id: str, body: Any = None, **fields: Any) -> str:
    request: dict[str, Any] = {"custom_id": custom_id, "method": "POST", "url": "/v1/embeddings"}
    request["body"] = {"model": "m", "input": "x"} if body is None else body
    return json.dumps({**request, **fields})


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "input.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_good_file_is_summarised(tmp_path: Path) -> None:
    path = write(tmp_path, line("a", {"model": "first", "input": ["x", "y"]}), "", line("b"))
    summary = validate_input(path, "file-1", "/v1/embeddings")
    assert (summary.requests, summary.model) == (2, "first")


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        pytest.param(line("b", url="/v1/completions"), 'line 2: "url"', id="url"),
        pytest.param(line("b", method="PUT"), 'line 2: "method" must be "POST"', id="method"),
        pytest.param(line("a"), "line 2: duplicate \"custom_id\" 'a' (first on line 1)", id="dup"),
        pytest.param("{oops", "line 2: invalid JSON", id="json"),
        pytest.param('"text"', "line 2: expected a JSON object", id="string"),
        pytest.param(line("b", body=[1]), 'line 2: "body" must be a JSON object', id="body"),
        pytest.param(
            json.dumps({"custom_id": 7, "method": "POST", "url": "/v1/embeddings", "body": {}}),
            'line 2: "custom_id" must be',
            id="id-type",
        ),
    ],
)
def test_the_first_bad_line_is_named(tmp_path: Path, bad: str, message: str) -> None:
    path = write(tmp_path, line("a"), bad, "{also bad")
    with pytest.raises(InvalidRequestError) as raised:
        validate_input(path, "file-1", "/v1/embeddings")
    assert raised.value.param == "input_file_id" and raised.value.code == "invalid_batch_input"
    assert raised.value.message.startswith("Invalid batch input file file-1: ")
    assert message in raised.value.message


def test_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InvalidRequestError, match="no requests"):
        validate_input(write(tmp_path, "", ""), "file-1", "/v1/embeddings")
    monkeypatch.setattr("service.batches.input.MAX_REQUESTS", 2)
    with pytest.raises(InvalidRequestError, match="line 3: a batch may hold at most 2"):
        validate_input(write(tmp_path, line("a"), line("b"), line("c")), "f", "/v1/embeddings")
    monkeypatch.setattr("service.batches.input.MAX_EMBEDDING_INPUTS", 3)
    many = line("a", {"model": "m", "input": ["1", "2", "3", "4"]})
    with pytest.raises(InvalidRequestError, match="line 1: an embeddings batch may hold at most 3"):
        validate_input(write(tmp_path, many), "f", "/v1/embeddings")


def test_chunks_respect_both_bounds_and_resume_from_an_offset(tmp_path: Path) -> None:
    lines = [line(f"r{i}", {"model": "m", "input": ["a"] * (i % 3 + 1)}) for i in range(10)]
    path = write(tmp_path, *lines[:5], "", *lines[5:])  # a blank line in the middle
    reader = InputReader(path, 0, 0)
    first = reader.chunk(max_requests=4, max_inputs=5)
    assert [r.custom_id for r in first] == ["r0", "r1"]  # 1 + 2 inputs, r2's 3 would pass 5
    assert [r.line for r in first] == [1, 2]
    offset, done = reader.offset, reader.line
    reader.close()
    resumed = InputReader(path, offset, done)  # as after a restart
    rest = []
    while chunk := resumed.chunk(max_requests=4, max_inputs=100):
        rest += chunk
    resumed.close()
    assert [r.custom_id for r in rest] == [f"r{i}" for i in range(2, 10)]
    assert [r.line for r in rest] == [3, 4, 5, 7, 8, 9, 10, 11]  # line 6 is the blank one
    one = InputReader(path, 0, 0)
    assert len(one.chunk(max_requests=4, max_inputs=0)) == 1  # a chunk never comes back empty
    one.close()
