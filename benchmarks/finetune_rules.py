"""Selection rules applied after the fact to ``finetune_study.py`` sweeps, and the choice of one.

A *rule* is what a job does with its per-epoch validation scores:

- ``patience``: stop after that many epochs without a new best validation nDCG@10 (None: never);
- ``plateau``: 0 keeps the best epoch; z > 0 keeps the *latest* epoch (up to the stop) whose
  validation nDCG@10 is within z paired standard errors of the best (the validation pool holds
  only the file's passages, so it cannot see what longer training gains against a corpus's
  never-relevant documents; among epochs it cannot tell apart, the longer one is preferred);
- ``z``: accept that epoch only if its mean per-query validation gain over the base model is
  positive and more than z standard errors; otherwise the job returns the base model;
- ``refit``: retrain on all the training queries (validation ones included) for that many epochs.

A *schedule* maps the number of training queries to a capacity. ``report`` scores every rule and
schedule on every run, then picks one by leave-one-collection-out: for each collection, the
setting with the highest mean gain on the other five collections (no run there losing more than
``TOLERANCE``, no shuffled-pair run there accepted), scored on the one left out. ``production``
scores the rule ``service.finetune.auto`` ships on every run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

TOLERANCE = 0.005
# A rule may not accept an adapter trained on shuffled (useless) pairs: a false acceptance
# costs up to 0.4 nDCG@10 (measured), far more than any gain.
FALSE_ACCEPTANCE = 0.0
PATIENCE = (5, 10, 20, None)
PLATEAU = (0.0, 0.5, 1.0, 2.0)
Z = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0)
REFIT = (False, True)
THRESHOLDS = (16, 32, 64, 128, 256, 512, 10**9)


@dataclass(frozen=True)
class Rule:
    patience: int | None
    plateau: float
    z: float
    refit: bool


RULES = [Rule(*r) for r in itertools.product(PATIENCE, PLATEAU, Z, REFIT)]


def _se(values: np.ndarray) -> float:
    return float(values.std(ddof=1)) / math.sqrt(len(values)) if len(values) > 1 else math.inf


def outcome(row: dict[str, Any], rule: Rule) -> tuple[float, int]:
    """(test gain of what the job returns, epoch it returns; 0 = the base model)."""
    val = [np.asarray(v) for v in row["held"]["val"]]
    base = np.asarray(row["val_base"])
    means = [float(v.mean()) for v in val]
    best_mean, best, since, stop = float(base.mean()), -1, 0, len(val) - 1
    for e, m in enumerate(means):
        if m > best_mean:
            best_mean, best, since = m, e, 0
        else:
            since += 1
        if rule.patience is not None and since >= rule.patience:
            stop = e
            break
    if best < 0:
        return 0.0, 0
    chosen = best
    if rule.plateau > 0:
        for e in range(stop, best, -1):
            if means[e] >= best_mean - rule.plateau * _se(val[best] - val[e]):
                chosen = e
                break
    gains = val[chosen] - base
    if not (gains.mean() > 0 and gains.mean() > rule.z * _se(gains)):
        return 0.0, 0
    curve = row["refit"]["test"] if rule.refit else row["held"]["test"]
    measured = next(curve[e] for e in range(chosen, -1, -1) if curve[e] is not None)
    return measured - row["test_base"], chosen + 1


def schedules(capacities: list[str]) -> list[tuple[tuple[int, ...], tuple[str, ...]]]:
    """Three bands of training-query counts (cut at t1 < t2), one capacity each, smaller or
    equal capacity in smaller bands (never more parameters for fewer queries)."""
    order = {c: i for i, c in enumerate(capacities)}
    out: list[tuple[tuple[int, ...], tuple[str, ...]]] = []
    for t1, t2 in itertools.combinations(THRESHOLDS, 2):
        for bands in itertools.product(capacities, repeat=3):
            if order[bands[0]] <= order[bands[1]] <= order[bands[2]]:
                out.append(((t1, t2), bands))
    for capacity in capacities:
        out.append(((10**9, 10**9), (capacity,) * 3))
    return out


def pick(cuts: tuple[int, ...], bands: tuple[str, ...], n: int) -> str:
    return bands[0] if n < cuts[0] else bands[1] if n < cuts[1] else bands[2]


def report(args: argparse.Namespace) -> None:
    rows = [
        json.loads(line)
        for path in args.paths
        for line in Path(path).read_text().splitlines()
        if line.strip()
    ]
    rows = [r for r in rows if bool(r.get("casefold")) == bool(args.casefold)]
    rows = [r for r in rows if r.get("share", 0.2) == args.share]
    null_rows = [r for r in rows if r.get("shuffled")]
    rows = [r for r in rows if not r.get("shuffled")]
    capacities = sorted({r["capacity"] for r in rows}, key=_capacity_order)
    runs: dict[tuple[str, int, Any], dict[str, dict[str, Any]]] = defaultdict(dict)
    for r in rows:
        runs[(r["dataset"], r["seed"], r["subsample"])][r["capacity"]] = r
    keys = sorted((k for k, v in runs.items() if len(v) == len(capacities)), key=str)
    gains = np.zeros((len(keys), len(capacities), len(RULES)))  # [run, capacity, rule]
    for i, key in enumerate(keys):
        for j, capacity in enumerate(capacities):
            for k, rule in enumerate(RULES):
                gains[i, j, k] = outcome(runs[key][capacity], rule)[0]
    n_train = np.array([runs[k][capacities[0]]["n_train_queries"] for k in keys])
    datasets = sorted({k[0] for k in keys})
    plans = schedules(capacities)
    chosen = np.array(  # [plan, run] = capacity index
        [[capacities.index(pick(c, b, n)) for n in n_train] for c, b in plans], dtype=int
    )
    table = gains[np.arange(len(keys))[None, :], chosen, :].transpose(0, 2, 1)  # [plan, rule, run]
    groups = sorted({(k[0], k[2]) for k in keys}, key=str)
    group_of = np.array([groups.index((k[0], k[2])) for k in keys])
    dataset_of = np.array([datasets.index(k[0]) for k in keys])
    null = _null_acceptance(null_rows, plans, capacities)
    _print_capacity_table(keys, capacities, gains, n_train)
    print("\nLeave-one-collection-out choice of (schedule, rule):\n")
    print(
        "| left out | schedule | rule | its mean gain / worst run "
        "| the others: mean / worst / false acceptance |"
    )
    print("| --- | --- | --- | ---: | ---: |")
    for left in datasets:
        inside = np.array([k[0] != left for k in keys])
        null_inside = None if null is None else null[1] != left
        p, r, score, worst, false = _choose(
            table[:, :, inside], group_of[inside], dataset_of[inside], null, null_inside
        )
        out = table[p, r, ~inside]
        print(
            f"| {left} | {_describe(plans[p])} | {RULES[r]} | {out.mean():+.4f} / {out.min():+.4f} "
            f"| {score:+.4f} / {worst:+.4f} / {false:.0%} |"
        )
    null_all = None if null is None else np.ones(len(null[1]), dtype=bool)
    p, r, score, worst, false = _choose(table, group_of, dataset_of, null, null_all)
    print(
        f"\nOn all collections: {_describe(plans[p])}, {RULES[r]}: mean gain {score:+.4f}, "
        f"worst run {worst:+.4f}, false acceptance on shuffled pairs {false:.0%}"
    )
    _print_runs(keys, table[p, r], n_train, chosen[p], capacities)


def production(args: argparse.Namespace) -> None:
    """What ``service.finetune.auto`` does, scored on every run of the sweeps given."""
    from service.finetune import auto

    rule = Rule(auto.PATIENCE, auto.PLATEAU, auto.ACCEPT_Z, auto.REFIT)
    rows = [
        json.loads(line)
        for path in args.paths
        for line in Path(path).read_text().splitlines()
        if line.strip()
    ]

    def name(n: int) -> str:
        c = auto.capacity_for(n)
        rank = f":{c.rank}" if c.rank else ""
        decay = f"@{c.weight_decay:g}" if c.weight_decay else ""
        return f"{c.kind}{rank}{decay}"

    picked = [
        r
        for r in rows
        if r["capacity"] == name(r["n_train_queries"]) and r.get("share", 0.2) == args.share
    ]
    print(f"rule {rule}, capacity by training queries\n")
    print("| runs | collection | subsample | train queries | base | mean gain | worst | accepted |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    groups: dict[tuple[str, str, Any], list[dict[str, Any]]] = defaultdict(list)
    for r in picked:
        kind = "shuffled" if r.get("shuffled") else "casefold" if r.get("casefold") else "real"
        groups[(kind, r["dataset"], r["subsample"])].append(r)
    for (kind, dataset, size), group in sorted(groups.items(), key=lambda g: str(g[0])):
        out = [outcome(r, rule) for r in group]
        gains = [g for g, _ in out]
        print(
            f"| {kind} | {dataset} | {size or 'half'} | {group[0]['n_train_queries']} "
            f"| {np.mean([r['test_base'] for r in group]):.3f} | {np.mean(gains):+.4f} "
            f"| {min(gains):+.4f} | {sum(e > 0 for _, e in out)}/{len(out)} |"
        )


def _objective(
    table: np.ndarray, group_of: np.ndarray, dataset_of: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mean over collections of the mean over its (subsample) groups of the mean gain, so each
    collection weighs the same; and the worst run."""
    per_dataset = []
    for d in np.unique(dataset_of):
        groups = np.unique(group_of[dataset_of == d])
        per_dataset.append(
            np.stack([table[:, :, group_of == g].mean(axis=2) for g in groups]).mean(axis=0)
        )
    return np.stack(per_dataset).mean(axis=0), table.min(axis=2)


