"""The one exception handler: every error leaves the service as OpenAI's error envelope.

``ServiceError`` renders itself; ``index`` errors are translated by ``from_index_error``;
Litestar's own errors (validation, unknown route, 405, body too large) keep their status with
OpenAI's ``type``; anything else is a logged 500 with a generic message, never a traceback.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from index import IndexStoreError
from service.errors import (
    ErrorBody,
    ErrorDetail,
    InvalidRequestError,
    NotFoundError,
    ServiceError,
    from_index_error,
)
from service.validation_hints import allowed_values

logger = logging.getLogger("service.errors")

_STATUS_TYPES = {401: "invalid_request_error", 429: "rate_limit_error"}
_STATUS_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
# msgspec says "... - at `$.dimensions`" or "... - at `$.input[3]`"; OpenAI's param is the field.
_AT = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")
_FIELD = re.compile(r"(unknown|missing required) field `(?P<field>[^`]+)`")


def to_service_error(request: Request[Any, Any, Any], exc: Exception) -> ServiceError:
    if isinstance(exc, ServiceError):
        return exc
    if isinstance(exc, IndexStoreError):
        return from_index_error(exc)
    if isinstance(exc, ValidationException):
        return _with_choices(request, _validation_error(exc))
    if isinstance(exc, HTTPException):
        if exc.status_code == 404:
            return NotFoundError(f"Invalid URL ({request.method} {request.url.path})")
        if exc.status_code == 400:  # the body is not JSON: msgspec's DecodeError, re-raised
            return InvalidRequestError(
                f"We could not parse the JSON body of your request. ({exc.detail})"
            )
        error = ServiceError(exc.detail, code=_STATUS_CODES.get(exc.status_code))
        error.status = exc.status_code
        if exc.status_code < 500:
            error.type = _STATUS_TYPES.get(exc.status_code, "invalid_request_error")
        error.headers = dict(exc.headers or {})
        return error
    logger.exception("unhandled error", exc_info=exc)
    return ServiceError("The server had an error while processing your request.")


def _validation_error(exc: ValidationException) -> InvalidRequestError:
    """Litestar wraps msgspec's message in ``extra``; lift it out and name the field."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    message = str(extra[0].get("message", exc.detail)) if extra else exc.detail
    key = str(extra[0].get("key") or "") if extra else ""
    if key == "data":  # Litestar's name for the whole body
        key = ""
    return invalid_request(message, key)


def invalid_request(message: str, key: str = "") -> InvalidRequestError:
    """msgspec's validation message as a 400 naming the field in ``param`` (``key``: where the
    object that failed sits, if not at the top)."""
    param = None
    match = _AT.search(message)
    if match:
        message = message[: match.start()]
        param = match.group("path") or None
    field = _FIELD.search(message)
    if field and param is None:  # an unknown/missing field inside the object at ``key``
        param = f"{key}.{field.group('field')}" if key else field.group("field")
    if param is None and key:
        param = key
    return InvalidRequestError(f"Invalid request: {message}", param=param)


def _with_choices(request: Request[Any, Any, Any], error: InvalidRequestError) -> ServiceError:
    """``Invalid enum value 'x'`` for the body's field ``param`` also lists the allowed values."""
    if "Invalid enum value" not in error.message or not error.param:
        return error
    data = request.route_handler.parsed_data_field
    choices = allowed_values(data.annotation, error.param) if data is not None else None
    if choices:
        error.message += f"; expected one of: {', '.join(map(repr, choices))}"
    return error


def handle_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    error = to_service_error(request, exc)
    body = ErrorBody(
        error=ErrorDetail(
            message=error.message, type=error.type, param=error.param, code=error.code
        )
    )
    return Response(body, status_code=error.status, headers=error.headers or None)
