"""Text analysis for the lexical (BM25) side: a pipeline of small named steps.

Usage::

    analyzer = Analyzer.for_language("english")
    analyzer.terms("The cats were running")     # ['cat', 'run']
    analyzer.words("The cats were running")     # ['cats', 'running']  (before stemming)

Documents and queries of a collection go through the same analyzer, chosen at creation
(``lexical.language``). ``words`` are what typo tolerance compares a query's words with
(``typos.py``); ``terms`` are what BM25 counts.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from ..errors import InvalidArgumentError
from .languages import DEFAULT_LANGUAGE, NONE, languages, stopwords
from .steps import Stem, drop_stopwords, normalise, tokenise

__all__ = ["DEFAULT_LANGUAGE", "NONE", "Analyzer", "languages"]


class Analyzer:
    """normalise -> tokenise -> drop stopwords -> stem; thread-safe."""

    def __init__(self, language: str) -> None:
        if language not in languages():
            raise InvalidArgumentError(
                f"unknown lexical language {language!r}: use one of {', '.join(languages())}",
                param="lexical.language",
            )
        self.language = language
        self._stopwords = stopwords(language)
        self._stem = None if language == NONE else Stem(language)

    @staticmethod
    @functools.cache
    def for_language(language: str) -> Analyzer:
        """The shared analyzer of a language (analyzers hold no per-collection state)."""
        return Analyzer(language)

    def words(self, text: str | None) -> list[str]:
        """Normalised tokens without stopwords, in order, repeats kept."""
        if not text:
            return []
        tokens = tokenise(normalise(text))
        return drop_stopwords(tokens, self._stopwords) if self._stopwords else tokens

    def stems(self, words: Sequence[str]) -> list[str]:
        return list(words) if self._stem is None else self._stem(words)

    def terms(self, text: str | None) -> list[str]:
        """What BM25 counts: ``stems(words(text))``."""
        return self.stems(self.words(text))

    def terms_text(self, text: str | None) -> str:
        """A document's terms joined by spaces: what its FTS5 row stores."""
        return " ".join(self.terms(text))
