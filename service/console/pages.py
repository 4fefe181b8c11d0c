"""The console's page, at ``/`` and ``/console``: ``index.html`` with its assets' URL filled in.

The page is small and names the digest of its assets, so it is sent with ``no-cache`` (the
browser asks every time) and a strong ``ETag`` (it gets ``304 Not Modified`` while nothing
changed). Its Content-Security-Policy allows scripts, styles and requests to this server only,
and no inline script: a document's text can never run as code, and nothing loads from a CDN.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

from litestar import Request, Response, get
from litestar.types import ControllerRouterHandler

from service.auth import PUBLIC
from service.console.assets import assets_router, assets_url

INDEX = Path(__file__).parent / "index.html"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


@cache
def _page() -> tuple[bytes, str]:
    body = INDEX.read_text(encoding="utf-8").replace("{{assets}}", assets_url()).encode()
    return body, '"' + hashlib.sha256(body).hexdigest()[:16] + '"'


@get(
    ["/", "/console"],
    opt={PUBLIC: True},
    sync_to_thread=False,
    include_in_schema=False,
    name="console",
)
def console_page(request: Request[Any, Any, Any]) -> Response[bytes]:
    body, etag = _page()
    headers = {
        "cache-control": "no-cache",
        "etag": etag,
        "content-security-policy": CONTENT_SECURITY_POLICY,
        "x-content-type-options": "nosniff",
    }
    if etag in request.headers.get("if-none-match", ""):
        return Response(b"", status_code=304, headers=headers)
    return Response(
        body,
        headers=headers | {"content-type": "text/html; charset=utf-8"},
    )


def console_routes() -> list[ControllerRouterHandler]:
    return [console_page, assets_router()]
