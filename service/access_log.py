"""ASGI layer that logs one line per HTTP request: method, path, status and milliseconds.

Usage::

    app.asgi_handler = AccessLog(app.asgi_handler)

Lines go to the ``semsearch.access`` logger at ``info`` (``GET /collections 200 1.4 ms``), so
``--log-level warning`` turns them off; the check is made per request and costs nothing then.
uvicorn's own access log stays off: it logs before the response ends, so it knows no duration.
"""

from __future__ import annotations

import logging
import time

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

ACCESS_LOGGER = "semsearch.access"
logger = logging.getLogger(ACCESS_LOGGER)


class AccessLog:
    def __init__(self, app: ASGIApp, log: logging.Logger = logger) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or not self.log.isEnabledFor(logging.INFO):
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
            elapsed = (time.perf_counter() - start) * 1000
            self.log.info("%s %s %d %.1f ms", scope["method"], scope["path"], status, elapsed)
