"""Fine-tuning (issues 5, 13): local query adapters trained in numpy, and jobs proxied upstream.

- **Local adapter jobs** (the local model, upstream *embedding* models): the training pairs are
  embedded with the base model, and a linear map is learned for the *query side only*
  (``maps.py``, ``trainer.py``). ``ft:{base}:{suffix or "semsearch"}:{id}`` embeds with the base
  model, maps, normalises, then truncates to ``dimensions`` and re-normalises. Documents keep the
  base model's vectors (``ModelInfo.document_model``), so a collection built with the base model
  stays valid when its queries switch to the adapter.
- **Never worse than the base model** (issue 13): every job validates on held-out queries
  (``validation.py``), keeps a validated epoch and returns the base model itself unless that
  epoch beats it beyond noise (``selection.py``); ``auto.py`` holds the measured defaults and
  ``reports.py`` what the job tells its user (events, checkpoints, result CSV).
- **Upstream jobs** (chat models such as ``gpt-4o-mini``): see ``service.py`` for the routing rule
  and ``upstream.py`` for the proxy.
- **Restarts**: jobs and events live in ``DATA_DIR/fine_tuning.sqlite3``. A local job that was
  ``running`` (or ``validating_files``) when the server stopped comes back ``queued`` with a
  ``warn`` event and runs again from the start (same seed, same adapter); after 3 interrupted
  runs it is ``failed`` with code ``interrupted``. Upstream jobs are refreshed from the upstream.
"""

from service.finetune.adapters import Adapter, AdapterModels
from service.finetune.runner import JobRunner
from service.finetune.selection import FitResult, fit
from service.finetune.service import FineTuningService, is_embedding_model
from service.finetune.store import JobStore
from service.finetune.trainer import TrainingData
from service.finetune.upstream import UpstreamJobs

__all__ = [
    "Adapter",
    "AdapterModels",
    "FineTuningService",
    "FitResult",
    "JobRunner",
    "JobStore",
    "TrainingData",
    "UpstreamJobs",
    "fit",
    "is_embedding_model",
]
