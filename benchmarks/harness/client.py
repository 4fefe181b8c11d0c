"""An httpx client for the parts of the semsearch API the harness drives.

Usage::

    with SearchClient("http://127.0.0.1:8000") as api:
        api.create_collection("bench", model="wordllama-l2-supercat")
        api.upsert("bench", [{"id": "d1", "text": "..."}])
        api.query_many("bench", ["a question"], k=100)      # ([[Hit, ...]], mode or None)
        api.embed(["a question"], model="wordllama-l2-supercat")  # float32 [n, d]

Only the fields the harness reads are decoded (msgspec, types built once). Errors surface as
``ApiError`` carrying the service's own message, so a failing benchmark says why.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from typing import Any

import httpx
import msgspec
import numpy as np

from benchmarks.harness.schemas import IngestFigures
from service.commands.progress import Progress

EMBED_BATCH = 2048  # /v1/embeddings accepts at most 2048 inputs per request
INGEST_BATCH = 256  # documents per upsert request, as `semsearch ingest` sends them


class ApiError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class Hit(msgspec.Struct):
    id: str
    score: float


class _Usage(msgspec.Struct):
    prompt_tokens: int = 0


class _QueryOne(msgspec.Struct):
    data: list[Hit]


class _QueryMany(msgspec.Struct):
    data: list[list[Hit]]
    mode: str | None = None  # reported by servers with issue 7's modes


class _Upserted(msgspec.Struct):
    upserted: int
    usage: _Usage = msgspec.field(default_factory=_Usage)


class _Embedding(msgspec.Struct):
    index: int
    embedding: str


class _Embeddings(msgspec.Struct):
    data: list[_Embedding]


class _Document(msgspec.Struct):
    id: str
    text: str | None = None
    vector: list[float] | None = None


class _Page(msgspec.Struct):
    data: list[_Document]
    has_more: bool = False
    last_id: str | None = None


_decoders: dict[type, msgspec.json.Decoder[Any]] = {
    t: msgspec.json.Decoder(t) for t in (_QueryOne, _QueryMany, _Upserted, _Embeddings, _Page)
}
_encoder = msgspec.json.Encoder()


def raise_for_error(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.text[:500]
    raise ApiError(response.status_code, message)


def query_body(
    k: int, ef: int | None = None, mode: str | None = None, **query: Any
) -> dict[str, Any]:
    """A ``/query`` body asking for ids and scores only (``include: []`` keeps answers small)."""
    body: dict[str, Any] = {**query, "k": k, "include": []}
    if ef is not None:
        body["ef"] = ef
    if mode is not None:  # issue 7; left out so servers without it accept the request
        body["mode"] = mode
    return body


def auth_headers(api_key: str | None) -> dict[str, str]:
    return {"authorization": f"Bearer {api_key}"} if api_key else {}


class SearchClient:
    """Blocking client on one keep-alive connection; see the module docstring."""

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 300.0) -> None:
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, headers=auth_headers(api_key), timeout=timeout)

    def _post(self, path: str, body: dict[str, Any]) -> bytes:
        response = self.http.post(
            path, content=_encoder.encode(body), headers={"content-type": "application/json"}
        )
        raise_for_error(response)
        return response.content

    def create_collection(
        self,
        name: str,
        model: str | None = None,
        dimensions: int | None = None,
        hnsw: dict[str, int] | None = None,
        **passages: dict[str, int] | None,
    ) -> dict[str, Any]:
        """``passages={"size": .., "overlap": ..}`` or ``passages=None`` (off); left out, the
        server's default."""
        body: dict[str, Any] = {"name": name, **passages}
        for key, value in (("model", model), ("dimensions", dimensions), ("hnsw", hnsw)):
            if value is not None:
                body[key] = value
        return msgspec.json.decode(self._post("/collections", body))

    def drop_collection(self, name: str, missing_ok: bool = True) -> None:
        response = self.http.delete(f"/collections/{name}")
        if response.status_code == 404 and missing_ok:
            return
        raise_for_error(response)

    def upsert(self, name: str, documents: Sequence[dict[str, Any]]) -> tuple[int, int]:
        """Upsert one batch; returns (documents upserted, prompt tokens)."""
        raw = self._post(f"/collections/{name}/documents", {"documents": list(documents)})
        answer = _decoders[_Upserted].decode(raw)
        return answer.upserted, answer.usage.prompt_tokens

    def query(self, name: str, text: str, k: int = 10, **options: Any) -> list[Hit]:
        raw = self._post(f"/collections/{name}/query", query_body(k, query=text, **options))
        return _decoders[_QueryOne].decode(raw).data

    def query_many(
        self, name: str, texts: Sequence[str], k: int = 10, **options: Any
    ) -> tuple[list[list[Hit]], str | None]:
        """Hits per text, and the mode the server says it used (``None``: it has no modes)."""
        body = query_body(k, queries=list(texts), **options)
        answer = _decoders[_QueryMany].decode(self._post(f"/collections/{name}/query", body))
        return answer.data, answer.mode

    def supports_modes(self, name: str, probe: str) -> bool:
        """Whether ``/query`` takes ``"mode"`` (issue 7): older servers reject the field."""
        try:
            self.query(name, probe, k=1, mode="vector")
        except ApiError as exc:
            if exc.status == 400 and "mode" in str(exc):
                return False
            raise
        return True

    def document_vectors(self, name: str) -> tuple[list[str], np.ndarray]:
        """Every stored document's id and vector, paging by id (1000 a page)."""
        ids: list[str] = []
        rows: list[list[float]] = []
        params: dict[str, Any] = {"limit": 1000, "include": "vector"}
        while True:
            response = self.http.get(f"/collections/{name}/documents", params=params)
            raise_for_error(response)
            page = _decoders[_Page].decode(response.content)
            for doc in page.data:
                ids.append(doc.id)
                rows.append(doc.vector or [])
            if not page.has_more or not page.data:
                break
            params["after"] = page.last_id or page.data[-1].id
        return ids, np.asarray(rows, dtype=np.float32)

    def document_texts(self, name: str, limit: int = 1000) -> list[str]:
        """Up to ``limit`` stored texts, in id order (query material for ``bench load``)."""
        response = self.http.get(f"/collections/{name}/documents", params={"limit": limit})
        raise_for_error(response)
        page = _decoders[_Page].decode(response.content)
        return [d.text for d in page.data if d.text]

    def embed(self, texts: Sequence[str], model: str, dimensions: int | None = None) -> np.ndarray:
        """``/v1/embeddings`` in batches of 2048, base64-encoded, as float32 ``[n, d]``."""
        parts = []
        for start in range(0, len(texts), EMBED_BATCH):
            body: dict[str, Any] = {
                "model": model,
                "input": list(texts[start : start + EMBED_BATCH]),
                "encoding_format": "base64",
            }
            if dimensions is not None:
                body["dimensions"] = dimensions
            answer = _decoders[_Embeddings].decode(self._post("/v1/embeddings", body))
            rows = sorted(answer.data, key=lambda e: e.index)
            parts.append(
                np.stack([np.frombuffer(base64.b64decode(e.embedding), "<f4") for e in rows])
            )
        if not parts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.concatenate(parts).astype(np.float32, copy=False)

    def metrics(self) -> dict[str, float]:
        """``/metrics`` as ``{'name{labels}': value}``; empty when it is not reachable."""
        try:
            response = self.http.get("/metrics")
        except httpx.HTTPError:
            return {}
        if response.status_code != 200:
            return {}
        samples = {}
        for line in response.text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                try:
                    samples[name] = float(value)
                except ValueError:
                    continue
        return samples

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> SearchClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def ingest_documents(
    api: SearchClient,
    name: str,
    ids: Sequence[str],
    texts: Sequence[str],
    model: str,
    dimensions: int | None = None,
    batch: int = INGEST_BATCH,
) -> IngestFigures:
    """Sequential batches, as ``semsearch ingest`` sends them; docs/s over the whole corpus."""
    tokens = 0
    started = time.perf_counter()
    with Progress(f"ingest {name}", total=len(ids)) as bar:
        for s in range(0, len(ids), batch):
            docs = [
                {"id": i, "text": t}
                for i, t in zip(ids[s : s + batch], texts[s : s + batch], strict=True)
            ]
            done, used = api.upsert(name, docs)
            tokens += used
            bar.update(done)
    seconds = time.perf_counter() - started
    return IngestFigures(
        model=model,
        dimensions=dimensions,
        documents=len(ids),
        seconds=seconds,
        docs_per_s=len(ids) / seconds if seconds > 0 else 0.0,
        tokens=tokens,
    )
