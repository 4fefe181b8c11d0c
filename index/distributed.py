"""What one shard of a collection split across machines needs, and how its answers merge.

A sharded collection (issue 17; ``service/cluster/``) is N ordinary collections, each holding
the documents whose id hashes to it. For its answers to equal one node's over the same
documents, each shard searches with the *whole* collection's lexical statistics and returns
its top candidates with the raw parts of their scores; the merge functions here then do what
:class:`index.Collection` does on one node. Nothing here knows how shards are reached.

The front door's side, fanning a query out and merging the answers, is ``sharded.py``.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from .filters import check_where
from .hybrid import HybridSearch
from .leases import leased
from .lexical import CorpusStats, LexicalQuery
from .schemas import Hit
from .textsearch import QueryWords
from .validation import check_ef, check_k, check_query_texts, check_vectors


class ShardCandidates(msgspec.Struct, kw_only=True):
    """One shard's hybrid candidates for one query: the union of its lexical and vector top
    ``n``, each hit with both raw scores, and which side's top ``n`` it was in."""

    hits: list[Hit]
    from_vector: list[bool]
    from_lexical: list[bool]


class ShardSearch(HybridSearch):
    """A mixin of :class:`index.Collection`: the searches a shard answers."""

    @leased
    def query_words(self, texts: Sequence[str], typo_tolerance: bool = True) -> list[QueryWords]:
        texts = check_query_texts(texts)
        return [self._text.query_words(text, typo_tolerance) for text in texts]

    @leased
    def corpus_stats(self, terms: Iterable[str]) -> CorpusStats:
        return self._text.corpus_stats(terms)

    @leased
    def lexical_prepare(
        self, texts: Sequence[str], typo_tolerance: bool = True
    ) -> tuple[list[QueryWords], CorpusStats]:
        """:meth:`query_words` and the statistics of their exact terms in one call: a query
        with no typo to correct needs no other round before the search."""
        texts = check_query_texts(texts)
        words = [self._text.query_words(text, typo_tolerance) for text in texts]
        return words, self._text.corpus_stats(t for w in words for t in w.base.terms)

    @leased
    def search_terms(
        self,
        queries: Sequence[LexicalQuery],
        k: int,
        where: dict[str, Any] | None,
        corpus: CorpusStats,
    ) -> list[list[Hit]]:
        """:meth:`search_text` of analysed queries, scored with ``corpus`` statistics."""
        check_k(k)
        where = check_where(where)
        results = []
        for query in queries:
            scored = self._text.search(query, k, where, corpus)
            labels, scores = scored.labels.tolist(), scored.scores.tolist()
            rows = self._docs.by_labels(labels)
            results.append(
                [
                    msgspec.structs.replace(
                        rows[label], score=score, distance=float("nan"), lexical_score=score
                    )
                    for label, score in zip(labels, scores, strict=True)
                    if label in rows
                ]
            )
        return results

    @leased
    def hybrid_parts(
        self,
        queries: Sequence[LexicalQuery],
        vectors: Any,
        n: int,
        where: dict[str, Any] | None,
        corpus: CorpusStats,
        ef: int | None = None,
    ) -> list[ShardCandidates]:
        """Each query's candidates (:class:`ShardCandidates`) for :func:`merge_hybrid`."""
        array = check_vectors(vectors, self.dim, len(queries))
        check_ef(ef)
        where = check_where(where)
        out = []
        for terms, query in zip(queries, array, strict=True):
            lexical_side = functools.partial(self._text.search, terms, n, where, corpus)
            found = self._candidates_of(lexical_side, query, n, where, ef)
            rows = self._docs.by_labels(found.labels.tolist())
            keep = [i for i, label in enumerate(found.labels.tolist()) if label in rows]
            # Text and metadata stay here: the front door fetches them for the k it keeps
            # (``sharded.py``), rather than receiving both sides' top n of every shard.
            hits = [
                msgspec.structs.replace(
                    rows[int(found.labels[i])],
                    text=None,
                    metadata=None,
                    score=float(found.vector[i]),
                    distance=float(found.distances[i]),
                    lexical_score=float(found.lexical[i]),
                    vector_score=float(found.vector[i]),
                )
                for i in keep
            ]
            out.append(
                ShardCandidates(
                    hits=hits,
                    from_vector=[bool(found.from_vector[i]) for i in keep],
                    from_lexical=[bool(found.from_lexical[i]) for i in keep],
                )
            )
        return out


def shard_of(id_: str, shards: int) -> int:
    """The shard (0 to ``shards - 1``) that holds document ``id_``: a hash that is the same in
    every process and release (Python's ``hash()`` of a str is salted per process), so an
    upsert of an existing id lands where it lives."""
    digest = hashlib.blake2b(id_.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards
