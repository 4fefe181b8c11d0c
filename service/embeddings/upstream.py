"""Client of an OpenAI-compatible ``/embeddings`` upstream (OpenAI, vLLM, TEI, another semsearch).

Usage::

    client = UpstreamClient(httpx.AsyncClient(), settings, metrics)
    vectors, tokens = await client.embed("text-embedding-3-small", ["hi"], dimensions=None)

Batches are split to at most 2048 inputs and ``upstream_batch_tokens`` estimated tokens per
request; at most ``upstream_concurrency`` requests are in flight across all callers. 429, 5xx,
connect errors and timeouts are retried with full-jitter exponential backoff, honouring
``Retry-After``. Vectors are asked for as base64 (a quarter of the JSON size) and decoded.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import msgspec
import numpy as np

from service.embeddings.schemas import (
    MAX_INPUTS,
    UpstreamResponse,
    json_encoder,
    upstream_error_decoder,
    upstream_response_decoder,
)
from service.embeddings.types import Inputs
from service.errors import ServiceError, UpstreamError, UpstreamStatusError, UpstreamTimeoutError
from service.metrics import Metrics
from service.settings import Settings

logger = logging.getLogger(__name__)


def estimate_tokens(item: str | list[int]) -> int:
    """A deliberately high guess (3 UTF-8 bytes a token) since we do not know the upstream's
    tokenizer; only used to split batches and to share ``usage`` among a batch's inputs."""
    if isinstance(item, list):
        return len(item)
    return len(item.encode("utf-8", "surrogatepass")) // 3 + 1


def split_batches(inputs: Sequence[str | list[int]], max_tokens: int) -> list[tuple[int, int]]:
    """``(start, stop)`` ranges of at most 2048 inputs and ``max_tokens`` estimated tokens."""
    ranges: list[tuple[int, int]] = []
    start = budget = 0
    for i, item in enumerate(inputs):
        cost = estimate_tokens(item)
        if i > start and (i - start >= MAX_INPUTS or budget + cost > max_tokens):
            ranges.append((start, i))
            start, budget = i, 0
        budget += cost
    if start < len(inputs):
        ranges.append((start, len(inputs)))
    return ranges


