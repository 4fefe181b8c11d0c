"""Request bodies that fail to decode are the client's error (400), never the server's (500).

Litestar decodes a JSON body with msgspec and turns msgspec's ``DecodeError`` into a 400, but
two other failures escaped as 500s (issue 10): a string that is not valid UTF-8
(``UnicodeDecodeError``) and a body nested deeper than the decoder recurses (``RecursionError``,
at about ``sys.getrecursionlimit()`` levels: a body nested 5,000 levels deep). This request
class, set app-wide, reports both as ``invalid_request_error`` on every JSON route. Where a
request's free-form parts are nested on purpose, tighter limits apply and are named
(``where``: ``index.filters.MAX_DEPTH``).
"""

from __future__ import annotations

from typing import Any

from litestar import Request

from service.errors import InvalidRequestError


class JSONBodyRequest(Request[Any, Any, Any]):
    async def json(self) -> Any:
        try:
            return await super().json()
        except UnicodeDecodeError as exc:
            raise InvalidRequestError(
                "We could not parse the JSON body of your request: it is not valid UTF-8 "
                f"({exc.reason})."
            ) from None
        except RecursionError:
            raise InvalidRequestError(
                "We could not parse the JSON body of your request: it is nested too deeply."
            ) from None
