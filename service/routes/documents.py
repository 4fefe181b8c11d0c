"""``/collections/{name}/documents`` and ``/query``: ingest, read, delete and search."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import unquote_to_bytes

from litestar import Request, Response, delete, get, post
from litestar.openapi.spec import OpenAPIType, Schema
from litestar.params import Parameter

from service.collections import CollectionService
from service.collections.schemas import (
    BatchQueryResult,
    Deleted,
    DeletedCount,
    DeleteDocuments,
    Document,
    DocumentPage,
    Query,
    QueryResult,
    UpsertDocuments,
    Upserted,
)
from service.embeddings.schemas import json_encoder
from service.errors import InvalidRequestError
from service.openapi import COMMON, INDEX, UPSTREAM, answers, operation_class


def _wants_vector(include: str | None) -> bool:
    fields = {f.strip() for f in (include or "").split(",") if f.strip()}
    if fields - {"vector"}:
        raise InvalidRequestError("include takes only 'vector' here", param="include")
    return "vector" in fields


@post(
    "/collections/{name:str}/documents",
    status_code=200,
    responses=answers(Upserted, *COMMON, *INDEX, *UPSTREAM, 413),
)
async def upsert_documents(
    name: str, data: UpsertDocuments, collections: CollectionService
) -> Upserted:
    """Insert or replace documents, all or nothing: texts are embedded, vectors kept."""
    return await collections.upsert(name, data.documents)


@get("/collections/{name:str}/documents", responses=answers(DocumentPage, *COMMON, *INDEX))
async def list_documents(
    name: str,
    collections: CollectionService,
    limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
    after: str | None = None,
    where: str | None = None,
    include: str | None = None,
) -> DocumentPage:
    """Documents in id order; pass ``last_id`` as ``after`` for the next page."""
    return await collections.scroll(name, limit, after, where, _wants_vector(include))


# A document id is the rest of the path, ``/`` included (issue 10). Routing decodes ``%2F`` into
# a separator, then drops empty segments and a trailing slash, so ``a//b``, ``dir/`` and ``/x``
# would reach the handler changed: the id is read from the raw path instead, percent-decoded
# once. Ids under ``documents/delete`` would hit the bulk-delete route's static path (405/404),
# so GET and DELETE are also served there, outside the schema.
_BY_ID = "/collections/{name:str}/documents/{doc_id:path}"
_ID_IN_PATH = operation_class(
    path={
        "doc_id": Schema(
            type=OpenAPIType.STRING,
            min_length=1,
            description="The document id, percent-encoded as one path segment.",
        )
    }
)
_UNDER_DELETE = [
    "/collections/{name:str}/documents/delete",
    "/collections/{name:str}/documents/delete/{rest:path}",
]


def document_id(request: Request[Any, Any, Any]) -> str:
    """The id in ``/collections/{name}/documents/{id}``, exactly as the client encoded it."""
    raw = request.scope.get("raw_path") or request.scope["path"].encode()
    parts = raw.split(b"/", 4)
    if len(parts) < 5 or not parts[4]:
        raise InvalidRequestError("the URL names no document id", param="id")
    try:
        return unquote_to_bytes(parts[4]).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequestError("the document id is not valid UTF-8", param="id") from None


@get(_BY_ID, operation_class=_ID_IN_PATH, responses=answers(Document, *COMMON, *INDEX))
async def get_document(
    name: str,
    request: Request[Any, Any, Any],
    collections: CollectionService,
    include: str | None = None,
) -> Document:
    """A document by id: percent-encode it as one path segment (``/`` may also be sent raw;
    the ids ``.`` and ``..`` as ``%2E`` and ``%2E%2E``, which clients would otherwise drop)."""
    return await collections.get_document(name, document_id(request), _wants_vector(include))


@delete(
    _BY_ID,
    status_code=200,
    operation_class=_ID_IN_PATH,
    responses=answers(Deleted, *COMMON, *INDEX),
)
async def delete_document(
    name: str, request: Request[Any, Any, Any], collections: CollectionService
) -> Deleted:
    """Delete a document by id (encoded as for ``GET``)."""
    return await collections.delete_document(name, document_id(request))


@get(_UNDER_DELETE, include_in_schema=False)
async def get_document_under_delete(
    name: str,
    request: Request[Any, Any, Any],
    collections: CollectionService,
    include: str | None = None,
) -> Document:
    return await collections.get_document(name, document_id(request), _wants_vector(include))


@delete(_UNDER_DELETE, status_code=200, include_in_schema=False)
async def delete_document_under_delete(
    name: str, request: Request[Any, Any, Any], collections: CollectionService
) -> Deleted:
    return await collections.delete_document(name, document_id(request))


@post(
    "/collections/{name:str}/documents/delete",
    status_code=200,
    responses=answers(DeletedCount, *COMMON, *INDEX, 413),
)
async def delete_documents(
    name: str, data: DeleteDocuments, collections: CollectionService
) -> DeletedCount:
    """Delete by ids, by a ``where`` filter, or both (ids that also match)."""
    return DeletedCount(deleted=await collections.delete_documents(name, data))


@post(
    "/collections/{name:str}/query",
    status_code=200,
    responses=answers(QueryResult | BatchQueryResult, *COMMON, *INDEX, *UPSTREAM, 413),
)
async def query(name: str, data: Query, collections: CollectionService) -> Response[bytes]:
    """Search by a text, a vector, or each of several texts: ``mode`` vector (nearest
    neighbours), lexical (BM25) or hybrid (both, fused with weight ``alpha``)."""
    # Encoded here with one reusable msgspec encoder: Litestar's own response serialisation
    # is measurably slower on this hot path (benchmarks/README.md, "Search API").
    result = await collections.query(name, data)
    return Response(json_encoder.encode(result), media_type="application/json")
