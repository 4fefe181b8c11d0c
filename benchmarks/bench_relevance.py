"""Relevance study (issue 11): how each default of the ranking was chosen, on six collections.

    python benchmarks/bench_relevance.py [--datasets scifact,cranfield,...] [--seed 7] [--json F]

In process and exhaustive (every query against every document, no index), so each choice is
measured alone: the local model's input folding, the lexical analyzer and BM25's parameters,
the fusion rule and its alpha, and the weight of a typo correction. Choices that have a knob are
made by **leave-one-dataset-out**: for each collection, the value with the best mean nDCG@10 over
the *other five* is chosen, and the table shows what that choice scores on the held-out one. A
default that wins every fold does not depend on any one collection.

Typo queries: one random single-character edit (insert, delete or substitute) in one word of 4+
letters per query, seeded (``benchmarks/harness/typos.py``, the same as ``bench quality
--typos``). ArguAna's queries are documents of its corpus: a query's own document is left out of
its ranking, as BEIR does. What the service itself scores with the chosen defaults is
``semsearch bench quality`` (``benchmarks/README.md``, "Relevance").
"""

from __future__ import annotations

import argparse
import json
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from bm25s.stopwords import STOPWORDS_EN, STOPWORDS_EN_PLUS

from benchmarks.harness.datasets import SHARED_DATASETS, Dataset, load_beir
from benchmarks.harness.metrics import evaluate
from benchmarks.harness.typos import typo_queries
from index.analysis.steps import Stem, drop_stopwords, normalise, tokenise
from index.typos import Lexicon
from service.embeddings.local import LocalModel, fold_capitals

DATASETS = SHARED_DATASETS
LABELED = ["scifact", "cranfield", "cacm", "npl", "lisa", "arguana"]
DEPTH = 100
ALPHAS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
TYPO_WEIGHTS = [0.5, 0.6, 0.7, 0.85]
Rule = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass
class Data:
    """One collection: its split, the queries in order, and each query's own column (ArguAna)."""

    data: Dataset
    qids: list[str]
    own: np.ndarray

    @property
    def name(self) -> str:
        return self.data.name

    @property
    def texts(self) -> list[str]:
        return [self.data.queries[q] for q in self.qids]


def load(name: str, root: Path = DATASETS) -> Data:
    data = load_beir(root / name, "test")
    qids = list(data.queries)
    column = {doc: i for i, doc in enumerate(data.doc_ids)}
    own = np.array([column.get(q, -1) for q in qids])
    return Data(data, qids, own)


def ndcg(d: Data, scores: np.ndarray) -> float:
    """nDCG@10 of a dense ``[queries, documents]`` score matrix (own document left out)."""
    run = {}
    for i, qid in enumerate(d.qids):
        row = scores[i].astype(np.float64)
        if d.own[i] >= 0:
            row = row.copy()
            row[d.own[i]] = -np.inf
        top = np.argpartition(-row, 10)[:10]
        top = top[np.argsort(-row[top], kind="stable")]
        run[qid] = [d.data.doc_ids[j] for j in top if np.isfinite(row[j])]
    return evaluate(run, d.data.qrels, metrics=("ndcg@10",))["ndcg@10"]


# -- the vector side ------------------------------------------------------------------------

_model: LocalModel | None = None


def embed(texts: Sequence[str], fold: Callable[[str], str]) -> np.ndarray:
    """The local model's vectors of ``fold(text)``, bypassing its own folding."""
    global _model
    model = _model = _model or LocalModel.load()
    out = np.zeros((len(texts), 256), np.float32)
    for i, text in enumerate(texts):
        ids = model.tokenizer.encode(fold(text), add_special_tokens=False).ids
        if ids:
            row = model.embedding[ids].mean(axis=0)
            out[i] = row / max(np.linalg.norm(row), 1e-12)
    return out


FOLDS: dict[str, Callable[[str], str]] = {
    "as written": lambda t: t,
    "capitals folded (default)": fold_capitals,
    "all lower case": str.lower,
}


def vector_scores(d: Data, fold: Callable[[str], str], queries: Sequence[str] | None = None):
    docs = embed(d.data.doc_texts, fold)
    return embed(queries if queries is not None else d.texts, fold) @ docs.T


# -- the lexical side -----------------------------------------------------------------------


class BM25:
    """Dense BM25 over analysed documents: FTS5's idf, ``k1``/``b`` given; a query term weighs
    its count in the query (``repeats``) or 1, times any extra weight (typo corrections)."""

    def __init__(self, docs: list[list[str]], k1: float = 1.2, b: float = 0.75) -> None:
        self.n = len(docs)
        self.postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        lengths = np.array([len(d) for d in docs], np.float64)
        live = lengths > 0
        norm = k1 * (1 - b + b * lengths / lengths[live].mean())
        n_docs = int(live.sum())
        rows: dict[str, tuple[list[int], list[int]]] = {}
        for i, doc in enumerate(docs):
            for term, count in Counter(doc).items():
                cols, tfs = rows.setdefault(term, ([], []))
                cols.append(i)
                tfs.append(count)
        for term, (cols, tfs) in rows.items():
            c, tf = np.array(cols), np.array(tfs, np.float64)
            idf = max(math.log((n_docs - len(c) + 0.5) / (len(c) + 0.5)), 1e-6)
            self.postings[term] = (c, idf * tf * (k1 + 1) / (tf + norm[c]))

    def scores(self, terms: Sequence[str], repeats: bool = True, extra=None) -> np.ndarray:
        out = np.zeros(self.n)
        for term, count in Counter(terms).items():
            posting = self.postings.get(term)
            if posting is not None:
                weight = (count if repeats else 1) * (extra or {}).get(term, 1.0)
                out[posting[0]] += weight * posting[1]
        return out


