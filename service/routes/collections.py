"""``/collections``: create, list, describe, update and drop collections."""

from __future__ import annotations

from litestar import delete, get, patch, post

from service.collections import CollectionService
from service.collections.schemas import (
    Collection,
    CollectionList,
    CreateCollection,
    Deleted,
    UpdateCollection,
)


@post("/collections", status_code=201)
async def create_collection(data: CreateCollection, collections: CollectionService) -> Collection:
    """Create a collection; its model, dimensions, metric and HNSW parameters are fixed."""
    return await collections.create(data)


@get("/collections")
async def list_collections(collections: CollectionService) -> CollectionList:
    return await collections.list_collections()


@get("/collections/{name:str}")
async def get_collection(name: str, collections: CollectionService) -> Collection:
    return await collections.describe(name)


@patch("/collections/{name:str}", status_code=200)
async def update_collection(
    name: str, data: UpdateCollection, collections: CollectionService
) -> Collection:
    """Change what a query does when it does not say: ``default_mode``, ``alpha``,
    ``ef_search``. Model, metric, dimensions and the analyzer stay as created."""
    return await collections.update(name, data)


@delete("/collections/{name:str}", status_code=200)
async def delete_collection(name: str, collections: CollectionService) -> Deleted:
    """Drop a collection and all its documents."""
    return await collections.drop(name)