def _choose(
    table: np.ndarray,
    group_of: np.ndarray,
    dataset_of: np.ndarray,
    null: tuple[np.ndarray, np.ndarray] | None,
    null_inside: np.ndarray | None,
) -> tuple[int, int, float, float, float]:
    """The (schedule, rule) with the highest mean gain among those whose worst run loses at
    most ``TOLERANCE`` and which accept shuffled pairs at most ``FALSE_ACCEPTANCE`` of the time."""
    score, worst = _objective(table, group_of, dataset_of)
    false = np.zeros_like(score)
    if null is not None and null_inside is not None and null_inside.any():
        false = null[0][:, :, null_inside].mean(axis=2)
    feasible = (worst >= -TOLERANCE) & (false <= FALSE_ACCEPTANCE)
    ranked = np.where(feasible, score, -np.inf) if feasible.any() else worst - false
    p, r = np.unravel_index(int(np.argmax(ranked)), ranked.shape)
    return int(p), int(r), float(score[p, r]), float(worst[p, r]), float(false[p, r])


def _null_acceptance(
    rows: list[dict[str, Any]],
    plans: list[tuple[tuple[int, ...], tuple[str, ...]]],
    capacities: list[str],
) -> tuple[np.ndarray, np.ndarray] | None:
    """Shuffled-pair runs: accepted[plan, rule, run] and each run's collection."""
    if not rows:
        return None
    runs: dict[tuple[str, int, Any], dict[str, dict[str, Any]]] = defaultdict(dict)
    for r in rows:
        runs[(r["dataset"], r["seed"], r["subsample"])][r["capacity"]] = r
    keys = sorted((k for k, v in runs.items() if len(v) == len(capacities)), key=str)
    accepted = np.zeros((len(keys), len(capacities), len(RULES)), dtype=bool)
    for i, key in enumerate(keys):
        for j, capacity in enumerate(capacities):
            for k, rule in enumerate(RULES):
                accepted[i, j, k] = outcome(runs[key][capacity], rule)[1] > 0
    n = [runs[k][capacities[0]]["n_train_queries"] for k in keys]
    chosen = np.array([[capacities.index(pick(c, b, m)) for m in n] for c, b in plans])
    table = accepted[np.arange(len(keys))[None, :], chosen, :].transpose(0, 2, 1)
    return table, np.array([k[0] for k in keys])


