"""Value types of the index's public API."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
import numpy as np

from .fusion import DEFAULT_ALPHA, LEGACY_ALPHA

Metric = Literal["cosine", "ip", "l2"]
METRICS: tuple[str, ...] = ("cosine", "ip", "l2")
Mode = Literal["vector", "lexical", "hybrid"]
MODES: tuple[str, ...] = ("vector", "lexical", "hybrid")

MetadataValue = str | int | float | bool | list[str | int | float | bool]
Metadata = dict[str, MetadataValue]


class HnswParams(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """HNSW graph parameters of a collection.

    ``m`` and ``ef_construction`` are fixed when the collection is created; ``ef_search`` is the
    default search breadth, overridable per query. The defaults reach recall@10 >= 0.98 on
    256-dimensional text embeddings (see ``benchmarks/README.md``).
    """

    m: Annotated[int, msgspec.Meta(ge=2, le=128)] = 16
    ef_construction: Annotated[int, msgspec.Meta(ge=1, le=4096)] = 200
    ef_search: Annotated[int, msgspec.Meta(ge=1, le=4096)] = 160


class LexicalSettings(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """How a collection's texts are analysed for BM25 (``analysis/``), fixed at creation.

    ``language`` is a Snowball stemmer's name (``"english"``, ``"german"``, ...) or ``"none"``
    (lower-cased words, no stemming, no stopwords).
    """

    language: str = "english"


class SearchDefaults(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """What a text query does when it names no ``mode`` / ``alpha``; changeable later.

    Defaults chosen by leave-one-dataset-out over six labeled collections
    (``benchmarks/README.md``, "Relevance"): hybrid at alpha 0.3 ranked at or above both of its
    parts on every one of them.
    """

    mode: Mode = "hybrid"
    alpha: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = DEFAULT_ALPHA


#: A document may be split into at most this many passages (one vector and one graph label
#: each); more is refused before anything is written. At the local model's default size that is
#: about 300,000 tokens (a book), beyond the service's request body limit for one document.
MAX_PASSAGES = 1024
PASSAGE_SIZES = (16, 8192)


class PassageSettings(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """How a collection splits long texts into passages (issue 12), fixed at creation.

    ``size`` and ``overlap`` are counted in the collection's model's own tokens; a text of at
    most ``size`` tokens is one passage, the document itself. ``overlap < size`` (checked by
    :meth:`index.Store.create_collection`).
    """

    size: Annotated[int, msgspec.Meta(ge=PASSAGE_SIZES[0], le=PASSAGE_SIZES[1])] = 256
    overlap: Annotated[int, msgspec.Meta(ge=0, le=PASSAGE_SIZES[1] - 1)] = 32


class Passages(msgspec.Struct, kw_only=True, frozen=True):
    """A document's passages as given to :meth:`Collection.upsert`: ``spans[i]`` is
    ``(start, end)``, character offsets into its text, and ``vectors[i]`` its embedding."""

    spans: list[tuple[int, int]]
    vectors: np.ndarray  # float32 [len(spans), dim]


class PassageHit(msgspec.Struct, kw_only=True):
    """One passage of a hit: ``text[start:end]`` of the document, and how well it matched
    (the vector score in vector and hybrid search, a term-match score in lexical search)."""

    start: int
    end: int
    score: float
    text: str


#: Collections created before analyzers and per-collection defaults existed keep what they had:
#: today's tokeniser without query-term weighting or typo tolerance, vector search by default,
#: and hybrid's alpha 0.4.
LEGACY_LEXICAL = LexicalSettings(language="none")
LEGACY_SEARCH = SearchDefaults(mode="vector", alpha=LEGACY_ALPHA)


class CollectionInfo(msgspec.Struct, kw_only=True, frozen=True):
    """What a collection was created with; ``metadata`` is the caller's own, stored verbatim.

    ``lexical`` and ``search`` are ``None`` in collections created before they existed (see
    ``LEGACY_LEXICAL`` and ``LEGACY_SEARCH``); ``legacy`` tells such collections apart.
    """

    name: str
    dim: int
    metric: Metric
    hnsw: HnswParams
    metadata: dict[str, Any]
    created_at: int  # unix seconds
    lexical: LexicalSettings | None = None
    search: SearchDefaults | None = None
    #: ``None``: one vector per document (collections created before passages, and those
    #: created with ``passages: null``).
    passages: PassageSettings | None = None

    @property
    def legacy(self) -> bool:
        return self.lexical is None

    @property
    def lexical_settings(self) -> LexicalSettings:
        return self.lexical or LEGACY_LEXICAL

    @property
    def search_defaults(self) -> SearchDefaults:
        return self.search or LEGACY_SEARCH


class Record(msgspec.Struct, kw_only=True):
    """A stored document."""

    id: str
    text: str | None
    metadata: Metadata | None
    vector: np.ndarray | None  # float32 [dim], as upserted


class Hit(msgspec.Struct, kw_only=True):
    """One search result. ``score`` is higher-is-better; ``distance`` is hnswlib's raw distance
    (NaN in a lexical search, which compares no vectors).

    Lexical and hybrid searches also give each side's raw score: ``lexical_score`` (BM25) and,
    in hybrid, ``vector_score`` (the similarity a vector search would report); ``score`` is
    then the fused score (``fusion.py``).
    """

    id: str
    score: float
    distance: float
    text: str | None
    metadata: Metadata | None
    lexical_score: float | None = None
    vector_score: float | None = None


class Page(msgspec.Struct, kw_only=True):
    """One page of :meth:`Collection.scroll`, ordered by id.

    Pass ``next_after`` as ``after`` to get the next page; it is ``None`` on the last page.
    """

    records: list[Record]
    next_after: str | None

    @property
    def has_more(self) -> bool:
        return self.next_after is not None


class Compacted(msgspec.Struct, kw_only=True, frozen=True):
    """What :meth:`Collection.compact` gave back: the collection's bytes on disk before and
    after (database, its write-ahead log, graph snapshot)."""

    bytes_before: int
    bytes_after: int
