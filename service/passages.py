"""Splitting a long text into passages of at most ``size`` of the model's own tokens (issue 12).

Usage::

    spans = split(text, size=256, overlap=32, count=model.count_tokens)
    passages = [text[start:end] for start, end in spans]

A text is cut into *units* (sentences and lines: a unit ends after ``.``, ``!``, ``?``, ``;``,
their CJK forms, or a line break) and units are packed greedily into passages of at most
``size`` tokens; the next passage starts with as many of the previous passage's last units as
fit in ``overlap`` tokens. A unit longer than ``size`` is packed word by word instead; a single
word longer than ``size`` (a URL, a run of CJK text without spaces, a base64 blob) is cut where
its prefix reaches ``size`` tokens, the one case where a passage boundary falls inside a word.

Tokens are counted by ``count`` (texts -> token counts): the local model's tokenizer, or for an
upstream model, whose tokenizer we do not have, the same high estimate the upstream client
uses to split batches (``upstream.estimate_tokens``). A passage's count is the sum of its
units' counts, which for the models we use equals (within a token or two) the count of the
joined text, since their tokenizers split at spaces first.

Spans are character offsets into the original text (``text[start:end]`` is the passage), with
the whitespace around a passage left out.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence

Counter = Callable[[list[str]], list[int]]
Span = tuple[int, int]

# Sentence ends (with their CJK full-width forms, written as escapes) and line breaks.
_UNIT_END = re.compile(
    r"[.!?;\u2026]+[\"'\u201d\u2019)\]]*\s+|[\u3002\uff01\uff1f\uff1b]+\s*|\s*\n\s*"
)
_WORD = re.compile(r"\s*\S+\s*")


def fits(text: str, size: int) -> bool:
    """True when ``text`` is one passage whatever the tokenizer: every token of the models we
    use covers at least one UTF-8 byte (plus one leading marker), so a text of fewer bytes than
    ``size`` has at most ``size`` tokens (short texts, most of them, skip counting altogether)."""
    return len(text) < size and len(text.encode("utf-8", "surrogatepass")) + 1 <= size


def split(text: str, *, size: int, overlap: int, count: Counter) -> list[Span]:
    """The passages of ``text`` as ``(start, end)`` spans, in order; ``[(0, len(text))]`` when
    it is one passage. ``0 <= overlap < size``."""
    return split_many([text], size=size, overlap=overlap, count=count)[0]


def split_many(
    texts: Sequence[str], *, size: int, overlap: int, count: Counter
) -> list[list[Span]]:
    """:func:`split` of each text, counting tokens in a few large batches rather than a few
    small ones per text (a tokenizer call costs more than the tokens of one short text)."""
    if not 0 <= overlap < size:
        raise ValueError(f"overlap must be in 0..{size - 1}, got {overlap}")
    result: list[list[Span]] = [[(0, len(text))] for text in texts]
    unsure = [i for i, text in enumerate(texts) if not fits(text, size)]
    # One count of every unit of every unsure text: their sum is the text's count, so a text
    # that turns out to fit costs one tokenisation, and one that does not is not counted twice.
    units = {i: _pieces(texts[i], _UNIT_END, 0, len(texts[i])) for i in unsure}
    flat = [texts[i][a:b] for i in unsure for a, b in units[i]]
    flat_tokens = iter(count(flat) if flat else [])
    for i in unsure:
        tokens = [next(flat_tokens) for _ in units[i]]
        if sum(tokens) <= size:
            continue
        text = texts[i]
        refined, refined_tokens = _refine(text, units[i], tokens, size, count)
        result[i] = [_trim(text, span) for span in _pack(refined, refined_tokens, size, overlap)]
    return result


def _pieces(text: str, pattern: re.Pattern[str], start: int, end: int) -> list[Span]:
    """``text[start:end]`` cut after each match of ``pattern``: contiguous spans covering it."""
    cuts = [m.end() for m in pattern.finditer(text, start, end) if start < m.end() < end]
    bounds = [start, *cuts, end]
    return [(a, b) for a, b in itertools.pairwise(bounds) if b > a]


def _refine(
    text: str, units: list[Span], tokens: list[int], size: int, count: Counter
) -> tuple[list[Span], list[int]]:
    """Units of more than ``size`` tokens replaced by their words; words of more than ``size``
    tokens cut at the token limit."""
    out: list[Span] = []
    out_tokens: list[int] = []
    for span, n in zip(units, tokens, strict=True):
        if n <= size:
            out.append(span)
            out_tokens.append(n)
            continue
        words = _pieces(text, _WORD, *span)
        for word, w in zip(words, count([text[a:b] for a, b in words]), strict=True):
            if w <= size:
                out.append(word)
                out_tokens.append(w)
            else:
                for piece in _cut_word(text, word, size, count):
                    out.append(piece)
                    out_tokens.append(count([text[piece[0] : piece[1]]])[0])
    return out, out_tokens


def _cut_word(text: str, span: Span, size: int, count: Counter) -> list[Span]:
    """A giant word cut into pieces of at most ``size`` tokens: each piece is the longest
    prefix of what remains that fits (binary search over its length)."""
    pieces: list[Span] = []
    start, end = span
    while start < end:
        if count([text[start:end]])[0] <= size:
            pieces.append((start, end))
            break
        low, high = start + 1, end  # text[start:low] fits (one character is one token at most)
        while high - low > 1:
            middle = (low + high) // 2
            if count([text[start:middle]])[0] <= size:
                low = middle
            else:
                high = middle
        pieces.append((start, low))
        start = low
    return pieces


def _pack(units: list[Span], tokens: list[int], size: int, overlap: int) -> list[Span]:
    """Greedy packing of units (each of at most ``size`` tokens) into passages, each passage
    after the first beginning with the previous one's last units worth ``overlap`` tokens."""
    passages: list[Span] = []
    first = 0
    while first < len(units):
        last, total = first, tokens[first]
        while last + 1 < len(units) and total + tokens[last + 1] <= size:
            last += 1
            total += tokens[last]
        passages.append((units[first][0], units[last][1]))
        if last + 1 == len(units):
            break
        # Start the next passage with the tail of this one that fits in ``overlap`` tokens
        # (and leaves room for the next unit), always moving forward by at least one unit.
        nxt, carried = last + 1, 0
        room = min(overlap, size - tokens[last + 1])
        while nxt - 1 > first and carried + tokens[nxt - 1] <= room:
            nxt -= 1
            carried += tokens[nxt]
        first = nxt
    return passages


def _trim(text: str, span: Span) -> Span:
    start, end = span
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if end > start else span
