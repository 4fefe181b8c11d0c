"""The Chroma-style ``where`` language, compiled to SQL over the ``fields`` table.

Each metadata value is stored as a row ``(key, kind, value, label)`` with ``kind`` one of
``b`` (bool), ``n`` (int or float) or ``s`` (str); a list stores one row per element. A filter
compiles to a compound ``SELECT label`` (``INTERSECT`` for ``$and``, ``UNION`` for ``$or``,
``EXCEPT`` for negations) that SQLite answers from the ``(key, kind, value)`` primary key,
so a selective filter never scans the collection.

Limits (issue 10), checked before any SQL is built: ``$and``/``$or`` nest at most
``MAX_DEPTH`` levels, a filter holds at most ``MAX_CLAUSES`` conditions and logical clauses,
an ``$in``/``$nin`` list at most ``MAX_VALUES`` values, integers fit in 64 bits. Within them
SQLite's own limits are never reached: every compound node is its own common table expression
(``WITH f0 AS (...), f1 AS (...)``), so the SQL never nests deeper than one subquery (SQLite's
parser stack overflowed at about 20 nested subqueries) and no compound ``SELECT`` has more than
``_COMPOUND_MAX`` terms (SQLite allows 500); an ``$in`` list is one JSON parameter read through
``json_each``, not a chain of ``OR``s (SQLite's expression depth limit is 1000).

Semantics (MongoDB's, which Chroma users expect):

- ``{"f": v}`` / ``$eq``: ``f`` equals ``v``, or ``f`` is a list containing ``v``.
- ``$ne`` / ``$nin``: the negation of ``$eq`` / ``$in``; documents without ``f`` match.
- ``$gt``/``$gte``/``$lt``/``$lte``: numbers only; only numeric values of ``f`` can match.
- ``true`` and ``1`` are different values; ``1`` and ``1.0`` are the same number.
- Several keys in one object, or several operators on one field, are ANDed.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from .errors import FilterError

#: Nesting levels of ``$and``/``$or`` a filter may have.
MAX_DEPTH = 32
#: Conditions (one per field operator) plus logical clauses in one filter.
MAX_CLAUSES = 1_000
#: Values in one ``$in`` or ``$nin`` list.
MAX_VALUES = 10_000
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_COMPOUND_MAX = 100  # terms per compound SELECT (SQLite's limit is 500)

_COMPARISONS = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_OPERATORS = ("$eq", "$ne", "$in", "$nin", *_COMPARISONS)
_ALL_LABELS = "SELECT label FROM documents"
_FIELD = "SELECT label FROM fields WHERE key = ? AND kind = ?"
_encode_json = msgspec.json.Encoder().encode


def encode_value(value: object) -> tuple[str, object]:
    """The ``(kind, value)`` a scalar is stored and compared as."""
    if isinstance(value, bool):
        return "b", int(value)
    if isinstance(value, int | float):
        return "n", value
    if isinstance(value, str):
        return "s", value
    raise TypeError(type(value).__name__)


def field_rows(metadata: Mapping[str, Any] | None) -> list[tuple[str, str, object]]:
    """The ``(key, kind, value)`` rows one document's metadata is indexed as."""
    rows: set[tuple[str, str, object]] = set()
    for key, value in (metadata or {}).items():
        for item in value if isinstance(value, list) else [value]:
            rows.add((key, *encode_value(item)))
    return sorted(rows, key=repr)


def check_where(where: Any) -> dict[str, Any] | None:
    """Validate a filter; ``None`` and ``{}`` both mean "no filter" and come back as ``None``."""
    if where is None or (isinstance(where, Mapping) and not where):
        return None
    compile_where(where)
    return dict(where)


def compile_where(where: Mapping[str, Any]) -> tuple[str, list[object]]:
    """Compile a filter to ``(sql, params)``: a query whose rows are the matching labels.

    The query starts with ``WITH`` and may be used as a subquery (``label IN (<sql>)``).
    """
    _check_size(where)
    compiler = _Compiler()
    root = compiler.node(where, "where")
    ctes = ", ".join(text for text, _ in compiler.ctes)
    params = [param for _, cte_params in compiler.ctes for param in cte_params]
    if not ctes:
        return root.text, root.params
    return f"WITH {ctes} {root.text}", [*params, *root.params]


