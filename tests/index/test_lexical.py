"""Lexical search (``index/lexical.py``, ``index/textsearch.py``): BM25 by hand, both paths
(FTS5 before the accelerator is ready, the accelerator after), safety, filters, consistency,
for the ``none`` analyzer and for English (stems and stopwords; ``tests/index/test_analysis.py``
checks the analyzers themselves)."""

from __future__ import annotations

import math
import sqlite3
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from index import Collection, HnswParams, LexicalSettings, Store, lexical
from index.analysis import Analyzer
from index.documents import LEXICAL_TABLE
from index.lexical import LexicalIndex, LexicalQuery, match_expression

CORPUS = {
    "cat": "The cat sat on the mat.",
    "dog": "A dog sat by the door",
    "cats": "Cats and dogs, cats and DOGS!",
    "bird": "a bird in the sky",
    "fish": "fish swim in the sea; the sea is deep",
    "sun": "sun, moon and stars",
    "empty": "!!! ... ???",
    "none": None,
}
HOSTILE = [
    '"unbalanced',
    'cat" OR "dog',
    "NEAR(cat dog, 2)",
    "cat* OR -dog AND NOT bird",
    "(((",
    "^cat + {sea} : col:cat",
    "\u202e\U0001f600 ünïcödé ﬁsh",
    "AND OR NOT",
    "x" * 10_000,
    " ".join(f"w{i}" for i in range(2_000)),
]


NONE = Analyzer.for_language("none")


def reference_bm25(
    texts: dict[str, str], query: str, analyzer: Analyzer = NONE, repeats: bool = True
) -> dict[str, float]:
    """Plain BM25 written out from the formula in ``lexical.py``, independent of the code: a
    query term counts as often as the query repeats it (once each when ``repeats`` is off)."""
    terms = analyzer.terms
    docs = {id_: Counter(terms(t)) for id_, t in texts.items() if terms(t or "")}
    n = len(docs)
    avgdl = sum(sum(c.values()) for c in docs.values()) / n
    scores: dict[str, float] = {}
    wanted = Counter(terms(query))
    for term, times in wanted.items():
        df = sum(term in c for c in docs.values())
        if not df:
            continue
        idf = max(math.log((n - df + 0.5) / (df + 0.5)), 1e-6)
        for id_, counts in docs.items():
            tf = counts[term]
            if tf:
                dl = sum(counts.values())
                norm = 1.2 * (1 - 0.75 + 0.75 * dl / avgdl)
                weight = times if repeats else 1
                scores[id_] = scores.get(id_, 0.0) + weight * idf * tf * 2.2 / (tf + norm)
    return scores


def fill(col: Collection, corpus: dict[str, str | None]) -> None:
    ids = list(corpus)
    vectors = np.random.default_rng(0).normal(size=(len(ids), 4)).astype(np.float32)
    col.upsert(ids, vectors, list(corpus.values()), [{"i": i} for i in range(len(ids))])


