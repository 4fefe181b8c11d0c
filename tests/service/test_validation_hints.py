"""``allowed_values``: the choices of an enum-like field, found along an error's path."""

from __future__ import annotations

import pytest

from service.collections.schemas import CreateCollection, Query, UpsertDocuments
from service.validation_hints import allowed_values


@pytest.mark.parametrize(
    ("type_", "path", "expected"),
    [
        pytest.param(Query, "mode", ("hybrid", "lexical", "vector"), id="literal"),
        pytest.param(Query, "include[2]", ("metadata", "scores", "text", "vector"), id="list-item"),
        pytest.param(CreateCollection, "metric", ("cosine", "ip", "l2"), id="optional-literal"),
        pytest.param(Query, "k", None, id="not-an-enum"),
        pytest.param(Query, "no_such_field", None, id="unknown-field"),
        pytest.param(UpsertDocuments, "documents[0].id", None, id="nested-str"),
    ],
)
def test_allowed_values(type_: type, path: str, expected: tuple[str, ...] | None) -> None:
    found = allowed_values(type_, path)
    if expected is None:
        assert found is None
    else:
        assert found is not None and set(expected) <= set(found)
