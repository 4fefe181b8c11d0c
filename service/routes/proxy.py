"""``/v1/*`` that semsearch does not serve itself: forwarded to ``SEMSEARCH_UPSTREAM_URL``.

Litestar matches static path segments before a ``{path:path}`` parameter, so every route of ours
(``/v1/embeddings``, ``/v1/files/...``, ``/v1/batches/...``) wins and only the rest lands here:
``/v1/chat/completions``, ``/v1/completions``, ``/v1/responses/...``, ``/v1/moderations``...
Routing does not backtrack, so a path below one of our own resources that we do not serve
(``/v1/files/{id}/parts``) is a 404 here, not forwarded: those ids are ours, the upstream would
not know them. The fine-tuning API's sub-resources other than jobs (checkpoint permissions,
graders) are not about our ids, hence the second path.
"""

from __future__ import annotations

from typing import Any

from litestar import HttpMethod, Request, route
from litestar.openapi.datastructures import ResponseSpec
from litestar.response.base import ASGIResponse

from service.errors import ErrorBody, NotFoundError
from service.openapi import COMMON, answers
from service.proxy import Forwarder

METHODS = [HttpMethod.GET, HttpMethod.POST, HttpMethod.PUT, HttpMethod.PATCH, HttpMethod.DELETE]


def _error(description: str) -> ResponseSpec:
    return ResponseSpec(ErrorBody, description=description, generate_examples=False)


@route(
    ["/v1/{path:path}", "/v1/fine_tuning/{path:path}"],
    http_method=METHODS,
    status_code=200,
    summary="Forwarded to the upstream",
    description="Any /v1 route semsearch does not serve itself goes to SEMSEARCH_UPSTREAM_URL "
    "as it came (method, query string, body, headers) with the server's upstream key; the "
    "upstream's answer comes back as it sent it: status, headers and body, errors included, "
    "server-sent events relayed as they arrive.",
    response_description="The upstream's answer as the upstream sent it (its body, its status).",
    responses={
        **answers(None, *COMMON),
        404: _error("No upstream is configured (SEMSEARCH_UPSTREAM_URL), or the upstream's 404."),
        413: _error("The body is larger than SEMSEARCH_MAX_BODY_MB."),
        502: _error("The upstream is unreachable, or broke the connection."),
        504: _error("The upstream sent nothing for SEMSEARCH_FORWARD_TIMEOUT seconds."),
    },
)
async def forward(
    path: str, request: Request[Any, Any, Any], forwarder: Forwarder | None
) -> ASGIResponse:
    if forwarder is None:
        raise NotFoundError(
            f"{request.method} {request.url.path} is not served by semsearch itself: it is "
            "forwarded to an upstream, and none is configured. Set SEMSEARCH_UPSTREAM_URL "
            "(e.g. https://api.openai.com/v1) and SEMSEARCH_UPSTREAM_API_KEY.",
            code="upstream_not_configured",
        )
    body = await request.body()  # bounded by SEMSEARCH_MAX_BODY_MB (else 413)
    return await forwarder.forward(request, body)
