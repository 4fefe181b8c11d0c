"""A small synchronous client of a semsearch server, for the CLI commands.

Usage (in a command)::

    add_connection_options(parser)          # --url, --api-key
    with connect(args) as client:           # flags, then SEMSEARCH_URL / SEMSEARCH_API_KEY
        client.request("GET", "/collections")

Transient failures (connection errors, timeouts, 429, 5xx) are retried with exponential
backoff, honouring ``Retry-After``; any other error is raised as :class:`ClientError` carrying
the server's error envelope. Where the server is comes from ``ClientSettings``, read through
the same table machinery as the server's own settings (``service/settings.py``).
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections.abc import Mapping
from typing import Annotated, Any

import httpx
import msgspec
from msgspec import Meta

from service.settings import load_settings, settings_table

DEFAULT_URL = "http://127.0.0.1:8000"
_RETRYABLE = {429, 500, 502, 503, 504}


class ClientSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Which server the CLI's commands talk to, and with which key."""

    url: Annotated[str, Meta(description="server base URL")] = DEFAULT_URL
    api_key: Annotated[
        str | None, Meta(description="bearer key for a protected server", extra={"secret": True})
    ] = None

    @classmethod
    def load(
        cls, flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> ClientSettings:
        return load_settings(cls, CLIENT_SETTINGS, flags, environ)


CLIENT_SETTINGS = settings_table(ClientSettings)


class ClientError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        shown = f"{status}: {message}" if status else message  # 0: no answer at all
        super().__init__(shown + (f" (param: {param})" if param else ""))
        self.status = status
        self.message = message
        self.param = param


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    """``--url`` and ``--api-key``, defaulting to ``SEMSEARCH_URL`` / ``SEMSEARCH_API_KEY``."""
    for setting in CLIENT_SETTINGS:
        default = "" if setting.default is None else f"; default {setting.default}"
        parser.add_argument(
            f"--{setting.flag}",
            dest=setting.name,
            default=None,
            help=f"{setting.help} [env {setting.env}{default}]",
        )


def connect(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> Client:
    """A client for the server the command's flags, or else the environment, name."""
    flags = {setting.name: getattr(args, setting.name, None) for setting in CLIENT_SETTINGS}
    settings = ClientSettings.load(flags, environ)
    return Client(settings.url, settings.api_key)


class Client:
    def __init__(
        self, url: str, api_key: str | None = None, *, retries: int = 5, backoff: float = 0.5
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=300.0)
        self._retries = retries
        self._backoff = backoff

    def request(self, method: str, path: str, body: Any = None) -> Any:
        content = None if body is None else msgspec.json.encode(body)
        headers = {"Content-Type": "application/json"} if content is not None else {}
        for attempt in range(self._retries + 1):
            try:
                response = self._http.request(method, path, content=content, headers=headers)
            except httpx.TransportError as exc:
                if attempt == self._retries:
                    raise ClientError(0, _unreachable(self._http.base_url, exc)) from None
                self._sleep(attempt, None)
                continue
            if response.status_code in _RETRYABLE and attempt < self._retries:
                self._sleep(attempt, response.headers.get("Retry-After"))
                continue
            if response.is_success:
                return msgspec.json.decode(response.content)
            raise _error(response)
        raise AssertionError("unreachable")

    def _sleep(self, attempt: int, retry_after: str | None) -> None:
        delay = random.uniform(0, self._backoff * 2**attempt)
        if retry_after is not None:
            try:
                delay = max(delay, float(retry_after))
            except ValueError:
                pass
        time.sleep(min(delay, 30.0))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _unreachable(url: httpx.URL, exc: httpx.TransportError) -> str:
    return (
        f"cannot reach {url} ({exc or type(exc).__name__}). Is the server running? "
        "Start one with 'semsearch serve', or point --url (or SEMSEARCH_URL) at yours."
    )


def _error(response: httpx.Response) -> ClientError:
    try:
        error = msgspec.json.decode(response.content)["error"]
        return ClientError(response.status_code, error["message"], error.get("param"))
    except (msgspec.DecodeError, KeyError, TypeError):
        return ClientError(response.status_code, response.text[:500] or response.reason_phrase)
