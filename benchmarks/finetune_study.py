"""How much an adapter may learn from how many queries: the measurement behind ``auto.py``.

Usage::

    python benchmarks/finetune_study.py sweep --out benchmarks/.runs/study.jsonl \
        [--datasets scifact,...] [--seeds 101,102,103,104] [--capacities diagonal,low_rank:16,full]
        [--subsample 16,32,64,128,256] [--casefold] [--shuffle] [--share 0.5]
    python benchmarks/finetune_study.py report [--production] [--casefold] [--share 0.5] FILE...

In process, no server: each collection's corpus and queries are embedded once with the local model
(cached under ``benchmarks/.runs/``); then, with the job's own functions (``holdout``,
``make_map``, ``train_epochs``, ``Validator``), an adapter trains on a seeded half of the judged
queries minus a held-out validation share, for the "auto" budget (``auto.epochs_for``). Every epoch
logs the per-query validation nDCG@10 (the job's metric) and the test nDCG@10 of the scored half
over the whole corpus; a second run trains on all the training queries (no holdout) and logs its
test score per epoch (what a refit would give). Selection rules (early stopping, patience,
acceptance threshold, refit, capacity by number of queries) are then applied after the fact by
``report``, so one sweep compares them all. ``--subsample`` trains on the first n training queries
(seeded order), to see how the best capacity moves with n. ``--casefold`` lowercases all-capital
words first (what issue 11 will do for the local model), to check the rule does not hinge on
today's base scores. ``--shuffle`` gives each query the passages of another (a training set built
to be useless): how often a rule accepts an adapter then is its false-acceptance rate.
The study's seeds are not the benchmark's (``bench_finetune.py`` uses 1-4).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from benchmarks.finetune_data import LABELED, Scorer, Task, load_task  # noqa: E402
from benchmarks.finetune_rules import production, report  # noqa: E402
from service.embeddings.local import LocalModel  # noqa: E402
from service.finetune import auto, blas  # noqa: E402
from service.finetune.maps import Adam, Capacity, make_map  # noqa: E402
from service.finetune.trainer import (  # noqa: E402
    BASE_LEARNING_RATE,
    TrainingData,
    normalise,
    train_epochs,
)
from service.finetune.validation import Validator, holdout  # noqa: E402

CACHE = ROOT / "benchmarks" / ".runs" / "finetune-cache"
_CAPITALS = re.compile(r"\b[A-Z][A-Z]+\b")


def casefold(text: str) -> str:
    return _CAPITALS.sub(lambda m: m.group(0).lower(), text)


def embed_cached(model: LocalModel, name: str, texts: list[str]) -> np.ndarray:
    key = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]
    path = CACHE / f"{name}-{key}.npy"
    if path.exists():
        return np.load(path)
    vectors = np.concatenate(
        [model.embed(texts[i : i + 2048])[0] for i in range(0, len(texts), 2048)]
    )
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def training_data(
    task: Task, docs: np.ndarray, query_vectors: dict[str, np.ndarray], query_ids: list[str]
) -> TrainingData:
    """Pairs of ``query_ids`` as a job builds them (its passage table: the file's passages)."""
    position = {d: i for i, d in enumerate(task.doc_ids)}
    wanted = set(query_ids)
    pairs = [(q, d) for q, d in task.pairs() if q in wanted]
    queries = sorted({q for q, _ in pairs})
    passages = sorted({d for _, d in pairs})
    q_row = {q: i for i, q in enumerate(queries)}
    p_row = {d: i for i, d in enumerate(passages)}
    return TrainingData(
        queries=np.stack([query_vectors[q] for q in queries]),
        passages=docs[[position[d] for d in passages]],
        pair_query=np.array([q_row[q] for q, _ in pairs]),
        pair_positive=np.array([p_row[d] for _, d in pairs]),
    )


def parse_capacity(text: str) -> Capacity:
    """``diagonal``, ``low_rank:16``, ``full``, each optionally ``@weight_decay``."""
    spec, _, decay = text.partition("@")
    kind, _, rank = spec.partition(":")
    return Capacity(kind, int(rank) if rank else None, float(decay or 0))  # type: ignore[arg-type]


def curve(
    data: TrainingData,
    valid: TrainingData | None,
    capacity: Capacity,
    seed: int,
    epochs: int,
    lr: float,
    test: tuple[Scorer, np.ndarray, np.ndarray],
) -> dict[str, Any]:
    """Train ``epochs`` epochs; per epoch, validation nDCG per query (if ``valid``) and test."""
    scorer, test_queries, docs = test
    rng = np.random.default_rng(seed)
    query_map = make_map(capacity, data.queries.shape[1], rng)
    optimiser = Adam(query_map.params, BASE_LEARNING_RATE * lr, capacity.weight_decay)
    validator = Validator(valid) if valid is not None else None
    out: dict[str, Any] = {"val": [], "test": [], "steps": [], "norm": []}
    started = time.perf_counter()
    training = 0.0
    with blas.single_threaded():
        tick = time.perf_counter()
        batches = train_epochs(data, query_map, optimiser, auto.AUTO_BATCH_SIZE, rng)
        for epoch, losses in enumerate(batches, 1):
            weights = query_map.matrix()
            if validator is not None:
                out["val"].append(np.round(validator.score(weights).ndcg, 4).tolist())
            training += time.perf_counter() - tick
            # Every epoch up to 60, then every 10th (long runs on tiny files are thousands of
            # epochs); ``report`` reads an epoch's test score from the last one measured.
            if epoch <= 60 or epoch % 10 == 0 or epoch == epochs:
                mapped = normalise(test_queries @ weights)
                out["test"].append(round(float(scorer(mapped, docs).mean()), 5))
            else:
                out["test"].append(None)
            out["steps"].append(len(losses))
            out["norm"].append(round(float(np.linalg.norm(weights - np.eye(len(weights)))), 3))
            tick = time.perf_counter()
            if epoch >= epochs:
                break
    out["seconds_total"] = round(time.perf_counter() - started, 2)
    out["seconds_training"] = round(training, 2)
    return out


def sweep(args: argparse.Namespace) -> None:
    model = LocalModel.load()
    capacities = [parse_capacity(c) for c in args.capacities.split(",")]
    sizes: list[int | None] = (
        [int(n) for n in args.subsample.split(",")] if args.subsample else [None]
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fold = casefold if args.casefold else (lambda text: text)
    done = set()  # a sweep resumes where it stopped
    if out.exists():
        for line in out.read_text().splitlines():
            r = json.loads(line)
            done.add((r["dataset"], r["seed"], r["subsample"], r["capacity"]))
            if r.get("share", 0.2) != (args.share or 0.2) or r.get("shuffled") != args.shuffle:
                raise SystemExit(f"{out} holds runs of another share or kind: use another file")
    with out.open("a") as log:
        for name in args.datasets.split(","):
            for seed in [int(s) for s in args.seeds.split(",")]:
                task = load_task(name, seed)
                task.docs = [fold(t) for t in task.docs]
                task.queries = {q: fold(t) for q, t in task.queries.items()}
                tag = f"{name}{'-cf' if args.casefold else ''}"
                docs = embed_cached(model, tag, task.docs)
                ids = sorted(task.queries)
                vectors = embed_cached(model, f"{tag}-q", [task.queries[q] for q in ids])
                query_vectors = dict(zip(ids, vectors, strict=True))
                test_queries = np.stack([query_vectors[q] for q in sorted(task.test)])
                scorer = Scorer(task, task.test)
                base_test = float(scorer(test_queries, docs).mean())
                train_ids = sorted(task.train)
                order = [
                    train_ids[i] for i in np.random.default_rng(seed).permutation(len(train_ids))
                ]
                for size in sizes:
                    if size is not None and size >= len(order):
                        continue
                    data = training_data(task, docs, query_vectors, order[:size])
                    if args.shuffle:  # useless pairs: each query gets another's passages
                        mix = np.random.default_rng([seed, 1]).permutation(data.n_queries)
                        data.pair_query = mix[data.pair_query]
                    share = args.share or auto.validation_share(data.n_queries)
                    train, valid = holdout(data, share, seed, minimum=auto.MIN_VALIDATION_QUERIES)
                    base_val = Validator(valid).score(None).ndcg
                    for capacity in capacities:
                        if (name, seed, size, args_capacity(capacity)) in done:
                            continue
                        epochs = auto.epochs_for(len(train), auto.AUTO_BATCH_SIZE)
                        held = curve(
                            train,
                            valid,
                            capacity,
                            seed,
                            epochs,
                            args.lr,
                            (scorer, test_queries, docs),
                        )
                        refit = (
                            curve(
                                data,
                                None,
                                capacity,
                                seed,
                                epochs,
                                args.lr,
                                (scorer, test_queries, docs),
                            )
                            if args.refit
                            else None
                        )
                        row = {
                            "dataset": name,
                            "casefold": args.casefold,
                            "shuffled": args.shuffle,
                            "share": share,
                            "seed": seed,
                            "subsample": size,
                            "n_queries": data.n_queries,
                            "n_train_queries": train.n_queries,
                            "n_valid_queries": valid.n_queries,
                            "n_pairs": len(data),
                            "capacity": args_capacity(capacity),
                            "lr": args.lr,
                            "test_base": round(base_test, 5),
                            "val_base": np.round(base_val, 4).tolist(),
                            "held": held,
                            "refit": refit,
                        }
                        log.write(json.dumps(row) + "\n")
                        log.flush()
                        best = int(np.argmax([np.mean(v) for v in held["val"]]))
                        test = [t for t in held["test"][: best + 1] if t is not None][-1]
                        print(
                            f"{name} seed {seed} n={data.n_queries} {row['capacity']}: "
                            f"base {base_test:.3f} val-best ep {best + 1} test "
                            f"{test:.3f} last {held['test'][-1]:.3f} "
                            f"({held['seconds_training']:.1f}s)",
                            flush=True,
                        )


def args_capacity(capacity: Capacity) -> str:
    rank = f":{capacity.rank}" if capacity.rank else ""
    decay = f"@{capacity.weight_decay:g}" if capacity.weight_decay else ""
    return f"{capacity.kind}{rank}{decay}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("sweep")
    run.add_argument("--out", required=True)
    run.add_argument("--datasets", default=",".join(LABELED))
    run.add_argument("--seeds", default="101,102,103,104")
    run.add_argument("--capacities", default="diagonal,low_rank:4,low_rank:16,low_rank:64,full")
    run.add_argument("--subsample", default="")
    run.add_argument("--casefold", action="store_true")
    run.add_argument("--share", type=float, default=None, help="validation share (auto's)")
    run.add_argument(
        "--shuffle", action="store_true", help="pair each query with another's passages (null)"
    )
    run.add_argument("--lr", type=float, default=1.0)
    run.add_argument("--refit", action=argparse.BooleanOptionalAction, default=True)
    show = commands.add_parser("report")
    show.add_argument("paths", nargs="+")
    show.add_argument("--casefold", action="store_true", help="report the casefolded runs")
    show.add_argument("--share", type=float, default=0.2, help="the runs of this validation share")
    show.add_argument(
        "--production", action="store_true", help="score auto.py's rule on every run instead"
    )
    args = parser.parse_args()
    if args.command == "sweep":
        sweep(args)
    elif args.production:
        production(args)
    else:
        report(args)


if __name__ == "__main__":
    main()
