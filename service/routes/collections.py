"""``/collections``: create, list, describe and drop collections."""

from __future__ import annotations

from litestar import delete, get, post

from service.collections import CollectionService
from service.collections.schemas import Collection, CollectionList, CreateCollection, Deleted


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


@delete("/collections/{name:str}", status_code=200)
async def delete_collection(name: str, collections: CollectionService) -> Deleted:
    """Drop a collection and all its documents."""
    return await collections.drop(name)
