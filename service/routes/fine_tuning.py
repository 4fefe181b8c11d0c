"""``/v1/fine_tuning/jobs``: OpenAI's Fine-tuning API over ``FineTuningService``."""

from __future__ import annotations

from typing import Annotated

from litestar import Response, get, post
from litestar.params import Parameter

from service.finetune import FineTuningService
from service.finetune.schemas import (
    CreateFineTuningJobRequest,
    FineTuningJob,
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


@get("/v1/fine_tuning/jobs", responses=answers(ListJobsResponse, *COMMON))
async def list_jobs(
    fine_tuning: FineTuningService, after: str | None = None, limit: Limit = 20
) -> Response[bytes]:
    jobs, has_more = await fine_tuning.list(limit=limit, after=after)
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
