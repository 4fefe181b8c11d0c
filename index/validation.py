"""Checks on everything a caller hands to a collection, done whole before anything is written."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .errors import InvalidArgumentError
from .filters import INT64_MAX, INT64_MIN
from .schemas import Metadata

MAX_ID_LENGTH = 256
MAX_K = 10_000
MAX_METADATA_KEY_LENGTH = 256
#: Nesting levels of a collection's own (free-form, stored verbatim) metadata, itself included.
MAX_COLLECTION_METADATA_DEPTH = 32
COLLECTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")

_SCALARS = (str, int, float, bool)


def check_collection_name(name: object) -> str:
    """Names double as directory names, so only a safe alphabet is allowed (no path tricks)."""
    if not isinstance(name, str) or not COLLECTION_NAME.fullmatch(name):
        raise InvalidArgumentError(
            f"invalid collection name {name!r}: use 1 to 64 characters of A-Z, a-z, 0-9, '_', '-'",
            param="name",
        )
    return name


def check_ids(ids: Sequence[str], param: str = "ids", item: str = "{param}[{i}]") -> list[str]:
    """Strings of 1 to ``MAX_ID_LENGTH`` characters, no repeats; an error names the first bad
    one as ``item`` says (``"documents[{i}].id"`` when the ids sit inside other objects)."""
    if isinstance(ids, str) or not isinstance(ids, Sequence):
        raise InvalidArgumentError(f"{param} must be a list of strings", param=param)
    seen: set[str] = set()
    for i, id_ in enumerate(ids):
        where = item.format(param=param, i=i)
        if not isinstance(id_, str):
            raise InvalidArgumentError(
                f"{where} must be a string, got {type(id_).__name__}", param=where
            )
        if not 1 <= len(id_) <= MAX_ID_LENGTH:
            raise InvalidArgumentError(
                f"{where} must be 1 to {MAX_ID_LENGTH} characters long, got {len(id_)}", param=where
            )
        if id_ in seen:
            raise InvalidArgumentError(f"{where} repeats id {id_!r} in the same batch", param=where)
        seen.add(id_)
    return list(ids)


def check_vectors(
    vectors: Any, dim: int, n: int | None = None, param: str = "vectors"
) -> np.ndarray:
    """Return a C-contiguous float32 ``[n, dim]`` array, or raise naming the first bad row.

    With ``n`` None, a single 1-D vector is taken as one row, and errors name ``param`` itself.
    """
    try:
        with np.errstate(over="ignore"):  # beyond float32's range is infinite: refused below
            array = np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"{param} must be a 2-D array of numbers: {exc}", param=param
        ) from None
    single = array.ndim == 1 and n is None
    if single:
        if array.size != dim:
            raise InvalidArgumentError(
                f"{param} has {array.size} dimensions; the collection has {dim}", param=param
            )
        array = array.reshape(1, dim)
    if array.ndim != 2:
        raise InvalidArgumentError(
            f"{param} must be 2-D [n, {dim}], got shape {array.shape}", param=param
        )
    if array.shape[1] != dim:
        raise InvalidArgumentError(
            f"{param}: dimension {array.shape[1]}, the collection expects {dim}", param=param
        )
    if n is not None and array.shape[0] != n:
        raise InvalidArgumentError(f"{param} has {array.shape[0]} rows for {n} ids", param=param)
    finite = np.isfinite(array).all(axis=1)
    if not finite.all():
        row = int(np.argmin(finite))
        where = param if single else f"{param}[{row}]"
        raise InvalidArgumentError(f"{where} contains NaN or infinity", param=where)
    return np.ascontiguousarray(array)


def check_texts(texts: Sequence[str | None] | None, n: int) -> list[str | None]:
    if texts is None:
        return [None] * n
    if isinstance(texts, str) or len(texts) != n:
        raise InvalidArgumentError(f"texts must be a list of {n} strings (or None)", param="texts")
    for i, text in enumerate(texts):
        if text is not None and not isinstance(text, str):
            raise InvalidArgumentError(f"texts[{i}] must be a string or None", param=f"texts[{i}]")
    return list(texts)


def check_metadatas(
    metadatas: Sequence[Mapping[str, Any] | None] | None, n: int
) -> list[Metadata | None]:
    if metadatas is None:
        return [None] * n
    if len(metadatas) != n:
        raise InvalidArgumentError(
            f"metadatas must be a list of {n} objects (or None)", param="metadatas"
        )
    return [check_metadata(m, f"metadatas[{i}]") for i, m in enumerate(metadatas)]


def check_metadata(metadata: Any, param: str = "metadata") -> Metadata | None:
    """Metadata is a flat object of str/int/float/bool values, or lists of those."""
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise InvalidArgumentError(f"{param} must be an object", param=param)
    for key, value in metadata.items():
        where = f"{param}.{key}"
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_METADATA_KEY_LENGTH:
            raise InvalidArgumentError(
                f"{param} keys must be strings of 1 to {MAX_METADATA_KEY_LENGTH} characters",
                param=param,
            )
        if key.startswith("$"):
            raise InvalidArgumentError(f"{param} key {key!r} must not start with '$'", param=where)
        if isinstance(value, list):
            for item in value:
                _check_scalar(item, f"{where}[]")
        else:
            _check_scalar(value, where)
    return metadata


def _check_scalar(value: Any, where: str) -> None:
    if not isinstance(value, _SCALARS):
        raise InvalidArgumentError(
            f"{where} must be a string, number, boolean or a list of those, "
            f"got {type(value).__name__}",
            param=where,
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidArgumentError(f"{where} must be a finite number", param=where)
    if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:  # SQLite's integers
        raise InvalidArgumentError(
            f"{where} is outside the 64-bit integer range (-2**63 to 2**63 - 1)", param=where
        )


def check_k(k: Any) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise InvalidArgumentError(f"k must be an integer from 1 to {MAX_K}", param="k")


def check_ef(ef: Any, param: str = "ef") -> None:
    if ef is not None and (isinstance(ef, bool) or not isinstance(ef, int) or not 1 <= ef <= 4096):
        raise InvalidArgumentError(f"{param} must be an integer from 1 to 4096", param=param)


def check_alpha(alpha: Any) -> None:
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 <= alpha <= 1:
        raise InvalidArgumentError("alpha must be a number from 0 to 1", param="alpha")


def check_query_texts(texts: Any) -> list[str]:
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise InvalidArgumentError("texts must be a list of strings", param="texts")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InvalidArgumentError(f"texts[{i}] must be a string", param=f"texts[{i}]")
    return list(texts)


def check_nesting(value: Any, limit: int, param: str) -> None:
    """Refuse JSON-like ``value`` nested more than ``limit`` objects/lists deep (iteratively:
    a deep value must not overflow the stack while it is being refused)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= limit:
                raise InvalidArgumentError(
                    f"{param} is nested more than {limit} levels deep", param=param
                )
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
