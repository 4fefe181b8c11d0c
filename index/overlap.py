"""Run a batch's durable commit and its graph insertion at the same time.

The graph is a derived view: durability comes from SQLite alone, so the graph need not wait
for the commit to start building a batch in. ``hnswlib`` and SQLite's ``fsync`` both release
the GIL, so on two cores the commit (text analysis, SQLite inserts, ``fsync``) hides behind the
insertion, which is most of an upsert's time (``benchmarks/README.md``, "Ingest").
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

#: Commits run here; writes to one collection are serialised by its write lock, so this bounds
#: only how many collections commit at once.
_COMMITS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="index-commit")


def overlapped(
    durable: Callable[[], T], alongside: Callable[[], None]
) -> tuple[T, Exception | None]:
    """Run ``durable`` on a commit thread while ``alongside`` runs on this one.

    Returns ``durable``'s result (its exception is raised, after ``alongside`` has finished, so
    the caller can undo what ``alongside`` did) and ``alongside``'s exception, if any.
    """
    future = _COMMITS.submit(durable)
    failure: Exception | None = None
    try:
        alongside()
    except Exception as exc:  # the caller repairs the graph; the commit stands
        failure = exc
    return future.result(), failure
