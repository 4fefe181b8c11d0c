"""ASGI layer that counts and times every HTTP request by its route *template*.

Templates (``/v1/models/{model_id:path}``) keep the label set small whatever ids clients send;
requests that match no route share the label ``<unmatched>``.
"""

from __future__ import annotations

import time

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from service.metrics import Metrics


class HTTPMetrics:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("path_template") or "<unmatched>"
            method = scope["method"]
            self.metrics.http_requests.inc(method=method, route=route, status=str(status))
            self.metrics.http_duration.observe(
                time.perf_counter() - start, method=method, route=route
            )
