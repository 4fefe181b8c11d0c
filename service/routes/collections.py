"""``/collections``: create, list, describe, update and drop collections."""

from __future__ import annotations

from litestar import delete, get, patch, post

from service.collections import CollectionService
from service.collections.schemas import (
    Collection,
    CollectionList,
    Compacted,
    CreateCollection,
    Deleted,
    UpdateCollection,
)
from service.openapi import COMMON, INDEX, UPSTREAM, answers


@post(
    "/collections",
    status_code=201,
    responses=answers(Collection, *COMMON, *UPSTREAM, 404, 409, 413, 503, status=201),
)
async def create_collection(data: CreateCollection, collections: CollectionService) -> Collection:
    """Create a collection; its model, dimensions, metric and HNSW parameters are fixed."""
    return await collections.create(data)


@get("/collections", responses=answers(CollectionList, *COMMON, 503))
async def list_collections(collections: CollectionService) -> CollectionList:
    return await collections.list_collections()


@get("/collections/{name:str}", responses=answers(Collection, *COMMON, *INDEX))
async def get_collection(name: str, collections: CollectionService) -> Collection:
    return await collections.describe(name)


@patch("/collections/{name:str}", status_code=200, responses=answers(Collection, *COMMON, *INDEX))
async def update_collection(
    name: str, data: UpdateCollection, collections: CollectionService
) -> Collection:
    """Change what a query does when it does not say: ``default_mode``, ``alpha``,
    ``ef_search``. Model, metric, dimensions and the analyzer stay as created."""
    return await collections.update(name, data)


@delete("/collections/{name:str}", status_code=200, responses=answers(Deleted, *COMMON, *INDEX))
async def delete_collection(name: str, collections: CollectionService) -> Deleted:
    """Drop a collection and all its documents."""
    return await collections.drop(name)


@post(
    "/collections/{name:str}/compact",
    status_code=200,
    responses=answers(Compacted, *COMMON, *INDEX),
)
async def compact_collection(name: str, collections: CollectionService) -> Compacted:
    """Return the disk space of deleted documents to the operating system: the graph is
    rebuilt without them and the database rewritten. Writes to the collection wait meanwhile;
    searches go on. Worth it after large deletions (deleted space is reused anyway)."""
    return await collections.compact(name)
