"""The C allocator's settings for a long-running server, set once at start-up.

Measured under the soak load (``benchmarks/README.md``, "Soak"; issue 10): with glibc's
defaults the memory malloc keeps *free* inside the process grew without end (27 -> 101 MiB in
7 minutes, after the caches had filled), so RSS kept climbing although the memory in use was
flat. Two causes, two settings:

- glibc raises its mmap threshold each time a large block is freed (up to 32 MiB), after which
  large transient arrays (a query's BM25 scores, a batch of vectors, a request body) come from
  the heap and leave holes in it when freed. A fixed threshold of 128 KiB keeps every large
  block in its own mapping, returned to the system on free.
- Each thread that allocates can get its own arena (up to 8 per core), and free memory in one
  arena is of no use to the others. Two arenas serve the index pool's threads as well.

Same effect as ``MALLOC_MMAP_THRESHOLD_=131072 MALLOC_ARENA_MAX=2`` in the environment. Other
C libraries are left alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
M_ARENA_MAX = -8
MMAP_THRESHOLD = 128 * 1024
ARENA_MAX = 2


def tune_allocator() -> bool:
    """Apply the settings above if the C library is glibc; True if it did. Call it before
    the server starts threads: arenas that already exist stay."""
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    libc = ctypes.CDLL(name)
    if not hasattr(libc, "gnu_get_libc_version"):  # musl and others: mallopt is a stub
        return False
    done = bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1)
    done = bool(libc.mallopt(M_ARENA_MAX, ARENA_MAX) == 1) and done
    if not done:
        log.warning("could not tune the C allocator (mallopt failed)")
    return done
