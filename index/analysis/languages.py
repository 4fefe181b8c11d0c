"""Which stopwords and which stemmer each ``lexical.language`` uses.

Stemmers are Snowball's, from PyStemmer: every algorithm it ships is a language here. Stopword
lists come from the ``bm25s`` package (NLTK's lists, themselves derived from Snowball's) for the
languages it has; the others stem without dropping stopwords. ``"none"`` is the analyzer
collections had before languages existed: lower-cased tokens, nothing dropped, nothing stemmed.

Measured on six labeled collections (``benchmarks/README.md``, "Relevance"), English stemming
plus stopwords raised BM25 nDCG@10 on every one of them against ``"none"``.
"""

from __future__ import annotations

import functools

import Stemmer

NONE = "none"
DEFAULT_LANGUAGE = "english"

# bm25s.stopwords names, by PyStemmer algorithm. English uses the longer (NLTK) list: it beat
# Lucene's 33 words on five of six collections (benchmarks/README.md, "Relevance").
_STOPWORD_LISTS = {
    "danish": "STOPWORDS_DANISH",
    "dutch": "STOPWORDS_DUTCH",
    "dutch_porter": "STOPWORDS_DUTCH",
    "english": "STOPWORDS_EN_PLUS",
    "porter": "STOPWORDS_EN_PLUS",
    "french": "STOPWORDS_FRENCH",
    "german": "STOPWORDS_GERMAN",
    "italian": "STOPWORDS_ITALIAN",
    "norwegian": "STOPWORDS_NORWEGIAN",
    "portuguese": "STOPWORDS_PORTUGUESE",
    "russian": "STOPWORDS_RUSSIAN",
    "spanish": "STOPWORDS_SPANISH",
    "swedish": "STOPWORDS_SWEDISH",
    "turkish": "STOPWORDS_TURKISH",
}


def languages() -> tuple[str, ...]:
    """Every accepted ``lexical.language``: ``"none"`` and PyStemmer's algorithms."""
    return (NONE, *sorted(Stemmer.algorithms()))


@functools.cache
def stopwords(language: str) -> frozenset[str]:
    """The language's stopwords, normalised as tokens are (empty when it has no list)."""
    name = _STOPWORD_LISTS.get(language)
    if name is None:
        return frozenset()
    from bm25s import stopwords as lists  # imported only when an analyzer needs it

    from .steps import normalise, tokenise

    words: list[str] = getattr(lists, name)
    # "don't" is two tokens here ("don", "t"): keep the pieces the list itself spells out.
    return frozenset(token for word in words for token in tokenise(normalise(word)) if token)
