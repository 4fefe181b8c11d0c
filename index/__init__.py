"""semsearch's on-disk vector index: named collections of vectors, texts and metadata.

SQLite holds every document durably; an hnswlib graph per collection, snapshotted to disk and
rebuilt from SQLite when needed, answers nearest-neighbour queries. Nothing here knows of HTTP.
"""

from .analysis import languages as lexical_languages
from .collection import Collection
from .distributed import ShardCandidates, shard_of
from .errors import (
    CollectionExistsError,
    CollectionNotFoundError,
    FilterError,
    IndexStoreError,
    InvalidArgumentError,
    StoreClosedError,
    StoreLockedError,
)
from .fusion import DEFAULT_ALPHA
from .lexical import CorpusStats, LexicalQuery
from .schemas import (
    MAX_PASSAGES,
    CollectionInfo,
    Compacted,
    Hit,
    HnswParams,
    LexicalSettings,
    Metadata,
    Page,
    PassageHit,
    Passages,
    PassageSettings,
    Record,
    SearchDefaults,
)
from .sharded import FanOut, ShardedReader, merge_hybrid, merge_pages, merge_ranked
from .store import Store
from .textsearch import QueryWords
from .validation import MAX_ID_LENGTH, check_ids, check_metadata, check_vectors

__all__ = [
    "DEFAULT_ALPHA",
    "MAX_ID_LENGTH",
    "MAX_PASSAGES",
    "Collection",
    "CollectionExistsError",
    "CollectionInfo",
    "CollectionNotFoundError",
    "Compacted",
    "CorpusStats",
    "FanOut",
    "FilterError",
    "Hit",
    "HnswParams",
    "IndexStoreError",
    "InvalidArgumentError",
    "LexicalQuery",
    "LexicalSettings",
    "Metadata",
    "Page",
    "PassageHit",
    "PassageSettings",
    "Passages",
    "QueryWords",
    "Record",
    "SearchDefaults",
    "ShardCandidates",
    "ShardedReader",
    "Store",
    "StoreClosedError",
    "StoreLockedError",
    "check_ids",
    "check_metadata",
    "check_vectors",
    "lexical_languages",
    "merge_hybrid",
    "merge_pages",
    "merge_ranked",
    "shard_of",
]
