"""``UpstreamFiles``: our files on the upstream, and the upstream's result files under our ids.

Usage::

    remote = UpstreamFiles(UpstreamClient(http, settings, metrics), store, files)
    upstream_id = await remote.upload(file_id, "batch")      # uploaded the first time only
    our_id = await remote.localise(upstream_result_id, job_id)
    found = await remote.content(our_id)                      # (info, bytes), or None

Jobs proxied to the upstream (fine-tuning jobs, batches) hand it our files and get result files
back; clients only ever see our ids, so the upstream's stay inside semsearch, and result files
are fetched on demand with the server's upstream key (``GET /v1/files/{id}/content``). Every
call goes through ``UpstreamClient.request``: the retries, ``Retry-After`` and error mapping of
the embeddings. The id mappings live in the job kind's own ``JobTable``.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, BinaryIO, TypeVar

import msgspec

from service.embeddings import UpstreamClient
from service.errors import NotFoundError, UpstreamError, UpstreamStatusError
from service.files import FileStore, OpenAIFile
from service.jobs.table import JobTable

T = TypeVar("T")


class UpstreamFile(msgspec.Struct, kw_only=True):
    """An upstream file object: lenient, unknown fields ignored."""

    id: str
    bytes: int | None = None
    created_at: int | None = None
    filename: str | None = None
    purpose: str | None = None
    expires_at: int | None = None


upstream_file_decoder = msgspec.json.Decoder(UpstreamFile)


def decode(decoder: msgspec.json.Decoder[T], body: bytes, what: str) -> T:
    """An upstream answer, or 502 saying it was not the ``what`` expected."""
    try:
        return decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise UpstreamError(f"the upstream returned a malformed {what}: {exc}") from None


class UpstreamFiles:
    def __init__(
        self,
        client: UpstreamClient | None,
        table: JobTable[Any],
        files: FileStore,
        *,
        result_purpose: str,
        result_extension: str,
    ) -> None:
        """``result_purpose``/``result_extension``: what a result file's object says when the
        upstream's leaves them out (``fine-tune-results``/``.csv``, ``batch_output``/``.jsonl``)."""
        self._client = client
        self._table = table
        self._files = files
        self._purpose = result_purpose
        self._extension = result_extension

    @property
    def client(self) -> UpstreamClient:
        if self._client is None:
            raise NotFoundError("No upstream is configured (SEMSEARCH_UPSTREAM_URL).")
        return self._client

    async def upload(self, file_id: str, purpose: str) -> str:
        """The upstream's id for one of our files, uploading it the first time only."""
        table = self._table
        known = await table.run(table.upstream_file, file_id)
        if known is not None:
            return known
        info = await self._files.run(self._files.get, file_id)
        path = self._files.path(file_id)
        opened: list[BinaryIO] = []

        def body() -> dict[str, Any]:
            handle = path.open("rb")  # a fresh stream for every attempt
            opened.append(handle)
            return {"file": (info.filename, handle, "application/jsonl")}

        try:
            response = await self.client.request(
                "POST", "/files", files=body, data={"purpose": purpose}
            )
        finally:
            for handle in opened:
                handle.close()
        upstream_id = decode(upstream_file_decoder, response.content, "file object").id
        await table.run(table.set_upstream_file, file_id, upstream_id)
        return upstream_id

    async def localise(self, upstream_id: str, job_id: str) -> str:
        """Our id for a result file of an upstream job (the same id every time)."""
        return await self._table.run(self._table.result_file_id, upstream_id, job_id)

    async def info(self, file_id: str) -> OpenAIFile | None:
        """A proxied job's result file under our id (metadata fetched upstream), or None when
        ``file_id`` is not one of this kind of job's."""
        upstream_id = await self._upstream_id(file_id)
        if upstream_id is None:
            return None
        response = await self._gone_if_missing(
            file_id, self.client.request("GET", f"/files/{upstream_id}")
        )
        found = decode(upstream_file_decoder, response.content, "file object")
        return OpenAIFile(
            id=file_id,
            bytes=found.bytes or 0,
            created_at=found.created_at or 0,
            filename=found.filename or f"{file_id}{self._extension}",
            purpose=found.purpose or self._purpose,
            expires_at=found.expires_at,
        )

    async def content(self, file_id: str) -> tuple[OpenAIFile, bytes] | None:
        """Metadata and bytes of a proxied job's result file, fetched with the server's upstream
        key (never the client's); None when ``file_id`` is not one."""
        info = await self.info(file_id)
        if info is None:
            return None
        upstream_id = await self._upstream_id(file_id)
        response = await self._gone_if_missing(
            file_id, self.client.request("GET", f"/files/{upstream_id}/content")
        )
        return info, response.content

    async def _upstream_id(self, file_id: str) -> str | None:
        found = await self._table.run(self._table.upstream_result, file_id)
        if found is None:
            return None
        upstream_id, job_id = found
        if self._client is None:
            raise NotFoundError(
                f"File {file_id} is a result of upstream job {job_id}, and no upstream is "
                "configured to fetch it from.",
                param="file_id",
            )
        return upstream_id

    async def _gone_if_missing(self, file_id: str, call: Awaitable[T]) -> T:
        """An upstream 404 says so under our file id (the upstream's ids stay inside)."""
        try:
            return await call
        except UpstreamStatusError as exc:
            if exc.status != 404:
                raise
            raise NotFoundError(
                f"No such File object: {file_id} (the upstream no longer has this result file)",
                param="file_id",
            ) from None
