"""Wire types of the Fine-tuning API, as ``openai-reference`` has them (``FineTuningJob``...)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

Auto = Literal["auto"]
BatchSize = Auto | Annotated[int, Meta(ge=1, le=256)]
Epochs = Auto | Annotated[int, Meta(ge=1, le=50)]
LearningRate = Auto | Annotated[float, Meta(gt=0)]
Seed = Annotated[int, Meta(ge=0, le=2_147_483_647)]
Suffix = Annotated[str, Meta(min_length=1, max_length=64)]
Metadata = Annotated[
    dict[Annotated[str, Meta(max_length=64)], Annotated[str, Meta(max_length=512)]],
    Meta(max_length=16),
]
Status = Literal["validating_files", "queued", "running", "succeeded", "failed", "cancelled"]
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})


class Hyperparameters(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    batch_size: BatchSize = "auto"
    learning_rate_multiplier: LearningRate = "auto"
    n_epochs: Epochs = "auto"


class SupervisedMethod(msgspec.Struct, kw_only=True):
    hyperparameters: Hyperparameters | None = None


class Method(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``supervised`` is typed; ``dpo`` and ``reinforcement`` only ever go upstream, so they
    are kept as given and passed through."""

    type: Literal["supervised", "dpo", "reinforcement"]
    supervised: SupervisedMethod | None = None
    dpo: dict[str, Any] | None = None
    reinforcement: dict[str, Any] | None = None


class WandbIntegration(msgspec.Struct, kw_only=True):
    project: str
    name: str | None = None
    entity: str | None = None
    tags: list[str] | None = None


class Integration(msgspec.Struct, kw_only=True):
    type: Literal["wandb"]
    wandb: WandbIntegration


class CreateFineTuningJobRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    model: Annotated[str, Meta(min_length=1)]
    training_file: Annotated[str, Meta(min_length=1)]
    hyperparameters: Hyperparameters | None = None
    suffix: Suffix | None = None
    validation_file: str | None = None
    integrations: Annotated[list[Integration], Meta(max_length=5)] | None = None
    seed: Seed | None = None
    method: Method | None = None
    metadata: Metadata | None = None


class JobError(msgspec.Struct, kw_only=True):
    code: str
    message: str
    param: str | None


class FineTuningJob(msgspec.Struct, kw_only=True):
    id: str
    created_at: int
    error: JobError | None
    fine_tuned_model: str | None
    finished_at: int | None
    hyperparameters: dict[str, Any]
    model: str
    organization_id: str
    result_files: list[str]
    status: Status
    trained_tokens: int | None
    training_file: str
    validation_file: str | None
    seed: int
    integrations: list[Any] | None = None
    estimated_finish: int | None = None
    method: dict[str, Any] | None = None
    metadata: dict[str, str] | None = None
    object: Literal["fine_tuning.job"] = "fine_tuning.job"


class FineTuningJobEvent(msgspec.Struct, kw_only=True):
    id: str
    created_at: int
    level: Literal["info", "warn", "error"]
    message: str
    type: Literal["message", "metrics"] = "message"
    data: dict[str, Any] | None = None
    object: Literal["fine_tuning.job.event"] = "fine_tuning.job.event"


class FineTuningJobCheckpoint(msgspec.Struct, kw_only=True):
    """A model kept during a job, usable by its ``fine_tuned_model_checkpoint`` id. ``metrics``
    has OpenAI's keys where they apply (``step``, ``train_loss``, ``valid_loss``,
    ``full_valid_loss``) and, for local adapters, the validation retrieval metrics."""

    id: str
    created_at: int
    fine_tuned_model_checkpoint: str
    fine_tuning_job_id: str
    metrics: dict[str, Any]
    step_number: int
    object: Literal["fine_tuning.job.checkpoint"] = "fine_tuning.job.checkpoint"


class ListJobsResponse(msgspec.Struct, kw_only=True):
    data: list[FineTuningJob]
    has_more: bool
    object: Literal["list"] = "list"


class ListEventsResponse(msgspec.Struct, kw_only=True):
    data: list[FineTuningJobEvent]
    has_more: bool
    object: Literal["list"] = "list"


class ListCheckpointsResponse(msgspec.Struct, kw_only=True):
    data: list[FineTuningJobCheckpoint]
    first_id: str | None
    last_id: str | None
    has_more: bool
    object: Literal["list"] = "list"


class UpstreamJob(msgspec.Struct, kw_only=True):
    """What we read from an upstream's job: lenient, unknown fields ignored."""

    id: str
    status: str
    fine_tuned_model: str | None = None
    finished_at: int | None = None
    trained_tokens: int | None = None
    result_files: list[str] = []
    error: JobError | None = None
    hyperparameters: dict[str, Any] | None = None
    estimated_finish: int | None = None
    method: dict[str, Any] | None = None
    seed: int | None = None


class UpstreamEvents(msgspec.Struct, kw_only=True):
    data: list[FineTuningJobEvent]
    has_more: bool = False


class UpstreamCheckpoints(msgspec.Struct, kw_only=True):
    data: list[FineTuningJobCheckpoint]
    has_more: bool = False


json_encoder = msgspec.json.Encoder()
job_decoder = msgspec.json.Decoder(FineTuningJob)
event_decoder = msgspec.json.Decoder(FineTuningJobEvent)
checkpoint_decoder = msgspec.json.Decoder(FineTuningJobCheckpoint)
upstream_job_decoder = msgspec.json.Decoder(UpstreamJob)
upstream_events_decoder = msgspec.json.Decoder(UpstreamEvents)
upstream_checkpoints_decoder = msgspec.json.Decoder(UpstreamCheckpoints)
