"""The search API: collections of embedded documents over ``index``."""

from service.collections.service import CollectionService

__all__ = ["CollectionService"]
