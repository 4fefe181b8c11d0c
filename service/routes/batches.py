"""``/v1/batches``: OpenAI's Batch API over ``BatchService`` (``client.batches.*`` of the SDK)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter

from service.batches import BatchService
from service.batches.schemas import Batch, CreateBatchRequest, ListBatchesResponse, json_encoder
from service.errors import ErrorBody

Limit = Annotated[int, Parameter(ge=1, le=100)]


def _json(body: object) -> Response[bytes]:
    return Response(json_encoder.encode(body), media_type="application/json")


def _spec(container: type[Any], description: str) -> ResponseSpec:
    return ResponseSpec(container, description=description, generate_examples=False)


_BATCH = _spec(Batch, "The batch.")
_NOT_FOUND = _spec(ErrorBody, "No such batch.")


@post(
    "/v1/batches",
    status_code=200,
    responses={
        200: _spec(Batch, "The new batch, status validating."),
        400: _spec(
            ErrorBody,
            "A bad request, an input file that is not purpose batch, or a bad line in it "
            "(named); or, for an endpoint other than /v1/embeddings, no upstream configured.",
        ),
    },
)
async def create_batch(data: CreateBatchRequest, batches: BatchService) -> Response[bytes]:
    """``/v1/embeddings`` batches run here; other endpoints' are created on the upstream."""
    return _json(await batches.create(data))


@get("/v1/batches", responses={200: _spec(ListBatchesResponse, "Batches, newest first.")})
async def list_batches(
    batches: BatchService, after: str | None = None, limit: Limit = 20
) -> Response[bytes]:
    data, has_more = await batches.list_page(limit=limit, after=after)
    body = ListBatchesResponse(
        data=data,
        first_id=data[0].id if data else None,
        last_id=data[-1].id if data else None,
        has_more=has_more,
    )
    return _json(body)


@get("/v1/batches/{batch_id:str}", responses={200: _BATCH, 404: _NOT_FOUND})
async def retrieve_batch(batch_id: str, batches: BatchService) -> Response[bytes]:
    return _json(await batches.get(batch_id))


@post(
    "/v1/batches/{batch_id:str}/cancel",
    status_code=200,
    responses={
        200: _spec(Batch, "The batch, cancelling (or cancelled, when it had not started)."),
        400: _spec(ErrorBody, "The batch has already ended."),
        404: _NOT_FOUND,
    },
)
async def cancel_batch(batch_id: str, batches: BatchService) -> Response[bytes]:
    return _json(await batches.cancel(batch_id))
