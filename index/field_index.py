"""Filters answered in memory: per metadata value, the set of labels holding it.

A filter used to be one SQL query over the ``fields`` table per search: at a million documents a
1% filter spent most of its 134 ms there (``benchmarks/README.md``). Here every ``(key, kind,
value)`` of ``filters.field_rows`` has a roaring bitmap of labels (``pyroaring``), and every key
with numbers a column of ``(value, label)`` sorted by value, so ``$gt``/``$lt`` are two binary
searches. ``$and``/``$or``/``$ne``/``$nin`` are bitmap intersections, unions and differences with
the set of live labels. The semantics are ``filters.py``'s; ``tests/index/test_filters.py``
checks this evaluator against a brute-force reference.

Labels are never reused, so a deleted or replaced document is simply dropped from ``live``;
value bitmaps and columns keep its label (results are intersected with ``live``) until the
index is rebuilt (on open, and by compaction).

It answers ``None`` (the caller then asks SQLite) where it cannot be exact: labels beyond 32
bits, or integers beyond 2**53 compared by range (the columns hold float64); and for equality
on a key with more than ``MAX_DISTINCT`` distinct values (an id or a URL per document), whose
bitmaps would cost a few hundred bytes of Python objects per document for filters that SQLite's
index answers well anyway (they match few documents).
"""

from __future__ import annotations

import itertools
import operator
from array import array
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from pyroaring import BitMap

from .filters import encode_value, field_rows
from .schemas import Metadata

_LABEL_LIMIT = 2**32
_EXACT_FLOAT = 2**53
#: Distinct values a key may have before its equality filters are left to SQLite.
MAX_DISTINCT = 50_000
_MERGE_AT = 4_096  # pending numbers merged into the sorted column beyond this (and 1/16th)


class Unanswerable(Exception):
    """This filter needs SQLite (see the module docstring)."""


class _Numbers:
    """One key's numeric values: a sorted part and a small unsorted tail of recent writes."""

    def __init__(self) -> None:
        self.values = np.empty(0, np.float64)
        self.labels = np.empty(0, np.uint32)
        self._tail_values: list[float] = []
        self._tail_labels: list[int] = []
        self.exact = True

    def add(self, value: float, labels: list[int]) -> None:
        if isinstance(value, int) and abs(value) > _EXACT_FLOAT:
            self.exact = False
        self._tail_values.extend([float(value)] * len(labels))
        self._tail_labels.extend(labels)

    def settle(self) -> None:
        """Merge the tail once it is large (writers call this; readers never mutate)."""
        if len(self._tail_values) < _MERGE_AT + len(self.values) // 16:
            return
        values = np.concatenate([self.values, np.asarray(self._tail_values, np.float64)])
        labels = np.concatenate([self.labels, np.asarray(self._tail_labels, np.uint32)])
        order = np.argsort(values, kind="stable")
        self.values, self.labels = values[order], labels[order]
        self._tail_values, self._tail_labels = [], []

    def compare(self, op: str, operand: float) -> BitMap:
        if not self.exact or (isinstance(operand, int) and abs(operand) > _EXACT_FLOAT):
            raise Unanswerable
        x = float(operand)
        cut = int(
            np.searchsorted(self.values, x, side="left" if op in ("$gte", "$lt") else "right")
        )
        chosen = self.labels[cut:] if op in ("$gt", "$gte") else self.labels[:cut]
        result = BitMap(array("I", chosen.tobytes()))
        if self._tail_values:
            tail = np.asarray(self._tail_values, np.float64)
            mask = {"$gt": tail > x, "$gte": tail >= x, "$lt": tail < x, "$lte": tail <= x}[op]
            result |= BitMap(np.asarray(self._tail_labels, np.uint32)[mask].tolist())
        return result


