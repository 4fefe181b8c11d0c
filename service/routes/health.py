"""Liveness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get

from service.auth import PUBLIC
from service.metrics import Metrics


@get("/healthz", opt={PUBLIC: True}, sync_to_thread=False, include_in_schema=False)
def healthz() -> dict[str, str]:
    """Liveness: answers as soon as the lifespan (model load, cache open) has finished."""
    return {"status": "ok"}


@get("/metrics", sync_to_thread=False, include_in_schema=False)
def metrics(request: Request[Any, Any, Any], metrics: Metrics) -> Response[bytes]:
    body, content_type = metrics.exposition(request.headers.get("accept"))
    # The header as the library gives it: Litestar would append a second charset to a
    # ``media_type`` that already has one.
    return Response(body, headers={"content-type": content_type})
