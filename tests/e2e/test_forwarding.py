"""Forwarding (issue 14): the OpenAI SDK through semsearch to the scripted fake upstream.

One semsearch with an upstream, API keys, a 1 s forward timeout and a 1 MB body limit serves the
module; the fake's script, log and counters are reset before every test.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from service.testing import FaultUpstream, ServerProcess, clean_env

CLIENT_KEY = "sk-semsearch-client"
UPSTREAM_KEY = "sk-upstream-secret-7f3a"
AUTH = {"authorization": f"Bearer {CLIENT_KEY}"}


@pytest.fixture(scope="module")
def upstream() -> Iterator[FaultUpstream]:
    with FaultUpstream() as server:
        yield server


@pytest.fixture(scope="module")
def sidecar(
    upstream: FaultUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    env = {
        "SEMSEARCH_UPSTREAM_URL": upstream.v1,
        "SEMSEARCH_UPSTREAM_API_KEY": UPSTREAM_KEY,
        "SEMSEARCH_API_KEYS": CLIENT_KEY,
        "SEMSEARCH_FORWARD_TIMEOUT": "1",
        "SEMSEARCH_MAX_BODY_MB": "1",
        "SEMSEARCH_UPSTREAM_MAX_RETRIES": "2",
        "SEMSEARCH_UPSTREAM_BACKOFF": "0.01",
        "SEMSEARCH_UPSTREAM_BACKOFF_MAX": "1",
    }
    server = ServerProcess(tmp_path_factory.mktemp("forwarding") / "data", env=clean_env(env))
    with server.start():
        yield server


@pytest.fixture
def fake(upstream: FaultUpstream) -> FaultUpstream:
    upstream.script.clear()
    upstream.requests.clear()
    upstream.headers.clear()
    upstream.log.clear()
    upstream.sent.clear()
    upstream.disconnects = 0
    upstream.chunk_delay = 0.0
    return upstream


@pytest.fixture
def client(sidecar: ServerProcess, fake: FaultUpstream) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=sidecar.v1, api_key=CLIENT_KEY, max_retries=0) as client:
        yield client


def chat(text: str) -> list[ChatCompletionMessageParam]:
    return [{"role": "user", "content": text}]


def test_chat_and_completions_come_back_as_the_upstream_answered(
    client: openai.OpenAI, fake: FaultUpstream
) -> None:
    answer = client.chat.completions.create(model="gpt-fake", messages=chat("hello there"))
    assert answer.choices[0].message.content == "echo: hello there"
    assert answer.usage is not None and answer.usage.completion_tokens == 3
    text = client.completions.create(model="davinci-fake", prompt="once upon")
    assert text.choices[0].text == "echo: once upon"
    assert [seen.path for seen in fake.log] == ["/v1/chat/completions", "/v1/completions"]
    assert json.loads(fake.log[0].body)["messages"] == chat("hello there")


def test_a_stream_is_relayed_event_by_event_as_it_arrives(
    client: openai.OpenAI, fake: FaultUpstream
) -> None:
    fake.chunk_delay = 0.15
    words = "one two three four five"
    stream = client.chat.completions.create(
        model="gpt-fake", messages=chat(words), stream=True, stream_options={"include_usage": True}
    )
    pieces, received = [], []
    for chunk in stream:
        received.append(time.monotonic())
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
    assert "".join(pieces) == "echo: " + words  # in order, nothing lost
    # One by one: the first event was in the client's hands before the upstream had even sent
    # the second, and the events arrived as far apart as the upstream sent them.
    assert len(fake.sent) == 9  # 6 words, the finish event, the usage event, [DONE]
    assert received[0] < fake.sent[1]
    gaps = [b - a for a, b in itertools.pairwise(received)]
    assert min(gaps) > 0.15 * 0.5


def test_a_streamed_completion_too(client: openai.OpenAI, fake: FaultUpstream) -> None:
    fake.chunk_delay = 0.05
    stream = client.completions.create(model="davinci-fake", prompt="a b c", stream=True)
    assert "".join(chunk.choices[0].text for chunk in stream) == "echo: a b c"


def test_headers_and_query_reach_the_upstream_and_keys_stay_where_they_belong(
    sidecar: ServerProcess, fake: FaultUpstream
) -> None:
    with openai.OpenAI(
        base_url=sidecar.v1,
        api_key=CLIENT_KEY,
        organization="org-client",
        project="proj-client",
        default_headers={"Idempotency-Key": "idem-1", "OpenAI-Beta": "assistants=v2"},
        max_retries=0,
    ) as sdk:
        answer = sdk.chat.completions.create(
            model="gpt-fake", messages=chat("hi"), extra_query={"api-version": "2024-06-01"}
        )
    assert answer.choices[0].message.content == "echo: hi"
    seen = fake.log[-1]
    assert seen.query == "api-version=2024-06-01"
    assert seen.headers["openai-organization"] == "org-client"
    assert seen.headers["openai-project"] == "proj-client"
    assert seen.headers["idempotency-key"] == "idem-1"
    assert seen.headers["openai-beta"] == "assistants=v2"
    assert seen.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"  # never the client's key
    assert CLIENT_KEY not in json.dumps(seen.headers)


def test_hop_by_hop_headers_stop_at_semsearch_and_an_echoed_key_is_masked(
    sidecar: ServerProcess, fake: FaultUpstream
) -> None:
    headers = {
        **AUTH,
        "Connection": "keep-alive, X-Hop",
        "X-Hop": "only for this connection",
        "Keep-Alive": "timeout=5",
        "TE": "trailers",
        "Cookie": "session=abc",
        "X-Custom": "kept",
    }
    response = httpx.post(
        sidecar.v1 + "/moderations?x=1&x=2", json={"input": "hi"}, headers=headers
    )
    assert response.status_code == 200
    echo = response.json()  # the fake echoes what it received
    assert echo["path"] == "/v1/moderations" and echo["query"] == "x=1&x=2"
    received = echo["headers"]
    assert received["x-custom"] == "kept"
    for name in ("x-hop", "keep-alive", "te", "cookie"):
        assert name not in received
    # The fake echoed the upstream key it got; semsearch masks it on the way back.
    assert received["authorization"] == "Bearer ***"
    assert UPSTREAM_KEY not in response.text and UPSTREAM_KEY not in str(response.headers)
    assert fake.log[-1].headers["authorization"] == f"Bearer {UPSTREAM_KEY}"


def test_every_method_is_forwarded(sidecar: ServerProcess, fake: FaultUpstream) -> None:
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        response = httpx.request(method, sidecar.v1 + "/responses/resp_123abc", headers=AUTH)
        assert response.status_code == 200 and response.json()["method"] == method
    assert {seen.path for seen in fake.log} == {"/v1/responses/resp_123abc"}


def test_the_path_and_query_go_as_the_client_encoded_them(
    sidecar: ServerProcess, fake: FaultUpstream
) -> None:
    url = sidecar.v1 + "/responses/resp%20a%2Fb/input_items?order=asc&q=a%26b&q=%C3%A9"
    assert httpx.get(url, headers=AUTH).status_code == 200
    assert fake.log[-1].path == "/v1/responses/resp%20a%2Fb/input_items"
    assert fake.log[-1].query == "order=asc&q=a%26b&q=%C3%A9"


def test_our_own_routes_are_not_forwarded(sidecar: ServerProcess, fake: FaultUpstream) -> None:
    body = {"model": "wordllama-l2-supercat", "input": "local"}
    assert httpx.post(sidecar.v1 + "/embeddings", json=body, headers=AUTH).status_code == 200
    assert httpx.get(sidecar.v1 + "/models", headers=AUTH).status_code == 200
    assert httpx.get(sidecar.v1 + "/files/file-nope", headers=AUTH).status_code == 404
    assert fake.log == []


def test_the_client_needs_a_semsearch_key_and_the_body_limit_holds(
    sidecar: ServerProcess, fake: FaultUpstream
) -> None:
    body = {"model": "gpt-fake", "messages": chat("hi")}
    assert httpx.post(sidecar.v1 + "/chat/completions", json=body).status_code == 401
    wrong = {"authorization": f"Bearer {UPSTREAM_KEY}"}
    assert httpx.post(sidecar.v1 + "/chat/completions", json=body, headers=wrong).status_code == 401
    big = {"model": "gpt-fake", "messages": chat("x" * 1_100_000)}
    response = httpx.post(sidecar.v1 + "/chat/completions", json=big, headers=AUTH)
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert fake.log == []


@pytest.mark.parametrize(
    ("status", "error"),
    [
        pytest.param(400, openai.BadRequestError, id="400"),
        pytest.param(404, openai.NotFoundError, id="404"),
        pytest.param(500, openai.InternalServerError, id="500"),
    ],
)
def test_upstream_errors_come_back_as_sent_and_are_not_retried(
    client: openai.OpenAI, fake: FaultUpstream, status: int, error: type[openai.APIStatusError]
) -> None:
    fake.push(("status", status, {"x-request-id": "req_failed"}))
    with pytest.raises(error) as raised:
        client.chat.completions.create(model="gpt-fake", messages=chat("hi"))
    assert raised.value.status_code == status
    assert raised.value.body == {
        "message": f"injected {status}",
        "type": "test_error",
        "param": None,
        "code": None,
    }
    assert raised.value.request_id == "req_failed"
    assert len(fake.log) == 1  # a request that may have reached the model is never resent


def test_a_429_that_asks_to_wait_briefly_is_retried_once_waited(
    client: openai.OpenAI, fake: FaultUpstream
) -> None:
    fake.push(("status", 429, {"Retry-After": "0.2"}))
    started = time.monotonic()
    answer = client.chat.completions.create(model="gpt-fake", messages=chat("again"))
    assert answer.choices[0].message.content == "echo: again"
    assert time.monotonic() - started >= 0.2
    assert len(fake.log) == 2


def test_a_429_that_asks_to_wait_long_goes_back_with_its_retry_after(
    client: openai.OpenAI, fake: FaultUpstream
) -> None:
    fake.push(("status", 429, {"Retry-After": "30"}))
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(model="gpt-fake", messages=chat("hi"))
    assert raised.value.response.headers["retry-after"] == "30"
    assert len(fake.log) == 1


def test_a_silent_upstream_is_a_504_and_is_not_retried(
    client: openai.OpenAI, fake: FaultUpstream
) -> None:
    fake.push(("slow", 2.5))
    started = time.monotonic()
    with pytest.raises(openai.InternalServerError) as raised:
        client.chat.completions.create(model="gpt-fake", messages=chat("hi"))
    assert raised.value.status_code == 504
    assert "SEMSEARCH_FORWARD_TIMEOUT" in raised.value.message
    assert 0.9 < time.monotonic() - started < 2.4
    assert len(fake.log) == 1


def test_a_stream_that_stalls_ends_with_an_error_event(
    client: openai.OpenAI, fake: FaultUpstream
) -> None:
    fake.chunk_delay = 1.5  # more than the 1 s allowed between reads
    stream = client.chat.completions.create(model="gpt-fake", messages=chat("a b"), stream=True)
    first = next(iter(stream))
    assert first.choices[0].delta.content == "echo:"
    with pytest.raises(openai.APIError, match="SEMSEARCH_FORWARD_TIMEOUT"):
        for _ in stream:
            pass


def test_a_dropped_connection_is_a_502(client: openai.OpenAI, fake: FaultUpstream) -> None:
    fake.push("drop")
    with pytest.raises(openai.InternalServerError) as raised:
        client.chat.completions.create(model="gpt-fake", messages=chat("hi"))
    assert raised.value.status_code == 502
    assert len(fake.log) == 1  # it may have reached the model: not sent again


def test_a_client_that_hangs_up_mid_stream_closes_the_upstream_connection(
    sidecar: ServerProcess, fake: FaultUpstream
) -> None:
    fake.chunk_delay = 0.2
    body = {"model": "gpt-fake", "messages": chat("one two three four five six"), "stream": True}
    with httpx.Client(timeout=5) as http:
        with http.stream("POST", sidecar.v1 + "/chat/completions", json=body, headers=AUTH) as r:
            first = next(r.iter_raw())
            assert first.startswith(b"data: ")
        # leaving the block closes the response mid-stream, then the client closes its socket
    deadline = time.monotonic() + 3
    while fake.disconnects == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fake.disconnects == 1
    assert len(fake.sent) < 5  # the upstream stopped long before its 9 events


def test_forwarded_requests_tokens_and_latency_are_counted(
    sidecar: ServerProcess, client: openai.OpenAI, fake: FaultUpstream
) -> None:
    before = sidecar.metrics(AUTH)
    client.chat.completions.create(model="gpt-metrics", messages=chat("count me"))
    stream = client.chat.completions.create(
        model="gpt-metrics",
        messages=chat("and me too"),
        stream=True,
        stream_options={"include_usage": True},
    )
    for _ in stream:
        pass
    fake.push(("status", 400, {}))
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gpt-metrics", messages=chat("x"))
    httpx.get(sidecar.v1 + "/responses/resp_9f8e7d", headers=AUTH)
    route = 'route="/v1/chat/completions"'
    ok = f'semsearch_forwarded_requests_total{{model="gpt-metrics",{route},status="200"}}'
    bad = f'semsearch_forwarded_requests_total{{model="gpt-metrics",{route},status="400"}}'
    # A stream is counted when its body ends upstream, which may come just after the SDK has
    # read the last event: wait for it, boundedly.
    deadline = time.monotonic() + 5
    after = sidecar.metrics(AUTH)
    while after.get(ok, 0) - before.get(ok, 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
        after = sidecar.metrics(AUTH)

    def delta(name: str) -> float:
        return after.get(name, 0) - before.get(name, 0)

    assert (delta(ok), delta(bad)) == (2, 1)
    # "count me": 2 prompt, 3 completion words; "and me too": 3 and 4, from the stream's usage
    # event; the 400 has none.
    tokens = 'semsearch_forwarded_tokens_total{{kind={},model="gpt-metrics"}}'
    assert delta(tokens.format('"prompt"')) == 5
    assert delta(tokens.format('"completion"')) == 7
    assert delta(f"semsearch_forwarded_upstream_seconds_count{{{route}}}") == 3
    ids = 'semsearch_forwarded_requests_total{model="",route="/v1/responses/{id}",status="200"}'
    assert delta(ids) == 1


def test_without_an_upstream_a_forwarded_route_is_a_404_naming_the_setting(
    local_server: ServerProcess,
) -> None:
    with openai.OpenAI(base_url=local_server.v1, api_key="x", max_retries=0) as sdk:
        with pytest.raises(openai.NotFoundError) as raised:
            sdk.chat.completions.create(model="gpt-4o-mini", messages=chat("hi"))
    assert raised.value.body["code"] == "upstream_not_configured"
    assert "SEMSEARCH_UPSTREAM_URL" in raised.value.message


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_upstream_is_a_502_after_retrying_the_connection(start_server) -> None:
    env = {
        "SEMSEARCH_UPSTREAM_URL": f"http://127.0.0.1:{_closed_port()}/v1",
        "SEMSEARCH_UPSTREAM_MAX_RETRIES": "2",
        "SEMSEARCH_UPSTREAM_BACKOFF": "0.01",
    }
    server = start_server(env=env)
    with openai.OpenAI(base_url=server.v1, api_key="x", max_retries=0) as sdk:
        with pytest.raises(openai.InternalServerError) as raised:
            sdk.chat.completions.create(model="gpt-fake", messages=chat("hi"))
    assert raised.value.status_code == 502
    assert "unreachable" in raised.value.message
    metrics = server.metrics()
    assert metrics['semsearch_upstream_retries_total{reason="connection"}'] == 2


def test_concurrent_streams_do_not_wait_for_each_other(
    sidecar: ServerProcess, fake: FaultUpstream
) -> None:
    fake.chunk_delay = 0.1
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            with openai.OpenAI(base_url=sidecar.v1, api_key=CLIENT_KEY, max_retries=0) as sdk:
                stream = sdk.chat.completions.create(
                    model="gpt-fake", messages=chat(f"stream {i} a b"), stream=True
                )
                text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
                assert text == f"echo: stream {i} a b"
        except BaseException as exc:  # reported below, on the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(12)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert not errors
    # 12 streams of 7 events 0.1 s apart, side by side: about 0.6 s, not 12 times that.
    assert time.monotonic() - started < 3.0
