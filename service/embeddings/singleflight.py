"""Single-flight: concurrent requests for the same missing key share one computation.

Usage::

    flight = SingleFlight()
    owned, waiting = flight.claim(keys)        # owned: compute these; waiting: futures to await
    ... compute owned ... then flight.resolve(key, value) or flight.fail(keys, exc)

The owner's work should run in its own task (``EmbeddingService`` does) so that a client who
hangs up does not cancel the answer the other waiters need.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Iterable
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    """Per-key futures for work in progress. Event-loop only; not thread-safe."""

    def __init__(self) -> None:
        self._inflight: dict[K, asyncio.Future[V]] = {}

    def __len__(self) -> int:
        return len(self._inflight)

    def claim(self, keys: Iterable[K]) -> tuple[list[K], dict[K, asyncio.Future[V]]]:
        """Split keys into those the caller must compute and futures of those already running."""
        loop = asyncio.get_running_loop()
        owned: list[K] = []
        futures: dict[K, asyncio.Future[V]] = {}
        for key in keys:
            if key in futures:
                continue
            future = self._inflight.get(key)
            if future is None:
                future = self._inflight[key] = loop.create_future()
                # Mark any exception as retrieved: waiters may all have gone away.
                future.add_done_callback(_consume)
                owned.append(key)
            futures[key] = future
        return owned, futures

    def resolve(self, key: K, value: V) -> None:
        future = self._inflight.pop(key, None)
        if future is not None and not future.done():
            future.set_result(value)

    def fail(self, keys: Iterable[K], exc: BaseException) -> None:
        for key in keys:
            future = self._inflight.pop(key, None)
            if future is not None and not future.done():
                future.set_exception(exc)


def _consume(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