class FieldIndex:
    """Label sets per metadata value, and the live labels. Writers hold the graph's write lock,
    readers its read lock (``collection.py``), so a filter and the graph agree."""

    def __init__(self) -> None:
        self.live = BitMap()
        self._values: dict[tuple[str, str, object], BitMap] = {}
        self._numbers: dict[str, _Numbers] = {}
        self._distinct: dict[str, int] = {}  # values per key with a bitmap
        self._too_many: set[str] = set()  # keys beyond MAX_DISTINCT: no bitmaps
        self._usable = True

    @classmethod
    def build(cls, live: Iterable[int], rows: Iterable[tuple[str, str, object, int]]) -> FieldIndex:
        """From the stored ``fields`` rows ``(key, kind, value, label)`` and the live labels."""
        index = cls()
        labels = np.fromiter(live, np.int64)
        if len(labels) and int(labels.max()) >= _LABEL_LIMIT:
            index._usable = False
            return index
        index.live = BitMap(array("I", labels.astype(np.uint32).tobytes()))
        # Rows come in primary-key order, (key, kind, value, label): one bitmap per run of equal
        # values, built at once (a million rows one by one took seconds).
        for (key, kind, value), group in itertools.groupby(rows, key=operator.itemgetter(0, 1, 2)):
            index._add_group(key, kind, value, [row[3] for row in group])
        for numbers in index._numbers.values():
            numbers.settle()
        return index

    # -- writes --------------------------------------------------------------------------------

    def add(self, labels: Sequence[int], metadatas: Sequence[Metadata | None]) -> None:
        if not self._usable or not len(labels):
            return
        if max(labels) >= _LABEL_LIMIT:
            self._usable = False  # from now on SQLite answers
            return
        for label, meta in zip(labels, metadatas, strict=True):
            for key, kind, value in field_rows(meta):
                self._add_row(key, kind, value, label)
        self.live.update(labels)
        for numbers in self._numbers.values():
            numbers.settle()

    def remove(self, labels: Iterable[int]) -> None:
        if self._usable:
            self.live.difference_update(BitMap([label for label in labels if label < _LABEL_LIMIT]))

    def _add_row(self, key: str, kind: str, value: object, label: int) -> None:
        self._add_group(key, kind, value, [label])

    def _add_group(self, key: str, kind: str, value: object, labels: list[int]) -> None:
        if key not in self._too_many:
            bitmap = self._values.get((key, kind, value))
            if bitmap is None:
                bitmap = self._values[(key, kind, value)] = BitMap()
                self._distinct[key] = self._distinct.get(key, 0) + 1
                if self._distinct[key] > MAX_DISTINCT:
                    self._drop_values(key)
            bitmap.update(labels)
        if kind == "n":
            numbers = self._numbers.get(key)
            if numbers is None:
                numbers = self._numbers[key] = _Numbers()
            assert isinstance(value, int | float)
            numbers.add(value, labels)

    def _drop_values(self, key: str) -> None:
        self._too_many.add(key)
        self._values = {k: v for k, v in self._values.items() if k[0] != key}

    # -- reads ---------------------------------------------------------------------------------

    def matching(self, where: Mapping[str, Any]) -> BitMap | None:
        """Live labels matching a validated filter, or ``None`` when SQLite must answer."""
        if not self._usable:
            return None
        try:
            return self._node(where) & self.live
        except Unanswerable:
            return None

    def _node(self, where: Mapping[str, Any]) -> BitMap:
        parts: list[BitMap] = []
        for key, value in where.items():
            if key == "$and":
                parts.append(BitMap.intersection(*(self._node(c) for c in value)))
            elif key == "$or":
                parts.append(BitMap.union(*(self._node(c) for c in value)))
            elif not isinstance(value, Mapping):
                parts.append(self._equals(key, [value]))
            else:
                parts.extend(self._condition(key, op, operand) for op, operand in value.items())
        return parts[0] if len(parts) == 1 else BitMap.intersection(*parts)

    def _condition(self, key: str, op: str, operand: Any) -> BitMap:
        if op == "$eq":
            return self._equals(key, [operand])
        if op == "$ne":
            return self.live - self._equals(key, [operand])
        if op == "$in":
            return self._equals(key, operand)
        if op == "$nin":
            return self.live - self._equals(key, operand)
        numbers = self._numbers.get(key)
        return BitMap() if numbers is None else numbers.compare(op, operand)

    def _equals(self, key: str, values: Sequence[Any]) -> BitMap:
        if key in self._too_many:
            raise Unanswerable
        found = [self._values.get((key, *encode_value(value))) for value in values]
        present = [bitmap for bitmap in found if bitmap is not None]
        if not present:
            return BitMap()
        return BitMap.union(*present) if len(present) > 1 else BitMap(present[0])
