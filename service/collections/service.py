"""The search API's logic: collections of documents embedded by the embedding layer.

HTTP handlers stay thin: they decode a request, call one method here, and return its result.
Every index call runs on a thread pool (hnswlib and SQLite release the GIL), never on the
event loop, so queries proceed while another request ingests.

A collection records its model in the index's collection metadata. Documents are embedded with
the model's ``document_model`` when it has one (a fine-tuned, query-side adapter keeps base-model
document vectors) and queries with the model itself.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
import numpy as np

import index
from service.collections import schemas
from service.collections.passages import split_documents, token_counter
from service.embeddings import EmbeddingService, EmbedResult, ModelInfo
from service.embeddings.schemas import Usage
from service.errors import InvalidRequestError, NotFoundError, PayloadTooLargeError, UpstreamError
from service.passages import fits
from service.settings import Settings

T = TypeVar("T")


class CollectionService:
    def __init__(
        self, store: index.Store, embeddings: EmbeddingService, settings: Settings
    ) -> None:
        self.store = store
        self.embeddings = embeddings
        self.settings = settings
        self._executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="index")

    @staticmethod
    async def open_store(settings: Settings) -> index.Store:
        """Lock the data directory and open every collection (replaying any crash's tail).

        Raises ``index.StoreLockedError`` at once when another process owns the directory.
        """

        def open_all() -> index.Store:
            store = index.Store(settings.data_dir)
            store.list_collections()
            return store

        return await asyncio.get_running_loop().run_in_executor(None, open_all)

    def shutdown(self) -> None:
        """Wait for index work in flight; the store itself is closed by its owner."""
        self._executor.shutdown(wait=True)

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))

    # -- collections ----------------------------------------------------------------------------

    async def create(self, request: schemas.CreateCollection) -> schemas.Collection:
        if request.shards is not None:
            raise InvalidRequestError(
                "shards needs a server running on Ray (semsearch serve --ray ADDRESS)",
                param="shards",
            )
        dim = await self._dimension(request)
        col = await self._run(
            self.store.create_collection,
            request.name,
            **self._creation(request, dim),
        )
        return await self._describe(col)

    async def _dimension(self, request: schemas.CreateCollection) -> int:
        """The vector dimension of a new collection: asked, the model's own, or probed."""
        model_id = request.model or self.settings.default_model
        model = self._resolve(model_id)
        dimensions = request.dimensions
        if model.native_dimensions is not None and dimensions is not None:
            if dimensions > model.native_dimensions:
                raise InvalidRequestError(
                    f"dimensions must be at most {model.native_dimensions} for {model_id}",
                    param="dimensions",
                )
        if model.native_dimensions is None:  # an upstream model: ask it once
            probe = await self.embeddings.embed(model_id, ["dimension probe"], dimensions)
            dim = int(probe.vectors.shape[1])
        else:
            dim = dimensions or model.native_dimensions
        return dim

    def _creation(self, request: schemas.CreateCollection, dim: int) -> dict[str, Any]:
        """``Store.create_collection``'s keyword arguments for ``request``."""
        return {
            "dim": dim,
            "metric": request.metric,
            "hnsw": request.hnsw,
            "metadata": {
                "model": request.model or self.settings.default_model,
                "dimensions_param": request.dimensions,
                "metadata": request.metadata or {},
            },
            "lexical": request.lexical,
            "search": index.SearchDefaults(mode=request.default_mode, alpha=request.alpha),
            "passages": request.passage_settings,
        }

    async def update(self, name: str, request: schemas.UpdateCollection) -> schemas.Collection:
        """Change a collection's query defaults (durable when this returns)."""
        col = await self._collection(name)
        await self._run(
            col.configure,
            mode=request.default_mode,
            alpha=request.alpha,
            ef_search=request.ef_search,
        )
        return await self._describe(col)

    async def list_collections(self) -> schemas.CollectionList:
        infos = await self._run(self.store.list_collections)
        described = []
        for info in infos:
            try:
                described.append(await self._describe(await self._collection(info.name)))
            except index.CollectionNotFoundError:  # dropped while we listed: not listed
                continue
        return schemas.CollectionList(data=described)

    async def describe(self, name: str) -> schemas.Collection:
        return await self._describe(await self._collection(name))

    async def drop(self, name: str) -> schemas.Deleted:
        await self._run(self.store.drop_collection, name)
        return schemas.Deleted(id=name, object="collection")

    async def compact(self, name: str) -> schemas.Compacted:
        """Give deleted documents' disk space back (``index/compaction.py``)."""
        col = await self._collection(name)
        result = await self._run(col.compact)
        return schemas.Compacted(
            name=name, bytes_before=result.bytes_before, bytes_after=result.bytes_after
        )

    async def _collection(self, name: str) -> index.Collection:
        # A dict lookup under a lock no disk work holds: open_store() opened every collection
        # at start-up, and create() opens new ones, so no request pays for (or waits on a
        # thread for) opening a collection. Each index call on the handle holds a lease, so a
        # concurrent drop closes it only after that call returns; later calls get a 404.
        return self.store.get_collection(name)

    async def _describe(self, col: index.Collection) -> schemas.Collection:
        return describe(col.info, await self._run(col.count))

    def _resolve(self, model_id: str) -> ModelInfo:
        return self.embeddings.resolve(model_id)

    # -- documents ------------------------------------------------------------------------------

    async def upsert(self, name: str, documents: list[schemas.DocumentIn]) -> schemas.Upserted:
        """All or nothing: the whole request is checked, then embedded, then written."""
        col = await self._collection(name)
        batch = await self._prepare(col.info, documents)
        await self._run(
            col.upsert, batch.ids, batch.vectors, batch.texts, batch.metadatas, batch.passages
        )
        return batch.answer()

    async def _prepare(
        self, info: index.CollectionInfo, documents: list[schemas.DocumentIn]
    ) -> Batch:
        """Check a whole upsert request, then embed what needs it (raises before any write)."""
        limit = self.settings.max_documents_per_request
        if len(documents) > limit:
            raise PayloadTooLargeError(
                f"{len(documents)} documents in one request; the limit is {limit}",
                param="documents",
            )
        ids = [doc.id if doc.id is not None else uuid.uuid4().hex for doc in documents]
        index.check_ids(ids, item="documents[{i}].id")
        to_embed: list[int] = []
        texts: list[str] = []
        vectors = np.empty((len(documents), info.dim), dtype=np.float32)
        given = _given_vectors(documents, info.dim)  # all at once when all are well-formed
        for i, doc in enumerate(documents):
            where = f"documents[{i}]"
            if doc.vector is None:
                if doc.text is None or not doc.text.strip():
                    raise InvalidRequestError(
                        f"{where}.text must be a non-empty string (or give a vector)",
                        param=f"{where}.text",
                    )
                to_embed.append(i)
                texts.append(doc.text)
            elif given is None:  # some vector is malformed: find it, and say which
                vectors[i] = index.check_vectors(doc.vector, info.dim, None, f"{where}.vector")[0]
            index.check_metadata(doc.metadata, f"{where}.metadata")
        if given is not None:
            vectors[given[0]] = given[1]
        prompt_tokens = 0
        passages: list[index.Passages | None] | None = None
        if to_embed and info.passages is not None:
            passages, prompt_tokens = await self._embed_passages(info, texts, to_embed, vectors)
        elif to_embed:
            result = await self._embed(info, texts, for_documents=True, param="documents")
            vectors[to_embed] = result.vectors
            prompt_tokens = result.prompt_tokens
        return Batch(
            ids=ids,
            vectors=vectors,
            texts=[doc.text for doc in documents],
            metadatas=[doc.metadata for doc in documents],
            passages=passages,
            prompt_tokens=prompt_tokens,
        )

    async def _embed_passages(
        self, info: index.CollectionInfo, texts: list[str], rows: list[int], vectors: np.ndarray
    ) -> tuple[list[index.Passages | None], int]:
        """Split ``texts`` (documents ``rows`` of the request) into the collection's passages
        and embed every passage: ``(passages per document, tokens)``. A document of one
        passage gets its vector in ``vectors``; one of several, its first passage's there
        and all of them in its ``Passages``."""
        settings = info.passages
        assert settings is not None
        model = self._resolve(info.metadata["model"])
        count = token_counter(self.embeddings, model.document_model or model.id)
        names = [f"documents[{i}].text" for i in rows]
        if all(fits(text, settings.size) for text in texts):  # short texts: no thread hop
            spans = [[(0, len(text))] for text in texts]
        else:
            spans = await self._run(split_documents, texts, names, settings, count)
        flat = [text[a:b] for text, doc in zip(texts, spans, strict=True) for a, b in doc]
        result = await self._embed(info, flat, for_documents=True, param="passages")
        passages: list[index.Passages | None] = [None] * len(vectors)
        start = 0
        for row, doc in zip(rows, spans, strict=True):
            own = result.vectors[start : start + len(doc)]
            vectors[row] = own[0]
            if len(doc) > 1:
                passages[row] = index.Passages(spans=doc, vectors=own)
            start += len(doc)
        return passages, result.prompt_tokens

    async def get_document(self, name: str, id_: str, with_vector: bool) -> schemas.Document:
        col = await self._collection(name)
        records = await self._run(col.get, [id_])
        if not records:
            raise NotFoundError(f"document {id_!r} not found in collection {name!r}", param="id")
        return _document(records[0], with_vector)

    async def scroll(
        self, name: str, limit: int, after: str | None, where: str | None, with_vector: bool
    ) -> schemas.DocumentPage:
        col = await self._collection(name)
        page = await self._run(col.scroll, limit=limit, after=after, where=_parse_where(where))
        return schemas.DocumentPage(
            data=[_document(r, with_vector) for r in page.records],
            has_more=page.has_more,
            last_id=page.records[-1].id if page.records else None,
        )

    async def delete_document(self, name: str, id_: str) -> schemas.Deleted:
        col = await self._collection(name)
        if not await self._run(col.delete, ids=[id_]):
            raise NotFoundError(f"document {id_!r} not found in collection {name!r}", param="id")
        return schemas.Deleted(id=id_, object="document")

    async def delete_documents(self, name: str, request: schemas.DeleteDocuments) -> int:
        if request.ids is None and request.where is None:
            raise InvalidRequestError("give ids, where, or both", param="ids")
        col = await self._collection(name)
        return await self._run(col.delete, ids=request.ids, where=request.where)

    # -- queries --------------------------------------------------------------------------------

    async def query(
        self, name: str, request: schemas.Query
    ) -> schemas.QueryResult | schemas.BatchQueryResult:
        """Search by ``request`` (its own rules already held: ``schemas.Query``) in four steps:
        choose the mode, get query vectors, search, shape the answer."""
        col = await self._collection(name)
        mode = _mode(request, col.info.search_defaults.mode)
        vectors, prompt_tokens = await self._query_vectors(col.info, request, mode)
        results = await self._search(col, request, mode, vectors)
        hits = await self._hits(col, results, request, mode, vectors)
        return _answer(request, hits, col.info.metadata["model"], mode, prompt_tokens)

    async def _query_vectors(
        self, info: index.CollectionInfo, request: schemas.Query, mode: schemas.Mode
    ) -> tuple[np.ndarray | None, int]:
        """The query vectors and the tokens embedding them cost: the given ``vector``, the
        texts embedded by the collection's query model, or none for a lexical search."""
        if request.vector is not None:
            return index.check_vectors(request.vector, info.dim, None, "vector"), 0
        if mode == "lexical":
            return None, 0
        param = "query" if request.query is not None else "queries"
        result = await self._embed(info, request.texts, for_documents=False, param=param)
        return result.vectors, result.prompt_tokens

    async def _search(
        self,
        col: index.Collection,
        request: schemas.Query,
        mode: schemas.Mode,
        vectors: np.ndarray | None,
    ) -> list[list[index.Hit]]:
        k, where = request.k, request.where
        if mode == "vector":
            return await self._run(col.query, vectors, k=k, where=where, ef=request.ef)
        typos = request.typo_tolerance
        if mode == "lexical":
            return await self._run(
                col.search_text, request.texts, k=k, where=where, typo_tolerance=typos
            )
        return await self._run(
            col.hybrid,
            request.texts,
            vectors,
            k=k,
            where=where,
            alpha=request.alpha,  # None: the collection's own
            ef=request.ef,
            typo_tolerance=typos,
        )

    async def _hits(
        self,
        col: index.Collection,
        results: list[list[index.Hit]],
        request: schemas.Query,
        mode: schemas.Mode,
        query_vectors: np.ndarray | None = None,
    ) -> list[list[schemas.QueryHit]]:
        include = set(request.include)
        if request.min_score is not None:
            results = [[h for h in hits if h.score >= request.min_score] for hits in results]
        vectors: dict[str, list[float]] = {}
        if "vector" in include:
            wanted = sorted({h.id for hits in results for h in hits})
            records = await self._run(col.get, wanted)
            vectors = {r.id: r.vector.tolist() for r in records if r.vector is not None}
        passages: list[dict[str, list[index.PassageHit]]] = [{} for _ in results]
        if "passages" in include:
            passages = await self._passages(col, results, request, query_vectors)
        return query_hits(results, include, mode, vectors, passages)

    async def _passages(
        self,
        col: index.Collection,
        results: list[list[index.Hit]],
        request: schemas.Query,
        query_vectors: np.ndarray | None,
    ) -> list[dict[str, list[index.PassageHit]]]:
        """Each hit's best passages: by the query's vector when it has one, else (lexical
        search) by the query's words."""
        texts = request.texts
        found = []
        for i, hits in enumerate(results):
            vector = None if query_vectors is None else query_vectors[i]
            text = texts[i] if vector is None and texts else None
            ids = [h.id for h in hits]
            found.append(await self._run(col.passages, ids, vector=vector, text=text))
        return found

    async def _embed(
        self, info: index.CollectionInfo, texts: list[str], *, for_documents: bool, param: str
    ) -> EmbedResult:
        """Embed with the collection's model, checking lengths first and the shape after."""
        meta = info.metadata
        model = self._resolve(meta["model"])
        # A query-side adapter (fine-tuned model) keeps its base model's document vectors.
        model_id = (model.document_model or model.id) if for_documents else model.id
        limit = model.max_input_tokens
        suspects: list[int] = []
        if limit is not None:
            # Only a text that may not fit needs tokenising (``fits``); queries skip a second
            # tokenisation.
            suspects = [i for i, t in enumerate(texts) if not fits(t, limit)]
        counts = None
        if suspects:  # long texts: tokenising thousands of them would stall the event loop
            long_texts = [texts[i] for i in suspects]
            counts = await self._run(self.embeddings.count_tokens, model_id, long_texts)
        if limit is not None and counts is not None:
            for i, count in zip(suspects, counts, strict=True):
                if count > limit:
                    where = f"{param}[{i}].text" if for_documents else param
                    raise InvalidRequestError(
                        f"{where} has {count} tokens; {model.id} takes at most {limit}",
                        param=where,
                        code="context_length_exceeded",
                    )
        result = await self.embeddings.embed(model_id, texts, meta.get("dimensions_param"))
        if result.vectors.shape != (len(texts), info.dim):
            raise UpstreamError(
                f"{model_id} returned vectors of shape {result.vectors.shape}; the collection "
                f"{info.name!r} expects dimension {info.dim}"
            )
        return result


@dataclass(frozen=True)
class Batch:
    """An upsert request checked and embedded, ready to write."""

    ids: list[str]
    vectors: np.ndarray
    texts: list[str | None]
    metadatas: list[dict[str, Any] | None]
    passages: list[index.Passages | None] | None
    prompt_tokens: int

    def answer(self) -> schemas.Upserted:
        usage = Usage(prompt_tokens=self.prompt_tokens, total_tokens=self.prompt_tokens)
        return schemas.Upserted(ids=self.ids, upserted=len(self.ids), usage=usage)


def _mode(request: schemas.Query, default: schemas.Mode) -> schemas.Mode:
    """The search mode a request asks for, or else gets: vector for a ``vector`` query, the
    collection's ``default`` for text."""
    if request.mode is None:
        mode: schemas.Mode = "vector" if request.vector is not None else default
    else:
        mode = request.mode
    if request.alpha is not None and mode != "hybrid":
        raise InvalidRequestError("alpha applies to mode 'hybrid' only", param="alpha")
    return mode


def _answer(
    request: schemas.Query,
    hits: list[list[schemas.QueryHit]],
    model: str,
    mode: schemas.Mode,
    prompt_tokens: int,
) -> schemas.QueryResult | schemas.BatchQueryResult:
    """One ranked list for ``query``/``vector``; one per text for ``queries``."""
    usage = Usage(prompt_tokens=prompt_tokens, total_tokens=prompt_tokens)
    if request.queries is not None:
        return schemas.BatchQueryResult(data=hits, model=model, usage=usage, mode=mode)
    return schemas.QueryResult(data=hits[0], model=model, usage=usage, mode=mode)


def describe(
    info: index.CollectionInfo, count: int, shards: int | msgspec.UnsetType = msgspec.UNSET
) -> schemas.Collection:
    """A collection as ``GET /collections/{name}`` shows it (one node's or a sharded one's)."""
    return schemas.Collection(
        name=info.name,
        model=info.metadata["model"],
        dimensions=info.dim,
        metric=info.metric,
        hnsw=info.hnsw,
        lexical=info.lexical_settings,
        default_mode=info.search_defaults.mode,
        alpha=info.search_defaults.alpha,
        count=count,
        metadata=info.metadata.get("metadata", {}),
        created_at=info.created_at,
        passages=info.passages,
        shards=shards,
    )


def query_hits(
    results: list[list[index.Hit]],
    include: Collection[str],
    mode: schemas.Mode,
    vectors: dict[str, list[float]],
    passages: list[dict[str, list[index.PassageHit]]],
) -> list[list[schemas.QueryHit]]:
    """The answer's hits, with what ``include`` asks for (one node's or a sharded collection's:
    ``vectors`` and ``passages`` are fetched by whoever holds them)."""
    unset = msgspec.UNSET
    return [
        [
            schemas.QueryHit(
                id=h.id,
                score=h.score,
                text=h.text if "text" in include else unset,
                metadata=h.metadata if "metadata" in include else unset,
                vector=vectors.get(h.id, unset) if "vector" in include else unset,
                scores=_scores(h, mode) if "scores" in include else unset,
                passages=[_passage(p) for p in found.get(h.id, ())]
                if "passages" in include
                else unset,
            )
            for h in hits
        ]
        for hits, found in zip(results, passages, strict=True)
    ]


def _scores(hit: index.Hit, mode: schemas.Mode) -> schemas.HitScores:
    if mode == "vector":
        return schemas.HitScores(lexical=None, vector=hit.score)
    return schemas.HitScores(lexical=hit.lexical_score, vector=hit.vector_score)


def _given_vectors(
    documents: list[schemas.DocumentIn], dim: int
) -> tuple[list[int], np.ndarray] | None:
    """The positions and vectors of the documents that carry one, converted in one call (a
    per-document conversion was a tenth of an upsert's time); ``None`` when any is not ``dim``
    finite numbers, so that the caller checks them one by one and names the bad one."""
    positions = [i for i, doc in enumerate(documents) if doc.vector is not None]
    if not positions:
        return positions, np.empty((0, dim), np.float32)
    rows = [documents[i].vector for i in positions]
    if any(len(row) != dim for row in rows if row is not None):
        return None
    with np.errstate(over="ignore"):
        array = np.asarray(rows, dtype=np.float32)
    if not np.isfinite(array).all():
        return None
    return positions, array


def _parse_where(where: str | None) -> dict[str, Any] | None:
    if where is None or not where.strip():
        return None
    try:
        parsed = msgspec.json.decode(where)
    except msgspec.DecodeError as exc:
        raise InvalidRequestError(f"where is not valid JSON: {exc}", param="where") from None
    if not isinstance(parsed, dict):
        raise InvalidRequestError("where must be a JSON object", param="where")
    return parsed


def _passage(passage: index.PassageHit) -> schemas.Passage:
    return schemas.Passage(
        start=passage.start, end=passage.end, score=passage.score, text=passage.text
    )


def _document(record: index.Record, with_vector: bool) -> schemas.Document:
    return schemas.Document(
        id=record.id,
        text=record.text,
        metadata=record.metadata,
        vector=record.vector.tolist()
        if with_vector and record.vector is not None
        else msgspec.UNSET,
    )
