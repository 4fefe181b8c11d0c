"""The CLI's HTTP client against a scripted server on loopback: retries and error reporting."""

from __future__ import annotations

import argparse
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from service.client import (
    DEFAULT_URL,
    Client,
    ClientError,
    ClientSettings,
    add_connection_options,
    connect,
)


class Scripted(ThreadingHTTPServer):
    """Answers POSTs from ``script`` (status, body, headers), then 200 ``{"ok": true}``."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict, dict[str, str]]] = []
        self.calls = 0

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                server: Scripted = self.server  # type: ignore[assignment]
                self.rfile.read(int(self.headers.get("content-length") or 0))
                server.calls += 1
                status, body, headers = (
                    server.script.pop(0) if server.script else (200, {"ok": True}, {})
                )
                raw = json.dumps(body).encode()
                self.send_response(status)
                for key, value in {"content-length": str(len(raw)), **headers}.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(raw)

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def server() -> Iterator[Scripted]:
    scripted = Scripted()
    thread = threading.Thread(target=scripted.serve_forever, daemon=True)
    thread.start()
    yield scripted
    scripted.shutdown()
    scripted.server_close()


def url(server: Scripted) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def error(message: str, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": "x", "param": param, "code": None}}


def test_transient_errors_are_retried(server: Scripted) -> None:
    server.script = [
        (429, error("slow down"), {"Retry-After": "0"}),
        (503, error("busy"), {}),
        (502, error("upstream"), {}),
    ]
    with Client(url(server), backoff=0.001) as client:
        assert client.request("POST", "/x", {"a": 1}) == {"ok": True}
    assert server.calls == 4


def test_retries_are_bounded(server: Scripted) -> None:
    server.script = [(503, error("busy"), {})] * 10
    with Client(url(server), retries=2, backoff=0.001) as client, pytest.raises(ClientError) as exc:
        client.request("POST", "/x", {})
    assert (exc.value.status, exc.value.message, server.calls) == (503, "busy", 3)


def test_a_client_error_is_not_retried_and_names_its_param(server: Scripted) -> None:
    server.script = [(400, error("bad metadata", "documents[3].metadata"), {})]
    with Client(url(server), backoff=0.001) as client, pytest.raises(ClientError) as exc:
        client.request("POST", "/x", {})
    assert (exc.value.status, exc.value.param, server.calls) == (400, "documents[3].metadata", 1)


def test_an_unreachable_server_is_reported() -> None:
    with Client("http://127.0.0.1:9", retries=1, backoff=0.001) as client:
        with pytest.raises(ClientError, match="cannot reach"):
            client.request("POST", "/x", {})


def test_connection_settings_flag_then_variable_then_default() -> None:
    env = {"SEMSEARCH_URL": "http://127.0.0.1:9000", "SEMSEARCH_API_KEY": "sk-env"}
    assert ClientSettings.load({}, {}) == ClientSettings(url=DEFAULT_URL, api_key=None)
    from_env = ClientSettings.load({}, env)
    assert (from_env.url, from_env.api_key) == ("http://127.0.0.1:9000", "sk-env")
    from_flag = ClientSettings.load({"url": "http://127.0.0.1:9001", "api_key": None}, env)
    assert (from_flag.url, from_flag.api_key) == ("http://127.0.0.1:9001", "sk-env")


def test_connect_reads_the_parsed_flags(server: Scripted) -> None:
    parser = argparse.ArgumentParser()
    add_connection_options(parser)
    args = parser.parse_args(["--url", url(server)])
    with connect(args, environ={"SEMSEARCH_URL": "http://127.0.0.1:9"}) as client:
        assert client.request("POST", "/x", {}) == {"ok": True}
