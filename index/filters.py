"""The Chroma-style ``where`` language, compiled to SQL over the ``fields`` table.

Each metadata value is stored as a row ``(key, kind, value, label)`` with ``kind`` one of
``b`` (bool), ``n`` (int or float) or ``s`` (str); a list stores one row per element. A filter
compiles to a compound ``SELECT label`` (``INTERSECT`` for ``$and``, ``UNION`` for ``$or``,
``EXCEPT`` for negations) that SQLite answers from the ``(key, kind, value)`` primary key,
so a selective filter never scans the collection.

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

from .errors import FilterError

_COMPARISONS = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_OPERATORS = ("$eq", "$ne", "$in", "$nin", *_COMPARISONS)
_ALL_LABELS = "SELECT label FROM documents"


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
    """Compile a filter to ``(sql, params)``: a query whose rows are the matching labels."""
    params: list[object] = []
    sql = _compile(where, params, "where")
    return sql, params


def _compile(where: Any, params: list[object], path: str) -> str:
    if not isinstance(where, Mapping) or not where:
        raise FilterError(f"{path} must be a non-empty object", param=path)
    parts = []
    for key, value in where.items():
        if not isinstance(key, str):
            raise FilterError(f"{path} keys must be strings", param=path)
        if key in ("$and", "$or"):
            parts.append(_compile_logical(key, value, params, f"{path}.{key}"))
        elif key.startswith("$"):
            raise FilterError(
                f"unknown operator {key!r} at {path}: use $and, $or, or a metadata field name",
                param=f"{path}.{key}",
            )
        else:
            parts.append(_compile_field(key, value, params, f"{path}.{key}"))
    return _combine("INTERSECT", parts)


def _compile_logical(op: str, clauses: Any, params: list[object], path: str) -> str:
    if not isinstance(clauses, list) or not clauses:
        raise FilterError(f"{path} must be a non-empty list of filters", param=path)
    parts = [_compile(clause, params, f"{path}[{i}]") for i, clause in enumerate(clauses)]
    return _combine("INTERSECT" if op == "$and" else "UNION", parts)


def _compile_field(key: str, condition: Any, params: list[object], path: str) -> str:
    if not isinstance(condition, Mapping):
        return _equals(key, [_scalar(condition, path)], params)
    if not condition:
        raise FilterError(f"{path} must name an operator such as $eq", param=path)
    parts = []
    for op, operand in condition.items():
        where = f"{path}.{op}"
        if op == "$eq":
            parts.append(_equals(key, [_scalar(operand, where)], params))
        elif op == "$ne":
            parts.append(_negate(_equals(key, [_scalar(operand, where)], params)))
        elif op in ("$in", "$nin"):
            if not isinstance(operand, list) or not operand:
                raise FilterError(f"{where} must be a non-empty list of values", param=where)
            values = [_scalar(item, f"{where}[{i}]") for i, item in enumerate(operand)]
            sql = _equals(key, values, params)
            parts.append(sql if op == "$in" else _negate(sql))
        elif op in _COMPARISONS:
            if isinstance(operand, bool) or not isinstance(operand, int | float):
                raise FilterError(f"{where} needs a number, got {operand!r}", param=where)
            params.extend([key, operand])
            comparison = _COMPARISONS[op]
            parts.append(
                f"SELECT label FROM fields WHERE key = ? AND kind = 'n' AND value {comparison} ?"
            )
        else:
            raise FilterError(
                f"unknown operator {op!r} at {path}: use one of {', '.join(_OPERATORS)}",
                param=where,
            )
    return _combine("INTERSECT", parts)


def _scalar(value: Any, path: str) -> tuple[str, object]:
    try:
        kind, encoded = encode_value(value)
    except TypeError:
        raise FilterError(
            f"{path} must be a string, number or boolean, got {type(value).__name__}", param=path
        ) from None
    if kind == "n" and encoded != encoded:  # NaN never equals anything
        raise FilterError(f"{path} must not be NaN", param=path)
    return kind, encoded


def _equals(key: str, values: list[tuple[str, object]], params: list[object]) -> str:
    params.append(key)
    for kind, value in values:
        params.extend([kind, value])
    matches = " OR ".join(["(kind = ? AND value = ?)"] * len(values))
    return f"SELECT label FROM fields WHERE key = ? AND ({matches})"


def _negate(sql: str) -> str:
    return f"{_ALL_LABELS} EXCEPT {sql}"


def _combine(op: str, parts: list[str]) -> str:
    if len(parts) == 1:
        return parts[0]
    return f" {op} ".join(f"SELECT label FROM ({part})" for part in parts)


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
