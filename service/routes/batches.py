"""``/v1/batches``: OpenAI's Batch API over ``BatchService`` (``client.batches.*`` of the SDK)."""

from __future__ import annotations

from typing import Annotated

from litestar import Response, get, post
from litestar.params import Parameter

from service.batches import BatchService
from service.batches.schemas import Batch, CreateBatchRequest, ListBatchesResponse, json_encoder
from service.openapi import COMMON, UPSTREAM, answers

Limit = Annotated[int, Parameter(ge=1, le=100)]


def _json(body: object) -> Response[bytes]:
    return Response(json_encoder.encode(body), media_type="application/json")


# A batch for another endpoint than /v1/embeddings is created on, and refreshed from, the
# upstream: its errors pass through (``UPSTREAM``).
@post("/v1/batches", status_code=200, responses=answers(Batch, *COMMON, *UPSTREAM, 404))
async def create_batch(data: CreateBatchRequest, batches: BatchService) -> Response[bytes]:
    """``/v1/embeddings`` batches run here; other endpoints' are created on the upstream."""
    return _json(await batches.create(data))


@get("/v1/batches", responses=answers(ListBatchesResponse, *COMMON, *UPSTREAM))
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


@get("/v1/batches/{batch_id:str}", responses=answers(Batch, *COMMON, *UPSTREAM, 404))
async def retrieve_batch(batch_id: str, batches: BatchService) -> Response[bytes]:
    return _json(await batches.get(batch_id))


@post(
    "/v1/batches/{batch_id:str}/cancel",
    status_code=200,
    responses=answers(Batch, *COMMON, *UPSTREAM, 404),
)
async def cancel_batch(batch_id: str, batches: BatchService) -> Response[bytes]:
    return _json(await batches.cancel(batch_id))
