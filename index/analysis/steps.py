"""The steps of a lexical analyzer, each small and testable alone.

normalise (NFKC, lower case) -> tokenise (runs of letters and digits) -> drop stopwords -> stem.
``Analyzer`` in ``__init__.py`` chains them; a collection's ``lexical.language`` picks the
stopword list and the stemmer (``languages.py``).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence

import Stemmer

_TOKEN = re.compile(r"[^\W_]+")


def normalise(text: str) -> str:
    """NFKC (so ``ﬁ`` is ``fi`` and full-width digits are digits), then lower case."""
    return unicodedata.normalize("NFKC", text).lower()


def tokenise(text: str) -> list[str]:
    """Maximal runs of Unicode letters and digits: ``"don't-panic_2x"`` -> don, t, panic, 2x."""
    return _TOKEN.findall(text)


def drop_stopwords(tokens: Iterable[str], stopwords: frozenset[str]) -> list[str]:
    return [token for token in tokens if token not in stopwords]


class Stem:
    """A Snowball stemmer (PyStemmer) usable from any thread.

    PyStemmer's ``Stemmer`` keeps internal state and "must not be called concurrently", so
    each thread gets its own instance.
    """

    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm
        Stemmer.Stemmer(algorithm)  # fail now, not on first use, for an unknown algorithm
        self._local = threading.local()

    def __call__(self, words: Sequence[str]) -> list[str]:
        stemmer = getattr(self._local, "stemmer", None)
        if stemmer is None:
            stemmer = self._local.stemmer = Stemmer.Stemmer(self.algorithm)
        return list(stemmer.stemWords(words))
