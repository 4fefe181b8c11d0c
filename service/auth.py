"""Bearer-key authentication for every route except those marked ``opt={"public": True}``.

When ``SEMSEARCH_API_KEYS`` is empty the middleware is not installed at all. Keys are compared
with ``hmac.compare_digest`` against every configured key, so timing reveals neither which key
nor how much of one matched.
"""

from __future__ import annotations

import hmac

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from service.errors import AuthenticationError

PUBLIC = "public"  # route opt key: no auth (the liveness probe)


def check_bearer(header: bytes | None, keys: tuple[bytes, ...]) -> None:
    """Raise ``AuthenticationError`` unless ``header`` is ``Bearer <one of keys>``."""
    if not header:
        raise AuthenticationError(
            "You didn't provide an API key. Send it in the Authorization header "
            "as 'Authorization: Bearer YOUR_KEY'."
        )
    scheme, _, token = header.partition(b" ")
    token = token.strip()
    matched = False
    for key in keys:  # no early exit: the time taken does not depend on which key matched
        matched |= hmac.compare_digest(token, key)
    if scheme.lower() != b"bearer" or not matched:
        raise AuthenticationError("Incorrect API key provided.")


class BearerAuth(ASGIMiddleware):
    """Litestar middleware; its errors reach the app's one exception handler."""

    scopes = (ScopeType.HTTP,)
    exclude_opt_key = PUBLIC

    def __init__(self, keys: tuple[str, ...]) -> None:
        self.keys = tuple(key.encode() for key in keys)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        header = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        check_bearer(header, self.keys)
        await next_app(scope, receive, send)