@dataclass(frozen=True)
class Lexical:
    """An analyzer variant: stopword list and stemming, BM25's k1/b, query-term repeats."""

    stopwords: frozenset[str]
    stem: bool
    k1: float = 1.2
    b: float = 0.75
    repeats: bool = True

    def words(self, text: str) -> list[str]:
        return drop_stopwords(tokenise(normalise(text)), self.stopwords)

    def terms(self, text: str) -> list[str]:
        words = self.words(text)
        return _ENGLISH(words) if self.stem else words


_ENGLISH = Stem("english")
_LUCENE = frozenset(STOPWORDS_EN)
_NLTK = frozenset(w for s in STOPWORDS_EN_PLUS for w in tokenise(normalise(s)))
LEXICAL = {
    "none (the old tokeniser)": Lexical(frozenset(), False, repeats=False),
    "none, query repeats counted": Lexical(frozenset(), False),
    "English stems": Lexical(frozenset(), True),
    "English stems + Lucene's 33 stopwords": Lexical(_LUCENE, True),
    "English stems + NLTK stopwords (default)": Lexical(_NLTK, True),
    "default, repeats not counted": Lexical(_NLTK, True, repeats=False),
    "default with k1 0.9, b 0.4": Lexical(_NLTK, True, k1=0.9, b=0.4),
}
DEFAULT_LEXICAL = LEXICAL["English stems + NLTK stopwords (default)"]


def lexical_scores(d: Data, v: Lexical, queries: Sequence[str] | None = None) -> np.ndarray:
    bm25 = BM25([v.terms(t) for t in d.data.doc_texts], v.k1, v.b)
    texts = queries if queries is not None else d.texts
    return np.stack([bm25.scores(v.terms(t), v.repeats) for t in texts])


def typo_scores(d: Data, queries: Sequence[str], weight: float) -> np.ndarray:
    """The default analyzer with typo tolerance as ``TextSearch.query`` applies it."""
    v = DEFAULT_LEXICAL
    words = [v.words(t) for t in d.data.doc_texts]
    bm25 = BM25([_ENGLISH(w) for w in words], v.k1, v.b)
    lexicon = Lexicon()
    lexicon.add(w for ws in words for w in ws)
    out = []
    for text in queries:
        query_words = v.words(text)
        terms = _ENGLISH(query_words)
        extra: dict[str, float] = {}
        for word in dict.fromkeys(query_words):
            for stem in _ENGLISH([m for m, _ in lexicon.near(word)]):
                if stem not in terms:
                    extra.setdefault(stem, weight)
        out.append(bm25.scores([*terms, *extra], True, extra))
    return np.stack(out)


# -- fusion ---------------------------------------------------------------------------------


def zscore(x: np.ndarray) -> np.ndarray:
    std = x.std()
    return (x - x.mean()) / std if std > 0 else np.zeros_like(x)


def minmax(x: np.ndarray) -> np.ndarray:
    low, high = x.min(), x.max()
    return (x - low) / (high - low) if high > low else np.zeros_like(x)


def rrf(v: np.ndarray, lex: np.ndarray) -> np.ndarray:
    ranks = [np.empty(len(x)) for x in (v, lex)]
    for r, x in zip(ranks, (v, lex), strict=True):
        r[np.argsort(-x, kind="stable")] = np.arange(1, len(x) + 1)
    return 1 / (60 + ranks[0]) + 1 / (60 + ranks[1])


def weighted(alpha: float) -> Rule:
    """``alpha z(vector) + (1 - alpha) z(lexical)``: the service's rule (``index/fusion.py``)."""
    return lambda v, lex: alpha * zscore(v) + (1 - alpha) * zscore(lex)


def confidence(alpha: float) -> Rule:
    """Each side weighted by how far its best candidate stands out (a per-query weight)."""

    def fuse(v: np.ndarray, lex: np.ndarray) -> np.ndarray:
        zv, zl = zscore(v), zscore(lex)
        wv, wl = alpha * zv.max(initial=0), (1 - alpha) * zl.max(initial=0)
        return (wv * zv + wl * zl) if wv + wl > 0 else zv + zl

    return fuse


