"""What the forwarding metrics read: a request's model, an answer's usage, a stream's last usage."""

from __future__ import annotations

import json

import pytest

from service.proxy import route_label
from service.proxy.usage import EventUsage, peek_request, usage_of


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        pytest.param(b'{"model": "gpt-x", "stream": true}', "application/json", ("gpt-x", True)),
        pytest.param(b'{"model": "gpt-x"}', "application/json; charset=utf-8", ("gpt-x", False)),
        pytest.param(b'{"model": 3}', "application/json", ("", False), id="not-a-string"),
        pytest.param(b"{not json", "application/json", ("", False), id="not-json"),
        pytest.param(b"--boundary", "multipart/form-data", ("", False), id="multipart"),
        pytest.param(b"", "", ("", False), id="no-body"),
    ],
)
def test_peek_request(body: bytes, content_type: str, expected: tuple[str, bool]) -> None:
    assert peek_request(body, content_type) == expected


def test_usage_of_chat_and_responses_answers() -> None:
    chat = {"usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}}
    assert usage_of(json.dumps(chat).encode()) == (3, 5)
    responses = {"usage": {"input_tokens": 7, "output_tokens": 2}}
    assert usage_of(json.dumps(responses).encode()) == (7, 2)
    completed = {"type": "response.completed", "response": {"usage": {"input_tokens": 1}}}
    assert usage_of(json.dumps(completed).encode()) == (1, 0)
    assert usage_of(b'{"usage": null}') is None
    assert usage_of(b'{"response": "text"}') is None
    assert usage_of(b"[DONE]") is None


def test_a_streams_usage_is_found_across_chunk_boundaries() -> None:
    events = [
        b'data: {"choices": [{"delta": {"content": "hi"}}], "usage": null}\n\n',
        b'data: {"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 6}}\r\n\r\n',
        b"data: [DONE]\n\n",
    ]
    stream = b"".join(events)
    for size in (1, 7, 64, len(stream)):
        found = EventUsage()
        for start in range(0, len(stream), size):
            found.feed(stream[start : start + size])
        assert found.usage == (4, 6), size


def test_route_labels_hide_ids_and_stay_bounded() -> None:
    known: set[str] = set()
    assert route_label("/v1/chat/completions", known) == "/v1/chat/completions"
    assert route_label("/v1/responses/resp_68af12", known) == "/v1/responses/{id}"
    assert route_label("/v1/threads/thread_a1/runs/run_b2", known) == "/v1/threads/{id}/runs/{id}"
    for i in range(300):
        route_label(f"/v1/made-up-route-{'x' * (i % 50)}-{chr(97 + i % 26)}", known)
    assert len(known) == 200
    assert route_label("/v1/yet/another/route", known) == "<other>"
