"""Errors raised by the index package.

Every error derives from :class:`IndexStoreError`, so callers can catch the whole package with
one clause. The subclasses say *what kind* of failure happened; the HTTP service maps each kind
to a status code in one place (``index`` itself knows nothing of HTTP).
"""

from __future__ import annotations


class IndexStoreError(Exception):
    """Base class of every error raised by ``index``.

    ``param`` names the offending argument or item (for example ``"ids[3]"``) when there is one,
    so a caller can point the user at it.
    """

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class InvalidArgumentError(IndexStoreError, ValueError):
    """An argument is malformed: a bad id, vector, metadata value or parameter."""


class FilterError(InvalidArgumentError):
    """A ``where`` filter is malformed."""


class CollectionNotFoundError(IndexStoreError, KeyError):
    """The named collection does not exist."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.message


class CollectionExistsError(IndexStoreError):
    """A collection with that name already exists."""


class StoreLockedError(IndexStoreError):
    """Another process holds the data directory."""


class StoreClosedError(IndexStoreError):
    """The store or collection was used after ``close()`` or ``drop_collection()``."""