def _check_size(where: Any) -> None:
    """Depth and size limits, checked without recursion (a deep filter must not overflow the
    Python stack before it is refused)."""
    clauses = 0
    stack: list[tuple[Any, int]] = [(where, 0)]
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, Mapping):
            continue  # malformed: the compiler names it
        for key, value in node.items():
            clauses += 1
            if key in ("$and", "$or") and isinstance(value, list):
                if depth + 1 > MAX_DEPTH:
                    raise FilterError(
                        f"where nests $and/$or more than {MAX_DEPTH} levels deep", param="where"
                    )
                stack.extend((clause, depth + 1) for clause in value)
            elif isinstance(value, Mapping):
                clauses += len(value) - 1
            if clauses > MAX_CLAUSES:
                raise FilterError(
                    f"where has more than {MAX_CLAUSES} conditions and clauses", param="where"
                )


class _Sql:
    """A simple ``SELECT label ...`` (never compound) and its parameters, in text order."""

    __slots__ = ("params", "text")

    def __init__(self, text: str, params: list[object]) -> None:
        self.text = text
        self.params = params


class _Compiler:
    def __init__(self) -> None:
        self.ctes: list[tuple[str, list[object]]] = []

    def table(self, parts: list[_Sql], op: str) -> _Sql:
        """``parts`` joined by ``op`` as a new common table expression, referenced simply."""
        name = f"f{len(self.ctes)}"
        text = f" {op} ".join(part.text for part in parts)
        self.ctes.append((f"{name} AS ({text})", [p for part in parts for p in part.params]))
        return _Sql(f"SELECT label FROM {name}", [])

    def combine(self, op: str, parts: list[_Sql]) -> _Sql:
        while len(parts) > 1:  # a tree of compounds of at most _COMPOUND_MAX terms each
            parts = [
                self.table(parts[i : i + _COMPOUND_MAX], op)
                for i in range(0, len(parts), _COMPOUND_MAX)
            ]
        return parts[0]

    def negate(self, part: _Sql) -> _Sql:
        return self.table([_Sql(_ALL_LABELS, []), part], "EXCEPT")

    def node(self, where: Any, path: str) -> _Sql:
        if not isinstance(where, Mapping) or not where:
            raise FilterError(f"{path} must be a non-empty object", param=path)
        parts = []
        for key, value in where.items():
            if not isinstance(key, str):
                raise FilterError(f"{path} keys must be strings", param=path)
            if key in ("$and", "$or"):
                parts.append(self.logical(key, value, f"{path}.{key}"))
            elif key.startswith("$"):
                raise FilterError(
                    f"unknown operator {key!r} at {path}: use $and, $or, or a metadata field name",
                    param=f"{path}.{key}",
                )
            else:
                parts.append(self.field(key, value, f"{path}.{key}"))
        return self.combine("INTERSECT", parts)

    def logical(self, op: str, clauses: Any, path: str) -> _Sql:
        if not isinstance(clauses, list) or not clauses:
            raise FilterError(f"{path} must be a non-empty list of filters", param=path)
        parts = [self.node(clause, f"{path}[{i}]") for i, clause in enumerate(clauses)]
        return self.combine("INTERSECT" if op == "$and" else "UNION", parts)

    def field(self, key: str, condition: Any, path: str) -> _Sql:
        if not isinstance(condition, Mapping):
            return self.equals(key, [_scalar(condition, path)])
        if not condition:
            raise FilterError(f"{path} must name an operator such as $eq", param=path)
        parts = []
        for op, operand in condition.items():
            where = f"{path}.{op}"
            if op == "$eq":
                parts.append(self.equals(key, [_scalar(operand, where)]))
            elif op == "$ne":
                parts.append(self.negate(self.equals(key, [_scalar(operand, where)])))
            elif op in ("$in", "$nin"):
                if not isinstance(operand, list) or not operand:
                    raise FilterError(f"{where} must be a non-empty list of values", param=where)
                if len(operand) > MAX_VALUES:
                    raise FilterError(
                        f"{where} has {len(operand)} values; the limit is {MAX_VALUES}",
                        param=where,
                    )
                values = [_scalar(item, f"{where}[{i}]") for i, item in enumerate(operand)]
                sql = self.equals(key, values)
                parts.append(sql if op == "$in" else self.negate(sql))
            elif op in _COMPARISONS:
                if isinstance(operand, bool) or not isinstance(operand, int | float):
                    raise FilterError(f"{where} needs a number, got {operand!r}", param=where)
                _check_int64(operand, where)
                comparison = _COMPARISONS[op]
                parts.append(_Sql(f"{_FIELD} AND value {comparison} ?", [key, "n", operand]))
            else:
                raise FilterError(
                    f"unknown operator {op!r} at {path}: use one of {', '.join(_OPERATORS)}",
                    param=where,
                )
        return self.combine("INTERSECT", parts)

    def equals(self, key: str, values: list[tuple[str, object]]) -> _Sql:
        """Documents whose ``key`` holds any of ``values``: one indexed lookup per value, the
        values of each kind passed as one JSON array."""
        if len(values) == 1:
            kind, value = values[0]
            return _Sql(f"{_FIELD} AND value = ?", [key, kind, value])
        by_kind: dict[str, list[object]] = {}
        for kind, value in values:
            by_kind.setdefault(kind, []).append(value)
        parts = [
            _Sql(
                f"{_FIELD} AND value IN (SELECT value FROM json_each(?))",
                [key, kind, _encode_json(same_kind)],
            )
            for kind, same_kind in sorted(by_kind.items())
        ]
        return self.combine("UNION", parts)


