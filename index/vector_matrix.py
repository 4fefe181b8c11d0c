"""The live vectors in one contiguous float16 matrix, for exact search over a filter's matches.

Exact search used to read each matching vector from SQLite (about 3.5 ms per thousand), and
hnswlib's ``get_items`` copies through Python lists (200 ms for ten thousand): so filters
matching more than a few thousand documents had to go through HNSW restricted by a filter
callback, slow and inaccurate at a million documents. Here a filter's matches are gathered
from memory and scored with one matrix product.

Rows are reused after deletes; ``_row_of`` maps a label to its row (-1: none). For ``cosine``
the rows are stored normalised, so a distance is ``1 - q.v`` as in hnswlib. Writers hold the
graph's write lock, readers its read lock (``collection.py``).
"""

from __future__ import annotations

import threading

import numpy as np

from .schemas import Metric

_GROWTH = 1.5
#: Bytes of one thread's scratch buffers for :meth:`VectorMatrix._dots` (float16 and float32
#: rows): 256 rows of 256 dimensions, the fastest of 128 to 2,048 rows measured (they stay in
#: the core's cache).
_SCRATCH_BYTES = 384 * 1024
_scratch_of_thread = threading.local()
#: float16's unit roundoff, with room for the float32 sums of the product.
_ROUNDOFF = 2.0**-11 * 1.01


class VectorMatrix:
    def __init__(self, dim: int, metric: Metric, capacity: int = 0) -> None:
        """``capacity``: rows to allocate up front (the vectors about to be added)."""
        self.dim = dim
        self.metric = metric
        self._rows = np.empty((capacity, dim), np.float16)
        self._norms = np.empty(capacity, np.float32)  # of the vectors as given (1 for cosine)
        self._row_of = np.full(0, -1, np.int32)
        self._free: list[int] = []
        self._used = 0  # rows below this have been handed out

    @property
    def nbytes(self) -> int:
        return int(self._rows.nbytes + self._norms.nbytes + self._row_of.nbytes)

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        """Store new labels' vectors (labels never stored before)."""
        n = len(labels)
        if not n:
            return
        if self.metric == "cosine":
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors = vectors / np.where(norms == 0, 1.0, norms)
        reused = [self._free.pop() for _ in range(min(n, len(self._free)))]
        fresh = n - len(reused)
        self._reserve_rows(self._used + fresh)
        rows = np.concatenate(
            [np.asarray(reused, np.int64), np.arange(self._used, self._used + fresh)]
        )
        self._used += fresh
        top = int(labels.max()) + 1
        if top > len(self._row_of):
            grown = np.full(max(top, int(len(self._row_of) * _GROWTH)), -1, np.int32)
            grown[: len(self._row_of)] = self._row_of
            self._row_of = grown
        self._rows[rows] = vectors
        self._norms[rows] = np.linalg.norm(vectors, axis=1)
        self._row_of[labels.astype(np.int64)] = rows

    def remove(self, labels: np.ndarray) -> None:
        """Forget labels; ones not stored are ignored."""
        plain = labels.astype(np.int64)
        plain = plain[plain < len(self._row_of)]
        rows = self._row_of[plain]
        present = rows >= 0
        self._free.extend(rows[present].tolist())
        self._row_of[plain[present]] = -1

    def shortlist(
        self, labels: np.ndarray, query: np.ndarray, k: int, owners: np.ndarray | None = None
    ) -> np.ndarray:
        """The labels among ``labels`` (all stored) that may be among the exact top ``k`` of
        ``query`` (1-D): every one whose distance, less its error bound, is within the k-th
        smallest distance plus its bound. hnswlib's distances: ``1 - q.v`` (cosine, with ``q``
        and the rows unit; ip) or ``|q - v|**2`` (l2).

        With ``owners`` (each label's document; passages, issue 12) the top ``k`` is of
        documents at their nearest passage's distance: the bound is then the k-th smallest of
        the documents' best upper bounds, and a document that may be in the top ``k`` keeps at
        least its nearest passage (the others may go)."""
        kept: np.ndarray = labels[self.keep(labels, query, k, owners)]
        return kept

    def keep(
        self, labels: np.ndarray, query: np.ndarray, k: int, owners: np.ndarray | None = None
    ) -> np.ndarray:
        """:meth:`shortlist` as a mask over ``labels``."""
        rows = self._row_of[labels.astype(np.int64)]
        if self.metric == "cosine":
            norm = float(np.linalg.norm(query))
            query = query / (norm or 1.0)
        dots = self._dots(rows, query.astype(np.float32))
        norms = np.take(self._norms, rows)
        error = _ROUNDOFF * float(np.linalg.norm(query)) * norms
        if self.metric == "l2":
            distances = float(query @ query) - 2.0 * dots + norms**2
            error = 2.0 * error
        else:
            distances = 1.0 - dots
        upper = distances + error
        if owners is not None and len(owners):
            # Each document's best upper bound (documents' labels sorted, their minimum taken).
            order = np.argsort(owners, kind="stable")
            ordered = owners[order]
            starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
            upper = np.minimum.reduceat(upper[order], starts)
        k = min(k, len(upper))
        worst_kept = np.partition(upper, k - 1)[k - 1]
        kept: np.ndarray = distances - error <= worst_kept
        return kept

    def _dots(self, rows: np.ndarray, query: np.ndarray) -> np.ndarray:
        """``rows @ query`` in float32, a few hundred rows at a time through this thread's
        scratch buffers: gathering and converting them all at once (megabytes of temporaries,
        fresh mappings with the server's allocator, ``service/memory.py``) took 8 ms for 5,000
        rows of 256 dimensions against 1.7 ms (``benchmarks/README.md``, issue 16)."""
        half, single = _scratch(self.dim)
        step = len(half)
        dots = np.empty(len(rows), np.float32)
        for start in range(0, len(rows), step):
            part = rows[start : start + step]
            n = len(part)
            # np.take gathers rows several times faster than fancy indexing does.
            np.take(self._rows, part, axis=0, out=half[:n])
            np.copyto(single[:n], half[:n])
            np.matmul(single[:n], query, out=dots[start : start + n])
        return dots

    def _reserve_rows(self, needed: int) -> None:
        if needed <= len(self._rows):
            return
        size = max(needed, int(len(self._rows) * _GROWTH), 1024)
        grown = np.empty((size, self.dim), np.float16)
        grown[: self._used] = self._rows[: self._used]
        norms = np.empty(size, np.float32)
        norms[: self._used] = self._norms[: self._used]
        self._rows, self._norms = grown, norms


def _scratch(dim: int) -> tuple[np.ndarray, np.ndarray]:
    """This thread's ``(float16, float32)`` row buffers for vectors of ``dim``."""
    buffers: dict[int, tuple[np.ndarray, np.ndarray]] = _scratch_of_thread.__dict__.setdefault(
        "by_dim", {}
    )
    found = buffers.get(dim)
    if found is None:
        rows = max(16, _SCRATCH_BYTES // (dim * 6))
        found = buffers[dim] = (
            np.empty((rows, dim), np.float16),
            np.empty((rows, dim), np.float32),
        )
    return found
