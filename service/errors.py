"""The service's error hierarchy, and the one place that turns errors into HTTP responses' bodies.

Handlers and providers raise these (or ``index`` errors); a single exception handler in the app
renders them as OpenAI's error envelope ``{"error": {"message", "type", "param", "code"}}``, on
``/v1/*`` and everywhere else alike.
"""

from __future__ import annotations

from typing import ClassVar

import msgspec

from index import (
    CollectionExistsError,
    CollectionNotFoundError,
    IndexStoreError,
    InvalidArgumentError,
    StoreClosedError,
    StoreLockedError,
)


class ErrorDetail(msgspec.Struct, kw_only=True):
    """OpenAI's error object; all four keys are always sent (``param``/``code`` may be null)."""

    message: str
    type: str
    param: str | None
    code: str | None


class ErrorBody(msgspec.Struct, kw_only=True):
    error: ErrorDetail


class ServiceError(Exception):
    """Base class: ``status`` and ``type`` are class attributes, like Datasette's ``Base400``
    (an instance may override them: an upstream's own status passed through)."""

    status: int = 500
    type: str = "server_error"
    default_code: ClassVar[str | None] = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code
        self.headers = headers or {}

    def body(self) -> ErrorBody:
        return ErrorBody(
            error=ErrorDetail(
                message=self.message, type=self.type, param=self.param, code=self.code
            )
        )


class InvalidRequestError(ServiceError):
    status = 400
    type = "invalid_request_error"


class AuthenticationError(ServiceError):
    status = 401
    type = "invalid_request_error"
    default_code = "invalid_api_key"


class NotFoundError(ServiceError):
    status = 404
    type = "invalid_request_error"
    default_code = "not_found"


class ModelNotFoundError(NotFoundError):
    default_code = "model_not_found"


class ConflictError(ServiceError):
    status = 409
    type = "invalid_request_error"
    default_code = "conflict"


class PayloadTooLargeError(ServiceError):
    status = 413
    type = "invalid_request_error"
    default_code = "payload_too_large"


class RateLimitError(ServiceError):
    status = 429
    type = "rate_limit_error"
    default_code = "rate_limit_exceeded"


class UpstreamError(ServiceError):
    """The upstream provider failed (5xx after retries, unreachable, garbage): 502."""

    status = 502
    type = "upstream_error"
    default_code = "bad_gateway"


class UpstreamTimeoutError(UpstreamError):
    status = 504
    default_code = "gateway_timeout"


class ServiceUnavailableError(ServiceError):
    status = 503
    type = "server_error"
    default_code = "unavailable"


class UpstreamStatusError(ServiceError):
    """An upstream 4xx passed through to the client with its own status, type and message."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, param=param, code=code, headers=headers)
        self.status = status
        self.type = type


_INDEX_ERRORS: tuple[tuple[type[IndexStoreError], type[ServiceError]], ...] = (
    (InvalidArgumentError, InvalidRequestError),
    (CollectionNotFoundError, NotFoundError),
    (CollectionExistsError, ConflictError),
    (StoreLockedError, ServiceUnavailableError),
    (StoreClosedError, ServiceUnavailableError),
)


def from_index_error(exc: IndexStoreError) -> ServiceError:
    """Translate an ``index`` error into the service error of the same meaning."""
    for index_cls, service_cls in _INDEX_ERRORS:
        if isinstance(exc, index_cls):
            return service_cls(exc.message, param=exc.param)
    return ServiceError(exc.message, param=exc.param)