def _scalar(value: Any, path: str) -> tuple[str, object]:
    try:
        kind, encoded = encode_value(value)
    except TypeError:
        raise FilterError(
            f"{path} must be a string, number or boolean, got {type(value).__name__}", param=path
        ) from None
    if kind == "n" and encoded != encoded:  # NaN never equals anything
        raise FilterError(f"{path} must not be NaN", param=path)
    _check_int64(value, path)
    return kind, encoded


def _check_int64(value: object, path: str) -> None:
    if isinstance(value, int) and not isinstance(value, bool):
        if not INT64_MIN <= value <= INT64_MAX:
            raise FilterError(
                f"{path} is outside the 64-bit integer range (-2**63 to 2**63 - 1)", param=path
            )


Predicate = Callable[[Mapping[str, Any] | None], bool]


def compile_predicate(where: Mapping[str, Any]) -> Predicate:
    """The same filter as a Python predicate over one document's metadata.

    Used to post-filter a handful of HNSW candidates without asking SQLite for the whole
    matching set. ``tests/index/test_filters.py`` checks it agrees with :func:`compile_where`.
    """
    compile_where(where)  # validates; the code below may then assume a well-formed filter
    return _predicate(where)


def _predicate(where: Mapping[str, Any]) -> Predicate:
    parts: list[Predicate] = []
    for key, value in where.items():
        if key == "$and":
            parts.append(_all([_predicate(clause) for clause in value]))
        elif key == "$or":
            children = [_predicate(clause) for clause in value]
            parts.append(_any(children))
        elif not isinstance(value, Mapping):
            parts.append(_contains(key, [encode_value(value)]))
        else:
            parts.extend(_field_predicate(key, op, operand) for op, operand in value.items())
    return _all(parts)


def _all(parts: list[Predicate]) -> Predicate:
    return parts[0] if len(parts) == 1 else lambda meta: all(p(meta) for p in parts)


def _any(parts: list[Predicate]) -> Predicate:
    return lambda meta: any(p(meta) for p in parts)


def _field_predicate(key: str, op: str, operand: Any) -> Predicate:
    if op in ("$eq", "$ne"):
        equals = _contains(key, [encode_value(operand)])
    elif op in ("$in", "$nin"):
        equals = _contains(key, [encode_value(item) for item in operand])
    else:
        compare = _PY_COMPARISONS[op]
        return lambda meta: any(
            kind == "n" and compare(value, operand) for kind, value in _encoded(meta, key)
        )
    if op in ("$ne", "$nin"):
        return lambda meta: not equals(meta)
    return equals


def _contains(key: str, wanted: list[tuple[str, object]]) -> Predicate:
    wanted_set = set(wanted)
    return lambda meta: any(item in wanted_set for item in _encoded(meta, key))


def _encoded(meta: Mapping[str, Any] | None, key: str) -> list[tuple[str, object]]:
    if not meta or key not in meta:
        return []
    value = meta[key]
    return [encode_value(item) for item in (value if isinstance(value, list) else [value])]


_PY_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
}