@pytest.fixture(params=["fts5", "accelerator"])
def path(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(params=["none", "english"])
def analyzer(request: pytest.FixtureRequest) -> Analyzer:
    return Analyzer.for_language(request.param)


def create(store: Store, analyzer: Analyzer, name: str = "lex") -> Collection:
    return store.create_collection(name, dim=4, lexical=LexicalSettings(language=analyzer.language))


def use(col: Collection, path: str) -> Collection:
    assert col.lexical_ready(timeout=10)
    if path == "fts5":
        col._text._ready.clear()  # answer from FTS5's bm25(), as before the accelerator is built
    return col


@pytest.fixture
def col(store: Store, path: str, analyzer: Analyzer) -> Collection:
    col = create(store, analyzer)
    fill(col, CORPUS)
    return use(col, path)


@pytest.fixture(params=["postings", "dense"])
def accumulation(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways of summing a query's scores (``lexical.DENSE_FROM``): over its postings alone,
    or into an array over every slot."""
    monkeypatch.setattr(lexical, "DENSE_FROM", 0 if request.param == "postings" else 10**9)
    return str(request.param)


def ranked(col: Collection, query: str, **kwargs: object) -> list[tuple[str, float]]:
    [hits] = col.search_text([query], k=20, **kwargs)  # type: ignore[arg-type]
    return [(h.id, h.score) for h in hits]


def test_fts5_terms() -> None:
    assert NONE.terms_text(None) == "" and NONE.terms_text("?!") == ""
    assert match_expression(["a", "near", "a"]) == '"a" OR "near" OR "a"'
    assert LexicalQuery.counting(["b", "a", "b"]) == LexicalQuery(("b", "a"), (2.0, 1.0))


@pytest.mark.parametrize(
    "query",
    ["cat", "the cat sat", "cats dogs sea", "SEA sea deep", "sun moon stars and", "dog DOGS dogs"],
)
@pytest.mark.usefixtures("accumulation")
def test_scores_equal_a_hand_computed_bm25(col: Collection, analyzer: Analyzer, query: str) -> None:
    expected = reference_bm25(CORPUS, query, analyzer)  # type: ignore[arg-type]
    got = ranked(col, query, typo_tolerance=False)
    assert dict(got) == pytest.approx(expected, rel=1e-9)
    assert [s for _, s in got] == sorted((s for _, s in got), reverse=True)


def test_english_stems_and_drops_stopwords(store: Store, path: str) -> None:
    col = create(store, Analyzer.for_language("english"))
    fill(col, CORPUS)
    use(col, path)
    assert {i for i, _ in ranked(col, "dogs")} == {"dog", "cats"}  # dog ~ dogs ~ DOGS
    assert {i for i, _ in ranked(col, "catting")} == {"cat", "cats"}
    assert ranked(col, "the and is") == []  # stopwords only: nothing to match


@pytest.mark.parametrize("analyzer", [NONE], indirect=False)
def test_one_score_by_hand(col: Collection) -> None:
    # "deep": only in "fish" (tf 1, 9 tokens); N = 6 documents with tokens, 36 tokens in all:
    # ln(5.5 / 1.5) * 2.2 / (1 + 1.2 * (0.25 + 0.75 * 9 / 6)) = 1.29928 * 2.2 / 2.65
    assert ranked(col, "deep") == [("fish", pytest.approx(1.0786500245609716, rel=1e-12))]
    assert math.log(5.5 / 1.5) * 2.2 / 2.65 == pytest.approx(1.0786500245609716, rel=1e-12)


@pytest.mark.parametrize("query", HOSTILE)
def test_any_text_is_safe(col: Collection, analyzer: Analyzer, query: str) -> None:
    expected = reference_bm25(CORPUS, query, analyzer)  # type: ignore[arg-type]
    got = ranked(col, query, typo_tolerance=False)
    assert dict(got) == pytest.approx(expected)  # words, never FTS5 syntax
    if "cat" in query:
        assert "cat" in expected
    ranked(col, query)  # and with typo tolerance


def test_filters(col: Collection, analyzer: Analyzer) -> None:
    expected = reference_bm25(CORPUS, "the sat", analyzer)  # type: ignore[arg-type]
    del expected["cat"]
    assert dict(ranked(col, "the sat", where={"i": {"$gte": 1}})) == pytest.approx(expected)
    got = dict(ranked(col, "the cats sea", where={"i": {"$in": [0, 2]}}))
    expected = reference_bm25(CORPUS, "the cats sea", analyzer)  # type: ignore[arg-type]
    assert got == pytest.approx({k: expected[k] for k in ("cat", "cats")})
    assert ranked(col, "cat", where={"i": {"$gt": 100}}) == []


def test_upsert_replaces_and_delete_forgets(store: Store, path: str, analyzer: Analyzer) -> None:
    col = use(create(store, analyzer), path)
    corpus = dict(CORPUS)
    fill(col, corpus)
    col.upsert(["cat"], np.ones((1, 4)), ["a mouse under the table"])
    col.delete(ids=["sun"])
    corpus["cat"] = "a mouse under the table"
    del corpus["sun"]
    for query in ("cat mat", "mouse table", "moon", "the"):
        expected = reference_bm25(corpus, query, analyzer)  # type: ignore[arg-type]
        assert dict(ranked(col, query)) == pytest.approx(expected)


def consistent(col: Collection, corpus: dict[str, str | None], repeats: bool = True) -> None:
    """The FTS5 table holds exactly the live documents' terms; both paths score alike."""
    analyzer = col._text.analyzer
    with sqlite3.connect(col._docs.path) as conn:
        stored = dict(conn.execute(f"SELECT rowid, terms FROM {LEXICAL_TABLE}"))
        labels = dict(conn.execute("SELECT id, label FROM documents"))
    terms_text = analyzer.terms_text
    expected = {labels[i]: terms_text(t) for i, t in corpus.items() if terms_text(t)}
    assert stored == expected
    assert col.lexical_ready(timeout=10)
    for query in ("cat dogs", "the sea", "mouse", "sea SEA sea"):
        fast = ranked(col, query, typo_tolerance=False)
        col._text._ready.clear()
        slow = ranked(col, query)
        col._text._ready.set()
        assert [i for i, _ in fast] == [i for i, _ in slow]
        expected_scores = reference_bm25(corpus, query, analyzer, repeats)  # type: ignore[arg-type]
        assert dict(fast) == pytest.approx(expected_scores)


def test_consistent_after_restart_and_on_a_file_from_before_the_lexical_index(
    tmp_path: Path, analyzer: Analyzer
) -> None:
    corpus = dict(CORPUS)
    with Store(tmp_path) as store:
        col = create(store, analyzer)
        fill(col, corpus)
        col.delete(ids=["dog"])
        del corpus["dog"]
        consistent(col, corpus)
    with Store(tmp_path) as store:
        consistent(store.get_collection("lex"), corpus)
    with sqlite3.connect(tmp_path / "collections/lex/documents.sqlite3") as conn:
        conn.execute(f"DROP TABLE {LEXICAL_TABLE}")  # as a collection written before issue 7
    with Store(tmp_path) as store:
        consistent(store.get_collection("lex"), corpus)


def test_writes_go_on_while_the_accelerator_builds(tmp_path: Path) -> None:
    """Issue 10: for seconds after a start, writes waited behind the background build (which
    held the write lock). Now they go on, and the accelerator misses none of them: new
    documents, replacements and deletions made during the build are all in it when ready."""
    rng = np.random.default_rng(3)
    words = [f"w{i}" for i in range(5_000)]
    n = 10_000  # a build of some tenths of a second here; each write takes milliseconds
    with Store(tmp_path) as store:
        col = store.create_collection("big", dim=2, hnsw=HnswParams(m=4, ef_construction=8))
        for start in range(0, n, 5_000):
            texts = [" ".join(rng.choice(words, size=60)) for _ in range(5_000)]
            col.upsert(
                [f"d{i}" for i in range(start, start + 5_000)], rng.normal(size=(5_000, 2)), texts
            )
    corpus: dict[str, str] = {}
    with Store(tmp_path) as store:
        col = store.get_collection("big")  # the build starts now
        done_before_ready = 0
        for i in range(200):
            if col.lexical_ready(timeout=0):
                break
            text = f"fresh{i} shared"
            col.upsert([f"new{i}", f"d{i}"], rng.normal(size=(2, 2)), [text, f"replaced{i} shared"])
            col.delete(ids=[f"d{n - 1 - i}"])
            corpus.update({f"new{i}": text, f"d{i}": f"replaced{i} shared"})
            done_before_ready += not col.lexical_ready(timeout=0)
        assert done_before_ready >= 3, f"writes waited for the lexical build ({done_before_ready})"
        assert col.lexical_ready(timeout=30)
        writes = done_before_ready
        hits = {h.id for h in col.search_text(["shared"], k=1_000)[0]}
        assert hits == set(corpus)  # every new and replaced document, found by the accelerator
        for i in range(writes):
            assert [h.id for h in col.search_text([f"fresh{i}"], k=5)[0]] == [f"new{i}"]
            assert [h.id for h in col.search_text([f"replaced{i}"], k=5)[0]] == [f"d{i}"]
        deleted = {f"d{n - 1 - i}" for i in range(writes)}
        assert col.get(sorted(deleted)) == []
        for query in ("shared w1 w2", "w17 w4000", "fresh0 replaced1"):
            fast = [(h.id, h.score) for h in col.search_text([query], k=50)[0]]
            col._text._ready.clear()  # the same query through FTS5, which cannot miss a write
            slow = [(h.id, h.score) for h in col.search_text([query], k=50)[0]]
            col._text._ready.set()
            assert [i for i, _ in fast] == [i for i, _ in slow]
            assert dict(fast) == pytest.approx(dict(slow))


@pytest.mark.usefixtures("accumulation")
def test_accelerator_compacts_dead_slots(rng: np.random.Generator) -> None:
    words = [f"w{i}" for i in range(50)]
    make: Callable[[], str] = lambda: " ".join(rng.choice(words, size=8))  # noqa: E731
    index, texts = LexicalIndex(), dict[int, str]()
    for round_ in range(6):
        labels = list(range(round_ * 1000, round_ * 1000 + 1000))
        batch = {label: make() for label in labels}
        index.remove([label - 1000 for label in labels])  # the previous round goes
        for label in labels:
            texts.pop(label - 1000, None)
        index.add(labels, list(batch.values()))
        texts.update(batch)
    assert index.size == 1000 and len(index._slot_terms) < 3000  # compacted at least once
    query = ["w1", "w7", "w7", "w30"]
    found, scores = index.scores(LexicalQuery.counting(query)).matching()
    expected = reference_bm25({str(k): v for k, v in texts.items()}, " ".join(query))
    assert dict(zip(map(str, found.tolist()), scores.tolist(), strict=True)) == pytest.approx(
        expected
    )


def test_replacing_documents_grows_the_accelerator_by_a_bounded_share(
    rng: np.random.Generator,
) -> None:
    """Replaced documents' postings are dropped once they pass a quarter of the live ones, so
    a steady stream of replacements does not double the index's memory (issue 10)."""
    words = [f"w{i}" for i in range(200)]
    index, live = LexicalIndex(), 8_000
    index.add(range(live), [" ".join(rng.choice(words, size=10)) for _ in range(live)])
    next_label, most = live, 0
    for _ in range(40):  # replace 40 x 500 documents: 2.5 times the collection
        gone = rng.choice(sorted(index._label_slot), size=500, replace=False).tolist()
        index.remove(gone)
        fresh = range(next_label, next_label + 500)
        index.add(fresh, [" ".join(rng.choice(words, size=10)) for _ in fresh])
        next_label += 500
        most = max(most, len(index._slot_terms))
    assert index.size == live
    assert most <= live + live // 4 + 500  # a quarter dead, plus one batch
