"""``/collections/{name}/documents`` and ``/query``: ingest, read, delete and search."""

from __future__ import annotations

from typing import Annotated

from litestar import Response, delete, get, post
from litestar.params import Parameter

from service.collections import CollectionService
from service.collections.schemas import (
    Deleted,
    DeletedCount,
    DeleteDocuments,
    Document,
    DocumentPage,
    Query,
    UpsertDocuments,
    Upserted,
)
from service.embeddings.schemas import json_encoder
from service.errors import InvalidRequestError


def _wants_vector(include: str | None) -> bool:
    fields = {f.strip() for f in (include or "").split(",") if f.strip()}
    if fields - {"vector"}:
        raise InvalidRequestError("include takes only 'vector' here", param="include")
    return "vector" in fields


@post("/collections/{name:str}/documents", status_code=200)
async def upsert_documents(
    name: str, data: UpsertDocuments, collections: CollectionService
) -> Upserted:
    """Insert or replace documents, all or nothing: texts are embedded, vectors kept."""
    return await collections.upsert(name, data.documents)


@get("/collections/{name:str}/documents")
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


@get("/collections/{name:str}/documents/{doc_id:str}")
async def get_document(
    name: str, doc_id: str, collections: CollectionService, include: str | None = None
) -> Document:
    return await collections.get_document(name, doc_id, _wants_vector(include))


@delete("/collections/{name:str}/documents/{doc_id:str}", status_code=200)
async def delete_document(name: str, doc_id: str, collections: CollectionService) -> Deleted:
    return await collections.delete_document(name, doc_id)


@post("/collections/{name:str}/documents/delete", status_code=200)
async def delete_documents(
    name: str, data: DeleteDocuments, collections: CollectionService
) -> DeletedCount:
    """Delete by ids, by a ``where`` filter, or both (ids that also match)."""
    return DeletedCount(deleted=await collections.delete_documents(name, data))


@post("/collections/{name:str}/query", status_code=200)
async def query(name: str, data: Query, collections: CollectionService) -> Response[bytes]:
    """Search by a text, a vector, or each of several texts: ``mode`` vector (nearest
    neighbours), lexical (BM25) or hybrid (both, fused with weight ``alpha``)."""
    # Encoded here with one reusable msgspec encoder: Litestar's own response serialisation
    # is measurably slower on this hot path (benchmarks/README.md, "Search API").
    result = await collections.query(name, data)
    return Response(json_encoder.encode(result), media_type="application/json")
