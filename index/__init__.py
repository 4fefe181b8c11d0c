"""semsearch's on-disk vector index: named collections of vectors, texts and metadata.

SQLite holds every document durably; an hnswlib graph per collection, snapshotted to disk and
rebuilt from SQLite when needed, answers nearest-neighbour queries. Nothing here knows of HTTP.
"""

from .analysis import languages as lexical_languages
from .collection import Collection
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
from .store import Store
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
    "FilterError",
    "Hit",
    "HnswParams",
    "IndexStoreError",
    "InvalidArgumentError",
    "LexicalSettings",
    "Metadata",
    "Page",
    "PassageHit",
    "PassageSettings",
    "Passages",
    "Record",
    "SearchDefaults",
    "Store",
    "StoreClosedError",
    "StoreLockedError",
    "check_ids",
    "check_metadata",
    "check_vectors",
    "lexical_languages",
]
