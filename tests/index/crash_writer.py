"""Child process for the crash test: writes deterministic batches and acknowledges each one.

Run as ``python crash_writer.py DATA_DIR FIRST_BATCH [passages]``. After each batch returns it
prints the batch number on its own line; a printed number is an acknowledged, durable write. The
test kills this process with SIGKILL at random moments and checks every acknowledged batch
survived. With ``passages`` the collection splits documents into passages (issue 12) and most
documents of a batch are long: 2 to 40 passages each, so kills land inside their writes.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

DIM = 16
IDS = 400  # batches reuse ids, so replacements and deletes are part of the mix
BATCH = 25
PASSAGES = "passages"
WORDS = [f"{a}{b}" for a in ("red", "blue", "green", "gold") for b in "aeiouyklmn"]


def batch(n: int, passages: bool = False) -> dict[str, Any]:
    """Batch ``n``: an upsert, or (every fifth) a delete of some ids. Pure in ``n``.

    With ``passages``, each upserted document has ``counts[row]`` passages (1: not split),
    its text their sentences, ``spans[row]`` their offsets and ``passage_vectors[row]`` their
    vectors; its row of ``vectors`` is its first passage's.
    """
    rng = np.random.default_rng(n)
    ids = sorted({f"doc-{i}" for i in rng.integers(IDS, size=BATCH)})
    if n % 5 == 4:
        return {"op": "delete", "ids": ids[:8]}
    b: dict[str, Any] = {
        "op": "upsert",
        "ids": ids,
        "vectors": rng.normal(size=(len(ids), DIM)).astype(np.float32),
        "texts": [f"{id_} written by batch {n}" for id_ in ids],
        "metadatas": [{"batch": n, "id": id_, "tags": ["crash", str(n % 3)]} for id_ in ids],
    }
    if passages:
        counts = [1 if rng.random() < 0.2 else int(rng.integers(2, 41)) for _ in ids]
        b["spans"], b["passage_vectors"] = [], []
        for row, (id_, count) in enumerate(zip(ids, counts, strict=True)):
            # No number but the id's own, so that a document's text finds it first by BM25.
            sentences = [f"{id_} says {WORDS[j]}." for j in range(count)]
            starts = np.cumsum([0] + [len(s) + 1 for s in sentences[:-1]])
            b["texts"][row] = " ".join(sentences)
            b["spans"].append(
                [(int(a), int(a) + len(s)) for a, s in zip(starts, sentences, strict=True)]
            )
            own = rng.normal(size=(count, DIM)).astype(np.float32)
            own[0] = b["vectors"][row]
            b["passage_vectors"].append(own)
        b["counts"] = counts
    return b


def expected_state(upto: int, passages: bool = False) -> dict[str, tuple[int, int]]:
    """``id -> (batch, row)`` of the version alive after batches ``0..upto``."""
    state: dict[str, tuple[int, int]] = {}
    for n in range(upto + 1):
        b = batch(n, passages)
        for row, id_ in enumerate(b["ids"]):
            if b["op"] == "delete":
                state.pop(id_, None)
            else:
                state[id_] = (n, row)
    return state


def main() -> None:
    from index import Passages, PassageSettings, Store

    data_dir, first = sys.argv[1], int(sys.argv[2])
    passages = sys.argv[3:] == [PASSAGES]
    store = Store(data_dir, snapshot_every=60)  # snapshots often, so kills land in them too
    try:
        col = store.get_collection("crash")
    except KeyError:
        settings = PassageSettings(size=16, overlap=0) if passages else None
        col = store.create_collection("crash", dim=DIM, passages=settings)
    print("ready", flush=True)
    n = first
    while True:
        b = batch(n, passages)
        if b["op"] == "delete":
            col.delete(ids=b["ids"])
        elif passages:
            given = [
                Passages(spans=spans, vectors=vectors) if len(spans) > 1 else None
                for spans, vectors in zip(b["spans"], b["passage_vectors"], strict=True)
            ]
            col.upsert(b["ids"], b["vectors"], b["texts"], b["metadatas"], passages=given)
        else:
            col.upsert(b["ids"], b["vectors"], b["texts"], b["metadatas"])
        print(n, flush=True)
        n += 1


if __name__ == "__main__":
    main()
