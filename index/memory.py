"""Give the C allocator's free memory back to the operating system after a large build.

Opening a collection reads every stored vector back from SQLite (the float16 matrix,
``vector_matrix.py``) on one thread while another builds the lexical index: tens of megabytes of
short-lived buffers that glibc's ``malloc`` keeps after they are freed, fragmented between
long-lived objects, so the server's resident memory stays that much higher for good (49 MiB of
~470 MiB at 100,000 documents, ``benchmarks/README.md``, "One node at its limits").
Ingest leaves the same kind of garbage (decoded request bodies, batches' copies). So
``malloc_trim(0)`` returns the free pages once the views are built and after each graph snapshot
(rare: a fifth of the collection written since the last one; the snapshot itself takes far
longer). Other C libraries (musl, macOS) have no such call: there this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


def _load_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


_TRIM = _load_trim()


def release_free_memory() -> bool:
    """Return the allocator's free pages to the OS; False where the C library cannot."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True
