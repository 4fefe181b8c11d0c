"""How long a collection stays open: every call holds a lease, and closing waits for them.

A collection's SQLite connections and graph are shared by the threads that call it. Closing them
while another thread is inside a call crashed the process (issue 10: a drop during reads ended in
SIGSEGV). So each public call of :class:`index.Collection` holds a lease for its duration, and
:meth:`Leases.retire` first refuses new leases, then waits for the held ones to be returned; only
then may the caller release the resources. A call that arrives after retirement fails cleanly:
``CollectionNotFoundError`` for a dropped collection, ``StoreClosedError`` for a closed store.

Usage::

    leases = Leases()

    @leased
    def count(self) -> int: ...            # on a class with ``self._leases = Leases()``

    leases.retire(CollectionNotFoundError("dropped"))   # then close
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from .errors import IndexStoreError

P = ParamSpec("P")
R = TypeVar("R")


class Leases:
    """A count of calls in flight, and the error new calls get once retired."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._held = 0
        self._retired: IndexStoreError | None = None

    @property
    def retiring(self) -> bool:
        """True once :meth:`retire` began: long background work should stop early."""
        return self._retired is not None

    @property
    def held(self) -> int:
        return self._held

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Hold a lease for the ``with`` block; raise the retirement error if retired."""
        with self._cond:
            if self._retired is not None:
                raise _fresh(self._retired)
            self._held += 1
        try:
            yield
        finally:
            with self._cond:
                self._held -= 1
                if not self._held:
                    self._cond.notify_all()

    def retire(self, error: IndexStoreError) -> bool:
        """Refuse new leases with ``error``, then wait until none is held.

        Returns False if already retired (by another thread, which then owns the closing).
        """
        with self._cond:
            if self._retired is not None:
                return False
            self._retired = error
            while self._held:
                self._cond.wait()
        return True


def _fresh(error: IndexStoreError) -> IndexStoreError:
    """A new instance per raise, so tracebacks of different callers do not pile up on one."""
    return type(error)(error.message, param=error.param)


class _HasLeases(Protocol):
    _leases: Leases


S = TypeVar("S", bound=_HasLeases)


def leased(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """Run ``method`` holding one of ``self._leases``."""

    @functools.wraps(method)
    def wrapper(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with self._leases.hold():
            return method(self, *args, **kwargs)

    return wrapper
