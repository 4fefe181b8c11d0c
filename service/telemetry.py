"""The ASGI layer around the whole app: each HTTP request counted, timed and logged.

Usage::

    app.asgi_handler = RequestTelemetry(app.asgi_handler, metrics)

Metrics are by route *template* (``/v1/models/{model_id:path}``), so the label set stays small
whatever ids clients send; requests that match no route share the label ``<unmatched>``. The
access line (``GET /collections 200 1.4 ms``) goes to the ``semsearch.access`` logger at
``info``, so ``--log-level warning`` turns it off (checked per request: it then costs nothing).
uvicorn's own access log stays off: it logs before the response ends, so it knows no duration.
One layer does both, so a request pays for one wrapper, not two.
"""

from __future__ import annotations

import logging
import time

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from service.metrics import Metrics

ACCESS_LOGGER = "semsearch.access"
access_log = logging.getLogger(ACCESS_LOGGER)


class RequestTelemetry:
    def __init__(self, app: ASGIApp, metrics: Metrics, log: logging.Logger = access_log) -> None:
        self.app = app
        self.metrics = metrics
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # what the client gets if the app fails before answering

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("path_template") or "<unmatched>"
            method = scope["method"]
            self.metrics.http_requests.inc(method=method, route=route, status=str(status))
            self.metrics.http_duration.observe(elapsed, method=method, route=route)
            if self.log.isEnabledFor(logging.INFO):
                self.log.info("%s %s %d %.1f ms", method, scope["path"], status, elapsed * 1000)
