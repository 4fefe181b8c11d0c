"""Proxied jobs (fine-tuning jobs, batches created on the upstream) are refreshed when listed.

A page of records comes from our own table; those that live on the upstream and are still in
flight are asked for their current state, all at once rather than one round trip after another.
Best effort: an upstream that cannot answer leaves the stored state, with a log line.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Protocol, TypeVar

from service.errors import ServiceError

logger = logging.getLogger(__name__)


class Stored(Protocol):
    @property
    def kind(self) -> str: ...


class HasStatus(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def status(self) -> str: ...


R = TypeVar("R", bound=Stored)
T = TypeVar("T", bound=HasStatus)


async def refresh_in_flight(
    records: Sequence[R],
    stored: Callable[[R], T],
    refresh: Callable[[R], Awaitable[T]] | None,
    terminal: Collection[str],
) -> list[T]:
    """Each record's object (``stored``), refreshed from the upstream (``refresh``; None when
    no upstream is configured) if it is an upstream one not yet in a ``terminal`` status."""

    async def current(record: R) -> T:
        known = stored(record)
        if refresh is None or record.kind != "upstream" or known.status in terminal:
            return known
        try:
            return await refresh(record)
        except ServiceError as exc:
            logger.warning("could not refresh %s: %s", known.id, exc.message)
            return known

    return list(await asyncio.gather(*(current(record) for record in records)))
