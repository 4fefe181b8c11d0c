"""Child process for the crash test: writes deterministic batches and acknowledges each one.

Run as ``python crash_writer.py DATA_DIR FIRST_BATCH``. After each batch returns it prints the
batch number on its own line; a printed number is an acknowledged, durable write. The test kills
this process with SIGKILL at random moments and checks every acknowledged batch survived.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

DIM = 16
IDS = 400  # batches reuse ids, so replacements and deletes are part of the mix
BATCH = 25


def batch(n: int) -> dict[str, Any]:
    """Batch ``n``: an upsert, or (every fifth) a delete of some ids. Pure in ``n``."""
    rng = np.random.default_rng(n)
    ids = sorted({f"doc-{i}" for i in rng.integers(IDS, size=BATCH)})
    if n % 5 == 4:
        return {"op": "delete", "ids": ids[:8]}
    return {
        "op": "upsert",
        "ids": ids,
        "vectors": rng.normal(size=(len(ids), DIM)).astype(np.float32),
        "texts": [f"{id_} written by batch {n}" for id_ in ids],
        "metadatas": [{"batch": n, "id": id_, "tags": ["crash", str(n % 3)]} for id_ in ids],
    }


def expected_state(upto: int) -> dict[str, tuple[int, int]]:
    """``id -> (batch, row)`` of the version alive after batches ``0..upto``."""
    state: dict[str, tuple[int, int]] = {}
    for n in range(upto + 1):
        b = batch(n)
        for row, id_ in enumerate(b["ids"]):
            if b["op"] == "delete":
                state.pop(id_, None)
            else:
                state[id_] = (n, row)
    return state


def main() -> None:
    from index import Store

    data_dir, first = sys.argv[1], int(sys.argv[2])
    store = Store(data_dir, snapshot_every=60)  # snapshots often, so kills land in them too
    try:
        col = store.get_collection("crash")
    except KeyError:
        col = store.create_collection("crash", dim=DIM)
    print("ready", flush=True)
    n = first
    while True:
        b = batch(n)
        if b["op"] == "delete":
            col.delete(ids=b["ids"])
        else:
            col.upsert(b["ids"], b["vectors"], b["texts"], b["metadatas"])
        print(n, flush=True)
        n += 1


if __name__ == "__main__":
    main()
