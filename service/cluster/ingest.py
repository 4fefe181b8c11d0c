"""``semsearch ingest --ray ADDRESS PATH -c NAME``: bulk ingest into a sharded collection.

Ray Data reads the input (JSONL, optionally gzipped, CSV or Parquet; a file, a directory or
an ``s3://`` URL, which Ray Data reads through pyarrow), an actor pool embeds it with the
collection's model (the local model, or the upstream with an embedding cache per actor), and
this driver writes the embedded batches to the shard actors, each to the shard its id hashes
to, several in flight at once. The server must be running (it owns the shard actors and says
which model and dimension the collection has); documents are shaped as single-node ingest
shapes them (``service/sources.py``: ``title + " " + text``, the title kept in metadata).
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import os
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import IO, Any

import msgspec
import numpy as np

import index
from service.client import Client, ClientError
from service.cluster import runtime
from service.commands.progress import Progress
from service.settings import Settings

#: CPUs a read or parse task reserves.
READ_CPUS = 0.25


def run_on_ray(args: argparse.Namespace, client: Client) -> int:
    """The ``ingest --ray`` command; ``client`` talks to the server that owns the shards."""
    try:
        described = client.request("GET", f"/collections/{args.collection}")
    except ClientError as exc:
        print(f"semsearch ingest: {exc}", file=sys.stderr)
        return 1
    shards = described.get("shards")
    if not shards:
        print(
            f"semsearch ingest: {args.collection!r} is not a sharded collection; "
            "ingest --ray writes to shard actors (use semsearch ingest without --ray)",
            file=sys.stderr,
        )
        return 1
    if described["model"].startswith("ft:"):
        print(
            "semsearch ingest: --ray does not embed for fine-tuned (ft:) collections yet; "
            "use semsearch ingest without --ray",
            file=sys.stderr,
        )
        return 1
    settings = Settings.load({}, os.environ)
    try:
        join(args.ray, settings.data_dir)
    except runtime.RayMissingError as exc:
        print(f"semsearch ingest: {exc}", file=sys.stderr)
        return 2
    ray = runtime.import_ray()
    handles = [
        ray.get_actor(runtime.actor_name(args.collection, i), namespace=runtime.NAMESPACE)
        for i in range(shards)
    ]
    started = time.perf_counter()
    dataset = documents(str(args.path))
    embedded = dataset.map_batches(
        Embedder,  # a class: Ray Data runs it as a pool of ``concurrency`` actors
        fn_constructor_kwargs={
            "settings": settings,
            "model": described["model"],
            "dimensions": described["dimensions"],
        },
        batch_size=args.batch,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=args.embedders),
        num_cpus=args.embedder_cpus,
    )
    total = _count(args.path)
    sent = skipped = tokens = 0
    with Progress(f"ingest {args.collection}", total=total) as progress:
        writer = ShardWriter(ray, handles, in_flight=2 * len(handles))
        for batch in embedded.iter_batches(batch_size=args.batch, batch_format="numpy"):
            kept = np.flatnonzero(batch["keep"])
            skipped += len(batch["keep"]) - len(kept)
            tokens += int(batch["tokens"].sum())
            if len(kept):
                writer.write(
                    [str(x) for x in batch["id"][kept]],
                    np.stack(batch["vector"][kept]).astype(np.float32),
                    [str(x) for x in batch["text"][kept]],
                    [json.loads(m) if m else None for m in batch["metadata"][kept]],
                )
                sent += len(kept)
            progress.update(len(batch["keep"]))
        writer.flush()
    seconds = time.perf_counter() - started
    print(
        f"ingested {sent:,} documents into {args.collection!r} on {shards} shards "
        f"with {args.embedders} embedding actors ({skipped:,} empty skipped), {tokens:,} tokens, "
        f"{seconds:.1f} s, {sent / max(seconds, 1e-9):,.0f} docs/s"
    )
    return 0


def join(address: str, data_dir: Path) -> None:
    """Join the cluster the server runs on (``auto``: the local one it started, whose token
    is in its data directory)."""
    if address == "auto":
        os.environ["RAY_AUTH_MODE"] = "token"
        token = data_dir / "ray" / "auth_token"
        if not os.environ.get("RAY_AUTH_TOKEN") and token.exists():
            os.environ["RAY_AUTH_TOKEN_PATH"] = str(token)
    ray = runtime.import_ray()
    if not ray.is_initialized():
        ray.init(address=address, namespace=runtime.NAMESPACE, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False


def documents(path: str) -> Any:
    """A Ray dataset of ``{"id", "text", "metadata" (JSON), "keep"}`` rows from ``path``."""
    ray = runtime.import_ray()
    # Reading and parsing are light next to embedding: a fraction of a CPU each, so they run
    # beside the embedding actors instead of waiting for a whole free CPU.
    light = {"num_cpus": READ_CPUS}
    files = _listing(path)
    if any(f.endswith(".parquet") for f in files):
        table = ray.data.read_parquet(path, **light)
        return table.map_batches(_from_table, batch_format="pandas", **light)
    if any(f.endswith(".csv") for f in files):
        table = ray.data.read_csv(path, **light)
        return table.map_batches(_from_table, batch_format="pandas", **light)
    compression = {"compression": "gzip"} if path.lower().endswith(".gz") else None
    lines = ray.data.read_text(path, arrow_open_stream_args=compression, **light)
    return lines.map_batches(_from_jsonl, batch_format="pandas", **light)


def _listing(path: str) -> list[str]:
    local = Path(path)
    if "://" in path or not local.is_dir():
        return [path.lower().removesuffix(".gz")]
    return [p.name.lower() for p in local.iterdir() if p.is_file()]


def _shape(id_: Any, title: Any, text: Any, metadata: Any) -> dict[str, Any]:
    """As ``service/sources.py`` shapes a document."""
    meta = dict(metadata) if isinstance(metadata, dict) else {}
    title = "" if title is None or title != title else str(title).strip()  # NaN: no title
    if title:
        meta.setdefault("title", title)
    body = "" if text is None or text != text else str(text).strip()
    full = f"{title} {body}".strip()
    return {
        "id": str(id_),
        "text": full,
        "metadata": json.dumps(meta) if meta else "",
        "keep": bool(full),
    }


def _from_jsonl(batch: Any) -> Any:
    import pandas as pd

    rows = []
    for line in batch["text"]:
        if not line.strip():
            continue
        row = json.loads(line)
        id_ = row.get("id", row.get("_id"))
        if id_ is None or str(id_) == "":
            raise ValueError(f"a document without an id: {line[:200]}")
        rows.append(_shape(id_, row.get("title"), row.get("text"), row.get("metadata")))
    return pd.DataFrame(rows, columns=["id", "text", "metadata", "keep"])


def _from_table(batch: Any) -> Any:
    import pandas as pd

    id_column = "id" if "id" in batch.columns else "_id"
    rest = [c for c in batch.columns if c not in ("id", "_id", "title", "text")]
    rows = []
    for record in batch.to_dict("records"):
        metadata = {c: record[c] for c in rest if record[c] is not None and record[c] == record[c]}
        metadata = {k: (v.item() if hasattr(v, "item") else v) for k, v in metadata.items()}
        rows.append(_shape(record[id_column], record.get("title"), record.get("text"), metadata))
    return pd.DataFrame(rows, columns=["id", "text", "metadata", "keep"])


class Embedder:
    """One actor of the embedding pool: the collection's model, through the service's own
    embedding layer (local model, or the upstream with a persistent cache of its own)."""

    def __init__(self, settings: Settings, model: str, dimensions: int) -> None:
        import httpx

        from service.embeddings import EmbeddingService
        from service.metrics import Metrics

        self._loop = asyncio.new_event_loop()
        self._lock = _claim_cache_dir()
        cache_dir = Path(self._lock.name).with_suffix("")
        cache_dir.mkdir(exist_ok=True)
        settings = msgspec.structs.replace(settings, data_dir=cache_dir)
        http = None
        if settings.upstream_url is not None:
            http = httpx.AsyncClient(timeout=settings.upstream_timeout)
        self._service = self._loop.run_until_complete(
            EmbeddingService.open(settings, http, Metrics())
        )
        self._model = model
        info = self._service.resolve(model)
        self._dimensions = None if info.native_dimensions == dimensions else dimensions

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        keep = batch["keep"].astype(bool)
        texts = [str(t) for t in batch["text"][keep]]
        width = 0
        vectors: list[Any] = [None] * len(keep)
        tokens = np.zeros(len(keep), np.int64)
        if texts:
            result = self._loop.run_until_complete(
                self._service.embed(self._model, texts, self._dimensions)
            )
            width = result.vectors.shape[1]
            for i, row in zip(np.flatnonzero(keep).tolist(), result.vectors, strict=True):
                vectors[i] = row
            tokens[keep] = result.tokens if result.tokens else 0
        empty = np.zeros(width, np.float32)
        return {
            **batch,
            "vector": np.stack([v if v is not None else empty for v in vectors])
            if len(keep)
            else np.zeros((0, width), np.float32),
            "tokens": tokens,
        }


def _claim_cache_dir() -> IO[str]:
    """A cache directory of this node no other embedding actor uses now: the first of
    ``embedder-0``, ``embedder-1``... whose lock is free (kept across runs, so a re-ingest
    hits the cache)."""
    root = Path(tempfile.gettempdir()) / "semsearch-ingest-cache"
    root.mkdir(exist_ok=True)
    for i in range(1024):
        lock = open(root / f"embedder-{i}.lock", "a+")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        return lock
    raise RuntimeError(f"no free embedding cache directory under {root}")


class ShardWriter:
    """Upserts to shard actors, routed by id, with at most ``in_flight`` writes pending.

    A shard that dies mid-write is restarted by Ray: the write is sent again (an upsert is
    idempotent) until it is acknowledged, for at most ``RETRY_FOR`` seconds."""

    RETRY_FOR = 120.0

    def __init__(self, ray: Any, handles: list[Any], in_flight: int) -> None:
        self._ray = ray
        self._handles = handles
        self._in_flight = in_flight
        self._pending: deque[tuple[Any, int, tuple[Any, ...]]] = deque()

    def write(
        self,
        ids: list[str],
        vectors: np.ndarray,
        texts: list[str],
        metadatas: list[dict[str, Any] | None],
    ) -> None:
        routes: dict[int, list[int]] = {}
        for i, id_ in enumerate(ids):
            routes.setdefault(index.shard_of(id_, len(self._handles)), []).append(i)
        for shard, rows in routes.items():
            args = (
                [ids[i] for i in rows],
                vectors[rows],
                [texts[i] for i in rows],
                [metadatas[i] for i in rows],
            )
            self._pending.append((self._send(shard, args), shard, args))
        while len(self._pending) > self._in_flight:
            self._settle(*self._pending.popleft())

    def flush(self) -> None:
        while self._pending:
            self._settle(*self._pending.popleft())

    def _send(self, shard: int, args: tuple[Any, ...]) -> Any:
        return self._handles[shard].call.remote("upsert", *args)

    def _settle(self, ref: Any, shard: int, args: tuple[Any, ...]) -> None:
        deadline = time.monotonic() + self.RETRY_FOR
        while True:
            try:
                self._ray.get(ref)
                return
            except self._ray.exceptions.RayActorError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1.0)
                ref = self._send(shard, args)


def _count(path: Path | str) -> int | None:
    from service.sources import count_documents

    local = Path(str(path))
    if "://" in str(path) or not local.exists() or str(path).endswith(".gz"):
        return None
    if local.suffix.lower() == ".parquet" or local.is_dir():
        return None
    return count_documents(local)
