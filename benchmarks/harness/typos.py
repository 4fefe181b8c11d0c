"""Misspelt query sets: ``bench quality --typos SEED`` and ``bench_relevance.py`` use the same.

One random single-character edit (insert, delete or substitute a letter) in one random word of
four or more letters per query, from ``random.Random(seed)``: the same seed gives the same
typos. A word in capitals gets a capital. Queries with no such word are left as they are.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

_WORD = re.compile(r"[A-Za-z]{4,}")
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def typo_queries(texts: Sequence[str], seed: int) -> list[str]:
    rng = random.Random(seed)
    return [_misspell(text, rng) for text in texts]


def _misspell(text: str, rng: random.Random) -> str:
    words = [m.span() for m in _WORD.finditer(text)]
    if not words:
        return text
    start, end = rng.choice(words)
    word = text[start:end]
    kind = rng.choice(["insert", "delete", "substitute"])
    at = rng.randrange(len(word))
    letter = _letter(rng, word.isupper())
    if kind == "insert":
        word = word[:at] + letter + word[at:]
    elif kind == "delete":
        word = word[:at] + word[at + 1 :]
    else:
        while letter.lower() == word[at].lower():
            letter = _letter(rng, word.isupper())
        word = word[:at] + letter + word[at + 1 :]
    return text[:start] + word + text[end:]


def _letter(rng: random.Random, upper: bool) -> str:
    letter = rng.choice(_LETTERS)
    return letter.upper() if upper else letter