def _capacity_order(name: str) -> tuple[int, int, float]:
    kind, _, decay = name.partition("@")
    base, _, rank = kind.partition(":")
    order = {"diagonal": 0, "low_rank": 1, "full": 2}[base]
    return order, int(rank or 0), -float(decay or 0)


def _describe(plan: tuple[tuple[int, ...], tuple[str, ...]]) -> str:
    (t1, t2), (a, b, c) = plan
    if a == b == c:
        return f"{a} always"
    return f"<{t1}: {a}; <{t2}: {b}; else {c}"


def _print_capacity_table(
    keys: list[tuple[str, int, Any]], capacities: list[str], gains: np.ndarray, n: np.ndarray
) -> None:
    """Per collection and size: mean / worst test gain of each capacity under a fixed rule."""
    rule = RULES.index(Rule(patience=10, plateau=0.0, z=1.0, refit=False))
    print("Mean / worst test gain per capacity (rule: patience 10, best epoch, z 1, no refit)\n")
    print("| collection | subsample | train queries | " + " | ".join(capacities) + " |")
    print("| --- | --- | ---: | " + " | ".join("---:" for _ in capacities) + " |")
    groups: dict[tuple[str, Any], list[int]] = defaultdict(list)
    for i, k in enumerate(keys):
        groups[(k[0], k[2])].append(i)
    for (name, size), members in sorted(groups.items(), key=lambda g: (g[0][0], g[0][1] or 10**9)):
        cells = [
            f"{gains[members, j, rule].mean():+.3f} / {gains[members, j, rule].min():+.3f}"
            for j in range(len(capacities))
        ]
        print(
            f"| {name} | {size or 'half'} | {int(n[members].mean())} | " + " | ".join(cells) + " |"
        )


def _print_runs(
    keys: list[tuple[str, int, Any]],
    gains: np.ndarray,
    n: np.ndarray,
    chosen: np.ndarray,
    capacities: list[str],
) -> None:
    print("\n| collection | subsample | seed | train queries | capacity | test gain |")
    print("| --- | --- | ---: | ---: | --- | ---: |")
    for i, k in enumerate(keys):
        print(
            f"| {k[0]} | {k[2] or 'half'} | {k[1]} | {n[i]} | {capacities[chosen[i]]} | "
            f"{gains[i]:+.4f} |"
        )
