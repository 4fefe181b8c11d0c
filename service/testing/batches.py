"""Fake Files and Batch APIs for ``FaultUpstream``: what semsearch's proxied batches talk to.

Each retrieve of a batch moves it one status on (``validating`` -> ``in_progress`` ->
``completed``); on completion every request line is answered as the fake chat would, and a body
whose ``model`` is ``"missing-model"`` fails with a 404 into the error file. A cancel makes it
``cancelling``, then ``cancelled`` at the next retrieve.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any

from multipart import MultipartParser

from service.testing import generation

Answer = tuple[int, bytes, str]  # status, body, content type
JSON = "application/json"


def _json(status: int, body: Any) -> Answer:
    return status, json.dumps(body).encode(), JSON


def _not_found(what: str) -> Answer:
    error = {"message": f"No such {what}", "type": "invalid_request_error", "param": None}
    return _json(404, {"error": {**error, "code": None}})


class FakeBatches:
    def __init__(self) -> None:
        self.files: dict[str, dict[str, Any]] = {}
        self.content: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer | None:
        """The answer for a Files or Batches route, or None for any other route."""
        if (method, path) == ("POST", "/v1/files"):
            return self._upload(headers, body)
        if method == "GET" and (found := re.fullmatch(r"/v1/files/([^/]+)(/content)?", path)):
            file_id, content = found.groups()
            if file_id not in self.files:
                return _not_found(f"File object: {file_id}")
            if content:
                return 200, self.content[file_id], "application/octet-stream"
            return _json(200, self.files[file_id])
        if (method, path) == ("POST", "/v1/batches"):
            return self._create(json.loads(body))
        if found := re.fullmatch(r"/v1/batches/([^/]+)(/cancel)?", path):
            batch_id, cancel = found.groups()
            batch = self.batches.get(batch_id)
            if batch is None:
                return _not_found(f"batch: {batch_id}")
            if method == "POST" and cancel:
                batch.update(status="cancelling", cancelling_at=3)
                return _json(200, batch)
            if method == "GET" and not cancel:
                self._advance(batch)
                return _json(200, batch)
        return None

    def add_file(self, content: bytes, filename: str, purpose: str) -> str:
        file_id = f"file-up{len(self.files)}"
        self.content[file_id] = content
        self.files[file_id] = {
            "id": file_id,
            "object": "file",
            "bytes": len(content),
            "created_at": 1,
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
        }
        return file_id

    def _upload(self, headers: dict[str, str], body: bytes) -> Answer:
        boundary = headers.get("content-type", "").partition("boundary=")[2].strip('"')
        parser = MultipartParser(io.BytesIO(body), boundary)
        parts = {part.name: part for part in parser}
        upload = parts["file"]
        purpose = parts["purpose"].value
        file_id = self.add_file(upload.raw, upload.filename or "upload", purpose)
        return _json(200, self.files[file_id])

    def _create(self, request: dict[str, Any]) -> Answer:
        if request["input_file_id"] not in self.files:
            return _not_found(f"File object: {request['input_file_id']}")
        batch_id = f"batch_up{len(self.batches)}"
        lines = self.content[request["input_file_id"]].splitlines()
        self.batches[batch_id] = {
            "id": batch_id,
            "object": "batch",
            "endpoint": request["endpoint"],
            "errors": None,
            "input_file_id": request["input_file_id"],
            "completion_window": request["completion_window"],
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": 1,
            "in_progress_at": None,
            "expires_at": 86_401,
            "completed_at": None,
            "cancelling_at": None,
            "cancelled_at": None,
            "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
            "metadata": request.get("metadata"),
        }
        return _json(200, self.batches[batch_id])

    def _advance(self, batch: dict[str, Any]) -> None:
        status = batch["status"]
        if status == "validating":
            batch.update(status="in_progress", in_progress_at=2)
        elif status == "in_progress":
            self._complete(batch)
        elif status == "cancelling":
            batch.update(status="cancelled", cancelled_at=4)

    def _complete(self, batch: dict[str, Any]) -> None:
        output, errors = [], []
        chat = batch["endpoint"] == "/v1/chat/completions"
        for number, raw in enumerate(self.content[batch["input_file_id"]].splitlines()):
            request = json.loads(raw)
            line: dict[str, Any] = {"id": f"batch_req_up{number}"}
            line["custom_id"] = request["custom_id"]
            if request["body"].get("model") == "missing-model":
                error = {"message": "The model does not exist", "type": "invalid_request_error"}
                body: dict[str, Any] = {"error": {**error, "param": None, "code": None}}
                line.update(response={"status_code": 404, "request_id": "req_up", "body": body})
                errors.append(line | {"error": None})
            else:
                body = generation.completion(request["body"], chat)
                line.update(response={"status_code": 200, "request_id": "req_up", "body": body})
                output.append(line | {"error": None})
        batch["request_counts"].update(completed=len(output), failed=len(errors))
        if output:
            content = b"".join(json.dumps(line).encode() + b"\n" for line in output)
            batch["output_file_id"] = self.add_file(content, "output.jsonl", "batch_output")
        if errors:
            content = b"".join(json.dumps(line).encode() + b"\n" for line in errors)
            batch["error_file_id"] = self.add_file(content, "errors.jsonl", "batch_output")
        batch.update(status="completed", completed_at=5, finalizing_at=5)
