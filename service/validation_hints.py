"""The allowed values of an enum-like field, found from a request type and an error's path.

msgspec says ``Invalid enum value 'semantic' - at `$.mode``` without naming what is allowed;
``allowed_values(Query, "mode")`` walks the type to the ``Literal`` and returns
``("vector", "lexical", "hybrid")``, so the error can list them.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec.inspect as mi

_STEP = re.compile(r"\.?([^.\[\]]+)|\[(\d+)\]")


def allowed_values(type_: Any, path: str) -> tuple[Any, ...] | None:
    """The values of the ``Literal``/``Enum`` at ``path`` (``documents[3].mode``) inside
    ``type_``, or ``None`` when the path leads to no such field."""
    try:
        info: mi.Type | None = mi.type_info(type_)
    except (TypeError, ValueError):
        return None
    for field, index in _STEP.findall(path):
        info = _step(info, field, bool(index))
        if info is None:
            return None
    return _values(info)


def _step(info: mi.Type | None, field: str, is_index: bool) -> mi.Type | None:
    for option in _options(info):
        if is_index and isinstance(option, mi.ListType | mi.TupleType | mi.SetType):
            return option.item_type if not isinstance(option, mi.TupleType) else None
        if not is_index and isinstance(option, mi.StructType):
            for f in option.fields:
                if f.encode_name == field:
                    return f.type
        if not is_index and isinstance(option, mi.DictType):
            return option.value_type
    return None


def _options(info: mi.Type | None) -> list[mi.Type]:
    if isinstance(info, mi.UnionType):
        return list(info.types)
    return [] if info is None else [info]


def _values(info: mi.Type | None) -> tuple[Any, ...] | None:
    for option in _options(info):
        if isinstance(option, mi.LiteralType):
            return tuple(option.values)
        if isinstance(option, mi.EnumType):
            return tuple(member.value for member in option.cls)
    return None
