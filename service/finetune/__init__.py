"""Fine-tuning: local query adapters trained in numpy, and jobs proxied to an upstream."""

from service.finetune.adapters import Adapter, AdapterModels
from service.finetune.runner import JobRunner
from service.finetune.service import FineTuningService, is_embedding_model
from service.finetune.store import JobStore
from service.finetune.trainer import Hyperparameters, TrainingData, train_adapter
from service.finetune.upstream import UpstreamJobs

__all__ = [
    "Adapter",
    "AdapterModels",
    "FineTuningService",
    "Hyperparameters",
    "JobRunner",
    "JobStore",
    "TrainingData",
    "UpstreamJobs",
    "is_embedding_model",
    "train_adapter",
]
