"""Wire types of the search API (``/collections``), decoded and encoded by msgspec.

Requests forbid unknown fields, so a typo (``"metdata"``) is a 400 rather than silently
ignored. Optional response fields are ``UNSET`` and left out of the JSON when not asked for.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from index import HnswParams
from service.embeddings.schemas import Usage

Metric = Literal["cosine", "ip", "l2"]
Include = Literal["text", "metadata", "vector", "scores"]
Mode = Literal["vector", "lexical", "hybrid"]
NAME_PATTERN = "^[A-Za-z0-9_-]{1,64}$"
MAX_K = 1000


class Request(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class CreateCollection(Request):
    name: str
    model: str | None = None
    dimensions: Annotated[int, Meta(ge=1, le=65536)] | None = None
    metric: Metric = "cosine"
    hnsw: HnswParams | None = None
    metadata: dict[str, Any] | None = None


class Collection(msgspec.Struct, kw_only=True):
    name: str
    model: str
    dimensions: int
    metric: Metric
    hnsw: HnswParams
    count: int
    metadata: dict[str, Any]
    created_at: int
    object: str = "collection"


class CollectionList(msgspec.Struct, kw_only=True):
    data: list[Collection]
    object: str = "list"


class Compacted(msgspec.Struct, kw_only=True):
    """The answer to ``POST /collections/{name}/compact``: the collection's bytes on disk."""

    name: str
    bytes_before: int
    bytes_after: int
    object: str = "collection.compaction"


class Deleted(msgspec.Struct, kw_only=True):
    id: str
    object: str
    deleted: bool = True


class DocumentIn(Request):
    """A document to upsert: ``text`` (embedded by the collection's model), or a ``vector``
    (with an optional ``text`` stored as is). Without ``id`` a random one is assigned."""

    id: str | None = None
    text: str | None = None
    vector: list[float] | None = None
    metadata: dict[str, Any] | None = None


class UpsertDocuments(Request):
    documents: list[DocumentIn]


class Upserted(msgspec.Struct, kw_only=True):
    ids: list[str]
    upserted: int
    usage: Usage


class Document(msgspec.Struct, kw_only=True):
    id: str
    text: str | None
    metadata: dict[str, Any] | None
    vector: list[float] | UnsetType = UNSET
    object: str = "document"


class DocumentPage(msgspec.Struct, kw_only=True):
    data: list[Document]
    has_more: bool
    last_id: str | None
    object: str = "list"


class DeleteDocuments(Request):
    ids: list[str] | None = None
    where: dict[str, Any] | None = None


class DeletedCount(msgspec.Struct, kw_only=True):
    deleted: int


class Query(Request):
    """Exactly one of ``query`` (text), ``vector`` or ``queries`` (several texts).

    ``mode``: ``vector`` (embed the text, nearest neighbours), ``lexical`` (BM25 over the
    texts) or ``hybrid`` (both, fused; ``alpha`` weighs the vector side, 0..1). Left out, a
    text query uses ``DEFAULT_MODE`` and a ``vector`` query is a vector search.
    """

    query: str | None = None
    vector: list[float] | None = None
    queries: list[str] | None = None
    k: Annotated[int, Meta(ge=1, le=MAX_K)] = 10
    where: dict[str, Any] | None = None
    include: list[Include] = msgspec.field(default_factory=lambda: ["text", "metadata"])
    ef: Annotated[int, Meta(ge=1, le=4096)] | None = None
    min_score: float | None = None
    mode: Mode | None = None
    alpha: Annotated[float, Meta(ge=0.0, le=1.0)] | None = None


class HitScores(msgspec.Struct, kw_only=True):
    """The raw parts of a hit's score: BM25 and vector similarity (``null`` when that side was
    not searched: ``lexical`` in vector mode, ``vector`` in lexical mode)."""

    lexical: float | None
    vector: float | None


class QueryHit(msgspec.Struct, kw_only=True):
    id: str
    score: float
    text: str | None | UnsetType = UNSET
    metadata: dict[str, Any] | None | UnsetType = UNSET
    vector: list[float] | UnsetType = UNSET
    scores: HitScores | UnsetType = UNSET


class QueryResult(msgspec.Struct, kw_only=True):
    """The answer to ``query`` or ``vector``: one ranked list of hits."""

    data: list[QueryHit]
    model: str
    usage: Usage
    mode: Mode
    object: str = "list"


class BatchQueryResult(msgspec.Struct, kw_only=True):
    """The answer to ``queries``: one ranked list per query text, in order."""

    data: list[list[QueryHit]]
    model: str
    usage: Usage
    mode: Mode
    object: str = "list"
