"""``/v1/fine_tuning/jobs``: OpenAI's Fine-tuning API over ``FineTuningService``."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.params import Parameter

from service.errors import InvalidRequestError
from service.finetune import FineTuningService
from service.finetune.schemas import (
    CreateFineTuningJobRequest,
    FineTuningJob,
    ListCheckpointsResponse,
    ListEventsResponse,
    ListJobsResponse,
    json_encoder,
)
from service.openapi import COMMON, UPSTREAM, answers

Limit = Annotated[int, Parameter(ge=1, le=1000)]


def _json(body: object) -> Response[bytes]:
    return Response(json_encoder.encode(body), media_type="application/json")


@post(
    "/v1/fine_tuning/jobs",
    status_code=200,
    responses=answers(FineTuningJob, *COMMON, *UPSTREAM, 404, 413, 503),
)
async def create_job(
    data: CreateFineTuningJobRequest, fine_tuning: FineTuningService
) -> Response[bytes]:
    """Local adapter job for embedding models; proxied upstream job for chat models."""
    return _json(await fine_tuning.create(data))


def metadata_filter(request: Request[Any, Any, Any]) -> dict[str, str] | None:
    """OpenAI's ``metadata[k]=v`` query filter (deepObject style; every pair must match), or
    ``metadata=null`` for jobs without metadata (an empty dict). None: no filter."""
    wanted: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        if key == "metadata":
            if value != "null":
                raise InvalidRequestError(
                    "metadata must be given as metadata[key]=value, or metadata=null",
                    param="metadata",
                )
            return {}
        if key.startswith("metadata[") and key.endswith("]"):
            wanted[key[len("metadata[") : -1]] = value
    return wanted or None


@get("/v1/fine_tuning/jobs", responses=answers(ListJobsResponse, *COMMON))
async def list_jobs(
    request: Request[Any, Any, Any],
    fine_tuning: FineTuningService,
    after: str | None = None,
    limit: Limit = 20,
) -> Response[bytes]:
    """Newest first; ``metadata[k]=v`` keeps the jobs whose metadata has every pair given."""
    jobs, has_more = await fine_tuning.list_page(
        limit=limit, after=after, metadata=metadata_filter(request)
    )
    return _json(ListJobsResponse(data=jobs, has_more=has_more))


@get(
    "/v1/fine_tuning/jobs/{fine_tuning_job_id:str}",
    responses=answers(FineTuningJob, *COMMON, *UPSTREAM, 404),
)
async def retrieve_job(fine_tuning_job_id: str, fine_tuning: FineTuningService) -> Response[bytes]:
    return _json(await fine_tuning.get(fine_tuning_job_id))


@post(
    "/v1/fine_tuning/jobs/{fine_tuning_job_id:str}/cancel",
    status_code=200,
    responses=answers(FineTuningJob, *COMMON, *UPSTREAM, 404),
)
async def cancel_job(fine_tuning_job_id: str, fine_tuning: FineTuningService) -> Response[bytes]:
    return _json(await fine_tuning.cancel(fine_tuning_job_id))


@get(
    "/v1/fine_tuning/jobs/{fine_tuning_job_id:str}/events",
    responses=answers(ListEventsResponse, *COMMON, *UPSTREAM, 404),
)
async def list_events(
    fine_tuning_job_id: str,
    fine_tuning: FineTuningService,
    after: str | None = None,
    limit: Limit = 20,
) -> Response[bytes]:
    events, has_more = await fine_tuning.events(fine_tuning_job_id, limit=limit, after=after)
    return _json(ListEventsResponse(data=events, has_more=has_more))


@get(
    "/v1/fine_tuning/jobs/{fine_tuning_job_id:str}/checkpoints",
    responses=answers(ListCheckpointsResponse, *COMMON, *UPSTREAM, 404),
)
async def list_checkpoints(
    fine_tuning_job_id: str,
    fine_tuning: FineTuningService,
    after: str | None = None,
    limit: Limit = 10,
) -> Response[bytes]:
    """Newest first: a local job's kept epochs (each usable as a model), or the upstream's."""
    data, has_more = await fine_tuning.checkpoints(fine_tuning_job_id, limit=limit, after=after)
    body = ListCheckpointsResponse(
        data=data,
        first_id=data[0].id if data else None,
        last_id=data[-1].id if data else None,
        has_more=has_more,
    )
    return _json(body)