def hybrid(d: Data, vector: np.ndarray, lexical: np.ndarray, rule: Rule) -> float:
    """nDCG@10 of fusing each query's candidates (both sides' top 100, real scores on both)."""
    fused = np.full(vector.shape, -np.inf)
    for i in range(len(d.qids)):
        v, lex = vector[i].astype(np.float64), lexical[i].copy()
        if d.own[i] >= 0:
            v[d.own[i]] = lex[d.own[i]] = -np.inf
        top_v = np.argpartition(-v, DEPTH)[:DEPTH]
        matched = np.flatnonzero(lex > 0)
        top_l = matched[np.argsort(-lex[matched])[:DEPTH]]
        candidates = np.union1d(top_v, top_l)
        fused[i, candidates] = rule(v[candidates], lex[candidates])
    return ndcg(d, fused)


def leave_one_out(table: dict[str, dict[str, float]], names: list[str]) -> dict[str, str]:
    """For each collection, the option with the best mean over the others."""
    choice = {}
    for held in names:
        others = [n for n in names if n != held]
        choice[held] = max(table, key=lambda option: np.mean([table[option][n] for n in others]))
    return choice


def study(names: list[str], seed: int, root: Path = DATASETS) -> dict:
    out: dict = {"datasets": names, "seed": seed}
    collections = [load(n, root) for n in names]
    print_table = out.setdefault("tables", {})
    fold_table = {
        f: {d.name: ndcg(d, vector_scores(d, fn)) for d in collections} for f, fn in FOLDS.items()
    }
    print_table["vector: the local model's input"] = fold_table
    lexical_table = {
        label: {d.name: ndcg(d, lexical_scores(d, v)) for d in collections}
        for label, v in LEXICAL.items()
    }
    print_table["lexical: analyzer and BM25"] = lexical_table
    vectors = {d.name: vector_scores(d, fold_capitals) for d in collections}
    lexicals = {d.name: lexical_scores(d, DEFAULT_LEXICAL) for d in collections}
    rules: dict[str, Rule] = {f"z-score, alpha {a}": weighted(a) for a in ALPHAS}
    rules["min-max, alpha 0.5"] = lambda v, x: 0.5 * minmax(v) + 0.5 * minmax(x)
    rules["reciprocal-rank fusion (k 60)"] = rrf
    rules["confidence-weighted z-score, alpha 0.4"] = confidence(0.4)
    fusion_table = {
        label: {d.name: hybrid(d, vectors[d.name], lexicals[d.name], rule) for d in collections}
        for label, rule in rules.items()
    }
    fusion_table["vector alone"] = {d.name: ndcg(d, vectors[d.name]) for d in collections}
    fusion_table["lexical alone"] = {d.name: ndcg(d, lexicals[d.name]) for d in collections}
    print_table["hybrid: fusion rule"] = fusion_table
    alpha_rows = {k: v for k, v in fusion_table.items() if k.startswith("z-score")}
    out["alpha_choice"] = leave_one_out(alpha_rows, names)
    # Typos: the chosen fusion (z-score, the fold's alpha) on seeded misspelt queries.
    typo_table: dict[str, dict[str, float]] = {}
    for d in collections:
        alpha = float(out["alpha_choice"][d.name].rsplit(" ", 1)[1])
        typed = typo_queries(d.texts, seed)
        v = vector_scores(d, fold_capitals, typed)
        fuse = weighted(alpha)
        clean = hybrid(d, vectors[d.name], lexicals[d.name], fuse)
        typo_table.setdefault("clean queries", {})[d.name] = clean
        no_fix = lexical_scores(d, DEFAULT_LEXICAL, typed)
        typo_table.setdefault("typos, no tolerance", {})[d.name] = hybrid(d, v, no_fix, fuse)
        for w in TYPO_WEIGHTS:
            scores = typo_scores(d, typed, w)
            typo_table.setdefault(f"typos, corrections weigh {w}", {})[d.name] = hybrid(
                d, v, scores, fuse
            )
    print_table["typos: hybrid with typo tolerance"] = typo_table
    weight_rows = {k: v for k, v in typo_table.items() if "weigh" in k}
    out["typo_weight_choice"] = leave_one_out(weight_rows, names)
    return out


def markdown(table: dict[str, dict[str, float]], names: list[str]) -> str:
    lines = ["| | " + " | ".join(names) + " | mean |", "| --- |" + " ---: |" * (len(names) + 1)]
    for label, row in table.items():
        values = [row[n] for n in names]
        lines.append(
            f"| {label} | " + " | ".join(f"{v:.3f}" for v in values) + f" | {np.mean(values):.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", default=",".join(LABELED))
    parser.add_argument("--seed", type=int, default=7, help="seed of the typo queries")
    parser.add_argument("--data", type=Path, default=DATASETS, help="the datasets' directory")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    names = args.datasets.split(",")
    result = study(names, args.seed, args.data)
    for title, table in result["tables"].items():
        print(f"\n### {title} (nDCG@10)\n\n{markdown(table, names)}")
    for key in ("alpha_choice", "typo_weight_choice"):
        print(
            f"\nleave-one-dataset-out, {key}: "
            + ", ".join(f"{n}: {c}" for n, c in result[key].items())
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
