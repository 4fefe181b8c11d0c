"""semsearch's on-disk vector index: named collections of vectors, texts and metadata.

SQLite holds every document durably; an hnswlib graph per collection, snapshotted to disk and
rebuilt from SQLite when needed, answers nearest-neighbour queries. Nothing here knows of HTTP.
"""

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
from .schemas import CollectionInfo, Compacted, Hit, HnswParams, Metadata, Page, Record
from .store import Store

__all__ = [
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
    "Metadata",
    "Page",
    "Record",
    "Store",
    "StoreClosedError",
    "StoreLockedError",
]
