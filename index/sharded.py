"""A sharded collection's reads, as the front door runs them: fan out to every shard, merge.

``fan_out(method, *args, **kwargs)`` calls ``method`` of every shard's :class:`Collection`
(``distributed.ShardSearch``) with the same arguments and returns their results in shard order;
how it reaches them (Ray actors, ``service/cluster/``; plain objects, the tests) is its own
business. The merges reproduce one node's answers over the same documents: vector hits by
score; lexical ones scored with the whole collection's BM25 statistics (two rounds: the query's
words and the statistics, then the search); hybrid fused over the union of the collection's
top ``n`` of each side, with real scores on both sides (``fusion.py``).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import msgspec
import numpy as np

from .distributed import ShardCandidates
from .fusion import DEFAULT_CANDIDATES, fuse
from .lexical import CorpusStats, LexicalQuery
from .schemas import Hit, Page, Record
from .textsearch import QueryWords
from .validation import check_alpha, check_k, check_query_texts

FanOut = Callable[..., list[Any]]


class ShardedReader:
    """Reads of one sharded collection through ``fan_out`` (see the module's docstring)."""

    def __init__(self, fan_out: FanOut) -> None:
        self._fan_out = fan_out

    def call_all(self, method: str, *args: Any, **kwargs: Any) -> list[Any]:
        """``method`` of every shard's collection (a write like ``configure``), in order."""
        return self._fan_out(method, *args, **kwargs)

    def count(self) -> int:
        return sum(self._fan_out("count"))

    def scroll(
        self, limit: int = 100, after: str | None = None, where: dict[str, Any] | None = None
    ) -> Page:
        return merge_pages(self._fan_out("scroll", limit=limit, after=after, where=where), limit)

    def delete_where(self, where: dict[str, Any]) -> int:
        return sum(self._fan_out("delete", where=where))

    def query(
        self, vectors: Any, k: int = 10, where: dict[str, Any] | None = None, ef: int | None = None
    ) -> list[list[Hit]]:
        parts: list[list[list[Hit]]] = self._fan_out("query", vectors, k=k, where=where, ef=ef)
        return [merge_ranked([part[i] for part in parts], k) for i in range(len(parts[0]))]

    def lexical_queries(
        self, texts: Sequence[str], typo_tolerance: bool = True
    ) -> tuple[list[LexicalQuery], CorpusStats]:
        """Round one of a lexical or hybrid query: the queries one node would make, and the
        whole collection's statistics of their terms."""
        texts = check_query_texts(texts)
        parts: list[tuple[list[QueryWords], CorpusStats]] = self._fan_out(
            "lexical_prepare", texts, typo_tolerance
        )
        words = [part[0] for part in parts]
        queries = [QueryWords.merged([part[i] for part in words]) for i in range(len(texts))]
        corpus = CorpusStats.merged(part[1] for part in parts)
        corrected = [t for q in queries for t in q.terms if t not in corpus.df]
        if corrected:
            # Corrections of words no shard knows (or exact terms no shard holds, df 0 either
            # way): their statistics take one more round.
            extra = CorpusStats.merged(
                self._fan_out("corpus_stats", list(dict.fromkeys(corrected)))
            )
            corpus = CorpusStats(corpus.n_docs, corpus.total_len, {**corpus.df, **extra.df})
        return queries, corpus

    def search_text(
        self,
        texts: Sequence[str],
        k: int = 10,
        where: dict[str, Any] | None = None,
        *,
        typo_tolerance: bool = True,
    ) -> list[list[Hit]]:
        check_k(k)
        queries, corpus = self.lexical_queries(texts, typo_tolerance)
        parts: list[list[list[Hit]]] = self._fan_out("search_terms", queries, k, where, corpus)
        return [merge_ranked([part[i] for part in parts], k) for i in range(len(queries))]

    def hybrid(
        self,
        texts: Sequence[str],
        vectors: Any,
        k: int = 10,
        where: dict[str, Any] | None = None,
        *,
        alpha: float,
        ef: int | None = None,
        candidates: int = DEFAULT_CANDIDATES,
        typo_tolerance: bool = True,
    ) -> list[list[Hit]]:
        check_k(k)
        check_alpha(alpha)
        n = max(candidates, k)
        queries, corpus = self.lexical_queries(texts, typo_tolerance)
        parts: list[list[ShardCandidates]] = self._fan_out(
            "hybrid_parts", queries, vectors, n, where, corpus, ef
        )
        results = [
            merge_hybrid([part[i] for part in parts], k, alpha, n) for i in range(len(queries))
        ]
        return self._with_documents(results)

    def _with_documents(self, results: list[list[Hit]]) -> list[list[Hit]]:
        """Fill in the text and metadata of the hits kept (each shard answers for its own)."""
        ids = list(dict.fromkeys(hit.id for hits in results for hit in hits))
        if not ids:
            return results
        records = {r.id: r for part in self._fan_out("get", ids) for r in part}
        return [
            [
                msgspec.structs.replace(
                    hit,
                    text=records[hit.id].text if hit.id in records else None,
                    metadata=records[hit.id].metadata if hit.id in records else None,
                )
                for hit in hits
            ]
            for hits in results
        ]


def merge_ranked(parts: Iterable[list[Hit]], k: int) -> list[Hit]:
    """The ``k`` best of several shards' ranked hits (vector or lexical), best first; equal
    scores in id order."""
    return heapq.nsmallest(
        k, (hit for hits in parts for hit in hits), key=lambda hit: (-hit.score, hit.id)
    )


def merge_hybrid(
    parts: Sequence[ShardCandidates], k: int, alpha: float, n: int = DEFAULT_CANDIDATES
) -> list[Hit]:
    """Fuse shards' candidates as :meth:`Collection.hybrid` fuses one node's: the union of
    the whole collection's lexical and vector top ``n`` (the best ``n`` of each side over
    every shard's top ``n``), each side z-scored over that union, ranked by the fused score."""
    hits: dict[str, Hit] = {}
    vector_side: list[Hit] = []
    lexical_side: list[Hit] = []
    for part in parts:
        for hit, from_v, from_l in zip(part.hits, part.from_vector, part.from_lexical, strict=True):
            hits[hit.id] = hit
            if from_v:
                vector_side.append(hit)
            if from_l:
                lexical_side.append(hit)
    top_vector = heapq.nsmallest(n, vector_side, key=lambda h: (-_f(h.vector_score), h.id))
    top_lexical = heapq.nsmallest(n, lexical_side, key=lambda h: (-_f(h.lexical_score), h.id))
    ids = list(dict.fromkeys([h.id for h in top_vector] + [h.id for h in top_lexical]))
    if not ids:
        return []
    vector = np.array([_f(hits[i].vector_score) for i in ids], np.float64)
    lexical = np.array([_f(hits[i].lexical_score) for i in ids], np.float64)
    fused = fuse(vector, lexical, float(alpha))
    order = sorted(range(len(ids)), key=lambda j: (-fused[j], ids[j]))[:k]
    return [msgspec.structs.replace(hits[ids[j]], score=float(fused[j])) for j in order]


def merge_pages(parts: Iterable[Page], limit: int) -> Page:
    """One page in id order from each shard's page of ``limit`` records after the same id."""
    records: list[Record] = []
    more = False
    for page in parts:
        records.extend(page.records)
        more = more or page.next_after is not None
    records.sort(key=lambda record: record.id)
    more = more or len(records) > limit
    records = records[:limit]
    return Page(records=records, next_after=records[-1].id if more and records else None)


def _f(value: float | None) -> float:
    return 0.0 if value is None else float(value)