def share_tokens(inputs: Sequence[str | list[int]], total: int) -> list[int]:
    """Split a batch's ``prompt_tokens`` over its inputs: token arrays count exactly, texts get
    shares proportional to their size (largest remainder), so the shares sum to ``total``."""
    exact = [len(item) if isinstance(item, list) else None for item in inputs]
    rest = max(total - sum(n for n in exact if n is not None), 0)
    weights = [
        estimate_tokens(item) if n is None else 0 for item, n in zip(inputs, exact, strict=True)
    ]
    weight_sum = sum(weights)
    if weight_sum == 0:
        return [n or 0 for n in exact]
    raw = [rest * w / weight_sum for w in weights]
    shares = [int(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: raw[i] - shares[i], reverse=True)
    for i in order[: rest - sum(shares)]:
        shares[i] += 1
    return [n if n is not None else s for n, s in zip(exact, shares, strict=True)]


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds a ``Retry-After`` value asks for (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max(email.utils.parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return None


class UpstreamClient:
    """Embeds through the upstream; raises ``ServiceError`` subclasses the handler renders."""

    def __init__(self, http: httpx.AsyncClient, settings: Settings, metrics: Metrics) -> None:
        if settings.upstream_url is None:
            raise ValueError("no upstream configured")
        self._http = http
        self._base = settings.upstream_url.rstrip("/")
        self._url = self._base + "/embeddings"
        self._key = settings.upstream_api_key
        self._settings = settings
        self._metrics = metrics
        self._limit = asyncio.Semaphore(settings.upstream_concurrency)

    async def embed(
        self, model: str, inputs: Inputs, dimensions: int | None
    ) -> tuple[np.ndarray, list[int]]:
        """Vectors ``[n, d]`` in input order, and a token count per input."""
        ranges = split_batches(inputs, self._settings.upstream_batch_tokens)
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [
                    group.create_task(self._embed_batch(model, inputs[a:b], dimensions))
                    for a, b in ranges
                ]
        except* ServiceError as failures:
            raise failures.exceptions[0] from None
        parts = [task.result() for task in tasks]
        if len({part[0].shape[1] for part in parts}) > 1:
            raise UpstreamError("upstream returned vectors of different dimensions")
        vectors = np.concatenate([part[0] for part in parts]) if len(parts) > 1 else parts[0][0]
        return vectors, [n for part in parts for n in part[1]]

    async def _embed_batch(
        self, model: str, batch: Inputs, dimensions: int | None
    ) -> tuple[np.ndarray, list[int]]:
        payload: dict[str, object] = {"model": model, "input": batch, "encoding_format": "base64"}
        if dimensions is not None:
            payload["dimensions"] = dimensions
        body = await self._post(json_encoder.encode(payload))
        try:
            answer = upstream_response_decoder.decode(body)
            vectors = _vectors(answer, len(batch))
        except (msgspec.DecodeError, ValueError) as exc:
            self._metrics.upstream_errors.inc(kind="malformed")
            raise UpstreamError(
                f"upstream returned a malformed embeddings response: {exc}"
            ) from None
        total = answer.usage.prompt_tokens if answer.usage else 0
        return vectors, share_tokens(batch, total)

    async def _post(self, content: bytes) -> bytes:
        headers = {"content-type": "application/json"}
        return (await self.request("POST", "/embeddings", content=content, headers=headers)).content

    async def request(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        files: Callable[[], dict[str, Any]] | None = None,
        data: dict[str, str] | None = None,
        idempotent: bool = True,
    ) -> httpx.Response:
        """One upstream call (``path`` under the base URL) with the retry policy and error
        mapping of embeddings; the fine-tuning proxy (issue 5) reuses it. ``files`` is a
        factory so that every attempt sends a fresh multipart body. Returns a 2xx response.

        A call that is not ``idempotent`` (creating a fine-tuning job: a duplicate would be
        trained and billed) is retried only when the upstream surely did nothing: a 429, or a
        connection that never opened. A 5xx or a read timeout may come after the work was done.
        """
        settings = self._settings
        url = self._base + path
        headers = dict(headers or {})
        if self._key:
            headers["authorization"] = f"Bearer {self._key}"
        for attempt in range(settings.upstream_max_retries + 1):
            wait: float | None = None
            try:
                async with self._limit:
                    self._metrics.upstream_requests.inc()
                    response = await self._http.request(
                        method,
                        url,
                        content=content,
                        headers=headers,
                        params=params,
                        files=files() if files is not None else None,
                        data=data,
                    )
            except httpx.TimeoutException as exc:
                reason = "timeout"
                retryable = idempotent or isinstance(exc, httpx.ConnectTimeout)
                error: ServiceError = UpstreamTimeoutError(
                    f"the upstream did not answer within {settings.upstream_timeout:g} s"
                )
            except httpx.TransportError as exc:
                reason = "connection"
                retryable = idempotent or isinstance(exc, httpx.ConnectError)
                error = UpstreamError(
                    f"the upstream at {httpx.URL(url).host} is unreachable ({type(exc).__name__})"
                )
            else:
                if 200 <= response.status_code < 300:
                    return response
                if response.status_code != 429 and response.status_code < 500:
                    self._metrics.upstream_errors.inc(kind=str(response.status_code))
                    if response.status_code in (401, 403):
                        raise self._refused(response)
                    raise self._passthrough(response)
                reason = str(response.status_code)
                retryable = idempotent or response.status_code == 429
                wait = retry_after_seconds(response.headers.get("retry-after"))
                error = self._passthrough(response)
                if response.status_code >= 500:
                    error = UpstreamError(
                        f"the upstream failed with {response.status_code}: {error.message}"
                    )
            if attempt == settings.upstream_max_retries or not retryable:
                self._metrics.upstream_errors.inc(kind=reason)
                raise error
            self._metrics.upstream_retries.inc(reason=reason)
            ceiling = min(settings.upstream_backoff_max, settings.upstream_backoff * 2**attempt)
            delay = random.uniform(0, ceiling) if wait is None else wait
            logger.info("upstream %s; retry %d in %.2fs", reason, attempt + 1, delay)
            await asyncio.sleep(min(delay, settings.upstream_backoff_max))
        raise AssertionError("unreachable")  # pragma: no cover

    def _refused(self, response: httpx.Response) -> UpstreamError:
        """A 401/403 is about *our* upstream key, not the client's: passed on as is, it would
        read as if the client's own semsearch key were wrong (issue 10). A 502 that says so,
        with the upstream's words for the operator."""
        said = self._passthrough(response).message
        return UpstreamError(
            f"the upstream refused the server's API key ({response.status_code}: {said}); "
            "the server's operator must fix SEMSEARCH_UPSTREAM_API_KEY",
            code="upstream_authentication_failed",
        )

    def _passthrough(self, response: httpx.Response) -> UpstreamStatusError:
        """The upstream's own status and message, with our upstream key scrubbed out of it."""
        message, type_, param, code = f"upstream returned {response.status_code}", None, None, None
        try:
            detail = upstream_error_decoder.decode(response.content).error
            if isinstance(detail, str):
                message = detail
            else:
                message = detail.message or message
                type_, param = detail.type, detail.param
                code = None if detail.code is None else str(detail.code)
        except msgspec.DecodeError:
            pass
        if self._key:
            message = message.replace(self._key, "***")
        default_type = (
            "rate_limit_error" if response.status_code == 429 else "invalid_request_error"
        )
        headers = {}
        if "retry-after" in response.headers:
            headers["Retry-After"] = response.headers["retry-after"]
        return UpstreamStatusError(
            message,
            status=response.status_code,
            type=type_ or default_type,
            param=param,
            code=code,
            headers=headers,
        )


def _vectors(answer: UpstreamResponse, expected: int) -> np.ndarray:
    items = sorted(answer.data, key=lambda item: item.index)
    if [item.index for item in items] != list(range(expected)):
        raise ValueError(f"expected {expected} embeddings indexed 0..{expected - 1}")
    rows = []
    for item in items:
        if isinstance(item.embedding, str):
            rows.append(np.frombuffer(base64.b64decode(item.embedding, validate=True), dtype="<f4"))
        else:
            rows.append(np.asarray(item.embedding, dtype=np.float32))
    if len({row.shape[0] for row in rows}) != 1 or rows[0].shape[0] == 0:
        raise ValueError("embeddings have different or zero lengths")
    return np.stack(rows).astype(np.float32, copy=False)
