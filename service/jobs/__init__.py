"""Background jobs (fine-tuning jobs, batches) share one design: their state in SQLite
(``JobTable``: JSON bodies, status changes as compare-and-set, restart recovery, events as
rows), one runner per kind of job (``JobQueue``), and our files' copies on the upstream
(``UpstreamFiles``)."""

from service.jobs.queue import JobQueue, Work
from service.jobs.table import MAX_ATTEMPTS, JobTable, Kind, Level, schema
from service.jobs.upstream_files import UpstreamFiles

__all__ = [
    "MAX_ATTEMPTS",
    "JobQueue",
    "JobTable",
    "Kind",
    "Level",
    "UpstreamFiles",
    "Work",
    "schema",
]
