"""Run the adapter's small matrix products on one BLAS thread.

OpenBLAS splits even a 64x256 @ 256x256 product across every core, and its idle threads spin;
in the server, next to the event loop and the model's threads, that made SciFact's training
~10x slower (20 s instead of 2 s on 2 cores). OpenBLAS >= 0.3.27 (bundled with numpy 2) can
set the thread count for the calling thread only, which leaves every other numpy user alone.
Elsewhere (another BLAS, another platform) this is a no-op.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path


@cache
def _set_local() -> Callable[[int], int] | None:
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    for line in maps.splitlines():
        path = line.split()[-1]
        if "openblas" in Path(path).name.lower():
            try:
                function = ctypes.CDLL(path).openblas_set_num_threads_local
            except (OSError, AttributeError):
                continue
            function.argtypes, function.restype = [ctypes.c_int], ctypes.c_int
            return function
    return None


@contextmanager
def single_threaded() -> Iterator[None]:
    """For the calling thread only; restores its previous setting on exit."""
    set_local = _set_local()
    if set_local is None:
        yield
        return
    previous = set_local(1)
    try:
        yield
    finally:
        set_local(previous)
