"""The Batch API (issue 14): ``/v1/embeddings`` batches run here, as background jobs through the
embedding service (cache, local model or upstream), resumable after a restart; batches of every
other endpoint are created on the upstream and proxied. Jobs share ``service.jobs``' design with
fine-tuning: state in SQLite, one runner, events as rows."""

from service.batches.runner import BatchRunner
from service.batches.service import BatchService
from service.batches.store import BatchStore

__all__ = ["BatchRunner", "BatchService", "BatchStore"]
