"""What the OpenAPI document (``/schema/openapi.json``) says the routes answer, in one place.

Litestar documents its own error body (``{status_code, detail}``) and derives a success body
from the handler's return annotation, which says ``bytes`` for handlers that encode their answer
themselves (for speed). Both were wrong where clients rely on them (issue 10). So each route
declares here: its success type, and every error status it can answer, each with the one error
envelope the server really sends (the ``ErrorBody`` component, referenced everywhere).
``tests/e2e/test_openapi.py`` checks live answers against the served document.

Usage::

    @get("/v1/files", responses=answers(ListFilesResponse, *COMMON, 400))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.spec import (
    Components,
    OpenAPIMediaType,
    Operation,
    Parameter,
    RequestBody,
    Schema,
    SecurityScheme,
)

from service.apidocs import docs_router, render_plugins
from service.errors import ErrorBody

#: Why each status is answered; the body is always ``ErrorBody``.
DESCRIPTIONS: dict[int | str, str] = {
    400: "The request is malformed or breaks a documented limit; `param` names the culprit.",
    401: "Missing or unknown API key (when the server requires keys).",
    404: "The named collection, document, model, file or job does not exist.",
    409: "The name is taken.",
    413: "The body, or the number of documents in it, is over the limit.",
    429: "The upstream provider is rate limiting the server.",
    "4XX": "An upstream provider's own 4xx (status, type and message passed on).",
    500: "An unexpected error (logged); the message is generic.",
    502: "The upstream provider failed, answered garbage, or refused the server's key.",
    503: "The server is shutting down.",
    504: "The upstream provider did not answer in time.",
}

#: Every route: a malformed parameter, authentication (when keys are configured), the unexpected.
COMMON: tuple[int, ...] = (400, 401, 500)
#: Routes on the index: a bad name or filter, a missing collection or document, shutdown.
INDEX: tuple[int, ...] = (400, 404, 503)
#: Routes that may embed through an upstream provider.
UPSTREAM: tuple[int | str, ...] = (429, "4XX", 502, 504)


def answers(
    ok: Any, *errors: int | str, status: int = 200, media_type: str = "application/json"
) -> dict[int, ResponseSpec]:
    """The ``responses=`` of a route: its success body ``ok`` (a type, or ``None`` to keep
    Litestar's) and each error status with the error envelope."""
    specs: dict[int | str, ResponseSpec] = {
        code: ResponseSpec(ErrorBody, description=DESCRIPTIONS[code], generate_examples=False)
        for code in sorted(set(errors), key=str)
    }
    if ok is not None:
        specs[status] = ResponseSpec(
            ok, description="Success.", generate_examples=False, media_type=media_type
        )
    # OpenAPI allows range keys such as "4XX"; Litestar writes str(key) whatever its type.
    return cast(dict[int, ResponseSpec], specs)


def openapi_config(version: str, *, bearer_auth: bool) -> OpenAPIConfig:
    """The document's header; it names bearer auth only when the server requires keys."""
    security: list[dict[str, list[str]]] | None = None
    components = Components()
    if bearer_auth:
        components = Components(
            security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer")}
        )
        security = [{"bearer": []}]
    return OpenAPIConfig(
        title="semsearch",
        version=version,
        components=components,
        security=security,
        create_examples=False,
        # The docs pages and their assets come from the package (service/apidocs.py): offline.
        render_plugins=render_plugins(),
        openapi_router=docs_router(),
    )


def operation_class(
    *, multipart: Schema | None = None, path: dict[str, Schema] | None = None
) -> type[Operation]:
    """An ``operation_class`` correcting what Litestar cannot know: a ``multipart`` body the
    handler streams itself (Litestar, seeing no ``data`` parameter, documents none), and the
    schema of ``path`` parameters (a ``{x:path}`` one is documented as a URI)."""

    @dataclass
    class CorrectedOperation(Operation):
        def __post_init__(self) -> None:
            if multipart is not None:
                self.request_body = RequestBody(
                    content={"multipart/form-data": OpenAPIMediaType(schema=multipart)},
                    required=True,
                )
            for parameter in self.parameters or []:
                if isinstance(parameter, Parameter) and parameter.param_in == "path":
                    parameter.schema = (path or {}).get(parameter.name, parameter.schema)

    return CorrectedOperation
