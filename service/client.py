"""A small synchronous client of a semsearch server, for the CLI commands.

Transient failures (connection errors, timeouts, 429, 5xx) are retried with exponential
backoff, honouring ``Retry-After``; any other error is raised as :class:`ClientError` carrying
the server's error envelope.
"""

from __future__ import annotations

import os
import random
import time
from typing import Any

import httpx
import msgspec

DEFAULT_URL = "http://127.0.0.1:8000"
_RETRYABLE = {429, 500, 502, 503, 504}


class ClientError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(f"{status}: {message}" + (f" (param: {param})" if param else ""))
        self.status = status
        self.message = message
        self.param = param


def add_connection_options(parser: Any) -> None:
    """``--url`` and ``--api-key``, defaulting to ``SEMSEARCH_URL`` / ``SEMSEARCH_API_KEY``."""
    parser.add_argument(
        "--url",
        default=os.environ.get("SEMSEARCH_URL", DEFAULT_URL),
        help=f"server base URL [env SEMSEARCH_URL; default {DEFAULT_URL}]",
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get("SEMSEARCH_API_KEY"),
        help="bearer key for a protected server [env SEMSEARCH_API_KEY]",
    )


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
                    raise ClientError(0, f"cannot reach {self._http.base_url}: {exc}") from None
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


def _error(response: httpx.Response) -> ClientError:
    try:
        error = msgspec.json.decode(response.content)["error"]
        return ClientError(response.status_code, error["message"], error.get("param"))
    except (msgspec.DecodeError, KeyError, TypeError):
        return ClientError(response.status_code, response.text[:500] or response.reason_phrase)
