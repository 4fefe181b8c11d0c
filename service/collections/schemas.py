"""Wire types of the search API (``/collections``), decoded and encoded by msgspec.

Requests forbid unknown fields, so a typo (``"metdata"``) is a 400 rather than silently
ignored, and carry their own rules: bounds as ``Meta``, rules across fields in
``__post_init__``; msgspec reports either as a validation error naming the field (``param``).
Optional response fields are ``UNSET`` and left out of the JSON when not asked for.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from index import DEFAULT_ALPHA, MAX_ID_LENGTH, HnswParams, LexicalSettings, PassageSettings
from service.embeddings.schemas import Usage

Metric = Literal["cosine", "ip", "l2"]
Include = Literal["text", "metadata", "vector", "scores", "passages"]
Mode = Literal["vector", "lexical", "hybrid"]
NAME_PATTERN = "^[A-Za-z0-9_-]{1,64}$"
MAX_K = 1000
MAX_QUERIES = 2048


def invalid(message: str, param: str) -> ValueError:
    """An error for ``__post_init__`` that names its field the way msgspec's own errors do
    (`` - at `$.field` ``), so the error handler reports it as the error's ``param``."""
    return ValueError(f"{message} - at `$.{param}`")


class Request(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


Alpha = Annotated[float, Meta(ge=0.0, le=1.0)]
EfSearch = Annotated[int, Meta(ge=1, le=4096)]


#: What a collection created without a ``passages`` field gets (``benchmarks/README.md``,
#: "Passages", says how it was chosen).
DEFAULT_PASSAGES = PassageSettings(size=256, overlap=32)


class CreateCollection(Request):
    """``lexical`` (the BM25 analyzer: ``{"language": "english"}`` by default, ``"none"`` for
    lower-cased words only) is fixed at creation; ``default_mode`` and ``alpha`` (what a text
    query without ``mode``/``alpha`` does) can be changed later with ``PATCH``.

    ``passages`` (fixed at creation): texts longer than ``size`` of the model's tokens are
    split into passages of at most ``size`` tokens, ``overlap`` tokens shared by neighbours,
    each embedded and searched, results staying per document; left out, ``DEFAULT_PASSAGES``;
    ``null``, one vector per document and texts over the model's limit refused."""

    name: str
    model: str | None = None
    dimensions: Annotated[int, Meta(ge=1, le=65536)] | None = None
    metric: Metric = "cosine"
    hnsw: HnswParams | None = None
    metadata: dict[str, Any] | None = None
    lexical: LexicalSettings | None = None
    default_mode: Mode = "hybrid"
    alpha: Alpha = DEFAULT_ALPHA
    passages: PassageSettings | UnsetType | None = UNSET
    #: Split the collection across this many shard actors (a server on Ray only: issue 17).
    shards: Annotated[int, Meta(ge=1, le=256)] | None = None

    def __post_init__(self) -> None:
        passages = self.passages
        if isinstance(passages, PassageSettings) and passages.overlap >= passages.size:
            raise invalid(
                f"passages.overlap must be less than passages.size ({passages.size})",
                "passages.overlap",
            )

    @property
    def passage_settings(self) -> PassageSettings | None:
        return DEFAULT_PASSAGES if isinstance(self.passages, UnsetType) else self.passages


class UpdateCollection(Request):
    """``PATCH /collections/{name}``: what a query does when it does not say."""

    default_mode: Mode | None = None
    alpha: Alpha | None = None
    ef_search: EfSearch | None = None

    def __post_init__(self) -> None:
        if self.default_mode is None and self.alpha is None and self.ef_search is None:
            raise invalid("give at least one of default_mode, alpha or ef_search", "default_mode")


class Collection(msgspec.Struct, kw_only=True):
    name: str
    model: str
    dimensions: int
    metric: Metric
    hnsw: HnswParams
    lexical: LexicalSettings
    default_mode: Mode
    alpha: float
    count: int
    metadata: dict[str, Any]
    created_at: int
    #: ``null``: one vector per document.
    passages: PassageSettings | None = None
    #: Present for a sharded collection (a server on Ray): its number of shards.
    shards: int | UnsetType = UNSET
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

    id: Annotated[str, Meta(min_length=1, max_length=MAX_ID_LENGTH)] | None = None
    text: str | None = None
    vector: list[float] | None = None
    metadata: dict[str, Any] | None = None


class UpsertDocuments(Request):
    documents: Annotated[list[DocumentIn], Meta(min_length=1)]


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
    text query uses the collection's ``default_mode`` (and ``alpha``) and a ``vector`` query is
    a vector search. ``typo_tolerance`` (on by default) lets a query word the collection has
    never seen match its words a typo away, on the lexical side.
    """

    query: str | None = None
    vector: list[float] | None = None
    queries: Annotated[list[str], Meta(min_length=1, max_length=MAX_QUERIES)] | None = None
    k: Annotated[int, Meta(ge=1, le=MAX_K)] = 10
    where: dict[str, Any] | None = None
    include: list[Include] = msgspec.field(default_factory=lambda: ["text", "metadata"])
    ef: EfSearch | None = None
    min_score: float | None = None
    mode: Mode | None = None
    alpha: Alpha | None = None
    typo_tolerance: bool = True

    def __post_init__(self) -> None:
        given = [f for f in ("query", "vector", "queries") if getattr(self, f) is not None]
        if len(given) != 1:
            param = given[1] if given else "query"
            raise invalid("give exactly one of query, vector or queries", param)
        if self.query is not None and not self.query.strip():
            raise invalid("query must not be empty", "query")
        for i, text in enumerate(self.queries or ()):
            if not text.strip():
                raise invalid(f"queries[{i}] must not be empty", f"queries[{i}]")
        if self.vector is not None and self.mode not in (None, "vector"):
            raise invalid(
                f"mode {self.mode!r} needs query text (query or queries), not a vector", "mode"
            )

    @property
    def texts(self) -> list[str]:
        """The query texts: ``[query]``, ``queries``, or none for a ``vector`` query."""
        if self.query is not None:
            return [self.query]
        return self.queries or []


class HitScores(msgspec.Struct, kw_only=True):
    """The raw parts of a hit's score: BM25 and vector similarity (``null`` when that side was
    not searched: ``lexical`` in vector mode, ``vector`` in lexical mode)."""

    lexical: float | None
    vector: float | None


class Passage(msgspec.Struct, kw_only=True):
    """One of a hit's best matching passages: ``text[start:end]`` of the document (character
    offsets), and its score (vector similarity in vector and hybrid mode; in lexical mode, the
    query's terms in the passage, BM25's saturated term frequency summed)."""

    start: int
    end: int
    score: float
    text: str


class QueryHit(msgspec.Struct, kw_only=True):
    """``passages`` (with ``include: ["passages"]``): the hit's best 3 passages, best first;
    a document that was not split is one passage, its whole text."""

    id: str
    score: float
    text: str | UnsetType | None = UNSET
    metadata: dict[str, Any] | UnsetType | None = UNSET
    vector: list[float] | UnsetType = UNSET
    scores: HitScores | UnsetType = UNSET
    passages: list[Passage] | UnsetType = UNSET


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
