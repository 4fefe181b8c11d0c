"""The search API over sharded collections: the same routes, the same answers as one node.

:class:`ShardedCollectionService` is the server's ``CollectionService`` when it runs on Ray: a
name registered as sharded (``registry.py``) is served by its shard actors, any other name by
the local store as before. Requests are checked and embedded here, at the front door, exactly
as on one node (``CollectionService._prepare`` and ``_embed``); writes then go to the shard each
id hashes to (``index.shard_of``), reads fan out and merge (``index.ShardedReader``). Every Ray
call runs on the service's thread pool, never on the event loop.

A write that fails with 503 (a shard died while it ran) may have reached some shards: upserts
and deletes are idempotent, so retrying it is safe; nothing acknowledged is ever lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import index
from service.cluster import runtime
from service.cluster.registry import Registry, ShardedEntry
from service.collections import CollectionService, schemas
from service.collections.service import (
    _answer,
    _document,
    _mode,
    _parse_where,
    describe,
    query_hits,
)
from service.embeddings import EmbeddingService
from service.errors import ConflictError, InvalidRequestError, NotFoundError
from service.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Sharded:
    """A sharded collection as the front door holds it."""

    entry: ShardedEntry
    handles: list[Any]
    info: index.CollectionInfo | None = None
    reader: index.ShardedReader = field(init=False)


class ShardedCollectionService(CollectionService):
    def __init__(
        self,
        store: index.Store,
        embeddings: EmbeddingService,
        settings: Settings,
    ) -> None:
        super().__init__(store, embeddings, settings)
        self._root = (settings.data_dir / "shards").resolve()
        self._registry = Registry(settings.data_dir)
        self._calls = runtime.Calls(settings.ray_timeout)
        self._sharded: dict[str, Sharded] = {}
        self._creating: set[str] = set()

    @classmethod
    async def open(
        cls, store: index.Store, embeddings: EmbeddingService, settings: Settings
    ) -> ShardedCollectionService:
        """Join Ray and bring back the shard actors of every registered sharded collection
        (they reopen their data; a shard that cannot start yet answers 503 until it does)."""
        assert settings.ray_address is not None
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, runtime.connect, settings.ray_address, settings.data_dir)
        service = cls(store, embeddings, settings)
        for entry in service._registry.entries():
            service._attach(entry)
        return service

    def _attach(self, entry: ShardedEntry) -> Sharded:
        handles = [
            runtime.shard_actor(self._root, entry.name, i, place)
            for i, place in enumerate(entry.placements)
        ]
        sharded = Sharded(entry=entry, handles=handles)

        def fan_out(method: str, *args: Any, **kwargs: Any) -> list[Any]:
            return self._calls.gather(handles, "call", method, *args, **kwargs)

        sharded.reader = index.ShardedReader(fan_out)
        self._sharded[entry.name] = sharded
        return sharded

    def shutdown(self) -> None:
        super().shutdown()
        runtime.disconnect()

    async def _sharded_of(self, name: str) -> Sharded | None:
        """The sharded collection ``name`` (its info fetched once), or None if not sharded."""
        sharded = self._sharded.get(name)
        if sharded is not None and sharded.info is None:
            infos = await self._run(self._calls.gather, sharded.handles[:1], "info")
            sharded.info = infos[0]
        return sharded

    # -- collections ----------------------------------------------------------------------------

    async def create(self, request: schemas.CreateCollection) -> schemas.Collection:
        if request.shards is None:
            if request.name in self._sharded or request.name in self._creating:
                raise ConflictError(f"collection {request.name!r} already exists", param="name")
            return await super().create(request)
        name = request.name
        if name in self._sharded or name in self._creating:
            raise ConflictError(f"collection {name!r} already exists", param="name")
        try:
            self.store.get_collection(name)
        except index.CollectionNotFoundError:
            pass
        else:
            raise ConflictError(f"collection {name!r} already exists", param="name")
        self._creating.add(name)
        try:
            dim = await self._dimension(request)
            options = self._creation(request, dim)
            places = await self._run(runtime.placements, request.shards)
            entry = ShardedEntry(name=name, placements=places)
            sharded = self._attach(entry)
            try:
                # The first shard checks the options (each would fail alike); then the rest.
                first = await self._run(self._calls.gather, sharded.handles[:1], "create", options)
                await self._run(self._calls.gather, sharded.handles[1:], "create", options)
            except BaseException:
                del self._sharded[name]
                await self._run(self._drop_shards, sharded)
                raise
            sharded.info = first[0]
            await self._run(self._registry.add, entry)
        finally:
            self._creating.discard(name)
        return await self._describe_sharded(sharded)

    async def update(self, name: str, request: schemas.UpdateCollection) -> schemas.Collection:
        sharded = await self._sharded_of(name)
        if sharded is None:
            return await super().update(name, request)
        infos = await self._run(
            sharded.reader.call_all,
            "configure",
            mode=request.default_mode,
            alpha=request.alpha,
            ef_search=request.ef_search,
        )
        sharded.info = infos[0]
        return await self._describe_sharded(sharded)

    async def list_collections(self) -> schemas.CollectionList:
        local = await super().list_collections()
        described = list(local.data)
        for name in list(self._sharded):
            sharded = await self._sharded_of(name)
            if sharded is not None:
                described.append(await self._describe_sharded(sharded))
        described.sort(key=lambda c: c.name)
        return schemas.CollectionList(data=described)

    async def describe(self, name: str) -> schemas.Collection:
        sharded = await self._sharded_of(name)
        if sharded is None:
            return await super().describe(name)
        return await self._describe_sharded(sharded)

    async def drop(self, name: str) -> schemas.Deleted:
        sharded = self._sharded.get(name)
        if sharded is None:
            return await super().drop(name)
        await self._run(self._calls.gather, sharded.handles, "drop")
        self._sharded.pop(name, None)
        await self._run(self._registry.remove, name)
        await self._run(self._drop_shards, sharded)
        return schemas.Deleted(id=name, object="collection")

    def _drop_shards(self, sharded: Sharded) -> None:
        ray = runtime.import_ray()
        for handle in sharded.handles:
            ray.kill(handle, no_restart=True)

    async def compact(self, name: str) -> schemas.Compacted:
        sharded = await self._sharded_of(name)
        if sharded is None:
            return await super().compact(name)
        results: list[index.Compacted] = await self._run(sharded.reader.call_all, "compact")
        return schemas.Compacted(
            name=name,
            bytes_before=sum(r.bytes_before for r in results),
            bytes_after=sum(r.bytes_after for r in results),
        )

    async def _describe_sharded(self, sharded: Sharded) -> schemas.Collection:
        assert sharded.info is not None
        count = await self._run(sharded.reader.count)
        return describe(sharded.info, count, sharded.entry.shards)

    # -- documents ------------------------------------------------------------------------------

    async def upsert(self, name: str, documents: list[schemas.DocumentIn]) -> schemas.Upserted:
        sharded = await self._sharded_of(name)
        if sharded is None:
            return await super().upsert(name, documents)
        assert sharded.info is not None
        batch = await self._prepare(sharded.info, documents)
        _check_cosine(sharded.info, batch.vectors)
        routes = _route(batch.ids, sharded.entry.shards)
        calls: list[runtime.Call] = [
            (
                sharded.handles[shard],
                "call",
                (
                    "upsert",
                    [batch.ids[i] for i in rows],
                    batch.vectors[rows],
                    [batch.texts[i] for i in rows],
                    [batch.metadatas[i] for i in rows],
                    None if batch.passages is None else [batch.passages[i] for i in rows],
                ),
                {},
            )
            for shard, rows in routes.items()
        ]
        await self._run(self._calls.each, calls)
        return batch.answer()

    async def get_document(self, name: str, id_: str, with_vector: bool) -> schemas.Document:
        sharded = await self._sharded_of(name)
        if sharded is None:
            return await super().get_document(name, id_, with_vector)
        handle = sharded.handles[index.shard_of(id_, sharded.entry.shards)]
        records = (await self._run(self._calls.gather, [handle], "call", "get", [id_]))[0]
        if not records:
            raise NotFoundError(f"document {id_!r} not found in collection {name!r}", param="id")
        return _document(records[0], with_vector)

    async def scroll(
        self, name: str, limit: int, after: str | None, where: str | None, with_vector: bool
    ) -> schemas.DocumentPage:
        sharded = await self._sharded_of(name)
        if sharded is None:
            return await super().scroll(name, limit, after, where, with_vector)
        page = await self._run(
            sharded.reader.scroll, limit=limit, after=after, where=_parse_where(where)
        )
        return schemas.DocumentPage(
            data=[_document(r, with_vector) for r in page.records],
            has_more=page.next_after is not None,
            last_id=page.records[-1].id if page.records else None,
        )

    async def delete_document(self, name: str, id_: str) -> schemas.Deleted:
        sharded = await self._sharded_of(name)
        if sharded is None:
            return await super().delete_document(name, id_)
        handle = sharded.handles[index.shard_of(id_, sharded.entry.shards)]
        deleted = await self._run(self._calls.gather, [handle], "call", "delete", ids=[id_])
        if not deleted[0]:
            raise NotFoundError(f"document {id_!r} not found in collection {name!r}", param="id")
        return schemas.Deleted(id=id_, object="document")

    async def delete_documents(self, name: str, request: schemas.DeleteDocuments) -> int:
        sharded = await self._sharded_of(name)
        if sharded is None:
            return await super().delete_documents(name, request)
        if request.ids is None and request.where is None:
            raise InvalidRequestError("give ids, where, or both", param="ids")
        if request.ids is None:
            return int(await self._run(sharded.reader.delete_where, request.where))
        index.check_ids(request.ids)
        routes = _route(request.ids, sharded.entry.shards)
        calls: list[runtime.Call] = [
            (
                sharded.handles[shard],
                "call",
                ("delete",),
                {"ids": [request.ids[i] for i in rows], "where": request.where},
            )
            for shard, rows in routes.items()
        ]
        return sum(await self._run(self._calls.each, calls))

    # -- queries --------------------------------------------------------------------------------

    async def query(
        self, name: str, request: schemas.Query
    ) -> schemas.QueryResult | schemas.BatchQueryResult:
        sharded = await self._sharded_of(name)
        if sharded is None:
            return await super().query(name, request)
        info = sharded.info
        assert info is not None
        mode = _mode(request, info.search_defaults.mode)
        vectors, prompt_tokens = await self._query_vectors(info, request, mode)
        reader, k, where = sharded.reader, request.k, request.where
        if mode == "vector":
            results = await self._run(reader.query, vectors, k=k, where=where, ef=request.ef)
        elif mode == "lexical":
            results = await self._run(
                reader.search_text, request.texts, k, where, typo_tolerance=request.typo_tolerance
            )
        else:
            results = await self._run(
                reader.hybrid,
                request.texts,
                vectors,
                k,
                where,
                alpha=info.search_defaults.alpha if request.alpha is None else request.alpha,
                ef=request.ef,
                typo_tolerance=request.typo_tolerance,
            )
        hits = await self._sharded_hits(sharded, results, request, mode, vectors)
        return _answer(request, hits, info.metadata["model"], mode, prompt_tokens)

    async def _sharded_hits(
        self,
        sharded: Sharded,
        results: list[list[index.Hit]],
        request: schemas.Query,
        mode: schemas.Mode,
        query_vectors: np.ndarray | None,
    ) -> list[list[schemas.QueryHit]]:
        include = set(request.include)
        if request.min_score is not None:
            results = [[h for h in hits if h.score >= request.min_score] for hits in results]
        vectors: dict[str, list[float]] = {}
        if "vector" in include:
            wanted = sorted({h.id for hits in results for h in hits})
            routes = _route(wanted, sharded.entry.shards)
            calls: list[runtime.Call] = [
                (sharded.handles[s], "call", ("get", [wanted[i] for i in rows]), {})
                for s, rows in routes.items()
            ]
            for records in await self._run(self._calls.each, calls):
                vectors.update((r.id, r.vector.tolist()) for r in records if r.vector is not None)
        passages: list[dict[str, list[index.PassageHit]]] = [{} for _ in results]
        if "passages" in include:
            passages = await self._sharded_passages(sharded, results, request, query_vectors)
        return query_hits(results, include, mode, vectors, passages)

    async def _sharded_passages(
        self,
        sharded: Sharded,
        results: list[list[index.Hit]],
        request: schemas.Query,
        query_vectors: np.ndarray | None,
    ) -> list[dict[str, list[index.PassageHit]]]:
        """Each hit's best passages, from the shard that holds it (as ``_passages``)."""
        texts = request.texts
        found = []
        for i, hits in enumerate(results):
            vector = None if query_vectors is None else query_vectors[i]
            text = texts[i] if vector is None and texts else None
            routes = _route([h.id for h in hits], sharded.entry.shards)
            calls: list[runtime.Call] = [
                (
                    sharded.handles[s],
                    "call",
                    ("passages", [hits[j].id for j in rows]),
                    {"vector": vector, "text": text},
                )
                for s, rows in routes.items()
            ]
            merged: dict[str, list[index.PassageHit]] = {}
            for part in await self._run(self._calls.each, calls):
                merged.update(part)
            found.append(merged)
        return found


def _check_cosine(info: index.CollectionInfo, vectors: np.ndarray) -> None:
    """The one check a shard makes that the front door's does not: a shard refusing a zero
    vector after the others wrote their part would leave a partial write."""
    if info.metric != "cosine" or not len(vectors):
        return
    zero = np.flatnonzero(np.linalg.norm(vectors, axis=1) == 0)
    if len(zero):
        where = f"documents[{int(zero[0])}].vector"
        raise InvalidRequestError(
            f"{where} is all zeros, which has no cosine similarity", param=where
        )


def _route(ids: list[str], shards: int) -> dict[int, list[int]]:
    """Positions of ``ids`` by the shard each belongs to."""
    routes: dict[int, list[int]] = defaultdict(list)
    for i, id_ in enumerate(ids):
        routes[index.shard_of(id_, shards)].append(i)
    return dict(routes)
