"""Liveness and Prometheus metrics."""

from __future__ import annotations

from litestar import Response, get

from service.auth import PUBLIC
from service.metrics import CONTENT_TYPE, Metrics


@get("/healthz", opt={PUBLIC: True}, sync_to_thread=False, include_in_schema=False)
def healthz() -> dict[str, str]:
    """Liveness: answers as soon as the lifespan (model load, cache open) has finished."""
    return {"status": "ok"}


@get("/metrics", sync_to_thread=False, include_in_schema=False)
def metrics(metrics: Metrics) -> Response[str]:
    return Response(metrics.render(), media_type=CONTENT_TYPE)
