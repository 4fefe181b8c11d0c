"""Fake chat and text completions for ``FaultUpstream``: deterministic answers, plain or streamed.

The answer to a request is ``"echo: "`` and the last message (chat) or the prompt (completions),
so a test can predict it; ``usage`` counts words. Streamed, it is one server-sent event per word,
then a ``finish_reason`` event, then (when ``stream_options.include_usage`` asks) a usage event,
then ``data: [DONE]``, the way OpenAI streams.
"""

from __future__ import annotations

import json
from typing import Any


def _last_text(payload: dict[str, Any]) -> str:
    if "messages" in payload:
        messages = payload.get("messages") or [{}]
        content = messages[-1].get("content", "")
        if isinstance(content, list):  # content parts
            content = " ".join(str(part.get("text", "")) for part in content)
        return str(content)
    prompt = payload.get("prompt", "")
    return prompt if isinstance(prompt, str) else json.dumps(prompt)


def reply(payload: dict[str, Any]) -> str:
    return "echo: " + _last_text(payload)


def usage(payload: dict[str, Any]) -> dict[str, int]:
    prompt = max(len(_last_text(payload).split()), 1)
    completion = len(reply(payload).split())
    total = prompt + completion
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total}


def completion(payload: dict[str, Any], chat: bool) -> dict[str, Any]:
    """The whole answer (``"stream"`` absent or false)."""
    text = reply(payload)
    if chat:
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": text, "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    else:
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": "stop"}
    return {
        "id": "chatcmpl-fake" if chat else "cmpl-fake",
        "object": "chat.completion" if chat else "text_completion",
        "created": 1_700_000_000,
        "model": payload.get("model", ""),
        "choices": [choice],
        "usage": usage(payload),
    }


def stream_events(payload: dict[str, Any], chat: bool) -> list[bytes]:
    """The answer as server-sent events, one word per event."""
    words = reply(payload).split(" ")
    base = {
        "id": "chatcmpl-fake" if chat else "cmpl-fake",
        "object": "chat.completion.chunk" if chat else "text_completion",
        "created": 1_700_000_000,
        "model": payload.get("model", ""),
    }
    include_usage = bool((payload.get("stream_options") or {}).get("include_usage"))

    def event(choices: list[dict[str, Any]], **extra: Any) -> bytes:
        if include_usage and "usage" not in extra:
            extra["usage"] = None
        return b"data: " + json.dumps({**base, "choices": choices, **extra}).encode() + b"\n\n"

    events = []
    for i, word in enumerate(words):
        piece = word if i == 0 else " " + word
        if chat:
            delta: dict[str, Any] = {"content": piece}
            if i == 0:
                delta["role"] = "assistant"
            choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": None}
        else:
            choice = {"index": 0, "text": piece, "logprobs": None, "finish_reason": None}
        events.append(event([choice]))
    last = {"index": 0, "finish_reason": "stop"}
    events.append(event([{**last, "delta": {}} if chat else {**last, "text": ""}]))
    if include_usage:
        events.append(event([], usage=usage(payload)))
    events.append(b"data: [DONE]\n\n")
    return events
